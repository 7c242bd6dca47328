"""Fit a clip to the length a network reads by keeping its loud part; cut room noise into pieces.

A clip recorded in a browser starts with a click and some room, and the sound itself can sit
anywhere in it; a blind centre crop may keep the room and drop the sound. ``loudest_window``
measures the loudness of short frames (their RMS), calls a frame loud when it comes within
``THRESHOLD_DB`` of the loudest frame, and keeps the window of ``length`` samples that holds the
most energy of loud frames (centred on the loud part when all of it fits). A clip shorter than
the window is padded with silence on both sides.

``background_pieces`` cuts a long recording of the room (no one making any of the sounds) into
back-to-back pieces of the same length, so a network can learn a class for "none of these".

Example
-------
>>> import numpy as np
>>> x = np.zeros(48_000, np.float32); x[30_000:31_600] = 0.5  # a burst at 1.875-1.975 s
>>> t = loudest_window(x, sr=16_000, length=16_000)
>>> t.start <= 30_000 and t.stop >= 31_600
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError

FRAME_SECONDS = 0.010  # the frames whose RMS decides what is loud: 10 ms
THRESHOLD_DB = -30.0  # a frame is loud when its RMS is within 30 dB of the loudest frame's


@dataclass(frozen=True)
class Trim:
    """What ``loudest_window`` kept of a clip.

    Attributes
    ----------
    samples : np.ndarray
        Shape (length,), float32: the kept part, padded with zeros when the clip was shorter.
    start, stop : int
        The kept samples of the source, ``source[start:stop]``.
    offset : int
        Where the kept part begins in ``samples`` (zeros before it when the clip was padded).
    n_source : int
        The source clip's length in samples.
    sr : int
        Sampling rate in Hz.
    """

    samples: np.ndarray
    start: int
    stop: int
    offset: int
    n_source: int
    sr: int

    @property
    def note(self) -> str | None:
        """A sentence about what was cut or padded, or None when the clip already fitted."""
        length, sr = self.samples.shape[0], self.sr
        if self.n_source > length:
            return (
                f"kept {self.start / sr:.2f}–{self.stop / sr:.2f} s of {self.n_source / sr:.2f} s "
                f"(its loudest {length / sr:g} s)."
            )
        if self.n_source < length:
            return (
                f"lasts {self.n_source / sr:.2f} s; padded with silence on both sides to "
                f"{length / sr:g} s."
            )
        return None


def frame_rms(samples: np.ndarray, *, frame: int) -> np.ndarray:
    """RMS of back-to-back frames of ``frame`` samples, shape (ceil(n / frame),).

    The last frame may be shorter; its RMS is over the samples it has.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[0]
    n_frames = -(-n // frame)
    padded = np.zeros(n_frames * frame)
    padded[:n] = x * x
    sums = padded.reshape(n_frames, frame).sum(axis=1)  # (n_frames,)
    counts = np.full(n_frames, frame, dtype=np.float64)
    counts[-1] = n - (n_frames - 1) * frame
    return np.sqrt(sums / counts)


def loudest_window(samples: np.ndarray, *, sr: int, length: int,
                   threshold_db: float = THRESHOLD_DB) -> Trim:  # fmt: skip
    """Keep the loudest ``length`` samples of a clip, or pad a shorter clip to ``length``.

    Parameters
    ----------
    samples : np.ndarray
        Shape (n,), the clip.
    sr : int
        Sampling rate in Hz (sets the 10 ms frames).
    length : int
        Samples to return.
    threshold_db : float
        A frame counts as loud when its RMS is at least this many dB relative to the loudest
        frame's RMS (negative: -30 keeps frames within 30 dB of the peak).

    Returns
    -------
    Trim
        ``samples`` of shape (length,), float32, and where they came from.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    n = x.shape[0]
    if length < 1:
        raise UserInputError("The clip length must be at least one sample.")
    if n <= length:
        out = np.zeros(length, dtype=np.float32)
        offset = (length - n) // 2
        out[offset : offset + n] = x
        return Trim(out, 0, n, offset, n, int(sr))
    frame = max(1, int(round(FRAME_SECONDS * sr)))
    rms = frame_rms(x, frame=frame)  # (n_frames,)
    peak = float(rms.max())
    loud = rms >= peak * 10.0 ** (threshold_db / 20.0) if peak > 0 else np.ones_like(rms, bool)
    idx = np.flatnonzero(loud)
    a, b = int(idx[0]) * frame, min(n, (int(idx[-1]) + 1) * frame)  # the loud part
    if b - a <= length:  # all of it fits: centre the window on it
        start = (a + b) // 2 - length // 2
    else:  # the window of the loud part holding the most energy of loud frames
        gated = np.repeat(loud, frame)[:n] * (x.astype(np.float64) ** 2)  # (n,)
        c = np.concatenate([[0.0], np.cumsum(gated)])  # (n + 1,)
        starts = np.arange(a, b - length + 1)
        start = int(starts[np.argmax(c[starts + length] - c[starts])])
    start = int(min(max(start, 0), n - length))
    return Trim(x[start : start + length].copy(), start, start + length, 0, n, int(sr))


def background_pieces(samples: np.ndarray, *, sr: int, seconds: float = 1.0,
                      min_pieces: int = 4) -> list[np.ndarray]:  # fmt: skip
    """Cut a recording of the room into back-to-back pieces of ``seconds``.

    Piece ``i`` is ``samples[i * L:(i + 1) * L]`` with ``L = round(seconds * sr)``; what is
    left after the last whole piece is dropped.

    Raises
    ------
    UserInputError
        The recording holds fewer than ``min_pieces`` whole pieces.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    size = int(round(seconds * sr))
    if size < 1:
        raise UserInputError("The pieces must be at least one sample long.")
    k = x.shape[0] // size
    if k < min_pieces:
        raise UserInputError(
            f"The background recording lasts {x.shape[0] / sr:.1f} s: at least "
            f"{min_pieces * seconds:g} s are needed to cut {min_pieces} examples of {seconds:g} s. "
            "Record about 20 s of the room as it is when none of your sounds is made."
        )
    return [x[i * size : (i + 1) * size].copy() for i in range(k)]
