"""Leave a page and come back in a real browser: the settings are still there, nothing raises.

AppTest and the browser keep widget state differently (a page switch in the browser drops
the values of every widget the new page does not draw), so this is checked in Chromium too.
"""

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _exceptions(page) -> list[str]:
    return [e.inner_text()[:300] for e in page.locator('[data-testid="stException"]').all()]


def _go(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    wait_for_app(page)


def _set(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)


def test_receptive_field_padding_then_a_visit_elsewhere(served_app, page):
    page.goto(f"{served_app}/receptive_field")
    wait_for_app(page)
    _set(page, "p", "1")
    _set(page, "p", "2")  # the unit picker's labels change with the sizes: once a TypeError
    assert _exceptions(page) == []
    sentence = page.get_by_text("receptive field; on the input").first.inner_text()
    _go(page, "Pooling")
    _go(page, "Convolution")
    _go(page, "Receptive field")
    assert _exceptions(page) == []
    assert page.get_by_label("p", exact=True).first.input_value() == "2"
    assert page.get_by_label("Input height", exact=True).input_value() == "5"
    assert page.get_by_text("receptive field; on the input").first.inner_text() == sentence
    screenshot(page, "navigation-receptive-field-back")


def test_convolution_and_pooling_keep_their_settings(served_app, page):
    page.goto(f"{served_app}/convolution")
    wait_for_app(page)
    _set(page, "Stride → (columns)", "2")
    _go(page, "Pooling")
    _set(page, "Padding", "1")
    _go(page, "Convolution")
    assert _exceptions(page) == []
    assert page.get_by_label("Stride → (columns)", exact=True).input_value() == "2"
    _go(page, "Pooling")
    assert _exceptions(page) == []
    assert page.get_by_label("Padding", exact=True).first.input_value() == "1"
