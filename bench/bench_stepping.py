"""How fast the explainer answers: a step in the browser, a cell edit on the server, a cold start.

1. Step latency in Chromium, median of 20 steps: the browser-side player of the Convolution
   page (a 16x16 input, 3x3 kernel, padding 1: 256 steps) from the click on Next to the next
   painted frame; beside it, in the same run, the server-side step player that the 1-D audio
   snippet still uses (each step a rerun), from the click to the new arithmetic on screen.
   That one is what every step cost before the player moved into the browser.
2. Cell edit on the server: the Convolution page's whole script run (parse, convolve, build the
   256 steps, send them) after one cell of the 16x16 input changes, median of 10 (AppTest, so
   no browser or network time is counted).
3. Cold start: a fresh `streamlit run` until the health check answers and until the
   Convolution page has drawn its player in Chromium.

Run: python bench/bench_stepping.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def matrix_param(m: np.ndarray) -> str:
    return ";".join(",".join(str(int(v)) for v in row) for row in m)


def start_server(port: int) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)


def browser_steps(url: str, big: np.ndarray) -> tuple[list[float], list[float], float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1600, "height": 1400})
        t0 = time.perf_counter()
        page.goto(f"{url}/convolution?conv_x_0={matrix_param(big)}&conv_pad_h=1&conv_pad_w=1"
                  "&conv_k_0=1,0,-1;2,0,-2;1,0,-1&conv_krows=3&conv_kcols=3&conv_rows=16"
                  "&conv_cols=16")  # fmt: skip
        player = page.locator(".stp").first
        player.locator("table.in").wait_for(timeout=60_000)
        first_paint = time.perf_counter() - t0
        nxt = player.locator("button[data-action=next]")
        instant = []
        for _ in range(20):
            instant.append(nxt.evaluate(
                "b => { const t0 = performance.now(); b.click();"
                " return new Promise(r => requestAnimationFrame(() => r(performance.now() - t0))); }"
            ))  # fmt: skip
        page.get_by_role("tab", name="1-D convolution").click()
        page.get_by_text("An audio snippet").click()
        page.get_by_role("button", name="Next").last.wait_for(timeout=60_000)
        time.sleep(2)
        server = []
        for _ in range(20):
            before = page.locator('[data-testid="stCode"]').last.inner_text()
            t0 = time.perf_counter()
            page.get_by_role("button", name="Next").last.click()
            page.wait_for_function(
                "old => { const c = [...document.querySelectorAll('[data-testid=stCode]')];"
                " return c.length && c[c.length - 1].innerText !== old; }",
                arg=before, timeout=30_000, polling="raf",
            )  # fmt: skip
            server.append((time.perf_counter() - t0) * 1000)
        b.close()
    return instant, server, first_paint


def cell_edits(big: np.ndarray) -> list[float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "convolution.py"), default_timeout=120)
    at.query_params.update(conv_x_0=matrix_param(big), conv_pad_h="1", conv_pad_w="1",
                           conv_k_0="1,0,-1;2,0,-2;1,0,-1")  # fmt: skip
    at.run()
    times = []
    for i in range(11):
        m = big.copy()
        m[i % 16, (3 * i) % 16] += 1  # one cell changes
        box = next(t for t in at.text_area if t.key == "conv_x_0")
        t0 = time.perf_counter()
        box.input("\n".join(" ".join(str(int(v)) for v in row) for row in m)).run()
        times.append((time.perf_counter() - t0) * 1000)
        assert not at.exception
    return times[1:]


def main() -> None:
    big = np.random.default_rng(0).integers(-9, 10, size=(16, 16))
    edits = cell_edits(big)
    proc, health = start_server(8791)
    try:
        instant, server, paint = browser_steps("http://127.0.0.1:8791", big)
    finally:
        proc.terminate()
    med_i, med_s = statistics.median(instant), statistics.median(server)
    print(f"step in the browser (16x16, 256 steps): median {med_i:.1f} ms of 20 "
          f"(max {max(instant):.1f} ms; target <= 50 ms)")  # fmt: skip
    print(f"step by server rerun (the 1-D audio snippet's player, as every step was before): "
          f"median {med_s:.0f} ms of 20; the browser player is {med_s / max(med_i, 0.1):.0f}x faster")  # fmt: skip
    print(f"cell edit, whole page rerun on the server (16x16): median {statistics.median(edits):.0f}"
          f" ms of 10 (target <= 150 ms)")  # fmt: skip
    print(f"cold start: health check after {health:.1f} s; the Convolution page's player drawn "
          f"{paint:.1f} s after the first request")  # fmt: skip


if __name__ == "__main__":
    main()
