"""core.learn.train on tiny data: loss falls, best checkpoint restored, Stop, NaN, CLI, device."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import UserInputError
from core.learn.train import (
    DEFAULT_MODELS,
    DEFAULT_RECIPES,
    BatchEvent,
    EndEvent,
    EpochEvent,
    Recipe,
    TrainData,
    augment_batch,
    choose_device,
    evaluate,
    train,
)

ROOT = Path(__file__).resolve().parent.parent


def blobs(n=240, seed=0, n_classes=3):
    """Three separable Gaussian blobs in 2-D: x (n, 2), y (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % n_classes
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])[:n_classes]
    x = centres[y] + 0.6 * torch.randn(n, 2, generator=g)
    return x, y


def small_mlp(seed=0, n_out=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, n_out))


def split(x, y):
    return TrainData(x[:180], y[:180], x[180:], y[180:])


def test_loss_falls_and_events_arrive():
    x, y = blobs()
    events = []
    model = small_mlp()
    result = train(
        model, split(x, y), Recipe(lr=0.05, epochs=5, batch_size=32), "cpu", on_event=events.append
    )
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    batches = [e for e in events if isinstance(e, BatchEvent)]
    assert result.reason == "finished"
    assert len(epochs) == 5 and isinstance(events[-1], EndEvent)
    assert len(batches) == 5 * 6  # 180 examples / 32 -> 6 batches, each reported
    assert batches[-1].step == batches[-1].total_steps == 30
    assert epochs[-1].train_loss < 0.5 * epochs[0].train_loss
    assert epochs[-1].val_acc > 0.9
    # the epoch's confusion matrix is the validation set's, rows = true class
    assert epochs[-1].val_confusion.sum() == 60
    ev = evaluate(model, x[180:], y[180:], "cpu")
    # evaluate's loss is the mean cross-entropy, as torch computes it
    with torch.no_grad():
        ref = nn.functional.cross_entropy(model(x[180:]), y[180:]).item()
    assert ev.loss == pytest.approx(ref, rel=1e-5)
    assert ev.probabilities.shape == (60, 3)
    np.testing.assert_allclose(ev.probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("scheduler", ["none", "step", "onecycle", "plateau"])
def test_every_optimizer_and_scheduler_learns(optimizer, scheduler):
    x, y = blobs()
    lr = 0.1 if optimizer == "sgd" else 0.03
    recipe = Recipe(optimizer=optimizer, scheduler=scheduler, lr=lr, epochs=4, step_size=2)
    result = train(small_mlp(), split(x, y), recipe, "cpu")
    assert result.history[-1].val_acc > 0.85


def test_step_scheduler_changes_the_rate():
    x, y = blobs()
    recipe = Recipe(optimizer="sgd", scheduler="step", lr=0.1, step_size=1, gamma=0.5, epochs=3)
    result = train(small_mlp(), split(x, y), recipe, "cpu")
    assert [h.lr for h in result.history] == pytest.approx([0.1, 0.05, 0.025])


def test_best_checkpoint_is_restored():
    x, y = blobs()
    model = small_mlp()
    data = split(x, y)
    events = []
    result = train(model, data, Recipe(lr=0.05, epochs=6), "cpu", on_event=events.append)
    best = result.best_epoch
    accs = [h.val_acc for h in result.history]
    assert accs[best - 1] == max(accs)
    # the model now holds exactly the saved best weights
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, result.best_state[k])
    assert evaluate(model, data.x_val, data.y_val, "cpu").accuracy == pytest.approx(max(accs))


def test_restores_the_best_not_the_last():
    """Validation labels that only the first epochs get right: the best epoch is early."""
    x, y = blobs(n_classes=2)
    x_val, y_val = x[180:], y[180:]
    model = small_mlp(n_out=2)
    # train on the true labels, validate on flipped ones: val accuracy falls as it learns
    data = TrainData(x[:180], y[:180], x_val, 1 - y_val)
    result = train(model, data, Recipe(lr=0.05, epochs=5), "cpu")
    accs = [h.val_acc for h in result.history]
    assert result.best_epoch == int(np.argmax(accs)) + 1
    assert result.best_epoch < 5
    assert evaluate(model, x_val, 1 - y_val, "cpu").accuracy == pytest.approx(max(accs))


def test_stop_mid_epoch_keeps_best_so_far():
    x, y = blobs()
    stop = threading.Event()
    seen = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, BatchEvent) and e.epoch == 2 and e.batch == 3:
            stop.set()  # as the Stop button would, from another thread

    model = small_mlp()
    recipe = Recipe(lr=0.05, epochs=10, batch_size=16)  # 12 batches per epoch
    result = train(model, split(x, y), recipe, "cpu", on_event=on_event, stop=stop)
    batches = [e for e in seen if isinstance(e, BatchEvent)]
    assert result.reason == "stopped"
    assert (batches[-1].epoch, batches[-1].batch) == (2, 3)  # no batch ran after Stop
    assert len(result.history) == 1 and result.best_epoch == 1
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, result.best_state[k])
    assert isinstance(seen[-1], EndEvent) and seen[-1].reason == "stopped"


def test_stop_from_another_thread():
    x, y = blobs(n=2000)
    stop = threading.Event()
    started = threading.Event()
    model = small_mlp()
    out = {}

    def run():
        out["r"] = train(
            model,
            TrainData(x, y, x[:100], y[:100]),
            Recipe(lr=0.01, epochs=1000, batch_size=8),  # far more than it gets to run
            "cpu",
            on_event=lambda e: started.set(),
            stop=stop,
        )

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(30)
    stop.set()
    t.join(30)
    assert not t.is_alive()
    assert out["r"].reason == "stopped" and len(out["r"].history) < 10_000


def test_nan_loss_stops_the_run():
    x, y = blobs()
    x = x.clone()
    x[5] = float("nan")  # one poisoned example: the batch holding it gives a NaN loss
    result = train(small_mlp(), TrainData(x, y), Recipe(epochs=3, batch_size=256), "cpu")
    assert result.reason == "diverged"
    assert "nan" in result.message.lower() and "learning rate" in result.message
    assert result.history == []


def test_huge_learning_rate_diverges_with_message():
    x, y = blobs()
    x = x * 1e4
    recipe = Recipe(optimizer="sgd", lr=10.0, momentum=0.0, epochs=30)
    result = train(small_mlp(), split(x, y), recipe, "cpu")
    assert result.reason == "diverged"
    assert "smaller learning rate" in result.message


def test_a_gpu_reads_the_loss_back_every_few_dozen_batches_and_still_catches_nan(monkeypatch):
    from core.learn import train as T

    assert T._sync_every(torch.device("cpu"), Recipe()) == 1
    assert T._sync_every(torch.device("cuda"), Recipe()) == T.GPU_SYNC_EVERY == 32
    assert T._sync_every(torch.device("cuda"), Recipe(batch_every=50)) == 50
    monkeypatch.setattr(T, "_sync_every", lambda device, recipe: 5)  # the GPU cadence, on a CPU
    x, y = blobs()
    events = []
    result = train(small_mlp(), TrainData(x, y), Recipe(epochs=2, batch_size=16), "cpu",
                   on_event=events.append)  # fmt: skip
    batches = [e for e in events if isinstance(e, BatchEvent)]
    per_epoch = -(-len(x) // 16)
    assert [e.step for e in batches if e.epoch == 1] == [
        *range(5, per_epoch + 1, 5),
        *([per_epoch] if per_epoch % 5 else []),
    ]  # every 5th step and the epoch's last
    assert result.reason != "diverged"
    x = x.clone()
    x[40] = float("nan")  # poisons one batch; it is found at the next read-back, not later
    result = train(small_mlp(), TrainData(x, y), Recipe(epochs=3, batch_size=16, seed=1), "cpu")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    poisoned = int((perm == 40).nonzero()) // 16 + 1
    found = min(-(-poisoned // 5) * 5, per_epoch)
    assert result.reason == "diverged" and f"epoch 1, batch {found}:" in result.message
    assert result.history == []


def test_seed_makes_runs_identical():
    x, y = blobs()
    r = Recipe(lr=0.05, epochs=2, seed=7)
    a, b = small_mlp(), small_mlp()
    ha = train(a, split(x, y), r, "cpu").history
    hb = train(b, split(x, y), r, "cpu").history
    assert [h.train_loss for h in ha] == [h.train_loss for h in hb]


def test_single_sigmoid_output_uses_bce():
    x, y = blobs(n_classes=2)
    model = small_mlp(n_out=1)
    result = train(model, split(x, y), Recipe(lr=0.05, epochs=5), "cpu")
    assert result.history[-1].val_acc > 0.9
    ev = evaluate(model, x[180:], y[180:], "cpu")
    with torch.no_grad():
        z = model(x[180:])[:, 0]
        ref = nn.functional.binary_cross_entropy_with_logits(z, y[180:].float()).item()
        p = torch.sigmoid(z).numpy()
    assert ev.loss == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(ev.probabilities[:, 1], p, rtol=1e-6)


def test_wrong_output_size_is_a_user_error():
    x, y = blobs()
    with pytest.raises(UserInputError, match="out_features to 3"):
        train(small_mlp(n_out=2), split(x, y), Recipe(epochs=1), "cpu")


@pytest.mark.parametrize(
    "bad",
    [dict(lr=-1), dict(optimizer="rmsprop"), dict(batch_size=0), dict(epochs=0), dict(momentum=1)],
)
def test_bad_recipe_is_a_user_error(bad):
    with pytest.raises(UserInputError):
        Recipe(**bad).validate()


@pytest.mark.parametrize(
    ("cuda", "mps", "auto"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_choose_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, auto):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert choose_device("auto") == torch.device(auto)
    assert choose_device(" CPU ") == torch.device("cpu")
    if cuda:
        assert choose_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(UserInputError, match="No CUDA GPU is available on this machine"):
            choose_device("cuda")
    if mps:
        assert choose_device("mps") == torch.device("mps")
    else:
        with pytest.raises(UserInputError, match="Apple's MPS is not available"):
            choose_device("mps")
    with pytest.raises(UserInputError, match="Unknown device 'tpu'"):
        choose_device("tpu")


def test_image_augmentation_shifts_and_rotates():
    img = torch.zeros(1, 1, 28, 28)
    img[0, 0, 10:18, 12:16] = 1.0
    gen = torch.Generator().manual_seed(0)
    none = augment_batch(img, Recipe(augment="image", max_shift=0, max_rotation=0), gen)
    torch.testing.assert_close(none, img, atol=1e-5, rtol=0)  # identity warp
    out = augment_batch(img.repeat(8, 1, 1, 1), Recipe(augment="image", max_shift=3), gen)
    assert out.shape == (8, 1, 28, 28)
    assert not torch.allclose(out[0], out[1])  # each image gets its own warp
    # a shift/rotation keeps most of the ink inside the frame
    assert torch.all(out.sum(dim=(1, 2, 3)) > 0.7 * img.sum())


def test_spectrogram_augmentation_masks():
    spec = torch.ones(4, 1, 64, 100)
    gen = torch.Generator().manual_seed(0)
    r = Recipe(augment="spectrogram", freq_mask=10, time_mask=20, time_shift=0.0)
    torch.manual_seed(0)
    out = augment_batch(spec, r, gen)
    assert out.shape == spec.shape
    zeros = (out == 0).float()
    # masked cells are zeroed whole rows (mel bands) or whole columns (frames)
    assert zeros.sum() > 0
    row_full = zeros.mean(dim=3) == 1
    col_full = zeros.mean(dim=2) == 1
    explained = row_full[..., :, None] | col_full[..., None, :]
    assert torch.equal(zeros.bool(), explained)


def test_time_shift_is_circular():
    wav = torch.arange(10.0).repeat(3, 1)[:, None]  # (3, 1, 10)
    gen = torch.Generator().manual_seed(1)
    out = augment_batch(wav, Recipe(augment="waveform", time_shift=0.5), gen)
    # same multiset of samples up to the random gain in each row
    for row_in, row_out in zip(wav[:, 0], out[:, 0], strict=True):
        g = row_out.abs().max() / 9.0
        assert sorted((row_out / g).round().tolist()) == sorted(row_in.tolist())


def _load_cli_bundle(path):
    from core.learn.checkpoints import load_bundle

    return load_bundle(path.read_bytes(), name=path.name)


@pytest.mark.slow
def test_cli_writes_the_apps_own_bundle_and_keeps_every_class(tmp_path):
    from core.data import shipped as data
    from core.learn.classify import Preprocess, classify_image

    out = tmp_path / "model.pt"  # the name once got a pickle; it gets the app's own bundle
    cmd = [sys.executable, "-m", "core.learn.train", "--dataset", "digits", "--model", "lenet5",
           "--epochs", "1", "--limit", "300", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   1/1" in proc.stdout and "test loss" in proc.stdout
    assert "300 train (10 classes)" in proc.stdout  # not the first 300 rows: digits 0-2
    bundle = _load_cli_bundle(out)  # the loader that refuses pickles reads it
    assert bundle.class_names == [str(d) for d in range(10)]
    assert bundle.input_shape == (1, 32, 32)
    pre = Preprocess.from_dict(bundle.features)
    assert pre.representation == "image" and pre.pad == 2
    ds = data.load("digits")
    i = int(ds.splits["test"][0])
    pred = classify_image(bundle.model, ds.x[i, 0], pre=pre, class_names=bundle.class_names)
    with torch.no_grad():
        x = torch.nn.functional.pad(torch.as_tensor(ds.x[i : i + 1]), (2, 2, 2, 2))
        direct = torch.softmax(bundle.model(x), dim=1)[0].numpy()
    np.testing.assert_allclose(pred.probs, direct, atol=1e-5)


def test_stratified_limit_keeps_every_class_in_its_share():
    from core.data import shipped as data

    y = np.repeat(np.arange(10), [100, 50, 50, 50, 50, 50, 50, 50, 50, 50])  # sorted by class
    index = np.arange(len(y))
    kept = data.stratified_limit(index, y, 110)
    assert len(kept) == 110 and len(set(kept)) == 110
    counts = np.bincount(y[kept], minlength=10)
    assert counts[0] == 20 and all(counts[1:] == 10)
    assert list(data.stratified_limit(index, y, 0)) == list(index)
    with pytest.raises(UserInputError, match="cannot keep all 10 classes"):
        data.stratified_limit(index, y, 5)


@pytest.mark.parametrize("name", ["digits", "commands", "instruments"])
def test_default_model_and_recipe_fit_each_dataset(name):
    """The Train page's starting point is valid: the preset takes the data's shape and
    classes, the recipe validates and its augmentation suits the data, and one short epoch
    on a small stratified subset runs and learns something (loss falls below chance)."""
    from core.data import shipped as data
    from core.explain.summary import summarize
    from core.learn.build import build_model
    from core.learn.zoo import preset_spec

    assert set(DEFAULT_MODELS) == set(DEFAULT_RECIPES) == set(data.DATASETS)
    ds = data.synth_instruments(n_per_class=12) if name == "instruments" else data.load(name)
    idx = np.concatenate([np.flatnonzero(ds.y == c)[:12] for c in range(ds.n_classes)])
    ds = data.Dataset(name=ds.name, kind=ds.kind, x=ds.x[idx], y=ds.y[idx],
                      class_names=ds.class_names, splits={}, sample_rate=ds.sample_rate,
                      image_shape=ds.image_shape)  # fmt: skip
    prepared = data.model_inputs(ds, model=DEFAULT_MODELS[name])
    recipe = DEFAULT_RECIPES[name].validate()
    assert recipe.augment in ("none", prepared.augment)
    shape = tuple(prepared.x.shape[1:])
    spec = preset_spec(DEFAULT_MODELS[name], input_shape=shape, n_classes=ds.n_classes, head="none")
    assert summarize(spec, shape).output_shape == (ds.n_classes,)
    torch.manual_seed(0)
    model = build_model(spec, shape, logits=True)
    x, y = prepared.x, prepared.y  # 12 examples of each class
    from dataclasses import replace

    short = replace(recipe, epochs=3, batch_size=16)
    result = train(model, TrainData(x, y, x, y), short, "cpu")
    assert result.reason == "finished"
    assert result.history[-1].train_loss < np.log(ds.n_classes)  # better than a uniform guess


@pytest.mark.slow
def test_cli_defaults_to_the_datasets_model_and_recipe(tmp_path):
    out = tmp_path / "model.zip"
    cmd = [sys.executable, "-m", "core.learn.train", "--dataset", "digits", "--epochs", "1",
           "--limit", "300", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert f"model {DEFAULT_MODELS['digits']}:" in proc.stdout
    bundle = _load_cli_bundle(out)
    assert bundle.input_shape == (1, 28, 28)
    expected = DEFAULT_RECIPES["digits"]
    assert bundle.extra["recipe"]["optimizer"] == expected.optimizer
    assert bundle.extra["recipe"]["lr"] == expected.lr and bundle.extra["recipe"]["epochs"] == 1
    from dataclasses import replace

    from core.learn.task import Task

    task = Task.from_dict(bundle.task)  # the whole typed task travels with the weights
    assert task.recipe == replace(expected, epochs=1) and task.head == "softmax"
    assert task.preprocess.representation == "image" and task.preprocess.pad == 0
    assert task.class_names == tuple(bundle.class_names) and task.input_shape == (1, 28, 28)


def _epoch(i, train_loss, train_acc, val_acc):
    from core.learn.train import EpochEvent

    return EpochEvent(epoch=i, epochs=3, train_loss=train_loss, train_acc=train_acc,
                      val_loss=train_loss, val_acc=val_acc, lr=1.0, elapsed=float(i),
                      is_best=True, best_epoch=i, val_confusion=None)  # fmt: skip


def test_verdict_names_an_exploded_loss_and_a_run_at_chance():
    from core.learn.train import verdict

    exploded = [_epoch(1, 2.3, 0.1, 0.1), _epoch(2, 1.8e19, 0.1, 0.1)]
    reason, message = verdict(exploded, n_classes=10, lr=10.0)
    assert reason == "diverged" and "1.8e+19" in message and "now 10" in message
    chance = [_epoch(1, 2.30, 0.11, 0.10), _epoch(2, 2.30, 0.10, 0.12)]
    reason, message = verdict(chance, n_classes=10, lr=0.5)
    assert reason == "at_chance" and "best accuracy 12.0%" in message and "10%" in message
    learned = [_epoch(1, 1.0, 0.6, 0.55), _epoch(2, 0.3, 0.9, 0.92)]
    assert verdict(learned, n_classes=10, lr=1e-3) is None
    # two classes: 52% is chance, 70% is learning
    assert verdict([_epoch(1, 0.69, 0.5, 0.52)], n_classes=2, lr=1.0)[0] == "at_chance"
    assert verdict([_epoch(1, 0.5, 0.7, 0.70)], n_classes=2, lr=1.0) is None


def test_a_huge_learning_rate_is_reported_not_finished():
    """lr 10 on a small CNN: the loss explodes without becoming inf; the run says so."""
    from core.learn.train import Recipe, TrainData, train

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 8, 8, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()  # 4 classes
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 36, 4))  # fmt: skip
    recipe = Recipe(optimizer="sgd", lr=10.0, momentum=0.9, epochs=3, batch_size=32)
    result = train(model, TrainData(x[:192], y[:192], x[192:], y[192:]), recipe,
                   torch.device("cpu"))  # fmt: skip
    assert result.reason in ("diverged", "at_chance"), result.message
    assert "learning rate (now 10)" in result.message


def test_a_log_mel_model_records_the_feature_settings_it_was_trained_with():
    from dataclasses import asdict

    from core.audio.features import FeatureSettings
    from core.data import shipped as data
    from core.learn.classify import preprocess_for

    ds = data.synth_instruments(n_per_class=2)
    settings = FeatureSettings(sample_rate=ds.sample_rate, n_mels=40, hop_length=256)
    inputs = data.model_inputs(ds, settings=settings)
    assert inputs.settings == settings
    pre = preprocess_for(ds, inputs, tuple(inputs.x.shape[1:]))
    assert pre.representation == "log-mel" and pre.settings == asdict(settings)
    assert pre.length == ds.x.shape[1] and pre.sample_rate == ds.sample_rate
