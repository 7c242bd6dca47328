"""Hear a stage: Griffin-Lim from magnitudes, masked regions, single mel bands."""

from __future__ import annotations

import numpy as np

from core.audio.clips import region
from core.audio.spectral import (
    MelParams,
    StftParams,
    fft_frequencies,
    frame_times,
    mel_filterbank,
    mel_spectrogram,
    stft,
)
from core.errors import UserInputError

# ----------------------------------------------------------------------------- listening


def griffin_lim(
    magnitude: np.ndarray, *, params: StftParams, length: int, n_iter: int = 32
) -> np.ndarray:
    """Audio whose STFT magnitude matches ``magnitude`` (phase guessed by Griffin-Lim).

    ``magnitude`` has shape (1 + n_fft // 2, n_frames); returns shape (length,), float32.
    Seeded, so the same input always sounds the same.
    """
    import librosa

    y = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        hop_length=params.hop_length,
        win_length=params.win,
        n_fft=params.n_fft,
        window=_scipy_window_name(params.window),
        center=params.center,
        pad_mode=params.pad_mode,
        length=length,
        random_state=0,
    )
    return _safe_audio(y)


def mel_to_stft_magnitude(M: np.ndarray, *, sr: int, n_fft: int, mel: MelParams) -> np.ndarray:
    """Best non-negative guess of |X| from a power mel spectrogram (librosa's NNLS).

    Shape (n_mels, n_frames) -> (1 + n_fft // 2, n_frames).
    """
    import librosa

    return librosa.feature.inverse.mel_to_stft(
        M,
        sr=sr,
        n_fft=n_fft,
        power=2.0,
        fmin=mel.fmin,
        fmax=mel.top(sr),
        htk=mel.htk,
        norm=mel.norm,
    )


def griffin_lim_from_mel(
    M: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    mel: MelParams,
    length: int,
    n_iter: int = 32,
) -> np.ndarray:
    """Audio rebuilt from a power mel spectrogram (n_mels, n_frames): shape (length,)."""
    mag = mel_to_stft_magnitude(M, sr=sr, n_fft=params.n_fft, mel=mel)
    return griffin_lim(mag, params=params, length=length, n_iter=n_iter)


def masked_audio(
    S: np.ndarray,
    *,
    params: StftParams,
    length: int,
    mask: np.ndarray,
) -> np.ndarray:
    """Inverse STFT of ``S * mask`` (keeps the true phase), shape (length,), float32.

    ``S`` is the complex STFT (n_bins, n_frames); ``mask`` broadcasts to it, e.g. shape
    (n_bins, 1) for one band or (n_bins, n_frames) for a time-frequency box.
    """
    import librosa

    y = librosa.istft(
        S * mask,
        hop_length=params.hop_length,
        win_length=params.win,
        n_fft=params.n_fft,
        window=_scipy_window_name(params.window),
        center=params.center,
        length=length,
    )
    return _safe_audio(y)


def mel_band_audio(
    S: np.ndarray, *, sr: int, params: StftParams, mel: MelParams, band: int, length: int
) -> np.ndarray:
    """What one mel filter lets through: the STFT weighted by triangle ``band``, shape (length,)."""
    fb = mel_filterbank(sr=sr, n_fft=params.n_fft, mel=mel)
    if not 0 <= band < fb.shape[0]:
        raise UserInputError(f"Band {band} does not exist: there are {fb.shape[0]} mel bands.")
    tri = fb[band] / max(float(fb[band].max()), 1e-12)  # (n_bins,), peak 1
    return masked_audio(S, params=params, length=length, mask=tri[:, None])


def box_audio(
    S: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    length: int,
    t0: float,
    t1: float,
    f0: float,
    f1: float,
) -> np.ndarray:
    """Only the time-frequency box [t0, t1] s x [f0, f1] Hz of the clip, shape (length,)."""
    if t1 <= t0 or f1 <= f0:
        raise UserInputError("The selected region is empty: each end must be after its start.")
    times = frame_times(S.shape[1], sr=sr, params=params)
    freqs = fft_frequencies(sr=sr, n_fft=params.n_fft)
    mask = np.outer((freqs >= f0) & (freqs <= f1), (times >= t0) & (times <= t1))
    return masked_audio(S, params=params, length=length, mask=mask.astype(np.float32))


def rebuild_region(
    samples: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    mel: MelParams,
    start_s: float,
    end_s: float,
    n_iter: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A region of the clip, rebuilt from its |STFT| and from its mel spectrogram.

    Returns three arrays of shape (k,): the original region, Griffin-Lim from the STFT
    magnitude, and Griffin-Lim from the power mel spectrogram (so the listener hears what
    the phase, and then the mel pooling, throw away).
    """
    seg = region(samples, sr=sr, start_s=start_s, end_s=end_s)
    params.check(seg.shape[0])
    S = stft(seg, params)  # (n_bins, n_frames)
    from_stft = griffin_lim(np.abs(S), params=params, length=seg.shape[0], n_iter=n_iter)
    M = mel_spectrogram(seg, sr=sr, stft=params, mel=mel, S=S)  # (n_mels, n_frames)
    from_mel = griffin_lim_from_mel(
        M, sr=sr, params=params, mel=mel, length=seg.shape[0], n_iter=n_iter
    )
    return seg, from_stft, from_mel


def _scipy_window_name(name: str) -> str:
    return "boxcar" if name == "rectangular" else name


def _safe_audio(y: np.ndarray) -> np.ndarray:
    y = np.nan_to_num(np.asarray(y, dtype=np.float32))
    return y
