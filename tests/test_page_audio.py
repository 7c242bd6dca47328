"""AppTests of pages/audio.py: every stage renders, every bad clip gives a message, not a trace."""

import io
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "audio.py")
SR = 16_000
STAGES = ["1 Waveform", "2 Framing", "3 Spectrogram", "4 Mel", "5 Hear it", "6 The CNN's view"]


def wav(data, sr=SR, subtype="FLOAT"):
    buf = io.BytesIO()
    sf.write(buf, data, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def tone(seconds=1.0, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def page():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def upload(data, name="clip.wav"):
    at = page()
    at.radio(key="audio_source").set_value("Upload").run()
    at.file_uploader(key="audio_upload").set_value((name, data, "audio/wav")).run()
    assert not at.exception
    return at


def texts(elements):
    return " ".join(e.value for e in elements)


def test_default_example_and_cnn_view_match_librosa():
    at = page()
    y = librosa.load(
        str(Path(PAGE).parents[1] / "assets" / "audio" / "speech_it.ogg"), sr=SR, mono=True
    )[0]
    assert f"= **{y.size:,} samples**" in texts(at.markdown)
    at.radio(key="audio_stage").set_value(STAGES[5]).run()
    assert not at.exception
    frames = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=512, hop_length=160, win_length=400, n_mels=64
    ).shape[1]
    assert at.metric[0].value == f"(1, 64, {frames})"
    assert at.metric[1].value == "45.0 ms"  # (2 * 160 + 400) / 16000 s


@pytest.mark.parametrize("stage", STAGES[:5])
def test_every_stage_renders(stage):
    at = page()
    at.radio(key="audio_stage").set_value(stage).run()
    assert not at.exception and not at.error
    if stage == STAGES[1]:
        at.slider(key="audio_frame").set_value(40).run()
        assert "Frame 40 starts at sample 6,144" in texts(at.markdown)  # 40 * 160 - 256
    if stage == STAGES[3]:
        at.radio(key="audio_mel_view").set_value("MFCC").run()
        assert not at.exception


def test_bad_parameters_give_a_message_and_keep_the_last_good():
    at = page()
    at.select_slider(key="audio_n_fft").set_value(256).run()  # M = 400 > 256
    assert not at.exception
    assert "window length M = 400 must be between 1 and n_fft = 256" in texts(at.error)
    at.number_input(key="audio_fmax").set_value(9000.0).run()
    assert not at.exception and at.error


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.wav", b"", "is empty"),
        ("notes.wav", b"just some text\n" * 30, "not an audio file"),
        ("broken.wav", wav(tone())[:12] + b"garbage!" * 20, "could not be decoded"),
        ("none.wav", wav(np.zeros(0, np.float32)), "holds 0 samples"),
        ("nan.wav", wav(np.full(800, np.nan, np.float32)), "NaN or infinite"),
        ("inf.wav", wav(np.r_[tone(0.1), np.inf].astype(np.float32)), "NaN or infinite"),
        ("low.wav", wav(tone(sr=4000), sr=4000), "sampled at 4000 Hz"),
    ],
)
def test_bad_uploads_show_a_message(name, data, message):
    at = upload(data, name)
    assert message in texts(at.error)
    assert "speech_it.ogg" in texts(at.markdown)  # the last good clip stays on screen


@pytest.mark.parametrize(
    "data,note",
    [
        (wav(np.zeros(SR, np.float32)), "silent"),
        (wav(tone(amp=0.001)), "very quiet"),
        (wav(np.clip(3 * tone(), -1, 1)), "Clipped samples found"),
        (wav(np.stack([tone(), 0.5 * tone()], axis=1)), "stereo (2 channels)"),
        (wav(np.stack([tone()] * 3, axis=1)), "3 channels"),
        (wav(tone(sr=192_000), sr=192_000), "Resampled from 192000 Hz to 16000 Hz"),
        (wav(tone(seconds=31.0, sr=8000, amp=0.2), sr=8000, subtype="PCM_16"), "trimmed"),
    ],
)
def test_unusual_uploads_are_noted(data, note):
    at = upload(data)
    assert not at.error
    assert note in texts(at.info)
    assert "clip.wav" in texts(at.markdown)


def test_recording_in_the_browser():
    at = page()
    at.radio(key="audio_source").set_value("Record").run()
    stereo = np.stack([tone(sr=44100), tone(sr=44100)], axis=1)
    at.audio_input(key="audio_record").set_value(("rec.wav", wav(stereo, 44100), "audio/wav"))
    at.run()
    assert not at.exception and not at.error
    assert "stereo" in texts(at.info) and "Resampled from 44100 Hz" in texts(at.info)
    assert f"**{SR:,} samples**" in texts(at.markdown)
    at.audio_input(key="audio_record").set_value(("rec.wav", b"RIFF1234WAVEjunk", "audio/wav"))
    at.run()
    assert not at.exception and "could not be decoded" in texts(at.error)


def test_page_and_core_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, ast, pathlib\n"
        "import core.audio, core.figures.audio\n"
        "assert 'torch' not in sys.modules, 'core.audio imported torch'\n"
        f"tree = ast.parse(pathlib.Path({PAGE!r}).read_text())\n"
        "names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]\n"
        "names += [n.module or '' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]\n"
        "assert not any(x.split('.')[0] in ('torch', 'torchaudio') for x in names), names\n"
        "assert 'core.audio.features' not in names, names\n"
    )
    root = str(Path(PAGE).parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def _drawn(at, key):
    """The arrays of the first trace of a plotly chart as the browser receives them."""
    import base64
    import json

    chart = next(e for e in at.get("plotly_chart") if e.proto.id and key in e.proto.id)
    trace = json.loads(chart.proto.spec)["data"][0]

    def arr(v):
        if isinstance(v, dict):
            a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
            shape = v.get("shape")
            return a.reshape([int(s) for s in str(shape).split(",")]) if shape else a
        return np.asarray(v)

    return arr(trace["z"]), arr(trace["x"]), arr(trace["y"])


def test_drawn_spectrogram_cells_are_librosa_values():
    """Thinned to the figure's pixels, the cells drawn are still exact librosa dB values."""
    at = page()
    at.select_slider(key="audio_n_fft").set_value(2048).run()
    at.radio(key="audio_stage").set_value(STAGES[2]).run()
    assert not at.exception and not at.error
    z, x, f = _drawn(at, "audio_fig_spec")
    y = librosa.load(
        str(Path(PAGE).parents[1] / "assets" / "audio" / "speech_it.ogg"), sr=SR, mono=True
    )[0]
    ref = librosa.power_to_db(
        np.abs(librosa.stft(y, n_fft=2048, hop_length=160, win_length=400)) ** 2, ref=np.max
    )  # (1025, n_frames)
    rows = np.rint(f * 2048 / SR).astype(int)
    cols = np.rint(x * SR / 160).astype(int)
    assert z.shape == (rows.size, cols.size) and rows.size < ref.shape[0]  # rows were thinned
    assert z.shape[0] <= 300 and z.shape[1] <= 800
    np.testing.assert_allclose(z, ref[np.ix_(rows, cols)], atol=2e-3)
    assert "of the 1025 frequency rows" in texts(at.caption)


def test_step_buttons_move_the_window_by_one_hop():
    at = page()
    at.radio(key="audio_stage").set_value(STAGES[1]).run()
    assert "Frame 0 starts at sample -256" in texts(at.markdown)
    at.button(key="audio_frame_next").click().run()
    at.button(key="audio_frame_next").click().run()
    assert not at.exception
    assert at.slider(key="audio_frame").value == 2
    assert "Frame 2 starts at sample 64" in texts(at.markdown)  # 2 * 160 - 256
    at.button(key="audio_frame_prev").click().run()
    assert "Frame 1 starts at sample -96" in texts(at.markdown)


@pytest.mark.parametrize("n", [1, 100])
def test_a_clip_shorter_than_one_hop_shows_every_stage(n):
    at = upload(wav(np.full(n, 0.3, np.float32)))
    assert not at.exception
    assert "shorter than one hop (160 samples, 10 ms)" in texts(at.info)
    for stage in STAGES:
        at.radio(key="audio_stage").set_value(stage).run()
        assert not at.exception, (stage, at.exception)
