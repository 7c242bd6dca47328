"""Batched log-mel features in torch, equal to the audio page's librosa numbers.

The trainer turns a batch of clips into the images a CNN eats with one call::

    settings = FeatureSettings(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64)
    extract = LogMel(settings).to(device)
    images = extract(waveforms)  # (N, T) -> (N, 1, n_mels, frames)

torchaudio's MelSpectrogram is configured like ``librosa.feature.melspectrogram``'s defaults
(periodic Hann window, centred frames with constant (zero) padding, Slaney mel scale and
Slaney area norm, power 2) and AmplitudeToDB like ``librosa.power_to_db(ref=1.0,
amin=1e-10, top_db=...)``, with the top_db floor taken per clip. tests/test_features.py
checks the match over a grid of rates, n_fft, hops and n_mels.

This module imports torch; the explainer pages use core.audio instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import torch
import torchaudio

from core.errors import UserInputError


@dataclass(frozen=True)
class FeatureSettings:
    """Everything that defines the features, as plain numbers (saved beside a checkpoint)."""

    sample_rate: int = 16_000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int | None = None  # None: the window is n_fft long
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None  # None: half the sample rate
    top_db: float | None = 80.0  # None: no floor

    def __post_init__(self) -> None:
        if not 8_000 <= self.sample_rate <= 192_000:
            raise UserInputError(f"sample_rate must be 8000 to 192000 Hz; got {self.sample_rate}.")
        if self.n_fft < 2 or self.hop_length < 1:
            raise UserInputError("n_fft must be at least 2 and hop_length at least 1.")
        win = self.n_fft if self.win_length is None else self.win_length
        if not 1 <= win <= self.n_fft:
            raise UserInputError(f"win_length must be between 1 and n_fft = {self.n_fft}.")
        if not 1 <= self.n_mels <= 512:
            raise UserInputError(f"n_mels must be between 1 and 512; got {self.n_mels}.")
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise UserInputError(
                f"Need 0 <= fmin < fmax <= {self.sample_rate / 2:g} Hz (half the sample rate)."
            )
        if self.top_db is not None and self.top_db < 0:
            raise UserInputError("top_db must be 0 or more.")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSettings:
        """Rebuild settings from ``to_json``'s text; unknown keys are an error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError("The feature settings are not valid JSON.") from exc
        if not isinstance(data, dict):
            raise UserInputError("The feature settings must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserInputError(f"Unknown feature settings: {', '.join(unknown)}.")
        return cls(**data)

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` samples (centred framing)."""
        return 1 + n_samples // self.hop_length


class LogMel(torch.nn.Module):
    """Waveforms to log-mel images: (N, T) -> (N, 1, n_mels, frames), in dB re 1.0.

    The window and the filterbank are buffers, so ``.to(device)`` moves them with the
    module and every call reuses them.
    """

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or FeatureSettings()
        s = self.settings
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=s.sample_rate,
            n_fft=s.n_fft,
            win_length=s.win_length,
            hop_length=s.hop_length,
            f_min=s.fmin,
            f_max=s.fmax,
            n_mels=s.n_mels,
            window_fn=torch.hann_window,  # periodic, as scipy's get_window(fftbins=True)
            power=2.0,
            center=True,
            pad_mode="constant",
            norm="slaney",
            mel_scale="slaney",
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=s.top_db)

    def power_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Power mel spectrogram without the dB step: (N, T) -> (N, n_mels, frames)."""
        if waveforms.ndim != 2:
            raise UserInputError(
                f"Expected a batch of mono clips shaped (N, T); got shape {tuple(waveforms.shape)}."
            )
        return self.mel(waveforms)  # (N, n_mels, frames)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        mel = self.power_mel(waveforms).unsqueeze(1)  # (N, 1, n_mels, frames)
        # 4-D input: AmplitudeToDB takes the top_db floor per clip, as librosa does per call.
        return self.to_db(mel)  # (N, 1, n_mels, frames)
