"""core.audio.features (torchaudio) against librosa over a grid of rates, n_fft, hops and n_mels."""

import json

import librosa
import numpy as np
import pytest
import torch

from core.audio.features import FeatureSettings, LogMel
from core.errors import UserInputError


def batch(sr, n=3, seconds=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    clips = [
        0.5 * np.sin(2 * np.pi * 440 * t) * (t < seconds / 2),  # then silence: hits the floor
        3e-4 * rng.standard_normal(t.size),  # far quieter than its neighbours in the batch
        0.8 * np.sin(2 * np.pi * (200 + 2000 * t) * t),
    ]
    return np.stack(clips[:n]).astype(np.float32)  # (N, T)


GRID = [
    (8000, 256, 80, 32, None),
    (16000, 512, 160, 64, 400),
    (16000, 1024, 256, 128, None),
    (22050, 2048, 512, 128, 1024),
    (44100, 1024, 441, 80, None),
    (48000, 512, 128, 40, 480),
]


@pytest.mark.parametrize("sr,n_fft,hop,n_mels,win", GRID)
def test_logmel_equals_librosa(sr, n_fft, hop, n_mels, win):
    settings = FeatureSettings(
        sample_rate=sr, n_fft=n_fft, hop_length=hop, win_length=win, n_mels=n_mels, fmin=20.0
    )
    module = LogMel(settings)
    y = batch(sr)
    with torch.no_grad():
        power = module.power_mel(torch.from_numpy(y)).numpy()  # (N, n_mels, frames)
        db = module(torch.from_numpy(y)).numpy()  # (N, 1, n_mels, frames)
    assert db.shape == (y.shape[0], 1, n_mels, settings.n_frames(y.shape[1]))
    for i in range(y.shape[0]):
        ref = librosa.feature.melspectrogram(
            y=y[i], sr=sr, n_fft=n_fft, hop_length=hop, win_length=win, n_mels=n_mels, fmin=20.0
        )
        assert power[i].shape == ref.shape
        np.testing.assert_allclose(power[i], ref, rtol=0, atol=1e-4 * ref.max())
        ref_db = librosa.power_to_db(ref, ref=1.0, amin=1e-10, top_db=80.0)
        # the top_db floor is per clip, as one librosa call per clip
        assert db[i].min() >= db[i].max() - 80.0 - 1e-3
        np.testing.assert_allclose(db[i, 0], ref_db, atol=0.02)


def test_no_floor_and_fmax():
    s = FeatureSettings(sample_rate=16000, n_mels=40, fmax=4000.0, top_db=None)
    y = batch(16000, n=2)
    with torch.no_grad():
        db = LogMel(s)(torch.from_numpy(y)).numpy()
    for i in range(2):
        ref = librosa.power_to_db(
            librosa.feature.melspectrogram(
                y=y[i], sr=16000, n_fft=512, hop_length=160, n_mels=40, fmax=4000.0
            ),
            top_db=None,
        )
        keep = ref > ref.max() - 60  # float32 rounding dominates far below the peak
        np.testing.assert_allclose(db[i, 0][keep], ref[keep], atol=0.02)


def test_settings_round_trip_and_validation():
    s = FeatureSettings(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=128, fmax=8000.0)
    text = s.to_json()
    assert json.loads(text)["n_mels"] == 128
    assert FeatureSettings.from_json(text) == s
    with pytest.raises(UserInputError, match="Unknown feature settings: colour"):
        FeatureSettings.from_json('{"colour": 1}')
    with pytest.raises(UserInputError, match="not valid JSON"):
        FeatureSettings.from_json("{")
    with pytest.raises(UserInputError, match="win_length"):
        FeatureSettings(n_fft=256, win_length=400)
    with pytest.raises(UserInputError, match="fmax"):
        FeatureSettings(sample_rate=16000, fmax=9000.0)
    with pytest.raises(UserInputError, match=r"\(N, T\)"):
        LogMel()(torch.zeros(2, 1, 100))


def test_module_moves_with_its_buffers():
    module = LogMel(FeatureSettings())
    names = {n for n, _ in module.named_buffers()}
    assert any("window" in n for n in names) and any("fb" in n for n in names)
    out = module.to(torch.float64)(torch.zeros(1, 1600, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 1, 64, 11)
