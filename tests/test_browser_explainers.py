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


def _player(page):
    return page.locator(".stp").first


def _eq(page) -> str:
    return page.locator(".stp .eq").first.inner_text()


def test_convolution_steps_in_the_browser_without_asking_the_server(served_app, page):
    page.goto(f"{served_app}/convolution?conv_pad_h=1&conv_pad_w=1")
    wait_for_app(page)
    sent = []  # what the page sends the server: a rerun request is one websocket frame
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)))
    page.reload()
    wait_for_app(page)
    player = _player(page)
    player.wait_for()
    assert _eq(page) == "1×0 + 0×0 + 0×0 + 1×1 = 1"  # the corner window sits on padding
    page.wait_for_timeout(1500)
    before = len(sent)
    for expected in ("2", "3", "4", "5"):
        player.locator("button[data-action=next]").click()
        assert player.get_attribute("data-step") == expected
    assert len(sent) == before, "stepping must not rerun the page on the server"
    import torch
    import torch.nn.functional as F

    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # the textbook's input and kernel
    out = F.conv2d(x, torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]), padding=1)[0, 0]
    assert _eq(page) == f"1×0 + 0×1 + 0×0 + 1×4 = {out[1, 0].item():g}"  # step 5: row 1, col 0
    assert "conv_step=5" in page.url  # the step is in the link at once
    page.wait_for_timeout(1500)  # the step settled on is sent once, for the sidebar's link
    assert len(sent) - before <= 2 and player.get_attribute("data-step") == "5"
    # padding cells look different from input cells
    pad = player.locator("table.in td.pad").first
    cell = player.locator("table.in td:not(.pad)").first
    assert pad.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"
    assert cell.evaluate("e => getComputedStyle(e).borderTopStyle") != "dashed"
    # click an output cell: its step; hover one: its window lights up on the input
    player.locator("table.out td[data-step='9']").click()
    assert player.get_attribute("data-step") == "9"
    player.locator("table.out td[data-step='1']").hover()
    assert player.locator("table.in td.peek").count() == 4
    player.focus()
    before = len(sent)
    page.keyboard.press("ArrowLeft")
    assert player.get_attribute("data-step") == "8"
    assert len(sent) == before
    screenshot(page, "convolution-instant-stepper")
    page.reload()  # a reload opens at the step the link holds
    wait_for_app(page)
    assert _player(page).get_attribute("data-step") == "8"


def test_play_runs_to_the_end_in_the_browser(served_app, page):
    page.goto(f"{served_app}/pooling")
    wait_for_app(page)
    _player(page).locator("button[data-action=play]").click()
    from playwright.sync_api import expect

    expect(_player(page)).to_have_attribute("data-step", "4", timeout=10_000)
    assert _player(page).locator("button[data-action=play]").inner_text().endswith("Play")
    assert page.locator(".stp .eq").first.inner_text() == "(11 + 12 + 15 + 16) / 4 = 13.5"


def test_a_player_redrawn_while_it_plays_leaves_no_ghost_behind(served_app, page):
    """Streamlit calls a player again on new data without its clean-up: the old one went on
    playing unseen and, at its end, sent its last step to the server, which then jumped."""
    page.goto(f"{served_app}/pooling?pool_stride=1")  # 9 steps: over 6 s of playing
    wait_for_app(page)
    _player(page).locator("button[data-action=play]").click()
    page.wait_for_timeout(1500)  # playing, a step or two in
    box = page.get_by_label("Stride", exact=True).first
    box.fill("2")  # new frames (4 steps): the player is drawn again, at the server's step
    box.press("Enter")
    page.wait_for_timeout(500)
    wait_for_app(page)
    shown = _player(page).get_attribute("data-step")
    page.wait_for_timeout(9000)  # longer than the old animation had left to play
    wait_for_app(page)
    assert _player(page).get_attribute("data-step") == shown
    assert f"pool_step={shown}" in page.url or (shown == "1" and "pool_step" not in page.url)


def test_a_deep_link_to_a_fresh_server_gets_the_full_app(browser):
    with run_app() as url:
        pg = browser.new_page(viewport={"width": 1400, "height": 1200})
        pg.goto(f"{url}/pooling")
        wait_for_app(pg)
        nav = pg.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Home" in nav and "Convolution" in nav
        assert "registry" not in nav.lower()  # helper modules are not pages
        assert pg.get_by_text("Presenter mode").count() == 1
        assert pg.locator(".stp .eq").first.inner_text() == "(1 + 2 + 5 + 6) / 4 = 3.5"
        pg.close()


def test_the_pooling_animation_and_a_step_download_for_slides(served_app, page, tmp_path):
    import io
    from pathlib import Path

    from PIL import Image

    page.goto(f"{served_app}/pooling")
    wait_for_app(page)
    page.get_by_text("Export for slides").click()
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="Animation of all 4 steps (GIF)").click()
    gif = Image.open(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert gif.n_frames == 4 and got.value.suggested_filename.endswith(".gif")
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="Step 1 (PNG)").click()
    png = Image.open(got.value.path())
    assert png.format == "PNG" and png.width > 200


def test_transposed_convolution_stamps_in_the_browser(served_app, page):
    page.goto(f"{served_app}/transposed")
    wait_for_app(page)
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)))
    page.reload()
    wait_for_app(page)
    player = _player(page)
    player.wait_for()
    assert _eq(page).startswith("input[0,0] = 1 stamps 1 × kernel:")
    page.wait_for_timeout(1500)
    before = len(sent)
    player.locator("table.in td[data-step='5']").click()  # the centre input cell: its stamp
    assert player.get_attribute("data-step") == "5"
    assert player.locator("table.canvas td.win").count() == 9  # a 3×3 kernel lands on 9 cells
    assert player.locator("table.canvas td.crop").count() == 13  # row 0 and column 0 cropped
    player.locator("table.in td[data-step='9']").hover()
    assert player.locator("table.canvas td.peek").count() == 9
    player.locator("button[data-action=next]").click()
    assert player.get_attribute("data-step") == "6"
    assert len(sent) == before, "stepping must not rerun the page on the server"
    assert "tconv_step=6" in page.url
    player.locator("button[data-action=back]").click()
    for _ in range(4):
        player.locator("button[data-action=next]").click()
    assert player.get_attribute("data-step") == "9"
    import torch
    import torch.nn.functional as F

    x = torch.tensor([[1.0, 2, 0], [0, 1, 3], [2, 0, 1]])[None, None]
    k = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])[None, None]
    ref = F.conv_transpose2d(x, k, stride=2, padding=1, output_padding=1)[0, 0]
    shown = player.locator("table.out tr").nth(0).locator("td").all_inner_texts()
    assert [float(v) for v in shown] == ref[0].tolist()
    screenshot(page, "transposed-scatter")


def test_a_click_on_a_unit_in_the_receptive_field_grids_chooses_it(served_app, page):
    page.goto(f"{served_app}/receptive_field")
    wait_for_app(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for()
    page.wait_for_timeout(1000)
    # where layer 1's unit (row 2, column 1) is drawn, from the figure's own axes
    pos = chart.evaluate(
        """gd => {
          const t = gd._fullData.find(t => t.name === 'units of layer 1');
          const L = gd._fullLayout, r = gd.getBoundingClientRect();
          const xa = L[t.xaxis.replace('x', 'xaxis')], ya = L[t.yaxis.replace('y', 'yaxis')];
          window.picked = [];
          gd.on('plotly_selected', e => e && e.points.forEach(p => window.picked.push(p.customdata)));
          return {x: r.left + xa._offset + xa.c2p(1), y: r.top + ya._offset + ya.c2p(2)};
        }"""
    )
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(300)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(800)
    wait_for_app(page)
    picked = page.evaluate("() => window.picked")
    assert picked and picked[0][0] == 1, picked  # a unit of layer 1 was clicked
    layer, row, col = (int(v) for v in picked[0])
    page.wait_for_url(f"**rf_unit_layer={layer}**", timeout=10_000)
    assert page.get_by_label("Row", exact=True).first.input_value() == str(row)
    assert page.get_by_label("Column", exact=True).first.input_value() == str(col)
    assert f"Unit ({row}, {col}) of layer 1" in page.locator("body").inner_text()
