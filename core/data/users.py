"""Users' own classes: clips or pictures gathered per class, turned into a training set.

Files arrive as (name, bytes) per class, from uploads, browser recordings or a zip
(core.data.archive). Each is decoded and checked the way the audio explorer and the convolution
page check theirs; files that cannot be read are left out with a sentence each, and the
set as a whole is checked (at least two classes, no empty class, enough examples).

At most ``MAX_EXAMPLES`` files are decoded in one go; the rest are left out unread, with a
sentence. Pictures are shrunk while they are decoded, to at most ``PICTURE_SIDE`` pixels on their
longer side (a long strip keeps ``PICTURE_MIN_SIDE`` rows), and kept as 32-bit floats: a zip of
a few large pictures cannot fill the memory.

Every clip becomes ``CLIP_SECONDS`` long: its loudest part is kept (core.audio.trim), or it is
padded with silence, and a note says which. A recording of the room becomes the class
``BACKGROUND``, cut into clips of the same length, so "none of these" is an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import UserInputError

MIN_PER_CLASS = 4  # below this a class cannot fill train, validation and test
FEW_PER_CLASS = 10  # below this, warn that the model will have little to learn from
USER_SPLIT = (0.6, 0.2, 0.2)
CLIP_SECONDS = 1.0  # every clip is cut (or padded) to this length: what the network reads
BACKGROUND = "background"  # the class of room noise: "none of these"
BACKGROUND_SECONDS = 20  # what the page asks for
MAX_BACKGROUND_SECONDS = 60.0  # a longer recording is cut at this length
MAX_EXAMPLES = 600  # files decoded at most in one gathering (the page keeps as many in all)
# pictures are kept with their longer side at most this: above the 96x96 the largest network
# reads and the 96-pixel-wide thumbnails the page shows; 600 of them take at most 40 MB
PICTURE_SIDE = 128
PICTURE_MIN_SIDE = 32  # a long strip keeps this many rows (up to 512 columns): more than 28
# PNG pixels decoded at most in one gathering (about 10-20 s of one core): 600 plain-colour
# 40-megapixel PNGs fit in a 25 MB zip and took minutes
MAX_PNG_PIXELS = 2_000_000_000


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
           image_size: int = 28, max_seconds: float = 10.0,
           max_examples: int | None = None) -> Gathered:  # fmt: skip
    """Decode every file of every class; unreadable files become sentences in ``problems``.

    Once ``max_examples`` (default ``MAX_EXAMPLES``) examples are decoded, the remaining files
    are left out without being decoded, with one sentence in ``problems``; so are the PNGs
    past ``MAX_PNG_PIXELS`` pixels in all.
    """
    from core.data.images import MAX_BYTES, MAX_PIXELS, png_pixels

    out = Gathered(kind)
    cap = MAX_EXAMPLES if max_examples is None else max_examples
    kept = unread = too_large = png_spent = 0
    sizes = set()
    for label, items in files.items():
        label = clean_class_name(label)
        out.examples.setdefault(label, [])
        out.names.setdefault(label, [])
        for fname, data in items:
            if kept >= cap:
                unread += 1
                continue
            try:
                if kind == "audio":
                    from core.audio import load_clip, require_signal
                    from core.audio.trim import loudest_window

                    clip = load_clip(data, name=fname, target_sr=sr, max_seconds=max_seconds)
                    require_signal(clip, purpose="learn from")
                    out.notes.extend(f"{label}/{fname}: {note}" for note in clip.notes)
                    kept_part = loudest_window(clip.samples, sr=sr, length=clip_length(sr))
                    if kept_part.note:
                        out.notes.append(f"{label}/{fname}: {kept_part.note}")
                    example = kept_part.samples
                else:
                    pixels = png_pixels(data)
                    if pixels > MAX_PIXELS or len(data) > MAX_BYTES:
                        pixels = 0  # refused from its header, never decoded: costs nothing
                    if png_spent + pixels > MAX_PNG_PIXELS:
                        too_large += 1
                        continue
                    png_spent += pixels
                    example, size = small_picture(data, name=fname)
                    sizes.add(size)
            except UserInputError as err:
                out.problems.append(f"{label}/{fname}: {err}")
                continue
            out.examples[label].append(example)
            out.names[label].append(fname)
            kept += 1
    if unread:
        out.problems.append(
            f"Room for {cap} more example(s) only: the other {unread} file(s) were left out "
            "without being read."
        )
    if too_large:
        out.problems.append(
            f"{too_large} PNG picture(s) were left out without being read: the pictures before "
            f"them came to {png_spent / 1e6:,.0f} megapixels, the most one upload decodes. "
            "Smaller pictures (a few hundred pixels a side is plenty) all fit."
        )
    if kind == "image" and len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for h, w in sorted(sizes)[:4])
        out.notes.append(
            f"The pictures have different sizes ({listed}{', …' if len(sizes) > 4 else ''}); "
            f"all are resized to {image_size}x{image_size} so they can share one network."
        )
    return out


def small_picture(data: bytes, *, name: str, max_side: int = PICTURE_SIDE,
                  min_side: int = PICTURE_MIN_SIDE) -> tuple[np.ndarray, tuple[int, int]]:  # fmt: skip
    """Grey levels (H, W) in [0, 1] as float32 of a PNG or JPEG, shrunk while it is decoded so
    that its longer side is at most ``max_side`` but its shorter side keeps ``min_side`` pixels
    (core.data.images.load_picture), and the (height, width) the file has."""
    from core.data.images import load_picture

    pic = load_picture(data, name=name, max_side=max_side, min_side=min_side)
    return pic.gray.astype(np.float32), pic.source_size


def clip_length(sr: int) -> int:
    """Samples in one clip at ``sr``: ``CLIP_SECONDS`` of them."""
    return int(round(CLIP_SECONDS * sr))


def gather_background(data: bytes, *, name: str, sr: int = 16_000) -> Gathered:
    """A recording of the room cut into clips of ``CLIP_SECONDS``: the class ``BACKGROUND``.

    Pieces that are digital silence (a microphone still starting) are left out with a
    sentence; what remains after the last whole piece is dropped.

    Raises
    ------
    UserInputError
        Unreadable, silent, or too short to give ``MIN_PER_CLASS`` pieces.
    """
    from core.audio import load_clip, require_signal
    from core.audio.clips import SILENCE_PEAK
    from core.audio.trim import background_pieces

    clip = load_clip(data, name=name, target_sr=sr, max_seconds=MAX_BACKGROUND_SECONDS)
    require_signal(clip, purpose="learn from")
    pieces = background_pieces(clip.samples, sr=sr, seconds=CLIP_SECONDS,
                               min_pieces=MIN_PER_CLASS)  # fmt: skip
    out = Gathered("audio", examples={BACKGROUND: []}, names={BACKGROUND: []})
    out.notes.extend(f"{BACKGROUND}/{name}: {note}" for note in clip.notes)
    stem = name.rsplit(".", 1)[0]
    silent = []
    for i, piece in enumerate(pieces):
        if float(np.max(np.abs(piece))) < float(np.float32(SILENCE_PEAK)):
            silent.append(f"{i * CLIP_SECONDS:g}–{(i + 1) * CLIP_SECONDS:g} s")
            continue
        out.examples[BACKGROUND].append(piece)
        out.names[BACKGROUND].append(f"{stem}, piece {i + 1} of {len(pieces)}")
    rest = clip.duration - len(pieces) * CLIP_SECONDS
    out.notes.append(
        f"{BACKGROUND}/{name}: {clip.duration:.1f} s of room noise cut into {len(pieces)} "
        f"examples of {CLIP_SECONDS:g} s"
        + (f" (the last {rest:.2f} s was left out)." if rest >= 0.005 else ".")
    )
    if silent:
        out.problems.append(
            f"{BACKGROUND}/{name}: {len(silent)} piece(s) are digital silence and were left out "
            f"({', '.join(silent[:5])}{', …' if len(silent) > 5 else ''})."
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
    """A core.data.shipped.Dataset of the gathered examples (same length / size for all).

    Clips are ``seconds`` long (default ``CLIP_SECONDS``): a longer one keeps its loudest
    part, a shorter one is padded with silence (core.audio.trim.loudest_window).
    """
    from core.audio.trim import loudest_window
    from core.data.shipped import Dataset, stratified_split

    check(g)
    names = tuple(g.examples)
    xs, ys = [], []
    if g.kind == "audio":
        n = int(round((seconds or CLIP_SECONDS) * sr))
        for label, items in enumerate(g.examples.values()):
            xs += [loudest_window(x, sr=sr, length=n).samples for x in items]
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
