"""AppTest of the Train page: settings, bad settings, a tiny live run, Stop."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data import shipped as data
from core.errors import UserInputError
from core.explain.summary import summarize
from core.learn.zoo import preset_spec

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
TIMEOUT = 120

# a small network that trains on the 3,500 training digits in about a second
TINY_DIGITS = {
    "spec": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "maxpool2d", "kernel_size": 4},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "input_shape": (1, 28, 28),
    "dataset": "digits",
    "head": "softmax",
    "name": "tiny test net",
}


def _app(builder=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if builder is not None:
        at.session_state["builder_spec"] = builder
    at.run()
    assert not at.exception
    return at


def _wait(run, timeout=TIMEOUT) -> None:
    assert run.wait(timeout), f"the run did not end within {timeout} s: {run.snapshot()}"


def _trace(fig: dict, name: str, axis: str) -> np.ndarray:
    """The y values of the trace called ``name`` on y-axis ``axis`` of a plotly JSON figure."""
    for tr in fig["data"]:
        if tr.get("name") == name and tr.get("yaxis", "y") == axis:
            y = tr["y"]
            if isinstance(y, dict):  # plotly's binary encoding of numpy arrays
                return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
            return np.array(y, dtype=np.float64)
    raise AssertionError(f"no trace {name!r} on {axis}")


def _curves(at) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def test_page_shows_dataset_model_and_default_recipe():
    at = _app()
    assert not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "5,000 handwritten digits" in text
    assert any("3,500 to train on, 750 for validation, 750 held out" in c.value for c in at.caption)
    # the default digits model, on 28x28 inputs; the page's numbers are core.explain.summary's
    from core.learn.train import DEFAULT_MODELS, DEFAULT_RECIPES

    name = DEFAULT_MODELS["digits"]
    assert at.selectbox(key="tr_preset").value == name
    spec = preset_spec(name, input_shape=(1, 28, 28), n_classes=10)
    summary = summarize(spec, (1, 28, 28))
    assert f"**{summary.torch_params:,}** parameters" in text
    assert len(at.dataframe[0].value) == len(summary.rows)
    assert "nn.Conv2d(1, " in at.code[0].value

    rec = DEFAULT_RECIPES["digits"]
    assert at.number_input(key="tr_lr").value == pytest.approx(rec.lr)
    assert at.number_input(key="tr_epochs").value == rec.epochs
    assert at.selectbox(key="tr_optimizer").value == rec.optimizer
    assert any("Training device: **CPU**" in c.value for c in at.caption)


def test_switching_dataset_resets_the_recipe_and_preset():
    at = _app()
    at.selectbox(key="tr_dataset").set_value("commands").run()
    assert not at.exception and not at.error
    from core.learn.train import DEFAULT_RECIPES

    rec = DEFAULT_RECIPES["commands"]
    assert at.number_input(key="tr_batch").value == rec.batch_size
    assert at.selectbox(key="tr_augment").value == rec.augment
    from core.learn.train import DEFAULT_MODELS

    assert at.selectbox(key="tr_preset").value == DEFAULT_MODELS["commands"]
    from core.audio.features import FeatureSettings

    ds = data.load("commands")
    fs = FeatureSettings(sample_rate=ds.sample_rate)
    shape = (1, fs.n_mels, 1 + ds.x.shape[1] // fs.hop_length)  # centred frames
    spec = preset_spec(DEFAULT_MODELS["commands"], input_shape=shape, n_classes=ds.n_classes)
    params = summarize(spec, shape).torch_params
    assert any(f"**{params:,}** parameters" in m.value for m in at.markdown)
    assert len(at.get("audio")) == ds.n_classes  # one playable example per intent


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tr_lr", 0.0, "A learning rate of 0 cannot be used: it must be above 0"),
        ("tr_lr", 1e6, "A learning rate of 1e+06 cannot be used"),
        ("tr_batch", 0, "A batch size of 0 cannot be used: it must be between 1 and 65,536"),
        ("tr_batch", 100_000, "A batch size of 100,000 cannot be used"),
        ("tr_epochs", 0, "0 epochs cannot be run here: choose between 1 and 1,000"),
        ("tr_epochs", 5000, "5,000 epochs cannot be run here"),
        ("tr_wd", 3.0, "A weight decay of 3 cannot be used"),
    ],
)
def test_bad_recipe_settings_are_explained_and_refused(key, value, message):
    at = _app()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    at.button(key="tr_train").click().run()
    assert any("Fix the settings marked in red" in e.value for e in at.error)
    assert "train_run" not in at.session_state


def test_a_model_whose_shapes_fail_names_the_layer():
    at = _app()
    # the 5-block pyramid halves 28x28 five times: the fifth pooling has nothing left
    at.selectbox(key="tr_preset").set_value("pyramid_cnn").run()
    assert not at.exception
    from core.errors import ShapeError

    with pytest.raises(ShapeError) as raised:
        preset_spec("pyramid_cnn", input_shape=(1, 28, 28), n_classes=10)
    msgs = [e.value for e in at.error]
    assert msgs == [str(raised.value)]
    assert "maxpool" in msgs[0] and "1×1 input" in msgs[0]  # the layer and its input
    assert not at.dataframe  # no summary of a model that cannot run


def test_builder_model_for_another_dataset_or_without_a_linear_end_is_refused():
    at = _app({**TINY_DIGITS, "dataset": "instruments"})
    at.radio(key="tr_source").set_value("builder").run()
    assert any("no model for this dataset" in e.value for e in at.error)

    no_linear = dict(TINY_DIGITS, spec=TINY_DIGITS["spec"][:-2])  # ends in a feature map
    at = _app(no_linear)
    at.radio(key="tr_source").set_value("builder").run()
    assert any("a classifier must end with one number per class" in e.value for e in at.error)


@pytest.mark.parametrize(
    ("model", "binary", "outputs", "note"),
    [
        (TINY_DIGITS, True, 1, "had 10 outputs; for this task it gets one output (a sigmoid"),
        (dict(TINY_DIGITS, head="sigmoid", spec=TINY_DIGITS["spec"][:-1] + [{"type": "dense", "units": 1}]),
         False, 10, "had 1 outputs; for this task it gets 10 outputs, one per class"),
        (dict(TINY_DIGITS, spec=TINY_DIGITS["spec"][:-1] + [{"type": "dense", "units": 3}]),
         False, 10, "had 3 outputs; for this task it gets 10 outputs"),
    ],
    ids=["ten-to-two-classes", "sigmoid-to-ten", "three-to-ten"],
)  # fmt: skip
def test_a_builder_model_gets_the_head_the_task_needs(model, binary, outputs, note):
    at = _app(model)
    at.radio(key="tr_source").set_value("builder").run()
    at.checkbox(key="tr_binary").set_value(binary).run()
    assert not at.exception and not at.error
    assert any(note in i.value for i in at.info)
    at.number_input(key="tr_epochs").set_value(1).run()
    at.button(key="tr_train").click().run()
    run = at.session_state["train_run"]
    _wait(run)
    assert run.snapshot().status == "done", run.snapshot().message
    last = [m for m in run.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert last.out_features == outputs and last.in_features == 4 * 6 * 6


def test_the_page_runs_the_tuned_default_recipe_and_shows_it():
    """The Train page, the benchmark and the CLI share DEFAULT_RECIPES: SpecAugment included."""
    from core.learn.train import DEFAULT_RECIPES

    at = _app()
    at.selectbox(key="tr_dataset").set_value("commands").run()
    at.number_input(key="tr_epochs").set_value(1).run()
    at.button(key="tr_train").click().run()
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    run.stop()
    _wait(run)
    used = run.task.recipe
    assert used == replace(DEFAULT_RECIPES["commands"], epochs=1)
    assert (used.freq_mask, used.time_mask, used.time_shift) == (6, 10, 0.05)
    at.run()
    assert any(
        "learning rate 0.003, batch 32, 1 epochs" in c.value
        and "masks up to 6 bands and 10 frames, shift 5%" in c.value
        for c in at.caption
    )


def test_tiny_run_trains_and_the_page_shows_its_numbers():
    at = _app(TINY_DIGITS)
    at.radio(key="tr_source").set_value("builder")
    at.number_input(key="tr_epochs").set_value(2)
    at.selectbox(key="tr_augment").set_value("none")
    at.number_input(key="tr_batch").set_value(128)
    at.run()
    assert not at.error
    assert any("**tiny test net**" in m.value for m in at.markdown)
    at.button(key="tr_train").click().run()
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    _wait(run)
    at.run()
    assert not at.exception
    snap = run.snapshot()
    assert snap.status == "done", snap.message
    assert [p.epoch for p in snap.epochs] == [1, 2]
    assert any(s.value.startswith("Finished 2 epochs.") for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    last = snap.epochs[-1]
    assert metrics["Train loss"] == f"{last.train_loss:.4f}"
    assert metrics["Validation loss"] == f"{last.val_loss:.4f}"
    assert metrics["Validation accuracy"] == f"{last.val_acc:.1%}"
    assert metrics["Best epoch"] == str(snap.best_epoch)

    fig = _curves(at)
    np.testing.assert_allclose(_trace(fig, "validation (per epoch)", "y"),
                               [p.val_loss for p in snap.epochs])  # fmt: skip
    np.testing.assert_allclose(_trace(fig, "train (per epoch)", "y2"),
                               [p.train_acc for p in snap.epochs])  # fmt: skip
    np.testing.assert_allclose(_trace(fig, "train loss (single batches)", "y"), snap.batch_losses)

    # the kept model, run again here, gives the test accuracy the page prints
    ds = data.load("digits")
    te = ds.splits["test"]
    with torch.no_grad():
        pred = run.model.eval()(torch.as_tensor(ds.x[te])).argmax(1).numpy()
    acc = float((pred == ds.y[te]).mean())
    assert run.test.accuracy == pytest.approx(acc)
    assert any(f"**{acc:.1%}**" in m.value for m in at.markdown)
    # the settings unlock again and a new run may start
    assert not at.button(key="tr_train").disabled


def test_stop_ends_the_run_and_keeps_the_best_weights():
    at = _app(TINY_DIGITS)
    at.radio(key="tr_source").set_value("builder")
    at.number_input(key="tr_epochs").set_value(200)
    at.selectbox(key="tr_augment").set_value("none")
    at.number_input(key="tr_batch").set_value(16)
    at.run()
    at.button(key="tr_train").click().run()
    run = at.session_state["train_run"]
    deadline = time.time() + TIMEOUT
    while run.snapshot().step < 3 and time.time() < deadline:
        time.sleep(0.05)
    at.run()
    assert at.button(key="tr_train").disabled  # one run per session
    assert at.selectbox(key="tr_dataset").disabled
    assert any("Training" in m.value for m in at.markdown)
    at.button(key="tr_stop").click().run()
    _wait(run)
    at.run()
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.step < snap.total_steps
    assert any("Stopped by the user during epoch" in s.value for s in at.success)
    assert run.test is not None


def test_training_on_your_own_data_and_the_model_can_be_asked():
    from core.data import users as userdata
    from core.learn.classify import Preprocess, classify_image

    rng = np.random.default_rng(0)
    g = userdata.Gathered("image")
    g.examples = {"dark": [rng.uniform(0, 0.2, (28, 28)) for _ in range(8)],
                  "light": [rng.uniform(0.8, 1, (28, 28)) for _ in range(8)]}  # fmt: skip
    g.names = {k: [f"{i}.png" for i in range(8)] for k in g.examples}
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "train.py"),
                           default_timeout=120)  # fmt: skip
    at.session_state["user_dataset"] = userdata.to_dataset(g)
    at.run()
    at.selectbox(key="tr_dataset").set_value("user").run()
    assert not at.exception and not at.error
    # your own examples start from the pretrained network (few-shot); the presets are there
    assert at.radio(key="tr_source").value == "pretrained"
    assert at.selectbox(key="tr_pre_net").value == "efficientnet_lite0"
    at.radio(key="tr_source").set_value("preset").run()
    assert at.selectbox(key="tr_preset").value == "digits_cnn"  # pictures start like the digits
    at.number_input(key="tr_epochs").set_value(2).run()
    at.number_input(key="tr_batch").set_value(4).run()
    at.button(key="tr_train").click().run()
    run = at.session_state["train_run"]
    _wait(run)
    at.run()
    assert not at.exception
    assert any("on **your data**" in m.value for m in at.markdown)
    assert run.info.dataset_name == "your data" and run.task.class_names == ("dark", "light")
    pre = run.task.preprocess
    assert isinstance(pre, Preprocess)
    assert pre.representation == "image" and pre.image_shape == (1, 28, 28) and pre.pad == 0
    light = classify_image(
        run.model, np.full((28, 28), 0.95), pre=pre, class_names=["dark", "light"]
    )
    x = torch.full((1, 1, 28, 28), round(0.95 * 255) / 255)
    expected = torch.softmax(run.model(x), 1)[0].detach().numpy()
    np.testing.assert_allclose(light.probs, expected, atol=1e-5)


def test_your_own_classes_changed_since_use_is_said_and_can_be_refreshed():
    from core.data import users as userdata

    rng = np.random.default_rng(0)
    g = userdata.Gathered("image")
    g.examples = {"dark": [rng.uniform(0, 0.2, (28, 28)) for _ in range(8)],
                  "light": [rng.uniform(0.8, 1, (28, 28)) for _ in range(8)]}  # fmt: skip
    g.names = {k: [f"{i}.png" for i in range(8)] for k in g.examples}
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["yd_data"] = g
    at.session_state["user_dataset"] = userdata.to_dataset(g)
    at.session_state["user_dataset_from"] = userdata.fingerprint(g)
    at.run()
    at.selectbox(key="tr_dataset").set_value("user").run()
    assert not at.warning  # the training set is what the page shows
    for label in g.examples:  # eight more examples of each class arrive
        g.examples[label] += [rng.uniform(0, 1, (28, 28)) for _ in range(8)]
        g.names[label] += [f"more{i}.png" for i in range(8)]
    at.run()
    assert any("holds 32 examples, the training set 16" in w.value for w in at.warning)
    at.button(key="tr_refresh_own").click().run()
    assert not at.exception and not at.warning
    assert len(at.session_state["user_dataset"].y) == 32
    assert at.selectbox(key="tr_dataset").value == "user"


def test_a_run_whose_loss_explodes_is_named_not_shown_as_finished():
    """Learning rate 10 used to give a loss of 1.8e19 at chance under a green 'Finished'."""
    at = _app(TINY_DIGITS)
    at.radio(key="tr_source").set_value("builder")
    at.selectbox(key="tr_optimizer").set_value("sgd")
    at.number_input(key="tr_lr").set_value(10.0)
    at.selectbox(key="tr_scheduler").set_value("none")
    at.number_input(key="tr_epochs").set_value(2)
    at.selectbox(key="tr_augment").set_value("none")
    at.number_input(key="tr_batch").set_value(128)
    at.run()
    assert not at.error
    at.button(key="tr_train").click().run()
    run = at.session_state["train_run"]
    _wait(run)
    at.run()
    assert not at.exception
    snap = run.snapshot()
    assert snap.verdict in ("diverged", "at_chance"), snap.message
    assert not at.success  # nothing green
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    assert any("learning rate (now 10)" in m for m in shown)
    label = {"diverged": "Diverged", "at_chance": "At chance"}[snap.verdict]
    assert any(m.value.startswith(f"{label}: **tiny test net**") for m in at.markdown)
    # the header reads the run's own settings
    assert any("SGD with momentum, learning rate 10, batch 128, 2 epochs" in c.value
               for c in at.caption)  # fmt: skip


def test_a_waveform_model_is_offered_waveform_augmentation():
    at = _app()
    at.selectbox(key="tr_dataset").set_value("commands").run()
    assert at.selectbox(key="tr_augment").value == "spectrogram"  # the tuned recipe's
    at.selectbox(key="tr_preset").set_value("m5").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="tr_augment").options == ["none", "time shift and gain"]
    assert at.selectbox(key="tr_augment").value == "waveform"
    assert any("on inputs of shape 1×32000" in m.value for m in at.markdown)


def test_the_recipe_shown_follows_the_device_until_the_user_changes_it(monkeypatch):
    from core.learn.train import DEFAULT_RECIPES, GPU_RECIPES

    at = _app()
    cpu, gpu = DEFAULT_RECIPES["digits"], GPU_RECIPES["digits"]
    assert at.number_input(key="tr_batch").value == cpu.batch_size
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a CUDA machine
    at.run()
    assert at.number_input(key="tr_batch").value == gpu.batch_size
    assert at.number_input(key="tr_epochs").value == gpu.epochs
    at.number_input(key="tr_epochs").set_value(3).run()  # the user's own recipe now
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    at.run()
    assert at.number_input(key="tr_epochs").value == 3
    assert at.number_input(key="tr_batch").value == gpu.batch_size


@pytest.mark.slow
def test_compare_with_a_pretrained_backbone_shows_both_models():
    at = _app()
    at.selectbox(key="tr_dataset").set_value("instruments").run()
    at.selectbox(key="tr_cmp_per_class").set_value(8).run()
    at.number_input(key="tr_cmp_epochs").set_value(3).run()
    at.button(key="tr_compare").click().run(timeout=600)
    assert not at.exception and not at.error
    job = at.session_state["tr_cmp_job"]  # trained in a thread: a click elsewhere keeps it
    at.number_input(key="tr_cmp_epochs").set_value(4).run()  # a click elsewhere on the page
    assert at.session_state["tr_cmp_job"] is job and not job["stop"].is_set()
    job["thread"].join(600)
    at.run()
    assert not at.exception and not at.error
    _, result = at.session_state["tr_cmp_result"]
    figs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    curves = next(f for f in figs.values() if f["layout"]["yaxis"]["title"]["text"]
                  == "validation accuracy")  # fmt: skip
    names = [t["name"] for t in curves["data"]]
    assert len(names) == 2 and names[0].startswith("from scratch")
    assert f"test {result.pretrained.test_accuracy:.1%}" in names[1]
    assert f"{result.pretrained.trained_parameters:,} parameters trained" in names[1]
    text = " ".join(m.value for m in at.markdown)
    assert f"test accuracy **{result.scratch.test_accuracy:.1%}**" in text
    assert result.n_train == 8 * 6
    assert len([f for f in figs.values() if f["data"][0]["type"] == "heatmap"]) == 2


def test_a_comparison_goes_on_through_clicks_elsewhere_and_stops_when_asked(monkeypatch):
    """Compare ran in the page's own run: any click on the page threw it away, with no word."""
    from core.learn import pool, transfer

    monkeypatch.setattr(pool, "backend_setting", lambda: "thread")
    started, calls = threading.Event(), []

    def slow_compare(**asked):
        calls.append(asked)
        asked["on_progress"](0.5, "Training the default model from scratch")
        started.set()
        while not asked["stop"].is_set():
            time.sleep(0.05)
        return object()  # like the real one: stopped early, it still returns a comparison

    monkeypatch.setattr(transfer, "compare", slow_compare)
    at = _app()
    at.button(key="tr_compare").click().run()
    assert started.wait(30)
    job = at.session_state["tr_cmp_job"]
    at.number_input(key="tr_cmp_epochs").set_value(4).run()  # a click elsewhere
    at.selectbox(key="tr_cmp_per_class").set_value(8).run()
    assert at.session_state["tr_cmp_job"] is job and job["thread"].is_alive()
    assert at.button(key="tr_compare").disabled  # one comparison at a time
    assert len(calls) == 1 and calls[0]["epochs"] == 10  # the settings it started with
    at.button(key="tr_cmp_stop").click().run()
    job["thread"].join(30)
    at.run()
    assert "tr_cmp_job" not in at.session_state
    assert any("Comparison stopped" in i.value for i in at.info) and not at.error
    assert "tr_cmp_result" not in at.session_state  # a half-trained pair is not shown
    assert not at.button(key="tr_compare").disabled


def test_a_run_opened_from_another_browsers_address_is_watched_not_stopped(monkeypatch):
    """A student who pastes a classmate's (or the lecturer's) address bar sees the run live,
    but cannot stop it; the same browser (a reload, another tab) still can."""
    import pages._shared as shared
    from core.learn import runs

    monkeypatch.setattr(shared, "browser_id", lambda: "lecturer")
    owner = _app()
    owner.number_input(key="tr_epochs").set_value(200).run()
    owner.button(key="tr_train").click().run()
    run = owner.session_state["train_run"]
    try:
        assert run.browser == "lecturer" and run.active
        monkeypatch.setattr(shared, "browser_id", lambda: "a student")
        other = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
        other.query_params["run"] = run.id
        other.run()
        assert not other.exception and other.session_state["train_run"] is run
        assert other.button(key="tr_stop").disabled and not other.button(key="tr_train").disabled
        assert any("only that browser can stop it" in i.value for i in other.info)
        assert run.active  # nothing the student's page does stops it
        monkeypatch.setattr(shared, "browser_id", lambda: "lecturer")
        again = AppTest.from_file(PAGE, default_timeout=TIMEOUT)  # a reload in the same browser
        again.query_params["run"] = run.id
        again.run()
        assert not again.button(key="tr_stop").disabled
        again.button(key="tr_stop").click().run()
        _wait(run)
        assert run.status == runs.STOPPED
    finally:
        run.stop()


def test_a_comparison_that_fails_says_why_in_a_sentence(monkeypatch):
    from core.learn import pool, transfer

    monkeypatch.setattr(pool, "backend_setting", lambda: "thread")

    def refuses(**asked):
        raise UserInputError("Too few examples of class 3 to compare.")

    monkeypatch.setattr(transfer, "compare", refuses)
    at = _app()
    at.button(key="tr_compare").click().run()
    for _ in range(20):  # it may end within the run that started it
        if "tr_cmp_job" not in at.session_state:
            break
        at.session_state["tr_cmp_job"]["thread"].join(1)
        at.run()
    at.run()
    assert not at.exception
    assert "Too few examples of class 3 to compare." in [e.value for e in at.error]
