"""The one simplex QP (L2-SVM+, MDA-HS, MIL-CPB) against cvxpy; it reports, never warns."""

import warnings

import cvxpy as cp
import numpy as np
import pytest

from webly.solvers import solve_simplex_qp


def _psd(n, rng, rank=None):
    F = rng.normal(size=(n, rank or n))
    return F @ F.T / n + 0.1 * np.eye(n)


def _reference(Q):
    x = cp.Variable(Q.shape[0])
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(Q))),
                      [x >= 0, cp.sum(x) == 1])
    prob.solve()
    return x.value, prob.value


@pytest.mark.parametrize("solver", ["libsvm", "smo"])
@pytest.mark.parametrize("n,rank", [(30, 5), (60, None)])
def test_simplex_qp_matches_cvxpy(solver, n, rank):
    Q = _psd(n, np.random.default_rng(n), rank=rank)
    x, value = _reference(Q)
    a, info = solve_simplex_qp(Q.copy(), tol=1e-6, solver=solver)
    assert info["status"] == "converged"
    assert a.min() >= 0 and abs(a.sum() - 1) < 1e-12
    assert info["objective"] == pytest.approx(value, rel=1e-4)
    assert info["rho"] == pytest.approx(2 * value, rel=1e-4)
    assert np.abs(a - x).max() < 1e-2


def test_in_place_scaling_and_warm_start_give_the_same_minimiser():
    Q = _psd(40, np.random.default_rng(3))
    a, info = solve_simplex_qp(Q.copy(), tol=1e-8, solver="smo")
    Qw = Q.copy()
    b, warm = solve_simplex_qp(Qw, x0=a, tol=1e-8, solver="smo", overwrite_Q=True)
    assert not np.allclose(Qw, Q)  # scaled in place
    assert np.abs(a - b).max() < 1e-6 and warm["n_iter"] <= info["n_iter"]


@pytest.mark.parametrize("solver", ["libsvm", "smo"])
def test_an_iteration_limit_is_a_status_not_a_warning(solver):
    Q = _psd(80, np.random.default_rng(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        a, info = solve_simplex_qp(Q, tol=1e-12, max_iter=2, solver=solver)
    assert info["status"] != "converged"
    assert a.min() >= 0 and abs(a.sum() - 1) < 1e-12  # still a feasible point


def test_one_row_is_its_own_solution():
    a, info = solve_simplex_qp(np.array([[2.0]]))
    assert a.tolist() == [1.0] and info["rho"] == 2.0
