"""Transposed convolution (``torch.nn.functional.conv_transpose2d``), written out step by step.

A convolution gathers: every output cell is a weighted sum of an input window. A transposed
convolution scatters: every *input* cell stamps a copy of the kernel, scaled by its value,
onto the output, ``stride`` cells further on for each step along the input, and overlapping
stamps add up. The stamps together cover the *canvas*, ``(n - 1)·s + d·(k - 1) + 1`` cells
along an axis. ``padding`` then crops ``p`` cells from each side of the canvas (it undoes the
padding of the convolution this one reverses), and ``output_padding`` gives back up to
``max(s, d) - 1`` cells at the end, because a strided convolution maps several input sizes
to the same output size and the transposed one must be told which to return::

    o = (n - 1)·s - 2p + d·(k - 1) + output_padding + 1

The same numbers come from an ordinary stride-1 convolution: insert ``s - 1`` zeros between
the input's cells, pad by ``d·(k - 1) - p`` (plus ``output_padding`` at the end), and slide
the kernel turned by 180 degrees over it (:func:`as_convolution`).

One input channel and one output channel, which is all the scatter needs to be seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.errors import UserInputError
from core.explain.conv import _num

MAX_INPUT = 8  # rows or columns of the input: 64 stamps are already a long animation
MAX_KERNEL = 5
MAX_STRIDE = 4
MAX_DILATION = 3
MAX_PADDING = 6


@dataclass(frozen=True)
class Axis:
    """The size arithmetic of one axis of a transposed convolution."""

    name: str  # "rows" or "columns"
    n: int
    k: int
    stride: int
    padding: int
    output_padding: int
    dilation: int

    @property
    def span(self) -> int:
        """How far one stamp of the kernel reaches: d·(k - 1) + 1."""
        return self.dilation * (self.k - 1) + 1

    @property
    def full(self) -> int:
        """The stamps' extent before cropping: (n - 1)·s + d·(k - 1) + 1."""
        return (self.n - 1) * self.stride + self.span

    @property
    def out(self) -> int:
        return self.full - 2 * self.padding + self.output_padding

    @property
    def canvas(self) -> int:
        """What the figure draws: the stamps, and any output padding beyond them."""
        return max(self.full, self.padding + self.out)

    def formula_latex(self, symbol: str) -> str:
        general = rf"{symbol} &= (n-1)\,s - 2p + d\,(k-1) + p_{{\text{{out}}}} + 1"
        numbers = (
            rf"({self.n}-1)\cdot {self.stride} - 2\cdot {self.padding} + {self.dilation}"
            rf"\cdot({self.k}-1) + {self.output_padding} + 1 = {self.out}"
        )
        return rf"\begin{{aligned}} {general} \\ &= {numbers} \end{{aligned}}"

    def note(self) -> str:
        """One sentence on what the padding and output padding did along this axis."""
        parts = [f"The stamps cover {self.full} {self.name}"]
        if self.padding:
            parts.append(f"padding {self.padding} crops {self.padding} from each end")
        if self.output_padding:
            parts.append(
                f"output padding gives {self.output_padding} back at the end"
                + (" (zeros beyond the stamps)" if self.padding + self.out > self.full else "")
            )
        return ", ".join(parts) + f": {self.out} {self.name} remain."


def axis(name: str, n: int, k: int, *, stride: int, padding: int, output_padding: int,
         dilation: int) -> Axis:  # fmt: skip
    """One axis, checked the way PyTorch checks it, with a sentence for each refusal."""
    for what, v, low, high in (
        ("stride", stride, 1, MAX_STRIDE),
        ("dilation", dilation, 1, MAX_DILATION),
        ("padding", padding, 0, MAX_PADDING),
        ("output padding", output_padding, 0, MAX_STRIDE),
    ):
        if not low <= int(v) <= high:
            raise UserInputError(f"The {what} must be between {low} and {high}; it is {v}.")
    if output_padding >= max(stride, dilation):
        raise UserInputError(
            f"Output padding ({output_padding}) must be smaller than the stride or the dilation "
            f"(here at most {max(stride, dilation) - 1}), as PyTorch requires: it only chooses "
            "among the output sizes that the matching convolution would shrink back to the "
            "input's size."
        )
    ax = Axis(name, int(n), int(k), int(stride), int(padding), int(output_padding), int(dilation))
    if ax.out < 1:
        raise UserInputError(
            f"Padding {padding} crops {2 * padding} of the {ax.full} {name} the stamps cover, "
            f"leaving {ax.out}. Use less padding or a larger input, kernel or stride."
        )
    return ax


@dataclass(frozen=True)
class Stamp:
    """One step: input cell ``src`` with ``value`` stamps the scaled kernel onto the canvas."""

    index: int
    src: tuple[int, int]
    value: float
    cells: tuple[tuple[int, int], ...]  # canvas (row, col) of each kernel weight, row-major
    weights: tuple[float, ...]
    products: tuple[float, ...]


@dataclass(frozen=True)
class Transposed:
    """A transposed convolution of a 2-D input with a 2-D kernel, and every stamp of it."""

    x: np.ndarray  # (H, W)
    kernel: np.ndarray  # (kH, kW)
    bias: float
    rows: Axis
    cols: Axis

    @property
    def n_steps(self) -> int:
        return int(self.x.size)

    def stamp(self, i: int) -> Stamp:
        r, c = divmod(i, self.x.shape[1])
        v = float(self.x[r, c])
        kh, kw = self.kernel.shape
        cells, weights = [], []
        for a in range(kh):
            for b in range(kw):
                cells.append((r * self.rows.stride + a * self.rows.dilation,
                              c * self.cols.stride + b * self.cols.dilation))  # fmt: skip
                weights.append(float(self.kernel[a, b]))
        return Stamp(i, (r, c), v, tuple(cells), tuple(weights), tuple(v * w for w in weights))

    @cached_property
    def partial_canvases(self) -> np.ndarray:
        """(n_steps, canvas rows, canvas cols): the sums after each stamp (bias not added)."""
        out = np.zeros((self.n_steps, self.rows.canvas, self.cols.canvas))
        acc = np.zeros(out.shape[1:])
        for i in range(self.n_steps):
            s = self.stamp(i)
            for (rr, cc), p in zip(s.cells, s.products, strict=True):
                acc[rr, cc] += p
            out[i] = acc
        return out

    @property
    def canvas(self) -> np.ndarray:
        return self.partial_canvases[-1]

    @property
    def kept(self) -> tuple[slice, slice]:
        """The part of the canvas that is the output (padding crops the rest)."""
        return (slice(self.rows.padding, self.rows.padding + self.rows.out),
                slice(self.cols.padding, self.cols.padding + self.cols.out))  # fmt: skip

    @property
    def output(self) -> np.ndarray:
        return self.canvas[self.kept] + self.bias

    def equation(self, i: int) -> str:
        """The arithmetic of stamp i: each product and where it lands, with the running sum."""
        s = self.stamp(i)
        before = self.partial_canvases[i - 1] if i else np.zeros_like(self.canvas)
        lines = [f"input[{s.src[0]},{s.src[1]}] = {_num(s.value)} stamps {_num(s.value)} × kernel:"]
        kw = self.kernel.shape[1]
        for row in range(self.kernel.shape[0]):
            parts = []
            for b in range(kw):
                j = row * kw + b
                rr, cc = s.cells[j]
                total = before[rr, cc] + s.products[j]
                parts.append(f"[{rr},{cc}] += {_num(s.value)}×{_num(s.weights[j])} → {_num(total)}")
            lines.append("  " + ";  ".join(parts))
        if i == self.n_steps - 1:
            crop = f"; crop rows {self.rows.padding}–{self.rows.padding + self.rows.out - 1}, " \
                   f"columns {self.cols.padding}–{self.cols.padding + self.cols.out - 1}"  # fmt: skip
            bias = f", add bias {_num(self.bias)}" if self.bias else ""
            lines.append(f"last stamp{crop}{bias}: that is the output.")
        return "\n".join(lines)


def conv_transpose2d(x, kernel, bias: float = 0.0, *, stride=1, padding=0, output_padding=0,
                     dilation=1) -> Transposed:  # fmt: skip
    """Our transposed convolution; ``stride`` etc. are ints or (rows, cols) pairs."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != 2 or kernel.ndim != 2 or not x.size or not kernel.size:
        raise UserInputError("A transposed convolution here takes one matrix and one kernel.")
    if max(x.shape) > MAX_INPUT:
        raise UserInputError(
            f"The input is {x.shape[0]}×{x.shape[1]}; this page scatters inputs up to "
            f"{MAX_INPUT}×{MAX_INPUT} (each cell is one step)."
        )
    if max(kernel.shape) > MAX_KERNEL:
        raise UserInputError(
            f"The kernel is {kernel.shape[0]}×{kernel.shape[1]}; at most {MAX_KERNEL}×{MAX_KERNEL}."
        )
    if not (np.isfinite(x).all() and np.isfinite(kernel).all() and np.isfinite(bias)):
        raise UserInputError("Every number must be finite.")

    def pair(v):
        return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))

    s, p, op, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    rows = axis("rows", x.shape[0], kernel.shape[0], stride=s[0], padding=p[0],
                output_padding=op[0], dilation=d[0])  # fmt: skip
    cols = axis("columns", x.shape[1], kernel.shape[1], stride=s[1], padding=p[1],
                output_padding=op[1], dilation=d[1])  # fmt: skip
    return Transposed(x, kernel, float(bias), rows, cols)


@dataclass(frozen=True)
class AsConvolution:
    """The stride-1 convolution that gives the same output."""

    zero_inserted: np.ndarray  # the input with stride - 1 zeros between its cells
    pads: tuple[tuple[int, int], tuple[int, int]]  # (before, after) per axis, before cropping
    crop: tuple[tuple[int, int], tuple[int, int]]  # cells removed when a pad is negative
    flipped: np.ndarray  # the kernel turned by 180 degrees
    dilation: tuple[int, int]


def as_convolution(t: Transposed) -> AsConvolution:
    """Zero insertion, padding d·(k - 1) - p (+ output padding after) and the flipped kernel."""
    h, w = t.x.shape
    sr, sc = t.rows.stride, t.cols.stride
    up = np.zeros(((h - 1) * sr + 1, (w - 1) * sc + 1))
    up[::sr, ::sc] = t.x
    pads, crop = [], []
    for ax in (t.rows, t.cols):
        before = ax.dilation * (ax.k - 1) - ax.padding
        after = before + ax.output_padding
        pads.append((max(before, 0), max(after, 0)))
        crop.append((max(-before, 0), max(-after, 0)))
    (cr0, cr1), (cc0, cc1) = crop
    cropped = up[cr0 : up.shape[0] - cr1, cc0 : up.shape[1] - cc1]
    if not cropped.size:  # the crop eats the input: the output is padding (zeros) alone
        (pr0, pr1), (pc0, pc1) = pads
        whole = np.pad(up, ((pr0, pr1), (pc0, pc1)))
        cropped = whole[cr0 : whole.shape[0] - cr1, cc0 : whole.shape[1] - cc1]
        pads = [(0, 0), (0, 0)]
    up = cropped
    return AsConvolution(up, (pads[0], pads[1]), (crop[0], crop[1]), t.kernel[::-1, ::-1].copy(),
                         (t.rows.dilation, t.cols.dilation))  # fmt: skip


def step_frames(t: Transposed) -> dict:
    """Everything the browser's scatter player draws, for every stamp (JSON-safe): the input,
    kernel, which canvas cells the output keeps, and per stamp its source cell, the cells it
    lands on, the canvas and the output so far (text; "" where no stamp has reached) and its
    arithmetic."""
    kept = np.zeros((t.rows.canvas, t.cols.canvas), dtype=bool)
    kept[t.kept] = True
    canvases = t.partial_canvases
    reached = np.zeros(kept.shape, dtype=bool)  # cells some stamp has written to so far
    steps = []
    for i in range(t.n_steps):
        s = t.stamp(i)
        for rr, cc in s.cells:
            reached[rr, cc] = True
        text = [[_num(v) if reached[r, c] else "" for c, v in enumerate(row)]
                for r, row in enumerate(canvases[i])]  # fmt: skip
        part = canvases[i][t.kept] + t.bias  # the output so far: what the crop keeps
        hit = reached[t.kept]
        out = [
            [_num(v) if hit[r, c] else "" for c, v in enumerate(row)] for r, row in enumerate(part)
        ]
        steps.append({"src": list(s.src), "cells": [list(c) for c in s.cells], "canvas": text,
                      "out": out, "eq": t.equation(i)})  # fmt: skip
    return {
        "input": [[_num(v) for v in row] for row in t.x],
        "kernel": [[_num(v) for v in row] for row in t.kernel],
        "kept": kept.tolist(),
        "output": [[_num(v) for v in row] for row in t.output],
        "steps": steps,
    }
