"""The preset layer specs: classic networks, the course's models and the app's fast CNNs.

Each preset is a function ``(n_classes, head) -> spec`` in :data:`PRESETS`, with the input
shape it was designed for; :func:`preset_spec` adapts one to an input and a number of
classes and checks it with :func:`core.explain.summary.summarize`. Plain python, no torch::

    spec = preset_spec("digits_cnn", input_shape=(1, 28, 28), n_classes=10)
"""

from __future__ import annotations

from core.errors import UserInputError
from core.explain.summary import summarize, whole


def _head(n_classes: int, head: str) -> list[dict]:
    if head == "sigmoid":
        # one yes/no unit for two classes; one independent unit per class otherwise
        units = 1 if n_classes <= 2 else n_classes
        return [{"type": "dense", "units": units, "activation": "sigmoid"}]
    if head == "softmax":
        return [{"type": "dense", "units": n_classes, "activation": "softmax"}]
    return [{"type": "dense", "units": n_classes}]


def _lenet5(n, head):
    return [
        {"type": "conv2d", "filters": 6, "kernel_size": 5, "activation": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2},
        {"type": "conv2d", "filters": 16, "kernel_size": 5, "activation": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2},
        {"type": "conv2d", "filters": 120, "kernel_size": 5, "activation": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 84, "activation": "tanh"},
        *_head(n, head),
    ]


def _alexnet(n, head):
    c = [
        (64, 11, 4, 2, True),
        (192, 5, 1, 2, True),
        (384, 3, 1, 1, False),
        (256, 3, 1, 1, False),
        (256, 3, 1, 1, True),
    ]
    spec = []
    for filters, k, s, p, pool in c:
        spec.append({"type": "conv2d", "filters": filters, "kernel_size": k, "stride": s,
                     "padding": p, "activation": "relu"})  # fmt: skip
        if pool:
            spec.append({"type": "maxpool2d", "kernel_size": 3, "stride": 2})
    return spec + [
        {"type": "adaptive_avgpool", "output_size": 6},
        {"type": "flatten"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        *_head(n, head),
    ]


def _vgg16(n, head):
    spec = []
    for filters, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            spec.append({"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1,
                         "activation": "relu"})  # fmt: skip
        spec.append({"type": "maxpool2d", "kernel_size": 2})
    return spec + [
        {"type": "adaptive_avgpool", "output_size": 7},
        {"type": "flatten"},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _resnet_stem(filters=64, k=7, s=2, pool=True):
    spec = [
        {"type": "conv2d", "filters": filters, "kernel_size": k, "stride": s, "padding": k // 2,
         "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]  # fmt: skip
    if pool:
        spec.append({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1})
    return spec


def _resnet18(n, head):
    spec = _resnet_stem()
    for stage, filters in enumerate((64, 128, 256, 512)):
        spec.append({"type": "residual", "filters": filters, "stride": 1 if stage == 0 else 2})
        spec.append({"type": "residual", "filters": filters})
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _tiny_resnet(n, head):
    spec = _resnet_stem(filters=16, k=3, s=1, pool=False)
    spec += [
        {"type": "residual", "filters": 16},
        {"type": "residual", "filters": 32, "stride": 2},
        {"type": "residual", "filters": 64, "stride": 2},
    ]
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _spectrogram_cnn(n, head):
    spec = []
    for filters in (32, 64, 64):
        spec += [
            {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": "valid",
             "activation": "relu"},
            {"type": "batchnorm"},
            {"type": "maxpool2d", "kernel_size": 2},
        ]  # fmt: skip
    return spec + [
        {"type": "global_avg_pool"},
        {"type": "dense", "units": 128, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _pyramid(n, head):
    spec = []
    for filters, rate in ((32, 0.1), (64, 0.15), (128, 0.2), (256, 0.25), (512, 0.3)):
        for _ in range(2):
            spec += [
                {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1},
                {"type": "batchnorm"},
                {"type": "relu"},
            ]
        spec += [{"type": "maxpool2d", "kernel_size": 2}, {"type": "dropout", "p": rate}]
    return spec + [
        {"type": "global_avg_pool"},
        {"type": "dense", "units": 256, "activation": "relu"},
        {"type": "dropout", "p": 0.5},
        *_head(n, head),
    ]


def _m5(n, head):
    spec = [
        {"type": "conv1d", "filters": 32, "kernel_size": 80, "stride": 16},
        {"type": "batchnorm"},
        {"type": "relu"},
        {"type": "maxpool1d", "kernel_size": 4},
    ]
    for filters in (32, 64, 64):
        spec += [
            {"type": "conv1d", "filters": filters, "kernel_size": 3},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "maxpool1d", "kernel_size": 4},
        ]
    return spec + [{"type": "global_avg_pool"}, *_head(n, head)]


def _bn_block(filters, *, stride=1, pool=True):
    """conv3x3 (no bias: BatchNorm adds its own shift) - BatchNorm - ReLU [- 2x2 max-pool]."""
    spec = [
        {"type": "conv2d", "filters": filters, "kernel_size": 3, "stride": stride, "padding": 1,
         "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]  # fmt: skip
    return spec + ([{"type": "maxpool2d", "kernel_size": 2}] if pool else [])


def _digits_cnn(n, head):
    # (1, 28, 28) -> (8, 14, 14) -> (16, 7, 7) -> (32, 3, 3) -> 288 -> n; a quarter of the
    # multiply-adds of 16-32-64 filters, and as accurate on the 3,500 training digits
    spec = _bn_block(8) + _bn_block(16) + _bn_block(32)
    return spec + [{"type": "flatten"}, {"type": "dropout", "p": 0.3}, *_head(n, head)]


def _speech_cnn(n, head):
    # (1, 64, 201): a stride-2 first conv halves mels and frames (20 ms steps), then
    # (16, 16, 50) -> (32, 8, 25) -> (64, 4, 12) -> 3072 -> n. Flatten, not global pooling:
    # which sound comes first ("accendi" ... "luce") is what tells the commands apart.
    spec = _bn_block(16, stride=2) + _bn_block(32) + _bn_block(64)
    return spec + [{"type": "flatten"}, {"type": "dropout", "p": 0.3}, *_head(n, head)]


def _timbre_cnn(n, head):
    # (1, 64, 101): the first conv steps 2 frames at a time (20 ms), then
    # (16, 32, 25) -> (32, 16, 12) -> (64, 8, 6) -> global average -> n: a timbre sounds
    # the same at any moment of the note, so averaging over time is fine.
    spec = _bn_block(16, stride=(1, 2)) + _bn_block(32) + _bn_block(64)
    return spec + [{"type": "global_avg_pool"}, {"type": "dropout", "p": 0.2}, *_head(n, head)]


def _resnet_block(n, head):
    return [{"type": "residual", "filters": 64}, {"type": "residual", "filters": 128, "stride": 2}]


def _separable(n, head):
    return [{"type": "separable", "filters": 64, "kernel_size": 3}]


def _standard(n, head):
    return [
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
    ]


PRESETS: dict[str, dict] = {
    "lenet5": {"title": "LeNet-5", "input_shape": (1, 32, 32), "n_classes": 10,
               "build": _lenet5},
    "alexnet": {"title": "AlexNet (as in torchvision)", "input_shape": (3, 224, 224),
                "n_classes": 1000, "build": _alexnet},
    "vgg16": {"title": "VGG-16 (as in torchvision)", "input_shape": (3, 224, 224),
              "n_classes": 1000, "build": _vgg16},
    "resnet18": {"title": "ResNet-18 (as in torchvision)", "input_shape": (3, 224, 224),
                 "n_classes": 1000, "build": _resnet18},
    "resnet_block": {"title": "ResNet basic blocks (identity skip, then 1×1 projection skip)",
                     "input_shape": (64, 56, 56), "n_classes": None, "build": _resnet_block},
    "separable_block": {"title": "MobileNet depthwise-separable block",
                        "input_shape": (32, 112, 112), "n_classes": None, "build": _separable},
    "standard_block": {"title": "Standard 3×3 conv block (same shape as the separable one)",
                       "input_shape": (32, 112, 112), "n_classes": None, "build": _standard},
    "spectrogram_cnn": {"title": "Spectrogram classifier (Keras reference: 66,123 parameters)",
                        "input_shape": (1, 128, 128), "n_classes": 11,
                        "build": _spectrogram_cnn},
    "pyramid_cnn": {"title": "5-block pyramid CNN (224×224×3, 30 instruments)",
                    "input_shape": (3, 224, 224), "n_classes": 30, "build": _pyramid},
    "tiny_resnet": {"title": "Tiny ResNet (trainable on a laptop)", "input_shape": (1, 64, 64),
                    "n_classes": 10, "build": _tiny_resnet},
    "m5": {"title": "M5-style 1-D CNN on raw waveforms", "input_shape": (1, 8000),
           "n_classes": 10, "build": _m5},
    "digits_cnn": {"title": "Fast digit CNN (3 conv-BatchNorm blocks, 8-16-32 filters)",
                   "input_shape": (1, 28, 28), "n_classes": 10, "build": _digits_cnn},
    "speech_cnn": {"title": "Fast command CNN (stride-2 start, 3 BatchNorm blocks, flatten)",
                   "input_shape": (1, 64, 201), "n_classes": 8, "build": _speech_cnn},
    "timbre_cnn": {"title": "Fast timbre CNN (3 BatchNorm blocks, global average pooling)",
                   "input_shape": (1, 64, 101), "n_classes": 6, "build": _timbre_cnn},
}  # fmt: skip


def preset_spec(name: str, *, input_shape=None, n_classes=None, head: str = "softmax") -> list:
    """The spec of a preset, adapted to an input shape and a number of classes.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS`.
    input_shape : tuple of int, optional
        Checked against the spec (the first layers infer their channels from it); defaults
        to the preset's own.
    n_classes : int, optional
        Size of the output layer; defaults to the preset's own.
    head : {'softmax', 'sigmoid', 'none'}
        'softmax' for one class out of many; 'sigmoid' for yes/no decisions (one unit for
        two classes, one independent unit per class otherwise); 'none' for raw logits.

    Raises
    ------
    UserInputError, ShapeError
        For an unknown name or head, or an input too small for the preset.
    """
    if name not in PRESETS:
        raise UserInputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    if head not in ("softmax", "sigmoid", "none"):
        raise UserInputError("The head must be 'softmax', 'sigmoid' or 'none'.")
    entry = PRESETS[name]
    n = entry["n_classes"] if n_classes is None else whole(n_classes, "The number of classes")
    spec = entry["build"](n, head)
    summarize(spec, entry["input_shape"] if input_shape is None else input_shape)  # validates
    return spec
