"""Evaluation metrics: accuracy, per-class non-interpolated AP and MAP, bag accuracy, noise AUC.

AP is the papers' metric: non-interpolated average precision of one class's scores against
"is this class" (scikit-learn ``average_precision_score``), MAP its mean over classes.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from typing import TYPE_CHECKING, Any

from .kernels import bag_index

if TYPE_CHECKING:
    from collections.abc import Sequence
    from numpy.typing import ArrayLike, NDArray


def _score_columns(scores, classes):
    """(n, C) scores from a decision function that is (n,) in the binary case."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        if len(classes) != 2:
            raise ValueError("1-D scores need exactly two classes")
        return np.column_stack([-scores, scores])
    return scores


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(accuracy_score(y_true, y_pred))


def average_precision_per_class(y_true: ArrayLike, scores: ArrayLike,
                                classes: NDArray[Any] | Sequence[Any]) -> dict[Any, float]:
    """``{class: AP}`` for the classes that occur in ``y_true`` (AP is undefined otherwise)."""
    S = _score_columns(scores, classes)
    y_true = np.asarray(y_true)
    out = {}
    for k, c in enumerate(classes):
        pos = y_true == c
        if pos.any():
            out[c] = float(average_precision_score(pos, S[:, k]))
    return out


def mean_average_precision(y_true: ArrayLike, scores: ArrayLike,
                           classes: NDArray[Any] | Sequence[Any]) -> float:
    """Mean over classes of the non-interpolated AP; for two classes, the positive class's AP."""
    ap = average_precision_per_class(y_true, scores, classes)
    if len(classes) == 2:
        return ap.get(classes[1], float("nan"))
    return float(np.mean(list(ap.values()))) if ap else float("nan")


def bag_scores(scores: ArrayLike, bags: ArrayLike,
               rule: str = "max") -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Per-bag scores from instance scores: ``max`` (the MIL rule: a bag is as positive as its
    best instance) or ``mean`` (the mean embedding, for models trained on bag means such as
    sMIL). Returns ``(bag_ids, scores)`` with bags in order of first appearance."""
    if rule not in ("max", "mean"):
        raise ValueError(f"unknown bag rule {rule!r}; use 'max' or 'mean'")
    codes, uniques = bag_index(bags)
    scores = np.asarray(scores, dtype=np.float64)
    shape = (len(uniques),) + scores.shape[1:]
    if rule == "max":
        out = np.full(shape, -np.inf)
        np.maximum.at(out, codes, scores)
    else:
        out = np.zeros(shape)
        np.add.at(out, codes, scores)
        counts = np.bincount(codes, minlength=len(uniques)).astype(float)
        out /= counts.reshape((-1,) + (1,) * (scores.ndim - 1))
    return uniques, out


def labels_from_bag_scores(S: ArrayLike, classes: NDArray[Any] | Sequence[Any]) -> NDArray[Any]:
    """Bag labels: sign of (n_bags,) scores for two classes, else the arg-max class."""
    S = np.asarray(S)
    if S.ndim == 1:
        return np.asarray(classes)[(S > 0).astype(int)]
    return np.asarray(classes)[np.argmax(S, axis=1)]


def bag_predictions(scores: ArrayLike, bags: ArrayLike, classes: NDArray[Any] | Sequence[Any],
                    rule: str = "max") -> tuple[NDArray[Any], NDArray[Any]]:
    """Bag labels from instance scores (see :func:`bag_scores`); ``(bag_ids, labels)``."""
    uniques, S = bag_scores(scores, bags, rule)
    return uniques, labels_from_bag_scores(S, classes)


def bag_truth(y_true: ArrayLike, bags: ArrayLike) -> NDArray[Any]:
    """The label of each bag (its first row's), bags in order of first appearance."""
    codes, _ = bag_index(bags)
    return np.asarray(y_true)[np.unique(codes, return_index=True)[1]]


def bag_accuracy_from_bag_scores(y_true: ArrayLike, bags: ArrayLike, bag_scores_: ArrayLike,
                                 classes: NDArray[Any] | Sequence[Any]) -> float:
    """Fraction of bags whose label from per-bag scores (bags in order of first appearance)
    equals the bag's label."""
    return float(np.mean(bag_truth(y_true, bags) == labels_from_bag_scores(bag_scores_, classes)))


def bag_accuracy(y_true: ArrayLike, scores: ArrayLike, bags: ArrayLike,
                 classes: NDArray[Any] | Sequence[Any], rule: str = "max") -> float:
    """Fraction of bags whose predicted label (see :func:`bag_predictions`) is the bag's label."""
    _, S = bag_scores(scores, bags, rule)
    return bag_accuracy_from_bag_scores(y_true, bags, S, classes)


def noise_auc(is_noisy: ArrayLike, noise_scores: ArrayLike) -> float:
    """ROC-AUC of noise scores (higher = more likely wrong) against the truly wrong rows."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    if is_noisy.all() or not is_noisy.any():
        return float("nan")
    return float(roc_auc_score(is_noisy, noise_scores))
