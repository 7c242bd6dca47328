"""Bundled and synthesised datasets: shapes, labels, class balance, determinism, splits."""

import csv
from pathlib import Path

import numpy as np
import pytest

from core.data import shipped as data
from core.errors import UserInputError

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def check_splits(ds, n):
    parts = [ds.splits[k] for k in ("train", "val", "test")]
    joined = np.concatenate(parts)
    assert len(joined) == n and len(np.unique(joined)) == n  # disjoint and complete
    for idx in parts:
        assert np.all(np.diff(idx) > 0)
        # every class present in each split in about the overall proportion
        counts = np.bincount(ds.y[idx], minlength=ds.n_classes)
        share = counts / counts.sum()
        overall = np.bincount(ds.y, minlength=ds.n_classes) / n
        np.testing.assert_allclose(share, overall, atol=0.02)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def test_digits_shapes_labels_balance(digits):
    assert digits.x.shape == (5000, 1, 28, 28) and digits.x.dtype == np.float32
    assert digits.y.shape == (5000,) and digits.y.dtype == np.int64
    assert digits.class_names == tuple("0123456789")
    np.testing.assert_array_equal(np.bincount(digits.y), [500] * 10)
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0
    assert {k: len(v) for k, v in digits.splits.items()} == {"train": 3500, "val": 750, "test": 750}
    check_splits(digits, 5000)


def test_digits_are_real_mnist(digits):
    # MNIST digits are centred by their centre of mass in the 28x28 frame (LeCun et al.)
    img = digits.x[:, 0]
    rows = (img.sum(axis=2) * np.arange(28)).sum(axis=1) / img.sum(axis=(1, 2))
    cols = (img.sum(axis=1) * np.arange(28)).sum(axis=1) / img.sum(axis=(1, 2))
    assert abs(rows.mean() - 13.5) < 1.5 and abs(cols.mean() - 13.5) < 1.5
    # and the 20x20 digit box leaves the border almost blank
    border = np.concatenate([img[:, :2].ravel(), img[:, -2:].ravel(), img[:, :, :2].ravel()])
    assert border.mean() < 0.005
    # a "1" has less ink than an "8"
    ink = img.sum(axis=(1, 2))
    assert ink[digits.y == 1].mean() < 0.6 * ink[digits.y == 8].mean()


def test_digits_split_is_deterministic(digits):
    again = data.load_digits()
    for k in digits.splits:
        np.testing.assert_array_equal(digits.splits[k], again.splits[k])
    np.testing.assert_array_equal(digits.x, again.x)


def test_stratified_split_fractions():
    y = np.repeat(np.arange(4), 100)
    s = data.stratified_split(y, fractions=(0.6, 0.2, 0.2), seed=3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [240, 80, 80]
    t = data.stratified_split(y, fractions=(0.6, 0.2, 0.2), seed=4)
    assert not np.array_equal(s["train"], t["train"])  # the seed matters


@pytest.fixture(scope="module")
def commands():
    return data.load_commands()


def test_commands_shapes_labels_balance(commands):
    n = len(commands.y)
    assert commands.kind == "audio" and commands.sample_rate == 16_000
    assert commands.x.shape == (n, 32_000) and commands.x.dtype == np.float32
    assert commands.n_classes == 8
    assert {"iot_hue_lighton", "iot_hue_lightoff", "datetime_query", "audio_volume_up"} <= set(
        commands.class_names
    )
    counts = np.bincount(commands.y)
    assert counts.min() == counts.max() >= 100  # balanced
    assert len(commands.info) == n
    check_splits(commands, n)


def test_commands_audio_is_speech_not_silence(commands):
    peak = np.abs(commands.x).max(axis=1)
    assert np.all(peak > 0.05) and np.all(peak <= 1.0)
    # energy sits in the middle of the 2 s window (clips are centred), the ends are quiet
    energy = (commands.x**2).reshape(len(commands.x), 20, -1).mean(axis=2).mean(axis=0)
    assert energy[8:12].mean() > 10 * energy[[0, -1]].mean()


def test_commands_index_matches_audio_files():
    import soundfile as sf

    with open(ASSETS / "commands" / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in {r["file"] for r in rows}:
        info = sf.info(ASSETS / "commands" / name)
        assert info.samplerate == 16_000 and info.channels == 1
        ends = [int(r["start"]) + int(r["length"]) for r in rows if r["file"] == name]
        assert max(ends) <= info.frames
    # several phrasings per intent
    for intent in {r["intent"] for r in rows}:
        assert len({r["text"] for r in rows if r["intent"] == intent}) >= 4


def test_assets_fit_the_budget():
    size = lambda folder: sum(p.stat().st_size for p in (ASSETS / folder).rglob("*") if p.is_file())  # noqa: E731
    assert size("commands") <= 6e6
    assert size("digits") <= 3e6
    for folder in ("commands", "digits"):
        assert (ASSETS / folder / "README.md").exists()


def test_instruments_shapes_balance_determinism():
    a = data.synth_instruments(n_per_class=12, seed=5)
    b = data.synth_instruments(n_per_class=12, seed=5)
    c = data.synth_instruments(n_per_class=12, seed=6)
    assert a.x.shape == (72, 16_000) and a.x.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(a.y), [12] * 6)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert np.all(np.isfinite(a.x)) and np.abs(a.x).max() < 1.0
    check_splits(a, 72)


def test_instrument_timbres_differ_as_designed():
    sr, f0, n = 16_000, 200.0, 16_000

    def note(kind):
        return data._synth_note(kind, f0=f0, n=n, sr=sr, rng=np.random.default_rng(0))

    def harmonic(x, k):  # magnitude of the k-th harmonic (1 s of sound: 1 Hz per bin)
        return np.abs(np.fft.rfft(x))[int(k * f0)]

    clarinet, brass = note(1), note(2)
    # a square wave has only odd harmonics, with amplitudes 1/k; a sawtooth has all of them
    assert harmonic(clarinet, 2) < 0.01 * harmonic(clarinet, 1)
    assert harmonic(clarinet, 3) / harmonic(clarinet, 1) == pytest.approx(1 / 3, rel=0.05)
    assert harmonic(brass, 2) / harmonic(brass, 1) == pytest.approx(1 / 2, rel=0.05)

    # the drum's burst dies within a fraction of a second; the flute holds its note
    def late_over_early(x):
        return (x[8000:12000] ** 2).mean() / (x[:1600] ** 2).mean()

    assert late_over_early(note(5)) < 0.01
    assert late_over_early(note(0)) > 0.3
    # the FM bell's partials are not multiples of f0: energy between the harmonics
    bell = np.abs(np.fft.rfft(note(4)))
    harmonics = sum(bell[int(k * f0) - 3 : int(k * f0) + 4].sum() for k in range(1, 30))
    assert harmonics < 0.8 * bell[: int(30 * f0)].sum()


def test_karplus_strong_pitch():
    import librosa

    rng = np.random.default_rng(0)
    note = data._synth_note(3, f0=220.0, n=16_000, sr=16_000, rng=rng)
    f0 = librosa.yin(note[:8000], fmin=100, fmax=500, sr=16_000)
    # the delay loop of 73 samples (16000 / 220, rounded) plus the half-sample averaging
    assert np.median(f0) == pytest.approx(16_000 / 73.5, rel=0.02)


def test_model_inputs():
    digits = data.load_digits()
    mi = data.model_inputs(digits, model="lenet5")
    assert tuple(mi.x.shape) == (5000, 1, 32, 32) and mi.augment == "image"
    inst = data.synth_instruments(n_per_class=4, seed=0)
    spec = data.model_inputs(inst, model="spectrogram_cnn")
    assert tuple(spec.x.shape) == (24, 1, 64, 101) and spec.augment == "spectrogram"
    # standardised per clip: each clip's log-mel (dB, as librosa computes it) has mean 0, sd 1
    flat = spec.x.reshape(24, -1).double()
    np.testing.assert_allclose(flat.mean(dim=1).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(flat.std(dim=1).numpy(), 1.0, atol=1e-4)
    wav = data.model_inputs(inst, model="m5")
    assert tuple(wav.x.shape) == (24, 1, 16_000) and wav.augment == "waveform"


def test_model_inputs_say_how_they_were_made():
    """The representation, border and log-mel settings are named, not guessed from a model name."""
    from core.audio.features import FeatureSettings

    digits = data.load_digits()
    framed = data.model_inputs(digits, representation="image", pad=2)
    assert (framed.representation, framed.pad, framed.settings) == ("image", 2, None)
    np.testing.assert_array_equal(framed.x[:3, :, 2:-2, 2:-2].numpy(), digits.x[:3])
    inst = data.synth_instruments(n_per_class=2, seed=0)
    settings = FeatureSettings(sample_rate=16_000, n_mels=32, hop_length=320)
    mel = data.model_inputs(inst, representation="log-mel", settings=settings)
    assert mel.representation == "log-mel" and mel.settings == settings
    assert tuple(mel.x.shape) == (12, 1, 32, 1 + 16_000 // 320)
    wav = data.model_inputs(inst, representation="waveform")
    assert wav.representation == "waveform" and wav.settings is None and wav.pad == 0
    with pytest.raises(UserInputError, match="Only pictures get a border"):
        data.model_inputs(inst, representation="waveform", pad=2)
    with pytest.raises(UserInputError, match="A picture dataset can only be read as images"):
        data.model_inputs(digits, representation="waveform")
    with pytest.raises(UserInputError, match="Unknown preset"):
        data.model_inputs(inst, model="m5-large")  # no substring guessing: presets by name


def test_log_mel_matches_librosa():
    import librosa

    inst = data.synth_instruments(n_per_class=1, seed=0)
    ours = data.log_mel_features(inst.x[:2]).numpy()[:, 0]
    for clip, got in zip(inst.x[:2], ours, strict=True):
        ref = librosa.power_to_db(
            librosa.feature.melspectrogram(y=clip, sr=16_000, n_fft=512, hop_length=160, n_mels=64),
            top_db=80.0,
        )
        np.testing.assert_allclose(got, ref, atol=2e-3, rtol=0)


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserInputError):
        data.load("cifar")
    with pytest.raises(UserInputError):
        data.synth_instruments(n_per_class=0)


def test_per_clip_standardisation_ignores_loudness():
    """A clip played 12 dB quieter gives the same model input (same z-scored log-mel)."""
    inst = data.synth_instruments(n_per_class=2, seed=1)
    quiet = data.Dataset(name=inst.name, kind="audio", x=inst.x * 10 ** (-12 / 20), y=inst.y,
                         class_names=inst.class_names, splits=inst.splits,
                         sample_rate=inst.sample_rate)  # fmt: skip
    a = data.model_inputs(inst, model="timbre_cnn").x
    b = data.model_inputs(quiet, model="timbre_cnn").x
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3)
    # and it is the z-score of librosa's log-mel of that clip
    import librosa

    clip = inst.x[3]
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=clip, sr=16_000, n_fft=512, hop_length=160, n_mels=64),
        top_db=80.0,
    )
    ref = (ref - ref.mean()) / ref.std(ddof=1)
    np.testing.assert_allclose(a[3, 0].numpy(), ref, atol=2e-3)


def test_commands_clips_fit_their_window_and_intents_have_several_phrasings():
    with open(ASSETS / "commands" / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lengths = np.array([int(r["length"]) for r in rows])
    assert lengths.max() <= 2.0 * 16_000  # nothing cropped by the 2 s window
    assert lengths.min() >= 0.3 * 16_000  # no empty renditions
    by_intent: dict[str, set] = {}
    for r in rows:
        by_intent.setdefault(r["intent"], set()).add(r["text"])
    assert len(by_intent) == 8 and all(len(t) >= 5 for t in by_intent.values())
