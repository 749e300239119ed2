"""mi-SVM and MI-SVM when a round's optimum is ``w = 0`` (one query against many, one weight).

With one hinge weight for every row and few positives whose mean lies inside the negatives'
reduced hull, ``w = 0`` solves the SVM at every ``C``: the decision values are constant up to
the solver's rounding, and relabelling (or choosing witnesses) by them followed that noise: on
``make_web_crawl(10**6)`` c0 vs rest mi-SVM spent all 20 rounds at the trivial objective (2 per
positive label) with about 2,000 labels changing per round, and the kernel and primal paths
went different ways on the same problem. Both paths now stop at such a round with a note, and
``C_neg="balanced"`` weighs the classes (the kernel and primal rounds then agree).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from webly.mil import MiSVMClassifier, MISVMClassifier, MiSVMPIClassifier
from webly.mil import _toolkit as toolkit
from webly.mil._toolkit import constant_scores, negative_weight


def _one_against_many(seed=0, n_neg_bags=200, n_pos_bags=4, size=10, d=5, shift=0.6):
    """4 positive bags (70 % right rows, shifted by ``shift`` on one axis) against 200
    negative bags: 2 % positives, their mean well inside the negatives' reduced hull."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_neg_bags + n_pos_bags), size)
    y = (bags < n_pos_bags).astype(int)
    X = rng.normal(size=(len(y), d))
    X[(y == 1) & (rng.random(len(y)) < 0.7), 0] += shift
    return X, y, bags


def _fit(est, X, y, bags):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y, bags=bags)
    return est, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("cls", [MiSVMClassifier, MISVMClassifier])
@pytest.mark.parametrize("C", [0.1, 1.0])  # libsvm needs minutes at C = 10 here
def test_a_constant_round_stops_both_paths_with_a_note(cls, C):
    X, y, bags = _one_against_many()
    fits = {s: _fit(cls(kernel="linear", C=C, solver=s, tol=1e-5), X, y, bags)
            for s in ("smo", "primal")}
    for solver, (est, notes) in fits.items():
        m = est.models_[0]
        assert len(m.info["objectives"]) == 1, solver  # not 20 rounds of rounding noise
        # the trivial optimum: w = 0, b = -1, each positive unit costs 2 C
        n_pos = 40 if cls is MiSVMClassifier else 4
        np.testing.assert_allclose(m.info["objectives"][0], 2 * C * n_pos, rtol=1e-4)
        assert len(notes) == 1 and "constant" in notes[0] and "C_neg='balanced'" in notes[0]
        # mi-SVM keeps its start (every positive-bag row +1), MI-SVM its bag means' rows
        np.testing.assert_array_equal(m.instance_labels, np.where(y == 1, 1, -1))
    assert (fits["smo"][0].models_[0].instance_labels
            == fits["primal"][0].models_[0].instance_labels).all()


@pytest.mark.parametrize("cls", [MiSVMClassifier, MISVMClassifier])
def test_balanced_negatives_give_the_same_rounds_on_both_paths(cls):
    X, y, bags = _one_against_many()
    smo, notes0 = _fit(cls(kernel="linear", C_neg="balanced", solver="smo", tol=1e-6), X, y,
                       bags)
    pri, notes1 = _fit(cls(kernel="linear", C_neg="balanced", solver="primal", tol=1e-6), X, y,
                       bags)
    assert not notes0 and not notes1
    o0 = np.array(smo.models_[0].info["objectives"])
    o1 = np.array(pri.models_[0].info["objectives"])
    assert len(o0) == len(o1) >= 2
    np.testing.assert_allclose(o1, o0, rtol=1e-5)
    np.testing.assert_array_equal(pri.models_[0].instance_labels, smo.models_[0].instance_labels)
    D0 = smo.decision_function(X)
    assert np.ptp(D0) > 1  # not the constant function
    np.testing.assert_allclose(pri.decision_function(X), D0, atol=1e-4 * (1 + np.abs(D0).max()))


def test_balanced_weight_is_a_float_c_neg_of_the_same_value():
    X, y, bags = _one_against_many()
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    assert negative_weight(2.0, "balanced", n_pos, n_neg) == 2.0 * n_pos / n_neg
    assert negative_weight(2.0, None, n_pos, n_neg) == 2.0
    assert negative_weight(2.0, 0.5, n_pos, n_neg) == 0.5
    a = MiSVMClassifier(kernel="linear", C_neg="balanced", solver="primal").fit(X, y, bags=bags)
    b = MiSVMClassifier(kernel="linear", C_neg=n_pos / n_neg, solver="primal").fit(X, y,
                                                                                   bags=bags)
    np.testing.assert_array_equal(a.models_[0].coef, b.models_[0].coef)


def test_constant_scores_is_the_spread_against_the_tolerance():
    assert constant_scores(np.array([-1.0, -1.0 + 1e-7, -1.0 - 1e-7]), 1e-3)
    assert not constant_scores(np.array([-1.0, -0.9]), 1e-3)
    assert not constant_scores(np.array([-1.0]), 1e-3)  # one instance: nothing to order


@pytest.mark.parametrize("solver", ["smo", "primal"])
def test_mi_svm_pi_stops_at_a_constant_round_too(solver):
    X, y, bags = _one_against_many()
    rng = np.random.default_rng(1)
    est = MiSVMPIClassifier(kernel="linear", solver=solver, tol=1e-5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y, bags=bags, X_priv=rng.normal(size=(len(y), 3)))
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert est.models_[0].info["rounds"] == 1 and any("constant" in n for n in notes)


def _small_c_signal(seed=0):
    """Balanced query bags (30 positive, 30 negative; 70 % of each positive bag's rows shifted by
    3), scaled by 1/30: ``w`` is far from 0, but at a small ``C`` every first-round score is
    within 1e-3 of the others."""
    X, y, bags = _one_against_many(seed, n_neg_bags=30, n_pos_bags=30, size=6, d=5, shift=3.0)
    return X / 30, y, bags


@pytest.mark.parametrize("make", [
    lambda s: MiSVMClassifier(kernel="linear", C=1e-4, solver=s),
    lambda s: MiSVMPIClassifier(kernel="linear", C=2e-4, solver=s)])
@pytest.mark.parametrize("solver", ["smo", "primal"])
def test_a_small_c_is_no_constant_round(make, solver, monkeypatch):
    # the first round's spread at the default tol is below tol (the old, absolute check stopped
    # there); the tighter solve keeps a spread above its own tolerance, so no round is called
    # constant and the scores keep the real order
    spreads = []
    check = toolkit.constant_scores

    def recording(f_pos, tol):
        spreads.append((float(np.ptp(f_pos)), tol))
        return check(f_pos, tol)

    monkeypatch.setattr(toolkit, "constant_scores", recording)
    X, y, bags = _small_c_signal()
    est = make(solver)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y, bags=bags, **({"X_priv": X[:, :2]} if isinstance(est, MiSVMPIClassifier)
                                    else {}))
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert spreads[0][0] <= est.tol  # the case the second solve is for
    assert spreads[1][1] == pytest.approx(est.tol / 100) and spreads[1][0] > spreads[1][1]
    assert not any("constant" in n for n in notes)
    f, pos = est.decision_function(X), y == 1
    shifted = pos & (X[:, 0] > 0.05)
    assert f[shifted].mean() > f[pos & ~shifted].mean()
