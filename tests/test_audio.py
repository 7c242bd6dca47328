"""core.audio against librosa, value for value, and every clip validation case."""

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from core import audio as A
from core.errors import UserInputError

SR = 16_000


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def speech():
    return A.load_example("speech_en.ogg", target_sr=SR).samples


def wav_bytes(data, sr, subtype="PCM_16", fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, data, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def lib_window(name):
    return "boxcar" if name == "rectangular" else name


STFT_GRID = [
    A.StftParams(n_fft=512, hop_length=160, win_length=400, window="hann"),
    A.StftParams(n_fft=1024, hop_length=256, window="hamming"),
    A.StftParams(n_fft=256, hop_length=64, win_length=200, window="blackman", pad_mode="reflect"),
    A.StftParams(n_fft=512, hop_length=128, window="rectangular", center=False),
    A.StftParams(n_fft=2048, hop_length=512, win_length=800, window="hann", pad_mode="edge"),
    A.StftParams(n_fft=128, hop_length=200, window="hann"),  # hop > window: gaps
]


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("params", STFT_GRID, ids=str)
def test_stft_equals_librosa(speech, params):
    ours = A.stft(speech, params)
    ref = librosa.stft(
        speech,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        window=lib_window(params.window),
        center=params.center,
        pad_mode=params.pad_mode,
    )
    assert ours.shape == ref.shape == (params.n_fft // 2 + 1, params.n_frames(speech.size))
    assert ours.dtype == ref.dtype
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    np.testing.assert_allclose(
        A.frame_times(ours.shape[1], sr=SR, params=params)[:5],
        librosa.frames_to_time(np.arange(5), sr=SR, hop_length=params.hop_length)
        + (0 if params.center else params.n_fft / 2 / SR),
    )


@pytest.mark.parametrize("params", STFT_GRID[:4], ids=str)
def test_frame_at_is_one_stft_column(speech, params):
    ref = np.abs(
        librosa.stft(
            speech,
            n_fft=params.n_fft,
            hop_length=params.hop_length,
            win_length=params.win_length,
            window=lib_window(params.window),
            center=params.center,
            pad_mode=params.pad_mode,
        )
    )
    for index in (0, 7, ref.shape[1] - 1):
        fv = A.frame_at(speech, sr=SR, params=params, index=index)
        np.testing.assert_allclose(fv.magnitude, ref[:, index], atol=1e-6 * ref.max())
        np.testing.assert_allclose(fv.freqs, librosa.fft_frequencies(sr=SR, n_fft=params.n_fft))
        # the raw frame is the clip itself where it does not fall in the padding
        inside = (fv.start + np.arange(params.n_fft) >= 0) & (
            fv.start + np.arange(params.n_fft) < speech.size
        )
        idx = fv.start + np.flatnonzero(inside)
        np.testing.assert_array_equal(fv.raw[inside], speech[idx])


@pytest.mark.parametrize("window", A.WINDOWS)
def test_window_matches_librosa(window):
    params = A.StftParams(n_fft=512, win_length=300, window=window)
    ref = librosa.util.pad_center(librosa.filters.get_window(lib_window(window), 300), size=512)
    np.testing.assert_allclose(A.window(params), ref)


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_equals_librosa(htk):
    f = np.array([0.0, 50.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0, 96000.0])
    np.testing.assert_allclose(A.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk))
    m = librosa.hz_to_mel(f, htk=htk)
    np.testing.assert_allclose(A.mel_to_hz(m, htk=htk), librosa.mel_to_hz(m, htk=htk), rtol=1e-9)
    # the textbook's formula is the HTK curve
    np.testing.assert_allclose(A.hz_to_mel(700.0, htk=True), 2595 * np.log10(2))


@pytest.mark.filterwarnings("ignore:Empty filters detected")
@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100])
@pytest.mark.parametrize(
    "n_fft,n_mels,fmin,fmax,htk,norm",
    [
        (512, 64, 0.0, None, False, "slaney"),
        (1024, 128, 20.0, 3900.0, True, "slaney"),
        (256, 40, 100.0, None, False, None),
        (2048, 80, 0.0, 3000.0, True, None),
    ],
)
def test_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    mel = A.MelParams(n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    ours = A.mel_filterbank(sr=sr, n_fft=n_fft, mel=mel)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
    )
    assert ours.shape == ref.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    edges = A.mel_edges(sr=sr, mel=mel)
    np.testing.assert_allclose(
        edges,
        librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax or sr / 2, htk=htk),
    )


@pytest.mark.parametrize("params", STFT_GRID[:4], ids=str)
@pytest.mark.parametrize("htk,power", [(False, 2.0), (True, 1.0)])
def test_melspectrogram_db_and_mfcc_equal_librosa(speech, params, htk, power):
    mel = A.MelParams(n_mels=48, fmin=30.0, fmax=7600.0, htk=htk)
    kw = dict(
        sr=SR,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        window=lib_window(params.window),
        center=params.center,
        pad_mode=params.pad_mode,
        n_mels=48,
        fmin=30.0,
        fmax=7600.0,
        htk=htk,
    )
    M = A.mel_spectrogram(speech, sr=SR, stft=params, mel=mel, power=power)
    R = librosa.feature.melspectrogram(y=speech, power=power, **kw)
    assert M.shape == R.shape
    np.testing.assert_allclose(M, R, rtol=0, atol=1e-5 * R.max())
    for ref, top_db in (("max", 80.0), (1.0, None), (1.0, 40.0)):
        D = A.power_to_db(M, ref=ref, top_db=top_db)
        Dr = librosa.power_to_db(R, ref=np.max if ref == "max" else ref, top_db=top_db)
        np.testing.assert_allclose(D, Dr, atol=1e-3)
    if power == 2.0:
        C = A.mfcc(A.power_to_db(M), n_mfcc=20)
        Cr = librosa.feature.mfcc(y=speech, n_mfcc=20, **kw)
        np.testing.assert_allclose(C, Cr, atol=1e-2)


def test_scale_spectrogram_kinds(speech):
    params = A.StftParams()
    S = A.stft(speech, params)
    ref = librosa.stft(speech, n_fft=512, hop_length=160)
    np.testing.assert_allclose(A.scale_spectrogram(S, kind="magnitude"), np.abs(ref), atol=1e-6)
    np.testing.assert_allclose(A.scale_spectrogram(S, kind="power"), np.abs(ref) ** 2, atol=1e-6)
    np.testing.assert_allclose(
        A.scale_spectrogram(S, kind="db", ref="max", top_db=60),
        librosa.amplitude_to_db(np.abs(ref), ref=np.max, top_db=60),
        atol=1e-3,
    )
    with pytest.raises(UserInputError):
        A.scale_spectrogram(S, kind="loudness")


def test_kernel_coverage_in_ms_and_hz():
    params = A.StftParams(n_fft=512, hop_length=160, win_length=400)
    mel = A.MelParams(n_mels=64)
    cov = A.kernel_coverage(sr=SR, n_samples=SR * 3, params=params, mel=mel, band=10)
    frames = librosa.feature.melspectrogram(
        y=np.zeros(SR * 3, np.float32), sr=SR, n_fft=512, hop_length=160, win_length=400, n_mels=64
    ).shape[1]
    assert cov.shape == (1, 64, frames)
    assert cov.centre_span_ms == pytest.approx(20.0)  # two hops of 10 ms
    assert cov.support_ms == pytest.approx(45.0)  # 2 * 160 + 400 samples
    f = librosa.mel_frequencies(66, fmin=0, fmax=SR / 2)
    assert (cov.band_low_hz, cov.band_high_hz) == pytest.approx((f[10], f[14]))
    assert (cov.centre_low_hz, cov.centre_high_hz) == pytest.approx((f[11], f[13]))
    with pytest.raises(UserInputError, match="band"):
        A.kernel_coverage(sr=SR, n_samples=SR, params=params, mel=mel, band=62)


# ----------------------------------------------------------------------------- listening


def test_mel_band_audio_passes_only_its_band():
    t = np.arange(SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    params, mel = A.StftParams(), A.MelParams(n_mels=40)
    S = A.stft(y, params)
    edges = librosa.mel_frequencies(42, fmin=0, fmax=SR / 2)
    inside = int(np.argmin(np.abs(edges[1:-1] - 1000)))  # the band peaking nearest 1 kHz
    far = 5 if inside > 10 else 35
    loud = A.mel_band_audio(S, sr=SR, params=params, mel=mel, band=inside, length=y.size)
    quiet = A.mel_band_audio(S, sr=SR, params=params, mel=mel, band=far, length=y.size)
    assert loud.shape == quiet.shape == y.shape
    assert np.sqrt(np.mean(loud**2)) > 0.1
    assert np.sqrt(np.mean(quiet**2)) < 1e-3
    # an all-pass mask gives back the clip (librosa.istft of the same STFT)
    whole = A.masked_audio(S, params=params, length=y.size, mask=np.ones((S.shape[0], 1)))
    np.testing.assert_allclose(whole, librosa.istft(S, hop_length=160, length=y.size), atol=1e-5)


def test_box_audio_keeps_time_and_frequency_box():
    t = np.arange(2 * SR) / SR
    y = (0.4 * np.sin(2 * np.pi * 500 * t) + 0.4 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    params = A.StftParams()
    S = A.stft(y, params)
    out = A.box_audio(S, sr=SR, params=params, length=y.size, t0=0.5, t1=1.0, f0=0, f1=1000)
    assert np.abs(out[: int(0.4 * SR)]).max() < 1e-4  # silent before the box
    seg = out[int(0.6 * SR) : int(0.9 * SR)]
    spec = np.abs(np.fft.rfft(seg))
    freqs = np.fft.rfftfreq(seg.size, 1 / SR)
    assert abs(freqs[spec.argmax()] - 500) < 5  # 3 kHz removed, 500 Hz kept
    with pytest.raises(UserInputError):
        A.box_audio(S, sr=SR, params=params, length=y.size, t0=1.0, t1=0.5, f0=0, f1=100)


def test_griffin_lim_rebuilds_a_close_magnitude(speech):
    params, mel = A.StftParams(), A.MelParams(n_mels=64)
    seg, from_stft, from_mel = A.rebuild_region(
        speech, sr=SR, params=params, mel=mel, start_s=0.5, end_s=1.5, n_iter=16
    )
    assert seg.shape == from_stft.shape == from_mel.shape == (SR,)
    target = np.abs(librosa.stft(seg, n_fft=512, hop_length=160))
    got = np.abs(librosa.stft(from_stft, n_fft=512, hop_length=160))
    assert np.linalg.norm(got - target) / np.linalg.norm(target) < 0.5
    assert np.all(np.isfinite(from_mel))


def test_envelope_and_display_columns(rng):
    y = rng.uniform(-1, 1, 50_000).astype(np.float32)
    t, e, exact = A.envelope(y, sr=SR, start_s=0.0, end_s=0.01)
    assert exact and np.array_equal(e, y[: e.size]) and e.size == 161
    t, e, exact = A.envelope(y, sr=SR, start_s=0.0, end_s=10.0, max_points=1000)
    assert not exact and e.size == 1000
    assert e.max() == y.max() and e.min() == y.min()
    times = np.arange(3001) * 0.01
    idx, step = A.display_columns(times, start_s=0.0, end_s=30.0, max_columns=1000)
    assert step == 4 and idx.size <= 1000 and idx[0] == 0
    idx, step = A.display_columns(times, start_s=1.0, end_s=2.0)
    assert step == 1 and times[idx[0]] == pytest.approx(1.0) and idx.size == 101


# ----------------------------------------------------------------------------- validation


def test_parameter_checks_speak_to_the_user():
    with pytest.raises(UserInputError, match="window length M = 1024"):
        A.StftParams(n_fft=512, win_length=1024).check()
    with pytest.raises(UserInputError, match="fewer than n_fft"):
        A.StftParams(n_fft=1024, center=False).check(500)
    with pytest.raises(UserInputError, match="Nyquist"):
        A.MelParams(fmax=9000).check(16000)
    with pytest.raises(UserInputError, match="above fmin"):
        A.MelParams(fmin=3000, fmax=2000).check(16000)
    with pytest.raises(UserInputError, match="more than this page can draw"):
        A.StftParams(n_fft=4096, hop_length=1).check(SR * 30)


def test_empty_file():
    with pytest.raises(UserInputError, match="empty"):
        A.load_clip(b"", name="x.wav")


def test_not_audio():
    with pytest.raises(UserInputError, match="not an audio file"):
        A.load_clip(b"hello, this is a text file\n" * 20, name="notes.wav")
    with pytest.raises(UserInputError, match="not an audio file"):
        A.load_clip(b"\x89PNG\r\n\x1a\n" + bytes(200), name="image.ogg")


def test_corrupt_wav_and_ogg(rng):
    good = wav_bytes(rng.uniform(-0.5, 0.5, 4000).astype(np.float32), SR)
    bad = good[:12] + b"garbage!" * 10
    with pytest.raises(UserInputError, match="looks like a WAV file but could not be decoded"):
        A.load_clip(bad, name="broken.wav")
    with pytest.raises(UserInputError, match="OGG"):
        A.load_clip(b"OggS" + bytes(300), name="broken.ogg")


def test_zero_samples():
    with pytest.raises(UserInputError, match="0 samples"):
        A.load_clip(wav_bytes(np.zeros(0, np.float32), SR), name="none.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples(bad):
    y = np.zeros(1000, np.float32)
    y[10] = bad
    with pytest.raises(UserInputError, match="NaN or infinite"):
        A.load_clip(wav_bytes(y, SR, subtype="FLOAT"), name="nan.wav")


def test_silent_clip_is_noted():
    clip = A.load_clip(wav_bytes(np.zeros(SR, np.float32), SR), name="silence.wav")
    assert clip.n_samples == SR and any("silent" in n for n in clip.notes)


def test_very_quiet_clip_is_noted():
    y = 0.001 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
    clip = A.load_clip(wav_bytes(y, SR, subtype="FLOAT"), name="quiet.wav")
    assert any("very quiet" in n and "-60 dBFS" in n for n in clip.notes)


def test_clipped_clip_is_noted():
    y = np.clip(1.5 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR), -1, 1)
    clip = A.load_clip(wav_bytes(y, SR, subtype="FLOAT"), name="loud.wav")
    assert any("Clipped samples found" in n for n in clip.notes)
    clean = A.load_clip(wav_bytes(0.5 * y, SR, subtype="FLOAT"), name="ok.wav")
    assert clean.notes == []


@pytest.mark.parametrize("channels", [2, 4])
def test_multichannel_is_downmixed(rng, channels):
    y = rng.uniform(-0.5, 0.5, (SR, channels)).astype(np.float32)
    clip = A.load_clip(wav_bytes(y, SR, subtype="FLOAT"), name="multi.wav")
    assert clip.source_channels == channels
    assert any(f"({channels} channels)" in n and "mono" in n for n in clip.notes)
    np.testing.assert_allclose(clip.samples, librosa.to_mono(y.T), atol=1e-7)


@pytest.mark.parametrize("file_sr", [8000, 44100, 192000])
def test_rates_are_resampled_and_stated(file_sr):
    y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(file_sr) / file_sr)
    clip = A.load_clip(wav_bytes(y, file_sr), name="tone.wav", target_sr=SR)
    assert clip.sr == SR and clip.n_samples == SR and clip.source_sr == file_sr
    assert any(f"Resampled from {file_sr} Hz to {SR} Hz" in n for n in clip.notes)
    ref = librosa.resample(
        sf.read(io.BytesIO(wav_bytes(y, file_sr)), dtype="float32")[0],
        orig_sr=file_sr,
        target_sr=SR,
    )
    np.testing.assert_allclose(clip.samples, ref, atol=1e-6)


@pytest.mark.parametrize("file_sr", [4000, 200_000])
def test_rate_out_of_range(file_sr):
    y = np.zeros(file_sr // 10, np.float32)
    with pytest.raises(UserInputError, match=f"sampled at {file_sr} Hz"):
        A.load_clip(wav_bytes(y, file_sr), name="odd.wav")


def test_long_clip_is_trimmed():
    y = 0.1 * np.ones(SR * 12, np.float32)
    clip = A.load_clip(wav_bytes(y, SR), name="long.wav", max_seconds=5)
    assert clip.n_samples == 5 * SR and clip.source_seconds == pytest.approx(12)
    assert any("trimmed to its first 5 s" in n for n in clip.notes)


@pytest.mark.parametrize(
    "fmt,subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]
)
def test_other_formats_decode(fmt, subtype):
    y = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    try:
        data = wav_bytes(y, SR, subtype=subtype, fmt=fmt)
    except (sf.LibsndfileError, ValueError, TypeError):
        pytest.skip(f"this libsndfile cannot write {fmt}")
    clip = A.load_clip(data, name=f"tone.{fmt.lower()}")
    assert clip.sr == SR and abs(clip.n_samples - SR) < 0.1 * SR
    spec = np.abs(np.fft.rfft(clip.samples))
    assert abs(np.fft.rfftfreq(clip.n_samples, 1 / SR)[spec.argmax()] - 440) < 3


def test_examples_exist_and_are_clean():
    total = 0
    for name in A.EXAMPLES:
        path = A.EXAMPLES_DIR / name
        total += path.stat().st_size
        info = sf.info(path)
        assert info.channels == 1 and info.samplerate in (16000, 22050)
        assert 2.0 <= info.duration <= 8.0
    assert total < 1.5 * 1024 * 1024
    assert (A.EXAMPLES_DIR / "README.md").exists()


def test_the_signal_threshold_is_one_frame_of_the_features_a_network_reads():
    from core.audio.features import FeatureSettings

    default = FeatureSettings()
    assert default.n_fft / default.sample_rate == A.MIN_SIGNAL_SECONDS  # 512 / 16000


@pytest.mark.parametrize(
    ("sr", "n", "peak", "frame", "message"),
    [
        (16000, 512, 0.5, None, None),  # one 32 ms frame: accepted
        (16000, 511, 0.5, None, "lasts 31.9 ms: shorter than one 32 ms analysis window"),
        (8000, 256, 0.5, None, None),
        (8000, 255, 0.5, None, "lasts 31.9 ms"),
        (16000, 800, 0.5, 1024, "lasts 50.0 ms: shorter than one 64 ms analysis window"),
        (16000, 1024, 0.5, 1024, None),  # a model's own 1024-sample window
        (16000, 1, 0.5, None, "lasts 0.1 ms"),
        (16000, 16000, 1e-4, None, None),  # -80 dBFS exactly: quiet, but a signal
        (16000, 16000, 9e-5, None, r"carries no signal \(its loudest sample is -81 dBFS\)"),
        (16000, 16000, 0.0, None, r"carries no signal \(every sample is 0\)"),
    ],
)
def test_require_signal_refuses_clips_too_short_or_silent(sr, n, peak, frame, message):
    y = np.full(n, peak, np.float32)
    clip = A.load_clip(wav_bytes(y, sr, subtype="FLOAT"), name="c.wav", target_sr=sr)
    assert clip.n_samples == n
    if message is None:
        assert A.require_signal(clip, frame=frame) is clip
    else:
        with pytest.raises(UserInputError, match=message):
            A.require_signal(clip, frame=frame)


def test_preprocess_frame_is_the_models_window():
    from core.learn.classify import Preprocess

    assert Preprocess("log-mel", settings={"n_fft": 1024, "win_length": None}).frame == 1024
    assert Preprocess("log-mel", settings={"n_fft": 1024, "win_length": 400}).frame == 400
    assert Preprocess("log-mel").frame == 512
    assert Preprocess("waveform", length=8000).frame is None


@pytest.mark.parametrize("n", [1, 2, 100, 159])
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_a_clip_shorter_than_one_hop_goes_through_every_stage_as_librosa(n, pad_mode):
    """A one-sample WAV (anything under 10 ms at the defaults) makes one frame, librosa's."""
    y = np.full(n, 0.3, np.float32)
    clip = A.load_clip(wav_bytes(y, SR, subtype="FLOAT"), name="tiny.wav", target_sr=SR)
    assert clip.n_samples == n
    params, mel = A.StftParams(win_length=400, pad_mode=pad_mode), A.MelParams()
    S = A.stft(clip.samples, params)
    ref = librosa.stft(clip.samples, n_fft=512, hop_length=160, win_length=400, pad_mode=pad_mode)
    assert S.shape == ref.shape == (257, 1)
    np.testing.assert_allclose(S, ref, atol=1e-5)
    M = A.mel_spectrogram(clip.samples, sr=SR, stft=params, mel=mel)
    ref_mel = librosa.feature.melspectrogram(
        y=clip.samples, sr=SR, n_fft=512, hop_length=160, win_length=400, pad_mode=pad_mode,
        n_mels=64,
    )  # fmt: skip
    np.testing.assert_allclose(M, ref_mel, rtol=1e-4, atol=1e-8)
    db = A.power_to_db(M, ref="max")
    np.testing.assert_allclose(A.mfcc(db, n_mfcc=13), librosa.feature.mfcc(S=db, n_mfcc=13),
                               rtol=1e-4, atol=1e-3)  # fmt: skip
    fv = A.frame_at(clip.samples, sr=SR, params=params, index=0)
    assert fv.n_frames == 1
    np.testing.assert_allclose(fv.magnitude, np.abs(ref[:, 0]), atol=1e-5)
    end = n / SR
    assert A.envelope(clip.samples, sr=SR, start_s=0.0, end_s=end)[1].shape == (n,)
    assert A.mel_band_audio(S, sr=SR, params=params, mel=mel, band=3, length=n).shape == (n,)
    rebuilt = A.rebuild_region(clip.samples, sr=SR, params=params, mel=mel, start_s=0.0,
                               end_s=end, n_iter=4)  # fmt: skip
    assert [r.shape for r in rebuilt] == [(n,)] * 3
    assert all(np.isfinite(r).all() for r in rebuilt)


# ----------------------------------------------------------------------------- drawn views


def test_spectrogram_view_draws_librosa_db_cells_inside_the_view(speech):
    params = A.StftParams(n_fft=2048, hop_length=64)  # 1025 rows, 3 s of 4 ms columns
    S = A.stft(speech, params)
    view = A.spectrogram_view(
        S,
        sr=SR,
        params=params,
        kind="db",
        ref="max",
        top_db=80,
        start_s=0.5,
        end_s=2.5,
        log_y=False,
        max_columns=200,
        max_rows=300,
    )
    want = librosa.power_to_db(
        np.abs(librosa.stft(speech, n_fft=2048, hop_length=64)) ** 2, ref=np.max, top_db=80
    )
    times = librosa.frames_to_time(np.arange(S.shape[1]), sr=SR, hop_length=64)
    cols = [int(np.argmin(np.abs(times - t))) for t in view.times]
    rows = [int(np.round(f * 2048 / SR)) for f in view.freqs]
    assert view.z.shape == (len(rows), len(cols)) and view.z.shape[0] <= 300
    assert view.z.shape[1] <= 200 and view.times.min() >= 0.5 and view.times.max() <= 2.5
    np.testing.assert_allclose(view.z, want[np.ix_(rows, cols)], atol=1e-3)
    assert view.n_rows == 1025 and view.column_step == int(
        np.ceil(np.sum((times >= 0.5) & (times <= 2.5)) / 200)
    )
    assert not view.z.flags.writeable


def test_spectrogram_view_on_a_log_axis_drops_0_hz_and_keeps_every_low_bin(speech):
    params = A.StftParams(n_fft=1024, hop_length=160)
    S = A.stft(speech, params)
    view = A.spectrogram_view(
        S,
        sr=SR,
        params=params,
        kind="magnitude",
        ref="max",
        top_db=None,
        start_s=0,
        end_s=10,
        log_y=True,
        max_rows=100,
    )
    assert view.freqs[0] > 0 and view.n_rows == 512
    low = view.freqs[view.freqs <= 12 * SR / 1024]
    np.testing.assert_allclose(low, np.arange(1, 13) * SR / 1024)  # no low bin skipped
    assert len(view.freqs) <= 100 and np.all(np.diff(view.freqs) > 0)
    rows = np.round(view.freqs * 1024 / SR).astype(int)
    np.testing.assert_allclose(view.z[:, 0], np.abs(S[rows, 0]), rtol=1e-6)


@pytest.mark.parametrize("which", ["log-mel (dB)", "mel power", "MFCC"])
def test_mel_view_is_librosa_for_each_view(speech, which):
    params, mel = A.StftParams(n_fft=512, hop_length=160), A.MelParams(n_mels=40)
    M = A.mel_spectrogram(speech, sr=SR, stft=params, mel=mel)
    view = A.mel_view(M, sr=SR, params=params, which=which, n_mfcc=13, start_s=0, end_s=99)
    P = librosa.feature.melspectrogram(
        y=speech, sr=SR, n_fft=512, hop_length=160, n_mels=40, pad_mode="constant"
    )
    want = {
        "mel power": P,
        "log-mel (dB)": librosa.power_to_db(P, ref=np.max),
        "MFCC": librosa.feature.mfcc(S=librosa.power_to_db(P, ref=np.max), n_mfcc=13),
    }[which]
    assert view.z.shape == want.shape and view.freqs is None and view.column_step == 1
    np.testing.assert_allclose(view.z, want, rtol=1e-4, atol=1e-3 * np.abs(want).max())


def test_mel_view_names_an_unknown_view():
    M = np.ones((4, 3), np.float32)
    with pytest.raises(UserInputError, match="Unknown mel view"):
        A.mel_view(M, sr=SR, params=A.StftParams(), which="chroma", n_mfcc=0, start_s=0, end_s=1)


def test_wav_bytes_are_16_bit_at_full_scale():
    y = 0.25 * np.sin(np.linspace(0, 100, 4000)).astype(np.float32)
    back, sr = sf.read(io.BytesIO(A.wav_bytes(y, 8000)))
    info = sf.info(io.BytesIO(A.wav_bytes(y, 8000)))
    assert sr == 8000 and info.subtype == "PCM_16" and len(back) == 4000
    np.testing.assert_allclose(back, y / np.abs(y).max(), atol=1 / 32768)
    silent, _ = sf.read(io.BytesIO(A.wav_bytes(np.zeros(10), 8000)))
    assert not silent.any()
