"""STFT, mel filterbank, log-mel and MFCC, written out in numpy and equal to librosa's."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from core.audio.clips import MAX_CELLS, WINDOWS
from core.errors import UserInputError

# ----------------------------------------------------------------------------- STFT


@dataclass(frozen=True)
class StftParams:
    """Parameters of a short-time Fourier transform, named as in librosa.

    ``win_length`` is the window length M, ``hop_length`` the hop R; the overlap is
    L = M - R. The window is zero-padded on both sides to ``n_fft`` samples.
    """

    n_fft: int = 512
    hop_length: int = 160
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"

    @property
    def win(self) -> int:
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def overlap(self) -> int:
        return self.win - self.hop_length

    def check(self, n_samples: int | None = None) -> None:
        """Raise UserInputError with a sentence when the parameters cannot work together."""
        if self.n_fft < 2 or self.n_fft > 16384:
            raise UserInputError(f"n_fft must be between 2 and 16384; got {self.n_fft}.")
        if self.hop_length < 1:
            raise UserInputError(f"The hop must be at least 1 sample; got {self.hop_length}.")
        if self.win < 1 or self.win > self.n_fft:
            raise UserInputError(
                f"The window length M = {self.win} must be between 1 and n_fft = {self.n_fft}: "
                "the DFT cannot look at more samples than it has points."
            )
        if self.window not in WINDOWS:
            raise UserInputError(f"Unknown window “{self.window}”; choose one of {WINDOWS}.")
        if self.pad_mode not in ("constant", "reflect", "edge"):
            raise UserInputError("Padding must be constant (zeros), reflect or edge.")
        if n_samples is not None and self.n_frames(n_samples) * (self.n_fft // 2 + 1) > MAX_CELLS:
            raise UserInputError(
                f"These settings give {self.n_frames(n_samples):,} frames of "
                f"{self.n_fft // 2 + 1} bins, more than this page can draw. Use a larger hop "
                "or a shorter clip."
            )
        if n_samples is not None and not self.center and n_samples < self.n_fft:
            raise UserInputError(
                f"The clip has {n_samples} samples, fewer than n_fft = {self.n_fft}: without "
                "centring there is not a single full frame. Turn centring on or lower n_fft."
            )

    def n_frames(self, n_samples: int) -> int:
        """How many frames (columns) the STFT of ``n_samples`` samples has."""
        padded = n_samples + (2 * (self.n_fft // 2) if self.center else 0)
        return 1 + (padded - self.n_fft) // self.hop_length

    def frame_start(self, index: int) -> int:
        """Index in the clip of frame ``index``'s first sample (negative inside the padding)."""
        return index * self.hop_length - (self.n_fft // 2 if self.center else 0)


@functools.lru_cache(maxsize=64)
def _window(name: str, win_length: int, n_fft: int) -> np.ndarray:
    import scipy.signal

    scipy_name = "boxcar" if name == "rectangular" else name
    w = scipy.signal.get_window(scipy_name, win_length, fftbins=True)  # periodic, as librosa
    lpad = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float64)
    out[lpad : lpad + win_length] = w
    out.setflags(write=False)
    return out


def window(params: StftParams) -> np.ndarray:
    """The analysis window, centred and zero-padded to n_fft, shape (n_fft,), read-only."""
    params.check()
    return _window(params.window, params.win, params.n_fft)


def _padded(y: np.ndarray, params: StftParams) -> np.ndarray:
    if not params.center:
        return y
    half = params.n_fft // 2
    return np.pad(y, (half, half), mode=params.pad_mode)


def frames(y: np.ndarray, params: StftParams) -> np.ndarray:
    """All frames of the (padded) signal as a read-only view, shape (n_frames, n_fft)."""
    params.check(y.shape[0])
    yp = _padded(y, params)
    view = np.lib.stride_tricks.sliding_window_view(yp, params.n_fft)  # (len - n_fft + 1, n_fft)
    return view[:: params.hop_length]


def stft(y: np.ndarray, params: StftParams) -> np.ndarray:
    """Short-time Fourier transform, equal to ``librosa.stft`` for the same parameters.

    Parameters
    ----------
    y : np.ndarray
        Shape (n_samples,), float32.
    params : StftParams

    Returns
    -------
    np.ndarray
        Shape (1 + n_fft // 2, n_frames), complex64: column m is the DFT of frame m times
        the window, X(m, k) = sum_n x(n + mR) w(n) exp(-2 pi i k n / N).
    """
    fr = frames(y, params)  # (n_frames, n_fft)
    spec = np.fft.rfft(fr * window(params), axis=1)  # (n_frames, 1 + n_fft // 2), float64 math
    out_dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    return np.ascontiguousarray(spec.T, dtype=out_dtype)


def fft_frequencies(*, sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each STFT row, shape (1 + n_fft // 2,)."""
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


def frame_times(n_frames: int, *, sr: int, params: StftParams) -> np.ndarray:
    """Time in seconds of each frame's centre in the clip, shape (n_frames,)."""
    offset = 0 if params.center else params.n_fft // 2
    return (np.arange(n_frames) * params.hop_length + offset) / sr


@dataclass(frozen=True)
class FrameView:
    """One step of the sliding window: the raw frame, the window, their product, its spectrum.

    Arrays ``raw``, ``window`` and ``windowed`` have shape (n_fft,); ``magnitude`` and
    ``freqs`` have shape (1 + n_fft // 2,). ``magnitude`` equals column ``index`` of
    ``abs(librosa.stft(...))``.
    """

    index: int
    n_frames: int
    start: int  # first sample in the clip (negative inside the centring pad)
    times: np.ndarray
    raw: np.ndarray
    window: np.ndarray
    windowed: np.ndarray
    magnitude: np.ndarray
    freqs: np.ndarray


def frame_at(y: np.ndarray, *, sr: int, params: StftParams, index: int) -> FrameView:
    """Frame ``index`` of the STFT of ``y``, step by step (see ``FrameView``)."""
    fr = frames(y, params)
    if not 0 <= index < fr.shape[0]:
        raise UserInputError(f"Frame {index} does not exist: the clip has {fr.shape[0]} frames.")
    raw = np.array(fr[index])
    w = window(params)
    windowed = raw * w
    mag = np.abs(np.fft.rfft(windowed).astype(np.complex64))
    start = params.frame_start(index)
    return FrameView(
        index=index,
        n_frames=fr.shape[0],
        start=start,
        times=(start + np.arange(params.n_fft)) / sr,
        raw=raw,
        window=np.asarray(w),
        windowed=windowed,
        magnitude=mag,
        freqs=fft_frequencies(sr=sr, n_fft=params.n_fft),
    )


def scale_spectrogram(
    S: np.ndarray,
    *,
    kind: str = "db",
    ref: str = "max",
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """A complex STFT shown as magnitude |X|, power |X|^2 or dB = power_to_db(|X|^2).

    Shape is kept: (1 + n_fft // 2, n_frames), float32.
    """
    mag = np.abs(S)
    if kind == "magnitude":
        return mag
    power = mag**2
    if kind == "power":
        return power
    if kind == "db":
        return power_to_db(power, ref=ref, amin=amin, top_db=top_db)
    raise UserInputError(f"Unknown scale “{kind}”: choose magnitude, power or db.")


def display_columns(
    times: np.ndarray, *, start_s: float, end_s: float, max_columns: int = 1000
) -> tuple[np.ndarray, int]:
    """Indices of the frames to draw: those centred in [start_s, end_s], every ``step``-th.

    ``times`` has shape (n_frames,). Returns ``(indices, step)``; the drawn columns are
    exact values, only fewer of them when the view holds more than ``max_columns``.
    """
    inside = np.flatnonzero((times >= start_s) & (times <= end_s))
    if inside.size == 0:  # a view narrower than one hop: draw the nearest frame
        inside = np.array([int(np.argmin(np.abs(times - 0.5 * (start_s + end_s))))])
    step = max(1, -(-inside.size // max_columns))
    return inside[::step], step


# ----------------------------------------------------------------------------- mel


def hz_to_mel(f: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Hertz to mel. HTK: m = 2595 log10(1 + f / 700). Slaney: linear to 1 kHz, log above."""
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        mels,
    )


def mel_to_hz(m: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Mel to hertz, the inverse of ``hz_to_mel``."""
    m = np.asanyarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        m >= min_log_mel,
        min_log_hz * np.exp(logstep * (m - min_log_mel)),
        f_sp * m,
    )


def mel_frequencies(n: int, *, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n`` frequencies in Hz evenly spaced on the mel scale, shape (n,)."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n)
    return mel_to_hz(mels, htk=htk)


@dataclass(frozen=True)
class MelParams:
    """Parameters of a mel filterbank, named as in ``librosa.filters.mel``."""

    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"

    def top(self, sr: int) -> float:
        return sr / 2 if self.fmax is None else float(self.fmax)

    def check(self, sr: int) -> None:
        if not 1 <= self.n_mels <= 512:
            raise UserInputError(f"n_mels must be between 1 and 512; got {self.n_mels}.")
        if self.fmin < 0:
            raise UserInputError(f"fmin must be 0 Hz or more; got {self.fmin:g} Hz.")
        if self.top(sr) > sr / 2:
            raise UserInputError(
                f"fmax = {self.top(sr):g} Hz is above the Nyquist frequency {sr / 2:g} Hz "
                f"(half the rate {sr} Hz): nothing exists up there."
            )
        if self.top(sr) <= self.fmin:
            raise UserInputError(
                f"fmax ({self.top(sr):g} Hz) must be above fmin ({self.fmin:g} Hz)."
            )
        if self.norm not in (None, "slaney"):
            raise UserInputError("The filterbank norm must be 'slaney' or none.")


@functools.lru_cache(maxsize=32)
def _mel_filterbank(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None
) -> np.ndarray:
    fftfreqs = fft_frequencies(sr=sr, n_fft=n_fft)  # (n_bins,)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)  # (n_mels + 2,)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)  # (n_mels + 2, n_bins)
    lower = -ramps[:-2] / fdiff[:-1, None]  # rising edge of each triangle
    upper = ramps[2:] / fdiff[1:, None]  # falling edge
    weights = np.maximum(0.0, np.minimum(lower, upper))  # (n_mels, n_bins)
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]  # equal area
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def mel_filterbank(*, sr: int, n_fft: int, mel: MelParams) -> np.ndarray:
    """Triangular mel filters, equal to ``librosa.filters.mel``; shape (n_mels, 1 + n_fft // 2).

    Filter i rises from edge i to peak i + 1 and falls to edge i + 2 of ``mel_edges``; with
    the Slaney norm each triangle is scaled to area-like height 2 / (upper - lower).
    Cached and read-only.
    """
    mel.check(sr)
    return _mel_filterbank(sr, n_fft, mel.n_mels, float(mel.fmin), mel.top(sr), mel.htk, mel.norm)


def mel_edges(*, sr: int, mel: MelParams) -> np.ndarray:
    """The n_mels + 2 edge frequencies in Hz of the filterbank triangles, shape (n_mels + 2,)."""
    mel.check(sr)
    return mel_frequencies(mel.n_mels + 2, fmin=mel.fmin, fmax=mel.top(sr), htk=mel.htk)


def mel_scale_curves(*, sr: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies 0..sr/2 (n,) and their mel values on the HTK and the Slaney scales."""
    f = np.linspace(0.0, sr / 2, n)
    return f, hz_to_mel(f, htk=True), hz_to_mel(f, htk=False)


def mel_band_ticks(*, sr: int, mel: MelParams, count: int = 8) -> tuple[list[int], list[str]]:
    """Band indices and their peak frequency as labels, for a mel image's vertical axis."""
    centres = mel_edges(sr=sr, mel=mel)[1:-1]  # (n_mels,) peak of each triangle
    idx = sorted({int(round(i)) for i in np.linspace(0, mel.n_mels - 1, min(count, mel.n_mels))})
    return idx, [f"{i}: {centres[i]:.0f} Hz" for i in idx]


def mel_spectrogram(
    y: np.ndarray,
    *,
    sr: int,
    stft: StftParams,
    mel: MelParams | None = None,
    power: float = 2.0,
    S: np.ndarray | None = None,
) -> np.ndarray:
    """Mel spectrogram, equal to ``librosa.feature.melspectrogram``.

    Parameters
    ----------
    y : np.ndarray
        Shape (n_samples,).
    sr : int
    stft : StftParams
    mel : MelParams, optional
    power : float
        1 for magnitude, 2 for power.
    S : np.ndarray, optional
        A precomputed complex STFT of ``y`` with the same ``stft`` parameters.

    Returns
    -------
    np.ndarray
        Shape (n_mels, n_frames): filterbank (n_mels, n_bins) @ |X|**power (n_bins, n_frames).
    """
    mel = mel or MelParams()
    if S is None:
        S = _stft_fn(y, stft)
    fb = mel_filterbank(sr=sr, n_fft=stft.n_fft, mel=mel)
    return fb @ (np.abs(S) ** power)


_stft_fn = stft  # the parameter of mel_spectrogram shadows the function name


def power_to_db(
    S: np.ndarray,
    *,
    ref: float | str = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Power to decibels, equal to ``librosa.power_to_db``.

    dB = 10 log10(max(amin, S)) - 10 log10(max(amin, ref)); then values more than ``top_db``
    below the loudest are raised to that floor. ``ref="max"`` makes the loudest cell 0 dB.
    Shape is kept.
    """
    if amin <= 0:
        raise UserInputError("amin must be strictly positive (it keeps log10 away from 0).")
    if top_db is not None and top_db < 0:
        raise UserInputError("top_db must be 0 or more.")
    S = np.asarray(S)
    ref_value = float(np.max(S)) if ref == "max" else float(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def mfcc(log_mel: np.ndarray, *, n_mfcc: int = 20) -> np.ndarray:
    """MFCCs from a log-mel spectrogram (dB), equal to ``librosa.feature.mfcc(S=log_mel)``.

    An orthonormal DCT-II along the mel axis, keeping the first ``n_mfcc`` rows.
    Shape (n_mels, n_frames) -> (n_mfcc, n_frames).
    """
    import scipy.fft

    if not 1 <= n_mfcc <= log_mel.shape[0]:
        raise UserInputError(
            f"n_mfcc must be between 1 and n_mels = {log_mel.shape[0]}; got {n_mfcc}."
        )
    return scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[:n_mfcc]


# ----------------------------------------------------------------------------- CNN view


@dataclass(frozen=True)
class KernelCoverage:
    """What a k x k filter on the log-mel image sees, in milliseconds and hertz."""

    shape: tuple[int, int, int]  # (1, n_mels, n_frames)
    centre_span_ms: float  # from the first to the last frame centre under the filter
    support_ms: float  # every sample any of the frames touches
    band_low_hz: float  # lowest edge of the lowest mel band under the filter
    band_high_hz: float  # highest edge of the highest band
    centre_low_hz: float  # peak of the lowest band
    centre_high_hz: float  # peak of the highest band


def kernel_coverage(
    *,
    sr: int,
    n_samples: int,
    params: StftParams,
    mel: MelParams,
    band: int,
    kernel: int = 3,
) -> KernelCoverage:
    """Tensor shape (1, n_mels, n_frames) and what a ``kernel`` x ``kernel`` window covers.

    The window's lowest row is mel band ``band``. Along time, ``kernel`` frames are
    ``kernel - 1`` hops apart and each reaches over M = win_length samples.
    """
    params.check(n_samples)
    edges = mel_edges(sr=sr, mel=mel)  # (n_mels + 2,)
    if not 0 <= band <= mel.n_mels - kernel:
        raise UserInputError(
            f"A {kernel}x{kernel} filter starting at band {band} would leave the "
            f"{mel.n_mels} mel bands; choose a band from 0 to {mel.n_mels - kernel}."
        )
    hop_ms = 1000.0 * params.hop_length / sr
    return KernelCoverage(
        shape=(1, mel.n_mels, params.n_frames(n_samples)),
        centre_span_ms=(kernel - 1) * hop_ms,
        support_ms=1000.0 * ((kernel - 1) * params.hop_length + params.win) / sr,
        band_low_hz=float(edges[band]),
        band_high_hz=float(edges[band + kernel + 1]),
        centre_low_hz=float(edges[band + 1]),
        centre_high_hz=float(edges[band + kernel]),
    )
