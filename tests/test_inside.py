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


def _linearised(model: nn.Sequential) -> nn.Sequential:
    """The same geometry with every path open: positive weights, no bias, max pools as
    average pools, so a unit's gradient reaches every input position it reads."""
    import copy

    m = copy.deepcopy(model).eval()
    for name, module in list(m.named_children()):
        if isinstance(module, nn.MaxPool2d):
            setattr(m, name, nn.AvgPool2d(module.kernel_size, module.stride, module.padding))
        elif isinstance(module, nn.BatchNorm2d):
            setattr(m, name, nn.Identity())
        elif isinstance(module, nn.Conv2d):
            with torch.no_grad():
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
    return m


def _autograd_field(model, x, layer, f, row, col) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    h = x
    for name, module in model.named_children():
        h = module(h)
        if name == layer:
            break
    h[0, f, row, col].backward()
    return (x.grad[0].abs().sum(0) > 0).numpy()


@pytest.mark.parametrize(
    "spec",
    [
        SPEC[:3],
        [{"type": "conv2d", "filters": 2, "kernel_size": [3, 5], "stride": [2, 1],
          "padding": [1, 2], "dilation": [1, 2], "activation": "relu"},
         {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
         {"type": "conv2d", "filters": 2, "kernel_size": 3, "dilation": 2}],
    ],
)  # fmt: skip
def test_a_unit_s_receptive_field_is_what_autograd_reaches(spec):
    torch.manual_seed(0)
    model = build_model(spec, (1, 24, 20), logits=True)
    lin = _linearised(model)
    x = torch.rand(1, 1, 24, 20) + 0.5
    for layer in I.conv_layer_names(model):
        h = x
        for name, module in model.named_children():
            h = module(h)
            if name == layer:
                break
        _, _, oh, ow = h.shape
        for row, col in [(0, 0), (oh // 2, ow // 2), (oh - 1, ow - 1), (0, ow - 1)]:
            rows, cols = I.unit_field(model, x, layer, row, col)
            mask = np.zeros((24, 20), dtype=bool)
            mask[np.ix_(rows.positions, cols.positions)] = True
            np.testing.assert_array_equal(mask, _autograd_field(lin, x, layer, 0, row, col))


def test_the_receptive_field_matches_core_s_table_on_square_layers():
    from core.explain.receptive import layer_table, make_layer, unit_region

    spec = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": 1},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "conv2d", "filters": 2, "kernel_size": 3, "dilation": 2, "padding": 2}]  # fmt: skip
    model = build_model(spec, (1, 16, 16), logits=True)
    table = layer_table([make_layer({"kind": "conv", "k": 3, "p": 1}),
                         make_layer({"kind": "pool", "k": 2, "s": 2}),
                         make_layer({"kind": "conv", "k": 3, "d": 2, "p": 2})],
                        input_size=(16, 16))  # fmt: skip
    last = I.conv_layer_names(model)[-1]
    for row, col in [(0, 0), (3, 5), (7, 7)]:
        rows, cols = I.unit_field(model, torch.zeros(1, 1, 16, 16), last, row, col)
        ref = unit_region(table, layer=3, row=row, col=col)[0]
        assert rows.positions.tolist() == ref.rows.positions.tolist()
        assert cols.positions.tolist() == ref.cols.positions.tolist()


def test_a_receptive_field_request_out_of_range_is_a_sentence(trained):
    model, xs, _ = trained
    layer = I.conv_layer_names(model)[0]
    with pytest.raises(UserInputError, match="pick a row below"):
        I.unit_field(model, xs[:1], layer, 99, 0)
    with pytest.raises(UserInputError, match="no layer"):
        I.unit_field(model, xs[:1], "nope", 0, 0)


def test_a_log_mel_box_in_hz_and_ms_and_heard_alone():
    import librosa

    from core.audio.features import FeatureSettings
    from core.explain.receptive import AxisRegion

    s = FeatureSettings()
    sr = s.sample_rate
    t = np.arange(sr) / sr
    wave = (0.5 * np.sin(2 * np.pi * 300 * t) + 0.5 * np.sin(2 * np.pi * 3000 * t)).astype(
        np.float32
    )
    n_frames = 1 + len(wave) // s.hop_length
    edges = librosa.mel_frequencies(n_mels=s.n_mels + 2, fmin=s.fmin, fmax=sr / 2)
    low = np.flatnonzero(edges[2:] > 600)[0]  # bands 0..low cover up to about 600 Hz
    rows = AxisRegion(s.n_mels, np.arange(0, low + 1), np.array([], dtype=int))
    cols = AxisRegion(n_frames, np.arange(20, 61), np.array([], dtype=int))
    where = I.field_in_audio(rows, cols, s)
    assert where["hz"] == (pytest.approx(edges[0]), pytest.approx(edges[low + 2]))
    hop_ms, win_ms = 1000 * s.hop_length / sr, 1000 * s.n_fft / sr
    assert where["t_ms"] == (pytest.approx(20 * hop_ms - win_ms / 2),
                             pytest.approx(60 * hop_ms + win_ms / 2))  # fmt: skip
    heard = I.box_audio(wave, rows, cols, s)
    spec = np.abs(np.fft.rfft(heard))
    f = np.fft.rfftfreq(len(heard), 1 / sr)
    assert spec[np.abs(f - 300) < 5].max() > 20 * spec[np.abs(f - 3000) < 5].max()  # low tone only
    outside = np.r_[heard[: int(0.1 * sr)], heard[int(0.7 * sr) :]]
    inside = heard[int(0.3 * sr) : int(0.5 * sr)]
    assert np.abs(outside).max() < 0.05 * np.abs(inside).max()  # only the chosen frames


def test_occlusion_reports_its_progress_and_gives_the_same_map(trained):
    model, xs, _ = trained
    x = xs[:1]
    seen: list[float] = []
    plain = I.occlusion(model, x, 0, window=4, stride=2)
    with_bar = I.occlusion(model, x, 0, window=4, stride=2, per_eval=10, progress=seen.append)
    np.testing.assert_allclose(with_bar, plain, rtol=1e-5, atol=1e-6)
    # 7 x 7 positions of the patch, 10 per batch: the input itself, then 5 batches
    assert len(seen) == 6 and seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize("name", sorted(I.shipped_models()))
def test_each_shipped_model_scores_what_its_index_says(name):
    """assets/models/index.json states each model's test accuracy: the model, loaded as the
    pages load it, reaches exactly that on its dataset's test split."""
    from core.data import shipped as data
    from core.learn.classify import Preprocess

    facts = I.shipped_models()[name]
    bundle = I.load_shipped(name)
    pre = Preprocess.from_dict(bundle.features or {})
    ex = I.test_examples(bundle.model, data.load(name), pre.representation, pre.pad)
    assert len(ex.y) == facts["test_examples"]
    assert float((ex.predicted == ex.y).mean()) == pytest.approx(facts["test_accuracy"], abs=1e-3)


def test_a_1d_layer_is_redone_and_cropped_as_pytorch_computes_it():
    """A waveform model (M5-like): the unit view redoes its first Conv1d, and a crop of about
    six outputs around a position holds exactly the sums of the whole layer."""
    torch.manual_seed(0)
    model = build_model([{"type": "conv1d", "filters": 4, "kernel_size": 9, "stride": 3},
                         {"type": "relu"}, {"type": "conv1d", "filters": 5, "kernel_size": 3},
                         {"type": "global_avg_pool"}, {"type": "dense", "units": 2}], (1, 200))  # fmt: skip
    x = torch.randn(1, 1, 200)
    first = I.conv_layer_names(model)[0]
    op = I.unit_operation(model, x, first)
    conv = dict(model.named_children())[first]
    expected = torch.nn.functional.conv1d(x, conv.weight, conv.bias, stride=3)[0]
    np.testing.assert_allclose(op.result.output, expected.detach().numpy(), atol=1e-5)
    n = op.result.out_shape[0]
    for pos in (0, 30, n - 1):
        crop, (r0, c0) = I.crop_operation(op, 2, 0, pos, size=6)
        assert r0 == 0 and crop.output.shape == (1, 6) and c0 <= pos < c0 + 6
        np.testing.assert_allclose(crop.output[0], op.result.output[2, c0 : c0 + 6])
    from core.explain.frames import step_frames

    frames = step_frames(crop)
    assert frames["nd"] == 1 and len(frames["steps"]) == 6
    assert len(frames["kernels"][0][0]) == 9  # the filter's nine taps


def test_the_evidence_of_a_waveform_can_be_heard():
    sr = 1000
    wave = np.sin(np.arange(2000) / 5.0).astype(np.float32)
    attr = np.zeros(2000)
    attr[500:900] = 1.0  # the evidence: a fifth of the clip
    evidence, rest, mask = I.evidence_wave(wave, attr, sample_rate=sr, keep=0.2, fade_ms=10)
    assert mask[500:900].all() and not mask[:490].any() and not mask[910:].any()
    np.testing.assert_allclose(evidence + rest, wave, atol=1e-6)  # the two parts make the clip
    np.testing.assert_allclose(evidence[520:880], wave[520:880])  # kept whole inside
    assert np.abs(evidence[:480]).max() == 0 and np.abs(rest[520:880]).max() == 0
    # the edges fade over about 10 ms instead of clicking
    assert 0 < abs(evidence[500]) < abs(wave[500]) or wave[500] == 0
    with pytest.raises(UserInputError):
        I.evidence_wave(wave, attr[:10], sample_rate=sr)


def test_a_1d_unit_s_field_is_exactly_the_samples_its_gradient_reaches():
    """Traced through a strided conv, an average pooling and a dilated conv: the field is the
    set of input samples whose change moves the unit (no ReLU or max to hide any)."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("c1", nn.Conv1d(1, 3, 9, stride=3, padding=2))
    model.add_module("bn", nn.BatchNorm1d(3))
    model.add_module("p1", nn.AvgPool1d(2))
    model.add_module("c2", nn.Conv1d(3, 2, 3, dilation=4))
    model.eval()
    x = torch.randn(1, 1, 300, requires_grad=True)
    for pos in (0, 7, model(x).shape[2] - 1):
        x.grad = None
        model(x)[0, 1, pos].backward()
        reached = np.flatnonzero(x.grad[0, 0].numpy() != 0)
        field = I.unit_field_1d(model, x.detach(), "c2", pos)
        np.testing.assert_array_equal(field.positions, reached)
    with pytest.raises(UserInputError, match="pick one below"):
        I.unit_field_1d(model, x.detach(), "c2", 10_000)
