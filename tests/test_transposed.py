"""Transposed convolution written out stamp by stamp, against torch.nn.functional.conv_transpose2d,
and the same numbers as a stride-1 convolution over the zero-inserted input (F.conv2d)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import UserInputError
from core.explain import transposed as T


def _torch(x, k, bias, **kw):
    xt, kt = torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]
    b = torch.tensor([bias], dtype=torch.float64)
    return F.conv_transpose2d(xt, kt, b, **kw)[0, 0].numpy()


CASES = list(
    itertools.product(
        [1, 3], [2, 4], [(1, 1), (2, 3), (3, 3)], [1, 2, 3], [0, 1, 2], [0, 1, 2], [1, 2]
    )
)


@pytest.mark.parametrize(("h", "w", "ks", "s", "p", "op", "d"), CASES)
def test_against_conv_transpose2d_and_as_a_convolution(rng, h, w, ks, s, p, op, d):
    x = rng.integers(-4, 5, (h, w)).astype(float)
    k = rng.integers(-3, 4, ks).astype(float)
    kw = dict(stride=s, padding=p, output_padding=op, dilation=d)
    try:
        ref = _torch(x, k, 0.25, **kw)
    except RuntimeError:  # PyTorch refuses: so must we, with a sentence
        with pytest.raises(UserInputError):
            T.conv_transpose2d(x, k, 0.25, **kw)
        return
    t = T.conv_transpose2d(x, k, 0.25, **kw)
    assert t.output.shape == ref.shape == (t.rows.out, t.cols.out)
    np.testing.assert_allclose(t.output, ref, atol=1e-12)
    # o = (n - 1)s - 2p + d(k - 1) + output_padding + 1, written out per axis
    assert t.rows.out == (h - 1) * s - 2 * p + d * (ks[0] - 1) + op + 1
    a = T.as_convolution(t)
    same = F.conv2d(
        F.pad(torch.from_numpy(a.zero_inserted)[None, None], [*a.pads[1], *a.pads[0]]),
        torch.from_numpy(a.flipped)[None, None],
        torch.tensor([0.25], dtype=torch.float64),
        dilation=d,
    )[0, 0].numpy()
    np.testing.assert_allclose(same, ref, atol=1e-12)


def test_each_stamp_adds_the_scaled_kernel_where_it_lands():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    k = np.array([[1.0, 2.0], [0.0, -1.0]])
    t = T.conv_transpose2d(x, k, stride=2, padding=0)
    s = t.stamp(1)  # input[0,1] = 2
    assert s.src == (0, 1) and s.value == 2.0
    assert s.cells == ((0, 2), (0, 3), (1, 2), (1, 3))
    assert s.products == (2.0, 4.0, 0.0, -2.0)
    before, after = t.partial_canvases[0], t.partial_canvases[1]
    delta = after - before
    for (r, c), prod in zip(s.cells, s.products, strict=True):
        assert delta[r, c] == prod
    assert np.count_nonzero(delta) == 3  # 2×0 adds nothing
    assert "input[0,1] = 2 stamps 2 × kernel" in t.equation(1)
    assert "[0,3] += 2×2 → 4" in t.equation(1)
    assert "that is the output" in t.equation(3)


def test_overlapping_stamps_add_up():
    t = T.conv_transpose2d(np.array([[1.0, 1.0]]), np.array([[1.0, 1.0, 1.0]]), stride=1)
    np.testing.assert_array_equal(t.output, [[1.0, 2.0, 2.0, 1.0]])
    assert "[0,1] += 1×1 → 2" in t.equation(1) and "[0,3] += 1×1 → 1" in t.equation(1)


def test_the_formula_with_this_axis_numbers():
    t = T.conv_transpose2d(np.ones((3, 3)), np.ones((3, 3)), stride=2, padding=1, output_padding=1)
    tex = t.rows.formula_latex("o")
    assert "(n-1)" in tex and r"(3-1)\cdot 2 - 2\cdot 1 + 1\cdot(3-1) + 1 + 1 = 6" in tex
    assert t.rows.out == 6
    assert t.rows.note() == (
        "The stamps cover 7 rows, padding 1 crops 1 from each end, output padding gives 1 back "
        "at the end: 6 rows remain."
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(stride=2, output_padding=2), "Output padding (2) must be smaller than the stride"),
        (dict(stride=1, padding=3), "crops 6 of the"),
        (dict(stride=9), "stride must be between 1 and 4"),
        (dict(dilation=0), "dilation must be between 1 and 3"),
    ],
)
def test_settings_pytorch_refuses_get_a_sentence(kw, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        T.conv_transpose2d(np.ones((2, 2)), np.ones((2, 2)), **kw)


def test_inputs_too_large_or_not_finite_are_refused():
    with pytest.raises(UserInputError, match="up to 8×8"):
        T.conv_transpose2d(np.ones((9, 2)), np.ones((2, 2)))
    with pytest.raises(UserInputError, match="at most 5×5"):
        T.conv_transpose2d(np.ones((2, 2)), np.ones((6, 6)))
    with pytest.raises(UserInputError, match="finite"):
        T.conv_transpose2d(np.array([[np.nan]]), np.ones((2, 2)))


def test_frames_hold_every_stamp_and_mark_what_the_padding_crops():
    t = T.conv_transpose2d(np.arange(4.0).reshape(2, 2), np.ones((3, 3)), stride=2, padding=1,
                           output_padding=1)  # fmt: skip
    fr = T.step_frames(t)
    assert len(fr["steps"]) == 4
    kept = np.array(fr["kept"])
    assert kept.shape == (t.rows.canvas, t.cols.canvas) == (5, 5)
    assert not kept[0].any() and kept[1:, 1:].all()  # row/col 0 cropped; output padding keeps row 4
    assert fr["output"] == [[f"{v:g}" for v in row] for row in t.output]
    first = fr["steps"][0]
    assert first["src"] == [0, 0] and len(first["cells"]) == 9
    assert first["canvas"][3] == [""] * 5  # nothing has reached row 3 after the first stamp
    last = np.array(fr["steps"][-1]["canvas"], dtype=float)
    np.testing.assert_array_equal(last, t.canvas)
    out = np.array(fr["steps"][-1]["out"], dtype=float)
    np.testing.assert_array_equal(out, t.output)
    assert fr["steps"][0]["out"][3] == [""] * 4  # output row 3 is canvas row 4: not reached yet
