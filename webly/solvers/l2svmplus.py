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
from .simplex import simplex_qp, solve_simplex_qp

logger = logging.getLogger(__name__)

__all__ = ["l2svmplus_privileged_term", "l2svmplus_qp", "solve_l2svmplus"]


def l2svmplus_privileged_term(n, C, gamma_plus, K_priv=None, F_priv=None):
    """``P = (1/C)(I - (I + (C/gamma)(K~ + 1))^{-1})`` as a dense (n, n) array.

    Give either the privileged kernel ``K_priv`` (Cholesky solve, O(n^3)) or, for a linear
    privileged kernel, the features ``F_priv`` (n, d~) (Woodbury identity with ``Psi = [F, 1]``:
    ``P = Psi (gamma I + C Psi'Psi)^{-1} Psi'``, O(n^2 d~)). Neither gives ``I / C``.
    """
    if not (C > 0 and gamma_plus > 0):
        raise DataError("C", "C and gamma_plus must be positive")
    if F_priv is not None:
        F = F_priv.toarray() if sp.issparse(F_priv) else np.asarray(F_priv, dtype=np.float64)
        if F.shape[0] != n:
            raise DataError("F_priv", f"has {F.shape[0]} rows, expected {n}")
        if F.shape[1] + 1 < n:
            Psi = np.hstack([F, np.ones((n, 1))])
            M = gamma_plus * np.eye(Psi.shape[1]) + C * (Psi.T @ Psi)
            W = sla.solve(M, Psi.T, assume_a="pos")
            P = Psi @ W
            return 0.5 * (P + P.T)
        K_priv = F @ F.T
    if K_priv is None:
        return np.eye(n) / C
    K_priv = np.asarray(K_priv, dtype=np.float64)
    if K_priv.shape != (n, n):
        raise DataError("K_priv", f"must be ({n}, {n}), got {K_priv.shape}")
    M = np.eye(n) + (C / gamma_plus) * (K_priv + 1.0)
    Minv = sla.cho_solve(sla.cho_factor(M), np.eye(n))
    P = (np.eye(n) - 0.5 * (Minv + Minv.T)) / C
    return P


def l2svmplus_qp(K, y, P):
    """The L2-SVM+ dual as a :class:`KernelQP`: ``Q`` on all-ones labels, ``sum a = 1``."""
    y = np.asarray(y, dtype=np.float64).ravel()
    return simplex_qp((np.asarray(K, dtype=np.float64) + 1.0) * np.outer(y, y) + P)


def solve_l2svmplus(K, y, P, solver="smo", tol=1e-3, max_iter=None, x0=None):
    """Solve the L2-loss SVM+ dual for one binary problem (:func:`solve_simplex_qp`).

    Parameters
    ----------
    K : (n, n) array
        Visual kernel.
    y : (n,) array of {-1, +1}
    P : (n, n) array
        Privileged term from :func:`l2svmplus_privileged_term` (shared by one-vs-rest problems).
    solver : {"smo", "libsvm"}
        Our decomposition solver, or libsvm's one-class solver (``OneClassSVM(nu=1/n)``) on the
        precomputed ``Q``.
    tol : float
        KKT tolerance on the dual scaled by ``n / mean(diag Q)``, i.e. relative to the margin
        ``a'Qa`` (of order 1/n unscaled); libsvm is run with its stopping gap ``2 tol``.
    max_iter : int or None
    x0 : (n,) array or None
        Warm start (smo only).

    Returns
    -------
    alpha : (n,) array
    info : dict
        As :func:`solve_simplex_qp` (``status``, ``n_iter``, ``objective`` ``1/2 a'Qa``,
        ``rho`` ``a'Qa`` the margin, ``seconds``), plus ``intercept`` (``b = sum a y``) and
        ``correcting_values`` (``xi = P a`` on the training rows).
    """
    t0 = time.perf_counter()
    y = np.asarray(y, dtype=np.float64).ravel()
    if solver not in ("smo", "libsvm"):
        raise DataError("solver", f"unknown solver {solver!r}; use 'smo' or 'libsvm'")
    Q = (np.asarray(K, dtype=np.float64) + 1.0) * np.outer(y, y) + P
    # libsvm stops on the gap max - min of the reduced gradients: twice a KKT violation
    alpha, info = solve_simplex_qp(Q, x0=x0, tol=tol if solver == "smo" else 2 * tol,
                                   max_iter=max_iter, overwrite_Q=True, solver=solver)
    info["intercept"] = float(alpha @ y)
    info["correcting_values"] = P @ alpha
    info["seconds"] = time.perf_counter() - t0
    return alpha, info
