"""The convolution and pooling engine against PyTorch, value for value.

Hypothesis draws shapes, channels, strides, paddings, padding modes and dilations; for each
draw either both our engine and PyTorch refuse the settings, or both compute and agree.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ShapeError, UserInputError
from core.explain import conv

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torch_conv(x, w, b, *, nd, stride, padding, mode, value, dilation):
    """PyTorch's answer, through nn.ConvNd where it can express the setting, else F.pad + F.convNd."""
    xt = torch.from_numpy(x)[None]
    wt = torch.from_numpy(w)
    bt = torch.from_numpy(b)
    if mode == "constant":
        pads = conv.resolve_padding(padding, w.shape[2:], (dilation,) * nd, (stride,) * nd)
        flat = [v for pair in reversed(pads) for v in pair]  # F.pad starts from the last axis
        xt = F.pad(xt, flat, mode="constant", value=value)
        fn = F.conv2d if nd == 2 else F.conv1d
        return fn(xt, wt, bt, stride=stride, dilation=dilation)[0].numpy()
    cls = torch.nn.Conv2d if nd == 2 else torch.nn.Conv1d
    layer = cls(
        x.shape[0],
        w.shape[0],
        w.shape[2:],
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=mode,
        bias=True,
        dtype=torch.float64,
    )
    with torch.no_grad():
        layer.weight.copy_(wt)
        layer.bias.copy_(bt)
        return layer(xt)[0].numpy()


def both(ours, theirs):
    """Run both; return (our result, torch result) or assert they refuse together."""
    try:
        mine = ours()
    except UserInputError as err:
        mine = err
    try:
        ref = theirs()
    except (RuntimeError, ValueError) as err:
        ref = err
    if isinstance(mine, Exception) or isinstance(ref, Exception):
        assert isinstance(mine, Exception) and isinstance(ref, Exception), (
            f"we said {mine!r}, torch said {ref!r}"
        )
        return None
    return mine, ref


@st.composite
def conv_case(draw, nd):
    c = draw(st.integers(1, 3))
    f = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    k = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])))
    mode = draw(st.sampled_from(conv.PADDING_MODES))
    value = draw(st.sampled_from([0.0, 1.0, -2.5]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, size=(c, *size)).astype(float)
    w = rng.normal(size=(f, c, *k))
    b = rng.normal(size=f)
    return x, w, b, stride, padding, mode, value, dilation


@SETTINGS
@given(conv_case(2))
def test_conv2d_refuses_what_torch_refuses_and_agrees_otherwise(case):
    x, w, b, stride, padding, mode, value, dilation = case
    got = both(
        lambda: conv.conv2d(
            x,
            w,
            b,
            stride=stride,
            padding=padding,
            padding_mode=mode,
            pad_value=value,
            dilation=dilation,
        ),
        lambda: torch_conv(
            x, w, b, nd=2, stride=stride, padding=padding, mode=mode, value=value, dilation=dilation
        ),
    )
    if got:
        mine, ref = got
        np.testing.assert_allclose(mine.output, ref, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_case(1))
def test_conv1d_refuses_what_torch_refuses_and_agrees_otherwise(case):
    x, w, b, stride, padding, mode, value, dilation = case
    got = both(
        lambda: conv.conv1d(
            x,
            w,
            b,
            stride=stride,
            padding=padding,
            padding_mode=mode,
            pad_value=value,
            dilation=dilation,
        ),
        lambda: torch_conv(
            x, w, b, nd=1, stride=stride, padding=padding, mode=mode, value=value, dilation=dilation
        ),
    )
    if got:
        mine, ref = got
        np.testing.assert_allclose(mine.output, ref, rtol=1e-10, atol=1e-10)


@st.composite
def pool_case(draw, nd):
    c = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    k = draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = draw(st.integers(0, 3))
    dilation = draw(st.integers(1, 2))
    include = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(c, *size))
    return x, k, stride, padding, dilation, include


@SETTINGS
@given(pool_case(2))
def test_max_pool2d_refuses_what_torch_refuses_and_agrees_otherwise(case):
    x, k, stride, padding, dilation, _ = case
    got = both(
        lambda: conv.max_pool2d(x, k, stride=stride, padding=padding, dilation=dilation),
        lambda: F.max_pool2d(
            torch.from_numpy(x)[None], k, stride=stride, padding=padding, dilation=dilation
        )[0].numpy(),
    )
    if got:
        np.testing.assert_allclose(got[0].output, got[1], rtol=1e-12)


@SETTINGS
@given(pool_case(2))
def test_avg_pool2d_refuses_what_torch_refuses_and_agrees_otherwise(case):
    x, k, stride, padding, _, include = case
    got = both(
        lambda: conv.avg_pool2d(x, k, stride=stride, padding=padding, count_include_pad=include),
        lambda: F.avg_pool2d(
            torch.from_numpy(x)[None], k, stride=stride, padding=padding, count_include_pad=include
        )[0].numpy(),
    )
    if got:
        np.testing.assert_allclose(got[0].output, got[1], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(pool_case(1))
def test_pool1d_refuses_what_torch_refuses_and_agrees_otherwise(case):
    x, k, stride, padding, dilation, include = case
    got = both(
        lambda: conv.max_pool1d(x, k, stride=stride, padding=padding, dilation=dilation),
        lambda: F.max_pool1d(
            torch.from_numpy(x)[None], k, stride=stride, padding=padding, dilation=dilation
        )[0].numpy(),
    )
    if got:
        np.testing.assert_allclose(got[0].output, got[1], rtol=1e-12)
    got = both(
        lambda: conv.avg_pool1d(x, k, stride=stride, padding=padding, count_include_pad=include),
        lambda: F.avg_pool1d(
            torch.from_numpy(x)[None], k, stride=stride, padding=padding, count_include_pad=include
        )[0].numpy(),
    )
    if got:
        np.testing.assert_allclose(got[0].output, got[1], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ valid by construction
# The draws above mix settings both sides refuse with settings both compute, so many compare
# nothing. The strategies below pick sizes after the kernel, dilation, stride and padding so
# that every draw is valid: every example compares values (an example that is refused fails).
VALID = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_conv_case(draw, nd, mode):
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    dilation = draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])))
    stride = 1 if padding == "same" else draw(st.integers(1, 3))
    pads = conv.resolve_padding(padding, k, (dilation,) * nd, (stride,) * nd)
    size = []
    for (before, after), kk in zip(pads, k, strict=True):
        span = dilation * (kk - 1) + 1
        least = max(1, span - before - after)  # at least one output cell
        if mode in ("reflect", "circular"):
            least = max(least, max(before, after) + 1)  # torch: padding smaller than the input
        size.append(draw(st.integers(least, least + 6)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(-5, 6, size=(c, *size)).astype(float)
    w, b = rng.normal(size=(f, c, *k)), rng.normal(size=f)
    value = draw(st.sampled_from([0.0, 1.0, -2.5]))
    return x, w, b, stride, padding, value, dilation


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("mode", conv.PADDING_MODES)
def test_convolution_equals_torch_on_every_valid_draw(nd, mode):
    compared = []

    @VALID
    @given(valid_conv_case(nd, mode))
    def check(case):
        x, w, b, stride, padding, value, dilation = case
        fn = conv.conv2d if nd == 2 else conv.conv1d
        mine = fn(x, w, b, stride=stride, padding=padding, padding_mode=mode, pad_value=value,
                  dilation=dilation)  # fmt: skip
        ref = torch_conv(x, w, b, nd=nd, stride=stride, padding=padding, mode=mode, value=value,
                         dilation=dilation)  # fmt: skip
        np.testing.assert_allclose(mine.output, ref, rtol=1e-10, atol=1e-10)
        compared.append(mine.output.size)

    check()
    assert len(compared) >= 50  # every draw compared values (hypothesis may stop early on dupes)


@st.composite
def valid_pool_case(draw, nd):
    c = draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, k // 2))  # torch: padding at most half the window
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    span = dilation * (k - 1) + 1
    size = tuple(draw(st.integers(max(1, span - 2 * padding), max(1, span - 2 * padding) + 6))
                 for _ in range(nd))  # fmt: skip
    x = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=(c, *size))
    return x, k, stride, padding, dilation, draw(st.booleans())


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_equals_torch_on_every_valid_draw(nd, kind):
    compared = []

    @VALID
    @given(valid_pool_case(nd))
    def check(case):
        x, k, stride, padding, dilation, include = case
        xt = torch.from_numpy(x)[None]
        if kind == "max":
            ours = (conv.max_pool2d if nd == 2 else conv.max_pool1d)(
                x, k, stride=stride, padding=padding, dilation=dilation
            )
            ref = (F.max_pool2d if nd == 2 else F.max_pool1d)(
                xt, k, stride=stride, padding=padding, dilation=dilation
            )
        else:
            ours = (conv.avg_pool2d if nd == 2 else conv.avg_pool1d)(
                x, k, stride=stride, padding=padding, count_include_pad=include
            )
            ref = (F.avg_pool2d if nd == 2 else F.avg_pool1d)(
                xt, k, stride=stride, padding=padding, count_include_pad=include
            )
        np.testing.assert_allclose(ours.output, ref[0].numpy(), rtol=1e-12, atol=1e-12)
        compared.append(ours.output.size)

    check()
    assert len(compared) >= 50


def test_global_average_pooling_matches_torch():
    x = np.random.default_rng(0).normal(size=(4, 5, 7))
    ref = F.adaptive_avg_pool2d(torch.from_numpy(x)[None], 1)[0, :, 0, 0].numpy()
    np.testing.assert_allclose(conv.global_avg_pool(x), ref, rtol=1e-12)


@SETTINGS
@given(conv_case(2))
def test_every_trace_sum_equals_its_output_cell(case):
    x, w, b, stride, padding, mode, value, dilation = case
    try:
        res = conv.conv2d(
            x,
            w,
            b,
            stride=stride,
            padding=padding,
            padding_mode=mode,
            pad_value=value,
            dilation=dilation,
        )
    except UserInputError:
        return
    for f in range(w.shape[0]):
        for n in range(res.n_steps):
            step = res.step(n, filt=f)
            assert step.products.sum() + step.bias == pytest.approx(res.output[step.index])
            # the window's values are the padded input at the recorded positions
            rows, cols = step.positions
            np.testing.assert_array_equal(step.values, res.padded[:, rows][:, :, cols])
            np.testing.assert_array_equal(step.products, step.weights * step.values)
    # the per-channel shares add up to the output minus the bias
    np.testing.assert_allclose(res.per_channel.sum(axis=1) + b[:, None, None], res.output)


def test_textbook_worked_example():
    x = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=float)
    w = np.array([[[[1, 0], [0, 1]]]], dtype=float)
    res = conv.conv2d(x, w)
    assert res.output[0].tolist() == [[6, 8], [12, 14]]
    assert conv.step_equation(res.step(0)) == "1×1 + 0×2 + 0×4 + 1×5 = 6"
    assert conv.step_equation(res.step(1)).endswith("= 8")


def test_textbook_average_pooling_example():
    x = np.arange(1, 17, dtype=float).reshape(1, 4, 4)
    res = conv.avg_pool2d(x, 2, stride=2)
    assert res.output[0].tolist() == [[3.5, 5.5], [11.5, 13.5]]
    assert conv.step_equation(res.step(0)) == "(1 + 2 + 5 + 6) / 4 = 3.5"


def test_max_pool_marks_the_winner():
    x = np.array([[[1, 9, 2, 0], [3, 4, 8, 7], [0, 0, 1, 1], [5, 0, 1, 6]]], dtype=float)
    res = conv.max_pool2d(x, 2)
    assert res.output[0].tolist() == [[9, 8], [5, 6]]
    assert res.step(0).argmax == (0, 1)
    assert res.step(3).argmax == (1, 1)


@pytest.mark.parametrize("stride,expected", [(1, 17), (2, 9), (4, 5)])
def test_textbook_1d_output_sizes(stride, expected):
    x = np.arange(25, dtype=float)[None]
    w = np.ones((1, 1, 9))
    res = conv.conv1d(x, w, stride=stride)
    assert res.output.shape == (1, expected)
    assert conv.output_size(25, 9, stride=stride) == expected
    ref = F.conv1d(torch.from_numpy(x)[None], torch.from_numpy(w), stride=stride)[0].numpy()
    np.testing.assert_allclose(res.output, ref)


def test_kernel_larger_than_input_says_why():
    with pytest.raises(
        ShapeError,
        match=r"5x5 kernel does not fit a 3x3 input with padding 0: "
        r"the output would have -1 rows",
    ):
        conv.conv2d(np.ones((1, 3, 3)), np.ones((1, 1, 5, 5)))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"stride": 0}, "Stride must be a whole number of at least 1"),
        ({"dilation": 0}, "Dilation must be a whole number of at least 1"),
        (
            {"stride": (0, 1)},
            r"at least 1 \(the window has to move forward\); got 0 down the "
            r"rows and 1 across the columns\.$",
        ),
        ({"padding": -1}, "Padding cannot be negative"),
        ({"padding": "same", "stride": 2}, "only works with stride 1"),
        ({"padding": 4, "padding_mode": "reflect"}, "Reflect padding"),
    ],
)
def test_impossible_settings_are_refused_with_a_sentence(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        conv.conv2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), **kwargs)


def test_axis_size_reports_unvisited_cells_when_stride_does_not_divide():
    ax = conv.axis_size("rows", 6, 3, stride=2, pad_before=0, pad_after=0, dilation=1)
    assert ax.out == 2 == conv.output_size(6, 3, stride=2)
    assert not ax.exact
    assert ax.unvisited == (5,)
    even = conv.axis_size("rows", 7, 3, stride=2, pad_before=0, pad_after=0, dilation=1)
    assert even.exact and even.unvisited == ()


@pytest.mark.parametrize(
    "text,message",
    [
        ("1 2\n3 x", r"Row 2, column 2 of the input is 'x', which is not a number"),
        ("1 2\n3", r"row 2 has 1 but others have 2"),
        ("", r"The input is empty"),
        ("1 nan", r"NaN and infinity are not allowed"),
        ("1 inf", r"NaN and infinity are not allowed"),
        ("\n".join(["1 " * 17] * 2), r"the largest allowed here is 16x16"),
        ("1 1e308", r"cells hold numbers between -1,000,000 and 1,000,000"),
        ("1e200 2", r"Row 1, column 1 of the input is 1e200: cells hold numbers between"),
        ("2 1e400", r"NaN and infinity are not allowed"),  # float() overflows to inf
        ("1 -1000001", r"cells hold numbers between"),
        ("1/0.0000001 2", r"cells hold numbers between"),
        ("\n".join(["1"] * 10_000), r"has 10000 rows"),
        ("1 " * 50_000, r"the largest allowed here is 16x16"),
        (";", r"Row 1 of the input holds no number"),
        ("1 2\n, ,", r"Row 2 of the input holds no number"),
        ("1 " + "x" * 5000, r"column 2 of the input is 'xxxxxxxxxxxxxxxxxxxx\.\.\.', which"),
    ],
)
def test_parse_matrix_refuses_bad_cells(text, message):
    with pytest.raises(UserInputError, match=message):
        conv.parse_matrix(text, name="input")


def test_bounded_cells_still_convolve_and_print_in_full():
    x = conv.parse_matrix("1000000 -1000000\n0.5 1/3")
    out = conv.conv2d(x[None], np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(out.output[0], x)
    assert conv.step_equation(out.step(0)) == "1×1000000 = 1000000"


def test_parse_and_format_round_trip():
    m = np.array([[1, -2.5, 0], [3, 4, 1e-3]])
    np.testing.assert_array_equal(conv.parse_matrix(conv.format_matrix(m)), m)
    assert conv.parse_matrix("1, 2; 3\n4 5 6").tolist() == [[1, 2, 3], [4, 5, 6]]


def test_channels_typed_separately_stack_or_say_which_differs():
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    np.testing.assert_array_equal(conv.stack_channels([a, b]), np.stack([a, b]))
    with pytest.raises(UserInputError, match="input channel 1 is 2x3, input channel 2 is 3x3"):
        conv.stack_channels([a, np.ones((3, 3))], what="input channel")


def test_a_tiny_cell_is_written_as_itself_not_as_a_zero_fraction():
    out = conv.conv2d(conv.parse_matrix("1e-300")[None], np.ones((1, 1, 1, 1)))
    assert conv.step_equation(out.step(0)) == "1×1e-300 = 1e-300"  # was "1×0/1 = 0/1"


def test_format_matrix_reads_back_every_cell_exactly():
    """Resize and new channels rewrite the editors through format_matrix: nothing may round."""
    m = np.array([[123456.789, 1e-300, 0.123456, -2 / 3], [0.1 + 0.2, -1 / 3, 5, 0.25]])
    text = conv.format_matrix(m)
    np.testing.assert_array_equal(conv.parse_matrix(text), m)
    assert text.splitlines()[0] == "123456.789 1e-300 0.123456 -2/3"


def test_the_size_formula_is_written_on_two_lines_with_this_axis_numbers():
    ax = conv.axis_size("columns", 3, 2, stride=2, pad_before=0, pad_after=0, dilation=1)
    tex = conv.size_formula_latex(ax, "o")
    general, numbers = tex.split(r"\\")
    assert r"\begin{aligned}" in general and "o &=" in general and "{s}" in general
    numbers = numbers.replace(r"\end{aligned}", "").strip()
    assert numbers.startswith("&=") and "{2}" in numbers and numbers.endswith("= 1")
    assert ax.out == 1 and "so 1 window fits" in conv.size_note(ax)
    wide = conv.axis_size("columns", 7, 2, stride=2, pad_before=0, pad_after=0, dilation=1)
    assert wide.out == 3 and "so 3 windows fit" in conv.size_note(wide)
