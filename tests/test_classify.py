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
