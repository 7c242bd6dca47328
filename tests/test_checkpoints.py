"""Saving and loading models: round trip, and every file that must be refused."""

import io
import json
import zipfile

import pytest
import torch

from core.errors import UserInputError
from core.learn.build import build_model
from core.learn.checkpoints import load_bundle, save_bundle
from core.learn.zoo import preset_spec

SHAPE = (1, 28, 28)
CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    spec = preset_spec("lenet5", input_shape=(1, 32, 32), n_classes=10, head="none")
    model = build_model(spec, (1, 32, 32), logits=True)
    # give BatchNorm-free LeNet non-default weights so a round trip is a real check
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return spec, model


def test_round_trip_gives_the_same_outputs(trained):
    spec, model = trained
    data = save_bundle(model, spec=spec, input_shape=(1, 32, 32), class_names=CLASSES,
                       features=None, extra={"dataset": "digits"})  # fmt: skip
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["model.json", "model.safetensors"]
    bundle = load_bundle(data)
    x = torch.randn(4, 1, 32, 32)
    model.eval()
    torch.testing.assert_close(bundle.model(x), model(x))
    assert bundle.class_names == CLASSES and bundle.extra == {"dataset": "digits"}


def test_batchnorm_buffers_survive(trained):
    spec = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "batchnorm"},
            {"type": "relu"}, {"type": "global_avg_pool"}, {"type": "linear", "out_features": 3}]  # fmt: skip
    model = build_model(spec, SHAPE, logits=True)
    model.train()
    for _ in range(3):
        model(torch.randn(8, *SHAPE))
    model.eval()
    bundle = load_bundle(
        save_bundle(model, spec=spec, input_shape=SHAPE, class_names=["a", "b", "c"])
    )
    x = torch.randn(2, *SHAPE)
    torch.testing.assert_close(bundle.model(x), model(x))


def test_pickled_checkpoint_is_refused_without_loading(trained, tmp_path):
    _, model = trained
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    with pytest.raises(UserInputError, match="pickled PyTorch checkpoint"):
        load_bundle(buf.getvalue())
    import pickle

    with pytest.raises(UserInputError, match="pickled"):
        load_bundle(pickle.dumps({"a": 1}))


def _rezip(data: bytes, **replace) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in src.namelist():
            if name in replace:
                if replace[name] is not None:
                    zf.writestr(name, replace[name])
            else:
                zf.writestr(name, src.read(name))
    return buf.getvalue()


def test_mismatched_spec_is_refused(trained):
    spec, model = trained
    data = save_bundle(model, spec=spec, input_shape=(1, 32, 32), class_names=CLASSES)
    meta = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("model.json"))
    meta["spec"][0]["out_channels"] = 8  # the weights have 6 filters
    bad = _rezip(data, **{"model.json": json.dumps(meta)})
    with pytest.raises(UserInputError, match="do not fit the layer spec"):
        load_bundle(bad)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"model.json": None}, "has no model.json"),
        ({"model.safetensors": None}, "has no model.safetensors"),
        ({"model.json": "{not json"}, "not valid JSON"),
        ({"model.json": json.dumps({"format": "other"})}, "not written by this app"),
        ({"model.safetensors": b"garbage"}, "could not be read"),
    ],
)
def test_damaged_bundles_are_refused(trained, change, message):
    spec, model = trained
    data = save_bundle(model, spec=spec, input_shape=(1, 32, 32), class_names=CLASSES)
    with pytest.raises(UserInputError, match=message):
        load_bundle(_rezip(data, **change))


@pytest.mark.parametrize("data,message", [(b"", "empty"), (b"hello", "not a saved model")])
def test_not_a_bundle(data, message):
    with pytest.raises(UserInputError, match=message):
        load_bundle(data)
