"""The Convolution page, driven through Streamlit's AppTest."""

import base64
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.apptest import codes, errors, go_to_step, open_page, step_equations, steppers, text_area


@pytest.fixture
def at():
    return open_page("convolution")


def torch_output(x, k, **kw):
    xt = torch.tensor(x, dtype=torch.float64)[None, None]
    kt = torch.tensor(k, dtype=torch.float64)[None, None]
    return F.conv2d(xt, kt, **kw)[0, 0].numpy()


def test_textbook_preset_sends_every_step_to_the_browser(at):
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in codes(at)  # step 1 is shown first
    assert any("= **(1, 2, 2)**" in m.value for m in at.markdown)  # (C_out, H, W)
    assert step_equations(at, "conv") == [
        "1×1 + 0×2 + 0×4 + 1×5 = 6",
        "1×2 + 0×3 + 0×5 + 1×6 = 8",
        "1×4 + 0×5 + 0×7 + 1×8 = 12",
        "1×5 + 0×6 + 0×8 + 1×9 = 14",
    ]
    data = steppers(at)["conv"]
    assert [s["out"] for s in data["steps"]] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert data["output"] == [["6", "8"], ["12", "14"]]


def test_scrubbing_jumps_to_a_step(at):
    go_to_step(at, "conv", 3)
    assert "1×4 + 0×5 + 0×7 + 1×8 = 12" in codes(at)


def test_editing_a_cell_changes_the_output(at):
    text_area(at, "conv_x_0").input("1 2 3\n4 50 6\n7 8 9").run()
    assert not at.exception
    assert "1×1 + 0×2 + 0×4 + 1×50 = 51" in codes(at)


def test_every_step_agrees_with_torch_for_a_strided_padded_preset(at):
    at.selectbox(key="conv_preset").set_value("Sobel x (vertical edges)").run()
    at.number_input(key="conv_stride_h").set_value(2).run()
    at.number_input(key="conv_pad_h").set_value(1).run()
    at.number_input(key="conv_pad_w").set_value(1).run()
    from core.explain.presets import EDGE_INPUT, KERNELS

    ref = torch_output(EDGE_INPUT, KERNELS["Sobel x (vertical edges)"], stride=(2, 1), padding=1)
    n = ref.size
    assert len(step_equations(at, "conv")) == n
    for i in range(n):
        go_to_step(at, "conv", i + 1)
        eq = next(c for c in codes(at) if "×" in c)
        assert float(eq.rsplit("=", 1)[1]) == pytest.approx(ref.flat[i])


def test_check_against_pytorch_reports_zero_difference(at):
    at.button(key="conv_check").click().run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label == "Largest absolute difference")
    assert float(metric.value) == 0.0
    assert any("agree" in s.value for s in at.success)


def test_three_channels_are_summed_with_the_bias(at):
    at.number_input(key="conv_channels").set_value(3).run()
    text_area(at, "conv_x_0").input("1 2\n3 4").run()
    text_area(at, "conv_x_1").input("0 1\n1 0").run()
    text_area(at, "conv_x_2").input("2 2\n2 2").run()
    for c, k in enumerate(["1 0\n0 1", "1 1\n1 1", "0 0\n0 1"]):
        text_area(at, f"conv_k_{c}").input(k).run()
    at.number_input(key="conv_bias").set_value(0.5).run()
    assert not errors(at)
    x = np.array([[[1, 2], [3, 4]], [[0, 1], [1, 0]], [[2, 2], [2, 2]]], dtype=float)
    w = np.array([[[[1, 0], [0, 1]], [[1, 1], [1, 1]], [[0, 0], [0, 1]]]], dtype=float)
    ref = F.conv2d(
        torch.tensor(x)[None], torch.tensor(w), torch.tensor([0.5], dtype=torch.float64)
    )[0, 0, 0, 0].item()
    eq = next(c for c in codes(at) if "×" in c)
    assert eq.splitlines()[0].endswith(f"= {ref:g}")
    assert (
        eq.splitlines()[1]
        == f"  per channel: channel 1: 5 + channel 2: 2 + channel 3: 2 + bias 0.5 = {ref:g}"
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("1 2 3\n4 x 6\n7 8 9", "Row 2, column 2 of the input is 'x'"),
        ("1 2 3\n4 6\n7 8 9", "is a cell empty?"),
        ("", "The input is empty"),
        ("1 2 3\n4 nan 6\n7 8 9", "NaN and infinity are not allowed"),
        ("1 2 3\n4 inf 6\n7 8 9", "NaN and infinity are not allowed"),
        ("\n".join([" ".join(["1"] * 17)] * 3), "the largest allowed here is 16x16"),
    ],
)
def test_bad_matrix_shows_a_message_and_keeps_the_last_good_result(at, text, message):
    text_area(at, "conv_x_0").input(text).run()
    assert not at.exception
    assert any(message.lower() in e.lower() for e in errors(at)), errors(at)
    # the last good result is still on screen
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in codes(at)
    assert any("last settings that worked" in i.value for i in at.info)


def test_kernel_larger_than_padded_input_is_explained(at):
    text_area(at, "conv_k_0").input("1 1 1 1 1\n" * 5).run()
    assert any("5x5 kernel does not fit a 3x3 input with padding 0" in e for e in errors(at))
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in codes(at)


def test_stride_zero_is_explained(at):
    at.number_input(key="conv_stride_w").set_value(0).run()
    assert any("Stride must be a whole number of at least 1" in e for e in errors(at))


def test_uneven_stride_names_the_unvisited_rows(at):
    at.selectbox(key="conv_preset").set_value("Identity").run()  # 7x7 input, 3x3 kernel
    at.number_input(key="conv_stride_h").set_value(3).run()
    caption = " ".join(c.value for c in at.caption)
    assert "PyTorch floors it to 1" in caption
    assert "padded row 6 (counting from 0) is never visited" in caption


def test_one_padding_of_the_textbook(at):
    at.selectbox(key="conv_pad_mode_label").set_value(
        "constant (e.g. the textbook's one-padding)"
    ).run()
    at.number_input(key="conv_pad_h").set_value(1).run()
    at.number_input(key="conv_pad_w").set_value(1).run()
    # first window: padding ones at the top-left and the input's 1 at the bottom-right
    assert "1×1 + 0×1 + 0×1 + 1×1 = 2" in codes(at)


def _png(size=(50, 40), color=(200, 10, 10)):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _picture_tab(at):
    at.radio(key="pic_source").set_value("Upload your own").run()
    return at


def test_picture_example_renders(at):
    assert not at.exception
    assert any("grey levels" in c.value for c in at.caption)


def test_picture_upload_good_then_bad_keeps_the_good_one(at):
    _picture_tab(at)
    at.file_uploader(key="pic_upload").set_value(("red.png", _png(), "image/png")).run()
    assert not at.exception and not errors(at)
    at.file_uploader(key="pic_upload").set_value(
        ("broken.png", b"\x89PNG not really", "image/png")
    ).run()
    assert not at.exception
    assert any("could not be read as a picture" in e for e in errors(at))
    assert any("last picture that worked" in i.value for i in at.info)


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.png", b"", "is empty (0 bytes)"),
        ("text.jpg", b"hello, I am not a picture", "could not be read as a picture"),
    ],
)
def test_bad_picture_uploads_are_explained(at, name, data, message):
    _picture_tab(at)
    at.file_uploader(key="pic_upload").set_value((name, data, "image/png")).run()
    assert not at.exception
    assert any(message in e for e in errors(at)), errors(at)


def test_enormous_picture_is_refused_without_decoding(at):
    # a PNG header that claims 20000 x 20000 pixels
    big = Image.new("L", (20000, 20000))
    buf = io.BytesIO()
    big.save(buf, format="PNG", optimize=False, compress_level=1)
    _picture_tab(at)
    at.file_uploader(key="pic_upload").set_value(("huge.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert any("megapixels" in e for e in errors(at)), errors(at)


def test_large_picture_is_downscaled(at):
    _picture_tab(at)
    at.file_uploader(key="pic_upload").set_value(("big.png", _png((1200, 800)), "image/png")).run()
    assert any("downscaled from 1200x800" in c.value for c in at.caption)


@pytest.mark.parametrize("stride,expected", [(1, 17), (2, 9), (4, 5)])
def test_1d_textbook_preset(at, stride, expected):
    at.number_input(key="c1_stride").set_value(stride).run()
    assert any(f"Output length **{expected}**" in m.value for m in at.markdown)


def test_1d_multichannel_matches_torch(at):
    text_area(at, "c1_x").input("1 2 3 4 5\n5 4 3 2 1").run()
    text_area(at, "c1_k").input("1 -1\n2 0").run()
    x = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], dtype=torch.float64)[None]
    w = torch.tensor([[1, -1], [2, 0]], dtype=torch.float64)[None]
    ref = F.conv1d(x, w)[0, 0].numpy()
    eq = [c for c in codes(at) if "×" in c][-1]
    assert eq.endswith(f"= {ref[0]:g}")
    at.button(key="c1_check").click().run()
    assert any("agree" in s.value for s in at.success)


def test_1d_audio_snippet_matches_torch(at):
    from core.explain import signals

    at.radio(key="c1_source").set_value("An audio snippet").run()
    at.selectbox(key="c1a_kernel").set_value(
        "Difference [1, −1] (keeps only changes: a high-pass filter)"
    ).run()
    at.number_input(key="c1a_stride").set_value(2).run()
    assert not at.exception
    samples = signals.load_samples(at.selectbox(key="c1a_clip").value)
    x = signals.excerpt(samples, start_s=at.slider(key="c1a_start").value, n_samples=200)
    ref = F.conv1d(
        torch.tensor(x)[None, None], torch.tensor([[[1.0, -1.0]]], dtype=torch.float64), stride=2
    )[0, 0].numpy()
    assert any(f"gives {ref.size} outputs" in c.value for c in at.caption)
    at.slider(key="c1a_step").set_value(5).run()
    eq = [c.value for c in at.code if "×" in c.value][-1]
    assert float(eq.rsplit("=", 1)[1]) == pytest.approx(ref[4], abs=5e-4)
    assert len(at.get("audio")) == 2


def test_resize_and_random_preset(at):
    # the size boxes show the matrices as typed (the textbook's 3x3 input, 2x2 kernel)
    assert [at.number_input(key=k).value for k in ("conv_rows", "conv_cols")] == [3, 3]
    assert [at.number_input(key=k).value for k in ("conv_krows", "conv_kcols")] == [2, 2]
    at.number_input(key="conv_rows").set_value(4).run()  # each change resizes at once
    assert len(text_area(at, "conv_x_0").value.splitlines()) == 4
    at.number_input(key="conv_cols").set_value(5).run()
    rows = text_area(at, "conv_x_0").value.splitlines()
    assert len(rows) == 4 and all(len(r.split()) == 5 for r in rows)
    assert rows[0].split()[:3] == ["1", "2", "3"]  # the old numbers are kept
    at.number_input(key="conv_krows").set_value(3).run()
    at.selectbox(key="conv_preset").set_value("Random integers").run()
    x = np.array(
        [[float(v) for v in r.split()] for r in text_area(at, "conv_x_0").value.splitlines()]
    )
    k = np.array(
        [[float(v) for v in r.split()] for r in text_area(at, "conv_k_0").value.splitlines()]
    )
    assert x.shape == (4, 5) and k.shape == (3, 2)
    ref = torch_output(x, k)
    eq = next(c for c in codes(at) if "×" in c)
    assert float(eq.rsplit("=", 1)[1]) == pytest.approx(ref[0, 0])


@pytest.mark.parametrize("cell", ["1e308", "1e200", "-2e6"])
def test_a_huge_cell_is_a_sentence_and_the_last_good_steps_stay(at, cell):
    text_area(at, "conv_x_0").set_value(f"{cell} 2 3\n4 5 6\n7 8 9").run()
    assert not at.exception
    assert any("cells hold numbers between -1,000,000 and 1,000,000" in e for e in errors(at))
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in codes(at)  # the textbook step is still shown


def test_more_channels_while_the_kernel_is_bad_keeps_the_sentence(at):
    text_area(at, "conv_k_0").set_value("1 x\n0 1").run()
    at.number_input(key="conv_channels").set_value(2).run()
    assert not at.exception, at.exception  # was a UserInputError traceback from the callback
    assert any("Row 1, column 2 of the kernel (channel 1) is 'x'" in e for e in errors(at))
    assert text_area(at, "conv_k_0").value == "1 x\n0 1"  # what was typed stays


def test_resize_keeps_every_typed_digit(at):
    text_area(at, "conv_x_0").set_value("123456.789 0.123456\n1e-300 4").run()
    at.number_input(key="conv_cols").set_value(3).run()
    assert not at.exception, at.exception
    assert text_area(at, "conv_x_0").value.splitlines() == ["123456.789 0.123456 0", "1e-300 4 0"]
    text_area(at, "conv_x_0").set_value("1 2 3 4\n5 6 7 8").run()  # typed: the boxes follow
    assert [at.number_input(key=k).value for k in ("conv_rows", "conv_cols")] == [2, 4]


def test_a_16_bit_grey_png_keeps_its_grey_levels_on_the_picture_tab(at):
    """Pillow's convert('L') clipped 16-bit levels at 255: the picture showed almost all white."""
    levels = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(levels).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode == "I;16"
    _picture_tab(at)
    at.file_uploader(key="pic_upload").set_value(("deep.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not errors(at)
    fig = next(c for c in at.get("plotly_chart") if "pic_fig" in c.proto.id)
    z = json.loads(fig.proto.spec)["data"][0]["z"]  # plotly ships arrays as base64 "bdata"
    z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(levels.shape)
    np.testing.assert_allclose(z, levels / 65535.0, atol=1e-6)
    assert any("16-bit grey levels" in c.value for c in at.caption)


def test_a_bank_of_filters_gives_one_feature_map_each_checked_against_torch(at):
    at.number_input(key="conv_filters").set_value(3).run()
    assert not errors(at)
    text_area(at, "conv_k2_0").input("0 1\n1 0").run()
    at.number_input(key="conv_bias2").set_value(-1.0).run()
    at.radio(key="conv_filter_shown").set_value(3).run()
    x = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3)
    k0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    w = torch.stack([k0, k0.T, torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)])
    ref = F.conv2d(x, w[:, None], torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))[0]
    data = steppers(at)["conv"]
    shown = np.array([[float(v) for v in row] for row in data["output"]])
    np.testing.assert_allclose(shown, ref[2].numpy())  # the third feature map
    text = " ".join(m.value for m in at.markdown)
    assert "= **(3, 2, 2)**" in text and "3 × 1 × 2 × 2 weights + 3 biases = **15**" in text
    at.button(key="conv_check").click().run()
    metric = next(m for m in at.metric if m.label == "Largest absolute difference")
    assert float(metric.value) == 0.0  # all three maps agree with PyTorch
