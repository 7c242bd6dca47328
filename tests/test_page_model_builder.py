"""AppTest of the Model builder page: presets, edits, a broken stack, the hand-over to training."""

import pytest
import torch
from torch import nn

from core.learn import builder
from core.learn.build import build_model
from tests.apptest import open_page


def _app():
    return open_page("model_builder")


def _metrics(at) -> dict:
    return {m.label: int(m.value.replace(",", "")) for m in at.metric}


def _module_counts(at) -> tuple[int, int]:
    """Parameters and BatchNorm running statistics of the module the page's list builds."""
    layers = at.session_state["mb_layers"]
    shape = at.session_state["mb_last_choice"].shape
    model = build_model(builder.to_spec(layers), shape)
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("_mean", "_var")))
    with torch.no_grad():
        out = model.eval()(torch.randn(1, *shape))
    assert out.shape[1] == at.session_state["mb_last_choice"].n_classes
    return params, stats


def _load(at, preset: str, input_key: str | None = None):
    if input_key:
        at.selectbox(key="mb_input").set_value(input_key).run()
    at.selectbox(key="mb_preset").set_value(preset)
    at.button(key="mb_load").click().run()
    assert not at.exception
    return at


def test_default_page_renders_lenet_on_digits():
    at = _app()
    assert at.title[0].value == "Model builder"
    assert not at.error
    params, stats = _module_counts(at)
    m = _metrics(at)
    lenet = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5), nn.Conv2d(16, 120, 5),
        nn.Linear(120, 84), nn.Linear(84, 10),
    )  # fmt: skip
    assert m["Trainable"] == params == sum(p.numel() for p in lenet.parameters())
    assert m["Total params"] == params + stats
    assert len(at.dataframe[0].value) == len(at.session_state["mb_layers"]) == 8
    assert "10 classes" in at.info[0].value and "cross-entropy" in at.info[0].value


@pytest.mark.parametrize(
    ("preset", "input_key"),
    [
        ("spectrogram_cnn", "commands_logmel"),
        ("lenet5", "digits"),
        ("pyramid_cnn", "instruments_logmel"),
        ("tiny_resnet", "digits"),
        ("m5", "commands_waveform"),
    ],
)
def test_presets_show_the_parameters_of_the_built_module(preset, input_key):
    at = _load(_app(), preset, input_key)
    assert not at.error, [e.value for e in at.error]
    params, stats = _module_counts(at)
    m = _metrics(at)
    assert m["Trainable"] == params
    assert m["Non-trainable"] == stats
    assert m["Total params"] == params + stats
    assert at.text_input(key="mb_name").value == builder.preset_short_title(preset)


def test_spectrogram_classifier_at_128x128_with_11_classes():
    at = _app()
    at.selectbox(key="mb_input").set_value("custom").run()
    at.text_input(key="mb_custom_shape").set_value("1, 128, 128").run()
    at.number_input(key="mb_custom_classes").set_value(11).run()
    _load(at, "spectrogram_cnn")
    m = _metrics(at)
    assert m["Total params"] == 66_123
    params, stats = _module_counts(at)
    assert m["Trainable"] == params == 65_803 and stats == 320
    assert at.button(key="mb_use").disabled  # a custom shape is checked, not trained


def test_m5_switches_an_audio_input_to_its_waveform_and_refuses_images():
    at = _load(_app(), "m5", "instruments_logmel")
    assert at.selectbox(key="mb_input").value == "instruments_waveform"
    assert _metrics(at)["Trainable"] == _module_counts(at)[0]
    at = _app()
    before = at.session_state["mb_layers"]
    _load(at, "m5", "digits")
    assert "reads a raw waveform" in at.error[0].value
    assert at.session_state["mb_layers"] == before  # the list is kept


def test_add_delete_and_move_change_the_table():
    at = _app()
    n = len(at.dataframe[0].value)
    at.selectbox(key="mb_add_type").set_value("dropout")
    at.selectbox(key="mb_add_at").set_value(7)  # before layer 7 (the first Linear)
    at.button(key="mb_add").click().run()
    table = at.dataframe[0].value
    assert len(table) == n + 1 and table["Layer"].iloc[6] == "Dropout"
    assert _metrics(at)["Trainable"] == _module_counts(at)[0]

    uids = [layer["uid"] for layer in at.session_state["mb_layers"]]
    at.button(key=f"mb_up_{uids[1]}").click().run()  # AvgPool above the first Conv2d
    table = at.dataframe[0].value
    assert list(table["Layer"].iloc[:2]) == ["AvgPool", "Conv2d"]
    assert table["Output shape"].iloc[0] == "(1, 14, 14)"
    at.button(key=f"mb_down_{uids[1]}").click().run()  # and back
    assert list(at.dataframe[0].value["Layer"].iloc[:2]) == ["Conv2d", "AvgPool"]

    at.button(key=f"mb_del_{uids[6]}").click().run()  # delete the Dropout again
    assert len(at.dataframe[0].value) == n
    assert not at.exception


def test_a_parameter_change_updates_shapes_and_counts():
    at = _app()
    uid = at.session_state["mb_layers"][0]["uid"]
    at.number_input(key=f"mb_{uid}_out_channels").set_value(8).run()
    table = at.dataframe[0].value
    assert table["Output shape"].iloc[0] == "(8, 28, 28)"
    assert table["Trainable"].iloc[0] == nn.Conv2d(1, 8, 5).weight.numel() + 8
    assert _metrics(at)["Trainable"] == _module_counts(at)[0]


def test_a_broken_stack_names_the_layer_and_its_input_shape():
    at = _app()
    uid = at.session_state["mb_layers"][4]["uid"]  # the third Conv2d, which sees 16x5x5
    at.number_input(key=f"mb_{uid}_kernel_size").set_value(7).run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Layer 5 (Conv2d), input shape (16, 5, 5):")
    assert "marked ✗" in message
    table = at.dataframe[0].value
    assert list(table["Output shape"].iloc[:4]) == [
        "(6, 28, 28)", "(6, 14, 14)", "(16, 10, 10)", "(16, 5, 5)"
    ]  # fmt: skip
    assert "fails" in table["Layer"].iloc[4]
    assert not at.metric  # no totals for a model that cannot be built
    assert at.button(key="mb_use").disabled
    assert any("✗" in m.value and "5." in m.value for m in at.markdown)  # the row is marked


def test_use_for_training_writes_builder_spec():
    at = _load(_app(), "tiny_resnet", "instruments_logmel")
    at.text_input(key="mb_name").set_value("tiny timbres").run()
    at.button(key="mb_use").click().run()
    assert not at.exception
    spec = at.session_state["builder_spec"]
    assert spec["name"] == "tiny timbres" and spec["dataset"] == "instruments"
    assert spec["head"] == "softmax" and spec["representation"] == "log-mel"
    assert spec["input_shape"] == builder.input_choices()["instruments_logmel"].shape
    model = build_model(spec["spec"], spec["input_shape"])
    assert model(torch.randn(2, *spec["input_shape"])).shape == (2, 6)
    assert "ready for the Train page" in at.success[0].value


def test_changing_the_input_resizes_the_output_layer():
    at = _app()
    at.selectbox(key="mb_input").set_value("instruments_logmel").run()
    assert at.session_state["mb_layers"][-1]["out_features"] == 6
    assert at.dataframe[0].value["Output shape"].iloc[-1] == "(6,)"


def test_two_classes_offer_the_sigmoid_head():
    at = _app()
    at.selectbox(key="mb_input").set_value("custom").run()
    at.text_input(key="mb_custom_shape").set_value("1, 32, 32").run()
    at.number_input(key="mb_custom_classes").set_value(2).run()
    assert at.dataframe[0].value["Output shape"].iloc[-1] == "(2,)"
    at.radio(key="mb_head").set_value("sigmoid").run()
    assert not at.exception
    assert at.dataframe[0].value["Output shape"].iloc[-1] == "(1,)"
    assert "binary cross-entropy" in at.info[0].value
    assert any("BCEWithLogitsLoss" in c.value for c in at.code)


def test_a_bad_custom_shape_is_an_error_not_a_traceback():
    at = _app()
    at.selectbox(key="mb_input").set_value("custom").run()
    at.text_input(key="mb_custom_shape").set_value("1, banana").run()
    assert not at.exception
    assert "Could not read" in at.error[0].value
    assert at.metric  # the last good input is still checked


def test_a_model_over_the_caps_is_a_sentence_and_cannot_be_used():
    at = _app()
    uid = at.session_state["mb_layers"][0]["uid"]  # LeNet's first Conv2d on 28x28 digits
    at.number_input(key=f"mb_{uid}_out_channels").set_value(1024).run()
    at.number_input(key=f"mb_{uid}_padding").set_value(128).run()
    assert not at.exception
    # (1024, 280, 280) float32 is 306 MB for that one output: over the 200 MB cap
    message = at.error[0].value
    assert message.startswith("One example's activations would take ")
    assert "this app allows at most 200 MB" in message and "Nothing was built." in message
    assert at.dataframe[0].value["Output shape"].iloc[0] == "(1024, 280, 280)"
    assert at.button(key="mb_use").disabled
    assert not at.code  # no code for a model the app would not build
