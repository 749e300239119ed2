"""MIL-CPB and MIL-CPB-PI on explicit features (``solver="primal"``, issue 18 item 1).

For fixed MKL weights ``d`` the QP of the kernel path is the dual of an SVM on the per-labelling
feature blocks ``(sqrt(d) ∘ y_i) ⊗ [x_i, s]`` (:mod:`webly.solvers.block_rows`). With a linear
kernel the primal path therefore solves the kernel path's problems: every round's objective
agrees to the solvers' tolerances, the same labellings are added with the same MKL weights, and
the decisions coincide. A Nystroem map on every training row is the RBF kernel itself (up to
rounding), so it reproduces the RBF kernel path too.
"""

import logging
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from webly import MILCPBClassifier, MILCPBPIClassifier, MILCPBPIDAClassifier
from webly.base import DataWarning
from webly.errors import DataError
from webly.solvers.block_rows import BlockRows, label_rotation


def _toy(seed=0, n_bags=30, size=5, d=6, keep=0.7):
    """Bags of a query (every third bag positive), 30% of the positive bags' rows wrong, and a
    privileged view: 2 features correlated with the truth and 60 of noise. (With fewer
    privileged features than positive-bag rows the L2-SVM+ term of the squared hinge is
    singular and the QP's dual solution, which picks the next labelling, need not be unique:
    both paths then reach the same objective with other labellings.)"""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < keep, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    T = np.column_stack([X[:, :2] + rng.normal(size=(len(y), 2)),
                         0.3 * rng.normal(size=(len(y), 60))])
    return X, y, bags, T


def _fit(cls, X, y, bags, T, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_rounds reached on purpose
        if cls is MILCPBClassifier:
            return cls(**params).fit(X, y, bags=bags)
        return cls(**params).fit(X, y, bags=bags, X_priv=T)


def _same_fit(smo, pri, X, rel=1e-4):
    m0, m1 = smo.models_[0], pri.models_[0]
    o0, o1 = np.array(m0.info["objectives"]), np.array(m1.info["objectives"])
    assert len(o0) == len(o1) >= 3
    np.testing.assert_allclose(o1, o0, rtol=rel)  # every round
    # the same labellings, added in the same order, with the same MKL weights
    np.testing.assert_array_equal(m1.info["labellings"], m0.info["labellings"])
    np.testing.assert_allclose(m1.info["d"], m0.info["d"], atol=1e-4)
    assert m1.info["status"] == m0.info["status"]
    D0 = smo.decision_function(X)
    np.testing.assert_allclose(pri.decision_function(X), D0, atol=1e-4 * (1 + np.abs(D0).max()))
    np.testing.assert_array_equal(pri.predict(X), smo.predict(X))


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("cls", [MILCPBClassifier, MILCPBPIClassifier])
def test_linear_primal_is_the_kernel_path(cls, loss):
    X, y, bags, T = _toy()
    params = dict(kernel="linear", loss=loss, tol=1e-6, max_rounds=4)
    smo = _fit(cls, X, y, bags, T, solver="smo", **params)
    pri = _fit(cls, X, y, bags, T, solver="primal", **params)
    assert smo.solver_ == "smo" and pri.solver_ == "primal"
    _same_fit(smo, pri, X)
    # the weights are the kernel path's expansion over the training rows, w = X' coef
    w = X.T @ smo.models_[0].coef
    np.testing.assert_allclose(pri.models_[0].coef, w, atol=1e-4 * np.abs(w).max())
    np.testing.assert_allclose(pri.models_[0].intercept, smo.models_[0].intercept,
                               atol=1e-4 * (1 + abs(smo.models_[0].intercept)))
    assert pri.feature_map_.kind == "linear"
    assert not hasattr(pri, "kernel_") and not hasattr(pri, "X_fit_")
    assert pri.n_iter_[0] > 0  # Newton steps


@pytest.mark.parametrize("params", [dict(init="top", C=0.3, C_neg=2.0, intercept_scaling=2.0),
                                    dict(rho=0.3, max_rounds=6)])
def test_linear_primal_agrees_under_other_settings(params):
    X, y, bags, T = _toy(seed=3)
    for cls in (MILCPBClassifier, MILCPBPIClassifier):
        kw = dict(kernel="linear", tol=1e-6, **{"max_rounds": 4, **params})
        smo = _fit(cls, X, y, bags, T, solver="smo", **kw)
        pri = _fit(cls, X, y, bags, T, solver="primal", **kw)
        _same_fit(smo, pri, X)


def test_multiclass_primal_is_the_kernel_path():
    X, y, bags, T = _toy(seed=1)
    y = bags % 3  # three queries
    smo = _fit(MILCPBClassifier, X, y, bags, T, kernel="linear", tol=1e-6, max_rounds=3,
               solver="smo")
    pri = _fit(MILCPBClassifier, X, y, bags, T, kernel="linear", tol=1e-6, max_rounds=3,
               solver="primal")
    D0, D1 = smo.decision_function(X), pri.decision_function(X)
    assert D1.shape == (len(y), 3)
    np.testing.assert_allclose(D1, D0, atol=1e-4 * (1 + np.abs(D0).max()))
    np.testing.assert_allclose(pri.noise_scores_, smo.noise_scores_,
                               atol=1e-4 * (1 + np.abs(D0).max()))


@pytest.mark.parametrize("cls", [MILCPBClassifier, MILCPBPIClassifier])
def test_nystroem_on_every_training_row_is_the_rbf_kernel_path(cls):
    X, y, bags, T = _toy(seed=2)
    smo = _fit(cls, X, y, bags, T, tol=1e-6, max_rounds=3, solver="smo")
    pri = _fit(cls, X, y, bags, T, tol=1e-6, max_rounds=3, solver="primal",
               n_components=len(y), random_state=0)
    assert pri.feature_map_.kind == "nystroem"
    o0, o1 = smo.models_[0].info["objectives"], pri.models_[0].info["objectives"]
    np.testing.assert_allclose(o1, o0, rtol=1e-3)
    np.testing.assert_array_equal(pri.models_[0].info["labellings"],
                                  smo.models_[0].info["labellings"])
    np.testing.assert_array_equal(pri.predict(X), smo.predict(X))


def test_primal_is_deterministic_for_a_random_state():
    X, y, bags, T = _toy()
    kw = dict(solver="primal", n_components=30, max_rounds=3)
    a = _fit(MILCPBPIClassifier, X, y, bags, T, random_state=5, **kw)
    b = _fit(MILCPBPIClassifier, X, y, bags, T, random_state=5, **kw)
    c = _fit(MILCPBPIClassifier, X, y, bags, T, random_state=6, **kw)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    assert not np.array_equal(a.decision_function(X), c.decision_function(X))


@pytest.mark.parametrize("cls", [MILCPBClassifier, MILCPBPIClassifier])
def test_auto_routes_by_the_memory_limit(cls, caplog):
    X, y, bags, T = _toy()
    auto = _fit(cls, X, y, bags, T, max_rounds=2)
    smo = _fit(cls, X, y, bags, T, max_rounds=2, solver="smo")
    assert cls().solver == "auto" and auto.solver_ == "smo"
    np.testing.assert_array_equal(auto.decision_function(X), smo.decision_function(X))
    with caplog.at_level(logging.WARNING, logger="webly"):
        big = _fit(cls, X, y, bags, T, max_rounds=2, memory_limit="100K", n_components=30,
                   random_state=0)
    assert big.solver_ == "primal" and hasattr(big, "feature_map_")
    assert any(r.getMessage().startswith(f"{cls.__name__}: the kernel solver on 150 rows")
               for r in caplog.records)
    pri = _fit(cls, X, y, bags, T, max_rounds=2, solver="primal", n_components=30,
               random_state=0)
    np.testing.assert_array_equal(big.decision_function(X), pri.decision_function(X))


def _target(X, seed=7, n=40):
    """Unlabelled target rows: training rows shifted by 0.5 with noise."""
    rng = np.random.default_rng(seed)
    return X[:n] + 0.5 + rng.normal(0, 0.3, (n, X.shape[1]))


def _fit_da(X, y, bags, T, Xt, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_rounds reached on purpose
        warnings.simplefilter("ignore", DataWarning)  # the fits without X_priv
        return MILCPBPIDAClassifier(**params).fit(X, y, bags=bags, X_priv=T, X_target=Xt)


@pytest.mark.parametrize("priv, da", [(True, dict(C2=0.01, gamma2=1.0)),
                                      (False, dict(C2=0.001, gamma2=1.0)),
                                      (True, dict(C2=0.001, gamma2=1.0, eps=0.1)),
                                      (True, dict()),
                                      (True, dict(C2=0.01, gamma2=1.0, cp_tol=0.1,
                                                  max_rounds=10))])
def test_da_linear_primal_is_the_kernel_path(priv, da):
    # the -DA correcting function on the instances' own features (the kernel path's block on
    # the visual kernel K = X X', not on the label kernel), its target term from the target
    # rows' mean: every round's objective, the labellings, MKL weights and decisions agree.
    # (With the defaults C2 = gamma2 = 1000 the rows' weights match the target mean here and
    # the term only adds a constant to the objective, as on the crawl of
    # benchmarks/da_primal_scale.py; the small C2 make KMM's total bind and move the fit)
    X, y, bags, T = _toy()
    T = T if priv else None
    Xt = _target(X)
    kw = {"kernel": "linear", "tol": 1e-6, "max_rounds": 4, **da}
    smo = _fit_da(X, y, bags, T, Xt, solver="smo", **kw)
    pri = _fit_da(X, y, bags, T, Xt, solver="primal", **kw)
    assert smo.solver_ == "smo" and pri.solver_ == "primal"
    _same_fit(smo, pri, X)
    if "cp_tol" in da:  # a cutting plane that converges (the same status on both paths)
        assert pri.models_[0].info["status"] == "converged"
    D0 = smo.decision_function(Xt)
    np.testing.assert_allclose(pri.decision_function(Xt), D0,
                               atol=1e-4 * (1 + np.abs(D0).max()))
    if da:  # the -DA term is at work: without X_target the fit differs
        plain = _fit_da(X, y, bags, T, None, solver="primal", **kw)
        assert np.abs(plain.decision_function(X) - pri.decision_function(X)).max() > 0.1


def test_da_nystroem_on_every_training_row_is_the_rbf_kernel_path():
    # the target term too: z(x)'z(x_t) = k(x, x_t) exactly for a training row x (a landmark)
    X, y, bags, T = _toy(seed=2)
    Xt = _target(X)
    kw = dict(tol=1e-6, max_rounds=3, C2=0.01, gamma2=1.0)
    smo = _fit_da(X, y, bags, T, Xt, solver="smo", **kw)
    pri = _fit_da(X, y, bags, T, Xt, solver="primal", n_components=len(y), random_state=0, **kw)
    assert pri.feature_map_.kind == "nystroem"
    _same_fit(smo, pri, X)


def test_da_with_a_target_takes_the_primal_path(caplog):
    X, y, bags, T = _toy()
    Xt = _target(X)
    kw = dict(max_rounds=2, n_components=30, random_state=0)
    with caplog.at_level(logging.WARNING, logger="webly"):
        big = _fit_da(X, y, bags, T, Xt, memory_limit="100K", **kw)
    assert big.solver_ == "primal" and hasattr(big, "feature_map_")
    assert any(r.getMessage().startswith("MILCPBPIDAClassifier: the kernel solver on 150 rows")
               and "solver='primal'" in r.getMessage() for r in caplog.records)
    pri = _fit_da(X, y, bags, T, Xt, solver="primal", **kw)
    np.testing.assert_array_equal(big.decision_function(X), pri.decision_function(X))
    # float32 rows: the -DA solve computes in float64, the same fit
    lin = dict(kernel="linear", solver="primal", max_rounds=2, tol=1e-6)
    f64 = _fit_da(X, y, bags, T, Xt, **lin)
    f32 = _fit_da(X.astype(np.float32), y, bags, T, Xt.astype(np.float32), **lin)
    np.testing.assert_allclose(f32.decision_function(X), f64.decision_function(X), atol=1e-4)
    # the squared hinge has no -DA form, on either path
    with pytest.raises(DataError, match="^loss: MIL-CPB-PI-DA supports only loss='hinge'"):
        _fit_da(X, y, bags, T, Xt, loss="squared_hinge", solver="primal")
    # without X_target it is MIL-CPB-PI's primal path (hinge)
    kw = dict(kernel="linear", solver="primal", max_rounds=2, tol=1e-6)
    da = _fit(MILCPBPIDAClassifier, X, y, bags, T, **kw)
    pi = _fit(MILCPBPIClassifier, X, y, bags, T, loss="hinge", **kw)
    np.testing.assert_array_equal(da.decision_function(X), pi.decision_function(X))


def test_block_rows_are_the_explicit_blocks():
    rng = np.random.default_rng(0)
    n, dz, T, s = 12, 4, 3, 1.5
    Phi = rng.normal(size=(n, dz))
    Y = np.where(rng.random((n, T)) < 0.5, 1.0, -1.0)
    neg = np.arange(n) >= 7
    Y[neg] = -1.0  # rows with one label in every labelling
    d = np.array([0.5, 0.3, 0.2])
    H = label_rotation(d)
    np.testing.assert_allclose(H @ H.T, np.eye(T), atol=1e-14)
    np.testing.assert_allclose(H @ np.sqrt(d), [1.0, 0.0, 0.0], atol=1e-14)
    P = np.flatnonzero(~neg)
    # rows y_i kron(sqrt(d) ∘ y_i, [phi_i, s]) rotated by H: the labels of the solver are -1 on
    # the negative rows, so those rows are e_1 kron [phi_i, s]
    sign = np.where(neg, -1.0, 1.0)
    Phat = np.column_stack([Phi, np.full(n, s)])
    full = np.stack([np.kron(H @ (np.sqrt(d) * Y[i]) * sign[i], Phat[i]) for i in range(n)])
    B = BlockRows(Phi, (Y[P] * np.sqrt(d)) @ H, P, const=s)
    assert B.shape == full.shape
    w, v = rng.normal(size=full.shape[1]), rng.normal(size=n)
    np.testing.assert_allclose(B @ w, full @ w, atol=1e-12)
    np.testing.assert_allclose(B.T @ v, full.T @ v, atol=1e-12)
    idx = np.array([0, 3, 8, 11])
    np.testing.assert_allclose(B[idx], full[idx], atol=1e-14)
    # the Gram matrix is the label kernels' combination sum_t d_t (K + s^2) ∘ y_t y_t'
    K = Phi @ Phi.T + s * s
    G = sum(dt * K * np.outer(yt * sign, yt * sign) for dt, yt in zip(d, Y.T))
    np.testing.assert_allclose(full @ full.T, G, atol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_many_labellings_take_the_block_preconditioned_newton_system(monkeypatch, loss):
    # above _FACTOR_MAX parameters (many labellings of many features) the Newton system is
    # solved by CG preconditioned with its diagonal blocks; here forced on the toy problem
    import webly.solvers.primal as primal

    monkeypatch.setattr(primal, "_FACTOR_MAX", 8)
    calls = []
    block_pcg = primal._block_pcg
    monkeypatch.setattr(primal, "_block_pcg",
                        lambda *a, **k: calls.append(1) or block_pcg(*a, **k))
    X, y, bags, T = _toy()
    params = dict(kernel="linear", loss=loss, tol=1e-6, max_rounds=4)
    smo = _fit(MILCPBPIClassifier, X, y, bags, T, solver="smo", **params)
    pri = _fit(MILCPBPIClassifier, X, y, bags, T, solver="primal", **params)
    assert calls  # the path under test was taken
    _same_fit(smo, pri, X)


def test_label_block_hessians_past_the_plain_limit_are_factorised(monkeypatch):
    # the kept Hessian of label blocks is factorised (and its factor reused through Woodbury)
    # up to _FACTOR_MAX parameters (4,096), past the plain rows' _DIRECT_MAX (2,048): at 10^5
    # rows and 6 labellings of 513 parameters MIL-CPB-PI took 87.5 s against 189.3 s by block
    # CG (the same rounds, labellings and Newton steps). Here _DIRECT_MAX is made tiny: no CG
    # call
    import webly.solvers.primal as primal

    monkeypatch.setattr(primal, "_DIRECT_MAX", 8)
    calls, factors = [], []
    block_pcg, alm = primal._block_pcg, primal._alm
    monkeypatch.setattr(primal, "_block_pcg",
                        lambda *a, **k: calls.append(1) or block_pcg(*a, **k))

    def counted(*a, **k):
        out = alm(*a, **k)
        factors.append(out[3].get("factorisations", 0))
        return out

    monkeypatch.setattr(primal, "_alm", counted)
    X, y, bags, T = _toy()
    params = dict(kernel="linear", loss="squared_hinge", tol=1e-6, max_rounds=4)
    smo = _fit(MILCPBPIClassifier, X, y, bags, T, solver="smo", **params)
    pri = _fit(MILCPBPIClassifier, X, y, bags, T, solver="primal", **params)
    assert not calls and sum(factors) > 0
    _same_fit(smo, pri, X)


@pytest.mark.parametrize("path", ["block_pcg", "newton_cg"])
def test_da_solves_take_the_large_problem_newton_paths(monkeypatch, path):
    # the -DA columns (u2, c2) in the block-preconditioned CG system (above _FACTOR_MAX) and in
    # the matrix-free Newton-CG steps (above BlockRows.hessian_max), forced on the toy problem
    import webly.solvers.primal as primal

    if path == "block_pcg":
        monkeypatch.setattr(primal, "_FACTOR_MAX", 8)
    else:
        monkeypatch.setattr(BlockRows, "hessian_max", 8)
    calls = []
    inner = getattr(primal, "_" + path)
    monkeypatch.setattr(primal, "_" + path, lambda *a, **k: calls.append(1) or inner(*a, **k))
    X, y, bags, T = _toy()
    Xt = _target(X)
    kw = dict(kernel="linear", tol=1e-6, max_rounds=4, C2=0.01, gamma2=1.0)
    smo = _fit_da(X, y, bags, T, Xt, solver="smo", **kw)
    pri = _fit_da(X, y, bags, T, Xt, solver="primal", **kw)
    assert calls  # the path under test was taken
    _same_fit(smo, pri, X)
