"""The primal-dual active-set start (webly.solvers.pdas) against cvxpy, and its fall-backs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from webly.errors import DataError
from webly.kernels import gaussian_kernel, linear_kernel
from webly.solvers import KernelQP, qp_objective, smo_solve, split_solution, svmplus_qp
from webly.solvers import pdas
from webly.solvers.problems import privileged_block
from webly.solvers.reference import reference_solve

@pytest.fixture(autouse=True)
def _small_problems_too(monkeypatch):
    # the phase runs from pdas.MIN_UNITS units on; these problems are small
    monkeypatch.setattr(pdas, "MIN_UNITS", 0)


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
log_uniform = st.floats(-1.0, 2.0).map(lambda e: float(10.0 ** e))


def _data(seed, n, d=4, r=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + rng.normal(scale=0.7, size=n) > 0, 1.0, -1.0)
    y[:2] = (1.0, -1.0)
    T = np.c_[X[:, :1], rng.normal(size=(n, r - 1))]
    return X, y, T


def _feasible(qp, x, atol=1e-8):
    a, (z,) = split_solution(qp, x)
    b = qp.blocks[0]
    scale = max(1.0, np.abs(x).max()) * qp.n
    return (np.all(a >= 0) and np.all(a <= qp.upper) and np.all(z >= 0)
            and abs(qp.y @ a - qp.y_total) <= atol * scale
            and abs(a[b.index].sum() + z.sum() - b.lo) <= atol * scale)


def _check(qp):
    """The active-set phase alone reaches the reference optimum; smo_solve then only verifies."""
    v = qp.validate()
    x, info = pdas.active_set_solve(v)
    assert x is not None, info["reason"]
    assert _feasible(v, x)
    _, ref = reference_solve(qp)
    obj = qp_objective(v, x)
    assert abs(obj - ref["objective"]) <= 1e-7 * max(1.0, abs(ref["objective"]))
    xs, sinfo = smo_solve(qp, tol=1e-6)
    assert sinfo["status"] == "converged" and sinfo["n_active_set_rounds"] >= 1
    # the start already meets the KKT conditions, up to rounding where the duals are large
    assert sinfo["n_iter"] <= 5
    assert sinfo["objective"] == pytest.approx(obj, rel=1e-9, abs=1e-9)
    return x, info


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(6, 150), C=log_uniform, gamma=log_uniform)
@example(seed=3, n=150, C=100.0, gamma=0.1)
def test_svmplus_with_a_linear_privileged_kernel_matches_cvxpy(seed, n, C, gamma):
    X, y, T = _data(seed, n)
    _check(svmplus_qp(gaussian_kernel(X), y, linear_kernel(T), C=C, gamma_plus=gamma, factor=T))


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(8, 120), C=log_uniform, rho=st.floats(0.2, 0.9))
def test_a_block_over_some_units_with_bounded_others_matches_cvxpy(seed, n, C, rho):
    # the sMIL-PI shape: the block over the positive units (no upper bound, margin 2 rho - 1),
    # negatives bounded by C_neg and outside the block; y'a = y_total
    X, y, T = _data(seed, n)
    P = np.flatnonzero(y > 0)
    block, const = privileged_block(P, linear_kernel(T[P]), np.full(P.size, C / P.size), 10.0,
                                    factor=T[P])
    qp = KernelQP(K=gaussian_kernel(X), y=y, p=np.where(y > 0, 2 * rho - 1, 1.0),
                  upper=np.where(y > 0, np.inf, 1.0), blocks=(block,), constant=const)
    _check(qp)


def test_a_warm_start_from_a_nearby_problem_takes_fewer_rounds():
    X, y, T = _data(0, 300)
    K, Kp = gaussian_kernel(X), linear_kernel(T)
    x1, _ = smo_solve(svmplus_qp(K, y, Kp, C=1.0, factor=T), tol=1e-8)
    cold, ci = pdas.active_set_solve(svmplus_qp(K, y, Kp, C=1.2, factor=T).validate())
    warm, wi = pdas.active_set_solve(svmplus_qp(K, y, Kp, C=1.2, factor=T).validate(), x0=x1)
    assert wi["rounds"] < ci["rounds"]
    # the same optimum, to the accuracy the free set's conditioning allows (the objective is
    # flat to ~1e-10 in some directions of a: compare values)
    v = svmplus_qp(K, y, Kp, C=1.2, factor=T).validate()
    assert qp_objective(v, warm) == pytest.approx(qp_objective(v, cold), rel=1e-8)


def test_a_singular_visual_kernel_falls_back_to_the_decomposition():
    # a linear visual kernel on 4 features: every free set larger than 4 has a singular Q_FF
    X, y, T = _data(1, 120)
    qp = svmplus_qp(linear_kernel(X), y, linear_kernel(T), C=10.0, factor=T)
    x, info = pdas.active_set_solve(qp.validate())
    assert x is None and "positive definite" in info["reason"]
    xs, sinfo = smo_solve(qp, tol=1e-7)
    assert sinfo["status"] == "converged" and sinfo["n_iter"] > 0
    _, ref = reference_solve(qp)
    assert abs(sinfo["objective"] - ref["objective"]) <= 1e-6 * max(1.0, abs(ref["objective"]))


def test_a_factor_of_another_kernel_is_refused_by_name():
    X, y, T = _data(2, 40)
    with pytest.raises(DataError, match=r"blocks\[0\]\.factor"):
        svmplus_qp(gaussian_kernel(X), y, linear_kernel(T), factor=2.0 * T).validate()
    with pytest.raises(DataError, match=r"blocks\[0\]\.factor"):
        svmplus_qp(gaussian_kernel(X), y, linear_kernel(T), factor=T[:-1]).validate()


def test_an_updated_factor_solves_as_a_direct_one():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(80, 100))
    K = A @ A.T + np.eye(80)
    fac = pdas._Factor(K, np.arange(0, 50))

    def check(F):
        B = rng.normal(size=(F.size, 4))
        direct = np.linalg.solve(K[np.ix_(F, F)], B)
        Y = fac.half(F, B)
        np.testing.assert_allclose(Y.T @ Y, B.T @ direct, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(fac.back(F, Y), direct, rtol=1e-9, atol=1e-11)

    check(np.arange(0, 50))
    # 3 leave (pinned), 2 join (appended), then one of the pinned comes back and 2 more join
    F1 = np.sort(np.r_[np.setdiff1d(np.arange(50), [3, 17, 40]), [52, 55]])
    assert fac.update(K, F1) and fac.size == 52 and fac.R.size == 3
    check(F1)
    F2 = np.sort(np.r_[F1, [17, 60, 70]])
    assert fac.update(K, F2) and fac.size == 54 and fac.R.size == 2
    check(F2)
    # units join while others stay pinned (W and W'W gain the new rows)
    F3 = np.sort(np.r_[F2, [61, 62]])
    assert fac.update(K, F3) and fac.size == 56 and fac.R.size == 2 and len(fac.blocks) == 3
    check(F3)
    # too many pinned: the caller factorises afresh
    assert not fac.update(K, np.arange(30, 60))
    check(F3)   # and the factor is unchanged


@pytest.mark.parametrize("seed", range(5))
def test_the_reduced_qp_matches_cvxpy(seed):
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    r, m = 5, 300
    A = rng.normal(size=(r + 2, r + 2))
    G = A @ A.T * 10.0 ** seed + 0.1 * np.eye(r + 2)       # scales up to 1e4
    h = rng.normal(size=r + 2) * 10.0 ** seed
    J = np.c_[rng.normal(size=(m, r)), np.zeros(m), np.ones(m)]
    q = rng.normal(size=m)
    t, active, mult = pdas._small_qp(G, h, J, q, [])
    tv = cp.Variable(r + 2)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(tv, G) - h @ tv), [J @ tv >= q])
    prob.solve()
    assert 0.5 * t @ G @ t - h @ t <= prob.value + 1e-7 * max(1.0, abs(prob.value))
    assert (J @ t - q).min() >= -1e-9 * max(1.0, np.abs(q).max())
    assert np.all(mult >= 0)
    # stationarity on the working set: G t - h = J_A' z
    np.testing.assert_allclose(G @ t - h, J[active].T @ mult, rtol=1e-8,
                               atol=1e-9 * max(1.0, np.abs(h).max()))
    # warm from the optimal set: the same point; from any set (multipliers of the wrong sign
    # drop it), the same optimum
    for start in (list(active), [int(np.argmin(J @ t - q + 1.0))], list(range(r + 2))):
        t2, _, _ = pdas._small_qp(G, h, J, q, start)
        np.testing.assert_allclose(t2, t, rtol=1e-7, atol=1e-9 * max(1.0, np.abs(t).max()))
