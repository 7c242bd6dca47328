"""Classifying a new clip or picture: windows, probabilities and preprocessing."""

import numpy as np
import pytest
import torch

from core.learn import classify
from core.learn.classify import Preprocess


class MeanModel(torch.nn.Module):
    """Logits [mean, -mean] of the input: class 0 for positive signals, class 1 for negative."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        m = x.flatten(1).mean(dim=1) * self.scale
        return torch.stack([m, -m], dim=1)


def test_windows_cover_the_clip_with_half_overlap():
    x = np.arange(25, dtype=np.float32)
    w, starts = classify.windows_of(x, 10)
    assert starts.tolist() == [0, 5, 10, 15]  # the last window ends on the last sample
    np.testing.assert_array_equal(w[1], np.arange(5, 15))
    w, starts = classify.windows_of(np.arange(27, dtype=np.float32), 10)
    assert starts.tolist() == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(w[-1], [20, 21, 22, 23, 24, 25, 26, 0, 0, 0])
    short, s0 = classify.windows_of(np.ones(4, dtype=np.float32), 10)
    assert short.shape == (1, 10) and s0.tolist() == [0] and short[0, 3:7].tolist() == [1, 1, 1, 1]


def test_long_clip_gets_a_timeline():
    sr, n = 16000, 8000
    clip = np.concatenate([np.full(4 * n, 0.2), np.full(4 * n, -0.2)]).astype(np.float32)
    pre = Preprocess("waveform", length=n, sample_rate=sr)
    pred = classify.classify_clip(MeanModel(), clip, pre=pre, class_names=["up", "down"])
    assert pred.window_probs.shape == (len(pred.window_starts), 2)
    winners = pred.window_probs.argmax(axis=1)
    assert winners[0] == 0 and winners[-2] == 1
    expected = torch.softmax(torch.tensor([2.0, -2.0]), 0).numpy()
    np.testing.assert_allclose(pred.window_probs[0], expected, rtol=1e-5)
    np.testing.assert_allclose(pred.probs, pred.window_probs.mean(axis=0))
    longer_up = np.concatenate([np.full(6 * n, 0.2), np.full(2 * n, -0.2)]).astype(np.float32)
    pred = classify.classify_clip(MeanModel(), longer_up, pre=pre, class_names=["up", "down"])
    (name, p), (other, q) = pred.top(2)
    assert (name, other) == ("up", "down") and 0.6 < p < expected[0] and q == pytest.approx(1 - p)


def test_log_mel_preprocessing_matches_training():
    from core.audio.features import FeatureSettings
    from core.data import shipped as data

    rng = np.random.default_rng(0)
    wav = rng.uniform(-0.5, 0.5, (3, 16000)).astype(np.float32)
    ds = data.Dataset("t", "audio", wav, np.array([0, 1, 0]), ("a", "b"),
                      {"train": np.arange(3), "val": np.arange(0), "test": np.arange(0)},
                      sample_rate=16000)  # fmt: skip
    ref = data.model_inputs(ds).x  # what training feeds the network
    pre = Preprocess("log-mel", length=16000, settings=FeatureSettings().__dict__)
    torch.testing.assert_close(classify.audio_tensor(wav, pre), ref)


def test_image_is_resized_to_what_the_network_reads():
    gray = np.zeros((56, 40))
    gray[:, 20:] = 1.0
    x = classify.image_tensor(gray, Preprocess("image", image_shape=(1, 28, 28)))
    assert x.shape == (1, 1, 28, 28)
    assert x[0, 0, :, :12].max() < 0.05 and x[0, 0, :, 16:].min() > 0.95


def test_one_sigmoid_output_gives_two_probabilities():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        model[1].weight.fill_(1.0)
        model[1].bias.zero_()
    gray = np.ones((2, 2))
    pred = classify.classify_image(model, gray, pre=Preprocess("image", image_shape=(1, 2, 2)),
                                   class_names=["no", "yes"], head="sigmoid")  # fmt: skip
    p = 1 / (1 + np.exp(-4.0))
    np.testing.assert_allclose(pred.probs, [1 - p, p], rtol=1e-5)


def test_preprocess_round_trips_through_a_dict():
    pre = Preprocess("image", image_shape=(1, 28, 28))
    assert Preprocess.from_dict(pre.to_dict()) == pre
    from core.errors import UserInputError

    with pytest.raises(UserInputError, match="not readable"):
        Preprocess.from_dict({"representation": "image", "bogus": 1})


def test_padded_image_input_matches_training():
    import torch.nn.functional as F

    gray = np.random.default_rng(0).uniform(size=(28, 28))
    x = classify.image_tensor(gray, Preprocess("image", image_shape=(1, 32, 32), pad=2))
    expected = F.pad(torch.as_tensor(np.round(gray * 255) / 255, dtype=torch.float32), (2, 2, 2, 2))
    torch.testing.assert_close(x[0, 0], expected, atol=2 / 255, rtol=0)


def test_a_drawing_is_centred_and_scaled_like_mnist():
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[40:200, 200:230, :3] = 255  # a tall bar near the right edge
    canvas[..., 3] = 255
    digit = classify.drawing_to_digit(canvas)
    assert digit.shape == (28, 28)
    rows, cols = np.nonzero(digit > 0.5)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)  # the long side fits the 20-pixel box
    cy = (digit.sum(axis=1) * np.arange(28)).sum() / digit.sum()
    cx = (digit.sum(axis=0) * np.arange(28)).sum() / digit.sum()
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5  # centred by mass
    assert classify.drawing_to_digit(np.zeros((280, 280, 4), dtype=np.uint8)) is None
    assert classify.drawing_to_digit(None) is None


def test_what_the_network_reads_draws_silence_dark_not_in_the_themes_placeholder_colours():
    """Streamlit swaps chart colours #000001..#000040 for theme colours (silence turned pink)."""
    import re

    from core.figures import MAGMA
    from core.figures.predict import input_figure

    fig = input_figure(np.zeros((1, 64, 50)), representation="log-mel")
    scale = [c for _, c in fig.data[0].colorscale]
    assert scale == [c for _, c in MAGMA]
    placeholder = re.compile(r"^#0000[0-3][0-9a-f]$|^#000040$")
    assert not any(placeholder.match(c.lower()) for c in scale)


# ------------------------------------------------------------------------ long clips ----


def _tiny_log_mel_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, stride=2), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()  # fmt: skip


@pytest.mark.parametrize(
    ("n", "length", "hop"),
    [(10, 10, None), (11, 10, None), (25, 10, 5), (27, 10, 5), (16000 * 600, 32000, 16000),
     (16000 * 600 + 1, 32000, 16000), (1000, 300, 7), (1000, 300, 300), (3, 300, 50)],
)  # fmt: skip
def test_the_number_of_windows_follows_from_length_hop_and_window(n, length, hop):
    starts = classify.window_starts(n, length, hop=hop)
    step = hop or length // 2
    expected = 1 if n <= length else 1 + int(np.ceil((n - length) / step))
    assert len(starts) == expected
    np.testing.assert_array_equal(np.diff(starts), step)
    assert starts[-1] + length >= n  # the last window reaches the clip's last sample
    assert len(starts) == 1 or starts[-1] < n - length + step  # and no window more than needed
    _, old_starts = classify.windows_of(np.zeros(n, np.float32), length, hop=hop)
    np.testing.assert_array_equal(old_starts, starts)


def test_a_hop_longer_than_the_window_is_refused():
    from core.errors import UserInputError

    with pytest.raises(UserInputError, match="hop must be 1 to 10"):
        classify.window_starts(100, 10, hop=11)


def test_batched_windows_score_like_each_window_alone(rng):
    """A long clip scored in batches of windows gives the numbers of each window scored alone."""
    from core.audio.features import FeatureSettings

    sr, length = 16000, 8000
    pre = Preprocess("log-mel", length=length, sample_rate=sr, settings=FeatureSettings().__dict__)
    n = 37 * sr + 1234  # 37.08 s: the last window runs past the end and is padded
    t = np.arange(n) / sr
    clip = 0.3 * np.sin(2 * np.pi * (200 + 40 * t) * t) + 0.05 * rng.standard_normal(n)
    clip = clip.astype(np.float32)
    model = _tiny_log_mel_model()
    seen = []
    pred = classify.classify_clip(model, clip, pre=pre, class_names=["a", "b", "c"], batch=16,
                                  progress=seen.append)  # fmt: skip
    starts = classify.window_starts(n, length)
    assert len(starts) == 1 + int(np.ceil((n - length) / (length // 2))) == 148
    np.testing.assert_array_equal(pred.window_starts, starts / sr)
    alone = np.stack([
        classify._probabilities(model, classify.audio_tensor(clip[None, s : s + length], pre), "softmax")[0]
        if s + length <= n
        else classify._probabilities(model, classify.audio_tensor(
            np.pad(clip[s:], (0, s + length - n))[None], pre), "softmax")[0]
        for s in starts
    ])  # fmt: skip
    np.testing.assert_allclose(pred.window_probs, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.probs, alone.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert len(seen) == int(np.ceil(148 / 16)) and seen[-1] == 1.0
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False)) and seen[0] > 0


def test_a_ten_minute_clip_is_scored_over_its_whole_length():
    sr, n = 16000, 16000  # one-second windows of the waveform, half a second apart
    minutes = 10
    clip = np.full(minutes * 60 * sr, 0.2, dtype=np.float32)
    clip[-10 * sr :] = -0.2  # the last ten seconds say "down"
    pre = Preprocess("waveform", length=n, sample_rate=sr)
    seen = []
    pred = classify.classify_clip(MeanModel(), clip, pre=pre, class_names=["up", "down"],
                                  progress=seen.append)  # fmt: skip
    assert len(pred.window_starts) == 1 + (len(clip) - n) // (n // 2) == 1199
    assert pred.window_starts[-1] + pred.window_seconds == pytest.approx(minutes * 60)
    winners = pred.window_probs.argmax(axis=1)
    assert winners[:-20].tolist() == [0] * (1199 - 20) and winners[-19:].tolist() == [1] * 19
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == int(np.ceil(1199 / 64))


def test_a_clip_over_the_limit_is_refused_with_a_sentence():
    from core.errors import UserInputError

    pre = Preprocess("waveform", length=800, sample_rate=8000)
    with pytest.raises(UserInputError, match=r"lasts 1 min 30 s; clips up to 1 minutes"):
        classify.classify_clip(MeanModel(), np.ones(90 * 8000, np.float32), pre=pre,
                               class_names=["a", "b"], max_seconds=60)  # fmt: skip


def _wav_bytes(seconds, sr, channels):
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros((int(seconds * sr), channels), np.float32), sr, format="WAV")
    return buf.getvalue()


def test_how_much_of_a_file_is_read_follows_its_rate_and_channels():
    mono16 = classify.clip_limit(_wav_bytes(1, 16000, 1))
    assert (mono16.seconds, mono16.rate, mono16.channels) == (classify.MAX_CLIP_SECONDS, 16000, 1)
    assert mono16.note("a.wav", 3000) is None
    said = mono16.note("a.wav", 75 * 60)
    assert said.startswith(
        "“a.wav” lasts 75 minutes; a model is asked about at most the first 60 minutes"
    )
    stereo48 = classify.clip_limit(_wav_bytes(1, 48000, 2))
    assert stereo48.seconds == pytest.approx(classify.MAX_DECODED_VALUES / 96000)  # 11.6 minutes
    said = stereo48.note("b.wav", 40 * 60)
    assert "at 48000 Hz with 2 channels" in said and "only its first 11 min 39 s are read" in said
    unknown = classify.clip_limit(b"not audio at all")
    assert (unknown.rate, unknown.channels) == (0, 0)
    assert unknown.seconds == pytest.approx(classify.MAX_DECODED_VALUES / (192_000 * 8))
    assert "no rate or channel count in its header" in unknown.note("c.bin", 3600)


def test_a_phone_recording_is_limited_by_the_rate_and_channels_ffmpeg_reads():
    from tests.test_audio_formats import _encode_av, _signal

    m4a = _encode_av(_signal(1.0, 48000, 2), fmt="mp4", codec="aac", sr=48000)
    limit = classify.clip_limit(m4a)
    assert (limit.rate, limit.channels) == (48000, 2)
    assert limit.seconds == pytest.approx(classify.MAX_DECODED_VALUES / 96000)


def test_a_long_timeline_is_drawn_as_lines():
    from core.figures.predict import timeline_figure

    short = timeline_figure(np.arange(5) * 0.5, np.full((5, 2), 0.5), ["a", "b"], window=1.0)
    long = timeline_figure(np.arange(1199) * 0.5, np.full((1199, 2), 0.5), ["a", "b"], window=1.0)
    assert [t.mode for t in short.data] == ["lines+markers"] * 2
    assert [(t.type, t.mode) for t in long.data] == [("scattergl", "lines")] * 2
    assert long.data[0].x[-1] == pytest.approx(599.5)  # the last window's centre
