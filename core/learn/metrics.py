"""Classification metrics: confusion matrix, per-class precision / recall / F1, ROC and AUC.

Plain numpy, no torch: the evaluate page and the trainer's epoch events both use these.
Conventions follow scikit-learn (rows of the confusion matrix are the true classes, columns
the predicted ones; a score whose denominator is zero is reported as 0), and the tests check
them value for value against scikit-learn.

Example::

    cm = confusion_matrix(y_true=[0, 1, 1], y_pred=[0, 1, 0], n_classes=2)  # [[1, 0], [1, 1]]
    scores = per_class_scores(cm)  # precision [0.5, 1.0], recall [1.0, 0.5], ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError


def _labels(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise UserInputError(f"{name} must be a flat list of class numbers, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise UserInputError(f"{name} must hold whole class numbers (0, 1, 2, ...).")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64)


def confusion_matrix(*, y_true, y_pred, n_classes: int) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes (the matrix is square even if a class never occurs).

    Returns
    -------
    np.ndarray of int64, shape (n_classes, n_classes)
        ``cm[i, j]`` = number of examples of true class ``i`` predicted as class ``j``.
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise UserInputError(
            f"y_true has {t.size} labels but y_pred has {p.size}; they must match one to one."
        )
    if n_classes < 1:
        raise UserInputError("n_classes must be at least 1.")
    for arr, name in ((t, "y_true"), (p, "y_pred")):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise UserInputError(f"{name} holds a class outside 0..{n_classes - 1}.")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)  # (C, C)


def normalise_rows(cm) -> np.ndarray:
    """Divide each row of a confusion matrix by its total (rows with no examples stay 0).

    Row ``i`` then reads: of the examples whose true class is ``i``, which fraction went to
    each predicted class; the diagonal is the per-class recall.

    Returns
    -------
    np.ndarray of float64, shape (C, C)
    """
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)  # (C, 1)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


@dataclass(frozen=True)
class ClassScores:
    """Per-class scores; every array has shape (C,)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # number of true examples of each class


def per_class_scores(cm) -> ClassScores:
    """Precision, recall, F1 and support of each class from a confusion matrix.

    precision_j = cm[j, j] / (column j total), recall_i = cm[i, i] / (row i total),
    F1 = 2 P R / (P + R); a zero denominator gives 0 (as scikit-learn's ``zero_division=0``).
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise UserInputError(f"A confusion matrix must be square, got shape {cm.shape}.")
    tp = np.diag(cm)  # (C,)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return ClassScores(precision=precision, recall=recall, f1=f1, support=actual.astype(np.int64))


def accuracy_from_confusion(cm) -> float:
    """Fraction of examples on the diagonal (0 for an empty matrix)."""
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


@dataclass(frozen=True)
class RocCurve:
    """Points of a ROC curve, from (0, 0) to (1, 1); arrays have the same length."""

    fpr: np.ndarray  # false-positive rate at each threshold
    tpr: np.ndarray  # true-positive rate (recall of the positive class)
    thresholds: np.ndarray  # predict positive when score >= threshold; first is +inf
    auc: float


def roc_curve(*, y_true, scores) -> RocCurve:
    """ROC curve and its area for a two-class task.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (N,)
        1 marks the positive class.
    scores : array-like of float, shape (N,)
        Higher means more positive (a probability or a logit).

    Returns
    -------
    RocCurve
        One point per distinct score (plus the starting point at threshold +inf), like
        ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``; ``auc`` is the trapezoid area.
    """
    t = _labels(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != t.shape:
        raise UserInputError("scores and y_true must have the same length.")
    if t.size and (t.min() < 0 or t.max() > 1):
        raise UserInputError("A ROC curve needs two classes, labelled 0 and 1.")
    n_pos, n_neg = int(t.sum()), int(t.size - t.sum())
    if n_pos == 0 or n_neg == 0:
        raise UserInputError("A ROC curve needs at least one example of each of the two classes.")
    order = np.argsort(-s, kind="mergesort")  # highest score first
    s_sorted, t_sorted = s[order], t[order]
    # last index of each run of equal scores: all examples at that score flip together
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), t.size - 1]
    tp = np.cumsum(t_sorted)[ends]
    fp = (ends + 1) - tp
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[np.inf, s_sorted[ends]]
    auc = float(np.trapezoid(tpr, fpr))
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds, auc=auc)


def threshold_confusion(*, y_true, scores, threshold: float) -> np.ndarray:
    """2x2 confusion matrix when predicting class 1 for ``score >= threshold``."""
    s = np.asarray(scores, dtype=np.float64)
    return confusion_matrix(y_true=y_true, y_pred=(s >= threshold).astype(np.int64), n_classes=2)


def rates(cm) -> tuple[float, float]:
    """(false-positive rate, true-positive rate) of a 2x2 confusion matrix: its ROC point."""
    tn, fp, fn, tp = (int(v) for v in np.asarray(cm).ravel())
    return fp / max(fp + tn, 1), tp / max(tp + fn, 1)
