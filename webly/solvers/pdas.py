"""Primal-dual active-set start for SVM+-type QPs whose correcting kernel is low rank.

A :class:`~webly.solvers.problems.KernelQP` with one correcting block over the units ``S``
whose kernel is ``G = Z Z'`` (``Z`` the block's ``factor``, r columns: a linear kernel on r
privileged features) has, at its optimum, few variables of the block at a bound that matters:
the correcting function ``xi = Z theta + lambda - q`` is affine in ``t = (theta, nu, lambda)``
(r + 2 numbers), and ``z_l > 0`` only where ``xi_l = 0``. So once the partition of ``a`` into
``L`` (at 0), ``F`` (free) and ``U`` (at its upper bound) is known, the whole KKT system reduces
to one Cholesky factorisation of ``Q_FF = (K∘yy')_FF`` and a QP in the r + 2 numbers ``t``:

    a_F = Q_FF^{-1} (r_F - E_F t),     min_t 1/2 t'Gt - h't  s.t.  J t >= q

with ``E_F`` the rows ``(Z_i [i in S], y_i, [i in S])`` of the free units, ``G = E_F' Q_FF^{-1}
E_F + diag(gamma I_r, 0, 0)``, ``J = [Z, 0, 1]`` and ``z`` the multipliers of ``J t >= q``. The
primal-dual active-set method (Hintermueller, Ito & Kunisch 2002) guesses the partition, solves
that system, and moves every unit whose value or multiplier has the wrong sign, until the
partition repeats: then the point is the exact optimum (to rounding). Started from the support
vectors of libsvm's C-SVM on the same kernel, it took 6 to 10 partitions on the problems of
issue 19 at n = 5,000 and 10,000 (``python benchmarks/solver_speed.py --only-svmplus``). One
Cholesky factor is kept across partitions (:class:`_Factor`): units that join are appended to
it, units that leave are pinned at 0 in it, and it is computed afresh only when the pins pass
:data:`PIN_FRACTION` of it or lose accuracy (3-4 factorisations in all there, the first in
float32).

:func:`~webly.solvers.smo.smo_solve` uses it as its start when a problem has this form, at
least :data:`MIN_UNITS` units, at most :data:`MAX_RANK` privileged features and a float64
kernel; the decomposition then checks the KKT conditions on a fresh
gradient and only polishes (or, when the active-set phase gives up, does the whole solve).

References
----------
M. Hintermueller, K. Ito, K. Kunisch. The primal-dual active set strategy as a semismooth Newton
method. SIAM J. Optim. 13(3), 2002.
"""

import logging
import time

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp

logger = logging.getLogger(__name__)

#: rounds of the active-set phase before it gives the problem back to the decomposition
MAX_ROUNDS = 40
#: libsvm's stopping tolerance for the first partition: only its support set is used, and a loose
#: one is smaller and sooner. libsvm stops when its largest violating pair's gap falls below it;
#: that gap is 2 at a = 0 (margins +-1), so 1.75 stops once the gap has shrunk by 1/8 (at 2 or
#: more it would stop before its first step). Measured (2026-12-07, one thread, side by side):
#: 1.0 -> 1.75 took the four problems of issue 19 (web, hard at n = 5,000 and 10,000) from
#: 0.548-0.658 / 3.0-3.29 / 0.40-0.44 / 2.02-2.12 s to 0.53 / 2.68 / 0.42 / 1.97 s, and 54 SVM+
#: problems at n = 2,000 and 4,000 (web, hard and 10%-positive labels; C and gamma_plus each in
#: 0.1, 1, 10) from 14.3 s to 12.3 s in all, with the same one fall-back to the decomposition
START_TOL = 1.75
#: rounds after which a round that moves no fewer units than the last halves the moves
STALL_ROUNDS = 4
#: largest privileged dimension taken as a factor: the reduced QP has r + 2 variables and
#: its steps solve (r + 2 + active)-sized systems. Measured (2026-12-07): with 100 privileged
#: features on 300-500 rows and C >= 10 the reduced QP did not settle (the phase gave up after
#: a round and the decomposition did the whole solve, 3-7x the decomposition's time)
MAX_RANK = 64
#: fewest units for the phase: below, the decomposition is fast (0.4 s at n = 2,000 on issue 19's
#: web problem) and a give-up costs more than the phase saves (grids with large C at n = 300-1,000
#: took 1.2-7x the decomposition's time)
MIN_UNITS = 2000
#: largest free set the phase factorises (a dense |F| x |F| float64 matrix: 1.15 GB at 12,000)
MAX_FREE = 12_000
#: units entering the free set per round: at most this fraction of it (or MIN_ENTER); measured
#: on the problems of issue 19, the full step (every violator enters) overshot to 1.6x the final
#: free set in its second round, and capped steps cost about half the factorisation work
ENTER_FRACTION, MIN_ENTER = 0.15, 200
#: the factor is kept (new units appended, units that left pinned) while at most this fraction
#: of its units are pinned; each pin costs up to ~|F|^2 flops once and ~2 |F| per solved column,
#: and many pins lose accuracy. Measured on issue 19's problems (min of 3, side by side): 0.1
#: was 3-25% faster than 0.2 and 0.3, and needed a second factorisation less often
PIN_FRACTION = 0.1


def privileged_factor(X_priv, kernel_priv):
    """The factor of a privileged kernel for :class:`~webly.solvers.problems.CorrectingBlock`:
    the features themselves (dense float64) when the kernel is linear on at most
    :data:`MAX_RANK` of them, else None (the decomposition alone solves)."""
    if X_priv is None or kernel_priv != "linear" or X_priv.shape[1] > MAX_RANK:
        return None
    return np.asarray(X_priv.toarray() if sp.issparse(X_priv) else X_priv, dtype=np.float64)


def applies(qp):
    """Whether :func:`active_set_solve` should take ``qp`` (validated): one correcting block with
    a low-rank ``factor`` of at most :data:`MAX_RANK` columns, an equality sum constraint, a
    float64 kernel and at least :data:`MIN_UNITS` units."""
    if len(qp.blocks) != 1 or qp.K.dtype != np.float64 or qp.n < MIN_UNITS:
        return False
    b = qp.blocks[0]
    return (b.factor is not None and b.factor.shape[1] <= MAX_RANK and b.lo == b.hi
            and b.weights is None)


def active_set_solve(qp, x0=None, max_rounds=MAX_ROUNDS):
    """The optimum ``[a; z]`` of ``qp`` by primal-dual active sets, or None where it gives up.

    ``qp`` must be validated and :func:`applies`. ``x0`` (a previous solution, e.g. of the last
    relabelling round) gives the first partition; without it, the support vectors of libsvm's
    C-SVM on ``K`` (``C`` the block's mean weight) do. Gives up (returns None, logged) when a
    free set's ``Q_FF`` is not positive definite (duplicate rows, a low-rank visual kernel), is
    larger than :data:`MAX_FREE`, when the small QP does not settle, or after ``max_rounds``
    partitions; the caller then solves by decomposition from its own start.

    Returns
    -------
    x : (n + m,) array or None
    info : dict
        ``rounds`` (partitions solved), ``free`` (size of the last free set), ``seconds``,
        ``reason`` (why it gave up, or ""), and with a solution ``K_ay``, ``K (a∘y)`` at it.
    """
    t0 = time.perf_counter()
    n = qp.n
    K, y, upper = qp.K, qp.y, qp.upper
    b = qp.blocks[0]
    S, Z = b.index, b.factor
    m, r = Z.shape
    # the rows (Z_i [i in S], y_i, [i in S]) of every unit, and the constraint rows J = [Z, 0, 1]
    E = np.zeros((n, r + 2))
    E[S, :r] = Z
    E[:, r] = y
    E[S, r + 1] = 1.0
    J = np.zeros((m, r + 2))
    J[:, :r] = Z
    J[:, r + 1] = 1.0
    rhs = np.zeros(r + 2)
    rhs[r], rhs[r + 1] = qp.y_total, b.lo
    pq = qp.p.copy()
    pq[S] += b.linear
    D = np.zeros(r + 2)
    D[:r] = b.gamma

    state = _start(qp, x0)
    info = {"rounds": 0, "free": 0, "seconds": 0.0, "reason": ""}
    # the reduced QP's working set of constraints held as equalities (the z > 0 candidates):
    # each round's first working set is the last round's
    active = []
    factor = None        # the float64 factor, kept while the free set changes (see _Factor)
    seen = {state.tobytes()}     # partitions solved (to detect a cycle)
    limit = None                 # most units moved per round once a cycle was met
    last_moved = None
    a = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)[:n]
    for rnd in range(max_rounds):
        F = np.flatnonzero(state == 1)
        Ub = np.flatnonzero(state == 2)
        info["rounds"], info["free"] = rnd + 1, F.size
        if F.size == 0 or F.size > MAX_FREE:
            return _give_up(info, t0, f"free set of {F.size} units")
        a_last, a = a, np.zeros(n)
        a[Ub] = upper[Ub]
        # r_F = p_F + [F in S] q_F - (Q a_U)_F
        rF = pq[F]
        if Ub.size:
            rF = rF - y[F] * (K[Ub].T @ (a[Ub] * y[Ub]))[F]
        # Q_FF = D K_FF D with D = diag(y_F): with Y = L^{-1} D [r_F, E_F] (one half-solve),
        # E_F' Q_FF^{-1} E_F = Y_E'Y_E, E_F' a0 = Y_E'Y_r and a_F = D L^{-T} (Y_r - Y_E t)
        EF = E[F]
        yF = y[F][:, None]
        # the first partition (libsvm's support vectors) is far from the optimum's: its solve
        # only points the way, in float32 (half the time of the largest factorisation)
        exact = rnd > 0 or x0 is not None
        for fresh in (False, True):
            fac = _factor_for(K, F, None if fresh else factor,
                              np.float64 if exact else np.float32, key=-a_last[F])
            if fac is None:
                return _give_up(info, t0, "Q_FF is not positive definite")
            Y = fac.half(F, yF * np.column_stack([rF, EF]))
            Yr, YE = Y[:, 0].astype(np.float64), Y[:, 1:].astype(np.float64)
            G = YE.T @ YE
            G[np.diag_indices(r + 2)] += D
            h = YE.T @ Yr + E[Ub].T @ a[Ub] - rhs
            out = _small_qp(G, h, J, b.linear, active)
            if out is None:
                return _give_up(info, t0,
                                "the reduced QP in the correcting function did not settle")
            t_new, active_new, z_act = out
            a[F] = y[F] * fac.back(F, (Yr - YE @ t_new).astype(fac.dtype))
            # a guard on the kept factor: the KKT rows in t (y'a = y_total, the block's sum,
            # theta's stationarity) must hold to rounding, else the round is solved again from
            # a new factorisation (pins near-dependent on kept units could make the pinned
            # system ill-conditioned; on issue 19's problems it has not triggered since the
            # W'W fix of c129910)
            res = (EF.T @ a[F] + E[Ub].T @ a[Ub] - rhs - D * t_new
                   + J[active_new].T @ z_act)
            if (not exact or fac.W is None or fresh
                    or np.abs(res).max() <= 1e-10 * (1.0 + np.abs(E).max() * np.abs(a).sum())):
                break
            logger.debug("active set round %d: kept factor inaccurate (KKT residual %.1e); "
                         "factorising afresh", rnd, np.abs(res).max())
        if exact:
            factor = fac
        t, active = t_new, active_new
        free = state == 1
        leave = np.flatnonzero(free & ((a <= 0.0) | (a >= upper)))
        leave_by = np.maximum(-a[leave], a[leave] - upper[leave])
        if exact:
            # reduced gradient of every a: (Qa)_i - p_i + nu y_i + [i in S] xi_i
            Kay = K @ (a * y)
            g = y * Kay - qp.p + t[r] * y
            g[S] += J @ t - b.linear
            tol = 1e-12 * (1.0 + np.abs(qp.p).max())
            enter = np.flatnonzero(((state == 0) & (g < -tol)) | ((state == 2) & (g > tol)))
        else:       # the first round from libsvm's support vectors only removes units
            enter = np.zeros(0, dtype=np.int64)
        enter_by = np.abs(g[enter]) if enter.size else np.zeros(0)
        # where a partition comes back (PDAS can cycle when Q is not an M-matrix) fewer units
        # move, halving until the cycle breaks (one at a time: a plain active-set method)
        if leave.size == 0 and enter.size == 0:
            logger.debug("active set round %d: |F| %d, |U| %d, %d constraints; optimal",
                         rnd, F.size, Ub.size, len(active))
            if not exact:                 # the same partition again, solved exactly
                continue
            x = np.zeros(n + m)
            x[:n] = a
            x[n + np.asarray(active, dtype=np.int64)] = z_act
            info["seconds"] = time.perf_counter() - t0
            info["K_ay"] = Kay        # K (a∘y) of x: the caller's gradient needs no K pass
            return x, info
        # at most ENTER_FRACTION of the free set enters per round (the most violating; a full
        # PDAS step overshoots), and none in the first round from libsvm's support vectors:
        # they are mostly too many, and a smaller second free set factorises faster
        cap = 0 if rnd == 0 and x0 is None else max(MIN_ENTER, int(ENTER_FRACTION * F.size))
        while True:
            new = state.copy()
            lv = leave if limit is None else leave[np.argsort(-leave_by)[:limit]]
            new[lv] = np.where(a[lv] <= 0.0, 0, 2)
            c = cap if limit is None else min(cap, limit)
            new[enter if enter.size <= c else enter[np.argsort(-enter_by)[:c]]] = 1
            key = new.tobytes()
            if key not in seen or limit == 1:
                break
            limit = max(1, (int(np.sum(new != state)) if limit is None else limit) // 2)
        seen.add(key)
        moved = int(np.sum(new != state))
        if rnd >= STALL_ROUNDS and last_moved is not None and moved >= last_moved:
            # not settling (PDAS need not converge on a non-M-matrix Q): fewer units per round
            limit = max(1, (moved if limit is None else limit) // 2)
        last_moved = moved
        logger.debug("active set round %d: |F| %d, |U| %d, %d constraints; %d units move "
                     "(%d leave, %d of %d violators enter)", rnd, F.size, Ub.size, len(active),
                     moved, int(np.sum((state == 1) & (new != 1))),
                     int(np.sum((state != 1) & (new == 1))), enter.size)
        state = new
    return _give_up(info, t0, f"no fixed partition in {max_rounds} rounds")


class _Factor:
    """A Cholesky factor ``L`` of ``K`` over the units ``order`` (``K_oo = L L'``), kept across
    rounds: units that join the free set are appended (``L21 = L^{-1} K_oN``, ``L22 =
    chol(K_NN - L21'L21)``: ~|F|^2 |N| flops against |F|^3 / 3 for a new factorisation, and only
    ``K_oN`` is gathered), units that leave stay in ``order`` pinned at 0 (below), units that
    come back are unpinned.

    Solves are split in halves: :meth:`half` gives ``Y = P L^{-1} B`` and :meth:`back` gives
    ``L^{-T} y``; for the units ``F`` (the unpinned ones) ``half(B)' half(B) = B' K_FF^{-1} B``
    and ``back(half(B)) = K_FF^{-1} B``. The pins enter through ``P = I - W (W'W)^{-1} W'``
    with ``W = L^{-1} E_R`` (``E_R`` the unit columns of the pinned positions): the solution of
    the whole system with ``x_R = 0`` held by a multiplier (a Schur complement), which is the
    solution on the unpinned units. So a round needs one forward solve with the columns
    ``[r_F, E_F]`` (the reduced QP's ``G`` and ``h`` are inner products of its result) and one
    backward solve with one column.

    ``dtype=float32`` (the first round's factor, not kept) is an unrefined factorisation.
    (Refining a float32 factor in float64 was measured too: its refinement solves, one per
    column of ``[r_F, E_F]`` and round, cost more than the half of the factorisation it saves.)
    """

    def __init__(self, K, F, dtype=np.float64):
        self.order = np.array(F)
        self.L = sl.cho_factor(_gather(K, F, F, dtype), lower=True, overwrite_a=True,
                               check_finite=False)[0]
        # appended block rows (start, L_kk, L_k<): L = [[L, 0], [L_k<, L_kk]], kept apart so
        # that appending copies nothing
        self.blocks = []
        self.where = np.full(K.shape[0], -1, dtype=np.int64)
        self.where[self.order] = np.arange(self.order.size)
        self.R = np.zeros(0, dtype=np.int64)      # pinned positions (W's columns)
        self.W = self.S = None

    @property
    def size(self):
        return self.order.size

    @property
    def dtype(self):
        return self.L.dtype

    def forward(self, B, j0=0):
        """``L^{-1} B`` for ``B`` (size x k) that is 0 above row ``j0`` (rows from ``j0``)."""
        m0 = self.L.shape[0]
        Y = np.zeros_like(B)
        if j0 < m0:
            Lt = self.L if j0 == 0 else self.L[j0:, j0:]
            Y[j0:m0] = sl.solve_triangular(Lt, B[j0:m0], lower=True, check_finite=False)
        for start, Lkk, Lk in self.blocks:
            stop = start + Lkk.shape[0]
            if stop <= j0:
                continue
            c = min(j0, start)
            rhs = B[start:stop] - Lk[:, c:] @ Y[c:start]
            Y[start:stop] = sl.solve_triangular(Lkk, rhs, lower=True, check_finite=False)
        return Y

    def backward(self, y):
        """``L^{-T} y``."""
        z = np.array(y, dtype=self.dtype)
        for start, Lkk, Lk in reversed(self.blocks):
            stop = start + Lkk.shape[0]
            z[start:stop] = sl.solve_triangular(Lkk, z[start:stop], lower=True, trans="T",
                                                check_finite=False)
            z[:start] -= Lk.T @ z[start:stop]
        m0 = self.L.shape[0]
        z[:m0] = sl.solve_triangular(self.L, z[:m0], lower=True, trans="T", check_finite=False)
        return z

    def update(self, K, F):
        """Make the unpinned units the free set ``F``: pin the units that left, unpin the ones
        that came back, append the new ones. False (nothing changed) where more than
        :data:`PIN_FRACTION` of the factor would be pinned or the units to append are more
        than half of ``F``: then a new factorisation costs less."""
        pos = self.where[F]
        N = F[pos < 0]
        pinned = np.ones(self.size, dtype=bool)
        pinned[pos[pos >= 0]] = False
        if pinned.sum() > PIN_FRACTION * (self.size + N.size) or N.size > 0.5 * F.size:
            return False
        if N.size:
            try:
                self._append(K, N)
            except np.linalg.LinAlgError:
                return False
            pinned = np.r_[pinned, np.zeros(N.size, dtype=bool)]
        self._pin(np.flatnonzero(pinned))
        return True

    def _append(self, K, N):
        m, k = self.size, N.size
        L21 = self.forward(_gather(K, self.order, N, np.float64))     # (m, k) = L^{-1} K_oN
        L22 = sl.cho_factor(_gather(K, N, N, np.float64) - L21.T @ L21, lower=True,
                            overwrite_a=True, check_finite=False)[0]
        self.blocks.append((m, L22, np.ascontiguousarray(L21.T)))
        self.order = np.r_[self.order, N]
        self.where[N] = np.arange(m, m + k)
        if self.W is not None:   # W = L^{-1} E_R gains the rows of the new units (and W'W)
            self.W = np.r_[self.W, -sl.solve_triangular(L22, L21.T @ self.W, lower=True,
                                                        check_finite=False)]
            self.S = sl.cho_factor(self.W.T @ self.W, lower=True, check_finite=False)

    def _pin(self, R):
        """Pin the positions ``R`` (sorted): ``W``'s columns of the pins that stay are kept, the
        new pins' columns solved for (``L^{-1} e_j`` is 0 above position j, so only the
        rows from the first new pin are solved)."""
        if np.array_equal(R, self.R):
            return
        stay = np.isin(self.R, R, assume_unique=True)
        new = R[~np.isin(R, self.R, assume_unique=True)]
        W = self.W[:, stay] if self.W is not None else np.zeros((self.size, 0))
        if new.size:
            E = np.zeros((self.size, new.size))
            E[new, np.arange(new.size)] = 1.0
            W = np.c_[W, self.forward(E, j0=new[0])]
        self.R = np.r_[self.R[stay], new]
        if self.R.size == 0:
            self.W = self.S = None
            return
        self.W = W
        self.S = sl.cho_factor(W.T @ W, lower=True, check_finite=False)

    def half(self, F, B):
        """``P L^{-1} B~`` with ``B~`` the rows ``B`` (units ``F``, the unpinned ones) in factor
        order, 0 on the pinned units."""
        Bt = np.zeros((self.size, B.shape[1]), dtype=self.dtype)
        Bt[self.where[F]] = B
        Y = self.forward(Bt)
        if self.W is not None:
            Y -= self.W @ sl.cho_solve(self.S, self.W.T @ Y, check_finite=False)
        return Y

    def back(self, F, y):
        """``L^{-T} y`` on the units ``F``, in their order (0 on the pinned ones)."""
        return self.backward(y)[self.where[F]]


def _gather(K, rows, cols, dtype, block=64):
    """``K[rows][:, cols]`` in ``dtype``, Fortran-ordered (LAPACK factorises it in place, no
    copy: for ``rows == cols`` the transpose of the C-ordered gather is the same matrix since K
    is symmetric), ``block`` rows of K at a time (a row gather, then a column take: 1.5x faster
    than ``np.ix_`` at |F| = 2,100 of 5,000; no float64 temporary of the whole block)."""
    out = np.empty((cols.size, rows.size), dtype=dtype)    # the transpose, filled by rows
    for i in range(0, cols.size, block):
        if out.dtype == K.dtype:   # in place (mode "clip": unbuffered; the indices are valid)
            np.take(K[cols[i:i + block]], rows, axis=1, out=out[i:i + block], mode="clip")
        else:
            out[i:i + block] = np.take(K[cols[i:i + block]], rows, axis=1)
    return out.T


def _factor_for(K, F, factor, dtype=np.float64, key=None):
    """A factor whose unpinned units are ``F``: ``factor`` updated where that is cheaper, else a
    new one, its units in ascending order of ``key`` (the units likely to leave last: a pin
    there costs little); None where ``K_FF`` is not positive definite."""
    if factor is not None and factor.dtype == dtype and factor.update(K, F):
        return factor
    if key is not None:
        F = F[np.argsort(key, kind="stable")]
    for dt in dict.fromkeys([dtype, np.float64]):   # float32 can fail where float64 does not
        try:
            return _Factor(K, F, dt)
        except np.linalg.LinAlgError:
            pass
    return None


def _give_up(info, t0, reason):
    info["seconds"] = time.perf_counter() - t0
    info["reason"] = reason
    logger.info("active-set start gave up after %d rounds (%s); decomposition from scratch",
                info["rounds"], reason)
    return None, info


def _start(qp, x0):
    """First partition of ``a``: 0 at zero, 1 free, 2 at the upper bound."""
    n, upper = qp.n, qp.upper
    if x0 is not None:
        a = np.asarray(x0, dtype=np.float64)[:n]
    else:
        from sklearn.svm import SVC

        b = qp.blocks[0]
        c = b.lo / len(b.index)                   # the block's mean weight: SVM+'s C
        w = np.minimum(upper, c) / c              # a finite upper bound below it caps the box
        svc = SVC(C=c, kernel="precomputed", tol=START_TOL)
        svc.fit(qp.K, qp.y, sample_weight=np.where(w > 0, w, 1e-12))
        a = np.zeros(n)
        a[svc.support_] = np.abs(svc.dual_coef_.ravel())
    state = np.zeros(n, dtype=np.int8)
    state[a > 0] = 1
    state[(a >= upper) & np.isfinite(upper)] = 2
    return state


def _kkt_solve(KKT, rhs):
    """A small KKT system: LU (fast), or least squares where it is singular (dependent
    working constraints: duplicate privileged rows)."""
    try:
        return np.linalg.solve(KKT, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(KKT, rhs, rcond=None)[0]


def _small_qp(G, h, J, q, active, max_iter=1000):
    """``min 1/2 t'Gt - h't`` s.t. ``J t >= q`` (G positive definite, few of the many rows of
    ``J`` active) by an active-set method on the dual, ``max_{z >= 0} -1/2 (h + J'z)' G^{-1}
    (h + J'z) + q'z`` (Lawson & Hanson's NNLS steps; Goldfarb & Idnani's dual method in its
    simplest form): from the minimiser on a working set ``A`` of constraints held as
    equalities (``z_A >= 0``), add the most violated constraint, solve the equality problem,
    and where a multiplier would turn negative go only as far as it reaches 0 and drop it.
    Each step solves one (r + 2 + |A|) KKT system, and the steps are about as many as the
    active constraints (a primal active-set method from a feasible point took 277 on issue
    19's web problem at n = 5,000: one per blocking constraint met on the way). ``active``
    (the last round's set) is the first working set where its multipliers are all >= 0 (the
    dual method needs no feasible start). Returns ``(t, active, multipliers)`` or None (no
    convergence)."""
    k0 = G.shape[0]

    def solve(A):
        k = len(A)
        KKT = np.zeros((k0 + k, k0 + k))
        KKT[:k0, :k0] = G
        KKT[:k0, k0:] = -J[A].T
        KKT[k0:, :k0] = J[A]
        sol = _kkt_solve(KKT, np.r_[h, q[A]])
        return sol[:k0], sol[k0:]

    A = list(active)
    t_a, z = solve(A)
    if A and z.min() < 0:
        A = []
        t_a, z = solve(A)
    steps_left = max_iter
    while steps_left > 0:
        viol = J @ t_a - q
        viol[A] = np.inf
        i = int(np.argmin(viol))
        if viol[i] >= -1e-12 * (1.0 + np.abs(q).max() + np.abs(J[i]).max() * np.abs(t_a).max()):
            return t_a, A, np.maximum(z, 0.0)
        A.append(i)
        z = np.r_[z, 0.0]
        first = True
        while steps_left > 0:
            steps_left -= 1
            t_new, z_new = solve(A)
            if first and z_new[-1] <= 0:     # rounding: constraint i is not really violated
                A.pop()
                return t_a, A, np.maximum(z[:-1], 0.0)
            first = False
            neg = np.flatnonzero(z_new < 0)
            if neg.size == 0:
                t_a, z = t_new, z_new
                break
            # from z (>= 0) toward z_new, as far as the first multiplier that reaches 0
            ratio = z[neg] / (z[neg] - z_new[neg])
            z = z + float(ratio.min()) * (z_new - z)
            j = int(neg[np.argmin(ratio)])
            A.pop(j)
            z = np.delete(z, j)
    return None
