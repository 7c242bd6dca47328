"""Benchmarks of the explainer pages. Prints figures; asserts nothing.

Run: `.venv/bin/python bench/bench_explainers.py` (or `make bench` for every benchmark).

1. The full trace of a 32x32, 3-channel input with a 5x5 kernel (target <= 10 ms),
   beside torch.nn.functional.conv2d on the same numbers as a reference.
2. Server-side rerun of each explainer page through AppTest (target <= 150 ms median).
3. Cold start: process start to the home page's title drawn in Chromium (target <= 4 s).
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.explain import conv  # noqa: E402


def timeit(fn, *, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_trace() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 32, 32))
    w = rng.normal(size=(1, 3, 5, 5))
    ours = timeit(lambda: conv.conv2d(x, w, padding=2), repeat=200)

    def every_step():
        res = conv.conv2d(x, w, padding=2)
        for i in range(res.n_steps):
            res.step(i)

    steps = timeit(every_step, repeat=20)
    import torch
    import torch.nn.functional as F

    xt, wt = torch.from_numpy(x)[None], torch.from_numpy(w)
    ref = timeit(lambda: F.conv2d(xt, wt, padding=2), repeat=200)
    print(f"trace 3x32x32 * 5x5 ('same'): {ours:.2f} ms median (target <= 10 ms)")
    print(f"  ... and building all 1024 Step records too: {steps:.2f} ms")
    print(f"  torch F.conv2d, output only: {ref:.3f} ms -> ours/torch = {ours / ref:.1f}x")


def bench_reruns() -> None:
    from streamlit.testing.v1 import AppTest

    from pages._registry import PAGES

    print("server-side rerun (AppTest), median of 15 after a first run (target <= 150 ms):")
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / page.path), default_timeout=120)
        at.run()
        if at.exception:
            print(f"  {page.title}: raised {at.exception[0].message}")
            continue
        ms = timeit(at.run, repeat=15)
        print(f"  {page.title:<22} {ms:7.1f} ms")


def bench_cold_start() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CHROMIUM, _free_port

    if not Path(CHROMIUM).exists():
        print("cold start: skipped (no Chromium)")
        return
    from playwright.sync_api import sync_playwright

    port = _free_port()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=2000)
                    break
                except Exception:
                    time.sleep(0.05)
            page.wait_for_selector("h1:has-text('How a convolutional network computes')",
                                   timeout=60_000)  # fmt: skip
            elapsed = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        browser.close()
    print(f"cold start, process start to home page drawn: {elapsed:.2f} s (target <= 4 s)")


if __name__ == "__main__":
    bench_trace()
    bench_reruns()
    bench_cold_start()
