"""The decomposition machinery of the SMO solver: working sets, Newton steps, selection, fallback.

``test_smo.py`` checks solutions against cvxpy on problems small enough to fit in one working set;
here the working-set cap is lowered so that every problem kind goes through several working sets
(Hessian slots refreshed in place, steps carried back into the full gradient), and the pieces
are checked on their own.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

from webly.kernels import gaussian_kernel, linear_kernel
from webly.solvers import (add_domain_adaptation, qp_objective, smil_pi_qp, smo_solve,
                           split_solution, svm_qp, svmplus_qp)
from webly.solvers import smo as smo_module
from webly.solvers.reference import reference_solve


def _data(seed, n, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + rng.normal(scale=0.7, size=n) > 0, 1.0, -1.0)
    y[:2] = (1.0, -1.0)
    return rng, X, y


def _noisy_web(seed, n, d_priv=20):
    """The benchmark's data in small: noisy web labels, privileged 'tags' of the true class."""
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, 6))
    X[:, :2] += y_true[:, None]
    y = y_true.copy()
    y[(y_true == -1) & (rng.random(n) < 0.3)] = 1
    T = np.zeros((n, d_priv))
    T[:, 0] = y_true == 1
    T[:, 1] = y_true == -1
    T += 0.3 * np.abs(rng.normal(size=(n, d_priv)))
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y.astype(float), T


def _feasible(qp, x, atol=1e-9):
    a, zs = split_solution(qp, x)
    scale = max(1.0, np.abs(x).max()) * len(a)
    assert np.all(a >= 0) and np.all(a <= qp.upper)
    assert abs(qp.y @ a - qp.y_total) <= atol * scale
    for b, z in zip(qp.blocks, zs):
        assert np.all(z >= 0)
        assert b.lo - atol * scale <= a[b.index].sum() + z.sum() <= b.hi + atol * scale


def _problems():
    rng, X, y = _data(11, 150)
    K = gaussian_kernel(X)
    Xp = np.c_[X[:, :1] + 0.3 * rng.normal(size=(150, 1)), rng.normal(size=(150, 5))]
    pos = y > 0
    Xt = rng.normal(loc=0.5, size=(30, X.shape[1]))
    k_target = gaussian_kernel(X, Xt, gamma=1.0 / 8.0).sum(axis=1)
    K_da = gaussian_kernel(X, gamma=1.0 / 8.0)
    smil = smil_pi_qp(K, y, pos, linear_kernel(Xp[pos]), C=100.0, gamma_plus=100.0)
    return {
        "svm": svm_qp(K, y, C=10.0),
        "svm+ linear": svmplus_qp(K, y, linear_kernel(Xp) / 6.0, C=3.0, gamma_plus=0.5),
        "svm+ rbf": svmplus_qp(K, y, gaussian_kernel(Xp), C=1.0, gamma_plus=1.0),
        "smil-pi": smil,
        # eps > 0: the DA block's sum is an inequality (a slack variable that can be free)
        "smil-pi-da": add_domain_adaptation(smil, K_da, k_target, 30, C2=10.0, gamma2=10.0,
                                            eps=0.1),
        "svm-da": add_domain_adaptation(svm_qp(K, y, C=1.0), K_da, k_target, 30, C2=100.0,
                                        gamma2=100.0, eps=0.0),
    }


@pytest.fixture
def small_working_sets(monkeypatch):
    monkeypatch.setattr(smo_module, "_Q_MIN", 40)
    monkeypatch.setattr(smo_module, "_Q_MAX", 60)


@pytest.mark.parametrize("kind", list(_problems()))
def test_many_small_working_sets_reach_the_reference(kind, small_working_sets):
    qp = _problems()[kind]
    x, info = smo_solve(qp, tol=1e-7)
    assert info["status"] == "converged" and info["kkt_violation"] <= 1e-7
    assert info["n_working_sets"] > 1
    _feasible(qp, x)
    assert info["objective"] == pytest.approx(qp_objective(qp, x), rel=1e-9, abs=1e-9)
    _, ref = reference_solve(qp)
    assert abs(info["objective"] - ref["objective"]) <= 1e-6 * max(1.0, abs(ref["objective"]))


def _working_set(qp, x0=None):
    """A working set over all variables of a (validated) problem, at a feasible point."""
    qp = qp.validate()
    lay = smo_module._Layout(qp)
    x = smo_module._cold_start(qp, lay) if x0 is None else smo_module._warm_start(qp, lay, x0)
    grad = smo_module._full_gradient(qp, lay, x)
    R = np.flatnonzero(lay.gid >= 0)
    return qp, lay, x, grad, smo_module._WorkingSet(qp, lay, R)


@pytest.mark.parametrize("kind", ["svm+ linear", "smil-pi", "smil-pi-da", "svm"])
def test_newton_step_decreases_the_objective_and_keeps_the_constraints(kind):
    qp0 = _problems()[kind]
    x0, _ = _quiet_solve(qp0, max_iter=60)  # a rough point: a few moves from the cold start
    qp, lay, x, grad, ws = _working_set(qp0, x0)
    xl, gl = x[ws.R].copy(), grad[ws.R].copy()
    for _ in range(4):
        before = ws.A @ xl
        obj = _objective(lay, qp, x, ws, xl)
        dec = ws.newton(xl, gl)
        after = _objective(lay, qp, x, ws, xl)
        assert dec >= 0
        assert after <= obj + 1e-9 * max(1.0, abs(obj))
        assert after == pytest.approx(obj - dec, rel=1e-7, abs=1e-7)
        np.testing.assert_allclose(ws.A @ xl, before, atol=1e-9 * max(1.0, np.abs(xl).sum()))
        assert np.all(xl >= 0) and np.all(xl <= ws.upper)
        # the gradient kept by the step is the gradient at the new point
        full = x.copy()
        full[ws.R] = xl
        np.testing.assert_allclose(gl, smo_module._full_gradient(qp, lay, full)[ws.R],
                                   atol=1e-8 * max(1.0, np.abs(gl).max()))


def _objective(lay, qp, x, ws, xl):
    full = x.copy()
    full[ws.R] = xl
    return qp_objective(qp, full[:lay.n + lay.nz])


def _quiet_solve(qp, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smo_solve(qp, **kw)


def test_active_set_steps_decrease_and_stay_feasible():
    rng = np.random.default_rng(0)
    m = 30
    M = rng.normal(size=(m, m))
    H = M @ M.T / m + 0.1 * np.eye(m)
    A = np.vstack([np.where(rng.random(m) < 0.5, 1.0, -1.0), np.ones(m)])
    x = rng.uniform(0.01, 1.0, size=m)
    g = rng.normal(size=m) * 3
    fac = smo_module._cholesky(lambda: H.copy())
    step, dec = smo_module._active_set_steps(H, A, g, x, np.full(m, np.inf), fac, max_steps=50)
    assert dec > 0
    assert dec == pytest.approx(-(g @ step + 0.5 * step @ H @ step), rel=1e-8)
    np.testing.assert_allclose(A @ step, 0.0, atol=1e-10)
    assert np.all(x + step >= 0)


def test_svmplus_with_a_low_rank_privileged_kernel_does_not_stall():
    """The benchmark's kind of problem: before the violation rule SMO sat for ~half of its
    moves on circuits blocked by a nearly-zero b (KKT violation flat at ~0.4)."""
    X, y, T = _noisy_web(0, 400)
    qp = svmplus_qp(gaussian_kernel(X), y, linear_kernel(T), C=1.0, gamma_plus=1.0)
    x, info = smo_solve(qp, tol=1e-6)
    assert info["status"] == "converged"
    assert info["n_iter"] < 20 * len(y)
    _, ref = reference_solve(qp)
    assert abs(info["objective"] - ref["objective"]) <= 1e-6 * abs(ref["objective"])


def test_a_few_positives_among_many_bounded_negatives():
    """Regression (sbMIL): all variables equally violating at the start, positives a tiny
    minority; a working set of the most violating ones must still hold both labels."""
    rng = np.random.default_rng(2)
    n, n_pos = 900, 8
    X = rng.normal(size=(n, 5))
    y = -np.ones(n)
    y[:n_pos] = 1.0
    X[:n_pos] += 1.0
    upper = np.where(y > 0, 1.25, 0.0116)
    p = np.where(y > 0, 0.2, 1.0)
    qp = svm_qp(gaussian_kernel(X), y, C=upper, p=p)
    x, info = smo_solve(qp, tol=1e-3)
    assert info["status"] == "converged"
    _feasible(qp, x)


def test_a_working_set_without_a_violating_move_falls_back_to_all_variables(monkeypatch):
    qp = _problems()["svm"]
    real = smo_module._select_working_set

    def negatives_only(lay, x, grad, nu, cap, **kw):  # no pair of opposite labels can form
        R = real(lay, x, grad, nu, cap, **kw)
        return R[lay.y[R] < 0]

    from webly.solvers import _smo_kernels

    calls = []
    full_loop = _smo_kernels.smo_loop

    def counted(*args):
        calls.append(1)
        return full_loop(*args)

    monkeypatch.setattr(smo_module, "_select_working_set", negatives_only)
    monkeypatch.setattr(_smo_kernels, "smo_loop", counted)
    x, info = smo_solve(qp, tol=1e-6)
    assert info["status"] == "converged"
    assert calls
    _, ref = reference_solve(qp)
    assert abs(info["objective"] - ref["objective"]) <= 1e-6 * max(1.0, abs(ref["objective"]))


def test_solutions_are_reproducible():
    X, y, T = _noisy_web(1, 600)
    qp = svmplus_qp(gaussian_kernel(X), y, linear_kernel(T))
    x1, i1 = smo_solve(qp, tol=1e-4)
    x2, i2 = smo_solve(qp, tol=1e-4)
    np.testing.assert_array_equal(x1, x2)
    assert i1["n_iter"] == i2["n_iter"] and i1["n_newton"] == i2["n_newton"]


def test_peak_memory_stays_below_twice_the_kernels():
    X, y, T = _noisy_web(2, 1000)
    K, Kp = gaussian_kernel(X), linear_kernel(T)
    qp = svmplus_qp(K, y, Kp)
    smo_solve(svmplus_qp(K[:100, :100], y[:100], Kp[:100, :100]))  # load the compiled code
    tracemalloc.start()
    _, info = smo_solve(qp, tol=5e-4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info["status"] == "converged"
    assert peak < 2 * (K.nbytes + Kp.nbytes)


@pytest.mark.xfail(strict=True, reason="known defect (stop 10): a warm start whose SVM+ block "
                   "total is one ulp above its bound stalls the solver (KKT 0.5 after 10^7 moves; "
                   "3 or more ulps recover in ~200 moves). Clipping the slack and setting the "
                   "total exactly in _warm_start did not cure it; the cause is in the move "
                   "clipping. Strict: it reports when fixed")
def test_warm_start_whose_block_total_is_off_by_rounding_stays_warm():
    # a previous solution meets an equality block's total only up to rounding; the warm start
    # must keep it (slack clipped to [0, hi - lo]) instead of starting cold or stalling
    from webly.kernels import gaussian_kernel, linear_kernel
    from webly.solvers import smo_solve, svmplus_qp

    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 4))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=150) > 0, 1, -1)
    qp = svmplus_qp(gaussian_kernel(X), y, linear_kernel(rng.normal(size=(150, 3))), C=1.0,
                    gamma_plus=1.0)
    x, info = smo_solve(qp, tol=1e-4)
    n = len(y)
    for k in (1, 3, 10, -1, -3, -10):
        start = x.copy()
        zmax = n + int(np.argmax(start[n:2 * n]))
        start[zmax] = start[zmax] + k * np.spacing(start[zmax])  # total off by k ulps
        _, again = smo_solve(qp, x0=start, tol=1e-4, max_iter=100_000)
        assert again["status"] == "converged"
        assert again["n_iter"] <= 5, (k, again["n_iter"])  # warm, not a cold restart
        assert again["objective"] == pytest.approx(info["objective"], rel=1e-9, abs=1e-9)
