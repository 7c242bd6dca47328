"""Transfer learning: a pretrained network with a new head, frozen or fine-tuned, side by
side with the same data trained from scratch.

The pretrained model is the Train page's own (core.learn.task.plan_pretrained: a ``pretrained``
layer, core.learn.backbones.Pretrained, then dropout and a Linear layer), trained by the same
trainer:

- **frozen**: the network's weights stay as they came; only the new head learns, on features
  computed once, so training is as quick as fitting a logistic regression.
- **fine-tuned**: every layer learns, the pretrained ones at a tenth of the head's rate so
  what they learned before is adjusted rather than overwritten.

Pictures go to EfficientNet-Lite0, words to Google's speech embedding and other sounds to the
aiSFX log-mel CNN (each makes its own input from the raw pictures or waveforms).
``compare(ds, ...)`` trains the app's default model from scratch and the pretrained one on the
same split and epochs, and returns both curves, test accuracies, confusion matrices and the
number of parameters each trained.

Headless::

    python -m core.learn.transfer --dataset commands --mode frozen --epochs 10
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.errors import UserInputError
from core.learn import backbones as B

MODES = ("frozen", "fine-tuned")


# --------------------------------------------------------------------------- compare ----


@dataclass(frozen=True)
class Side:
    """One model of a comparison."""

    name: str
    history: list  # core.learn.train.EpochEvent
    test_accuracy: float
    confusion: np.ndarray  # (C, C) counts, rows true, columns predicted
    trained_parameters: int
    total_parameters: int
    seconds: float  # training, and computing features once for a frozen backbone


@dataclass(frozen=True)
class Comparison:
    scratch: Side
    pretrained: Side
    class_names: tuple[str, ...]
    n_train: int
    n_test: int


def _train_indices(ds, per_class: int | None, seed: int) -> np.ndarray:
    idx = np.asarray(ds.splits["train"])
    if per_class is None:
        return idx
    rng = np.random.default_rng(seed)
    y = np.asarray(ds.y)[idx]
    keep = [rng.permutation(idx[y == c])[:per_class] for c in range(ds.n_classes)]
    return np.sort(np.concatenate(keep))


def compare(ds, *, mode: str = "frozen", epochs: int = 10, per_class: int | None = None,
            device="cpu", seed: int = 0, on_progress=None, stop=None,
            backbone: str | None = None) -> Comparison:  # fmt: skip
    """Train ``ds``'s default model from scratch and a pretrained backbone on the same split.

    per_class : keep only this many training examples of each class (few-shot), or all.
    on_progress : called with (fraction done, sentence).
    """
    from core.learn import task as tasks
    from core.learn.pool import build_seeded
    from core.learn.train import evaluate, train

    if mode not in MODES:
        raise UserInputError(f"Unknown mode {mode!r}: choose {' or '.join(MODES)}.")
    if not 1 <= int(epochs) <= 200:
        raise UserInputError("Epochs must be between 1 and 200.")
    say = on_progress or (lambda _f, _s: None)
    device = torch.device(device)
    train_idx = _train_indices(ds, per_class, seed)
    val_idx, test_idx = np.asarray(ds.splits["val"]), np.asarray(ds.splits["test"])
    small = replace(ds, splits={"train": train_idx, "val": val_idx, "test": test_idx})

    # from scratch: the app's default model and tuned recipe, only the epochs changed
    say(0.0, "Training the default model from scratch")
    reads = tasks.reads_for_preset(small, tasks.default_preset(small))
    inputs = tasks.inputs_for(small, reads)
    plan = tasks.plan_preset(small, inputs, tasks.default_preset(small))
    plan = plan.with_recipe(epochs=int(epochs), seed=seed)
    model = build_seeded(plan.spec, plan.task.input_shape, seed)  # the same seed, the same start
    start = time.perf_counter()
    result = train(model, plan.split.data, plan.task.recipe, device, stop=stop)
    seconds = time.perf_counter() - start
    ev = evaluate(model, plan.split.x_test, plan.split.y_test, device)
    scratch = Side("from scratch: " + plan.model_name, result.history, ev.accuracy, ev.confusion,
                   B.n_parameters(model, trainable_only=True), B.n_parameters(model),
                   seconds)  # fmt: skip

    # pretrained: the same split and epochs
    pretrained = train_pretrained(small, mode=mode, epochs=epochs, device=device, seed=seed,
                                  stop=stop, say=say, backbone=backbone)  # fmt: skip
    say(1.0, "Done")
    return Comparison(scratch, pretrained, tuple(ds.class_names), len(train_idx), len(test_idx))


def train_pretrained(ds, *, mode: str = "frozen", epochs: int = 10, device="cpu", seed: int = 0,
                     stop=None, say=None, backbone: str | None = None) -> Side:  # fmt: skip
    """Train a pretrained network with a new head (core.learn.task.plan_pretrained: the Train
    page's model and recipe) on ``ds.splits``: trained on train, its best epoch chosen on val,
    scored on test. ``backbone`` names the network (default: the dataset's)."""
    from core.learn import task as tasks
    from core.learn.pool import build_seeded
    from core.learn.train import evaluate, train

    if mode not in MODES:
        raise UserInputError(f"Unknown mode {mode!r}: choose {' or '.join(MODES)}.")
    say = say or (lambda _f, _s: None)
    device = torch.device(device)
    name = tasks.pretrained_backbone(ds, backbone)
    plan = tasks.plan_pretrained(ds, tasks.inputs_for(ds, tasks.reads_for_pretrained(ds)), mode,
                                 backbone=name)  # fmt: skip
    n_train = len(plan.split.data.x_train)
    batch = int(min(32, max(4, n_train // 8)))  # a few-shot set still takes several steps
    plan = plan.with_recipe(epochs=int(epochs), batch_size=batch, seed=seed)
    say(0.5, f"Training the pretrained network ({mode})")
    start = time.perf_counter()
    model = build_seeded(plan.spec, plan.task.input_shape, seed)
    result = train(model, plan.split.data, plan.task.recipe, device, stop=stop)
    ev = evaluate(model, plan.split.x_test, plan.split.y_test, device)
    seconds = time.perf_counter() - start
    return Side(f"pretrained {tasks.BACKBONE_TITLES[name]} ({mode})", result.history,
                ev.accuracy, ev.confusion, plan.summary.trainable, plan.summary.torch_params,
                seconds)  # fmt: skip


def _main(argv=None) -> int:
    from core.data import shipped

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="commands", choices=shipped.DATASETS)
    p.add_argument("--mode", default="frozen", choices=MODES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--per-class", type=int, default=None)
    p.add_argument("--backbone", default=None, choices=sorted(B.BACKBONES),
                   help="default: the dataset's (core.learn.task.default_backbone)")  # fmt: skip
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    c = compare(shipped.load(a.dataset), mode=a.mode, epochs=a.epochs, per_class=a.per_class,
                device=a.device, on_progress=lambda f, s: print(f"[{f:4.0%}] {s}"),
                backbone=a.backbone)  # fmt: skip
    for side in (c.scratch, c.pretrained):
        print(f"{side.name}: test {side.test_accuracy:.1%}, trained {side.trained_parameters:,} "
              f"of {side.total_parameters:,} parameters, {side.seconds:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
