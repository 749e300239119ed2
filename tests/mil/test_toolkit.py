"""The MIL toolkit's shared routines, each tested once for every method that uses it."""

import numpy as np
import pytest
import scipy.sparse as sp

from webly.kernels import bag_mean_kernel, bag_mean_matrix
from webly.mil._toolkit import (bag_units, min_positives, positive_bag_groups,
                                relabel_positive_bags, unit_kernel)
from webly.solvers import privileged_block, smil_pi_qp, svmplus_qp

Y = np.array([1, 1, 1, 1, 1, -1, -1, 1, 1, 1])
BAGS = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
F = np.array([0.9, -0.2, 0.3, -0.5, 0.3, 0.8, -0.1, -0.4, -0.6, -0.3])


def test_groups_and_minimum_positives():
    groups = positive_bag_groups(Y, BAGS)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3, 4], [7, 8, 9]]
    assert min_positives(np.array([5, 3]), 0.6).tolist() == [3, 2]
    assert min_positives(np.array([5, 3]), 0.01).tolist() == [1, 1]  # at least one
    assert min_positives(np.array([5, 3]), None).tolist() == [1, 1]


def test_relabel_at_least_keeps_scores_above_threshold_and_tops_up_each_bag():
    groups = positive_bag_groups(Y, BAGS)
    out = relabel_positive_bags(F, groups, np.array([3, 2]), Y)
    # bag 0: 0.9, 0.3, 0.3 are positive (3 >= 3: no top-up); bag 2: none above 0 -> top 2
    assert out.tolist() == [1, -1, 1, -1, 1, -1, -1, 1, -1, 1]
    assert out.dtype == Y.dtype and out is not Y
    # a threshold below the scores: every row of the bag positive (more than the minimum)
    assert relabel_positive_bags(F, groups, np.array([1, 1]), Y, threshold=-1.0)[:5].tolist() \
        == [1, 1, 1, 1, 1]


def test_relabel_range_fraction_thresholds_relative_to_the_positive_bag_scores():
    # the released mi-SVM-PI code's rule: threshold min + r (max - min) over every positive-bag
    # row (here -0.6 + 0.25 * 1.5 = -0.225; the negative rows' 0.8 is not in the range)
    groups = positive_bag_groups(Y, BAGS)
    keep = np.array([3, 2])
    out = relabel_positive_bags(F, groups, keep, Y, range_fraction=0.25, threshold=5.0)
    # bag 0: all but -0.5 above (4 >= 3); bag 2: none above -> its top 2 (-0.3, -0.4)
    assert out.tolist() == [1, 1, 1, -1, 1, -1, -1, 1, -1, 1]
    # shifting or scaling the scores changes no label (``threshold`` is not used)
    for a, c in ((3.0, 0.0), (0.5, -7.0), (1.0, 100.0)):
        assert relabel_positive_bags(a * F + c, groups, keep, Y,
                                     range_fraction=0.25).tolist() == out.tolist()
    # 0: every row above the bag-wide minimum is positive
    assert relabel_positive_bags(F, groups, np.array([1, 1]), Y, range_fraction=0.0).tolist() \
        == [1, 1, 1, 1, 1, -1, -1, 1, -1, 1]
    with pytest.raises(ValueError, match="range_fraction"):
        relabel_positive_bags(F, groups, keep, Y, range_fraction=1.5)


def test_relabel_exactly_keeps_exactly_the_top_rows_with_stable_ties():
    groups = positive_bag_groups(Y, BAGS)
    out = relabel_positive_bags(F, groups, np.array([2, 1]), Y.astype(float), rule="exactly")
    # bag 0: 0.9 then the first of the tied 0.3s (row 2, not row 4); bag 2: row 9 (-0.3)
    assert out.tolist() == [1, -1, 1, -1, -1, -1, -1, -1, -1, 1]
    assert out.dtype == np.float64
    with pytest.raises(ValueError, match="rule"):
        relabel_positive_bags(F, groups, np.array([2, 1]), Y, rule="most")


def test_unit_kernel_is_the_bag_mean_kernel_of_the_units():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    K = X @ X.T
    A, y_u, pos = bag_units(Y, BAGS)
    assert y_u.tolist() == [1, -1, -1, 1] and pos.tolist() == [True, False, False, True]
    means = np.vstack([X[:5].mean(0), X[5], X[6], X[7:].mean(0)])
    np.testing.assert_allclose(unit_kernel(K, A), means @ means.T)
    assert unit_kernel(K, A).flags.c_contiguous
    units = np.array([0, 0, 0, 0, 0, 10, 11, 2, 2, 2])
    np.testing.assert_array_equal(bag_mean_kernel(K, bag_mean_matrix(units)),
                                  bag_mean_kernel(K, units))
    assert sp.issparse(A)


def test_privileged_block_is_the_svmplus_correcting_term_in_every_builder():
    rng = np.random.default_rng(1)
    F_priv = rng.normal(size=(6, 2))
    K_priv = F_priv @ F_priv.T
    c = np.full(6, 0.5)
    block, constant = privileged_block(np.arange(6), K_priv, c, 2.0)
    np.testing.assert_allclose(block.linear, K_priv @ c / 2.0)
    assert block.lo == block.hi == pytest.approx(3.0) and block.gamma == 2.0
    assert constant == pytest.approx(c @ K_priv @ c / 4.0)
    # SVM+ and sMIL-PI build theirs with it: the same block and constant
    K = np.eye(6)
    y = np.array([1, 1, 1, -1, -1, -1])
    qp = svmplus_qp(K, y, K_priv, C=0.5, gamma_plus=2.0)
    np.testing.assert_array_equal(qp.blocks[0].linear, block.linear)
    assert qp.constant == constant
    pos = y == 1
    qp = smil_pi_qp(K, y, pos, K_priv[:3, :3], C=1.5, gamma_plus=2.0)
    b3, c3 = privileged_block(np.flatnonzero(pos), K_priv[:3, :3], np.full(3, 0.5), 2.0)
    np.testing.assert_array_equal(qp.blocks[0].linear, b3.linear)
    assert qp.constant == c3
