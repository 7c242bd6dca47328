"""Layer specs: every field checked, output shapes, parameters, mult-adds, memory and caps.

A spec is a list of dicts, one per layer, read in order. Channel counts and feature counts
are inferred from the running shape, so a layer names only what it adds. Shapes are
channels-first without the batch axis: ``(C, H, W)`` for images and spectrograms,
``(C, L)`` for waveforms, ``(F,)`` after flattening.

Layer types (aliases in brackets) and their keys (every layer may also have a ``name``):

* ``conv2d`` / ``conv1d`` [``conv``]: ``out_channels`` [``filters``], ``kernel_size`` [``k``],
  ``stride=1``, ``padding=0`` (an int, ``'valid'`` or ``'same'``), ``dilation=1``,
  ``groups=1``, ``bias=True``, ``padding_mode='zeros'`` (``'reflect'``, ``'replicate'``,
  ``'circular'``), ``activation=None``
* ``batchnorm`` [``batchnorm1d``, ``batchnorm2d``]
* ``relu``, ``leakyrelu`` (``negative_slope=0.01``), ``gelu``, ``tanh``, ``sigmoid``,
  ``softmax``
* ``maxpool`` / ``avgpool`` (also ``maxpool1d`` ...): ``kernel_size``, ``stride=kernel_size``,
  ``padding=0``
* ``adaptive_avgpool``: ``output_size``
* ``global_avg_pool``: ``(C, ...)`` to ``(C,)``
* ``dropout``: ``p=0.5``;  ``flatten``
* ``linear`` [``dense``]: ``out_features`` [``units``], ``bias=True``, ``activation=None``
* ``residual``: ResNet basic block, ``out_channels``, ``stride=1``
* ``separable``: MobileNet depthwise-separable block, ``out_channels``, ``kernel_size=3``,
  ``stride=1``
* ``pretrained``: a pretrained network that ships with the app (core.learn.backbones), first
  layer only: ``backbone`` (``'aisfx'`` for sounds and ``'speech_embedding'`` for speech read
  a waveform ``(1, T)`` at ``sample_rate``; ``'efficientnet_lite0'`` reads a picture
  ``(1 or 3, H, W)`` in [0, 1]), ``mode``
  (``'frozen'``: its weights stay as they came; ``'fine-tuned'``: they learn, at a tenth of
  the rate). It gives one standardised feature vector per example: (512,), (192,) or (1280,).

``activation`` on a conv or dense layer (``'relu'``, ``'softmax'``, ...) folds the
activation into the same row, as Keras does; the built module appends it as its own module.

A spec may come from an upload, so this module is where every field is checked: any JSON
value in any field gives a :class:`~core.errors.UserInputError` (or
:class:`~core.errors.ShapeError`) naming the layer and the field, never another exception.
:func:`check_caps` then bounds what building the model would allocate, from the arithmetic
alone. Each row keeps its checked fields (``kind``, ``fields``), from which
:mod:`core.learn.build` makes the modules and their code.

Plain python, no torch, no numpy. Run ``python -m core.explain.summary`` to print the
summary of the spectrogram classifier.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field

from core.errors import ShapeError, UserInputError

BYTES_PER_VALUE = 4  # float32

# --------------------------------------------------------------------------- caps

MAX_LAYERS = 200
MAX_PARAMS = 50_000_000  # parameters plus buffers: 200 MB of float32
MAX_ACTIVATION_BYTES = 200 * 2**20  # the input and every layer's output, one example
MAX_MULT_ADDS = 20_000_000_000  # one example's forward pass
MAX_INPUT_SIZE = 1_000_000  # any one input dimension
MAX_INPUT_VALUES = 4_000_000  # channels x height x width
MAX_FIELD = 2**31 - 1  # any whole-number field (sizes, strides, ...)

_ALIASES = {
    "conv": "conv",
    "conv1d": "conv",
    "conv2d": "conv",
    "batchnorm": "batchnorm",
    "batchnorm1d": "batchnorm",
    "batchnorm2d": "batchnorm",
    "batch_normalization": "batchnorm",
    "relu": "relu",
    "leakyrelu": "leakyrelu",
    "gelu": "gelu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "softmax": "softmax",
    "maxpool": "maxpool",
    "maxpool1d": "maxpool",
    "maxpool2d": "maxpool",
    "avgpool": "avgpool",
    "avgpool1d": "avgpool",
    "avgpool2d": "avgpool",
    "adaptive_avgpool": "adaptive_avgpool",
    "global_avg_pool": "gap",
    "gap": "gap",
    "dropout": "dropout",
    "flatten": "flatten",
    "linear": "linear",
    "dense": "linear",
    "residual": "residual",
    "separable": "separable",
    "pretrained": "pretrained",
}

ACTIVATIONS = ("relu", "leakyrelu", "gelu", "tanh", "sigmoid", "softmax")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

# the keys each layer type reads (aliases included); any other key is refused
_KEYS = {
    "conv": {"out_channels", "filters", "kernel_size", "k", "stride", "s", "padding", "p",
             "dilation", "d", "groups", "bias", "padding_mode", "activation", "negative_slope"},
    "batchnorm": set(),
    "leakyrelu": {"negative_slope"},
    "maxpool": {"kernel_size", "k", "stride", "s", "padding", "p"},
    "avgpool": {"kernel_size", "k", "stride", "s", "padding", "p"},
    "adaptive_avgpool": {"output_size"},
    "dropout": {"p", "rate"},
    "linear": {"out_features", "units", "bias", "activation", "negative_slope"},
    "residual": {"out_channels", "filters", "stride", "s"},
    "separable": {"out_channels", "filters", "kernel_size", "k", "stride", "s"},
    "pretrained": {"backbone", "mode", "sample_rate"},
}  # fmt: skip

# Keras class name and default layer name per (type, dims)
_KERAS = {
    ("conv", 1): ("Conv1D", "conv1d"),
    ("conv", 2): ("Conv2D", "conv2d"),
    ("batchnorm", 0): ("BatchNormalization", "batch_normalization"),
    ("maxpool", 1): ("MaxPooling1D", "max_pooling1d"),
    ("maxpool", 2): ("MaxPooling2D", "max_pooling2d"),
    ("avgpool", 1): ("AveragePooling1D", "average_pooling1d"),
    ("avgpool", 2): ("AveragePooling2D", "average_pooling2d"),
    ("adaptive_avgpool", 0): ("AdaptiveAvgPool", "adaptive_avg_pool"),
    ("gap", 1): ("GlobalAveragePooling1D", "global_average_pooling1d"),
    ("gap", 2): ("GlobalAveragePooling2D", "global_average_pooling2d"),
    ("dropout", 0): ("Dropout", "dropout"),
    ("flatten", 0): ("Flatten", "flatten"),
    ("linear", 0): ("Dense", "dense"),
    ("residual", 0): ("BasicBlock", "residual_block"),
    ("separable", 0): ("SeparableBlock", "separable_block"),
    ("pretrained", 0): ("Pretrained", "pretrained"),
    ("relu", 0): ("ReLU", "re_lu"),
    ("leakyrelu", 0): ("LeakyReLU", "leaky_re_lu"),
    ("gelu", 0): ("Activation", "activation"),
    ("tanh", 0): ("Activation", "activation"),
    ("sigmoid", 0): ("Activation", "activation"),
    ("softmax", 0): ("Softmax", "softmax"),
}

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

# attributes of torch's nn.Sequential: a module of one of these names cannot be added
# (tests/test_summary_fuzz.py checks the list against the installed torch)
RESERVED_NAMES = frozenset(
    [
        "T_destination",
        "add_module",
        "append",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extend",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "insert",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)


def canonical_type(name) -> str | None:
    """The layer type a spec's ``type`` names (aliases resolved), or None if unknown."""
    return _ALIASES.get(name.lower()) if isinstance(name, str) else None


@dataclass
class SummaryRow:
    """One row of a model summary (counts are per sample, batch axis left out)."""

    name: str
    type: str  # Keras-style class name, e.g. 'Conv2D'
    output_shape: tuple  # channels-first, e.g. (32, 126, 126)
    params: int  # Keras total: trainable + non-trainable
    trainable: int
    non_trainable: int  # BatchNorm moving mean and variance (Keras)
    torch_params: int  # what model.parameters() counts
    torch_buffers: int  # what model.buffers() counts (running stats, num_batches_tracked)
    mult_adds: int  # multiply-accumulates of conv and dense weights
    activation_bytes: int  # float32 output of the layer
    kind: str = ""  # canonical layer type, e.g. 'conv'
    fields: dict = field(default_factory=dict)  # the checked values the module is built from

    @property
    def keras_shape(self) -> str:
        """Output shape as Keras prints it: ``(None, H, W, C)``."""
        dims = (*self.output_shape[1:], self.output_shape[0])
        return "(None, " + ", ".join(str(d) for d in dims) + ")"

    @property
    def module_names(self) -> list[str]:
        """Names of the modules this row builds, in order (the row's own name first)."""
        names = [self.name]
        if self.kind == "gap":
            names.append(f"{self.name}_flatten")
        if self.fields.get("activation"):
            names.append(f"{self.name}_{self.fields['activation']}")
        return names


@dataclass
class Summary:
    """A model summary: rows plus totals. ``records()`` gives a table."""

    input_shape: tuple
    rows: list[SummaryRow]

    def _sum(self, key: str) -> int:
        return sum(getattr(r, key) for r in self.rows)

    @property
    def total_params(self) -> int:
        return self._sum("params")

    @property
    def trainable(self) -> int:
        return self._sum("trainable")

    @property
    def non_trainable(self) -> int:
        return self._sum("non_trainable")

    @property
    def torch_params(self) -> int:
        return self._sum("torch_params")

    @property
    def torch_buffers(self) -> int:
        return self._sum("torch_buffers")

    @property
    def mult_adds(self) -> int:
        return self._sum("mult_adds")

    @property
    def activation_bytes(self) -> int:
        return self._sum("activation_bytes")

    @property
    def output_shape(self) -> tuple:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def records(self) -> list[dict]:
        """Rows as dicts for a table (Keras column names plus PyTorch and cost columns)."""
        return [
            {
                "Layer (type)": f"{r.name} ({r.type})",
                "Output shape (C, H, W)": str(tuple(r.output_shape)),
                "Keras output shape": r.keras_shape,
                "Param #": r.params,
                "Trainable": r.trainable,
                "Non-trainable": r.non_trainable,
                "PyTorch parameters": r.torch_params,
                "PyTorch buffers": r.torch_buffers,
                "Mult-adds": r.mult_adds,
                "Activations (KB)": round(r.activation_bytes / 1024, 2),  # 10 floats: 0.04
            }
            for r in self.rows
        ]

    def totals_text(self) -> list[str]:
        """The three Keras total lines, e.g. ``Total params: 66,123 (258.29 KB)``."""

        def kb(n):
            return f"{n * BYTES_PER_VALUE / 1024:,.2f} KB"

        return [
            f"Total params: {self.total_params:,} ({kb(self.total_params)})",
            f"Trainable params: {self.trainable:,} ({kb(self.trainable)})",
            f"Non-trainable params: {self.non_trainable:,} ({kb(self.non_trainable)})",
        ]


# --------------------------------------------------------------------------- one value


def show(value) -> str:
    """A short, safe rendering of any value for a message (huge ints and lists shortened)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "a number with more than 15 digits"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return f"a dict of {len(value)} entries"
    if isinstance(value, list | tuple):
        if len(value) > 4:
            return f"a list of {len(value)} values"
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value) if isinstance(value, bool | int | float | type(None)) else "that value"


def whole(value, what: str, *, minimum: int = 1, maximum: int = MAX_FIELD) -> int:
    """``value`` as an int in ``[minimum, maximum]``; a float is accepted if it is whole."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy integers too
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserInputError(f"{what} must be a whole number, got {show(value)}.")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise UserInputError(f"{what} must be a whole number, got {show(value)}.")
    if not minimum <= value <= maximum:
        raise UserInputError(
            f"{what} must be a whole number from {minimum:,} to {maximum:,}, got {show(value)}."
        )
    return int(value)


def number(value, what: str, *, low: float, high: float, high_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (or ``[low, high)``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserInputError(f"{what} must be a number, got {show(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserInputError(f"{what} must be a finite number, got {show(value)}.")
    if not low <= value <= high or (high_open and value == high):
        end = f"below {high:g}" if high_open else f"at most {high:g}"
        raise UserInputError(f"{what} must be at least {low:g} and {end}, got {show(value)}.")
    return float(value)


def _flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise UserInputError(f"{what} must be true or false, got {show(value)}.")
    return value


def _one_of(value, options, what: str) -> str:
    if not isinstance(value, str) or value.lower() not in options:
        raise UserInputError(f"{what} must be one of {', '.join(options)}, got {show(value)}.")
    return value.lower()


def _sizes(value, nd: int, what: str, *, minimum: int = 1) -> tuple[int, ...]:
    """One size for every spatial axis, or a list of ``nd`` sizes."""
    if isinstance(value, list | tuple):
        if len(value) != nd:
            raise UserInputError(f"{what} needs {nd} numbers, got {show(value)}.")
        return tuple(whole(v, what, minimum=minimum) for v in value)
    return (whole(value, what, minimum=minimum),) * nd


def _get(layer: dict, *keys, default=None):
    for k in keys:
        if k in layer and layer[k] is not None:
            return layer[k]
    return default


def check_shape(input_shape) -> tuple[int, ...]:
    """An input shape ``(F,)``, ``(C, L)`` or ``(C, H, W)`` as a tuple of positive ints."""
    if not isinstance(input_shape, list | tuple):
        raise UserInputError("The input shape must be a list of sizes such as (1, 128, 128).")
    if not 1 <= len(input_shape) <= 3:
        raise UserInputError(
            "The input shape must be (features,), (channels, length) or (channels, height, width)."
        )
    return tuple(whole(s, "Every input size") for s in input_shape)


def _conv_out(n, k, s, p, d) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _dims(t: tuple) -> str:
    return "×".join(map(str, t))


# --------------------------------------------------------------------------- one layer
#
# Each _<kind> function reads the checked fields of one layer kind and returns what the
# row needs: (output shape, fields, torch params, non-trainable, buffers, mult-adds).


@dataclass
class _Ctx:
    layer: dict
    shape: tuple  # the input shape of this layer
    label: str  # "Layer 3 (conv2d)"

    @property
    def nd(self) -> int:
        return len(self.shape) - 1

    @property
    def spatial(self) -> tuple:
        return self.shape[1:]


def _conv(c: _Ctx):
    layer, nd, label, spatial = c.layer, c.nd, c.label, c.spatial
    c_in = c.shape[0]
    c_out = whole(_get(layer, "out_channels", "filters"), f"{label}: out_channels")
    k = _sizes(_get(layer, "kernel_size", "k", default=3), nd, f"{label}: kernel size")
    s = _sizes(_get(layer, "stride", "s", default=1), nd, f"{label}: stride")
    d = _sizes(_get(layer, "dilation", "d", default=1), nd, f"{label}: dilation")
    groups = whole(_get(layer, "groups", default=1), f"{label}: groups")
    bias = _flag(_get(layer, "bias", default=True), f"{label}: bias")
    mode = _one_of(
        _get(layer, "padding_mode", default="zeros"), PADDING_MODES, f"{label}: padding_mode"
    )
    pad = _get(layer, "padding", "p", default=0)
    if c_in % groups or c_out % groups:
        raise UserInputError(
            f"{label}: groups={groups} must divide both the {c_in} input and the "
            f"{c_out} output channels."
        )
    if isinstance(pad, str) and pad.lower() == "same":
        if any(v != 1 for v in s):
            raise UserInputError(f"{label}: padding='same' works only with stride 1.")
        if mode != "zeros":
            raise UserInputError(f"{label}: padding='same' works only with zero padding here.")
        p, out_sp = "same", spatial
    else:
        valid = isinstance(pad, str) and pad.lower() == "valid"
        p = (0,) * nd if valid else _sizes(pad, nd, f"{label}: padding", minimum=0)
        out_sp = tuple(_conv_out(n, *a) for n, *a in zip(spatial, k, s, p, d, strict=True))
        if mode == "reflect" and any(pv >= n for pv, n in zip(p, spatial, strict=True)):
            raise ShapeError(f"{label}: reflect padding must be smaller than the input size.")
        if mode == "circular" and any(pv > n for pv, n in zip(p, spatial, strict=True)):
            raise ShapeError(f"{label}: circular padding can be at most the input size.")
    if min(out_sp) < 1:
        raise ShapeError(
            f"{label}: its {_dims(spatial)} input is too small for a "
            f"{_fmt(k)}-wide kernel (padding {_fmt(p) if p != 'same' else p}, dilation "
            f"{_fmt(d)}): the output would be empty."
        )
    out = (c_out, *out_sp)
    taps = (c_in // groups) * math.prod(k)
    params = c_out * taps + (c_out if bias else 0)
    fields = {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "stride": s,
              "padding": p, "dilation": d, "groups": groups, "bias": bias,
              "padding_mode": mode, "dims": nd}  # fmt: skip
    return out, fields, params, 0, 0, math.prod(out) * taps


def _fmt(t) -> str:
    return str(t[0]) if len(set(t)) == 1 else str(tuple(t))


def _batchnorm(c: _Ctx):
    ch = c.shape[0]
    return c.shape, {"num_features": ch, "dims": max(c.nd, 1)}, 2 * ch, 2 * ch, 2 * ch + 1, 0


def _activation(c: _Ctx):
    kind = canonical_type(c.layer["type"])
    if kind == "softmax" and len(c.shape) != 1:
        raise ShapeError(
            f"{c.label}: put softmax after the last dense layer, on a (classes,) vector."
        )
    fields = {}
    if kind == "leakyrelu":
        fields["negative_slope"] = _slope(c)
    return c.shape, fields, 0, 0, 0, 0


def _slope(c: _Ctx) -> float:
    return number(_get(c.layer, "negative_slope", default=0.01), f"{c.label}: negative_slope",
                  low=-1000.0, high=1000.0)  # fmt: skip


def _pool(c: _Ctx):
    layer, nd, label, spatial = c.layer, c.nd, c.label, c.spatial
    k = _sizes(_get(layer, "kernel_size", "k", default=2), nd, f"{label}: kernel size")
    s = _sizes(_get(layer, "stride", "s", default=k), nd, f"{label}: stride")
    p = _sizes(_get(layer, "padding", "p", default=0), nd, f"{label}: padding", minimum=0)
    if any(2 * pv > kv for pv, kv in zip(p, k, strict=True)):
        raise UserInputError(f"{label}: pooling padding can be at most half the window.")
    out_sp = tuple(
        _conv_out(n, kv, sv, pv, 1) for n, kv, sv, pv in zip(spatial, k, s, p, strict=True)
    )
    if min(out_sp) < 1:
        raise ShapeError(
            f"{label}: its {_dims(spatial)} input is smaller than the "
            f"{_fmt(k)}-wide pooling window: the output would be empty."
        )
    fields = {"kernel_size": k, "stride": s, "padding": p, "dims": nd}
    return (c.shape[0], *out_sp), fields, 0, 0, 0, 0


def _adaptive(c: _Ctx):
    o = _sizes(_get(c.layer, "output_size", default=1), c.nd, f"{c.label}: output size")
    return (c.shape[0], *o), {"output_size": o, "dims": c.nd}, 0, 0, 0, 0


def _gap(c: _Ctx):
    return (c.shape[0],), {"dims": c.nd}, 0, 0, 0, 0


def _dropout(c: _Ctx):
    what = f"{c.label}: the dropout rate"
    rate = number(_get(c.layer, "p", "rate", default=0.5), what, low=0.0, high=1.0, high_open=True)
    return c.shape, {"p": rate}, 0, 0, 0, 0


def _flatten(c: _Ctx):
    return (math.prod(c.shape),), {}, 0, 0, 0, 0


def _linear(c: _Ctx):
    if len(c.shape) != 1:
        raise ShapeError(
            f"{c.label} receives a {c.shape} input; add a flatten or global average pooling "
            "layer before it so it gets a vector."
        )
    f_in = c.shape[0]
    f_out = whole(_get(c.layer, "out_features", "units"), f"{c.label}: out_features")
    bias = _flag(_get(c.layer, "bias", default=True), f"{c.label}: bias")
    fields = {"in_features": f_in, "out_features": f_out, "bias": bias}
    return (f_out,), fields, f_in * f_out + (f_out if bias else 0), 0, 0, f_in * f_out


def _residual(c: _Ctx):
    c_in, nd = c.shape[0], c.nd
    c_out = whole(
        _get(c.layer, "out_channels", "filters", default=c_in), f"{c.label}: out_channels"
    )
    s = whole(_get(c.layer, "stride", "s", default=1), f"{c.label}: stride")
    out_sp = tuple(_conv_out(n, 3, s, 1, 1) for n in c.spatial)
    n_out, kk = math.prod(out_sp), 3**nd
    params = c_in * c_out * kk + c_out * c_out * kk + 4 * c_out
    non_trainable, buffers = 4 * c_out, 2 * (2 * c_out + 1)
    macs = n_out * c_out * (c_in * kk + c_out * kk)
    if s != 1 or c_in != c_out:  # the 1x1 projection on the skip path
        params += c_in * c_out + 2 * c_out
        non_trainable += 2 * c_out
        buffers += 2 * c_out + 1
        macs += n_out * c_out * c_in
    fields = {"in_channels": c_in, "out_channels": c_out, "stride": s, "dims": nd}
    return (c_out, *out_sp), fields, params, non_trainable, buffers, macs


def _separable(c: _Ctx):
    c_in, nd = c.shape[0], c.nd
    c_out = whole(_get(c.layer, "out_channels", "filters"), f"{c.label}: out_channels")
    k = whole(_get(c.layer, "kernel_size", "k", default=3), f"{c.label}: kernel size")
    s = whole(_get(c.layer, "stride", "s", default=1), f"{c.label}: stride")
    out_sp = tuple(_conv_out(n, k, s, k // 2, 1) for n in c.spatial)
    if min(out_sp) < 1:
        raise ShapeError(f"{c.label}: its input is too small for a {k}-wide kernel.")
    kk = k**nd
    params = c_in * kk + c_in * c_out + 2 * c_in + 2 * c_out
    non_trainable, buffers = 2 * c_in + 2 * c_out, 2 * c_in + 2 * c_out + 2
    macs = math.prod(out_sp) * (c_in * kk + c_in * c_out)
    fields = {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "stride": s,
              "dims": nd}  # fmt: skip
    return (c_out, *out_sp), fields, params, non_trainable, buffers, macs


# ---------------------------------------------------------------- pretrained backbones
# The counts of core.learn.backbones' networks (tests compare them with the built modules):
# parameters, batch-norm statistics (Keras' non-trainable), buffers, feature size.
PRETRAINED_MODES = ("frozen", "fine-tuned")
BACKBONE_COUNTS = {
    "aisfx": (4_686_144, 3_840, 3_848 + 2_048 + 96 * 1_025, 512),  # + window, filterbank
    "efficientnet_lite0": (3_371_008, 42_016, 42_065, 1_280),
    # + Hann window, DFT matrix and mel filterbank
    "speech_embedding": (328_152, 48, 49 + 400 + 2 * 257 * 512 + 257 * 32, 192),
}
AUDIO_BACKBONES = ("aisfx", "speech_embedding")
#: The sample rates a pretrained audio layer reads (resampled to its own with small tables).
AUDIO_RATES = (8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000)
AISFX_RATE, AISFX_HOP, AISFX_MELS = 44_100, 1_024, 96
EFFICIENTNET_SIZE = 96  # pictures are resized to this (224 as trained; 96 runs on a CPU)
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # fmt: skip


# Google's speech_embedding: 400-sample frames every 160 at 16 kHz, 32 mels, 0.25 s of
# silence added each side; (name, channels in, out, kernel (time, frequency), pooling after)
SPEECH_RATE, SPEECH_FRAME, SPEECH_HOP, SPEECH_MELS, SPEECH_PAD = 16_000, 400, 160, 32, 4_000
SPEECH_CONVS = (
    ("Conv", 24, 24, (1, 3), None), ("Conv_1", 24, 24, (3, 1), (2, 2)),
    ("Conv_2", 24, 48, (1, 3), None), ("Conv_3", 48, 48, (3, 1), None),
    ("Conv_4", 48, 48, (1, 3), None), ("Conv_5", 48, 48, (3, 1), (1, 2)),
    ("Conv_6", 48, 72, (1, 3), None), ("Conv_7", 72, 72, (3, 1), None),
    ("Conv_8", 72, 72, (1, 3), None), ("Conv_9", 72, 72, (3, 1), (2, 2)),
    ("Conv_10", 72, 96, (1, 3), None), ("Conv_11", 96, 96, (3, 1), None),
    ("Conv_12", 96, 96, (1, 3), None), ("Conv_13", 96, 96, (3, 1), (1, 2)),
    ("Conv_14", 96, 96, (1, 3), None), ("Conv_15", 96, 96, (3, 1), None),
    ("Conv_16", 96, 96, (1, 3), None), ("Conv_17", 96, 96, (3, 1), (2, 2)),
)  # fmt: skip


def speech_frames(n_samples: int, sample_rate: int) -> int:
    """Log-mel frames the speech network makes of a clip (resampled to 16 kHz, padded)."""
    resampled = -(-n_samples * SPEECH_RATE // sample_rate)
    return 1 + (resampled + 2 * SPEECH_PAD - SPEECH_FRAME) // SPEECH_HOP


def _speech_cost(frames: int) -> tuple[int, int]:
    """(mult-adds, bytes of the conv outputs) of the speech network's 20 convs."""
    t, f = frames - 2, SPEECH_MELS
    macs, values = t * f * 24 * 9, t * f * 24
    for _, c_in, c_out, (kt, kf), pool in SPEECH_CONVS:
        t -= kt - 1
        macs, values = macs + t * f * c_out * c_in * kt * kf, values + t * f * c_out
        if pool is not None:
            t, f = t // pool[0], f // pool[1]
    t -= 2  # the last 3x1 conv
    return macs + t * f * 96 * 96 * 3, (values + t * f * 96) * BYTES_PER_VALUE


def aisfx_frames(n_samples: int, sample_rate: int) -> int:
    """Frames of aiSFX's log-mel for a clip of ``n_samples`` at ``sample_rate``."""
    resampled = -(-n_samples * AISFX_RATE // sample_rate)  # torchaudio's resampled length
    return 1 + resampled // AISFX_HOP


def _aisfx_cost(frames: int) -> tuple[int, int]:
    """(mult-adds, bytes of the conv outputs) of aiSFX's four blocks on ``frames`` x 96."""
    macs = values = 0
    t, f, c_in = frames, AISFX_MELS, 1
    for block, c_out in enumerate((64, 128, 256, 512)):
        macs += t * f * 9 * (c_in * c_out + c_out * c_out)
        values += 2 * t * f * c_out
        if block < 3:
            t, f = t // 2, f // 2
        c_in = c_out
    return macs, values * BYTES_PER_VALUE


def _lite0_cost(size: int) -> tuple[int, int]:
    """(mult-adds, bytes of the conv outputs) of EfficientNet-Lite0 on size x size."""
    n = -(-size // 2)
    macs, values = n * n * 32 * 3 * 9, n * n * 32
    c_in = 32
    for repeats, k, stride, expand, c_out in LITE0_STAGES:
        for r in range(repeats):
            mid = c_in * expand
            if expand != 1:
                macs, values = macs + n * n * c_in * mid, values + n * n * mid
            n = -(-n // (stride if r == 0 else 1))
            macs += n * n * mid * (k * k + c_out)
            values += n * n * (mid + c_out)
            c_in = c_out
    return macs + n * n * 320 * 1280, (values + n * n * 1280) * BYTES_PER_VALUE


def _pretrained(c: _Ctx):
    name = _one_of(_get(c.layer, "backbone"), tuple(BACKBONE_COUNTS), f"{c.label}: backbone")
    mode = _one_of(_get(c.layer, "mode", default="frozen"), PRETRAINED_MODES, f"{c.label}: mode")
    params, stats, buffers, size = BACKBONE_COUNTS[name]
    fields = {"backbone": name, "mode": mode}
    if name in AUDIO_BACKBONES:
        if "sample_rate" not in c.layer:
            raise UserInputError(f"{c.label}: give the sample_rate of the waveforms it reads.")
        rate = c.layer["sample_rate"]
        if isinstance(rate, bool) or rate not in AUDIO_RATES:
            # resampling from an odd rate (191,999 Hz) builds a table of billions of values
            raise UserInputError(
                f"{c.label}: sample_rate must be one of "
                f"{', '.join(f'{r:,}' for r in AUDIO_RATES)} Hz, got {show(rate)}."
            )
        rate = int(rate)
        if len(c.shape) != 2 or c.shape[0] != 1:
            raise ShapeError(f"{c.label} reads a mono waveform (1, samples); it gets {c.shape}.")
        if name == "aisfx":
            frames, least, seconds = aisfx_frames(c.shape[1], rate), 8, 0.2
        else:
            frames, least, seconds = speech_frames(c.shape[1], rate), 76, 0.3
        if frames < least:
            raise ShapeError(f"{c.label} needs clips of at least {seconds} s; these are shorter.")
        macs, memory = _aisfx_cost(frames) if name == "aisfx" else _speech_cost(frames)
        fields["sample_rate"] = rate
    else:
        if "sample_rate" in c.layer:
            raise UserInputError(f"{c.label}: a picture backbone takes no sample_rate.")
        if len(c.shape) != 3 or c.shape[0] not in (1, 3):
            raise ShapeError(
                f"{c.label} reads pictures (1 or 3, height, width); it gets {c.shape}."
            )
        macs, memory = _lite0_cost(EFFICIENTNET_SIZE)
    fields["memory"] = memory
    # its standardisation of the features: a mean and a spread per feature (buffers)
    return (size,), fields, params, stats, buffers + 2 * size, macs


_ROWS = {
    "conv": _conv,
    "batchnorm": _batchnorm,
    **dict.fromkeys(ACTIVATIONS, _activation),
    "maxpool": _pool,
    "avgpool": _pool,
    "adaptive_avgpool": _adaptive,
    "gap": _gap,
    "dropout": _dropout,
    "flatten": _flatten,
    "linear": _linear,
    "residual": _residual,
    "separable": _separable,
    "pretrained": _pretrained,
}

_NEEDS_SPATIAL = ("conv", "maxpool", "avgpool", "adaptive_avgpool", "gap", "residual", "separable")


def _kind(layer, index: int) -> tuple[str, str]:
    """(raw type, canonical type) of a layer, or a sentence saying why it has none."""
    if not isinstance(layer, dict) or "type" not in layer:
        raise UserInputError(f"Layer {index} must be a dict with a 'type'.")
    raw = layer["type"]
    kind = canonical_type(raw)
    if kind is None:
        raise UserInputError(
            f"Layer {index}: unknown type {show(raw)}; use one of {', '.join(sorted(_ALIASES))}."
        )
    return raw.lower(), kind


def _check_keys(layer: dict, kind: str, label: str) -> None:
    allowed = _KEYS.get(kind, set()) | {"type", "name"}
    unknown = [k for k in layer if k not in allowed]
    if unknown:
        known = ", ".join(sorted(allowed - {"type"}))
        raise UserInputError(
            f"{label}: unknown setting {show(unknown[0])}; this layer takes {known}."
        )


def _name(layer: dict, kind: str, nd: int, label: str, counters: dict) -> tuple[str, str]:
    """(Keras type, layer name): the name given, or Keras' default ``conv2d_1`` style."""
    key_dims = nd if kind in ("conv", "maxpool", "avgpool", "gap") else 0
    keras_type, base = _KERAS[(kind, key_dims)]
    name = layer.get("name")
    if name is None:
        count = counters.get(base, 0)
        counters[base] = count + 1
        return keras_type, base if count == 0 else f"{base}_{count}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UserInputError(
            f"{label}: a name starts with a letter and holds only letters, digits and "
            f"underscores (at most 64), got {show(name)}."
        )
    if name in RESERVED_NAMES:
        raise UserInputError(f"{label}: {name!r} is a word PyTorch reserves; pick another name.")
    return keras_type, name


def _folded_activation(c: _Ctx, kind: str, out: tuple, fields: dict) -> None:
    activation = c.layer.get("activation")
    if kind not in ("conv", "linear"):
        return
    fields["activation"] = None
    if activation is None:
        return
    act = _one_of(activation, ACTIVATIONS, f"{c.label}: activation")
    if act == "softmax" and len(out) != 1:
        raise ShapeError(f"{c.label}: softmax belongs on the last dense layer.")
    fields["activation"] = act
    if act == "leakyrelu":
        fields["negative_slope"] = _slope(c)


def _layer_row(layer, shape: tuple, index: int, counters: dict) -> SummaryRow:
    """Summary row of one layer given its input shape (raises UserInputError / ShapeError)."""
    raw, kind = _kind(layer, index)
    c = _Ctx(layer, shape, f"Layer {index} ({raw})")
    _check_keys(layer, kind, c.label)
    if kind in _NEEDS_SPATIAL and len(shape) < 2:
        raise ShapeError(
            f"{c.label} needs a (channels, length) or (channels, height, width) input, "
            f"but it receives {shape}; it cannot come after a flatten or dense layer."
        )
    if raw.endswith(("1d", "2d")) and kind != "batchnorm" and int(raw[-2]) != c.nd:
        raise ShapeError(f"{c.label} expects a {raw[-2]}-D input, but it receives {shape}.")
    if kind == "pretrained" and index != 1:
        raise ShapeError(f"{c.label}: a pretrained network reads the input, so it comes first.")
    keras_type, name = _name(layer, kind, c.nd, c.label, counters)
    out, fields, params, non_trainable, buffers, macs = _ROWS[kind](c)
    _folded_activation(c, kind, out, fields)
    trainable, memory = params, math.prod(out) * BYTES_PER_VALUE
    if kind == "pretrained":
        memory += fields.pop("memory")  # its inner layers' outputs
        if fields["mode"] == "frozen":  # Keras counts frozen weights as non-trainable
            trainable, non_trainable = 0, non_trainable + params
    # `params` holds what PyTorch calls parameters (all trainable); Keras adds BatchNorm's
    # moving statistics (`non_trainable`) to its total.
    return SummaryRow(
        name=name,
        type=keras_type,
        output_shape=tuple(int(v) for v in out),
        params=int(trainable + non_trainable),
        trainable=int(trainable),
        non_trainable=int(non_trainable),
        torch_params=int(params),
        torch_buffers=int(buffers),
        mult_adds=int(macs),
        activation_bytes=int(memory),
        kind=kind,
        fields=fields,
    )


def summarize(spec, input_shape) -> Summary:
    """Keras-style summary of a spec: shapes, parameters, cost per layer, and totals.

    Parameters
    ----------
    spec : list of dict
        Layers (see the module docstring), at most :data:`MAX_LAYERS`.
    input_shape : tuple of int
        ``(C, H, W)``, ``(C, L)`` or ``(F,)``, without the batch axis.

    Returns
    -------
    Summary
        ``params``/``trainable``/``non_trainable`` count as Keras does (BatchNorm's moving
        mean and variance are non-trainable parameters); ``torch_params``/``torch_buffers``
        count as PyTorch does (those statistics are buffers, plus a ``num_batches_tracked``
        counter per BatchNorm). Mult-adds count the multiply-accumulates of convolution and
        dense weights; element-wise layers (BatchNorm, activations, pooling) count 0.

    Raises
    ------
    UserInputError, ShapeError
        Naming the first layer whose values or input shape do not work; nothing else,
        whatever the spec holds.
    """
    shape = check_shape(input_shape)
    if not isinstance(spec, list | tuple):
        raise UserInputError("A model spec is a list of layers.")
    if len(spec) > MAX_LAYERS:
        raise UserInputError(
            f"The model has {len(spec):,} layers; this app builds at most {MAX_LAYERS}."
        )
    rows: list[SummaryRow] = []
    counters: dict = {}
    names: set = set()
    for i, layer in enumerate(spec, start=1):
        row = _layer_row(layer, shape, i, counters)
        for name in row.module_names:
            if name in names:
                raise UserInputError(f"Layer {i}: the name {name!r} is used twice.")
            names.add(name)
        rows.append(row)
        shape = row.output_shape
    return Summary(input_shape=check_shape(input_shape), rows=rows)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_caps(summary: Summary) -> None:
    """Refuse a model too large to build here, from its summary alone (nothing allocated).

    The caps (:data:`MAX_LAYERS`, :data:`MAX_PARAMS`, :data:`MAX_ACTIVATION_BYTES`,
    :data:`MAX_MULT_ADDS`, :data:`MAX_INPUT_SIZE`, :data:`MAX_INPUT_VALUES`) hold for every
    model the app builds: the model builder's and an uploaded one alike.

    Raises
    ------
    UserInputError
        Saying which cap the model passes, by how much.
    """
    shape = tuple(summary.input_shape)
    if max(shape) > MAX_INPUT_SIZE:
        raise UserInputError(
            f"The input {shape} has a size above {MAX_INPUT_SIZE:,}; this app reads smaller inputs."
        )
    values = math.prod(shape)
    if values > MAX_INPUT_VALUES:
        raise UserInputError(
            f"The input {shape} holds {values:,} values; this app reads at most "
            f"{MAX_INPUT_VALUES:,} per example."
        )
    if len(summary.rows) > MAX_LAYERS:
        raise UserInputError(
            f"The model has {len(summary.rows):,} layers; this app builds at most {MAX_LAYERS}."
        )
    weights = summary.torch_params + summary.torch_buffers
    if weights > MAX_PARAMS:
        raise UserInputError(
            f"The model has {weights:,} parameters and buffers; this app builds at most "
            f"{MAX_PARAMS:,} ({_mb(MAX_PARAMS * BYTES_PER_VALUE)} of float32). Use fewer "
            "filters or units, or pool before the dense layers."
        )
    memory = summary.activation_bytes + values * BYTES_PER_VALUE
    if memory > MAX_ACTIVATION_BYTES:
        raise UserInputError(
            f"One example's activations would take {_mb(memory)}; this app allows at most "
            f"{_mb(MAX_ACTIVATION_BYTES)}. Use fewer filters, a stride or pooling earlier."
        )
    if summary.mult_adds > MAX_MULT_ADDS:
        raise UserInputError(
            f"One example would cost {summary.mult_adds:,} multiply-adds; this app allows at "
            f"most {MAX_MULT_ADDS:,}."
        )


if __name__ == "__main__":
    from core.learn.zoo import preset_spec

    s = summarize(preset_spec("spectrogram_cnn"), (1, 128, 128))
    for rec in s.records():
        print(rec["Layer (type)"], rec["Keras output shape"], rec["Param #"])
    print("\n".join(s.totals_text()))
