"""Decomposition (SMO-style) solver for the SVM+ family of kernel QPs (:class:`KernelQP`).

Moves
-----
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
  for fixed ``v`` the ``a``-problem is an SVM with box ``a_u <= v_u``.

Every move evaluates the best pair of each group and both orientations of each circuit and takes
the exact (box-clipped) line-search step of the move with the largest decrease of the objective,
unless that move's violation is below a tenth of the largest violation among the candidates:
then the most violating candidate is taken (a circuit whose step is clipped short by a variable
close to its bound otherwise never wins on gain, and SMO stalls for tens of thousands of moves
on the remaining small gains; this was most of the cost of SVM+ with a low-rank privileged
kernel).

Decomposition, dense working set and Newton steps
-------------------------------------------------
The driver keeps the gradient of all variables and repeatedly

1. computes the exact KKT violation and the multipliers ``nu`` (see *Stopping*);
2. picks a *working set* ``R`` of ~2000 real variables at most (more only to hold all the
   free variables; fewer where the kernels are small: its dense Hessian stays below a third of
   their memory): the most violating variables, balanced over groups and directions, the free
   ones, then those closest to entering; the variables whose slots stay keep their rows of the
   dense Hessian ``H_RR``, which is otherwise read from ``K`` and ``G_j``;
3. solves the problem restricted to ``R`` (the rest fixed) to a tolerance of ``max(tol, eps/10)
   / 2`` with the same moves, each reading rows of the small ``H_RR`` instead of rows of the
   n x n kernels, and, each time these moves have cost about as much as a Cholesky
   factorisation of the free variables, a **Newton step**: the exact minimiser over the free
   variables of ``R`` under the equality constraints, with the variables it pushes past a
   bound fixed there and the system solved again, then an exact line search (the objective
   never increases). On nearly hard-margin problems (SVM+ with a low-rank privileged kernel,
   large C) SMO alone converges linearly and slowly once the free set has settled; the Newton
   step finishes that part in one or two factorisations;
4. adds ``H[:, R] (x_R^new - x_R^old)`` to the gradient (one row of K or G_j per changed
   variable).

When a working set holds no violating move (a selection miss), one round of moves runs on all
variables with rows of the full kernels. Kernel matrices are passed precomputed and used in
place; the Hessian over ``[a; z_1; z_2]`` is never formed.

Start: a problem with one correcting block whose kernel comes with a low-rank ``factor`` (a
linear privileged kernel: SVM+, sMIL-PI, mi-SVM-PI and MIL-CPB-PI with ``kernel_priv="linear"``,
float64 kernels) starts from the primal-dual active-set solution of :mod:`webly.solvers.pdas`,
which is usually already optimal: the driver below then only checks the KKT conditions on a
fresh gradient (0 moves), or polishes; where that phase gives up, the usual start follows.
SVM+-like problems (a block over units with unbounded ``a`` and both labels) start with
the block's total carried by ``a`` (``z = 0``, ``y'a = 0``): the optimal ``z`` is sparse; other
problems start from ``a = 0`` with the block totals spread evenly over ``z``.

Stopping: the KKT conditions hold with violation ``eps`` iff there are multipliers ``nu`` (the
biases) such that every variable's reduced gradient ``g_u + sigma_u' nu`` is ``>= -eps`` at its
lower bound, ``<= eps`` at its upper bound and within ``eps`` of 0 in between. The reported
``kkt_violation`` is the smallest such ``eps`` (a tiny LP over ``nu``; closed form for a single
group), and ``nu`` is returned as ``multipliers``. The inner loops stop on a cheap bound of it
(pair gaps / 2 and circuit violations / sum|c|); the driver stops once the exact violation, on a
freshly computed gradient, is ``<= tol``.

References
----------
R.-E. Fan, P.-H. Chen, C.-J. Lin. Working set selection using second order information for
training support vector machines. JMLR 6, 2005.

T. Joachims. Making large-scale SVM learning practical. Advances in Kernel Methods, 1999
(decomposition with larger working sets).

D. Pechyony, R. Izmailov, A. Vashist, V. Vapnik. SMO-style algorithms for learning using
privileged information. DMIN 2010.

V. Vapnik, A. Vashist. A new learning paradigm: learning using privileged information. Neural
Networks 22, 2009.
"""

import itertools
import logging
import time

import numpy as np

from ..errors import DataError
from . import pdas
from .problems import KernelQP, kernel_matvec

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
        # (the empty kernel of an absent block has K's dtype: one compiled variant per precision)
        G = [np.zeros((0, 0), dtype=qp.K.dtype), np.zeros((0, 0), dtype=qp.K.dtype)]
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
            gd = np.diag(b.kernel).astype(np.float64) / b.gamma
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
        self.gid_all = gid_all.astype(np.int64)
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


def _full_gradient(qp, lay, x, K_ay=None):
    """The gradient at ``x``; ``K_ay``: ``K (a∘y)`` at x where already known."""
    n = lay.n
    grad = lay.lin.copy()
    a = x[:n]
    if K_ay is not None:
        grad[:n] += qp.y * K_ay
    elif np.any(a):
        grad[:n] += qp.y * kernel_matvec(qp.K, qp.y * a)
    for j, b in enumerate(qp.blocks):
        zs = lay.zstart[j]
        m = len(b.index)
        v = a[b.index] + x[zs:zs + m]
        # a low-rank factor (kernel = Z Z') gives the product in O(m r) instead of O(m^2)
        h = (b.factor @ (b.factor.T @ v) if b.factor is not None
             else kernel_matvec(b.kernel, v)) / b.gamma
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
    """A feasible start: :func:`_mass_on_a_start` where it applies, else ``a = 0`` (or an even
    split of ``y_total``) with each block's total spread evenly over its ``z``."""
    x = _mass_on_a_start(qp, lay)
    if x is not None:
        return x
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


def _mass_on_a_start(qp, lay):
    """Start with the first block's total carried by its ``a`` (``z = 0``), spread evenly over
    each label so that ``y'a = 0``; None where that is not possible (no such block, bounded
    ``a``, one label only, ``y_total != 0``, or a later block it would overfill).

    For SVM+ this is the start ``b = 0``. The optimal ``b`` is sparse (``b_i > 0`` only where
    the correcting function is exactly 0; with a linear privileged kernel of rank r that is an
    affine function on r features), whereas the start ``b = C`` makes every ``b`` free and each
    of them must be driven to 0, in a working set of its own size.
    """
    if not qp.blocks or qp.y_total != 0:
        return None
    b0 = qp.blocks[0]
    idx = b0.index
    if not np.all(np.isinf(qp.upper[idx])):
        return None
    pos = idx[qp.y[idx] > 0]
    neg = idx[qp.y[idx] < 0]
    if pos.size == 0 or neg.size == 0:
        return None
    x = np.zeros(lay.N)
    x[pos] = b0.hi / (2.0 * pos.size)
    x[neg] = b0.hi / (2.0 * neg.size)
    for j, b in enumerate(qp.blocks):  # later blocks: z fills the total up to hi, as cold
        s = x[b.index].sum()
        if s > b.hi * (1.0 + 1e-12):
            return None
        if j > 0:
            zs = lay.zstart[j]
            x[zs:zs + len(b.index)] = (b.hi - s) / len(b.index)
        x[lay.slack[j]] = 0.0
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


_Q_MIN = 800  # working sets of this many variables are always allowed
_Q_MAX = 2000  # nor more (small dense rows are read cheaply), unless needed to hold all free
# variables (up to twice that, and a third of the kernels' memory): a working set full of free
# variables leaves no room for the violating ones
_VIOL_FRACTION = 0.1  # the inner solve stops at max(tol, this * outer violation) / 2
_NEWTON_RATE = 600.0  # a Newton step on f free variables is due every f^3 / (rate * |R|) moves
_NEWTON_MIN_WAIT = 200  # and no sooner than this many moves after the previous one
_ACTIVE_SET_STEPS = 40  # primal active-set steps of a Newton step when few variables leave


def _working_set_cap(qp, lay):
    """Largest working set: its dense Hessian (plus the Newton copy) stays below the kernels.

    The kernels count as float64 whatever their ``kernel_dtype``, so that float32 kernels change
    only the rounding of a solve, not its working sets."""
    kernel_bytes = 8 * (qp.K.size + sum(b.kernel.size for b in qp.blocks))
    by_memory = int(np.sqrt(kernel_bytes / (3.0 * 8.0)))
    return int(min(2 * _Q_MAX, max(min(lay.N, _Q_MIN), by_memory)))


def _reduced_gradient(lay, grad, nu):
    mu = lay.sigs @ nu
    gid = np.maximum(lay.gid, 0)
    return grad + lay.sgn * mu[gid]


def _select_working_set(lay, x, grad, nu, cap, grow=False):
    """Choose the working set (real variables; the block slacks always).

    In order: the most violating variables, balanced over each group and direction of move
    (so that violating pairs and circuits can form; half the set at most), the free ones, the
    other violating ones, then those closest to entering. Its size is 1.5 times the free and
    violating variables, within ``[_Q_MIN, _Q_MAX]``; with ``grow`` (once Newton steps have
    cleared the free variables of a start where all are free) it also holds all the free ones
    (up to ``cap``).
    """
    mov = lay.gid >= 0
    r = _reduced_gradient(lay, grad, nu)
    inc = mov & (x < lay.upper)
    dec = mov & (x > 0)
    viol = np.zeros(lay.N)
    viol[inc] = np.maximum(-r[inc], 0.0)
    viol[dec] = np.maximum(viol[dec], r[dec])
    free = inc & dec
    n_mov = int(mov.sum())
    violating = np.flatnonzero(viol > 0)
    n_free = int(free.sum())
    q = max(_Q_MIN, min(_Q_MAX, int(1.5 * (n_free + violating.size)) + 100))
    if grow and n_free > 0.8 * _Q_MAX:
        q = max(q, int(1.1 * n_free) + 200)
    q = min(cap, n_mov, q)
    if q >= n_mov:
        return np.flatnonzero(mov)
    big = 1.0 + float(np.abs(r[mov]).max(initial=0.0)) + float(viol.max(initial=0.0))
    key = big - np.abs(r)  # tier D
    key[violating] = 2.0 * big + viol[violating]  # tier C
    key[free] = 4.0 * big - np.abs(r[free])  # tier B
    # tier A: per (group, side) bucket its most violating members; the side is that of the
    # group bounds L (the useful move raises s x) or U (it lowers s x)
    bucket = 2 * lay.gid[violating] + (lay.sgn[violating] * r[violating] < 0)
    kinds = np.unique(bucket)
    per = max(1, (q // 2) // max(kinds.size, 1))
    for kb in kinds:
        members = violating[bucket == kb]
        if members.size > per:
            members = members[np.argpartition(-viol[members], per - 1)[:per]]
        key[members] = 6.0 * big + viol[members]
    key[~mov] = -np.inf
    key[[s for s in lay.slack if mov[s]]] = np.inf
    R = np.argpartition(-key, q - 1)[:q]
    return np.sort(R)


class _WorkingSet:
    """The problem restricted to real variables ``R`` (the rest fixed), with a dense Hessian."""

    def __init__(self, qp, lay, R, prev=None):
        """``R``: the variables (any order). With ``prev`` of the same size, its Hessian is
        reused in place: the variables that stay keep their slots and only the rows and columns
        of those that enter are computed (O(entering * |R|) instead of O(|R|^2))."""
        from ._smo_kernels import refresh_hessian

        args = (lay.n, qp.y, qp.K, lay.p1, lay.p2, lay.G1, lay.G2, lay.ig1, lay.ig2)
        if prev is not None and prev.R.size == R.size:
            inside = np.zeros(lay.N, dtype=bool)
            inside[R] = True
            stay = inside[prev.R]
            before = np.zeros(lay.N, dtype=bool)
            before[prev.R] = True
            slots = np.flatnonzero(~stay)
            R = prev.R.copy()
            R[slots] = np.flatnonzero(inside & ~before)
            self.H = prev.H
            prev.H = None
            refresh_hessian(self.H, R, slots.astype(np.int64), *args)
        else:
            if prev is not None:
                prev.H = None  # released before the new one is allocated (peak memory)
            self.H = np.empty((R.size, R.size))
            refresh_hessian(self.H, R, np.arange(R.size), *args)
        self.R = R
        nr = R.size
        local = np.full(lay.N, -1, dtype=np.int64)
        local[R] = np.arange(nr)
        # compound variables whose parts are all in R
        comp = np.arange(lay.N, lay.gid_all.size)
        ok = local[lay.unit[comp]] >= 0
        for vz in (lay.vz1, lay.vz2):
            ok &= (vz[comp] < 0) | (local[np.maximum(vz[comp], 0)] >= 0)
        comp = comp[ok]
        cu = local[lay.unit[comp]]
        cz = [np.where(vz[comp] >= 0, local[np.maximum(vz[comp], 0)], -1)
              for vz in (lay.vz1, lay.vz2)]
        none = np.full(nr, -1, dtype=np.int64)
        self.unit = np.r_[none, cu].astype(np.int64)
        self.vz1 = np.r_[none, cz[0]].astype(np.int64)
        self.vz2 = np.r_[none, cz[1]].astype(np.int64)
        self.sgn = np.r_[lay.sgn_all[R], lay.sgn_all[comp]]
        H = self.H
        hc = H[cu, cu].copy()
        for z in cz:
            zz = np.maximum(z, 0)
            hc += np.where(z >= 0, H[zz, zz] - 2.0 * H[cu, zz], 0.0)
        z1, z2 = np.maximum(cz[0], 0), np.maximum(cz[1], 0)
        hc += np.where((cz[0] >= 0) & (cz[1] >= 0), 2.0 * H[z1, z2], 0.0)
        self.hdiag = np.r_[np.diag(H), hc]
        gid = np.r_[lay.gid_all[R], lay.gid_all[comp]]
        order = np.argsort(gid, kind="stable")
        order = order[gid[order] >= 0]
        counts = np.bincount(gid[order], minlength=len(lay.sigs))
        self.gptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.gidx = order.astype(np.int64)
        self.upper = lay.upper[R].copy()
        self.A = _constraint_rows(lay, R)
        self.movable = lay.gid[R] >= 0
        self.slack = [int(local[s]) for s in lay.slack]  # -1 where not in R
        self.circ_g, self.circ_c = lay.circ_g, lay.circ_c
        self.n_newton = 0

    def solve(self, x, grad, tol, max_moves):
        """Inner solve: SMO moves, with a Newton step each time SMO has spent about its cost."""
        from ._smo_kernels import smo_dense

        nr = self.R.size
        moves, since, factor = 0, 0, 1.0
        code = 1
        while moves < max_moves:
            n_free = int(np.count_nonzero((x > 0) & (x < self.upper) & self.movable))
            wait = factor * max(_NEWTON_MIN_WAIT, n_free ** 3 / (_NEWTON_RATE * nr))
            if n_free and since >= wait:
                dec = self.newton(x, grad)
                self.n_newton += 1
                since = 0
                scale = abs(float(x @ grad)) + 1.0
                factor = 1.0 if dec > 1e-12 * scale else 2.0 * factor
                continue
            budget = int(min(max(wait - since, 100), max_moves - moves))
            m, code = smo_dense(x, grad, self.upper, self.sgn, self.hdiag, self.unit, self.vz1,
                                self.vz2, self.gptr, self.gidx, self.circ_g, self.circ_c, self.H,
                                tol, budget)
            moves += m
            since += m
            if code != 1:
                break
        return moves, code

    def newton(self, x, grad, max_solves=6):
        """Exact minimisation over the free variables (bounds they would cross re-fixed).

        The free variables ``F`` move along the minimiser of the objective restricted to them
        and to the equality constraints (``H_FF d = -g_F - A_F' lam``, ``A_F d = 0``);
        variables this step pushes past a bound are fixed there and the system is solved again
        (a few times at most; while few variables were fixed since the last Cholesky
        factorisation they enter as extra equality constraints instead of a new factorisation).
        The step is the exact line search along the resulting direction, clipped to the boxes,
        so the objective never increases. When only a few variables cross a bound, or forcing
        them onto it makes a poor direction (line-search step below 1/2), primal active-set
        steps are taken instead (:func:`_active_set_steps`: to the first bound in the way, that
        variable fixed, again). SMO moves do the rest (variables entering the free set, the
        final KKT accuracy). This removes the slow tail of SMO on nearly hard-margin problems
        (SVM+ with a low-rank privileged kernel, large C), where the free set settles long
        before its values do. Returns the decrease of the objective.
        """
        import scipy.linalg as sl

        H, A, upper = self.H, self.A, self.upper
        J = A.shape[0] - 1
        real = self.movable.copy()
        for s in self.slack:
            if s >= 0:
                real[s] = False
        F = np.flatnonzero(real & (x > 0) & (x < upper))
        if F.size == 0:
            return 0.0
        # a slack strictly inside [0, hi - lo] leaves block j's sum free: its row is dropped and
        # the slack absorbs the change (until the step would push it out of its range)
        slack_free = [j for j in range(J) if self.slack[j] >= 0
                      and 0 < x[self.slack[j]] < upper[self.slack[j]]]
        AF = A[:, F]
        g = grad[F]
        lo = -x[F]
        hi = upper[F] - x[F]
        fixed = np.zeros(F.size, dtype=bool)
        d = np.zeros(F.size)
        fixed_slack = {}  # block j -> displacement of its (formerly free) slack
        fac, fset, d_ok, fac0, n_out0 = None, None, None, None, 0
        HF = H[np.ix_(F, F)]
        for attempt in range(max_solves):
            f = ~fixed
            if not f.any():
                return 0.0
            if fac is None or np.count_nonzero(fset & fixed) > max(16, fset.sum() // 8):
                fset = f.copy()
                fac = _cholesky(lambda: HF[np.ix_(fset, fset)] if fixed.any() else HF.copy())
                if fac is None:
                    return 0.0
                if attempt == 0:
                    fac0 = fac
            early = fixed & ~fset  # fixed before the factorisation: known displacements
            late = np.flatnonzero((fixed & fset)[fset])  # fixed since: extra constraints
            rows = [0] + [1 + j for j in range(J) if j not in slack_free or j in fixed_slack]
            B = AF[rows][:, fset]
            rhs = -(AF[rows][:, early] @ d[early])
            for k, row in enumerate(rows):
                if row >= 1 and (row - 1) in fixed_slack:
                    rhs[k] -= fixed_slack[row - 1]
            if late.size:
                E = np.zeros((late.size, B.shape[1]))
                E[np.arange(late.size), late] = 1.0
                B = np.vstack([B, E])
                rhs = np.r_[rhs, d[fset][late]]
            gf = g[fset] + (HF @ np.where(early, d, 0.0))[fset] if early.any() else g[fset]
            Hig = sl.cho_solve(fac, gf, check_finite=False)
            HiB = sl.cho_solve(fac, B.T, check_finite=False)
            if not (np.all(np.isfinite(Hig)) and np.all(np.isfinite(HiB))):
                return 0.0
            try:
                lam = np.linalg.lstsq(B @ HiB, -(rhs + B @ Hig), rcond=1e-12)[0]
                df = -(Hig + HiB @ lam)
                # the constraints hold only as well as the (possibly ill-conditioned)
                # multiplier system was solved: project the residual out
                df -= B.T @ np.linalg.lstsq(B @ B.T, B @ df - rhs, rcond=1e-12)[0]
            except np.linalg.LinAlgError:
                return 0.0
            if not np.all(np.isfinite(df)):
                return 0.0
            keep = d[fixed].copy()
            d[fset] = df
            d[fixed] = keep
            res = AF[rows] @ d
            for k, row in enumerate(rows):
                if row >= 1 and (row - 1) in fixed_slack:
                    res[k] += fixed_slack[row - 1]
            if np.abs(res).max() > 1e-9 * (1.0 + np.abs(d).max()):
                # the fixed variables leave the constraints no solution: use the last
                # direction that kept them (clipped by the line search), if any
                if d_ok is None:
                    return 0.0
                d = d_ok
                break
            d_ok = d.copy()
            out = ~fixed & ((d < lo) | (d > hi))
            new_slack = False
            for j in slack_free:
                if j in fixed_slack:
                    continue
                s = self.slack[j]
                xs = x[s] - AF[1 + j] @ d
                if xs < 0 or xs > upper[s]:
                    fixed_slack[j] = (0.0 if xs < 0 else upper[s]) - x[s]
                    new_slack = True
            if attempt == 0:
                n_out0 = int(out.sum())
                if 0 < n_out0 <= _ACTIVE_SET_STEPS and not slack_free and fac0 is not None:
                    # few variables leave: step to each bound in the way (a primal active-set
                    # method on F) instead of forcing them onto their bounds
                    step_as, dec_as = _active_set_steps(HF, AF, g, x[F], upper[F], fac0)
                    return self._commit(x, grad, F, step_as, dec_as)
            if (not out.any() and not new_slack) or attempt == max_solves - 1:
                break  # (a direction that still crosses bounds is clipped by the line search)
            d[out] = np.where(d[out] < lo[out], lo[out], hi[out])
            fixed |= out
        gd = float(g @ d)
        if not gd < 0:
            return 0.0
        dhd = float(d @ (HF @ d))
        # longest feasible step along d
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(d < 0, lo / d, np.where(d > 0, hi / d, np.inf))
        tmax = float(np.min(room, initial=np.inf))
        ds = {}
        for j in slack_free:
            s = self.slack[j]
            ds[j] = dsj = -(AF[1 + j] @ d)
            if dsj < 0:
                tmax = min(tmax, -x[s] / dsj)
            elif dsj > 0:
                tmax = min(tmax, (upper[s] - x[s]) / dsj)
        t_best = -gd / dhd if dhd > 0 else np.inf
        t = min(t_best, tmax)
        if not (t > 0 and np.isfinite(t)):
            t, dec = 0.0, 0.0
        else:
            dec = -(t * gd + 0.5 * t * t * dhd)
        if fac0 is not None and not slack_free and t_best < 0.5:
            # forcing the leaving variables onto their bounds made a poor direction: try
            # stepping to each bound in the way instead
            step_as, dec_as = _active_set_steps(HF, AF, g, x[F], upper[F], fac0)
            if dec_as > dec:
                return self._commit(x, grad, F, step_as, dec_as)
        if t == 0.0:
            return 0.0
        new = x[F] + t * d
        if t >= tmax:  # the variables that limit the step land exactly on their bounds
            hit = room <= tmax
            new[hit] = np.where(d[hit] < 0, 0.0, upper[F][hit])
        np.clip(new, 0.0, upper[F], out=new)
        step = new - x[F]
        x[F] = new
        for j, dsj in ds.items():
            s = self.slack[j]
            x[s] = min(max(x[s] + t * dsj, 0.0), upper[s])
        full = np.zeros(x.size)
        full[F] = step
        grad += H @ full
        return dec

    def _commit(self, x, grad, F, step, dec):
        """Apply a step of the free variables F (and its gradient change); return ``dec``."""
        x[F] += step
        full = np.zeros(x.size)
        full[F] = step
        grad += self.H @ full
        return dec


def _active_set_steps(HF, A, g, xF, uF, fac, max_steps=None):
    """Primal active-set steps on the free variables F (equality constraints ``A d = 0``).

    From ``xF``: the exact minimiser on the current face (variables fixed at a bound stay),
    a step to it or to the first bound in its way, that variable fixed, and again, at most
    ``max_steps`` times. ``fac`` is the Cholesky factor of ``HF`` (plus a tiny ridge); fixed
    variables enter the solves as extra equality constraints (one more solve each), so a step
    costs O(|F|^2). Returns ``(step, decrease)``; the objective decreases at every step.
    """
    import scipy.linalg as sl

    max_steps = _ACTIVE_SET_STEPS if max_steps is None else max_steps
    m = xF.size
    x = xF.copy()
    gF = g.copy()
    HiA = sl.cho_solve(fac, A.T, check_finite=False)
    fixed = np.zeros(m, dtype=bool)
    cols = []  # H^-1 e_k of the fixed variables
    rows = []
    total = 0.0
    for _ in range(max_steps):
        Hig = sl.cho_solve(fac, gF, check_finite=False)
        if rows:
            E = np.zeros((len(rows), m))
            E[np.arange(len(rows)), rows] = 1.0
            B = np.vstack([A, E])
            HiB = np.hstack([HiA, np.column_stack(cols)])
        else:
            B, HiB = A, HiA
        try:
            lam = np.linalg.lstsq(B @ HiB, -(B @ Hig), rcond=1e-12)[0]
            d = -(Hig + HiB @ lam)
            d -= B.T @ np.linalg.lstsq(B @ B.T, B @ d, rcond=1e-12)[0]
        except np.linalg.LinAlgError:
            break
        d[fixed] = 0.0
        if not np.all(np.isfinite(d)):
            break
        gd = float(gF @ d)
        if not gd < 0:
            break
        Hd = HF @ d
        dhd = float(d @ Hd)
        t_best = -gd / dhd if dhd > 0 else np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(d < 0, x / -d, np.where(d > 0, (uF - x) / d, np.inf))
        room[fixed] = np.inf
        tmax = float(np.min(room, initial=np.inf))
        t = min(t_best, tmax)
        if not (t > 0 and np.isfinite(t)):
            break
        x += t * d
        gF += t * Hd
        total += -(t * gd + 0.5 * t * t * dhd)
        if t < tmax:
            break  # the minimiser on this face is inside the boxes
        hit = np.flatnonzero(room <= tmax)
        x[hit] = np.where(d[hit] < 0, 0.0, uF[hit])
        fixed[hit] = True
        for k in hit:
            e = np.zeros(m)
            e[k] = 1.0
            cols.append(sl.cho_solve(fac, e, check_finite=False))
            rows.append(int(k))
    np.clip(x, 0.0, uF, out=x)
    return x - xF, total


def _constraint_rows(lay, F):
    """Signatures (1 + J, |F|) of real variables F in the equality constraints."""
    A = np.zeros((1 + lay.J, F.size))
    isa = F < lay.n
    A[0, isa] = lay.y[F[isa]]
    for j in range(lay.J):
        pj = lay.p1 if j == 0 else lay.p2
        A[1 + j] = (pj[F] >= 0) | (F == lay.slack[j])
    return A


def _cholesky(make):
    """Lower Cholesky factor of the matrix ``make()`` returns (a fresh copy, overwritten) with
    a tiny ridge, grown when the matrix is numerically singular; None if that fails."""
    import scipy.linalg as sl

    ridge = None
    for _ in range(4):
        M = make()
        diag = M.flat[::M.shape[0] + 1]
        if ridge is None:
            scale = float(np.max(np.abs(diag), initial=0.0))
            if not (np.isfinite(scale) and scale > 0):
                return None
            ridge = 1e-11 * scale
        M.flat[::M.shape[0] + 1] = diag + ridge
        try:
            return sl.cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            ridge *= 1e3
    return None


def smo_solve(qp, x0=None, tol=1e-3, max_iter=None, kernel_dtype="float64"):
    """Solve a :class:`KernelQP` by decomposition (see the module docstring for the method).

    Parameters
    ----------
    qp : KernelQP
        The problem; its kernel matrices are used in place (C-contiguous in ``kernel_dtype``
        avoids a copy).
    x0 : (n + sum m_j,) array or None
        Warm start ``[a; z_1; ..]``, e.g. the solution of a previous round. It is clipped to the
        boxes and rebalanced onto the equality constraints when needed (falling back to the cold
        start if that is impossible); its cost is one kernel product per nonzero ``a``.
    tol : float
        Required maximal KKT violation (see :func:`kkt_violation`).
    max_iter : int or None
        Maximal number of moves; None means ``max(10**7, 100 * n_variables)``.
    kernel_dtype : {"float64", "float32"}, default="float64"
        Precision in which the kernel matrices are stored and read
        (:func:`~webly.solvers.problems.check_kernel_dtype`). ``"float32"`` uses float32 kernels
        in place (others are converted once, a copy) and halves their memory; the gradient,
        the dual variables and every product and sum stay float64, so the solve is that of the
        problem with kernels rounded to float32 (relative error 2^-24 ~ 6e-8 per entry), to the
        same KKT tolerance. Measured against float64 (``python benchmarks/solver_speed.py
        --only-float32``): see :class:`~webly.SVMPlusClassifier`'s ``kernel_dtype``.

    Returns
    -------
    x : (n + sum m_j,) array
        The solution ``[a; z_1; ..]`` (see :func:`~webly.solvers.problems.split_solution`).
    info : dict
        ``status`` ("converged", "max_iter" or "stalled"), ``n_iter`` (moves), ``objective``,
        ``kkt_violation``, ``multipliers`` (``nu``: the intercept ``b`` then one bias per block),
        ``correcting_values`` (list: each correcting function on its block's units), ``seconds``,
        ``n_newton`` (Newton steps), ``n_working_sets`` and ``n_active_set_rounds`` (partitions
        solved by the active-set start; 0 where it does not apply). A status other than "converged"
        also issues a ``ConvergenceWarning``.

    Notes
    -----
    The solve is single-threaded (BLAS calls included, whatever the process's thread pools):
    run independent problems in parallel instead (one-vs-rest classes, folds, grid points).
    Extra memory: the working set's dense Hessian (``q x q``, ``q <= 2000`` unless the free
    variables need more, at most 4000; smaller where the kernels are small) and up to two
    ``f x f`` copies for a Newton step on its ``f`` free variables, plus O(n) vectors; the
    kernels themselves are never copied when they already are C-contiguous ``kernel_dtype``
    arrays (float32 kernels are widened to float64 8 MB of rows at a time for full gradients).
    """
    from threadpoolctl import threadpool_limits

    if not isinstance(qp, KernelQP):
        raise TypeError(f"qp must be a KernelQP, got {type(qp).__name__}")
    if not (np.isscalar(tol) and tol > 0):
        raise DataError("tol", f"must be a positive number, got {tol!r}")
    t0 = time.perf_counter()
    qp = qp.validate(kernel_dtype)
    for j, b in enumerate(qp.blocks):
        if b.weights is not None:
            raise DataError(f"blocks[{j}].weights", "smo_solve constrains unweighted block sums; "
                            "solve a problem with unequal sum weights with "
                            "webly.solvers.reference_solve (cvxpy, small problems)")
    lay = _Layout(qp)
    if max_iter is None:
        max_iter = max(10_000_000, 100 * lay.N)
    with threadpool_limits(1, user_api="blas"):  # single-threaded; parallelise over problems
        x, rounds, K_ay = None, 0, None
        if pdas.applies(qp):
            xa, act = pdas.active_set_solve(qp, x0)
            rounds = act["rounds"]
            if xa is not None:   # [a; z] and the slacks (0: the block's sum is an equality)
                x = np.zeros(lay.N)
                x[:xa.size] = xa
                K_ay = act["K_ay"]
        if x is None and x0 is not None:
            x = _warm_start(qp, lay, x0)
            if x is None:
                logger.info("warm start could not be repaired onto the constraints; cold start")
        if x is None:
            x = _cold_start(qp, lay)
        grad = _full_gradient(qp, lay, x, K_ay)
        x, grad, total, status, eps, nu, counts = _decompose(qp, lay, x, grad, tol, max_iter)
    counts["n_active_set_rounds"] = rounds

    nx = lay.n + lay.nz
    sol = x[:nx].copy()
    objective = 0.5 * float(x @ (grad + lay.lin)) + qp.constant
    corr = []
    for j in range(lay.J):
        zs = lay.zstart[j]
        corr.append(grad[zs:zs + len(qp.blocks[j].index)] + nu[1 + j])
    info = {"status": status, "n_iter": int(total), "objective": objective,
            "kkt_violation": float(eps), "multipliers": np.asarray(nu, dtype=float),
            "correcting_values": corr, "seconds": time.perf_counter() - t0, **counts}
    logger.info("smo: %s in %d moves, %.3fs, objective %.10g, KKT violation %.3g", status, total,
                info["seconds"], objective, eps)
    return sol, info


def _decompose(qp, lay, x, grad, tol, max_iter):
    """The driver loop (see the module docstring); returns the final state and counters."""
    from ._smo_kernels import add_hess_columns, smo_loop

    cap = _working_set_cap(qp, lay)
    total = 0
    idle = 0
    inner_tol = None
    ws = None
    best, since_best = np.inf, 0
    counts = {"n_newton": 0, "n_working_sets": 0}
    fresh = True     # grad was just computed from x (no moves since)
    while True:
        L, U = _group_bounds(lay, x, grad)
        eps, nu = kkt_violation(lay.sigs, L, U)
        if eps <= tol:
            if not fresh:
                grad = _full_gradient(qp, lay, x)  # drop accumulated rounding, then confirm
                L, U = _group_bounds(lay, x, grad)
                eps, nu = kkt_violation(lay.sigs, L, U)
            if eps <= tol:
                return x, grad, total, "converged", eps, nu, counts
        if total >= max_iter:
            return x, grad, total, "max_iter", eps, nu, counts
        best, since_best = (eps, 0) if eps < best * (1 - 1e-3) else (best, since_best + 1)
        if (idle > 0 and inner_tol <= tol * 1e-6) or since_best > 200:
            return x, grad, total, "stalled", eps, nu, counts
        # decomposition: solve the problem on a working set (the rest fixed), update the gradient
        fresh = False
        R = _select_working_set(lay, x, grad, nu, cap, grow=counts["n_newton"] > 0)
        if ws is None or not np.array_equal(R, np.sort(ws.R)):
            ws = _WorkingSet(qp, lay, R, prev=ws)
        R = ws.R
        target = 0.5 * max(tol, _VIOL_FRACTION * eps)
        inner_tol = target if not idle else min(inner_tol, target) * 0.5 ** idle
        xl, gl = x[R], grad[R]
        moves, code = ws.solve(xl, gl, inner_tol, max_iter - total)
        total += moves
        counts["n_working_sets"] += 1
        counts["n_newton"] += ws.n_newton
        ws.n_newton = 0
        step = xl - x[R]
        changed = np.flatnonzero(step)
        x[R] = xl
        if changed.size:
            add_hess_columns(R[changed], step[changed], grad, lay.n, lay.m1, qp.y, qp.K, lay.p1,
                             lay.p2, lay.S1, lay.S2, lay.G1, lay.G2, lay.ig1, lay.ig2)
        if not changed.size and total < max_iter:
            # the working set holds no violating move (a rare selection miss): moves on all
            # the variables, reading rows of the full kernels
            moves, code = smo_loop(x, grad, lay.upper, lay.sgn_all, lay.hdiag_all, lay.unit,
                                   lay.vz1, lay.vz2, lay.gptr, lay.gidx, lay.circ_g, lay.circ_c,
                                   lay.n, lay.m1, qp.y, qp.K, lay.p1_all, lay.p2_all, lay.S1,
                                   lay.S2, lay.G1, lay.G2, lay.ig1, lay.ig2, inner_tol,
                                   min(1000 + lay.N, max_iter - total))
            total += moves
            changed = np.arange(moves)
        idle = 0 if changed.size else idle + 1
        logger.debug("smo: working set of %d, %d moves (total %d), code %d, inner tol %.3g, "
                     "KKT violation before %.3g", R.size, moves, total, code, inner_tol, eps)
