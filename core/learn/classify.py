"""Ask a trained model about a new clip or picture, with the same preprocessing as in training.

A :class:`Preprocess` records how training examples were turned into tensors (the
representation, the feature settings and the fixed length or picture size; log-mels are
standardised clip by clip, as core.data.shipped does for training). :func:`classify_clip` applies it to a clip of any length: a clip longer than the
training window is scored in overlapping windows, giving a timeline of the winning class
and its probability; the clip's answer is the average of the windows' probabilities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.errors import UserInputError


@dataclass(frozen=True)
class Preprocess:
    """How examples become model inputs. Saved in a model bundle's ``features``."""

    representation: str  # "log-mel", "waveform" or "image"
    length: int = 0  # samples per example (audio)
    sample_rate: int = 16_000
    settings: dict | None = None  # core.audio.features.FeatureSettings as a dict (log-mel)
    image_shape: tuple[int, ...] | None = None  # (C, H, W) the model reads (images)
    pad: int = 0  # zero border added around each picture (LeNet-5 reads 28x28 digits as 32x32)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frame(self) -> int | None:
        """Samples in one analysis frame of a log-mel model (its window), None otherwise: a
        clip shorter than this holds no frame the model was trained to read."""
        if self.representation != "log-mel":
            return None
        settings = self.settings or {}
        return int(settings.get("win_length") or settings.get("n_fft") or 512)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        try:
            d = dict(d)
            if d.get("image_shape") is not None:
                d["image_shape"] = tuple(d["image_shape"])
            return cls(**d)
        except TypeError as err:
            raise UserInputError(f"The saved feature settings are not readable ({err}).") from None


def preprocess_for(ds, inputs, input_shape) -> Preprocess:
    """How a new clip or picture must be prepared to be asked of a model trained on ``inputs``.

    ``ds`` is the core.data.shipped.Dataset trained on, ``inputs`` its ModelInputs and
    ``input_shape`` (C, H, W) or (C, T) what the model reads. The log-mel settings are the
    ones the training features were made with, so a saved model records them.
    """
    if inputs.representation == "image":  # the border the inputs were made with (LeNet-5: 2)
        return Preprocess("image", image_shape=tuple(input_shape), pad=int(inputs.pad))
    settings = asdict(inputs.settings) if inputs.settings is not None else None
    return Preprocess(inputs.representation, length=int(ds.x.shape[1]),
                      sample_rate=int(ds.sample_rate), settings=settings)  # fmt: skip


@dataclass
class Prediction:
    """Class probabilities for the whole input, and per window for long clips."""

    class_names: list[str]
    probs: np.ndarray  # (K,)
    window_starts: np.ndarray | None = None  # (W,) seconds
    window_probs: np.ndarray | None = None  # (W, K)
    window_seconds: float = 0.0

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(self.class_names[i], float(self.probs[i])) for i in order]


def _probabilities(model, x, head: str) -> np.ndarray:
    """Softmax (or sigmoid for one output) of the model's logits: (N, K)."""
    import torch

    model.eval()
    with torch.no_grad():
        device = next(model.parameters()).device
        logits = model(x.to(device)).float().cpu()
    if logits.shape[1] == 1 or head == "sigmoid":
        if logits.shape[1] == 1:
            p1 = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p1, p1], dim=1).numpy()
        return torch.sigmoid(logits).numpy()
    return torch.softmax(logits, dim=1).numpy()


def audio_tensor(windows: np.ndarray, pre: Preprocess):
    """(N, T) waveforms -> the tensor the model reads: (N, 1, n_mels, frames) or (N, 1, T)."""
    import torch

    wav = torch.as_tensor(np.asarray(windows, dtype=np.float32))
    if pre.representation == "waveform":
        return wav[:, None]
    from core.audio.features import FeatureSettings, LogMel
    from core.data.shipped import standardize_per_clip

    extract = LogMel(FeatureSettings(**(pre.settings or {"sample_rate": pre.sample_rate})))
    with torch.no_grad():
        return standardize_per_clip(extract(wav))  # as in training: each clip on its own


def windows_of(
    samples: np.ndarray, length: int, *, hop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a clip into windows of ``length`` samples (hop = half a window); pad the last one.

    Returns the windows (W, length) and their start indices (W,). A clip shorter than one
    window is centred in it, as in training.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if length < 1:
        raise UserInputError("The model's input length is unknown.")
    if len(samples) <= length:
        from core.data.shipped import fit_length

        return fit_length(samples, length)[None], np.array([0])
    hop = hop or max(length // 2, 1)
    starts = np.arange(0, len(samples) - length + hop, hop)
    starts = starts[starts < len(samples)]
    padded = np.concatenate([samples, np.zeros(length, dtype=np.float32)])
    return np.stack([padded[s : s + length] for s in starts]), starts


def classify_clip(model, samples: np.ndarray, *, pre: Preprocess, class_names, head: str = "softmax",
                  max_windows: int = 600) -> Prediction:  # fmt: skip
    """Probabilities for a clip at ``pre.sample_rate``; long clips scored window by window."""
    windows, starts = windows_of(samples, pre.length)
    if len(windows) > max_windows:
        raise UserInputError(
            f"The clip would need {len(windows)} windows; clips up to "
            f"{max_windows * pre.length / 2 / pre.sample_rate:.0f} s can be classified."
        )
    probs = np.concatenate(
        [_probabilities(model, audio_tensor(windows[i : i + 64], pre), head)
         for i in range(0, len(windows), 64)]
    )  # fmt: skip
    return Prediction(list(class_names), probs.mean(axis=0), starts / pre.sample_rate, probs,
                      pre.length / pre.sample_rate)  # fmt: skip


def image_tensor(gray: np.ndarray, pre: Preprocess):
    """A grey picture in [0, 1] -> (1, C, H, W) at the model's size (what the network sees)."""
    import torch
    from PIL import Image

    c, h, w = pre.image_shape
    p = pre.pad
    pil = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8))
    arr = np.asarray(pil.resize((w - 2 * p, h - 2 * p), Image.Resampling.LANCZOS), dtype=np.float32)
    arr = np.pad(arr / 255.0, p)  # (H, W)
    x = torch.as_tensor(arr)[None, None]  # (1, 1, H, W)
    return x.repeat(1, c, 1, 1) if c > 1 else x


def drawing_to_digit(
    rgba: np.ndarray | None, *, size: int = 28, box: int = 20
) -> np.ndarray | None:
    """A drawing (H, W, 4) uint8, light strokes on dark, as an MNIST-style digit: (size, size).

    MNIST's digits were cropped to their strokes, scaled to fit a ``box``-pixel square and
    centred by their centre of mass in a ``size``-pixel frame; a drawing is prepared the same
    way so that the network sees what it was trained on. Returns None for an empty drawing.
    """
    from PIL import Image

    if rgba is None:
        return None
    gray = np.asarray(rgba, dtype=np.float64)[..., :3].mean(axis=-1) / 255.0  # (H, W)
    ys, xs = np.nonzero(gray > 0.1)
    if len(ys) < 5:
        return None
    crop = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize((w, h), Image.Resampling.LANCZOS)
    small = np.asarray(small, dtype=np.float64) / 255.0
    out = np.zeros((size, size))
    top, left = (size - h) // 2, (size - w) // 2
    out[top : top + h, left : left + w] = small
    mass = out.sum()
    cy = (out.sum(axis=1) * np.arange(size)).sum() / mass
    cx = (out.sum(axis=0) * np.arange(size)).sum() / mass
    dy, dx = round(size / 2 - 0.5 - cy), round(size / 2 - 0.5 - cx)
    return np.roll(np.roll(out, dy, axis=0), dx, axis=1)


def classify_image(
    model, gray: np.ndarray, *, pre: Preprocess, class_names, head: str = "softmax"
) -> Prediction:
    """Probabilities for one grey picture."""
    probs = _probabilities(model, image_tensor(gray, pre), head)[0]
    return Prediction(list(class_names), probs)
