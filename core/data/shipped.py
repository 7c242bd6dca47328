"""Datasets that work offline, held in memory: digits, spoken commands, instruments.

Each loader returns a :class:`Dataset` record: the examples as one numpy array, the labels, the
class names, and a deterministic train / validation / test split (stratified by class):

- ``load_digits()``: 5,000 MNIST digits (500 per class) shipped in ``assets/digits``;
  x (5000, 1, 28, 28) float32 in [0, 1].
- ``load_commands()``: 960 Italian voice commands (8 intents, 5 phrasings each, synthetic
  voices) shipped in ``assets/commands``; x (960, 32000) float32 waveforms, 2 s at 16 kHz.
- ``load_gm_instruments()``: 720 one-second notes of 30 General MIDI instruments (piano,
  organs, guitars, basses, strings, brass, reeds, pipes, mallets, ...) rendered with
  FluidSynth from the Fluid R3 SoundFont, shipped in ``assets/gm_instruments``;
  x (720, 16000) float32, 1 s at 16 kHz; the split is the one fixed in its ``index.csv``
  (the test notes are at pitches the training set never plays on that instrument).
- ``synth_instruments(seed=...)``: 6 instrument timbres synthesised on the spot (sine/flute,
  square/clarinet, sawtooth/brass, Karplus-Strong plucked string, FM bell, noise-burst drum)
  with random pitch, loudness, length, onset and noise; x (N, 16000) float32, 1 s at 16 kHz.

``model_inputs(ds, representation=..., pad=...)`` turns a dataset into the tensors a model
reads: images as they are (or with a border), audio as a log-mel spectrogram
(N, 1, mels, frames) or as a raw waveform (N, 1, T). Which one a model reads is decided in
core.learn.task, the one owner of that knowledge.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserInputError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DATASETS = ("digits", "commands", "instruments", "gm_instruments")
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)  # train, validation, test
SPLIT_SEED = 1234

INSTRUMENTS = ("flute (sine)", "clarinet (square)", "brass (sawtooth)", "plucked string", "bell (FM)", "drum")  # fmt: skip


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset held in memory.

    Attributes
    ----------
    name : str
    kind : {"image", "audio"}
    x : np.ndarray float32
        Images (N, C, H, W) in [0, 1], or waveforms (N, T) in [-1, 1].
    y : np.ndarray int64, shape (N,)
        Class index of each example.
    class_names : tuple of str, one per class
    splits : dict "train" / "val" / "test" -> sorted int64 index arrays into x and y
    sample_rate : int or None (audio only)
    image_shape : (C, H, W) or None (images only)
    info : list of dict, one per example (e.g. the sentence spoken and the voice), may be empty
    """

    name: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    splits: dict[str, np.ndarray]
    sample_rate: int | None = None
    image_shape: tuple[int, int, int] | None = None
    info: list[dict] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The examples and labels of one split ("train", "val" or "test")."""
        idx = self.splits[name]
        return self.x[idx], self.y[idx]


def stratified_split(
    y: np.ndarray, *, fractions=SPLIT_FRACTIONS, seed: int = SPLIT_SEED
) -> dict[str, np.ndarray]:
    """Split indices into train / val / test with the same class proportions in each.

    Within each class the indices are shuffled with ``seed`` and cut by ``fractions``
    (rounded); the result depends only on ``y``, ``fractions`` and ``seed``.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_train = round(len(idx) * fractions[0])
        n_val = round(len(idx) * fractions[1])
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train : n_train + n_val])
        parts["test"].append(idx[n_train + n_val :])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}


def stratified_limit(
    index: np.ndarray, y: np.ndarray, limit: int, *, seed: int = SPLIT_SEED
) -> np.ndarray:
    """At most ``limit`` of ``index``, keeping every class in its share (at least one each).

    ``index`` holds positions into ``y``; the kept positions are sorted. Taking the first
    ``limit`` rows instead kept digits 0-2 only, since the shipped sets are sorted by class.
    """
    index = np.asarray(index)
    if limit <= 0 or limit >= len(index):
        return index
    rng = np.random.default_rng(seed)
    labels = np.asarray(y)[index]
    classes = np.unique(labels)
    if limit < len(classes):
        raise UserInputError(
            f"A limit of {limit} examples cannot keep all {len(classes)} classes; use at least "
            f"{len(classes)}."
        )
    kept = []
    for c in classes:
        members = index[labels == c]
        share = max(1, round(limit * len(members) / len(index)))
        kept.append(rng.permutation(members)[:share])
    out = np.sort(np.concatenate(kept))
    return out[np.sort(rng.permutation(len(out))[:limit])] if len(out) > limit else out


# ------------------------------------------------------------------------------ digits ----


def load_digits(*, path: Path | None = None) -> Dataset:
    """The 5,000-image MNIST subset (500 per digit); x (5000, 1, 28, 28) float32 in [0, 1]."""
    path = path or ASSETS / "digits" / "mnist_5k.npz"
    with np.load(path) as f:
        x8, y = f["x"], f["y"]  # (N, 28, 28) uint8, (N,) uint8
    x = (x8.astype(np.float32) / 255.0)[:, None]  # (N, 1, 28, 28)
    y = y.astype(np.int64)
    return Dataset(
        name="digits",
        kind="image",
        x=x,
        y=y,
        class_names=tuple(str(d) for d in range(10)),
        splits=stratified_split(y),
        image_shape=(1, 28, 28),
    )


# ---------------------------------------------------------------------- spoken commands ----


def fit_length(clip: np.ndarray, length: int) -> np.ndarray:
    """Centre ``clip`` in a window of ``length`` samples (zero padding or cropping both ends)."""
    if len(clip) >= length:
        start = (len(clip) - length) // 2
        return clip[start : start + length]
    out = np.zeros(length, dtype=np.float32)
    start = (length - len(clip)) // 2
    out[start : start + len(clip)] = clip
    return out


def load_commands(*, folder: Path | None = None, seconds: float = 2.0) -> Dataset:
    """Italian spoken commands labelled with their intent; x (N, seconds*16000) float32."""
    import soundfile as sf

    folder = folder or ASSETS / "commands"
    with open(folder / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tracks: dict[str, np.ndarray] = {}
    sr = 16_000
    for name in dict.fromkeys(r["file"] for r in rows):
        audio, sr_file = sf.read(folder / name, dtype="float32")
        if sr_file != sr or audio.ndim != 1:
            raise ValueError(f"{name}: expected mono 16 kHz audio")
        tracks[name] = audio
    class_names = tuple(dict.fromkeys(r["intent"] for r in rows))
    length = int(round(seconds * sr))
    x = np.stack(
        [
            fit_length(
                tracks[r["file"]][int(r["start"]) : int(r["start"]) + int(r["length"])], length
            )
            for r in rows
        ]
    )  # (N, T)
    y = np.array([class_names.index(r["intent"]) for r in rows], dtype=np.int64)
    info = [
        {"text": r["text"], "voice": r["voice"], "speed_wpm": int(r["speed_wpm"])} for r in rows
    ]
    return Dataset(
        name="commands",
        kind="audio",
        x=x,
        y=y,
        class_names=class_names,
        splits=stratified_split(y),
        sample_rate=sr,
        info=info,
    )


# ------------------------------------------------------------- General MIDI instruments ----

SPLITS = ("train", "val", "test")


def load_gm_instruments(*, folder: Path | None = None) -> Dataset:
    """Notes of 30 General MIDI instruments rendered with FluidSynth; x (720, 16000) float32.

    Each clip is one note, exactly 1.0 s at 16 kHz (the note starts 0-80 ms in), cut from the
    instrument's OGG file where ``index.csv`` says. The classes are the instruments in the
    order of the index; the split is the index's own ``split`` column (made once by
    ``scripts/render_instruments.py``: per instrument 16 train, 4 validation and 4 test notes,
    the test and validation notes at pitches held out of training).

    Returns
    -------
    Dataset with x (N, 16000) float32 in [-1, 1], y (N,) int64, sample_rate 16000 and
    ``info`` per note: program (General MIDI, 0-127), pitch (MIDI note number), velocity
    (1-127) and duration_s (how long the key was held).
    """
    import soundfile as sf

    folder = folder or ASSETS / "gm_instruments"
    with open(folder / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sr = 16_000
    tracks: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(r["file"] for r in rows):
        audio, sr_file = sf.read(folder / name, dtype="float32")
        if sr_file != sr or audio.ndim != 1:
            raise ValueError(f"{name}: expected mono 16 kHz audio")
        tracks[name] = audio
    notes = [tracks[r["file"]][int(r["start"]) : int(r["start"]) + int(r["length"])] for r in rows]
    x = np.stack([fit_length(note, sr) for note in notes])  # (N, T)
    class_names = tuple(dict.fromkeys(r["instrument"] for r in rows))
    y = np.array([class_names.index(r["instrument"]) for r in rows], dtype=np.int64)
    split = np.array([r["split"] for r in rows])
    if not set(split) <= set(SPLITS):
        raise ValueError(f"index.csv: unknown split {sorted(set(split) - set(SPLITS))}")
    info = [
        {"program": int(r["program"]), "pitch": int(r["pitch"]),
         "velocity": int(r["velocity"]), "duration_s": float(r["duration"])}
        for r in rows
    ]  # fmt: skip
    return Dataset(
        name="gm_instruments",
        kind="audio",
        x=x,
        y=y,
        class_names=class_names,
        splits={s: np.flatnonzero(split == s).astype(np.int64) for s in SPLITS},
        sample_rate=sr,
        info=info,
    )


# ------------------------------------------------------------------- instrument timbres ----


def _envelope(n: int, sr: int, *, attack: float, release: float) -> np.ndarray:
    """Linear attack, flat sustain, linear release over n samples."""
    env = np.ones(n, dtype=np.float64)
    a, r = max(1, int(attack * sr)), max(1, int(release * sr))
    a, r = min(a, n // 2), min(r, n // 2)
    env[:a] = np.linspace(0, 1, a, endpoint=False)
    env[n - r :] = np.linspace(1, 0, r)
    return env


def _harmonics(f0: float, t: np.ndarray, sr: int, *, odd_only: bool) -> np.ndarray:
    """Band-limited sum of harmonics k*f0 with amplitude 1/k (below Nyquist)."""
    ks = np.arange(1, int((sr / 2) // f0) + 1)
    if odd_only:
        ks = ks[ks % 2 == 1]
    ks = ks[:40]
    return (np.sin(2 * np.pi * f0 * ks[:, None] * t[None, :]) / ks[:, None]).sum(axis=0)


def _synth_note(kind: int, *, f0: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One note of instrument ``kind`` (index into INSTRUMENTS), n samples, peak 1."""
    from scipy.signal import lfilter

    t = np.arange(n) / sr
    if kind == 0:  # flute: a sine with slow vibrato and a breath of noise
        vib = 0.004 * f0 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
        phase = 2 * np.pi * np.cumsum(f0 + vib) / sr
        note = np.sin(phase) + 0.08 * np.sin(2 * phase) + 0.02 * rng.standard_normal(n)
        note *= _envelope(n, sr, attack=rng.uniform(0.05, 0.12), release=0.08)
    elif kind == 1:  # clarinet: odd harmonics only (a square wave)
        note = _harmonics(f0, t, sr, odd_only=True) * _envelope(n, sr, attack=0.03, release=0.05)
    elif kind == 2:  # brass: all harmonics (a sawtooth)
        note = _harmonics(f0, t, sr, odd_only=False) * _envelope(n, sr, attack=0.05, release=0.06)
    elif kind == 3:  # plucked string: Karplus-Strong, a noise burst through a damped delay loop
        delay = max(2, int(round(sr / f0)))
        excite = np.zeros(n)
        excite[:delay] = rng.uniform(-1, 1, delay)
        rho = rng.uniform(0.990, 0.998)
        a = np.zeros(delay + 2)
        a[0], a[delay], a[delay + 1] = 1.0, -0.5 * rho, -0.5 * rho
        note = lfilter([1.0], a, excite)
    elif kind == 4:  # bell: FM with an inharmonic ratio and a decaying index
        ratio = rng.choice([1.4, 2.76, 3.5])
        decay = rng.uniform(0.25, 0.6)
        index = rng.uniform(2, 5) * np.exp(-t / decay)
        note = np.sin(2 * np.pi * f0 * t + index * np.sin(2 * np.pi * ratio * f0 * t))
        note *= np.exp(-t / decay)
    else:  # drum: low-passed noise burst plus a falling low sine (the skin)
        decay = rng.uniform(0.05, 0.2)
        lp = rng.uniform(0.05, 0.3)
        noise = lfilter([lp], [1.0, lp - 1.0], rng.standard_normal(n))
        f_skin = f0 / 4 * (1 + np.exp(-t / 0.03))
        skin = np.sin(2 * np.pi * np.cumsum(f_skin) / sr)
        note = (rng.uniform(0.3, 1.0) * noise / (np.abs(noise).max() + 1e-9) + skin) * np.exp(
            -t / decay
        )
    peak = np.abs(note).max()
    return note / peak if peak > 0 else note


def synth_instruments(
    *,
    n_per_class: int = 150,
    sample_rate: int = 16_000,
    seconds: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Synthesise ``n_per_class`` notes of each of six instrument timbres.

    Every note gets a random pitch (MIDI 45-81, 110-880 Hz, the same range for every class so
    only the timbre tells them apart), length (35-90% of the clip), onset, loudness (-20 to
    -3 dB peak) and background noise (20-40 dB below the note).

    Returns
    -------
    Dataset with x (6 * n_per_class, seconds * sample_rate) float32; same seed, same data.
    """
    if not 1 <= n_per_class <= 2000:
        raise UserInputError("Choose between 1 and 2000 examples per instrument.")
    if not 0.25 <= seconds <= 4.0:
        raise UserInputError("Instrument clips must last between 0.25 and 4 seconds.")
    rng = np.random.default_rng(seed)
    total = int(round(seconds * sample_rate))
    xs, ys, info = [], [], []
    for kind in range(len(INSTRUMENTS)):
        for _ in range(n_per_class):
            midi = rng.uniform(45, 81)
            f0 = 440.0 * 2 ** ((midi - 69) / 12)
            n = int(total * rng.uniform(0.35, 0.9))
            onset = int(rng.integers(0, total - n + 1))
            gain_db = rng.uniform(-20, -3)
            snr_db = rng.uniform(20, 40)
            note = _synth_note(kind, f0=f0, n=n, sr=sample_rate, rng=rng) * 10 ** (gain_db / 20)
            clip = np.zeros(total)
            clip[onset : onset + n] = note
            rms = np.sqrt(np.mean(note**2))
            clip += rng.standard_normal(total) * rms * 10 ** (-snr_db / 20)
            xs.append(clip.astype(np.float32))
            ys.append(kind)
            info.append({"pitch_hz": round(f0, 1), "gain_db": round(gain_db, 1)})
    y = np.array(ys, dtype=np.int64)
    return Dataset(
        name="instruments",
        kind="audio",
        x=np.stack(xs),  # (N, T)
        y=y,
        class_names=INSTRUMENTS,
        splits=stratified_split(y, seed=seed),
        sample_rate=sample_rate,
        info=info,
    )


def load(name: str, *, seed: int = 0) -> Dataset:
    """Load a dataset by name: "digits", "commands", "instruments" (synthesised with seed) or
    "gm_instruments"."""
    if name == "digits":
        return load_digits()
    if name == "commands":
        return load_commands()
    if name == "gm_instruments":
        return load_gm_instruments()
    if name == "instruments":
        return synth_instruments(seed=seed)
    raise UserInputError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")


# ------------------------------------------------------------------------ model inputs ----


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """Tensors ready for a model, and how they were made from the raw examples.

    Attributes
    ----------
    x : torch.Tensor float32 (N, ...): pictures (N, C, H, W), log-mels (N, 1, mels, frames)
        or waveforms (N, 1, T)
    y : torch.Tensor int64 (N,)
    representation : {"image", "log-mel", "waveform"}
    settings : core.audio.features.FeatureSettings the log-mels were made with, else None
    pad : zero border added around each side of the pictures (0 for audio)
    """

    x: object  # torch.Tensor
    y: object  # torch.Tensor
    representation: str  # "image", "log-mel" or "waveform"
    settings: object = None  # core.audio.features.FeatureSettings of a log-mel, else None
    pad: int = 0

    @property
    def augment(self) -> str:
        """The augmentation that suits these inputs: "image", "spectrogram" or "waveform"."""
        return {"image": "image", "log-mel": "spectrogram"}.get(self.representation, "waveform")


def log_mel_features(waveforms: np.ndarray, *, settings=None, batch: int = 256):
    """Log-mel spectrograms (dB) of waveforms through ``core.audio.features.LogMel``.

    Parameters
    ----------
    waveforms : np.ndarray float32, shape (N, T)
    settings : core.audio.features.FeatureSettings, optional (default: 16 kHz, n_fft 512, hop 160,
        64 mels)

    Returns
    -------
    torch.Tensor float32, shape (N, 1, n_mels, frames)
    """
    import torch

    from core.audio.features import FeatureSettings, LogMel

    extract = LogMel(settings or FeatureSettings())
    wav = torch.as_tensor(np.asarray(waveforms, dtype=np.float32))  # (N, T)
    with torch.no_grad():
        return torch.cat([extract(wav[i : i + batch]) for i in range(0, len(wav), batch)])


def model_inputs(
    ds: Dataset,
    *,
    representation: str | None = None,
    pad: int = 0,
    settings=None,
    model: str | None = None,
) -> ModelInputs:
    """The tensors a model reads, made from the raw examples of ``ds``.

    Parameters
    ----------
    representation : {"image", "log-mel", "waveform"}, optional
        Pictures are read as images; audio as log-mels standardised per clip (see
        :func:`standardize_per_clip`) or as waveforms (N, 1, T). Default: images, log-mels.
    pad : zero border around each side of a picture (LeNet-5 reads 28x28 digits as 32x32).
    settings : core.audio.features.FeatureSettings of the log-mels (default: 16 kHz-style
        settings at the dataset's sample rate); recorded in the result.
    model : a core.learn.zoo preset's name, optional: read ``ds`` as that preset does
        (core.learn.task.reads_for_preset), instead of ``representation`` and ``pad``.

    Pages should cache the result per dataset, representation and settings.
    """
    import torch

    if model:
        from core.learn.task import reads_for_preset

        reads = reads_for_preset(ds, model)
        representation, pad = reads.representation, reads.pad
    y = torch.as_tensor(ds.y)
    if ds.kind == "image":
        if representation not in (None, "image"):
            raise UserInputError("A picture dataset can only be read as images.")
        x = torch.as_tensor(ds.x)  # (N, C, H, W)
        if pad:
            x = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (N, C, H + 2p, W + 2p)
        return ModelInputs(x, y, "image", pad=int(pad))
    if pad:
        raise UserInputError("Only pictures get a border; audio is read as it is.")
    if representation == "waveform":
        return ModelInputs(torch.as_tensor(ds.x)[:, None], y, "waveform")  # (N, 1, T)
    if representation not in (None, "log-mel"):
        raise UserInputError(
            f"Audio is read as a log-mel or as a waveform, not as {representation!r}."
        )
    from core.audio.features import FeatureSettings

    settings = settings or FeatureSettings(sample_rate=ds.sample_rate)
    spec = log_mel_features(ds.x, settings=settings)  # (N, 1, mels, frames) dB
    return ModelInputs(standardize_per_clip(spec), y, "log-mel", settings)


def standardize_per_clip(spec):
    """Each clip's log-mel minus its own mean, over its own spread: (N, 1, mels, frames).

    A clip played 10 dB louder adds 10 dB to every cell of its log-mel image; per-clip
    standardisation removes that, so the network learns what was said or played, not how
    loud. 0 (the SpecAugment mask value) is then the clip's average level and the first
    layer sees numbers near 1. (On the shipped sets this is worth 2-4 points of test
    accuracy over standardising with the whole set's mean and spread.)
    """
    mean = spec.mean(dim=tuple(range(1, spec.ndim)), keepdim=True)  # (N, 1, 1, 1)
    std = spec.std(dim=tuple(range(1, spec.ndim)), keepdim=True)
    return (spec - mean) / (std + 1e-6)
