"""MI-SVM on explicit features (``solver="primal"``): the kernel path's rounds, no kernel.

With a linear kernel each round of ``solver="primal"`` solves the C-SVM ``solver="smo"`` solves
(the negative rows plus one unit per positive bag: its mean row first, then its witness), so the
per-round objectives agree to the solvers' tolerances and the witnesses, and with them the whole
alternation, coincide. A Nystroem map on every training row is the RBF kernel itself (up to
rounding), so it must reproduce the RBF kernel path too.
"""

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from webly.io import read_mil_csv
from webly.mil import MISVMClassifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def musk():
    ds = read_mil_csv(os.path.join(ROOT, "datasets", "mil_classic", "musk1.csv.gz"))
    return ds


def _standardized(ds):
    # Musk1's raw features run from -348 to 336: libsvm's linear SVM on them is slow to tol 1e-6
    return (ds.X - ds.X.mean(axis=0)) / ds.X.std(axis=0)


def _toy(seed=0, n_bags=30, size=5, d=6, keep=0.7):
    """Bags of a query (every third bag positive), 30% of the positive bags' rows wrong."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < keep, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    return X, y, bags


def _same_rounds(smo, pri, X, bags, rel=1e-4):
    m0, m1 = smo.models_[0], pri.models_[0]
    o0, o1 = np.array(m0.info["objectives"]), np.array(m1.info["objectives"])
    assert m1.info["rounds"] == m0.n_iter == len(o0) == len(o1) >= 2
    np.testing.assert_allclose(o1, o0, rtol=rel)  # every round, the bag-mean start included
    np.testing.assert_array_equal(m1.instance_labels, m0.instance_labels)  # the witnesses
    assert not m1.info["not_converged"]
    np.testing.assert_array_equal(pri.predict(X), smo.predict(X))
    np.testing.assert_array_equal(pri.predict_bags(X, bags)[1], smo.predict_bags(X, bags)[1])
    D0 = smo.decision_function(X)
    np.testing.assert_allclose(pri.decision_function(X), D0, atol=1e-3 * (1 + np.abs(D0).max()))


@pytest.mark.parametrize("C", [0.1, 1.0])
def test_linear_primal_rounds_are_the_kernel_rounds_on_musk1(musk, C):
    X = _standardized(musk)
    smo = MISVMClassifier(kernel="linear", C=C, tol=1e-6).fit(X, musk.y, bags=musk.bags)
    pri = MISVMClassifier(kernel="linear", C=C, tol=1e-6, solver="primal").fit(
        X, musk.y, bags=musk.bags)
    assert smo.solver_ == "smo" and pri.solver_ == "primal"
    _same_rounds(smo, pri, X, musk.bags)
    # the weights are the kernel path's expansion over the training rows, w = X' coef
    w = X.T @ smo.models_[0].coef
    np.testing.assert_allclose(pri.models_[0].coef, w, atol=1e-3 * np.abs(w).max())
    assert pri.feature_map_.kind == "linear"
    assert not hasattr(pri, "kernel_") and not hasattr(pri, "X_fit_")


@pytest.mark.parametrize("seed", [0, 3])
def test_linear_primal_rounds_are_the_kernel_rounds_on_toy_bags(seed):
    X, y, bags = _toy(seed)
    smo = MISVMClassifier(kernel="linear", tol=1e-6).fit(X, y, bags=bags)
    pri = MISVMClassifier(kernel="linear", tol=1e-6, solver="primal").fit(X, y, bags=bags)
    _same_rounds(smo, pri, X, bags)


def test_nystroem_on_every_training_row_is_the_rbf_kernel_path(musk):
    tr, _ = musk.split_by_bag(0.3, random_state=0)
    X, y, bags = musk.X[tr], musk.y[tr], musk.bags[tr]
    smo = MISVMClassifier(C=10, tol=1e-6).fit(X, y, bags=bags)
    pri = MISVMClassifier(C=10, tol=1e-6, solver="primal", n_components=len(y),
                          random_state=0).fit(X, y, bags=bags)
    assert pri.feature_map_.kind == "nystroem"
    assert pri.feature_map_.gamma_ == pytest.approx(smo.kernel_.gamma_)
    _same_rounds(smo, pri, X, bags)


def test_primal_rounds_are_warm_started_from_the_previous_round(monkeypatch):
    import webly.solvers.primal as primal_mod

    calls = []
    solve = primal_mod.svmplus_primal

    def recording(*args, start=None, **kwargs):
        out = solve(*args, start=start, **kwargs)
        calls.append((args[0].shape, start, out[-1]))
        return out

    monkeypatch.setattr(primal_mod, "svmplus_primal", recording)
    X, y, bags = _toy()
    model = MISVMClassifier(kernel="linear", solver="primal").fit(X, y, bags=bags).models_[0]
    assert model.info["rounds"] == len(calls) >= 2
    # units: the 100 negative rows and one row per positive bag (10 bags)
    assert {shape for shape, _, _ in calls} == {(110, X.shape[1])}
    assert calls[0][1] is None
    for (_, start, _), (_, _, previous) in zip(calls[1:], calls[:-1]):
        assert start is previous
    assert model.n_iter == sum(info["n_iter"] for _, _, info in calls)
    assert model.info["objective"] == -calls[-1][2]["objective"]


def test_witnesses_are_one_best_scoring_row_per_positive_bag():
    X, y, bags = _toy(1)
    est = MISVMClassifier(kernel="rbf", solver="primal", n_components=50, random_state=0).fit(
        X, y, bags=bags)
    labels, f = est.models_[0].instance_labels, est.decision_function(X)
    assert (labels[y == 0] == -1).all()
    for b in np.unique(bags[y == 1]):
        rows = np.flatnonzero(bags == b)
        assert (labels[rows] == 1).sum() == 1
    # the last round's witnesses are the best rows of the last model (a settled alternation)
    for b in np.unique(bags[y == 1]):
        rows = np.flatnonzero(bags == b)
        assert labels[rows[np.argmax(f[rows])]] == 1


def test_running_out_of_rounds_warns_and_float32_stays_float32():
    X, y, bags = _toy()
    with pytest.warns(ConvergenceWarning, match="did not settle in 1 rounds"):
        est = MISVMClassifier(kernel="linear", solver="primal", max_rounds=1).fit(
            X.astype(np.float32), y, bags=bags)
    assert est.n_iter_.shape == (1,) and est.models_[0].info["rounds"] == 1
    assert est.decision_function(X.astype(np.float32)).dtype == np.float64


def test_auto_goes_primal_above_the_memory_limit_and_says_so(caplog):
    X, y, bags = _toy()
    with caplog.at_level("WARNING", logger="webly"):
        est = MISVMClassifier(memory_limit="100K", n_components=40, random_state=0).fit(
            X, y, bags=bags)
    assert est.solver_ == "primal" and hasattr(est, "feature_map_")
    [line] = [r.getMessage() for r in caplog.records if "solver='primal'" in r.getMessage()]
    assert line.startswith("MISVMClassifier: the kernel solver on 150 rows would need about "
                           "324.0 kB (1.8 arrays of 150 x 150), more than the 100.0 kB "
                           "available; "
                           "solving on explicit features (nystroem, 40 components)")
    primal = MISVMClassifier(solver="primal", n_components=40, random_state=0).fit(
        X, y, bags=bags)
    np.testing.assert_array_equal(est.decision_function(X), primal.decision_function(X))
    # below the limit (and by default) auto is the kernel path, with the kernel path's numbers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = MISVMClassifier(kernel="linear").fit(X, y, bags=bags)
    smo = MISVMClassifier(kernel="linear", solver="smo").fit(X, y, bags=bags)
    assert auto.solver_ == "smo" and not hasattr(auto, "feature_map_")
    np.testing.assert_array_equal(auto.decision_function(X), smo.decision_function(X))
