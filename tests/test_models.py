"""Model specs against torch, torchvision and the Keras reference summary."""

import contextlib
import io

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.errors import ShapeError, UserInputError
from core.explain.anatomy import (
    fc_vs_conv,
    head_probabilities,
    parse_numbers,
    separable_vs_standard,
)
from core.explain.summary import summarize
from core.learn.build import build_model, to_pytorch_code
from core.learn.zoo import PRESETS, preset_spec


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _n_buffers(module: nn.Module) -> int:
    return sum(b.numel() for b in module.buffers())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("alexnet", torchvision.models.alexnet),
        ("vgg16", torchvision.models.vgg16),
        ("resnet18", torchvision.models.resnet18),
    ],
)
def test_classic_presets_match_torchvision(name, reference):
    tv = reference(weights=None)
    spec = preset_spec(name)
    summary = summarize(spec, (3, 224, 224))
    assert summary.torch_params == _n_params(tv)
    assert summary.torch_buffers == _n_buffers(tv)
    assert _n_params(build_model(spec, (3, 224, 224), caps=False)) == _n_params(tv)


# The Keras summary of the spectrogram classifier (source material 000): layer, output
# shape, parameters; totals 66,123 / 65,803 / 320.
KERAS_ROWS = [
    ("conv2d", "Conv2D", "(None, 126, 126, 32)", 320),
    ("batch_normalization", "BatchNormalization", "(None, 126, 126, 32)", 128),
    ("max_pooling2d", "MaxPooling2D", "(None, 63, 63, 32)", 0),
    ("conv2d_1", "Conv2D", "(None, 61, 61, 64)", 18496),
    ("batch_normalization_1", "BatchNormalization", "(None, 61, 61, 64)", 256),
    ("max_pooling2d_1", "MaxPooling2D", "(None, 30, 30, 64)", 0),
    ("conv2d_2", "Conv2D", "(None, 28, 28, 64)", 36928),
    ("batch_normalization_2", "BatchNormalization", "(None, 28, 28, 64)", 256),
    ("max_pooling2d_2", "MaxPooling2D", "(None, 14, 14, 64)", 0),
    ("global_average_pooling2d", "GlobalAveragePooling2D", "(None, 64)", 0),
    ("dense", "Dense", "(None, 128)", 8320),
    ("dropout", "Dropout", "(None, 128)", 0),
    ("dense_1", "Dense", "(None, 11)", 1419),
]


def test_spectrogram_classifier_reproduces_keras_summary():
    summary = summarize(preset_spec("spectrogram_cnn"), (1, 128, 128))
    got = [(r.name, r.type, r.keras_shape, r.params) for r in summary.rows]
    assert got == KERAS_ROWS
    assert (summary.total_params, summary.trainable, summary.non_trainable) == (66123, 65803, 320)
    assert summary.totals_text() == [
        "Total params: 66,123 (258.29 KB)",
        "Trainable params: 65,803 (257.04 KB)",
        "Non-trainable params: 320 (1.25 KB)",
    ]


def test_spectrogram_classifier_in_torch_shape_by_shape():
    spec = preset_spec("spectrogram_cnn")
    summary = summarize(spec, (1, 128, 128))
    model = build_model(spec, (1, 128, 128)).eval()
    # PyTorch: BatchNorm statistics are buffers (plus a num_batches_tracked counter each)
    assert _n_params(model) == 65803
    assert _n_buffers(model) == 320 + 3
    assert sum(b.numel() for n, b in model.named_buffers() if "running" in n) == 320
    seen = {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.shape[1:]))
    with torch.no_grad():
        model(torch.randn(2, 1, 128, 128))
    for row in summary.rows:
        last = row.module_names[-1]
        assert tuple(seen[last]) == row.output_shape, row.name


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_with_the_summarized_counts_and_shapes(name):
    entry = PRESETS[name]
    spec = preset_spec(name)
    summary = summarize(spec, entry["input_shape"])
    model = build_model(spec, entry["input_shape"], caps=False).eval()
    assert _n_params(model) == summary.torch_params
    assert _n_buffers(model) == summary.torch_buffers
    if summary.mult_adds > 5e9:
        return  # shape check below is covered by the smaller presets
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(1, *entry["input_shape"]))
    assert tuple(out.shape[1:]) == summary.output_shape
    # torch counts 2 FLOPs (a multiply and an add) per multiply-accumulate
    assert counter.get_total_flops() == 2 * summary.mult_adds


@pytest.mark.parametrize("name", ["lenet5", "spectrogram_cnn", "resnet_block", "separable_block",
                                  "tiny_resnet", "m5", "alexnet"])  # fmt: skip
def test_generated_code_builds_the_same_module(name):
    entry = PRESETS[name]
    spec = preset_spec(name)
    code = to_pytorch_code(spec, entry["input_shape"])
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(code, namespace)
    copied = namespace["model"].eval()
    built = build_model(spec, entry["input_shape"], caps=False).eval()
    assert (
        _n_params(copied) == _n_params(built) == summarize(spec, entry["input_shape"]).torch_params
    )
    copied.load_state_dict(built.state_dict(), strict=True)
    x = torch.randn(2, *entry["input_shape"])
    with torch.no_grad():
        torch.testing.assert_close(copied(x), built(x))
    assert f"{_n_params(built)}" in out.getvalue()


def test_preset_spec_adapts_to_input_and_classes():
    spec = preset_spec("spectrogram_cnn", input_shape=(3, 64, 96), n_classes=5)
    model = build_model(spec, (3, 64, 96)).eval()
    with torch.no_grad():
        probs = model(torch.randn(4, 3, 64, 96))
    assert probs.shape == (4, 5)
    torch.testing.assert_close(probs.sum(1), torch.ones(4))
    m5 = build_model(preset_spec("m5", n_classes=35), (1, 16000), logits=True)
    assert m5(torch.randn(2, 1, 16000)).shape == (2, 35)
    assert isinstance(list(m5.children())[-1], nn.Linear)


def test_sigmoid_head_uses_one_unit_for_two_classes():
    spec = preset_spec("tiny_resnet", n_classes=2, head="sigmoid")
    model = build_model(spec, (1, 64, 64)).eval()
    out = model(torch.randn(3, 1, 64, 64))
    assert out.shape == (3, 1)
    assert isinstance(list(model.children())[-1], nn.Sigmoid)


def test_too_small_input_and_bad_layers_give_clear_messages():
    with pytest.raises(ShapeError, match="Layer 9"):  # 20 → 18 → 9 → 7 → 3 → 1 → empty
        preset_spec("spectrogram_cnn", input_shape=(1, 20, 20))
    with pytest.raises(ShapeError, match="flatten"):
        summarize([{"type": "dense", "units": 3}], (1, 8, 8))
    with pytest.raises(UserInputError, match="unknown type"):
        summarize([{"type": "transformer"}], (1, 8, 8))
    with pytest.raises(UserInputError):
        preset_spec("nope")


def test_fc_vs_conv_counts_match_torch_layers():
    fc = fc_vs_conv(input_kind="audio", units=1000, n_layers=3, filters=64, kernel_size=3)
    dense = nn.Sequential(nn.Linear(44100, 1000, bias=False), nn.Linear(1000, 1000, bias=False),
                          nn.Linear(1000, 1000, bias=False))  # fmt: skip
    assert fc["fc_total"] == _n_params(dense) == 46_100_000
    assert fc["fc_text"].startswith("44,100×1,000 + 1,000×1,000 + 1,000×1,000 = 46,100,000")
    assert fc["conv_total"] == _n_params(nn.Conv1d(1, 64, 3, bias=False))
    img = fc_vs_conv(input_kind="image", n_layers=1, filters=64, kernel_size=3)
    assert img["fc_total"] == 224 * 224 * 3 * 1000
    assert img["conv_total"] == _n_params(nn.Conv2d(3, 64, 3, bias=False))


def test_separable_vs_standard_against_torch():
    cmp = separable_vs_standard(in_channels=32, out_channels=64, size=112, kernel_size=3)
    depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    pointwise = nn.Conv2d(32, 64, 1, bias=False)
    standard = nn.Conv2d(32, 64, 3, padding=1, bias=False)
    bn = 2 * 32 + 2 * 64
    assert cmp["separable"].torch_params == _n_params(depthwise) + _n_params(pointwise) + bn
    assert cmp["standard"].torch_params == _n_params(standard) + 2 * 64
    assert "288 + 2,048 = 2,336" in cmp["text"]


def test_head_probabilities_match_torch():
    logits = [2.0, 1.0, 0.1]
    probs = head_probabilities(parse_numbers("2, 1, 0.1"))
    t = torch.tensor(logits, dtype=torch.float64)
    assert probs["softmax"] == pytest.approx(torch.softmax(t, 0).tolist())
    assert probs["sigmoid"] == pytest.approx(torch.sigmoid(t).tolist())
    with pytest.raises(UserInputError):
        parse_numbers("two, one")
