"""The model builder's edits, checks and presets against torch's own modules and shapes."""

import pytest
import torch
from torch import nn

from core.data import shipped as data
from core.errors import UserInputError
from core.explain.summary import summarize
from core.learn import builder
from core.learn.build import build_model
from core.learn.zoo import preset_spec


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _running_stats(module: nn.Module) -> int:
    """BatchNorm running mean and variance: what Keras counts as non-trainable parameters."""
    return sum(b.numel() for n, b in module.named_buffers() if n.endswith(("_mean", "_var")))


def _torch_shapes(spec, input_shape) -> list[tuple]:
    """Output shape of every spec row, measured by running the built module row by row."""
    shapes, x = [], torch.randn(2, *input_shape)
    summary = summarize(spec, input_shape)
    model = build_model(spec, input_shape).eval()
    mods = dict(model.named_children())
    with torch.no_grad():
        for row in summary.rows:
            for name in row.module_names:
                x = mods[name](x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


# ------------------------------------------------------------------------------ layer types

# a context in which each type can run: (layers before, input shape, reference module)
CONTEXTS = {
    "conv2d": ((3, 12, 12), lambda c: nn.Conv2d(3, 16, 3, padding=1)),
    "conv1d": ((2, 50), lambda c: nn.Conv1d(2, 16, 3, padding=1)),
    "batchnorm": ((5, 8, 8), lambda c: nn.BatchNorm2d(5)),
    "relu": ((4, 6, 6), lambda c: nn.ReLU()),
    "leakyrelu": ((4, 6, 6), lambda c: nn.LeakyReLU(0.01)),
    "gelu": ((4, 6, 6), lambda c: nn.GELU()),
    "tanh": ((4, 6, 6), lambda c: nn.Tanh()),
    "maxpool": ((4, 8, 8), lambda c: nn.MaxPool2d(2)),
    "avgpool": ((4, 8, 8), lambda c: nn.AvgPool2d(2)),
    "dropout": ((4, 8, 8), lambda c: nn.Dropout(0.25)),
    "flatten": ((4, 3, 3), lambda c: nn.Flatten()),
    "global_avg_pool": ((4, 5, 5), lambda c: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    "linear": ((20,), lambda c: nn.Linear(20, 64)),
    "residual": ((8, 10, 10), None),
}


@pytest.mark.parametrize("kind", list(builder.LAYER_TYPES))
def test_every_type_at_its_defaults_matches_torch(kind):
    shape, reference = CONTEXTS[kind]
    layers = builder.add_layer([], kind)
    result = builder.check(layers, shape)
    assert result.ok, result.error
    spec = builder.to_spec(layers)
    built = build_model(spec, shape).eval()
    assert _n_params(built) == result.summary.torch_params
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out = built(x)
    assert tuple(out.shape[1:]) == tuple(result.summary.output_shape)
    if reference is not None:
        ref = reference(None).eval()
        assert _n_params(ref) == _n_params(built)
        assert tuple(ref(x).shape) == tuple(out.shape)
    else:  # residual: torchvision's BasicBlock with a 1x1 projection (8 -> 32 channels)
        from torchvision.models.resnet import BasicBlock

        down = nn.Sequential(nn.Conv2d(8, 32, 1, bias=False), nn.BatchNorm2d(32))
        assert _n_params(BasicBlock(8, 32, downsample=down)) == _n_params(built)


def test_every_type_has_a_context():
    assert set(CONTEXTS) == set(builder.LAYER_TYPES)


# ------------------------------------------------------------------------------ edits


def _stack():
    layers = builder.add_layer([], "conv2d")
    layers = builder.add_layer(layers, "relu")
    layers = builder.add_layer(layers, "global_avg_pool")
    return builder.add_layer(layers, "linear")


def test_add_inserts_at_the_index_and_copies():
    layers = _stack()
    before = [dict(layer) for layer in layers]
    out = builder.add_layer(layers, "dropout", index=1)
    assert [layer["type"] for layer in out] == [
        "conv2d", "dropout", "relu", "global_avg_pool", "linear"
    ]  # fmt: skip
    assert layers == before  # the argument is unchanged
    assert builder.add_layer(layers, "flatten")[-1]["type"] == "flatten"
    with pytest.raises(UserInputError):
        builder.add_layer(layers, "dropout", index=9)
    with pytest.raises(UserInputError, match="Unknown layer type"):
        builder.add_layer(layers, "transformer")


def test_delete_and_move():
    layers = _stack()
    assert [x["type"] for x in builder.delete_layer(layers, 1)] == [
        "conv2d", "global_avg_pool", "linear"
    ]  # fmt: skip
    assert [x["type"] for x in builder.move_layer(layers, 1, -1)][:2] == ["relu", "conv2d"]
    assert [x["type"] for x in builder.move_layer(layers, 1, 1)][1:3] == [
        "global_avg_pool", "relu"
    ]  # fmt: skip
    assert builder.move_layer(layers, 0, -1) == layers  # at the top: nothing moves
    assert builder.move_layer(layers, 3, 1) == layers
    with pytest.raises(UserInputError):
        builder.delete_layer(layers, 4)
    with pytest.raises(UserInputError):
        builder.move_layer(layers, -1, 1)


def test_extra_keys_travel_with_their_row():
    layers = [dict(layer, uid=i) for i, layer in enumerate(_stack())]
    moved = builder.move_layer(layers, 2, -1)
    assert [x["uid"] for x in moved] == [0, 2, 1, 3]
    assert "uid" not in builder.to_spec(moved)[0]


def test_set_param_checks_values():
    layers = _stack()
    out = builder.set_param(layers, 0, "out_channels", 8)
    assert out[0]["out_channels"] == 8 and layers[0]["out_channels"] == 16
    assert builder.set_param(layers, 0, "kernel_size", 5.0)[0]["kernel_size"] == 5
    for name, bad in [("kernel_size", 0), ("kernel_size", 2.5), ("stride", "2"),
                      ("bias", 1), ("activation", "swish"), ("groups", 2)]:  # fmt: skip
        with pytest.raises(UserInputError, match="Layer 1 \\(Conv2d\\)"):
            builder.set_param(layers, 0, name, bad)
    with pytest.raises(UserInputError):
        builder.set_param(layers, 7, "out_channels", 8)


def test_edited_spec_builds_with_torch_counts_and_shapes():
    layers = _stack()
    layers = builder.set_param(layers, 0, "out_channels", 12)
    layers = builder.set_param(layers, 0, "stride", 2)
    layers = builder.add_layer(layers, "batchnorm", index=1)
    layers = builder.set_param(layers, 4, "out_features", 7)
    layers = builder.set_param(layers, 4, "activation", "gelu")
    result = builder.check(layers, (3, 32, 32))
    built = build_model(builder.to_spec(layers), (3, 32, 32))
    reference = nn.Sequential(
        nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 7), nn.GELU(),
    )  # fmt: skip
    assert _n_params(built) == _n_params(reference) == result.summary.trainable
    assert _running_stats(built) == result.summary.non_trainable
    assert [tuple(r.output_shape) for r in result.rows] == _torch_shapes(
        builder.to_spec(layers), (3, 32, 32)
    )


def test_spec_round_trip_and_aliases():
    spec = [
        {"type": "conv", "filters": 4, "k": 3, "padding": "same"},
        {"type": "batchnorm2d"},
        {"type": "maxpool2d", "kernel_size": 3},
        {"type": "dropout", "rate": 0.3},
        {"type": "flatten"},
        {"type": "dense", "units": 3, "activation": "softmax"},
    ]
    layers = builder.from_spec(spec)
    assert [x["type"] for x in layers] == [
        "conv2d", "batchnorm", "maxpool", "dropout", "flatten", "linear"
    ]  # fmt: skip
    assert layers[0]["padding"] == 1 and layers[2]["stride"] == 3 and layers[3]["p"] == 0.3
    assert layers[-1]["activation"] == "none"  # the head belongs to the loss
    assert builder.from_spec(builder.to_spec(layers)) == layers
    with pytest.raises(UserInputError, match="no 'separable'"):
        builder.from_spec([{"type": "separable", "filters": 4}])
    with pytest.raises(UserInputError, match="very end"):
        builder.from_spec([{"type": "softmax"}, {"type": "flatten"}])


# ------------------------------------------------------------------------------ check


def test_a_broken_stack_names_the_layer_its_input_and_keeps_the_rows_before():
    layers, _ = builder.load_preset("lenet5", input_shape=(1, 28, 28), n_classes=10)
    layers = builder.set_param(layers, 4, "kernel_size", 7)  # the third conv sees 5x5
    result = builder.check(layers, (1, 28, 28))
    assert not result.ok and result.summary is None
    assert result.error_index == 4
    assert result.error_input_shape == (16, 5, 5)
    assert result.error.startswith("Layer 5 (Conv2d), input shape (16, 5, 5):")
    assert "too small" in result.error
    good = builder.to_spec(layers[:4])
    assert [tuple(r.output_shape) for r in result.rows] == _torch_shapes(good, (1, 28, 28))
    assert result.shape_before(4) == (16, 5, 5) and result.shape_before(6) is None
    rows = builder.table(result, layers)
    assert len(rows) == 5 and "fails" in rows[-1]["Layer"]
    with pytest.raises(RuntimeError):  # torch agrees that the layer cannot run on that input
        nn.Conv2d(16, 120, 7)(torch.randn(1, *result.error_input_shape))


def test_a_bad_value_is_reported_before_building():
    layers = _stack()
    layers[0] = dict(layers[0], kernel_size=0)
    result = builder.check(layers, (3, 8, 8))
    assert result.error_index == 0 and "kernel must be between 1 and 255" in result.error
    linear_first = builder.move_layer(_stack(), 3, -3)
    result = builder.check(linear_first, (3, 8, 8))
    assert result.error_index == 0 and "flatten or global average pooling" in result.error
    assert builder.check([], (3, 8, 8)).error.startswith("The model has no layers")


# ------------------------------------------------------------------------------ presets


def test_spectrogram_preset_is_the_keras_reference():
    layers, notes = builder.load_preset("spectrogram_cnn", input_shape=(1, 128, 128), n_classes=11)
    result = builder.check(layers, (1, 128, 128))
    built = build_model(builder.to_spec(layers), (1, 128, 128))
    assert result.summary.total_params == 66_123
    assert _n_params(built) == result.summary.trainable == 65_803
    assert _running_stats(built) == result.summary.non_trainable == 320
    assert notes == []


@pytest.mark.parametrize("name", builder.PRESET_NAMES)
def test_presets_fit_every_matching_shipped_input(name):
    for choice in builder.input_choices().values():
        if len(choice.shape) - 1 != builder.preset_dims(name):
            with pytest.raises(UserInputError, match="pick a matching input"):
                builder.load_preset(name, input_shape=choice.shape, n_classes=choice.n_classes)
            continue
        layers, _ = builder.load_preset(name, input_shape=choice.shape, n_classes=choice.n_classes)
        result = builder.check(layers, choice.shape)
        assert result.ok, (name, choice.key, result.error)
        assert builder.head_error(result, choice.n_classes, "softmax") is None
        built = build_model(builder.to_spec(layers), choice.shape).eval()
        assert _n_params(built) == result.summary.trainable
        assert _running_stats(built) == result.summary.non_trainable
        if name != "pyramid_cnn" or choice.key == "digits":  # keep the test fast
            with torch.no_grad():
                out = built(torch.randn(2, *choice.shape))
            assert tuple(out.shape) == (2, choice.n_classes)


def test_lenet_on_digits_pads_like_a_padded_image():
    layers, notes = builder.load_preset("lenet5", input_shape=(1, 28, 28), n_classes=10)
    assert layers[0]["padding"] == 2 and "pads" in notes[0]
    torch.manual_seed(0)
    ours = build_model(builder.to_spec(layers), (1, 28, 28)).eval()
    lecun = build_model(preset_spec("lenet5", head="none"), (1, 32, 32)).eval()
    lecun.load_state_dict(ours.state_dict())
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), lecun(nn.functional.pad(x, (2, 2, 2, 2))))


def test_pyramid_on_digits_leaves_out_the_last_pool():
    layers, notes = builder.load_preset("pyramid_cnn", input_shape=(1, 28, 28), n_classes=10)
    assert sum(x["type"] == "maxpool" for x in layers) == 4
    assert any("Left out a pooling layer" in n for n in notes)


def test_matching_input_and_unknown_preset():
    assert builder.matching_input("commands_logmel", "m5") == "commands_waveform"
    assert builder.matching_input("instruments_waveform", "tiny_resnet") == "instruments_logmel"
    assert builder.matching_input("digits", "m5") is None
    assert builder.matching_input("digits", "lenet5") == "digits"
    with pytest.raises(UserInputError):
        builder.load_preset("vgg99", input_shape=(1, 28, 28), n_classes=10)


# ------------------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def commands():
    return data.load_commands()


def test_shipped_input_shapes_match_model_inputs(commands):
    from core.audio.features import FeatureSettings

    settings = FeatureSettings()
    assert {"n_mels": settings.n_mels, "hop_length": settings.hop_length} == builder.LOG_MEL
    choices = builder.input_choices()
    digits = data.load_digits()
    assert choices["digits"].shape == tuple(data.model_inputs(digits).x.shape[1:])
    assert choices["digits"].class_names == digits.class_names
    instruments = data.synth_instruments(n_per_class=1)
    for ds, name in ((commands, "commands"), (instruments, "instruments")):
        small = data.Dataset(name=ds.name, kind="audio", x=ds.x[:2], y=ds.y[:2],
                             class_names=ds.class_names, splits={}, sample_rate=ds.sample_rate)  # fmt: skip
        assert choices[f"{name}_logmel"].shape == tuple(data.model_inputs(small).x.shape[1:])
        wave = data.model_inputs(small, model="m5")
        assert choices[f"{name}_waveform"].shape == tuple(wave.x.shape[1:])
        assert choices[f"{name}_logmel"].class_names == ds.class_names
        assert choices[f"{name}_logmel"].n_classes == ds.n_classes


def test_custom_input_and_shape_parsing():
    assert builder.parse_shape("(1, 128, 128)") == (1, 128, 128)
    assert builder.parse_shape("1 x 16000") == (1, 16000)
    for bad in ["", "1", "1, a, 3", "1, 0, 4", "1,2,3,4", "600, 8, 8"]:
        with pytest.raises(UserInputError):
            builder.parse_shape(bad)
    choice = builder.custom_input("1, 128, 128", 11)
    assert choice.shape == (1, 128, 128) and choice.n_classes == 11 and not choice.trainable
    with pytest.raises(UserInputError):
        builder.custom_input("1, 128, 128", 1)


# ------------------------------------------------------------------------------ head


def test_heads_and_output_units():
    assert builder.output_units(10, "softmax") == 10
    assert builder.output_units(2, "sigmoid") == 1
    with pytest.raises(UserInputError, match="two classes only"):
        builder.output_units(3, "sigmoid")
    assert "cross-entropy" in builder.head_note(10, "softmax")
    assert "binary cross-entropy" in builder.head_note(2, "sigmoid")
    layers = builder.set_output_units(_stack(), 1)
    assert layers[-1]["out_features"] == 1
    result = builder.check(layers, (3, 8, 8))
    assert builder.head_error(result, 2, "sigmoid") is None
    assert "needs one output per class (2)" in builder.head_error(result, 2, "softmax")
    no_linear = builder.delete_layer(_stack(), 3)
    assert builder.set_output_units(no_linear, 4) == no_linear


def test_sigmoid_head_trains_with_bce_on_one_logit():
    layers = builder.set_output_units(_stack(), builder.output_units(2, "sigmoid"))
    model = build_model(builder.to_spec(layers), (3, 8, 8))
    logits = model(torch.randn(4, 3, 8, 8))  # (N, 1)
    loss = nn.BCEWithLogitsLoss()(logits[:, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert logits.shape == (4, 1) and torch.isfinite(loss)


def test_builder_spec_for_the_train_page():
    choice = builder.input_choices()["instruments_waveform"]
    layers, _ = builder.load_preset("m5", input_shape=choice.shape, n_classes=choice.n_classes)
    out = builder.builder_spec(layers, choice, "softmax", "  my M5  ")
    assert out["input_shape"] == (1, 16000) and out["dataset"] == "instruments"
    assert out["head"] == "softmax" and out["name"] == "my M5"
    assert out["representation"] == "waveform" and out["n_classes"] == 6
    assert all(x.get("activation") not in ("softmax", "sigmoid") for x in out["spec"])
    model = build_model(out["spec"], out["input_shape"])
    assert model(torch.randn(2, 1, 16000)).shape == (2, 6)
    with pytest.raises(UserInputError, match="custom input shape"):
        builder.builder_spec(layers, builder.custom_input("1, 16000", 6), "softmax", "x")
    with pytest.raises(UserInputError, match="Layer 1"):
        builder.builder_spec(layers, builder.input_choices()["digits"], "softmax", "x")
    short = builder.set_output_units(layers, 5)
    with pytest.raises(UserInputError, match="needs one output per class"):
        builder.builder_spec(short, choice, "softmax", "x")


@pytest.mark.parametrize("name", list(builder.PRESET_TITLES))
def test_layers_as_text_round_trip_for_every_preset(name):
    choice = builder.input_choices()["commands_waveform" if name == "m5" else "digits"]
    layers, _ = builder.load_preset(name, input_shape=choice.shape, n_classes=choice.n_classes)
    layers.insert(1, {"type": "leakyrelu", "negative_slope": 0.0123456789})  # every digit kept
    text = builder.layers_to_text(layers)
    assert builder.layers_from_text(text) == [
        builder.validate_layer({k: v for k, v in layer.items() if k != "uid"}) for layer in layers
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conv2d,out_channels:1e9", "filters must be between 1 and 1024"),
        ("conv2d,out_channels:2.5", "filters must be a whole number"),
        ("dropout,p:nan", "rate must be a number"),
        ("linear,bias:maybe", "bias must be on or off"),
        ("conv2d,foo:1", "a Conv2d has no 'foo'"),
        ("os.system", "unknown layer type 'os.system'"),
        (";;", "No layers are given"),
        ("relu;" * 65, "65 layers are given; at most 64"),
        ("relu" + " " * 5000, "longer than 4000 characters"),
    ],
)
def test_layers_from_text_refuses_with_a_sentence(text, message):
    with pytest.raises(UserInputError, match=message):
        builder.layers_from_text(text)
