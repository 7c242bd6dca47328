"""The audio explorer in a real browser: load an example, step the window, save screenshots.

The first visit to the audio page in a fresh server imports librosa (and numba), which takes
a while; ``wait_for_app`` allows 60 s for it.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _settle_after(page, action) -> None:
    """Do ``action`` (a click), then wait for the rerun it starts to finish drawing.

    wait_for_app remembers when the page last looked settled; forget that first, so a
    rerun that has not yet shown its status widget is not mistaken for a settled page.
    """
    page.evaluate("window.__settledSince = null")
    action()
    page.wait_for_timeout(150)
    wait_for_app(page)


def _frame_sentence(page) -> str:
    text = page.locator('[data-testid="stMarkdownContainer"]', has_text="starts at sample")
    return text.first.inner_text()


def _charts_drawn(page, at_least: int) -> int:
    """Wait until ``at_least`` plotly charts have drawn a line or an image; return the count.

    Streamlit loads plotly.js lazily, so charts appear a moment after the script settles.
    """
    drawn = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(
        c => c.querySelector('.scatterlayer .trace path.js-line, .heatmaplayer image')).length"""
    page.wait_for_function(f"({drawn})() >= {at_least}", timeout=20_000)
    return page.evaluate(drawn)


def test_load_an_example_and_step_the_window(served_app, page):
    page.goto(f"{served_app}/audio")
    wait_for_app(page)
    assert page.locator('[data-testid="stException"]').count() == 0

    # pick the chirp among the shipped examples
    page.locator('[data-testid="stSelectbox"]', has_text="Example clip").click()
    _settle_after(page, page.get_by_role("option", name=re.compile("chirp.ogg")).click)
    expect(page.locator('[data-testid="stMain"]')).to_contain_text("chirp.ogg: 4.000 s")
    assert _charts_drawn(page, 1) == 1  # the waveform
    screenshot(page, "audio-1-waveform")

    _settle_after(page, page.get_by_text("2 Framing", exact=True).click)
    first = _frame_sentence(page)
    assert first.startswith("Frame 0 starts at sample -256 (inside the zero padding")
    assert "centred on t = 0.000 s" in first
    screenshot(page, "audio-2-framing-frame-0")

    nxt = page.get_by_role("button", name="next frame ▶")
    for i in range(1, 4):
        _settle_after(page, nxt.click)
        expect(page.get_by_text(f"Frame {i} starts at sample")).to_be_visible()
    stepped = _frame_sentence(page)
    # three hops of R = 160 samples at 16 kHz: frame 3 starts at 3 * 160 - 256 = 224
    assert stepped.startswith("Frame 3 starts at sample 224 (0.014 s)")
    assert "centred on t = 0.030 s" in stepped
    assert _charts_drawn(page, 1) == 1  # x(n) and w(n), x(n)·w(n) and |X(k)| in one figure
    assert page.locator('[data-testid="stPlotlyChart"] .scatterlayer .trace').count() == 4
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "audio-2-framing-frame-3")

    _settle_after(page, page.get_by_role("button", name="◀ previous frame").click)
    assert _frame_sentence(page).startswith("Frame 2 starts at sample 64")

    for stage, name in [
        ("3 Spectrogram", "audio-3-spectrogram"),
        ("4 Mel", "audio-4-mel"),
        ("6 The CNN's view", "audio-6-cnn-view"),
    ]:
        _settle_after(page, page.get_by_text(stage, exact=True).click)
        assert page.locator('[data-testid="stException"]').count() == 0, stage
        assert _charts_drawn(page, 3 if stage == "4 Mel" else 1), stage
        screenshot(page, name)
