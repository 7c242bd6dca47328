"""Decode and check pictures that users upload or that the app ships.

Pictures become grey-level float arrays in [0, 1], small enough to convolve on the spot.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import UserInputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "images"
EXAMPLES = {"A cat (Chelsea, scikit-image, CC0)": ASSETS / "cat.png"}
MAX_PIXELS = 40_000_000  # refuse anything larger before decoding it
MAX_BYTES = 20 * 1024 * 1024


def _shrink_box(w: int, h: int, max_side: int, min_side: int) -> tuple[int, int]:
    """The (width, height) a w x h picture is shrunk to: its longer side to ``max_side``, but
    its shorter side not below ``min_side`` while the longer stays within 4 x ``max_side`` (a
    strip's pixels stay as few as a square's); never enlarged."""
    long, short = max(w, h), min(w, h)
    scale = min(1.0, max(max_side / long, min(min_side / short, 4 * max_side / long)))
    if scale >= 1.0:
        return w, h
    # a box Pillow's ``thumbnail`` fits the picture into, keeping its aspect
    return max(1, math.ceil(w * scale - 1e-6)), max(1, math.ceil(h * scale - 1e-6))


def png_pixels(data: bytes) -> int:
    """The pixels a PNG's header declares (0 for anything else or an unreadable header),
    read without decoding it: a PNG of plain colour is tiny on disk however large it is, and
    it is decoded whole (a JPEG is decoded at a fraction of its size, in time that follows its
    bytes)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size[0] * img.size[1] if img.format == "PNG" else 0
    except Exception:  # load_picture names what is wrong with it
        return 0


@dataclass
class Picture:
    """A decoded picture: grey levels (H, W) in [0, 1] and what was done to get them."""

    gray: np.ndarray  # (H, W) float64
    notes: list[str] = field(default_factory=list)
    source_size: tuple[int, int] = (0, 0)  # (height, width) in the file


def load_picture(data: bytes, *, name: str = "the file", max_side: int = 192,
                 min_side: int = 0) -> Picture:  # fmt: skip
    """Decode PNG or JPEG bytes into grey levels, downscaling so the longer side is ≤ ``max_side``
    unless that would leave the shorter side below ``min_side`` pixels (a long strip keeps that
    many rows, or all it has, up to a longer side of 4 x ``max_side``).

    A large picture is shrunk while it is decoded, never held at full size as floats: a JPEG
    is decoded at 1/2 to 1/8 of its size (Pillow's draft mode), and every picture is averaged
    down in its own 8- or 16-bit mode (``reduce``, then Lanczos; boxes for 16- and 32-bit
    levels) before its levels are read.

    Raises UserInputError for empty, oversized, corrupt or non-image files.
    """
    if not data:
        raise UserInputError(f"{name} is empty (0 bytes): there is no picture in it.")
    if len(data) > MAX_BYTES:
        raise UserInputError(
            f"{name} is {len(data) / 2**20:.0f} MB; pictures up to {MAX_BYTES // 2**20} MB are accepted."
        )
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in ("PNG", "JPEG"):
                raise UserInputError(
                    f"{name} is a {img.format or 'unknown'} file; upload a PNG or JPEG picture."
                )
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise UserInputError(
                    f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels); pictures up to "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted."
                )
            box = _shrink_box(w, h, max_side, min_side)
            if box != (w, h):
                if img.mode in ("1", "P", "PA", "LA", "La", "RGBA", "RGBa"):
                    # a palette's indices cannot be averaged, and Pillow shrinks a picture with
                    # an alpha channel premultiplied (a transparent white background turns
                    # black): its grey levels first, as _gray_levels reads them
                    img = img.convert("L")
                if img.mode.startswith("I") or img.mode == "F":
                    # 16- and 32-bit levels: Pillow cannot ``reduce`` 16-bit pictures, and 32-bit
                    # ones are scaled by their maximum, which Lanczos' overshoot would raise;
                    # an average over boxes of pixels needs neither
                    img.thumbnail(box, Image.Resampling.BOX, reducing_gap=None)
                else:  # JPEG draft mode, ``reduce``, then Lanczos
                    img.thumbnail(box, Image.Resampling.LANCZOS)
            img.load()
            gray = _gray_levels(img, notes)  # (H, W) float64 in [0, 1]
    except UserInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserInputError(
            f"{name} claims to be a far larger picture than can be opened safely; pictures up to "
            f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise UserInputError(
            f"{name} could not be read as a picture ({type(err).__name__}). Is it a PNG or JPEG?"
        ) from None
    if gray.shape != (h, w):
        notes.append(f"downscaled from {w}x{h} to {gray.shape[1]}x{gray.shape[0]} pixels")
    return Picture(gray, notes, source_size=(h, w))


def _gray_levels(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Grey levels in [0, 1] whatever the mode: 8-bit, 16-bit and 32-bit integer, float, colour.

    Pillow's convert("L") clips 16-bit values at 255 (a 16-bit PNG turns almost all white),
    so integer and float modes are scaled by their own range instead.
    """
    if img.mode.startswith("I;16"):
        notes.append("16-bit grey levels scaled to 0–1")
        return np.asarray(img, dtype=np.float64) / 65535.0
    if img.mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = float(np.nanmax(a)) if a.size else 0.0
        if img.mode == "F" and top <= 1.0:
            depth = 1.0
        else:
            depth = next((2.0**b - 1 for b in (8, 16, 32) if top <= 2.0**b - 1), top)
            notes.append(f"{img.mode}-mode grey levels scaled from 0–{depth:,.0f} to 0–1")
        return np.clip(np.nan_to_num(a / depth), 0.0, 1.0)
    if img.mode != "L":
        notes.append(f"converted from {img.mode} colour to grey levels")
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def load_example(name: str, *, max_side: int = 192) -> Picture:
    """One of the pictures shipped in assets/images, by its display name."""
    path = EXAMPLES[name]
    return load_picture(path.read_bytes(), name=path.name, max_side=max_side)
