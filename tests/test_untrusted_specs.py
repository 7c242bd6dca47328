"""A layer spec is untrusted input: every field checked with a sentence, caps before allocation.

Any JSON value in any field of any layer type gives the app's own errors and nothing else;
a spec the summary accepts builds a module with exactly the summarized counts and shapes;
a model over the caps is refused from its arithmetic, before anything is allocated.
"""

import contextlib
import inspect
import json
import math
import re
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from core.errors import UserInputError
from core.explain import summary as sm
from core.explain.summary import check_caps, summarize
from core.learn import blocks, builder
from core.learn.build import BLOCK_SOURCE, build_model, to_pytorch_code
from core.learn.zoo import PRESETS, preset_spec

ROOT = Path(__file__).resolve().parent.parent


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _n_buffers(module: nn.Module) -> int:
    return sum(b.numel() for b in module.buffers())


# ------------------------------------------------------------------------- no code from text


def test_no_eval_or_exec_in_core():
    pattern = re.compile(r"(?<![.\w])(eval|exec)\s*\(")
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "core").rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert hits == []


def test_copied_block_source_is_the_source_of_the_built_blocks():
    assert BLOCK_SOURCE["residual"] == inspect.getsource(blocks.BasicBlock).strip()
    assert BLOCK_SOURCE["separable"] == inspect.getsource(blocks.SeparableBlock).strip()


def test_reserved_names_cover_every_attribute_of_nn_sequential():
    public = {n for n in dir(nn.Sequential()) if not n.startswith("_")}
    assert public <= sm.RESERVED_NAMES


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_build_what_the_code_says(mode):
    spec = [{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 2, "padding_mode": mode}]
    model = build_model(spec, (2, 6, 7)).eval()
    ref = nn.Conv2d(2, 3, 3, padding=2, padding_mode=mode)
    ref.load_state_dict({"weight": model[0].weight.detach(), "bias": model[0].bias.detach()})
    x = torch.randn(2, 2, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))
    assert summarize(spec, (2, 6, 7)).output_shape == (3, 8, 9) == tuple(model(x).shape[1:])
    assert f"padding_mode='{mode}'" in to_pytorch_code(spec, (2, 6, 7))


# ------------------------------------------------------------------------- named bugs


def test_nan_and_inf_slopes_are_refused_with_a_sentence():
    # before: summarize accepted them and build_model raised NameError: name 'nan'
    for slope in (math.nan, math.inf, -math.inf):
        for spec in (
            [{"type": "leakyrelu", "negative_slope": slope}],
            [{"type": "conv2d", "filters": 2, "activation": "leakyrelu", "negative_slope": slope}],
        ):
            with pytest.raises(UserInputError, match="negative_slope must be a finite number"):
                build_model(spec, (1, 8, 8))
            with pytest.raises(UserInputError, match="negative_slope"):
                to_pytorch_code(spec, (1, 8, 8))


@pytest.mark.parametrize(
    "layer,message",
    [
        ({"type": "conv2d", "filters": "abc"}, "out_channels must be a whole number, got 'abc'"),
        ({"type": "conv2d", "filters": 4, "kernel_size": math.inf}, "kernel size must be a whole"),
        ({"type": "conv2d", "filters": 4, "stride": [1]}, "stride needs 2 numbers"),
        ({"type": "conv2d", "filters": 4, "bias": "false"}, "bias must be true or false"),
        ({"type": "conv2d", "filters": 4, "groups": None, "padding": {"a": 1}}, "padding"),
        ({"type": "conv2d", "filters": 10**40}, "from 1 to 2,147,483,647"),
        ({"type": "conv2d", "filters": -3}, "out_channels must be a whole number from 1"),
        ({"type": "conv2d", "filters": 2.5}, "out_channels must be a whole number"),
        ({"type": "dropout", "p": "x"}, "dropout rate must be a number, got 'x'"),
        ({"type": "dropout", "p": [0.5]}, "dropout rate must be a number"),
        ({"type": "dropout", "p": 10**400}, "dropout rate must be at least 0 and below 1"),
        (
            {"type": "maxpool2d", "kernel_size": True},
            "kernel size must be a whole number, got True",
        ),
        ({"type": "conv2d", "filters": 4, "activation": ["relu"]}, "activation must be one of"),
        ({"type": "conv2d", "filters": 4, "padding_mode": "zeros); import os"}, "padding_mode"),
        ({"type": "conv2d); import os", "filters": 4}, "unknown type 'conv2d); import os'"),
        ({"type": "relu", "name": "__import__('os')"}, "a name starts with a letter"),
        ({"type": "relu", "name": "forward"}, "'forward' is a word PyTorch reserves"),
        ({"type": "relu", "inplace": True}, "unknown setting 'inplace'"),
        ({"type": ["conv2d"]}, "unknown type"),
    ],
)
def test_bad_field_values_get_a_sentence(layer, message):
    # before: ValueError, OverflowError, TypeError, KeyError or a silent wrong value
    with pytest.raises(UserInputError, match=re.escape(message)):
        build_model([layer], (3, 8, 8))


def test_a_folded_activation_cannot_share_a_name_with_another_layer():
    # before: the second module silently replaced the first in the nn.Sequential
    spec = [{"type": "linear", "units": 3, "activation": "relu", "name": "a"},
            {"type": "tanh", "name": "a_relu"}]  # fmt: skip
    with pytest.raises(UserInputError, match="'a_relu' is used twice"):
        summarize(spec, (5,))


# ------------------------------------------------------------------------- caps


@pytest.mark.parametrize(
    "spec,shape,message",
    [
        (preset_spec("vgg16"), (3, 224, 224), "138,357,544 parameters and buffers"),
        ([{"type": "conv2d", "filters": 2**20, "kernel_size": 7}], (3, 224, 224),
         "155,189,248 parameters"),
        ([{"type": "conv2d", "filters": 1024, "kernel_size": 1}], (1, 512, 512), "activations would take 1,025 MB"),
        ([{"type": "relu"}] * 201, (4,), "201 layers"),
        ([{"type": "flatten"}], (1, 2_000_000), "a size above 1,000,000"),
        ([{"type": "flatten"}], (64, 256, 256), "4,194,304 values"),
        ([{"type": "conv2d", "filters": 512, "kernel_size": 31, "padding": 15}], (32, 200, 200),
         "multiply-adds"),
    ],
)  # fmt: skip
def test_caps_refuse_from_the_arithmetic(spec, shape, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        check_caps(summarize(spec, shape))
    with pytest.raises(UserInputError, match=re.escape(message)):
        build_model(spec, shape)


def test_caps_let_every_trainable_preset_through():
    for name in ("digits_cnn", "speech_cnn", "timbre_cnn", "spectrogram_cnn", "lenet5",
                 "pyramid_cnn", "tiny_resnet", "m5", "resnet18"):  # fmt: skip
        spec = preset_spec(name)
        check_caps(summarize(spec, PRESETS[name]["input_shape"]))


def test_model_builder_shows_the_caps_as_a_sentence():
    layers = builder.add_layer([], "conv2d")
    layers = builder.set_param(layers, 0, "out_channels", 1024)
    layers = builder.set_param(layers, 0, "padding", 128)
    layers = builder.add_layer(layers, "flatten")
    layers = builder.add_layer(layers, "linear")
    layers = builder.set_param(layers, 2, "out_features", 8192)
    result = builder.check(layers, (3, 64, 64))
    assert not result.ok and result.error_index is None
    assert "parameters and buffers; this app builds at most 50,000,000" in result.error
    assert len(result.rows) == 3  # the table still shows every layer's numbers
    with pytest.raises(UserInputError, match="at most 50,000,000"):
        builder.builder_spec(layers, builder.input_choices()["digits"], "softmax", "big")


# ------------------------------------------------------------------------- property test

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        ["same", "valid", "relu", "softmax", "zeros); import os", "__import__('os')"]
    ),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=6,
)
small_ints = st.integers(min_value=-2, max_value=9)

# a valid layer of each type, and an input it fits
BASES = {
    "conv2d": ({"type": "conv2d", "filters": 4, "kernel_size": 3}, (2, 9, 9)),
    "conv1d": ({"type": "conv1d", "filters": 4, "kernel_size": 3}, (2, 20)),
    "batchnorm": ({"type": "batchnorm"}, (3, 5, 5)),
    "relu": ({"type": "relu"}, (3, 4, 4)),
    "leakyrelu": ({"type": "leakyrelu"}, (3, 4, 4)),
    "gelu": ({"type": "gelu"}, (6,)),
    "tanh": ({"type": "tanh"}, (6,)),
    "sigmoid": ({"type": "sigmoid"}, (6,)),
    "softmax": ({"type": "softmax"}, (6,)),
    "maxpool2d": ({"type": "maxpool2d"}, (2, 8, 8)),
    "avgpool1d": ({"type": "avgpool1d"}, (2, 16)),
    "adaptive_avgpool": ({"type": "adaptive_avgpool", "output_size": 2}, (2, 7, 7)),
    "global_avg_pool": ({"type": "global_avg_pool"}, (3, 5, 5)),
    "dropout": ({"type": "dropout"}, (3, 4, 4)),
    "flatten": ({"type": "flatten"}, (3, 4, 4)),
    "dense": ({"type": "dense", "units": 5}, (7,)),
    "residual": ({"type": "residual", "filters": 4}, (2, 8, 8)),
    "separable": ({"type": "separable", "filters": 4}, (2, 8, 8)),
}
FIELDS = sorted(set().union(*sm._KEYS.values()) | {"type", "name", "units", "bogus"})


def _check_accepted(spec, shape):
    """An accepted spec builds with the summarized counts and shapes, and its code compiles."""
    summary = summarize(spec, shape)
    try:
        check_caps(summary)
    except UserInputError:
        return
    if summary.torch_params > 2_000_000 or summary.mult_adds > 20_000_000:
        return  # correct but slow to build many times; the caps test covers the size
    model = build_model(spec, shape).eval()
    assert _n_params(model) == summary.torch_params
    assert _n_buffers(model) == summary.torch_buffers
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert tuple(out.shape[1:]) == summary.output_shape
    compile(to_pytorch_code(spec, shape), "<generated>", "exec")  # syntax only, not run


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(BASES)),
    key=st.sampled_from(FIELDS),
    value=json_values | small_ints,
    extra_key=st.sampled_from(FIELDS),
    extra=small_ints | st.sampled_from(["same", "valid", True, False, None, 0.3, "relu"]),
)
def test_any_json_value_in_any_field_gives_only_our_errors(base, key, value, extra_key, extra):
    layer, shape = BASES[base]
    spec = [{**layer, extra_key: extra, key: value}]
    with contextlib.suppress(UserInputError):  # ShapeError is one too
        _check_accepted(spec, shape)


@settings(max_examples=60, deadline=None)
@given(spec=st.lists(json_values, max_size=4), shape=json_values)
def test_any_json_spec_and_shape_give_only_our_errors(spec, shape):
    with contextlib.suppress(UserInputError):
        summarize(spec, shape)
        build_model(spec, shape)


def test_the_property_test_reaches_accepted_specs():
    # the generator above is not all refusals: these are accepted and built for real
    for layer, shape in BASES.values():
        _check_accepted([layer], shape)


def test_json_roundtrip_of_a_spec_keeps_it_valid():
    spec = preset_spec("digits_cnn")
    assert (
        summarize(json.loads(json.dumps(spec)), (1, 28, 28)).torch_params
        == summarize(spec, (1, 28, 28)).torch_params
    )
