"""core.learn.metrics against hand-checked cases and scikit-learn, value for value."""

import numpy as np
import pytest
from sklearn import metrics as skm

from core.errors import UserInputError
from core.learn.metrics import (
    accuracy_from_confusion,
    confusion_matrix,
    normalise_rows,
    per_class_scores,
    roc_curve,
    threshold_confusion,
)


def test_confusion_matrix_by_hand():
    # true 0 predicted 0 twice, true 1 predicted 0 once and 1 once, true 2 predicted 1 once
    cm = confusion_matrix(y_true=[0, 0, 1, 1, 2], y_pred=[0, 0, 0, 1, 1], n_classes=3)
    np.testing.assert_array_equal(cm, [[2, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(normalise_rows(cm), [[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0]])
    assert accuracy_from_confusion(cm) == pytest.approx(3 / 5)
    s = per_class_scores(cm)
    # class 0: tp 2, predicted 3, actual 2 -> P 2/3, R 1, F1 0.8
    np.testing.assert_allclose(s.precision, [2 / 3, 0.5, 0.0])
    np.testing.assert_allclose(s.recall, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(s.f1, [0.8, 0.5, 0.0])
    np.testing.assert_array_equal(s.support, [2, 2, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 5
    y_true = rng.integers(0, n_classes, 300)
    # mostly right, with some noise; class 4 never predicted (zero-division case)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, n_classes - 1, 300))
    y_pred = np.where(y_pred == 4, 3, y_pred)
    labels = list(range(n_classes))
    cm = confusion_matrix(y_true=y_true, y_pred=y_pred, n_classes=n_classes)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=labels))
    np.testing.assert_allclose(
        normalise_rows(cm),
        skm.confusion_matrix(y_true, y_pred, labels=labels, normalize="true"),
    )
    p, r, f, sup = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    s = per_class_scores(cm)
    np.testing.assert_allclose(s.precision, p)
    np.testing.assert_allclose(s.recall, r)
    np.testing.assert_allclose(s.f1, f)
    np.testing.assert_array_equal(s.support, sup)
    assert accuracy_from_confusion(cm) == pytest.approx(skm.accuracy_score(y_true, y_pred))


def test_roc_by_hand():
    # scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg)
    roc = roc_curve(y_true=[1, 0, 1, 0], scores=[0.9, 0.8, 0.7, 0.1])
    np.testing.assert_allclose(roc.tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(roc.fpr, [0, 0, 0.5, 0.5, 1])
    assert roc.thresholds[0] == np.inf
    assert roc.auc == pytest.approx(0.75)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    # rounded scores create ties, which must be handled as one threshold
    scores = np.round(y * 0.6 + rng.random(200), 1)
    roc = roc_curve(y_true=y, scores=scores)
    fpr, tpr, thr = skm.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr)
    np.testing.assert_allclose(roc.tpr, tpr)
    np.testing.assert_allclose(roc.thresholds, thr)
    assert roc.auc == pytest.approx(skm.roc_auc_score(y, scores))


def test_threshold_confusion():
    cm = threshold_confusion(y_true=[1, 0, 1, 0], scores=[0.9, 0.8, 0.7, 0.1], threshold=0.75)
    np.testing.assert_array_equal(cm, [[1, 1], [1, 1]])


def test_bad_inputs_are_user_errors():
    with pytest.raises(UserInputError):
        confusion_matrix(y_true=[0, 1], y_pred=[0], n_classes=2)
    with pytest.raises(UserInputError):
        confusion_matrix(y_true=[0, 3], y_pred=[0, 1], n_classes=2)
    with pytest.raises(UserInputError):
        roc_curve(y_true=[1, 1], scores=[0.2, 0.3])
    with pytest.raises(UserInputError):
        roc_curve(y_true=[0, 2], scores=[0.2, 0.3])


def test_the_threshold_point_lies_on_sklearns_roc_curve():
    from core.learn import metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    for threshold in (0.2, 0.5, 0.8):
        fpr, tpr = metrics.rates(
            metrics.threshold_confusion(y_true=y, scores=scores, threshold=threshold)
        )
        ref_fpr, ref_tpr, ref_thr = skm.roc_curve(y, scores, drop_intermediate=False)
        k = np.flatnonzero(ref_thr >= threshold)[-1]  # the last sklearn threshold still >= ours
        assert (fpr, tpr) == pytest.approx((ref_fpr[k], ref_tpr[k]))
