"""The General MIDI instrument set: the shipped notes, their fixed split, the MIDI writer that
made them, and the app's treatment of the dataset (log-mel, default model and recipe)."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from core.data import shipped as data

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assets" / "gm_instruments"
SCRIPT = ROOT / "scripts" / "render_instruments.py"


def _script():
    spec = importlib.util.spec_from_file_location("render_instruments", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ds():
    return data.load_gm_instruments()


@pytest.fixture(scope="module")
def rows():
    with open(FOLDER / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------ the loader ----


def test_shapes_dtypes_classes(ds, rows):
    assert ds.name == "gm_instruments" and ds.kind == "audio" and ds.sample_rate == 16_000
    assert ds.x.shape == (720, 16_000) and ds.x.dtype == np.float32
    assert ds.y.shape == (720,) and ds.y.dtype == np.int64
    assert ds.n_classes == 30
    names = [name for name, *_ in _script().INSTRUMENTS]
    assert ds.class_names == tuple(names)  # the script's order, one class per instrument
    assert ds.class_names[0] == "piano" and "tuba" in ds.class_names
    np.testing.assert_array_equal(np.bincount(ds.y), [24] * 30)
    assert len(ds.info) == 720
    assert ds.info[0] == {"program": int(rows[0]["program"]), "pitch": int(rows[0]["pitch"]),
                          "velocity": int(rows[0]["velocity"]),
                          "duration_s": float(rows[0]["duration"])}  # fmt: skip
    assert all(0 <= i["program"] <= 127 and 1 <= i["velocity"] <= 127 for i in ds.info)
    # the registry knows it, by the same loader
    assert "gm_instruments" in data.DATASETS
    again = data.load("gm_instruments")
    np.testing.assert_array_equal(again.x, ds.x)
    np.testing.assert_array_equal(again.y, ds.y)


def test_split_is_the_one_in_the_index(ds, rows):
    for name in ("train", "val", "test"):
        expected = [i for i, r in enumerate(rows) if r["split"] == name]
        assert ds.splits[name].dtype == np.int64
        np.testing.assert_array_equal(ds.splits[name], expected)
    joined = np.concatenate([ds.splits[k] for k in ("train", "val", "test")])
    assert len(joined) == 720 and len(np.unique(joined)) == 720  # no note twice, none left out


def test_split_is_stratified_with_held_out_pitches(ds):
    counts = {k: np.bincount(ds.y[v], minlength=30) for k, v in ds.splits.items()}
    assert list(counts["train"]) == [16] * 30
    assert list(counts["val"]) == [4] * 30
    assert list(counts["test"]) == [4] * 30
    pitch = np.array([i["pitch"] for i in ds.info])
    for c in range(30):
        of = {k: set(pitch[v][ds.y[v] == c]) for k, v in ds.splits.items()}
        assert len(of["test"]) == 2 and len(of["val"]) == 2 and len(of["train"]) == 8
        assert not of["test"] & of["train"] and not of["val"] & of["train"]
        assert not of["test"] & of["val"]
        # held-out pitches lie inside the range the training set covers
        assert min(of["train"]) < min(of["test"]) and max(of["test"]) < max(of["train"])


def test_notes_are_one_second_and_not_silent(ds, rows):
    assert all(int(r["length"]) == 16_000 for r in rows)
    assert np.abs(ds.x).max() <= 1.0
    peak = np.abs(ds.x).max(axis=1)  # (N,)
    loud = np.sqrt((ds.x.reshape(720, 20, 800) ** 2).mean(axis=2)).max(axis=1)  # loudest 50 ms
    loud_db = 20 * np.log10(loud)
    assert peak.min() > 0.005
    assert loud_db.min() > -50 and np.median(loud_db) == pytest.approx(-18, abs=1.5)
    # the note starts where the index says (0-80 ms in): quiet before it, sounding after it
    onset = np.array([int(float(r["onset"]) * 16_000) for r in rows])
    for i in np.flatnonzero(onset > 400):
        before = np.sqrt(np.mean(ds.x[i, : onset[i] - 160] ** 2))
        after = np.sqrt(np.mean(ds.x[i, onset[i] : onset[i] + 3200] ** 2))
        assert after > 30 * before, (rows[i]["instrument"], rows[i]["pitch"])


def test_assets_are_small_and_documented():
    files = list(FOLDER.iterdir())
    assert len([f for f in files if f.suffix == ".ogg"]) == 30
    assert sum(f.stat().st_size for f in files) < 8_000_000
    readme = (FOLDER / "README.md").read_text()
    assert "MIT" in readme and "LGPL" in readme and "Frank Wen" in readme
    assert "gm_instruments/" in (ROOT / "assets" / "README.md").read_text()


# ------------------------------------------------------------------- the MIDI writer ----


def test_varlen_matches_the_midi_specification():
    r = _script()
    # examples from the Standard MIDI File specification's table of variable-length quantities
    cases = {0x00: "00", 0x40: "40", 0x7F: "7f", 0x80: "8100", 0x2000: "c000", 0x3FFF: "ff7f",
             0x4000: "818000", 0x100000: "c08000", 0x1FFFFF: "ffff7f", 0x200000: "81808000",
             0x0FFFFFFF: "ffffff7f"}  # fmt: skip
    for value, hexed in cases.items():
        assert r.varlen(value).hex() == hexed
    with pytest.raises(ValueError):
        r.varlen(-1)


def test_midi_file_bytes():
    r = _script()
    events = [(0.5, r.note_off(69)), (0.0, r.program_change(73)), (0.0, r.note_on(69, 100))]
    blob = r.midi_file(events, end_s=1.0)
    assert blob[:4] == b"MThd"
    assert struct.unpack(">IHHH", blob[4:14]) == (6, 0, 1, 480)  # format 0, one track, 480 tpq
    assert blob[14:18] == b"MTrk"
    (length,) = struct.unpack(">I", blob[18:22])
    track = blob[22:]
    assert len(track) == length
    # tempo 500,000 us a beat; program 73 then note on at tick 0 (sorted stably by time);
    # note off 0.5 s later = 480 ticks (0x83 0x60); end of track 480 ticks after that
    assert track.hex() == (
        "00ff5103" "07a120" "00" "c049" "00" "904564" "8360" "804540" "8360" "ff2f00"
    )  # fmt: skip


def test_ogg_serial_is_fixed_and_pages_stay_valid(tmp_path):
    import soundfile as sf

    r = _script()
    path = FOLDER / "tuba.ogg"
    blob = path.read_bytes()
    assert blob[14:18] == r.OGG_SERIAL.to_bytes(4, "little")  # the shipped files carry it
    other = r.set_ogg_serial(blob, 12345)
    assert other[14:18] == (12345).to_bytes(4, "little") and other != blob
    (tmp_path / "x.ogg").write_bytes(other)
    a, _ = sf.read(path, dtype="float32")
    b, _ = sf.read(tmp_path / "x.ogg", dtype="float32")  # a bad page CRC would lose audio
    assert len(a) == len(b) == 24 * 20_000 + 4_000
    np.testing.assert_array_equal(a, b)
    assert r.set_ogg_serial(other, r.OGG_SERIAL) == blob  # CRCs recomputed exactly


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists(),
    reason="needs fluidsynth and fluid-soundfont-gm (apt-get install fluidsynth fluid-soundfont-gm)",
)
def test_fluidsynth_renders_the_written_midi(tmp_path):
    import soundfile as sf

    r = _script()
    events = [(0.0, r.program_change(73)), (0.1, r.note_on(69, 100)), (0.6, r.note_off(69))]
    (tmp_path / "a4.mid").write_bytes(r.midi_file(events, end_s=1.0))
    r.render(tmp_path / "a4.mid", tmp_path / "a4.wav", sample_rate=16_000)
    audio, sr = sf.read(tmp_path / "a4.wav", dtype="float64", always_2d=True)
    assert sr == 16_000 and audio.shape[1] == 2 and len(audio) >= 16_000
    mono = audio.mean(axis=1)
    assert np.abs(mono[: 1600 - 160]).max() < 1e-4  # silent before the note on at 0.1 s
    note = mono[3200:8000]  # 0.2-0.5 s: the held flute A4
    assert np.sqrt(np.mean(note**2)) > 1e-3
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))
    f0 = np.fft.rfftfreq(len(note), 1 / sr)[np.argmax(spectrum)]
    assert f0 == pytest.approx(440, rel=0.02)


# ----------------------------------------------------------------- the app's treatment ----


def test_read_as_log_mel_with_the_timbre_model_and_a_recipe(ds):
    from core.learn import builder
    from core.learn import task as tasks
    from core.learn.train import DEFAULT_MODELS, DEFAULT_RECIPES, GPU_RECIPES, default_recipe

    assert tasks.like(ds) == "gm_instruments"
    assert tasks.default_preset(ds) == DEFAULT_MODELS["gm_instruments"] == "timbre_cnn"
    reads = tasks.reads_for_preset(ds, "timbre_cnn")
    assert reads == tasks.Reads("log-mel")
    assert tasks.input_shape_of(ds, reads) == (1, 64, 101)
    assert tasks.reads_for_preset(ds, "m5") == tasks.Reads("waveform")
    assert default_recipe("gm_instruments") == DEFAULT_RECIPES["gm_instruments"]
    assert default_recipe("gm_instruments", "cuda") == GPU_RECIPES["gm_instruments"]
    recipe = tasks.recipe_for(ds, "log-mel", epochs=3)
    assert recipe.epochs == 3 and recipe.augment in ("none", "spectrogram")
    choices = builder.input_choices()
    assert choices["gm_instruments_logmel"].shape == (1, 64, 101)
    assert choices["gm_instruments_waveform"].shape == (1, 16_000)
    assert choices["gm_instruments_logmel"].class_names == ds.class_names
    assert choices["gm_instruments_logmel"].trainable


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: a small model runs fastest so when the tests run side
    by side (two threads each on two busy cores spend their time waiting for each other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_default_model_learns_something_in_a_few_epochs(ds, one_thread):
    """The Train page's starting point runs on a small stratified subset and learns: the
    training loss falls well below chance (ln 30 = 3.4), the accuracy well above 1/30."""
    import torch

    from core.learn import task as tasks
    from core.learn.build import build_model
    from core.learn.train import TrainData, train

    idx = np.concatenate([np.flatnonzero(ds.y == c)[:8] for c in range(30)])
    small = data.Dataset(name=ds.name, kind=ds.kind, x=ds.x[idx], y=ds.y[idx],
                         class_names=ds.class_names, splits={}, sample_rate=ds.sample_rate)  # fmt: skip
    preset = tasks.default_preset(small)
    inputs = tasks.inputs_for(small, tasks.reads_for_preset(small, preset))
    assert tuple(inputs.x.shape) == (240, 1, 64, 101)
    from core.learn.zoo import preset_spec

    spec = preset_spec(preset, input_shape=(1, 64, 101), n_classes=30, head="none")
    torch.manual_seed(0)
    model = build_model(spec, (1, 64, 101), logits=True)
    recipe = tasks.recipe_for(small, "log-mel", epochs=6, batch_size=16)
    result = train(model, TrainData(inputs.x, inputs.y, inputs.x, inputs.y), recipe, "cpu")
    assert result.reason == "finished"
    last = result.history[-1]
    assert last.train_loss < 0.8 * np.log(30) and last.train_acc > 0.2  # chance: 1/30


def test_train_page_offers_the_dataset():
    from tests.apptest import open_page

    at = open_page("train")
    assert not at.exception
    at.selectbox(key="tr_dataset").set_value("gm_instruments").run()
    assert not at.exception and not at.error
    assert any("720 one-second notes of 30 instruments" in m.value for m in at.markdown)
    assert any("480 to train on, 120 for validation, 120 held out" in c.value for c in at.caption)
    assert at.selectbox(key="tr_preset").value == "timbre_cnn"
    assert at.number_input(key="tr_epochs").value == 60
