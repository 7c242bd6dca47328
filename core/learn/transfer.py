"""Transfer learning: a pretrained backbone with a new head, frozen or fine-tuned, and a
side-by-side comparison with the same data trained from scratch.

- **frozen**: the backbone's weights stay as they came; only a new linear head learns, on the
  backbone's features. The features of every example are computed once, so training is as
  quick as fitting a logistic regression.
- **fine-tuned**: every layer learns, the backbone at a tenth of the head's rate so what it
  learned before is adjusted rather than overwritten; its batch-norm statistics adapt too.

Pictures go to EfficientNet-Lite0 (grey pictures repeated to RGB, resized, normalised), sounds
to the aiSFX log-mel CNN and speech to Google's speech_embedding (each makes its own log-mel
from the waveforms). ``compare(ds, ...)``
trains the app's default model from scratch and the pretrained one on the same split and
epochs, and returns both curves, test accuracies, confusion matrices and the number of
parameters each trained.

Headless::

    python -m core.learn.transfer --dataset commands --mode frozen --epochs 10
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from core.errors import UserInputError
from core.learn import backbones as B

MODES = ("frozen", "fine-tuned")
BACKBONE_LR_FACTOR = 0.1  # fine-tuning: the backbone learns at this fraction of the head's rate
IMAGE_SIZE = 96  # pictures are resized to this for EfficientNet (224 as trained; 96 on a CPU)
FEATURE_BATCH = 64


def backbone_for(ds, backbone: str | None = None) -> str:
    """The backbone that reads ``ds`` (core.learn.task.default_backbone unless one is named)."""
    from core.learn import task as tasks

    name = backbone or tasks.default_backbone(ds)
    if name not in B.BACKBONES or B.BACKBONES[name][0] != ds.kind:
        raise UserInputError(f"The pretrained network {name!r} does not read this kind of data.")
    return name


def front_end(ds, backbone: str | None = None) -> nn.Module:
    """What turns the dataset's raw examples into what its backbone reads."""
    name = backbone_for(ds, backbone)
    if ds.kind == "image":
        return _ImageFront(IMAGE_SIZE)
    if name == "speech_embedding":
        return _ToRate(int(ds.sample_rate or 16_000), B.SPEECH_RATE)
    return B.AisfxLogMel(int(ds.sample_rate or 16_000))


class _ToRate(nn.Module):
    def __init__(self, rate: int, wanted: int):
        super().__init__()
        self.rate, self.wanted = rate, wanted

    def forward(self, wav):  # (N, T) at rate -> (N, T') at the wanted rate
        import torchaudio.functional as AF

        return wav if self.rate == self.wanted else AF.resample(wav, self.rate, self.wanted)


class _ImageFront(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):  # (N, C, H, W) in [0, 1]
        return B.image_features(x, size=self.size)  # (N, 3, size, size)


class PretrainedClassifier(nn.Module):
    """backbone.features -> dropout -> Linear head; reads what ``front_end`` makes.

    In frozen mode the backbone never trains: no gradients, batch-norm statistics fixed.
    """

    def __init__(self, backbone: nn.Module, n_classes: int, *, mode: str = "frozen",
                 dropout: float = 0.2):  # fmt: skip
        super().__init__()
        if mode not in MODES:
            raise UserInputError(f"Unknown mode {mode!r}: choose {' or '.join(MODES)}.")
        self.backbone, self.mode = backbone, mode
        size = backbone.feature_size
        self.head = nn.Sequential(
            B.Standardize(size), nn.Dropout(dropout), nn.Linear(size, n_classes)
        )
        for p in self.backbone.parameters():
            p.requires_grad_(mode == "fine-tuned")

    def train(self, mode: bool = True):
        super().train(mode)
        if self.mode == "frozen":
            self.backbone.eval()  # its batch-norm statistics stay those it was trained with
        return self

    def features(self, x):  # (N, ...) as the backbone reads
        if self.mode == "frozen":
            with torch.no_grad():
                return self.backbone.features(x)
        return self.backbone.features(x)  # (N, F)

    def forward(self, x):
        return self.head(self.features(x))  # (N, C)

    def param_groups(self, lr: float) -> list[dict]:
        """The optimiser's groups: the backbone at a tenth of the rate when fine-tuned."""
        if self.mode == "frozen":
            return [{"params": list(self.head.parameters()), "lr": lr}]
        return [{"params": list(self.head.parameters()), "lr": lr},
                {"params": list(self.backbone.parameters()), "lr": lr * BACKBONE_LR_FACTOR}]  # fmt: skip


def pretrained_model(ds, *, mode: str, backbone: str | None = None) -> PretrainedClassifier:
    name = backbone_for(ds, backbone)
    return PretrainedClassifier(B.BACKBONES[name][1](), ds.n_classes, mode=mode)


@torch.no_grad()
def backbone_inputs(ds, idx: np.ndarray, *, batch: int = FEATURE_BATCH,
                    backbone: str | None = None) -> torch.Tensor:  # fmt: skip
    """The examples ``idx`` of ``ds`` as the backbone reads them: (M, 3, S, S),
    (M, 1, frames, 96) or (M, T) at 16 kHz."""
    front = front_end(ds, backbone)
    x = torch.as_tensor(np.asarray(ds.x)[idx])
    return torch.cat([front(x[i : i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def embed(backbone: nn.Module, x: torch.Tensor, device, *, batch: int = FEATURE_BATCH):
    """Backbone features of ``x`` (M, ...) -> (M, F), computed on ``device`` in batches."""
    backbone = backbone.to(device).eval()
    out = [backbone.features(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.zeros(0, backbone.feature_size)


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
    from core.learn.build import build_model
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
    model = build_model(plan.spec, plan.task.input_shape, logits=True)
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
    """Train ``ds``'s pretrained backbone with a new head on ``ds.splits`` (train, selected on
    val, scored on test): frozen (features once, the head alone) or fine-tuned (every layer,
    the backbone at BACKBONE_LR_FACTOR of the rate)."""
    from core.learn.train import Recipe, evaluate, train

    if mode not in MODES:
        raise UserInputError(f"Unknown mode {mode!r}: choose {' or '.join(MODES)}.")
    say = say or (lambda _f, _s: None)
    device = torch.device(device)
    torch.manual_seed(seed)
    train_idx = np.asarray(ds.splits["train"])
    val_idx, test_idx = np.asarray(ds.splits["val"]), np.asarray(ds.splits["test"])
    small = ds
    say(0.5, f"Preparing the pretrained backbone ({mode})")
    start = time.perf_counter()
    name = backbone_for(ds, backbone)
    net = pretrained_model(small, mode=mode, backbone=name)
    x = {k: backbone_inputs(small, i, backbone=name) for k, i in (("train", train_idx), ("val", val_idx),
                                                  ("test", test_idx))}  # fmt: skip
    y = {k: torch.as_tensor(np.asarray(ds.y)[i]) for k, i in (("train", train_idx),
                                                            ("val", val_idx), ("test", test_idx))}  # fmt: skip
    batch = int(min(32, max(4, len(train_idx) // 8)))  # a few-shot set still takes several steps
    from core.learn.train import TrainData

    feats = {k: embed(net.backbone, v, device) for k, v in x.items()} if mode == "frozen" else {
        "train": embed(net.backbone, x["train"], device)}  # fmt: skip
    net.head[0].fit(feats["train"])  # the head reads standardised features
    if mode == "frozen":  # features once; the head alone learns on them
        recipe = Recipe(epochs=int(epochs), batch_size=batch, lr=1e-2, optimizer="adam",
                        weight_decay=1e-3, scheduler="none", augment="none", seed=seed).validate()  # fmt: skip
        say(0.7, "Training the new head on the backbone's features")
        head = net.head
        result = train(head, TrainData(feats["train"], y["train"], feats["val"], y["val"]),
                       recipe, device, stop=stop)  # fmt: skip
        ev = evaluate(head, feats["test"], y["test"], device)
    else:
        recipe = Recipe(epochs=int(epochs), batch_size=batch, lr=1e-3, optimizer="adam",
                        scheduler="none", augment="none", seed=seed).validate()  # fmt: skip
        say(0.6, "Fine-tuning every layer")
        result = train(net, TrainData(x["train"], y["train"], x["val"], y["val"]), recipe, device,
                       stop=stop)  # fmt: skip
        ev = evaluate(net, x["test"], y["test"], device)
    seconds = time.perf_counter() - start
    from core.learn.task import BACKBONE_TITLES

    name = f"pretrained {BACKBONE_TITLES[name]} ({mode})"
    return Side(name, result.history, ev.accuracy, ev.confusion,
                B.n_parameters(net, trainable_only=True), B.n_parameters(net), seconds)  # fmt: skip


def _main(argv=None) -> int:
    from core.data import shipped

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="commands", choices=shipped.DATASETS)
    p.add_argument("--mode", default="frozen", choices=MODES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--per-class", type=int, default=None)
    p.add_argument("--backbone", default=None, choices=sorted(B.BACKBONES))
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
