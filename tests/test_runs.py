"""Background training runs: the queue's cap and order, stop, failures, curves against events."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import UserInputError
from core.learn import runs
from core.learn.train import BatchEvent, EpochEvent, Recipe, TrainData, train

TIMEOUT = 60


def _gated_job(gate: threading.Event, log: list, name: str):
    """A fake job that records when it starts and waits for ``gate`` (or its stop)."""

    def job(run: runs.Run) -> runs.Outcome:
        log.append(name)
        while not gate.is_set() and not run.stop_event.is_set():
            time.sleep(0.005)
        return runs.Outcome(reason="stopped" if run.stop_event.is_set() else "finished")

    return job


def _until(cond, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


def _blobs(n=240, seed=0):
    """Two-class Gaussian blobs as (N, 1, 4, 4) 'images', easy to separate."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 1, 4, 4, generator=g) + (y.float() * 2 - 1).view(-1, 1, 1, 1) * 1.5
    return x, y


def _tiny_model(seed=0, outputs=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, outputs))


# ------------------------------------------------------------------------------- queue ----


def test_queue_caps_concurrent_runs_and_keeps_fifo_order():
    queue = runs.RunQueue(max_running=2)
    gates = [threading.Event() for _ in range(4)]
    log: list[str] = []
    rs = [runs.Run(_gated_job(g, log, f"r{i}")) for i, g in enumerate(gates)]
    for i, r in enumerate(rs):
        queue.submit(r, owner=f"session-{i}")
    assert _until(lambda: len(log) == 2)
    time.sleep(0.05)
    assert log == ["r0", "r1"]  # only two slots
    assert queue.n_running == 2 and queue.n_waiting == 2
    assert [r.status for r in rs] == ["running", "running", "queued", "queued"]
    assert [r.snapshot().queue_position for r in rs] == [None, None, 1, 2]

    gates[1].set()  # r1 ends: r2 (first in line) takes its slot, r3 moves up
    assert _until(lambda: rs[2].status == "running")
    assert rs[1].status == "done"
    assert rs[3].snapshot().queue_position == 1
    assert log == ["r0", "r1", "r2"]

    for g in gates:
        g.set()
    for r in rs:
        assert r.wait(TIMEOUT)
    assert log == ["r0", "r1", "r2", "r3"]
    assert [r.status for r in rs] == ["done"] * 4
    assert queue.n_running == 0 and queue.n_waiting == 0


def test_one_active_run_per_owner_and_stopping_a_waiting_run():
    queue = runs.RunQueue(max_running=1)
    gate = threading.Event()
    log: list[str] = []
    first = runs.Run(_gated_job(gate, log, "first"))
    queue.submit(first, owner="me")
    second = runs.Run(_gated_job(gate, log, "second"))
    with pytest.raises(UserInputError, match="one run per session"):
        queue.submit(second, owner="me")
    other = runs.Run(_gated_job(gate, log, "other"))
    queue.submit(other, owner="someone else")
    assert other.snapshot().queue_position == 1

    other.stop()  # withdrawn from the queue before it started
    assert other.status == "stopped" and "before it started" in other.snapshot().message
    assert queue.n_waiting == 0
    gate.set()
    assert first.wait(TIMEOUT)
    assert log == ["first"]  # the withdrawn run never ran
    # once the first has ended, the same owner may start again
    again = runs.Run(_gated_job(gate, log, "again"))
    queue.submit(again, owner="me")
    assert again.wait(TIMEOUT) and again.status == "done"


def test_a_gpu_caps_the_runs_by_its_memory(monkeypatch):
    monkeypatch.delenv("CNN_MAX_RUNS", raising=False)
    monkeypatch.setattr(runs.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(runs, "gpu_memory_gib", lambda: 8.0)  # a small card
    assert runs.max_runs_setting() == 4  # 8 GiB at 2 GiB a run, fewer than the 16 cores
    monkeypatch.setattr(runs, "gpu_memory_gib", lambda: 80.0)  # an H100
    assert runs.max_runs_setting() == 16  # the cores are the limit
    monkeypatch.setattr(runs, "gpu_memory_gib", lambda: 1.0)
    assert runs.max_runs_setting() == 1
    monkeypatch.setattr(runs, "gpu_memory_gib", lambda: None)  # no GPU
    assert runs.max_runs_setting() == 16
    monkeypatch.setenv("CNN_MAX_RUNS", "64")
    assert runs.max_runs_setting() == 64  # the setting wins


def test_max_runs_setting(monkeypatch):
    monkeypatch.setenv("CNN_MAX_RUNS", "3")
    assert runs.max_runs_setting() == 3
    assert runs.RunQueue().max_running == 3
    monkeypatch.setenv("CNN_MAX_RUNS", "zero")
    assert runs.max_runs_setting() == (__import__("os").cpu_count() or 1)
    monkeypatch.delenv("CNN_MAX_RUNS")
    assert runs.max_runs_setting() == (__import__("os").cpu_count() or 1)


def test_a_failing_job_reports_its_message():
    def bad_input(run):
        raise UserInputError("The learning rate must be a positive number.")

    def crash(run):
        raise RuntimeError("boom")

    queue = runs.RunQueue(max_running=2)
    a, b = runs.Run(bad_input), runs.Run(crash)
    queue.submit(a)
    queue.submit(b)
    assert a.wait(TIMEOUT) and b.wait(TIMEOUT)
    assert (a.status, a.snapshot().message) == (
        "failed",
        "The learning rate must be a positive number.",
    )
    assert b.status == "failed" and b.snapshot().message == "Training failed: RuntimeError: boom"


def test_thinned_series_keeps_a_regular_subset():
    t = runs._Thinned(limit=10)
    for s in range(1, 101):
        t.add(s, float(s) * 2)
    assert len(t.steps) <= 10
    stride = t.stride
    assert stride == 16 and t.steps == list(range(stride, 101, stride))
    assert t.values == [2.0 * s for s in t.steps]


# ------------------------------------------------------------------- real tiny training ----


def test_real_run_finishes_and_its_curves_match_the_events():
    x, y = _blobs()
    data = TrainData(x[:160], y[:160], x[160:200], y[160:200])
    recipe = Recipe(optimizer="adam", lr=0.05, batch_size=16, epochs=3)
    model = _tiny_model()
    events: list = []
    run = runs.Run.for_training(model, data, recipe, "cpu", x_test=x[200:], y_test=y[200:])
    original = run.record
    run.record = lambda e: (events.append(e), original(e))  # see what the trainer sent
    runs.RunQueue(max_running=1).submit(run)
    assert run.wait(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "done" and snap.progress == 1.0
    epoch_events = [e for e in events if isinstance(e, EpochEvent)]
    batch_events = [e for e in events if isinstance(e, BatchEvent)]
    assert [p.epoch for p in snap.epochs] == [1, 2, 3]
    for p, e in zip(snap.epochs, epoch_events, strict=True):
        assert (p.train_loss, p.train_acc, p.val_loss, p.val_acc) == (
            e.train_loss,
            e.train_acc,
            e.val_loss,
            e.val_acc,
        )
    assert snap.total_steps == 3 * 10 and snap.step == 30
    assert list(snap.batch_steps) == [e.step for e in batch_events]
    np.testing.assert_array_equal(snap.batch_losses, [e.loss for e in batch_events])
    np.testing.assert_array_equal(snap.val_confusion, epoch_events[-1].val_confusion)
    assert snap.val_confusion_epoch == 3
    # the test evaluation is that of the kept model, recomputed here with torch
    with torch.no_grad():
        ref_pred = model(x[200:]).argmax(1).numpy()
    np.testing.assert_array_equal(run.test.predictions, ref_pred)
    assert run.test.accuracy == pytest.approx(float((ref_pred == y[200:].numpy()).mean()))
    assert run.test.accuracy > 0.9  # well-separated blobs


def test_stop_mid_epoch_keeps_the_best_checkpoint():
    x, y = _blobs(seed=1)
    # noisy labels on the validation set make the best epoch not simply the last one
    data = TrainData(x[:160], y[:160], x[160:200], y[160:200])
    recipe = Recipe(optimizer="sgd", lr=0.2, momentum=0.9, batch_size=8, epochs=50)
    model = _tiny_model(seed=3)
    best: dict = {}
    stop_at = {"epoch": 4, "batch": 7}  # in the middle of epoch 4 (20 batches per epoch)

    def job(run: runs.Run) -> runs.Outcome:
        def on_event(e):
            run.record(e)
            if isinstance(e, EpochEvent) and e.is_best:
                best["epoch"] = e.epoch
                best["state"] = {k: v.clone() for k, v in model.state_dict().items()}
            if isinstance(e, BatchEvent) and (e.epoch, e.batch) == tuple(stop_at.values()):
                run.stop()  # as the Stop button does, from inside the epoch

        result = train(model, data, recipe, "cpu", on_event=on_event, stop=run.stop_event)
        return runs.Outcome(model=model, reason=result.reason, message=result.message)

    run = runs.Run(job)
    runs.RunQueue(max_running=1).submit(run)
    assert run.wait(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "stopped"
    assert "during epoch 4" in snap.message
    assert [p.epoch for p in snap.epochs] == [1, 2, 3]  # epoch 4 never finished
    assert snap.step == 3 * 20 + 7 and snap.progress == pytest.approx(67 / 1000)
    assert snap.best_epoch == best["epoch"]
    for k, v in run.model.state_dict().items():
        torch.testing.assert_close(v, best["state"][k], rtol=0, atol=0)


def test_stop_from_another_thread_ends_a_real_run_early():
    x, y = _blobs(n=2000, seed=2)
    data = TrainData(x[:1600], y[:1600], x[1600:], y[1600:])
    recipe = Recipe(optimizer="adam", lr=1e-3, batch_size=4, epochs=200)
    run = runs.Run.for_training(
        _tiny_model(), data, recipe, "cpu", x_test=x[1600:], y_test=y[1600:]
    )
    runs.RunQueue(max_running=1).submit(run)
    assert _until(lambda: run.snapshot().step >= 5)
    snap = run.snapshot()
    assert snap.status == "running" and snap.eta is not None and snap.eta > 0
    run.stop()
    assert run.wait(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.step < snap.total_steps
    assert run.test is not None  # the kept weights are still scored on the test set


def test_nan_loss_fails_the_run_with_the_trainers_message():
    x, y = _blobs()
    x = x.clone()
    x[:] = float("nan")
    data = TrainData(x[:160], y[:160], x[160:200], y[160:200])
    run = runs.Run.for_training(_tiny_model(), data, Recipe(lr=0.01, epochs=2), "cpu")
    runs.RunQueue(max_running=1).submit(run)
    assert run.wait(TIMEOUT)
    snap = run.snapshot()
    assert snap.status == "failed"
    assert "diverged" in snap.message and "smaller learning rate" in snap.message


def test_bad_recipe_is_refused_before_queueing():
    x, y = _blobs()
    data = TrainData(x, y)
    with pytest.raises(UserInputError, match="learning rate"):
        runs.Run.for_training(_tiny_model(), data, Recipe(lr=0.0), "cpu")
    with pytest.raises(UserInputError, match="batch size"):
        runs.Run.for_training(_tiny_model(), data, Recipe(batch_size=0), "cpu")


# ---------------------------------------------------------------------------- tasks ----


def test_a_two_class_task_relabels_and_keeps_split_indices():
    from core.data import shipped as datasets
    from core.learn import task as tasks

    ds = datasets.load("digits")
    inputs = datasets.model_inputs(ds)
    task = tasks.make_task(ds, inputs, classes=(3, 8))
    assert task.binary and task.class_names == ("3", "8") and task.n_outputs == 1
    assert task.head == "sigmoid" and task.classes == (3, 8)
    part = tasks.split(ds, inputs, classes=(3, 8))
    expected = [i for i in ds.splits["test"] if ds.y[i] in (3, 8)]
    assert list(part.test_index) == expected
    np.testing.assert_array_equal(part.y_test.numpy(), (ds.y[expected] == 8).astype(np.int64))
    torch.testing.assert_close(part.x_test, torch.as_tensor(ds.x[expected]))
    assert len(part.data.x_train) == sum(ds.y[i] in (3, 8) for i in ds.splits["train"])
    with pytest.raises(UserInputError, match="two different classes"):
        tasks.make_task(ds, inputs, classes=(2, 2))
    full = tasks.make_task(ds, inputs)
    assert not full.binary and full.n_outputs == 10 and full.head == "softmax"
    assert len(tasks.split(ds, inputs).y_test) == len(ds.splits["test"])


def test_check_outputs_names_the_needed_width():
    from core.data import shipped as datasets
    from core.explain.summary import summarize
    from core.learn import task as tasks

    ds = datasets.load("digits")
    task = tasks.make_task(ds, datasets.model_inputs(ds))
    ok = summarize([{"type": "flatten"}, {"type": "dense", "units": 10}], (1, 28, 28))
    tasks.check_outputs(ok, task)
    wrong = summarize([{"type": "flatten"}, {"type": "dense", "units": 4}], (1, 28, 28))
    with pytest.raises(UserInputError, match="out_features to 10"):
        tasks.check_outputs(wrong, task)
    maps = summarize([{"type": "conv2d", "filters": 4, "kernel_size": 3}], (1, 28, 28))
    with pytest.raises(UserInputError, match="add Flatten"):
        tasks.check_outputs(maps, task)


def test_format_seconds():
    assert runs.format_seconds(None) == "…"
    assert runs.format_seconds(42.4) == "42 s"
    assert runs.format_seconds(65) == "1 min 05 s"


def test_a_run_whose_session_has_gone_is_stopped_and_a_waiting_one_skipped(monkeypatch):
    monkeypatch.setattr(runs, "ORPHAN_GRACE", 0.0)
    x, y = _blobs(n=2000, seed=4)
    data = TrainData(x[:1600], y[:1600], x[1600:], y[1600:])
    recipe = Recipe(optimizer="adam", lr=1e-3, batch_size=4, epochs=200)
    connected = {"a": True, "b": True}
    queue = runs.RunQueue(max_running=1)
    a = runs.Run.for_training(_tiny_model(), data, recipe, "cpu")
    b = runs.Run.for_training(_tiny_model(), data, recipe, "cpu")
    queue.submit(a, owner="a", alive=lambda: connected["a"])
    queue.submit(b, owner="b", alive=lambda: connected["b"])
    assert _until(lambda: a.snapshot().step >= 3)
    connected["b"] = False  # b's tab closes while it waits
    connected["a"] = False  # then a's tab closes while it trains
    assert a.wait(TIMEOUT) and b.wait(TIMEOUT)
    assert a.status == "stopped" and "session that started it has closed" in a.snapshot().message
    assert a.snapshot().step < a.snapshot().total_steps
    assert b.status == "stopped" and b.snapshot().step == 0  # never trained
    assert queue.n_running == 0 and queue.n_waiting == 0


def test_runs_share_the_cores_instead_of_each_taking_all():
    from core.learn.runs import threads_per_run

    assert threads_per_run(2, cores=2) == 1
    assert threads_per_run(1, cores=16) == 16
    assert threads_per_run(4, cores=16) == 4
    assert threads_per_run(64, cores=16) == 1


def test_a_run_caps_torch_threads_for_the_queue(monkeypatch):
    import torch

    from core.learn import runs

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(runs.os, "cpu_count", lambda: 8)
        assert runs.cap_torch_threads(4) == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_server_settings_chosen_for_a_hall():
    import tomllib
    from pathlib import Path

    config = tomllib.loads(
        (Path(__file__).parent.parent / ".streamlit" / "config.toml").read_text()
    )
    assert config["runner"]["postScriptGC"] is False


def test_the_time_left_is_measured_from_the_first_batch_not_the_start_up():
    """Stopped while starting, a run read 'about 293 min left' at step 1: its first batch
    carried the 22 s of loading and building."""
    from core.learn.train import BatchEvent

    run = runs.Run(lambda _run: None)
    run._status = runs.RUNNING  # as the queue sets it when the run starts

    def batch(step, elapsed):
        return BatchEvent(epoch=1, batch=step, n_batches=110, step=step, total_steps=880,
                          loss=1.0, lr=0.01, elapsed=elapsed)  # fmt: skip

    run.record(batch(1, 22.0))
    assert run.snapshot().eta is None  # one step: no rate yet
    run.record(batch(2, 22.1))
    run.record(batch(3, 22.2))
    assert run.snapshot().eta == pytest.approx(0.1 * (880 - 3))
