"""AppTest of the Architecture anatomy page."""

import pytest

from core.explain.summary import summarize
from core.learn.zoo import PRESETS, preset_spec
from tests.apptest import open_page


@pytest.fixture
def at():
    return open_page("anatomy")


def _metrics(app) -> dict:
    return {m.label: m.value for m in app.metric}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_renders_table_and_code(at, name):
    at.selectbox(key="an_preset").set_value(name).run()
    assert not at.exception
    assert not at.error
    spec = preset_spec(name, n_classes=PRESETS[name]["n_classes"])
    summary = summarize(spec, PRESETS[name]["input_shape"])
    assert _metrics(at)["PyTorch total"] == f"{summary.torch_params:,}"
    assert "model = nn.Sequential(" in at.code[0].value
    assert len(at.dataframe[0].value) == len(summary.rows)


def test_spectrogram_classifier_shows_keras_totals(at):
    at.selectbox(key="an_preset").set_value("spectrogram_cnn").run()
    m = _metrics(at)
    assert (m["Keras total"], m["Trainable"], m["Non-trainable"]) == (
        "66,123",
        "65,803",
        "320",
    )
    assert "nn.Conv2d(1, 32, kernel_size=3)" in at.code[0].value
    assert at.number_input(key="an_classes").value == 11


def test_sigmoid_head_and_classes(at):
    at.selectbox(key="an_preset").set_value("lenet5").run()
    at.number_input(key="an_classes").set_value(2).run()
    at.radio(key="an_head").set_value("sigmoid").run()
    assert not at.exception
    assert "nn.Sigmoid()" in at.code[0].value
    assert "nn.Linear(84, 1)" in at.code[0].value


def test_fc_vs_conv_arithmetic_is_written_out(at):
    text = " ".join(m.value for m in at.markdown)
    assert "44,100×1,000 + 1,000×1,000 + 1,000×1,000 = 46,100,000" in text
    at.radio(key="an_fc_input").set_value("image").run()
    text = " ".join(m.value for m in at.markdown)
    assert "150,528×1,000" in text


def test_bad_logits_show_a_message(at):
    at.text_input(key="an_logits").set_value("two, one").run()
    assert not at.exception
    assert any("numbers" in e.value for e in at.error)


def test_presenter_tables_print_numbers_as_they_are_read():
    """st.table printed 18.4000 and, for the 10 outputs of LeNet (40 bytes), 0.0000."""
    from streamlit.testing.v1 import AppTest

    from tests.apptest import PAGES

    app = AppTest.from_file(str(PAGES / "anatomy.py"), default_timeout=60)
    app.session_state["presenter"] = True
    app.run()
    assert not app.exception
    rows = app.table[0].value
    summary = summarize(preset_spec("lenet5", n_classes=10), PRESETS["lenet5"]["input_shape"])
    last = summary.rows[-1]
    assert str(rows["Activations (KB)"].iloc[-1]) == f"{last.activation_bytes / 1024:.2f}".rstrip(
        "0"
    )
    assert not any(str(v).endswith("000") for v in rows["Activations (KB)"])
    assert app.code[0].proto.wrap_lines  # a projector shows no hidden right edge


def test_presenter_numbers_keep_small_values():
    """Two decimals printed 0.0012 KB as "0"; small values keep two significant figures."""
    from pages._shared import plain_number

    got = [plain_number(v) for v in (18.4, 0.04, 1234.5, 3.14159, 0.0, -0.0, 0.0012, -0.00049,
                                      0.005, float("nan"), 1e-5, 4.9e-7)]  # fmt: skip
    assert got == ["18.4", "0.04", "1,234.5", "3.14", "0", "0", "0.0012", "-0.00049", "0.01", "nan",
                   "0.00001", "0.00000049"]  # fmt: skip
