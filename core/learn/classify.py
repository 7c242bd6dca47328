"""Ask a trained model about a new clip or picture, with the same preprocessing as in training.

A :class:`Preprocess` records how training examples were turned into tensors (the
representation, the feature settings and the fixed length or picture size; log-mels are
standardised clip by clip, as core.data.shipped does for training). :func:`classify_clip`
applies it to a clip of any length: a clip longer than the training window is scored in
overlapping windows, a batch of windows at a time, giving a timeline of the winning class
and its probability; the clip's answer is the average of the windows' probabilities.

How long a clip may be is :func:`clip_limit`'s answer: at most :data:`MAX_CLIP_SECONDS`,
and fewer seconds of a file whose rate and channels would decode to more than
:data:`MAX_DECODED_VALUES` samples::

    limit = clip_limit(data)
    clip = core.audio.load_clip(data, target_sr=pre.sample_rate, max_seconds=limit.seconds)
    prediction = classify_clip(model, clip.samples, pre=pre, class_names=names,
                               progress=lambda done: print(f"{done:.0%}"))
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from core.audio.clips import MAX_CELLS, MAX_DECODED_VALUES, MAX_SR, MIN_SR
from core.errors import UserInputError
from core.explain.summary import MAX_INPUT_SIZE, show

MAX_CLIP_SECONDS = 3600.0  # the longest clip a model is asked about: 60 minutes
# core.audio.clips.MAX_DECODED_VALUES: the samples (all channels together) a file may decode
# to before it is mixed down and resampled, 256 MB of float32. 60 minutes of 16 kHz mono fit;
# of 48 kHz stereo, 11.6 minutes.
_ANY_FILE_RATE = 192_000 * 8  # the highest rate times the most channels the decoder accepts


def _duration(seconds: float) -> str:
    """Seconds as words: '45.0 s', '11 min 39 s', '60 minutes'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} minutes" if rest == 0 else f"{minutes} min {rest} s"


@dataclass(frozen=True)
class ClipLimit:
    """How much of one file is decoded and scored.

    seconds : the most seconds of the file decoded (``load_clip``'s ``max_seconds``)
    rate, channels : what the file's header says (0 when it could not be read)
    cap : the longest clip asked about, whatever the file (``seconds`` is less when the file
        would decode to more than :data:`MAX_DECODED_VALUES` samples)
    """

    seconds: float
    rate: int = 0
    channels: int = 0
    cap: float = MAX_CLIP_SECONDS

    def note(self, name: str, source_seconds: float) -> str | None:
        """The sentence for a file longer than the limit (None when it fits)."""
        if source_seconds <= self.seconds:
            return None
        said = f"“{name}” lasts {_duration(source_seconds)}; "
        if self.seconds >= self.cap:
            return said + (
                f"a model is asked about at most the first {_duration(self.cap)} of a clip, "
                f"so only those were scored. Cut the recording into parts of "
                f"{_duration(self.cap)} or less to hear about the rest."
            )
        what = (
            f"at {self.rate} Hz with {self.channels} channel{'s' * (self.channels != 1)}"
            if self.rate
            else "with no rate or channel count in its header"
        )
        return said + (
            f"{what} the file decodes to so many samples that only its first "
            f"{_duration(self.seconds)} are read (up to {MAX_DECODED_VALUES / 1e6:.0f} million "
            f"samples, all channels together), and only those were scored. A mono copy at "
            f"16000 Hz can last up to {_duration(min(self.cap, MAX_DECODED_VALUES / 16000))}."
        )


def clip_limit(data: bytes, *, max_seconds: float = MAX_CLIP_SECONDS) -> ClipLimit:
    """How many seconds of the audio file ``data`` to decode: at most ``max_seconds``, and no
    more than :data:`MAX_DECODED_VALUES` samples at the rate and channel count its header
    states (a file whose header cannot be read gets the limit of the largest file the
    decoder accepts, 192 kHz with 8 channels; such a file is usually refused anyway)."""
    rate, channels = _header(data)
    values_per_second = rate * channels if rate > 0 and channels > 0 else _ANY_FILE_RATE
    seconds = min(float(max_seconds), MAX_DECODED_VALUES / values_per_second)
    return ClipLimit(seconds, rate, channels, cap=float(max_seconds))


def _header(data: bytes) -> tuple[int, int]:
    """The sample rate and channel count a file's header states, (0, 0) if unreadable.

    libsndfile first, then FFmpeg (PyAV), as core.audio.clips decodes; only headers are read.
    """
    try:
        import soundfile as sf

        info = sf.info(io.BytesIO(data))
        return int(info.samplerate), int(info.channels)
    except Exception:  # noqa: BLE001 - not a libsndfile format: try FFmpeg
        pass
    try:
        import av

        from core.audio.clips import AV_FORMATS

        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore",
                     options={"format_whitelist": AV_FORMATS}) as container:  # fmt: skip
            stream = next(s for s in container.streams if s.type == "audio")
            ctx = stream.codec_context
            channels = getattr(ctx, "channels", 0) or stream.layout.nb_channels
            return int(stream.rate or ctx.sample_rate or 0), int(channels or 0)
    except Exception:  # noqa: BLE001 - FFmpeg raises its own errors for undecodable data
        return 0, 0


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
    def from_dict(cls, d: dict, *, input_shape=None) -> Preprocess:
        """Rebuild saved settings (a model bundle's ``features``), checking every field.

        ``input_shape`` is what the model reads; when given, the settings must produce it
        (a waveform model reads ``(1, length)``, a log-mel model ``(1, n_mels, frames)``, a
        picture model its ``image_shape``). Raises UserInputError with a sentence for a
        missing, unknown, mistyped or out-of-range field.
        """
        return _checked_preprocess(d, input_shape)


REPRESENTATIONS = ("log-mel", "waveform", "image")
MAX_EXAMPLE_SECONDS = 60  # the longest example (training window) a saved model may read
MAX_N_FFT = 16_384  # as the audio page's STFT (core.audio.spectral.StftParams.check)
MAX_IMAGE_SIDE = 1024  # channels, height and width of a picture a saved model reads
# core.audio.features.FeatureSettings' fields and the type each holds (mirrored here because
# that module imports torch; tests/test_untrusted_bundles.py checks they agree)
SETTING_TYPES = {"sample_rate": "whole", "n_fft": "whole", "hop_length": "whole",
                 "win_length": "whole or None", "n_mels": "whole", "fmin": "number",
                 "fmax": "number or None", "top_db": "number or None"}  # fmt: skip


def _whole(value, what: str, low: int, high: int, unit: str = "") -> int:
    """``value`` if it is an int (not a bool, float or string) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserInputError(
            f"The saved {what} must be a whole number from {low:,} to {high:,}{unit}; "
            f"got {show(value)}."
        )
    return value


def _finite(value) -> bool:
    """Whether ``value`` is an int or float (not a bool) that is a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int of hundreds of digits
        return False


def _checked_preprocess(d, input_shape) -> Preprocess:
    if not isinstance(d, dict):
        raise UserInputError(
            f"The saved feature settings are not readable: expected a mapping, got {show(d)}."
        )
    known = [f.name for f in fields(Preprocess)]
    unknown = [k for k in d if k not in known]
    if unknown:
        raise UserInputError(
            f"The saved feature settings are not readable: {show(unknown[0])} is not one of "
            f"{', '.join(known)}."
        )
    rep = d.get("representation")
    if not isinstance(rep, str) or rep not in REPRESENTATIONS:
        raise UserInputError(
            f"The saved representation must be one of {', '.join(REPRESENTATIONS)}; "
            f"got {show(rep)}."
        )
    shape = None if input_shape is None else tuple(input_shape)
    rate = _whole(d.get("sample_rate", 16_000), "sample rate", MIN_SR, MAX_SR, " Hz")
    most = min(MAX_EXAMPLE_SECONDS * rate, MAX_INPUT_SIZE)
    samples = f" samples ({most / rate:.3g} s at {rate} Hz)"
    settings = d.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise UserInputError(
            f"The saved log-mel settings must be a mapping of names to values; got {show(settings)}."
        )
    if rep == "image":
        length = _whole(d.get("length", 0), "clip length", 0, most, samples)
        image_shape = _image_shape(d.get("image_shape"), shape)
        _, h, w = image_shape
        pad = _whole(d.get("pad", 0), "border (pad)", 0, (min(h, w) - 1) // 2,
                     f" pixels for a {h}x{w} input")  # fmt: skip
        return Preprocess(rep, length, rate, settings, image_shape, pad)
    length = _whole(d.get("length", 0), "clip length", 1, most, samples)
    if d.get("image_shape") is not None:
        raise UserInputError(
            f"A {rep} model reads sound, yet its saved settings give a picture size (image_shape)."
        )
    pad = d.get("pad", 0)
    if isinstance(pad, bool) or not isinstance(pad, int) or pad != 0:
        raise UserInputError(
            f"A {rep} model adds no border to pictures: its saved pad must be 0; got {show(pad)}."
        )
    if rep == "waveform":
        if shape is not None and shape != (1, length):
            raise UserInputError(
                f"The model reads inputs shaped {shape}, but its saved settings cut clips of "
                f"{length:,} samples, which a waveform model reads as (1, {length})."
            )
        return Preprocess(rep, length, rate, settings)
    _check_log_mel(settings, rate, length, shape)
    return Preprocess(rep, length, rate, settings)


def _image_shape(value, shape) -> tuple[int, int, int]:
    """A picture model's saved ``image_shape``: 3 whole numbers, equal to the model's input."""
    if value is None:
        raise UserInputError(
            "A picture model's saved settings must give image_shape, the (channels, height, "
            "width) it reads."
        )
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise UserInputError(
            "The saved image_shape must list 3 whole numbers (channels, height, width); "
            f"got {show(value)}."
        )
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_IMAGE_SIDE:
            raise UserInputError(
                "The saved image_shape must list 3 whole numbers from 1 to "
                f"{MAX_IMAGE_SIDE:,} (channels, height, width); got {show(list(value))}."
            )
    c, h, w = value
    if shape is not None and (c, h, w) != shape:
        raise UserInputError(
            f"The saved image_shape ({c}, {h}, {w}) does not match the input the model reads, "
            f"{shape}."
        )
    return (c, h, w)


def _check_log_mel(settings, rate: int, length: int, shape) -> None:
    """Check a log-mel model's saved settings: types, the audio page's caps, FeatureSettings'
    own ranges, the work per clip and (with ``shape``) the input they produce."""
    given = dict(settings) if settings is not None else {"sample_rate": rate}  # as audio_tensor
    unknown = [k for k in given if k not in SETTING_TYPES]
    if unknown:
        raise UserInputError(
            f"The saved log-mel settings are not readable: {show(unknown[0])} is not one of "
            f"{', '.join(SETTING_TYPES)}."
        )
    for key, kind in SETTING_TYPES.items():
        value = given.get(key)
        if key not in given or (value is None and kind.endswith("or None")):
            continue
        if kind.startswith("whole") and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserInputError(
                f"The saved log-mel setting {key} must be a whole number; got {show(value)}."
            )
        if kind.startswith("number") and not _finite(value):
            raise UserInputError(
                f"The saved log-mel setting {key} must be a finite number; got {show(value)}."
            )
    for key, low in (("n_fft", 2), ("hop_length", 1)):  # the audio page's caps
        if key in given:
            _whole(given[key], f"log-mel setting {key}", low, MAX_N_FFT)
    if given.get("sample_rate", 16_000) != rate:
        raise UserInputError(
            f"The saved log-mel settings are for {given.get('sample_rate', 16_000)} Hz, but the "
            f"model's clips are read at {rate} Hz."
        )
    from core.audio.features import FeatureSettings

    s = FeatureSettings(**given)  # its own ranges: window, mels, fmin < fmax, top_db
    frames, bins = s.n_frames(length), s.n_fft // 2 + 1
    if frames * bins > MAX_CELLS:
        raise UserInputError(
            f"The saved log-mel settings give {frames:,} frames of {bins:,} frequency bins per "
            f"clip, more than the {MAX_CELLS:,} this app computes."
        )
    if shape is not None and shape != (1, s.n_mels, frames):
        raise UserInputError(
            f"The model reads inputs shaped {shape}, but its saved log-mel settings make "
            f"(1, {s.n_mels}, {frames}) from a clip of {length:,} samples."
        )


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


@functools.lru_cache(maxsize=8)
def _log_mel(settings: tuple):
    """The log-mel extractor of ``settings`` (sorted items), built once: its window and
    filterbank are buffers every batch reuses."""
    from core.audio.features import FeatureSettings, LogMel

    return LogMel(FeatureSettings(**dict(settings))).eval()


def audio_tensor(windows: np.ndarray, pre: Preprocess):
    """(N, T) waveforms -> the tensor the model reads: (N, 1, n_mels, frames) or (N, 1, T)."""
    import torch

    wav = torch.as_tensor(np.asarray(windows, dtype=np.float32))
    if pre.representation == "waveform":
        return wav[:, None]  # (N, 1, T)
    from core.data.shipped import standardize_per_clip

    settings = pre.settings or {"sample_rate": pre.sample_rate}
    try:
        extract = _log_mel(tuple(sorted(settings.items())))
    except TypeError as err:  # unknown or unhashable settings in a saved model
        raise UserInputError(f"The saved feature settings are not readable ({err}).") from None
    with torch.no_grad():
        return standardize_per_clip(extract(wav))  # as in training: each clip on its own


def window_starts(n_samples: int, length: int, *, hop: int | None = None) -> np.ndarray:
    """Start indices of the windows a clip of ``n_samples`` is scored in: (W,).

    A clip no longer than one window is one window (centred in it, see :func:`window_batch`);
    a longer one gets ``W = 1 + ceil((n_samples - length) / hop)`` windows ``hop`` samples
    apart (half a window by default), the last one reaching the clip's last sample.
    """
    if length < 1:
        raise UserInputError("The model's input length is unknown.")
    hop = hop or max(length // 2, 1)
    if not 1 <= hop <= length:
        raise UserInputError(f"The hop must be 1 to {length} samples (one window); got {hop}.")
    if n_samples <= length:
        return np.array([0])
    return np.arange(1 + -(-(n_samples - length) // hop)) * hop


def window_batch(samples: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """The windows of ``samples`` at ``starts``: (len(starts), length) float32.

    A window running past the clip's end is padded with zeros; a clip shorter than one
    window is centred in it, as in training.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) <= length:
        from core.data.shipped import fit_length

        return np.repeat(fit_length(samples, length)[None], len(starts), axis=0)
    out = np.zeros((len(starts), length), dtype=np.float32)  # (W, length)
    for row, start in zip(out, starts, strict=True):
        piece = samples[start : start + length]
        row[: len(piece)] = piece
    return out


def windows_of(
    samples: np.ndarray, length: int, *, hop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a clip into windows of ``length`` samples (hop = half a window); pad the last one.

    Returns the windows (W, length) and their start indices (W,). A clip shorter than one
    window is centred in it, as in training. (This holds every window at once: a long clip
    is scored batch by batch by :func:`classify_clip` instead.)
    """
    starts = window_starts(len(samples), length, hop=hop)
    return window_batch(samples, starts, length), starts


def classify_clip(model, samples: np.ndarray, *, pre: Preprocess, class_names, head: str = "softmax",
                  hop: int | None = None, batch: int = 64, progress=None,
                  max_seconds: float | None = None) -> Prediction:  # fmt: skip
    """Probabilities for a clip at ``pre.sample_rate``; long clips scored window by window.

    The windows (:func:`window_starts`) are cut, turned into features and run through the
    model ``batch`` at a time, so memory stays that of one batch whatever the clip's length;
    the numbers are those of scoring each window on its own.

    Parameters
    ----------
    samples : np.ndarray
        (n_samples,) mono at ``pre.sample_rate``.
    hop : int, optional
        Samples between window starts; half a window by default.
    batch : int
        Windows per forward pass.
    progress : callable, optional
        Called with the fraction of windows scored (increasing, ending at 1.0) after each batch.
    max_seconds : float, optional
        Refuse a longer clip (default :data:`MAX_CLIP_SECONDS`).
    """
    samples = np.asarray(samples, dtype=np.float32)
    limit = MAX_CLIP_SECONDS if max_seconds is None else max_seconds
    if len(samples) > limit * pre.sample_rate + 0.5:
        raise UserInputError(
            f"The clip lasts {_duration(len(samples) / pre.sample_rate)}; clips up to "
            f"{_duration(limit)} can be classified."
        )
    starts = window_starts(len(samples), pre.length, hop=hop)
    batch = max(int(batch), 1)
    parts = []
    for i in range(0, len(starts), batch):
        x = audio_tensor(window_batch(samples, starts[i : i + batch], pre.length), pre)
        parts.append(_probabilities(model, x, head))  # (b, K)
        if progress is not None:
            progress(min(i + batch, len(starts)) / len(starts))
    probs = np.concatenate(parts)  # (W, K)
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
