"""Low-rank representation by inexact ALM: planted recovery and agreement with cvxpy."""

import numpy as np
import pytest

from webly.errors import DataError
from webly.semantic.lrr import lrr, lrr_objective


def _planted(seed=0, d=30, n=80, rank=3, n_bad=8):
    rng = np.random.default_rng(seed)
    L0 = rng.normal(size=(d, rank)) @ rng.normal(size=(rank, n))
    E0 = np.zeros((d, n))
    bad = np.sort(rng.choice(n, n_bad, replace=False))
    E0[:, bad] = 3.0 * rng.normal(size=(d, n_bad))
    return L0, E0, bad


def test_lrr_recovers_planted_low_rank_plus_column_sparse_decomposition():
    L0, E0, bad = _planted()
    X = L0 + E0
    Z, E, info = lrr(X, lam=0.05)
    assert info["status"] == "converged" and info["residual"] < 1e-8
    # exactly the corrupted columns carry error ...
    flagged = np.nonzero(np.linalg.norm(E, axis=0) > 1e-6)[0]
    np.testing.assert_array_equal(flagged, bad)
    # ... the clean columns are reproduced exactly by the representation ...
    good = np.setdiff1d(np.arange(X.shape[1]), bad)
    np.testing.assert_allclose((X @ Z)[:, good], L0[:, good], atol=1e-6)
    # ... and the row space of Z on them is the planted rank-3 row space
    V0 = np.linalg.svd(L0[:, good])[2][:3].T
    Vz = np.linalg.svd(Z[np.ix_(good, good)])[2][:3].T
    np.testing.assert_allclose(np.linalg.svd(V0.T @ Vz, compute_uv=False), 1.0, atol=1e-6)


def test_lrr_objective_matches_cvxpy_on_a_tiny_instance():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(1)
    X, A, lam = rng.normal(size=(5, 8)), rng.normal(size=(5, 6)), 0.5
    Z, E, info = lrr(X, A, lam=lam)
    assert info["status"] == "converged"
    np.testing.assert_allclose(A @ Z + E, X, atol=1e-7)
    Zv, Ev = cp.Variable((6, 8)), cp.Variable((5, 8))
    prob = cp.Problem(cp.Minimize(cp.normNuc(Zv) + lam * cp.mixed_norm(Ev.T, 2, 1)),
                      [X == A @ Zv + Ev])
    prob.solve(solver=cp.CLARABEL)
    assert info["objective"] == pytest.approx(lrr_objective(Z, E, lam))
    # inexact ALM stops at a feasible point within a small relative gap of the optimum
    assert info["objective"] == pytest.approx(prob.value, rel=1e-3)
    assert info["objective"] >= prob.value - 1e-6


@pytest.mark.parametrize("svt", ["gram", "svd"])
def test_row_space_reduction_and_svt_variants_give_the_same_solution(svt):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(6, 40))          # more atoms than dimensions: reduce pays off
    X = rng.normal(size=(6, 15))
    Z_full, E_full, info_full = lrr(X, A, lam=0.3, reduce=False, svt="svd")
    Z, E, info = lrr(X, A, lam=0.3, reduce=True, svt=svt)
    assert Z.shape == (40, 15) and E.shape == (6, 15)
    assert info["objective"] == pytest.approx(info_full["objective"], rel=1e-6)
    np.testing.assert_allclose(A @ Z, A @ Z_full, atol=1e-6)


def test_lrr_reports_non_convergence_instead_of_hiding_it():
    L0, E0, _ = _planted(seed=3)
    _, _, info = lrr(L0 + E0, lam=0.05, max_iter=5)
    assert info["status"] == "max_iter" and info["n_iter"] == 5 and info["residual"] > 1e-8


@pytest.mark.parametrize("kwargs, match", [
    ({"X": np.ones((3, 4)), "A": np.ones((2, 4))}, "A: must be a finite 2-D array with 3 rows"),
    ({"X": np.array([[np.nan]])}, "X: must be a finite"),
    ({"X": np.ones((3, 4)), "lam": 0.0}, "lam: must be > 0"),
    ({"X": np.ones((3, 4)), "svt": "qr"}, "svt: must be"),
])
def test_lrr_input_errors_name_the_argument(kwargs, match):
    with pytest.raises(DataError, match=match):
        lrr(**kwargs)
