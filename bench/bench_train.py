"""Training speed on the bundled datasets, and against the textbook's reference loop.

1. Per dataset (digits, commands, instruments): the default model
   (``core.learn.train.DEFAULT_MODELS``) trained with the default recipe
   (``core.learn.train.DEFAULT_RECIPES``) by ``core.learn.train.train`` on the train split, validated on
   the validation split after each epoch. The task, its inputs and its recipe are planned by
   ``core.learn.task.plan_preset``, as the Train page and the CLI plan theirs, so what is
   measured is what the app runs. After each epoch the held-out test split is scored
   too (not counted in the time); we report the training seconds until the test accuracy
   first reaches the target (digits 97%, commands 90%, instruments 95%) and the final test
   accuracy of the best-by-validation weights. Preparing the tensors (decoding, log-mels) is
   reported apart.
2. Digits against the reference: the textbook's first CNN (two 3x3 conv + ReLU + 2x2 max-pool
   blocks, 16 and 32 filters, one Linear layer) trained as the textbook does it: a DataLoader
   over a Dataset that turns each 28x28 image into a tensor one at a time, batch 32,
   shuffled, SGD lr 0.01 momentum 0.9, 10 epochs. Its test accuracy after 10 epochs is the
   bar; we report how long run 1 takes to clear it, and the ratio.
3. Overhead: ``core.learn.train.train`` against a bare loop (index, forward, loss, backward, step,
   scheduler step) over the same batches (same seeded permutation), the same model and the
   same optimiser, no augmentation and no validation in either; interleaved repeats, the
   median of the per-pair ratios.

Timings on a shared machine are noisy: every timing is repeated (``--repeats``, medians
printed) and the load average is printed beside it.

Run: python bench/bench_train.py [--repeats 3] [--datasets digits,commands,instruments]
[--device cpu|cuda|mps|auto]: every model, the reference's included, trains on that device
(chosen by ``core.learn.train.choose_device``); the data are moved there once per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import shipped as data  # noqa: E402
from core.learn import task as tasks  # noqa: E402
from core.learn.build import build_model  # noqa: E402
from core.learn.train import (  # noqa: E402
    DEFAULT_MODELS,
    DEFAULT_RECIPES,
    EpochEvent,
    TrainData,
    choose_device,
    default_recipe,
    evaluate,
    make_optimizer,
    make_scheduler,
    train,
)
from core.learn.zoo import preset_spec  # noqa: E402

TARGETS = {"digits": 0.97, "commands": 0.90, "instruments": 0.95}


def load() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


class TextbookCNN(nn.Module):
    """The textbook's small MNIST CNN: (N, 1, 28, 28) -> (N, 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 7, 7)
        )  # fmt: skip
        self.linear = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        return self.linear(self.features(x).flatten(1))


class PerImageDataset(TorchDataset):
    """Like torchvision's MNIST: one uint8 image -> PIL -> float tensor per __getitem__."""

    def __init__(self, images_u8, labels) -> None:
        self.images, self.labels = images_u8, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image
        from torchvision.transforms.functional import to_tensor

        return to_tensor(Image.fromarray(self.images[i])), int(self.labels[i])


DEVICE = torch.device("cpu")  # set by --device


def reference(ds, epochs: int = 10) -> tuple[float, float]:
    """Train as the textbook does; return (seconds, test accuracy after the last epoch)."""
    torch.manual_seed(0)
    model = TextbookCNN().to(DEVICE)
    tr, te = ds.splits["train"], ds.splits["test"]
    u8 = (ds.x[:, 0] * 255).round().astype("uint8")  # (N, 28, 28)
    loader = DataLoader(PerImageDataset(u8[tr], ds.y[tr]), batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(DEVICE), yb.to(DEVICE)  # as the textbook: each batch moved
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    _sync()
    seconds = time.perf_counter() - start
    acc = evaluate(model, torch.as_tensor(ds.x[te]), torch.as_tensor(ds.y[te]), DEVICE).accuracy
    return seconds, acc


def default_model(name: str, input_shape: tuple, n_classes: int) -> nn.Module:
    """The dataset's DEFAULT_MODELS preset, built for logits, seeded."""
    torch.manual_seed(0)
    spec = preset_spec(
        DEFAULT_MODELS[name], input_shape=input_shape, n_classes=n_classes, head="none"
    )
    return build_model(spec, input_shape, logits=True)


def run_default(plan: tasks.Plan, thresholds: list[float], *, verbose: bool) -> dict:
    """Train the planned model with its recipe; seconds to reach each threshold."""
    x_te, y_te = plan.split.x_test, plan.split.y_test
    torch.manual_seed(plan.task.recipe.seed)  # as runs.start_training seeds the weights
    model = build_model(plan.spec, plan.task.input_shape, logits=True)
    state = {"excluded": 0.0, "reached": [None] * len(thresholds), "curve": []}

    def on_event(e) -> None:
        if isinstance(e, EpochEvent):
            trained = e.elapsed - state["excluded"]  # earlier test checks not counted
            t0 = time.perf_counter()
            acc = evaluate(model, x_te, y_te, DEVICE).accuracy
            state["excluded"] += time.perf_counter() - t0
            for i, bar in enumerate(thresholds):
                if state["reached"][i] is None and acc >= bar:
                    state["reached"][i] = trained
            state["curve"].append(acc)
            if verbose:
                print(f"    epoch {e.epoch:2d}: val {e.val_acc:.4f} test {acc:.4f} "
                      f"at {trained:5.1f} s")  # fmt: skip

    result = train(model, plan.split.data, plan.task.recipe, DEVICE, on_event=on_event)
    final = evaluate(model, x_te, y_te, DEVICE).accuracy
    return {
        "reached": state["reached"],
        "final": final,
        "total": result.elapsed - state["excluded"],
        "best_epoch": result.best_epoch,
    }


def _sync() -> None:
    """Wait for queued GPU work, so a timer reads what was done."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def median_or_none(values: list) -> float | None:
    """Median of the runs that got there; None if any run did not."""
    return None if any(v is None for v in values) else statistics.median(values)


def bench_dataset(name: str, repeats: int, extra_bar: float | None = None) -> dict:
    """Prepare one dataset and train its default model ``repeats`` times; print medians."""
    t0 = time.perf_counter()
    ds = data.load(name)
    preset = tasks.default_preset(ds)
    prepared = tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset))
    prep = time.perf_counter() - t0
    plan = tasks.plan_preset(ds, prepared, preset)
    plan = plan.with_recipe(tasks.recipe_for(ds, prepared.representation, device=DEVICE))
    recipe = plan.task.recipe
    assert recipe == default_recipe(name, DEVICE), "the app's plan must run the tuned recipe"
    target = TARGETS[name]
    bars = [target] + ([extra_bar] if extra_bar is not None else [])
    n_params = plan.summary.torch_params
    print(f"\n== {name}: {len(ds.splits['train'])} train / {len(ds.splits['val'])} val / "
          f"{len(ds.splits['test'])} test, input {tuple(prepared.x.shape[1:])}, "
          f"data ready in {prep:.1f} s")  # fmt: skip
    print(f"   model {DEFAULT_MODELS[name]} ({n_params:,} parameters); {recipe}")
    runs = []
    for r in range(repeats):
        before = load()
        out = run_default(plan, bars, verbose=r == 0)
        runs.append(out)
        to_target = out["reached"][0]
        print(f"   run {r + 1}: {target:.0%} after "
              f"{'never' if to_target is None else f'{to_target:.1f} s'}; final test "
              f"{out['final']:.4f} (best epoch {out['best_epoch']}) after {out['total']:.1f} s"
              f"  [{before} -> {load()}]")  # fmt: skip
    med_target = median_or_none([o["reached"][0] for o in runs])
    med_total = statistics.median(o["total"] for o in runs)
    print(f"   {name}: median time to {target:.0%} test accuracy: "
          f"{'not reached in every run' if med_target is None else f'{med_target:.1f} s'}; "
          f"final test accuracy {runs[0]['final']:.4f} (same seed every run); median "
          f"{recipe.epochs}-epoch time {med_total:.1f} s")  # fmt: skip
    return {"runs": runs, "prep": prep}


def overhead(repeats: int, epochs: int = 2) -> list[float]:
    """Per-pair ratios core.learn.train / bare loop: default digits model, same batches."""
    ds = data.load_digits()
    x = torch.as_tensor(ds.x[ds.splits["train"]]).to(DEVICE)  # (N, 1, 28, 28), moved once
    y = torch.as_tensor(ds.y[ds.splits["train"]]).to(DEVICE)
    plain = replace(DEFAULT_RECIPES["digits"], augment="none", epochs=epochs, seed=0)
    bs, n = plain.batch_size, len(x)
    n_batches = n // bs if n % bs == 1 else -(-n // bs)  # as core.learn.train: no batch of one

    def bare() -> float:
        model = default_model("digits", (1, 28, 28), 10).to(DEVICE)
        opt = make_optimizer(model, plain)
        sched = make_scheduler(opt, plain, n_batches)
        gen = torch.Generator(device=DEVICE).manual_seed(plain.seed)
        _sync()
        start = time.perf_counter()
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen, device=DEVICE)
            for b in range(n_batches):
                idx = perm[b * bs : (b + 1) * bs]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        _sync()
        return time.perf_counter() - start

    def ours() -> float:
        model = default_model("digits", (1, 28, 28), 10)
        return train(model, TrainData(x, y), plain, DEVICE, on_event=lambda e: None).elapsed

    bare(), ours()  # warm-up
    ratios = []
    for r in range(repeats):  # interleaved, alternating order: load changes hit both
        if r % 2:
            t_ours, t_bare = ours(), bare()
        else:
            t_bare, t_ours = bare(), ours()
        ratios.append(t_ours / t_bare)
        print(f"   pair {r + 1}: bare {t_bare:.2f} s, core.learn.train {t_ours:.2f} s, "
              f"{100 * (t_ours / t_bare - 1):+.1f}%  [{load()}]")  # fmt: skip
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default="digits,commands,instruments")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--overhead-repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps", "auto"])
    args = parser.parse_args()
    global DEVICE
    DEVICE = choose_device(args.device)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = [s for s in args.datasets.split(",") if s]
    gpu = f", {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda" else ""
    print(f"torch {torch.__version__}, device {DEVICE}{gpu}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores; {load()}")  # fmt: skip

    ref = None
    if "digits" in names and not args.no_reference:
        ds = data.load_digits()
        print("\n== reference: textbook CNN, DataLoader, batch 32, SGD 0.01 m0.9, 10 epochs")
        refs = []
        for r in range(args.repeats):
            before = load()
            refs.append(reference(ds))
            print(f"   run {r + 1}: {refs[-1][0]:.1f} s, test accuracy {refs[-1][1]:.4f}  "
                  f"[{before} -> {load()}]")  # fmt: skip
        ref = (statistics.median(s for s, _ in refs), refs[0][1])

    results = {}
    for name in names:
        bar = ref[1] if name == "digits" and ref else None
        results[name] = bench_dataset(name, args.repeats, extra_bar=bar)

    print(
        "\n== overhead: core.learn.train vs a bare loop (default digits model, same batches, "
        "AdamW + OneCycle, 2 epochs, no augmentation or validation)"
    )
    ratios = overhead(args.overhead_repeats)

    print("\n== summary")
    if ref and "digits" in results:
        reached = median_or_none([o["reached"][1] for o in results["digits"]["runs"]])
        if reached is None:
            print(f"digits vs reference: ours did not reach {ref[1]:.4f} in every run")
        else:
            print(f"digits vs reference: the reference reaches {ref[1]:.4f} test accuracy in "
                  f"{ref[0]:.1f} s (10 epochs, median); ours in {reached:.1f} s (median): "
                  f"{ref[0] / reached:.1f}x faster (target >= 3x)")  # fmt: skip
    limits = {"digits": 30.0, "commands": 60.0, "instruments": None}
    for name, res in results.items():
        t = median_or_none([o["reached"][0] for o in res["runs"]])
        limit = limits[name]
        when = "not reached in every run" if t is None else f"in {t:.1f} s"
        goal = f"target >= {TARGETS[name]:.0%}" + (f" in <= {limit:.0f} s" if limit else "")
        print(f"{name}: {TARGETS[name]:.0%} test accuracy {when} (median of {len(res['runs'])}); "
              f"final test accuracy {res['runs'][0]['final']:.4f}; data ready in "
              f"{res['prep']:.1f} s ({goal})")  # fmt: skip
    print(f"trainer overhead: median {100 * (statistics.median(ratios) - 1):+.1f}% over "
          f"{len(ratios)} interleaved pairs (target <= 5%); {load()}")  # fmt: skip


if __name__ == "__main__":
    main()
