"""Presenter mode at 1920x1080, as a projector shows it: the numbers that are the lesson are large,
the step fits one screen, and every explainer page renders (screenshots are kept)."""

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

EXPLAINERS = ["convolution", "pooling", "transposed", "receptive_field", "anatomy", "audio"]


@pytest.fixture
def hall(browser):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    yield ctx.new_page()
    ctx.close()


def _cell_font(page) -> float:
    """The size of the numbers in the step player's input cells (it draws in a shadow root,
    which locators reach)."""
    cell = page.locator(".stp table.in td").first
    cell.wait_for(timeout=30_000)
    return float(cell.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))


def test_matrix_cells_and_the_arithmetic_are_large_in_presenter_mode(served_app, hall):
    hall.goto(f"{served_app}/convolution")
    wait_for_app(hall)
    normal = _cell_font(hall)
    hall.goto(f"{served_app}/convolution?presenter=1")
    wait_for_app(hall)
    big = _cell_font(hall)
    assert big >= 24 > normal > 0, (normal, big)
    player = hall.locator(".stp").first
    eq = player.locator(".eq")
    assert float(eq.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
    # the step's controls, its grids and its equation fit one 1920x1080 screen
    top = player.locator("table.in").first.bounding_box()
    bottom = player.locator(".bar").bounding_box()
    assert bottom["y"] + bottom["height"] - top["y"] <= 1080
    # the editing controls are folded away, one click from view
    assert hall.get_by_text("Edit the input and settings").first.is_visible()
    assert not hall.get_by_label("Kernel rows", exact=True).first.is_visible()


def test_figure_numbers_are_large_in_presenter_mode(served_app, hall):
    sizes = []
    for mode in ("", "?presenter=1"):
        hall.goto(f"{served_app}/audio{mode}")  # the waveform, with its time axis
        wait_for_app(hall)
        ticks = hall.locator('[data-testid="stPlotlyChart"] .xtick text').first
        ticks.wait_for(timeout=30_000)
        sizes.append(float(ticks.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")))
    assert sizes[1] >= 18 > sizes[0], sizes


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
