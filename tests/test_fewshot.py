"""The few-shot task builder: deterministic, the classes and splits it says, train and test
voices apart and from both synthesisers, every clip one second; built with a stand-in voice
(and with espeak-ng and Flite when they are installed)."""

import shutil

import numpy as np
import pytest

from core.data import fewshot


def _fake_say(word, voice, speed, pitch):
    """A different tone per word, shaped by voice, speed and pitch: deterministic."""
    f0 = {"yes": 300, "no": 500, "up": 700, "down": 900}[word] + pitch
    n = int(fewshot.SR * 60 / speed * 0.8)
    t = np.arange(n) / fewshot.SR
    return (0.5 * np.sin(2 * np.pi * f0 * t) * (1 + len(voice) % 3)).astype(np.float32)


def test_the_task_is_deterministic_and_has_its_classes_and_splits():
    a = fewshot.build(say=_fake_say, per_class=8, seed=3)
    b = fewshot.build(say=_fake_say, per_class=8, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.class_names == ("yes", "no", "up", "down", "background")
    assert a.x.shape[1] == fewshot.SR and a.x.dtype == np.float32
    train_y = a.y[a.splits["train"]]
    assert np.bincount(train_y).tolist() == [8] * 5
    test_y = a.y[a.splits["test"]]
    n_test = len(fewshot.TEST_VOICES) * len(fewshot.TEST_RATES)
    assert np.bincount(test_y).tolist() == [n_test] * 5
    voices = {k: {a.info[i]["voice"] for i in a.splits[k]} - {"room"} for k in a.splits}
    assert voices["train"] <= set(fewshot.TRAIN_VOICES)
    assert not voices["train"] & voices["test"]  # the test asks about other voices
    parts = [set(v.tolist()) for v in a.splits.values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    c = fewshot.build(say=_fake_say, per_class=8, seed=4)
    assert not np.array_equal(a.x, c.x)  # the seed places and mixes the clips


def test_one_second_pads_short_clips_and_keeps_the_loudest_second_of_long_ones():
    short = np.ones(4000, np.float32)
    out = fewshot.one_second(short, offset=0.5)
    assert len(out) == fewshot.SR and out.sum() == 4000 and out[6000] == 1 and out[0] == 0
    long = np.zeros(3 * fewshot.SR, np.float32)
    long[20000:22000] = 1.0
    cut = fewshot.one_second(long)
    assert len(cut) == fewshot.SR and cut.sum() == 2000


def test_background_is_quiet_noise():
    noise = fewshot.background(8, seed=0)
    assert noise.shape == (8, fewshot.SR)
    peaks = np.abs(noise).max(axis=1)
    assert (peaks > 10 ** (-41 / 20)).all() and (peaks < 10 ** (-14 / 20)).all()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speaks_a_word():
    x = fewshot.espeak_say("yes", "en-us", 160, 50)
    assert 0.2 * fewshot.SR < len(x) < 1.5 * fewshot.SR and np.abs(x).max() > 0.05


def test_train_and_test_voices_come_from_both_synthesisers(monkeypatch):
    heard = []
    monkeypatch.setattr(
        fewshot, "flite_say", lambda *a: heard.append(("flite", *a)) or _fake_say(*a)
    )
    monkeypatch.setattr(
        fewshot, "espeak_say", lambda *a: heard.append(("espeak", *a)) or _fake_say(*a)
    )
    ds = fewshot.build(per_class=8, seed=0)
    engines = {k: set() for k in ds.splits}
    for i in np.flatnonzero(ds.y < len(fewshot.WORDS)):
        where = next(k for k, idx in ds.splits.items() if i in idx)
        engines[where].add(ds.info[i]["voice"].startswith(fewshot.FLITE))
    assert engines == {"train": {True, False}, "val": {True, False}, "test": {True, False}}
    # Flite is asked for its own voice name, without the prefix
    flite_voices = {h[2] for h in heard if h[0] == "flite"}
    assert flite_voices == {"rms", "kal16", "awb", "slt"}
    assert all(not h[2].startswith(fewshot.FLITE) for h in heard)


@pytest.mark.skipif(shutil.which("flite") is None, reason="Flite is not installed")
def test_flite_speaks_a_word_at_the_rate_asked():
    slow = fewshot.flite_say("yes", "slt", 100, 50)
    fast = fewshot.flite_say("yes", "slt", 250, 50)
    assert np.abs(slow).max() > 0.05 and fast.dtype == np.float32
    assert 0.1 * fewshot.SR < len(fast) < len(slow) < 2 * fewshot.SR
    assert not np.allclose(fewshot.synth_say("yes", "flite:awb", 175, 50)[:4000], 0)


def test_fewer_training_clips_still_come_from_both_voices():
    ds = fewshot.build(say=_fake_say, per_class=4, seed=0)
    train = ds.splits["train"][ds.y[ds.splits["train"]] < len(fewshot.WORDS)]
    voices = {ds.info[i]["voice"] for i in train}
    assert voices == set(fewshot.TRAIN_VOICES) and len(train) == 4 * len(fewshot.WORDS)
