"""The Inside the network page with the shipped models: what it shows for one test example is
what the model computes, misclassified examples are found, the evidence and its checks."""

import json

import numpy as np
import pytest
import torch

from core.learn import inside as I
from tests.apptest import open_page

pytestmark = pytest.mark.skipif("digits" not in I.shipped_models(), reason="no shipped model")


def _array(v) -> np.ndarray:
    """A plotly JSON array: a list, or the binary form {"dtype", "bdata", "shape"}."""
    import base64

    if isinstance(v, dict):
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        shape = v.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return a.reshape(shape) if shape else a
    return np.array(v, dtype=float)


def _figs(at) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def test_a_digit_through_the_shipped_model():
    at = open_page("inside")
    assert at.selectbox(key="in_model").value == "shipped:digits"
    bundle = I.load_shipped("digits")
    ex = I.test_examples(bundle.model, __import__("core.data.shipped", fromlist=["load"]).load(
        "digits"), "image")  # fmt: skip
    x = ex.x[:1]
    top = I.top_k(bundle.model, x, k=3)
    table = at.table[0].value
    assert list(table["class"]) == [bundle.class_names[c] for c, _ in top]
    assert list(table["probability"]) == [f"{p:.1%}" for _, p in top]
    # one row of maps per layer with maps; the first conv's maps are the model's own
    views = I.walk(bundle.model, x)
    conv = next(v for v in views if v.kind == "Conv2d")
    figs = list(_figs(at).values())
    maps = [f for f in figs if len(f["data"]) >= 2 and f["data"][0]["type"] == "heatmap"
            and f["data"][0].get("zmin", 0) < 0]  # fmt: skip
    first = maps[0]["data"][0]["z"]
    np.testing.assert_allclose(_array(first), conv.output[0], rtol=1e-5, atol=1e-6)
    text = " ".join(m.value for m in at.markdown)
    assert f"**{conv.name}** (Conv2d) → {'×'.join(map(str, conv.shape))}" in text
    assert not at.exception and not at.error


def test_misclassified_examples_are_the_wrong_ones():
    at = open_page("inside")
    at.selectbox(key="in_show").set_value("misclassified").run()
    assert "(wrong)" in " ".join(m.value for m in at.markdown)
    at.number_input(key="in_example").set_value(1).run()
    assert "(wrong)" in " ".join(m.value for m in at.markdown)


def test_the_sanity_checks_run_and_report():
    at = open_page("inside")
    at.button(key="in_sanity").click().run(timeout=300)
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Score drop: top region vs a random one" in labels
    assert "Rank correlation with a randomised network" in labels
    assert at.success or at.warning


def test_a_hostile_link_keeps_the_defaults():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../pages/inside.py", default_timeout=120)
    at.query_params.update({"in_model": "../../etc/passwd", "in_example": "1e9",
                            "in_show": "<script>"})  # fmt: skip
    at.run()
    assert not at.exception
    assert at.selectbox(key="in_model").value == "shipped:digits"
    assert "could not be used" in " ".join(w.value for w in at.warning)
    assert torch.is_tensor(I.load_shipped("digits").model[0].weight)


def test_an_audio_model_lets_the_evidence_be_heard():
    at = open_page("inside")
    at.selectbox(key="in_model").set_value("shipped:instruments").run()
    assert not at.exception and not at.error
    players = at.get("audio")
    assert len(players) == 4  # one unit's box; the clip, the evidence only, everything else
    assert "Hear the evidence" in [h.value for h in at.subheader]
    said = " ".join(m.value for m in at.markdown)
    assert "Hz**) over frames" in said and "ms** of the clip" in said
    table = at.table[0].value
    bundle = I.load_shipped("instruments")
    assert set(table["class"]) <= set(bundle.class_names)


def _first_example_at(layer: str, f: int):
    """Filter ``f``'s map in ``layer`` of the shipped digits model for the first test example
    the page shows, computed here by PyTorch; and that layer's module."""
    from core.data import shipped

    bundle = I.load_shipped("digits")
    h = I.test_examples(bundle.model, shipped.load("digits"), "image").x[:1]
    for name, module in bundle.model.named_children():
        if name == layer:
            return module(h)[0, f].detach().numpy(), module
        h = module(h)
    raise AssertionError(f"no layer {layer!r}")


def test_one_unit_is_stepped_with_the_learned_weights_and_checked():
    from tests.apptest import steppers

    at = open_page("inside")
    at.number_input(key="in_unit_filter").set_value(3).run()
    players = {k: v for k, v in steppers(at).items() if k.startswith("in_unit_")}
    assert len(players) == 1
    data = next(iter(players.values()))
    out, module = _first_example_at(at.selectbox(key="in_unit_layer").value, 3)
    shown = np.array([[float(v) for v in row] for row in data["output"]])
    r0 = at.number_input(key="in_unit_row").value - 2
    c0 = at.number_input(key="in_unit_col").value - 2
    np.testing.assert_allclose(shown, out[r0 : r0 + 5, c0 : c0 + 5], rtol=1e-3, atol=1e-3)
    assert data["kernels"][0][0][0] == f"{float(module.weight[3, 0, 0, 0].detach()):.4g}"
    assert "they agree" in " ".join(c.value for c in at.caption)
    assert data["step"] == 2 * 5 + 2 + 1  # the chosen unit (the crop's centre) is shown first


def test_inputs_that_excite_a_deeper_filter_are_drawn():
    at = open_page("inside")
    at.button(key="in_deep").click().run(timeout=300)
    assert not at.exception
    key, found = at.session_state["in_deep_result"]
    assert found.shape == (8, 1, 28, 28) and key[1] == at.selectbox(key="in_deep_layer").value
    assert any("liked best" in c.value for c in at.caption)


def test_a_unit_s_receptive_field_is_lit_on_the_input():
    import re

    from core.data import shipped as data

    at = open_page("inside")
    layer = at.selectbox(key="in_unit_layer").options[-1]  # the deepest convolution
    at.selectbox(key="in_unit_layer").set_value(layer).run()
    at.number_input(key="in_unit_row").set_value(1).run()
    at.number_input(key="in_unit_col").set_value(2).run()
    assert not at.exception and not at.error
    assert "Where this unit looks" in [h.value for h in at.subheader]
    bundle = I.load_shipped("digits")
    ex = I.test_examples(bundle.model, data.load("digits"), "image")
    rows, cols = I.unit_field(bundle.model, ex.x[:1], layer, 1, 2)
    said = " ".join(m.value for m in at.markdown)
    m = re.search(r"reads input rows \*\*(\d+)–(\d+)\*\* and columns \*\*(\d+)–(\d+)\*\*", said)
    assert m and tuple(int(v) for v in m.groups()) == (rows.lo, rows.hi, cols.lo, cols.hi)
    field = next(f for f in _figs(at).values()
                 if any(t.get("hoverinfo") == "skip" for t in f["data"]))  # fmt: skip
    lit = _array(next(t for t in field["data"] if t.get("hoverinfo") == "skip")["z"])
    expected = np.zeros((28, 28), dtype=bool)
    expected[np.ix_(rows.positions, cols.positions)] = True
    np.testing.assert_array_equal(~np.isnan(lit.astype(float)), expected)
    clickable = [t for t in field["data"] if t.get("type") == "scatter"]
    assert clickable and len(_array(clickable[0]["x"])) > 1  # every unit can be clicked


def _png(gray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _wav(x, sr=16000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, np.float32), sr, format="WAV")
    return buf.getvalue()


def test_your_own_clip_goes_through_the_network():
    from core.data import shipped as data
    from core.learn.classify import Preprocess

    at = open_page("inside")
    at.selectbox(key="in_model").set_value("shipped:instruments").run()
    at.radio(key="in_source").set_value("your own").run()
    assert not at.exception
    assert any("Record or upload a clip" in i.value for i in at.info)  # waits for one
    ds = data.load("instruments")
    clip = np.r_[np.zeros(8000), ds.x[ds.splits["test"][0]], np.zeros(16000)]  # 2.5 s, padded
    at.file_uploader(key="in_clip").set_value(("mine.wav", _wav(clip), "audio/wav")).run()
    assert not at.exception and not at.error
    bundle = I.load_shipped("instruments")
    own = I.own_clip(_wav(clip), Preprocess.from_dict(bundle.features or {}))
    best = bundle.class_names[I.top_k(bundle.model, own.x, k=1)[0][0]]
    said = " ".join(m.value for m in at.markdown)
    assert f"The network says **{best}**." in said
    assert any("loudest" in c.value for c in at.caption)  # what was kept of the 2.5 s
    assert len(at.get("audio")) == 4  # the unit's box, the clip, its evidence, the rest
    # what the page draws as the input is the log-mel of that loudest window
    shown = _array(_figs(at)[at.get("plotly_chart")[0].proto.id]["data"][0]["z"])
    np.testing.assert_allclose(shown, own.x[0, 0].numpy(), rtol=1e-5, atol=1e-5)


def test_your_own_picture_and_a_broken_upload():
    from core.data import shipped as data
    from core.learn.classify import Preprocess

    at = open_page("inside")
    at.radio(key="in_source").set_value("your own").run()
    bad = ("x.png", b"\x89PNG not really", "image/png")
    at.file_uploader(key="in_picture").set_value(bad).run()
    assert not at.exception and at.error  # a sentence, not a traceback
    ds = data.load("digits")
    digit = ds.x[ds.splits["test"][3]][0]
    at.file_uploader(key="in_picture").set_value(("d.png", _png(digit), "image/png")).run()
    assert not at.exception and not at.error
    bundle = I.load_shipped("digits")
    own = I.own_picture(digit, Preprocess.from_dict(bundle.features or {}))
    best = bundle.class_names[I.top_k(bundle.model, own.x, k=1)[0][0]]
    assert f"The network says **{best}**." in " ".join(m.value for m in at.markdown)
    assert "Where this unit looks" in [h.value for h in at.subheader]


def test_a_silent_clip_is_refused_with_a_sentence():
    at = open_page("inside")
    at.selectbox(key="in_model").set_value("shipped:commands").run()
    at.radio(key="in_source").set_value("your own").run()
    at.file_uploader(key="in_clip").set_value(("s.wav", _wav(np.zeros(16000)), "audio/wav")).run()
    assert not at.exception
    assert any("no signal" in e.value for e in at.error)


def test_a_model_loaded_on_ask_your_model_is_looked_inside_with_your_own_input():
    from streamlit.testing.v1 import AppTest

    from core.data import shipped as data
    from core.learn.checkpoints import load_bundle, save_bundle
    from core.learn.classify import Preprocess
    from tests.apptest import PAGES

    shipped = I.load_shipped("digits")
    raw = save_bundle(shipped.model, spec=shipped.spec, input_shape=shipped.input_shape,
                      class_names=shipped.class_names, head=shipped.head,
                      features=shipped.features)  # fmt: skip
    b = load_bundle(raw, name="mine.zip")
    at = AppTest.from_file(str(PAGES / "inside.py"), default_timeout=90)
    at.session_state["cl_loaded"] = {
        "model": b.model, "pre": Preprocess.from_dict(b.features or {}),
        "class_names": b.class_names, "head": b.head, "spec": b.spec,
        "input_shape": b.input_shape, "task": b.task, "title": "mine.zip (loaded)",
    }  # fmt: skip
    at.run()
    at.selectbox(key="in_model").set_value("loaded").run()
    assert not at.exception and not at.error
    assert at.radio(key="in_source").value == "your own" and at.radio(key="in_source").disabled
    ds = data.load("digits")
    digit = ds.x[ds.splits["test"][5]][0]
    at.file_uploader(key="in_picture").set_value(("d.png", _png(digit), "image/png")).run()
    assert not at.exception and not at.error
    own = I.own_picture(digit, Preprocess.from_dict(b.features or {}))
    best = b.class_names[I.top_k(b.model, own.x, k=1)[0][0]]
    assert f"The network says **{best}**." in " ".join(m.value for m in at.markdown)
    assert any("a loaded model brings none" in c.value for c in at.caption)


def _own_run(kind: str, preset: str, epochs: int = 2):
    """A run of ``preset`` on a small set of your own classes (pictures or clips)."""
    from core.data import users as userdata
    from core.learn import runs
    from core.learn import task as tasks

    rng = np.random.default_rng(0)
    g = userdata.Gathered(kind)
    if kind == "image":
        g.examples = {"dark": [rng.uniform(0, 0.3, (28, 28)) for _ in range(8)],
                      "light": [rng.uniform(0.7, 1, (28, 28)) for _ in range(8)]}  # fmt: skip
    else:
        t = np.arange(16_000) / 16_000
        g.examples = {f: [(0.4 * np.sin(2 * np.pi * f * (1 + 0.02 * i) * t)).astype(np.float32)
                          for i in range(8)] for f in (300, 2_500)}  # fmt: skip
        g.examples = {"low": g.examples[300], "high": g.examples[2_500]}
    g.names = {k: [f"{k}{i}" for i in range(len(v))] for k, v in g.examples.items()}
    ds = userdata.to_dataset(g)
    inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset))
    plan = tasks.plan_preset(ds, inputs, preset).with_recipe(epochs=epochs, batch_size=4)
    run = runs.start_training(plan, "cpu", dataset=ds, backend="thread")
    assert run.wait(120), run.snapshot()
    assert run.status == runs.DONE, run.snapshot()  # a model that learned, to be looked at
    return run, ds


@pytest.mark.parametrize(("kind", "preset"), [("image", "digits_cnn"), ("audio", "speech_cnn")])
def test_a_model_trained_on_your_own_classes_is_looked_inside(kind, preset):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import PAGES

    run, ds = _own_run(kind, preset)
    at = AppTest.from_file(str(PAGES / "inside.py"), default_timeout=90)
    at.session_state["train_run"] = run
    at.session_state["in_model"] = "shipped:digits"  # the page was visited before training
    at.run()
    offered = at.selectbox(key="in_model").options
    assert any(o.endswith("trained in this session on your data") for o in offered)
    assert at.selectbox(key="in_model").value == "session"  # it opens on the model just trained
    at.selectbox(key="in_model").set_value("shipped:digits").run()
    assert at.selectbox(key="in_model").value == "shipped:digits"  # once: a choice is kept
    at.selectbox(key="in_model").set_value("session").run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    ex = at.session_state["in_examples"]
    assert sorted(ex.index.tolist()) == sorted(ds.splits["test"].tolist())  # its own test set
    true = ds.class_names[int(ex.y[0])]
    assert f"True class **{true}**" in text
    if kind == "audio":  # the evidence can be heard: the clip of that test example
        assert at.get("audio")


def test_a_waveform_model_is_looked_inside_in_1d():
    """A model that reads the samples themselves (M5): its 1-D maps against time, the unit
    arithmetic of its first Conv1d checked against PyTorch, the evidence over time, heard."""
    from streamlit.testing.v1 import AppTest

    from tests.apptest import PAGES

    run, ds = _own_run("audio", "m5", epochs=12)
    at = AppTest.from_file(str(PAGES / "inside.py"), default_timeout=90)
    at.session_state["train_run"] = run
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="in_model").value == "session"
    figs = _figs(at)
    ex = at.session_state["in_examples"]
    x = ex.x[:1]
    # the input: the waveform itself, against seconds
    wave_fig = next(f for f in figs.values() if f["layout"].get("title", {}).get("text", "")
                    .startswith("the waveform"))  # fmt: skip
    step = max(1, x.shape[-1] // 4000)  # the line is thinned to a few thousand points
    np.testing.assert_allclose(_array(wave_fig["data"][0]["y"]), x[0, 0, ::step].numpy(), atol=1e-6)
    # every 1-D layer is one heat map of (channels, positions), as the model computes it
    views = I.walk(run.model.cpu().eval(), x)
    maps_1d = [f for f in figs.values() if f["data"][0].get("type") == "heatmap"
               and f["layout"].get("yaxis", {}).get("type") == "category"]  # fmt: skip
    first = next(v for v in views if v.kind == "Conv1d")
    np.testing.assert_allclose(
        _array(maps_1d[0]["data"][0]["z"]), first.output, rtol=1e-4, atol=1e-5
    )
    assert len(maps_1d) == sum(v.is_map and len(v.shape) == 2 for v in views[1:])
    said = " ".join(c.value for c in at.caption)
    assert "they agree" in said and "each output is the sum of 80 products" in said
    assert at.number_input(key="in_unit_pos").value == int(
        np.argmax(np.abs(first.output[0]))
    )  # the filter's strongest answer first
    assert "samples" in said and "ms) of silence" in said
    # the chosen unit's field on the waveform, in samples and in ms, to hear
    pos = at.number_input(key="in_unit_pos").value
    field = I.unit_field_1d(run.model.cpu().eval(), x, first.name, pos)
    text = " ".join(m.value for m in at.markdown)
    assert f"reads input samples **{field.lo:,}–{field.hi:,}**" in text
    assert field.hi - field.lo + 1 == 80  # the first layer's kernel
    # its stretch, then the clip, the evidence only and everything else
    assert len(at.get("audio")) == 4
    at.button(key="in_sanity").click().run()
    assert not at.exception and len(at.metric) == 2


def test_the_first_unit_shown_is_the_filters_strongest_answer():
    """The centre of a digit is often empty: the first unit's arithmetic read all '× 0 = 0'."""
    at = open_page("inside")
    f = at.number_input(key="in_unit_filter").value
    out, _ = _first_example_at(at.selectbox(key="in_unit_layer").value, f)
    row, col = at.number_input(key="in_unit_row").value, at.number_input(key="in_unit_col").value
    assert abs(out[row, col]) == pytest.approx(np.abs(out).max(), rel=1e-4)
    assert abs(out[row, col]) > 0
