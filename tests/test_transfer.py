"""Transfer learning: a frozen backbone never changes, a fine-tuned one learns at a tenth of the
head's rate, and the comparison trains both models on the same split."""

import numpy as np
import pytest
import torch

from core.data import shipped
from core.learn import backbones as B
from core.learn import transfer as T
from core.learn.train import Recipe, TrainData, make_optimizer, train


@pytest.fixture(scope="module")
def lite0():
    return B.efficientnet_lite0()


def _pictures(n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=gen)
    y = torch.arange(n) % 2
    x[y == 1, :, 8:20, 8:20] = 1.0  # class 1 has a bright square
    return B.image_features(x, size=32), y


def test_a_frozen_backbone_is_unchanged_by_training(lite0):
    net = T.PretrainedClassifier(lite0, 2, mode="frozen")
    before = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    head_before = net.head[2].weight.clone()
    x, y = _pictures()
    train(net, TrainData(x, y, x, y), Recipe(epochs=2, batch_size=8, lr=1e-2), "cpu")
    after = net.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics too
    assert not torch.equal(head_before, net.head[2].weight)
    assert B.n_parameters(net, trainable_only=True) == 1280 * 2 + 2


def test_fine_tuning_trains_the_backbone_at_a_tenth_of_the_rate(lite0):
    import copy

    net = T.PretrainedClassifier(copy.deepcopy(lite0), 2, mode="fine-tuned")
    opt = make_optimizer(net, Recipe(lr=1e-3))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-4])  # the head first
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == B.n_parameters(net)
    stem = net.backbone._conv_stem.weight.clone()
    x, y = _pictures(8)
    train(net, TrainData(x, y, x, y), Recipe(epochs=1, batch_size=8, lr=1e-3), "cpu")
    assert not torch.equal(stem, net.backbone._conv_stem.weight)


def test_an_unknown_mode_is_a_sentence(lite0):
    from core.errors import UserInputError

    with pytest.raises(UserInputError, match="frozen or fine-tuned"):
        T.PretrainedClassifier(lite0, 2, mode="melted")


@pytest.mark.slow
def test_compare_trains_both_on_the_same_split():
    ds = shipped.load("instruments")
    c = T.compare(ds, mode="frozen", epochs=3, per_class=6)
    assert c.n_train == 6 * ds.n_classes and c.n_test == len(ds.splits["test"])
    for side in (c.scratch, c.pretrained):
        assert len(side.history) == 3
        assert side.confusion.shape == (ds.n_classes, ds.n_classes)
        assert int(side.confusion.sum()) == c.n_test
        acc = np.trace(side.confusion) / c.n_test
        assert side.test_accuracy == pytest.approx(acc)
    assert c.pretrained.trained_parameters == 512 * ds.n_classes + ds.n_classes
    assert c.pretrained.total_parameters > 4_600_000
    assert c.scratch.trained_parameters == c.scratch.total_parameters
    # few-shot on these timbres: the pretrained features do well from six clips per class
    assert c.pretrained.test_accuracy > 0.6
