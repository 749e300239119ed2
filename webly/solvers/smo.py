"""Decomposition (SMO-style) solver for the SVM+ family of kernel QPs (:class:`KernelQP`).

Method
------
The equality constraints of a :class:`~webly.solvers.problems.KernelQP` are ``y'a = y_total`` and
one sum constraint per correcting block (an inequality ``lo <= sum v <= hi`` becomes an equality
with a slack variable in ``[0, hi - lo]``). Each variable therefore has a *signature* in
``R^{1+J}`` (its coefficients in those constraints): ``(y_i, [i in S_1], [i in S_2])`` for
``a_i`` and the unit vector ``e_j`` for ``z_j`` and the slack of block j. Variables whose
signatures agree up to sign form a *group* (all ``a`` outside every block form one group, with
sign ``y_i``, exactly as in libsvm). Feasible moves with the fewest variables are

* **pairs inside a group**: ``d = s_i e_i - s_t e_t``; chosen by the second-order working-set
  selection WSS2 of Fan, Chen & Lin (2005) (for an SVM this *is* libsvm's SMO); for SVM+ these
  are the same-label pairs of ``a`` and the pairs of ``b`` of Pechyony et al.'s aSMO;
* **circuits across groups**: a minimal linear dependency ``sum_G c_G sigma_G = 0`` between 3 or
  4 group signatures (e.g. ``a_i + a_k - 2 b_l`` for an opposite-label pair in SVM+, Pechyony's
  caSMO move), with the most violating variable of each group;
* **compound moves**: ``a_u`` together with ``-z_{j,u}`` in each block of unit u leaves every
  block sum ``v_j`` unchanged, so it has signature ``(y_u, 0, 0)`` and joins the plain group:
  for fixed ``v`` the ``a``-problem is an SVM with box ``a_u <= v_u`` and these pairs solve it
  as libsvm does (SVM+ from its natural start ``b = C`` begins as the C-SVM).

Every iteration evaluates the best pair of each group and both orientations of each circuit, and
takes the exact (box-clipped) line-search step of the move with the largest decrease of the
objective. The gradient is maintained; a move reads one row of K per changed ``a`` and one row
of ``G_j`` per changed member of block j. Kernel matrices are passed precomputed and used in
place (the whole matrix is the row cache); the Hessian over ``[a; z_1; z_2]`` is never formed.

Stopping: the KKT conditions hold with violation ``eps`` iff there are multipliers ``nu`` (the
biases) such that every variable's reduced gradient ``g_u + sigma_u' nu`` is ``>= -eps`` at its
lower bound, ``<= eps`` at its upper bound and within ``eps`` of 0 in between. The reported
``kkt_violation`` is the smallest such ``eps`` (a tiny LP over ``nu``; closed form for a single
group), and ``nu`` is returned as ``multipliers``. The inner loop stops on a cheap bound of it
(pair gaps / 2 and circuit violations / sum|c|); the driver tightens that bound until the exact
violation is ``<= tol``.

References
----------
R.-E. Fan, P.-H. Chen, C.-J. Lin. Working set selection using second order information for
training support vector machines. JMLR 6, 2005.

D. Pechyony, R. Izmailov, A. Vashist, V. Vapnik. SMO-style algorithms for learning using
privileged information. DMIN 2010.

V. Vapnik, A. Vashist. A new learning paradigm: learning using privileged information. Neural
Networks 22, 2009.
"""

import itertools
import logging
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..errors import DataError
from .problems import KernelQP

logger = logging.getLogger(__name__)

__all__ = ["smo_solve", "kkt_violation", "qp_kkt"]


class _Layout:
    """Flat variable layout, groups and circuits of a validated problem."""

    def __init__(self, qp):
        n = qp.n
        blocks = qp.blocks
        J = len(blocks)
        ms = [len(b.index) for b in blocks] + [0] * (2 - J)
        self.n, self.J, self.m1, self.m2 = n, J, ms[0], ms[1]
        self.nz = ms[0] + ms[1]
        N = n + self.nz + 2
        self.N = N
        self.slack = (n + self.nz, n + self.nz + 1)
        p = [np.full(N, -1, dtype=np.int64), np.full(N, -1, dtype=np.int64)]
        S = [np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)]
        G = [np.zeros((0, 0)), np.zeros((0, 0))]
        ig = [0.0, 0.0]
        upper = np.empty(N)
        upper[:n] = qp.upper
        upper[n:n + self.nz] = np.inf
        upper[N - 2:] = 0.0
        lin = np.zeros(N)
        lin[:n] = -qp.p
        self.zstart = [n, n + ms[0]]
        for j, b in enumerate(blocks):
            m = ms[j]
            zs = self.zstart[j]
            p[j][b.index] = np.arange(m)
            p[j][zs:zs + m] = np.arange(m)
            S[j], G[j], ig[j] = b.index, b.kernel, 1.0 / b.gamma
            lin[b.index] -= b.linear
            lin[zs:zs + m] = -b.linear
            upper[self.slack[j]] = b.hi - b.lo
        self.p1, self.p2 = p
        self.S1, self.S2 = S
        self.G1, self.G2 = G
        self.ig1, self.ig2 = ig
        self.upper, self.lin = upper, lin
        hdiag = np.zeros(N)
        hdiag[:n] = np.diag(qp.K)
        for j, b in enumerate(blocks):
            gd = np.diag(b.kernel) / b.gamma
            hdiag[b.index] += gd
            hdiag[self.zstart[j]:self.zstart[j] + ms[j]] = gd
        self.hdiag = hdiag
        self.y = qp.y

        # signatures -> groups
        d = 1 + J
        sgn = np.ones(N)
        keys = {}
        gid = np.full(N, -1, dtype=np.int64)
        sigs = []

        def group_of(key, sig):
            if key not in keys:
                keys[key] = len(sigs)
                sigs.append(sig)
            return keys[key]

        memb = np.zeros((n, J), dtype=np.int64)
        for j, b in enumerate(blocks):
            memb[b.index, j] = 1
        # one code per (label, memberships); units outside every block share the plain group
        code = (qp.y > 0).astype(np.int64)
        for j in range(J):
            code = code + (2 << j) * memb[:, j]
        plain = memb.sum(axis=1) == 0
        code[plain] = -1
        movable = upper[:n] > 0
        sgn[:n][plain] = qp.y[plain]
        for cval in np.unique(code[movable]):
            rows = np.flatnonzero((code == cval) & movable)
            if cval < 0:
                gid[rows] = group_of(("plain",), np.eye(d)[0])
            else:
                i = rows[0]
                gid[rows] = group_of(("a", qp.y[i]) + tuple(memb[i]),
                                     np.r_[qp.y[i], memb[i]].astype(float))
        for j in range(J):
            zs = self.zstart[j]
            gid[zs:zs + ms[j]] = group_of(("z", j), np.eye(d)[1 + j])
            if upper[self.slack[j]] > 0:
                gid[self.slack[j]] = group_of(("z", j), np.eye(d)[1 + j])
        self.sgn, self.gid = sgn, gid  # real variables only (used by the KKT check)

        # compound variables: a_u with -z_{j,u} in each block of u (plain-group members)
        in_block = np.flatnonzero((memb.sum(axis=1) > 0) & (upper[:n] > 0)) if J else \
            np.zeros(0, dtype=np.int64)
        nv = in_block.size
        NV = N + nv
        unit = np.full(NV, -1, dtype=np.int64)
        unit[:n] = np.arange(n)
        unit[N:] = in_block
        vz = [np.full(NV, -1, dtype=np.int64), np.full(NV, -1, dtype=np.int64)]
        for j in range(J):
            pos = p[j][in_block]
            vz[j][N:] = np.where(pos >= 0, self.zstart[j] + pos, -1)
        self.unit, self.vz1, self.vz2 = unit, vz[0], vz[1]
        gid_all = np.r_[gid, np.full(nv, group_of(("plain",), np.eye(d)[0]) if nv else -1)]
        self.sgn_all = np.r_[sgn, qp.y[in_block]]
        self.hdiag_all = np.r_[hdiag, np.diag(qp.K)[in_block]]
        self.p1_all = np.r_[self.p1, np.full(nv, -1, dtype=np.int64)]
        self.p2_all = np.r_[self.p2, np.full(nv, -1, dtype=np.int64)]
        self.sigs = np.array(sigs, dtype=float).reshape(len(sigs), d)
        order = np.argsort(gid_all, kind="stable")
        order = order[gid_all[order] >= 0]
        counts = np.bincount(gid_all[order], minlength=len(sigs))
        self.gptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.gidx = order.astype(np.int64)
        self.circ_g, self.circ_c = _circuits(self.sigs)


def _circuits(sigs):
    """Minimal linear dependencies (3 or 4 members) between group signatures, integer-scaled."""
    ng, d = sigs.shape
    found_g, found_c = [], []
    for size in range(3, min(d + 1, ng) + 1):
        for comb in itertools.combinations(range(ng), size):
            M = sigs[list(comb)].T  # d x size
            if np.linalg.matrix_rank(M) != size - 1:
                continue
            if any(np.linalg.matrix_rank(np.delete(M, k, axis=1)) != size - 1 for k in range(size)):
                continue
            c = np.linalg.svd(M)[2][-1]
            c = c / np.min(np.abs(c))
            for mult in range(1, 7):
                cm = c * mult
                if np.allclose(cm, np.round(cm), atol=1e-9):
                    c = np.round(cm)
                    break
            if c[np.argmax(np.abs(c))] < 0:
                c = -c
            found_g.append(list(comb) + [-1] * (4 - size))
            found_c.append(list(c) + [0.0] * (4 - size))
    if not found_g:
        return np.zeros((0, 4), dtype=np.int64), np.zeros((0, 4))
    return np.array(found_g, dtype=np.int64), np.array(found_c, dtype=float)


def _full_gradient(qp, lay, x):
    n = lay.n
    grad = lay.lin.copy()
    a = x[:n]
    if np.any(a):
        grad[:n] += qp.y * (qp.K @ (qp.y * a))
    for j, b in enumerate(qp.blocks):
        zs = lay.zstart[j]
        m = len(b.index)
        v = a[b.index] + x[zs:zs + m]
        h = (b.kernel @ v) / b.gamma
        grad[b.index] += h
        grad[zs:zs + m] += h
    return grad


def _group_bounds(lay, x, grad):
    movable = lay.gid >= 0
    s = lay.sgn
    v = -s * grad
    up = np.where(s > 0, x < lay.upper, x > 0) & movable
    low = np.where(s > 0, x > 0, x < lay.upper) & movable
    ng = len(lay.sigs)
    L = np.full(ng, -np.inf)
    U = np.full(ng, np.inf)
    np.maximum.at(L, lay.gid[up], v[up])
    np.minimum.at(U, lay.gid[low], v[low])
    return L, U


def kkt_violation(sigs, L, U):
    """Smallest ``eps`` such that some ``nu`` has ``L_G - eps <= sigma_G' nu <= U_G + eps``.

    Returns ``(eps, nu)``; ``eps`` is reported clipped at 0, and ``nu`` is the centre of the
    feasible multipliers in the sense of this LP (the libsvm mid-point for a single group).
    """
    ng, d = sigs.shape
    finite = np.isfinite(L) | np.isfinite(U)
    if not finite.any():
        return 0.0, np.zeros(d)
    if ng == 1:
        # one group multiplier mu = sigma' nu: the libsvm mid-point of [L, U]
        lo, hi = L[0], U[0]
        if np.isfinite(lo) and np.isfinite(hi):
            mu, eps = 0.5 * (lo + hi), 0.5 * (lo - hi)
        else:
            mu, eps = (lo if np.isfinite(lo) else hi), 0.0
        return max(eps, 0.0), mu * sigs[0] / (sigs[0] @ sigs[0])
    from scipy.optimize import linprog

    rows, rhs = [], []
    for g in range(ng):
        if np.isfinite(U[g]):
            rows.append(np.r_[sigs[g], -1.0])
            rhs.append(U[g])
        if np.isfinite(L[g]):
            rows.append(np.r_[-sigs[g], -1.0])
            rhs.append(-L[g])
    vals = np.abs(np.r_[L[np.isfinite(L)], U[np.isfinite(U)]])
    big = 10.0 * (1.0 + vals.max())
    cost = np.r_[np.zeros(d), 1.0]
    bounds = [(-big * 4, big * 4)] * d + [(-big, None)]
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"KKT multiplier LP failed: {res.message}")
    return max(float(res.x[-1]), 0.0), res.x[:d]


def qp_kkt(qp, x, bound_tol=0.0):
    """KKT violation and multipliers of a feasible ``x = [a; z_1; ..]`` of a KernelQP.

    Entries within ``bound_tol`` of a bound count as at the bound (use a small value for the
    approximate solutions of interior-point solvers). Returns ``(eps, nu)`` as
    :func:`kkt_violation`.
    """
    qp = qp.validate()
    lay = _Layout(qp)
    xf = np.zeros(lay.N)
    nx = lay.n + lay.nz
    xf[:nx] = np.asarray(x, dtype=np.float64)
    if bound_tol > 0:
        xf[:nx][np.abs(xf[:nx]) <= bound_tol] = 0.0
        near = np.abs(xf[:lay.n] - qp.upper) <= bound_tol
        xf[:lay.n][near] = qp.upper[near]
    for j, b in enumerate(qp.blocks):
        zs = lay.zstart[j]
        tot = xf[b.index].sum() + xf[zs:zs + len(b.index)].sum()
        s = b.hi - tot
        xf[lay.slack[j]] = 0.0 if s <= bound_tol * len(b.index) else s
    grad = _full_gradient(qp, lay, xf)
    L, U = _group_bounds(lay, xf, grad)
    return kkt_violation(lay.sigs, L, U)


def _cold_start(qp, lay):
    n = lay.n
    x = np.zeros(lay.N)
    if qp.y_total != 0:
        side = np.flatnonzero((qp.y == np.sign(qp.y_total)) & (qp.upper > 0))
        if side.size == 0:
            raise DataError("y_total", "no variable can carry y'a = y_total")
        share = abs(qp.y_total) / side.size
        if np.any(qp.upper[side] < share):
            raise DataError("y_total", "the equal initial split of y_total violates the upper bounds")
        x[side] = share
    for j, b in enumerate(qp.blocks):
        s = x[b.index].sum()
        if s > b.hi:
            raise DataError(f"blocks[{j}]", "initial a already exceeds the block's upper total")
        target = max(b.lo, s)
        target = b.hi if s <= b.hi else target
        zs = lay.zstart[j]
        m = len(b.index)
        x[zs:zs + m] = (target - s) / m
        x[lay.slack[j]] = b.hi - target
    return x


def _warm_start(qp, lay, x0):
    """Repair a given start into a feasible point (clip, rebalance); None if it cannot."""
    n = lay.n
    nx = n + lay.nz
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    if x0.shape != (nx,):
        raise DataError("x0", f"must have {nx} entries ([a; z_1; ..]), got {x0.shape[0]}")
    if not np.all(np.isfinite(x0)):
        raise DataError("x0", "contains NaN or inf")
    x = np.zeros(lay.N)
    x[:nx] = np.maximum(x0, 0.0)
    x[:n] = np.minimum(x[:n], qp.upper)
    x[:n][qp.upper <= 0] = 0.0
    y = qp.y
    P = x[:n][y > 0].sum()
    Nn = x[:n][y < 0].sum()
    if not np.isclose(P - Nn, qp.y_total, rtol=0, atol=1e-12 * max(1.0, P + Nn)):
        if P - Nn > qp.y_total:  # shrink positives to Nn + y_total, or negatives
            if Nn + qp.y_total >= 0 and P > 0:
                x[:n][y > 0] *= (Nn + qp.y_total) / P
            elif Nn > 0 and P - qp.y_total >= 0:
                x[:n][y < 0] *= (P - qp.y_total) / Nn
            else:
                return None
        else:
            if P - qp.y_total >= 0 and Nn > 0:
                x[:n][y < 0] *= (P - qp.y_total) / Nn
            elif P > 0 and Nn + qp.y_total >= 0:
                x[:n][y > 0] *= (Nn + qp.y_total) / P
            else:
                return None
        if np.any(x[:n] > qp.upper):
            return None
    for j, b in enumerate(qp.blocks):
        zs = lay.zstart[j]
        m = len(b.index)
        z = x[zs:zs + m]
        sa = x[b.index].sum()
        tot = sa + z.sum()
        if tot > b.hi:
            need = tot - b.hi
            if z.sum() < need:
                return None
            z *= (z.sum() - need) / z.sum()
        elif tot < b.lo:
            z += (b.lo - tot) / m
        x[lay.slack[j]] = max(b.hi - (sa + z.sum()), 0.0)
    return x


def smo_solve(qp, x0=None, tol=1e-3, max_iter=None):
    """Solve a :class:`KernelQP` by decomposition (see the module docstring for the method).

    Parameters
    ----------
    qp : KernelQP
        The problem; its kernel matrices are used in place (C-contiguous float64 avoids a copy).
    x0 : (n + sum m_j,) array or None
        Warm start ``[a; z_1; ..]``, e.g. the solution of a previous round. It is clipped to the
        boxes and rebalanced onto the equality constraints when needed (falling back to the cold
        start if that is impossible); its cost is one kernel product per nonzero ``a``.
    tol : float
        Required maximal KKT violation (see :func:`kkt_violation`).
    max_iter : int or None
        Maximal number of moves; None means ``max(10**7, 100 * n_variables)``.

    Returns
    -------
    x : (n + sum m_j,) array
        The solution ``[a; z_1; ..]`` (see :func:`~webly.solvers.problems.split_solution`).
    info : dict
        ``status`` ("converged", "max_iter" or "stalled"), ``n_iter`` (moves), ``objective``,
        ``kkt_violation``, ``multipliers`` (``nu``: the intercept ``b`` then one bias per block),
        ``correcting_values`` (list: each correcting function on its block's units), ``seconds``.
        A status other than "converged" also issues a ``ConvergenceWarning``.
    """
    from ._smo_kernels import smo_loop

    if not isinstance(qp, KernelQP):
        raise TypeError(f"qp must be a KernelQP, got {type(qp).__name__}")
    if not (np.isscalar(tol) and tol > 0):
        raise DataError("tol", f"must be a positive number, got {tol!r}")
    t0 = time.perf_counter()
    qp = qp.validate()
    lay = _Layout(qp)
    if max_iter is None:
        max_iter = max(10_000_000, 100 * lay.N)
    x = None
    if x0 is not None:
        x = _warm_start(qp, lay, x0)
        if x is None:
            logger.info("warm start could not be repaired onto the constraints; cold start")
    if x is None:
        x = _cold_start(qp, lay)
    grad = _full_gradient(qp, lay, x)

    total = 0
    inner_tol = tol
    status = "converged"
    for _round in range(200):
        moves, code = smo_loop(x, grad, lay.upper, lay.sgn_all, lay.hdiag_all, lay.unit, lay.vz1,
                               lay.vz2, lay.gptr, lay.gidx, lay.circ_g, lay.circ_c, lay.n,
                               lay.m1, qp.y, qp.K, lay.p1_all, lay.p2_all, lay.S1,
                               lay.S2, lay.G1, lay.G2, lay.ig1, lay.ig2, inner_tol,
                               max_iter - total)
        total += moves
        grad = _full_gradient(qp, lay, x)  # drop accumulated rounding
        L, U = _group_bounds(lay, x, grad)
        eps, nu = kkt_violation(lay.sigs, L, U)
        logger.debug("smo: %d moves, inner tol %.3g, KKT violation %.3g", total, inner_tol, eps)
        if eps <= tol:
            status = "converged"
            break
        if code == 1 or total >= max_iter:
            status = "max_iter"
            break
        if code == 2 and inner_tol <= tol * 1e-6:
            status = "stalled"
            break
        inner_tol = min(inner_tol, eps) * 0.5
    else:
        status = "stalled"

    nx = lay.n + lay.nz
    sol = x[:nx].copy()
    objective = 0.5 * float(x @ (grad + lay.lin)) + qp.constant
    corr = []
    for j in range(lay.J):
        zs = lay.zstart[j]
        corr.append(grad[zs:zs + len(qp.blocks[j].index)] + nu[1 + j])
    info = {"status": status, "n_iter": int(total), "objective": objective,
            "kkt_violation": float(eps), "multipliers": np.asarray(nu, dtype=float),
            "correcting_values": corr, "seconds": time.perf_counter() - t0}
    if status != "converged":
        warnings.warn(f"SMO solver did not converge ({status}) after {total} moves: KKT violation "
                      f"{eps:.3g} > tol {tol:.3g}; increase max_iter or tol", ConvergenceWarning,
                      stacklevel=2)
    logger.info("smo: %s in %d moves, %.3fs, objective %.10g, KKT violation %.3g", status, total,
                info["seconds"], objective, eps)
    return sol, info
