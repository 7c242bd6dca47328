"""Editing a model as a list of layers: the pure functions behind the Model builder page.

An *editor layer* is a flat dict ``{"type": <editor type>, <field>: <value>, ...}`` whose
fields are listed in :data:`LAYER_TYPES` (one widget each on the page). Other keys (the page
keeps a row id under ``"uid"``) are carried along untouched by every edit and ignored when the
list becomes a :mod:`core.explain.summary` spec.

Edits return a new list and never change their argument::

    layers = load_preset("spectrogram_cnn", input_shape=(1, 64, 101), n_classes=6)[0]
    layers = add_layer(layers, "dropout", index=3)
    layers = set_param(layers, 3, "p", 0.2)
    result = check(layers, (1, 64, 101))  # rows that work, and the first layer that fails
    spec = to_spec(layers)  # core.explain.summary format: build_model(spec, (1, 64, 101))

Nothing here imports torch: shapes and parameter counts come from ``core.explain.summary.summarize``.
"""

from __future__ import annotations

import csv
import inspect
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from core.data import shipped as data
from core.errors import ShapeError, UserInputError
from core.explain import summary as layer_summary
from core.learn import zoo

# --------------------------------------------------------------------------- layer types


@dataclass(frozen=True)
class Field:
    """One editable value of a layer: its widget kind, default and allowed range."""

    name: str
    label: str
    kind: str  # "int", "float", "bool" or "choice"
    default: object
    minimum: float | None = None
    maximum: float | None = None
    options: tuple = ()
    help: str = ""


ACTIVATION_CHOICES = ("none", "relu", "leakyrelu", "gelu", "tanh", "sigmoid")


def _conv_fields(out: int) -> tuple[Field, ...]:
    return (
        Field("out_channels", "filters", "int", out, 1, 1024, help="Output channels (filters)."),
        Field("kernel_size", "kernel", "int", 3, 1, 255, help="Kernel size k."),
        Field("stride", "stride", "int", 1, 1, 64, help="Step between windows."),
        Field("padding", "padding", "int", 1, 0, 128, help="Zeros added on every side."),
        Field("dilation", "dilation", "int", 1, 1, 32, help="Gap between kernel taps."),
        Field("activation", "activation", "choice", "none", options=ACTIVATION_CHOICES,
              help="An activation folded into this row (or add it as its own row)."),
        Field("bias", "bias", "bool", True, help="Add a learned bias per filter."),
    )  # fmt: skip


_POOL_FIELDS = (
    Field("kernel_size", "window", "int", 2, 1, 64, help="Pooling window size."),
    Field("stride", "stride", "int", 2, 1, 64, help="Step between windows."),
    Field("padding", "padding", "int", 0, 0, 32, help="At most half the window."),
)

LAYER_TYPES: dict[str, dict] = {
    "conv2d": {"label": "Conv2d", "fields": _conv_fields(16)},
    "conv1d": {"label": "Conv1d", "fields": _conv_fields(16)},
    "batchnorm": {"label": "BatchNorm", "fields": ()},
    "relu": {"label": "ReLU", "fields": ()},
    "leakyrelu": {"label": "LeakyReLU", "fields": (
        Field("negative_slope", "slope", "float", 0.01, 0.0, 1.0,
              help="Slope for negative inputs."),)},
    "gelu": {"label": "GELU", "fields": ()},
    "tanh": {"label": "Tanh", "fields": ()},
    "maxpool": {"label": "MaxPool", "fields": _POOL_FIELDS},
    "avgpool": {"label": "AvgPool", "fields": _POOL_FIELDS},
    "dropout": {"label": "Dropout", "fields": (
        Field("p", "rate", "float", 0.25, 0.0, 0.95, help="Share of units zeroed in training."),)},
    "flatten": {"label": "Flatten", "fields": ()},
    "global_avg_pool": {"label": "Global avg pool", "fields": ()},
    "linear": {"label": "Linear", "fields": (
        Field("out_features", "units", "int", 64, 1, 8192, help="Output features."),
        Field("activation", "activation", "choice", "none", options=ACTIVATION_CHOICES,
              help="An activation folded into this row; leave the last layer at none."),
        Field("bias", "bias", "bool", True, help="Add a learned bias per unit."),
    )},
    "residual": {"label": "Residual block", "fields": (
        Field("out_channels", "filters", "int", 32, 1, 1024, help="Output channels."),
        Field("stride", "stride", "int", 1, 1, 8,
              help="Stride of the first 3×3 conv (and of the 1×1 skip conv)."),
    )},
}  # fmt: skip

# what each editor type is called in a layer spec
_SPEC_TYPE = {"global_avg_pool": "global_avg_pool"}

# the summary's canonical layer names that the editor calls otherwise
_EDITOR_NAME = {"conv": "conv2d", "gap": "global_avg_pool"}


def _editor_type(spec_type: str) -> str | None:
    """The editor type of a spec layer type (the summary's aliases resolved), or None."""
    if spec_type == "conv1d":
        return "conv1d"
    canonical = layer_summary.canonical_type(spec_type)
    kind = _EDITOR_NAME.get(canonical, canonical)
    return kind if kind in LAYER_TYPES else None


_KEY_ALIASES = {"filters": "out_channels", "units": "out_features", "k": "kernel_size",
                "s": "stride", "d": "dilation", "rate": "p"}  # fmt: skip


def type_label(kind: str) -> str:
    """The name the page shows for an editor type, e.g. ``'Conv2d'``."""
    return LAYER_TYPES[kind]["label"] if kind in LAYER_TYPES else str(kind)


def new_layer(kind: str) -> dict:
    """A layer of ``kind`` (a key of :data:`LAYER_TYPES`) with every field at its default."""
    if kind not in LAYER_TYPES:
        raise UserInputError(
            f"Unknown layer type {kind!r}; choose one of {', '.join(LAYER_TYPES)}."
        )
    return {"type": kind, **{f.name: f.default for f in LAYER_TYPES[kind]["fields"]}}


def _label(layer: dict, index: int) -> str:
    return f"Layer {index} ({type_label(layer.get('type'))})"


def validate_value(kind: str, name: str, value, *, where: str = "This layer"):
    """Check one field value; return it in its canonical python type.

    Raises
    ------
    UserInputError
        If ``name`` is not a field of ``kind`` or the value is out of range.
    """
    fields = {f.name: f for f in LAYER_TYPES.get(kind, {"fields": ()})["fields"]}
    if name not in fields:
        raise UserInputError(f"{where}: a {type_label(kind)} layer has no {name!r} setting.")
    f = fields[name]
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise UserInputError(f"{where}: {f.label} must be on or off, got {value!r}.")
        return value
    if f.kind == "choice":
        if value not in f.options:
            raise UserInputError(
                f"{where}: {f.label} must be one of {', '.join(f.options)}, got {value!r}."
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserInputError(f"{where}: {f.label} must be a number, got {value!r}.")
    if f.kind == "int":
        if float(value) != int(value):
            raise UserInputError(f"{where}: {f.label} must be a whole number, got {value!r}.")
        value = int(value)
    else:
        value = float(value)
    if not f.minimum <= value <= f.maximum:
        raise UserInputError(
            f"{where}: {f.label} must be between {f.minimum:g} and {f.maximum:g}, got {value:g}."
        )
    return value


def validate_layer(layer: dict, index: int = 1) -> dict:
    """Check a layer's type and every field; return a clean copy (missing fields at default).

    ``index`` is the 1-based row number used in the message.
    """
    if not isinstance(layer, dict) or layer.get("type") not in LAYER_TYPES:
        kind = layer.get("type") if isinstance(layer, dict) else layer
        raise UserInputError(
            f"Layer {index}: unknown layer type {kind!r}; choose one of {', '.join(LAYER_TYPES)}."
        )
    kind = layer["type"]
    clean = dict(layer)
    for f in LAYER_TYPES[kind]["fields"]:
        clean[f.name] = validate_value(
            kind, f.name, layer.get(f.name, f.default), where=_label(layer, index)
        )
    return clean


# --------------------------------------------------------------------------- as text

MAX_TEXT_LAYERS = 64  # layers a link may carry (MAX_TEXT_CHARS bounds the text itself)
MAX_TEXT_CHARS = 4000


def layers_to_text(layers: list[dict]) -> str:
    """Editor layers as one short line for a link: ``;`` between layers, each its type and
    the fields that differ from their defaults, e.g. ``conv2d,out_channels:6;relu;flatten``."""
    parts = []
    for layer in layers:
        kind = layer["type"]
        cells = [kind]
        for f in LAYER_TYPES[kind]["fields"]:
            value = layer.get(f.name, f.default)
            if value == f.default:
                continue
            if f.kind == "bool":
                shown = "1" if value else "0"
            else:
                shown = repr(float(value)) if f.kind == "float" else str(value)
            cells.append(f"{f.name}:{shown}")
        parts.append(",".join(cells))
    return ";".join(parts)


def layers_from_text(text: str) -> list[dict]:
    """Editor layers from :func:`layers_to_text`'s line, every value checked.

    Raises
    ------
    UserInputError
        Too long, an unknown type or setting, or a value out of its range (named).
    """
    if len(text) > MAX_TEXT_CHARS:
        raise UserInputError(f"The layers are longer than {MAX_TEXT_CHARS} characters.")
    rows = [r for r in text.split(";") if r.strip()]
    if not rows:
        raise UserInputError("No layers are given.")
    if len(rows) > MAX_TEXT_LAYERS:
        raise UserInputError(f"{len(rows)} layers are given; at most {MAX_TEXT_LAYERS}.")
    layers = []
    for i, row in enumerate(rows, start=1):
        kind, *cells = [c.strip() for c in row.split(",")]
        if kind not in LAYER_TYPES:
            raise UserInputError(f"Layer {i}: unknown layer type {kind[:20]!r}.")
        fields = {f.name: f for f in LAYER_TYPES[kind]["fields"]}
        layer = {"type": kind}
        for cell in cells:
            name, _, raw = cell.partition(":")
            f = fields.get(name)
            if f is None:
                raise UserInputError(f"Layer {i}: a {type_label(kind)} has no {name[:20]!r}.")
            if f.kind == "bool":
                value = {"1": True, "0": False}.get(raw, raw)
            elif f.kind in ("int", "float"):
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
            else:
                value = raw
            layer[name] = value
        layers.append(validate_layer(layer, i))
    return layers


# --------------------------------------------------------------------------- edits


def add_layer(layers: list[dict], kind: str, *, index: int | None = None) -> list[dict]:
    """Insert a new ``kind`` layer at 0-based ``index`` (default: at the end)."""
    out = list(layers)
    index = len(out) if index is None else index
    if not 0 <= index <= len(out):
        raise UserInputError(f"Insert at a position from 1 to {len(out) + 1}.")
    out.insert(index, new_layer(kind))
    return out


def delete_layer(layers: list[dict], index: int) -> list[dict]:
    """Remove the layer at 0-based ``index``."""
    if not 0 <= index < len(layers):
        raise UserInputError(f"There is no layer {index + 1} to delete.")
    return [layer for i, layer in enumerate(layers) if i != index]


def move_layer(layers: list[dict], index: int, step: int) -> list[dict]:
    """Move the layer at ``index`` by ``step`` rows (-1 up, +1 down); at an end, nothing moves."""
    if not 0 <= index < len(layers):
        raise UserInputError(f"There is no layer {index + 1} to move.")
    out = list(layers)
    j = index + step
    if 0 <= j < len(out):
        out[index], out[j] = out[j], out[index]
    return out


def set_param(layers: list[dict], index: int, name: str, value) -> list[dict]:
    """Set one field of the layer at ``index`` after checking it (a new list, copied row)."""
    if not 0 <= index < len(layers):
        raise UserInputError(f"There is no layer {index + 1}.")
    layer = layers[index]
    value = validate_value(layer.get("type"), name, value, where=_label(layer, index + 1))
    out = list(layers)
    out[index] = {**layer, name: value}
    return out


# --------------------------------------------------------------------------- spec conversion


def layer_to_spec(layer: dict, index: int = 1) -> dict:
    """One editor layer as a layer spec dict (validated)."""
    clean = validate_layer(layer, index)
    kind = clean["type"]
    out = {"type": _SPEC_TYPE.get(kind, kind)}
    for f in LAYER_TYPES[kind]["fields"]:
        value = clean[f.name]
        if f.name == "activation" and value == "none":
            continue
        out[f.name] = value
    return out


def to_spec(layers: list[dict]) -> list[dict]:
    """The editor list as a layer spec (no final softmax/sigmoid: the head is the loss's)."""
    return [layer_to_spec(layer, i) for i, layer in enumerate(layers, start=1)]


def from_spec(spec: list[dict]) -> list[dict]:
    """A layer spec as editor layers; a final softmax or sigmoid (the head) is dropped.

    Raises
    ------
    UserInputError
        For a layer type the editor does not offer, or a softmax/sigmoid before the end.
    """
    layers = []
    spec = list(spec)
    for i, raw in enumerate(spec, start=1):
        t = str(raw.get("type", "")).lower()
        last = i == len(spec)
        if t in ("softmax", "sigmoid"):
            if last:
                continue
            raise UserInputError(f"Layer {i}: a {t} belongs only at the very end (the head).")
        kind = _editor_type(t)
        if kind is None:
            raise UserInputError(f"Layer {i}: the builder has no {t!r} layer.")
        values = {_KEY_ALIASES.get(k, k): v for k, v in raw.items() if k != "type"}
        if kind == "dropout" and "p" not in values and "rate" in raw:
            values["p"] = raw["rate"]
        layer = new_layer(kind)
        for f in LAYER_TYPES[kind]["fields"]:
            if values.get(f.name) is not None:
                layer[f.name] = values[f.name]
        if kind in ("conv2d", "conv1d"):
            layer["padding"] = _padding(values.get("padding", 0), layer, i)
        if kind in ("maxpool", "avgpool") and values.get("stride") is None:
            layer["stride"] = layer["kernel_size"]  # pooling's stride defaults to its window
        if "activation" in layer:
            act = str(layer["activation"] or "none").lower()
            next_type = "" if last else str(spec[i].get("type", "")).lower()
            if act in ("softmax", "sigmoid") and (last or next_type in ("softmax", "sigmoid")):
                act = "none"  # the head: the loss applies it
            layer["activation"] = act
        layers.append(validate_layer(layer, i))
    return layers


def _padding(value, layer: dict, index: int) -> int:
    if value in (None, "valid"):
        return 0
    if value == "same":
        k, d = layer["kernel_size"], layer["dilation"]
        if layer["stride"] != 1 or (d * (k - 1)) % 2:
            raise UserInputError(f"Layer {index}: 'same' padding needs stride 1 and an odd kernel.")
        return d * (k - 1) // 2
    if isinstance(value, list | tuple):
        if len(set(value)) != 1:
            raise UserInputError(f"Layer {index}: the builder uses one padding for every side.")
        value = value[0]
    return value


# --------------------------------------------------------------------------- shape check


@dataclass
class CheckResult:
    """What :func:`check` found: the rows that work and the first layer that does not.

    Attributes
    ----------
    rows : list of core.explain.summary.SummaryRow
        One row per layer before the failing one (all layers when nothing fails).
    summary : core.explain.summary.Summary or None
        The whole model's summary, or None when a layer fails.
    error : str or None
        A sentence naming the failing layer, its input shape and why; or, with every layer
        fitting (``error_index`` None), why the model is too large to build here
        (:func:`core.explain.summary.check_caps`).
    error_index : int or None
        0-based position of the failing layer in the editor list.
    error_input_shape : tuple or None
        The shape that reaches the failing layer.
    """

    input_shape: tuple
    rows: list = field(default_factory=list)
    summary: object = None
    error: str | None = None
    error_index: int | None = None
    error_input_shape: tuple | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def shape_before(self, index: int) -> tuple | None:
        """The input shape of layer ``index`` (0-based), or None past the failing layer."""
        if index == 0:
            return tuple(self.input_shape)
        if index - 1 < len(self.rows):
            return tuple(self.rows[index - 1].output_shape)
        return None


_LAYER_PREFIX = re.compile(r"^Layer \d+(?: \([^)]*\))?(:?)\s*")


def _why(message: str) -> str:
    """The summary's message without its leading 'Layer N (type)' (the page names the row)."""
    m = _LAYER_PREFIX.match(message)
    if not m:
        return message
    rest = message[m.end() :]
    return rest if m.group(1) or rest.startswith("its ") else "it " + rest


def check(layers: list[dict], input_shape) -> CheckResult:
    """Check every layer's values and shapes, in order, before anything is built.

    Returns
    -------
    CheckResult
        The rows that work (shapes, parameters, mult-adds) and, when a layer fails, its
        0-based index, the shape it receives and the reason, in one sentence.

    Raises
    ------
    UserInputError
        Only for an invalid ``input_shape`` itself.
    """
    shape = layer_summary.check_shape(input_shape)
    result = CheckResult(input_shape=shape)
    if not layers:
        result.error = "The model has no layers yet: add one, or load a preset."
        return result
    spec: list[dict] = []
    bad_value: tuple[int, str] | None = None
    for i, layer in enumerate(layers, start=1):
        try:
            spec.append(layer_to_spec(layer, i))
        except UserInputError as err:
            bad_value = (i - 1, str(err))
            break
    try:
        summary = layer_summary.summarize(spec, shape)
    except UserInputError:
        summary = None
    if summary is not None and bad_value is None:
        result.rows, result.summary = summary.rows, summary
        try:  # the same caps an uploaded model meets: checked before anything is built
            layer_summary.check_caps(summary)
        except UserInputError as err:
            result.error = f"{err} Nothing was built."
        return result
    if summary is not None:  # every layer before the bad value works
        index, message = bad_value
        rows = summary.rows
    else:  # find the first layer whose prefix fails: the rows before it still have shapes
        rows = []
        for k in range(1, len(spec) + 1):
            try:
                rows = layer_summary.summarize(spec[:k], shape).rows
            except UserInputError as err:
                index, message = k - 1, str(err)
                break
    result.rows = rows
    result.error_index = index
    result.error_input_shape = tuple(rows[-1].output_shape) if rows else shape
    result.error = (
        f"Layer {index + 1} ({type_label(layers[index].get('type'))}), input shape "
        f"{result.error_input_shape}: {_why(message)} Change this row (marked ✗ in the editor) "
        "or a layer above it."
    )
    return result


def table(result: CheckResult, layers: list[dict]) -> list[dict]:
    """Rows for the summary table: one per layer that works, then the failing one, if any.

    Rows are numbered and named as in the editor (``layers``, the list that was checked).
    """
    out = [
        {
            "#": i,
            "Layer": type_label(layers[i - 1].get("type")),
            "Output shape": str(tuple(r.output_shape)),
            "Param #": r.params,
            "Trainable": r.trainable,
            "Non-trainable": r.non_trainable,
            "Mult-adds": r.mult_adds,
        }
        for i, r in enumerate(result.rows, start=1)
    ]
    if result.error_index is not None:
        out.append(
            {
                "#": result.error_index + 1,
                "Layer": f"✗ {type_label(layers[result.error_index].get('type'))} fails here",
                "Output shape": f"input {result.error_input_shape}",
                "Param #": None,
                "Trainable": None,
                "Non-trainable": None,
                "Mult-adds": None,
            }
        )
    return out


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputChoice:
    """What the model reads: a shipped dataset in one representation, or a custom shape."""

    key: str
    label: str
    dataset: str  # a name of core.data.shipped.DATASETS, or "custom"
    representation: str  # "image", "log-mel", "waveform" or "custom"
    shape: tuple  # channels first, no batch axis
    class_names: tuple

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def trainable(self) -> bool:
        return self.dataset in data.DATASETS


# The log-mel settings core.data.shipped.model_inputs uses by default (core.audio.features.FeatureSettings;
# mirrored here because core.audio.features imports torch; tests/test_builder.py checks they agree).
LOG_MEL = {"n_mels": 64, "hop_length": 160}


def log_mel_shape(n_samples: int, *, n_mels: int = LOG_MEL["n_mels"],
                  hop_length: int = LOG_MEL["hop_length"]) -> tuple[int, int, int]:  # fmt: skip
    """``(1, n_mels, frames)`` of a clip of ``n_samples`` samples (centred frames)."""
    return (1, n_mels, 1 + n_samples // hop_length)


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


@lru_cache(maxsize=1)
def input_choices() -> dict[str, InputChoice]:
    """The inputs the app ships, keyed for a select box (shapes from core.data.shipped's settings)."""
    digits = data.load_digits()
    with open(data.ASSETS / "commands" / "index.csv", newline="") as f:
        intents = tuple(dict.fromkeys(r["intent"] for r in csv.DictReader(f)))
    with open(data.ASSETS / "gm_instruments" / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    gm_names = tuple(dict.fromkeys(r["instrument"] for r in rows))
    gm_n = int(rows[0]["length"])  # every note is as long: 1 s at 16 kHz
    commands_n = int(round(_default(data.load_commands, "seconds") * 16_000))  # 16 kHz files
    instr_n = int(
        round(
            _default(data.synth_instruments, "seconds")
            * _default(data.synth_instruments, "sample_rate")
        )
    )
    out = [
        InputChoice("digits", "Handwritten digits: 28×28 images", "digits", "image",
                    tuple(digits.image_shape), digits.class_names),
        InputChoice("commands_logmel", "Spoken commands: log-mel spectrogram", "commands",
                    "log-mel", log_mel_shape(commands_n), intents),
        InputChoice("commands_waveform", "Spoken commands: raw waveform (1-D)", "commands",
                    "waveform", (1, commands_n), intents),
        InputChoice("instruments_logmel", "Instrument timbres: log-mel spectrogram",
                    "instruments", "log-mel", log_mel_shape(instr_n), data.INSTRUMENTS),
        InputChoice("instruments_waveform", "Instrument timbres: raw waveform (1-D)",
                    "instruments", "waveform", (1, instr_n), data.INSTRUMENTS),
        InputChoice("gm_instruments_logmel", "General MIDI instruments: log-mel spectrogram",
                    "gm_instruments", "log-mel", log_mel_shape(gm_n), gm_names),
        InputChoice("gm_instruments_waveform", "General MIDI instruments: raw waveform (1-D)",
                    "gm_instruments", "waveform", (1, gm_n), gm_names),
    ]  # fmt: skip
    return {c.key: c for c in out}


def parse_shape(text: str) -> tuple[int, ...]:
    """A shape typed as ``'1, 128, 128'`` or ``'(1, 16000)'``: channels first, no batch axis."""
    parts = [t for t in re.split(r"[\s,x×()\[\]]+", str(text)) if t]
    try:
        shape = tuple(int(t) for t in parts)
    except ValueError:
        raise UserInputError(
            f"Could not read {text!r} as a shape: type whole numbers such as 1, 128, 128."
        ) from None
    if not 2 <= len(shape) <= 3:
        raise UserInputError(
            "Give (channels, length) for a 1-D signal or (channels, height, width) for an image."
        )
    if any(s < 1 for s in shape) or shape[0] > 512 or math.prod(shape) > 4_000_000:
        raise UserInputError(
            "Every size must be at least 1, at most 512 channels and 4 million values in all."
        )
    return shape


def custom_input(shape_text: str, n_classes: int) -> InputChoice:
    """A custom input shape with ``n_classes`` classes (checked here, not trainable)."""
    shape = parse_shape(shape_text)
    n = validate_classes(n_classes)
    return InputChoice("custom", "Custom input shape", "custom", "custom", shape,
                       tuple(f"class {i}" for i in range(n)))  # fmt: skip


def validate_classes(n_classes) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or not 2 <= n_classes <= 1000:
        raise UserInputError("The number of classes must be a whole number from 2 to 1000.")
    return n_classes


# --------------------------------------------------------------------------- head


HEADS = {
    "softmax": "Softmax + cross-entropy (one class out of many)",
    "sigmoid": "One sigmoid output + binary cross-entropy (two classes)",
}


def output_units(n_classes: int, head: str) -> int:
    """Units of the last Linear layer: 1 for a sigmoid head, one per class for softmax."""
    n = validate_classes(n_classes)
    if head == "softmax":
        return n
    if head == "sigmoid":
        if n != 2:
            raise UserInputError(
                f"One sigmoid output fits two classes only; this input has {n}: use softmax."
            )
        return 1
    raise UserInputError("The head must be 'softmax' or 'sigmoid'.")


def head_note(n_classes: int, head: str) -> str:
    """One sentence on the output layer and the loss for this number of classes."""
    if head == "sigmoid":
        return (
            "Two classes: the last layer has **one output**, a sigmoid turns it into "
            "P(second class), and the loss is **binary cross-entropy** "
            "(`nn.BCEWithLogitsLoss`, which applies the sigmoid itself)."
        )
    extra = (
        " (with two classes, one sigmoid output and binary cross-entropy is the other choice)"
        if n_classes == 2
        else " (one sigmoid output with binary cross-entropy is for two-class tasks only)"
    )
    return (
        f"{n_classes} classes: the last layer has **{n_classes} outputs**, softmax turns them "
        "into probabilities that sum to 1, and the loss is **cross-entropy** "
        f"(`nn.CrossEntropyLoss`, which applies the softmax itself){extra}."
    )


def loss_code(head: str) -> str:
    if head == "sigmoid":
        return "loss_fn = nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy on 1 logit"
    return "loss_fn = nn.CrossEntropyLoss()  # softmax + cross-entropy on the logits"


def head_error(result: CheckResult, n_classes: int, head: str) -> str | None:
    """Why the model's output does not fit the classes and head, or None when it does."""
    if not result.ok:
        return None
    units = output_units(n_classes, head)
    out = tuple(result.summary.output_shape)
    if out == (units,):
        return None
    want = f"one output per class ({units})" if head == "softmax" else "one output"
    return (
        f"The model ends with shape {out}, but this task needs {want}: end with global average "
        f"pooling or Flatten and then Linear with {units} unit{'s' if units > 1 else ''}."
    )


def set_output_units(layers: list[dict], units: int) -> list[dict]:
    """Resize the last layer to ``units`` outputs when it is a Linear layer (else unchanged)."""
    if layers and layers[-1].get("type") == "linear":
        return set_param(layers, len(layers) - 1, "out_features", units)
    return list(layers)


# --------------------------------------------------------------------------- presets


PRESET_NAMES = ("digits_cnn", "speech_cnn", "spectrogram_cnn", "lenet5",
                "pyramid_cnn", "tiny_resnet", "m5")  # fmt: skip
PRESET_TITLES = {
    **{name: zoo.PRESETS[name]["title"] for name in ("digits_cnn", "speech_cnn")},
    "spectrogram_cnn": "Spectrogram classifier (66,123 parameters at 128×128×1, 11 classes)",
    "lenet5": "LeNet-5-style net",
    "pyramid_cnn": "5-block pyramid CNN",
    "tiny_resnet": "Tiny ResNet",
    "m5": "M5-style 1-D CNN on raw waveforms",
}


def preset_short_title(name: str) -> str:
    """A preset's title without its note in brackets, e.g. 'LeNet-5-style net'."""
    return PRESET_TITLES[name].split(" (")[0]


def preset_dims(name: str) -> int:
    """Spatial dimensions a preset reads: 1 for a waveform (C, L), 2 for (C, H, W)."""
    return 1 if name == "m5" else 2


def matching_input(key: str, name: str) -> str | None:
    """The shipped input of the same dataset that preset ``name`` can read, if ``key``'s cannot.

    Returns ``key`` itself when it fits, another key of :func:`input_choices` (e.g. the raw
    waveform of the same recordings for M5), or None when nothing of that dataset fits.
    """
    choices = input_choices()
    if key not in choices:
        return None
    if len(choices[key].shape) - 1 == preset_dims(name):
        return key
    dataset = choices[key].dataset
    for other in choices.values():
        if other.dataset == dataset and len(other.shape) - 1 == preset_dims(name):
            return other.key
    return None


def load_preset(name: str, *, input_shape, n_classes: int, head: str = "softmax"):
    """A preset adapted to an input and a number of classes, as editor layers.

    The last Linear layer gets :func:`output_units` units and no activation (the loss applies
    the head). LeNet-5 reads 32×32: on smaller images its first convolution pads the input up
    (exactly what zero-padding the image would do). Pooling layers that the input is too small
    for are left out.

    Returns
    -------
    (layers, notes)
        The editor layers and sentences saying what was adapted.

    Raises
    ------
    UserInputError
        For an unknown preset, or an input of the wrong kind (e.g. M5 on an image).
    """
    if name not in PRESET_NAMES:
        raise UserInputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
    shape = layer_summary.check_shape(input_shape)
    units = output_units(n_classes, head)
    wants = preset_dims(name)
    if len(shape) - 1 != wants:
        kind = (
            "a raw waveform (channels, samples)"
            if wants == 1
            else "an image or spectrogram (channels, height, width)"
        )
        raise UserInputError(
            f"The {preset_short_title(name)} reads {kind}, but the chosen input has shape {shape}; "
            "pick a matching input first."
        )
    spec = zoo.PRESETS[name]["build"](units, "none")
    notes: list[str] = []
    if name == "lenet5" and min(shape[1:]) < 32:
        pad = (32 - min(shape[1:]) + 1) // 2
        spec[0] = {**spec[0], "padding": pad}
        notes.append(
            f"LeNet-5 reads 32×32 images: its first convolution pads this {shape[1]}×{shape[2]} "
            f"input by {pad} on every side, as if the image were zero-padded."
        )
    for _ in range(len(spec)):
        try:
            layer_summary.summarize(spec, shape)
            break
        except ShapeError as err:
            bad = _first_failing(spec, shape)
            t = str(spec[bad]["type"])
            if not t.startswith(("maxpool", "avgpool")):
                raise UserInputError(
                    f"The {preset_short_title(name)} does not fit the input {shape}: {_why(str(err))}"
                ) from None
            spec.pop(bad)
            notes.append(
                f"Left out a pooling layer (was layer {bad + 1}): the input is too small for it."
            )
    return from_spec(spec), notes


def _first_failing(spec: list[dict], shape: tuple) -> int:
    for k in range(1, len(spec) + 1):
        try:
            layer_summary.summarize(spec[:k], shape)
        except UserInputError:
            return k - 1
    return len(spec)


# --------------------------------------------------------------------------- hand-over


def builder_spec(layers: list[dict], choice: InputChoice, head: str, name: str) -> dict:
    """What the Train page reads from ``st.session_state['builder_spec']``.

    Returns
    -------
    dict
        ``spec`` (layer spec list, no final softmax/sigmoid), ``input_shape``, ``dataset``,
        ``head``, ``name``, plus ``representation`` ("image", "log-mel" or "waveform") and
        ``n_classes``.

    Raises
    ------
    UserInputError
        When the model fails the shape check, its output does not fit the classes and head,
        or the input is a custom shape (nothing to train on).
    """
    if not choice.trainable:
        raise UserInputError(
            "A custom input shape can be checked here but not trained: pick one of the datasets."
        )
    result = check(layers, choice.shape)
    if not result.ok:
        raise UserInputError(result.error)
    problem = head_error(result, choice.n_classes, head)
    if problem:
        raise UserInputError(problem)
    name = str(name).strip() or "custom model"
    if len(name) > 60:
        raise UserInputError("Keep the model's name under 60 characters.")
    return {
        "spec": to_spec(layers),
        "input_shape": tuple(choice.shape),
        "dataset": choice.dataset,
        "head": head,
        "name": name,
        "representation": choice.representation,
        "n_classes": choice.n_classes,
    }
