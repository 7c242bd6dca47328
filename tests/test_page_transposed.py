"""The Transposed convolution page: every stamp's arithmetic and the output against
F.conv_transpose2d, the equivalent convolution against it too, bad settings as sentences,
and its state in the link."""

import numpy as np
import torch
import torch.nn.functional as F

from tests.apptest import errors, open_page, steppers, text_area


def _torch(x, k, bias=0.0, **kw):
    xt = torch.tensor(x, dtype=torch.float64)[None, None]
    kt = torch.tensor(k, dtype=torch.float64)[None, None]
    return F.conv_transpose2d(xt, kt, torch.tensor([bias], dtype=torch.float64), **kw)[0, 0]


def _grid(rows) -> np.ndarray:
    return np.array([[float(v) for v in row] for row in rows])


def test_the_first_preset_doubles_the_size_as_pytorch_does():
    at = open_page("transposed")
    data = steppers(at)["tconv"]
    x = [[1, 2, 0], [0, 1, 3], [2, 0, 1]]
    k = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    ref = _torch(x, k, stride=2, padding=1, output_padding=1).numpy()
    assert ref.shape == (6, 6)
    np.testing.assert_array_equal(_grid(data["output"]), ref)
    np.testing.assert_array_equal(_grid(data["steps"][-1]["out"]), ref)
    assert len(data["steps"]) == 9  # one stamp per input cell
    assert data["steps"][4]["eq"].startswith("input[1,1] = 1 stamps 1 × kernel:")
    latex = " ".join(m.value for m in at.latex)
    assert r"(3-1)\cdot 2 - 2\cdot 1 + 1\cdot(3-1) + 1 + 1 = 6" in latex
    # the equivalent stride-1 convolution gives the same output
    same = steppers(at)["tconv_eq"]
    np.testing.assert_array_equal(_grid(same["output"]), ref)
    assert np.array(same["inputs"][0]["pad"]).any()  # its border is drawn as padding


def test_edits_recompute_and_bad_settings_get_a_sentence_keeping_the_last_good():
    at = open_page("transposed")
    text_area(at, "tconv_x").input("1 -2\n0.5 3").run()
    at.number_input(key="tconv_stride").set_value(3).run()
    at.number_input(key="tconv_bias").set_value(0.5).run()
    ref = _torch([[1, -2], [0.5, 3]], [[1, 2, 1], [2, 4, 2], [1, 2, 1]], 0.5, stride=3,
                 padding=1, output_padding=1).numpy()  # fmt: skip
    np.testing.assert_allclose(_grid(steppers(at)["tconv"]["output"]), ref)
    at.number_input(key="tconv_stride").set_value(1).run()  # output padding 1 needs stride 2+
    assert any("Output padding (1) must be smaller than the stride" in e for e in errors(at))
    assert "last settings that worked" in " ".join(i.value for i in at.info)
    np.testing.assert_allclose(_grid(steppers(at)["tconv"]["output"]), ref)
    text_area(at, "tconv_x").input("1 x\n2 3").run()
    assert any("not a number" in e for e in errors(at)) and not at.exception


def test_check_against_pytorch_agrees():
    at = open_page("transposed")
    at.selectbox(key="tconv_preset").set_value(
        "Stride 1: overlapping stamps (a 'full' convolution)"
    ).run()
    at.button(key="tconv_check").click().run()
    assert not at.exception
    assert "F.conv_transpose2d(x, w, b, stride=1, padding=0" in at.code[0].value
    assert at.metric[0].value == "0"


def test_a_link_opens_the_page_at_its_state():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../pages/transposed.py", default_timeout=90)
    at.query_params.update(
        {
            "tconv_x": "1,2;3,4",
            "tconv_k": "1,1;1,1",
            "tconv_stride": "2",
            "tconv_pad": "0",
            "tconv_outpad": "0",
            "tconv_step": "3",
        }  # fmt: skip
    )
    at.run()
    assert not at.exception and not at.warning
    data = steppers(at)["tconv"]
    assert data["step"] == 3
    np.testing.assert_array_equal(
        _grid(data["output"]), _torch([[1, 2], [3, 4]], [[1, 1], [1, 1]], stride=2).numpy()
    )


def test_the_zeros_between_rows_are_counted_in_words():
    at = open_page("transposed")
    stride = at.number_input(key="tconv_stride").value if "tconv_stride" in at.session_state else 2
    text = " ".join(m.value for m in at.markdown)
    assert f"Put **{stride - 1} zero{'' if stride - 1 == 1 else 's'}** between" in text
    assert "zero(s)" not in text


def test_count_names_one_and_many():
    from pages._shared import count

    assert [count(0, "class", "classes"), count(1, "zero"), count(2, "zero"), count(1200, "clip")] == [
        "0 classes", "1 zero", "2 zeros", "1,200 clips"]  # fmt: skip
