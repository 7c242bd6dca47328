"""Training in worker processes, so that the web server's interpreter only relays numbers.

Every student's page is served by one Python interpreter. A run trained in one of its threads
takes turns with every page (and every other run) on that interpreter's lock; a run trained in
a worker process does not. :class:`ProcessPool` keeps up to ``size`` worker processes (fresh
interpreters, safe with CUDA like ``spawn``), reused from run to run: torch is imported once
per worker, not once per run. One run trains in one worker at a time, so a run's random
numbers (dropout, augmentation, the shuffling of batches) are its own: the same seed gives the
same curves whether or not other runs train beside it, and the same as in the server's own
process.

What crosses between the processes is small: the job (the model's layer spec and the tensors
to train on, copied as plain pickled bytes), then the trainer's events (per-batch events
bundled a few times a second, one per epoch, one at the end), then the best weights and the
test evaluation. A stop request reaches the worker as a message and ends the run before its
next batch. A worker that dies (killed, out of memory) ends its run as failed with a
sentence, and is replaced.

Example::

    pool = ProcessPool(size=2)
    outcome = pool.run_job(job, on_event=print, stop=threading.Event())
    pool.close()
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from core.errors import UserInputError

BUNDLE_SECONDS = 0.2  # per-batch events are sent in bundles at most this often
APP_ROOT = str(Path(__file__).resolve().parents[2])
POLL_SECONDS = 0.1
IDLE_SECONDS = 600.0  # a worker idle this long is ended (beyond the one kept warm)  # how often the relaying thread looks at the stop flag and the worker
WORKER_DIED = (
    "The process training this run ended unexpectedly (it was killed, or the machine ran "
    "out of memory), so the run failed and nothing was kept. Try again, perhaps with a "
    "smaller model or batch."
)


@dataclass(frozen=True)
class TrainJob:
    """Everything a worker needs to build a model and train it (all picklable).

    Attributes
    ----------
    spec : the layer spec (core.explain.summary), built with core.learn.build.build_model
    input_shape : (C, H, W) or (C, L) of one example
    data : core.learn.train.TrainData
    recipe : core.learn.train.Recipe; its seed seeds the starting weights too
    device : "cpu", "cuda", "cuda:1", "mps"
    x_test, y_test : Tensor (M, ...), Tensor (M,) int64; optional
    """

    spec: list
    input_shape: tuple
    data: object
    recipe: object
    device: str
    x_test: object = None
    y_test: object = None


# Functions a worker may be asked to call (CallJob): long computations of the pages that are
# not a training run, e.g. the Train page's comparison with a pretrained network.
CALLS = {"transfer.compare": ("core.learn.transfer", "compare")}


@dataclass(frozen=True)
class CallJob:
    """A call of one of :data:`CALLS` with keyword arguments (all picklable); the function
    takes ``on_progress(fraction, sentence)`` and ``stop`` besides."""

    name: str
    kwargs: dict

    def run(self, *, on_progress: Callable, stop):
        import importlib

        if self.name not in CALLS:
            raise UserInputError(f"Unknown computation {self.name!r}.")
        module, function = CALLS[self.name]
        fn = getattr(importlib.import_module(module), function)
        return fn(**self.kwargs, on_progress=on_progress, stop=stop)


def build_seeded(spec, input_shape, seed: int):
    """The model a run starts from: seeded with the recipe's seed, so the same seed, the same
    starting weights (in the server's process and in a worker alike)."""
    import torch

    from core.learn.build import build_model

    torch.manual_seed(seed)
    return build_model(spec, input_shape, logits=True)


def run_job_here(job: TrainJob, *, on_event: Callable, stop) -> tuple:
    """Build, train and evaluate ``job`` in this process.

    Returns ``(model, test, reason, message)``: the trained model (best weights), the test
    core.learn.train.EvalResult or None, and the trainer's reason and sentence.
    """
    from core.learn.train import evaluate, train

    model = build_seeded(job.spec, job.input_shape, job.recipe.seed)
    result = train(model, job.data, job.recipe, job.device, on_event=on_event, stop=stop)
    test = None
    if job.x_test is not None and job.y_test is not None and len(job.x_test):
        test = evaluate(model, job.x_test, job.y_test, job.device)
    return model, test, result.reason, result.message


# ------------------------------------------------------------------------ the worker ----


def _send(conn, obj) -> None:
    """Send ``obj`` as plain pickled bytes: tensors are copied, never moved into shared memory
    (torch's own reduction would move the sender's storage in place, under any NumPy view of
    it), and no file descriptors travel."""
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn):
    return pickle.loads(conn.recv_bytes())  # noqa: S301 - from our own worker or server


class _Relay:
    """The trainer's events on their way out: per-batch events bundled (at most every
    BUNDLE_SECONDS), the others sent at once; ``send`` takes a list of events."""

    def __init__(self, send: Callable[[list], None]) -> None:
        from core.learn.train import BatchEvent

        self._send, self._batch_type = send, BatchEvent
        self._bundle: list = []
        self._last = time.monotonic()

    def __call__(self, event) -> None:
        self._bundle.append(event)
        if not isinstance(event, self._batch_type) or (
            time.monotonic() - self._last >= BUNDLE_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self._bundle:
            self._send(list(self._bundle))
            self._bundle.clear()
        self._last = time.monotonic()


def _worker_entry(fd: int, threads: int) -> None:
    """A worker's life: wait for a job, train it, send events and the result, repeat.

    Started as ``python -c`` by :class:`_Worker` with one end of a socket pair. A reader
    thread takes the server's messages: ("job", job) is queued, ("stop",) sets the flag the
    trainer reads before each batch, None ends the worker, and the server going away (the
    socket closing) ends it at once, even mid-run.
    """
    conn = Connection(fd)
    jobs: queue.Queue = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        while True:
            try:
                msg = _recv(conn)
            except (EOFError, OSError):
                os._exit(0)  # the server has gone: nobody is left to train for
            except BaseException:  # noqa: BLE001 - a reader that cannot read ends the worker
                os._exit(1)  # (the server sees it die and fails the run with a sentence)
            if msg is None:
                jobs.put(None)
                return
            if msg[0] == "stop":
                stop.set()
            else:  # messages arrive in order: a stop sent after this job is for this job
                stop.clear()
                jobs.put(msg[1])

    threading.Thread(target=read, name="training-worker-reader", daemon=True).start()
    import torch

    torch.set_num_threads(max(1, threads))
    if torch.cuda.is_available():  # pay CUDA's start-up once per worker, not once per run
        with contextlib.suppress(Exception):
            torch.zeros(1, device="cuda")
    _send(conn, ("ready", os.getpid()))
    while (job := jobs.get()) is not None:
        relay = _Relay(lambda events: _send(conn, ("events", events)))
        try:
            if isinstance(job, CallJob):
                result = job.run(on_progress=lambda f, said: _send(conn, ("progress", f, said)),
                                 stop=stop)  # fmt: skip
                _send(conn, ("result", result))
                del job, relay, result
                continue
            model, test, reason, message = run_job_here(job, on_event=relay, stop=stop)
            relay.flush()
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            _send(conn, ("done", state, test, reason, message))
            del model, test, state  # an idle worker holds no run's weights
        except UserInputError as err:
            relay.flush()
            _send(conn, ("input_error", str(err)))
        except Exception as err:  # noqa: BLE001 - reported to the run, the worker lives on
            relay.flush()
            _send(conn, ("error", f"Training failed: {type(err).__name__}: {err}",
                         traceback.format_exc()))  # fmt: skip
        del job, relay
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class _Worker:
    """One worker process and the server's end of its socket.

    A plain ``python -c`` child rather than multiprocessing's spawn: spawn re-imports the
    parent's ``__main__`` in the child, and in a Streamlit server that is the page script
    being run.
    """

    def __init__(self, threads: int) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (APP_ROOT, env.get("PYTHONPATH", "")) if p)
        code = "import sys; from core.learn.pool import _worker_entry; " + (
            "_worker_entry(int(sys.argv[1]), int(sys.argv[2]))"
        )
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(theirs.fileno()), str(threads)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, cwd=APP_ROOT,
            )  # fmt: skip
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.pid = self.proc.pid
        self.idle_since = time.monotonic()
        self.ready = False
        self._ready_lock = threading.Lock()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until the worker has imported torch and said so."""
        with self._ready_lock:  # the warming thread and a run may both wait
            if self.ready:
                return
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.conn.poll(POLL_SECONDS):
                    msg = _recv(self.conn)  # EOFError when it died while starting
                    if msg[0] == "ready":
                        self.ready = True
                        return
                elif not self.alive:
                    raise EOFError
            raise EOFError

    def send(self, msg) -> None:
        _send(self.conn, msg)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            _send(self.conn, None)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.conn.close()


class StoppedWaiting(UserInputError):
    """Stopped before a worker was free: nothing ran."""


class ProcessPool:
    """Up to ``size`` reusable worker processes that train one run each at a time.

    Parameters
    ----------
    size : the most workers alive at once (the run queue starts no more runs than this)
    threads : torch CPU threads per worker (default: the cores shared out among ``size``)
    warm : workers started at once, in the background, so the first run does not wait for
        torch to be imported
    """

    def __init__(self, size: int, *, threads: int | None = None, warm: int = 0,
                 idle_seconds: float = IDLE_SECONDS) -> None:  # fmt: skip
        if size < 1:
            raise UserInputError("A training pool needs at least one worker.")
        self.size = int(size)
        self.keep = max(1, int(warm))  # workers kept however long they idle
        self.idle_seconds = float(idle_seconds)
        cores = os.cpu_count() or 1
        self.threads = int(threads) if threads else max(1, cores // self.size)
        self._lock = threading.Condition()  # notified when a worker is given back
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self.replaced = 0  # workers that died and were replaced
        self._closed = False
        if warm:
            threading.Thread(target=self._warm, args=(min(warm, self.size),), daemon=True,
                             name="training-pool-warm").start()  # fmt: skip
        threading.Thread(target=self._reap, daemon=True, name="training-pool-reaper").start()

    def _reap(self) -> None:
        """After a hall's peak, end the workers idle for ``idle_seconds`` beyond the ``keep``
        warm ones: each holds torch (hundreds of MB, and a CUDA context on a GPU)."""
        while not self._closed:
            time.sleep(min(self.idle_seconds / 4, 30.0))
            self.trim()

    def trim(self) -> int:
        """End the workers idle for longer than ``idle_seconds`` beyond the ``keep`` most
        recently used; return how many were ended."""
        now = time.monotonic()
        with self._lock:
            self._idle.sort(key=lambda w: w.idle_since)  # oldest first
            surplus = max(0, len(self._idle) - self.keep)
            old = [w for w in self._idle[:surplus] if now - w.idle_since >= self.idle_seconds]
            for w in old:
                self._idle.remove(w)
        for w in old:
            w.close()
        return len(old)

    def _warm(self, n: int) -> None:
        for _ in range(n):
            with self._lock:
                if self._closed or len(self._idle) + len(self._busy) >= self.size:
                    return
                w = _Worker(self.threads)
                self._idle.append(w)
            with contextlib.suppress(EOFError):
                w.wait_ready()

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (idle and busy)."""
        with self._lock:
            return [w.pid for w in [*self._idle, *self._busy] if w.alive]

    def _take(self, stop=None, on_wait: Callable[[], None] | None = None) -> _Worker:
        """An idle worker, or a new one while fewer than ``size`` are busy; else wait for one
        to be given back (``on_wait`` called once, first). Nothing outside the run queue (a
        comparison) can start more than ``size`` workers. Raises :class:`StoppedWaiting` when
        ``stop`` is set while it waits."""
        told = False
        while True:
            with self._lock:
                if self._closed:
                    raise UserInputError("The training pool has been shut down.")
                while self._idle:
                    w = self._idle.pop()
                    if w.alive:
                        self._busy.add(w)
                        return w
                    w.close()
                if len(self._busy) < self.size:
                    w = _Worker(self.threads)
                    self._busy.add(w)
                    return w
                if stop is not None and stop.is_set():
                    raise StoppedWaiting("Stopped while it waited for a free worker.")
                if told or on_wait is None:
                    self._lock.wait(POLL_SECONDS)
                    continue
            told = True
            on_wait()  # outside the lock: it may draw on a page

    def _give_back(self, w: _Worker, *, healthy: bool) -> None:
        with self._lock:
            self._busy.discard(w)
            self._lock.notify_all()
            if healthy and w.alive and not self._closed:
                w.idle_since = time.monotonic()
                self._idle.append(w)
                return
        w.close()
        if not healthy:
            with self._lock:
                self.replaced += 1
            if not self._closed:  # keep one warm worker in its place
                threading.Thread(target=self._warm, args=(1,), daemon=True).start()

    def run_job(self, job: TrainJob, *, on_event: Callable, stop,
                on_wait: Callable[[], None] | None = None,
                on_taken: Callable[[], None] | None = None) -> tuple:  # fmt: skip
        """Train ``job`` in a worker; call ``on_event`` here with each of its events.

        Parameters
        ----------
        on_event : called (in this thread) with each core.learn.train event, in order
        stop : threading.Event; once set, the worker ends the run before its next batch
        on_wait, on_taken : called once when every worker is busy (a comparison holds one),
            and once when a worker has been taken for the job

        Returns
        -------
        ``(model, test, reason, message)`` as :func:`run_job_here` returns them, the model
        rebuilt here with the worker's best weights, on ``job.device``.

        Raises
        ------
        UserInputError
            The job's own sentence (a bad setting found while training), or that the worker
            died.
        RuntimeError
            An unexpected error in the worker, with its message (its traceback in ``.worker_traceback``).
        """
        stopped = None, None, "stopped", "Stopped before it started: no training was done."
        if stop.is_set():  # stopped while it waited for a worker
            return stopped

        def on_message(msg):
            if msg[0] == "events":
                for event in msg[1]:
                    on_event(event)
                return False, None
            if msg[0] == "done":
                _, state, test, reason, message = msg
                model = build_seeded(job.spec, job.input_shape, job.recipe.seed)
                model.load_state_dict(state)
                return True, (model.to(job.device), test, reason, message)
            return False, None

        try:
            return self._exchange(("job", job), on_message=on_message, stop=stop,
                                  on_wait=on_wait, on_taken=on_taken)  # fmt: skip
        except StoppedWaiting:
            return stopped

    def call(self, name: str, kwargs: dict, *, on_progress: Callable | None = None, stop=None,
             on_wait: Callable[[], None] | None = None):  # fmt: skip
        """Run one of :data:`CALLS` in a worker and return its result; ``on_progress`` is
        called here with (fraction, sentence) as the worker reports them; ``on_wait`` once if
        every worker is busy. Raises as :meth:`run_job` does (StoppedWaiting, a
        UserInputError, when stopped before a worker was free)."""
        stop = stop or threading.Event()
        say = on_progress or (lambda _f, _s: None)

        def on_message(msg):
            if msg[0] == "progress":
                say(msg[1], msg[2])
                return False, None
            if msg[0] == "result":
                return True, msg[1]
            return False, None

        return self._exchange(("job", CallJob(name, dict(kwargs))), on_message=on_message,
                              stop=stop, on_wait=on_wait)  # fmt: skip

    def _exchange(self, message, *, on_message: Callable, stop, on_wait=None, on_taken=None):
        """Send ``message`` to a worker and hand what comes back to ``on_message`` (which
        returns (done, value)) until it is done; the worker's errors raise here."""
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # before a worker
        w = self._take(stop, on_wait)
        if on_taken is not None:
            on_taken()
        healthy = False
        try:
            w.wait_ready()
            w.conn.send_bytes(payload)
            sent_stop = False
            while True:
                if stop.is_set() and not sent_stop:
                    w.send(("stop",))
                    sent_stop = True
                if not w.conn.poll(POLL_SECONDS):
                    if not w.alive:
                        raise EOFError
                    continue
                msg = _recv(w.conn)
                if msg[0] == "input_error":
                    healthy = True
                    raise UserInputError(msg[1])
                if msg[0] == "error":
                    healthy = True
                    err = RuntimeError(msg[1])
                    err.worker_traceback = msg[2]
                    raise err
                done, value = on_message(msg)
                if done:
                    healthy = True
                    return value
        except (EOFError, OSError) as err:
            raise UserInputError(WORKER_DIED) from err
        finally:
            self._give_back(w, healthy=healthy)

    def close(self) -> None:
        """Stop every worker (busy ones are killed)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            workers = [*self._idle, *self._busy]
            self._idle.clear()
        for w in workers:
            w.close()


def backend_setting() -> str:
    """Where runs train: "ray" when ``CNN_RAY_ADDRESS`` or ``RAY_ADDRESS`` names a cluster
    (core.learn.raypool), else env var ``CNN_RUNS``: "process" (the default) or "thread"."""
    value = os.environ.get("CNN_RUNS", "").strip().lower()
    if value in ("thread", "threads", "inline"):
        return "thread"
    from core.learn.raypool import ray_address

    return "ray" if value == "ray" or ray_address() else "process"


def run_device(preference: str = "auto"):
    """The device a run trains on, chosen in one place for every backend.

    In a worker process or thread it is this machine's (core.learn.train.choose_device). With
    Ray it is the cluster's: "auto" gives CUDA when any node has a GPU and the CPU otherwise
    (whatever this machine has), and "cuda" may be asked for by a web server that has none
    (the run goes to a GPU worker; its model comes back to the CPU here).
    """
    import torch

    from core.learn.train import choose_device

    pref = preference.lower().strip()
    if backend_setting() == "ray" and pref in ("auto", "cuda"):
        if cluster_has_gpu():
            return torch.device("cuda")
        if pref == "cuda":
            raise UserInputError("No node of the Ray cluster has a GPU; choose 'cpu' or 'auto'.")
        return torch.device("cpu")
    return choose_device(preference)


GPU_ANSWER_SECONDS = 30.0  # how long the cluster's answer is kept (pages ask on every rerun)
_GPU_ANSWER: list = []  # [(time, True/False or the sentence of a failure)]


def cluster_has_gpu() -> bool:
    """Whether the Ray cluster has a GPU, asked at most every GPU_ANSWER_SECONDS (a failure
    too: a cluster that is down does not hold every rerun of a page in its time-outs)."""
    from core.learn.raypool import get_ray_pool, ray_address

    now = time.monotonic()
    if _GPU_ANSWER and now - _GPU_ANSWER[0][0] < GPU_ANSWER_SECONDS:
        answer = _GPU_ANSWER[0][1]
    else:
        try:
            answer = bool(get_ray_pool().has_gpu())
        except Exception as err:  # noqa: BLE001 - ray raises many kinds; the page says why
            answer = (
                f"The Ray cluster at {ray_address() or 'the address set'} cannot be reached "
                f"({type(err).__name__}); runs cannot start until it can."
            )
        _GPU_ANSWER[:] = [(now, answer)]
    if isinstance(answer, str):
        raise UserInputError(answer)
    return answer


_POOL: ProcessPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool(size: int | None = None) -> ProcessPool:
    """The server's pool, sized to the run queue's cap (one worker started ahead)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from core.learn.runs import max_runs_setting

            _POOL = ProcessPool(size or max_runs_setting(), warm=1)
        return _POOL
