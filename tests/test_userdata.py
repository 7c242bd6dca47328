"""Users' own classes: decoding, checks, and the dataset they become."""

import io
import struct
import tracemalloc
import zlib

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
    # every clip is one second: the 0.5 s clips sit in its middle, silence on both sides
    assert ds.x.shape == (10, 16000)
    assert ds.y.tolist() == [0] * 5 + [1] * 5
    for split in ("train", "val", "test"):
        assert set(ds.y[ds.splits[split]]) == {0, 1}  # every split sees both classes
    ref, _ = sf.read(io.BytesIO(audio_files["high"][0][1]), dtype="float32")  # (8000,)
    np.testing.assert_allclose(ds.x[5, 4000:12000], ref, atol=1e-6)
    assert not ds.x[5, :4000].any() and not ds.x[5, 12000:].any()
    short, _ = sf.read(io.BytesIO(audio_files["low"][0][1]), dtype="float32")  # (6000,)
    np.testing.assert_allclose(ds.x[0, 5000:11000], short, atol=1e-6)
    assert any(
        n == "low/l0.wav: lasts 0.38 s; padded with silence on both sides to 1 s." for n in g.notes
    )


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


def test_a_long_clip_keeps_its_loud_second_and_says_which():
    x = np.zeros(49600, np.float32)  # 3.10 s of silence with a 1 kHz burst at 0.90-0.94 s
    x[14400:15040] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(640) / 16000)
    g = userdata.gather({"tap": [("tap.wav", _wav(x))]}, kind="audio")
    (kept,) = g.examples["tap"]
    np.testing.assert_array_equal(kept, x[6720:22720])  # 0.42-1.42 s, the burst in the middle
    assert "tap/tap.wav: kept 0.42–1.42 s of 3.10 s (its loudest 1 s)." in g.notes


def test_to_dataset_keeps_the_loud_second_of_a_long_example():
    rng = np.random.default_rng(0)
    g = userdata.Gathered("audio")
    long = np.zeros(3 * 16000, np.float32)
    long[40000:41000] = 0.5  # a click near the end of a 3 s example, put there directly
    g.examples = {"a": [long] + [rng.uniform(-0.5, 0.5, 16000).astype(np.float32)] * 3,
                  "b": [rng.uniform(-0.5, 0.5, 8000).astype(np.float32)] * 4}  # fmt: skip
    g.names = {k: [f"{i}.wav" for i in range(4)] for k in g.examples}
    ds = userdata.to_dataset(g)
    assert ds.x.shape == (8, 16000)
    np.testing.assert_array_equal(ds.x[0], long[32000:48000])  # the last second, click inside


def test_room_noise_becomes_the_background_class():
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.02, int(20.3 * 16000)).astype(np.float32)
    noise[:16000] = 0.0  # the microphone's first second: digital silence
    g = userdata.gather_background(_wav(noise), name="kitchen.wav")
    assert list(g.examples) == [userdata.BACKGROUND] == ["background"]
    pieces = g.examples["background"]
    assert len(pieces) == 19  # 20 whole seconds, the silent first one left out
    for i, piece in zip(range(1, 20), pieces, strict=True):
        np.testing.assert_array_equal(piece, noise[i * 16000 : (i + 1) * 16000])
    assert g.names["background"][:2] == ["kitchen, piece 2 of 20", "kitchen, piece 3 of 20"]
    assert g.notes == [
        "background/kitchen.wav: 20.3 s of room noise cut into 20 examples of 1 s "
        "(the last 0.30 s was left out)."
    ]
    assert g.problems == [
        "background/kitchen.wav: 1 piece(s) are digital silence and were left out (0–1 s)."
    ]


def test_a_short_or_silent_room_recording_is_refused_with_a_sentence():
    noise = np.random.default_rng(1).normal(0, 0.02, int(2.5 * 16000))
    with pytest.raises(UserInputError, match=r"lasts 2\.5 s: at least 4 s are needed"):
        userdata.gather_background(_wav(noise), name="short.wav")
    with pytest.raises(UserInputError, match="carries no signal"):
        userdata.gather_background(_wav(np.zeros(20 * 16000)), name="mute.wav")


def encoded(img, fmt):
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_large_pictures_are_shrunk_while_they_are_decoded():
    half = np.zeros((2000, 3000), np.uint8)  # 6 megapixels: dark left half, light right half
    half[:, 1500:] = 255
    files = {"wide": [("w.png", encoded(Image.fromarray(half), "PNG"))],
             "tall": [("t.jpg", encoded(Image.fromarray(half.T).convert("RGB"), "JPEG"))]}  # fmt: skip
    tracemalloc.start()
    try:
        g = userdata.gather(files, kind="image")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (wide,), (tall,) = g.examples["wide"], g.examples["tall"]
    assert userdata.PICTURE_SIDE == 128
    assert wide.shape == (85, 128) and tall.shape == (128, 85)  # the longer side at 128
    assert wide.dtype == tall.dtype == np.float32
    assert wide[:, :60].max() < 0.01 and wide[:, 68:].min() > 0.99
    assert tall[:60].max() < 0.05 and tall[68:].min() > 0.95  # (JPEG blurs the edge a little)
    assert peak < 8 * 2**20  # the whole picture as 64-bit floats would be 46 MB
    # the note names the sizes of the files, not of what is kept
    assert any("different sizes (3000x2000, 2000x3000)" in n for n in g.notes)
    ds = userdata.to_dataset(
        userdata.Gathered(
            "image",
            {k: v * 4 for k, v in g.examples.items()},
            {k: v * 4 for k, v in g.names.items()},
        )  # fmt: skip
    )
    assert ds.x.shape == (8, 1, 28, 28) and ds.x.dtype == np.float32


@pytest.mark.parametrize(
    "mode,color,fmt,level",
    [("L", 100, "PNG", 100 / 255), ("LA", (100, 255), "PNG", 100 / 255),
     ("P", 100, "PNG", 100 / 255), ("RGB", (100, 100, 100), "PNG", 100 / 255),
     ("RGBA", (100, 100, 100, 255), "PNG", 100 / 255), ("1", 1, "PNG", 1.0),
     ("I;16", 40000, "PNG", 40000 / 65535), ("L", 100, "JPEG", 100 / 255),
     ("RGB", (100, 100, 100), "JPEG", 100 / 255)],
)  # fmt: skip
def test_large_pictures_of_every_mode_are_shrunk_to_their_own_levels(mode, color, fmt, level):
    img = Image.new("L", (300, 200), color).convert("P") if mode == "P" else None
    img = img or Image.new(mode, (300, 200), color)
    x, size = userdata.small_picture(encoded(img, fmt), name="x")
    assert size == (200, 300) and x.shape == (85, 128) and x.dtype == np.float32
    np.testing.assert_allclose(x, level, atol=1 / 255)


def test_files_past_the_example_limit_are_left_out_unread(monkeypatch):
    monkeypatch.setattr(userdata, "MAX_EXAMPLES", 5)
    files = {"a": [(f"{i}.png", png((8, 8))) for i in range(4)],
             "b": [("0.png", png((8, 8)))] + [(f"bad{i}.png", b"not a picture") for i in range(3)],
             "c": [("0.png", png((8, 8)))]}  # fmt: skip
    g = userdata.gather(files, kind="image")
    assert g.counts == {"a": 4, "b": 1, "c": 0}
    assert g.names["b"] == ["0.png"]
    # the three files that are not pictures were never decoded: no sentence about them
    assert g.problems == [
        "Room for 5 more example(s) only: the other 4 file(s) were left out without being read."
    ]
    g = userdata.gather(files, kind="image", max_examples=2)
    assert g.counts == {"a": 2, "b": 0, "c": 0} and len(g.problems) == 1


def png_claiming(width, height):
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data after it."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">2I5B", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(16)))
            + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize(
    "width,height,said",
    [(7000, 6000, "is 7000x6000 pixels (42 megapixels); pictures up to 40 megapixels are accepted."),
     (10_000, 10_000, "claims to be a far larger picture than can be opened safely; pictures up "
                      "to 40 megapixels are accepted."),
     (30_000, 30_000, "claims to be a far larger picture than can be opened safely; pictures up "
                      "to 40 megapixels are accepted.")],
    ids=["over-the-limit", "pillow-bomb-warning", "pillow-bomb-error"],
)  # fmt: skip
def test_pictures_too_large_to_open_are_refused_unread(width, height, said):
    g = userdata.gather({"a": [("big.png", png_claiming(width, height))]}, kind="image")
    assert g.counts == {"a": 0}
    assert g.problems == [f"a/big.png: big.png {said}"]


def test_a_long_picture_keeps_enough_rows_for_the_network():
    img = Image.new("L", (1000, 150), 200)
    x, size = userdata.small_picture(encoded(img, "PNG"), name="strip.png")
    assert size == (150, 1000) and min(x.shape) >= 28 and max(x.shape) <= 4 * userdata.PICTURE_SIDE
    np.testing.assert_allclose(x, 200 / 255, atol=1 / 255)


def test_pngs_past_the_pixel_budget_are_left_out_unread(monkeypatch):
    """A plain-colour PNG is tiny on disk however many pixels it declares: a zip of them is
    bounded by the pixels decoded, not by the bytes."""
    big = encoded(Image.new("L", (2000, 1000), 90), "PNG")  # 2 megapixels in a few KB
    assert len(big) < 20_000
    monkeypatch.setattr(userdata, "MAX_PNG_PIXELS", 5_000_000)
    decoded = []
    real = userdata.small_picture
    monkeypatch.setattr(userdata, "small_picture",
                        lambda data, name: decoded.append(name) or real(data, name=name))  # fmt: skip
    jpeg = encoded(Image.new("L", (2000, 1000), 90), "JPEG")
    files = {"a": [(f"{i}.png", big) for i in range(3)], "b": [("0.png", big), ("1.jpg", jpeg)]}
    g = userdata.gather(files, kind="image")
    assert decoded == ["0.png", "1.png", "1.jpg"]  # 2 + 2 MP fit, the third and fourth not
    assert g.counts == {"a": 2, "b": 1}
    assert any("2 PNG picture(s) were left out without being read" in p and "4 megapixels" in p
               for p in g.problems)  # fmt: skip


def test_pngs_refused_from_their_header_do_not_use_up_the_pixel_budget(monkeypatch):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    def claims(w, h):  # a PNG whose header claims w x h pixels, with almost none in it
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip

    monkeypatch.setattr(userdata, "MAX_PNG_PIXELS", 5_000_000)
    huge = [(f"huge{i}.png", claims(12_000, 12_000)) for i in range(3)]  # 144 MP each, refused
    real = encoded(Image.new("L", (2000, 1000), 90), "PNG")
    g = userdata.gather({"a": [*huge, ("real.png", real)]}, kind="image")
    assert g.counts == {"a": 1}
    assert sum("megapixels are accepted" in p for p in g.problems) == 3
    assert not any("left out without being read" in p for p in g.problems)
