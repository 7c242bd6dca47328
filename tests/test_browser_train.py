"""Train a small model to the end in a real browser, then look at it on the Evaluate page.

Digits, two classes (0 against 1), the default digit model, two epochs: a few seconds of
training. The
screenshots (artifacts/screenshots/train-*.png, evaluate-*.png) show the curves, the
confusion matrix and the ROC curve.
"""

import re

import pytest
from playwright.sync_api import expect

from pages._registry import PAGES
from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

REGISTERED = {p.url_path for p in PAGES}
TRAIN_TIMEOUT = 180_000


def _settle_after(page, action) -> None:
    """Do ``action``, then wait for the rerun it starts to finish drawing."""
    page.evaluate("window.__settledSince = null")
    action()
    page.wait_for_timeout(200)
    wait_for_app(page)


def _charts_drawn(page, at_least: int, timeout: float = 30_000) -> int:
    """Wait until ``at_least`` plotly charts have drawn a line or a heat map; return the count."""
    drawn = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(
        c => c.querySelector('.scatterlayer .trace path.js-line, .heatmaplayer image, '
                             + '.heatmaplayer .hm')).length"""
    page.wait_for_function(f"({drawn})() >= {at_least}", timeout=timeout)
    return page.evaluate(drawn)


@pytest.mark.skipif(
    not {"train", "evaluate"} <= REGISTERED, reason="the Train/Evaluate pages are not registered"
)
def test_train_to_the_end_then_evaluate(served_app, page):
    page.goto(f"{served_app}/train")
    wait_for_app(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("5,000 handwritten digits")

    _settle_after(page, page.get_by_text("Only two classes").click)
    epochs = page.get_by_label("Epochs", exact=True)

    def set_epochs():
        epochs.fill("2")
        epochs.press("Enter")

    _settle_after(page, set_epochs)
    from core.learn.train import DEFAULT_MODELS
    from core.learn.zoo import PRESETS

    expect(main).to_contain_text(PRESETS[DEFAULT_MODELS["digits"]]["title"])
    screenshot(page, "train-0-settings")

    page.get_by_role("button", name="Train", exact=True).click()
    # the fragment redraws once a second: the progress text appears, then the end
    expect(main).to_contain_text(re.compile(r"Step [\d,]+ of [\d,]+"), timeout=60_000)
    expect(main).to_contain_text("Finished 2 epochs", timeout=TRAIN_TIMEOUT)
    page.evaluate("window.__settledSince = null")
    page.wait_for_timeout(1500)  # the rerun that unlocks the settings
    wait_for_app(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(main).to_contain_text("Test accuracy of the kept weights")
    assert _charts_drawn(page, 1) == 1
    curves = page.locator('[data-testid="stPlotlyChart"]').first
    # train and validation loss, train and validation accuracy, plus single batches
    assert curves.locator(".scatterlayer .trace").count() == 5
    curves.scroll_into_view_if_needed()
    screenshot(page, "train-1-curves")
    accuracy = page.locator('[data-testid="stMetric"]', has_text="Validation accuracy")
    assert re.search(r"\d+\.\d%", accuracy.inner_text())

    # client-side navigation keeps the session (and so the run)
    _settle_after(
        page, page.get_by_role("link", name="See the mistakes on the Evaluate page").click
    )
    expect(main).to_contain_text("Confusion matrix (test set)")
    assert page.locator('[data-testid="stException"]').count() == 0
    test_acc = page.locator('[data-testid="stMetric"]', has_text="Test accuracy").inner_text()
    assert re.search(r"\d+\.\d%", test_acc)
    assert _charts_drawn(page, 3) >= 3  # confusion matrix, ROC curve, 2x2 matrix
    matrix = page.locator('[data-testid="stPlotlyChart"]').first
    matrix.scroll_into_view_if_needed()
    screenshot(page, "evaluate-1-confusion")

    # a click on the bottom-right cell (true 1, predicted 1) shows the examples behind it
    box = matrix.locator(".nsewdrag").first.bounding_box()
    _settle_after(
        page,
        lambda: page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75),
    )
    expect(main).to_contain_text(re.compile(r"\d+ test examples of 1 predicted as 1 \(right\)"))
    assert page.locator('[data-testid="stImage"]').count() > 0
    roc = page.get_by_text("Two classes: ROC curve and the decision threshold")
    roc.scroll_into_view_if_needed()
    expect(page.locator('[data-testid="stMetric"]', has_text="AUC")).to_be_visible()
    screenshot(page, "evaluate-2-roc")

    # a reload (a new session: only the link is kept) shows the same run at the same cell
    assert "run=" in page.url and ("ev_true=1" in page.url or "ev_pred=1" in page.url)
    page.reload()
    wait_for_app(page)
    expect(main).to_contain_text("Confusion matrix (test set)", timeout=30_000)
    expect(main).to_contain_text(re.compile(r"\d+ test examples of 1 predicted as 1 \(right\)"))
    assert page.locator('[data-testid="stMetric"]', has_text="Test accuracy").inner_text() == (
        test_acc
    )
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.skipif("train" not in REGISTERED, reason="the Train page is not registered")
def test_a_reload_and_a_second_tab_find_the_run_again(served_app, page, browser):
    page.goto(f"{served_app}/train")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    epochs = page.get_by_label("Epochs", exact=True)

    def set_epochs():
        epochs.fill("150")  # long enough to still be training after a reload and a new tab
        epochs.press("Enter")

    _settle_after(page, set_epochs)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(main).to_contain_text(re.compile(r"Step [\d,]+ of [\d,]+"), timeout=60_000)
    page.wait_for_function("location.search.includes('run=')", timeout=30_000)
    link = page.url
    run_id = re.search(r"run=([A-Za-z0-9_-]+)", link).group(1)

    page.reload()  # a new browser session of the same tab
    wait_for_app(page)
    expect(main).to_contain_text(re.compile(r"Step [\d,]+ of [\d,]+"), timeout=30_000)
    assert f"run={run_id}" in page.url
    assert page.get_by_role("button", name="Stop").is_enabled()
    assert page.get_by_label("Epochs", exact=True).input_value() == "150"  # the run's own
    screenshot(page, "train-2-after-reload")

    other = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    try:
        other.goto(link)  # another browser (a classmate given the address): watches only
        wait_for_app(other)
        other_main = other.locator('[data-testid="stMain"]')
        expect(other_main).to_contain_text(re.compile(r"Step [\d,]+ of [\d,]+"), timeout=30_000)
        expect(other_main).to_contain_text("only that browser can stop it")
        assert other.get_by_role("button", name="Stop").is_disabled()
        assert other.locator('[data-testid="stException"]').count() == 0
    finally:
        other.context.close()
    tab = page.context.new_page()  # the same student in another tab of the same browser
    try:
        tab.goto(link)
        wait_for_app(tab)
        tab_main = tab.locator('[data-testid="stMain"]')
        expect(tab_main).to_contain_text(re.compile(r"Step [\d,]+ of [\d,]+"), timeout=30_000)
        tab.get_by_role("button", name="Stop").click()
        expect(tab_main).to_contain_text("Stopped", timeout=30_000)
        assert tab.locator('[data-testid="stException"]').count() == 0
    finally:
        tab.close()

    # a link to a run the server no longer has says so and offers the page as it is
    page.goto(f"{served_app}/train?run=no-such-run-id")
    wait_for_app(page)
    expect(main).to_contain_text("run named in this link is not on the server")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "run=" not in page.url
