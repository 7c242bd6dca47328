"""Thirty General MIDI instruments: the app's default audio CNN and a 5-block pyramid CNN from
scratch against a pretrained audio CNN with a new head, test accuracy and training seconds.

The data are the shipped notes of ``assets/gm_instruments`` (``core.data.shipped.
load_gm_instruments``: 720 one-second notes, 480 train / 120 validation / 120 test, the test
notes at pitches held out of training), read as per-clip standardised log-mels
(1, 64, 101), prepared once and shared by every row. Each row trains with
``core.learn.train.train`` on the train split, keeps the best-by-validation weights and scores
them on the test split:

1. **default**: the dataset's DEFAULT_MODELS preset (``timbre_cnn``: three conv-BatchNorm
   blocks, 16-32-64 filters, global average pooling) with its tuned recipe, planned by
   ``core.learn.task.plan_preset`` as the Train page plans it.
2. **pyramid**: ``core.learn.zoo``'s ``pyramid_cnn``, the 5-block pyramid of the course's
   instrument notebook: per block two 3x3 conv-BatchNorm-ReLU, 2x2 max-pool and dropout,
   channels doubling 32-64-128-256-512, then global average pooling, a 256-unit hidden
   layer, dropout and 30 outputs; the same recipe (``--pyramid-epochs`` to change its
   length).
3. **frozen** and 4. **fine-tuned**: :func:`pretrained_rows`, the aiSFX log-mel CNN
   (pretrained on sound-effects libraries; it reads its own log-mel from the waveforms) with
   a new 30-way head: frozen (its features computed once, the head alone learns) or
   fine-tuned (every layer, the backbone at a tenth of the rate), ``--pretrained-seeds``
   times (default 1).

Training seconds exclude preparing the log-mels (printed apart). On a shared machine the
load average is printed beside each row.

The test split is 120 notes (4 per instrument), so one note is 0.8 points, and the default
model's accuracy moves by 10 points or more from seed to seed: it runs ``--seeds`` times
(default 3) and the medians are reported; the pyramid, about 50 times the work a clip,
``--pyramid-seeds`` times (default 1). On a busy machine ``--threads 1`` is much faster than
torch's default (two threads on two loaded cores wait on each other).

Run: python bench/bench_instruments.py [--seeds 3] [--pyramid-seeds 1] [--epochs N]
[--pyramid-epochs N] [--rows default,pyramid,frozen,fine-tuned] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import shipped as data  # noqa: E402
from core.learn import task as tasks  # noqa: E402
from core.learn.build import build_model  # noqa: E402
from core.learn.train import evaluate, train  # noqa: E402

DEVICE = torch.device("cpu")
PYRAMID = "pyramid_cnn"


def load() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


@dataclass(frozen=True)
class Row:
    """One model's result, over its seeds."""

    name: str
    parameters: int
    accuracies: list[float]  # test accuracy of the best-by-validation weights, per seed
    seconds: list[float]  # training time, per seed
    best_epochs: list[int]

    def line(self) -> str:
        accs = ", ".join(f"{a:.3f}" for a in self.accuracies)
        return (f"{self.name}: test accuracy {statistics.median(self.accuracies):.3f} "
                f"(seeds: {accs}) in {statistics.median(self.seconds):.1f} s "
                f"({self.parameters:,} parameters)")  # fmt: skip


def train_plan(plan: tasks.Plan, seeds: int, label: str) -> Row:
    """Train the planned model once per seed; print each run; return the row."""
    accs, secs, bests = [], [], []
    for seed in range(seeds):
        recipe = plan.task.recipe
        plan_s = plan.with_recipe(seed=seed)
        torch.manual_seed(seed)  # as runs.start_training seeds the weights
        model = build_model(plan_s.spec, plan_s.task.input_shape, logits=True)
        before = load()
        start = time.perf_counter()
        result = train(model, plan_s.split.data, plan_s.task.recipe, DEVICE)
        seconds = time.perf_counter() - start
        acc = evaluate(model, plan_s.split.x_test, plan_s.split.y_test, DEVICE).accuracy
        accs.append(acc)
        secs.append(seconds)
        bests.append(int(result.best_epoch or 0))
        print(f"   {label} seed {seed}: test {acc:.4f}, best epoch {result.best_epoch} of "
              f"{recipe.epochs}, {seconds:.1f} s  [{before} -> {load()}]")  # fmt: skip
        sys.stdout.flush()
    return Row(label, plan.summary.torch_params, accs, secs, bests)


def default_row(ds, inputs, *, seeds: int, epochs: int | None) -> Row:
    """The app's default audio CNN for this dataset, from scratch, with its tuned recipe."""
    preset = tasks.default_preset(ds)
    plan = tasks.plan_preset(ds, inputs, preset)
    if epochs:
        plan = plan.with_recipe(epochs=epochs)
    print(f"\n== default: {preset} ({plan.summary.torch_params:,} parameters); "
          f"{plan.task.recipe}")  # fmt: skip
    return train_plan(plan, seeds, f"default {preset}")


def pyramid_row(ds, inputs, *, seeds: int, epochs: int | None) -> Row:
    """The 5-block pyramid CNN (core.learn.zoo's pyramid_cnn), from scratch, same recipe."""
    plan = tasks.plan_preset(ds, inputs, PYRAMID)
    if epochs:
        plan = plan.with_recipe(epochs=epochs)
    print(f"\n== pyramid: {PYRAMID} ({plan.summary.torch_params:,} parameters, "
          f"{plan.summary.mult_adds / 1e6:,.0f} M mult-adds a clip); "
          f"{plan.task.recipe}")  # fmt: skip
    return train_plan(plan, seeds, f"pyramid {PYRAMID}")


def pretrained_rows(ds, inputs, *, seeds: int, epochs: int | None,
                    modes=("frozen", "fine-tuned")) -> list[Row]:  # fmt: skip
    """The aiSFX log-mel CNN (core.learn.backbones, pretrained on sound-effects libraries) with
    a new 30-way head, frozen and fine-tuned (core.learn.transfer.train_pretrained), on the
    same split: trained on "train", selected on "val", scored on "test" like the other rows.
    It reads its own log-mel from the waveforms, not ``inputs``."""
    from core.learn.transfer import train_pretrained

    rows = []
    for mode in modes:
        n = epochs or PRETRAINED_EPOCHS[mode]
        print(f"\n== pretrained aiSFX ({mode}), {n} epochs; {load()}")
        accs, secs, bests, params = [], [], [], 0
        for seed in range(seeds):
            side = train_pretrained(ds, mode=mode, epochs=n, device=DEVICE, seed=seed)
            best = max(side.history, key=lambda e: e.val_acc or 0.0).epoch if side.history else 0
            accs.append(side.test_accuracy)
            secs.append(side.seconds)
            bests.append(best)
            params = side.trained_parameters
            print(f"   pretrained {mode} seed {seed}: test {side.test_accuracy:.4f}, "
                  f"{side.seconds:.1f} s, trained {side.trained_parameters:,} of "
                  f"{side.total_parameters:,} parameters")  # fmt: skip
            sys.stdout.flush()
        rows.append(Row(f"pretrained aiSFX {mode}", params, accs, secs, bests))
    return rows


PRETRAINED_EPOCHS = {"frozen": 30, "fine-tuned": 8}  # fine-tuning 5 M weights is slow on a CPU
ROWS = {
    "default": default_row,
    "pyramid": pyramid_row,
    "frozen": lambda *a, **k: pretrained_rows(*a, modes=("frozen",), **k)[0],
    "fine-tuned": lambda *a, **k: pretrained_rows(*a, modes=("fine-tuned",), **k)[0],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3,
                        help="runs of each row (seeds 0, 1, ...); medians are reported")  # fmt: skip
    parser.add_argument("--pyramid-seeds", type=int, default=1,
                        help="runs of the pyramid row (50 times the default model's work)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every row (default: the dataset's tuned recipe)")  # fmt: skip
    parser.add_argument("--pyramid-epochs", type=int, default=None,
                        help="epochs of the pyramid row (default: as --epochs)")  # fmt: skip
    parser.add_argument("--rows", default="default,pyramid,frozen,fine-tuned")
    parser.add_argument("--pretrained-seeds", type=int, default=1,
                        help="runs of each pretrained row")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {DEVICE}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores; {load()}")  # fmt: skip

    t0 = time.perf_counter()
    ds = data.load_gm_instruments()
    inputs = tasks.inputs_for(ds, tasks.Reads("log-mel"))  # what both CNNs read
    prep = time.perf_counter() - t0
    print(f"gm_instruments: {ds.n_classes} classes, {len(ds.splits['train'])} train / "
          f"{len(ds.splits['val'])} val / {len(ds.splits['test'])} test, input "
          f"{tuple(inputs.x.shape[1:])}, decoded and log-mels ready in {prep:.1f} s")  # fmt: skip

    results: dict[str, Row] = {}
    for name in [r for r in args.rows.split(",") if r]:
        pyramid, pretrained = name == "pyramid", name in ("frozen", "fine-tuned")
        epochs = (args.pyramid_epochs or args.epochs) if pyramid else args.epochs
        seeds = (args.pyramid_seeds if pyramid else args.pretrained_seeds if pretrained
                 else args.seeds)  # fmt: skip
        results[name] = ROWS[name](ds, inputs, seeds=seeds, epochs=epochs)

    print("\n== summary")
    for row in results.values():
        print(row.line())
    measured = list(results.values())
    print("gm_instruments, 30 classes, test notes at held-out pitches, CPU: "
          + "; ".join(f"{r.name} {statistics.median(r.accuracies):.1%} in "
                      f"{statistics.median(r.seconds):.0f} s" for r in measured)
          + f"  [{load()}]")  # fmt: skip


if __name__ == "__main__":
    main()
