"""cvxpy reference formulations of the SVM+ family QPs (ground truth for tests, small n only).

The same :class:`~webly.solvers.problems.KernelQP` that :func:`~webly.solvers.smo.smo_solve`
takes is written out literally in cvxpy (quadratic terms as ``sum_squares`` of a PSD factor of
each kernel) and solved with Clarabel at tight tolerances. Measured cost: an RBF SVM dual with
n = 5,000 takes 23 s and 3.5 GB with Clarabel against 0.1 s for libsvm, so never use this on
the hot path.
"""

import logging
import time

import numpy as np

from .problems import KernelQP

logger = logging.getLogger(__name__)

__all__ = ["reference_solve", "psd_factor"]


def psd_factor(M):
    """``F`` with ``F F' = M`` (eigen-decomposition, negative eigenvalues clipped to 0)."""
    M = 0.5 * (np.asarray(M, dtype=np.float64) + np.asarray(M, dtype=np.float64).T)
    w, V = np.linalg.eigh(M)
    keep = w > max(w.max(initial=0.0), 0.0) * 1e-13
    return V[:, keep] * np.sqrt(w[keep])


def reference_solve(qp, solver="CLARABEL", eps=1e-10):
    """Solve a KernelQP with cvxpy.

    Objective (identical to :func:`~webly.solvers.smo.smo_solve`)::

        1/2 ||F'(y∘a)||^2 - p'a + sum_j [1/(2 gamma_j) ||F_j'v_j||^2 - q_j'v_j] + constant,
        v_j = a[S_j] + z_j,  K = F F',  G_j = F_j F_j',

    s.t. ``y'a = y_total``, ``0 <= a <= upper``, ``z_j >= 0``, ``lo_j <= sum(w_j v_j) <= hi_j``
    (``w_j`` the block's sum ``weights``, ones by default).

    Returns
    -------
    x : array ``[a; z_1; ..]``
    info : dict
        ``status`` ("converged" when cvxpy reports optimal), ``n_iter``, ``objective``
        (re-evaluated in numpy at ``x``), ``kkt_violation`` (of ``x`` with entries within 1e-9
        of a bound snapped to it; NaN for a block with unequal sum ``weights``, which the SMO's
        check cannot evaluate), ``multipliers`` (``nu``: the intercept, then each block's bias;
        for unequal ``weights`` from cvxpy's dual values), ``seconds``.
    """
    import cvxpy as cp

    from .problems import qp_objective
    from .smo import qp_kkt

    if not isinstance(qp, KernelQP):
        raise TypeError(f"qp must be a KernelQP, got {type(qp).__name__}")
    t0 = time.perf_counter()
    qp = qp.validate()
    n = qp.n
    a = cp.Variable(n)
    F = psd_factor(qp.K)
    obj = 0.5 * cp.sum_squares(F.T @ cp.multiply(qp.y, a)) - qp.p @ a
    bias = qp.y @ a == qp.y_total
    cons = [bias, a >= 0]
    sums = []
    finite = np.isfinite(qp.upper)
    if finite.any():
        cons.append(a[np.flatnonzero(finite)] <= qp.upper[finite])
    zs = []
    for b in qp.blocks:
        z = cp.Variable(len(b.index))
        zs.append(z)
        v = a[b.index] + z
        Fj = psd_factor(b.kernel)
        obj = obj + 0.5 / b.gamma * cp.sum_squares(Fj.T @ v) - b.linear @ v
        cons.append(z >= 0)
        total = cp.sum(v) if b.weights is None else b.weights @ v
        sums.append([total == b.hi] if b.lo == b.hi else [total >= b.lo, total <= b.hi])
        cons += sums[-1]
    prob = cp.Problem(cp.Minimize(obj), cons)
    opts = {}
    if solver == "CLARABEL":
        opts = {"tol_gap_abs": eps, "tol_gap_rel": eps, "tol_feas": eps, "max_iter": 500}
    prob.solve(solver=solver, **opts)
    if a.value is None:
        raise RuntimeError(f"cvxpy reference solve failed: {prob.status}")
    x = np.concatenate([a.value] + [z.value for z in zs])
    # clip tiny infeasibilities of the interior-point solution
    x[:n] = np.clip(x[:n], 0, qp.upper)
    x[n:] = np.maximum(x[n:], 0)
    if all(b.weights is None for b in qp.blocks):
        kkt, nu = qp_kkt(qp, x, bound_tol=1e-9 * max(1.0, np.abs(x).max()))
    else:  # the SMO's KKT check knows unweighted sums only: the multipliers are cvxpy's duals
        kkt = np.nan
        # cvxpy's duals: + for an equality; hi's minus lo's for a two-sided sum (one is 0)
        nu = np.array([float(bias.dual_value)]
                      + [float(np.sum(c[0].dual_value)) if len(c) == 1 else
                         float(np.sum(c[1].dual_value)) - float(np.sum(c[0].dual_value))
                         for c in sums])
    stats = prob.solver_stats
    info = {"status": "converged" if prob.status == cp.OPTIMAL else prob.status,
            "n_iter": int(stats.num_iters or 0) if stats is not None else 0,
            "objective": qp_objective(qp, x), "kkt_violation": float(kkt),
            "multipliers": nu, "seconds": time.perf_counter() - t0}
    return x, info
