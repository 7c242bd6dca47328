"""The pretrained backbones that ship inside Python packages: their weights load without
unpickling code, their parameter counts, a known picture classified as what it is, stable
outputs on a fixed input, and aiSFX's log-mel equal to librosa's."""

import numpy as np
import pytest
import torch

from core.learn import backbones as B


@pytest.fixture(scope="module")
def lite0():
    return B.efficientnet_lite0()


@pytest.fixture(scope="module")
def aisfx():
    return B.aisfx_cnn()


def _cat() -> torch.Tensor:
    from PIL import Image

    im = Image.open(B.Path(__file__).resolve().parents[1] / "assets/images/cat.png").convert("RGB")
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def test_efficientnet_lite0_has_its_parameters_and_sees_the_cat(lite0):
    assert B.n_parameters(lite0) == 4_652_008
    with torch.no_grad():
        p = lite0(B.image_features(_cat(), size=224)).softmax(1)[0]
    # ImageNet's cat classes: 281 tabby, 282 tiger cat, 285 Egyptian cat ("Chelsea" is a tabby)
    assert int(p.argmax()) in (281, 282, 285)
    assert float(p[[281, 282, 285]].sum()) > 0.8
    with torch.no_grad():
        features = lite0.features(B.image_features(_cat(), size=96))
    assert features.shape == (1, 1280) and bool((features >= 0).all())  # after ReLU6


def test_efficientnet_lite0_outputs_are_stable(lite0):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    with torch.no_grad():
        logits = lite0(x)
    # a checksum of the logits of a fixed input: changes if the module or weights change
    assert logits.shape == (2, 1000)
    assert bool(torch.isfinite(logits).all())
    np.testing.assert_allclose(
        [float(logits.abs().mean()), float(logits[0, :5].sum())], STABLE_LITE0, rtol=1e-4
    )


def test_aisfx_has_its_parameters_and_gives_512_features(aisfx):
    assert B.n_parameters(aisfx) == 4_686_144
    gen = torch.Generator().manual_seed(0)
    wav = torch.randn(3, 16_000, generator=gen) * 0.1
    with torch.no_grad():
        f = aisfx(B.AisfxLogMel(16_000)(wav))
    assert f.shape == (3, 512)
    np.testing.assert_allclose([float(f.mean()), float(f[0, :5].sum())], STABLE_AISFX, rtol=1e-4)


def test_the_speech_network_equals_onnxruntime_on_its_own_file():
    """The module written here against the ONNX graph it is read from, run by onnxruntime:
    random noise, a tone and a chirp, at two lengths and batch sizes."""
    import onnxruntime as ort

    net = B.speech_embedding()
    assert B.n_parameters(net) == 328_152
    session = ort.InferenceSession(str(B.speech_embedding_file()),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    for n, length in ((1, 16_000), (3, 24_000)):
        t = np.arange(length) / 16_000
        clips = [rng.uniform(-0.5, 0.5, length), 0.3 * np.sin(2 * np.pi * 440 * t),
                 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t)][:n]  # fmt: skip
        x = np.stack(clips).astype(np.float32)
        ref = session.run(None, {name: x})[0]  # (N, W, 1, 96)
        with torch.no_grad():
            out = net(torch.from_numpy(x)).numpy()  # (N, W, 96)
        assert out.shape == (n, (1 + (length - 400) // 160 - 76) // 8 + 1, 96)
        scale = float(np.abs(ref).max())
        assert float(np.abs(ref.reshape(out.shape) - out).max()) < 1e-3 * scale
    with torch.no_grad():
        f = net.features(torch.from_numpy(x))
    assert f.shape == (n, 192)  # mean and max over the windows of the padded clips


def test_aisfx_logmel_equals_librosa():
    import librosa

    rng = np.random.default_rng(1)
    t = np.arange(44_100) / 44_100
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = B.AisfxLogMel(44_100)(torch.from_numpy(y)[None])[0, 0].numpy()  # (frames, 96)
    y = y / np.abs(y).max()
    ref = librosa.feature.melspectrogram(y=y, sr=44_100, n_fft=2048, hop_length=1024,
                                         win_length=2048, n_mels=96, fmin=0.0, fmax=22_050,
                                         htk=True, norm=1.0, power=2.0)  # fmt: skip
    ref = np.log10(ref * 10_000.0 + 1) / 9.457798957824707
    assert ours.shape == ref.T.shape == (44, 96)
    np.testing.assert_allclose(ours, ref.T, rtol=1e-4, atol=1e-5)


def test_the_weights_load_without_unpickling_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as f:
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError):
        B._load_weights(bad)


# recorded once from the shipped weights (mean |logit|, sum of the first five)
STABLE_LITE0 = (1.458867073059082, -1.9111213684082031)
STABLE_AISFX = (1.0689170360565186, 7.1728010177612305)
