"""webly against the outputs of the authors' released code (``tests/data/authors_code``).

Each fixture holds the inputs, hyperparameters and outputs of one run of the authors' MATLAB code
on a small fixed-seed problem, plus exact re-solves of the authors' own QPs (``*_ref``,
``*_noridge``); ``tests/data/authors_code/PROVENANCE.md`` describes every key and convention. Each
test runs webly (estimators where they expose the quantity, the array-level solvers where the
fixture pins an intermediate one) with those conventions:

* Gaussian bandwidth ``1 / mean squared distance`` over the training rows (webly's default rule,
  checked against the stored value), the same bandwidth for test rows;
* labels +1 / -1, positive-bag rows first, so webly's positive bags and dual units come in the
  authors' order;
* the authors drop the bias from sMIL-PI / sMIL-PI-DA test scores and keep it in SVM+ and
  mi-SVM-PI: every comparison of scores is made without the bias, and the bias is compared with
  the exact equality multiplier (``b_ref`` / ``b_noridge``), never with the authors' bias formulas
  (defects D2, D5, D6 of PROVENANCE.md);
* where the authors' solver is imprecise (D1 relative-gap stop, D3 libsvm eps 1e-3) or adds a
  ridge (D4), webly is held to the exact re-solve at 1e-6 and to the authors' raw numbers only at
  the size of their error.

Every tolerance says what it measures and the agreement measured when it was set (webly solving
at ``tol=1e-8``).
"""

import functools
import os

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from webly.blocks import FeatureBlocks
from webly.kernels import Kernel
from webly.mil import MiSVMPIClassifier, SMILPIClassifier, SMILPIDAClassifier
from webly.mil._toolkit import (min_positives, positive_bag_groups, privileged_kernel,
                                relabel_positive_bags)
from webly.multisource import MDAHSPlus
from webly.multisource import _mdahs as mdahs_arrays
from webly.multisource._mdahs import l2svm_source_classifier
from webly.solvers import (KernelQP, privileged_block, qp_objective, smo_solve,
                           solve_simplex_qp, update_group_weights)
from webly.solvers.l2svmplus import l2svmplus_privileged_term
from webly.svmplus import L2SVMPlusClassifier, SVMPlusClassifier

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "authors_code")
TOL = 1e-8  # webly's solver tolerance in every test: far below every tolerance checked


def _fixtures(prefix):
    return sorted(f[:-4] for f in os.listdir(DATA) if f.startswith(prefix + "_")
                  and f.endswith(".npz"))


SVMPLUS = _fixtures("svmplus")
L2SVMPLUS = _fixtures("l2svmplus")
SMILPI = _fixtures("smilpi")
MISVMPI = _fixtures("misvmpi")
SMILPIDA = _fixtures("smilpida")
MDAHS_PLUS = _fixtures("mdahs_plus")


@functools.lru_cache(maxsize=None)
def _load(name):
    with np.load(os.path.join(DATA, name + ".npz"), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _close(actual, expected, tol, what, relative_to=None):
    """``max|actual - expected| <= tol`` (times ``max|relative_to|`` for a relative check)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = 1.0 if relative_to is None else float(np.max(np.abs(relative_to)))
    dev = float(np.max(np.abs(actual - expected))) / scale
    assert dev <= tol, f"{what}: max deviation {dev:.3g} > tolerance {tol:g}" + (
        " (relative)" if relative_to is not None else "")


def _at_least(value, bound, what):
    assert value >= bound, f"{what}: {value:.6g} < {bound:g}"


def _spearman(a, b):
    return float(spearmanr(a, b)[0])


def _uniform(v):
    return float(np.ptp(v)) == 0.0


def test_every_fixture_belongs_to_one_family_and_is_self_contained():
    files = sorted(f[:-4] for f in os.listdir(DATA) if f.endswith(".npz"))
    families = SVMPLUS + L2SVMPLUS + SMILPI + MISVMPI + SMILPIDA + MDAHS_PLUS
    assert sorted(families) == files and len(files) == 46
    assert os.path.isfile(os.path.join(DATA, "PROVENANCE.md"))


# ----------------------------------------------------------------------------------------------
# 1. SVM+ (svm_plus_train, QP): 12 files
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SVMPLUS)
def test_svmplus_matches_the_exact_dual_and_the_authors_scores(name):
    d = _load(name)
    clf = SVMPlusClassifier(C=float(d["C"]), gamma_plus=float(d["gamma_plus"]), kernel="rbf",
                            kernel_priv=str(d["kernel_priv"]), tol=TOL)
    clf.fit(d["X"], d["y"], X_priv=d["X_priv"])
    # bandwidth rule: measured <= 1.6e-15 relative (visual and privileged RBF), tolerance 1e-12
    _close(clf.kernel_.gamma_, d["gamma_visual"], 1e-12, "gamma_visual", d["gamma_visual"])
    if str(d["kernel_priv"]) == "rbf":
        _close(clf.kernel_priv_.gamma_, d["gamma_priv"], 1e-12, "gamma_priv", d["gamma_priv"])
    y = d["y"]
    alpha = np.zeros(len(y))
    alpha[clf.support_] = clf.dual_coef_[0] * y[clf.support_]
    f_test = clf.decision_function(d["X_test"]) - clf.intercept_[0]
    # against the exact re-solve of the authors' QP (absolute): alpha measured 1.5e-8, test
    # decision values without b 2.8e-9, b 1.9e-10, b~ 2.1e-9, correcting function without b~
    # 5.5e-9; tolerance 1e-6 each (alpha is unique: K is positive definite)
    _close(alpha, d["alpha_ref"], 1e-6, "alpha vs alpha_ref")
    _close(f_test, d["decision_test_nobias_ref"], 1e-6, "test decision (no b) vs exact")
    _close(clf.intercept_[0], d["b_ref"], 1e-6, "b vs exact multiplier b_ref")
    _close(clf.intercept_priv_[0], d["b_priv_ref"], 1e-6, "b~ vs exact multiplier b_priv_ref")
    _close(clf.correcting_function_ - clf.intercept_priv_[0], d["correcting_nobias_ref"], 1e-6,
           "correcting function (no b~) vs exact")
    # dual objective with its constant (webly's objective_ includes c'K~c/(2 gamma)), relative:
    # measured 2.3e-10, tolerance 1e-8
    exact = float(d["objective_ref"] + d["objective_constant"])
    _close(clf.objective_[0], exact, 1e-8, "dual objective vs exact", exact)
    # the authors' own test scores without b (absolute): their relative-gap stop on an objective
    # of up to -3.7e7 (D1) leaves them off by up to 9.2e-4 (measured, webly vs authors);
    # tolerance 2e-3. Their b (decision_test_authors) is not compared: their bias formula
    # averages over nearly every row of interior-point output (D2) and is off by up to 0.09.
    _close(f_test, d["decision_test_nobias"], 2e-3, "test decision (no b) vs authors")


# ----------------------------------------------------------------------------------------------
# 2. L2-loss SVM+ (solve_l2svmplus_kernel, libsvm one-class): 12 files
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", L2SVMPLUS)
def test_l2svmplus_matches_the_exact_dual_and_ranks_like_the_authors(name):
    d = _load(name)
    clf = L2SVMPlusClassifier(C=float(d["C"]), gamma_plus=float(d["gamma_plus"]), kernel="rbf",
                              kernel_priv=str(d["kernel_priv"]), tol=TOL)
    clf.fit(d["X"], d["y"], X_priv=d["X_priv"])
    _close(clf.kernel_.gamma_, d["gamma_visual"], 1e-12, "gamma_visual", d["gamma_visual"])
    y = d["y"]
    alpha = np.zeros(len(y))
    alpha[clf.support_] = clf.dual_coef_[0] * y[clf.support_]
    f_test = clf.decision_function(d["X_test"])  # sum a_i y_i (k + 1): the authors' score
    # against the exact re-solve of the authors' Q (absolute): alpha measured 9.6e-8, test
    # scores 5.0e-9; tolerance 1e-6
    _close(alpha, d["alpha_ref"], 1e-6, "alpha vs alpha_ref")
    _close(f_test, d["decision_test_ref"], 1e-6, "test scores vs exact")
    # 1/2 a'Qa, relative: measured 7.5e-11, tolerance 1e-8; and never above the authors' value
    # (their libsvm stops early, D3): measured authors - webly from 1.7e-6 to 4.6e-6
    _close(clf.objective_[0], d["objective_ref"], 1e-8, "1/2 a'Qa vs exact", d["objective_ref"])
    assert clf.objective_[0] <= float(d["objective_authors"])
    # the authors' raw scores: libsvm's absolute eps 1e-3 on a Q whose margins are ~0.01 (D3)
    # leaves them off by up to 5.5e-2 of max|f| (measured); tolerance 6e-2 relative, and
    # Spearman measured >= 0.9982, bound 0.995
    au = d["decision_test_authors"]
    _close(f_test, au, 6e-2, "test scores vs authors (libsvm eps 1e-3)", au)
    _at_least(_spearman(f_test, au), 0.995, "Spearman vs authors")


# ----------------------------------------------------------------------------------------------
# 3. sMIL-PI (train_sMIL_PI): 7 files
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SMILPI)
def test_smilpi_matches_the_ridge_free_dual_and_the_authors_scores(name):
    d = _load(name)
    clf = SMILPIClassifier(C=float(d["C"]), gamma_plus=float(d["gamma_plus"]),
                           rho=float(d["rho"]), C_neg=float(d["C_neg_ub"]), kernel="rbf",
                           kernel_priv="linear", tol=TOL)
    clf.fit(d["X"], d["y"], bags=d["bags"], X_priv=d["X_priv"])
    _close(clf.kernel_.gamma_, d["gamma_visual"], 1e-12, "gamma_visual", d["gamma_visual"])
    m = clf.models_[0]
    f_test = clf.decision_function(d["X_test"]) - m.intercept  # the authors score without b
    # units are the positive bags then every negative row, as the authors'
    alpha = m.info["x"][:len(d["unit_y"])]
    # against the authors' QP re-solved without their 1e-6 ridge (absolute): alpha measured
    # 5.4e-8, instance coefficients 3.6e-8, test scores 5.0e-9, b 2.2e-9; tolerance 1e-6. b is
    # the exact multiplier; the authors' b_authors (unused by them) is wrong (D5), not compared.
    _close(alpha, d["alpha_noridge"], 1e-6, "unit alpha vs ridge-free exact")
    _close(m.coef, d["coef_noridge"], 1e-6, "instance coefficients vs ridge-free exact")
    _close(f_test, d["decision_test_noridge"], 1e-6, "test scores vs ridge-free exact")
    _close(m.intercept, d["b_noridge"], 1e-6, "b vs exact multiplier b_noridge")
    # the authors' scores, with their ridge (D4): it moves them by up to 1.2e-5 (measured, webly
    # vs authors); tolerance 3e-5 absolute
    _close(f_test, d["decision_test"], 3e-5, "test scores vs authors (with their ridge)")


# ----------------------------------------------------------------------------------------------
# 4. mi-SVM-PI (train_mi_SVM_PI): 6 files
# ----------------------------------------------------------------------------------------------

def _misvmpi_round_qp(d, K, labels, block, constant):
    """One round's QP: the positive-bag rows P carry the privileged block (c_i = C) and no upper
    bound, the other rows alpha <= 1 (the authors' C_neg_ub); webly's MiSVMPIClassifier QP."""
    in_pos = d["y"] == 1
    return KernelQP(K=K, y=labels.astype(float), p=np.ones(len(labels)),
                    upper=np.where(in_pos, np.inf, float(d["C_neg_ub"])), blocks=(block,),
                    constant=constant)


def _misvmpi_with_authors_rule(d):
    """mi-SVM-PI rounds with webly's kernel, QP and relabelling functions and the authors' rule.

    The authors' rule (PROVENANCE.md case 4; MiSVMPIClassifier's ``relabel="authors"``): a
    positive-bag row becomes +1 when its score exceeds ``min_P f + 0.2 (max_P f - min_P f)``
    over all positive-bag rows P, and each bag keeps at least ceil(0.8 |B|) positives; stop when
    the labels no longer change. Returns the fitted visual kernel, the positive-bag rows P and one
    ``(labels, qp, x, f, b)`` per QP solved.
    """
    X, y = d["X"], d["y"]
    kernel = Kernel("rbf").fit(X)
    K = np.ascontiguousarray(kernel(X))
    P = np.flatnonzero(y == 1)
    block, constant = privileged_block(P, privileged_kernel(d["X_priv"][P], "linear", None),
                                       np.full(P.size, float(d["C"])), float(d["gamma_plus"]))
    groups = positive_bag_groups(y, d["bags"])
    keep = min_positives(np.array([len(g) for g in groups]), float(d["pos_ratio"]))
    labels, rounds = y.copy(), []
    for _ in range(int(d["max_iter"])):
        qp = _misvmpi_round_qp(d, K, labels, block, constant)
        x, info = smo_solve(qp, tol=TOL)
        f = K @ (x[:len(y)] * labels)  # scores without b: the rule is shift-invariant
        rounds.append((labels, qp, x, f, float(info["multipliers"][0])))
        new = relabel_positive_bags(f, groups, keep, labels,
                                    range_fraction=float(d["relabel_fraction"]))
        if np.array_equal(new, labels):
            break
        labels = new
    return kernel, P, rounds


@pytest.mark.parametrize("name", MISVMPI)
def test_misvmpi_rounds_with_the_authors_rule_match_every_authors_round(name):
    d = _load(name)
    kernel, P, rounds = _misvmpi_with_authors_rule(d)
    _close(kernel.gamma_, d["gamma_visual"], 1e-12, "gamma_visual", d["gamma_visual"])
    # the authors solve one redundant QP after the labels settle (D7): their last two rounds
    # repeat the same labels, so they solve one QP more than this loop
    assert len(rounds) == int(d["n_rounds"]) - 1
    for r, (labels, qp, x, f, _) in enumerate(rounds):
        np.testing.assert_array_equal(labels, d["labels_per_round"][r], err_msg=f"round {r}")
        # per-round alpha and training scores (no b) against the authors' interior-point
        # solutions (absolute): measured 3.1e-4 on alpha and 1.0e-4 on scores (round 1 of
        # seed 2, C = 1, where webly's objective is 2.3e-7 lower: their error, D1);
        # tolerances 5e-4 and 3e-4
        _close(x[:len(labels)], d["alpha_per_round"][r], 5e-4, f"alpha, round {r}")
        _close(f, d["decision_train_nobias_per_round"][r], 3e-4, f"training scores, round {r}")
        # webly's objective is never above the objective at the authors' point (relative
        # slack 1e-9: measured authors - webly from +5e-12 to +2.3e-7 absolute)
        x_authors = np.concatenate([d["alpha_per_round"][r], d["zeta_per_round"][r][P]])
        obj, obj_authors = qp_objective(qp, x), qp_objective(qp, x_authors)
        assert obj <= obj_authors + 1e-9 * abs(obj_authors), f"objective, round {r}"
    labels, qp, x, f, b = rounds[-1]
    np.testing.assert_array_equal(labels, d["labels_final"])
    coef = x[:len(labels)] * labels
    f_test = kernel(d["X_test"], d["X"]) @ coef
    # final round against its exact re-solve (absolute): alpha measured 7.9e-8, test scores
    # (no b) 7.5e-9, b 1.3e-10; tolerance 1e-6. b is the exact multiplier; the authors' b
    # (added to their test scores) comes from the SVM+ formula misapplied to all rows (D6) and
    # is off by up to 0.92, so decision_test_authors is not compared.
    _close(x[:len(labels)], d["alpha_ref_final"], 1e-6, "final alpha vs exact")
    _close(f_test, d["decision_test_nobias_ref"], 1e-6, "final test scores (no b) vs exact")
    _close(b, d["b_ref"], 1e-6, "final b vs exact multiplier b_ref")
    # the authors' final test scores without b (absolute): measured 3.5e-5 (their imprecision
    # on seed 2, C = 1: the same gap separates them from the exact re-solve); tolerance 1e-4
    _close(f_test, d["decision_test_nobias"], 1e-4, "final test scores (no b) vs authors")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", MISVMPI)
def test_misvmpi_estimator_first_round_matches_the_authors_first_qp(name):
    # the first QP (on the bag labels) is defined identically by webly and the authors;
    # max_rounds=1 returns it (warning where webly's rule would still change the labels)
    d = _load(name)
    clf = MiSVMPIClassifier(C=float(d["C"]), gamma_plus=float(d["gamma_plus"]),
                            rho=float(d["pos_ratio"]), C_neg=1.0, max_rounds=1, kernel="rbf",
                            kernel_priv="linear", tol=TOL)
    clf.fit(d["X"], d["y"], bags=d["bags"], X_priv=d["X_priv"])
    m = clf.models_[0]
    # absolute, as in the per-round test: measured 3.5e-6 (alpha), 1.1e-6 (scores); tolerances
    # 5e-4 and 3e-4 (the authors' per-round precision)
    _close(m.coef * d["y"], d["alpha_per_round"][0], 5e-4, "first-round alpha")
    _close(clf.decision_function(d["X"]) - m.intercept, d["decision_train_nobias_per_round"][0],
           3e-4, "first-round training scores (no b)")


@pytest.mark.parametrize("name", MISVMPI)
def test_misvmpi_estimator_reaches_the_authors_final_labels(name):
    # relabel="authors" (+1 when f > min_P f + 0.2 (max_P f - min_P f) over positive-bag rows)
    # with the authors' hard-coded rho 0.8 and negative bound 1: the same final labels, rounds
    # and final QP. With the default relabel="webly" (threshold 0 on f) the labels agree on
    # 82-94 % of positive-bag rows only (PROVENANCE.md case 4).
    d = _load(name)
    clf = MiSVMPIClassifier(C=float(d["C"]), gamma_plus=float(d["gamma_plus"]),
                            rho=float(d["pos_ratio"]), C_neg=1.0, max_rounds=int(d["max_iter"]),
                            kernel="rbf", kernel_priv="linear", tol=TOL, relabel="authors")
    clf.fit(d["X"], d["y"], bags=d["bags"], X_priv=d["X_priv"])
    m = clf.models_[0]
    np.testing.assert_array_equal(m.instance_labels, d["labels_final"])
    # webly counts relabelling rounds: one QP fewer than the authors, who solve a redundant one
    # after the labels settle (D7)
    assert m.info["rounds"] == int(d["n_rounds"]) - 1
    # final round against its exact re-solve, as in the array-level test (absolute): alpha
    # measured 7.9e-8, test scores (no b) 7.5e-9, b 1.3e-10 (the estimator warm-starts each round
    # from the previous one); tolerance 1e-6
    _close(m.coef * m.instance_labels, d["alpha_ref_final"], 1e-6, "final alpha vs exact")
    _close(clf.decision_function(d["X_test"]) - m.intercept, d["decision_test_nobias_ref"], 1e-6,
           "final test scores (no b) vs exact")
    _close(m.intercept, d["b_ref"], 1e-6, "final b vs exact multiplier b_ref")


# ----------------------------------------------------------------------------------------------
# 5. sMIL-PI-DA (train_sMIL_PI_DA): 7 files
# ----------------------------------------------------------------------------------------------

def _smilpida(d):
    """webly's sMIL-PI-DA with its scalar C2 set to the authors' per-bag weight C2 / #bags."""
    clf = SMILPIDAClassifier(C=float(d["C1"]), gamma_plus=float(d["gamma1"]), rho=float(d["rho"]),
                             C_neg=float(d["C_neg_ub"]), kernel="rbf", kernel_priv="linear",
                             C2=float(d["C2"]) / int(d["n_pos_bags"]), gamma2=float(d["gamma2"]),
                             eps=float(d["epsilon"]), B=float(d["B"]), tol=TOL)
    clf.fit(d["X"], d["y"], bags=d["bags"], X_priv=d["X_priv"], X_target=d["X_target"])
    return clf


@pytest.mark.parametrize("name", SMILPIDA)
def test_smilpida_matches_the_ridge_free_dual_where_c2_is_uniform_else_ranks_alike(name):
    d = _load(name)
    clf = _smilpida(d)
    _close(clf.kernel_.gamma_, d["gamma_visual"], 1e-12, "gamma_visual", d["gamma_visual"])
    m = clf.models_[0]
    f_test = clf.decision_function(d["X_test"]) - m.intercept  # the authors score without b
    au = d["decision_test"]
    if _uniform(d["unit_C2"]):
        # _neg10: 10 bags and 10 negatives, so the authors' per-unit C2 is one number and the
        # QPs coincide. Against the authors' QP re-solved without their ridge (absolute):
        # alpha measured 4.4e-8, coefficients 8.7e-9, test scores 4.3e-9, b 7.8e-9;
        # tolerance 1e-6
        _close(m.info["x"][:len(d["unit_y"])], d["alpha_noridge"], 1e-6, "alpha vs exact")
        _close(m.coef, d["coef_noridge"], 1e-6, "instance coefficients vs exact")
        _close(f_test, d["decision_test_noridge"], 1e-6, "test scores vs ridge-free exact")
        _close(m.intercept, d["b_noridge"], 1e-6, "b vs exact multiplier b_noridge")
        # the authors' scores carry their 1e-6 ridge (D4), a 1.1e3-sized term here that moves
        # them by 2.3e-3 (measured, webly vs authors); tolerance 5e-3 absolute, Spearman
        # measured 0.99989, bound 0.999
        _close(f_test, au, 5e-3, "test scores vs authors (with their ridge)")
        _at_least(_spearman(f_test, au), 0.999, "Spearman vs authors")
        return
    # Other files: the authors weigh bags by C2/#bags and negatives by C2/#negatives (D8);
    # webly's default scalar C2 does not (C2_per_unit=True does: the test below), so only what
    # survives the split is compared: the ranking of the authors' test scores (Spearman measured >= 0.99967 with the
    # ridge, bound 0.998) and, at the ECCV-like settings where both the split and the ridge are
    # small, the scores themselves (absolute: measured 1.3e-4, tolerance 3e-4). At the IJCV demo
    # settings the split and the ridge (D4: ~1e4 in the objective) move them by 0.04-0.06.
    _at_least(_spearman(f_test, au), 0.998, "Spearman vs authors")
    if "eccvlike" in name:
        _close(f_test, au, 3e-4, "test scores vs authors (C2 split)")


@pytest.mark.parametrize("name", SMILPIDA)
def test_smilpida_with_per_unit_c2_matches_the_ridge_free_dual(name):
    # C2_per_unit=True: the authors' split (D8), solved exactly by cvxpy/Clarabel. Against
    # their QP re-solved without their ridge (absolute), measured over the seven files: test
    # scores 1.5e-10 to 2.4e-6, b 1.3e-11 to 9.2e-8. The largest are at the IJCV demo settings,
    # where z2 reaches 5e4 and both sides are interior-point solutions of an ill-conditioned QP
    # (scores up to 1.5 in size); tolerance 5e-6 on scores, 1e-6 on b
    d = _load(name)
    clf = SMILPIDAClassifier(C=float(d["C1"]), gamma_plus=float(d["gamma1"]), rho=float(d["rho"]),
                             C_neg=float(d["C_neg_ub"]), kernel="rbf", kernel_priv="linear",
                             C2=float(d["C2"]), C2_per_unit=True, gamma2=float(d["gamma2"]),
                             eps=float(d["epsilon"]), B=float(d["B"]), tol=TOL)
    clf.fit(d["X"], d["y"], bags=d["bags"], X_priv=d["X_priv"], X_target=d["X_target"])
    m = clf.models_[0]
    _close(clf.decision_function(d["X_test"]) - m.intercept, d["decision_test_noridge"], 5e-6,
           "test scores vs ridge-free exact")
    _close(m.intercept, d["b_noridge"], 1e-6, "b vs exact multiplier b_noridge")


# ----------------------------------------------------------------------------------------------
# 6. MDA-HS+ (MDAHS+ folder, T-NNLS demo settings): 2 files, checked by building block
# ----------------------------------------------------------------------------------------------

_SRC = [slice(0, 20), slice(20, 40), slice(40, 60)]  # expanded index: s1, s2, s3, then target
_TGT = slice(60, 90)


def _mdahs_rows(d):
    """Per source: its rows, its target rows (its feature type) and that type's bandwidth rows."""
    two_d = np.vstack([d["X_s1"], d["X_s2"], d["X_target_2d"]])
    three_d = np.vstack([d["X_s3"], d["X_target_3d"]])
    return ([d["X_s1"], d["X_s2"], d["X_s3"]],
            [d["X_target_2d"], d["X_target_2d"], d["X_target_3d"]], [two_d, two_d, three_d])


def _privileged_matrix(d):
    """The authors' Q_pi from webly's L2-SVM+ closed form: one block per source with
    lambda' = lambda_pi / n_t, I / C_t on the target rows."""
    Q = np.zeros((90, 90))
    for s, sl in enumerate(_SRC):
        Q[sl, sl] = l2svmplus_privileged_term(20, float(d["Cs"]), float(d["lambda_pi_effective"]),
                                              F_priv=d[f"T_s{s + 1}"])
    Q[_TGT, _TGT] = np.eye(30) / float(d["Ct"])
    return Q


def _mkl_hessian(K_list, Y, mu, Q_pi):
    """``sum_{m,t} mu_mt K_m∘y_t y_t' + Q_pi`` (the authors' no-bias, no-prior MKL Hessian)."""
    Q = Q_pi.copy()
    for m, K in enumerate(K_list):
        Q += K * ((Y * mu[m]) @ Y.T)
    return Q


def _kernel_values(K_list, Y, a):
    """``c_mt = (a∘y_t)'K_m(a∘y_t)``; the closed-form update takes ``q = mu^2 c``."""
    U = a[:, None] * Y
    return np.array([np.einsum("it,it->t", U, K @ U) for K in K_list])


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_kernels_and_privileged_block_are_the_authors(name):
    d = _load(name)
    rows, target, fit_rows = _mdahs_rows(d)
    for s, sl in enumerate(_SRC):
        kern = Kernel("rbf").fit(fit_rows[s])
        want = float(d["gamma_3d"] if s == 2 else d["gamma_2d"])
        # bandwidth over the stacked source + target rows of the type: measured 4.4e-16
        # relative; the authors' expanded kernels from it: measured 0 absolute; tolerances 1e-12
        _close(kern.gamma_, want, 1e-12, f"bandwidth of source {s + 1}'s feature", want)
        _close(kern(rows[s]), d["K_expanded"][sl, sl, s], 1e-12, f"K_ss, source {s + 1}")
        _close(kern(rows[s], target[s]), d["K_expanded"][sl, _TGT, s], 1e-12,
               f"K_st, source {s + 1}")
    # the privileged matrix (Woodbury form of webly vs the authors' direct inverse), relative to
    # its largest entry: measured 1.7e-17, tolerance 1e-12
    _close(_privileged_matrix(d), d["Q_pi"], 1e-12, "Q_pi", d["Q_pi"])


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_source_classifiers_match_rho_svmtrain_k(name):
    d = _load(name)
    K = d["K_expanded"]
    for k in (1, 2):
        for s, sl in enumerate(_SRC):
            y = np.where(d[f"y_s{s + 1}"] == k, 1.0, -1.0)
            K_ss, K_ts = K[sl, sl, s], K[_TGT, sl, s]
            for usebias in (0, 1):
                beta, info = l2svm_source_classifier(K_ss + usebias, y, C=float(d["Cs"]),
                                                     tol=TOL, solver="smo")
                if usebias:
                    # the authors normalise by sqrt(w'Kw) without the +1 (D10); webly with it.
                    # Undo webly's scale and apply theirs: the same QP, their convention.
                    ay = beta * info["w_norm"]
                    beta = ay / np.sqrt(ay @ K_ss @ ay)
                what = f"class {k}, source {s + 1}, usebias {usebias}"
                idx = (k - 1, s, usebias)
                # relative to the largest value: the authors' libsvm stops at eps 1e-3/n;
                # measured 2.1e-4 (coefficients), 2.2e-4 (source-row outputs), 1.8e-4
                # (target-row outputs); tolerance 5e-4
                _close(beta, d["src_coef"][idx], 5e-4, what + ": coefficients",
                       d["src_coef"][idx])
                _close((K_ss + usebias) @ beta, d["src_f_src"][idx], 5e-4,
                       what + ": outputs on source rows", d["src_f_src"][idx])
                _close((K_ts + usebias) @ beta, d["src_f_tgt"][idx], 5e-4,
                       what + ": outputs on target rows", d["src_f_tgt"][idx])


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_group_mkl_matches_the_authors_inner_loop(name):
    d = _load(name)
    K_list = [d["K_expanded"][:, :, m] for m in range(3)]
    Y = d["mkl_y_set"].astype(float)
    Q_pi = _privileged_matrix(d)
    # one closed-form mu step from the authors' (mu0, alpha0): their p = 2 update is webly's
    # l_{2,1} update with q = mu^2 c; measured 8.3e-17 absolute, tolerance 1e-12
    mu0 = d["step_mu0"]
    mu1 = update_group_weights(mu0 ** 2 * _kernel_values(K_list, Y, d["step_alpha0"]))
    _close(mu1, d["step_mu1"], 1e-12, "closed-form mu step")
    # the alternation QP / mu update from mu0, stopped as webly's MDA-HS stops it (relative
    # change of the margin a'Qa <= 1e-3), which is also the authors' rule: same number of QPs
    mu, a, rho_prev, history = mu0, None, None, []
    for _ in range(50):
        a, info = solve_simplex_qp(_mkl_hessian(K_list, Y, mu, Q_pi), x0=a, tol=TOL,
                                   solver="smo")
        history.append((mu, -info["objective"]))
        if rho_prev is not None and abs(info["rho"] - rho_prev) <= 1e-3 * rho_prev:
            break
        rho_prev = info["rho"]
        mu = update_group_weights(mu ** 2 * _kernel_values(K_list, Y, a))
    assert len(history) == int(d["mkl_iters"])
    # per QP (relative): the objective -1/2 a'Q(mu)a measured 8.1e-6 (the authors' alpha sums
    # to 1 - 1e-6, and libsvm stops at eps 1e-3/n), tolerance 3e-5; mu of each QP (absolute)
    # measured 8.0e-5, tolerance 2e-4; final alpha (absolute) measured 4.8e-5, tolerance 1e-4
    for i, (mu_i, obj_i) in enumerate(history):
        _close(obj_i, d["mkl_hist_obj"][i], 3e-5, f"MKL objective, QP {i}", d["mkl_hist_obj"][i])
        _close(mu_i, d["mkl_hist_mu"][i], 2e-4, f"MKL mu, QP {i}")
    _close(history[-1][0], d["mkl_mu"], 2e-4, "final mu")
    _close(a, d["mkl_alpha"], 1e-4, "final alpha")


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_final_qp_at_the_authors_labellings(name):
    # the last QP of the authors' full pipeline, rebuilt from their labellings y_set, weights
    # mu and prior features F_s (checked against webly's source classifiers above): the
    # prior-augmented kernels K_m + F_m F_m'/theta over the whole source-m + target block
    d = _load(name)
    theta = float(d["theta"])
    Q_pi = _privileged_matrix(d)
    for k in (1, 2):
        F, Y, mu = d[f"full_k{k}_Fs"], d[f"full_k{k}_y_set"].astype(float), d[f"full_k{k}_mu"]
        K_list = [d["K_expanded"][:, :, m] + np.outer(F[:, m], F[:, m]) / theta
                  for m in range(3)]
        a, _ = solve_simplex_qp(_mkl_hessian(K_list, Y, mu, Q_pi), tol=TOL, solver="smo")
        # alpha (absolute): measured 8.2e-6, tolerance 1e-4 (the MKL tolerance above)
        _close(a, d[f"full_k{k}_alpha"], 1e-4, f"class {k}: final alpha")
        # target scores before the authors' division by rho (relative to the largest): measured
        # 2.7e-5, tolerance 1e-4. rho itself is not compared: the authors take it from
        # diag(1/C) instead of the Q_pi they trained with (D10), webly uses its margin a'Qa.
        g = sum(K_list[m][_TGT] @ (a * (Y @ mu[m])) for m in range(3))
        g_authors = d[f"full_k{k}_dv"] * float(d[f"full_k{k}_rho"])
        _close(g, g_authors, 1e-4, f"class {k}: target scores (times rho)", g_authors)


def _mdahs_plus_fit_args(d):
    """The fixture's sources and target as flat rows: heterogeneous feature types in a
    FeatureBlocks (NaN where a row lacks one), sources s1, s2, s3, their text as X_priv."""
    X = FeatureBlocks({"2d": np.vstack([d["X_s1"], d["X_s2"], np.full((20, 20), np.nan)]),
                       "3d": np.vstack([np.full((40, 12), np.nan), d["X_s3"]])})
    return {"X": X, "y": np.concatenate([d["y_s1"], d["y_s2"], d["y_s3"]]),
            "sources": np.repeat(["s1", "s2", "s3"], 20),
            "X_target": FeatureBlocks({"2d": d["X_target_2d"], "3d": d["X_target_3d"]}),
            "X_priv": np.vstack([d["T_s1"], d["T_s2"], d["T_s3"]])}


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_estimator_ranks_the_target_like_the_authors(name):
    # MDAHSPlus differs from the release by design (kernels with +1, a centred prior on the
    # target block only, one text term across sources, its own labelling search instead of
    # find_violated_y (D9), scores divided by a'Qa instead of the authors' rho (D10)), so its
    # decision values differ by 0.59-0.89 (15-20 % of max|dv|): only the ranking of the target
    # rows is compared. variant="authors" follows the release (the tests below).
    d = _load(name)
    clf = MDAHSPlus(C_source=float(d["Cs"]), C_target=float(d["Ct"]), theta=float(d["theta"]),
                    gamma_plus=float(d["lambda_pi_effective"]), kernel="rbf",
                    kernel_priv="linear", balance_ratios=tuple(d["br"]),
                    max_rounds=int(d["out_max_iter"]), mkl_max_iter=int(d["in_max_iter"]))
    args = _mdahs_plus_fit_args(d)
    clf.fit(**args)
    score = clf.decision_function(args["X_target"])  # class 2 (classes_[1]) against class 1
    # Spearman with the authors' class-2 and (negated) class-1 scores: measured >= 0.9778,
    # bound 0.97; average precision of class 2 on the target: measured equal, tolerance 0.01
    _at_least(_spearman(score, d["full_k2_dv"]), 0.97, "Spearman vs authors, class 2")
    _at_least(_spearman(-score, d["full_k1_dv"]), 0.97, "Spearman vs authors, class 1")
    positive = d["y_target"] == 2
    _close(average_precision_score(positive, score),
           average_precision_score(positive, d["full_k2_dv"]), 0.01, "AP of class 2")


def _mdahs_plus_authors(d, k):
    """MDAHSPlus(variant="authors") at the release's settings, class k against the rest (the
    release's lambda_pi / n_t is gamma_plus; its 15 outer iterations are 14 added rounds)."""
    clf = MDAHSPlus(C_source=float(d["Cs"]), C_target=float(d["Ct"]), theta=float(d["theta"]),
                    gamma_plus=float(d["lambda_pi_effective"]), kernel="rbf",
                    kernel_priv="linear", balance_ratios=tuple(d["br"]),
                    max_rounds=int(d["out_max_iter"]) - 1, mkl_max_iter=int(d["in_max_iter"]),
                    tol=TOL, solver="smo", variant="authors")
    args = _mdahs_plus_fit_args(d)
    args["y"] = (args["y"] == k).astype(int)  # class k is classes_[1]
    return clf.fit(**args), args["X_target"]


def _search_with_d9(problem, a, n_positives):
    """find_violated_y as the release runs it: webly's search with the defect D9 put back (its
    second candidate labels +1 the rows u-k+1..k of the ascending order, 1-based: none when
    k <= u/2, a middle slice otherwise)."""
    n_S, n_t = problem.n_S, problem.n_t
    v = a[:n_S] * problem.y_src
    best = [(-np.inf, None)] * len(n_positives)
    for j, kern in enumerate(problem.kernels):
        sl = problem.src_slices[kern["source"]]
        X = problem.kernel_sqrt(j)
        n_s = sl.stop - sl.start
        src = v[sl] @ X[:n_s]
        tgt = a[n_S:, None] * X[n_s:]
        order = np.argsort(tgt, axis=0, kind="stable")
        for b, k in enumerate(n_positives):
            for i in range(X.shape[1]):
                for rows in (order[:k, i], order[n_t - k:k, i]):
                    y = -np.ones(n_t)
                    y[rows] = 1.0
                    value = abs(src[i] + tgt[:, i] @ y)
                    if value > best[b][0]:
                        best[b] = (value, y)
    return [y for _, y in best]


def _check_against_the_release(d, k, clf, X_target):
    """Labellings (the initial ones as a set: Octave's unique sorts them), kernel weights,
    target scores before the division by rho (D10) and the prior coefficients gamma_s."""
    Y, Y_a = clf.labellings_[0], d[f"full_k{k}_y_set"][_TGT]
    n0 = int(d[f"full_k{k}_n_initial_labellings"])
    assert Y.shape == Y_a.shape  # 51 or 54 labellings
    assert clf.n_iter_[0] == len(d[f"full_k{k}_hist_obj"]) - 1  # rounds added
    perm = [next(i for i in range(n0) if np.array_equal(Y[:, i], Y_a[:, t])) for t in range(n0)]
    np.testing.assert_array_equal(Y[:, n0:], Y_a[:, n0:])
    # mu per (kernel, labelling), absolute: measured 2.6e-5 (the release's libsvm stops at
    # eps 1e-3/n), tolerance 1e-4
    mu = clf.kernel_weights_[0]
    _close(np.hstack([mu[:, perm], mu[:, n0:]]), d[f"full_k{k}_mu"], 1e-4, f"class {k}: mu")
    # scores times rho and gamma_s, relative to the largest: measured 2.5e-4 and 3.4e-4,
    # tolerance 1e-3
    g_authors = d[f"full_k{k}_dv"] * float(d[f"full_k{k}_rho"])
    _close(clf.decision_function(X_target) * clf.rho_[0], g_authors, 1e-3,
           f"class {k}: target scores (times rho)", g_authors)
    gamma = d[f"full_k{k}_gamma_s"]
    _close(clf.source_relevance_per_model_[0], gamma, 1e-3, f"class {k}: gamma_s", gamma)


@pytest.mark.parametrize("k", (1, 2))
@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_authors_variant_is_the_release_with_its_search_defect(name, k, monkeypatch):
    # variant="authors" with D9 put back into its search reproduces the release's full
    # pipeline: every labelling (same order), mu, scores and gamma_s
    monkeypatch.setattr(mdahs_arrays, "authors_violated_labellings", _search_with_d9)
    d = _load(name)
    clf, X_target = _mdahs_plus_authors(d, k)
    _check_against_the_release(d, k, clf, X_target)


@pytest.mark.parametrize("name", MDAHS_PLUS)
def test_mdahs_plus_authors_variant_without_the_search_defect(name):
    d = _load(name)
    # class 2: 16-21 positives of 30 (more than half) for every balance ratio, so D9 only
    # shortens the second candidate, which never wins here, nor does its repaired form: the
    # release's labellings and numbers
    clf, X_target = _mdahs_plus_authors(d, 2)
    _check_against_the_release(d, 2, clf, X_target)
    # class 1: 13-18 positives; where they are at most half, the release's second candidate is
    # all-negative and wins (data5: its added labellings have 0-6 positives); the repaired search
    # adds others. The initial labellings and the ranking of the sources by gamma_s stay the
    # release's; the target ranking nearly (Spearman measured 0.9978 / 0.9987, bound 0.99;
    # average precision equal, tolerance 0.01); gamma_s moves by 1.8e-2 / 4.2e-2 relative
    clf, X_target = _mdahs_plus_authors(d, 1)
    n0 = int(d["full_k1_n_initial_labellings"])
    Y, Y_a = clf.labellings_[0], d["full_k1_y_set"][_TGT]
    assert {tuple(y) for y in Y[:, :n0].T} == {tuple(y) for y in Y_a[:, :n0].T}
    assert {tuple(y) for y in Y[:, n0:].T} != {tuple(y) for y in Y_a[:, n0:].T}
    gamma, gamma_a = clf.source_relevance_per_model_[0], d["full_k1_gamma_s"]
    np.testing.assert_array_equal(np.argsort(gamma), np.argsort(gamma_a))
    _close(gamma, gamma_a, 0.1, "class 1: gamma_s", gamma_a)
    score = clf.decision_function(X_target)
    _at_least(_spearman(score, d["full_k1_dv"]), 0.99, "Spearman vs authors, class 1")
    positive = d["y_target"] == 1
    _close(average_precision_score(positive, score),
           average_precision_score(positive, d["full_k1_dv"]), 0.01, "AP of class 1")
