"""Training in worker processes (core.learn.pool): parallel runs, stop, a killed worker, the
same curves as in this process, and what the run queue keeps once runs end."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from core.errors import UserInputError
from core.learn import pool as pools
from core.learn import runs
from core.learn.train import BatchEvent, EndEvent, EpochEvent, Recipe, TrainData
from tests.test_runs import _until

TIMEOUT = 120
SPEC = [{"type": "flatten"}, {"type": "dense", "units": 8}, {"type": "relu"},
        {"type": "dropout", "p": 0.3}, {"type": "dense", "units": 2}]  # fmt: skip


def _job(*, n=240, epochs=3, batch_size=16, seed=0, spec=SPEC) -> pools.TrainJob:
    """Two Gaussian blobs as (N, 1, 4, 4) 'images'; dropout makes the run's RNG matter."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 1, 4, 4, generator=g) + (y.float() * 2 - 1).view(-1, 1, 1, 1) * 0.7
    a, b = int(n * 0.6), int(n * 0.8)
    data = TrainData(x[:a], y[:a], x[a:b], y[a:b])
    recipe = Recipe(optimizer="adam", lr=0.01, batch_size=batch_size, epochs=epochs, seed=seed)
    return pools.TrainJob(spec=spec, input_shape=(1, 4, 4), data=data, recipe=recipe,
                          device="cpu", x_test=x[b:], y_test=y[b:])  # fmt: skip


@pytest.fixture(scope="module")
def pool():
    p = pools.ProcessPool(size=2, threads=1, warm=2)
    yield p
    p.close()


def _in_thread(pool, job, events, stop):
    box: dict = {}

    def go():
        try:
            box["result"] = pool.run_job(job, on_event=events.append, stop=stop)
        except Exception as err:  # noqa: BLE001 - the test reads it
            box["error"] = err

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def test_a_worker_trains_exactly_what_this_process_trains(pool):
    job = _job()
    here, there = [], []
    m1, t1, r1, msg1 = pools.run_job_here(job, on_event=here.append, stop=threading.Event())
    m2, t2, r2, msg2 = pool.run_job(job, on_event=there.append, stop=threading.Event())
    assert (r1, msg1) == (r2, msg2) == ("finished", msg1)
    kinds = [type(e) for e in here]
    assert kinds == [type(e) for e in there] and kinds[-1] is EndEvent
    for a, b in zip(here, there, strict=True):  # every batch loss, every epoch's scores
        if isinstance(a, BatchEvent):
            assert (a.step, a.loss) == (b.step, b.loss)
        elif isinstance(a, EpochEvent):
            assert (a.train_loss, a.val_loss, a.val_acc) == (b.train_loss, b.val_loss, b.val_acc)
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(m2.state_dict()[k], v, rtol=0, atol=0)
    assert t1.accuracy == t2.accuracy and (t1.confusion == t2.confusion).all()
    assert t1.accuracy > 0.7  # it learned the blobs


def test_two_runs_train_at_the_same_time_in_two_processes(pool):
    logs: list[list] = [[], []]  # (arrival time here, event)
    threads = []
    assert _until(lambda: len(pool.pids) == 2)  # both workers started (one may still import)
    for i in range(2):
        on_event = (lambda log: lambda e: log.append((time.monotonic(), e)))(logs[i])
        box: dict = {}

        def go(box=box, on_event=on_event, seed=i):
            box["result"] = pool.run_job(_job(n=2000, epochs=25, batch_size=4, seed=seed),
                                         on_event=on_event, stop=threading.Event())  # fmt: skip

        t = threading.Thread(target=go, daemon=True)
        t.start()
        threads.append((t, box))
    assert _until(lambda: all(logs))
    pids = set(pool.pids)
    for t, box in threads:
        t.join(TIMEOUT)
        assert box["result"][2] == "finished"
    assert len(pids) == 2 and os.getpid() not in pids
    first = [log[0][0] for log in logs]
    last = [log[-1][0] for log in logs]
    assert isinstance(logs[0][-1][1], EndEvent) and isinstance(logs[1][-1][1], EndEvent)
    assert first[0] < last[1] and first[1] < last[0]  # each began before the other ended
    # and neither waited for the other: each trained for most of the time they overlap
    overlap = min(last) - max(first)
    assert overlap > 0.5 * min(b - a for a, b in zip(first, last, strict=True))


def test_stop_reaches_the_worker_before_its_next_batches(pool):
    events: list = []
    stop = threading.Event()
    t, box = _in_thread(pool, _job(n=2000, epochs=200, batch_size=4), events, stop)
    assert _until(lambda: any(isinstance(e, BatchEvent) for e in events))
    asked = time.monotonic()
    stop.set()
    t.join(TIMEOUT)
    waited = time.monotonic() - asked
    assert "error" not in box, box.get("error")
    model, test, reason, message = box["result"]
    assert reason == "stopped" and waited < 2.0, (reason, waited)
    assert isinstance(events[-1], EndEvent) and events[-1].reason == "stopped"
    assert model is not None and test is not None  # the best weights so far, evaluated


def test_a_stop_pressed_before_the_worker_began_is_not_lost(pool):
    stop = threading.Event()
    stop.set()  # Stop pressed while the run waited
    model, _, reason, message = pool.run_job(_job(), on_event=lambda e: None, stop=stop)
    assert (model, reason) == (None, "stopped") and "no training was done" in message
    # Stop pressed while the worker takes the job (the page still says "Starting")
    stop = threading.Event()
    threading.Timer(0.01, stop.set).start()
    started = time.monotonic()
    _, _, reason, _ = pool.run_job(_job(n=2000, epochs=200, batch_size=4),
                                   on_event=lambda e: None, stop=stop)  # fmt: skip
    assert reason == "stopped" and time.monotonic() - started < 20
    _, _, reason, _ = pool.run_job(_job(), on_event=lambda e: None, stop=threading.Event())
    assert reason == "finished"  # the next run on that worker is not stopped by it


def test_a_killed_worker_fails_its_run_with_a_sentence_and_is_replaced(pool):
    events: list = []
    before = pool.replaced
    t, box = _in_thread(pool, _job(n=2000, epochs=200, batch_size=4), events, threading.Event())
    assert _until(lambda: any(isinstance(e, BatchEvent) for e in events))
    busy = [w.pid for w in pool._busy]
    assert len(busy) == 1
    os.kill(busy[0], signal.SIGKILL)  # as the kernel's out-of-memory killer would
    t.join(TIMEOUT)
    assert isinstance(box.get("error"), UserInputError)
    assert "ended unexpectedly" in str(box["error"])
    assert pool.replaced == before + 1 and busy[0] not in pool.pids
    events2: list = []
    model, test, reason, _ = pool.run_job(_job(), on_event=events2.append,
                                          stop=threading.Event())  # fmt: skip
    assert reason == "finished" and test.accuracy > 0.7  # the pool goes on


def test_a_job_that_cannot_be_built_fails_with_its_own_sentence(pool):
    bad = _job(spec=[{"type": "flatten"}, {"type": "dense", "units": 10**9}])
    with pytest.raises(UserInputError, match="parameters"):
        pool.run_job(bad, on_event=lambda e: None, stop=threading.Event())
    _, test, reason, _ = pool.run_job(_job(), on_event=lambda e: None, stop=threading.Event())
    assert reason == "finished"  # the same worker serves the next run


def test_a_queued_run_in_the_pool_matches_the_same_run_in_a_thread(monkeypatch):
    from core.data import shipped as data
    from core.learn import task as tasks

    # the same torch thread count on both sides (the server's shared pool keeps the size of
    # whichever caller made it first; with two threads, sums may be added in another order)
    own = pools.ProcessPool(2, threads=runs.threads_per_run(2))
    monkeypatch.setattr(pools, "_POOL", own)
    ds = data.load("digits")
    plan = tasks.plan_preset(ds, tasks.inputs_for(ds, tasks.reads_for_preset(ds, "digits_cnn")),
                             "digits_cnn").with_recipe(epochs=1)  # fmt: skip
    queue = runs.RunQueue(max_running=2)
    a = runs.start_training(plan, "cpu", dataset=ds, queue=queue, backend="process",
                            owner="a")  # fmt: skip
    b = runs.start_training(plan, "cpu", dataset=ds, queue=queue, backend="thread", owner="b")
    assert a.wait(TIMEOUT) and b.wait(TIMEOUT)
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.status == sb.status == "done", (sa.message, sb.message)
    assert [e.train_loss for e in sa.epochs] == [e.train_loss for e in sb.epochs]
    assert sa.batch_losses.tolist() == sb.batch_losses.tolist() and len(sa.batch_losses) > 50
    assert a.test.accuracy == b.test.accuracy > 0.9
    assert a.backend == "process" and b.backend == "thread"
    assert queue.n_owners == 0  # ended runs hold no place in the queue
    own.close()


def test_ended_runs_are_forgotten_once_their_session_has_gone(monkeypatch):
    monkeypatch.setattr(runs, "ORPHAN_GRACE", 0.0)
    connected = {"first": True, "second": True}
    queue = runs.RunQueue(max_running=1)
    job = _job(epochs=1)
    run = runs.Run.for_job(job, backend="thread")
    queue.submit(run, owner="first", alive=lambda: connected["first"])
    runs.register(run)
    assert run.wait(TIMEOUT) and run.status == "done"
    assert runs.find(run.id) is run  # a reload finds it while its page is open
    queue.adopt(run, owner="second", alive=lambda: connected["second"])  # another tab
    connected["second"] = False
    assert runs.find(run.id) is run  # that tab closing does not free it: the first holds it
    connected["second"], connected["first"] = True, False
    assert runs.find(run.id) is run  # nor the first closing while the second is open
    connected["second"] = False
    assert runs.find(run.id) is None  # both gone: the server lets go of the run and its model
    assert queue.n_owners == 0


def test_only_a_session_s_latest_run_stays_findable():
    queue = runs.RunQueue(max_running=1)
    first, second = (runs.Run.for_job(_job(epochs=1), backend="thread") for _ in range(2))
    queue.submit(first, owner="student")
    runs.register(first)
    assert first.wait(TIMEOUT)
    queue.submit(second, owner="student")
    runs.register(second)
    assert second.wait(TIMEOUT)
    assert runs.find(first.id) is None and runs.find(second.id) is second
    assert first._job is None and second._job is None  # a finished run keeps no training data


@pytest.mark.parametrize("asked", [None, "", "x", "../../etc/passwd", "a" * 100, 12345678,
                                   "<script>alert(1)</script>", "unknown-run-id"])  # fmt: skip
def test_a_hostile_run_id_finds_nothing(asked):
    assert runs.find(asked) is None


def test_the_backend_setting(monkeypatch):
    monkeypatch.delenv("CNN_RUNS", raising=False)
    assert pools.backend_setting() == "process"
    monkeypatch.setenv("CNN_RUNS", "thread")
    assert pools.backend_setting() == "thread"
    with pytest.raises(UserInputError, match="Unknown place"):
        runs.Run.for_job(_job(), backend="gpu-farm")


def test_idle_workers_beyond_the_warm_one_are_ended_after_a_peak():
    p = pools.ProcessPool(size=3, threads=1, warm=1, idle_seconds=0.5)
    try:
        threads = [threading.Thread(target=p.run_job, args=(_job(n=1200, epochs=6, seed=i),),
                                    kwargs={"on_event": lambda e: None,
                                            "stop": threading.Event()})
                   for i in range(3)]  # fmt: skip
        for t in threads:
            t.start()
        assert _until(lambda: len(p.pids) >= 3, 60)  # the peak: a worker for each run
        for t in threads:
            t.join(TIMEOUT)
        assert _until(lambda: len(p.pids) == 1, 30)  # then the reaper ends all but one
        _, _, reason, _ = p.run_job(_job(), on_event=lambda e: None, stop=threading.Event())
        assert reason == "finished"  # the warm one serves the next run
    finally:
        p.close()


def test_a_worker_runs_the_pretrained_comparison_and_reports_its_progress(pool):
    from core.data import shipped as data
    from core.learn.transfer import Comparison

    ds = data.synth_instruments(n_per_class=6)
    said: list = []
    result = pool.call("transfer.compare", {"ds": ds, "mode": "frozen", "epochs": 2},
                       on_progress=lambda f, s: said.append((f, s)))  # fmt: skip
    assert isinstance(result, Comparison)
    assert result.class_names == tuple(ds.class_names)
    assert len(result.scratch.history) == len(result.pretrained.history) == 2
    assert said[0][0] == 0.0 and said[-1] == (1.0, "Done")  # relayed as the worker went
    with pytest.raises(UserInputError, match="Unknown mode"):
        pool.call("transfer.compare", {"ds": ds, "mode": "bogus", "epochs": 2})
    with pytest.raises(UserInputError, match="Unknown computation"):
        pool.call("os.system", {"command": "true"})


def test_nothing_takes_more_workers_than_the_pool_has():
    """A comparison does not pass through the run queue: with every worker busy it waits for
    one to come back rather than start a process (and torch) beyond the pool's size."""
    small = pools.ProcessPool(size=1, threads=1)
    try:
        first = small._take()
        waited, got = threading.Event(), {}

        def second():
            got["worker"] = small._take(threading.Event(), on_wait=waited.set)

        t = threading.Thread(target=second, daemon=True)
        t.start()
        assert waited.wait(10)
        time.sleep(0.5)
        assert "worker" not in got and len(small._busy) == 1  # no second process
        small._give_back(first, healthy=True)
        t.join(10)
        assert got["worker"] is first  # the one given back
        stop = threading.Event()
        stop.set()
        with pytest.raises(pools.StoppedWaiting):
            small._take(stop)  # stopped while every worker is busy: nothing runs
    finally:
        small.close()


def test_a_run_says_it_waits_while_a_comparison_holds_every_worker(monkeypatch):
    """A comparison takes workers outside the run queue: a run the queue started then waits
    for one, and its snapshot says so (the page showed "Starting" for the whole wait)."""
    from core.data import shipped as data
    from core.learn import task as tasks

    own = pools.ProcessPool(1, threads=1)
    monkeypatch.setattr(pools, "_POOL", own)
    held = own._take()  # what a running comparison holds
    try:
        ds = data.load("digits")
        plan = tasks.plan_preset(ds, tasks.inputs_for(ds, tasks.reads_for_preset(ds, "digits_cnn")),
                                 "digits_cnn").with_recipe(epochs=1)  # fmt: skip
        run = runs.start_training(plan, "cpu", dataset=ds, queue=runs.RunQueue(max_running=1),
                                  backend="process", owner="a")  # fmt: skip
        assert _until(lambda: run.snapshot().waiting_for_worker, 30)
        snap = run.snapshot()
        assert snap.status == runs.RUNNING and snap.step == 0
        own._give_back(held, healthy=True)
        held = None
        assert run.wait(TIMEOUT)
        snap = run.snapshot()
        assert snap.status == "done" and not snap.waiting_for_worker and snap.step > 0
    finally:
        if held is not None:
            own._give_back(held, healthy=True)
        own.close()
