"""A pretrained network as the first layer of a spec: the summary's counts are the built
module's, a frozen one stays as it came while its head learns (on features computed once), a
fine-tuned one learns at a tenth of the rate, and the model goes through the Train page, the
worker, a saved bundle and back, and ONNX."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from core.errors import UserInputError
from core.explain.summary import summarize
from core.learn import task as tasks
from core.learn.build import build_model, to_pytorch_code
from core.learn.train import Recipe, TrainData, make_optimizer, train

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
SR = 16_000


def aisfx_layer(mode="frozen", rate=SR):
    return {"type": "pretrained", "backbone": "aisfx", "mode": mode, "sample_rate": rate}


def speech_layer(mode="frozen", rate=SR):
    return {"type": "pretrained", "backbone": "speech_embedding", "mode": mode, "sample_rate": rate}


def lite0_layer(mode="frozen"):
    return {"type": "pretrained", "backbone": "efficientnet_lite0", "mode": mode}


def tones(n_per_class=6, seconds=0.5, seed=0):
    """Two classes of clips: a low hum (200-300 Hz) and a high whistle (2-3 kHz), in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x, y = [], []
    for label, (lo, hi) in enumerate(((200, 300), (2_000, 3_000))):
        for _ in range(n_per_class):
            f = rng.uniform(lo, hi)
            x.append(0.5 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(len(t)))
            y.append(label)
    return torch.tensor(np.array(x), dtype=torch.float32)[:, None], torch.tensor(y)


def _mult_adds(model: nn.Module, x: torch.Tensor) -> int:
    """Conv and Linear multiply-accumulates of one forward pass, counted by hooks."""
    total = [0]

    def hook(mod, _inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out[0].numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


# ------------------------------------------------------------------ the summary's counts ----


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (aisfx_layer("frozen"), (1, SR)),
        (aisfx_layer("fine-tuned", 22_050), (1, 30_001)),
        (speech_layer("frozen"), (1, SR)),
        (speech_layer("fine-tuned", 22_050), (1, 25_000)),
        (lite0_layer("frozen"), (1, 28, 28)),
        (lite0_layer("fine-tuned"), (3, 40, 50)),
    ],
)
def test_the_summary_counts_what_the_built_model_holds(layer, shape):
    spec = [layer, {"type": "dropout", "p": 0.2}, {"type": "dense", "units": 3}]
    s = summarize(spec, shape)
    model = build_model(spec, shape).eval()
    assert s.torch_params == sum(p.numel() for p in model.parameters())
    assert s.torch_buffers == sum(b.numel() for b in model.buffers())
    assert s.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert s.mult_adds == _mult_adds(model, torch.rand(1, *shape))
    assert model(torch.rand(2, *shape)).shape == (2, 3)
    width = {"aisfx": 512, "speech_embedding": 192, "efficientnet_lite0": 1280}[layer["backbone"]]
    assert s.rows[0].output_shape == (width,)
    if layer["mode"] == "frozen":
        assert s.trainable == width * 3 + 3  # the new head alone


def test_the_code_shown_builds_the_same_model():
    spec = [aisfx_layer(), {"type": "dense", "units": 2}]
    code = to_pytorch_code(spec, (1, SR))
    assert "from core.learn.backbones import Pretrained" in code
    namespace: dict = {}
    exec(compile(code, "<shown code>", "exec"), namespace)  # noqa: S102 - our own output
    built = build_model(spec, (1, SR))
    assert [type(m) for m in namespace["model"]] == [type(m) for m in built]
    assert (
        sum(p.numel() for p in namespace["model"].parameters())
        == summarize(spec, (1, SR)).torch_params
    )


@pytest.mark.parametrize(
    ("spec", "shape", "message"),
    [
        ([{"type": "dropout"}, aisfx_layer()], (1, SR), "comes first"),
        ([{"type": "pretrained", "backbone": "../../etc/passwd"}], (1, SR), "backbone must be"),
        ([{"type": "pretrained", "backbone": "aisfx"}], (1, SR), "sample_rate"),
        ([aisfx_layer(rate=10**9)], (1, SR), "sample_rate"),
        ([speech_layer(rate=191_999)], (1, 191_999), "sample_rate must be one of 8,000"),
        ([aisfx_layer(rate=True)], (1, SR), "sample_rate must be one of"),
        ([{**aisfx_layer(), "mode": "melted"}], (1, SR), "mode must be"),
        ([aisfx_layer()], (1, 1_000), "at least 0.2 s"),
        ([speech_layer()], (1, 4_000), "at least 0.3 s"),
        ([speech_layer()], (3, 32, 32), "mono waveform"),
        ([aisfx_layer()], (2, SR), "mono waveform"),
        ([lite0_layer()], (1, SR), "pictures"),
        ([{**lite0_layer(), "sample_rate": SR}], (3, 32, 32), "no sample_rate"),
        ([{**aisfx_layer(), "weights": "x.pth"}], (1, SR), "unknown setting"),
    ],
)
def test_a_bad_pretrained_layer_is_a_sentence(spec, shape, message):
    with pytest.raises(UserInputError, match=message):
        summarize(spec, shape)


def test_a_minute_of_waveform_is_refused_before_anything_is_built():
    from core.explain.summary import check_caps

    spec = [aisfx_layer(), {"type": "dense", "units": 2}]
    check_caps(summarize(spec, (1, 10 * SR)))  # ten seconds are fine
    with pytest.raises(UserInputError, match="activations would take 2[0-9][0-9] MB"):
        check_caps(summarize(spec, (1, 60 * SR)))


# ------------------------------------------------------------------------ training it ----


def test_a_frozen_pretrained_layer_stays_as_it_came_and_its_head_learns():
    x, y = tones()
    spec = [aisfx_layer(), {"type": "dense", "units": 2}]
    model = build_model(spec, (1, SR // 2))
    before = {k: v.clone() for k, v in model[0].net.state_dict().items()}
    head = model[1].weight.clone()
    result = train(model, TrainData(x, y, x, y), Recipe(epochs=5, batch_size=4, lr=1e-2,
                                                       scheduler="none"), "cpu")  # fmt: skip
    after = model[0].net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics too
    assert not torch.equal(head, model[1].weight)
    # the standardisation was fitted to the training features
    with torch.no_grad():
        feats = model[0].eval().features(x)
    np.testing.assert_allclose(model[0].standardize.mean, feats.mean(0), rtol=1e-4, atol=1e-5)
    assert result.history[-1].val_acc == 1.0  # a hum and a whistle, told apart
    # the head trained on features computed once equals the full model's forward pass
    model.eval()
    with torch.no_grad():
        full = model(x)
        parts = model[1](model[0].standardize(feats))
    torch.testing.assert_close(full, parts)


def test_features_computed_once_train_exactly_what_the_full_pass_trains(monkeypatch):
    """A frozen first layer's outputs are computed once when nothing augments the inputs; the
    run is the one the full forward pass every batch gives (forced here by an augmentation
    that changes nothing), epoch by epoch, with dropout and the best weights put back."""
    from core.learn import train as trainer

    x, y = tones(n_per_class=6, seconds=1.0)
    spec = [speech_layer(), {"type": "dropout", "p": 0.5}, {"type": "dense", "units": 2}]
    recipe = Recipe(epochs=4, batch_size=4, lr=3e-3, scheduler="onecycle", select_by="val_loss")
    results, states = [], []
    for augment in ("none", "waveform"):
        torch.manual_seed(0)
        model = build_model(spec, (1, SR))
        if augment != "none":  # the full pass, its inputs left as they are
            monkeypatch.setattr(trainer, "augment_batch", lambda xb, *_: xb)
        results.append(train(model, TrainData(x, y, x[::2], y[::2]),
                             replace(recipe, augment=augment), "cpu"))  # fmt: skip
        states.append(model.state_dict())
    fast, full = results
    assert [e.val_loss for e in fast.history] == pytest.approx(
        [e.val_loss for e in full.history], rel=1e-5
    )
    assert [e.train_loss for e in fast.history] == pytest.approx(
        [e.train_loss for e in full.history], rel=1e-5
    )
    assert fast.best_epoch == full.best_epoch
    assert set(fast.best_state) == set(states[0])  # the whole model's weights
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k])


def test_stop_during_the_feature_pass_ends_the_run_before_it_trains():
    import threading

    x, y = tones()
    model = build_model([aisfx_layer(), {"type": "dense", "units": 2}], (1, SR // 2))
    head = model[1].weight.clone()
    stop = threading.Event()
    stop.set()
    result = train(model, TrainData(x, y, x, y), Recipe(epochs=3, batch_size=4), "cpu", stop=stop)
    assert result.reason == "stopped" and result.history == []
    assert torch.equal(head, model[1].weight)


def test_a_fine_tuned_pretrained_layer_learns_at_a_tenth_of_the_rate():
    spec = [lite0_layer("fine-tuned"), {"type": "dense", "units": 2}]
    model = build_model(spec, (1, 28, 28))
    opt = make_optimizer(model, Recipe(lr=1e-3))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-4])
    assert sum(p.numel() for p in opt.param_groups[1]["params"]) == sum(
        p.numel() for p in model[0].parameters()
    )
    stem = model[0].net._conv_stem.weight.clone()
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28, generator=gen), torch.arange(8) % 2
    train(model, TrainData(x, y, x, y), Recipe(epochs=1, batch_size=4, lr=1e-3), "cpu")
    assert not torch.equal(stem, model[0].net._conv_stem.weight)


# ------------------------------------------------ a plan, a run, a saved model, ONNX ----


def _own_tones():
    from core.data import users as userdata

    x, y = tones(n_per_class=8, seconds=1.0)
    g = userdata.Gathered("audio")
    for label, name in enumerate(("low", "high")):
        clips = [x[i, 0].numpy() for i in range(len(y)) if int(y[i]) == label]
        g.examples[name] = clips
        g.names[name] = [f"{name}{i}.wav" for i in range(len(clips))]
    return g


def test_the_pretrained_plan_runs_in_a_worker_and_its_saved_model_answers_the_same():
    from core.data import users as userdata
    from core.learn import runs
    from core.learn.checkpoints import load_bundle
    from core.learn.classify import Preprocess, classify_clip

    ds = userdata.to_dataset(_own_tones())
    inputs = tasks.inputs_for(ds, tasks.reads_for_pretrained(ds))
    plan = tasks.plan_pretrained(ds, inputs, "frozen", backbone="aisfx")
    assert plan.task.representation == "waveform" and plan.spec[0]["sample_rate"] == SR
    assert plan.task.recipe.lr == 1e-2 and plan.task.recipe.augment == "none"
    plan = plan.with_recipe(epochs=3, batch_size=4)
    run = runs.start_training(plan, "cpu", dataset=ds, backend="process")
    assert run.wait(300), run.snapshot()
    assert run.snapshot().status == "done", run.snapshot().message
    assert run.info.params == 512 * 2 + 2  # what trains: the head
    data = run.task.save(run.model, spec=run.info.spec)
    bundle = load_bundle(data)
    assert bundle.spec[0]["type"] == "pretrained"
    pre = Preprocess.from_dict(bundle.features)
    t = np.arange(SR) / SR
    whistle = (0.4 * np.sin(2 * np.pi * 2_500 * t)).astype(np.float32)
    asked = classify_clip(bundle.model, whistle, pre=pre, class_names=bundle.class_names)
    direct = classify_clip(run.model.eval(), whistle, pre=pre, class_names=list(ds.class_names))
    np.testing.assert_allclose(asked.probs, direct.probs, atol=1e-6)
    assert asked.top(1)[0][0] == "high"


def test_a_saved_pretrained_model_with_other_weights_is_refused():
    from core.learn.checkpoints import load_bundle, save_bundle

    spec = [aisfx_layer(), {"type": "dense", "units": 2}]
    model = build_model(spec, (1, SR))
    data = save_bundle(model, spec=spec, input_shape=(1, SR), class_names=["a", "b"])
    buf = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        dst.writestr("model.safetensors", src.read("model.safetensors"))
        meta = json.loads(src.read("model.json"))
        meta["spec"][0] = lite0_layer()  # the spec now names the other network
        meta["input_shape"] = [3, 32, 32]
        dst.writestr("model.json", json.dumps(meta))
    with pytest.raises(UserInputError, match="do not fit the layer spec"):
        load_bundle(buf.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("layer", [aisfx_layer(), speech_layer()])
def test_a_pretrained_audio_model_exports_to_onnx_for_any_batch(layer):
    from core.learn.export import to_onnx

    spec = [layer, {"type": "dense", "units": 2}]
    model = build_model(spec, (1, SR // 2))
    x, y = tones()
    train(model, TrainData(x, y, x, y), Recipe(epochs=1, batch_size=4, scheduler="none"), "cpu")
    out = to_onnx(model, (1, SR // 2), class_names=["low", "high"])
    assert out.max_abs_diff < 1e-3  # onnxruntime against PyTorch, batches of 1 and 3


# --------------------------------------------------------------------- the Train page ----


def test_the_train_page_offers_the_pretrained_network_with_its_own_recipe():
    from core.data import users as userdata

    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["user_dataset"] = userdata.to_dataset(_own_tones())
    at.run()
    at.selectbox(key="tr_dataset").set_value("user").run()
    # your own examples start from a pretrained network (few-shot by default)
    assert at.radio(key="tr_source").value == "pretrained"
    scratch_lr = tasks.recipe_for(at.session_state["user_dataset"], "log-mel").lr
    assert not at.exception and not at.error
    assert at.number_input(key="tr_lr").value == 1e-2
    assert at.number_input(key="tr_epochs").value == 20
    # your own clips start from the speech network; aiSFX is the other choice
    assert at.selectbox(key="tr_pre_net").value == "speech_embedding"
    assert any("speech embedding" in c.value for c in at.caption)
    text = " ".join(m.value for m in at.markdown)
    assert "**Pretrained Google speech embedding (frozen) with a new head**" in text
    assert "**386** parameters train, 328,152 stay frozen" in text
    at.selectbox(key="tr_pre_net").set_value("aisfx").run()
    text = " ".join(m.value for m in at.markdown)
    assert "**Pretrained aiSFX sound CNN (frozen) with a new head**" in text
    assert "**1,026** parameters train, 4,686,144 stay frozen" in text
    at.radio(key="tr_pre_mode").set_value("fine-tuned").run()
    assert at.number_input(key="tr_lr").value == 1e-3
    assert "**4,687,170** parameters" in " ".join(m.value for m in at.markdown)
    at.radio(key="tr_source").set_value("preset").run()
    assert at.number_input(key="tr_lr").value == scratch_lr  # the tuned recipe is back
    # train the frozen one on the page, and it can be asked
    at.radio(key="tr_source").set_value("pretrained").run()
    at.selectbox(key="tr_pre_net").set_value("speech_embedding").run()
    at.radio(key="tr_pre_mode").set_value("frozen").run()
    at.number_input(key="tr_epochs").set_value(3).run()
    at.button(key="tr_train").click().run()
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    assert run.wait(300), run.snapshot()
    at.run()
    assert not at.exception
    assert run.snapshot().status == "done", run.snapshot().message
    assert run.info.model_name == "Pretrained Google speech embedding (frozen) with a new head"
    assert any(s.value.startswith("Finished 3 epochs.") for s in at.success)
    # Ask your model: a whistle it never heard
    import soundfile as sf

    t = np.arange(SR) / SR
    buf = BytesIO()
    sf.write(buf, 0.4 * np.sin(2 * np.pi * 2_600 * t), SR, format="WAV")
    ask = AppTest.from_file(str(Path(PAGE).with_name("classify.py")), default_timeout=120)
    ask.session_state["train_run"] = run
    ask.run()
    assert ask.radio(key="cl_source").value == "session"
    ask.file_uploader(key="cl_clip").set_value(("whistle.wav", buf.getvalue(), "audio/wav")).run()
    assert not ask.exception and not ask.error
    assert any(m.value.startswith("**It says: high**") for m in ask.markdown)


def _inside_with_loaded(spec, input_shape, pre, class_names, title) -> AppTest:
    """Inside the network, opened with a model saved and loaded as Ask your model loads one."""
    from core.learn.checkpoints import load_bundle, save_bundle

    model = build_model(spec, input_shape)
    b = load_bundle(save_bundle(model, spec=spec, input_shape=input_shape,
                                class_names=class_names, features=pre.to_dict()))  # fmt: skip
    at = AppTest.from_file(str(Path(PAGE).with_name("inside.py")), default_timeout=120)
    at.session_state["cl_loaded"] = {
        "model": b.model, "pre": pre, "class_names": b.class_names, "head": b.head,
        "spec": b.spec, "input_shape": b.input_shape, "task": b.task, "title": title,
    }  # fmt: skip
    at.run()
    return at


def test_inside_the_network_says_where_a_pretrained_model_s_convolutions_are():
    from PIL import Image

    from core.learn.classify import Preprocess

    pre = Preprocess("image", image_shape=(1, 28, 28))
    at = _inside_with_loaded([lite0_layer(), {"type": "dense", "units": 3}], (1, 28, 28), pre,
                             ["a", "b", "c"], "pre.zip")  # fmt: skip
    at.selectbox(key="in_model").set_value("loaded").run()
    buf = BytesIO()
    Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))).save(buf, "PNG")
    at.file_uploader(key="in_picture").set_value(("g.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "**pretrained** (Pretrained) → 1280" in text
    infos = [i.value for i in at.info]
    assert any("inside its first layer, the pretrained network efficientnet_lite0 (3,371,008 "
               "weights, frozen)" in i for i in infos)  # fmt: skip
    assert not any("has no convolution" in i for i in infos)


def test_inside_the_network_draws_a_pretrained_sound_model_on_your_own_clip():
    """A pretrained audio model reads the waveform but has no maps of its own to draw: the
    page shows its input against time and its vector layers, with no word of 1-D maps."""
    import soundfile as sf

    from core.learn.classify import Preprocess

    pre = Preprocess("waveform", length=SR, sample_rate=SR)
    at = _inside_with_loaded([speech_layer(), {"type": "dense", "units": 2}], (1, SR), pre,
                             ["a", "b"], "words.zip")  # fmt: skip
    assert any("words.zip" in o for o in at.selectbox(key="in_model").options)
    at.selectbox(key="in_model").set_value("loaded").run()
    t = np.arange(SR) / SR
    buf = BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR, format="WAV")
    at.file_uploader(key="in_clip").set_value(("tone.wav", buf.getvalue(), "audio/wav")).run()
    assert not at.exception and not at.error
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")
              for c in at.get("plotly_chart")]  # fmt: skip
    assert "the waveform the network reads" in titles
    assert not any("maps are 1-D" in c.value for c in at.caption)
    assert any("**pretrained** (Pretrained)" in m.value for m in at.markdown)


def test_a_link_to_a_pretrained_run_brings_back_its_settings():
    from core.data import users as userdata
    from core.learn import runs

    ds = userdata.to_dataset(_own_tones())
    inputs = tasks.inputs_for(ds, tasks.reads_for_pretrained(ds))
    plan = tasks.plan_pretrained(ds, inputs, "fine-tuned", backbone="aisfx").with_recipe(
        epochs=1, batch_size=8
    )
    run = runs.start_training(plan, "cpu", dataset=ds, backend="thread", owner="another tab")
    assert run.wait(300), run.snapshot()
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["user_dataset"] = ds
    at.query_params["run"] = run.id
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["train_run"] is run
    assert at.radio(key="tr_source").value == "pretrained"
    assert at.selectbox(key="tr_pre_net").value == "aisfx"
    assert at.radio(key="tr_pre_mode").value == "fine-tuned"
    assert (
        at.number_input(key="tr_lr").value == 1e-3 and at.number_input(key="tr_epochs").value == 1
    )
    # the recipe on screen is the pretrained run's: a preset brings the tuned one back
    at.radio(key="tr_source").set_value("preset").run()
    assert at.number_input(key="tr_lr").value == tasks.recipe_for(ds, "log-mel").lr
