"""Small pictures for lists of examples: a log-mel thumbnail of a clip, as an RGB array."""

from __future__ import annotations

import numpy as np

from core.figures import MAGMA

# The log-mel figures' magma scale (core.figures.MAGMA), as positions and RGB stops, so a
# thumbnail draws silence in the same colour as the audio explorer and "What the network reads".
_POS = np.array([p for p, _ in MAGMA], float)
_STOPS = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in MAGMA], float)


def colour(z: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 (H, W, 3) on the log-mel figures' magma scale."""
    z = np.clip(np.nan_to_num(np.asarray(z, float)), 0, 1)
    rgb = np.stack([np.interp(z, _POS, _STOPS[:, i]) for i in range(3)], axis=-1)
    return np.rint(rgb).astype(np.uint8)


def log_mel_thumbnail(samples: np.ndarray, *, sr: int, n_mels: int = 48) -> np.ndarray:
    """A clip's log-mel spectrogram, low frequencies at the bottom: (n_mels, frames, 3) uint8."""
    from core import audio

    params = audio.StftParams(n_fft=512, hop_length=max(len(samples) // 200, 128))
    mel = audio.mel_spectrogram(np.asarray(samples, np.float32), sr=sr, stft=params,
                                mel=audio.MelParams(n_mels=n_mels))  # fmt: skip
    db = audio.power_to_db(mel, top_db=80.0)
    z = (db - db.min()) / max(float(db.max() - db.min()), 1e-9)
    return colour(z[::-1])
