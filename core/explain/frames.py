"""Every step of a convolution or pooling, as plain data a browser can step through on its own.

``step_frames(result)`` turns a :class:`core.explain.conv.OpResult` into a JSON-safe dict: the
padded input (numbers as the page writes them, and which cells are padding), the kernel, the
output, and for each step the output cell, the input rows and columns its window covers, the
winner of a max-pooling window and the written-out arithmetic (``step_equation``). The
stepper on the page draws from this alone, so moving from step to step needs no server.

A 1-D operation is laid out as a grid of one row per channel: its window covers every row.
"""

from __future__ import annotations

import numpy as np

from core.errors import UserInputError
from core.explain.conv import OpResult, _num, padding_mask, step_equation

MAX_STEPS = 4096  # a 64x64 output; the pages' inputs (16x16, 64 samples) stay far below


def _cells(a: np.ndarray) -> list[list[str]]:
    return [[_num(float(v)) for v in row] for row in np.atleast_2d(a)]


def step_frames(result: OpResult, *, filt: int = 0) -> dict:
    """The payload of one operation for filter (convolution) or channel (pooling) ``filt``.

    Keys: ``kind`` ("conv", "max", "avg"), ``nd`` (1 or 2), ``inputs`` (one grid per input
    channel: ``values`` rows of text and ``pad`` rows of booleans; a 1-D input is one grid of
    C rows), ``kernels`` (grids of text; empty for pooling), ``output`` (rows of text),
    ``steps`` (per step: ``out`` [row, col], ``rows`` and ``cols`` covered in the padded
    input, ``win`` [i, j] of a max-pooling winner or None, ``eq`` the arithmetic).
    """
    nd = len(result.kernel_size)
    if result.n_steps > MAX_STEPS:
        raise UserInputError(
            f"This operation has {result.n_steps:,} steps; the step-by-step view shows at most "
            f"{MAX_STEPS:,}. Use a smaller input or a larger stride."
        )
    n_out = result.output.shape[0]
    if not 0 <= filt < n_out:
        raise UserInputError(f"There is no filter {filt + 1}: this operation has {n_out}.")
    spatial = tuple(result.padded.shape[1:])
    unpadded = tuple(n - p0 - p1 for n, (p0, p1) in zip(spatial, result.pads, strict=True))
    mask = padding_mask(unpadded, result.pads)  # (*P) True where padding
    padded = result.padded
    if result.kind != "conv":
        padded = padded[filt : filt + 1]  # pooling shows the channel it pools
    if nd == 1:
        inputs = [{"values": _cells(padded), "pad": np.broadcast_to(mask, padded.shape).tolist()}]
        kernels = [] if result.weights is None else [_cells(result.weights[filt])]
        output = _cells(result.output[filt][None])
    else:
        inputs = [{"values": _cells(p), "pad": mask.tolist()} for p in padded]
        kernels = [] if result.weights is None else [_cells(k) for k in result.weights[filt]]
        output = _cells(result.output[filt])
    steps = []
    for i in range(result.n_steps):
        step = result.step(i, filt=filt)
        if nd == 1:
            out = [0, step.index[1]]
            rows, cols = list(range(len(inputs[0]["values"]))), list(step.positions[0])
        else:
            out = list(step.index[1:])
            rows, cols = list(step.positions[0]), list(step.positions[1])
        win = None
        if step.argmax is not None:
            win = [0, step.argmax[0]] if nd == 1 else list(step.argmax)
        eq = step_equation(step)
        if step.weights is not None and step.weights.shape[0] > 1:  # each channel's share
            parts = " + ".join(
                f"channel {k + 1}: {_num(v)}" for k, v in enumerate(step.channel_sums())
            )
            bias = f" + bias {_num(step.bias)}" if step.bias else ""
            eq += f"\n  per channel: {parts}{bias} = {_num(step.total)}"
        steps.append({"out": out, "rows": rows, "cols": cols, "win": win, "eq": eq})
    return {
        "kind": result.kind,
        "nd": nd,
        "inputs": inputs,
        "kernels": kernels,
        "output": output,
        "steps": steps,
    }
