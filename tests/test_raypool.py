"""Runs on Ray (core.learn.raypool), against a local Ray started here: the same events as in
this process, Stop, a killed task, and a run of the queue sent to Ray by the setting."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from core.errors import UserInputError
from core.learn import pool as pools
from core.learn import raypool, runs
from core.learn.train import BatchEvent, EndEvent, EpochEvent
from tests.test_pool import _in_thread, _job, _until

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
TIMEOUT = 180


@pytest.fixture(scope="module")
def ray_pool():
    pool = raypool.RayPool(init={"num_cpus": 2, "object_store_memory": 200 * 1024**2})
    yield pool
    pool.close()


def test_a_ray_task_trains_exactly_what_this_process_trains(ray_pool):
    job = _job()
    here, there = [], []
    m1, t1, r1, _ = pools.run_job_here(job, on_event=here.append, stop=threading.Event())
    m2, t2, r2, _ = ray_pool.run_job(job, on_event=there.append, stop=threading.Event())
    assert r1 == r2 == "finished"
    assert [type(e) for e in here] == [type(e) for e in there]  # every event, in order
    for a, b in zip(here, there, strict=True):
        if isinstance(a, BatchEvent):
            assert (a.step, a.loss) == (b.step, b.loss)
        elif isinstance(a, EpochEvent):
            assert (a.train_loss, a.val_acc) == (b.train_loss, b.val_acc)
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(m2.state_dict()[k], v, rtol=0, atol=0)
    assert t1.accuracy == t2.accuracy > 0.7


def test_stop_reaches_the_ray_task(ray_pool):
    events: list = []
    stop = threading.Event()
    t, box = _in_thread(ray_pool, _job(n=2000, epochs=200, batch_size=4), events, stop)
    assert _until(lambda: any(isinstance(e, BatchEvent) for e in events), TIMEOUT)
    asked = time.monotonic()
    stop.set()
    t.join(TIMEOUT)
    assert "error" not in box, box.get("error")
    assert box["result"][2] == "stopped" and time.monotonic() - asked < 3.0
    assert isinstance(events[-1], EndEvent) and events[-1].reason == "stopped"


def test_a_killed_ray_worker_fails_its_run_with_a_sentence(ray_pool):
    events: list = []
    t, box = _in_thread(ray_pool, _job(n=2000, epochs=200, batch_size=4, seed=3), events,
                    threading.Event())  # fmt: skip
    assert _until(lambda: any(isinstance(e, BatchEvent) for e in events), TIMEOUT)
    (pid,) = ray_pool.pids
    os.kill(pid, signal.SIGKILL)
    t.join(TIMEOUT)
    assert isinstance(box.get("error"), UserInputError), box
    assert "ended unexpectedly" in str(box["error"])
    _, test, reason, _ = ray_pool.run_job(_job(), on_event=lambda e: None, stop=threading.Event())
    assert reason == "finished" and test.accuracy > 0.7  # the cluster goes on


def test_a_job_that_cannot_be_built_fails_with_its_own_sentence_on_ray(ray_pool):
    bad = _job(spec=[{"type": "flatten"}, {"type": "dense", "units": 10**9}])
    with pytest.raises(UserInputError, match="parameters"):
        ray_pool.run_job(bad, on_event=lambda e: None, stop=threading.Event())


def test_the_setting_sends_the_queue_s_runs_to_ray(ray_pool, monkeypatch):
    monkeypatch.delenv("CNN_RUNS", raising=False)
    monkeypatch.setenv("CNN_RAY_ADDRESS", "auto")
    monkeypatch.setattr(raypool, "_POOL", ray_pool)
    assert pools.backend_setting() == "ray" and raypool.ray_address() == "auto"
    run = runs.Run.for_job(_job())
    runs.RunQueue(max_running=2).submit(run, owner="student")
    assert run.wait(TIMEOUT)
    snap = run.snapshot()
    assert run.backend == "ray" and snap.status == "done", snap.message
    assert [e.epoch for e in snap.epochs] == [1, 2, 3] and run.test.accuracy > 0.7


def test_the_cluster_chooses_the_device_when_runs_go_to_ray(ray_pool, monkeypatch):
    """A replica without a GPU sends runs to GPU workers when the cluster has one; the model
    that comes back lives on this machine's CPU."""
    monkeypatch.setenv("CNN_RUNS", "ray")
    monkeypatch.setattr(raypool, "get_ray_pool", lambda: ray_pool)
    monkeypatch.setattr(pools, "_GPU_ANSWER", [])
    assert not ray_pool.has_gpu()  # the local cluster here: two CPUs
    assert pools.run_device("auto").type == "cpu"  # even on a web server with a GPU
    with pytest.raises(UserInputError, match="No node of the Ray cluster has a GPU"):
        pools.run_device("cuda")
    monkeypatch.setattr(ray_pool._ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": 1.0})
    assert ray_pool.has_gpu()
    assert pools.run_device("auto").type == "cpu"  # the cluster's answer is kept a while
    pools._GPU_ANSWER.clear()
    assert pools.run_device("auto").type == "cuda"
    assert pools.run_device("cpu").type == "cpu"  # asked for, taken
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert raypool.here_device("cuda") == expected
    assert raypool.here_device("cpu") == "cpu"


def test_an_unreachable_cluster_is_a_sentence(monkeypatch):
    monkeypatch.setenv("CNN_RUNS", "ray")
    monkeypatch.setattr(pools, "_GPU_ANSWER", [])
    calls = []

    def down():
        calls.append(1)
        raise ConnectionError("no cluster")

    monkeypatch.setattr(raypool, "get_ray_pool", down)
    for _ in range(3):  # a page's reruns: the failure is kept, the cluster asked once
        with pytest.raises(UserInputError, match="cannot be reached \\(ConnectionError\\)"):
            pools.run_device("auto")
    assert len(calls) == 1
    monkeypatch.setenv("CNN_RUNS", "process")
    assert pools.run_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
