"""The explainer pages in a real browser: every page opens, the convolution steps, screenshots saved."""

import pytest

from tests.conftest import run_app, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def test_every_page_opens_without_an_exception(served_app, page):
    from pages._registry import PAGES

    for path in ["", *(p.url_path for p in PAGES)]:
        page.goto(f"{served_app}/{path}")
        wait_for_app(page)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        screenshot(page, f"page-{path or 'home'}")


def test_convolution_steps_in_the_browser(served_app, page):
    page.goto(f"{served_app}/convolution")
    wait_for_app(page)
    code = page.locator('[data-testid="stCode"]').first
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in code.inner_text()
    page.get_by_role("button", name="Next").first.click()
    wait_for_app(page)
    assert "1×2 + 0×3 + 0×5 + 1×6 = 8" in page.locator('[data-testid="stCode"]').first.inner_text()
    screenshot(page, "convolution-step-2")


def test_a_deep_link_to_a_fresh_server_gets_the_full_app(browser):
    with run_app() as url:
        pg = browser.new_page(viewport={"width": 1400, "height": 1200})
        pg.goto(f"{url}/pooling")
        wait_for_app(pg)
        nav = pg.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Home" in nav and "Convolution" in nav
        assert "registry" not in nav.lower()  # helper modules are not pages
        assert pg.get_by_text("Presenter mode").count() == 1
        assert (
            "(1 + 2 + 5 + 6) / 4 = 3.5" in pg.locator('[data-testid="stCode"]').first.inner_text()
        )
        pg.close()
