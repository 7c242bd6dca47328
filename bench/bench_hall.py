"""How many students one server holds: N runs of the default digits recipe at once.

Run: `.venv/bin/python bench/bench_hall.py [--sessions 4 8 20] [--epochs E] [--backend process]`.
Submits N runs within a few seconds through the path the Train page uses
(core.learn.runs.start_training, the server's queue and worker pool, one owner each), with a
watcher per run that reads its snapshot once a second as a watching page does, and meanwhile
reruns an explainer page (Convolution, through Streamlit's AppTest, in this process like a
page of the server). For each N it prints: one run alone, the time until all were done, p50 and
p95 per-student time from Train to done, runs per minute, the same throughput as a share of
what the cores give run after run (N times the single time), peak memory of this process (the
server) and of the workers, and the explainer's rerun time during the hall. Last line:

    hall: N sessions, all done T s, p95 P s, single S s, throughput R runs/min, explainer rerun E ms

The browser variant (real pages watching, the health check's latency) is
bench/bench_watchers.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """Resident memory of a process in MB from /proc (0 where there is no /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _plan(epochs: int | None):
    from core.data import shipped as data
    from core.learn import task as tasks
    from core.learn.train import DEFAULT_MODELS

    ds = data.load("digits")
    preset = DEFAULT_MODELS["digits"]
    plan = tasks.plan_preset(ds, tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset)), preset)
    return ds, (plan.with_recipe(epochs=epochs) if epochs else plan)


def _explainer_reruns(stop: threading.Event, out: list[float]) -> None:
    """Rerun the Convolution page (as a student stepping through it) until ``stop``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "convolution.py"), default_timeout=120)
    at.run()
    while not stop.is_set():
        t0 = time.perf_counter()
        at.run()
        out.append(time.perf_counter() - t0)
        stop.wait(0.5)


def hall(n: int, *, epochs: int | None, backend: str, queue, single: float) -> dict:
    """Submit ``n`` runs within a few seconds, watch them, return the figures."""
    from core.learn import pool as pools
    from core.learn import runs

    ds, plan = _plan(epochs)
    reruns: list[float] = []
    stop = threading.Event()
    explainer = threading.Thread(target=_explainer_reruns, args=(stop, reruns), daemon=True)
    explainer.start()
    peak_server, peak_workers = _rss_mb(), 0.0
    submitted, done_at, started = {}, {}, []
    t0 = time.perf_counter()
    for i in range(n):
        run = runs.start_training(plan, "cpu", dataset=ds, owner=f"student-{i}", queue=queue,
                                  backend=backend)  # fmt: skip
        submitted[run.id] = time.perf_counter()
        started.append(run)
    while len(done_at) < n:  # a watcher per run: a snapshot a second, as a page redraws
        for run in started:
            if run.id not in done_at and not run.snapshot().active:
                done_at[run.id] = time.perf_counter()
        peak_server = max(peak_server, _rss_mb())
        if backend == "process":
            workers = sum(_rss_mb(p) for p in pools.get_pool().pids)
            peak_workers = max(peak_workers, workers)
        time.sleep(1.0)
    all_done = time.perf_counter() - t0
    stop.set()
    explainer.join(60)
    per_student = sorted(done_at[r.id] - submitted[r.id] for r in started)
    statuses = [r.status for r in started]
    accs = [r.test.accuracy for r in started if r.test is not None]
    return {
        "n": n,
        "all_done": all_done,
        "p50": statistics.median(per_student),
        "p95": per_student[min(len(per_student) - 1, int(round(0.95 * (n - 1))))],
        "throughput": n / all_done * 60,
        "of_cores": n * single / all_done,
        "peak_server_mb": peak_server,
        "peak_workers_mb": peak_workers,
        "explainer_ms": 1000 * statistics.median(reruns) if reruns else float("nan"),
        "explainer_p95_ms": 1000 * sorted(reruns)[int(0.95 * (len(reruns) - 1))]
        if reruns
        else float("nan"),
        "done": statuses.count("done"),
        "accuracy": statistics.median(accs) if accs else float("nan"),
    }


def single_run(epochs: int | None) -> float:
    """One run alone, in this process with all the cores (run after run is N times this)."""
    from core.learn import runs

    ds, plan = _plan(epochs)
    q = runs.RunQueue(max_running=1)
    t0 = time.perf_counter()
    run = runs.start_training(plan, "cpu", dataset=ds, queue=q, backend="thread")
    run.wait()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[4, 8])
    p.add_argument("--epochs", type=int, default=None, help="default: the digits recipe's")
    p.add_argument("--backend", choices=["process", "thread"], default="process")
    p.add_argument("--slots", type=int, default=None, help="runs at once (default CNN_MAX_RUNS)")
    args = p.parse_args(argv)

    from core.learn import pool as pools
    from core.learn import runs

    queue = runs.RunQueue(max_running=args.slots)
    if args.backend == "process":
        pool = pools.get_pool(queue.max_running)
        while len(pool.pids) < 1:  # the first worker has started (it imports torch)
            time.sleep(0.1)
    single = single_run(args.epochs)
    print(f"cores {os.cpu_count()}, {queue.max_running} runs at once, backend {args.backend}, "
          f"one run alone {single:.1f} s, server memory {_rss_mb():.0f} MB")  # fmt: skip
    results = []
    for n in args.sessions:
        r = hall(n, epochs=args.epochs, backend=args.backend, queue=queue, single=single)
        results.append(r)
        print(f"  N={n:3d}: all done {r['all_done']:6.1f} s, per student p50 {r['p50']:.1f} s "
              f"p95 {r['p95']:.1f} s, {r['throughput']:.1f} runs/min = {r['of_cores']:.0%} of "
              f"run after run, {r['done']}/{n} done (test acc median {r['accuracy']:.3f}), "
              f"peak memory server {r['peak_server_mb']:.0f} MB workers "
              f"{r['peak_workers_mb']:.0f} MB, explainer rerun median {r['explainer_ms']:.0f} ms "
              f"p95 {r['explainer_p95_ms']:.0f} ms")  # fmt: skip
    print(f"  after: server memory {_rss_mb():.0f} MB, queue keeps {queue.n_owners} owners, "
          f"{runs.n_registered()} runs findable by id")  # fmt: skip
    r = results[-1]
    print(f"hall: {r['n']} sessions, all done {r['all_done']:.1f} s, p95 {r['p95']:.1f} s, "
          f"single {single:.1f} s, throughput {r['throughput']:.1f} runs/min, explainer rerun "
          f"{r['explainer_ms']:.0f} ms")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
