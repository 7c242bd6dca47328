"""Inside a trained network: what every layer makes of one input, the learned filters, and the
evidence for a prediction.

``walk(model, x)`` runs one input through an ``nn.Sequential`` (the app's models) module by
module and keeps every layer's output. ``grad_cam`` and ``occlusion`` attribute a class score
to the input with Captum (PyTorch's attribution library): Grad-CAM weights a conv layer's
feature maps by the gradient of the score and keeps the positive part; occlusion slides a
patch of zeros over the input and records how much the score drops. Two sanity checks tell
an explanation from a pretty picture: occluding the top-attributed region must lower the
score more than occluding a random region of the same size, and randomising the weights must
change the Grad-CAM map (Adebayo et al., "Sanity checks for saliency maps", 2018).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserInputError

CONV_TYPES = (nn.Conv1d, nn.Conv2d)
MAX_MAPS = 64  # feature maps kept per layer for drawing


@dataclass(frozen=True)
class LayerView:
    """One layer's output for one input: (C, H, W) maps, (C, T) signals or (F,) a vector."""

    name: str
    kind: str  # the module's class name, e.g. "Conv2d", "MaxPool2d", "Linear"
    output: np.ndarray
    shape: tuple[int, ...]  # the full output shape, batch left out

    @property
    def is_map(self) -> bool:
        return self.output.ndim >= 2


@torch.no_grad()
def walk(model: nn.Sequential, x: torch.Tensor) -> list[LayerView]:
    """Every layer's output for one input ``x`` (1, ...), in order; the first is the input."""
    if not isinstance(model, nn.Sequential):
        raise UserInputError("This view reads the app's own models (a sequence of layers).")
    if x.ndim < 2 or x.shape[0] != 1:
        raise UserInputError("Give one input, with a batch of 1.")
    model = model.eval()
    views = [LayerView("input", "Input", x[0, :MAX_MAPS].numpy().copy(), tuple(x.shape[1:]))]
    h = x
    for name, module in model.named_children():
        h = module(h)
        views.append(LayerView(name, type(module).__name__, h[0, :MAX_MAPS].numpy().copy(),
                               tuple(h.shape[1:])))  # fmt: skip
    return views


def conv_layer_names(model: nn.Sequential) -> list[str]:
    return [n for n, m in model.named_children() if isinstance(m, CONV_TYPES)]


def inside_pretrained(model: nn.Module) -> str | None:
    """A sentence for a model whose convolutions are inside a pretrained first layer (its
    unit arithmetic and Grad-CAM are not drawn here), or None."""
    first = next(iter(model.children()), None) if isinstance(model, nn.Sequential) else None
    if first is None or not hasattr(first, "backbone") or not hasattr(first, "standardize"):
        return None
    n = sum(p.numel() for p in first.parameters())
    return (
        f"This model's convolutions are inside its first layer, the pretrained network "
        f"{first.backbone} ({n:,} weights, {first.mode}), which this page shows as one layer: "
        "its feature vector. Stepping a unit and Grad-CAM need a convolution of the model's "
        "own; train a preset or your Model builder model to see them."
    )


def first_filters(model: nn.Sequential) -> np.ndarray | None:
    """The first conv layer's kernels: (F, C, kH, kW) or (F, C, k), or None without one."""
    for m in model.children():
        if isinstance(m, CONV_TYPES):
            return m.weight.detach().cpu().numpy().copy()
    return None


def top_k(model: nn.Module, x: torch.Tensor, k: int = 3) -> list[tuple[int, float]]:
    """The k most probable classes of one input and their probabilities."""
    with torch.no_grad():
        logits = model.eval()(x)[0]
    p = torch.sigmoid(logits) if logits.numel() == 1 else logits.softmax(0)
    if logits.numel() == 1:
        p = torch.stack([1 - p[0], p[0]])
    values, index = p.topk(min(k, p.numel()))
    return [(int(i), float(v)) for i, v in zip(index, values, strict=True)]


def _module(model: nn.Sequential, name: str) -> nn.Module:
    mods = dict(model.named_children())
    if name not in mods:
        raise UserInputError(f"The model has no layer {name!r}.")
    return mods[name]


def _fit_to_input(attr: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """A (1, 1, h, w) or (1, 1, t) map resized to the input's spatial size."""
    size = x.shape[2:]
    mode = "bilinear" if len(size) == 2 else "linear"
    return F.interpolate(attr, size=size, mode=mode, align_corners=False)[0, 0].detach().numpy()


def grad_cam(model: nn.Sequential, x: torch.Tensor, target: int, layer: str) -> np.ndarray:
    """Grad-CAM of class ``target`` at conv layer ``layer``, at the input's spatial size
    ((H, W) or (T,)), ReLU'd: where that layer's evidence for the class sits."""
    from captum.attr import LayerGradCam

    model = model.eval()
    cam = LayerGradCam(model, _module(model, layer))
    attr = cam.attribute(x, target=int(target), relu_attributions=True)  # (1, 1, h, w)
    if attr.ndim == 3:  # a 1-D layer: (1, 1, t)
        pass
    return _fit_to_input(attr.detach(), x)


def occlusion(model: nn.Module, x: torch.Tensor, target: int, *, window: int | tuple,
              stride: int | tuple, per_eval: int = 64, progress=None) -> np.ndarray:  # fmt: skip
    """How much the score of ``target`` drops when a ``window`` of the input is set to 0 (the
    standardised inputs' average), at the input's spatial size; positive = evidence for.

    ``progress``, when given, is called with the fraction done (0..1) after each batch of
    ``per_eval`` occluded inputs the model scores.
    """
    from captum.attr import Occlusion

    spatial = x.shape[2:]
    window = (window,) * len(spatial) if isinstance(window, int) else tuple(window)
    stride = (stride,) * len(spatial) if isinstance(stride, int) else tuple(stride)
    window = tuple(min(w, n) for w, n in zip(window, spatial, strict=True))
    model = model.eval()
    forward = model
    if progress is not None:
        positions = math.prod((n - w) // s + 1 for n, w, s in zip(spatial, window, stride,
                                                                   strict=True))  # fmt: skip
        calls = 1 + math.ceil(positions / per_eval)  # Captum scores the input itself first
        done = [0]

        def forward(inputs):
            out = model(inputs)
            done[0] += 1
            progress(min(done[0] / calls, 1.0))
            return out

    occ = Occlusion(forward)
    with torch.no_grad():
        attr = occ.attribute(x, target=int(target), sliding_window_shapes=(x.shape[1], *window),
                             strides=(x.shape[1], *stride), baselines=0.0,
                             perturbations_per_eval=per_eval)  # fmt: skip
    return attr[0].mean(0).numpy()  # (H, W) or (T,)


def score(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """The softmax probability of ``target`` for each input of the batch x (N, ...)."""
    with torch.no_grad():
        logits = model.eval()(x)
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return p if target == 1 else 1 - p
    return logits.softmax(1)[:, target]


def _box(attr: np.ndarray, size: tuple[int, ...]) -> tuple[slice, ...]:
    """The window of ``size`` with the largest summed attribution."""
    t = torch.as_tensor(attr, dtype=torch.float32)[None, None]
    pool = F.avg_pool2d if t.ndim == 4 else F.avg_pool1d
    sums = pool(t, kernel_size=size, stride=1)[0, 0]
    at = np.unravel_index(int(sums.argmax()), tuple(sums.shape))
    return tuple(slice(a, a + s) for a, s in zip(at, size, strict=True))


def occlusion_sanity(model: nn.Module, xs: torch.Tensor, targets, attrs, *, size: tuple,
                     seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """Mean drop of the target's probability when the top-attributed ``size`` region is set
    to 0, and when a random region of the same size is: the first should be larger."""
    rng = np.random.default_rng(seed)
    top_drops, random_drops = [], []
    for x, t, a in zip(xs, targets, attrs, strict=True):
        x = x[None]
        base = float(score(model, x, int(t))[0])
        top, rand = x.clone(), x.clone()
        top[(..., *_box(a, size))] = 0
        start = [int(rng.integers(0, n - s + 1)) for n, s in zip(x.shape[2:], size, strict=True)]
        rand[(..., *(slice(b, b + s) for b, s in zip(start, size, strict=True)))] = 0
        top_drops.append(base - float(score(model, top, int(t))[0]))
        random_drops.append(base - float(score(model, rand, int(t))[0]))
    return float(np.mean(top_drops)), float(np.mean(random_drops))


def randomized(model: nn.Module, *, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every weight redrawn at random (its initialisation)."""
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for m in twin.modules():
        if hasattr(m, "reset_parameters") and m is not twin:
            m.reset_parameters()
    return twin.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (ties broken by order)."""
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


# ------------------------------------------------------------------ models ready to look at ----

MODELS_DIR = __import__("pathlib").Path(__file__).resolve().parents[2] / "assets" / "models"


def shipped_models() -> dict[str, dict]:
    """The trained models the app ships (assets/models/index.json): dataset -> facts."""
    import json

    path = MODELS_DIR / "index.json"
    if not path.is_file():
        return {}
    index = json.loads(path.read_text())
    return {k: v for k, v in index.items() if (MODELS_DIR / v["file"]).is_file()}


def load_shipped(name: str):
    """A shipped model as a core.learn.checkpoints.Bundle (loaded without pickle)."""
    from core.learn.checkpoints import load_bundle

    facts = shipped_models().get(name)
    if facts is None:
        raise UserInputError(f"No shipped model for {name!r}.")
    return load_bundle((MODELS_DIR / facts["file"]).read_bytes(), name=facts["file"])


@dataclass(frozen=True, eq=False)
class Examples:
    """The test examples a model is looked at with, and what it says about each."""

    x: torch.Tensor  # (M, ...) as the model reads them
    y: np.ndarray  # (M,) true classes
    predicted: np.ndarray  # (M,)
    confidence: np.ndarray  # (M,) probability of the predicted class
    index: np.ndarray  # (M,) positions in the dataset

    def choose(self, *, cls: int | None = None, show: str = "all") -> np.ndarray:
        """Positions (into these arrays) of the examples of class ``cls`` (None: all), all /
        "misclassified" / "least confident" first."""
        keep = np.arange(len(self.y)) if cls is None else np.flatnonzero(self.y == cls)
        if show == "misclassified":
            keep = keep[self.predicted[keep] != self.y[keep]]
        elif show == "least confident":
            keep = keep[np.argsort(self.confidence[keep], kind="stable")]
        return keep


def test_examples(model: nn.Module, ds, representation: str, pad: int = 0) -> Examples:
    """The dataset's test split as the model reads it, with its predictions."""
    from core.learn import task as tasks

    inputs = tasks.inputs_for(ds, tasks.Reads(representation, pad))
    idx = np.asarray(ds.splits["test"])
    x = inputs.x[torch.as_tensor(idx)]
    with torch.no_grad():
        logits = torch.cat([model.eval()(x[i : i + 256]) for i in range(0, len(x), 256)])
    if logits.shape[1] == 1:
        p1 = torch.sigmoid(logits[:, 0])
        probs = torch.stack([1 - p1, p1], 1)
    else:
        probs = logits.softmax(1)
    conf, pred = probs.max(1)
    return Examples(x, np.asarray(ds.y)[idx], pred.numpy(), conf.numpy(), idx)


# ---------------------------------------------------------------- hearing the evidence ----


def evidence_audio(wave: np.ndarray, attr: np.ndarray, settings=None, *,
                   keep: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The part of a clip that carries the top attribution, and the rest.

    ``attr`` is a (mels, frames) map on the clip's log-mel (core.audio.features.LogMel with
    ``settings``). Its top ``keep`` fraction of cells becomes a mask; each STFT cell is kept
    as much as the mel bands over it are (through the filterbank's weights), the original
    phase kept; the inverse STFT gives the evidence, and the complementary mask the rest.

    Returns (evidence, rest, mask): two waveforms as long as ``wave`` and the (mels, frames)
    mask of 0/1.
    """
    import librosa

    from core.audio.features import FeatureSettings

    s = settings or FeatureSettings()
    wave = np.asarray(wave, dtype=np.float32)
    attr = np.asarray(attr, dtype=float)
    if attr.ndim != 2 or attr.shape[0] != s.n_mels:
        raise UserInputError(f"The attribution must be (mels, frames) with {s.n_mels} bands.")
    if not 0 < keep < 1:
        raise UserInputError("keep must be a fraction between 0 and 1.")
    spec = librosa.stft(
        wave,
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        win_length=s.win_length,
        window="hann",
        center=True,
        pad_mode="constant",
    )  # (bins, frames)
    frames = min(spec.shape[1], attr.shape[1])
    a = attr[:, :frames]
    cut = np.quantile(a, 1 - keep)
    mask = (a >= cut) & (a > 0)
    fb = librosa.filters.mel(
        sr=s.sample_rate,
        n_fft=s.n_fft,
        n_mels=s.n_mels,
        fmin=s.fmin,
        fmax=s.fmax,
        htk=False,
        norm="slaney",
    )  # (mels, bins)
    cover = fb / np.maximum(fb.sum(0, keepdims=True), 1e-12)  # each bin's share of each band
    soft = np.clip(cover.T @ mask.astype(float), 0, 1)  # (bins, frames)
    full = np.zeros(spec.shape)
    full[:, :frames] = soft

    def back(m):
        return librosa.istft(spec * m, hop_length=s.hop_length, win_length=s.win_length,
                             window="hann", center=True, length=len(wave)).astype(np.float32)  # fmt: skip

    return back(full), back(1 - full), mask.astype(np.uint8)


# ---------------------------------------------------------------- one unit's arithmetic ----

MAX_STEPPED_CHANNELS = 8  # input channels a layer may have for its step-by-step view


@dataclass(frozen=True, eq=False)
class UnitOp:
    """A trained conv layer redone by core.explain.conv on the real input it received."""

    layer: str
    result: object  # core.explain.conv.OpResult: every window, product and sum
    torch_output: np.ndarray  # (F, *out) what the network itself computed
    in_channels: int

    @property
    def max_abs_diff(self) -> float:
        return float(np.abs(self.result.output - self.torch_output).max())


@torch.no_grad()
def unit_operation(model: nn.Sequential, x: torch.Tensor, layer: str) -> UnitOp:
    """Redo conv layer ``layer`` of ``model`` for input ``x`` (1, ...) with the explainer's
    arithmetic (core.explain.conv) on the real input it gets, weights and bias; and what
    PyTorch computed, to compare."""
    from core.explain import conv as C

    h = x
    for name, module in model.eval().named_children():
        if name == layer:
            break
        h = module(h)
    else:
        raise UserInputError(f"The model has no layer {layer!r}.")
    if not isinstance(module, CONV_TYPES):
        raise UserInputError(f"Layer {layer!r} is not a convolution.")
    if isinstance(module.padding, str) or module.padding_mode != "zeros" or module.groups != 1:
        raise UserInputError("This view redoes plain convolutions (zero padding, no groups).")
    w = module.weight.double().numpy()
    b = None if module.bias is None else module.bias.double().numpy()
    fn = C.conv2d if isinstance(module, nn.Conv2d) else C.conv1d
    result = fn(h[0].double().numpy(), w, b, stride=module.stride, padding=module.padding,
                dilation=module.dilation)  # fmt: skip
    out = module(h)[0].double().numpy()
    return UnitOp(layer, result, out, int(h.shape[1]))


def crop_operation(op: UnitOp, filt: int, row: int, col: int, *, size: int = 5):
    """The same convolution on a crop: about ``size`` x ``size`` output cells around output
    (row, col) of filter ``filt`` (a 1-D one: ``size`` outputs around position ``col``), from
    the padded input the layer saw (so every sum is the one the layer made). Returns the
    OpResult of the crop and its (row, col) offset (row 0 in 1-D)."""
    from core.explain import conv as C

    r = op.result
    if r.padded.ndim == 2:  # 1-D: about `size` outputs around position `col`
        (ow,), (sw,), (dw,), (kw,) = r.out_shape, r.stride, r.dilation, r.kernel_size
        c0 = min(max(int(col) - size // 2, 0), max(ow - size, 0))
        nc = min(size, ow)
        cols = slice(c0 * sw, (c0 + nc - 1) * sw + dw * (kw - 1) + 1)
        w = r.weights[filt : filt + 1]
        b = None if r.bias is None else r.bias[filt : filt + 1]
        crop = C.conv1d(r.padded[:, cols], w, b, stride=r.stride, dilation=r.dilation)
        return crop, (0, c0)
    (oh, ow), (sh, sw), (dh, dw) = r.out_shape, r.stride, r.dilation
    kh, kw = r.kernel_size
    r0 = min(max(int(row) - size // 2, 0), max(oh - size, 0))
    c0 = min(max(int(col) - size // 2, 0), max(ow - size, 0))
    nr, nc = min(size, oh), min(size, ow)
    rows = slice(r0 * sh, (r0 + nr - 1) * sh + dh * (kh - 1) + 1)
    cols = slice(c0 * sw, (c0 + nc - 1) * sw + dw * (kw - 1) + 1)
    w = r.weights[filt : filt + 1]
    b = None if r.bias is None else r.bias[filt : filt + 1]
    crop = C.conv2d(r.padded[:, rows, cols], w, b, stride=r.stride, dilation=r.dilation)
    return crop, (r0, c0)


# ------------------------------------------------------------------- your own input ----

OWN_CLIP_SECONDS = 60.0  # of an uploaded or recorded clip, decoded to find its loudest window


@dataclass(frozen=True, eq=False)
class OwnInput:
    """A user's picture or clip, made into what the network reads.

    x : (1, C, H, W) the input tensor; wave : (length,) float32 the window heard (audio, else
    None); notes : sentences about what was done to it (resampled, cut, padded).
    """

    x: torch.Tensor
    wave: np.ndarray | None
    notes: tuple[str, ...]


def own_picture(gray: np.ndarray, pre) -> OwnInput:
    """A grey picture in [0, 1] (drawn or uploaded) at the model's size, as Ask your model
    makes it (core.learn.classify.image_tensor)."""
    from core.learn.classify import image_tensor

    return OwnInput(image_tensor(gray, pre), None, ())


def own_clip(data: bytes, pre, *, name: str = "clip") -> OwnInput:
    """A recorded or uploaded clip: decoded (at most OWN_CLIP_SECONDS), refused when silent or
    too short, its loudest window of the model's length kept, made into what the model reads
    (its log-mel, or the waveform itself)."""
    from core.audio.clips import load_clip, require_signal
    from core.audio.trim import loudest_window
    from core.learn.classify import audio_tensor

    if pre.representation not in ("log-mel", "waveform"):
        raise UserInputError("This view reads clips for models of sound.")
    clip = load_clip(data, name=name, target_sr=pre.sample_rate, max_seconds=OWN_CLIP_SECONDS)
    require_signal(clip, purpose="show the network", frame=pre.frame)
    kept = loudest_window(clip.samples, sr=pre.sample_rate, length=pre.length)
    x = audio_tensor(kept.samples[None], pre)  # (1, 1, mels, frames), or (1, 1, T)
    notes = tuple(clip.notes) + ((f"The clip {kept.note}",) if kept.note else ())
    return OwnInput(x, kept.samples, notes)


def evidence_wave(wave: np.ndarray, attr: np.ndarray, *, sample_rate: int, keep: float = 0.2,
                  fade_ms: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """For a model that reads the waveform: the samples where ``attr`` (one value per sample)
    is in its top ``keep`` fraction, and the rest. The 0/1 mask is smoothed over ``fade_ms``
    so that its edges do not click. Returns (evidence, rest, mask) as long as ``wave``."""
    wave = np.asarray(wave, dtype=np.float32)
    attr = np.asarray(attr, dtype=np.float64).ravel()
    if attr.shape != wave.shape:
        raise UserInputError("The evidence and the clip differ in length.")
    cut = np.quantile(attr, 1.0 - keep)
    mask = (attr >= cut) & (attr > 0)
    n = max(1, int(sample_rate * fade_ms / 1000))
    soft = np.convolve(mask.astype(np.float64), np.ones(n) / n, mode="same")
    soft = np.clip(soft, 0.0, 1.0).astype(np.float32)
    return wave * soft, wave * (1.0 - soft), mask


# ------------------------------------------------------------ a unit's receptive field ----

# layers that keep every position where it is (a unit's field passes through them unchanged)
POINTWISE = (nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh,
             nn.Sigmoid, nn.Dropout, nn.Dropout2d, nn.Identity)  # fmt: skip


POINTWISE_1D = (nn.BatchNorm1d, nn.Dropout1d, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
                nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Identity)  # fmt: skip


def _traced(model: nn.Sequential, x: torch.Tensor, layer: str, *, nd: int):
    """Run ``x`` up to ``layer``, keeping each convolution or pooling of ``nd`` dimensions
    met on the way with the spatial shape of its input. Returns (steps, output of ``layer``);
    a sentence (UserInputError) for a layer whose field cannot be traced."""
    moving = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d) if nd == 2 else (nn.Conv1d, nn.MaxPool1d,
                                                                      nn.AvgPool1d)  # fmt: skip
    pointwise = POINTWISE if nd == 2 else POINTWISE_1D
    _module(model, layer)  # a sentence for a name the model does not have
    steps, h = [], x
    for name, module in model.eval().named_children():
        if isinstance(module, moving):
            if isinstance(module.padding, str) or getattr(module, "ceil_mode", False):
                raise UserInputError(f"Layer {name!r} pads in a way this view does not trace.")
            steps.append((tuple(int(n) for n in h.shape[2:]), module))
        elif not isinstance(module, pointwise):
            raise UserInputError(
                f"Layer {name!r} ({type(module).__name__}) mixes positions in a way this view "
                "does not trace, so the receptive field is not drawn for this model."
            )
        h = module(h)
        if name == layer:
            return steps, h
    raise UserInputError(f"The model has no layer {layer!r}.")


def _axis_layer(module: nn.Module, axis: int):
    """A convolution or pooling along one axis, as core.explain.receptive reads it."""
    from core.explain.receptive import Layer

    def along(v) -> int:
        return int(v[axis]) if isinstance(v, tuple | list) else int(v)

    kind = "conv" if isinstance(module, nn.Conv1d | nn.Conv2d) else "pool"
    return Layer(kind, along(module.kernel_size), along(module.stride), along(module.padding),
                 along(getattr(module, "dilation", 1)))  # fmt: skip


@torch.no_grad()
def unit_field(model: nn.Sequential, x: torch.Tensor, layer: str, row: int, col: int):
    """The input positions unit (row, col) of 2-D layer ``layer`` depends on.

    Traced down through every convolution and pooling below it with core.explain.receptive's
    arithmetic, one axis at a time (kernels need not be square): dilation holes left out,
    clipped at the borders, the part of a window on padding dropped.

    Returns
    -------
    (rows, cols) : core.explain.receptive.AxisRegion on the input's height and width
    """
    from core.explain.receptive import AxisRegion, field_below

    steps, h = _traced(model, x, layer, nd=2)
    if h.ndim != 4:
        raise UserInputError("Receptive fields are drawn for 2-D layers.")
    oh, ow = h.shape[2:]
    if not (0 <= int(row) < oh and 0 <= int(col) < ow):
        raise UserInputError(f"Layer {layer!r} is {oh}×{ow}: pick a row below {oh} and a "
                             f"column below {ow}.")  # fmt: skip
    rows, cols = np.array([int(row)]), np.array([int(col)])
    r_reg = c_reg = None
    for (hh, ww), module in reversed(steps):
        r_reg = field_below(rows, _axis_layer(module, 0), hh)
        c_reg = field_below(cols, _axis_layer(module, 1), ww)
        rows, cols = r_reg.positions, c_reg.positions
    if r_reg is None:  # no conv or pool below: the unit reads its own position
        empty = np.array([], dtype=int)
        r_reg, c_reg = AxisRegion(oh, rows, empty), AxisRegion(ow, cols, empty)
    return r_reg, c_reg


@torch.no_grad()
def unit_field_1d(model: nn.Sequential, x: torch.Tensor, layer: str, pos: int):
    """The input samples unit ``pos`` of 1-D layer ``layer`` depends on: :func:`unit_field`
    for a model that reads a waveform. Returns a core.explain.receptive.AxisRegion on the
    input's time axis."""
    from core.explain.receptive import AxisRegion, field_below

    steps, h = _traced(model, x, layer, nd=1)
    if h.ndim != 3:
        raise UserInputError("This receptive field is traced for 1-D layers.")
    n = int(h.shape[2])
    if not 0 <= int(pos) < n:
        raise UserInputError(f"Layer {layer!r} has {n} positions: pick one below {n}.")
    positions, region = np.array([int(pos)]), None
    for (length,), module in reversed(steps):
        region = field_below(positions, _axis_layer(module, 0), length)
        positions = region.positions
    return region if region is not None else AxisRegion(n, positions, np.array([], dtype=int))


def field_in_audio(rows, cols, settings) -> dict:
    """A log-mel region (rows = mel bands, cols = frames) in Hz and ms.

    ``settings`` is core.audio.features.FeatureSettings. Frames are centred (frame c is
    centred on sample c * hop and spans n_fft samples); band b spans mel edges b to b + 2.
    """
    import librosa

    hop_ms = 1000.0 * settings.hop_length / settings.sample_rate
    win_ms = 1000.0 * settings.n_fft / settings.sample_rate
    edges = librosa.mel_frequencies(n_mels=settings.n_mels + 2, fmin=settings.fmin,
                                    fmax=settings.fmax or settings.sample_rate / 2, htk=False)  # fmt: skip
    return {
        "t_ms": (max(cols.lo * hop_ms - win_ms / 2, 0.0), cols.hi * hop_ms + win_ms / 2),
        "hz": (float(edges[rows.lo]), float(edges[rows.hi + 2])),
        "frames": (cols.lo, cols.hi),
        "bands": (rows.lo, rows.hi),
    }


def box_audio(wave: np.ndarray, rows, cols, settings) -> np.ndarray:
    """Only the time-frequency box of a log-mel region, heard: the STFT masked to the bins
    under those mel bands and the frames, original phase kept, inverted."""
    mask = np.zeros((settings.n_mels, cols.size))
    mask[np.ix_(rows.positions, cols.positions)] = 1.0
    evidence, _, _ = evidence_audio(wave, mask, settings, keep=0.5)
    return evidence


# ------------------------------------------------------------- what excites a deep filter ----


def excite(model: nn.Sequential, layer: str, channel: int, shape: tuple[int, ...], *,
           steps: int = 40, lr: float = 0.1, decay: float = 0.05, seed: int = 0) -> np.ndarray:  # fmt: skip
    """An input that excites ``channel`` of ``layer`` strongly: gradient ascent on the input
    (from small noise) on that channel's mean activation, with an L2 penalty so it stays an
    input-like size. An approximation: one of many inputs that would do, found in ``steps``
    steps. ``shape`` is the model's input shape without the batch, e.g. (1, 28, 28)."""
    module = _module(model, layer)
    model = model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = (0.01 * torch.randn(1, *shape, generator=gen)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    caught = {}
    hook = module.register_forward_hook(lambda _m, _i, out: caught.__setitem__("out", out))
    try:
        for _ in range(int(steps)):
            opt.zero_grad()
            model(x)
            out = caught["out"]
            if not 0 <= channel < out.shape[1]:
                raise UserInputError(f"{layer} has {out.shape[1]} channels; there is no {channel}.")
            loss = -out[0, channel].mean() + decay * x.pow(2).mean()
            loss.backward()
            opt.step()
    finally:
        hook.remove()
    return x.detach()[0].numpy()
