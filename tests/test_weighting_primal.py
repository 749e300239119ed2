"""KMM on explicit features (``solver="primal"``): the kernel QP's optimum without the kernel.

With a linear kernel ``K = X X'`` and ``kappa = (n_s/n_t) X sum_j x^t_j`` exactly, so
:func:`webly.weighting.kmm_weights_primal` solves the QP cvxpy solves: the objectives agree (the
weights need not: ``K`` has rank d, so the optimum is not unique) and the constraints hold. With
an RBF kernel a Nystroem map approximates the QP; its weights follow the kernel path's and so
does the weighted SVM.
"""

import warnings

import numpy as np
import pytest

from webly.baselines import KMMSVMClassifier, SVMClassifier
from webly.errors import DataError
from webly.weighting import kmm_weights, kmm_weights_primal


def _feasible(w, B, eps):
    n = len(w)
    assert w.min() >= 0 and w.max() <= B
    assert abs(w.sum() - n) <= n * eps + 1e-9 * n


#: source rows, target mean and spread, d, B, eps: the mean constraint inactive (Huang et al.'s
#: eps), active at its top (a target beyond the source: more mass), at its bottom (a target
#: below sources that are all positive: less mass), and an equality
CASES = {
    "inactive": ("normal", 0.5, 0.7, 5, 1000.0, None),
    "upper": ("uniform", 3.0, 0.1, 2, 5.0, 0.1),
    "lower": ("uniform", -0.5, 0.1, 2, 1000.0, 0.1),
    "equality": ("normal", 0.5, 0.7, 5, 5.0, 0.0),
}


def _case(case, n_s):
    """Source rows (n_s), 200 target rows, B and eps of one of CASES."""
    source, m_t, s_t, d, B, eps = CASES[case]
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(n_s, d)) if source == "normal" else rng.uniform(size=(n_s, d))
    return Xs, rng.normal(m_t, s_t, size=(200, d)), B, eps


@pytest.mark.parametrize("case", CASES)
def test_linear_explicit_solution_is_the_qp_optimum(case):
    Xs, Xt, B, eps = _case(case, 300)
    _, i0 = kmm_weights(Xs, Xt, kernel="linear", B=B, eps=eps, solver="CLARABEL")
    w1, i1 = kmm_weights(Xs, Xt, kernel="linear", B=B, eps=eps, solver="primal")
    assert i0["solver"] == "CLARABEL" and i1["solver"] == "primal"
    assert i1["status"] == "optimal" and i1["gap"] <= 1e-6
    assert i1["objective"] == pytest.approx(i0["objective"], rel=1e-4)
    assert i1["objective"] <= i0["objective"] + 1e-6 * abs(i0["objective"])  # certified
    assert i1["mmd2"] == pytest.approx(i0["mmd2"], rel=1e-4)
    e = (np.sqrt(300) - 1) / np.sqrt(300) if eps is None else eps
    _feasible(w1, B, e)
    # the objective is the QP's, computed from the kernel
    K, kappa = Xs @ Xs.T, (300 / 200) * Xs @ Xt.sum(axis=0)
    assert 0.5 * w1 @ K @ w1 - kappa @ w1 == pytest.approx(i1["objective"], rel=1e-9)
    if case in ("upper", "lower"):  # the constraint binds, and the multiplier says which side
        assert w1.sum() == pytest.approx(300 * (1 + e if case == "upper" else 1 - e))
        assert np.sign(i1["multiplier"]) == (1 if case == "upper" else -1)


def test_float32_features_reach_the_float64_optimum():
    rng = np.random.default_rng(1)
    F, G = rng.random((2000, 20)), rng.random((300, 20)) + 0.1
    _, i64 = kmm_weights_primal(F, G, B=10)
    w32, i32 = kmm_weights_primal(F.astype(np.float32), G.astype(np.float32), B=10)
    assert i64["status"] == i32["status"] == "optimal"
    assert i32["objective"] == pytest.approx(i64["objective"], rel=1e-6)
    assert i32["residual"] < 1e-3 * (0.5 * 2000**2 * G.mean(axis=0) @ G.mean(axis=0))
    _feasible(w32, 10, (np.sqrt(2000) - 1) / np.sqrt(2000))


def _shift(seed=0, n_s=1200, n_t=400, d=5):
    """Covariate shift: source N(0, I), target N(e_0, 0.36 I), one nonlinear labelling."""
    rng = np.random.default_rng(seed)
    label = lambda X: (X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.3 * X[:, 2] > 0.8).astype(int)
    Xs = rng.normal(0, 1, size=(n_s, d))
    Xt, X_test = (rng.normal(0, 0.6, size=(n, d)) + np.eye(d)[0] for n in (n_t, 2000))
    return Xs, label(Xs), Xt, X_test, label(X_test)


@pytest.mark.slow   # 16 s: the approximation's quality (the linear explicit path is exact above)
def test_rbf_weights_and_classifier_follow_the_kernel_path_with_1000_nystroem_features():
    Xs, ys, Xt, X_test, y_test = _shift()
    smo = KMMSVMClassifier(B=10).fit(Xs, ys, X_target=Xt)
    pri = KMMSVMClassifier(B=10, solver="primal", n_components=1000, random_state=0).fit(
        Xs, ys, X_target=Xt)
    assert smo.solver_ == "smo" and pri.solver_ == "primal"
    assert pri.feature_map_.kind == "nystroem" and pri.feature_map_.n_features_out_ == 1000
    assert pri.feature_map_.gamma_ == pytest.approx(smo.kernel_.gamma_)
    assert np.corrcoef(smo.sample_weights_, pri.sample_weights_)[0, 1] > 0.99  # 0.9994
    assert abs(pri.score(X_test, y_test) - smo.score(X_test, y_test)) <= 0.01  # .961 / .962
    assert not hasattr(pri, "estimators_") and not hasattr(pri, "kernel_")
    assert pri.coef_.shape == (1, 1000) and pri.noise_scores_.shape == (len(ys),)


def test_primal_svm_weights_rows_like_libsvm():
    # weighted rows and a linear kernel: the primal C-SVM with per-row C is libsvm's weighted
    # SVM, so the decisions agree; a row of weight 0 is left out (libsvm's C_i = 0)
    Xs, ys, _, X_test, _ = _shift(1, n_s=300)
    w = np.random.default_rng(0).random(len(ys)) * 2 + 0.01
    lib = SVMClassifier(kernel="linear", tol=1e-6).fit(Xs, ys, sample_weight=w)
    pri = KMMSVMClassifier(kernel="linear", tol=1e-6, solver="primal").fit(
        Xs, ys, sample_weight=w)
    assert (pri.sample_weights_ == 1).all()  # no target: KMM leaves every row at 1
    D0 = lib.decision_function(X_test)
    np.testing.assert_allclose(pri.decision_function(X_test), D0, atol=1e-3 * np.abs(D0).max())
    assert pri.n_iter_.shape == (1,)
    w[::7] = 0
    # (sklearn's precomputed-kernel SVC mishandles zero weights, so the reference drops them)
    keep = w > 0
    lib = SVMClassifier(kernel="linear", tol=1e-6).fit(Xs[keep], ys[keep],
                                                       sample_weight=w[keep])
    pri.fit(Xs, ys, sample_weight=w)
    D0 = lib.decision_function(X_test)
    np.testing.assert_allclose(pri.decision_function(X_test), D0, atol=1e-3 * np.abs(D0).max())
    assert pri.noise_scores_.shape == (len(ys),)


def test_auto_goes_primal_above_the_memory_limit_and_says_so(caplog):
    Xs, ys, Xt, _, _ = _shift(n_s=200, n_t=50)
    # below what even the kernel QP on the kernel alone (1.5 arrays) needs
    with caplog.at_level("WARNING", logger="webly"):
        w, info = kmm_weights(Xs, Xt, memory_limit="0.25M", n_components=50, random_state=0)
        est = KMMSVMClassifier(memory_limit="0.25M", n_components=50, random_state=0).fit(
            Xs, ys, X_target=Xt)
    lines = [r.getMessage() for r in caplog.records if "solver='primal'" in r.getMessage()]
    tail = ("the kernel solver on 200 rows would need about 480.0 kB (1.5 arrays of 200 x 200), "
            "more than the 250.0 kB available; solving on explicit features (nystroem, 50 "
            "components) instead (solver='primal')")
    assert lines == [f"kmm_weights: {tail}", f"KMMSVMClassifier: {tail}"]
    assert info["solver"] == "primal" and est.solver_ == "primal"
    w1, _ = kmm_weights(Xs, Xt, solver="primal", n_components=50, random_state=0)
    np.testing.assert_array_equal(w, w1)
    np.testing.assert_array_equal(est.sample_weights_, w1)  # the same map, the same weights
    # a cvxpy solver named explicitly is refused above the limit
    with pytest.raises(DataError, match=r"^solver: 'CLARABEL' \(a kernel solver\) on 200 rows"):
        kmm_weights(Xs, Xt, solver="CLARABEL", memory_limit="1M")
    # below the limit (and by default) auto is the kernel path: the QP on the kernel alone
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w_auto, i_auto = kmm_weights(Xs, Xt)
    w_k, i_k = kmm_weights(Xs, Xt, solver="kernel")
    assert i_auto["solver"] == "kernel"
    np.testing.assert_array_equal(w_auto, w_k)
    auto = KMMSVMClassifier().fit(Xs, ys, X_target=Xt)
    assert auto.solver_ == "smo" and not hasattr(auto, "feature_map_")
    np.testing.assert_array_equal(auto.sample_weights_, w_k)
    # where cvxpy's QP (18 arrays) would not fit, the kernel path still takes the fit (1.5)
    w, info = kmm_weights(Xs, Xt, memory_limit="1M")
    est = KMMSVMClassifier(memory_limit="1M").fit(Xs, ys, X_target=Xt)
    assert info["solver"] == "kernel" and est.solver_ == "smo"
    np.testing.assert_array_equal(w, w_k)
    np.testing.assert_array_equal(est.sample_weights_, w_k)
    # the same QP as cvxpy's
    _, i_qp = kmm_weights(Xs, Xt, solver="CLARABEL")
    assert i_k["status"] == "optimal" and i_k["gap"] <= 1e-6
    assert i_k["objective"] == pytest.approx(i_qp["objective"], rel=1e-6)
    with pytest.raises(DataError, match=r"^solver: 'kernel' \(a kernel solver\) on 200 rows"):
        kmm_weights(Xs, Xt, solver="kernel", memory_limit="0.25M")


@pytest.mark.parametrize("case", CASES)
def test_kernel_solver_reaches_the_qp_optimum_in_one_kernel_sized_array(case):
    # solver="kernel": the primal path's method on K beta (the cvxpy QP holds ~14-18 arrays)
    import tracemalloc

    Xs, Xt, B, eps = _case(case, 600)
    _, i0 = kmm_weights(Xs, Xt, B=B, eps=eps, solver="CLARABEL")
    tracemalloc.start()
    w1, i1 = kmm_weights(Xs, Xt, B=B, eps=eps, solver="kernel")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert i0["solver"] == "CLARABEL" and i1["solver"] == "kernel"
    assert i1["status"] == "optimal" and i1["gap"] <= 1e-6
    assert i1["objective"] == pytest.approx(i0["objective"], rel=1e-5)
    assert i1["objective"] <= i0["objective"] + 1e-6 * abs(i0["objective"])  # certified
    e = (np.sqrt(600) - 1) / np.sqrt(600) if eps is None else eps
    _feasible(w1, B, e)
    assert peak <= 1.5 * 8 * 600 ** 2, peak / (8 * 600 ** 2)


def test_switching_paths_drops_the_other_paths_state():
    Xs, ys, Xt, X_test, _ = _shift(n_s=200, n_t=50)
    est = KMMSVMClassifier(solver="primal", n_components=50, random_state=0).fit(
        Xs, ys, X_target=Xt)
    est.set_params(solver="smo").fit(Xs, ys, X_target=Xt)
    assert not hasattr(est, "feature_map_") and not hasattr(est, "coef_")
    assert est.decision_function(X_test).shape == (len(X_test),)
    est.set_params(solver="primal").fit(Xs, ys)
    assert not hasattr(est, "estimators_") and not hasattr(est, "kernel_")


def test_infeasible_box_is_refused():
    F = np.random.default_rng(0).random((100, 3))
    with pytest.raises(DataError, match="^B: 0.5 is below 1 - eps = 0.9"):
        kmm_weights_primal(F, F, B=0.5, eps=0.1)
