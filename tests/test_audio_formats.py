"""What people upload: WAV, FLAC, OGG, MP3 and what phones and browsers record (AAC in M4A,
Opus in WebM, raw ADTS AAC), each made here from one known signal and decoded to the same
samples within what its codec keeps; and damaged or hostile files refused with a sentence."""

import io

import av
import numpy as np
import pytest
import soundfile as sf
import torch

from core.audio.clips import load_clip
from core.errors import UserInputError

SR = 16_000


def _signal(seconds: float = 1.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1200 * t)
    return np.stack([tone * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)


def _encode_av(x: np.ndarray, *, fmt: str, codec: str, sr: int = SR) -> bytes:
    """Encode (n, channels) float32 with FFmpeg, as a phone or a browser would."""
    buf = io.BytesIO()
    layout = "mono" if x.shape[1] == 1 else "stereo"
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=sr, layout=layout)
        stream.bit_rate = 96_000
        frame_size = stream.codec_context.frame_size or 1024
        pts = 0
        for i in range(0, x.shape[0], frame_size):
            chunk = np.ascontiguousarray(x[i : i + frame_size].T)  # (channels, n) planar
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sr, pts
            pts += chunk.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _sf_bytes(x: np.ndarray, fmt: str, subtype: str | None = None, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _aligned_error(got: np.ndarray, want: np.ndarray) -> float:
    """Relative RMS error after the best shift (lossy codecs add a delay of a few frames)."""
    n = min(len(got), len(want)) - 4000
    best = np.inf
    for lag in range(0, 3000):
        a, b = got[lag : lag + n], want[:n]
        if len(a) < n:
            break
        best = min(best, float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2))))
    return best


CASES = {
    "wav": (lambda x: _sf_bytes(x, "WAV", "PCM_16"), 1e-3),
    "flac": (lambda x: _sf_bytes(x, "FLAC"), 1e-3),
    "ogg": (lambda x: _sf_bytes(x, "OGG", "VORBIS"), 0.2),
    "mp3": (lambda x: _encode_av(x, fmt="mp3", codec="libmp3lame"), 0.2),
    "m4a": (lambda x: _encode_av(x, fmt="ipod", codec="aac"), 0.2),
    "webm": (lambda x: _encode_av(x, fmt="webm", codec="libopus", sr=48_000), 0.2),
    "aac": (lambda x: _encode_av(x, fmt="adts", codec="aac"), 0.2),
}


@pytest.mark.parametrize("ext", list(CASES))
def test_each_format_decodes_to_the_same_samples(ext):
    make, tolerance = CASES[ext]
    sr = 48_000 if ext == "webm" else SR  # Opus runs at 48 kHz
    clip = load_clip(make(_signal(sr=sr)), name=f"clip.{ext}", target_sr=SR)
    want = _signal()[:, 0]
    assert clip.sr == SR
    assert abs(len(clip.samples) - len(want)) < 0.1 * SR  # about 1 s (codec padding aside)
    assert _aligned_error(clip.samples, want) < tolerance, ext


def test_a_stereo_m4a_is_downmixed_with_a_note():
    x = _signal(channels=2)
    clip = load_clip(_encode_av(x, fmt="ipod", codec="aac"), name="phone.m4a")
    assert any("stereo" in n for n in clip.notes)
    assert _aligned_error(clip.samples, x.mean(axis=1)) < 0.2


def test_a_long_m4a_is_cut_at_the_limit_and_says_how_long_it_was():
    x = _signal(seconds=12.0)
    clip = load_clip(_encode_av(x, fmt="ipod", codec="aac"), name="long.m4a", max_seconds=5)
    assert len(clip.samples) == 5 * SR
    assert any("trimmed to its first 5 s" in n and "12.0 s" in n for n in clip.notes)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200,
            "looks like a M4A file but could not be decoded",
        ),
        (
            b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4,
            "looks like a WebM file but could not be decoded",
        ),
        (b"hello, this is text and not sound" * 20, "not an audio file this page can read"),
    ],
)
def test_damaged_or_foreign_files_get_a_sentence(data, said):
    with pytest.raises(UserInputError, match=said):
        load_clip(data, name="x")


def test_a_cut_short_m4a_is_refused_or_decoded_but_never_raises_anything_else():
    data = _encode_av(_signal(), fmt="ipod", codec="aac")
    for cut in (len(data) // 3, len(data) // 2, len(data) - 10):
        try:
            clip = load_clip(data[:cut], name="cut.m4a")
        except UserInputError:
            continue
        assert np.isfinite(clip.samples).all()


# --------------------------------------------------------------- files that ask for more


def test_a_list_naming_files_on_the_server_is_not_read(monkeypatch):
    """FFmpeg's concat reader opens the files a list names; an upload is never allowed to."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    asset = next((root / "assets" / "audio").glob("*.ogg"))
    monkeypatch.chdir(root)
    listing = f"ffconcat version 1.0\nfile {asset.relative_to(root).as_posix()}\n".encode()
    with pytest.raises(UserInputError, match="not an audio file this page can read"):
        load_clip(listing, name="x.wav")
    assert load_clip(asset.read_bytes()).n_samples > 0  # the file itself decodes


@pytest.mark.parametrize("fmt", ["WAV", "OGG"])
def test_more_than_eight_channels_are_refused_before_decoding(fmt):
    buf = io.BytesIO()
    many = np.zeros((SR // 10, 9), np.float32)
    sf.write(buf, many, SR, format=fmt, subtype="PCM_16" if fmt == "WAV" else "VORBIS")
    with pytest.raises(UserInputError, match="has 9 channels; at most 8"):
        load_clip(buf.getvalue(), name="many")


def test_a_file_decodes_to_a_bounded_number_of_samples(monkeypatch):
    """However long a file may be, it decodes to at most MAX_DECODED_VALUES samples (all
    channels together); the note says how much was kept."""
    from core.audio import clips

    monkeypatch.setattr(clips, "MAX_DECODED_VALUES", SR)  # one second of mono, half of stereo
    x = _signal(2.0, channels=2)
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    clip = load_clip(buf.getvalue(), name="long", max_seconds=30)
    assert clip.n_samples == SR // 2
    np.testing.assert_allclose(clip.samples, x[: SR // 2].mean(axis=1), atol=1e-6)
    assert any("lasts 2.0 s; it was trimmed to its first 0.5 s" in n for n in clip.notes)


def test_samples_far_beyond_full_scale_are_scaled_to_fit():
    from core.audio import features

    x = _signal(1.0, channels=2) * np.float32(3e38) / np.float32(0.6)  # finite, near float max
    assert np.all(np.isfinite(x))
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    clip = load_clip(buf.getvalue(), name="loud")
    peak = float(np.abs(x).max())
    expected = (x.astype(np.float64) / peak).mean(axis=1)
    np.testing.assert_allclose(clip.samples, expected, atol=1e-6)
    assert any(f"reach ±{peak:.3g}, beyond full scale" in n for n in clip.notes), clip.notes
    logmel = features.LogMel(features.FeatureSettings())(torch.from_numpy(clip.samples)[None])
    assert torch.isfinite(logmel).all()  # every later stage stays finite
