"""The training loop: recipe in, trained model and a history of events out.

``train(model, data, recipe, device, on_event=..., stop=...)`` trains any ``nn.Module`` that maps
a batch ``(N, ...)`` to logits ``(N, C)`` (or ``(N, 1)`` for a two-class task with one sigmoid
output) on tensors held in memory: the data are moved to the device once and batched by
indexing, with no DataLoader. It keeps a copy of the best weights by validation score and puts
them back at the end, stops on a NaN/infinite loss or when ``stop`` (a ``threading.Event``) is
set, and reports each batch and epoch to ``on_event`` as plain frozen dataclasses, so a page can
read them from another thread. The device is chosen in one place: ``choose_device``.

Headless (the model and recipe default to ``DEFAULT_MODELS`` and ``DEFAULT_RECIPES``)::

    python -m core.learn.train --dataset commands --out model.zip
    python -m core.learn.train --dataset digits --model lenet5 --epochs 3 --out model.zip
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserInputError
from core.learn.metrics import confusion_matrix

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "onecycle", "plateau")
AUGMENTATIONS = ("none", "image", "spectrogram", "waveform")
GPU_SYNC_EVERY = 32  # batches between reading the loss back from a GPU (see _sync_every)


# ---------------------------------------------------------------- device (the one place) ----


def choose_device(preference: str = "auto") -> torch.device:
    """Pick the device to train on: CUDA, then Apple's MPS, then the CPU.

    Parameters
    ----------
    preference : {"auto", "cuda", "mps", "cpu"}
        "auto" takes the first available; naming a device asks for it and fails with a
        sentence if this machine does not have it.
    """
    pref = preference.lower().strip()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if pref == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if pref == "cuda" and not cuda:
        raise UserInputError("No CUDA GPU is available on this machine; choose 'cpu' or 'auto'.")
    if pref == "mps" and not mps:
        raise UserInputError(
            "Apple's MPS is not available on this machine; choose 'cpu' or 'auto'."
        )
    if pref not in ("cuda", "mps", "cpu"):
        raise UserInputError(f"Unknown device {preference!r}: choose auto, cuda, mps or cpu.")
    return torch.device(pref)


# --------------------------------------------------------------------------- the recipe ----


@dataclass(frozen=True)
class Recipe:
    """Everything that says how to train (not what: the model and data come separately).

    Attributes
    ----------
    optimizer : {"sgd", "adam", "adamw"}; SGD uses ``momentum``.
    scheduler : {"none", "step", "onecycle", "plateau"}
        "step" multiplies the rate by ``gamma`` every ``step_size`` epochs; "onecycle" warms
        up to ``lr`` over the first ``warmup`` fraction of the run, then anneals, per batch;
        "plateau" multiplies by ``gamma`` when the
        validation loss has not improved for ``patience`` epochs.
    augment : {"none", "image", "spectrogram", "waveform"}
        "image": random shifts (up to ``max_shift`` pixels) and rotations (up to
        ``max_rotation`` degrees); "spectrogram": SpecAugment frequency and time masks (widths
        up to ``freq_mask`` and ``time_mask`` bins), a random time shift (up to ``time_shift``
        of the length) and Gaussian noise of std ``noise_std``; "waveform": time shift, noise
        and a random gain.
    select_by : {"val_acc", "val_loss"}: what "best" means for the kept checkpoint.
    batch_every : send a BatchEvent every this many batches (1 = all).

    A Recipe checks every field once, as it is made (``Recipe(...)`` or
    ``dataclasses.replace``): one that exists can be trained with, and a bad setting raises
    UserInputError with a sentence before anything starts.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    step_size: int = 5
    gamma: float = 0.1
    patience: int = 2
    batch_size: int = 64
    epochs: int = 10
    augment: str = "none"
    max_shift: int = 2
    max_rotation: float = 10.0
    freq_mask: int = 8
    time_mask: int = 16
    time_shift: float = 0.1
    noise_std: float = 0.0
    seed: int = 0
    warmup: float = 0.3  # OneCycle: the fraction of the run spent warming up (PyTorch's pct_start)
    select_by: str = "val_acc"
    batch_every: int = 1

    def __post_init__(self) -> None:
        self._check()

    def validate(self) -> Recipe:
        """The recipe itself: it was checked when it was made (kept for callers that chain)."""
        return self

    def _check(self) -> None:
        """Raise UserInputError with a sentence for the first bad setting."""
        checks = [
            (0.0 < self.warmup < 1.0, "warmup must be a fraction between 0 and 1."),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}."),
            (self.scheduler in SCHEDULERS, f"scheduler must be one of {', '.join(SCHEDULERS)}."),
            (
                self.augment in AUGMENTATIONS,
                f"augmentation must be one of {', '.join(AUGMENTATIONS)}.",
            ),
            (self.select_by in ("val_acc", "val_loss"), "select_by must be val_acc or val_loss."),
            (
                math.isfinite(self.lr) and 0 < self.lr <= 10,
                f"A learning rate of {self.lr:g} cannot be used: it must be above 0 and at most "
                "10 (typical values are 1e-4 to 1e-1).",
            ),
            (0 <= self.momentum < 1, "Momentum must be between 0 and 1 (0.9 is usual)."),
            (
                math.isfinite(self.weight_decay) and 0 <= self.weight_decay <= 1,
                f"A weight decay of {self.weight_decay:g} cannot be used: choose 0 to 1 "
                "(1e-4 to 1e-2 is usual).",
            ),
            (
                1 <= self.batch_size <= 65536,
                f"A batch size of {self.batch_size:,} cannot be used: it must be between 1 and "
                "65,536 (32 to 256 is usual).",
            ),
            (
                1 <= self.epochs <= 1000,
                f"{self.epochs:,} epochs cannot be run here: choose between 1 and 1,000.",
            ),
            (self.step_size >= 1, "The StepLR step size must be at least 1 epoch."),
            (0 < self.gamma <= 1, "The decay factor gamma must be in (0, 1]."),
            (self.patience >= 0, "Patience cannot be negative."),
            (self.max_shift >= 0 and self.max_rotation >= 0, "Shifts and rotations must be >= 0."),
            (self.freq_mask >= 0 and self.time_mask >= 0, "Mask widths must be >= 0."),
            (0 <= self.time_shift < 1, "The time shift is a fraction of the length, in [0, 1)."),
            (self.noise_std >= 0, "The noise level cannot be negative."),
            (self.batch_every >= 1, "batch_every must be at least 1."),
        ]
        for ok, message in checks:
            if not ok:
                raise UserInputError(message)


#: Recipes that work well on the bundled datasets with their DEFAULT_MODELS (the pages start
#: from these). bench/bench_train.py measures them: on 2 CPU cores each reaches its target
#: (digits >= 97%, commands >= 90%, instruments >= 95% test accuracy) well within a minute.
DEFAULT_RECIPES: dict[str, Recipe] = {
    "digits": Recipe(
        optimizer="adamw", lr=5e-3, weight_decay=1e-3, scheduler="onecycle", warmup=0.15,
        batch_size=32, epochs=8, augment="image",
    ),
    "commands": Recipe(
        optimizer="adamw", lr=3e-3, weight_decay=1e-2, scheduler="onecycle", batch_size=32,
        epochs=20, augment="spectrogram", freq_mask=6, time_mask=10, time_shift=0.05,
    ),
    "instruments": Recipe(
        optimizer="adam", lr=3e-3, scheduler="onecycle", batch_size=32, epochs=20,
        augment="none",
    ),
    # 30 classes, 16 training notes each, tested at held-out pitches: longer and faster than
    # "instruments"; on 1 CPU thread 60 s, 66-83% test accuracy over 4 seeds (median 79%;
    # lr 3e-3: 71%; SpecAugment masks cost 10 points)
    "gm_instruments": Recipe(
        optimizer="adam", lr=1e-2, scheduler="onecycle", batch_size=32, epochs=60,
        augment="none",
    ),
}  # fmt: skip

#: The same datasets' recipes on a CUDA GPU, where a batch of 32 leaves the card waiting on
#: kernel launches: larger batches with a rate to match. bench/bench_recipes.py chose them on
#: an H100, deterministic cuDNN, 5 seeds each, every seed over its target: digits 256 / 0.03 /
#: 24 epochs, 97.6-97.9% in 1.2 s (the CPU recipe there: 3.9 s, 96.5% on one seed), commands
#: 128 / 0.006 / 40, 93% in 1.5 s, instruments 256 / 0.009 / 40, 99-100% in 0.7 s.
GPU_RECIPES: dict[str, Recipe] = {
    "digits": replace(DEFAULT_RECIPES["digits"], batch_size=256, lr=0.03, epochs=24),
    "commands": replace(DEFAULT_RECIPES["commands"], batch_size=128, lr=0.006, epochs=40),
    "instruments": replace(DEFAULT_RECIPES["instruments"], batch_size=256, lr=0.009, epochs=40),
    # not tuned on a GPU yet: the CPU recipe (480 training notes, 15 batches an epoch)
    "gm_instruments": DEFAULT_RECIPES["gm_instruments"],
}


def default_recipe(name: str, device=None) -> Recipe:
    """The tuned recipe of bundled dataset ``name`` for ``device``: GPU_RECIPES on CUDA."""
    on_gpu = device is not None and torch.device(device).type == "cuda"
    return (GPU_RECIPES if on_gpu else DEFAULT_RECIPES)[name]


#: The core.learn.zoo preset each bundled dataset starts from (small, BatchNorm, fast on a CPU).
DEFAULT_MODELS: dict[str, str] = {
    "digits": "digits_cnn",
    "commands": "speech_cnn",
    "instruments": "timbre_cnn",
    "gm_instruments": "timbre_cnn",
}


# --------------------------------------------------------------------------- the events ----


@dataclass(frozen=True)
class BatchEvent:
    """One optimisation step done."""

    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    n_batches: int
    step: int  # 1-based over the whole run
    total_steps: int
    loss: float
    lr: float
    elapsed: float  # seconds since the run started


@dataclass(frozen=True)
class EpochEvent:
    """One epoch done, with its validation results."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    elapsed: float
    is_best: bool
    best_epoch: int
    val_confusion: np.ndarray | None = None  # (C, C) counts, rows = true class


@dataclass(frozen=True)
class EndEvent:
    """The run ended: ``reason`` is "finished", "stopped", "diverged" or "at_chance"."""

    reason: str
    message: str
    best_epoch: int | None
    elapsed: float


Event = BatchEvent | EpochEvent | EndEvent


@dataclass
class TrainData:
    """Tensors to train on: inputs (N, ...) float and class indices (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None


@dataclass
class TrainResult:
    """What a run produced; the model passed to ``train`` now holds the best weights."""

    history: list[EpochEvent]
    reason: str  # "finished", "stopped", "diverged" or "at_chance" (see :func:`verdict`)
    message: str
    best_epoch: int | None
    best_state: dict[str, torch.Tensor] | None = field(repr=False, default=None)  # on the CPU
    elapsed: float = 0.0


@dataclass(frozen=True)
class EvalResult:
    """Evaluation of a model on a set: loss, accuracy, predictions and scores."""

    loss: float
    accuracy: float
    predictions: np.ndarray  # (N,) predicted class
    probabilities: np.ndarray  # (N, C) softmax, or (N, 2) [1 - p, p] for one sigmoid output
    confusion: np.ndarray  # (C, C) counts


# ---------------------------------------------------------------------- loss and scoring ----


def _loss_and_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and number of correct predictions; one output column means sigmoid + BCE."""
    if logits.ndim != 2:
        raise UserInputError(
            f"The model must output one row of class scores per example, shape (N, classes); "
            f"it outputs {tuple(logits.shape)}. Add Flatten and a Linear layer at the end."
        )
    if logits.shape[1] == 1:  # (N, 1): one sigmoid output for a two-class task
        z = logits[:, 0]
        loss = F.binary_cross_entropy_with_logits(z, y.to(z.dtype))
        correct = ((z > 0).long() == y).sum()
    else:  # (N, C): softmax over classes
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(dim=1) == y).sum()
    return loss, correct


def _check_outputs(logits: torch.Tensor, y: torch.Tensor) -> None:
    n_out = logits.shape[1] if logits.ndim == 2 else None
    n_classes = int(y.max().item()) + 1 if y.numel() else 0
    if n_out is not None and n_out != 1 and n_out < n_classes:
        raise UserInputError(
            f"The model has {n_out} outputs but the data have {n_classes} classes: set the last "
            f"Linear layer's out_features to {n_classes}."
        )
    if n_out == 1 and n_classes > 2:
        raise UserInputError(
            "One sigmoid output only works for two classes; this data set has "
            f"{n_classes}: give the last layer {n_classes} outputs."
        )


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, *, batch_size: int = 512
) -> EvalResult:
    """Loss, accuracy, predictions, class probabilities and confusion matrix on ``(x, y)``.

    Parameters
    ----------
    x : Tensor (N, ...), y : Tensor (N,) int64
    device : torch.device or str the model lives on.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    total_loss, probs = 0.0, []
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(device, non_blocking=True)
            yb = y[i : i + batch_size].to(device, non_blocking=True)
            logits = model(xb)
            _check_outputs(logits, yb)
            loss, _ = _loss_and_correct(logits, yb)
            total_loss += loss.item() * len(xb)
            if logits.shape[1] == 1:
                p = torch.sigmoid(logits)  # (B, 1)
                probs.append(torch.cat([1 - p, p], dim=1).cpu())
            else:
                probs.append(torch.softmax(logits, dim=1).cpu())
    finally:
        model.train(was_training)
    prob = torch.cat(probs).numpy() if probs else np.zeros((0, 0), np.float32)  # (N, C)
    pred = prob.argmax(axis=1) if len(prob) else np.zeros(0, np.int64)
    y_np = y.cpu().numpy()
    n_classes = max(prob.shape[1] if prob.ndim == 2 else 0, int(y_np.max()) + 1 if len(y_np) else 0)
    cm = confusion_matrix(y_true=y_np, y_pred=pred, n_classes=max(n_classes, 1))
    return EvalResult(
        loss=total_loss / max(len(x), 1),
        accuracy=float((pred == y_np).mean()) if len(y_np) else 0.0,
        predictions=pred,
        probabilities=prob,
        confusion=cm,
    )


# ------------------------------------------------------------------------- augmentation ----


def _augment_images(x: torch.Tensor, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """Random small rotation and shift per image, one affine warp for the batch. x: (N, C, H, W)."""
    n, _, h, w = x.shape
    dev = x.device
    angle = (torch.rand(n, generator=gen, device=dev) * 2 - 1) * math.radians(recipe.max_rotation)
    shift = (torch.rand(n, 2, generator=gen, device=dev) * 2 - 1) * recipe.max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta[:, 0, 2] = shift[:, 0] * 2 / w  # pixels -> normalised [-1, 1] coordinates
    theta[:, 1, 2] = shift[:, 1] * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def _roll_time(x: torch.Tensor, max_frac: float, gen: torch.Generator) -> torch.Tensor:
    """Circularly shift each example along its last (time) axis by up to max_frac of it."""
    t = x.shape[-1]
    max_shift = int(max_frac * t)
    if max_shift == 0:
        return x
    shifts = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), generator=gen, device=x.device)
    idx = (torch.arange(t, device=x.device) - shifts[:, None]) % t  # (N, T)
    idx = idx.view(x.shape[0], *([1] * (x.ndim - 2)), t).expand_as(x)
    return torch.gather(x, -1, idx)


def _augment_spectrograms(x: torch.Tensor, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment masks, time shift and noise. x: (N, C, F, T) log-mel."""
    import torchaudio.transforms as AT

    x = _roll_time(x, recipe.time_shift, gen)
    if recipe.freq_mask > 0:
        x = AT.FrequencyMasking(recipe.freq_mask, iid_masks=True)(x)
    if recipe.time_mask > 0:
        x = AT.TimeMasking(recipe.time_mask, iid_masks=True)(x)
    if recipe.noise_std > 0:
        x = x + recipe.noise_std * torch.randn(x.shape, generator=gen, device=x.device)
    return x


def _augment_waveforms(x: torch.Tensor, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """Time shift, random gain (-6..+0 dB) and noise. x: (N, C, T) or (N, T)."""
    x = _roll_time(x, recipe.time_shift, gen)
    gain_db = -6 * torch.rand(x.shape[0], generator=gen, device=x.device)
    x = x * (10 ** (gain_db / 20)).view(-1, *([1] * (x.ndim - 1)))
    if recipe.noise_std > 0:
        x = x + recipe.noise_std * torch.randn(x.shape, generator=gen, device=x.device)
    return x


def augment_batch(x: torch.Tensor, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """Apply the recipe's augmentation to one training batch (returns a new tensor)."""
    if recipe.augment == "image":
        if x.ndim != 4:
            raise UserInputError("Image augmentation needs image batches shaped (N, C, H, W).")
        return _augment_images(x, recipe, gen)
    if recipe.augment == "spectrogram":
        if x.ndim != 4:
            raise UserInputError(
                "Spectrogram augmentation needs batches shaped (N, C, mels, time)."
            )
        return _augment_spectrograms(x, recipe, gen)
    if recipe.augment == "waveform":
        return _augment_waveforms(x, recipe, gen)
    return x


# ---------------------------------------------------------------------------- optimiser ----


def _param_groups(model: nn.Module, lr: float) -> list[dict]:
    """The trainable parameters, grouped by rate: a layer with an ``lr_factor`` (a fine-tuned
    pretrained network: 0.1) learns at that fraction of ``lr``, the rest at ``lr``."""
    factor = {}
    for module in model.modules():
        f = getattr(module, "lr_factor", None)
        if isinstance(f, float) and f != 1.0:
            factor.update({id(p): f for p in module.parameters()})
    groups: dict[float, list] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault(factor.get(id(p), 1.0), []).append(p)
    # the full rate first: events report param_groups[0]'s rate
    return [{"params": ps, "lr": lr * f} for f, ps in sorted(groups.items(), reverse=True)]


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable parameters. A model with ``param_groups(lr)``
    (core.learn.transfer's pretrained classifier) gives its own groups and rates."""
    if hasattr(model, "param_groups"):
        params = model.param_groups(recipe.lr)
    else:
        params = _param_groups(model, recipe.lr)
    if not params:
        raise UserInputError("The model has no trainable parameters: add a Conv or Linear layer.")
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    if recipe.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, gamma=recipe.gamma)
    if recipe.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],  # each group's own rate
            total_steps=recipe.epochs * steps_per_epoch,
            pct_start=recipe.warmup,
        )
    if recipe.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=recipe.gamma, patience=recipe.patience
        )
    return None


# ---------------------------------------------------------------------------- the loop ----


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class _Run:
    """What one call of :func:`train` carries from batch to batch and epoch to epoch."""

    model: nn.Module  # what the batches go through: the whole model, or the layers after a
    # frozen first layer whose outputs were computed once (then ``x`` holds those outputs)
    whole: nn.Module  # the model being trained, all of it
    recipe: Recipe
    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    device: torch.device
    emit: Callable[[Event], None]
    stop: threading.Event | None
    start: float
    batch_size: int
    n_batches: int
    optimizer: torch.optim.Optimizer
    scheduler: object
    gen: torch.Generator
    step: int = 0
    reason: str = "finished"
    message: str = ""
    history: list[EpochEvent] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int | None = None
    best_key: tuple | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def end(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message


@torch.no_grad()
def _features_once(layer: nn.Module, x: torch.Tensor | None, batch: int = 64):
    """``layer``'s outputs for ``x`` in eval mode, in batches (None stays None)."""
    if x is None:
        return None
    layer.eval()
    return torch.cat([layer(x[i : i + batch]) for i in range(0, len(x), batch)])


def _prepare(model, data: TrainData, recipe: Recipe, device, emit, stop) -> _Run:
    """Check the data, move model and data to ``device`` once, plan the batches."""
    start = time.perf_counter()
    x, y = data.x_train, data.y_train
    if len(x) == 0 or len(x) != len(y):
        raise UserInputError("The training set is empty or its inputs and labels differ in count.")
    has_val = data.x_val is not None and data.y_val is not None and len(data.x_val) > 0
    if device.type == "cuda":  # the same seed, the same run (costs up to a third on an H100)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    model.to(device)
    x_dev = x.to(device)
    x_val = data.x_val.to(device) if has_val else None
    first = next(iter(model.children()), None) if isinstance(model, nn.Sequential) else None
    outputs = {}
    for module in model.modules():  # a pretrained layer fits its feature standardisation
        if callable(getattr(module, "prepare", None)):
            outputs[id(module)] = module.prepare(x_dev, stop=stop)  # its outputs, or None
    trained = model
    cached = outputs.get(id(first)) is not None
    if getattr(first, "mode", None) == "frozen" and recipe.augment == "none" and cached:
        # a frozen first layer gives the same features every epoch: compute them once and
        # train the layers after it on them (the modules are shared, so ``model`` learns)
        x_dev, x_val = outputs[id(first)], _features_once(first, x_val)
        trained = model[1:]
    n = len(x)
    batch_size = min(recipe.batch_size, n)
    n_batches = math.ceil(n / batch_size)
    if n % batch_size == 1 and n_batches > 1:
        n_batches -= 1  # a last batch of one example would break BatchNorm: skip it
    optimizer = make_optimizer(trained, recipe)
    return _Run(
        model=trained,
        whole=model,
        recipe=recipe,
        x=x_dev,
        y=y.to(device).long(),
        x_val=x_val,
        y_val=data.y_val.to(device).long() if has_val else None,
        device=device,
        emit=emit,
        stop=stop,
        start=start,
        batch_size=batch_size,
        n_batches=n_batches,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, recipe, n_batches),
        gen=torch.Generator(device=device).manual_seed(recipe.seed),
        message=f"Finished {recipe.epochs} epochs.",
    )


def _sync_every(device: torch.device, recipe: Recipe) -> int:
    """Batches between reading the loss back to the host.

    On the CPU reading it costs nothing, so every batch is checked and reported. On a GPU each
    read waits for the queued kernels, which would bound a small model's speed, so the loss is
    read (and checked for NaN) every ``GPU_SYNC_EVERY`` batches and at the end of an epoch.
    """
    if device.type == "cpu":
        return recipe.batch_every
    return max(recipe.batch_every, GPU_SYNC_EVERY)


def _train_one_epoch(run: _Run, epoch: int) -> tuple[float, float]:
    """Optimise over one shuffled pass; returns (train loss, train accuracy) of the batches seen.

    A stop request or a non-finite loss ends the run (``run.reason``) before the pass is over.
    """
    model, recipe = run.model, run.recipe
    model.train()
    perm = torch.randperm(len(run.x), generator=run.gen, device=run.device)
    loss_sum = torch.zeros((), device=run.device)
    correct_sum = torch.zeros((), device=run.device, dtype=torch.long)
    seen = 0
    every = _sync_every(run.device, recipe)
    for b in range(run.n_batches):
        if run.stop is not None and run.stop.is_set():
            run.end("stopped", f"Stopped by the user during epoch {epoch}.")
            break
        idx = perm[b * run.batch_size : (b + 1) * run.batch_size]
        xb, yb = run.x[idx], run.y[idx]
        if recipe.augment != "none":
            xb = augment_batch(xb, recipe, run.gen)
        logits = model(xb)
        if run.step == 0:
            _check_outputs(logits, run.y)
        loss, correct = _loss_and_correct(logits, yb)
        report = (run.step + 1) % every == 0 or b == run.n_batches - 1
        if report:  # read the loss back: check it, and report the step once it is taken
            loss_value = loss.item()
            if not (math.isfinite(loss_value) and math.isfinite(loss_sum.item())):
                bad = loss_value if not math.isfinite(loss_value) else float("nan")
                run.end(
                    "diverged",
                    f"The loss became {bad} by epoch {epoch}, batch {b + 1}: training diverged. "
                    f"Try a smaller learning rate (now {recipe.lr:g}).",
                )
                break
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if recipe.scheduler == "onecycle":
            run.scheduler.step()
        run.step += 1
        if report:
            run.emit(
                BatchEvent(
                    epoch=epoch,
                    batch=b + 1,
                    n_batches=run.n_batches,
                    step=run.step,
                    total_steps=run.n_batches * recipe.epochs,
                    loss=loss_value,
                    lr=run.optimizer.param_groups[0]["lr"],
                    elapsed=run.elapsed(),
                )
            )
        loss_sum += loss.detach() * len(idx)
        correct_sum += correct
        seen += len(idx)
    return loss_sum.item() / max(seen, 1), correct_sum.item() / max(seen, 1)


def _close_epoch(run: _Run, epoch: int, train_loss: float, train_acc: float) -> None:
    """Validate, keep the best weights, step the per-epoch schedulers, report the epoch."""
    recipe = run.recipe
    lr_now = run.optimizer.param_groups[0]["lr"]
    val_loss = val_acc = cm = None
    if run.x_val is not None:
        ev = evaluate(run.model, run.x_val, run.y_val, run.device)
        val_loss, val_acc, cm = ev.loss, ev.accuracy, ev.confusion
        key = (val_acc, -val_loss) if recipe.select_by == "val_acc" else (-val_loss,)
    else:
        key = (epoch,)  # no validation: the latest epoch is the best we know
    is_best = run.best_key is None or key > run.best_key
    if is_best and math.isfinite(val_loss if val_loss is not None else 0.0):
        run.best_key, run.best_epoch, run.best_state = key, epoch, _state_copy(run.whole)
    if recipe.scheduler == "step":
        run.scheduler.step()
    elif recipe.scheduler == "plateau":
        run.scheduler.step(val_loss if val_loss is not None else train_loss)
    event = EpochEvent(
        epoch=epoch,
        epochs=recipe.epochs,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=val_loss,
        val_acc=val_acc,
        lr=lr_now,
        elapsed=run.elapsed(),
        is_best=run.best_epoch == epoch,
        best_epoch=run.best_epoch if run.best_epoch is not None else epoch,
        val_confusion=cm,
    )
    run.history.append(event)
    run.emit(event)


def _finish(run: _Run) -> TrainResult:
    """Judge a finished run, put the best weights back and report the end."""
    if run.reason == "finished":
        y_max = max(int(run.y.max()), int(run.y_val.max()) if run.y_val is not None else 0)
        judged = verdict(run.history, n_classes=y_max + 1, lr=run.recipe.lr)
        if judged is not None:
            run.end(*judged)
    if run.best_state is not None:
        run.whole.load_state_dict(run.best_state)  # put the best weights back
        run.message += f" Kept the weights of epoch {run.best_epoch}, the best on validation."
    elif run.reason != "finished":
        run.message += " No epoch had finished, so the model keeps its current weights."
    elapsed = run.elapsed()
    run.emit(
        EndEvent(reason=run.reason, message=run.message, best_epoch=run.best_epoch, elapsed=elapsed)
    )
    return TrainResult(
        history=run.history,
        reason=run.reason,
        message=run.message,
        best_epoch=run.best_epoch,
        best_state=run.best_state,
        elapsed=elapsed,
    )


def train(
    model: nn.Module,
    data: TrainData,
    recipe: Recipe,
    device,
    *,
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data`` following ``recipe``.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) to logits (N, C), or (N, 1) for one sigmoid output.
    data : TrainData; the validation part may be None (then the last epoch counts as best).
    recipe : Recipe
    device : torch.device or str; the model and the data are moved there once.
    on_event : called with each BatchEvent, EpochEvent and the final EndEvent (from this thread).
    stop : when set (from any thread) the run ends before the next batch.

    Returns
    -------
    TrainResult; ``model`` holds the best-by-validation weights (or the last ones if no epoch
    finished or there is no validation set).
    """
    device = torch.device(device)
    run = _prepare(model, data, recipe, device, on_event or (lambda _e: None), stop)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(recipe.seed)  # dropout and SpecAugment masks, inside this run only
        for epoch in range(1, recipe.epochs + 1):
            train_loss, train_acc = _train_one_epoch(run, epoch)
            if run.reason != "finished":
                break
            _close_epoch(run, epoch, train_loss, train_acc)
    return _finish(run)


# ---------------------------------------------------------------------------- verdicts ----


def verdict(history, *, n_classes: int, lr: float) -> tuple[str, str] | None:
    """Whether a run that went through all its epochs learned anything.

    Returns ``("diverged", sentence)`` when the last epoch's training loss is far above what
    guessing gives (ln C: a loss of 1e19 stays finite and so is not caught batch by batch),
    ``("at_chance", sentence)`` when the best accuracy is within a tenth of the way from
    chance (1/C) to perfect, and None for a run that learned.
    """
    if not history:
        return None
    chance_loss = math.log(max(n_classes, 2))
    last = history[-1]
    if not math.isfinite(last.train_loss) or last.train_loss > 100 * chance_loss:
        return "diverged", (
            f"The training loss exploded to {last.train_loss:.3g} (guessing gives "
            f"{chance_loss:.2f}): training diverged. Try a smaller learning rate (now {lr:g})."
        )
    accs = [e.val_acc if e.val_acc is not None else e.train_acc for e in history]
    best = max(a for a in accs if a is not None)
    chance = 1.0 / max(n_classes, 2)
    if best < chance + 0.1 * (1.0 - chance):
        return "at_chance", (
            f"Ran {len(history)} epochs but stayed at chance: best accuracy {best:.1%} where "
            f"guessing among {n_classes} classes gives {chance:.0%}. The model learned nothing; "
            f"try a smaller learning rate (now {lr:g}) or more epochs."
        )
    return None


# ------------------------------------------------------------------------------ the CLI ----


def _main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from core.data import shipped as datasets
    from core.learn import task as tasks
    from core.learn.build import build_model

    parser = argparse.ArgumentParser(
        prog="python -m core.learn.train", description="Train a CNN on a bundled dataset, headless."
    )
    parser.add_argument("--dataset", default="digits", choices=datasets.DATASETS)
    parser.add_argument(
        "--model", default=None, help="a zoo preset (default: the dataset's DEFAULT_MODELS)"
    )
    # recipe settings default to the dataset's DEFAULT_RECIPES entry
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--optimizer", default=None, choices=OPTIMIZERS)
    parser.add_argument("--scheduler", default=None, choices=SCHEDULERS)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--augment", default=None, choices=AUGMENTATIONS)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--limit", type=int, default=0,
        help="use only this many training examples (every class keeps its share)",
    )  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out", default=None,
        help="where to save the trained model: the app's own .zip (safetensors + JSON)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    try:
        device = choose_device(args.device)
        ds = datasets.load(args.dataset)
        model_name = args.model or tasks.default_preset(ds)
        inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, model_name))
        plan = tasks.plan_preset(ds, inputs, model_name)
        plan = plan.with_recipe(tasks.recipe_for(ds, inputs.representation, device=device))
        given = {
            "optimizer": args.optimizer,
            "lr": args.lr,
            "scheduler": args.scheduler,
            "weight_decay": args.weight_decay,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "augment": args.augment,
            "seed": args.seed,
        }
        plan = plan.with_recipe(**{k: v for k, v in given.items() if v is not None})
        data = plan.split.data
        if args.limit:
            keep = datasets.stratified_limit(np.arange(len(data.y_train)), data.y_train.numpy(),
                                             args.limit)  # fmt: skip
            data = replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep])
    except UserInputError as err:
        parser.error(str(err))
    task, recipe = plan.task, plan.task.recipe
    torch.manual_seed(recipe.seed)
    model = build_model(plan.spec, task.input_shape, logits=True)
    n_val, n_test = len(data.y_val), len(plan.split.y_test)
    print(
        f"dataset {ds.name}: {len(data.y_train)} train "
        f"({len(np.unique(data.y_train.numpy()))} classes) / {n_val} val / {n_test} test, "
        f"input {task.input_shape} ({task.representation})"
    )
    print(f"model {model_name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    print(f"device {device}; recipe {recipe}")

    def show(e: Event) -> None:
        if isinstance(e, EpochEvent):
            print(
                f"epoch {e.epoch:3d}/{e.epochs}  train loss {e.train_loss:.4f} acc {e.train_acc:.4f}"
                f"  val loss {e.val_loss:.4f} acc {e.val_acc:.4f}  lr {e.lr:.2e}"
                f"  {e.elapsed:6.1f}s{'  *' if e.is_best else ''}",
                flush=True,
            )
        elif isinstance(e, EndEvent):
            print(e.message, flush=True)

    result = train(model, data, recipe, device, on_event=show)
    test = evaluate(model, plan.split.x_test, plan.split.y_test, device)
    print(f"test loss {test.loss:.4f} acc {test.accuracy:.4f}")
    if args.out:
        bundle = task.save(
            model, spec=plan.spec,
            extra={"dataset": ds.name, "model": model_name, "recipe": asdict(recipe),
                   "test_accuracy": test.accuracy, "verdict": result.reason},
        )  # fmt: skip
        Path(args.out).write_bytes(bundle)
        print(f"saved {args.out}")
    return 1 if result.reason == "diverged" else 0  # a run at chance still saves its model


if __name__ == "__main__":
    raise SystemExit(_main())
