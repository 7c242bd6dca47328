"""The log-mel thumbnails of Your own classes: librosa's log-mel on the app's one magma scale."""

import librosa
import numpy as np

from core.figures import MAGMA
from core.figures.thumbs import colour, log_mel_thumbnail

SR = 16000


def _rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def test_colour_is_the_log_mel_figures_scale_stop_for_stop():
    """The thumbnails once had their own magma stops; silence must look as in every figure."""
    positions = np.array([p for p, _ in MAGMA])
    got = colour(positions)
    assert got.tolist() == [_rgb(c) for _, c in MAGMA]
    assert colour(np.array([np.nan, -3.0, 7.0])).tolist() == [_rgb(MAGMA[0][1])] * 2 + [
        _rgb(MAGMA[-1][1])
    ]
    half = colour(np.array([(positions[2] + positions[3]) / 2]))[0]
    np.testing.assert_allclose(half, (np.array(_rgb(MAGMA[2][1])) + _rgb(MAGMA[3][1])) / 2, atol=1)


def test_thumbnail_is_librosas_log_mel_and_silence_is_the_darkest_colour():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    y = np.where(t < 0.5, 0.0, 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(SR))
    y = y.astype(np.float32)
    thumb = log_mel_thumbnail(y, sr=SR, n_mels=48)

    hop = max(len(y) // 200, 128)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=512, hop_length=hop, n_mels=48, pad_mode="constant"
        ),
        ref=1.0,
        top_db=80.0,
    )
    z = (ref - ref.min()) / (ref.max() - ref.min())
    assert thumb.shape == (48, ref.shape[1], 3) and thumb.dtype == np.uint8
    np.testing.assert_allclose(thumb.astype(int), colour(z[::-1]).astype(int), atol=2)
    silent = thumb[:, : ref.shape[1] // 2 - 3]  # frames wholly inside the silent first half
    assert (silent == _rgb(MAGMA[0][1])).all()
