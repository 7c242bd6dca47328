"""Receptive-field arithmetic against autograd on real torch modules and published values."""

import librosa
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from core.errors import UserInputError
from core.explain import receptive as rf


@st.composite
def stacks(draw):
    n = draw(st.integers(1, 4))
    layers = []
    for _ in range(n):
        kind = draw(st.sampled_from(["conv", "pool"]))
        k = draw(st.integers(1, 5))
        d = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, min(2, k // 2) if kind == "pool" else 2))
        layers.append({"kind": kind, "k": k, "s": s, "p": p, "d": d})
    size = (draw(st.integers(6, 26)), draw(st.integers(6, 26)))
    return layers, size


def _torch_output(layers, size, pool_mode):
    module = rf.build_stack_module(layers, pool_mode=pool_mode)
    return module(torch.ones(1, 1, *size, dtype=torch.float64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(), st.floats(0, 1), st.floats(0, 1), st.data())
def test_analytic_field_equals_autograd(stack, fr, fc, data):
    layers, size = stack
    try:
        rows = rf.layer_table(layers, input_size=size)
    except rf.BrokenStackError as err:
        # torch agrees that the stack cannot be computed up to that layer
        with pytest.raises(RuntimeError):
            _torch_output(layers[: err.layer_index], size, "max")
        assume(False)
    # output sizes against torch, with real max-pooling modules
    for i in range(1, len(rows)):
        out = _torch_output(layers[:i], size, "max")
        assert tuple(out.shape[-2:]) == rows[i].n
    layer = data.draw(st.integers(1, len(layers)))
    h, w = rows[layer].n
    row, col = min(int(fr * h), h - 1), min(int(fc * w), w - 1)
    regions = rf.unit_region(rows, layer=layer, row=row, col=col)
    emp = rf.empirical_field(layers, input_size=size, row=row, col=col, layer=layer)
    np.testing.assert_array_equal(regions[0].mask(), emp.nonzero)
    # unclipped extent of the field equals r when the unit is away from every border
    r0, r1, c0, c1 = regions[0].box()
    if all(not (reg.rows.padding.size or reg.cols.padding.size) for reg in regions):
        assert r1 - r0 + 1 == rows[layer].r
        assert c1 - c0 + 1 == rows[layer].r
        assert (r0 + r1) / 2 == rows[layer].start + row * rows[layer].j


def test_dilated_kernel_has_holes_that_autograd_confirms():
    layers = [{"kind": "conv", "k": 3, "d": 3}]
    rows = rf.layer_table(layers, input_size=9)
    regions = rf.unit_region(rows, layer=1, row=1, col=1)
    assert rows[1].r == 7
    assert regions[0].rows.positions.tolist() == [1, 4, 7]
    emp = rf.empirical_field(layers, input_size=9, row=1, col=1)
    np.testing.assert_array_equal(regions[0].mask(), emp.nonzero)
    assert emp.nonzero.sum() == 9


@pytest.mark.parametrize(
    ("name", "field", "jump"),
    [
        # Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
        # Networks", Distill 2019: AlexNet 195, VGG-16 212, both with effective stride 32.
        ("alexnet", 195, 32),
        ("vgg16", 212, 32),
        # ResNet-18's last stage (main path): 435 pixels, stride 32.
        ("resnet18", 435, 32),
    ],
)
def test_published_fields_of_classic_networks(name, field, jump):
    layers, size = rf.preset(name)
    rows = rf.layer_table(layers, input_size=size)
    assert rows[-1].r == field
    assert rows[-1].j == jump
    assert rows[-1].n == ((6, 6) if name == "alexnet" else (7, 7))


def test_two_3x3_see_as_far_as_one_5x5():
    two = rf.layer_table(rf.preset("two_3x3")[0], input_size=9)
    one = rf.layer_table(rf.preset("one_5x5")[0], input_size=9)
    assert two[-1].r == one[-1].r == 5
    # parameters per channel pair: 2 × 9 against 25, counted by torch
    n_two = sum(
        p.numel() for p in nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)).parameters()
    )
    n_one = sum(p.numel() for p in nn.Conv2d(1, 1, 5).parameters())
    assert (n_two, n_one) == (20, 26)


def test_broken_stack_names_the_layer_and_keeps_earlier_layers():
    layers, _ = rf.preset("textbook")
    with pytest.raises(rf.BrokenStackError) as info:
        rf.layer_table(layers, input_size=3)
    assert "Layer 2" in str(info.value)
    assert info.value.layer_index == 2
    assert [r.n for r in info.value.rows] == [(3, 3), (1, 1)]
    assert isinstance(info.value, UserInputError)
    with pytest.raises(RuntimeError):
        _torch_output(layers, (3, 3), "avg")


def test_pool_padding_larger_than_half_window_is_refused_like_torch():
    layers = [{"kind": "pool", "k": 2, "s": 2, "p": 2}]
    with pytest.raises(rf.BrokenStackError, match="Layer 1"):
        rf.layer_table(layers, input_size=8)
    with pytest.raises(RuntimeError):
        nn.MaxPool2d(2, 2, 2)(torch.ones(1, 1, 8, 8))


@pytest.mark.parametrize(
    "bad", [{"kind": "conv", "k": 0}, {"kind": "mix"}, {"kind": "conv", "s": 1.5}]
)
def test_invalid_values_are_user_errors(bad):
    with pytest.raises(UserInputError):
        rf.layer_table([bad], input_size=8)


def test_padding_part_of_window_is_marked():
    rows = rf.layer_table([{"kind": "conv", "k": 3, "p": 1}], input_size=5)
    reg = rf.unit_region(rows, layer=1, row=0, col=4)
    assert reg[0].rows.padding.tolist() == [-1]
    assert reg[0].cols.padding.tolist() == [5]
    assert reg[0].box() == (0, 1, 3, 4)


def test_field_in_time_and_frequency_matches_librosa():
    lm = rf.chirp_logmel(n_mels=40, n_frames=50, sr=16000, hop_length=160, n_fft=400)
    assert lm.db.shape == (40, 50)
    rows = rf.layer_table([{"kind": "conv", "k": 5}, {"kind": "pool", "k": 2, "s": 2}],
                          input_size=(40, 50))  # fmt: skip
    reg = rf.unit_region(rows, layer=2, row=3, col=10)
    info = rf.field_in_time_frequency(reg[0], lm)
    c0, c1 = info["frames"]
    assert (c0, c1) == (20, 25)
    centres_ms = librosa.frames_to_time([c0, c1], sr=16000, hop_length=160) * 1000
    assert info["t_ms"][0] == pytest.approx(centres_ms[0] - 12.5)
    assert info["t_ms"][1] == pytest.approx(centres_ms[1] + 12.5)
    edges = librosa.mel_frequencies(n_mels=42, fmin=0, fmax=8000)
    assert info["hz"] == pytest.approx((edges[6], edges[11 + 2]))


def test_example_picture_is_synthesized_without_a_file(tmp_path):
    pic = rf.example_picture(height=20, width=30, path=tmp_path / "missing.png")
    assert pic.shape == (20, 30, 3) and pic.dtype == np.uint8
