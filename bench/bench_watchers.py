"""A class watching its live training: N browser sessions each press Train on the Train page.

Run: `.venv/bin/python bench/bench_watchers.py [N]` (default 6). Starts the app on 127.0.0.1,
opens N Chromium contexts on the Train page, starts the default digits run in each within a
few seconds, and keeps every page open (so each redraws its live curves) until all runs have
finished. Prints the time until all were done and the health check's latency while they ran.
Before the hall settings (full GC after every rerun, a 1 s refresh, every run using all the
cores) six watchers on 2 cores finished no run in 25 minutes.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FINISHED = "Finished"


def _health_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30) as r:
                r.read()
            out.append(time.perf_counter() - t0)
        except OSError:
            out.append(float("inf"))
        stop.wait(1.0)


def _server_pid(url: str) -> int | None:
    """The process serving ``url`` (a `streamlit run` on that port), found in /proc."""
    port = url.rsplit(":", 1)[-1].strip("/")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and port.encode() in args:
            return int(entry.name)
    return None


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 without /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_runs(url: str, browser, n: int, *, timeout_s: float = 600) -> dict:
    """Start the default digits run in ``n`` browser sessions; wait for all; return figures."""
    from tests.conftest import wait_for_app

    contexts, pages = [], []
    for _ in range(n):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = ctx.new_page()
        page.goto(f"{url}/train")
        contexts.append(ctx)
        pages.append(page)
    for page in pages:
        wait_for_app(page, timeout=120_000)
    latencies: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=_health_latencies, args=(url, stop, latencies), daemon=True)
    server = _server_pid(url)
    cpu0 = _cpu_seconds(server)
    t0 = time.perf_counter()
    for page in pages:
        page.get_by_role("button", name="Train", exact=True).click()
    prober.start()
    done_at: dict[int, float] = {}
    try:
        while len(done_at) < n and time.perf_counter() - t0 < timeout_s:
            for i, page in enumerate(pages):
                if (
                    i not in done_at
                    and page.locator('[data-testid="stMain"]')
                    .get_by_text(FINISHED, exact=False)
                    .count()
                ):
                    done_at[i] = time.perf_counter() - t0
            time.sleep(1.0)
    finally:
        watched = time.perf_counter() - t0
        server_cpu = _cpu_seconds(server) - cpu0
        stop.set()
        prober.join(timeout=35)
        for ctx in contexts:
            ctx.close()
    finite = [x for x in latencies if x != float("inf")]
    return {
        "sessions": n,
        "finished": len(done_at),
        "all_done_s": max(done_at.values()) if len(done_at) == n else float("inf"),
        "per_session_s": sorted(done_at.values()),
        "health_median_ms": 1000 * statistics.median(finite) if finite else float("inf"),
        "health_max_ms": 1000 * max(latencies) if latencies else float("inf"),
        "health_failures": len(latencies) - len(finite),
        # the web server's own CPU (training runs in worker processes): per watching page
        "server_cpu_per_session": server_cpu / max(watched, 1e-9) / n if server else float("nan"),
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, run_app

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    with run_app() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        r = watch_runs(url, browser, n)
        browser.close()
    print(f"per-session time to done (s): {', '.join(f'{x:.1f}' for x in r['per_session_s'])}")
    print(f"health check while training: median {r['health_median_ms']:.0f} ms, "
          f"max {r['health_max_ms']:.0f} ms, {r['health_failures']} failed")  # fmt: skip
    print(f"server CPU per watching session: {r['server_cpu_per_session']:.1%} of one core")
    print(f"watchers: {r['finished']}/{n} sessions finished, all done {r['all_done_s']:.1f} s")


if __name__ == "__main__":
    main()
