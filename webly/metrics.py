"""Evaluation metrics: accuracy, per-class non-interpolated AP and MAP, bag accuracy, noise AUC.

AP is the papers' metric: non-interpolated average precision of one class's scores against
"is this class" (scikit-learn ``average_precision_score``), MAP its mean over classes.
"""

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from .kernels import bag_index


def _score_columns(scores, classes):
    """(n, C) scores from a decision function that is (n,) in the binary case."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        if len(classes) != 2:
            raise ValueError("1-D scores need exactly two classes")
        return np.column_stack([-scores, scores])
    return scores


def accuracy(y_true, y_pred):
    return float(accuracy_score(y_true, y_pred))


def average_precision_per_class(y_true, scores, classes):
    """``{class: AP}`` for the classes that occur in ``y_true`` (AP is undefined otherwise)."""
    S = _score_columns(scores, classes)
    y_true = np.asarray(y_true)
    out = {}
    for k, c in enumerate(classes):
        pos = y_true == c
        if pos.any():
            out[c] = float(average_precision_score(pos, S[:, k]))
    return out


def mean_average_precision(y_true, scores, classes):
    """Mean over classes of the non-interpolated AP; for two classes, the positive class's AP."""
    ap = average_precision_per_class(y_true, scores, classes)
    if len(classes) == 2:
        return ap.get(classes[1], float("nan"))
    return float(np.mean(list(ap.values()))) if ap else float("nan")


def bag_predictions(scores, bags, classes):
    """Bag labels from instance scores: a bag takes the class of its highest-scoring instance.

    For two classes this is the MIL rule "positive iff some instance scores above 0".
    Returns ``(bag_ids, labels)`` in order of first appearance.
    """
    codes, uniques = bag_index(bags)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        best = np.full(len(uniques), -np.inf)
        np.maximum.at(best, codes, scores)
        return uniques, np.asarray(classes)[(best > 0).astype(int)]
    best = np.full((len(uniques), scores.shape[1]), -np.inf)
    np.maximum.at(best, codes, scores)
    return uniques, np.asarray(classes)[np.argmax(best, axis=1)]


def bag_accuracy(y_true, scores, bags, classes):
    """Fraction of bags whose predicted label (max-instance rule) equals the bag's label."""
    codes, uniques = bag_index(bags)
    first = np.unique(codes, return_index=True)[1]
    truth = np.asarray(y_true)[first]
    _, pred = bag_predictions(scores, bags, classes)
    return float(np.mean(truth == pred))


def noise_auc(is_noisy, noise_scores):
    """ROC-AUC of noise scores (higher = more likely wrong) against the truly wrong rows."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    if is_noisy.all() or not is_noisy.any():
        return float("nan")
    return float(roc_auc_score(is_noisy, noise_scores))
