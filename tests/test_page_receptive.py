"""AppTest of the Receptive field page."""

import pytest

from core.explain import receptive as rf
from tests.apptest import open_page


@pytest.fixture
def at():
    return open_page("receptive_field")


def _sentence(app) -> str:
    return next(m.value for m in app.markdown if "receptive field; on the input" in m.value)


def _grid_spec(app) -> str:
    return next(c.proto.spec for c in app.get("plotly_chart") if c.proto.id.endswith("rf_grids") or
                "rf_grids" in c.proto.id)  # fmt: skip


def test_default_stack_is_the_textbook_one(at):
    assert "5×5 receptive field" in _sentence(at)
    assert at.number_input(key="rf_in_h").value == 5
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 3  # input + two layers


@pytest.mark.parametrize("name", [n for n in rf.PRESETS if n != "textbook"])
def test_presets_render_with_their_field(at, name):
    at.selectbox(key="rf_preset").set_value(name).run()
    assert not at.exception
    assert not at.error
    layers, size = rf.preset(name)
    field = rf.layer_table(layers, input_size=size)[-1].r
    assert f"{field}×{field} receptive field" in _sentence(at)
    assert len(at.dataframe[0].value) == len(layers) + 1


def test_picking_a_unit_changes_the_highlight(at):
    at.selectbox(key="rf_preset").set_value("two_3x3").run()
    before_text, before_fig = _sentence(at), _grid_spec(at)
    at.number_input(key="rf_unit_row").set_value(0).run()
    at.number_input(key="rf_unit_col").set_value(4).run()
    assert not at.exception
    after_text = _sentence(at)
    assert "rows 0–4 and columns 4–8" in after_text
    assert after_text != before_text
    assert _grid_spec(at) != before_fig
    at.selectbox(key="rf_unit_layer").set_value(1).run()
    assert "3×3 receptive field" in _sentence(at)


def test_broken_stack_names_the_layer_and_keeps_the_earlier_ones(at):
    at.number_input(key="rf_in_h").set_value(3).run()
    assert not at.exception
    assert any("Layer 2" in e.value and "breaks the stack" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == 2  # the input and layer 1 stay in the table
    assert len(at.get("plotly_chart")) >= 1


def test_add_move_remove_layers(at):
    at.button(key="rf_add_pool").click().run()
    assert at.selectbox(key="rf_kind_2").value == "pool"
    at.number_input(key="rf_in_h").set_value(12).run()
    at.number_input(key="rf_in_w").set_value(12).run()
    at.button(key="rf_up_2").click().run()
    assert at.selectbox(key="rf_kind_1").value == "pool"
    assert at.selectbox(key="rf_kind_2").value == "conv"
    at.button(key="rf_del_0").click().run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 3
    assert at.selectbox(key="rf_kind_0").value == "pool"


def test_autograd_check_agrees(at):
    at.selectbox(key="rf_preset").set_value("dilated").run()
    at.toggle(key="rf_check").set_value(True).run()
    assert not at.exception
    assert any(s.value.startswith("Match") for s in at.success)


def test_spectrogram_reading_in_ms_and_hz(at):
    at.selectbox(key="rf_preset").set_value("two_3x3").run()
    text = next(m.value for m in at.markdown if "log-mel spectrogram" in m.value)
    assert "ms of audio" in text and "Hz" in text
