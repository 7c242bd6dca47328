"""Receptive-field arithmetic for stacks of convolution and pooling layers.

Pure numpy/python: nothing here imports torch at module level. The one function that checks
the arithmetic on a real ``nn.Module`` (:func:`empirical_field`) imports torch when called,
and :func:`chirp_logmel` imports librosa when called.

Conventions
-----------
Every layer has a square kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` that
apply along both axes, so each axis can be computed on its own (the 2-D region of a unit is
the product of its row range and its column range). Positions are 0-based. For layer ``l``:

* ``n`` -- output size, ``floor((n_in + 2p - d(k-1) - 1) / s) + 1`` (PyTorch's rule),
* ``r`` -- receptive-field size on the input, ``r_in + (d(k-1)) * j_in``,
* ``j`` -- jump (effective stride on the input), ``j_in * s``,
* ``start`` -- input coordinate of the centre of unit 0, ``start_in + (d(k-1)/2 - p) * j_in``.

Unit ``i`` of layer ``l`` is centred on input coordinate ``start + i * j`` and, ignoring
borders, covers ``r`` input positions. The exact region (:func:`unit_region`) also handles
dilation holes and clips at the borders, marking the part of the window that lands on padding.

Run ``python -m core.explain.receptive`` to print the table of ResNet-18's stem and stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from core.errors import ShapeError, UserInputError

KINDS = ("conv", "pool")


@dataclass(frozen=True)
class Layer:
    """One convolution or pooling layer of a stack (square kernel, same on both axes).

    Parameters
    ----------
    kind : {'conv', 'pool'}
    k, s, p, d : int
        Kernel size, stride, padding and dilation.
    name : str
        Label used in tables and messages; empty for an automatic one.
    """

    kind: str = "conv"
    k: int = 3
    s: int = 1
    p: int = 0
    d: int = 1
    name: str = ""

    @property
    def k_eff(self) -> int:
        """Span of the (dilated) kernel: ``d * (k - 1) + 1``."""
        return self.d * (self.k - 1) + 1

    def describe(self) -> str:
        """Short text such as ``conv 3×3, s=1, p=1``."""
        text = f"{self.kind} {self.k}×{self.k}, s={self.s}, p={self.p}"
        return text + (f", d={self.d}" if self.d != 1 else "")


@dataclass
class LayerRow:
    """Per-layer numbers along one axis pair (rows, columns). See the module docstring."""

    index: int  # 1-based position in the stack (0 is the input)
    name: str
    layer: Layer | None
    n_in: tuple[int, int]
    n: tuple[int, int]  # output size (rows, cols)
    r: int  # receptive-field size (same on both axes)
    j: int  # jump
    start: float  # centre of unit 0 on the input, same on both axes


class BrokenStackError(ShapeError):
    """A layer of the stack would produce an empty output.

    Attributes
    ----------
    layer_index : int
        1-based index of the layer that breaks.
    rows : list of LayerRow
        The table of the input and every layer before the broken one, so a page can keep
        drawing them.
    """

    def __init__(self, message: str, *, layer_index: int, rows: list[LayerRow]):
        super().__init__(message)
        self.layer_index = layer_index
        self.rows = rows


def _as_int(value, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float):
        raise UserInputError(f"{what} must be a whole number, got {value!r}.")
    if float(value) != int(value):
        raise UserInputError(f"{what} must be a whole number, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise UserInputError(f"{what} must be at least {minimum}, got {value}.")
    return value


def make_layer(spec: Layer | dict, *, index: int = 0) -> Layer:
    """Validate one layer given as a :class:`Layer` or a dict with kind, k, s, p, d.

    Raises
    ------
    UserInputError
        With a sentence naming the layer when a value is missing or out of range.
    """
    if isinstance(spec, Layer):
        spec = asdict(spec)
    if not isinstance(spec, dict):
        raise UserInputError(f"Layer {index} must be given as kind, k, s, p and d.")
    kind = str(spec.get("kind", "conv")).lower()
    label = f"Layer {index}" if index else "This layer"
    if kind not in KINDS:
        raise UserInputError(f"{label}: the kind must be 'conv' or 'pool', not {kind!r}.")
    k = _as_int(spec.get("k", 3), f"{label}: the kernel size", minimum=1)
    s = _as_int(spec.get("s", 1), f"{label}: the stride", minimum=1)
    p = _as_int(spec.get("p", 0), f"{label}: the padding", minimum=0)
    d = _as_int(spec.get("d", 1), f"{label}: the dilation", minimum=1)
    layer = Layer(kind, k, s, p, d, str(spec.get("name", "") or ""))
    if kind == "pool" and 2 * p > k:
        raise UserInputError(
            f"{label} ({layer.describe()}): a pooling layer's padding can be at most half "
            f"its kernel ({k // 2} here), otherwise some windows would see only padding."
        )
    return layer


def _size_out(n_in: int, layer: Layer) -> int:
    return (n_in + 2 * layer.p - layer.k_eff) // layer.s + 1


def layer_table(layers, *, input_size) -> list[LayerRow]:
    """Output size, receptive field, jump and start of every layer of a stack.

    Parameters
    ----------
    layers : sequence of Layer or dict
        The stack, input first.
    input_size : int or (int, int)
        Height and width of the input (an int means a square input).

    Returns
    -------
    list of LayerRow
        Row 0 describes the input (``r = 1``, ``j = 1``, ``start = 0``), row ``l`` layer ``l``.

    Raises
    ------
    BrokenStackError
        When a layer's values are invalid or its output would be empty; the message names
        the layer and the error carries the rows before it.
    """
    h, w = _input_hw(input_size)
    rows = [LayerRow(0, "input", None, (h, w), (h, w), 1, 1, 0.0)]
    for i, spec in enumerate(layers, start=1):
        try:
            layer = make_layer(spec, index=i)
        except BrokenStackError:
            raise
        except UserInputError as err:
            raise BrokenStackError(str(err), layer_index=i, rows=rows) from None
        prev = rows[-1]
        n = tuple(_size_out(m, layer) for m in prev.n)
        if min(n) < 1:
            short = min(prev.n)
            raise BrokenStackError(
                f"Layer {i} ({layer.describe()}) breaks the stack: its input is "
                f"{prev.n[0]}×{prev.n[1]}, which with padding {layer.p} on each side gives "
                f"only {short + 2 * layer.p}, fewer than the {layer.k_eff} positions its kernel spans. "
                "Its output would be empty; remove it, shrink its kernel or stride, add padding, "
                "or use a larger input.",
                layer_index=i,
                rows=rows,
            )
        rows.append(
            LayerRow(
                index=i,
                name=layer.name or f"{layer.kind}{i}",
                layer=layer,
                n_in=prev.n,
                n=n,
                r=prev.r + (layer.k_eff - 1) * prev.j,
                j=prev.j * layer.s,
                start=prev.start + ((layer.k_eff - 1) / 2 - layer.p) * prev.j,
            )
        )
    return rows


def _input_hw(input_size) -> tuple[int, int]:
    if isinstance(input_size, int | np.integer):
        input_size = (input_size, input_size)
    try:
        h, w = input_size
    except (TypeError, ValueError):
        raise UserInputError(
            "The input size must be one number or a (height, width) pair."
        ) from None
    return (
        _as_int(h, "The input height", minimum=1),
        _as_int(w, "The input width", minimum=1),
    )


def table_records(rows: list[LayerRow]) -> list[dict]:
    """Rows as plain dicts for a table: layer, output size, field, jump, start."""
    out = []
    for row in rows:
        out.append(
            {
                "layer": row.index,
                "name": row.name,
                "op": row.layer.describe() if row.layer else "input",
                "output size": f"{row.n[0]}×{row.n[1]}",
                "receptive field": f"{row.r}×{row.r}",
                "jump": row.j,
                "start": row.start,
            }
        )
    return out


@dataclass
class AxisRegion:
    """Positions one unit depends on, along one axis of one layer.

    ``positions`` are the real positions (inside ``[0, size)``) the unit depends on, sorted.
    ``padding`` are the window positions that fall on padding (negative or ``>= size``);
    they feed the unit a constant, so nothing below them is in the field.
    """

    size: int
    positions: np.ndarray  # (m,) int
    padding: np.ndarray  # (q,) int

    @property
    def lo(self) -> int:
        """First real position (or -1 when there is none)."""
        return int(self.positions[0]) if self.positions.size else -1

    @property
    def hi(self) -> int:
        """Last real position (or -1 when there is none)."""
        return int(self.positions[-1]) if self.positions.size else -1

    def mask(self) -> np.ndarray:
        """Boolean mask of shape ``(size,)``, True on the real positions."""
        m = np.zeros(self.size, dtype=bool)
        m[self.positions] = True
        return m


@dataclass
class Region:
    """The region of one unit in one layer: row and column :class:`AxisRegion`."""

    layer_index: int
    rows: AxisRegion
    cols: AxisRegion
    pad: int = 0  # padding the next layer up adds around this layer (for drawing)

    def mask(self) -> np.ndarray:
        """Boolean mask of shape ``(H, W)``: True where the unit depends on the layer."""
        return np.outer(self.rows.mask(), self.cols.mask())

    @property
    def count(self) -> int:
        """Number of positions of this layer the unit depends on."""
        return int(self.rows.positions.size * self.cols.positions.size)

    def box(self) -> tuple[int, int, int, int]:
        """Bounding box ``(row0, row1, col0, col1)``, inclusive, clipped at the borders."""
        return self.rows.lo, self.rows.hi, self.cols.lo, self.cols.hi


def _down(positions: np.ndarray, layer: Layer, size_below: int) -> AxisRegion:
    taps = np.arange(layer.k) * layer.d
    window = np.unique((positions[:, None] * layer.s - layer.p + taps[None, :]).ravel())
    inside = (window >= 0) & (window < size_below)
    return AxisRegion(size_below, window[inside], window[~inside])


def field_below(positions: np.ndarray, layer: Layer, size_below: int) -> AxisRegion:
    """Along one axis: the positions of the layer below (of size ``size_below``) that units
    at ``positions`` of ``layer``'s output read, and the window positions on padding."""
    return _down(np.asarray(positions, dtype=int), layer, int(size_below))


def unit_region(rows: list[LayerRow], *, layer: int, row: int, col: int) -> list[Region]:
    """Region of unit (row, col) of a layer in that layer and in every layer below it.

    Parameters
    ----------
    rows : list of LayerRow
        Output of :func:`layer_table`.
    layer : int
        Index of the layer holding the unit (0 is the input).
    row, col : int
        Position of the unit in that layer's output.

    Returns
    -------
    list of Region
        ``regions[l]`` for ``l = 0 .. layer``: ``regions[layer]`` is the unit itself and
        ``regions[0]`` its exact receptive field on the input (dilation holes included,
        clipped at the borders; the part on padding is in ``.padding``).
    """
    layer = _as_int(layer, "The layer", minimum=0)
    if layer >= len(rows):
        raise UserInputError(f"Pick a layer between 0 and {len(rows) - 1}.")
    h, w = rows[layer].n
    row = _as_int(row, "The row", minimum=0)
    col = _as_int(col, "The column", minimum=0)
    if row >= h or col >= w:
        raise UserInputError(
            f"Layer {layer} is {h}×{w}: pick a row below {h} and a column below {w}."
        )
    top = Region(
        layer,
        AxisRegion(h, np.array([row]), np.array([], dtype=int)),
        AxisRegion(w, np.array([col]), np.array([], dtype=int)),
    )
    regions = [top]
    for lvl in range(layer, 0, -1):
        lay = rows[lvl].layer
        above = regions[0]
        hb, wb = rows[lvl - 1].n
        regions.insert(
            0,
            Region(
                lvl - 1,
                _down(above.rows.positions, lay, hb),
                _down(above.cols.positions, lay, wb),
                pad=lay.p,
            ),
        )
    return regions


def region_sentence(rows: list[LayerRow], regions: list[Region]) -> str:
    """One sentence on what the chosen unit sees on the input."""
    top = regions[-1]
    base = regions[0]
    r0, r1, c0, c1 = base.box()
    row = rows[top.layer_index]
    text = (
        f"Unit ({top.rows.lo}, {top.cols.lo}) of layer {top.layer_index} has a "
        f"{row.r}×{row.r} receptive field; on the input it depends on rows {r0}–{r1} and "
        f"columns {c0}–{c1} ({base.count} pixels)."
    )
    clipped = (r1 - r0 + 1, c1 - c0 + 1) != (row.r, row.r)
    if base.rows.padding.size or base.cols.padding.size or clipped:
        text += " Part of its window falls on padding outside the input, so it is clipped."
    holes = base.count < (r1 - r0 + 1) * (c1 - c0 + 1)
    if holes:
        text += " Dilation leaves holes: some pixels inside the box do not reach it."
    return text


# --------------------------------------------------------------------------- presets

PRESETS: dict[str, dict] = {
    "textbook": {
        "title": "Textbook: two 3×3 convolutions on a 5×5 input",
        "input_size": (5, 5),
        "layers": [Layer("conv", 3, 1, 0, 1), Layer("conv", 3, 1, 0, 1)],
    },
    "two_3x3": {
        "title": "Two 3×3 convolutions (same field as one 5×5)",
        "input_size": (9, 9),
        "layers": [Layer("conv", 3, 1, 0, 1), Layer("conv", 3, 1, 0, 1)],
    },
    "one_5x5": {
        "title": "One 5×5 convolution",
        "input_size": (9, 9),
        "layers": [Layer("conv", 5, 1, 0, 1)],
    },
    "dilated": {
        "title": "Dilated stack (dilations 1, 2, 4)",
        "input_size": (21, 21),
        "layers": [Layer("conv", 3, 1, 0, 1), Layer("conv", 3, 1, 0, 2), Layer("conv", 3, 1, 0, 4)],
    },
    "alexnet": {
        "title": "AlexNet (torchvision) convolutions and pools",
        "input_size": (224, 224),
        "layers": [
            Layer("conv", 11, 4, 2, 1, "conv1"),
            Layer("pool", 3, 2, 0, 1, "pool1"),
            Layer("conv", 5, 1, 2, 1, "conv2"),
            Layer("pool", 3, 2, 0, 1, "pool2"),
            Layer("conv", 3, 1, 1, 1, "conv3"),
            Layer("conv", 3, 1, 1, 1, "conv4"),
            Layer("conv", 3, 1, 1, 1, "conv5"),
            Layer("pool", 3, 2, 0, 1, "pool5"),
        ],
    },
    "vgg16": {
        "title": "VGG-16 convolutions and pools",
        "input_size": (224, 224),
        "layers": [
            Layer(kind, k, s, p, 1, name)
            for block, n_conv in enumerate((2, 2, 3, 3, 3), start=1)
            for kind, k, s, p, name in (
                [("conv", 3, 1, 1, f"conv{block}_{c}") for c in range(1, n_conv + 1)]
                + [("pool", 2, 2, 0, f"pool{block}")]
            )
        ],
    },
    "resnet18": {
        "title": "ResNet-18 stem and stages (main path)",
        "input_size": (224, 224),
        "layers": [Layer("conv", 7, 2, 3, 1, "conv1"), Layer("pool", 3, 2, 1, 1, "maxpool")]
        + [
            Layer("conv", 3, 2 if (stage > 1 and c == 1) else 1, 1, 1, f"layer{stage}.{c}")
            for stage in (1, 2, 3, 4)
            for c in (1, 2, 3, 4)
        ],
    },
}


def preset(name: str) -> tuple[list[Layer], tuple[int, int]]:
    """Layers and input size of a preset stack (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise UserInputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    entry = PRESETS[name]
    return list(entry["layers"]), tuple(entry["input_size"])


# --------------------------------------------------------------------------- autograd check


@dataclass
class EmpiricalField:
    """Gradient of one unit with respect to the input of a real module.

    Attributes
    ----------
    grad : ndarray, shape (H, W)
        Absolute gradient (the effective receptive field, largest at the centre).
    nonzero : ndarray, shape (H, W), bool
        Where the gradient is not zero.
    output_size : (int, int)
        Output size of the top layer as torch computed it.
    """

    grad: np.ndarray
    nonzero: np.ndarray
    output_size: tuple[int, int] = field(default=(0, 0))


def build_stack_module(layers, *, pool_mode: str = "avg", weights: str = "ones", seed: int = 0):
    """A one-channel ``nn.Sequential`` with one module per layer of the stack (imports torch).

    Parameters
    ----------
    pool_mode : {'avg', 'max'}
        'avg' averages every window (so the gradient reaches every pixel of the window);
        'max' uses ``nn.MaxPool2d``, whose gradient flows only to each window's maximum.
    weights : {'ones', 'random'}
        Convolution weights: all ones, or positive random values (both keep every path
        through the stack strictly positive, so no gradient cancels by chance).
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    mods = []
    for i, spec in enumerate(layers, start=1):
        lay = make_layer(spec, index=i)
        if lay.kind == "pool" and pool_mode == "max":
            mods.append(nn.MaxPool2d(lay.k, lay.s, lay.p, lay.d))
            continue
        conv = nn.Conv2d(1, 1, lay.k, lay.s, lay.p, lay.d, bias=False, dtype=torch.float64)
        with torch.no_grad():
            if lay.kind == "pool":
                conv.weight.fill_(1.0 / lay.k**2)
            elif weights == "random":
                conv.weight.copy_(0.5 + torch.rand(conv.weight.shape, generator=gen))
            else:
                conv.weight.fill_(1.0)
        mods.append(conv)
    return nn.Sequential(*mods)


def empirical_field(
    layers,
    *,
    input_size,
    row: int,
    col: int,
    layer: int | None = None,
    pool_mode: str = "avg",
    weights: str = "ones",
) -> EmpiricalField:
    """Backpropagate from unit (row, col) of a layer to the input (imports torch).

    Parameters
    ----------
    layer : int or None
        Index of the layer holding the unit (1-based; None for the last layer).

    The input is a positive random image; the analytic region of :func:`unit_region`
    equals ``nonzero`` exactly when ``pool_mode='avg'``.
    """
    import torch

    h, w = _input_hw(input_size)
    layers = list(layers)
    if layer is not None:
        layer = _as_int(layer, "The layer", minimum=1)
        if layer > len(layers):
            raise UserInputError(f"Pick a layer between 1 and {len(layers)}.")
        layers = layers[:layer]
    if not layers:
        raise UserInputError("Add at least one layer to check its field.")
    rows = layer_table(layers, input_size=(h, w))  # validates and checks sizes
    out_h, out_w = rows[-1].n
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise UserInputError(f"That layer is {out_h}×{out_w}: pick a unit inside it.")
    module = build_stack_module(layers, pool_mode=pool_mode, weights=weights)
    gen = torch.Generator().manual_seed(1)
    x = (0.5 + torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)).requires_grad_()
    y = module(x)  # (1, 1, H', W')
    y[0, 0, row, col].backward()
    grad = x.grad[0, 0].abs().numpy()  # (H, W)
    return EmpiricalField(grad=grad, nonzero=grad > 0, output_size=tuple(y.shape[-2:]))


def autograd_check(layers, *, input_size, layer: int, row: int, col: int) -> dict:
    """Compare the analytic field of a unit with the non-zero gradient on the input.

    Returns
    -------
    dict
        ``field`` (EmpiricalField), ``regions``, ``match`` (bool), ``analytic`` and
        ``autograd`` pixel counts.
    """
    rows = layer_table(list(layers)[:layer], input_size=input_size)
    regions = unit_region(rows, layer=layer, row=row, col=col)
    emp = empirical_field(layers, input_size=input_size, row=row, col=col, layer=layer)
    mask = regions[0].mask()
    return {
        "field": emp,
        "regions": regions,
        "match": bool(np.array_equal(mask, emp.nonzero)),
        "analytic": int(mask.sum()),
        "autograd": int(emp.nonzero.sum()),
    }


# --------------------------------------------------------------------------- spectrogram / picture


@dataclass
class LogMel:
    """A log-mel spectrogram with its axes.

    Attributes
    ----------
    db : ndarray, shape (n_mels, n_frames)
        Log-mel power in dB (row 0 is the lowest band).
    band_edges_hz : ndarray, shape (n_mels + 2,)
        Mel-spaced frequencies: band ``m`` spans ``edges[m]`` to ``edges[m + 2]``,
        centred on ``edges[m + 1]``.
    sr, hop_length, n_fft : int
    """

    db: np.ndarray
    band_edges_hz: np.ndarray
    sr: int
    hop_length: int
    n_fft: int


def chirp_logmel(*, n_mels: int, n_frames: int, sr: int = 16000, hop_length: int = 160,
                 n_fft: int = 512) -> LogMel:  # fmt: skip
    """Log-mel of a synthesized rising chirp with exactly ``n_mels × n_frames`` cells (librosa).

    The signal is ``(n_frames - 1) * hop_length`` samples long, so with centred frames
    librosa returns ``n_frames`` frames.
    """
    import librosa

    n_mels = _as_int(n_mels, "The number of mel bands", minimum=1)
    n_frames = _as_int(n_frames, "The number of frames", minimum=1)
    sr = _as_int(sr, "The sample rate", minimum=1000)
    hop_length = _as_int(hop_length, "The hop length", minimum=1)
    n_fft = _as_int(n_fft, "The FFT size", minimum=16)
    n = max((n_frames - 1) * hop_length, 1)
    t = np.arange(n) / sr
    dur = max(n / sr, 1e-3)
    f0, f1 = 100.0, 0.4 * sr
    # exponential chirp from f0 to f1, plus a steady low tone and a click train
    phase = 2 * np.pi * f0 * dur / np.log(f1 / f0) * (np.exp(t / dur * np.log(f1 / f0)) - 1)
    y = 0.6 * np.sin(phase) + 0.2 * np.sin(2 * np.pi * 220.0 * t)
    y[:: max(sr // 8, 1)] += 0.8
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float32), sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
        center=True, fmin=0.0, fmax=sr / 2,
    )  # fmt: skip
    mel = mel[:, :n_frames]
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    edges = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=0.0, fmax=sr / 2)
    return LogMel(db, edges, sr, hop_length, n_fft)


def field_in_time_frequency(region: Region, logmel: LogMel) -> dict:
    """The input region of a unit, read on a log-mel spectrogram (rows = bands, cols = frames).

    Returns
    -------
    dict
        ``frames`` (first, last), ``t_ms`` (start, end) of the audio the frames' windows
        cover, ``span_ms``, ``bands`` (first, last) and ``hz`` (low edge, high edge).
    """
    r0, r1, c0, c1 = region.box()
    hop_ms = 1000.0 * logmel.hop_length / logmel.sr
    win_ms = 1000.0 * logmel.n_fft / logmel.sr
    # centred frames: frame c is centred on sample c * hop and spans n_fft samples
    t0 = max(c0 * hop_ms - win_ms / 2, 0.0)
    t1 = c1 * hop_ms + win_ms / 2
    return {
        "frames": (c0, c1),
        "t_ms": (t0, t1),
        "span_ms": t1 - t0,
        "hop_ms": hop_ms,
        "bands": (r0, r1),
        "hz": (float(logmel.band_edges_hz[r0]), float(logmel.band_edges_hz[r1 + 2])),
    }


def example_picture(*, height: int, width: int, path=None) -> np.ndarray:
    """An RGB picture of shape ``(height, width, 3)``, uint8.

    Read from ``path`` (resized with Pillow) when it exists, otherwise a synthesized
    gradient with a few shapes, so the page works without any asset.
    """
    height = _as_int(height, "The picture height", minimum=1)
    width = _as_int(width, "The picture width", minimum=1)
    if path is not None:
        from pathlib import Path

        if Path(path).is_file():
            from PIL import Image

            with Image.open(path) as img:
                img = img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8).copy()
    yy, xx = np.mgrid[0:height, 0:width]
    u = xx / max(width - 1, 1)
    v = yy / max(height - 1, 1)
    rgb = np.stack([60 + 150 * u, 90 + 120 * v, 200 - 120 * u * v], axis=-1)
    disc = (u - 0.35) ** 2 + (v - 0.4) ** 2 < 0.04
    rgb[disc] = (235, 190, 60)
    square = (np.abs(u - 0.72) < 0.12) & (np.abs(v - 0.68) < 0.12)
    rgb[square] = (200, 60, 70)
    return np.clip(rgb, 0, 255).astype(np.uint8)


if __name__ == "__main__":
    stack, size = preset("resnet18")
    for rec in table_records(layer_table(stack, input_size=size)):
        print(rec)
