"""Explainer pages keep their state in the URL: a link reproduces the page, a bad link is refused
with a sentence and the defaults, and presenter mode travels with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from core.explain import receptive as rf
from tests.apptest import codes, go_to_step, steppers

PAGES = Path(__file__).resolve().parent.parent / "pages"
APP = str(PAGES.parent / "app.py")


def page(name: str, params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=90)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def equations(at) -> list[str]:
    return [c for c in codes(at) if "=" in c and not c.startswith(("?", "http"))]


def warnings(at) -> str:
    return " ".join(w.value for w in at.warning)


# ------------------------------------------------------------------------ links reproduce


def test_a_convolution_link_sets_matrices_settings_and_step_and_matches_torch():
    link = {"conv_x_0": "1,2,3;4,5,6;7,8,9", "conv_k_0": "0,1;1,-1", "conv_krows": "2",
            "conv_kcols": "2", "conv_pad_h": "1", "conv_pad_w": "1", "conv_stride_h": "2",
            "conv_bias": "0.5", "conv_step": "4"}  # fmt: skip
    at = page("convolution", link)
    assert at.text_area(key="conv_x_0").value == "1 2 3\n4 5 6\n7 8 9"
    assert at.text_area(key="conv_k_0").value == "0 1\n1 -1"
    assert at.number_input(key="conv_stride_h").value == 2
    assert steppers(at)["conv"]["step"] == 4  # the player opens at the link's step
    x = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])[None, None]
    w = torch.tensor([[0.0, 1], [1, -1]])[None, None]
    out = F.conv2d(x, w, torch.tensor([0.5]), stride=(2, 1), padding=1)  # (1, 1, 2, 4)
    step4 = out.flatten()[3].item()  # row-major: the 4th window position
    assert equations(at)[0].endswith(f"= {step4:g}")
    assert not at.warning


def test_the_url_follows_each_edit_and_a_fresh_browser_gets_the_same_page():
    at = page("convolution")
    at.number_input(key="conv_stride_w").set_value(2).run()
    at.text_area(key="conv_k_0").set_value("1 1\n1 1").run()
    go_to_step(at, "conv", 2)  # as the player in the browser writes it to the URL
    link = dict(at.query_params)
    assert link["conv_stride_w"] == "2" and link["conv_k_0"] == "1,1;1,1"
    assert "conv_stride_h" not in link  # a default stays out of the link
    again = page("convolution", link)
    for key in ("conv_x_0", "conv_k_0"):
        assert again.text_area(key=key).value == at.text_area(key=key).value
    assert again.number_input(key="conv_stride_w").value == 2
    assert equations(again) == equations(at)


def test_a_pooling_link_reproduces_the_page():
    at = page("pooling")
    at.number_input(key="pool_channels").set_value(2).run()
    at.radio(key="pool_mode").set_value("max").run()
    at.number_input(key="pool_stride").set_value(1).run()
    again = page("pooling", dict(at.query_params))
    assert again.number_input(key="pool_channels").value == 2
    assert again.text_area(key="pool_x_1").value == at.text_area(key="pool_x_1").value
    assert again.radio(key="pool_mode").value == "max"
    assert equations(again) == equations(at)


def test_a_receptive_field_link_carries_the_stack_and_the_unit():
    at = page("receptive_field", {"rf_layers": "c3s1p0d1,p2s2p0d1,c3s1p1d2", "rf_in_h": "16",
                                  "rf_in_w": "12", "rf_unit_layer": "2", "rf_unit_row": "1"})  # fmt: skip
    assert at.session_state["rf_n"] == 3
    assert [at.selectbox(key=f"rf_kind_{i}").value for i in range(3)] == ["conv", "pool", "conv"]
    assert at.number_input(key="rf_d_2").value == 2
    assert at.selectbox(key="rf_unit_layer").value == 2
    assert at.number_input(key="rf_unit_row").value == 1
    layers = [
        rf.Layer("conv", 3, 1, 0, 1),
        rf.Layer("pool", 2, 2, 0, 1),
        rf.Layer("conv", 3, 1, 1, 2),
    ]
    field = rf.layer_table(layers, input_size=(16, 12))[2].r
    assert f"{field}×{field} receptive field" in " ".join(m.value for m in at.markdown)
    again = page("receptive_field", dict(at.query_params))
    assert again.session_state["rf_n"] == 3 and again.number_input(key="rf_unit_row").value == 1


def test_an_anatomy_and_an_audio_link_reproduce_the_page():
    at = page("anatomy", {"an_preset": "vgg16", "an_head": "sigmoid", "an_fc_units": "500"})
    assert at.selectbox(key="an_preset").value == "vgg16"
    assert at.number_input(key="an_classes").value == 1000  # the preset's own count
    assert at.number_input(key="an_fc_units").value == 500
    assert "nn.Sigmoid()" in at.code[0].value
    au = page("audio", {"audio_n_fft": "1024", "audio_hop": "256", "audio_stage": "3",
                        "audio_view": "0.5-1.25", "audio_n_mels": "40"})  # fmt: skip
    assert au.select_slider(key="audio_n_fft").value == 1024
    assert au.radio(key="audio_stage").value.startswith("3")
    assert au.slider(key="audio_view").value == (0.5, 1.25)
    assert au.slider(key="audio_n_mels").value == 40
    app = AppTest.from_file(APP, default_timeout=90)
    app.switch_page("pages/audio.py")  # a link straight to the page
    app.query_params["audio_view"] = "0.5-1.25"
    app.run()
    assert app.slider(key="audio_view").value == (0.5, 1.25)
    assert dict(app.query_params)["audio_view"] == "0.5-1.25"  # written once the clip was known


# ------------------------------------------------------------------------ hostile links

HOSTILE = {
    "convolution": {"conv_rows": "abc", "conv_bias": "nan", "conv_stride_h": "1e400",
                    "conv_channels": "-5", "conv_x_0": "1," * 5000, "conv_k_0": "9" * 100_000,
                    "conv_pad_mode_label": "<script>", "zzz": "1"},
    "pooling": {"pool_size": "999", "pool_mode": "median", "pool_x_0": ";".join(["1"] * 100),
                "pool_include_pad": "maybe"},
    "receptive_field": {"rf_layers": "c3s1p0d1,x9", "rf_in_h": "0", "rf_unit_row": "-3"},
    "anatomy": {"an_preset": "../../etc/passwd", "an_classes": "1e9", "an_logits": "x" * 5000},
    "audio": {"audio_n_fft": "1000", "audio_view": "5-1", "audio_sr": "NaN", "audio_frame": "inf"},
    "train": {"tr_dataset": "user", "tr_epochs": "1e9", "tr_lr": "nan", "tr_class_a": "99",
              "tr_batch": "-1", "tr_preset": "../x", "tr_source": "<script>"},
    "model_builder": {"mb_layers": "conv2d,out_channels:1e9;" + "relu;" * 3000,
                      "mb_input": "../etc", "mb_custom_classes": "-1", "mb_preset": "<b>"},
    "transposed": {"tconv_stride": "0", "tconv_x": ";".join(["1,2"] * 9), "tconv_bias": "inf",
                   "tconv_preset": "'; DROP", "tconv_step": "1e9"},
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_link_gets_a_sentence_and_the_defaults(name):
    fresh = page(name)
    at = page(name, HOSTILE[name])
    said = warnings(at)
    assert "could not be used" in said
    for key in HOSTILE[name]:
        if key != "zzz":
            assert key in said, key  # every refused value is named
    assert "zzz" not in dict(at.query_params)  # unknown keys are dropped
    assert len(said) < 1200  # named, not echoed: 100 KB of text stays out of the page
    for key in HOSTILE[name]:  # the refused settings keep the page's defaults
        if key in fresh.session_state and not key.startswith(("conv_x", "conv_k", "pool_x")):
            assert at.session_state[key] == fresh.session_state[key], key
    assert not at.error or name == "convolution"


def test_a_link_with_more_channels_than_matrices_fills_them_as_the_page_does():
    at = page("convolution", {"conv_channels": "3", "conv_x_0": "1,2;3,4"})
    assert [at.text_area(key=f"conv_x_{c}").value for c in range(3)] == [
        "1 2\n3 4",
        "2 4\n1 3",
        "4 3\n2 1",
    ]  # channels 2 and 3: channel 1 turned by 90 and 180 degrees
    assert not at.error


def test_a_bad_cell_from_a_link_is_shown_and_named_on_the_page():
    at = page("convolution", {"conv_x_0": "1,2;3,q"})
    assert at.text_area(key="conv_x_0").value == "1 2\n3 q"
    assert any("'q', which is not a number" in e.value for e in at.error)
    assert not at.warning


def test_a_train_link_brings_back_the_data_model_and_recipe():
    at = page("train")
    assert dict(at.query_params) == {}  # the page as it starts writes nothing
    at.selectbox(key="tr_dataset").set_value("commands").run()
    at.radio(key="tr_source").set_value("pretrained").run()
    at.radio(key="tr_pre_mode").set_value("fine-tuned").run()
    at.number_input(key="tr_epochs").set_value(7).run()
    at.number_input(key="tr_lr").set_value(0.0005).run()
    at.checkbox(key="tr_binary").check().run()
    at.selectbox(key="tr_class_b").set_value(3).run()
    link = dict(at.query_params)
    assert link["tr_dataset"] == "commands" and link["tr_epochs"] == "7"
    assert link["tr_pre_mode"] == "fine-tuned" and float(link["tr_lr"]) == 0.0005
    assert "tr_optimizer" not in link  # the fine-tuned recipe's own optimizer: not written
    again = page("train", link)
    assert not again.warning and not again.error
    keys = ["tr_dataset", "tr_source", "tr_pre_net", "tr_pre_mode", "tr_binary", "tr_class_a",
            "tr_class_b", "tr_optimizer", "tr_lr", "tr_momentum", "tr_wd", "tr_scheduler",
            "tr_batch", "tr_epochs", "tr_augment", "tr_seed"]  # fmt: skip
    assert {k: again.session_state[k] for k in keys} == {k: at.session_state[k] for k in keys}
    # what the page says it will train is the same model with the same weights to learn
    assert [m.value for m in again.markdown if "parameters" in m.value][:1] == [
        m.value for m in at.markdown if "parameters" in m.value
    ][:1]
    assert dict(again.query_params) == link


def test_a_train_link_to_a_dataset_starts_from_its_own_recipe():
    from core.learn import train as trainer

    at = page("train", {"tr_dataset": "instruments", "tr_seed": "5"})
    tuned = trainer.default_recipe("instruments", "cpu")
    assert at.session_state["tr_dataset"] == "instruments"
    assert at.session_state["tr_optimizer"] == tuned.optimizer
    assert at.session_state["tr_lr"] == tuned.lr and at.session_state["tr_epochs"] == tuned.epochs
    assert at.session_state["tr_seed"] == 5
    assert at.session_state["tr_preset"] == trainer.DEFAULT_MODELS["instruments"]


# ------------------------------------------------------------------------ presenter mode


def test_presenter_mode_opens_from_a_link_on_any_page_and_stays_in_it():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["presenter"] = "1"
    at.run()
    assert at.toggle(key="presenter").value is True
    at.switch_page("pages/train.py").run()
    assert not at.exception and dict(at.query_params).get("presenter") == "1"
    at.switch_page("pages/pooling.py").run()
    assert dict(at.query_params).get("presenter") == "1"
    at.toggle(key="presenter").set_value(False).run()
    assert "presenter" not in dict(at.query_params)
    bad = AppTest.from_file(APP, default_timeout=90)
    bad.query_params["presenter"] = "yes please"
    bad.run()
    assert not bad.exception and bad.toggle(key="presenter").value is False


def test_the_sidebar_link_is_the_page_state():
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/pooling.py").run()
    at.number_input(key="pool_stride").set_value(1).run()
    links = [c.value for c in at.sidebar.code]
    assert len(links) == 1 and "pool_stride=1" in links[0]
    assert np.all([f"{k}=" in links[0] for k in dict(at.query_params)])


@pytest.mark.parametrize("name", ["evaluate", "convolution"])
def test_a_page_that_ends_early_still_gets_its_sidebar_and_its_link(name):
    """Evaluate before any training, the Convolution page with a bad first matrix: the page
    ends early, and the sidebar's link and lecture button are still drawn, with unknown
    parameters dropped from the address."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(f"pages/{name}.py")
    at.query_params["zzz"] = "1"
    if name == "convolution":
        at.query_params["conv_x_0"] = "1,2;3,q"
    at.run()
    assert not at.exception
    assert at.info if name == "evaluate" else at.error, "the page says why it ends"
    assert "zzz" not in dict(at.query_params)
    assert len(at.sidebar.code) == 1  # the page's link, ready to copy
    assert any("lecture" in b.label for b in at.sidebar.button)


def test_a_train_link_reads_classes_by_its_own_datasets_count_and_names_what_does_not_fit():
    at = page("train", {"tr_dataset": "gm_instruments", "tr_binary": "1", "tr_class_a": "12",
                        "tr_class_b": "20"})  # fmt: skip
    assert not at.warning  # 12 and 20 exist among 30 instruments (digits have 10 classes)
    assert (at.session_state["tr_class_a"], at.session_state["tr_class_b"]) == (12, 20)
    short = page("train", {"tr_dataset": "commands", "tr_class_b": "9"})  # eight intents
    assert "tr_class_b=9 (not a whole number from 0 to 7)" in warnings(short)
    assert short.session_state["tr_class_b"] == 1  # the default the warning promises
    wrong = page("train", {"tr_source": "pretrained", "tr_pre_net": "aisfx"})  # a sound network
    assert "tr_pre_net=aisfx (not one of efficientnet-lite0)" in warnings(wrong)
    assert wrong.session_state["tr_pre_net"] == "efficientnet_lite0"


def test_a_model_builder_link_carries_the_layers_as_edited():
    at = page("model_builder")
    at.number_input(key="mb_0_out_channels").set_value(8).run()  # LeNet's first conv: 6 -> 8
    at.selectbox(key="mb_input").set_value("commands_logmel").run()
    link = dict(at.query_params)
    assert link["mb_input"] == "commands-logmel"
    assert link["mb_layers"].startswith("conv2d,out_channels:8,")
    again = page("model_builder", link)
    assert not again.warning and not again.error
    strip = lambda ls: [{k: v for k, v in layer.items() if k != "uid"} for layer in ls]  # noqa: E731
    assert strip(again.session_state["mb_layers"]) == strip(at.session_state["mb_layers"])
    first = again.session_state["mb_layers"][0]["uid"]  # the link's layers are new rows
    assert again.number_input(key=f"mb_{first}_out_channels").value == 8
    shapes = lambda app: [m.value for m in app.markdown if "parameters" in m.value]  # noqa: E731
    assert shapes(again) == shapes(at)  # the same model, the same counts


def test_a_model_builder_link_with_only_a_preset_loads_that_preset():
    at = page("model_builder", {"mb_preset": "tiny_resnet"})
    from core.learn import builder

    choice = builder.input_choices()[at.session_state["mb_input"]]
    layers, _ = builder.load_preset("tiny_resnet", input_shape=choice.shape,
                                    n_classes=choice.n_classes)  # fmt: skip
    got = [
        {k: v for k, v in layer.items() if k != "uid"} for layer in at.session_state["mb_layers"]
    ]
    assert got == [{k: v for k, v in layer.items() if k != "uid"} for layer in layers]


def test_a_refused_matrix_of_a_channel_the_link_adds_keeps_the_pages_own():
    at = page("convolution", {"conv_channels": "3", "conv_x_0": "1,2;3,4", "conv_x_2": "1,2;3"})
    assert "conv_x_2=1,2;3 (" in warnings(at)
    assert at.text_area(key="conv_x_2").value == "4 3\n2 1"  # channel 1 turned by 180 degrees
    assert not at.exception and not at.error


def test_an_ask_your_model_link_opens_the_shipped_model_it_names():
    at = page("classify")
    assert dict(at.query_params) == {}  # the first shipped model: nothing to write
    at.radio(key="cl_source").set_value("shipped:instruments").run()
    link = dict(at.query_params)
    assert link == {"cl_source": "shipped-instruments"}
    again = page("classify", link)
    assert again.radio(key="cl_source").value == "shipped:instruments" and not again.warning
    caption = " ".join(c.value for c in again.caption)
    assert "trained on instruments" in caption


@pytest.mark.parametrize(
    ("value", "why"),
    [("session", "no model has been trained in this tab yet"), ("shipped-nothing", "not one of")],
)  # fmt: skip
def test_an_ask_your_model_link_to_a_model_it_cannot_bring_says_why(value, why):
    at = page("classify", {"cl_source": value})
    assert f"cl_source={value} ({why}" in warnings(at)
    from core.learn import inside

    assert at.radio(key="cl_source").value == f"shipped:{next(iter(inside.shipped_models()))}"
    assert "cl_source" not in dict(at.query_params)


def test_an_ask_your_model_link_to_a_saved_model_opens_the_loader():
    at = page("classify", {"cl_source": "loaded"})
    assert at.radio(key="cl_source").value == "loaded" and not at.warning
    assert len(at.get("file_uploader")) == 1
    assert dict(at.query_params) == {"cl_source": "loaded"}


def test_a_your_data_link_carries_the_kind_and_the_download_settings():
    at = page("your_data")
    assert dict(at.query_params) == {}
    at.radio(key="yd_kind").set_value("Pictures").run()
    at.selectbox(key="yd_online").set_value("fashion_mnist").run()
    at.number_input(key="yd_limit").set_value(300).run()
    link = dict(at.query_params)
    assert link == {"yd_kind": "pictures", "yd_online": "fashion-mnist", "yd_limit": "300"}
    again = page("your_data", link)
    assert "could not be used" not in warnings(again)
    assert again.radio(key="yd_kind").value == "Pictures"
    assert again.selectbox(key="yd_online").value == "fashion_mnist"
    assert again.number_input(key="yd_limit").value == 300
    bad = page("your_data", {"yd_kind": "Smells", "yd_limit": "1e9"})
    assert "yd_kind=Smells (not one of" in warnings(bad)
    assert "yd_limit=1e9 (not a whole number from 50 to 6000)" in warnings(bad)
    assert (
        bad.radio(key="yd_kind").value == "Sounds"
        and bad.number_input(key="yd_limit").value == 1000
    )
