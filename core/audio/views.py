"""What the audio explorer draws and plays, computed from the stages in ``spectral`` and
``listen``: thinned spectrogram and log-mel images, and WAV bytes for the players.

Nothing here averages: a drawn cell is one of the computed values, only fewer of them when a
view holds more rows or columns than the plot has pixels. The page caches these results.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from core.audio.spectral import (
    StftParams,
    display_columns,
    fft_frequencies,
    frame_times,
    mfcc,
    power_to_db,
    scale_spectrogram,
)
from core.errors import UserInputError

__all__ = ["ImageView", "MAX_ROWS", "display_rows", "mel_view", "spectrogram_view", "wav_bytes"]

MAX_ROWS = 300  # a 360 px spectrogram has about 300 px of plot height
MEL_VIEWS = ("log-mel (dB)", "mel power", "MFCC")


def display_rows(n_rows: int, *, max_rows: int = MAX_ROWS, log: bool = False) -> np.ndarray:
    """Indices of the rows to draw out of ``n_rows``: all of them, or at most ``max_rows``.

    On a linear axis every ``step``-th row is kept; on a log axis the kept rows are spaced
    geometrically, so the low bins that a log axis stretches are all still there. Rows are
    picked, never averaged: each drawn value is one of the computed ones. Shape (k,).
    """
    if n_rows <= max_rows:
        return np.arange(n_rows)
    if log:
        return np.unique(np.round(np.geomspace(1, n_rows, max_rows)).astype(int) - 1)
    step = -(-n_rows // max_rows)
    return np.arange(0, n_rows, step)


@dataclass(frozen=True)
class ImageView:
    """The drawn cells of a time-frequency image.

    ``z`` (rows, columns) float32; ``times`` (columns,) seconds; ``freqs`` (rows,) Hz for a
    spectrogram, None for mel bands and MFCCs (their rows are indices); ``column_step``: every
    how many frames a column is drawn; ``n_rows``: rows there are to draw, before thinning.
    """

    z: np.ndarray
    times: np.ndarray
    freqs: np.ndarray | None
    column_step: int
    n_rows: int


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def spectrogram_view(
    S: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    kind: str,
    ref: str,
    top_db: float | None,
    start_s: float,
    end_s: float,
    log_y: bool,
    max_columns: int = 800,
    max_rows: int = MAX_ROWS,
) -> ImageView:
    """The cells of the spectrogram ``S`` (complex STFT) drawn between ``start_s`` and ``end_s``.

    ``kind`` is magnitude, power or db (``ref`` "max" or "1"); a log frequency axis drops the
    0 Hz row, which it has no place for.
    """
    Z = scale_spectrogram(S, kind=kind, ref="max" if ref == "max" else 1.0, top_db=top_db)
    times = frame_times(S.shape[1], sr=sr, params=params)
    cols, step = display_columns(times, start_s=start_s, end_s=end_s, max_columns=max_columns)
    first = 1 if log_y else 0
    rows = first + display_rows(S.shape[0] - first, max_rows=max_rows, log=log_y)
    freqs = fft_frequencies(sr=sr, n_fft=params.n_fft)
    return ImageView(
        z=_frozen(Z[np.ix_(rows, cols)].astype(np.float32)),
        times=_frozen(times[cols]),
        freqs=_frozen(freqs[rows]),
        column_step=step,
        n_rows=S.shape[0] - first,
    )


def mel_view(
    M: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    which: str,
    n_mfcc: int,
    start_s: float,
    end_s: float,
    max_columns: int = 800,
) -> ImageView:
    """The drawn columns of the mel power ``M`` as log-mel (dB, ref = max), mel power or MFCC."""
    if which not in MEL_VIEWS:
        raise UserInputError(f"Unknown mel view “{which}”: choose one of {', '.join(MEL_VIEWS)}.")
    if which == "mel power":
        Z = M
    else:
        Z = power_to_db(M, ref="max")
        if which == "MFCC":
            Z = mfcc(Z, n_mfcc=n_mfcc)
    times = frame_times(M.shape[1], sr=sr, params=params)
    cols, step = display_columns(times, start_s=start_s, end_s=end_s, max_columns=max_columns)
    return ImageView(
        z=_frozen(Z[:, cols].astype(np.float32)),
        times=_frozen(times[cols]),
        freqs=None,
        column_step=step,
        n_rows=Z.shape[0],
    )


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit WAV bytes of ``y`` scaled to full scale (as a browser player of an array is)."""
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    buf = io.BytesIO()
    sf.write(buf, y / peak if peak > 0 else y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()
