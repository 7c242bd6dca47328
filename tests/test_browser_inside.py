"""Inside the network in a real browser: a misclassified digit through the shipped model, a
click on a feature-map cell chooses that unit and lights its receptive field on the input."""

import re

import pytest
from playwright.sync_api import expect

from core.learn import inside as I
from pages._registry import PAGES
from tests.conftest import screenshot, wait_for_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif("inside" not in {p.url_path for p in PAGES}, reason="no Inside page"),
    pytest.mark.skipif("digits" not in I.shipped_models(), reason="no shipped model"),
]
SENTENCE = re.compile(r"Unit \(row (\d+), column (\d+)\) of filter (\d+) reads input rows")


def test_a_click_on_a_feature_map_cell_lights_its_receptive_field(served_app, page):
    page.goto(f"{served_app}/inside?in_show=misclassified")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("(wrong)")  # a misclassified digit, as the link asked
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "inside-0-misclassified")

    heading = page.get_by_role("heading", name="Where this unit looks")
    heading.scroll_into_view_if_needed()
    before = SENTENCE.search(main.inner_text())
    assert before, "no receptive-field sentence"
    chart = page.locator(".js-plotly-plot").filter(has_text="its receptive field on the input")
    chart.wait_for()
    page.wait_for_timeout(800)
    target = (0, 0) if before.group(1, 2) != ("0", "0") else (1, 1)
    _click_unit(page, chart, target)
    expect(main).to_contain_text(f"Unit (row {target[0]}, column {target[1]}) of filter")
    assert page.locator('[data-testid="stException"]').count() == 0
    after = SENTENCE.search(main.inner_text())
    assert (int(after.group(1)), int(after.group(2))) == target
    page.get_by_role("heading", name="Where this unit looks").scroll_into_view_if_needed()
    screenshot(page, "inside-1-receptive-field")


def _click_unit(page, chart, target) -> None:
    pos = chart.evaluate(
        """(gd, rc) => {
          const t = gd._fullData.find(t => t.name === 'units');
          const L = gd._fullLayout, r = gd.getBoundingClientRect();
          const xa = L[t.xaxis.replace('x', 'xaxis')], ya = L[t.yaxis.replace('y', 'yaxis')];
          return {x: r.left + xa._offset + xa.c2p(rc[1]), y: r.top + ya._offset + ya.c2p(rc[0])};
        }""",
        list(target),
    )
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(300)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(800)
    wait_for_app(page)


@pytest.mark.slow
def test_a_mistake_from_the_confusion_matrix_opens_inside_and_a_unit_is_clicked(served_app,
                                                                                page):  # fmt: skip
    page.goto(f"{served_app}/train")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    page.wait_for_timeout(500)
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(main).to_contain_text("Finished 1 epoch", timeout=180_000)
    page.wait_for_timeout(1500)
    wait_for_app(page)
    page.get_by_role("link", name="See the mistakes on the Evaluate page").click()
    wait_for_app(page)
    expect(main).to_contain_text("Confusion matrix (test set)")
    # the page starts on the most frequent mistake; its first example goes inside
    expect(main).to_contain_text("(mistakes)")
    page.get_by_role("button", name="Open in Inside the network").click()
    page.wait_for_url("**/inside**", timeout=30_000)
    wait_for_app(page)
    expect(main).to_contain_text("(wrong)", timeout=30_000)
    assert "in_model=session" in page.url  # the model just trained, not a shipped one
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "inside-2-from-evaluate")

    page.get_by_role("heading", name="Where this unit looks").scroll_into_view_if_needed()
    chart = page.locator(".js-plotly-plot").filter(has_text="its receptive field on the input")
    chart.wait_for()
    page.wait_for_timeout(800)
    _click_unit(page, chart, (2, 3))
    expect(main).to_contain_text("Unit (row 2, column 3) of filter")
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "inside-3-from-evaluate-unit")
