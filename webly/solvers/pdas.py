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
vectors of libsvm's C-SVM on the same kernel, it took 6 to 10 partitions (3-4 full
factorisations, the rest bordered) on the problems of issue 19 at n = 5,000 and 10,000
(``python benchmarks/solver_speed.py --only-svmplus``).

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
#: one is smaller and sooner (issue 19's problems at n = 10,000: 0.16-0.45 s vs 0.40-0.71 s at
#: 0.1, 4,630 vs 5,068 support vectors on the web problem; the whole solve 5-15% faster)
START_TOL = 1.0
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
#: the last factorisation is reused (bordered) while the units that left and joined the free
#: set are at most this fraction of it (a bordered solve costs ~|F|^2 per changed unit against
#: |F|^3 / 3 for a factorisation)
BORDER_FRACTION = 0.1


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
        ``reason`` (why it gave up, or "").
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
    # t = (theta, nu, lambda) of the reduced QP, kept feasible for J t >= q from round to
    # round (theta = 0 and lambda = max q to start), and its working set of constraints held
    # as equalities (the z > 0 candidates)
    t = np.zeros(r + 2)
    t[r + 1] = b.linear.max()
    active = [int(np.argmax(b.linear))]
    factor = None        # the last Cholesky factor, bordered while the free set changes little
    seen = {state.tobytes()}     # partitions solved (to detect a cycle)
    limit = None                 # most units moved per round once a cycle was met
    last_moved = None
    for rnd in range(max_rounds):
        F = np.flatnonzero(state == 1)
        Ub = np.flatnonzero(state == 2)
        info["rounds"], info["free"] = rnd + 1, F.size
        if F.size == 0 or F.size > MAX_FREE:
            return _give_up(info, t0, f"free set of {F.size} units")
        a = np.zeros(n)
        a[Ub] = upper[Ub]
        # r_F = p_F + [F in S] q_F - (Q a_U)_F
        rF = pq[F]
        if Ub.size:
            rF = rF - y[F] * (K[Ub].T @ (a[Ub] * y[Ub]))[F]
        # Q_FF = D K_FF D with D = diag(y_F): solve K_FF X = D B, then Q_FF^{-1} B = D X
        EF = E[F]
        yF = y[F][:, None]
        # the first partition (libsvm's support vectors) is far from the optimum's: its solve
        # only points the way, in float32 (half the time of the largest factorisation)
        exact = rnd > 0 or x0 is not None
        sol, factor = _free_solve(K, F, yF * np.column_stack([rF, EF]), factor, exact=exact)
        if sol is not None:
            sol *= yF
        if sol is None:
            return _give_up(info, t0, "Q_FF is not positive definite")
        a0, M = sol[:, 0], sol[:, 1:]
        G = EF.T @ M
        G[np.diag_indices(r + 2)] += D
        h = EF.T @ a0 + E[Ub].T @ a[Ub] - rhs
        out = _small_qp(G, h, J, b.linear, t, active)
        if out is None:
            return _give_up(info, t0, "the reduced QP in the correcting function did not settle")
        t, active, z_act = out
        a[F] = a0 - M @ t
        xi = J @ t - b.linear
        # reduced gradient of every a: (Qa)_i - p_i + nu y_i + [i in S] xi_i
        g = y * (K @ (a * y)) - qp.p + t[r] * y
        g[S] += xi
        scale = 1.0 + np.abs(qp.p).max()
        tol = 1e-12 * scale
        free = state == 1
        leave = np.flatnonzero(free & ((a <= 0.0) | (a >= upper)))
        leave_by = np.maximum(-a[leave], a[leave] - upper[leave])
        enter = np.flatnonzero(((state == 0) & (g < -tol)) | ((state == 2) & (g > tol)))
        enter_by = np.abs(g[enter])
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
        logger.debug("active set round %d: |F| %d, |U| %d, %d constraints; %d units move",
                     rnd, F.size, Ub.size, len(active), moved)
        state = new
    return _give_up(info, t0, f"no fixed partition in {max_rounds} rounds")


class _Factor:
    """The Cholesky factor of ``K_F0F0`` (``F0`` the free set it was computed for), which also
    solves ``K_FF X = B`` exactly for a free set ``F`` close to ``F0``: units that left ``F0``
    are held at 0 by a Schur complement on the inverse, units that joined are bordered on
    (:meth:`solver`). (A float32 factor with float64 refinement was measured too: its
    refinement solves, one per column of ``[r_F, E_F]`` and round, cost more than the half of
    the factorisation it saves.)"""

    def __init__(self, K, F):
        self.F = F
        self.L = sl.cho_factor(_gather(K, F, np.float64), lower=True, overwrite_a=True,
                               check_finite=False)

    def _solve0(self, B):
        return sl.cho_solve(self.L, B, check_finite=False)

    def solver(self, K, F):
        """A solver of ``K_FF X = B`` from this factor, or None where ``F`` differs from
        ``F0`` by more than :data:`BORDER_FRACTION` of it (or a Schur complement is not
        positive definite): then the caller factorises ``K_FF`` afresh."""
        F0 = self.F
        if F.size == F0.size and np.array_equal(F, F0):
            return self._solve0
        keep0 = np.isin(F0, F, assume_unique=True)
        R = np.flatnonzero(~keep0)                       # positions in F0 of units that left
        N = F[~np.isin(F, F0, assume_unique=True)]       # units that joined
        if R.size + N.size > BORDER_FRACTION * F0.size:
            return None
        m0 = F0.size
        try:
            if R.size:     # (K_00^{-1})_RR: the Schur complement that holds a_R at 0
                E_R = np.zeros((m0, R.size))
                E_R[R, np.arange(R.size)] = 1.0
                W_R = self._solve0(E_R)
                S_R = sl.cho_factor(W_R[R], lower=True, check_finite=False)

            def kk_solve(Bk):      # K_kk^{-1} Bk, k = the kept units (rows in F0 order)
                b = np.zeros((m0,) + Bk.shape[1:])
                b[keep0] = Bk
                x = self._solve0(b)
                if R.size:
                    x -= W_R @ sl.cho_solve(S_R, x[R], check_finite=False)
                return x[keep0]

            k = F0[keep0]
            pk, pN = np.searchsorted(F, k), np.searchsorted(F, N)
            if N.size:
                K_kN = K[np.ix_(k, N)]
                V = kk_solve(K_kN)
                S_N = sl.cho_factor(K[np.ix_(N, N)] - K_kN.T @ V, lower=True,
                                    check_finite=False)
        except np.linalg.LinAlgError:
            return None

        def solve(B):
            X = np.empty(B.shape)
            u = kk_solve(B[pk])
            if N.size:
                xN = sl.cho_solve(S_N, B[pN] - K_kN.T @ u, check_finite=False)
                X[pN] = xN
                u = u - V @ xN
            X[pk] = u
            return X

        return solve


def _gather(K, F, dtype, rows=512):
    """``K_FF`` in ``dtype`` as a Fortran-ordered array (LAPACK factorises it in place, no copy:
    the transpose of the C-ordered gather, the same matrix since K is symmetric), filled
    ``rows`` rows at a time (no float64 temporary of the whole block for float32)."""
    out = np.empty((F.size, F.size), dtype=dtype)
    for i in range(0, F.size, rows):
        out[i:i + rows] = K[np.ix_(F[i:i + rows], F)]
    return out.T


def _free_solve(K, F, B, factor, exact=True):
    """``K_FF^{-1} B`` and the factor to reuse: the previous ``factor`` bordered where ``F`` is
    close to its set, else a new factorisation of ``K_FF``. ``(None, None)`` when ``K_FF`` is
    not positive definite. ``exact=False``: one unrefined float32 factorisation and solve
    (relative error ~ cond(K_FF) 2^-24), not kept. (Float32 solves in every round until the
    partition settles were measured: their errors kept it moving for 10-40 rounds instead of
    5-8; only the first round uses it.)"""
    if not exact:
        try:
            L = sl.cho_factor(_gather(K, F, np.float32), lower=True,
                              overwrite_a=True, check_finite=False)
            return (sl.cho_solve(L, B.astype(np.float32), check_finite=False)
                    .astype(np.float64), None)
        except np.linalg.LinAlgError:
            pass
    solve = None if factor is None else factor.solver(K, F)
    if solve is None:
        try:
            factor = _Factor(K, F)
        except np.linalg.LinAlgError:
            return None, None
        solve = factor._solve0
    return solve(B), factor


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


def _small_qp(G, h, J, q, t, active, max_iter=1000):
    """``min 1/2 t'Gt - h't`` s.t. ``J t >= q`` by the primal active-set method (Nocedal &
    Wright, Algorithm 16.3) from a feasible ``t`` with the working set ``active`` (the last
    round's: ``J`` and ``q`` do not change between rounds, so its ``t`` stays feasible): solve
    for the step with the working constraints as equalities, go as far as the first blocking
    constraint (which joins the set), and at a stationary point drop the constraint with the
    most negative multiplier. Returns ``(t, active, multipliers)`` or None (no convergence)."""
    active = list(active)
    k0 = G.shape[0]
    scale = 1.0 + np.abs(q).max() + np.abs(J).max() * np.abs(t).max()
    for _ in range(max_iter):
        k = len(active)
        JA = J[active]
        KKT = np.zeros((k0 + k, k0 + k))
        KKT[:k0, :k0] = G
        KKT[:k0, k0:] = -JA.T
        KKT[k0:, :k0] = JA
        sol = _kkt_solve(KKT, np.r_[h - G @ t, np.zeros(k)])
        step, mult = sol[:k0], sol[k0:]
        if np.abs(step).max() <= 1e-9 * (1.0 + np.abs(t).max()):    # stationary on the set
            if k == 0 or mult.min() >= -1e-12 * (1.0 + np.abs(h).max()):
                # t and the multipliers from the working set's KKT system itself: a = a0 - M t
                # amplifies the error of t (|M t| ~ |a0| >> |a|), which the steps accumulate
                sol = _kkt_solve(KKT, np.r_[h, q[active]])
                return sol[:k0], active, np.maximum(sol[k0:], 0.0)
            active.pop(int(np.argmin(mult)))
            continue
        Js = J @ step
        slack = J @ t - q
        dec = Js < -1e-15 * scale
        if active:
            dec[active] = False
        ratio = np.full(J.shape[0], np.inf)
        ratio[dec] = np.maximum(slack[dec], 0.0) / -Js[dec]
        i = int(np.argmin(ratio))
        if ratio[i] < 1.0:
            t = t + ratio[i] * step
            active.append(i)
        else:
            t = t + step
    return None
