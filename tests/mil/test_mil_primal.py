"""The explicit-feature (primal) path of the MIL estimators: the kernel path's optimum, no kernel.

With a linear kernel (and a linear privileged kernel) ``solver="primal"`` solves exactly the
problem ``solver="smo"`` solves, in the primal (:func:`webly.solvers.primal.svmplus_primal`), so
objectives agree to the solvers' tolerances and decisions and predictions coincide. For mi-SVM and
mi-SVM-PI the whole alternation is compared (rounds, final labels, final objective) on a toy where
every round's solution is unique; where the first round is degenerate (``w = 0`` and a free
bias: constant scores, whose relabelling then only reads rounding noise) the two paths may
legitimately part, so the round problem itself is also compared at fixed labels.
"""

import warnings

import numpy as np
import pytest

from webly.kernels import linear_kernel
from webly.mil import (MiSVMClassifier, MiSVMPIClassifier, MiSVMPIDAClassifier, SbMILClassifier,
                       SMILClassifier, SMILPIClassifier, SMILPIDAClassifier)
from webly.mil._common import MILContext
from webly.mil._toolkit import positive_bag_groups
from webly.solvers import qp_objective, smo_solve
from webly.solvers.primal import svmplus_primal

def _crawl(seed=0, n_bags=30, size=5, d=6, d_priv=3, keep=0.7):
    """Bags of a query (every third bag positive); 30% of the positive bags' rows are wrong,
    and the privileged 'text' says which."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < keep, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    T = rng.normal(size=(len(y), d_priv))
    T[:, 0] += 2 * truth
    return X, y, bags, T


def _agree(kernel_est, primal_est, X, bags, atol=1e-3):
    D0, D1 = kernel_est.decision_function(X), primal_est.decision_function(X)
    np.testing.assert_allclose(D1, D0, atol=atol * (1 + np.abs(D0).max()))
    np.testing.assert_array_equal(primal_est.predict(X), kernel_est.predict(X))
    np.testing.assert_array_equal(primal_est.predict_bags(X, bags)[1],
                                  kernel_est.predict_bags(X, bags)[1])


@pytest.mark.parametrize("cls, params, with_priv", [
    (SMILClassifier, {"C": 10.0}, False),
    (SMILPIClassifier, {}, True),
    (SMILPIClassifier, {"C": 10.0, "gamma_plus": 1.0, "C_neg": 2.0}, True),
    (SMILPIClassifier, {}, False),
])
def test_bag_mean_methods_reach_the_kernel_optimum_with_a_linear_kernel(cls, params, with_priv):
    X, y, bags, T = _crawl()
    priv = {"X_priv": T} if with_priv else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no X_priv: the DataWarning of a -PI fit without it
        smo = cls(kernel="linear", tol=1e-6, **params).fit(X, y, bags=bags, **priv)
        pri = cls(kernel="linear", tol=1e-6, solver="primal", **params).fit(X, y, bags=bags,
                                                                             **priv)
    o0, o1 = smo.models_[0].info["objective"], pri.models_[0].info["objective"]
    assert o0 < -1e-3  # a non-trivial problem; both report minus the primal value
    assert o1 == pytest.approx(o0, rel=1e-4)
    assert pri.models_[0].info["status"] == "converged"
    _agree(smo, pri, X, bags)
    # the weights are the kernel path's dual expansion w = sum_i coef_i x_i
    np.testing.assert_allclose(pri.models_[0].coef, X.T @ smo.models_[0].coef,
                               atol=1e-3 * np.abs(pri.models_[0].coef).max())
    assert not hasattr(pri, "kernel_") and not hasattr(pri, "X_fit_")


def test_sbmil_primal_picks_the_same_instances_and_second_stage():
    X, y, bags, _ = _crawl(1)
    smo = SbMILClassifier(kernel="linear", tol=1e-6).fit(X, y, bags=bags)
    pri = SbMILClassifier(kernel="linear", tol=1e-6, solver="primal").fit(X, y, bags=bags)
    np.testing.assert_array_equal(pri.models_[0].instance_labels, smo.models_[0].instance_labels)
    _agree(smo, pri, X, bags)


@pytest.mark.parametrize("cls, params, with_priv", [
    (MiSVMClassifier, {"C": 1.0}, False),
    (MiSVMClassifier, {"C": 1.0, "rho": 0.6, "relabel": "authors"}, False),
    (MiSVMPIClassifier, {}, True),                                  # 5 rounds
    (MiSVMPIClassifier, {"C": 1.0, "C_neg": 1.0, "gamma_plus": 0.1}, True),
    (MiSVMPIClassifier, {"C": 1.0}, False),
])
def test_relabelling_alternation_ends_where_the_kernel_path_ends(cls, params, with_priv):
    X, y, bags, T = _crawl()
    priv = {"X_priv": T} if with_priv else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smo = cls(kernel="linear", tol=1e-6, **params).fit(X, y, bags=bags, **priv)
        pri = cls(kernel="linear", tol=1e-6, solver="primal", **params).fit(X, y, bags=bags,
                                                                             **priv)
    m0, m1 = smo.models_[0], pri.models_[0]
    assert m1.info["rounds"] > 1  # the labels did change at least once
    if cls is MiSVMPIClassifier:
        assert m1.info["rounds"] == m0.info["rounds"]
        assert m1.info["objective"] == pytest.approx(m0.info["objective"], rel=1e-4)
    else:  # libsvm's mi-SVM records the primal value of every round
        assert m1.info["objectives"] == pytest.approx(m0.info["objectives"], rel=1e-4)
    np.testing.assert_array_equal(m1.instance_labels, m0.instance_labels)
    _agree(smo, pri, X, bags)


def test_mi_svm_pi_round_problem_is_the_kernel_round_qp_at_fixed_labels():
    # balanced bags: here the alternation starts from a degenerate solve (w = 0, any bias in
    # [-1, 1]), so the paths are compared one fixed labelling at a time
    X, y, bags, T = _crawl(n_bags=20)
    y = (bags % 2 == 0).astype(int)
    y_pm = np.where(y == 1, 1, -1)
    in_pos = y_pm == 1
    labels = y_pm.copy()
    rng = np.random.default_rng(3)
    labels[np.flatnonzero(in_pos)[rng.random(in_pos.sum()) < 0.3]] = -1  # one relabelling
    est = MiSVMPIClassifier(C=1.0, C_neg=0.5, gamma_plus=2.0, kernel="linear")
    K_priv = linear_kernel(T[in_pos])
    qp = est._qp(MILContext(linear_kernel(X), bags), labels, in_pos, K_priv)
    x, info = smo_solve(qp, tol=1e-8)
    w, b, _, _, pinfo = svmplus_primal(X, labels, T[in_pos], C=np.where(in_pos, 1.0, 0.5),
                                       gamma_plus=2.0, priv_rows=in_pos, tol=1e-7)
    assert info["objective"] < -1e-2
    assert -pinfo["objective"] == pytest.approx(info["objective"], rel=1e-6)
    assert qp_objective(qp, np.r_[pinfo["dual"], pinfo["dual_priv"]]) == pytest.approx(
        info["objective"], rel=1e-5)
    f = X @ (X.T @ (x[:len(y)] * labels)) + info["multipliers"][0]
    np.testing.assert_allclose(X @ w + b, f, atol=1e-4)


@pytest.mark.parametrize("with_priv", [True, False])
def test_primal_rounds_are_warm_started_from_the_previous_round(with_priv, monkeypatch):
    import webly.solvers.primal as primal_mod

    calls = []
    solve = primal_mod.svmplus_primal

    def recording(*args, start=None, **kwargs):
        out = solve(*args, start=start, **kwargs)
        calls.append((start, out[-1]))
        return out

    monkeypatch.setattr(primal_mod, "svmplus_primal", recording)
    X, y, bags, T = _crawl()
    cls = MiSVMPIClassifier if with_priv else MiSVMClassifier
    model = cls(kernel="linear", solver="primal").fit(
        X, y, bags=bags, **({"X_priv": T} if with_priv else {})).models_[0]
    assert model.info["rounds"] == len(calls) >= 2
    assert calls[0][0] is None
    for (start, _), (_, previous) in zip(calls[1:], calls[:-1]):
        assert start is previous  # each round starts from the last round's solve
    assert model.n_iter == sum(info["n_iter"] for _, info in calls)


def test_nystroem_features_fit_and_predict_like_the_rbf_kernel(web_digits):
    ds = web_digits
    kw = dict(C=100.0, gamma_plus=100.0)
    smo = SMILPIClassifier(**kw).fit(ds.X, ds.y, bags=ds.bags, X_priv=ds.X_priv)
    pri = SMILPIClassifier(solver="primal", features="nystroem", n_components=200,
                           random_state=0, **kw).fit(ds.X, ds.y, bags=ds.bags, X_priv=ds.X_priv)
    assert pri.feature_map_.kind == "nystroem"
    assert pri.feature_map_.gamma_ == pytest.approx(smo.kernel_.gamma_)
    D = pri.decision_function(ds.X_test)
    assert D.shape == (len(ds.X_test), len(pri.classes_))
    acc_pri = np.mean(pri.predict(ds.X_test) == ds.y_test)
    acc_smo = np.mean(smo.predict(ds.X_test) == ds.y_test)
    assert acc_pri > 0.8 and acc_pri > acc_smo - 0.05
    # rerun: identical numbers; another seed: other landmarks
    again = SMILPIClassifier(solver="primal", n_components=200, random_state=0, **kw).fit(
        ds.X, ds.y, bags=ds.bags, X_priv=ds.X_priv)
    np.testing.assert_array_equal(again.decision_function(ds.X_test), D)


def test_float32_rows_stay_float32_and_switching_back_to_smo_drops_the_features():
    X, y, bags, T = _crawl()
    est = SMILPIClassifier(kernel="linear", solver="primal").fit(X.astype(np.float32), y,
                                                                 bags=bags, X_priv=T)
    assert est.decision_function(X.astype(np.float32)).dtype == np.float64
    est.set_params(solver="smo").fit(X, y, bags=bags, X_priv=T)
    assert not hasattr(est, "feature_map_")
    assert est.decision_function(X).shape == (len(y),)


@pytest.mark.parametrize("cls", [SMILPIDAClassifier, MiSVMPIDAClassifier])
def test_domain_adaptation_runs_on_the_primal_path(cls):
    # the -DA term on the primal path is checked against the kernel path in test_da_primal.py
    X, y, bags, T = _crawl()
    da = cls(kernel="linear", solver="primal").fit(X, y, bags=bags, X_priv=T, X_target=X[:10])
    assert da.solver_ == "primal" and hasattr(da, "feature_map_")
    # without X_target a -DA estimator is its -PI method, which has the primal path
    da = cls(kernel="linear", solver="primal").fit(X, y, bags=bags, X_priv=T)
    assert hasattr(da, "feature_map_")


def test_positive_bag_groups_are_unchanged_by_the_solver():
    # the primal rounds relabel with the toolkit's rules: at least ceil(rho |B|) per bag
    X, y, bags, T = _crawl()
    model = MiSVMPIClassifier(kernel="linear", solver="primal").fit(
        X, y, bags=bags, X_priv=T).models_[0]
    y_pm = np.where(y == 1, 1, -1)
    for rows in positive_bag_groups(y_pm, bags):
        assert (model.instance_labels[rows] == 1).sum() >= np.ceil(0.6 * len(rows))
    assert (model.instance_labels[y_pm == -1] == -1).all()
