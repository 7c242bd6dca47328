"""Transfer learning: the comparison's pretrained side is the Train page's pretrained model and
recipe, and the comparison trains both models on the same split. (A frozen network never
changes and a fine-tuned one learns at a tenth of the rate: tests/test_pretrained_layer.py.)"""

import numpy as np
import pytest

from core.data import shipped
from core.errors import UserInputError
from core.learn import transfer as T


def _pictures(n_per_class=8, seed=0):
    """A two-class picture set: noise, and noise with a bright square (train / val / test)."""
    from core.data.shipped import Dataset

    rng = np.random.default_rng(seed)
    n = 2 * n_per_class
    x = rng.uniform(0, 0.6, (n, 1, 28, 28)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 1, :, 8:20, 8:20] = 1.0
    idx = np.arange(n)
    splits = {"train": idx[: n // 2], "val": idx[n // 2 : 3 * n // 4], "test": idx[3 * n // 4 :]}
    return Dataset("squares", "image", x, y.astype(np.int64), ("plain", "square"), splits,
                   image_shape=(1, 28, 28))  # fmt: skip


def test_the_pretrained_side_is_the_train_page_s_model_and_recipe():
    """The comparison's pretrained network is the Train page's "pretrained network with a new
    head": the same spec, recipe and weights as a run of that plan."""
    from core.learn import task as tasks
    from core.learn.pool import build_seeded
    from core.learn.train import evaluate, train

    ds = _pictures()
    side = T.train_pretrained(ds, mode="frozen", epochs=3, seed=1)
    plan = tasks.plan_pretrained(ds, tasks.inputs_for(ds, tasks.reads_for_pretrained(ds)),
                                 "frozen")  # fmt: skip
    plan = plan.with_recipe(epochs=3, batch_size=4, seed=1)  # 8 training pictures: batches of 4
    model = build_seeded(plan.spec, plan.task.input_shape, 1)
    result = train(model, plan.split.data, plan.task.recipe, "cpu")
    ev = evaluate(model, plan.split.x_test, plan.split.y_test, "cpu")
    assert side.name == "pretrained EfficientNet-Lite0 (frozen)"
    assert [e.val_loss for e in side.history] == pytest.approx([e.val_loss for e in result.history])
    assert side.test_accuracy == ev.accuracy
    np.testing.assert_array_equal(side.confusion, ev.confusion)
    assert side.trained_parameters == 1280 * 2 + 2  # the head
    assert side.total_parameters == 3_371_008 + 1280 * 2 + 2
    with pytest.raises(UserInputError, match="frozen or fine-tuned"):
        T.train_pretrained(ds, mode="melted")
    with pytest.raises(UserInputError, match="does not read pictures"):
        T.train_pretrained(ds, backbone="aisfx")


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
