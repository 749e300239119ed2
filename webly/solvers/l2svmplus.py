"""L2-loss SVM+ (Li, Dai, Tan, Xu, Van Gool, CVPR 2016): closed-form privileged term, one-class QP.

Primal (rho-margin form, squared correcting-function loss, biases regularised)::

    min 1/2 (||w||^2 + b^2) - rho + gamma/2 (||w~||^2 + b~^2) + C/2 sum_i xi_i^2
    s.t. y_i (w'phi(x_i) + b) >= rho - xi_i,   xi_i = w~'phi~(x~_i) + b~.

Eliminating ``(w~, b~)`` in closed form gives the dual

    min_a 1/2 a'Qa   s.t.  a >= 0,  sum a = 1,
    Q = (K + 1)∘yy' + P,   P = (1/C) (I - (I + (C/gamma)(K~ + 1))^{-1}),

a one-class QP (libsvm's one-class solver with ``nu = 1/n`` solves exactly this: its box
``a <= 1`` can never bind when ``sum a = 1``). Without privileged features the slack is free and
``P = I / C`` (the L2-loss SVM). The decision function is ``f(x) = sum_i a_i y_i (k(x_i, x) + 1)``
and the correcting function on the training rows is ``xi = P a``.
"""

import logging
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import DataError
from ..kernels import row_block
from .simplex import simplex_qp, simplex_scale, solve_simplex_qp

logger = logging.getLogger(__name__)

__all__ = ["l2svmplus_privileged_term", "l2svmplus_privileged_factors",
           "add_privileged_term", "l2svmplus_qp", "solve_l2svmplus", "solve_l2svmplus_many"]


def l2svmplus_privileged_term(n, C, gamma_plus, K_priv=None, F_priv=None,
                              overwrite_K_priv=False):
    """``P = (1/C)(I - (I + (C/gamma)(K~ + 1))^{-1})`` as one dense (n, n) array.

    Give either the privileged kernel ``K_priv`` (Cholesky factorisation and inverse, O(n^3), in
    place on ``K_priv`` with ``overwrite_K_priv``, so the fit holds one n x n array for it) or,
    for a linear privileged kernel, the features ``F_priv`` (n, d~) (Woodbury identity with
    ``Psi = [F, 1]``: ``P = Psi (gamma I + C Psi'Psi)^{-1} Psi'``, O(n^2 d~), symmetrised in
    place). Neither gives ``I / C``. The result is exactly symmetric.
    """
    if not (C > 0 and gamma_plus > 0):
        raise DataError("C", "C and gamma_plus must be positive")
    if F_priv is not None:
        factors = l2svmplus_privileged_factors(n, C, gamma_plus, F_priv)
        if factors is not None:
            return _symmetrise(factors[0] @ factors[1])
        F = F_priv.toarray() if sp.issparse(F_priv) else np.asarray(F_priv, dtype=np.float64)
        K_priv, overwrite_K_priv = F @ F.T, True
    if K_priv is None:
        return np.eye(n) / C
    if getattr(K_priv, "shape", None) != (n, n):
        raise DataError("K_priv", f"must be ({n}, {n}), got {np.shape(K_priv)}")
    A = K_priv
    if not (overwrite_K_priv and isinstance(A, np.ndarray) and A.dtype == np.float64
            and A.flags.c_contiguous and A.flags.writeable):
        A = np.array(K_priv, dtype=np.float64, order="C")
    # M = I + (C/gamma)(K~ + 1) in place; A.T is M in Fortran order (M is symmetric), so LAPACK
    # factorises and inverts it without a copy: the upper triangle of A.T is the lower one of A
    A += 1.0
    A *= C / gamma_plus
    A.flat[::n + 1] += 1.0
    potrf, potri = sla.get_lapack_funcs(("potrf", "potri"), (A,))
    U, info = potrf(A.T, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        U, info = potri(U, lower=False, overwrite_c=True)
    if info != 0:
        raise DataError("X_priv", "the privileged kernel is not positive semi-definite (the "
                                  "Cholesky factorisation of I + (C/gamma_plus)(K~ + 1) failed); "
                                  "use a positive semi-definite kernel_priv")
    if not np.shares_memory(U, A):
        A.T[...] = U
    _mirror_lower(A)
    A *= -1.0 / C
    A.flat[::n + 1] += 1.0 / C
    return A


def l2svmplus_privileged_factors(n, C, gamma_plus, F_priv):
    """The term of a linear privileged kernel as two thin factors: ``(Psi, W)`` with
    ``P = Psi W`` (``Psi = [F, 1]`` (n, d~ + 1), ``W = (gamma I + C Psi'Psi)^{-1} Psi'``), or None
    where ``d~ + 1 >= n`` (the dense term is then no larger). :func:`add_privileged_term` adds
    ``P`` into a larger matrix by row blocks, so that the (n, n) term is never held."""
    if not (C > 0 and gamma_plus > 0):
        raise DataError("C", "C and gamma_plus must be positive")
    F = F_priv.toarray() if sp.issparse(F_priv) else np.asarray(F_priv, dtype=np.float64)
    if F.shape[0] != n:
        raise DataError("F_priv", f"has {F.shape[0]} rows, expected {n}")
    if F.shape[1] + 1 >= n:
        return None
    Psi = np.hstack([F, np.ones((n, 1))])
    M = gamma_plus * np.eye(Psi.shape[1]) + C * (Psi.T @ Psi)
    return Psi, sla.solve(M, Psi.T, assume_a="pos")


def _span(rows):
    """Increasing row indices as a slice where they are consecutive (plain views, no fancy
    indexing), else as they are."""
    rows = np.asarray(rows)
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def add_privileged_term(out, term, rows=None):
    """``out[rows, rows] += P`` for an L2-SVM+ term P, dense (r, r) or the factors ``(Psi, W)``
    of :func:`l2svmplus_privileged_factors` (``P = (Psi W + (Psi W)') / 2``, the values of the
    dense term up to the products' last bits), row block by row block: temporaries of a block
    of rows only, the (r, r) term of factors is never formed.

    ``rows``: increasing indices into ``out`` (None: all rows of a square ``out`` of P's size).
    """
    factors = isinstance(term, tuple)
    r_all = (term[0] if factors else term).shape[0]
    at = slice(0, r_all) if rows is None else _span(rows)
    step = row_block(r_all)
    for i in range(0, r_all, step):
        r = slice(i, min(i + step, r_all))
        if factors:
            Psi, W = term
            blk = Psi[r] @ W
            blk += (Psi @ W[:, r]).T
            blk *= 0.5
        else:
            blk = term[r]
        if isinstance(at, slice):
            out[at.start + r.start:at.start + r.stop, at] += blk
        else:
            out[np.ix_(at[r], at)] += blk
    return out


def _symmetrise(A):
    """``(A + A') / 2`` in place on the square array A, by blocks (no second n x n array; the
    same values as ``0.5 * (A + A.T)``)."""
    n = A.shape[0]
    step = row_block(n)
    for i in range(0, n, step):
        bi = slice(i, min(i + step, n))
        for j in range(i, n, step):
            bj = slice(j, min(j + step, n))
            avg = 0.5 * (A[bi, bj] + A[bj, bi].T)
            A[bi, bj] = avg
            A[bj, bi] = avg.T
    return A


def _mirror_lower(A):
    """Copy the lower triangle of the square array A onto its upper triangle, in place."""
    n = A.shape[0]
    step = row_block(n)
    for i in range(0, n, step):
        j = min(i + step, n)
        A[i:j, j:] = A[j:, i:j].T
        block = A[i:j, i:j]
        upper = np.triu_indices(j - i, 1)
        block[upper] = block.T[upper]


def _privileged_product(P, a):
    """``P a`` for a dense P or a scalar ``P = p I``."""
    return P @ a if np.ndim(P) == 2 else float(P) * a


def l2svmplus_qp(K, y, P):
    """The L2-SVM+ dual as a :class:`KernelQP`: ``Q`` on all-ones labels, ``sum a = 1``
    (``P`` dense, or a scalar p for ``p I``)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    return simplex_qp(_form_q(np.array(K, dtype=np.float64, order="C"), y, P))


def _form_q(Q, y, P):
    """``Q = (K + 1)∘yy' + P`` in place on ``Q`` (holding K); the sign flips are exact."""
    Q += 1.0
    Q *= y[:, None]
    Q *= y[None, :]
    if np.ndim(P) == 2:
        Q += P
    else:
        Q.flat[::Q.shape[0] + 1] += float(P)
    return Q


def _flip_labels(Q, P, scale, flip):
    """Q of the labels ``y`` -> Q of the labels ``y * (1 - 2 flip)``, in place, for a Q scaled
    by ``scale``: the entries with exactly one index in ``flip`` change sign in their ``K``
    part, ``Q_ij -> 2 scale P_ij - Q_ij`` (just ``-Q_ij`` off the diagonal of ``P = p I``).
    O(n |flip|) operations; the rest of Q is untouched."""
    F = np.flatnonzero(flip)
    if F.size == 0:
        return
    keep = np.flatnonzero(~flip)
    dense = np.ndim(P) == 2
    step = row_block(Q.shape[0])
    for i in range(0, F.size, step):
        rows = F[i:i + step]
        block = Q[rows]                                 # (b, n) copies of whole rows
        new = -block[:, keep]
        if dense:
            new += (2.0 * scale) * P[rows][:, keep]
        block[:, keep] = new
        Q[rows] = block
        # the mirrored entries, from their own values (a kernel may be symmetric only to
        # rounding)
        cols = np.negative(Q[keep[:, None], rows])
        if dense:
            cols += (2.0 * scale) * P[keep[:, None], rows]
        Q[keep[:, None], rows] = cols


def solve_l2svmplus(K, y, P, solver="smo", tol=1e-3, max_iter=None, x0=None, overwrite_K=False):
    """Solve the L2-loss SVM+ dual for one binary problem (:func:`solve_simplex_qp`).

    Parameters
    ----------
    K : (n, n) array
        Visual kernel.
    y : (n,) array of {-1, +1}
    P : (n, n) array or float
        Privileged term from :func:`l2svmplus_privileged_term` (shared by one-vs-rest problems),
        or a scalar ``p`` for ``P = p I`` (the L2-loss SVM without privileged features,
        ``p = 1/C``).
    solver : {"smo", "libsvm"}
        Our decomposition solver, or libsvm's one-class solver (``OneClassSVM(nu=1/n)``) on the
        precomputed ``Q``.
    tol : float
        KKT tolerance on the dual scaled by ``n / mean(diag Q)``, i.e. relative to the margin
        ``a'Qa`` (of order 1/n unscaled); libsvm is run with its stopping gap ``2 tol``.
    max_iter : int or None
    x0 : (n,) array or None
        Warm start (smo only).
    overwrite_K : bool
        Form ``Q`` in place on ``K`` (a float64 C-ordered array; K is then lost): the solve holds
        no n x n array besides ``K`` and ``P``.

    Returns
    -------
    alpha : (n,) array
    info : dict
        As :func:`solve_simplex_qp` (``status``, ``n_iter``, ``objective`` ``1/2 a'Qa``,
        ``rho`` ``a'Qa`` the margin, ``seconds``), plus ``intercept`` (``b = sum a y``) and
        ``correcting_values`` (``xi = P a`` on the training rows).
    """
    return solve_l2svmplus_many(K, [y], P, solver=solver, tol=tol, max_iter=max_iter,
                                x0=x0, overwrite_K=overwrite_K)[0]


def solve_l2svmplus_many(K, ys, P, solver="smo", tol=1e-3, max_iter=None, x0=None,
                         overwrite_K=False, n_jobs=None):
    """Solve the L2-SVM+ duals of several labellings ``ys`` of the same rows (one-vs-rest).

    Every problem's ``Q = (K + 1)∘yy' + P`` lives in one n x n buffer (``K`` itself with
    ``overwrite_K``, else a copy): the first is formed and scaled as :func:`solve_simplex_qp`
    scales it, each next one by :func:`_flip_labels` on the rows whose label changed
    (O(n |changed|), no second n x n array). With ``n_jobs`` > 1 the problems are split into
    that many consecutive runs, each in its own buffer that replays the flips from the first
    labelling, so every problem sees bit for bit the same ``Q`` whatever ``n_jobs`` (a later
    problem's flipped entries carry the rounding of ``2 scale P_ij - Q_ij``, a few ulps).

    Returns a list of ``(alpha, info)``, one per labelling (see :func:`solve_l2svmplus`).
    """
    from joblib import Parallel, delayed, effective_n_jobs

    from ..base import parallel_blas_limit

    if solver not in ("smo", "libsvm"):
        raise DataError("solver", f"unknown solver {solver!r}; use 'smo' or 'libsvm'")
    ys = [np.asarray(y, dtype=np.float64).ravel() for y in ys]
    n_runs = max(1, min(len(ys), effective_n_jobs(n_jobs)))
    bounds = np.linspace(0, len(ys), n_runs + 1).round().astype(int)
    own = (overwrite_K and isinstance(K, np.ndarray) and K.dtype == np.float64
           and K.flags.c_contiguous and K.flags.writeable)

    # the copies are made before any run writes into K
    buffers = [np.array(K, dtype=np.float64, order="C") for _ in range(n_runs - 1 if own else
                                                                          n_runs)]
    if own:
        buffers.append(K)

    def run(r):
        t0 = time.perf_counter()
        Q = buffers[r]
        _form_q(Q, ys[0], P)
        scale = simplex_scale(Q)
        np.multiply(Q, scale, out=Q)
        out = []
        for k in range(bounds[r + 1]):
            if k > 0:
                _flip_labels(Q, P, scale, ys[k] != ys[k - 1])
            if k < bounds[r]:
                continue
            # libsvm stops on the gap max - min of the reduced gradients: twice a KKT violation
            alpha, info = solve_simplex_qp(Q, x0=x0, tol=tol if solver == "smo" else 2 * tol,
                                           max_iter=max_iter, solver=solver, scaled=scale)
            info["intercept"] = float(alpha @ ys[k])
            info["correcting_values"] = _privileged_product(P, alpha)
            info["seconds"] = time.perf_counter() - t0  # the first includes forming Q
            out.append((alpha, info))
            t0 = time.perf_counter()
        return out

    with parallel_blas_limit(n_runs):
        runs = list(Parallel(n_jobs=n_runs, prefer="threads")(delayed(run)(r)
                                                            for r in range(n_runs)))
    return [m for r in runs for m in r]
