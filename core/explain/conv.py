"""Convolution and pooling arithmetic, as PyTorch defines it, with a step-by-step trace.

Everything here is numpy: no torch, no streamlit. Each operation returns its output and a
trace that says, for every output cell, which input cells the window covered, the
element-wise products and their sum. The same code serves 1-D and 2-D inputs.

Shapes follow PyTorch, without the batch axis:
    2-D input (C, H, W), weights (F, C, kH, kW), output (F, oH, oW)
    1-D input (C, L),    weights (F, C, k),      output (F, oL)

Example
-------
>>> import numpy as np
>>> from core.explain.conv import conv2d
>>> x = np.arange(1, 10, dtype=float).reshape(1, 3, 3)
>>> w = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
>>> conv2d(x, w).output[0].tolist()
[[6.0, 8.0], [12.0, 14.0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.errors import ShapeError, UserInputError

PADDING_MODES = ("zeros", "constant", "reflect", "replicate", "circular")
_NP_PAD_MODE = {
    "zeros": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}
AXIS_NAMES = {1: ("samples",), 2: ("rows", "columns")}


# --------------------------------------------------------------------------- sizes


def output_size(
    n: int, k: int, *, stride: int = 1, pad_before: int = 0, pad_after: int = 0, dilation: int = 1
) -> int:
    """Number of window positions along one axis: floor((n + p0 + p1 - d(k-1) - 1) / s) + 1.

    With symmetric padding p this is the textbook's (n + 2p - k) / s + 1 for d = 1, floored
    the way PyTorch floors it. The result can be zero or negative: that means no window fits.
    """
    span = dilation * (k - 1) + 1
    return math.floor((n + pad_before + pad_after - span) / stride) + 1


@dataclass(frozen=True)
class AxisSize:
    """The output-size arithmetic of one axis, with every number needed to write it out."""

    name: str
    n: int
    k: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    out: int
    exact: bool  # True when the stride divides (n + p0 + p1 - span) evenly
    unvisited: tuple[int, ...]  # padded-input indices no window ever covers

    @property
    def span(self) -> int:
        return self.dilation * (self.k - 1) + 1

    @property
    def numerator(self) -> int:
        return self.n + self.pad_before + self.pad_after - self.span


def axis_size(
    name: str, n: int, k: int, *, stride: int, pad_before: int, pad_after: int, dilation: int
) -> AxisSize:
    """Describe one axis: the output size, whether the stride divides evenly, what is skipped."""
    out = output_size(
        n, k, stride=stride, pad_before=pad_before, pad_after=pad_after, dilation=dilation
    )
    padded = n + pad_before + pad_after
    covered = set()
    for i in range(max(out, 0)):
        covered.update(i * stride + t * dilation for t in range(k))
    unvisited = tuple(i for i in range(padded) if i not in covered) if out > 0 else ()
    numerator = padded - (dilation * (k - 1) + 1)
    return AxisSize(
        name,
        n,
        k,
        stride,
        pad_before,
        pad_after,
        dilation,
        out,
        numerator >= 0 and numerator % stride == 0,
        unvisited,
    )


def size_formula_latex(ax: AxisSize, symbol: str) -> str:
    """The output-size formula for one axis, then the same with this axis's numbers in it."""
    general = (
        rf"{symbol} = \left\lfloor \frac{{n + p_{{\text{{before}}}} + p_{{\text{{after}}}}"
        rf" - d\,(k-1) - 1}}{{s}} \right\rfloor + 1"
    )
    numbers = (
        rf"\left\lfloor \frac{{{ax.n} + {ax.pad_before} + {ax.pad_after} - {ax.dilation}"
        rf"\cdot({ax.k}-1) - 1}}{{{ax.stride}}} \right\rfloor + 1 = {ax.out}"
    )
    # two aligned lines: on one, the formula with its numbers overflows a projector's width
    general = general.replace(f"{symbol} = ", f"{symbol} &= ", 1)
    return rf"\begin{{aligned}} {general} \\ &= {numbers} \end{{aligned}}"


def size_note(ax: AxisSize) -> str:
    """One sentence on how this axis's division came out, and what a floor leaves unvisited."""
    if ax.out < 1:
        return f"No window fits along the {ax.name}: the output would have {ax.out} {ax.name}."
    frac = ax.numerator / ax.stride
    if ax.exact:
        return (
            f"Along the {ax.name}: {ax.numerator} / {ax.stride} = {frac:g} exactly, so the last "
            f"window ends on the last padded {ax.name[:-1]}."
        )
    skipped = ", ".join(str(i) for i in ax.unvisited)
    if len(ax.unvisited) == 1:
        which = f"padded {ax.name[:-1]} {skipped} (counting from 0) is never visited: it is"
    else:
        which = f"padded {ax.name} {skipped} (counting from 0) are never visited: they are"
    return (
        f"Along the {ax.name}: {ax.numerator} / {ax.stride} = {frac:.3g} is not a whole number. "
        f"PyTorch floors it to {int(frac)}, so {ax.out} "
        f"{'window fits' if ax.out == 1 else 'windows fit'} and {which} greyed out "
        f"in the figure."
    )


# --------------------------------------------------------------------------- validation


def _as_tuple(value, nd: int, what: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    values = tuple(int(v) for v in value)
    if len(values) != nd:
        raise UserInputError(f"{what} needs {nd} value(s), one per axis; got {len(values)}.")
    return values


def _check_positive(values: tuple[int, ...], what: str, why: str) -> None:
    if any(v < 1 for v in values):
        got = (
            f"{values[0]} down the rows and {values[1]} across the columns"
            if len(values) == 2 and values[0] != values[1]
            else _fmt(values)
        )
        raise UserInputError(f"{what} must be a whole number of at least 1 ({why}); got {got}.")


def _fmt(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values) if len(set(values)) > 1 else str(values[0])


def resolve_padding(
    padding, kernel: tuple[int, ...], dilation: tuple[int, ...], stride: tuple[int, ...]
) -> tuple[tuple[int, int], ...]:
    """Turn a padding setting into (before, after) amounts per axis.

    ``padding`` is an int, a per-axis tuple of ints (symmetric), a per-axis tuple of
    (before, after) pairs, ``"valid"`` (none) or ``"same"`` (output as large as the input;
    like PyTorch, the odd extra cell goes after, and only stride 1 is allowed).
    """
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise UserInputError(
                    "'same' padding keeps the output as large as the input, which only works with "
                    "stride 1 (PyTorch refuses it for strided convolutions). Set the stride to 1 "
                    "or choose a padding amount."
                )
            pads = []
            for k, d in zip(kernel, dilation, strict=True):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise UserInputError(f"Unknown padding {padding!r}: use a number, 'valid' or 'same'.")
    if isinstance(padding, (int, np.integer)):
        pads = ((int(padding), int(padding)),) * nd
    else:
        items = list(padding)
        if len(items) != nd:
            raise UserInputError(f"Padding needs {nd} value(s), one per axis; got {len(items)}.")
        pads = tuple(
            (int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1]))
            for p in items
        )
    if any(v < 0 for pair in pads for v in pair):
        raise UserInputError(
            "Padding cannot be negative: it is the number of cells added on each side."
        )
    return pads


def _check_fits(
    spatial: tuple[int, ...], kernel: tuple[int, ...], stride, pads, dilation, what: str = "kernel"
) -> tuple[int, ...]:
    outs = []
    names = AXIS_NAMES[len(spatial)]
    for axis, (n, k, s, (p0, p1), d) in enumerate(
        zip(spatial, kernel, stride, pads, dilation, strict=True)
    ):
        out = output_size(n, k, stride=s, pad_before=p0, pad_after=p1, dilation=d)
        if out < 1:
            size = "x".join(map(str, kernel))
            insize = "x".join(map(str, spatial))
            pad_txt = f"padding {p0}" if p0 == p1 else f"padding {p0}+{p1}"
            dil_txt = f" and dilation {d} (it spans {d * (k - 1) + 1} cells)" if d > 1 else ""
            raise ShapeError(
                f"A {size} {what}{dil_txt} does not fit a {insize} input with {pad_txt}: "
                f"the output would have {out} {names[axis]}. Use a smaller {what}, more padding "
                f"or a larger input."
            )
        outs.append(out)
    return tuple(outs)


def _check_padding_mode(mode: str, spatial: tuple[int, ...], pads) -> None:
    if mode not in PADDING_MODES:
        raise UserInputError(
            f"Unknown padding mode {mode!r}: choose one of {', '.join(PADDING_MODES)}."
        )
    names = AXIS_NAMES[len(spatial)]
    for axis, (n, (p0, p1)) in enumerate(zip(spatial, pads, strict=True)):
        if mode == "reflect" and max(p0, p1) >= n:
            raise UserInputError(
                f"Reflect padding mirrors the input without repeating its edge, so it needs "
                f"padding smaller than the input: {max(p0, p1)} cells of padding on {n} "
                f"{names[axis]} is too many (PyTorch refuses it too)."
            )
        if mode == "circular" and max(p0, p1) > n:
            raise UserInputError(
                f"Circular padding wraps the input around, so it can add at most {n} cells on a "
                f"side of {n} {names[axis]}; {max(p0, p1)} is too many."
            )


def _check_array(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise UserInputError(
            f"The {what} contains NaN or infinity; every cell must be a finite number."
        )
    return x


# --------------------------------------------------------------------------- padding


def pad(x: np.ndarray, pads, *, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes of ``x`` (C, *S) by ``pads`` ((before, after) per axis)."""
    width = [(0, 0)] + [tuple(p) for p in pads]
    np_mode = _NP_PAD_MODE[mode]
    if np_mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value if mode == "constant" else 0)
    return np.pad(x, width, mode=np_mode)


def padding_mask(spatial: tuple[int, ...], pads) -> np.ndarray:
    """Boolean mask over the padded shape: True on cells that were added by padding."""
    shape = tuple(n + p0 + p1 for n, (p0, p1) in zip(spatial, pads, strict=True))
    mask = np.ones(shape, dtype=bool)
    inner = tuple(slice(p0, p0 + n) for n, (p0, _) in zip(spatial, pads, strict=True))
    mask[inner] = False
    return mask


# --------------------------------------------------------------------------- traces


@dataclass(frozen=True)
class Step:
    """One output cell: where the window sat and how its value was computed.

    ``index`` is the output position (filter, *spatial). ``positions`` lists, per spatial
    axis, the padded-input indices the window covers (dilation included). ``products`` has
    shape (C, *k) for a convolution (weight times value) and (1, *k) for pooling.
    """

    index: tuple[int, ...]
    positions: tuple[tuple[int, ...], ...]
    values: np.ndarray  # (C, *k) the input values under the window
    weights: np.ndarray | None  # (C, *k) the kernel, None for pooling
    products: np.ndarray  # (C, *k)
    bias: float
    total: float
    argmax: tuple[int, ...] | None = None  # max pooling: the winner inside the window
    count: int | None = None  # average pooling: the divisor

    def channel_sums(self) -> np.ndarray:
        return self.products.reshape(self.products.shape[0], -1).sum(axis=1)


@dataclass(frozen=True)
class OpResult:
    """Output, padded input and the whole trace of one convolution or pooling call.

    ``windows`` (F or C, *out, C', *k) holds the input values under every window, ``products``
    the element-wise products (convolution) and ``output`` the results. Steps are built on
    demand by :meth:`step`, in the order the window moves: row by row, left to right.
    """

    kind: str  # "conv" | "max" | "avg"
    output: np.ndarray  # (F, *out)
    padded: np.ndarray  # (C, *P)
    pads: tuple[tuple[int, int], ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    windows: np.ndarray  # (*out, C, *k)
    weights: np.ndarray | None  # (F, C, *k)
    bias: np.ndarray | None  # (F,)
    products: np.ndarray | None  # (F, *out, C, *k)
    per_channel: np.ndarray | None  # (F, C, *out): each input channel's share of the output
    counts: np.ndarray | None = None  # (*out): average pooling divisors

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.output.shape[1:]

    def axes(self) -> list[AxisSize]:
        """The output-size arithmetic of each spatial axis, as :func:`axis_size` gives it."""
        names = AXIS_NAMES[len(self.kernel_size)]
        return [
            axis_size(name, n_padded - p0 - p1, k, stride=s, pad_before=p0, pad_after=p1, dilation=d)
            for name, n_padded, k, s, (p0, p1), d in zip(
                names, self.padded.shape[1:], self.kernel_size, self.stride, self.pads,
                self.dilation, strict=True,
            )
        ]  # fmt: skip

    @property
    def n_steps(self) -> int:
        return int(np.prod(self.out_shape))

    def positions(self, out_index: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(
            tuple(o * s + t * d for t in range(k))
            for o, s, d, k in zip(
                out_index, self.stride, self.dilation, self.kernel_size, strict=True
            )
        )

    def step(self, n: int, *, filt: int = 0) -> Step:
        """The n-th window position (0-based, row-major) for filter (or channel) ``filt``."""
        if not 0 <= n < self.n_steps:
            raise UserInputError(
                f"Step {n + 1} does not exist: this operation has {self.n_steps} steps."
            )
        out_index = tuple(int(i) for i in np.unravel_index(n, self.out_shape))
        total = float(self.output[(filt, *out_index)])
        if self.kind == "conv":
            return Step(
                (filt, *out_index),
                self.positions(out_index),
                self.windows[out_index],
                self.weights[filt],
                self.products[(filt, *out_index)],
                float(self.bias[filt]),
                total,
            )
        window = self.windows[out_index][filt : filt + 1]  # (1, *k)
        argmax = count = None
        if self.kind == "max":
            argmax = tuple(
                int(i) for i in np.unravel_index(int(np.argmax(window[0])), window.shape[1:])
            )
        else:
            count = int(self.counts[out_index])
        return Step(
            (filt, *out_index),
            self.positions(out_index),
            window,
            None,
            window,
            0.0,
            total,
            argmax,
            count,
        )


# --------------------------------------------------------------------------- operations


def _windows(padded: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """All windows of ``padded`` (C, *P) as (*out, C, *k), respecting stride and dilation."""
    nd = len(kernel)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    axes = tuple(range(1, nd + 1))
    view = sliding_window_view(padded, span, axis=axes)  # (C, *full_out, *span)
    view = view[
        (slice(None),)
        + tuple(slice(None, None, s) for s in stride)
        + tuple(slice(None, None, d) for d in dilation)
    ]
    # (C, *out, *k) -> (*out, C, *k)
    return np.moveaxis(view, 0, nd)


def _conv(x, w, bias, *, nd, stride, padding, padding_mode, pad_value, dilation) -> OpResult:
    x = _check_array(x, "input")
    w = _check_array(w, "kernel")
    if x.ndim != nd + 1:
        raise UserInputError(f"The input must have shape (channels, {', '.join(AXIS_NAMES[nd])}).")
    if w.ndim != nd + 2:
        raise UserInputError(
            f"The kernel must have shape (filters, channels, {', '.join('k' + a[0] for a in AXIS_NAMES[nd])})."
        )
    if w.shape[1] != x.shape[0]:
        raise UserInputError(
            f"The input has {x.shape[0]} channel(s) but each filter has {w.shape[1]}: a filter "
            f"needs exactly one kernel slice per input channel."
        )
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise UserInputError("The input and the kernel need at least one cell each.")
    kernel = tuple(w.shape[2:])
    stride = _as_tuple(stride, nd, "Stride")
    dilation = _as_tuple(dilation, nd, "Dilation")
    _check_positive(stride, "Stride", "the window has to move forward")
    _check_positive(dilation, "Dilation", "1 means the kernel's cells are next to each other")
    pads = resolve_padding(padding, kernel, dilation, stride)
    spatial = tuple(x.shape[1:])
    _check_padding_mode(padding_mode, spatial, pads)
    _check_fits(spatial, kernel, stride, pads, dilation)
    b = np.zeros(w.shape[0]) if bias is None else _check_array(bias, "bias").reshape(-1)
    if b.shape[0] != w.shape[0]:
        raise UserInputError(f"There are {w.shape[0]} filters but {b.shape[0]} bias values.")

    padded = pad(x, pads, mode=padding_mode, value=pad_value)  # (C, *P)
    windows = _windows(padded, kernel, stride, dilation)  # (*out, C, *k)
    out_shape = windows.shape[:nd]
    # products[f, *out, c, *k] = w[f, c, *k] * window[*out, c, *k]
    w_b = w.reshape((w.shape[0],) + (1,) * nd + w.shape[1:])  # (F, 1.., C, *k)
    products = w_b * windows[None]  # (F, *out, C, *k)
    per_channel = products.reshape(products.shape[: nd + 2] + (-1,)).sum(axis=-1)  # (F, *out, C)
    output = per_channel.sum(axis=-1) + b.reshape((-1,) + (1,) * nd)  # (F, *out)
    per_channel = np.moveaxis(per_channel, -1, 1)  # (F, C, *out)
    assert output.shape[1:] == out_shape
    return OpResult(
        "conv", output, padded, pads, kernel, stride, dilation, windows, w, b, products, per_channel
    )


def conv2d(
    x,
    w,
    bias=None,
    *,
    stride=1,
    padding=0,
    padding_mode: str = "zeros",
    pad_value: float = 0.0,
    dilation=1,
) -> OpResult:
    """2-D convolution (cross-correlation, as in ``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : array (C, H, W)
    w : array (F, C, kH, kW)
    bias : array (F,) or None
    stride, dilation : int or (int, int)
    padding : int, (int, int), ((top, bottom), (left, right)), "valid" or "same"
    padding_mode : "zeros", "constant" (with ``pad_value``), "reflect", "replicate" or "circular"

    Returns
    -------
    OpResult with ``output`` of shape (F, oH, oW) and the full trace.
    """
    return _conv(
        x,
        w,
        bias,
        nd=2,
        stride=stride,
        padding=padding,
        padding_mode=padding_mode,
        pad_value=pad_value,
        dilation=dilation,
    )


def conv1d(
    x,
    w,
    bias=None,
    *,
    stride=1,
    padding=0,
    padding_mode: str = "zeros",
    pad_value: float = 0.0,
    dilation=1,
) -> OpResult:
    """1-D convolution (as ``torch.nn.functional.conv1d``): x (C, L), w (F, C, k) -> (F, oL)."""
    return _conv(
        x,
        w,
        bias,
        nd=1,
        stride=stride,
        padding=padding,
        padding_mode=padding_mode,
        pad_value=pad_value,
        dilation=dilation,
    )


def _pool(x, kernel_size, *, nd, mode, stride, padding, count_include_pad, dilation) -> OpResult:
    x = _check_array(x, "input")
    if x.ndim != nd + 1:
        raise UserInputError(f"The input must have shape (channels, {', '.join(AXIS_NAMES[nd])}).")
    kernel = _as_tuple(kernel_size, nd, "Pooling size")
    _check_positive(kernel, "The pooling size", "a window needs at least one cell")
    stride = kernel if stride is None else _as_tuple(stride, nd, "Stride")
    _check_positive(stride, "Stride", "the window has to move forward")
    dilation = _as_tuple(dilation, nd, "Dilation")
    _check_positive(dilation, "Dilation", "1 means the window's cells are next to each other")
    if mode == "avg" and any(d != 1 for d in dilation):
        raise UserInputError("Average pooling has no dilation in PyTorch; set dilation to 1.")
    pads = resolve_padding(padding, kernel, dilation, stride)
    for k, (p0, p1) in zip(kernel, pads, strict=True):
        limit = k // 2  # PyTorch's rule, for max pooling with dilation too
        if p0 != p1 or p0 > limit:
            raise UserInputError(
                f"Pooling padding must be the same on both sides and at most half the window "
                f"({limit} here); {max(p0, p1)} would let a window see nothing but padding "
                f"(PyTorch refuses it too)."
            )
    spatial = tuple(x.shape[1:])
    _check_fits(spatial, kernel, stride, pads, dilation, what="pooling window")
    fill = -np.inf if mode == "max" else 0.0
    padded = pad(x, pads, mode="constant", value=fill)
    windows = _windows(padded, kernel, stride, dilation)  # (*out, C, *k)
    flat = windows.reshape(windows.shape[: nd + 1] + (-1,))  # (*out, C, K)
    counts = None
    if mode == "max":
        out = flat.max(axis=-1)
    else:
        if count_include_pad:
            # PyTorch divides by the window clipped to the padded input (always full here).
            counts = np.full(windows.shape[:nd], float(np.prod(kernel)))
        else:
            real = _windows(
                ~padding_mask(spatial, pads)[None].astype(bool), kernel, stride, dilation
            )
            counts = real.reshape(real.shape[: nd + 1] + (-1,)).sum(axis=-1)[..., 0].astype(float)
        out = flat.sum(axis=-1) / counts[..., None]
    output = np.moveaxis(out, -1, 0)  # (C, *out)
    return OpResult(
        mode,
        output,
        padded,
        pads,
        kernel,
        stride,
        dilation,
        windows,
        None,
        None,
        None,
        None,
        counts,
    )


def max_pool2d(x, kernel_size, *, stride=None, padding=0, dilation=1) -> OpResult:
    """Max pooling over (C, H, W), as ``torch.nn.functional.max_pool2d`` (stride defaults to the size)."""
    return _pool(
        x,
        kernel_size,
        nd=2,
        mode="max",
        stride=stride,
        padding=padding,
        count_include_pad=True,
        dilation=dilation,
    )


def avg_pool2d(
    x, kernel_size, *, stride=None, padding=0, count_include_pad: bool = True
) -> OpResult:
    """Average pooling over (C, H, W), as ``torch.nn.functional.avg_pool2d``."""
    return _pool(
        x,
        kernel_size,
        nd=2,
        mode="avg",
        stride=stride,
        padding=padding,
        count_include_pad=count_include_pad,
        dilation=1,
    )


def max_pool1d(x, kernel_size, *, stride=None, padding=0, dilation=1) -> OpResult:
    """Max pooling over (C, L), as ``torch.nn.functional.max_pool1d``."""
    return _pool(
        x,
        kernel_size,
        nd=1,
        mode="max",
        stride=stride,
        padding=padding,
        count_include_pad=True,
        dilation=dilation,
    )


def avg_pool1d(
    x, kernel_size, *, stride=None, padding=0, count_include_pad: bool = True
) -> OpResult:
    """Average pooling over (C, L), as ``torch.nn.functional.avg_pool1d``."""
    return _pool(
        x,
        kernel_size,
        nd=1,
        mode="avg",
        stride=stride,
        padding=padding,
        count_include_pad=count_include_pad,
        dilation=1,
    )


def global_avg_pool(x) -> np.ndarray:
    """Mean of each channel over all its spatial cells: (C, *S) -> (C,)."""
    x = _check_array(x, "input")
    return x.reshape(x.shape[0], -1).mean(axis=1)


# --------------------------------------------------------------------------- writing it out


def _num(v: float) -> str:
    """A number as a student would write it: 6 not 6.0, 0.25 not 0.250000."""
    if np.isneginf(v):
        return "−∞"
    if float(v).is_integer():
        return str(int(v))
    if not float(v * 1000).is_integer():
        frac = Fraction(float(v)).limit_denominator(16)
        if frac != 0 and abs(float(frac) - v) < 1e-12:  # 1e-300 is not "0/1"
            return f"{frac.numerator}/{frac.denominator}"
    return f"{v:.4g}"


def _signed(v: float) -> str:
    s = _num(v)
    return f"({s})" if v < 0 else s


def step_equation(step: Step) -> str:
    """The arithmetic of one step, e.g. ``1×1 + 0×2 + 0×4 + 1×5 = 6`` (weight × value).

    Several input channels are written one bracket per channel; a bias is added at the end.
    Pooling steps read ``max(1, 2, 5, 6) = 6`` or ``(1 + 2 + 5 + 6) / 4 = 3.5``.
    """
    if step.weights is None:
        vals = step.values[0].ravel()
        if step.argmax is not None:
            return f"max({', '.join(_num(v) for v in vals)}) = {_num(step.total)}"
        return f"({' + '.join(_signed(v) for v in vals)}) / {step.count} = {_num(step.total)}"
    parts = []
    for c in range(step.weights.shape[0]):
        terms = " + ".join(
            f"{_signed(wv)}×{_signed(xv)}"
            for wv, xv in zip(step.weights[c].ravel(), step.values[c].ravel(), strict=True)
        )
        parts.append(terms if step.weights.shape[0] == 1 else f"[{terms}]")
    text = " + ".join(parts)
    if step.bias:
        text += f" + {_signed(step.bias)}"
    return f"{text} = {_num(step.total)}"


# --------------------------------------------------------------------------- text input


MAX_ABS = 1e6  # the largest magnitude a typed cell may hold


def parse_matrix(
    text: str, *, name: str = "matrix", max_rows: int = 16, max_cols: int = 16
) -> np.ndarray:
    """Read a matrix typed as rows of numbers (spaces or commas between, one row per line).

    Raises UserInputError naming the first bad cell, e.g. "Row 2, column 3 of the input is
    'x', which is not a number."
    """
    lines = [line.strip() for line in (text or "").strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise UserInputError(f"The {name} is empty: type at least one number.")
    if len(lines) > max_rows or len(text) > 64 * max_rows * max_cols:
        raise UserInputError(
            f"The {name} has {len(lines)} rows ({len(text):,} characters); the largest allowed "
            f"here is {max_rows}x{max_cols}, so that every step stays readable."
        )
    rows = []
    for r, line in enumerate(lines, start=1):
        cells = [c for c in line.replace(",", " ").replace(";", " ").split(" ") if c != ""]
        if not cells:  # a line of separators only: no number on it
            raise UserInputError(f"Row {r} of the {name} holds no number: type at least one.")
        row = []
        for c, cell in enumerate(cells, start=1):
            try:
                value = _parse_cell(cell)
            except (ValueError, ZeroDivisionError):
                shown = cell if len(cell) <= 24 else cell[:20] + "..."
                raise UserInputError(
                    f"Row {r}, column {c} of the {name} is '{shown}', which is not a number."
                ) from None
            if not math.isfinite(value):
                raise UserInputError(
                    f"Row {r}, column {c} of the {name} is {cell}: only finite numbers can be "
                    f"multiplied and summed, so NaN and infinity are not allowed."
                )
            if abs(value) > MAX_ABS:
                raise UserInputError(
                    f"Row {r}, column {c} of the {name} is {cell}: cells hold numbers between "
                    f"-{MAX_ABS:,.0f} and {MAX_ABS:,.0f}, so every product and sum stays readable."
                )
            row.append(value)
        rows.append(row)
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        short = min(range(len(rows)), key=lambda i: len(rows[i]))
        raise UserInputError(
            f"Every row of the {name} needs the same number of cells; row {short + 1} has "
            f"{len(rows[short])} but others have {max(widths)}. Is a cell empty?"
        )
    if len(rows) > max_rows or len(rows[0]) > max_cols:
        raise UserInputError(
            f"The {name} is {len(rows)}x{len(rows[0])}; the largest allowed here is "
            f"{max_rows}x{max_cols}, so that every step stays readable."
        )
    return np.array(rows, dtype=np.float64)


def _parse_cell(cell: str) -> float:
    """A number, or a simple fraction such as 1/9 (handy for blur kernels)."""
    cell = cell.replace("−", "-")
    if "/" in cell:
        num, den = cell.split("/", 1)
        return float(num) / float(den)
    return float(cell)


def stack_channels(matrices, *, what: str = "input channel") -> np.ndarray:
    """Stack per-channel matrices typed separately into one (C, H, W) array.

    Raises UserInputError naming each channel's size when they differ.
    """
    shapes = [np.shape(m) for m in matrices]
    if not shapes:
        raise UserInputError(f"There is no {what} to stack.")
    if len(set(shapes)) > 1:
        sizes = ", ".join(f"{what} {i + 1} is {h}x{w}" for i, (h, w) in enumerate(shapes))
        raise UserInputError(f"Every {what} must have the same size: {sizes}.")
    return np.stack([np.asarray(m, dtype=np.float64) for m in matrices])  # (C, H, W)


def format_matrix(m: np.ndarray) -> str:
    """The inverse of :func:`parse_matrix`: one line per row, cells separated by spaces."""
    m = np.atleast_2d(np.asarray(m, dtype=float))
    return "\n".join(" ".join(_exact(v) for v in row) for row in m)


def _exact(v: float) -> str:
    """A cell written back into an editor: as :func:`_num` writes it when that reads back to
    the same number, else in full (resizing must not round 123456.789 to 1.235e+05)."""
    s = _num(v)
    try:
        same = _parse_cell(s) == v
    except (ValueError, ZeroDivisionError):
        same = False
    return s if same else repr(float(v))


def parse_vector(text: str, *, name: str = "signal", max_len: int = 64) -> np.ndarray:
    """Read a 1-D signal typed on one or more lines; returns shape (L,)."""
    cells = (text or "").replace(",", " ").replace(";", " ").split()
    if not cells:
        raise UserInputError(f"The {name} is empty: type at least one number.")
    m = parse_matrix(" ".join(cells), name=name, max_rows=1, max_cols=max_len)
    return m[0]
