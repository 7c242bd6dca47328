"""Inside a network: every layer's output as PyTorch computes it, the first layer's kernels,
and attributions that point at the evidence (Grad-CAM and occlusion through Captum), with
the two sanity checks: occluding the top region hurts more than a random one, and a
randomised model gives another map."""

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import UserInputError
from core.learn import inside as I
from core.learn.build import build_model

SPEC = [
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "activation": "relu", "padding": 1},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu", "padding": 1},
    {"type": "global_avg_pool"},
    {"type": "dense", "units": 3},
]


def _squares(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: a bright 4x4 square somewhere in the left half; class 1: in the right half;
    class 2: no square (so taking the square away is evidence lost, not evidence for another
    square)."""
    g = np.random.default_rng(seed)
    x = g.normal(0, 0.1, (n, 1, 16, 16)).astype(np.float32)
    y = np.arange(n) % 3
    for i, c in enumerate(y):
        if c == 2:
            continue
        r, col = g.integers(0, 12), g.integers(0, 4) + 8 * c
        x[i, 0, r : r + 4, col : col + 4] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = build_model(SPEC, (1, 16, 16), logits=True)
    x, y = _squares(256, 0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    xt, yt = _squares(64, 1)
    assert (model(xt).argmax(1) == yt).float().mean() > 0.95
    return model.eval(), xt, yt


def test_walk_gives_every_layer_output_as_pytorch_computes_it(trained):
    model, x, _ = trained
    views = I.walk(model, x[:1])
    assert [v.name for v in views][0] == "input" and len(views) == len(model) + 1
    h = x[:1]
    for view, module in zip(views[1:], model.children(), strict=True):
        h = module(h)
        assert view.shape == tuple(h.shape[1:])
        np.testing.assert_allclose(view.output, h[0].detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(I.first_filters(model), model[0].weight.detach().numpy())
    assert I.conv_layer_names(model) == [n for n, m in model.named_children()
                                         if isinstance(m, nn.Conv2d)]  # fmt: skip


def test_grad_cam_and_occlusion_point_at_the_square(trained):
    model, x, y = trained
    hits = 0
    with_square = [i for i in range(len(y)) if y[i] != 2][:16]
    for i in with_square:
        xi, t = x[i : i + 1], int(y[i])
        square = (x[i, 0] > 0.6).numpy()
        cam = I.grad_cam(model, xi, t, I.conv_layer_names(model)[-1])
        occ = I.occlusion(model, xi, t, window=4, stride=2)
        assert cam.shape == occ.shape == (16, 16) and (cam >= 0).all()
        hits += (
            cam[square].mean() > cam[~square].mean() and occ[square].mean() > occ[~square].mean()
        )
    assert hits >= 14


def test_occluding_the_top_region_hurts_more_than_a_random_one(trained):
    model, x, y = trained
    layer = I.conv_layer_names(model)[-1]
    keep = torch.as_tensor([i for i in range(len(y)) if y[i] != 2][:24])
    attrs = [I.grad_cam(model, x[i : i + 1], int(y[i]), layer) for i in keep]
    top, random = I.occlusion_sanity(model, x[keep], y[keep], attrs, size=(4, 4))
    assert top > random + 0.1


def test_a_randomised_model_gives_another_map(trained):
    model, x, y = trained
    layer = I.conv_layer_names(model)[-1]
    twin = I.randomized(model)
    assert not torch.equal(twin[0].weight, model[0].weight)
    corr = [I.rank_correlation(I.grad_cam(model, x[i : i + 1], int(y[i]), layer),
                               I.grad_cam(twin, x[i : i + 1], int(y[i]), layer))
            for i in range(8)]  # fmt: skip
    assert np.mean(corr) < 0.5


def test_top_k_and_bad_requests(trained):
    model, x, _ = trained
    top = I.top_k(model, x[:1], k=3)
    p = model(x[:1]).softmax(1)[0].detach()
    assert [c for c, _ in top] == p.argsort(descending=True).tolist()
    assert top[0][1] == pytest.approx(float(p.max()))
    with pytest.raises(UserInputError, match="no layer"):
        I.grad_cam(model, x[:1], 0, "nope")
    with pytest.raises(UserInputError, match="batch of 1"):
        I.walk(model, x[:2])


def test_the_evidence_can_be_heard_apart_from_the_rest():
    from core.audio.features import FeatureSettings, LogMel

    sr = 16_000
    t = np.arange(sr) / sr
    low = np.sin(2 * np.pi * 300 * t) * (t < 0.5)  # a low tone first
    high = np.sin(2 * np.pi * 3000 * t) * (t >= 0.5)  # then a high one
    wave = (0.5 * (low + high)).astype(np.float32)
    s = FeatureSettings()
    logmel = LogMel(s)(torch.from_numpy(wave)[None])[0, 0].numpy()  # (64, frames)
    attr = np.zeros_like(logmel)
    frames = logmel.shape[1]
    attr[:12, : frames // 2 + 1] = 1.0  # evidence: the low bands in the first half
    evidence, rest, mask = I.evidence_audio(wave, attr, s, keep=0.2)
    assert evidence.shape == rest.shape == wave.shape and int(mask.sum()) == 12 * (frames // 2 + 1)

    def rms(x, first_half):
        part = x[: sr // 2] if first_half else x[sr // 2 :]
        return float(np.sqrt(np.mean(part**2)))

    tone = rms(wave, True)
    assert rms(evidence, True) > 0.9 * tone and rms(evidence, False) < 0.05 * tone
    assert rms(rest, False) > 0.95 * tone and rms(rest, True) < 0.2 * tone
    np.testing.assert_allclose(evidence + rest, wave, atol=1e-4)  # the two halves add up


def test_a_unit_is_redone_by_the_explainer_and_equals_the_network(trained):
    from core.explain.frames import step_frames

    model, x, _ = trained
    for layer in I.conv_layer_names(model):
        op = I.unit_operation(model, x[:1], layer)
        assert op.result.output.shape == op.torch_output.shape
        assert op.max_abs_diff < 1e-5 * max(1.0, float(np.abs(op.torch_output).max()))  # float32
    first = I.unit_operation(model, x[:1], I.conv_layer_names(model)[0])
    frames = step_frames(first.result, filt=2)
    w = model[0].weight[2, 0].detach().double().numpy()
    step = first.result.step(17, filt=2)  # output row 1, column 1 of a 16x16 map
    np.testing.assert_allclose(step.weights[0], w)
    assert frames["steps"][17]["eq"].endswith(f"= {frames['output'][1][1]}")
    with pytest.raises(UserInputError, match="not a convolution"):
        I.unit_operation(model, x[:1], next(n for n, m in model.named_children()
                                            if isinstance(m, nn.MaxPool2d)))  # fmt: skip


def test_a_crop_gives_the_same_sums_as_the_whole_layer(trained):
    model, x, _ = trained
    op = I.unit_operation(model, x[:1], I.conv_layer_names(model)[0])
    for row, col in ((0, 0), (7, 9), (15, 15)):
        crop, (r0, c0) = I.crop_operation(op, 4, row, col, size=5)
        assert crop.output.shape == (1, 5, 5)
        assert r0 <= row < r0 + 5 and c0 <= col < c0 + 5
        np.testing.assert_allclose(crop.output[0], op.result.output[4, r0 : r0 + 5, c0 : c0 + 5])


def test_gradient_ascent_finds_an_input_that_excites_the_filter(trained):
    model, x, _ = trained
    layer = I.conv_layer_names(model)[-1]
    caught = {}
    module = dict(model.named_children())[layer]
    hook = module.register_forward_hook(lambda _m, _i, out: caught.__setitem__("out", out))
    try:
        for channel in (0, 3):
            found = torch.from_numpy(I.excite(model, layer, channel, (1, 16, 16), steps=40))
            with torch.no_grad():
                model(found[None])
                excited = float(caught["out"][0, channel].mean())
                model(x[:16])
                typical = float(caught["out"][:, channel].mean())
            assert excited > typical  # more than the test inputs excite it, on average
    finally:
        hook.remove()
    with pytest.raises(UserInputError, match="no 99"):
        I.excite(model, layer, 99, (1, 16, 16), steps=1)
