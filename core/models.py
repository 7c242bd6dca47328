"""Layer specs: a plain description of a network, its summary table, its nn.Module and its code.

A spec is a list of dicts, one per layer, read in order. Channel counts and feature counts
are inferred from the running shape, so a layer names only what it adds. Shapes are
channels-first without the batch axis: ``(C, H, W)`` for images and spectrograms,
``(C, L)`` for waveforms, ``(F,)`` after flattening.

Layer types (aliases in brackets) and their keys:

* ``conv2d`` / ``conv1d`` [``conv``]: ``out_channels`` [``filters``], ``kernel_size`` [``k``],
  ``stride=1``, ``padding=0`` (an int, ``'valid'`` or ``'same'``), ``dilation=1``,
  ``groups=1``, ``bias=True``, ``activation=None``
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

``activation`` on a conv or dense layer (``'relu'``, ``'softmax'``, ...) folds the
activation into the same row, as Keras does; the built module appends it as its own module.

Nothing here imports torch at module level: :func:`summarize` and :func:`to_pytorch_code`
are plain python, :func:`build_model` imports torch when called. Run
``python -m core.models`` to print the summary of the spectrogram classifier.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from core.errors import ShapeError, UserInputError

BYTES_PER_VALUE = 4  # float32

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
}


def canonical_type(name: str) -> str | None:
    """The layer type a spec's ``type`` names (aliases resolved), or None if unknown."""
    return _ALIASES.get(str(name).lower())


_ACTIVATIONS = {
    "relu": ("nn.ReLU()", "ReLU"),
    "leakyrelu": ("nn.LeakyReLU({slope})", "LeakyReLU"),
    "gelu": ("nn.GELU()", "GELU"),
    "tanh": ("nn.Tanh()", "Activation"),
    "sigmoid": ("nn.Sigmoid()", "Activation"),
    "softmax": ("nn.Softmax(dim=1)", "Softmax"),
}

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
    ("relu", 0): ("ReLU", "re_lu"),
    ("leakyrelu", 0): ("LeakyReLU", "leaky_re_lu"),
    ("gelu", 0): ("Activation", "activation"),
    ("tanh", 0): ("Activation", "activation"),
    ("sigmoid", 0): ("Activation", "activation"),
    ("softmax", 0): ("Softmax", "softmax"),
}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# The two blocks, as source: build_model executes exactly this text, and to_pytorch_code
# copies it, so the module a user copies is the module the app builds.
BLOCK_SOURCE = {
    "residual": '''
class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the skip path, then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1, dims=2):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            # the skip path must match the main path's shape: a 1x1 conv and BN
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False),
                norm(out_channels),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)
''',
    "separable": '''
class SeparableBlock(nn.Module):
    """MobileNet block: depthwise kxk conv-BN-ReLU, then pointwise 1x1 conv-BN-ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dims=2):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.depthwise = conv(
            in_channels, in_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, groups=in_channels, bias=False,
        )
        self.bn1 = norm(in_channels)
        self.pointwise = conv(in_channels, out_channels, 1, bias=False)
        self.bn2 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.bn1(self.depthwise(x)))
        return self.relu(self.bn2(self.pointwise(x)))
''',
}


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
    modules: list = field(default_factory=list)  # (name, python expression) pairs

    @property
    def keras_shape(self) -> str:
        """Output shape as Keras prints it: ``(None, H, W, C)``."""
        dims = (*self.output_shape[1:], self.output_shape[0])
        return "(None, " + ", ".join(str(d) for d in dims) + ")"


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
                "Activations (KB)": round(r.activation_bytes / 1024, 1),
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


# --------------------------------------------------------------------------- validation helpers


def _int(value, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserInputError(f"{what} must be a whole number, got {value!r}.")
    if float(value) != int(value) or int(value) < minimum:
        raise UserInputError(f"{what} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def _tuple(value, nd: int, what: str, *, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        if len(value) != nd:
            raise UserInputError(f"{what} needs {nd} numbers, got {len(value)}.")
        return tuple(_int(v, what, minimum=minimum) for v in value)
    return (_int(value, what, minimum=minimum),) * nd


def _get(layer: dict, *keys, default=None):
    for k in keys:
        if k in layer and layer[k] is not None:
            return layer[k]
    return default


def _fmt(t: tuple) -> str:
    return str(t[0]) if len(set(t)) == 1 else str(tuple(t))


def _check_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise UserInputError(
            "The input shape must be a list of sizes such as (1, 128, 128)."
        ) from None
    if not 1 <= len(shape) <= 3:
        raise UserInputError(
            "The input shape must be (features,), (channels, length) or (channels, height, width)."
        )
    return tuple(_int(s, "Every input size") for s in shape)


def _conv_out(n, k, s, p, d) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------- one layer


def _layer_row(layer: dict, shape: tuple, index: int, counters: dict) -> SummaryRow:
    """Summary row of one layer given its input shape (raises UserInputError / ShapeError)."""
    if not isinstance(layer, dict) or "type" not in layer:
        raise UserInputError(f"Layer {index} must be a dict with a 'type'.")
    raw = str(layer["type"]).lower()
    kind = _ALIASES.get(raw)
    if kind is None:
        raise UserInputError(
            f"Layer {index}: unknown type {raw!r}; use one of {', '.join(sorted(_ALIASES))}."
        )
    spatial = shape[1:]
    nd = len(spatial)
    label = f"Layer {index} ({raw})"
    if kind in ("conv", "maxpool", "avgpool", "gap", "residual", "separable") and len(shape) < 2:
        raise ShapeError(
            f"{label} needs a (channels, length) or (channels, height, width) input, "
            f"but it receives {shape}; it cannot come after a flatten or dense layer."
        )
    if raw.endswith(("1d", "2d")) and kind != "batchnorm" and int(raw[-2]) != nd:
        raise ShapeError(f"{label} expects a {raw[-2]}-D input, but it receives {shape}.")

    key_dims = nd if kind in ("conv", "maxpool", "avgpool", "gap") else 0
    keras_type, base = _KERAS[(kind, key_dims)]
    name = layer.get("name")
    if name is None:
        count = counters.get(base, 0)
        counters[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
    elif not _NAME_RE.match(str(name)):
        raise UserInputError(f"{label}: a name may hold only letters, digits and underscores.")
    name = str(name)

    params = non_trainable = buffers = macs = 0
    out = shape
    modules: list[tuple[str, str]] = []
    activation = layer.get("activation")

    if kind == "conv":
        c_in = shape[0]
        c_out = _int(_get(layer, "out_channels", "filters"), f"{label}: out_channels")
        k = _tuple(_get(layer, "kernel_size", "k", default=3), nd, f"{label}: kernel size")
        s = _tuple(_get(layer, "stride", "s", default=1), nd, f"{label}: stride")
        d = _tuple(_get(layer, "dilation", "d", default=1), nd, f"{label}: dilation")
        groups = _int(layer.get("groups", 1), f"{label}: groups")
        bias = bool(layer.get("bias", True))
        pad = _get(layer, "padding", "p", default=0)
        if c_in % groups or c_out % groups:
            raise UserInputError(
                f"{label}: groups={groups} must divide both the {c_in} input and the "
                f"{c_out} output channels."
            )
        if pad == "same":
            if any(v != 1 for v in s):
                raise UserInputError(f"{label}: padding='same' works only with stride 1.")
            out_sp = spatial
            pad_expr = "'same'"
        else:
            p = (0,) * nd if pad == "valid" else _tuple(pad, nd, f"{label}: padding", minimum=0)
            out_sp = tuple(_conv_out(n, *a) for n, *a in zip(spatial, k, s, p, d, strict=True))
            pad_expr = _fmt(p)
        if min(out_sp) < 1:
            raise ShapeError(
                f"{label}: its {'×'.join(map(str, spatial))} input is too small for a "
                f"{_fmt(k)}-wide kernel (padding {pad}, dilation {_fmt(d)}): the output would be empty."
            )
        out = (c_out, *out_sp)
        weights = c_out * (c_in // groups) * math.prod(k)
        params = weights + (c_out if bias else 0)
        macs = math.prod(out) * (c_in // groups) * math.prod(k)
        args = [str(c_in), str(c_out), f"kernel_size={_fmt(k)}"]
        if any(v != 1 for v in s):
            args.append(f"stride={_fmt(s)}")
        if pad_expr != "0":
            args.append(f"padding={pad_expr}")
        if any(v != 1 for v in d):
            args.append(f"dilation={_fmt(d)}")
        if groups != 1:
            args.append(f"groups={groups}")
        if not bias:
            args.append("bias=False")
        modules.append((name, f"nn.Conv{nd}d({', '.join(args)})"))
    elif kind == "batchnorm":
        c = shape[0]
        params, non_trainable, buffers = 2 * c, 2 * c, 2 * c + 1
        cls = "BatchNorm1d" if len(shape) <= 2 else "BatchNorm2d"
        modules.append((name, f"nn.{cls}({c})"))
    elif kind in _ACTIVATIONS:
        if kind == "softmax" and len(shape) != 1:
            raise ShapeError(
                f"{label}: put softmax after the last dense layer, on a (classes,) vector."
            )
        modules.append((name, _activation_expr(kind, layer)))
    elif kind in ("maxpool", "avgpool"):
        k = _tuple(_get(layer, "kernel_size", "k", default=2), nd, f"{label}: kernel size")
        s = _tuple(_get(layer, "stride", "s", default=k), nd, f"{label}: stride")
        p = _tuple(_get(layer, "padding", "p", default=0), nd, f"{label}: padding", minimum=0)
        if any(2 * pv > kv for pv, kv in zip(p, k, strict=True)):
            raise UserInputError(f"{label}: pooling padding can be at most half the window.")
        out_sp = tuple(
            _conv_out(n, kv, sv, pv, 1) for n, kv, sv, pv in zip(spatial, k, s, p, strict=True)
        )
        if min(out_sp) < 1:
            raise ShapeError(
                f"{label}: its {'×'.join(map(str, spatial))} input is smaller than the "
                f"{_fmt(k)}-wide pooling window: the output would be empty."
            )
        out = (shape[0], *out_sp)
        cls = ("MaxPool" if kind == "maxpool" else "AvgPool") + f"{nd}d"
        args = [f"kernel_size={_fmt(k)}"]
        if s != k:
            args.append(f"stride={_fmt(s)}")
        if any(p):
            args.append(f"padding={_fmt(p)}")
        modules.append((name, f"nn.{cls}({', '.join(args)})"))
    elif kind == "adaptive_avgpool":
        if nd == 0:
            raise ShapeError(f"{label} needs a (channels, ...) input, but it receives {shape}.")
        o = _tuple(_get(layer, "output_size", default=1), nd, f"{label}: output size")
        out = (shape[0], *o)
        modules.append((name, f"nn.AdaptiveAvgPool{nd}d({_fmt(o) if nd == 1 else o})"))
    elif kind == "gap":
        out = (shape[0],)
        modules.append((name, f"nn.AdaptiveAvgPool{nd}d(1)"))
        modules.append((f"{name}_flatten", "nn.Flatten()"))
    elif kind == "dropout":
        rate = float(_get(layer, "p", "rate", default=0.5))
        if not 0.0 <= rate < 1.0:
            raise UserInputError(f"{label}: the dropout rate must be between 0 and 1 (not 1).")
        modules.append((name, f"nn.Dropout(p={rate})"))
    elif kind == "flatten":
        out = (math.prod(shape),)
        modules.append((name, "nn.Flatten()"))
    elif kind == "linear":
        if len(shape) != 1:
            raise ShapeError(
                f"{label} receives a {shape} input; add a flatten or global average pooling "
                "layer before it so it gets a vector."
            )
        f_in = shape[0]
        f_out = _int(_get(layer, "out_features", "units"), f"{label}: out_features")
        bias = bool(layer.get("bias", True))
        params = f_in * f_out + (f_out if bias else 0)
        macs = f_in * f_out
        out = (f_out,)
        extra = "" if bias else ", bias=False"
        modules.append((name, f"nn.Linear({f_in}, {f_out}{extra})"))
    elif kind == "residual":
        c_in = shape[0]
        c_out = _int(_get(layer, "out_channels", "filters", default=c_in), f"{label}: out_channels")
        s = _int(_get(layer, "stride", "s", default=1), f"{label}: stride")
        out_sp = tuple(_conv_out(n, 3, s, 1, 1) for n in spatial)
        out = (c_out, *out_sp)
        n_out = math.prod(out_sp)
        kk = 3**nd
        params = c_in * c_out * kk + c_out * c_out * kk + 4 * c_out
        non_trainable, buffers = 4 * c_out, 2 * (2 * c_out + 1)
        macs = n_out * c_out * (c_in * kk + c_out * kk)
        if s != 1 or c_in != c_out:
            params += c_in * c_out + 2 * c_out
            non_trainable += 2 * c_out
            buffers += 2 * c_out + 1
            macs += n_out * c_out * c_in
        modules.append((name, f"BasicBlock({c_in}, {c_out}, stride={s}, dims={nd})"))
    elif kind == "separable":
        c_in = shape[0]
        c_out = _int(_get(layer, "out_channels", "filters"), f"{label}: out_channels")
        k = _int(_get(layer, "kernel_size", "k", default=3), f"{label}: kernel size")
        s = _int(_get(layer, "stride", "s", default=1), f"{label}: stride")
        out_sp = tuple(_conv_out(n, k, s, k // 2, 1) for n in spatial)
        if min(out_sp) < 1:
            raise ShapeError(f"{label}: its input is too small for a {k}-wide kernel.")
        out = (c_out, *out_sp)
        kk = k**nd
        params = c_in * kk + c_in * c_out + 2 * c_in + 2 * c_out
        non_trainable, buffers = 2 * c_in + 2 * c_out, 2 * c_in + 2 * c_out + 2
        macs = math.prod(out_sp) * (c_in * kk + c_in * c_out)
        modules.append(
            (name, f"SeparableBlock({c_in}, {c_out}, kernel_size={k}, stride={s}, dims={nd})")
        )

    if activation is not None and kind in ("conv", "linear"):
        act = str(activation).lower()
        if act not in _ACTIVATIONS:
            raise UserInputError(f"{label}: unknown activation {activation!r}.")
        if act == "softmax" and len(out) != 1:
            raise ShapeError(f"{label}: softmax belongs on the last dense layer.")
        modules.append((f"{name}_{act}", _activation_expr(act, layer)))

    # `params` holds what PyTorch calls parameters (all trainable); Keras adds BatchNorm's
    # moving statistics (`non_trainable`) to its total.
    return SummaryRow(
        name=name,
        type=keras_type,
        output_shape=tuple(int(v) for v in out),
        params=int(params + non_trainable),
        trainable=int(params),
        non_trainable=int(non_trainable),
        torch_params=int(params),
        torch_buffers=int(buffers),
        mult_adds=int(macs),
        activation_bytes=int(math.prod(out) * BYTES_PER_VALUE),
        modules=modules,
    )


def _activation_expr(kind: str, layer: dict) -> str:
    expr = _ACTIVATIONS[kind][0]
    if kind == "leakyrelu":
        expr = expr.format(slope=float(layer.get("negative_slope", 0.01)))
    return expr


def summarize(spec, input_shape) -> Summary:
    """Keras-style summary of a spec: shapes, parameters, cost per layer, and totals.

    Parameters
    ----------
    spec : list of dict
        Layers (see the module docstring).
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
        Naming the first layer whose values or input shape do not work.
    """
    shape = _check_shape(input_shape)
    if not isinstance(spec, list | tuple):
        raise UserInputError("A model spec is a list of layers.")
    rows: list[SummaryRow] = []
    counters: dict = {}
    names: set = set()
    for i, layer in enumerate(spec, start=1):
        row = _layer_row(layer, shape, i, counters)
        if row.name in names:
            raise UserInputError(f"Layer {i}: the name {row.name!r} is used twice.")
        names.add(row.name)
        rows.append(row)
        shape = row.output_shape
    return Summary(input_shape=_check_shape(input_shape), rows=rows)


# --------------------------------------------------------------------------- torch side


def _strip_head(spec: list) -> list:
    """The spec without a final softmax/sigmoid (for training on logits)."""
    spec = [dict(layer) for layer in spec]
    while spec and _ALIASES.get(str(spec[-1].get("type", "")).lower()) in ("softmax", "sigmoid"):
        spec.pop()
    if spec and str(spec[-1].get("activation", "")).lower() in ("softmax", "sigmoid"):
        spec[-1]["activation"] = None
    return spec


def _module_lines(summary: Summary) -> list[tuple[str, str]]:
    return [m for row in summary.rows for m in row.modules]


def _blocks_used(summary: Summary) -> list[str]:
    used = []
    for key, cls in (("residual", "BasicBlock("), ("separable", "SeparableBlock(")):
        if any(expr.startswith(cls) for _, expr in _module_lines(summary)):
            used.append(key)
    return used


def build_model(spec, input_shape, *, logits: bool = False):
    """Build the spec as an ``nn.Sequential`` (imports torch).

    Parameters
    ----------
    logits : bool
        Leave out a final softmax or sigmoid, for training with a loss that takes logits
        (``nn.CrossEntropyLoss``, ``nn.BCEWithLogitsLoss``).

    Returns
    -------
    torch.nn.Sequential
        Modules named as in the summary (activations folded into a row are named
        ``<row>_<activation>``); its parameter count equals ``summarize(...).torch_params``.
    """
    from collections import OrderedDict

    from torch import nn

    if logits:
        spec = _strip_head(spec)
    summary = summarize(spec, input_shape)
    namespace = {"nn": nn}
    for key in _blocks_used(summary):
        exec(BLOCK_SOURCE[key], namespace)  # our own fixed source text
    mods = OrderedDict()
    for name, expr in _module_lines(summary):
        mods[name] = eval(expr, namespace)  # expressions built from validated numbers only
    return nn.Sequential(mods)


def to_pytorch_code(spec, input_shape, *, logits: bool = False) -> str:
    """Runnable PyTorch code that builds the same ``nn.Sequential`` as :func:`build_model`."""
    if logits:
        spec = _strip_head(spec)
    summary = summarize(spec, input_shape)
    lines = ["from collections import OrderedDict", "", "import torch", "from torch import nn", ""]
    for key in _blocks_used(summary):
        lines += [BLOCK_SOURCE[key].strip("\n"), "", ""]
    lines.append("model = nn.Sequential(OrderedDict([")
    for row in summary.rows:
        for name, expr in row.modules:
            lines.append(f"    ({name!r}, {expr}),  # -> {tuple(row.output_shape)}")
    lines.append("]))")
    lines.append("")
    shape = ", ".join(str(v) for v in summary.input_shape)
    axes = {1: "(N, F)", 2: "(N, C, L)", 3: "(N, C, H, W)"}[len(summary.input_shape)]
    lines.append(f"x = torch.randn(1, {shape})  # {axes}")
    lines.append(
        f"print(model(x).shape)  # torch.Size([1, {', '.join(map(str, summary.output_shape))}])"
    )
    lines.append(f"print(sum(p.numel() for p in model.parameters()))  # {summary.torch_params:,}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- presets


def _head(n_classes: int, head: str) -> list[dict]:
    if head == "sigmoid":
        # one yes/no unit for two classes; one independent unit per class otherwise
        units = 1 if n_classes <= 2 else n_classes
        return [{"type": "dense", "units": units, "activation": "sigmoid"}]
    if head == "softmax":
        return [{"type": "dense", "units": n_classes, "activation": "softmax"}]
    return [{"type": "dense", "units": n_classes}]


def _lenet5(n, head):
    return [
        {"type": "conv2d", "filters": 6, "kernel_size": 5, "activation": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2},
        {"type": "conv2d", "filters": 16, "kernel_size": 5, "activation": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2},
        {"type": "conv2d", "filters": 120, "kernel_size": 5, "activation": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 84, "activation": "tanh"},
        *_head(n, head),
    ]


def _alexnet(n, head):
    c = [
        (64, 11, 4, 2, True),
        (192, 5, 1, 2, True),
        (384, 3, 1, 1, False),
        (256, 3, 1, 1, False),
        (256, 3, 1, 1, True),
    ]
    spec = []
    for filters, k, s, p, pool in c:
        spec.append({"type": "conv2d", "filters": filters, "kernel_size": k, "stride": s,
                     "padding": p, "activation": "relu"})  # fmt: skip
        if pool:
            spec.append({"type": "maxpool2d", "kernel_size": 3, "stride": 2})
    return spec + [
        {"type": "adaptive_avgpool", "output_size": 6},
        {"type": "flatten"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        *_head(n, head),
    ]


def _vgg16(n, head):
    spec = []
    for filters, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            spec.append({"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1,
                         "activation": "relu"})  # fmt: skip
        spec.append({"type": "maxpool2d", "kernel_size": 2})
    return spec + [
        {"type": "adaptive_avgpool", "output_size": 7},
        {"type": "flatten"},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _resnet_stem(filters=64, k=7, s=2, pool=True):
    spec = [
        {"type": "conv2d", "filters": filters, "kernel_size": k, "stride": s, "padding": k // 2,
         "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]  # fmt: skip
    if pool:
        spec.append({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1})
    return spec


def _resnet18(n, head):
    spec = _resnet_stem()
    for stage, filters in enumerate((64, 128, 256, 512)):
        spec.append({"type": "residual", "filters": filters, "stride": 1 if stage == 0 else 2})
        spec.append({"type": "residual", "filters": filters})
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _tiny_resnet(n, head):
    spec = _resnet_stem(filters=16, k=3, s=1, pool=False)
    spec += [
        {"type": "residual", "filters": 16},
        {"type": "residual", "filters": 32, "stride": 2},
        {"type": "residual", "filters": 64, "stride": 2},
    ]
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _spectrogram_cnn(n, head):
    spec = []
    for filters in (32, 64, 64):
        spec += [
            {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": "valid",
             "activation": "relu"},
            {"type": "batchnorm"},
            {"type": "maxpool2d", "kernel_size": 2},
        ]  # fmt: skip
    return spec + [
        {"type": "global_avg_pool"},
        {"type": "dense", "units": 128, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _pyramid(n, head):
    spec = []
    for filters, rate in ((32, 0.1), (64, 0.15), (128, 0.2), (256, 0.25), (512, 0.3)):
        for _ in range(2):
            spec += [
                {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1},
                {"type": "batchnorm"},
                {"type": "relu"},
            ]
        spec += [{"type": "maxpool2d", "kernel_size": 2}, {"type": "dropout", "p": rate}]
    return spec + [
        {"type": "global_avg_pool"},
        {"type": "dense", "units": 256, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _m5(n, head):
    spec = [
        {"type": "conv1d", "filters": 32, "kernel_size": 80, "stride": 16},
        {"type": "batchnorm"},
        {"type": "relu"},
        {"type": "maxpool1d", "kernel_size": 4},
    ]
    for filters in (32, 64, 64):
        spec += [
            {"type": "conv1d", "filters": filters, "kernel_size": 3},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "maxpool1d", "kernel_size": 4},
        ]
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _bn_block(filters, *, stride=1, pool=True):
    """conv3x3 (no bias: BatchNorm adds its own shift) - BatchNorm - ReLU [- 2x2 max-pool]."""
    spec = [
        {"type": "conv2d", "filters": filters, "kernel_size": 3, "stride": stride, "padding": 1,
         "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]  # fmt: skip
    return spec + ([{"type": "maxpool2d", "kernel_size": 2}] if pool else [])


def _digits_cnn(n, head):
    # (1, 28, 28) -> (8, 14, 14) -> (16, 7, 7) -> (32, 3, 3) -> 288 -> n; a quarter of the
    # multiply-adds of 16-32-64 filters, and as accurate on the 3,500 training digits
    spec = _bn_block(8) + _bn_block(16) + _bn_block(32)
    return spec + [{"type": "flatten"}, {"type": "dropout", "p": 0.3}, *_head(n, head)]


def _speech_cnn(n, head):
    # (1, 64, 201): a stride-2 first conv halves mels and frames (20 ms steps), then
    # (16, 16, 50) -> (32, 8, 25) -> (64, 4, 12) -> 3072 -> n. Flatten, not global pooling:
    # which sound comes first ("accendi" ... "luce") is what tells the commands apart.
    spec = _bn_block(16, stride=2) + _bn_block(32) + _bn_block(64)
    return spec + [{"type": "flatten"}, {"type": "dropout", "p": 0.3}, *_head(n, head)]


def _timbre_cnn(n, head):
    # (1, 64, 101): the first conv steps 2 frames at a time (20 ms), then
    # (16, 32, 25) -> (32, 16, 12) -> (64, 8, 6) -> global average -> n: a timbre sounds
    # the same at any moment of the note, so averaging over time is fine.
    spec = _bn_block(16, stride=(1, 2)) + _bn_block(32) + _bn_block(64)
    return spec + [{"type": "global_avg_pool"}, {"type": "dropout", "p": 0.2}, *_head(n, head)]


def _resnet_block(n, head):
    return [{"type": "residual", "filters": 64}, {"type": "residual", "filters": 128, "stride": 2}]


def _separable(n, head):
    return [{"type": "separable", "filters": 64, "kernel_size": 3}]


def _standard(n, head):
    return [
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]


PRESETS: dict[str, dict] = {
    "lenet5": {"title": "LeNet-5", "input_shape": (1, 32, 32), "n_classes": 10,
               "build": _lenet5},
    "alexnet": {"title": "AlexNet (as in torchvision)", "input_shape": (3, 224, 224),
                "n_classes": 1000, "build": _alexnet},
    "vgg16": {"title": "VGG-16 (as in torchvision)", "input_shape": (3, 224, 224),
              "n_classes": 1000, "build": _vgg16},
    "resnet18": {"title": "ResNet-18 (as in torchvision)", "input_shape": (3, 224, 224),
                 "n_classes": 1000, "build": _resnet18},
    "resnet_block": {"title": "ResNet basic blocks (identity skip, then 1×1 projection skip)",
                     "input_shape": (64, 56, 56), "n_classes": None, "build": _resnet_block},
    "separable_block": {"title": "MobileNet depthwise-separable block",
                        "input_shape": (32, 112, 112), "n_classes": None, "build": _separable},
    "standard_block": {"title": "Standard 3×3 conv block (same shape as the separable one)",
                       "input_shape": (32, 112, 112), "n_classes": None, "build": _standard},
    "spectrogram_cnn": {"title": "Spectrogram classifier (Keras reference: 66,123 parameters)",
                        "input_shape": (1, 128, 128), "n_classes": 11,
                        "build": _spectrogram_cnn},
    "pyramid_cnn": {"title": "5-block pyramid CNN (224×224×3, 30 instruments)",
                    "input_shape": (3, 224, 224), "n_classes": 30, "build": _pyramid},
    "tiny_resnet": {"title": "Tiny ResNet (trainable on a laptop)", "input_shape": (1, 64, 64),
                    "n_classes": 10, "build": _tiny_resnet},
    "m5": {"title": "M5-style 1-D CNN on raw waveforms", "input_shape": (1, 8000),
           "n_classes": 10, "build": _m5},
    "digits_cnn": {"title": "Fast digit CNN (3 conv-BatchNorm blocks, 8-16-32 filters)",
                   "input_shape": (1, 28, 28), "n_classes": 10, "build": _digits_cnn},
    "speech_cnn": {"title": "Fast command CNN (stride-2 start, 3 BatchNorm blocks, flatten)",
                   "input_shape": (1, 64, 201), "n_classes": 8, "build": _speech_cnn},
    "timbre_cnn": {"title": "Fast timbre CNN (3 BatchNorm blocks, global average pooling)",
                   "input_shape": (1, 64, 101), "n_classes": 6, "build": _timbre_cnn},
}  # fmt: skip


def preset_spec(name: str, *, input_shape=None, n_classes=None, head: str = "softmax") -> list:
    """The spec of a preset, adapted to an input shape and a number of classes.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS`.
    input_shape : tuple of int, optional
        Checked against the spec (the first layers infer their channels from it); defaults
        to the preset's own.
    n_classes : int, optional
        Size of the output layer; defaults to the preset's own.
    head : {'softmax', 'sigmoid', 'none'}
        'softmax' for one class out of many; 'sigmoid' for yes/no decisions (one unit for
        two classes, one independent unit per class otherwise); 'none' for raw logits.

    Raises
    ------
    UserInputError, ShapeError
        For an unknown name or head, or an input too small for the preset.
    """
    if name not in PRESETS:
        raise UserInputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    if head not in ("softmax", "sigmoid", "none"):
        raise UserInputError("The head must be 'softmax', 'sigmoid' or 'none'.")
    entry = PRESETS[name]
    n = entry["n_classes"] if n_classes is None else _int(n_classes, "The number of classes")
    spec = entry["build"](n, head)
    summarize(spec, entry["input_shape"] if input_shape is None else input_shape)  # validates
    return spec


# --------------------------------------------------------------------------- arithmetic for the page


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
    units = _int(units, "The number of units")
    n_layers = _int(n_layers, "The number of dense layers")
    filters = _int(filters, "The number of filters")
    kernel_size = _int(kernel_size, "The kernel size")
    if input_kind == "audio":
        sample_rate = _int(sample_rate, "The sample rate")
        inputs = round(sample_rate * float(seconds))
        if inputs < 1:
            raise UserInputError("The clip must hold at least one sample.")
        in_channels, conv_terms = 1, [1, kernel_size, filters]
        conv_desc = f"Conv1d(1, {filters}, kernel_size={kernel_size})"
    elif input_kind == "image":
        image_size = _int(image_size, "The image size")
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
    c_in = _int(in_channels, "The input channels")
    c_out = _int(out_channels, "The output channels")
    n = _int(size, "The size")
    k = _int(kernel_size, "The kernel size")
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


if __name__ == "__main__":
    s = summarize(preset_spec("spectrogram_cnn"), (1, 128, 128))
    for rec in s.records():
        print(rec["Layer (type)"], rec["Keras output shape"], rec["Param #"])
    print("\n".join(s.totals_text()))
