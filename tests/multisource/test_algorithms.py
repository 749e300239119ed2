"""MDA-HS building blocks against cvxpy reference formulations of the same objectives."""

import cvxpy as cp
import numpy as np
import pytest

from webly.multisource import _mdahs as A
from webly.solvers.l2svmplus import l2svmplus_privileged_factors, l2svmplus_privileged_term
from webly.solvers.mkl import _constraint, update_group_weights


def _psd(n, rng, rank=None):
    F = rng.normal(size=(n, rank or n))
    return F @ F.T / n + 0.1 * np.eye(n)


def _weights_reference(q, norm, eta):
    mu = cp.Variable(q.shape, nonneg=True)
    groups = sum(cp.norm(mu[:, t], 2) for t in range(q.shape[1]))
    cons = [groups <= 1] if norm == "l21" else [(1 - eta) * groups + eta * cp.sum_squares(mu) <= 1]
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(q, cp.inv_pos(mu)))), cons)
    prob.solve()
    return mu.value, prob.value


@pytest.mark.parametrize("norm,eta", [("l21", 0.0), ("elastic-net", 0.3), ("elastic-net", 0.8)])
def test_closed_form_weights_match_cvxpy(norm, eta):
    rng = np.random.default_rng(1)
    q = rng.uniform(0.1, 2.0, size=(4, 3))
    mu = update_group_weights(q, norm, eta)
    ref_mu, ref_val = _weights_reference(q, norm, eta)
    assert np.sum(q / mu) == pytest.approx(ref_val, rel=1e-4)
    assert np.abs(mu - ref_mu).max() < 1e-3
    assert _constraint(mu, norm, eta) == pytest.approx(1.0, abs=1e-8)


def test_labelling_is_never_all_negative_nor_all_positive():
    # the released code could propose an all-negative labelling when every score is negative
    for scores in (-np.ones(20), -np.arange(20.0), np.ones(20)):
        for br in (0.0, 0.5, 5.0):
            y = A.balanced_labelling(scores, A.positive_band(0.1, 20, br))
            assert 1 <= np.sum(y > 0) <= 19
    lo, hi = A.positive_band(0.1, 100, 0.5)
    assert (lo, hi) == (6, 15)  # r n / (1 + br) .. r n (1 + br)
    y = A.balanced_labelling(np.linspace(1, -1, 100), (lo, hi))
    assert np.sum(y > 0) == 15  # 50 positive scores, capped by the ratio rule


def _tiny_problem(rng, theta=0.5):
    n_s, n_t = 6, 6
    Xs = [rng.normal(size=(n_s, 2)), rng.normal(size=(n_s, 2)) + 1.0]
    Xt = rng.normal(size=(n_t, 2))
    lin = lambda P, R: P @ R.T + 1.0  # noqa: E731
    kernels = [{"source": s, "feature": 0, "K_ss": lin(Xs[s], Xs[s]), "K_st": lin(Xs[s], Xt)}
               for s in range(2)]
    K_tt = [lin(Xt, Xt)]
    y_src = np.tile([1.0, -1.0], n_s)
    prior = rng.normal(size=(n_t, 2))
    D_src = np.full(2 * n_s, 1.0)
    problem = A.MDAHSProblem(kernels, K_tt, [slice(0, n_s), slice(n_s, 2 * n_s)], y_src, prior,
                             theta, D_src, 10.0)
    # full (n, n) base kernels for the reference
    n = 2 * n_s + n_t
    full = []
    for s in range(2):
        K = np.zeros((n, n))
        rows = np.r_[np.arange(s * n_s, (s + 1) * n_s), np.arange(2 * n_s, n)]
        Z = np.vstack([Xs[s], Xt])
        K[np.ix_(rows, rows)] = lin(Z, Z)
        K[2 * n_s:, 2 * n_s:] += np.outer(prior[:, s], prior[:, s]) / theta
        full.append(K)
    D = np.r_[D_src, np.full(n_t, 0.1)]
    return problem, full, D, y_src


def test_problem_hessian_matches_explicit_sum():
    rng = np.random.default_rng(2)
    problem, full, D, y_src = _tiny_problem(rng)
    Y = np.column_stack([np.sign(rng.normal(size=6)), np.sign(rng.normal(size=6))])
    mu = rng.uniform(0.1, 1.0, size=(2, 2))
    Q = problem.build_Q(mu, Y).copy()
    ref = np.diag(D)
    for k in range(2):
        for t in range(2):
            yt = np.r_[y_src, Y[:, t]]
            ref += mu[k, t] * full[k] * np.outer(yt, yt)
    assert np.allclose(Q, ref)
    a = rng.dirichlet(np.ones(18))
    c = problem.kernel_values(a, Y)
    for k in range(2):
        for t in range(2):
            ay = a * np.r_[y_src, Y[:, t]]
            assert c[k, t] == pytest.approx(ay @ full[k] @ ay)


def test_mkl_alternation_reaches_the_cvxpy_saddle_value():
    rng = np.random.default_rng(3)
    problem, full, D, y_src = _tiny_problem(rng)
    init = [np.sign(rng.normal(size=6)) for _ in range(2)]
    init = [np.where(y == 0, 1.0, y) for y in init]
    sol, info = A.mdahs_binary(problem, init, ratio=0.5, max_rounds=0,
                               mkl_max_iter=300, mkl_tol=1e-9, tol=1e-8)
    Y = sol["Y"]
    # rho* = max_mu min_a a'Q(mu)a = min_a [max_t ||c_t(a)||_2 + a'Da]  (minimax, l_{2,1} dual norm)
    n = 18
    a = cp.Variable(n, nonneg=True)
    u = cp.Variable((2, Y.shape[1]))
    cons = [cp.sum(a) == 1]
    for k in range(2):
        w, V = np.linalg.eigh(full[k])
        L = V * np.sqrt(np.maximum(w, 0))
        for t in range(Y.shape[1]):
            yt = np.r_[y_src, Y[:, t]]
            cons.append(u[k, t] >= cp.sum_squares(L.T @ cp.multiply(yt, a)))
    obj = cp.max(cp.hstack([cp.norm(u[:, t], 2) for t in range(Y.shape[1])])) + D @ cp.square(a)
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve()
    assert sol["rho"] == pytest.approx(prob.value, rel=2e-3)
    assert _constraint(sol["mu"], "l21", 0) == pytest.approx(1.0)


def test_cutting_plane_adds_labellings_and_keeps_band():
    rng = np.random.default_rng(4)
    problem, _, _, _ = _tiny_problem(rng)
    init = [np.array([1.0, -1, -1, 1, -1, -1])]
    sol, info = A.mdahs_binary(problem, init, ratio=0.5, balance_ratios=(0.0, 0.5),
                               max_rounds=3)
    lo, hi = A.positive_band(0.5, 6, 0.5)
    for t in range(1, sol["Y"].shape[1]):
        assert lo <= np.sum(sol["Y"][:, t] > 0) <= hi
    assert info["n_qp"] >= 1 and info["status"] in ("converged", "max_iter")


def test_hessian_of_a_source_with_two_feature_types_sums_both_cross_blocks():
    # source 0 has feature types 0 and 1, source 1 only type 0: Q must be the explicit sum of the
    # base kernels (s, m), whose cross blocks source-target add up for source 0
    rng = np.random.default_rng(5)
    n_s, n_t = 5, 4
    lin = lambda P, R: P @ R.T + 1.0  # noqa: E731
    Xs = {(0, 0): rng.normal(size=(n_s, 2)), (0, 1): rng.normal(size=(n_s, 3)),
          (1, 0): rng.normal(size=(n_s, 2))}
    Xt = {0: rng.normal(size=(n_t, 2)), 1: rng.normal(size=(n_t, 3))}
    names = [(0, 0), (0, 1), (1, 0)]
    kernels = [{"source": s, "feature": m, "K_ss": lin(Xs[s, m], Xs[s, m]),
                "K_st": lin(Xs[s, m], Xt[m])} for s, m in names]
    K_tt = [lin(Xt[0], Xt[0]), lin(Xt[1], Xt[1])]
    y_src = np.tile([1.0, -1.0], n_s)[:2 * n_s]
    prior = rng.normal(size=(n_t, 2))
    theta = 0.5
    slices = [slice(0, n_s), slice(n_s, 2 * n_s)]
    problem = A.MDAHSProblem(kernels, K_tt, slices, y_src, prior, theta, np.ones(2 * n_s), 10.0)
    n = 2 * n_s + n_t
    nf = {0: 2, 1: 1}
    full = []
    for s, m in names:
        K = np.zeros((n, n))
        rows = np.r_[np.arange(s * n_s, (s + 1) * n_s), np.arange(2 * n_s, n)]
        Z = np.vstack([Xs[s, m], Xt[m]])
        K[np.ix_(rows, rows)] = lin(Z, Z)
        K[2 * n_s:, 2 * n_s:] += np.outer(prior[:, s], prior[:, s]) / (theta * nf[s])
        full.append(K)
    Y = np.column_stack([np.sign(rng.normal(size=n_t)) + 0.5, np.sign(rng.normal(size=n_t)) + 0.5])
    Y = np.sign(Y)
    mu = rng.uniform(0.1, 1.0, size=(3, 2))
    Q = problem.build_Q(mu, Y).copy()
    ref = np.diag(np.r_[np.ones(2 * n_s), np.full(n_t, 0.1)])
    for k in range(3):
        for t in range(2):
            yt = np.r_[y_src, Y[:, t]]
            ref += mu[k, t] * full[k] * np.outer(yt, yt)
    assert np.allclose(Q, ref)
    a = rng.dirichlet(np.ones(n))
    c = problem.kernel_values(a, Y)
    for k in range(3):
        for t in range(2):
            ay = a * np.r_[y_src, Y[:, t]]
            assert c[k, t] == pytest.approx(ay @ full[k] @ ay)


def test_authors_search_returns_the_most_violated_candidate_of_every_coordinate():
    # the vectorised search against the definition: for each count k, over kernels and
    # coordinates i of the kernel's square root, the k lowest or the k highest a_r X_ri of the
    # target rows +1, scored by |sum_r a_r y_r X_ri| with the source rows' own labels
    rng = np.random.default_rng(3)
    problem = _tiny_problem(rng)[0]
    a = rng.dirichlet(np.ones(problem.n))
    counts = [1, 2, 4, 5]
    got = A.authors_violated_labellings(problem, a, counts)
    n_S, n_t = problem.n_S, problem.n_t
    for k, y_got in zip(counts, got):
        best, y_best = -np.inf, None
        for j, kern in enumerate(problem.kernels):
            sl = problem.src_slices[kern["source"]]
            X = problem.kernel_sqrt(j)
            rows = np.r_[np.arange(sl.start, sl.stop), np.arange(n_S, n_S + n_t)]
            for i in range(X.shape[1]):
                t = a[rows] * X[:, i]
                for pick in (np.argsort(t[-n_t:])[:k], np.argsort(t[-n_t:])[n_t - k:]):
                    y = -np.ones(n_t)
                    y[pick] = 1.0
                    value = abs(t[:-n_t] @ problem.y_src[sl] + t[-n_t:] @ y)
                    if value > best:
                        best, y_best = value, y
        np.testing.assert_array_equal(y_got, y_best)
        assert np.sum(y_got > 0) == k
    # the square root is of the whole kernel of the source + target rows, prior included
    kern = problem.kernels[1]
    X = problem.kernel_sqrt(1)
    p = problem.prior[:, 1]
    K = np.block([[kern["K_ss"], kern["K_st"]],
                  [kern["K_st"].T, problem.K_tt[0] + np.outer(p, p) / problem.theta]])
    np.testing.assert_allclose(X @ X.T, K, atol=1e-10)


def test_authors_positive_counts_follow_the_release_and_never_empty_a_class():
    # release: r = (1 + br) n_pos / n_neg; round(n_t r / (1 + r)) at the start, floor in the
    # search; here clamped to [1, n_t - 1]
    assert A.authors_positive_counts(28, 32, 30, [0.0, 0.5], rule="initial") == [14, 17]
    assert A.authors_positive_counts(28, 32, 30, [0.0, 0.5], rule="search") == [14, 17]
    assert A.authors_positive_counts(33, 27, 30, [0.2], rule="initial") == [18]  # 17.7
    assert A.authors_positive_counts(33, 27, 30, [0.2], rule="search") == [17]
    assert A.authors_positive_counts(1, 99, 20, [0.0], rule="search") == [1]  # 0.2 -> 1
    assert A.authors_positive_counts(99, 1, 20, [0.0], rule="initial") == [19]


def test_source_slack_is_the_dense_source_block():
    # MDA-HS+'s source block D: 1/C_s on rows without text, one L2-SVM+ term per correcting
    # function (thin factors for a linear text kernel, dense otherwise), balance-scaled; added
    # into Q without forming D, and one source's block for the authors' initial labellings
    rng = np.random.default_rng(4)
    n_S, C = 40, 2.0
    T1 = rng.normal(size=(12, 3))
    r1, r2 = np.arange(5, 17), np.r_[20:25, 30:35]           # the second one scattered
    dense2 = l2svmplus_privileged_term(10, C, 0.5, K_priv=_psd(10, rng))
    diag = np.full(n_S, 1.0 / C)
    diag[r1] = diag[r2] = 0.0
    D = np.diag(diag)
    D[np.ix_(r1, r1)] += l2svmplus_privileged_term(12, C, 0.5, F_priv=T1)
    D[np.ix_(r2, r2)] += dense2
    scale = rng.uniform(0.5, 2.0, n_S)
    D = np.sqrt(scale)[:, None] * D * np.sqrt(scale)[None, :]
    slack = A.SourceSlack(diag, [(r1, l2svmplus_privileged_factors(12, C, 0.5, T1)),
                                 (r2, dense2.copy())]).scaled(scale)
    Q = np.zeros((n_S + 6, n_S + 6))
    slack.add_to(Q)
    assert np.allclose(Q[:n_S, :n_S], D, rtol=0, atol=1e-14)
    assert not Q[n_S:].any() and not Q[:, n_S:].any()
    for sl in (slice(0, 18), slice(18, 40)):
        assert np.allclose(slack.block(sl), D[sl, sl], rtol=0, atol=1e-14)
