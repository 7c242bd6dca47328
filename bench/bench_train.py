"""Training speed on the 5,000-digit MNIST subset, against the textbook's reference loop.

1. The reference: the textbook's first CNN (two 3x3 conv + ReLU + 2x2 max-pool blocks, 16 and
   32 filters, one Linear layer) trained as the textbook does it: a DataLoader over a Dataset
   that turns each 28x28 image into a tensor one at a time, batch 32, shuffled, SGD lr 0.01
   momentum 0.9, 10 epochs. Its held-out (test split) accuracy after 10 epochs is the target.
2. Ours: the same CNN trained by core.train with the default digits recipe
   (core.train.DEFAULT_RECIPES["digits"]): in-memory tensors, larger batches, Adam + OneCycle.
   We report the training time until the held-out accuracy first reaches the target (the
   held-out evaluation after each epoch is not counted), the ratio, and the final accuracy.
3. Overhead: core.train against a bare loop (index, forward, loss, backward, step) over the
   same batches and model, for the same number of epochs, no validation in either.

Run: python bench/bench_train.py   (about a minute and a half on 2 CPU cores)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import data  # noqa: E402
from core.train import DEFAULT_RECIPES, EpochEvent, Recipe, TrainData, evaluate, train  # noqa: E402


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


def reference(ds, epochs: int = 10) -> tuple[float, float]:
    """Train as the textbook does; return (seconds, test accuracy after the last epoch)."""
    torch.manual_seed(0)
    model = TextbookCNN()
    tr, te = ds.splits["train"], ds.splits["test"]
    u8 = (ds.x[:, 0] * 255).round().astype("uint8")  # (N, 28, 28)
    loader = DataLoader(PerImageDataset(u8[tr], ds.y[tr]), batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    seconds = time.perf_counter() - start
    acc = evaluate(model, torch.as_tensor(ds.x[te]), torch.as_tensor(ds.y[te]), "cpu").accuracy
    return seconds, acc


def ours(ds, recipe: Recipe, target: float) -> tuple[float | None, float, float]:
    """Our trainer; return (training seconds to reach target or None, final acc, total s)."""
    torch.manual_seed(0)
    model = TextbookCNN()
    x, y = torch.as_tensor(ds.x), torch.as_tensor(ds.y)
    tr, va, te = (ds.splits[k] for k in ("train", "val", "test"))
    x_te, y_te = x[te], y[te]
    state = {"excluded": 0.0, "reached": None}

    def on_event(e) -> None:
        if isinstance(e, EpochEvent):
            trained = e.elapsed - state["excluded"]  # earlier held-out checks not counted
            t0 = time.perf_counter()
            acc = evaluate(model, x_te, y_te, "cpu").accuracy
            state["excluded"] += time.perf_counter() - t0
            if state["reached"] is None and acc >= target:
                state["reached"] = trained
            print(f"    epoch {e.epoch}: val {e.val_acc:.4f} test {acc:.4f} at {e.elapsed:.1f}s")

    result = train(model, TrainData(x[tr], y[tr], x[va], y[va]), recipe, "cpu", on_event=on_event)
    final = evaluate(model, x_te, y_te, "cpu").accuracy
    return state["reached"], final, result.elapsed - state["excluded"]


def overhead(ds, recipe: Recipe, epochs: int = 3) -> tuple[float, float]:
    """Seconds of core.train vs a bare loop: same model, batches, optimiser, no validation."""
    x, y = torch.as_tensor(ds.x[ds.splits["train"]]), torch.as_tensor(ds.y[ds.splits["train"]])
    plain = Recipe(optimizer=recipe.optimizer, lr=recipe.lr, batch_size=recipe.batch_size,
                   epochs=epochs, seed=0)  # fmt: skip
    bs, n = plain.batch_size, len(x)

    def bare() -> float:
        torch.manual_seed(0)
        model = TextbookCNN()
        opt = torch.optim.Adam(model.parameters(), lr=plain.lr)
        gen = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for b in range(0, n - 1, bs):
                idx = perm[b : b + bs]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return time.perf_counter() - start

    def trainer() -> float:
        torch.manual_seed(0)
        model = TextbookCNN()
        return train(model, TrainData(x, y), plain, "cpu", on_event=lambda e: None).elapsed

    bare(), trainer()  # warm-up
    rounds = [(bare(), trainer()) for _ in range(3)]  # interleaved: load changes hit both
    return min(r[0] for r in rounds), min(r[1] for r in rounds)


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = data.load_digits()
    recipe = DEFAULT_RECIPES["digits"]
    print(f"threads {torch.get_num_threads()}; digits: {len(ds.splits['train'])} train, "
          f"{len(ds.splits['test'])} test")  # fmt: skip
    ref_s, ref_acc = reference(ds)
    print(f"reference (DataLoader, batch 32, SGD 0.01 m0.9, 10 epochs): {ref_s:.1f} s, "
          f"test accuracy {ref_acc:.4f}")  # fmt: skip
    print(f"ours: {recipe}")
    reached, final, total = ours(ds, recipe, ref_acc)
    if reached is None:
        print(f"ours never reached {ref_acc:.4f}; final {final:.4f} after {total:.1f} s")
    else:
        print(f"ours reached {ref_acc:.4f} after {reached:.1f} s of training: "
              f"{ref_s / reached:.1f}x faster than the reference (target >= 3x)")  # fmt: skip
    print(f"ours after all {recipe.epochs} epochs: test accuracy {final:.4f} in {total:.1f} s "
          f"(target >= 0.97 in <= 30 s)")  # fmt: skip
    t_bare, t_ours = overhead(ds, recipe)
    print(f"overhead, 3 epochs, best of 3: bare loop {t_bare:.2f} s, core.train {t_ours:.2f} s, "
          f"overhead {100 * (t_ours / t_bare - 1):+.1f}% (target <= 5%)")  # fmt: skip


if __name__ == "__main__":
    main()
