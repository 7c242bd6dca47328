"""The 'Ask your model' page: models from this session or from a saved file, clips and pictures."""

import io
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from core.learn import runs
from core.learn.build import build_model
from core.learn.checkpoints import save_bundle
from core.learn.classify import Preprocess
from tests.apptest import errors, open_page

IMG_SPEC = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
            {"type": "global_avg_pool"}, {"type": "linear", "out_features": 3}]  # fmt: skip
WAV_SPEC = [{"type": "conv1d", "out_channels": 4, "kernel_size": 80, "stride": 16}, {"type": "relu"},
            {"type": "global_avg_pool"}, {"type": "linear", "out_features": 2}]  # fmt: skip


def image_model():
    torch.manual_seed(0)
    return build_model(IMG_SPEC, (1, 16, 16), logits=True).eval()


def wav_model():
    torch.manual_seed(0)
    return build_model(WAV_SPEC, (1, 8000), logits=True).eval()


def png(arr):
    buf = io.BytesIO()
    Image.fromarray((arr * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def wav(x, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.fixture
def at():
    return open_page("classify")


def load(at, data, name="model.zip"):
    if at.radio(key="cl_source").value != "loaded":
        at.radio(key="cl_source").set_value("loaded").run()
    at.file_uploader(key="cl_bundle_upload").set_value((name, data, "application/zip")).run()
    assert not at.exception


def test_without_a_trained_model_the_shipped_ones_answer(at):
    from core.learn import inside

    shipped = inside.shipped_models()
    assert at.radio(key="cl_source").value == f"shipped:{next(iter(shipped))}"
    title = " ".join(c.value for c in at.caption)
    first = next(iter(shipped.values()))
    assert f"{first['model']} shipped with the app" in title
    assert f"test accuracy {first['test_accuracy']:.1%}" in title
    at.radio(key="cl_source").set_value("loaded").run()
    assert any("Train a model on the Train page" in i.value for i in at.info)


def test_a_shipped_audio_model_classifies_a_clip_as_its_own_test_clip(at):
    import torch

    from core.data import shipped as data
    from core.learn import inside

    at.radio(key="cl_source").set_value("shipped:instruments").run()
    ds = data.load("instruments")
    i = int(ds.splits["test"][0])
    at.file_uploader(key="cl_clip").set_value(("note.wav", wav(ds.x[i]), "audio/wav")).run()
    assert not at.exception
    bundle = inside.load_shipped("instruments")
    ex = inside.test_examples(bundle.model, ds, "log-mel")
    said = next(m.value for m in at.markdown if m.value.startswith("**It says:"))
    assert said.startswith(f"**It says: {bundle.class_names[int(ex.predicted[0])]}**")
    assert torch.is_tensor(ex.x)


def test_a_saved_image_model_answers_about_a_picture(at):
    model = image_model()
    pre = Preprocess("image", image_shape=(1, 16, 16))
    load(at, save_bundle(model, spec=IMG_SPEC, input_shape=(1, 16, 16), class_names=["a", "b", "c"],
                         features=pre.to_dict()))  # fmt: skip
    picture = np.tile(np.linspace(0, 1, 16), (16, 1))
    at.radio(key="cl_pic_source").set_value("Upload one").run()
    at.file_uploader(key="cl_picture").set_value(("p.png", png(picture), "image/png")).run()
    assert not at.exception
    x = torch.as_tensor(np.asarray(Image.open(io.BytesIO(png(picture))), np.float32) / 255)[
        None, None
    ]
    probs = torch.softmax(model(x), 1)[0].detach().numpy()
    best = int(probs.argmax())
    said = next(m.value for m in at.markdown if m.value.startswith("**It says:"))
    assert said == f"**It says: {'abc'[best]}** ({probs[best]:.1%})"


def test_a_long_stereo_clip_is_resampled_downmixed_and_scored_in_windows(at):
    pre = Preprocess("waveform", length=8000, sample_rate=16000)
    load(at, save_bundle(wav_model(), spec=WAV_SPEC, input_shape=(1, 8000), class_names=["x", "y"],
                         features=pre.to_dict()))  # fmt: skip
    t = np.arange(3 * 44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1) * 0.3
    at.file_uploader(key="cl_clip").set_value(("s.wav", wav(stereo, 44100), "audio/wav")).run()
    assert not at.exception
    notes = " ".join(c.value for c in at.info)
    assert "44100" in notes and "16000" in notes  # resampled, and said so
    assert "channel" in notes.lower() or "stereo" in notes.lower()
    timeline = next(m.value for m in at.markdown if m.value.startswith("**Over time**"))
    assert timeline.startswith("**Over time**: 11 windows of 0.50 s")  # (3 - 0.5) / 0.25 + 1


def test_bad_clip_and_pickled_checkpoint_are_refused(at):
    pre = Preprocess("waveform", length=8000, sample_rate=16000)
    load(at, save_bundle(wav_model(), spec=WAV_SPEC, input_shape=(1, 8000), class_names=["x", "y"],
                         features=pre.to_dict()))  # fmt: skip
    at.file_uploader(key="cl_clip").set_value(("bad.wav", b"RIFFnot really", "audio/wav")).run()
    assert not at.exception and errors(at)
    buf = io.BytesIO()
    torch.save(wav_model().state_dict(), buf)
    load(at, buf.getvalue(), name="model.pt")  # torch.save writes a zip: also try it renamed
    assert any("pickled PyTorch checkpoint" in e for e in errors(at))
    load(at, buf.getvalue(), name="model.zip")
    assert any("pickled PyTorch checkpoint" in e for e in errors(at))
    load(at, pickle.dumps({"weights": 1}), name="weights.pkl")
    assert any("pickled" in e for e in errors(at))


def test_the_session_model_can_be_downloaded_and_exported():
    from streamlit.testing.v1 import AppTest

    from tests.apptest import PAGES

    model = image_model()
    from core.learn.task import Task
    from core.learn.train import Recipe

    task = Task(
        dataset="digits",
        class_names=("a", "b", "c"),
        input_shape=(1, 16, 16),
        preprocess=Preprocess("image", image_shape=(1, 16, 16)),
        recipe=Recipe(),
    )
    info = runs.RunInfo(dataset_name="digits", model_name="tiny", params=0, device="cpu",
                        spec=IMG_SPEC, test_index=np.zeros(0), y_test=np.zeros(0))  # fmt: skip
    at = AppTest.from_file(str(PAGES / "classify.py"), default_timeout=90)
    at.session_state["train_run"] = SimpleNamespace(status=runs.DONE, model=model, task=task,
                                                    info=info)  # fmt: skip
    at.run()
    assert at.radio(key="cl_source").value == "session"
    assert at.get("download_button")
    at.button(key="cl_onnx").click().run()
    assert not at.exception
    assert any("Exported and checked with onnxruntime" in s.value for s in at.success)
    assert [b for b in at.get("download_button") if "model.onnx" in str(b.proto)]
    meta = at.session_state["cl_onnx_result"][1].metadata
    assert meta["class_names"] == '["a", "b", "c"]' and meta["representation"] == "image"


def _wav_bundle(seed=0):
    torch.manual_seed(seed)
    model = build_model(WAV_SPEC, (1, 8000), logits=True).eval()
    pre = Preprocess("waveform", length=8000, sample_rate=16000)
    return model, save_bundle(model, spec=WAV_SPEC, input_shape=(1, 8000), class_names=["x", "y"],
                              features=pre.to_dict())  # fmt: skip


def _answer(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**It says:"))


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.full(1, 0.5), "shorter than one 32 ms analysis window"),
        (np.zeros(16000), "carries no signal (every sample is 0)"),
        (np.full(16000, 5e-5), "carries no signal (its loudest sample is -90 dBFS)"),
    ],
    ids=["one-sample", "digital-zero", "minus-90-dBFS"],
)
def test_a_clip_without_signal_is_refused_not_classified(at, samples, message):
    load(at, _wav_bundle()[1])
    at.file_uploader(key="cl_clip").set_value(("c.wav", wav(samples), "audio/wav")).run()
    assert not at.exception
    assert any(message in e for e in errors(at))
    assert not any(m.value.startswith("**It says:") for m in at.markdown)


def test_the_newest_input_wins_over_an_upload_still_present(at):
    from core import audio
    from core.learn.classify import classify_clip

    model, bundle = _wav_bundle()
    load(at, bundle)
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    noise = np.random.default_rng(0).uniform(-0.9, 0.9, 16000)
    pre = Preprocess("waveform", length=8000, sample_rate=16000)

    def expected(x):
        clip = audio.load_clip(wav(x), name="c")
        best, p = classify_clip(model, clip.samples, pre=pre, class_names=["x", "y"]).top(1)[0]
        return f"**It says: {best}** ({p:.1%})"

    assert expected(tone) != expected(noise)  # the two inputs get different answers
    at.file_uploader(key="cl_clip").set_value(("tone.wav", wav(tone), "audio/wav")).run()
    assert _answer(at) == expected(tone)
    at.audio_input(key="cl_record").set_value(("rec.wav", wav(noise), "audio/wav")).run()
    assert not at.exception
    assert _answer(at) == expected(noise)  # the recording is newer than the upload
    at.file_uploader(key="cl_clip").set_value(("tone2.wav", wav(0.9 * tone), "audio/wav")).run()
    assert _answer(at) == expected(0.9 * tone)  # and a new upload is newer again


def test_the_onnx_download_belongs_to_the_model_shown(at):
    load(at, _wav_bundle(0)[1], name="first.zip")
    at.button(key="cl_onnx").click().run()
    assert any("Exported and checked" in s.value for s in at.success)
    load(at, _wav_bundle(1)[1], name="second.zip")
    assert not any("Exported and checked" in s.value for s in at.success)
    assert not [b for b in at.get("download_button") if b.proto.id and "onnx" in str(b.proto)]


def test_the_onnx_file_offered_computes_what_the_current_model_computes(at):
    import onnxruntime as ort

    first, first_zip = _wav_bundle(0)
    second, second_zip = _wav_bundle(1)
    load(at, first_zip, name="first.zip")
    at.button(key="cl_onnx").click().run()
    load(at, second_zip, name="second.zip")
    assert "cl_onnx_result" not in at.session_state  # the first export (and model) let go
    at.button(key="cl_onnx").click().run()
    assert any("Exported and checked" in s.value for s in at.success)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 8000)).astype(np.float32)
    session = ort.InferenceSession(at.session_state["cl_onnx_result"][1].data)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, second(torch.from_numpy(x)).numpy(), atol=1e-5)
        assert not np.allclose(got, first(torch.from_numpy(x)).numpy(), atol=1e-3)
    load(at, first_zip, name="first-again.zip")  # a new load is a new model: no export yet
    assert not any("Exported and checked" in s.value for s in at.success)


def test_a_clip_shorter_than_the_models_own_frame_is_refused(at):
    from dataclasses import asdict

    from core.audio.features import FeatureSettings

    spec = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
            {"type": "global_avg_pool"}, {"type": "linear", "out_features": 2}]  # fmt: skip
    torch.manual_seed(0)
    model = build_model(spec, (1, 64, 51), logits=True).eval()
    pre = Preprocess("log-mel", length=8000, sample_rate=16000,
                     settings=asdict(FeatureSettings(n_fft=1024)))  # fmt: skip
    load(at, save_bundle(model, spec=spec, input_shape=(1, 64, 51), class_names=["x", "y"],
                         features=pre.to_dict()))  # fmt: skip
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(800) / 16000)  # 50 ms: a 32 ms frame, not 64
    at.file_uploader(key="cl_clip").set_value(("short.wav", wav(tone), "audio/wav")).run()
    assert not at.exception
    assert any("lasts 50.0 ms: shorter than one 64 ms analysis window" in e for e in errors(at))
    assert not any(m.value.startswith("**It says:") for m in at.markdown)
    long = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1024) / 16000)
    at.file_uploader(key="cl_clip").set_value(("ok.wav", wav(long), "audio/wav")).run()
    assert not errors(at)
    assert any(m.value.startswith("**It says:") for m in at.markdown)


def test_a_clip_longer_than_two_minutes_is_scored_whole_and_once(at, monkeypatch):
    from core.learn import classify

    load(at, _wav_bundle()[1])
    calls = []
    score = classify.classify_clip
    monkeypatch.setattr(
        classify, "classify_clip", lambda *a, **k: calls.append(1) or score(*a, **k)
    )
    t = np.arange(150 * 16000) / 16000  # 2.5 minutes: more than the 120 s read before
    at.file_uploader(key="cl_clip").set_value(("long.wav", wav(0.3 * np.sin(2 * np.pi * 330 * t)),
                                              "audio/wav")).run()  # fmt: skip
    assert not at.exception and not errors(at) and not at.warning
    timeline = next(m.value for m in at.markdown if m.value.startswith("**Over time**"))
    assert timeline.startswith("**Over time**: 599 windows of 0.50 s")  # (150 - 0.5) / 0.25 + 1
    assert not any("trimmed" in i.value for i in at.info)
    assert at.get("audio") and not at.get("progress")  # the bar is gone once it is done
    answer = _answer(at)
    at.button(key="cl_onnx").click().run()  # a rerun: the answer is shown again, not recomputed
    assert _answer(at) == answer and len(calls) == 1
    load(at, _wav_bundle(1)[1], name="other.zip")  # another model: the clip is asked again
    assert len(calls) == 2 and "cl_asked" in at.session_state


def test_a_file_too_big_to_decode_whole_is_read_in_part_with_a_sentence(at, monkeypatch):
    from core.learn import classify

    monkeypatch.setattr(classify, "MAX_DECODED_VALUES", 16000 * 100)  # 100 s of 16 kHz mono
    load(at, _wav_bundle()[1])
    t = np.arange(130 * 16000) / 16000
    at.file_uploader(key="cl_clip").set_value(("big.wav", wav(0.3 * np.sin(2 * np.pi * 330 * t)),
                                              "audio/wav")).run()  # fmt: skip
    assert not at.exception
    said = [w.value for w in at.warning]
    assert len(said) == 1 and said[0].startswith(
        "“big.wav” lasts 2 min 10 s; at 16000 Hz with 1 channel"
    )
    assert "only its first 1 min 40 s are read" in said[0]
    timeline = next(m.value for m in at.markdown if m.value.startswith("**Over time**"))
    assert timeline.startswith("**Over time**: 399 windows")  # (100 - 0.5) / 0.25 + 1


def test_the_page_says_which_files_fit_the_upload_limit(at):
    text = " ".join(m.value for m in at.markdown)
    assert "Files up to 50 MB are taken" in text and "about 27 minutes of 16 kHz mono WAV" in text
