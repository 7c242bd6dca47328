"""Shared fixtures: a seeded RNG, the app served on 127.0.0.1, and a headless Chromium page."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "screenshots"

# What the app keeps on disk (lectures, downloads a test did not send elsewhere) goes to a
# folder of this test process, never to the user's ~/.cache/cnn-explainer.
_DATA = tempfile.mkdtemp(prefix="cnn-tests-data-")
os.environ["CNN_DATA_DIR"] = _DATA
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
# A page's unexpected error reaches the tests (and a browser test's page) as itself, with its
# traceback, instead of app.py's one-sentence notice (tests/test_app_errors.py checks that).
os.environ["CNN_DEBUG"] = "1"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def run_app():
    """Start `streamlit run app.py` on a free local port; yield its base URL; stop it after."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The server's log (and its training workers', which inherit it) goes to a file: a pipe
    # nobody reads would block the server once its buffer filled.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            proc.kill()
            log.seek(0)
            raise RuntimeError("the app did not start within 60 s:\n" + log.read().decode())
        try:
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def served_app():
    """The app, served once for the whole test run."""
    with run_app() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has run the page's script and drawn everything it sent.

    The app counts as settled when, twice in a row half a second apart, no script is
    running (no status widget), no element is still a loading skeleton and none is left
    stale from the run before (a slow run shows the old elements greyed out, and a
    locator by position would find those).
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.evaluate("() => { window.__settledSince = null; }")
    page.wait_for_function(
        """() => {
            const busy = document.querySelector('[data-testid="stStatusWidget"]')
                || document.querySelector('[data-testid="stSkeleton"]')
                || document.querySelector('[data-stale="true"]')
                || !document.querySelector('[data-testid="stMain"] h1');
            const now = Date.now();
            if (busy) { window.__settledSince = null; return false; }
            if (!window.__settledSince) { window.__settledSince = now; return false; }
            return now - window.__settledSince > 500;
        }""",
        timeout=timeout,
        polling=100,
    )


def pytest_make_parametrize_id(config, val, argname):
    """Bytes parameters get ids from their length: a float WAV's header holds the time it was
    written, so ids made of the bytes differ between the workers that collect the tests."""
    if isinstance(val, bytes | bytearray):
        return f"{argname}{len(val)}b"
    return None
