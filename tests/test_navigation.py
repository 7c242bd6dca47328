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
    ("train", "number_input", "tr_epochs", 3),
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
    other = "pages/pooling.py" if page != "pooling" else "pages/receptive_field.py"
    at.switch_page(other).run()
    assert not at.exception, at.exception
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == first_errors
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
