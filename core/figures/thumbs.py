"""Small pictures for lists of examples: a log-mel thumbnail of a clip, as an RGB array."""

from __future__ import annotations

import numpy as np

# a few stops of the magma colour map, dark to bright
_STOPS = np.array(
    [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]], float
)


def colour(z: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 (H, W, 3) with magma-like colours."""
    z = np.clip(np.nan_to_num(z), 0, 1) * (len(_STOPS) - 1)
    lo = np.floor(z).astype(int).clip(0, len(_STOPS) - 2)
    frac = (z - lo)[..., None]
    return (_STOPS[lo] * (1 - frac) + _STOPS[lo + 1] * frac).astype(np.uint8)


def log_mel_thumbnail(samples: np.ndarray, *, sr: int, n_mels: int = 48) -> np.ndarray:
    """A clip's log-mel spectrogram, low frequencies at the bottom: (n_mels, frames, 3) uint8."""
    from core import audio

    params = audio.StftParams(n_fft=512, hop_length=max(len(samples) // 200, 128))
    mel = audio.mel_spectrogram(np.asarray(samples, np.float32), sr=sr, stft=params,
                                mel=audio.MelParams(n_mels=n_mels))  # fmt: skip
    db = audio.power_to_db(mel, top_db=80.0)
    z = (db - db.min()) / max(float(db.max() - db.min()), 1e-9)
    return colour(z[::-1])
