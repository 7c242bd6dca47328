"""In a real browser: train the default digit model briefly, then draw a digit and ask it."""

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def go(page, title):
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def test_draw_a_one_and_ask_the_digit_model(served_app, page):
    page.goto(f"{served_app}/train")
    wait_for_app(page)
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Test accuracy of the kept weights").first.wait_for(timeout=180_000)
    go(page, "Ask your model")
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + i * 0.3, box["y"] + 40 + i * 10)
    page.mouse.up()
    page.get_by_text("It says:").first.wait_for(timeout=60_000)
    wait_for_app(page)
    said = page.get_by_text("It says:").first.inner_text()
    screenshot(page, "ask-1-drawn-digit")
    assert "It says: 1" in said, said
