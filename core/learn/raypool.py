"""Runs on a Ray cluster, for a hall that one machine cannot carry.

When ``CNN_RAY_ADDRESS`` (or Ray's own ``RAY_ADDRESS``) is set, core.learn.runs hands each run
to :class:`RayPool` instead of the local worker processes (core.learn.pool). The page sees
the same run: the same events, Stop, and a failed run with a sentence when the process
training it dies. A run asks Ray for one CPU, or for a fraction of a GPU (``GPU_FRACTION``)
when it trains on CUDA, so many small runs share one card.

How it works: a small actor per run (:class:`_Channel`) holds the run's events and its stop
flag; the training task (:func:`_train_task`) pushes bundles of events into it and reads the
flag a few times a second; this process takes the events out and, once the task is done,
rebuilds the model from the best weights it returned. Workers must be able to import this
app (the same code at the same place, as the deploy/ image has it); :class:`RayPool` adds the
app's folder to the workers' PYTHONPATH.

Example::

    pool = RayPool("auto")  # or RayPool(init={"num_cpus": 2}) for a local Ray
    model, test, reason, message = pool.run_job(job, on_event=print, stop=threading.Event())
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from core.errors import UserInputError
from core.learn.pool import POLL_SECONDS, WORKER_DIED, _Relay, build_seeded, run_job_here

GPU_FRACTION = 0.25  # of one GPU per CUDA run: four small runs share a card
STOP_CHECK_SECONDS = 0.3  # how often a training task asks whether it should stop
APP_ROOT = str(Path(__file__).resolve().parents[2])


def ray_address() -> str | None:
    """The Ray cluster to train on: ``CNN_RAY_ADDRESS``, else ``RAY_ADDRESS``; None when unset."""
    for name in ("CNN_RAY_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class _Channel:
    """One run's mailbox on the cluster: events one way, the stop flag the other."""

    def __init__(self) -> None:
        self._events: list = []
        self._stop = False
        self._pid: int | None = None

    def started(self, pid: int) -> None:
        self._pid = pid

    def pid(self) -> int | None:
        return self._pid

    def put(self, events: list) -> None:
        self._events.extend(events)

    def take(self) -> list:
        out, self._events = self._events, []
        return out

    def stop(self) -> None:
        self._stop = True

    def stopped(self) -> bool:
        return self._stop


class _RemoteStop:
    """The trainer's stop flag, read from the run's channel at most every few tenths of a second."""

    def __init__(self, channel) -> None:
        self._channel, self._set, self._last = channel, False, 0.0

    def is_set(self) -> bool:
        import ray

        now = time.monotonic()
        if not self._set and now - self._last >= STOP_CHECK_SECONDS:
            self._last = now
            self._set = bool(ray.get(self._channel.stopped.remote()))
        return self._set


def _remote_relay(channel) -> _Relay:
    """The trainer's events into the run's channel (actor calls keep their order)."""
    return _Relay(lambda events: channel.put.remote(events))


def _delivered(relay: _Relay, channel) -> None:
    """Send what is left and wait until the channel holds it (the server reads the channel
    once the task has returned)."""
    import ray

    relay.flush()
    ray.get(channel.put.remote([]))  # after every earlier put: actor calls keep their order


def _train_task(job, channel) -> tuple:
    """What runs on a Ray worker: build, train and evaluate ``job``; return plain results."""
    import ray

    ray.get(channel.started.remote(os.getpid()))
    relay = _remote_relay(channel)
    try:
        model, test, reason, message = run_job_here(job, on_event=relay,
                                                    stop=_RemoteStop(channel))  # fmt: skip
        _delivered(relay, channel)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return ("done", state, test, reason, message)
    except UserInputError as err:
        _delivered(relay, channel)
        return ("input_error", str(err))
    except Exception as err:  # noqa: BLE001 - reported to the run as a sentence
        _delivered(relay, channel)
        return ("error", f"Training failed: {type(err).__name__}: {err}", traceback.format_exc())


def here_device(device: str) -> str:
    """Where the web server keeps a model trained on ``device`` by a worker: the same device
    when this machine has it, else the CPU (a GPU worker's model on a replica without one)."""
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return str(device)


class RayPool:
    """Trains runs as Ray tasks, with the interface of core.learn.pool.ProcessPool.

    Parameters
    ----------
    address : the cluster ("auto", "ray://head:10001", ...); None starts a local Ray
    init : more keyword arguments for ``ray.init`` (e.g. ``num_cpus`` for a local Ray)
    """

    def __init__(self, address: str | None = None, *, init: dict | None = None) -> None:
        import ray

        if not ray.is_initialized():
            env = {"PYTHONPATH": os.pathsep.join(p for p in (APP_ROOT, os.environ.get(
                "PYTHONPATH", "")) if p)}  # fmt: skip
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env}, **(init or {}))  # fmt: skip
        self._ray = ray
        self._channel = ray.remote(num_cpus=0)(_Channel)
        self._task = ray.remote(max_retries=0)(_train_task)
        self._lock = threading.Lock()
        self._channels: dict[int, object] = {}  # id(job) -> channel, while a run trains

    @property
    def pids(self) -> list[int]:
        """Process ids of the Ray workers training runs now (once they have started)."""
        with self._lock:
            channels = list(self._channels.values())
        return [p for p in self._ray.get([c.pid.remote() for c in channels]) if p]

    def run_job(self, job, *, on_event: Callable, stop) -> tuple:
        """Train ``job`` on the cluster; see core.learn.pool.ProcessPool.run_job."""
        ray = self._ray
        channel = self._channel.remote()
        options = {"num_cpus": 1}
        if str(job.device).startswith("cuda"):
            options["num_gpus"] = GPU_FRACTION
        ref = self._task.options(**options).remote(job, channel)
        with self._lock:
            self._channels[id(job)] = channel
        sent_stop = False
        try:
            while True:
                if stop.is_set() and not sent_stop:
                    channel.stop.remote()
                    sent_stop = True
                    if ray.get(channel.pid.remote()) is None:  # still waiting for a worker
                        ray.cancel(ref)
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                for event in ray.get(channel.take.remote()):
                    on_event(event)
                if ready:
                    break
            msg = ray.get(ref)
        except (ray.exceptions.RayError, OSError) as err:
            if isinstance(err, ray.exceptions.TaskCancelledError):
                raise UserInputError("Stopped before it started: no training was done.") from err
            if isinstance(err, ray.exceptions.RayTaskError):  # our code failed outside train()
                cause = getattr(err, "cause", None) or err
                failed = RuntimeError(f"Training failed: {type(cause).__name__}: {cause}")
                failed.worker_traceback = str(err)
                raise failed from err
            raise UserInputError(WORKER_DIED) from err
        finally:
            with self._lock:
                self._channels.pop(id(job), None)
            ray.kill(channel)
        if msg[0] == "input_error":
            raise UserInputError(msg[1])
        if msg[0] == "error":
            err = RuntimeError(msg[1])
            err.worker_traceback = msg[2]
            raise err
        _, state, test, reason, message = msg
        model = build_seeded(job.spec, job.input_shape, job.recipe.seed)
        model.load_state_dict(state)
        return model.to(here_device(job.device)), test, reason, message

    def has_gpu(self) -> bool:
        """Whether the cluster has a GPU to give (a replica without one can still send runs
        to GPU workers)."""
        return float(self._ray.cluster_resources().get("GPU", 0)) > 0

    def close(self) -> None:
        self._ray.shutdown()


_POOL: RayPool | None = None
_POOL_LOCK = threading.Lock()


def get_ray_pool() -> RayPool:
    """The server's connection to the cluster named by :func:`ray_address`."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = RayPool(ray_address())
        return _POOL
