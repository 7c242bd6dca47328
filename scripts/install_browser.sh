#!/usr/bin/env bash
# The browser tests drive Debian's Chromium. Install it when it is missing and we may.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "Chromium is not installed at /usr/bin/chromium; the browser tests will be skipped." >&2
  echo "Install it with: sudo apt-get install -y chromium" >&2
fi
