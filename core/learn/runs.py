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

Example::

    run = Run.for_training(model, data, recipe, "cpu", x_test=x_te, y_test=y_te)
    get_queue().submit(run, owner="session-1")
    snap = run.snapshot()  # status, curves, progress, eta, ...
    run.stop()  # ends before the next batch; the best checkpoint so far is kept
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserInputError

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
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
    eta : seconds left (None until the first step)
    elapsed : seconds since the run started training (0 while queued)
    queue_position : 1-based place among waiting runs while queued, else None
    val_confusion : (C, C) counts of the latest validation pass, or None
    val_confusion_epoch : the epoch it comes from
    best_epoch : epoch whose weights are (or will be) kept
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
    reason: str = "finished"  # "finished", "stopped" or "diverged" (core.learn.train's reasons)
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
    meta : dict, optional
        Anything the pages need to describe the run (dataset, class names, test indices...).
    """

    def __init__(self, job: Callable[[Run], Outcome], *, meta: dict | None = None) -> None:
        self._job = job
        self.meta = dict(meta or {})
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
        meta: dict | None = None,
    ) -> Run:
        """A run that calls ``core.learn.train.train`` and then evaluates on ``(x_test, y_test)``.

        Parameters
        ----------
        model : nn.Module mapping (N, ...) to logits (N, C) or (N, 1)
        data : core.learn.train.TrainData
        recipe : core.learn.train.Recipe (validated here, so a bad setting fails before queueing)
        device : torch.device or str
        x_test, y_test : Tensor (M, ...), Tensor (M,) int64; optional
        """
        recipe.validate()

        def job(run: Run) -> Outcome:
            from core.learn.train import evaluate, train

            result = train(model, data, recipe, device, on_event=run.record, stop=run.stop_event)
            test = None
            if x_test is not None and y_test is not None and len(x_test):
                test = evaluate(model, x_test, y_test, device)
            return Outcome(model=model, test=test, reason=result.reason, message=result.message)

        return cls(job, meta=meta)

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
            self.meta["orphaned"] = True
            self.stop_event.set()

    def _execute(self) -> None:
        if self._queue is not None:
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
            if status == STOPPED and self.meta.get("orphaned"):
                message = "Stopped because the browser session that started it has closed."
        except UserInputError as err:
            message = str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user instead of a traceback
            message = f"Training failed: {type(err).__name__}: {err}"
            self.meta["traceback"] = traceback.format_exc()
        with self._lock:
            self.outcome = outcome
            if outcome is not None:
                self.model, self.test = outcome.model, outcome.test
            self._status, self._message = status, message
            self._ended = time.perf_counter()
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
            if self._status == RUNNING and self._step and total:
                rate = self._train_elapsed / self._step  # seconds per step so far
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
                continue
            self._running.append(run)
            started.append(run)
        return started

    def _finished(self, run: Run) -> None:
        with self._lock:
            if run in self._running:
                self._running.remove(run)
            to_start = self._fill()
        for r in to_start:
            r._start_thread()

    def _withdraw(self, run: Run) -> None:
        with self._lock:
            if run in self._waiting:
                self._waiting.remove(run)

    def position(self, run: Run) -> int | None:
        """1-based place of ``run`` among the waiting runs, or None if it is not waiting."""
        with self._lock:
            for i, r in enumerate(self._waiting, start=1):
                if r is run:
                    return i
        return None

    @property
    def n_running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def n_waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


# ------------------------------------------------------------------ from dataset to task ----


@dataclass(frozen=True, eq=False)
class Task:
    """What one run learns: tensors for training, validation and test, and their classes.

    Attributes
    ----------
    data : core.learn.train.TrainData (train and validation tensors)
    x_test : Tensor (M, ...); y_test : Tensor (M,) int64
    test_index : (M,) int64 indices of the test examples in the dataset's ``x``
    class_names : one per class (two for a two-class task)
    binary : True when two classes are learnt with one sigmoid output
    """

    data: object
    x_test: object
    y_test: object
    test_index: np.ndarray
    class_names: tuple[str, ...]
    binary: bool

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: 1 for a binary task, else the class count."""
        return 1 if self.binary else len(self.class_names)


def make_task(ds, inputs, *, classes: tuple[int, int] | None = None) -> Task:
    """Cut a dataset's model inputs into the train / validation / test tensors of a task.

    Parameters
    ----------
    ds : core.data.shipped.Dataset (its ``splits`` and ``class_names`` are used)
    inputs : core.data.shipped.ModelInputs of that dataset; x (N, ...), y (N,)
    classes : (a, b), optional
        Keep only these two classes: class ``a`` becomes label 0 and ``b`` label 1, for a
        two-class task with one sigmoid output.
    """
    import torch

    from core.learn.train import TrainData

    y_all = np.asarray(ds.y)
    relabel = None
    names = tuple(ds.class_names)
    if classes is not None:
        a, b = (int(c) for c in classes)
        if a == b:
            raise UserInputError("Choose two different classes for a two-class task.")
        if not (0 <= a < len(names) and 0 <= b < len(names)):
            raise UserInputError(f"Classes are numbered 0 to {len(names) - 1}.")
        relabel = {a: 0, b: 1}
        names = (names[a], names[b])

    def part(split: str):
        idx = np.asarray(ds.splits[split], dtype=np.int64)
        if relabel is not None:
            idx = idx[np.isin(y_all[idx], list(relabel))]
        t = torch.as_tensor(idx)
        y = inputs.y[t]
        if relabel is not None:
            y = (y == classes[1]).long()  # class b -> 1, class a -> 0
        return idx, inputs.x[t], y

    _, x_tr, y_tr = part("train")
    _, x_va, y_va = part("val")
    te_idx, x_te, y_te = part("test")
    return Task(
        data=TrainData(x_tr, y_tr, x_va, y_va),
        x_test=x_te,
        y_test=y_te,
        test_index=te_idx,
        class_names=names,
        binary=relabel is not None,
    )


def check_outputs(summary, task: Task) -> None:
    """Raise UserInputError unless the model ends in ``task.n_outputs`` numbers per example."""
    out = tuple(summary.output_shape)
    want = task.n_outputs
    if len(out) != 1:
        raise UserInputError(
            f"The model ends with shape {out}, but a classifier must end with one number per "
            f"class: add Flatten (or global average pooling) and a Linear layer with {want} "
            "outputs."
        )
    if out[0] != want:
        what = (
            "one output (the probability of the second class, through a sigmoid)"
            if task.binary
            else f"{want} outputs, one per class"
        )
        raise UserInputError(
            f"The model's last layer has {out[0]} outputs, but this task needs {what}: set "
            f"the last Linear layer's out_features to {want}."
        )


def fit_head(spec: list, summary, task: Task) -> tuple[list, str | None]:
    """Give a model's last Linear layer the outputs ``task`` needs; say so when it changed.

    A model drawn in the Model builder for all ten digits ends in 10 outputs; the two-class
    task (one sigmoid output) can still use everything before that layer. When the output
    already fits, or the model does not end in a Linear layer, ``spec`` comes back as it was
    and :func:`check_outputs` has the last word.
    """
    from core.explain.summary import canonical_type

    out, want = tuple(summary.output_shape), task.n_outputs
    last = spec[-1] if spec else None
    if len(out) != 1 or out[0] == want or not isinstance(last, dict):
        return spec, None
    if canonical_type(str(last.get("type", ""))) != "linear":
        return spec, None
    key = "units" if "units" in last else "out_features"
    new_last = {k: v for k, v in last.items() if k not in ("units", "out_features")}
    new_last[key] = want
    what = (
        "one output (a sigmoid: two classes)" if task.binary else f"{want} outputs, one per class"
    )
    return [*spec[:-1], new_last], (
        f"The model's last Linear layer had {out[0]} outputs; for this task it gets {what}, "
        "with fresh weights. Everything before it is the model as built."
    )


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


def max_runs_setting() -> int:
    """The cap on concurrent runs: env var ``CNN_MAX_RUNS``, else the number of CPU cores."""
    raw = os.environ.get("CNN_MAX_RUNS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
    return max(os.cpu_count() or 1, 1)


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
