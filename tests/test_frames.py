"""The data the browser's step player draws from: every step, checked against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import UserInputError
from core.explain import conv
from core.explain.frames import MAX_STEPS, step_frames


def _num(text: str) -> float:
    return float(text)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 1)])
def test_conv2d_frames_hold_every_step_and_the_torch_output(rng, stride, padding, dilation):
    x = rng.integers(-5, 6, size=(2, 6, 7)).astype(float)
    w = rng.integers(-2, 3, size=(3, 2, 3, 3)).astype(float)
    b = np.array([0.5, -1.0, 0.0])
    result = conv.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    ref = F.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), stride=stride,
                   padding=padding, dilation=dilation)[0].numpy()  # fmt: skip
    for f in range(3):
        d = step_frames(result, filt=f)
        assert d["kind"] == "conv" and d["nd"] == 2 and len(d["inputs"]) == 2
        out = np.array([[_num(v) for v in row] for row in d["output"]])
        np.testing.assert_allclose(out, ref[f], atol=1e-9)
        assert len(d["steps"]) == ref[f].size
        for i, s in enumerate(d["steps"]):
            r, c = s["out"]
            assert (r, c) == divmod(i, ref.shape[2])  # row-major order
            assert s["rows"] == [r * stride + t * dilation for t in range(3)]
            assert s["cols"] == [c * stride + t * dilation for t in range(3)]
            total = float(s["eq"].splitlines()[0].rsplit("=", 1)[1])
            assert total == pytest.approx(ref[f, r, c])
        kernels = [[[_num(v) for v in row] for row in k] for k in d["kernels"]]
        np.testing.assert_array_equal(np.array(kernels), w[f])


def test_padding_cells_are_marked_and_hold_the_padded_values():
    x = np.arange(1.0, 7.0).reshape(1, 2, 3)
    result = conv.conv2d(x, np.ones((1, 1, 2, 2)), padding=(1, 2), padding_mode="reflect")
    d = step_frames(result)
    mask = np.array(d["inputs"][0]["pad"])
    np.testing.assert_array_equal(mask, conv.padding_mask((2, 3), ((1, 1), (2, 2))))
    padded = F.pad(torch.tensor(x)[None], (2, 2, 1, 1), mode="reflect")[0, 0].numpy()
    values = np.array([[_num(v) for v in row] for row in d["inputs"][0]["values"]])
    np.testing.assert_array_equal(values, padded)


def test_pooling_frames_mark_the_winner_and_match_torch(rng):
    x = rng.normal(size=(2, 5, 5))
    result = conv.max_pool2d(x, 2, stride=1, padding=1)
    ref = F.max_pool2d(torch.tensor(x)[None], 2, stride=1, padding=1)[0].numpy()
    d = step_frames(result, filt=1)
    assert len(d["inputs"]) == 1 and d["kernels"] == []  # the channel pooled, no weights
    for s in d["steps"]:
        i, j = s["win"]
        padded = result.padded[1]
        assert padded[s["rows"][i], s["cols"][j]] == pytest.approx(ref[1][tuple(s["out"])])
    avg = step_frames(conv.avg_pool2d(x, 3, stride=2))
    assert all(s["win"] is None for s in avg["steps"])
    assert avg["steps"][0]["eq"].endswith(
        f"= {conv._num(F.avg_pool2d(torch.tensor(x), 3, 2)[0, 0, 0].item())}"
    )


def test_a_1d_signal_is_one_grid_of_channel_rows():
    x = np.array([[1.0, 2, 3, 4, 5], [0, 1, 0, 1, 0]])
    k = np.array([[[1.0, 0, -1], [2, 2, 2]]])
    result = conv.conv1d(x, k, padding=1, stride=2)
    ref = F.conv1d(torch.tensor(x)[None], torch.tensor(k), padding=1, stride=2)[0, 0].numpy()
    d = step_frames(result)
    assert d["nd"] == 1 and len(d["inputs"]) == 1 and len(d["inputs"][0]["values"]) == 2
    assert [s["rows"] for s in d["steps"]] == [[0, 1]] * len(ref)  # the window spans both
    assert [s["cols"] for s in d["steps"]] == [[2 * i, 2 * i + 1, 2 * i + 2] for i in range(3)]
    np.testing.assert_allclose([_num(v) for v in d["output"][0]], ref)
    assert "per channel" in d["steps"][0]["eq"]  # two channels: each one's share


def test_too_many_steps_or_a_missing_filter_is_a_sentence():
    big = conv.conv2d(np.zeros((1, 70, 70)), np.ones((1, 1, 1, 1)))
    assert big.n_steps > MAX_STEPS
    with pytest.raises(UserInputError, match="at most"):
        step_frames(big)
    with pytest.raises(UserInputError, match="no filter 2"):
        step_frames(conv.conv2d(np.zeros((1, 3, 3)), np.ones((1, 1, 2, 2))), filt=1)
