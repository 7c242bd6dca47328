"""ONNX export: the exported graph computes what the PyTorch model computes."""

import numpy as np
import onnxruntime as ort
import torch

from core.learn.build import build_model
from core.learn.export import to_onnx


def test_exported_model_matches_torch_on_new_inputs():
    spec = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
            {"type": "global_avg_pool"}, {"type": "linear", "out_features": 3}]  # fmt: skip
    torch.manual_seed(0)
    model = build_model(spec, (1, 12, 12), logits=True).eval()
    exp = to_onnx(model, (1, 12, 12))
    assert exp.max_abs_diff < 1e-5 and exp.checked_with.startswith("onnxruntime")
    session = ort.InferenceSession(exp.data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(1, 1, 12, 12)).astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def _log_mel_export():
    from dataclasses import asdict

    from core.audio.features import FeatureSettings
    from core.learn.classify import Preprocess

    spec = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2},
            {"type": "batchnorm"}, {"type": "relu"}, {"type": "flatten"},
            {"type": "dropout", "p": 0.3}, {"type": "linear", "out_features": 3}]  # fmt: skip
    settings = FeatureSettings(n_fft=400, hop_length=200, n_mels=20)
    pre = Preprocess("log-mel", length=8000, sample_rate=16000, settings=asdict(settings))
    shape = (1, 20, settings.n_frames(8000))
    torch.manual_seed(0)
    model = build_model(spec, shape, logits=True).eval()
    names = ["accendi la luce", "spegni", "è tardi"]
    return model, shape, pre, names, to_onnx(model, shape, class_names=names, preprocess=pre)


def test_the_export_reads_any_batch_size():
    model, shape, _, _, exp = _log_mel_export()
    session = ort.InferenceSession(exp.data, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    rng = np.random.default_rng(2)
    for n in (1, 5):
        x = rng.normal(size=(n, *shape)).astype(np.float32)
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            np.testing.assert_allclose(out, model(torch.from_numpy(x)).numpy(), atol=1e-4)
        assert out.shape == (n, 3)
    assert exp.max_abs_diff < 1e-4


def test_the_export_carries_the_classes_and_the_preprocessing():
    import json

    from core.learn.classify import Preprocess
    from core.learn.export import read_metadata

    _, shape, pre, names, exp = _log_mel_export()
    meta = ort.InferenceSession(exp.data).get_modelmeta().custom_metadata_map
    assert meta == read_metadata(exp.data) == exp.metadata
    assert json.loads(meta["class_names"]) == names
    assert Preprocess.from_dict(json.loads(meta["preprocess"])) == pre
    assert json.loads(meta["input_shape"]) == list(shape)
    got = {k: json.loads(meta[k]) for k in ("sample_rate", "window_samples", "n_fft",
                                            "hop_length", "n_mels", "win_length", "top_db")}  # fmt: skip
    assert got == {"sample_rate": 16000, "window_samples": 8000, "n_fft": 400, "hop_length": 200,
                   "n_mels": 20, "win_length": None, "top_db": 80.0}  # fmt: skip
    assert meta["representation"] == "log-mel"
    assert "mean" in meta["normalisation"] and "standard deviation" in meta["normalisation"]


def test_a_waveform_and_a_picture_model_say_what_they_read():
    import json

    from core.learn.classify import Preprocess

    spec = [{"type": "conv1d", "out_channels": 4, "kernel_size": 80, "stride": 16},
            {"type": "relu"}, {"type": "global_avg_pool"}, {"type": "linear", "out_features": 1}]  # fmt: skip
    model = build_model(spec, (1, 4000), logits=True).eval()
    pre = Preprocess("waveform", length=4000, sample_rate=8000)
    meta = to_onnx(model, (1, 4000), class_names=["no", "yes"], preprocess=pre,
                   head="sigmoid").metadata  # fmt: skip
    assert (meta["representation"], meta["head"], json.loads(meta["sample_rate"])) == (
        "waveform", "sigmoid", 8000)  # fmt: skip
    assert "n_fft" not in meta
    img = Preprocess("image", image_shape=(1, 12, 12), pad=2)
    model = build_model([{"type": "flatten"}, {"type": "linear", "out_features": 2}], (1, 12, 12),
                        logits=True)  # fmt: skip
    meta = to_onnx(model, (1, 12, 12), class_names=["a", "b"], preprocess=img).metadata
    assert json.loads(meta["image_shape"]) == [1, 12, 12] and json.loads(meta["pad"]) == 2
