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
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ..errors import DataError
from .problems import KernelQP
from .smo import qp_kkt, smo_solve

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
    Q = (np.asarray(K, dtype=np.float64) + 1.0) * np.outer(y, y) + P
    n = y.shape[0]
    return KernelQP(K=Q, y=np.ones(n), p=np.zeros(n), upper=np.full(n, np.inf), y_total=1.0)


def solve_l2svmplus(K, y, P, solver="smo", tol=1e-3, max_iter=None, x0=None):
    """Solve the L2-loss SVM+ dual for one binary problem.

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
        ``status``, ``n_iter``, ``objective`` (``1/2 a'Qa``), ``kkt_violation`` (of the scaled
        dual), ``rho``
        (``a'Qa``, the margin), ``intercept`` (``b = sum a y``), ``correcting_values``
        (``xi = P a`` on the training rows), ``seconds``.
    """
    t0 = time.perf_counter()
    y = np.asarray(y, dtype=np.float64).ravel()
    n = y.shape[0]
    qp = l2svmplus_qp(K, y, P)
    # the margin a'Qa, and with it the gradient Qa, is of order 1/n: scale Q by n / mean(diag Q)
    # so that tol is relative to the margin (as solve_simplex_qp does); the minimiser is unchanged
    d = float(np.mean(np.diag(qp.K)))
    scale = n / d if d > 0 else 1.0
    np.multiply(qp.K, scale, out=qp.K)  # in place: l2svmplus_qp built it for this solve alone
    if solver == "smo":
        alpha, info = smo_solve(qp, x0=x0, tol=tol, max_iter=max_iter)
        info = dict(info)
    elif solver == "libsvm":
        from sklearn.svm import OneClassSVM

        oc = OneClassSVM(kernel="precomputed", nu=1.0 / n, tol=2 * tol,
                         max_iter=-1 if max_iter is None else int(max_iter))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            oc.fit(qp.K)
        alpha = np.zeros(n)
        alpha[oc.support_] = oc.dual_coef_.ravel()
        alpha /= alpha.sum()  # libsvm's rounding
        kkt, nu = qp_kkt(qp, alpha)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        info = {"status": "converged" if converged else "max_iter",
                "n_iter": int(np.sum(oc.n_iter_)), "kkt_violation": float(kkt),
                "multipliers": nu}
        if not converged:
            warnings.warn(f"libsvm one-class solver did not converge; KKT violation {kkt:.3g}",
                          ConvergenceWarning, stacklevel=2)
    else:
        raise DataError("solver", f"unknown solver {solver!r}; use 'smo' or 'libsvm'")
    Qa = (qp.K @ alpha) / scale
    info["objective"] = 0.5 * float(alpha @ Qa)
    info["rho"] = float(alpha @ Qa)
    info["intercept"] = float(alpha @ y)
    info["correcting_values"] = P @ alpha
    info["seconds"] = time.perf_counter() - t0
    return alpha, info
