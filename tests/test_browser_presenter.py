"""Presenter mode at 1920x1080, as a projector shows it: the numbers that are the lesson are large,
the step fits one screen, and every explainer page renders (screenshots are kept)."""

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

EXPLAINERS = ["convolution", "pooling", "receptive_field", "anatomy", "audio"]

CELL_FONT = """() => {
    const texts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] svg text')]
        .filter(t => /^-?\\d+(\\.\\d+)?$/.test(t.textContent.trim())
                     && t.closest('.heatmaplayer, .textpoint, g.text') );
    const sizes = texts.map(t => parseFloat(getComputedStyle(t).fontSize));
    return sizes.length ? Math.max(...sizes) : 0;
}"""


@pytest.fixture
def hall(browser):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    yield ctx.new_page()
    ctx.close()


def _cell_font(page) -> float:
    page.wait_for_selector('[data-testid="stPlotlyChart"] svg text', timeout=30_000)
    return page.evaluate(CELL_FONT)


def test_matrix_cells_and_the_arithmetic_are_large_in_presenter_mode(served_app, hall):
    hall.goto(f"{served_app}/convolution")
    wait_for_app(hall)
    normal = _cell_font(hall)
    hall.goto(f"{served_app}/convolution?presenter=1")
    wait_for_app(hall)
    big = _cell_font(hall)
    assert big >= 24 > normal > 0, (normal, big)
    code = hall.locator('[data-testid="stCode"] code').filter(has_text="×").first
    assert float(code.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
    # the step's controls, its figure and its equation fit one 1920x1080 screen
    top = hall.get_by_role("button", name="First").first.bounding_box()
    bottom = code.bounding_box()
    assert bottom["y"] + bottom["height"] - top["y"] <= 1080
    # the editing controls are folded away, one click from view
    assert hall.get_by_text("Edit the input and settings").first.is_visible()
    assert not hall.get_by_label("Kernel rows", exact=True).first.is_visible()


@pytest.mark.parametrize("name", EXPLAINERS)
def test_every_explainer_page_renders_in_presenter_mode(served_app, hall, name):
    hall.goto(f"{served_app}/{name}?presenter=1")
    wait_for_app(hall)
    assert hall.locator('[data-testid="stException"]').count() == 0
    assert hall.get_by_role("switch", name="Presenter mode").is_checked()
    screenshot(hall, f"presenter-1920-{name}")


def test_metrics_and_tables_grow_in_presenter_mode(served_app, hall):
    sizes = {}
    for mode in ("", "?presenter=1"):
        hall.goto(f"{served_app}/anatomy{mode}")
        wait_for_app(hall)
        value = hall.locator('[data-testid="stMetricValue"] p').first
        sizes[mode] = float(value.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert sizes["?presenter=1"] >= 40 > sizes[""]
    cell = hall.locator('[data-testid="stTable"] td').first  # a plain table, not a canvas grid
    assert float(cell.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
