"""Training runs in the background: a run keeps going while its page is not on screen.

A :class:`Run` is one training job executed in its own thread. It turns the trainer's events
into curves a page can draw (per-epoch train/validation loss and accuracy, a thinned per-batch
loss), a progress fraction with the time left, and the latest validation confusion matrix.
When the job ends the run holds the model (with the best checkpoint restored by
``core.learn.train.train``) and its evaluation on the test set.

A process-wide :class:`RunQueue` caps how many runs train at once (``CNN_MAX_RUNS``, default the
number of CPU cores), starts waiting runs in the order they came, and tells a waiting run its
place. It also refuses a second active run from the same owner (one browser session).

Everything a page reads comes from :meth:`Run.snapshot`, an immutable copy taken under the
run's lock, so the training thread and the page never share a list being written.

A run knows what it learns as typed values: ``run.task`` (core.learn.task.Task: input,
preprocessing, head, classes, recipe) and ``run.info`` (:class:`RunInfo`: dataset and model
names, parameters, device, test indices). :func:`start_training` turns a checked
core.learn.task.Plan into a queued run.

Example::

    run = start_training(plan, "cpu", dataset=ds, owner="session-1")
    # or, by hand: Run.for_training(model, data, recipe, "cpu", x_test=x_te, y_test=y_te)
    snap = run.snapshot()  # status, curves, progress, eta, ...
    run.stop()  # ends before the next batch; the best checkpoint so far is kept
"""

from __future__ import annotations

import collections
import math
import os
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserInputError

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
VERDICTS = ("diverged", "at_chance")  # runs that went through but learned nothing useful
ACTIVE = (QUEUED, RUNNING)
MAX_BATCH_POINTS = 600  # the per-batch loss curve keeps at most this many points
ORPHAN_GRACE = 60.0  # seconds a run's browser session may be gone before the run is stopped


@dataclass(frozen=True)
class Snapshot:
    """What a page shows of a run, copied at one instant.

    Attributes
    ----------
    status : {"queued", "running", "done", "stopped", "failed"}
    message : a sentence for the user (why it stopped or failed, what was kept)
    epochs : per-epoch points, in order
    batch_steps, batch_losses : (M,) thinned per-batch training loss against the global step
    step, total_steps : optimisation steps done and planned
    progress : step / total_steps in [0, 1] (1 when the run ended)
    eta : seconds left (None until the second step: a rate from the first batch on)
    elapsed : seconds since the run started training (0 while queued)
    queue_position : 1-based place among waiting runs while queued, else None
    val_confusion : (C, C) counts of the latest validation pass, or None
    val_confusion_epoch : the epoch it comes from
    best_epoch : epoch whose weights are (or will be) kept
    verdict : once ended, the trainer's word on it: "finished", "stopped", "diverged" or
        "at_chance" (None while it waits or trains, or when it failed with an error)
    waiting_for_worker : started, but every training process is busy (a comparison outside
        the run queue holds one), so it waits for one to be free
    """

    status: str
    message: str
    epochs: tuple  # core.learn.train.EpochEvent per epoch (frozen; safe to share)
    batch_steps: np.ndarray
    batch_losses: np.ndarray
    step: int
    total_steps: int
    progress: float
    eta: float | None
    elapsed: float
    queue_position: int | None
    val_confusion: np.ndarray | None
    val_confusion_epoch: int | None
    best_epoch: int | None
    verdict: str | None = None
    waiting_for_worker: bool = False

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class _Thinned:
    """A (step, value) series that keeps at most ``limit`` points by halving its density."""

    def __init__(self, limit: int = MAX_BATCH_POINTS) -> None:
        self.limit = max(int(limit), 2)
        self.stride = 1
        self.steps: list[int] = []
        self.values: list[float] = []

    def add(self, step: int, value: float) -> None:
        if step % self.stride:
            return
        self.steps.append(step)
        self.values.append(value)
        if len(self.steps) > self.limit:
            self.stride *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.stride == 0]
            self.steps = [self.steps[i] for i in keep]
            self.values = [self.values[i] for i in keep]


@dataclass
class Outcome:
    """What a job hands back: the trained model and its test evaluation (both optional)."""

    model: object = None  # torch.nn.Module with the best weights
    test: object = None  # core.learn.train.EvalResult on the test set
    reason: str = "finished"  # "finished", "stopped", "diverged" or "at_chance" (the trainer's)
    message: str = ""
    extra: dict = field(default_factory=dict)


class Run:
    """One training job in a background thread, and the curves it has produced so far.

    Parameters
    ----------
    job : callable taking this run and returning an :class:`Outcome`
        It reports progress by calling :meth:`record` with core.learn.train events and should
        stop soon after :attr:`stop_event` is set. An exception ends the run as "failed"
        (a UserInputError's sentence is shown as it is).
    task : core.learn.task.Task, optional
        What the run learns (input, preprocessing, head, classes, the recipe it uses).
    info : RunInfo, optional
        What the pages say about it (dataset and model names, parameters, device, test set).
    """

    def __init__(
        self, job: Callable[[Run], Outcome], *, task=None, info: RunInfo | None = None
    ) -> None:
        self._job = job
        self.task = task
        self.info = info
        self.id = secrets.token_urlsafe(9)  # 12 URL-safe characters; a page's link names it
        self._owner: str | None = None
        self._watchers: set[str] = set()  # other sessions that re-attached to it
        self.backend = "thread"  # where the job trains: "thread" or "process" (core.learn.pool)
        self.orphaned = False  # stopped because its browser session closed
        self.browser: str | None = None  # the browser that started it (pages/_shared.browser_id)
        self.traceback: str | None = None  # of an unexpected error, for the server's log
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._status = QUEUED
        self._message = "Waiting for a free training slot."
        self._epochs: list = []  # core.learn.train.EpochEvent
        self._batches = _Thinned()
        self._step = 0
        self._total_steps = 0
        self._started: float | None = None
        self._ended: float | None = None
        self._train_elapsed = 0.0
        self._eta_origin: tuple[int, float] | None = None  # (step, elapsed) of the first batch
        self._worker_wait = False  # every pool worker busy when it started (see Snapshot)
        self._val_confusion: np.ndarray | None = None
        self._val_epoch: int | None = None
        self._best_epoch: int | None = None
        self._queue: RunQueue | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._alive: Callable[[], bool] | None = None
        self._gone_since: float | None = None
        self._last_alive_check = 0.0
        self.model = None
        self.test = None
        self.outcome: Outcome | None = None

    # ------------------------------------------------------------------ building a run ----

    @classmethod
    def for_training(
        cls,
        model,
        data,
        recipe,
        device,
        *,
        x_test=None,
        y_test=None,
        task=None,
        info: RunInfo | None = None,
    ) -> Run:
        """A run that calls ``core.learn.train.train`` and then evaluates on ``(x_test, y_test)``.

        Parameters
        ----------
        model : nn.Module mapping (N, ...) to logits (N, C) or (N, 1)
        data : core.learn.train.TrainData
        recipe : core.learn.train.Recipe (checked when it was made: a bad one never exists)
        device : torch.device or str
        x_test, y_test : Tensor (M, ...), Tensor (M,) int64; optional
        task, info : what the run learns and what the pages say about it (see :class:`Run`)
        """

        def job(run: Run) -> Outcome:
            from core.learn.train import evaluate, train

            result = train(model, data, recipe, device, on_event=run.record, stop=run.stop_event)
            test = None
            if x_test is not None and y_test is not None and len(x_test):
                test = evaluate(model, x_test, y_test, device)
            return Outcome(model=model, test=test, reason=result.reason, message=result.message)

        return cls(job, task=task, info=info)

    @classmethod
    def for_job(
        cls, job, *, backend: str | None = None, task=None, info: RunInfo | None = None
    ) -> Run:
        """A run of a core.learn.pool.TrainJob: trained in a worker process of the server's
        pool (``backend="process"``), on a Ray cluster (``"ray"``, core.learn.raypool) or in
        this process (``"thread"``); ``None`` reads the settings (pool.backend_setting). Either way the same seed gives the same curves and weights."""
        from core.learn import pool

        backend = backend or pool.backend_setting()
        if backend not in ("process", "thread", "ray"):
            raise UserInputError(f"Unknown place to train: {backend!r}.")

        def run_it(run: Run) -> Outcome:
            if backend == "process":
                execute = pool.get_pool(run._queue.max_running if run._queue else None).run_job
            elif backend == "ray":
                from core.learn.raypool import get_ray_pool

                execute = get_ray_pool().run_job
            else:
                execute = pool.run_job_here
            told = {}
            if backend == "process":  # only the pool's workers can all be busy (a comparison)
                told = {"on_wait": run._waiting_for_worker, "on_taken": run._took_worker}
            model, test, reason, message = execute(job, on_event=run.record, stop=run.stop_event,
                                                   **told)  # fmt: skip
            return Outcome(model=model, test=test, reason=reason, message=message)

        run = cls(run_it, task=task, info=info)
        run.backend = backend
        return run

    # ------------------------------------------------------------------- the thread side ----

    def record(self, event) -> None:
        """Take one core.learn.train event (BatchEvent, EpochEvent or EndEvent) into the curves."""
        from core.learn.train import BatchEvent, EndEvent, EpochEvent

        if isinstance(event, BatchEvent):
            self._check_owner()
        with self._lock:
            if isinstance(event, BatchEvent):
                self._step = event.step
                self._total_steps = event.total_steps
                self._train_elapsed = event.elapsed
                if self._eta_origin is None:
                    self._eta_origin = (event.step, event.elapsed)
                self._batches.add(event.step, float(event.loss))
            elif isinstance(event, EpochEvent):
                self._epochs.append(event)  # frozen: the page can read it as it is
                self._train_elapsed = event.elapsed
                self._best_epoch = event.best_epoch
                if event.val_confusion is not None:
                    self._val_confusion = np.array(event.val_confusion, copy=True)
                    self._val_epoch = event.epoch
            elif isinstance(event, EndEvent):
                self._best_epoch = event.best_epoch
                self._train_elapsed = event.elapsed

    def _waiting_for_worker(self) -> None:
        with self._lock:
            self._worker_wait = True

    def _took_worker(self) -> None:
        with self._lock:
            self._worker_wait = False

    def owner_alive(self) -> bool:
        """False once the session that started the run has been gone for ORPHAN_GRACE seconds."""
        if self._alive is None:
            return True
        now = time.monotonic()
        try:
            alive = bool(self._alive())
        except Exception:  # noqa: BLE001 - a broken check must not kill a run
            alive = True
        if alive:
            self._gone_since = None
            return True
        if self._gone_since is None:
            self._gone_since = now
        return now - self._gone_since < ORPHAN_GRACE

    def _check_owner(self) -> None:
        """Stop a run whose browser session has closed (checked every few seconds)."""
        now = time.monotonic()
        if now - self._last_alive_check < 2.0:
            return
        self._last_alive_check = now
        if not self.owner_alive():
            self.orphaned = True
            self.stop_event.set()

    def _execute(self) -> None:
        if self._queue is not None and self.backend == "thread":  # workers set their own
            cap_torch_threads(self._queue.max_running)
        with self._lock:
            if self._status != QUEUED:  # stopped while it waited
                self._done.set()
                return
            self._status, self._message = RUNNING, "Training."
            self._started = time.perf_counter()
        status, message, outcome = FAILED, "", None
        try:
            outcome = self._job(self)
            if outcome is None:
                outcome = Outcome()
            status = {"finished": DONE, "stopped": STOPPED}.get(outcome.reason, FAILED)
            message = outcome.message or {DONE: "Finished.", STOPPED: "Stopped."}.get(status, "")
            if status == STOPPED and self.orphaned:
                message = "Stopped because the browser session that started it has closed."
        except UserInputError as err:
            message = str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user instead of a traceback
            message = f"Training failed: {type(err).__name__}: {err}"
            self.traceback = getattr(err, "worker_traceback", None) or traceback.format_exc()
        with self._lock:
            self.outcome = outcome
            if outcome is not None:
                self.model, self.test = outcome.model, outcome.test
            self._status, self._message = status, message
            self._ended = time.perf_counter()
            self._job = None  # its tensors (a copy of the split) are no longer needed
        self._done.set()
        if self._queue is not None:
            self._queue._finished(self)

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._execute, name="training-run", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------------- the page side ----

    def stop(self) -> None:
        """Ask the run to end: a waiting run is withdrawn, a running one ends before its next
        batch and keeps its best checkpoint so far."""
        self.stop_event.set()
        withdrawn = False
        with self._lock:
            if self._status == QUEUED:
                self._status = STOPPED
                self._message = "Stopped before it started: no training was done."
                withdrawn = True
        if withdrawn:
            self._done.set()
            if self._queue is not None:
                self._queue._withdraw(self)

    def _abandon(self) -> None:
        """Mark a waiting run whose owner has gone as stopped (queue lock held by the caller)."""
        self.stop_event.set()
        with self._lock:
            self._status = STOPPED
            self._message = "Stopped because the browser session that started it has closed."
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended; True if it did within ``timeout`` seconds."""
        return self._done.wait(timeout)

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def snapshot(self) -> Snapshot:
        """An immutable copy of the run's state, safe to read while training goes on."""
        position = self._queue.position(self) if self._queue is not None else None
        with self._lock:
            ended = self._status not in ACTIVE
            total = self._total_steps
            progress = (
                1.0 if ended and self._status == DONE else (self._step / total if total else 0.0)
            )
            eta = None
            origin = self._eta_origin
            if self._status == RUNNING and total and origin and self._step > origin[0]:
                # seconds per step since the first batch: its start-up (loading the data,
                # building the model) would make the first step look hours long
                rate = (self._train_elapsed - origin[1]) / (self._step - origin[0])
                eta = max(rate * (total - self._step), 0.0)
            if self._started is None:
                elapsed = 0.0
            else:
                end = self._ended if self._ended is not None else time.perf_counter()
                elapsed = end - self._started
            return Snapshot(
                status=self._status,
                message=self._message,
                epochs=tuple(self._epochs),
                batch_steps=np.array(self._batches.steps, dtype=np.int64),
                batch_losses=np.array(self._batches.values, dtype=np.float64),
                step=self._step,
                total_steps=total,
                progress=float(min(max(progress, 0.0), 1.0)),
                eta=eta,
                elapsed=elapsed,
                queue_position=position if self._status == QUEUED else None,
                val_confusion=None if self._val_confusion is None else self._val_confusion.copy(),
                val_confusion_epoch=self._val_epoch,
                best_epoch=self._best_epoch,
                verdict=self.outcome.reason if self.outcome is not None else None,
                waiting_for_worker=self._worker_wait and self._status == RUNNING,
            )


class RunQueue:
    """Caps how many runs train at once; the rest wait in first-come order.

    Parameters
    ----------
    max_running : int, optional
        At most this many runs train at the same time (default :func:`max_runs_setting`).
    """

    def __init__(self, max_running: int | None = None) -> None:
        n = max_runs_setting() if max_running is None else int(max_running)
        if n < 1:
            raise UserInputError("At least one run must be allowed to train at a time.")
        self.max_running = n
        self._lock = threading.Lock()
        self._waiting: collections.deque[Run] = collections.deque()
        self._running: list[Run] = []
        self._owners: dict[str, Run] = {}

    def submit(
        self, run: Run, *, owner: str | None = None, alive: Callable[[], bool] | None = None
    ) -> None:
        """Start ``run`` now if a slot is free, else queue it.

        Parameters
        ----------
        owner : who started it (a browser session); one active run per owner.
        alive : optional check that the owner is still there; a run whose owner has been gone
            for ``ORPHAN_GRACE`` seconds is stopped (or, still waiting, skipped), so a closed
            browser tab does not hold a training slot.

        Raises
        ------
        UserInputError
            When ``owner`` already has a run waiting or training (one run per session), or
            the run was submitted before.
        """
        to_start = []
        with self._lock:
            if run._queue is not None:
                raise UserInputError("This run was already started.")
            if owner is not None:
                previous = self._owners.get(owner)
                if previous is not None and previous.active:
                    raise UserInputError(
                        "A training run of yours is still "
                        f"{'waiting' if previous.status == QUEUED else 'going'}: stop it "
                        "before starting another (one run per session)."
                    )
                self._owners[owner] = run
            run._queue = self
            run._alive = alive
            run._owner = owner
            self._waiting.append(run)
            to_start = self._fill()
        for r in to_start:
            r._start_thread()

    def _fill(self) -> list[Run]:
        """Move waiting runs into free slots (call with the lock held); return them."""
        started = []
        while self._waiting and len(self._running) < self.max_running:
            run = self._waiting.popleft()
            if run.status == QUEUED and not run.owner_alive():
                run._abandon()
            if run.status != QUEUED:
                self._forget(run)
                continue
            self._running.append(run)
            started.append(run)
        return started

    def _forget(self, run: Run) -> None:
        """An ended run no longer holds its owners' places (lock held by the caller): the
        queue keeps no finished run, so a morning of runs does not pile up in the server."""
        for owner in {run._owner, *run._watchers} - {None}:
            if self._owners.get(owner) is run:
                del self._owners[owner]

    def _finished(self, run: Run) -> None:
        with self._lock:
            if run in self._running:
                self._running.remove(run)
            self._forget(run)
            to_start = self._fill()
        for r in to_start:
            r._start_thread()

    def _withdraw(self, run: Run) -> None:
        with self._lock:
            if run in self._waiting:
                self._waiting.remove(run)
            self._forget(run)

    def position(self, run: Run) -> int | None:
        """1-based place of ``run`` among the waiting runs, or None if it is not waiting."""
        with self._lock:
            for i, r in enumerate(self._waiting, start=1):
                if r is run:
                    return i
        return None

    def adopt(self, run: Run, *, owner: str | None, alive: Callable[[], bool] | None) -> None:
        """Let another browser session watch ``run`` too (a reload, or the same student in
        another tab): the run lives while any of its sessions is open, and each of them holds
        the one-run place it takes."""
        with self._lock:
            checks = [c for c in (run._alive, alive) if c is not None]
            if run._alive is None or alive is None:
                run._alive = None  # an owner without a check is always there
            elif len(checks) == 2:
                first, second = checks
                run._alive = lambda: first() or second()
            run._gone_since = None
            if owner is not None and run.active:
                self._owners[owner] = run
                run._watchers.add(owner)

    @property
    def n_owners(self) -> int:
        """Sessions holding a place (each with one waiting or training run)."""
        with self._lock:
            return len(self._owners)

    @property
    def n_running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def n_waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


# ------------------------------------------------------------------- what a run is ----


@dataclass(frozen=True, eq=False)
class RunInfo:
    """What the pages say about a run, beside its task (core.learn.task.Task).

    Attributes
    ----------
    dataset_name : the dataset's name ("digits", "your data", ...)
    model_name : the preset's title or the Model builder model's name
    params : trainable parameters of the model
    device : where it trains ("cpu", "cuda", ...)
    spec : the layer spec the model was built from (core.explain.summary)
    test_index : (M,) int64 indices of the test examples in the dataset's ``x``
    y_test : (M,) int64 their labels, as the task numbers its classes
    dataset : the core.data.shipped.Dataset itself (the Evaluate page shows its examples)
    """

    dataset_name: str
    model_name: str
    params: int
    device: str
    spec: list
    test_index: np.ndarray
    y_test: np.ndarray
    dataset: object = None


def start_training(
    plan,
    device,
    *,
    dataset=None,
    owner: str | None = None,
    alive: Callable[[], bool] | None = None,
    queue: RunQueue | None = None,
    backend: str | None = None,
    browser: str | None = None,
) -> Run:
    """Hand the run of a checked core.learn.task.Plan to the queue.

    The recipe's seed seeds the starting weights (the same seed, the same model). The model is
    built and trained in a worker process (``backend="process"``, the default, see
    core.learn.pool) or in a thread of this process (``"thread"``); ``None`` reads
    ``CNN_RUNS``. ``browser`` names the browser that asked (its other sessions may stop the
    run; other browsers only watch it). Returns the run, queued or training; UserInputError
    when ``owner`` already has an active run.
    """
    from core.learn.pool import TrainJob

    task, split = plan.task, plan.split
    info = RunInfo(
        dataset_name=task.dataset,
        model_name=plan.model_name,
        params=int(plan.summary.trainable),  # a frozen pretrained network trains its head only
        device=str(device),
        spec=list(plan.spec),
        test_index=np.asarray(split.test_index),
        y_test=split.y_test.numpy(),
        dataset=dataset,
    )
    job = TrainJob(spec=list(plan.spec), input_shape=tuple(task.input_shape), data=split.data,
                   recipe=task.recipe, device=str(device), x_test=split.x_test,
                   y_test=split.y_test)  # fmt: skip
    run = Run.for_job(job, backend=backend, task=task, info=info)
    run.browser = browser  # before anyone can find it by its id
    (queue or get_queue()).submit(run, owner=owner, alive=alive)
    register(run)
    return run


# ------------------------------------------------------------- finding a run by its id ----

RUN_ID = re.compile(r"[A-Za-z0-9_-]{8,32}")
MAX_REGISTERED = 512  # ended runs beyond this many are forgotten, oldest first
_RUNS: dict[str, Run] = {}
_RUNS_LOCK = threading.Lock()


def _sweep() -> None:
    """Forget ended runs whose session has been gone for the grace period (lock held)."""
    for run_id, run in list(_RUNS.items()):
        if not run.active and not run.owner_alive():
            del _RUNS[run_id]
    ended = [i for i, r in _RUNS.items() if not r.active]
    for run_id in ended[: max(0, len(_RUNS) - MAX_REGISTERED)]:
        del _RUNS[run_id]


def register(run: Run) -> None:
    """Let :func:`find` find ``run`` by its id until it has ended and its session has gone.

    A session's earlier ended runs are forgotten: only its latest can be re-attached to.
    """
    with _RUNS_LOCK:
        _sweep()
        if run._owner is not None:
            for run_id, other in list(_RUNS.items()):
                if other._owner == run._owner and not other.active:
                    del _RUNS[run_id]
        _RUNS[run.id] = run


def find(run_id) -> Run | None:
    """The registered run with this id (a page's link carries it), or None.

    Anything that is not a run id (a hostile query string) is simply not found.
    """
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        return None
    with _RUNS_LOCK:
        _sweep()
        return _RUNS.get(run_id)


def n_registered() -> int:
    with _RUNS_LOCK:
        return len(_RUNS)


def threads_per_run(max_running: int, cores: int | None = None) -> int:
    """CPU threads each run may use so that ``max_running`` runs at once fill the cores once.

    Runs are threads of one process and torch's intra-op pool is process-wide: left alone,
    every run asks for all the cores and N runs oversubscribe them N times over.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, max_running))


def cap_torch_threads(max_running: int) -> int:
    """Set torch's (process-wide) intra-op thread count for ``max_running`` concurrent runs."""
    import torch

    n = threads_per_run(max_running)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


GPU_GIB_PER_RUN = 2.0  # a worker's CUDA context (~0.5 GiB) and a small run's data and model


def gpu_memory_gib() -> float | None:
    """Memory of the first CUDA GPU in GiB, or None without one (or before the server has
    imported torch: the explainer pages never do, and only training needs the answer)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available():
            return None
        return torch.cuda.get_device_properties(0).total_memory / 2**30
    except Exception:  # noqa: BLE001 - a broken driver: size by the cores
        return None


def max_runs_setting() -> int:
    """The cap on concurrent runs: env var ``CNN_MAX_RUNS``, else the number of CPU cores and,
    with a GPU, no more than its memory holds at GPU_GIB_PER_RUN each."""
    raw = os.environ.get("CNN_MAX_RUNS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
    cores = max(os.cpu_count() or 1, 1)
    gib = gpu_memory_gib()
    return cores if gib is None else max(1, min(cores, int(gib // GPU_GIB_PER_RUN)))


_QUEUE: RunQueue | None = None
_QUEUE_LOCK = threading.Lock()


def get_queue() -> RunQueue:
    """The process-wide queue shared by every session of this server."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = RunQueue()
        return _QUEUE


def format_seconds(seconds: float | None) -> str:
    """'1 min 05 s', '42 s' or '…' for an unknown time."""
    if seconds is None or not math.isfinite(seconds):
        return "…"
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
