"""Users' own classes: clips or pictures gathered per class, turned into a training set.

Files arrive as (name, bytes) per class, from uploads, browser recordings or a zip
(core.data.archive). Each is decoded and checked the way the audio explorer and the convolution
page check theirs; files that cannot be read are left out with a sentence each, and the
set as a whole is checked (at least two classes, no empty class, enough examples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import UserInputError

MIN_PER_CLASS = 4  # below this a class cannot fill train, validation and test
FEW_PER_CLASS = 10  # below this, warn that the model will have little to learn from
USER_SPLIT = (0.6, 0.2, 0.2)


@dataclass
class Gathered:
    """Decoded examples per class, and what was left out or changed along the way."""

    kind: str  # "audio" or "image"
    examples: dict[str, list[np.ndarray]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {c: len(v) for c, v in self.examples.items()}


def clean_class_name(name: str) -> str:
    """A class name as typed: trimmed; refused when empty or too long."""
    name = (name or "").strip()
    if not name:
        raise UserInputError("A class needs a name: type one, e.g. 'clap'.")
    if len(name) > 40:
        raise UserInputError("Class names can be at most 40 characters long.")
    return name


def gather(files: dict[str, list[tuple[str, bytes]]], *, kind: str, sr: int = 16_000,
           image_size: int = 28, max_seconds: float = 10.0) -> Gathered:  # fmt: skip
    """Decode every file of every class; unreadable files become sentences in ``problems``."""
    out = Gathered(kind)
    sizes = set()
    for label, items in files.items():
        label = clean_class_name(label)
        for fname, data in items:
            try:
                if kind == "audio":
                    from core.audio import load_clip, require_signal

                    clip = load_clip(data, name=fname, target_sr=sr, max_seconds=max_seconds)
                    require_signal(clip, purpose="learn from")
                    out.notes.extend(f"{label}/{fname}: {note}" for note in clip.notes)
                    example = np.asarray(clip.samples, dtype=np.float32)
                else:
                    from core.data.images import load_picture

                    pic = load_picture(data, name=fname, max_side=10_000)
                    sizes.add(pic.gray.shape)
                    example = pic.gray
            except UserInputError as err:
                out.problems.append(f"{label}/{fname}: {err}")
                continue
            out.examples.setdefault(label, []).append(example)
            out.names.setdefault(label, []).append(fname)
        out.examples.setdefault(label, [])
        out.names.setdefault(label, [])
    if kind == "image" and len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for h, w in sorted(sizes)[:4])
        out.notes.append(
            f"The pictures have different sizes ({listed}{', …' if len(sizes) > 4 else ''}); "
            f"all are resized to {image_size}x{image_size} so they can share one network."
        )
    return out


def check(g: Gathered) -> list[str]:
    """Refuse a set that cannot be trained on; return warnings for one that is thin."""
    if len(g.examples) < 2:
        raise UserInputError(
            "A classifier needs at least two classes to tell apart; add another class."
        )
    empty = [c for c, v in g.examples.items() if not v]
    if empty:
        raise UserInputError(f"These classes have no usable examples yet: {', '.join(empty)}.")
    short = [f"{c} ({len(v)})" for c, v in g.examples.items() if len(v) < MIN_PER_CLASS]
    if short:
        raise UserInputError(
            f"Each class needs at least {MIN_PER_CLASS} examples, so that some can be kept "
            f"aside for validation and testing; too few in: {', '.join(short)}."
        )
    return [
        f"'{c}' has only {len(v)} examples; {FEW_PER_CLASS} or more give a steadier model."
        for c, v in g.examples.items()
        if len(v) < FEW_PER_CLASS
    ]


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


class Fingerprint:
    """What a collection held when a dataset was made from it: its kind, classes and the
    example arrays themselves.

    Two fingerprints are equal when they name the same classes holding the very same array
    objects, in the same order. The arrays are held (not just their ``id``): once an example
    is deleted, Python may give a new one its address, and an id alone would then mistake the
    new set for the old one.
    """

    __slots__ = ("kind", "labels", "_items")

    def __init__(self, g: Gathered) -> None:
        self.kind = g.kind
        self.labels = tuple(g.examples)
        self._items = tuple(tuple(items) for items in g.examples.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.labels == other.labels
            and all(
                len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
                for a, b in zip(self._items, other._items, strict=True)
            )
        )

    __hash__ = None  # compared, never used as a key

    @property
    def n_examples(self) -> int:
        return sum(len(items) for items in self._items)


def fingerprint(g: Gathered) -> Fingerprint:
    """What identifies a collection's contents cheaply: its kind, classes and example objects.

    Adding, deleting or replacing an example changes it, so a dataset made from an earlier
    state can be told apart from what the page shows now.
    """
    return Fingerprint(g)


def to_dataset(g: Gathered, *, sr: int = 16_000, seconds: float | None = None,
               image_size: int = 28, seed: int = 0):  # fmt: skip
    """A core.data.shipped.Dataset of the gathered examples (same length / size for all)."""
    from core.data.shipped import Dataset, fit_length, stratified_split

    check(g)
    names = tuple(g.examples)
    xs, ys = [], []
    if g.kind == "audio":
        lengths = [len(x) for v in g.examples.values() for x in v]
        n = int(round((seconds or float(np.clip(np.median(lengths) / sr, 0.5, 3.0))) * sr))
        for label, items in enumerate(g.examples.values()):
            xs += [fit_length(x, n) for x in items]
            ys += [label] * len(items)
        x = np.stack(xs).astype(np.float32)  # (N, T)
        extra = {"sample_rate": sr}
    else:
        for label, items in enumerate(g.examples.values()):
            xs += [_resize(x, image_size) for x in items]
            ys += [label] * len(items)
        x = np.stack(xs)[:, None].astype(np.float32)  # (N, 1, S, S)
        extra = {"image_shape": (1, image_size, image_size)}
    y = np.array(ys, dtype=np.int64)
    splits = stratified_split(y, fractions=USER_SPLIT, seed=seed)
    return Dataset("your data", g.kind, x, y, names, splits, **extra)
