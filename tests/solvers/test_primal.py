"""The primal (large-data) path of SVM+ / L2-SVM+: same optimum as the exact solvers.

With linear kernels on both views, ``solver="primal"`` solves exactly the problem that the SMO
dual solves, so objective values and decision values must agree (strong duality), and both
must agree with a cvxpy/Clarabel solve of the primal written out literally.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.svm import SVC

import webly.solvers.primal as primal_mod
from webly.errors import DataError
from webly.kernels import Kernel, linear_kernel
from webly.solvers.primal import FeatureMap, l2svmplus_primal, primal_objective, svmplus_primal
from webly.solvers import smo_solve, svm_qp, svmplus_qp
from webly.solvers.l2svmplus import l2svmplus_privileged_term, solve_l2svmplus
from webly.svmplus import L2SVMPlusClassifier, SVMPlusClassifier

# (C, gamma_plus) pairs; all give a non-trivial SVM+ solution (w != 0) on _web_rows
SETTINGS = [(1.0, 1.0), (0.1, 0.01), (10.0, 100.0)]


def _web_rows(n=150, d=8, dp=6, seed=0):
    """Two Gaussian classes, 30% of the negatives carry the positive web label; the privileged
    'tags' give the true class and, for most correct rows, that the text matches the query."""
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, d))
    X[:, :3] += 2.0 * y_true[:, None]
    y = y_true.copy()
    y[(y_true == -1) & (rng.random(n) < 0.3)] = 1
    T = np.zeros((n, dp))
    T[:, 0] = y_true == 1
    T[:, 1] = y_true == -1
    T[:, 2] = (y == y_true) & (rng.random(n) < 0.8)
    T += 0.1 * np.abs(rng.normal(size=(n, dp)))
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y, T, y_true


def _smo_linear(X, y, T, C, gamma_plus):
    n = len(y)
    if T is None:
        x, info = smo_solve(svm_qp(linear_kernel(X), y, C=C), tol=1e-7)
    else:
        x, info = smo_solve(svmplus_qp(linear_kernel(X), y, linear_kernel(T), C=C,
                                       gamma_plus=gamma_plus), tol=1e-7)
    a = x[:n]
    f = X @ (X.T @ (a * y)) + info["multipliers"][0]
    return f, info


@pytest.mark.parametrize("C, gamma_plus", SETTINGS)
def test_svmplus_primal_matches_the_smo_dual_with_linear_kernels(C, gamma_plus):
    X, y, T, _ = _web_rows()
    n = len(y)
    f_smo, info_smo = _smo_linear(X, y, T, C, gamma_plus)
    w, b, u, c, info = svmplus_primal(X, y, T, C=C, gamma_plus=gamma_plus, tol=1e-5)
    assert info["status"] == "converged"
    p_star = -info_smo["objective"]  # smo reports minus the dual; strong duality
    assert p_star < 0.99 * n * C  # non-trivial problem: w = 0, s = 1 costs n C
    assert abs(info["objective"] - p_star) <= 1e-5 * p_star
    # decision values (margin units) and correcting function
    np.testing.assert_allclose(X @ w + b, f_smo, atol=2e-3)
    np.testing.assert_allclose(info["correcting_values"], T @ u + c, atol=1e-10)
    np.testing.assert_allclose(info["correcting_values"], info_smo["correcting_values"][0],
                               atol=2e-3)
    # feasibility of the returned point and the primal value recomputed from it
    val, viol = primal_objective(X, y, w, b, T, u, c, C=C, gamma_plus=gamma_plus)
    assert viol <= 1e-5
    assert val == pytest.approx(info["objective"], rel=1e-12)
    # the multipliers are the SVM+ dual variables: w = sum a_i y_i x_i, sum a y = 0,
    # u = (1/gamma) sum (a + b - C) x~_i, sum (a + b - C) = 0
    a, beta = info["dual"], info["dual_priv"]
    assert a.min() >= 0 and beta.min() >= 0
    scale = np.abs(a).sum()
    np.testing.assert_allclose(X.T @ (a * y), w, atol=1e-6 * scale)
    np.testing.assert_allclose(T.T @ (a + beta - C) / gamma_plus, u, atol=1e-6 * scale)
    assert abs(a @ y) <= 1e-6 * scale and abs((a + beta - C).sum()) <= 1e-6 * scale


def test_svmplus_primal_matches_a_literal_cvxpy_primal():
    cp = pytest.importorskip("cvxpy")
    X, y, T, _ = _web_rows(n=120, seed=1)
    C, g = 1.0, 0.1
    w = cp.Variable(X.shape[1])
    b = cp.Variable()
    u = cp.Variable(T.shape[1])
    c = cp.Variable()
    s = T @ u + c
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w) + 0.5 * g * cp.sum_squares(u)
                                  + C * cp.sum(s)),
                      [cp.multiply(y, X @ w + b) >= 1 - s, s >= 0])
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal"
    w1, b1, u1, c1, info = svmplus_primal(X, y, T, C=C, gamma_plus=g, tol=1e-6)
    assert info["objective"] == pytest.approx(prob.value, rel=1e-6)
    np.testing.assert_allclose(X @ w1 + b1, X @ w.value + b.value, atol=1e-3)
    np.testing.assert_allclose(T @ u1 + c1, s.value, atol=1e-3)


def test_without_privileged_features_the_primal_is_the_linear_c_svm():
    X, y, _, _ = _web_rows(seed=2)
    w, b, u, c, info = svmplus_primal(X, y, None, C=0.5, tol=1e-6)
    assert u is None and np.isnan(c)
    ref = SVC(kernel="linear", C=0.5, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(X @ w + b, ref.decision_function(X), atol=1e-4)
    f_smo, info_smo = _smo_linear(X, y, None, 0.5, None)
    assert info["objective"] == pytest.approx(-info_smo["objective"], rel=1e-6)
    # dual box of the C-SVM
    assert info["dual"].min() >= 0 and info["dual"].max() <= 0.5


@pytest.mark.parametrize("with_priv", [True, False])
@pytest.mark.parametrize("C, gamma_plus", SETTINGS)
def test_l2_svmplus_primal_matches_the_closed_form_dual(C, gamma_plus, with_priv):
    X, y, T, _ = _web_rows(seed=3)
    n = len(y)
    T = T if with_priv else None
    P = l2svmplus_privileged_term(n, C, gamma_plus, F_priv=T)
    K = linear_kernel(X)
    a, ref = solve_l2svmplus(K, y, P, solver="smo", tol=1e-9)
    f_ref = (K + 1.0) @ (a * y)
    w, b, u, c, info = l2svmplus_primal(X, y, T, C=C, gamma_plus=gamma_plus, tol=1e-6)
    assert info["status"] == "converged"
    # primal value = -(1/2) a'Qa; the margin m = a'Qa; b = sum a y
    assert -info["objective"] == pytest.approx(ref["objective"], rel=1e-5)
    assert info["margin"] == pytest.approx(ref["rho"], rel=1e-5)
    m = ref["rho"]
    np.testing.assert_allclose(X @ w + b, f_ref, atol=1e-3 * m)
    np.testing.assert_allclose(info["correcting_values"], ref["correcting_values"], atol=1e-3 * m)
    assert info["dual"].sum() == pytest.approx(1.0, rel=1e-4)


def test_newton_cg_path_for_many_parameters_gives_the_same_solution(monkeypatch):
    X, y, T, _ = _web_rows(seed=4)
    w0, b0, _, _, i0 = svmplus_primal(X, y, T, C=1.0, gamma_plus=1.0, tol=1e-6)
    monkeypatch.setattr(primal_mod, "_DIRECT_MAX", 4)  # force conjugate gradients
    w1, b1, _, _, i1 = svmplus_primal(X, y, T, C=1.0, gamma_plus=1.0, tol=1e-6)
    assert "hessian_rows" in i0 and "hessian_rows" not in i1
    assert i1["objective"] == pytest.approx(i0["objective"], rel=1e-6)
    np.testing.assert_allclose(X @ w1 + b1, X @ w0 + b0, atol=1e-3)
    w2, b2, _, _, _ = svmplus_primal(X, y, None, C=1.0, tol=1e-6)
    ref = SVC(kernel="linear", C=1.0, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(X @ w2 + b2, ref.decision_function(X), atol=1e-3)


def test_sparse_and_float32_rows_give_the_same_solution():
    X, y, T, _ = _web_rows(seed=5)
    w, b, u, c, _ = svmplus_primal(X, y, T, C=1.0, gamma_plus=1.0, tol=1e-6)
    ws, bs, us, cs, _ = svmplus_primal(sp.csr_matrix(X), y, sp.csr_matrix(T), C=1.0,
                                       gamma_plus=1.0, tol=1e-6)
    np.testing.assert_allclose(X @ ws + bs, X @ w + b, atol=1e-4)
    w32, b32, _, _, info = svmplus_primal(X.astype(np.float32), y, T.astype(np.float32), C=1.0,
                                          gamma_plus=1.0, tol=1e-4)
    assert info["status"] == "converged"
    np.testing.assert_allclose(X @ w32 + b32, X @ w + b, atol=2e-3)


def test_non_convergence_is_a_status_and_bad_input_is_named():
    import warnings

    X, y, T, _ = _web_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the solver reports; SVMPlusClassifier warns
        *_, info = svmplus_primal(X, y, T, max_iter=2)
    assert info["status"] == "max_iter"
    with pytest.raises(DataError, match="F_priv"):
        svmplus_primal(X, y, T[:10])
    with pytest.raises(DataError, match="y"):
        svmplus_primal(X, np.zeros(len(y)), T)
    with pytest.raises(DataError, match="gamma_plus"):
        l2svmplus_primal(X, y, T, gamma_plus=0.0)


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [SVMPlusClassifier, L2SVMPlusClassifier])
def test_estimator_primal_with_linear_kernels_equals_smo(cls):
    X, y, T, _ = _web_rows(seed=6)
    kw = dict(C=1.0, gamma_plus=1.0, kernel="linear", kernel_priv="linear")
    smo = cls(tol=1e-7, **kw).fit(X, y, X_priv=T)
    pri = cls(solver="primal", tol=1e-6, **kw).fit(X, y, X_priv=T)
    scale = 1.0 if cls is SVMPlusClassifier else smo.rho_[0]
    np.testing.assert_allclose(pri.decision_function(X), smo.decision_function(X),
                               atol=2e-3 * scale)
    np.testing.assert_allclose(pri.objective_, smo.objective_, rtol=1e-5)
    np.testing.assert_allclose(pri.correcting_function_, smo.correcting_function_,
                               atol=2e-3 * scale)
    assert pri.coef_.shape == (1, X.shape[1]) and pri.coef_priv_.shape == (1, T.shape[1])
    assert not hasattr(pri, "support_") and not hasattr(smo, "coef_")
    if cls is SVMPlusClassifier:
        np.testing.assert_allclose(pri.intercept_priv_, smo.intercept_priv_, atol=2e-3)
    else:
        np.testing.assert_allclose(pri.rho_, smo.rho_, rtol=1e-5)


def test_full_rank_nystroem_reproduces_the_exact_rbf_model():
    """With as many Nystroem landmarks as rows, z(x)'z(x') = k(x, x') on the training rows: the
    primal path then solves the same RBF SVM+ as the kernel path (both views RBF)."""
    X, y, T, _ = _web_rows(n=100, seed=7)
    kw = dict(C=1.0, gamma_plus=1.0, kernel="rbf", kernel_priv="rbf")
    smo = SVMPlusClassifier(tol=1e-7, **kw).fit(X, y, X_priv=T)
    pri = SVMPlusClassifier(solver="primal", n_components=100, tol=1e-6, random_state=0,
                            **kw).fit(X, y, X_priv=T)
    np.testing.assert_allclose(pri.feature_map_.gamma_, smo.kernel_.gamma_)
    np.testing.assert_allclose(pri.objective_, smo.objective_, rtol=1e-4)
    np.testing.assert_allclose(pri.decision_function(X), smo.decision_function(X), atol=5e-3)


def test_without_privileged_features_the_estimator_is_a_linear_svm():
    X, y, T, _ = _web_rows(seed=8)
    labels = np.where(y == 1, "web+", "web-")
    est = SVMPlusClassifier(solver="primal", kernel="linear", C=0.5, tol=1e-6).fit(X, labels)
    ref = SVC(kernel="linear", C=0.5, tol=1e-8).fit(X, labels)
    np.testing.assert_allclose(est.decision_function(X), ref.decision_function(X), atol=1e-4)
    assert (est.predict(X) == ref.predict(X)).all()
    assert est.feature_map_priv_ is None and est.coef_priv_ is None
    assert np.isnan(est.intercept_priv_).all()


def test_multiclass_one_vs_rest_and_determinism():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    y = np.repeat([0, 1, 2], 40)
    X = centers[y] + rng.normal(size=(120, 2))
    X_priv = np.eye(3)[y] + 0.1 * rng.normal(size=(120, 3))
    for cls in (SVMPlusClassifier, L2SVMPlusClassifier):
        est = cls(solver="primal", features="rbf_sampler", n_components=100, random_state=3,
                  n_jobs=2).fit(X, y, X_priv=X_priv)
        assert est.decision_function(X).shape == (120, 3)
        assert est.coef_.shape == (3, 100) and est.correcting_function_.shape == (120, 3)
        assert (est.predict(X) == y).mean() > 0.9
        again = cls(solver="primal", features="rbf_sampler", n_components=100,
                    random_state=3).fit(X, y, X_priv=X_priv)
        np.testing.assert_array_equal(again.decision_function(X), est.decision_function(X))
        other = cls(solver="primal", features="rbf_sampler", n_components=100,
                    random_state=4).fit(X, y, X_priv=X_priv)
        assert not np.array_equal(other.coef_, est.coef_)


def test_refit_switches_between_paths_and_precomputed_is_refused():
    X, y, T, _ = _web_rows(seed=9)
    est = SVMPlusClassifier(kernel="linear", solver="primal").fit(X, y, X_priv=T)
    est.set_params(solver="smo").fit(X, y, X_priv=T)
    assert not hasattr(est, "feature_map_") and hasattr(est, "support_")
    est.set_params(solver="primal").fit(X, y, X_priv=T)
    assert est.feature_map_ is not None and not hasattr(est, "support_")
    with pytest.raises(DataError, match="kernel"):
        SVMPlusClassifier(kernel="precomputed", solver="primal").fit(linear_kernel(X), y)
    with pytest.raises(DataError, match="kernel_priv"):
        L2SVMPlusClassifier(kernel_priv="precomputed", solver="primal").fit(X, y, X_priv=T @ T.T)


def test_fit_leaves_the_blas_thread_limits_as_they_were():
    from threadpoolctl import threadpool_info

    X, y, T, _ = _web_rows()
    before = [i["num_threads"] for i in threadpool_info()]
    SVMPlusClassifier(solver="primal", n_jobs=2).fit(X, np.arange(len(y)) % 3, X_priv=T)
    assert [i["num_threads"] for i in threadpool_info()] == before


def test_primal_model_round_trips_through_a_model_file(tmp_path):
    from webly.persist import load, save

    X, y, T, _ = _web_rows()
    est = SVMPlusClassifier(solver="primal", n_components=32, random_state=0).fit(X, y, X_priv=T)
    save(est, tmp_path / "m.zip")
    back = load(tmp_path / "m.zip")
    np.testing.assert_array_equal(back.decision_function(X), est.decision_function(X))


def test_feature_map_uses_the_kernel_bandwidth_rule():
    X, *_ = _web_rows()
    fm = FeatureMap("nystroem", n_components=len(X), random_state=0).fit(X)
    assert fm.gamma_ == pytest.approx(Kernel("rbf").fit(X).gamma_)
    Z = fm.transform(X)
    np.testing.assert_allclose(Z @ Z.T, Kernel("rbf").fit(X)(X), atol=1e-6)
    assert FeatureMap("linear").fit(X).transform(X) is X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatureMap("nystroem", n_components=10 * len(X)).fit(X)  # capped at n, no warning
    with pytest.raises(DataError, match="features"):
        FeatureMap("poly")


# --- per-row margins and weights, privileged rows, warm starts (the MIL problems) ------------

def _units(seed=0, n=120, d=6, dp=3):
    """Bag-mean-like units: 1/4 positive with margins 2/|B| - 1 of bags of 1-5 rows."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.25, 1, -1)
    truth = np.where(rng.random(n) < 0.7, y, -1)
    X = rng.normal(size=(n, d)) + truth[:, None]
    T = rng.normal(size=(n, dp))
    T[:, 0] += 2 * truth
    sizes = rng.integers(1, 6, n)
    return X, y.astype(float), T, y == 1, np.where(y == 1, 2.0 / sizes - 1.0, 1.0)


def test_per_row_margins_and_weights_solve_the_smil_dual():
    X, y, _, pos, p = _units()
    upper = np.where(pos, 10.0 / pos.sum(), 10.0 / (~pos).sum())
    x, info = smo_solve(svm_qp(linear_kernel(X), y, C=upper, p=p), tol=1e-8)
    w, b, _, _, pinfo = svmplus_primal(X, y, C=upper, margin=p, tol=1e-7)
    assert pinfo["status"] == "converged"
    assert info["objective"] < -1e-2
    assert -pinfo["objective"] == pytest.approx(info["objective"], rel=1e-6)
    np.testing.assert_allclose(X @ w + b, X @ (X.T @ (x * y)) + info["multipliers"][0],
                               atol=1e-4)
    a = pinfo["dual"]
    assert np.all(a <= upper + 1e-12) and abs(a @ y) <= 1e-6 * upper.max() * len(y)
    np.testing.assert_allclose(pinfo["correcting_values"], np.maximum(0, p - y * (X @ w + b)))


def test_privileged_rows_solve_the_smil_pi_dual():
    from webly.solvers import smil_pi_qp, split_solution

    X, y, T, pos, _ = _units(1)
    rho, C, gp, C_neg = 0.6, 100.0, 10.0, 1.0
    qp = smil_pi_qp(linear_kernel(X), y, pos, linear_kernel(T[pos]), C=C, gamma_plus=gp,
                    rho=rho, C_neg=C_neg)
    x, info = smo_solve(qp, tol=1e-8)
    weights = np.where(pos, C / pos.sum(), C_neg)
    margin = np.where(pos, 2 * rho - 1, 1.0)
    w, b, u, c, pinfo = svmplus_primal(X, y, T[pos], C=weights, gamma_plus=gp, margin=margin,
                                       priv_rows=pos, tol=1e-7)
    assert pinfo["status"] == "converged" and pinfo["constraint_violation"] <= 1e-6
    assert -pinfo["objective"] == pytest.approx(info["objective"], rel=1e-6)
    a, (z,) = split_solution(qp, x)
    np.testing.assert_allclose(X @ w + b, X @ (X.T @ (a * y)) + info["multipliers"][0],
                               atol=1e-4)
    # the correcting function on the positive units, a hinge elsewhere
    np.testing.assert_allclose(pinfo["correcting_values"][pos], T[pos] @ u + c)
    np.testing.assert_allclose(pinfo["correcting_values"][pos], info["correcting_values"][0],
                               atol=1e-4)
    assert pinfo["dual_priv"].shape == (pos.sum(),)
    assert np.all(pinfo["dual"][~pos] <= C_neg + 1e-12)


def test_privileged_rows_with_margins_everywhere_solve_the_kernel_qp():
    # the KernelQP of svmplus_primal's docstring in general: per-row margins p on every row,
    # a correcting function on the rows P (weights C_P), a box a_i <= C_i elsewhere
    from webly.solvers import KernelQP, privileged_block

    X, y, T, pos, _ = _units(4)
    rng = np.random.default_rng(4)
    p = rng.uniform(-0.5, 1.5, len(y))
    C = rng.uniform(0.2, 2.0, len(y))
    P = np.flatnonzero(pos)
    block, constant = privileged_block(P, linear_kernel(T[pos]), C[pos], 3.0)
    qp = KernelQP(K=linear_kernel(X), y=y, p=p, upper=np.where(pos, np.inf, C), blocks=(block,),
                  constant=constant)
    x, info = smo_solve(qp, tol=1e-8)
    w, b, _, _, pinfo = svmplus_primal(X, y, T[pos], C=C, gamma_plus=3.0, margin=p,
                                       priv_rows=pos, tol=1e-7)
    assert info["objective"] < -1e-2
    assert -pinfo["objective"] == pytest.approx(info["objective"], rel=1e-6)
    np.testing.assert_allclose(X @ w + b, X @ (X.T @ (x[:len(y)] * y)) + info["multipliers"][0],
                               atol=1e-4)
    f = X @ w + b
    np.testing.assert_allclose(pinfo["correcting_values"][~pos],
                               np.maximum(0, p - y * f)[~pos], atol=1e-12)


def test_a_warm_start_resumes_at_the_optimum_and_must_match_the_problem():
    X, y, T, pos, p = _units(2)
    kw = dict(C=np.where(pos, 1.0, 0.5), gamma_plus=2.0, priv_rows=pos, tol=1e-6)
    *_, first = svmplus_primal(X, y, T[pos], **kw)
    *_, again = svmplus_primal(X, y, T[pos], start=first, **kw)
    assert again["status"] == "converged"
    assert again["n_iter"] <= first["n_iter"] // 3
    assert again["objective"] == pytest.approx(first["objective"], rel=1e-6)
    # relabelled rows: the same optimum as a cold solve
    y2 = y.copy()
    y2[np.flatnonzero(pos)[:5]] = -1
    *_, warm = svmplus_primal(X, y2, T[pos], start=first, **kw)
    *_, cold = svmplus_primal(X, y2, T[pos], **kw)
    assert warm["objective"] == pytest.approx(cold["objective"], rel=1e-5)
    with pytest.raises(DataError, match="^start: .*same F"):
        svmplus_primal(X, y, None, C=1.0, start=first)
    with pytest.raises(DataError, match="^start:"):
        svmplus_primal(X, y, None, C=1.0, start={"dual": 1})


def test_bad_margins_weights_and_privileged_rows_are_named():
    X, y, T, pos, _ = _units()
    with pytest.raises(DataError, match="^C: "):
        svmplus_primal(X, y, C=np.r_[0.0, np.ones(len(y) - 1)])
    with pytest.raises(DataError, match="^margin: "):
        svmplus_primal(X, y, margin=np.ones(3))
    with pytest.raises(DataError, match="^priv_rows: "):
        svmplus_primal(X, y, None, priv_rows=pos)
    with pytest.raises(DataError, match="^priv_rows: "):
        svmplus_primal(X, y, T[pos], priv_rows=np.zeros(len(y), bool))
    with pytest.raises(DataError, match="^F_priv: "):
        svmplus_primal(X, y, T, priv_rows=pos)  # one row per privileged row


@pytest.mark.parametrize("path", ["conjugate_gradients", "sampled_hessian"])
def test_privileged_rows_give_the_same_optimum_on_every_newton_path(path, monkeypatch):
    import functools

    X, y, T, pos, p = _units(3, n=400)
    kw = dict(C=np.where(pos, 1.0, 0.5), gamma_plus=2.0, margin=p, priv_rows=pos, tol=1e-7)
    w0, b0, _, _, i0 = svmplus_primal(X, y, T[pos], **kw)
    if path == "conjugate_gradients":
        monkeypatch.setattr(primal_mod, "_DIRECT_MAX", 4)
    else:  # Hessians estimated on 16 rows of each constraint family while many rows change
        monkeypatch.setattr(primal_mod, "_Hessian",
                            functools.partial(primal_mod._Hessian, sample=16))
    w1, b1, _, _, i1 = svmplus_primal(X, y, T[pos], **kw)
    assert i1["status"] == "converged"
    assert ("hessian_rows" in i1) == (path == "sampled_hessian")
    assert i1["objective"] == pytest.approx(i0["objective"], rel=1e-6)
    np.testing.assert_allclose(X @ w1 + b1, X @ w0 + b0, atol=1e-3)


def test_line_search_does_not_stop_past_the_kink_of_a_steep_linear_piece():
    # 1,000 rows on the linear part of their hinge (slope0 = -n C |df|) along a step that
    # satisfies them all by t = 1e-6 and then only grows the regulariser (c1 = 1e5): at t = 1
    # the slope (c1) is small next to slope0, yet the value is 50 times the start's. Seen at
    # 10^6 rows (sMIL-PI's first Newton step, whose bias moved by 1.3e7), where the solve then
    # crawled to max_iter
    n = 1000
    F = np.zeros((n, 2))
    F[:, 0] = 1.0
    y = -np.ones(n)
    prob = primal_mod._Primal(F, y, None, [primal_mod._Family(1.0, True, False, False, upper=1.0)])
    th = np.zeros(prob.size)
    step = np.array([0.0, np.sqrt(1e5), -1e6])  # w_1 moves no row; b moves every f by -1e6
    mults, rhos = [np.zeros(n)], [10.0]
    f, s, m = prob.outputs(th)
    v0, grad, _, _ = prob.value_grad(th, f, s, m, mults, rhos)
    t, (dfv, _, _), _ = prob.line_search(th, f, s, m, mults, rhos, step, grad @ step)
    v1 = prob.value_grad(th + t * step, f + t * dfv, s, m, mults, rhos)[0]
    assert t < 2e-6 and v1 < 1e-3 * v0
