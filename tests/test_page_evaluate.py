"""AppTest of the Evaluate page: test scores, confusion matrix, a cell's examples, ROC."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data import shipped as data
from core.learn import runs
from core.learn.train import EpochEvent

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "pages" / "train.py")
EVALUATE = str(ROOT / "pages" / "evaluate.py")
TIMEOUT = 120


def _tiny(dataset, input_shape, outputs, head="softmax"):
    return {
        "spec": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
            {"type": "maxpool2d", "kernel_size": 4},
            {"type": "flatten"},
            {"type": "dense", "units": outputs},
        ],
        "input_shape": input_shape,
        "dataset": dataset,
        "head": head,
        "name": "tiny test net",
    }


def _train(dataset, builder, *, binary=None, epochs=1):
    """Drive the Train page to a finished run; return it."""
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.session_state["builder_spec"] = builder
    at.run()
    at.selectbox(key="tr_dataset").set_value(dataset).run()
    at.radio(key="tr_source").set_value("builder")
    at.number_input(key="tr_epochs").set_value(epochs)
    at.selectbox(key="tr_augment").set_value("none")
    at.number_input(key="tr_batch").set_value(64)
    if binary:
        at.checkbox(key="tr_binary").check().run()
        at.selectbox(key="tr_class_a").set_value(binary[0])
        at.selectbox(key="tr_class_b").set_value(binary[1])
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="tr_train").click().run()
    run = at.session_state["train_run"]
    assert run.wait(TIMEOUT) and run.status == "done", run.snapshot().message
    return run


def _task(class_names):
    """A typed task with these classes (a two-class one reads through one sigmoid output)."""
    from core.learn.classify import Preprocess
    from core.learn.task import Task
    from core.learn.train import Recipe

    return Task(dataset="digits", class_names=class_names, input_shape=(1, 28, 28),
                preprocess=Preprocess("image", image_shape=(1, 28, 28)), recipe=Recipe(),
                head="sigmoid" if len(class_names) == 2 else "softmax")  # fmt: skip


def _evaluate(run) -> AppTest:
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT)
    if run is not None:
        at.session_state["train_run"] = run
    at.run()
    assert not at.exception
    return at


def _z(chart) -> np.ndarray:
    fig = json.loads(chart.proto.spec)
    z = fig["data"][0]["z"]
    if isinstance(z, dict):
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(
            [int(v) for v in str(z["shape"]).split(",")]
        )
    return np.array(z, dtype=np.float64)


def _reference_confusion(y_true, y_pred, n):
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


@pytest.fixture(scope="module")
def digits_run():
    return _train("digits", _tiny("digits", (1, 28, 28), 10))


@pytest.fixture(scope="module")
def instruments_binary_run():
    # bell (4) against drum (5): two classes, one sigmoid output
    return _train("instruments", _tiny("instruments", (1, 64, 101), 1, "sigmoid"), binary=(4, 5))


def test_without_a_run_the_page_points_to_the_train_page():
    at = _evaluate(None)
    assert any("No model has been trained in this session" in i.value for i in at.info)
    assert not at.metric


def test_test_scores_and_confusion_match_a_reference(digits_run):
    run = digits_run
    ds = data.load("digits")
    te = ds.splits["test"]
    with torch.no_grad():
        logits = run.model.eval()(torch.as_tensor(ds.x[te]))
    pred = logits.argmax(1).numpy()
    y = ds.y[te]
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
    cm = _reference_confusion(y, pred, 10)

    at = _evaluate(run)
    m = {x.label: x.value for x in at.metric}
    assert m["Test accuracy"] == f"{(pred == y).mean():.1%}"
    assert m["Test loss"] == f"{loss:.4f}"
    assert m["Mistakes"] == f"{int((pred != y).sum()):,} of {len(y):,}"
    charts = at.get("plotly_chart")
    np.testing.assert_array_equal(_z(charts[0]), cm)

    table = at.dataframe[0].value
    for c in range(10):
        tp, col, row = cm[c, c], cm[:, c].sum(), cm[c].sum()
        p = tp / col if col else 0.0
        r = tp / row if row else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        assert table["precision"][c] == pytest.approx(p, abs=1e-4)
        assert table["recall"][c] == pytest.approx(r, abs=1e-4)
        assert table["F1"][c] == pytest.approx(f1, abs=1e-4)
        assert table["support"][c] == row

    at.radio(key="ev_norm").set_value("row-normalised").run()
    z = _z(at.get("plotly_chart")[0])
    np.testing.assert_allclose(z, cm / cm.sum(axis=1, keepdims=True))
    assert not at.get("audio")  # digits are images: no players


def test_a_cell_shows_its_examples(digits_run):
    run = digits_run
    ds = data.load("digits")
    te = ds.splits["test"]
    y, pred = ds.y[te], run.test.predictions
    cm = _reference_confusion(y, pred, 10)
    off = cm.copy()
    np.fill_diagonal(off, -1)
    i, j = np.unravel_index(off.argmax(), off.shape)  # the most frequent mistake
    at = _evaluate(run)
    at.selectbox(key="ev_true").set_value(int(i))
    at.selectbox(key="ev_pred").set_value(int(j)).run()
    assert not at.exception
    n = int(cm[i, j])
    assert any(f"**{n}** test examples of **{i}** predicted as **{j}**" in x.value
               for x in at.markdown)  # fmt: skip
    images = at.get("image")
    assert len(images) == 1 and len(images[0].proto.imgs) == min(n, 24)
    # the diagonal cell shows the right answers of that class
    at.selectbox(key="ev_pred").set_value(int(i)).run()
    assert any(f"**{cm[i, i]}** test examples" in x.value for x in at.markdown)


def test_live_validation_matrix_while_training():
    cm = np.array([[5, 1], [2, 7]])
    gate = threading.Event()
    recorded = threading.Event()

    def job(run):
        run.record(EpochEvent(epoch=1, epochs=3, train_loss=0.5, train_acc=0.8, val_loss=0.4,
                              val_acc=0.8, lr=1e-3, elapsed=0.1, is_best=True, best_epoch=1,
                              val_confusion=cm))  # fmt: skip
        recorded.set()
        gate.wait(TIMEOUT)
        return runs.Outcome(reason="finished")

    run = runs.Run(job, task=_task(("no", "yes")))
    runs.RunQueue(max_running=1).submit(run)
    try:
        assert recorded.wait(TIMEOUT)
        at = _evaluate(run)
        assert any("Validation confusion matrix after epoch 1" in h.value for h in at.subheader)
        np.testing.assert_array_equal(_z(at.get("plotly_chart")[0]), cm)
        m = {x.label: x.value for x in at.metric}
        assert m["Validation accuracy"] == f"{12 / 15:.1%}"
        table = at.dataframe[0].value
        assert table["recall"][1] == pytest.approx(7 / 9, abs=1e-4)
        assert table["precision"][0] == pytest.approx(5 / 7, abs=1e-4)
    finally:
        gate.set()
        run.wait(TIMEOUT)


def test_two_class_audio_task_roc_threshold_and_players(instruments_binary_run):
    run = instruments_binary_run
    assert run.task.binary and run.task.class_names == ("bell (FM)", "drum")
    assert run.task.classes == (4, 5) and run.task.representation == "log-mel"
    y = np.asarray(run.info.y_test)
    ds = run.info.dataset  # the page's (cached) dataset: labels of all 900 notes
    assert ds.name == "instruments" and len(ds.y) == 900
    np.testing.assert_array_equal(y, (ds.y[run.info.test_index] == 5).astype(int))
    score = run.test.probabilities[:, 1]
    # AUC as the probability that a positive outscores a negative (ties count half)
    pos, neg = score[y == 1], score[y == 0]
    auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    at = _evaluate(run)
    m = {x.label: x.value for x in at.metric}
    assert m["AUC"] == f"{auc:.3f}"
    at.slider(key="ev_threshold").set_value(0.3).run()
    tp = int(((score >= 0.3) & (y == 1)).sum())
    fp = int(((score >= 0.3) & (y == 0)).sum())
    m = {x.label: x.value for x in at.metric}
    assert m["True-positive rate"] == f"{tp / (y == 1).sum():.1%}"
    assert m["False-positive rate"] == f"{fp / (y == 0).sum():.1%}"
    two_by_two = _z(at.get("plotly_chart")[-1])
    np.testing.assert_array_equal(
        two_by_two, [[(y == 0).sum() - fp, fp], [(y == 1).sum() - tp, tp]]
    )
    # a cell of audio examples: each one drawn and playable
    pred = run.test.predictions
    at.selectbox(key="ev_true").set_value(1)
    at.selectbox(key="ev_pred").set_value(1).run()
    n = int(((y == 1) & (pred == 1)).sum())
    assert len(at.get("audio")) == min(n, 6)


def test_an_example_of_a_cell_opens_inside_the_network(digits_run):
    run = digits_run
    ds = data.load("digits")
    te = ds.splits["test"]
    y, pred = ds.y[te], run.test.predictions
    wrong = np.flatnonzero(y != pred)
    i, j = int(y[wrong[0]]), int(pred[wrong[0]])
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["train_run"] = run
    at.run()
    at.switch_page("pages/evaluate.py").run()
    at.selectbox(key="ev_true").set_value(i)
    at.selectbox(key="ev_pred").set_value(j).run()
    pick = at.selectbox(key="ev_inside_pick").value
    assert pick == int(te[wrong[0]])
    at.button(key="ev_inside").click().run()
    assert not at.exception, at.exception
    # the Inside page shows that very example, with the session's model
    assert at.selectbox(key="in_model").value == "session"
    said = " ".join(m.value for m in at.markdown)
    assert (
        f"True class **{ds.class_names[i]}**; the network says **{ds.class_names[j]}** (wrong)"
        in said
    )


def test_a_reload_finds_the_run_and_the_cell_from_the_link(digits_run):
    """The link holds the run and the page's settings: a reload (a new session) shows the
    same run at the same cell and scale, and Train then shows that run's settings."""
    run = digits_run
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT)
    at.query_params.update({"run": run.id, "ev_true": "3", "ev_pred": "5",
                            "ev_norm": "row-normalised"})  # fmt: skip
    at.run()
    assert not at.exception and at.session_state["train_run"] is run
    assert (at.selectbox(key="ev_true").value, at.selectbox(key="ev_pred").value) == (3, 5)
    assert at.radio(key="ev_norm").value == "row-normalised"
    assert {m.label for m in at.metric} >= {"Test accuracy", "Mistakes"}
    link = {k: at.query_params[k] for k in at.query_params}
    assert link["run"] == run.id and (link["ev_true"], link["ev_pred"]) == ("3", "5")
    # the Train page shows a run it did not start (here: one taken up on Evaluate) with the
    # run's own recipe, not its defaults
    train = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    train.session_state["train_run"] = run
    train.run()
    assert not train.exception
    assert train.number_input(key="tr_epochs").value == run.task.recipe.epochs == 1
    assert train.selectbox(key="tr_augment").value == "none"


@pytest.mark.parametrize(
    "query, said",
    [
        ({"run": "nosuchrun"}, "run named in this link is not on the server"),
        ({"run": "x" * 5000, "ev_true": "1e9"}, "run named in this link is not on the server"),
        ({"ev_true": "NaN", "ev_pred": "-1"}, "No model has been trained in this session"),
    ],
)
def test_a_link_to_a_run_that_is_gone_says_so(query, said):
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    assert any(said in i.value for i in at.info)


def test_a_links_cell_out_of_range_is_ignored(digits_run):
    """Class 10 of ten and a letter: both named in a sentence, and the page opens on the
    run's most frequent mistake, as it does without a link."""
    ds = data.load("digits")
    cm = _reference_confusion(ds.y[ds.splits["test"]], digits_run.test.predictions, 10)
    np.fill_diagonal(cm, -1)
    first = tuple(int(v) for v in np.unravel_index(cm.argmax(), cm.shape))
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT)
    at.query_params.update({"run": digits_run.id, "ev_true": "10", "ev_pred": "x"})
    at.run()
    assert not at.exception
    assert (at.selectbox(key="ev_true").value, at.selectbox(key="ev_pred").value) == first
    said = " ".join(w.value for w in at.warning)
    assert "ev_true=10" in said and "ev_pred=x" in said


def test_a_run_taken_up_on_evaluate_opens_on_train_with_its_recipe(digits_run):
    """One session: a reload of Evaluate takes the run up; the Train page then shows it with
    its own settings (1 epoch, no augmentation), not the page's defaults."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params.update({"run": digits_run.id})
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception and at.session_state["train_run"] is digits_run
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.number_input(key="tr_epochs").value == 1
    assert at.selectbox(key="tr_augment").value == "none"
    assert at.query_params["run"] == digits_run.id
