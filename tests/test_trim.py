"""core.audio.trim: keeping a clip's loud part, and cutting room noise into pieces."""

import librosa
import numpy as np
import pytest

from core.audio.trim import THRESHOLD_DB, background_pieces, frame_rms, loudest_window
from core.errors import UserInputError

SR = 16_000


def burst_in(n, start, stop, *, amp=0.5, floor=0.0, seed=0):
    """Silence (or noise at ``floor``) of n samples with a 1 kHz burst in [start, stop)."""
    rng = np.random.default_rng(seed)
    x = (floor * rng.standard_normal(n)).astype(np.float32)
    t = np.arange(stop - start) / SR
    x[start:stop] += (amp * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    return x


def test_frame_rms_equals_librosa_on_whole_frames(rng):
    x = rng.standard_normal(16_000 + 77).astype(np.float32)
    ours = frame_rms(x, frame=160)  # (101,): 100 whole frames and 77 samples
    ref = librosa.feature.rms(y=x, frame_length=160, hop_length=160, center=False)[0]  # (100,)
    assert ours.shape == (101,)
    np.testing.assert_allclose(ours[:100], ref, rtol=1e-5)
    assert ours[100] == pytest.approx(np.sqrt(np.mean(x[-77:].astype(np.float64) ** 2)))


def test_the_kept_second_holds_a_burst_in_silence_and_says_where():
    # 3.10 s of silence, a burst from 0.90 to 0.94 s: the second around it is 0.42-1.42 s
    x = burst_in(49_600, 14_400, 15_040)
    kept = loudest_window(x, sr=SR, length=SR)
    assert (kept.start, kept.stop) == (6_720, 22_720)
    assert kept.start <= 14_400 and kept.stop >= 15_040  # the burst is inside
    np.testing.assert_array_equal(kept.samples, x[6_720:22_720])
    assert kept.samples.dtype == np.float32 and kept.samples.shape == (SR,)
    assert kept.note == "kept 0.42–1.42 s of 3.10 s (its loudest 1 s)."


@pytest.mark.parametrize("where", [0.05, 1.3, 2.9, 4.85])  # near the start, middle, the end
def test_a_burst_in_room_noise_is_kept_wherever_it_is(where):
    n, start = 5 * SR, int(where * SR)
    stop = min(n, start + 2_400)  # 150 ms
    x = burst_in(n, start, stop, floor=0.003, seed=int(where * 10))
    kept = loudest_window(x, sr=SR, length=SR)
    assert kept.start <= start and kept.stop >= stop
    assert kept.stop - kept.start == SR and kept.start >= 0 and kept.stop <= n
    np.testing.assert_array_equal(kept.samples, x[kept.start : kept.stop])
    assert kept.samples.dtype == np.float32


def test_a_blind_centre_crop_would_have_missed_the_burst():
    x = burst_in(4 * SR, 200, 2_000)  # the sound at the very start of a 4 s recording
    centre = (len(x) - SR) // 2
    assert np.abs(x[centre : centre + SR]).max() == 0.0  # the centre second is silent
    kept = loudest_window(x, sr=SR, length=SR)
    assert kept.start == 0 and np.abs(kept.samples).max() == pytest.approx(0.5, abs=1e-3)


def test_a_loud_part_longer_than_the_window_keeps_its_loudest_second():
    # a soft burst at 0.5-1.0 s and a louder one at 2.0-2.5 s: the loud part spans 2 s
    x = burst_in(3 * SR, 8_000, 16_000, amp=0.2)
    x += burst_in(3 * SR, 32_000, 40_000, amp=0.6)
    kept = loudest_window(x, sr=SR, length=SR)
    assert kept.start <= 32_000 and kept.stop >= 40_000  # all of the loud burst
    energy = np.cumsum(np.concatenate([[0.0], x.astype(np.float64) ** 2]))
    best = max(energy[s + SR] - energy[s] for s in range(0, 2 * SR + 1, 160))
    assert energy[kept.stop] - energy[kept.start] >= best - 1e-9


def test_a_quiet_tail_below_the_threshold_does_not_pull_the_window():
    # a burst at 1.0-1.1 s and, 1.5 s later, a whisper 40 dB down: below -30 dB, not "loud"
    x = burst_in(4 * SR, 16_000, 17_600, amp=0.5)
    x += burst_in(4 * SR, 40_000, 41_600, amp=0.005)
    assert 20 * np.log10(0.005 / 0.5) < THRESHOLD_DB
    kept = loudest_window(x, sr=SR, length=SR)
    assert (kept.start + kept.stop) // 2 == 16_800  # centred on the burst alone


def test_a_short_clip_is_padded_on_both_sides_and_said():
    x = np.linspace(-0.5, 0.5, 8_000, dtype=np.float32)
    kept = loudest_window(x, sr=SR, length=SR)
    assert (kept.start, kept.stop, kept.offset) == (0, 8_000, 4_000)
    np.testing.assert_array_equal(kept.samples[4_000:12_000], x)
    assert not kept.samples[:4_000].any() and not kept.samples[12_000:].any()
    assert kept.note == "lasts 0.50 s; padded with silence on both sides to 1 s."


def test_a_clip_of_the_right_length_is_kept_as_it_is():
    x = np.random.default_rng(3).uniform(-1, 1, SR).astype(np.float32)
    kept = loudest_window(x, sr=SR, length=SR)
    np.testing.assert_array_equal(kept.samples, x)
    assert kept.note is None and (kept.start, kept.stop) == (0, SR)


def test_digital_silence_gives_a_window_without_failing():
    kept = loudest_window(np.zeros(3 * SR, np.float32), sr=SR, length=SR)
    assert kept.samples.shape == (SR,) and kept.stop - kept.start == SR


def test_room_noise_is_cut_into_back_to_back_pieces(rng):
    x = rng.normal(0, 0.01, int(20.4 * SR)).astype(np.float32)
    pieces = background_pieces(x, sr=SR, seconds=1.0)
    assert len(pieces) == 20
    for i, piece in enumerate(pieces):
        assert piece.shape == (SR,) and piece.dtype == np.float32
        np.testing.assert_array_equal(piece, x[i * SR : (i + 1) * SR])
    assert len(background_pieces(x, sr=SR, seconds=0.5)) == 40


def test_a_too_short_room_recording_gets_a_sentence():
    with pytest.raises(UserInputError, match=r"lasts 3\.9 s: at least 4 s are needed to cut 4"):
        background_pieces(np.ones(int(3.9 * SR), np.float32), sr=SR, min_pieces=4)
    assert len(background_pieces(np.ones(4 * SR, np.float32), sr=SR, min_pieces=4)) == 4
