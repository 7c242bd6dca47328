"""Users' own classes: decoding, checks, and the dataset they become."""

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from core.data import users as userdata
from core.errors import UserInputError


def wav(x, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, dtype=np.float32), sr, format="WAV")
    return buf.getvalue()


def png(size, value=128):
    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def audio_files(rng):
    t = np.arange(8000) / 16000
    return {
        "low": [
            (f"l{i}.wav", wav(0.5 * np.sin(2 * np.pi * 200 * t[: 6000 + 400 * i])))
            for i in range(5)
        ],
        "high": [(f"h{i}.wav", wav(0.5 * np.sin(2 * np.pi * 3000 * t))) for i in range(5)]
        + [("broken.wav", b"RIFF....not audio")],
    }


def test_audio_classes_become_a_dataset(audio_files):
    g = userdata.gather(audio_files, kind="audio")
    assert g.counts == {"low": 5, "high": 5}
    assert len(g.problems) == 1 and g.problems[0].startswith("high/broken.wav:")
    warnings = userdata.check(g)
    assert len(warnings) == 2 and "only 5 examples" in warnings[0]
    ds = userdata.to_dataset(g)
    assert ds.kind == "audio" and ds.class_names == ("low", "high") and ds.sample_rate == 16000
    # the median length (7800 samples) is below the 0.5 s floor, so clips fill 8000 samples
    assert ds.x.shape == (10, 8000)
    assert ds.y.tolist() == [0] * 5 + [1] * 5
    for split in ("train", "val", "test"):
        assert set(ds.y[ds.splits[split]]) == {0, 1}  # every split sees both classes
    # the 3 kHz clips carry their samples unchanged (they are exactly the window's length)
    ref, _ = sf.read(io.BytesIO(audio_files["high"][0][1]), dtype="float32")
    np.testing.assert_allclose(ds.x[5], ref, atol=1e-6)


@pytest.mark.parametrize(
    "counts,message",
    [({"a": 5}, "at least two classes"), ({"a": 5, "b": 0}, "no usable examples yet: b"),
     ({"a": 5, "b": 2}, r"at least 4 examples.*b \(2\)")],
)  # fmt: skip
def test_sets_that_cannot_be_trained_are_refused(counts, message):
    files = {c: [(f"{i}.png", png((8, 8))) for i in range(n)] for c, n in counts.items()}
    g = userdata.gather(files, kind="image")
    with pytest.raises(UserInputError, match=message):
        userdata.to_dataset(g)


def test_mixed_image_sizes_are_resized_and_said():
    files = {"dark": [(f"{i}.png", png((20 + i, 30), 10)) for i in range(4)],
             "light": [(f"{i}.png", png((28, 28), 240)) for i in range(4)]}  # fmt: skip
    g = userdata.gather(files, kind="image")
    assert any("different sizes" in n and "resized to 28x28" in n for n in g.notes)
    ds = userdata.to_dataset(g)
    assert ds.x.shape == (8, 1, 28, 28)
    assert ds.x[:4].mean() < 0.1 and ds.x[4:].mean() > 0.9


def test_bad_class_names():
    with pytest.raises(UserInputError, match="needs a name"):
        userdata.clean_class_name("  ")
    with pytest.raises(UserInputError, match="at most 40"):
        userdata.clean_class_name("x" * 41)


def _wav(x, sr=16000, channels=1):
    buf = io.BytesIO()
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(buf, np.asarray(data, np.float32), sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def test_clips_without_signal_are_refused_and_notes_are_kept():
    t = np.arange(16000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 300 * t)
    files = {
        "clap": [("ok.wav", _wav(tone)), ("silent.wav", _wav(np.zeros(16000))),
                 ("blip.wav", _wav(np.full(1, 0.5)))],
        "snap": [("stereo.wav", _wav(tone, channels=2)), ("hiss.wav", _wav(np.full(8000, 1e-6)))],
    }  # fmt: skip
    g = userdata.gather(files, kind="audio")
    assert g.counts == {"clap": 1, "snap": 1}
    problems = " | ".join(g.problems)
    assert "clap/silent.wav" in problems and "every sample is 0" in problems
    assert "clap/blip.wav" in problems and "shorter than one 32 ms analysis window" in problems
    assert "snap/hiss.wav" in problems and "-120 dBFS" in problems
    assert any(n.startswith("snap/stereo.wav:") and "stereo" in n for n in g.notes)


def test_require_signal_thresholds():
    from core import audio

    def clip(x):
        return audio.load_clip(_wav(np.asarray(x, np.float32)), name="c")

    assert audio.require_signal(clip(np.full(512, 0.01))).n_samples == 512  # 32 ms, -40 dBFS
    with pytest.raises(UserInputError, match="lasts 31.9 ms"):
        audio.require_signal(clip(np.full(511, 0.5)))
    with pytest.raises(UserInputError, match="-82 dBFS"):
        audio.require_signal(clip(np.full(800, 8e-5)))


def test_the_fingerprint_tells_a_replaced_example_from_the_one_it_replaced():
    """Delete one example and record another: same count, and Python may give the new array
    the address (the id) the deleted one had. The set changed all the same."""
    rng = np.random.default_rng(0)
    g = userdata.Gathered("image")
    g.examples = {"a": [rng.uniform(0, 1, (28, 28)) for _ in range(4)],
                  "b": [rng.uniform(0, 1, (28, 28)) for _ in range(4)]}  # fmt: skip
    g.names = {k: [f"{i}.png" for i in range(4)] for k in g.examples}
    made_from = userdata.fingerprint(g)
    assert userdata.fingerprint(g) == made_from
    old_id = id(g.examples["a"][-1])
    g.examples["a"].pop()  # deleted on the page: nothing else refers to it
    g.names["a"].pop()
    kept, new = [], None
    for _ in range(2000):  # a new example, at the old address when Python reuses it
        x = np.empty((28, 28))
        x[:] = rng.uniform(0, 1, (28, 28))
        if id(x) == old_id:
            new = x
            break
        kept.append(x)
    g.examples["a"].append(new if new is not None else rng.uniform(0, 1, (28, 28)))
    g.names["a"].append("new.png")
    assert userdata.fingerprint(g) != made_from
