"""1-D material for the convolution page: excerpts of the shipped clips and classic 1-D kernels."""

from __future__ import annotations

import numpy as np

SR = 16_000
SIGNAL_KERNELS: dict[str, np.ndarray] = {
    "Moving average, 9 taps (smooths: a low-pass filter)": np.full(9, 1 / 9),
    "Difference [1, −1] (keeps only changes: a high-pass filter)": np.array([1.0, -1.0]),
    "Edge detector [−1, −1, 0, 1, 1]": np.array([-1.0, -1.0, 0.0, 1.0, 1.0]),
}


def clip_names() -> dict[str, str]:
    """File name -> description of the shipped example clips."""
    from core.audio import EXAMPLES

    return dict(EXAMPLES)


def load_samples(filename: str, *, sr: int = SR) -> np.ndarray:
    """A shipped clip as mono float samples at ``sr``: shape (n,)."""
    from core.audio import load_example

    return np.asarray(load_example(filename, target_sr=sr).samples, dtype=np.float64)


def excerpt(samples: np.ndarray, *, start_s: float, n_samples: int, sr: int = SR) -> np.ndarray:
    """``n_samples`` samples from ``start_s`` seconds on (clamped to the clip): shape (n_samples,)."""
    start = int(round(start_s * sr))
    start = max(0, min(start, len(samples) - n_samples))
    return samples[start : start + n_samples]


def to_audio(x: np.ndarray) -> np.ndarray:
    """Scale a filtered signal to a peak of 0.9 so it can be played at a comfortable level."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak * 0.9).astype(np.float32) if peak > 0 else x.astype(np.float32)
