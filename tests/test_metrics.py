import numpy as np
import pytest

from webly import metrics as M


def test_average_precision_is_non_interpolated():
    # ranking: pos, neg, pos -> AP = (1/1 + 2/3) / 2
    y = np.array(["a", "b", "a"])
    scores = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    ap = M.average_precision_per_class(y, scores, np.array(["a", "b"]))
    assert ap["a"] == pytest.approx((1 + 2 / 3) / 2)


def test_map_binary_uses_positive_class_scores():
    y = np.array([0, 1, 1, 0])
    d = np.array([-1.0, 2.0, 0.5, 0.1])
    assert M.mean_average_precision(y, d, np.array([0, 1])) == pytest.approx(1.0)


def test_bag_accuracy_max_instance_rule():
    bags = np.array([0, 0, 1, 1, 2])
    y = np.array([1, 1, 0, 0, 1])
    d = np.array([-1.0, 0.5, -0.2, -0.3, -0.1])  # bag 0 positive, bag 1 negative, bag 2 wrong
    assert M.bag_accuracy(y, d, bags, np.array([0, 1])) == pytest.approx(2 / 3)


def test_noise_auc_perfect_and_undefined():
    assert M.noise_auc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert np.isnan(M.noise_auc([0, 0], [0.1, 0.2]))
