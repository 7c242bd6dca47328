"""Leave every page and come back: nothing raises and the setting the user changed is kept.

Streamlit forgets the value of every widget a run does not draw, so without care a page
visited a second time finds half its state gone (the receptive-field page used to raise an
AttributeError and silently fall back to a 1x1 stack while its preset still read "Textbook").
These tests drive the router (app.py) the way a browser does: page, other page, page.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")

# page, widget kind, key, value to set (None: the page has nothing to set before a model exists)
CASES = [
    ("convolution", "number_input", "conv_stride_w", 2),
    ("convolution", "text_area", "conv_k_0", "0 1\n2 3"),
    ("pooling", "number_input", "pool_stride", 1),
    ("pooling", "text_area", "pool_x_0", "1 2\n3 4"),
    ("receptive_field", "number_input", "rf_p_0", 2),
    ("receptive_field", "selectbox", "rf_preset", "two_3x3"),
    ("anatomy", "number_input", "an_classes", 7),
    ("audio", "slider", "audio_n_mels", 40),
    ("your_data", "radio", "yd_kind", "Pictures"),
    ("model_builder", "selectbox", "mb_input", "commands_logmel"),
    ("transposed", "number_input", "tconv_bias", 2.5),
    ("transposed", "number_input", "tconv_stride", 3),
    ("train", "number_input", "tr_epochs", 3),
    ("inside", "number_input", "in_example", 5),
    ("inside", "radio", "in_order", "strength"),
    ("evaluate", None, None, None),
    ("classify", None, None, None),
]


def _widget(at, kind, key):
    return getattr(at, kind)(key=key)


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("page", "kind", "key", "value"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_leave_and_come_back_keeps_the_page_whole(page, kind, key, value):
    at = _app()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    if kind is not None:
        widget = _widget(at, kind, key)
        assert widget.value != value, "pick a value that differs from the default"
        widget.set_value(value).run()
        assert not at.exception, at.exception
    first_errors = [e.value for e in at.error]
    numbers = {w.key: w.value for w in at.number_input}
    other = "pages/pooling.py" if page != "pooling" else "pages/receptive_field.py"
    at.switch_page(other).run()
    assert not at.exception, at.exception
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == first_errors
    assert {w.key: w.value for w in at.number_input} == numbers  # the others kept too
    if kind is not None:
        assert _widget(at, kind, key).value == value


def test_receptive_field_stack_survives_a_visit_elsewhere():
    """The whole stack, not only one field: sizes, layers and the sentence under the grids."""
    at = _app()
    at.switch_page("pages/receptive_field.py").run()
    at.number_input(key="rf_p_0").set_value(1).run()
    at.number_input(key="rf_p_0").set_value(2).run()
    assert not at.exception, at.exception

    def state(app):
        return (
            app.selectbox(key="rf_preset").value,
            app.number_input(key="rf_in_h").value,
            [app.number_input(key=f"rf_{f}_{i}").value for i in range(2) for f in "kspd"],
            next(m.value for m in app.markdown if "receptive field; on the input" in m.value),
        )

    before = state(at)
    assert before[0] == "textbook" and before[1] == 5 and before[2][:4] == [3, 1, 2, 1]
    at.switch_page("pages/pooling.py").run()
    at.switch_page("pages/convolution.py").run()
    at.switch_page("pages/receptive_field.py").run()
    assert not at.exception, at.exception
    assert state(at) == before


def steps(at) -> list[str]:
    """The code blocks of a page but its link (which follows every edit)."""
    return [c.value for c in at.code if not c.value.startswith(("http", "?"))]


def _go(at, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, (page, at.exception)
    return at


def _away_and_back(at, page: str, via: str = "home") -> AppTest:
    _go(at, via)
    return _go(at, page)


def test_receptive_field_layers_added_edited_and_removed_survive_a_visit():
    at = _go(_app(), "receptive_field")
    at.selectbox(key="rf_preset").set_value("two_3x3").run()  # 9x9 in: room for a pool layer
    at.button(key="rf_add_pool").click().run()
    at.number_input(key="rf_k_2").set_value(3).run()
    at.number_input(key="rf_unit_row").set_value(0).run()
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["rf_n"] == 3 and at.selectbox(key="rf_unit_layer").value == 3
    _away_and_back(at, "receptive_field")
    assert at.session_state["rf_n"] == 3
    assert [at.number_input(key=f"rf_k_{i}").value for i in range(3)] == [3, 3, 3]
    assert at.number_input(key="rf_s_2").value == 2  # the pool layer's default stride
    assert at.number_input(key="rf_unit_row").value == 0
    at.button(key="rf_del_0").click().run()
    _away_and_back(at, "receptive_field", via="pooling")
    assert at.session_state["rf_n"] == 2
    assert [at.selectbox(key=f"rf_kind_{i}").value for i in range(2)] == ["conv", "pool"]
    assert len(at.dataframe[0].value) == 3  # input + the two layers left


def test_a_bad_cell_in_a_second_channel_is_still_named_after_a_visit():
    at = _go(_app(), "convolution")
    at.number_input(key="conv_channels").set_value(2).run()
    good = steps(at)
    at.text_area(key="conv_x_1").set_value("1 2\n3 q").run()
    message = "Row 2, column 2 of the input (channel 2) is 'q', which is not a number."
    assert [e.value for e in at.error] == [message]
    _away_and_back(at, "convolution", via="pooling")
    assert [e.value for e in at.error] == [message]
    assert at.number_input(key="conv_channels").value == 2
    assert at.text_area(key="conv_x_1").value == "1 2\n3 q"
    assert steps(at) == good  # the last good steps stay on screen


def test_pooling_channels_and_mode_survive_a_visit():
    at = _go(_app(), "pooling")
    at.number_input(key="pool_channels").set_value(2).run()
    at.radio(key="pool_mode").set_value("average").run()
    before = [c.value for c in at.code]
    _away_and_back(at, "pooling", via="convolution")
    assert at.number_input(key="pool_channels").value == 2
    assert at.radio(key="pool_mode").value == "average"
    assert [c.value for c in at.code] == before


def test_an_uploaded_one_sample_clip_stays_on_the_audio_explorer_after_a_visit():
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.full(1, 0.3, np.float32), 16000, format="WAV", subtype="FLOAT")
    at = _go(_app(), "audio")
    at.radio(key="audio_source").set_value("Upload").run()
    at.file_uploader(key="audio_upload").set_value(("one.wav", buf.getvalue(), "audio/wav")).run()
    assert not at.exception, at.exception
    at.radio(key="audio_stage").set_value(at.radio(key="audio_stage").options[-1]).run()
    assert not at.exception, at.exception
    _away_and_back(at, "audio")
    assert any(
        m.value.startswith("**one.wav**") and "**1 samples**" in m.value for m in at.markdown
    )
    assert any("shorter than one hop (160 samples, 10 ms)" in i.value for i in at.info)
    assert at.radio(key="audio_stage").value == at.radio(key="audio_stage").options[-1]


def test_a_loaded_model_stays_on_ask_your_model_after_a_visit():
    from core.learn.checkpoints import save_bundle
    from core.learn.classify import Preprocess
    from tests.test_page_classify import IMG_SPEC, image_model

    bundle = save_bundle(image_model(), spec=IMG_SPEC, input_shape=(1, 16, 16),
                         class_names=["a", "b", "c"],
                         features=Preprocess("image", image_shape=(1, 16, 16)).to_dict())  # fmt: skip
    at = _go(_app(), "classify")
    at.radio(key="cl_source").set_value("loaded").run()  # the shipped models come first
    at.file_uploader(key="cl_bundle_upload").set_value(("m.zip", bundle, "application/zip")).run()
    assert not at.exception, at.exception
    at.radio(key="cl_pic_source").set_value("Upload one").run()
    caption = next(c.value for c in at.caption if "3 classes (a, b, c)" in c.value)
    _away_and_back(at, "classify", via="train")
    assert not any("Train a model on the Train page" in i.value for i in at.info)
    assert caption in [c.value for c in at.caption]
    assert at.radio(key="cl_pic_source").value == "Upload one"
