"""The -DA (domain-adaptation) correcting function on the explicit-feature (primal) path.

With linear kernels ``solver="primal"`` solves exactly the dual that ``solver="smo"`` solves
(:func:`webly.solvers.add_domain_adaptation`): the correcting function ``v_i = u2' phi_i + c2``
on the visual features, the dual's target term as the per-row constant ``q_i = C2 (n / gamma2)
phi_i' mu_target`` of the constraints ``y_i f_i >= p_i - s_i - (v_i - q_i)`` and ``v_i >= q_i``,
and KMM's interval on ``sum b`` as the offset's cost ``hi c2 + (hi - lo) max(0, -c2)``. So the
objectives (each path reports minus the optimal value of that dual) agree to the solvers'
tolerances and so do the decisions.

Decision tolerance: both solvers stop at a KKT violation of ``tol`` (1e-6 here) in margin units;
on these problems the decisions then agree to ~1e-5 (measured over the cases below), so
``1e-3 * max(1, spread of f)`` leaves two orders of magnitude of room while still failing for
a wrong term (leaving out the -DA block moves f by 0.1-4 here, see
``test_the_da_term_changes_the_solution``).
"""

import warnings

import numpy as np
import pytest

import webly.solvers.primal as primal_mod
from webly.errors import DataError
from webly.mil import MiSVMPIDAClassifier, SMILPIDAClassifier
from webly.solvers import (
    add_domain_adaptation,
    qp_objective,
    smil_pi_qp,
    smo_solve,
    svm_qp,
    svmplus_qp,
)
from webly.solvers.primal import svmplus_primal


def _crawl(seed=0, n_bags=60, size=5, d=6, d_priv=3, keep=0.7, shift=0.8, n_target=100):
    """300 rows in bags of 5 (every third bag positive, 30% of its rows wrong, the privileged
    'text' saying which) and 100 unlabelled target rows shifted along one feature."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < keep, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    T = rng.normal(size=(len(y), d_priv))
    T[:, 0] += 2 * truth
    yt = rng.random(n_target) < 0.5
    Xt = rng.normal(size=(n_target, d)) + (2 * yt - 1)[:, None] + shift * np.eye(d)[1]
    return X, y, bags, T, Xt


def _fit(cls, solver, X, y, bags, T, Xt, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DataWarning of the fits without X_priv
        return cls(kernel="linear", solver=solver, tol=1e-6, **params).fit(
            X, y, bags=bags, X_priv=T, X_target=Xt)


def _assert_same_fit(kernel, primal, X, Xt):
    ok, op = kernel.models_[0].info["objective"], primal.models_[0].info["objective"]
    assert op == pytest.approx(ok, rel=1e-4)
    for rows in (X, Xt):
        fk, fp = kernel.decision_function(rows), primal.decision_function(rows)
        atol = 1e-3 * max(1.0, np.ptp(fk))
        np.testing.assert_allclose(fp, fk, atol=atol)
        clear = np.abs(fk) > atol  # the same predictions wherever the kernel path is not a tie
        assert np.array_equal(np.sign(fp[clear]), np.sign(fk[clear]))


SMIL_CASES = {
    "eps0": dict(C2=1.0, gamma2=3.0),
    "eps0_sum_binds": dict(C2=0.1, gamma2=1.0),
    "eps": dict(C2=0.1, gamma2=1.0, eps=0.3),
    "eps_B": dict(C2=0.1, gamma2=1.0, eps=0.3, B=1.1),
    "per_unit_C2": dict(C2=30.0, gamma2=30.0, C2_per_unit=True),
    "per_unit_C2_eps": dict(C2=30.0, gamma2=30.0, C2_per_unit=True, eps=0.2),
}


@pytest.mark.parametrize("case", list(SMIL_CASES))
@pytest.mark.parametrize("with_priv", [True, False])
def test_smil_pi_da_primal_reaches_the_kernel_optimum(case, with_priv):
    X, y, bags, T, Xt = _crawl()
    T = T if with_priv else None
    params = dict(C=10.0, gamma_plus=10.0, **SMIL_CASES[case])
    kernel = _fit(SMILPIDAClassifier, "smo", X, y, bags, T, Xt, **params)
    primal = _fit(SMILPIDAClassifier, "primal", X, y, bags, T, Xt, **params)
    assert primal.solver_ == "primal" and primal.models_[0].info["status"] == "converged"
    _assert_same_fit(kernel, primal, X, Xt)


@pytest.mark.parametrize("params", [dict(C2=1.0, gamma2=3.0),
                                    dict(C2=0.3, gamma2=1.0, eps=0.1, B=1.05)])
def test_mi_svm_pi_da_primal_takes_the_kernel_paths_rounds(params):
    X, y, bags, T, Xt = _crawl()
    kernel = _fit(MiSVMPIDAClassifier, "smo", X, y, bags, T, Xt, C=1.0, gamma_plus=1.0,
                  **params)
    primal = _fit(MiSVMPIDAClassifier, "primal", X, y, bags, T, Xt, C=1.0, gamma_plus=1.0,
                  **params)
    mk, mp = kernel.models_[0], primal.models_[0]
    assert mp.info["rounds"] == mk.info["rounds"] and not mp.info["not_converged"]
    np.testing.assert_array_equal(mp.instance_labels, mk.instance_labels)
    _assert_same_fit(kernel, primal, X, Xt)


@pytest.mark.parametrize("cls, params", [
    (SMILPIDAClassifier, dict(C=10.0, gamma_plus=10.0, C2=0.1, gamma2=1.0)),
    (SMILPIDAClassifier, dict(C=10.0, gamma_plus=10.0, C2=30.0, gamma2=30.0, C2_per_unit=True)),
    (MiSVMPIDAClassifier, dict(C=1.0, gamma_plus=1.0, C2=1.0, gamma2=3.0)),
])
def test_the_da_term_changes_the_solution(cls, params):
    X, y, bags, T, Xt = _crawl()
    da = _fit(cls, "primal", X, y, bags, T, Xt, **params)
    plain = _fit(cls, "primal", X, y, bags, T, None, **params)
    gap = np.abs(da.decision_function(X) - plain.decision_function(X)).max()
    assert gap > 0.1
    # and the kernel path sees the same change
    kernel = _fit(cls, "smo", X, y, bags, T, Xt, **params)
    np.testing.assert_allclose(da.decision_function(X), kernel.decision_function(X),
                               atol=1e-3 * gap)


def test_kmm_interval_is_active_and_matches_the_kernel_dual():
    # eps and B change the optimum (the offset's hinge term is exercised: C2 = 0.1 makes KMM's
    # total bind), and each optimum is the kernel dual's, on the three constraint layouts of
    # svmplus_primal
    rng = np.random.default_rng(1)
    n, d, dp, nt = 150, 6, 4, 60
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=n) > 0, 1.0, -1.0)
    T = rng.normal(size=(n, dp))
    Xt = rng.normal(size=(nt, d)) + 0.5
    K, kt, mu = X @ X.T, (X @ Xt.T).sum(axis=1), Xt.mean(axis=0)
    pos = y > 0
    P = np.flatnonzero(pos)
    Cw = np.where(pos, 10.0 / pos.sum(), 1.0)
    layouts = {
        "svm+": (svmplus_qp(K, y, T @ T.T, C=1.0, gamma_plus=1.0),
                 dict(F_priv=T, C=1.0, gamma_plus=1.0)),
        "hinge": (svm_qp(K, y, C=Cw), dict(C=Cw)),
        "priv_rows": (smil_pi_qp(K, y, pos, T[P] @ T[P].T, C=10.0, gamma_plus=10.0, rho=0.6),
                      dict(F_priv=T[P], priv_rows=pos, C=Cw, gamma_plus=10.0,
                           margin=np.where(pos, 0.2, 1.0))),
    }
    for name, (qp0, kw) in layouts.items():
        values = []
        for eps, B in [(0.0, None), (0.1, None), (0.1, 1.02)]:
            qp = add_domain_adaptation(qp0, K, kt, nt, C2=0.1, gamma2=3.0, eps=eps, B=B)
            x, info = smo_solve(qp, tol=1e-7, max_iter=10 ** 7)
            assert info["status"] == "converged"
            *_, pinfo = svmplus_primal(X, y, target_mean=mu, C2=0.1, gamma2=3.0, eps=eps, B=B,
                                       tol=1e-7, **kw)
            assert pinfo["status"] == "converged"
            assert pinfo["objective"] == pytest.approx(-qp_objective(qp, x), rel=1e-6), name
            # the multipliers are a dual solution (not unique here: rank-6 kernels), so KMM's
            # weights b = (a + z2) / C2 of both paths meet its interval on the total
            for a, z2 in ((x[:n], x[-n:]), (pinfo["dual"], pinfo["dual_target"])):
                b_total = (a + z2).sum() / 0.1
                assert (1 - eps) * n - 1e-2 <= b_total <= n * min(1 + eps, B or np.inf) + 1e-2
            values.append(pinfo["objective"])
        assert min(abs(values[0] - values[1]), abs(values[1] - values[2])) > 1e-3 * abs(values[0])


@pytest.mark.parametrize("priv", [False, True])
def test_a_matched_target_mean_leaves_the_classifier_and_adds_a_constant(priv):
    """The degenerate case of many rows per feature (see the -DA convergence notes in
    :mod:`webly.solvers.primal`): with the target mean equal to the rows' own mean, KMM's weights
    ``(a + z2) / C2 = 1`` match it exactly, so the optimum has ``v = q`` on every row (every
    ``v >= q`` active), the classifier is the one without the -DA term and the objective adds
    ``(C2 n)^2 / (2 gamma2) ||mu||^2``. float32 rows at C2 = gamma2 = 1000, where ``q`` reaches
    ~1e3 (the setting that stalled at 1,000 Newton steps on 10^4-10^5 crawl rows)."""
    rng = np.random.default_rng(1)
    n, d = 3000, 8
    truth = rng.random(n) < 0.3
    F = (rng.normal(size=(n, d)) + 0.6 * (2 * truth - 1)[:, None] + 0.5).astype(np.float32)
    y = np.where(rng.random(n) < 0.85, 2 * truth - 1, 1 - 2 * truth).astype(float)
    Fp = (rng.normal(size=(n, 2)) + truth[:, None]).astype(np.float32) if priv else None
    mu = F.astype(np.float64).mean(axis=0)
    kw = dict(C=1.0, gamma_plus=10.0, tol=1e-6)
    w0, b0, *_, plain = svmplus_primal(F, y, Fp, **kw)
    w1, b1, *_, da = svmplus_primal(F, y, Fp, target_mean=mu, C2=1000.0, gamma2=1000.0, **kw)
    assert plain["status"] == da["status"] == "converged"
    assert da["n_iter"] <= 100
    assert np.abs(da["target_values"]).max() < 1e-5  # v = q
    const = (1000.0 * n) ** 2 / (2 * 1000.0) * (mu @ mu)
    assert da["objective"] - const == pytest.approx(plain["objective"], rel=1e-5)
    f0, f1 = F @ w0 + b0, F @ w1 + b1
    np.testing.assert_allclose(f1, f0, atol=1e-3 * max(1.0, np.ptp(f0)))


def test_newton_cg_and_warm_starts_solve_the_same_problem(monkeypatch):
    X, y, _, T, Xt = _crawl()
    yy = np.where(y == 1, 1.0, -1.0)
    kw = dict(C=np.where(yy > 0, 1.0, 0.5), target_mean=Xt.mean(axis=0), C2=0.3, gamma2=1.0,
              eps=0.1, tol=1e-7)
    direct = svmplus_primal(X, yy, T, **kw)
    flipped = svmplus_primal(X, -yy, T, **kw)
    warm = svmplus_primal(X, yy, T, start=flipped[4], **kw)
    monkeypatch.setattr(primal_mod, "_DIRECT_MAX", 4)
    cg = svmplus_primal(X, yy, T, **kw)
    for other in (warm, cg):
        assert other[4]["status"] == "converged"
        assert other[4]["objective"] == pytest.approx(direct[4]["objective"], rel=1e-6)
        np.testing.assert_allclose(X @ other[0] + other[1], X @ direct[0] + direct[1], atol=1e-3)


def test_rbf_fits_are_deterministic_and_use_the_mapped_target_mean(monkeypatch):
    X, y, bags, T, Xt = _crawl()
    params = dict(kernel="rbf", solver="primal", n_components=40, random_state=3, C2=0.1,
                  gamma2=1.0)
    a = SMILPIDAClassifier(**params).fit(X, y, bags=bags, X_priv=T, X_target=Xt)
    b = SMILPIDAClassifier(**params).fit(X, y, bags=bags, X_priv=T, X_target=Xt)
    np.testing.assert_array_equal(a.decision_function(Xt), b.decision_function(Xt))
    # the target mean is averaged block by block: the same model with 7-row blocks
    monkeypatch.setattr(SMILPIDAClassifier, "_TARGET_BLOCK", 7)
    c = SMILPIDAClassifier(**params).fit(X, y, bags=bags, X_priv=T, X_target=Xt)
    np.testing.assert_allclose(c.decision_function(Xt), a.decision_function(Xt), atol=1e-8)


def test_auto_routes_a_da_fit_with_a_target_to_the_primal_path():
    X, y, bags, T, Xt = _crawl()
    est = SMILPIDAClassifier(kernel="linear", memory_limit="1M", C2=0.1, gamma2=1.0).fit(
        X, y, bags=bags, X_priv=T, X_target=Xt)
    assert est.solver_ == "primal"
    primal = SMILPIDAClassifier(kernel="linear", solver="primal", C2=0.1, gamma2=1.0).fit(
        X, y, bags=bags, X_priv=T, X_target=Xt)
    np.testing.assert_array_equal(est.decision_function(X), primal.decision_function(X))


@pytest.mark.parametrize("cls", [SMILPIDAClassifier, MiSVMPIDAClassifier])
def test_bad_target_input_names_the_field(cls):
    X, y, bags, T, Xt = _crawl()
    est = cls(kernel="linear", solver="primal")
    with pytest.raises(DataError, match="^X_target: has 5 features but X has 6"):
        est.fit(X, y, bags=bags, X_priv=T, X_target=Xt[:, :5])
    bad = Xt.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="^X_target: "):
        est.fit(X, y, bags=bags, X_priv=T, X_target=bad)
    with pytest.raises(DataError, match="^B: B=0.5 leaves no feasible total weight"):
        est.set_params(B=0.5).fit(X, y, bags=bags, X_priv=T, X_target=Xt)


def test_bad_solver_input_names_the_field():
    X, y, _, _, Xt = _crawl()
    yy = np.where(y == 1, 1.0, -1.0)
    with pytest.raises(DataError, match="^target_mean: must be 6 finite values"):
        svmplus_primal(X, yy, target_mean=Xt.mean(axis=0)[:4])
    with pytest.raises(DataError, match="^gamma2: must be a positive number"):
        svmplus_primal(X, yy, target_mean=Xt.mean(axis=0), gamma2=0.0)
    with pytest.raises(DataError, match="^C2: must hold finite positive values"):
        svmplus_primal(X, yy, target_mean=Xt.mean(axis=0), C2=-np.ones(len(yy)))


@pytest.mark.parametrize("layout", ["hinge", "priv_rows"])
def test_separate_da_rows_without_the_intercept_solve_the_kernel_dual(layout):
    # MIL-CPB-PI-DA's solve: the classifier on other rows than the -DA correcting function (its
    # label blocks; here rows with a constant feature, the bias inside them) and no intercept.
    # The kernel dual is the QP with a free unit (y'a = 0 made vacuous) and the -DA block on
    # the -DA rows' kernel over the n real units, as milcpb_binary builds it
    from webly.solvers import KernelQP, privileged_block

    rng = np.random.default_rng(2)
    n, d, dv, dp, nt = 80, 5, 4, 3, 40
    Z = rng.normal(size=(n, dv))
    y = np.where(Z[:, 0] + 0.7 * rng.normal(size=n) > 0, 1.0, -1.0)
    F = np.column_stack([Z @ rng.normal(size=(dv, d - 1)), np.full(n, 1.5)])
    T = rng.normal(size=(n, dp))
    Zt = rng.normal(size=(nt, dv)) + 0.5
    pos = y > 0
    P = np.flatnonzero(pos)
    C = np.where(pos, 0.5, 1.0)
    if layout == "hinge":
        upper, blocks, constant, kw = C, (), 0.0, dict(C=C)
    else:
        block, constant = privileged_block(P, T[P] @ T[P].T, C[P], 2.0)
        upper, blocks = np.where(pos, np.inf, C), (block,)
        kw = dict(F_priv=T[P], priv_rows=pos, C=C, gamma_plus=2.0)
    for eps in (0.0, 0.2):
        da = add_domain_adaptation(KernelQP(K=Z @ Z.T, y=np.ones(n), p=np.ones(n), upper=upper,
                                            blocks=blocks),
                                   Z @ Z.T, (Z @ Zt.T).sum(axis=1), nt, C2=0.1, gamma2=3.0,
                                   eps=eps)
        K = np.zeros((n + 1, n + 1))
        K[:n, :n] = (F * y[:, None]) @ (F * y[:, None]).T  # the labels live in the kernel
        qp = KernelQP(K=K, y=np.r_[np.ones(n), -1.0], p=np.r_[np.ones(n), 0.0],
                      upper=np.r_[upper, np.inf], blocks=da.blocks, constant=constant)
        x, info = smo_solve(qp, tol=1e-8, max_iter=10 ** 7)
        assert info["status"] == "converged"
        w, b, *_, pinfo = svmplus_primal(F, y, target_mean=Zt.mean(axis=0), C2=0.1, gamma2=3.0,
                                         eps=eps, F_target=Z, fit_intercept=False, tol=1e-7,
                                         **kw)
        assert pinfo["status"] == "converged" and b == 0.0
        assert pinfo["objective"] == pytest.approx(-qp_objective(qp, x), rel=1e-6)
        np.testing.assert_allclose(F @ w, F @ (F.T @ (x[:n] * y)), atol=1e-4)
    # without the -DA rows' own features (F_target=None) the term is on F: another problem
    *_, on_f = svmplus_primal(F, y, target_mean=F.mean(axis=0), C2=0.1, gamma2=3.0,
                              fit_intercept=False, tol=1e-7, **kw)
    assert abs(on_f["objective"] - pinfo["objective"]) > 1e-3 * abs(pinfo["objective"])


def test_explicit_da_rows_equal_to_the_rows_change_nothing():
    X, y, _, T, Xt = _crawl()
    yy = np.where(y == 1, 1.0, -1.0)
    kw = dict(C=1.0, target_mean=Xt.mean(axis=0), C2=0.1, gamma2=1.0, eps=0.1, tol=1e-6)
    ref = svmplus_primal(X, yy, T, **kw)
    out = svmplus_primal(X, yy, T, F_target=X, **kw)
    for r, o in zip(ref[:4], out[:4]):
        np.testing.assert_array_equal(o, r)
    assert out[4]["n_iter"] == ref[4]["n_iter"]
    with pytest.raises(DataError, match="^F_target: is the -DA correcting function's rows"):
        svmplus_primal(X, yy, F_target=X)
    with pytest.raises(DataError, match="^F_target: .*rows"):
        svmplus_primal(X, yy, F_target=X[:-1], **kw)
