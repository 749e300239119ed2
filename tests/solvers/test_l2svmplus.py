"""The L2-SVM+ kernel path in two n x n arrays (issue 19): the privileged term formed in place,
each one-vs-rest problem's Q formed in the visual kernel's buffer by label flips."""

import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import webly
from webly.kernels import gaussian_kernel, linear_kernel
from webly.solvers.l2svmplus import (_flip_labels, _form_q, _symmetrise, add_privileged_term,
                                     l2svmplus_privileged_factors, l2svmplus_privileged_term,
                                     solve_l2svmplus, solve_l2svmplus_many)
from webly.solvers.simplex import simplex_scale


def _rows(seed=0, n=240, classes=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.normal(size=(n, 6))
    X[:, 0] += y
    T = X[:, :3] + rng.normal(size=(n, 3))
    return X, y, T


def _formula(K_priv, C, gamma):
    n = len(K_priv)
    return (np.eye(n) - np.linalg.inv(np.eye(n) + (C / gamma) * (K_priv + 1.0))) / C


def test_privileged_term_in_place_equals_the_formula_and_is_symmetric():
    _, _, T = _rows()
    K_priv = gaussian_kernel(T, gamma=0.3)
    expected = _formula(K_priv, 2.0, 0.5)
    work = K_priv.copy()
    P = l2svmplus_privileged_term(len(T), 2.0, 0.5, K_priv=work, overwrite_K_priv=True)
    assert np.shares_memory(P, work)                 # no second n x n array
    assert np.array_equal(P, P.T)
    assert np.max(np.abs(P - expected)) <= 1e-12 * np.max(np.abs(expected))
    kept = K_priv.copy()
    l2svmplus_privileged_term(len(T), 2.0, 0.5, K_priv=kept)
    assert np.array_equal(kept, K_priv)              # untouched without overwrite_K_priv
    # the Woodbury form of a linear privileged kernel is the same matrix
    P_lin = l2svmplus_privileged_term(len(T), 2.0, 0.5, F_priv=T)
    assert np.array_equal(P_lin, P_lin.T)
    ref = _formula(linear_kernel(T), 2.0, 0.5)     # I - inverse: cancellation, ~1e-12 off
    assert np.max(np.abs(P_lin - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_privileged_term_is_added_block_by_block_from_its_factors():
    # MDA-HS+ adds the term of a linear text kernel from its thin factors (no n x n array): the
    # values of the dense term, up to the products' last bits, into a slice or scattered rows
    _, _, T = _rows(n=700)
    n = len(T)
    Psi, W = l2svmplus_privileged_factors(n, 2.0, 0.5, T)
    assert Psi.shape == (n, 4) and W.shape == (4, n)
    P = l2svmplus_privileged_term(n, 2.0, 0.5, F_priv=T)
    assert np.array_equal(P, _symmetrise(Psi @ W))
    tol = 1e-14 * np.abs(P).max()
    out = np.full((n + 9, n + 9), 3.0)
    add_privileged_term(out, (Psi, W), np.arange(5, 5 + n))
    ref = np.full((n + 9, n + 9), 3.0)
    ref[5:5 + n, 5:5 + n] += P
    assert np.max(np.abs(out - ref)) <= tol
    idx = np.sort(np.random.default_rng(2).choice(n + 9, n, replace=False))
    ref = np.zeros((n + 9, n + 9))
    ref[np.ix_(idx, idx)] = P
    for term in ((Psi, W), P):      # factors, and a dense term, into scattered rows
        out = np.zeros((n + 9, n + 9))
        add_privileged_term(out, term, idx)
        assert np.max(np.abs(out - ref)) <= tol
    # the factors are no smaller than the term once d~ + 1 >= n
    assert l2svmplus_privileged_factors(3, 2.0, 0.5, T[:3]) is None


def test_an_indefinite_privileged_kernel_is_named():
    from webly.errors import DataError

    with pytest.raises(DataError, match="X_priv.*positive semi-definite"):
        l2svmplus_privileged_term(3, 1.0, 1.0, K_priv=-10.0 * np.eye(3))


@pytest.mark.parametrize("priv", ["dense", "scalar"])
def test_label_flips_give_each_problems_q(priv):
    X, y, T = _rows()
    K = gaussian_kernel(X, gamma=0.2)
    P = l2svmplus_privileged_term(len(y), 1.0, 1.0, F_priv=T) if priv == "dense" else 0.5
    ys = [np.where(y == k, 1.0, -1.0) for k in range(4)]
    Q = _form_q(K.copy(), ys[0], P)
    scale = simplex_scale(Q)
    Q *= scale
    for k in range(1, 4):
        before = Q.copy()
        _flip_labels(Q, P, scale, ys[k] != ys[k - 1])
        kept = np.outer(ys[k], ys[k]) == np.outer(ys[k - 1], ys[k - 1])
        assert np.array_equal(Q[kept], before[kept])     # only the flipped entries are written
        fresh = _form_q(K.copy(), ys[k], P) * scale
        if priv == "scalar":   # -Q_ij is exact
            assert np.array_equal(Q, fresh)
        else:
            assert np.max(np.abs(Q - fresh)) <= 1e-14 * np.max(np.abs(fresh))


def test_problems_in_one_buffer_solve_as_fresh_ones_whatever_n_jobs():
    X, y, T = _rows(1)
    K = gaussian_kernel(X, gamma=0.2)
    P = l2svmplus_privileged_term(len(y), 1.0, 1.0, F_priv=T)
    ys = [np.where(y == k, 1.0, -1.0) for k in range(4)]
    with threadpool_limits(1):
        fits = {nj: solve_l2svmplus_many(K.copy(), ys, P, tol=1e-9, n_jobs=nj,
                                         overwrite_K=True) for nj in (1, 2, 3)}
    for k, y_k in enumerate(ys):
        a, info = solve_l2svmplus(K, y_k, P, tol=1e-9)
        b, binfo = fits[1][k]
        assert abs(binfo["objective"] - info["objective"]) <= 1e-9 * info["objective"]
        assert np.max(np.abs(a - b)) <= 1e-6
        assert binfo["intercept"] == pytest.approx(float(b @ y_k))
        assert np.allclose(binfo["correcting_values"], P @ b)
        for nj in (2, 3):   # every run replays the same flips: bit for bit the same problem
            assert np.array_equal(fits[nj][k][0], b)


def test_the_estimator_overwrites_only_its_own_kernels():
    X, y, T = _rows(2, n=120, classes=3)
    K = gaussian_kernel(X, gamma=0.2)
    K_priv = gaussian_kernel(T, gamma=0.3)
    K0, Kp0 = K.copy(), K_priv.copy()
    a = webly.L2SVMPlusClassifier(kernel="precomputed", kernel_priv="precomputed").fit(
        K, y, X_priv=K_priv)
    assert np.array_equal(K, K0) and np.array_equal(K_priv, Kp0)   # the user's arrays
    b = webly.L2SVMPlusClassifier(kernel="rbf", gamma=0.2, kernel_priv="rbf",
                                  gamma_priv=0.3).fit(X, y, X_priv=T)
    assert np.allclose(a.dual_coef_, b.dual_coef_, atol=1e-12)


@pytest.mark.parametrize("kernel_priv", ["linear", "rbf", None])
@pytest.mark.parametrize("classes", [2, 3])
def test_fit_holds_two_kernel_sized_arrays(monkeypatch, kernel_priv, classes):
    # what the fit itself holds besides the solver's working set (a fixed share, up to 4,000
    # variables; see smo_solve): K, in which each Q is formed, and P. Before: 4.0-6.0 n x n
    # arrays. The solve is replaced by the uniform a, so only the fit's own arrays show
    from webly.solvers import l2svmplus

    def uniform(Q, x0=None, tol=None, max_iter=None, solver=None, scaled=None):
        a = np.full(Q.shape[0], 1.0 / Q.shape[0])
        rho = float(a @ (Q @ a)) / scaled
        return a, {"status": "converged", "n_iter": 0, "objective": rho / 2, "rho": rho,
                   "seconds": 0.0}

    monkeypatch.setattr(l2svmplus, "solve_simplex_qp", uniform)
    X, y, T = _rows(3, n=2000, classes=classes)
    kw = {"X_priv": T} if kernel_priv else {}
    est = webly.L2SVMPlusClassifier(kernel_priv=kernel_priv or "linear")
    est.fit(X[:100], y[:100], **{k: v[:100] for k, v in kw.items()})
    tracemalloc.start()
    est.fit(X, y, **kw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrays = peak / (8.0 * len(y) ** 2)
    assert arrays <= (2.1 if kernel_priv else 1.1), arrays
