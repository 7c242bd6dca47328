"""A page's state in its URL, in a real browser: the address bar follows each edit, a link
opened in a fresh browser (no shared session) shows the same values and output, a reload
keeps them, and presenter mode travels with the link."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _exceptions(page) -> list[str]:
    return [e.inner_text()[:300] for e in page.locator('[data-testid="stException"]').all()]


def _set(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)


def _query(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def _fresh(browser, url: str):
    """The link opened in a new browser context: no cookies, no session, nothing shared."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = ctx.new_page()
    pg.goto(url)
    wait_for_app(pg)
    return ctx, pg


def _equation(page) -> str:
    """The arithmetic of the step the player shows (the player draws in a shadow root)."""
    return page.locator(".stp .eq").first.inner_text()


def test_a_convolution_link_opens_the_same_state_in_a_fresh_browser(served_app, page, browser):
    page.goto(f"{served_app}/convolution")
    wait_for_app(page)
    _set(page, "Stride → (columns)", "2")
    _set(page, "Padding ↓", "1")
    kernel = page.get_by_label("Kernel", exact=True).first
    kernel.fill("1 0\n0 -1")
    kernel.press("Control+Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)
    equation = _equation(page)
    query = _query(page)
    assert query["conv_stride_w"] == "2" and query["conv_pad_h"] == "1"
    assert query["conv_k_0"] == "1,0;0,-1"
    ctx, other = _fresh(browser, page.url)
    try:
        assert _exceptions(other) == []
        assert other.get_by_label("Stride → (columns)", exact=True).input_value() == "2"
        assert other.get_by_label("Padding ↓", exact=True).input_value() == "1"
        assert other.get_by_label("Kernel", exact=True).first.input_value() == "1 0\n0 -1"
        assert _equation(other) == equation
        screenshot(other, "links-convolution-fresh-browser")
    finally:
        ctx.close()
    page.reload()
    wait_for_app(page)
    assert page.get_by_label("Stride → (columns)", exact=True).input_value() == "2"
    assert _equation(page) == equation


def test_receptive_field_and_pooling_links_survive_reload_and_a_visit(served_app, page, browser):
    page.goto(f"{served_app}/receptive_field?rf_layers=c3s1p0d1,p2s2p0d1,c3s1p0d1&rf_in_h=12"
              "&rf_in_w=12")  # fmt: skip
    wait_for_app(page)
    assert _exceptions(page) == []
    assert page.get_by_label("Input height", exact=True).input_value() == "12"
    sentence = page.get_by_text("receptive field; on the input").first.inner_text()
    page.get_by_role("link", name="Pooling").first.click()
    wait_for_app(page)
    _set(page, "Padding", "1")
    pooled = _query(page)
    assert pooled.get("pool_pad") == "1" and not any(k.startswith("rf_") for k in pooled)
    page.get_by_role("link", name="Receptive field").first.click()
    wait_for_app(page)
    assert _query(page)["rf_layers"] == "c3s1p0d1,p2s2p0d1,c3s1p0d1"  # back in the URL
    assert page.get_by_text("receptive field; on the input").first.inner_text() == sentence
    page.reload()
    wait_for_app(page)
    assert page.get_by_text("receptive field; on the input").first.inner_text() == sentence
    ctx, other = _fresh(browser, page.url)
    try:
        assert other.get_by_text("receptive field; on the input").first.inner_text() == sentence
    finally:
        ctx.close()


def test_a_hostile_link_says_what_it_ignored(served_app, page):
    page.goto(f"{served_app}/pooling?pool_size=abc&pool_mode=%3Cscript%3E&zzz=1")
    wait_for_app(page)
    assert _exceptions(page) == []
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="could not be used")
    assert "pool_size=abc" in warning.first.inner_text()
    assert "zzz" not in _query(page)


def test_presenter_mode_travels_in_the_link(served_app, page, browser):
    page.goto(f"{served_app}/anatomy?presenter=1&an_fc_units=500")
    wait_for_app(page)
    assert page.get_by_role("switch", name="Presenter mode").is_checked()
    assert page.get_by_label("Units per dense layer", exact=True).input_value() == "500"
    page.get_by_role("link", name="Train").first.click()
    wait_for_app(page)
    assert _query(page).get("presenter") == "1"
    ctx, other = _fresh(browser, page.url)
    try:
        assert other.get_by_role("switch", name="Presenter mode").is_checked()
    finally:
        ctx.close()


def test_train_settings_survive_a_reload_and_open_in_a_fresh_browser(served_app, page, browser):
    page.goto(f"{served_app}/train")
    wait_for_app(page)
    page.get_by_label("Dataset", exact=True).click()
    page.get_by_role("option", name="Instrument timbres (synthesised)").click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    _set(page, "Epochs", "4")
    _set(page, "Seed", "11")
    query = _query(page)
    assert query["tr_dataset"] == "instruments" and query["tr_epochs"] == "4"
    assert query["tr_seed"] == "11"
    main = page.locator('[data-testid="stMain"]')
    described = main.get_by_text("one-second notes of six timbres").first.inner_text()
    page.reload()  # a new session of the same tab: nothing but the link is kept
    wait_for_app(page)
    assert _exceptions(page) == []
    assert page.get_by_label("Epochs", exact=True).input_value() == "4"
    assert page.get_by_label("Seed", exact=True).input_value() == "11"
    assert main.get_by_text("one-second notes of six timbres").first.inner_text() == described
    ctx, other = _fresh(browser, page.url)
    try:
        assert _exceptions(other) == []
        assert other.get_by_label("Epochs", exact=True).input_value() == "4"
        assert "six timbres" in other.locator('[data-testid="stMain"]').inner_text()
        screenshot(other, "links-train-fresh-browser")
    finally:
        ctx.close()


def test_a_model_built_by_hand_survives_a_reload_and_opens_in_a_fresh_browser(
    served_app, page, browser
):
    page.goto(f"{served_app}/model_builder")
    wait_for_app(page)
    first = page.get_by_label("filters", exact=True).first
    assert first.input_value() == "6"  # LeNet-5's first convolution
    first.fill("8")
    first.press("Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)
    assert _query(page)["mb_layers"].startswith("conv2d,out_channels:8,")
    main = page.locator('[data-testid="stMain"]')
    counted = main.get_by_text("parameters").first.inner_text()
    page.reload()
    wait_for_app(page)
    assert _exceptions(page) == []
    assert page.get_by_label("filters", exact=True).first.input_value() == "8"
    assert main.get_by_text("parameters").first.inner_text() == counted
    ctx, other = _fresh(browser, page.url)
    try:
        assert other.get_by_label("filters", exact=True).first.input_value() == "8"
        screenshot(other, "links-model-builder-fresh-browser")
    finally:
        ctx.close()


def test_the_convolution_tab_on_screen_is_in_the_link(served_app, page, browser):
    page.goto(f"{served_app}/convolution")
    wait_for_app(page)
    page.get_by_role("tab", name="1-D convolution").click()
    page.wait_for_timeout(500)
    wait_for_app(page)
    assert _query(page).get("conv_tab") == "1d"
    _set(page, "Stride", "2")
    link = page.url
    assert _query(page).get("c1_stride") == "2"
    ctx, other = _fresh(browser, link)
    tab = other.get_by_role("tab", name="1-D convolution")
    assert tab.get_attribute("aria-selected") == "true"
    assert other.get_by_label("Stride", exact=True).first.input_value() == "2"
    assert not _exceptions(other)
    ctx.close()
    page.reload()
    wait_for_app(page)
    assert page.get_by_role("tab", name="1-D convolution").get_attribute("aria-selected") == "true"
