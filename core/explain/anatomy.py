"""Arithmetic the Architecture anatomy page writes out: dense against conv weights,
separable against standard blocks, softmax against sigmoid. Plain python, no torch.
"""

from __future__ import annotations

import math

from core.errors import UserInputError
from core.explain.summary import number, summarize, whole


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} M" if n >= 1e6 else f"{n / 1e3:,.1f} k" if n >= 1e3 else str(n)


def fc_vs_conv(*, input_kind: str = "audio", units: int = 1000, n_layers: int = 3,
               filters: int = 64, kernel_size: int = 3, sample_rate: int = 44100,
               seconds: float = 1.0, image_size: int = 224) -> dict:  # fmt: skip
    """Weights of dense layers against one conv layer on the same input, written out.

    Biases are left out of both counts (as in the textbook's 45.1 M example); the conv
    layer's count does not depend on the input size, the dense layers' does.

    Returns
    -------
    dict
        ``inputs``, ``fc_terms`` (pairs), ``fc_total``, ``fc_text``, ``conv_total``,
        ``conv_text``, ``ratio``.
    """
    units = whole(units, "The number of units")
    n_layers = whole(n_layers, "The number of dense layers")
    filters = whole(filters, "The number of filters")
    kernel_size = whole(kernel_size, "The kernel size")
    if input_kind == "audio":
        sample_rate = whole(sample_rate, "The sample rate")
        inputs = round(sample_rate * number(seconds, "The clip length", low=0.0, high=3600.0))
        if inputs < 1:
            raise UserInputError("The clip must hold at least one sample.")
        in_channels, conv_terms = 1, [1, kernel_size, filters]
        conv_desc = f"Conv1d(1, {filters}, kernel_size={kernel_size})"
    elif input_kind == "image":
        image_size = whole(image_size, "The image size")
        inputs = image_size * image_size * 3
        in_channels, conv_terms = 3, [3, kernel_size, kernel_size, filters]
        conv_desc = f"Conv2d(3, {filters}, kernel_size={kernel_size})"
    else:
        raise UserInputError("The input must be 'audio' or 'image'.")
    del in_channels
    terms = [(inputs, units)] + [(units, units)] * (n_layers - 1)
    fc_total = sum(a * b for a, b in terms)
    conv_total = math.prod(conv_terms)
    fc_text = (
        " + ".join(f"{a:,}×{b:,}" for a, b in terms) + f" = {fc_total:,} ≈ {_millions(fc_total)}"
    )
    conv_text = f"{conv_desc}: " + "×".join(str(t) for t in conv_terms) + f" = {conv_total:,}"
    return {
        "inputs": inputs,
        "fc_terms": terms,
        "fc_total": fc_total,
        "fc_text": fc_text,
        "conv_total": conv_total,
        "conv_text": conv_text,
        "ratio": fc_total / conv_total,
    }


def separable_vs_standard(*, in_channels: int = 32, out_channels: int = 64, size: int = 112,
                          kernel_size: int = 3) -> dict:  # fmt: skip
    """Summaries of a MobileNet separable block and a standard conv block of the same shape.

    Both map ``(in_channels, size, size)`` to ``(out_channels, size, size)`` with a
    ``kernel_size`` window, BatchNorm and ReLU, and no conv bias.

    Returns
    -------
    dict
        ``standard`` and ``separable`` (Summary), ``param_ratio`` and ``macs_ratio``
        (standard / separable), and ``text``: the weight arithmetic written out.
    """
    c_in = whole(in_channels, "The input channels")
    c_out = whole(out_channels, "The output channels")
    n = whole(size, "The size")
    k = whole(kernel_size, "The kernel size")
    if k % 2 == 0:
        raise UserInputError("Use an odd kernel size, so 'same' padding keeps the size.")
    shape = (c_in, n, n)
    std = summarize(
        [{"type": "conv2d", "filters": c_out, "kernel_size": k, "padding": k // 2, "bias": False},
         {"type": "batchnorm"}, {"type": "relu"}], shape,
    )  # fmt: skip
    sep = summarize([{"type": "separable", "filters": c_out, "kernel_size": k}], shape)
    text = (
        f"standard: {k}×{k}×{c_in}×{c_out} = {k * k * c_in * c_out:,} weights; "
        f"separable: {k}×{k}×{c_in} + {c_in}×{c_out} = {k * k * c_in:,} + {c_in * c_out:,} "
        f"= {k * k * c_in + c_in * c_out:,} weights"
    )
    return {
        "standard": std,
        "separable": sep,
        "param_ratio": std.torch_params / sep.torch_params,
        "macs_ratio": std.mult_adds / sep.mult_adds,
        "text": text,
    }


def parse_numbers(text: str) -> list[float]:
    """Numbers typed as ``'2, 1, 0.1'`` (commas or spaces), at most 20 of them."""
    parts = [t for t in str(text).replace(",", " ").split() if t]
    if not parts:
        raise UserInputError("Type a few numbers separated by commas, e.g. 2, 1, 0.1.")
    if len(parts) > 20:
        raise UserInputError("Use at most 20 numbers.")
    try:
        values = [float(t) for t in parts]
    except ValueError:
        raise UserInputError(f"Could not read {text!r} as numbers separated by commas.") from None
    if any(not math.isfinite(v) or abs(v) > 1e4 for v in values):
        raise UserInputError("Keep every number between -10000 and 10000.")
    return values


def head_probabilities(logits) -> dict:
    """Softmax and sigmoid of the same logits (plain python floats).

    Softmax gives one distribution over classes (sums to 1: exactly one class is right);
    sigmoid gives an independent probability per output (yes/no each; they need not sum to 1).
    """
    values = [float(v) for v in logits]
    if not values:
        raise UserInputError("Give at least one logit.")
    m = max(values)
    exps = [math.exp(v - m) for v in values]
    total = sum(exps)
    return {
        "softmax": [e / total for e in exps],
        "sigmoid": [1.0 / (1.0 + math.exp(-v)) for v in values],
    }
