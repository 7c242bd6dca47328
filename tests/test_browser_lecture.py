"""A lecture built and presented in a real browser: views added from two pages' sidebars,
presented with Next and Previous, each slide opening its page at its state in presenter mode,
and a reload on a slide keeping that slide's state and the lecture."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _query(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def _click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).first.click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def _exceptions(page) -> list[str]:
    return [e.inner_text()[:300] for e in page.locator('[data-testid="stException"]').all()]


def test_a_lecture_from_two_pages_presented_in_presenter_mode(served_app, page):
    page.goto(f"{served_app}/pooling?pool_mode=max")
    wait_for_app(page)
    _click(page, "Add this view to the lecture")
    page.get_by_role("link", name="Convolution").first.click()  # the same session
    wait_for_app(page)
    box = page.get_by_label("Stride → (columns)", exact=True).first
    box.fill("2")
    box.press("Enter")
    page.wait_for_timeout(500)
    wait_for_app(page)
    player = page.locator(".stp").first
    # the step player moves in the browser; the step it settles on is sent to the server
    player.locator("button[data-action=next]").click()  # step 2 of 2 (stride 2)
    assert player.get_attribute("data-step") == "2"
    page.wait_for_timeout(1500)
    wait_for_app(page)
    assert player.get_attribute("data-step") == "2"  # the server's echo is no jump back
    page.get_by_role("button", name="Copy link").first.click()
    shared = page.locator('[data-testid="stPopover"] code, [data-testid="stPopoverBody"] code')
    assert "conv_step=2" in shared.first.inner_text()
    assert "lecture=" not in shared.first.inner_text()  # a lecture being built stays here
    page.keyboard.press("Escape")
    _click(page, "Add this view to the lecture")
    page.reload()  # a reload on any page keeps the lecture being built
    wait_for_app(page)
    page.get_by_role("link", name="Lecture").first.click()
    wait_for_app(page)
    titles = page.get_by_label("Slide 1: Pooling").first
    titles.wait_for(timeout=30_000)
    assert titles.input_value() == "Pooling 1"
    assert page.get_by_label("Slide 2: Convolution").first.input_value() == "Convolution 1"
    screenshot(page, "lecture_page")
    _click(page, "Present")
    page.wait_for_url("**/pooling?*", timeout=30_000)
    wait_for_app(page)
    q = _query(page)
    assert (q["pool_mode"], q["presenter"], q["slide"]) == ("max", "1", "1"), q
    assert page.get_by_text("Slide 1 of 2").first.is_visible()
    _click(page, "Next slide")
    page.wait_for_url("**/convolution?*", timeout=30_000)
    wait_for_app(page)
    assert _query(page)["conv_stride_w"] == "2" and _query(page)["presenter"] == "1"
    assert _query(page)["conv_step"] == "2"
    assert page.locator(".stp").first.get_attribute("data-step") == "2"  # the slide's step
    assert page.get_by_text("Slide 2 of 2").first.is_visible()
    screenshot(page, "lecture_slide_2")
    page.reload()  # the slide's state, and the lecture, are in its link
    wait_for_app(page)
    assert _query(page)["conv_stride_w"] == "2"
    assert page.get_by_label("Stride → (columns)", exact=True).first.input_value() == "2"
    assert page.get_by_text("Slide 2 of 2").first.is_visible()
    top = page.get_by_role("button", name="Previous", exact=True).first  # the bar atop the page
    assert top.bounding_box()["y"] < 400
    _click(page, "Previous")
    page.wait_for_url("**/pooling?*", timeout=30_000)
    wait_for_app(page)
    assert _query(page)["pool_mode"] == "max" and _query(page)["slide"] == "1"
    assert not _exceptions(page)
