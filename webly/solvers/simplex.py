"""The one-class simplex QP of the L2-loss SVM duals (L2-SVM+, MDA-HS's inner problem, MIL-CPB):

    min_a 1/2 a'Qa   s.t.  a >= 0,  sum a = 1.

One function, :func:`solve_simplex_qp`, for every family. Like every solver here it never warns:
it returns a ``status`` and the estimator reports a non-converged fit
(:func:`webly.base.warn_not_converged`).
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..errors import DataError
from .problems import KernelQP
from .smo import smo_solve

__all__ = ["solve_simplex_qp", "simplex_qp", "simplex_scale"]


def simplex_qp(Q):
    """The simplex QP as a :class:`KernelQP` (``Q`` on all-ones labels, ``sum a = 1``)."""
    n = Q.shape[0]
    return KernelQP(K=Q, y=np.ones(n), p=np.zeros(n), upper=np.full(n, np.inf), y_total=1.0)


def simplex_scale(Q):
    """The factor ``n / mean(diag Q)`` :func:`solve_simplex_qp` scales ``Q`` by (1 if the
    diagonal's mean is not positive)."""
    d = float(np.mean(np.diag(Q)))
    return Q.shape[0] / d if d > 0 else 1.0


def solve_simplex_qp(Q, x0=None, tol=1e-3, max_iter=None, overwrite_Q=False, solver="libsvm",
                     scaled=None):
    """``min 1/2 a'Qa`` s.t. ``a >= 0``, ``sum a = 1``.

    ``Q`` is first rescaled by ``n / mean(diag Q)`` so that the tolerance is relative to the
    margin ``a'Qa`` (the unscaled gradient ``Qa`` is of order ``1/n``); the minimiser is unchanged.

    Parameters
    ----------
    Q : (n, n) symmetric positive semi-definite array
    x0 : (n,) array or None
        Warm start (``solver="smo"`` only; libsvm always starts cold).
    tol : float
        Stopping tolerance on the rescaled problem: SMO's KKT violation, or libsvm's gap
        ``max - min`` of the reduced gradients (twice a KKT violation).
    max_iter : int or None
        Iteration limit (None: none for libsvm, the SMO default otherwise).
    overwrite_Q : bool
        Scale ``Q`` in place (saves an n x n copy; Q is then scaled on return).
    scaled : float or None
        ``Q`` is already scaled, by this factor (:func:`simplex_scale` of the unscaled Q): it is
        used as it is (neither scaled nor copied) and ``rho`` is divided by the factor.
    solver : {"libsvm", "smo"}
        libsvm's one-class solver (``OneClassSVM(kernel="precomputed", nu=1/n)``: its box
        ``a_i <= 1`` cannot bind when ``sum a = 1``), or webly's SMO solver
        (:func:`webly.solvers.smo_solve`, warm-startable).

    Returns
    -------
    a : (n,) array
    info : dict
        ``status`` (``"converged"`` or the limit that stopped it), ``n_iter``, ``objective``
        (``1/2 a'Qa``), ``rho`` (``a'Qa``, the margin), ``kkt_violation`` (SMO only),
        ``seconds``.
    """
    t0 = time.perf_counter()
    n = Q.shape[0]
    if n == 1:
        rho = float(Q[0, 0]) / (1.0 if scaled is None else float(scaled))
        return np.ones(1), {"status": "converged", "n_iter": 0, "objective": 0.5 * rho,
                            "rho": rho, "seconds": 0.0}
    if scaled is None:
        scale = simplex_scale(Q)
        Qs = np.multiply(Q, scale, out=Q if overwrite_Q else None)
    else:
        scale, Qs = float(scaled), Q
    extra = {}
    if solver == "libsvm":
        from sklearn.svm import OneClassSVM

        oc = OneClassSVM(kernel="precomputed", nu=1.0 / n, tol=tol,
                         max_iter=-1 if max_iter is None else int(max_iter))
        with warnings.catch_warnings(record=True) as caught:  # its limit becomes our status
            warnings.simplefilter("always", ConvergenceWarning)
            oc.fit(Qs)
        a = np.zeros(n)
        a[oc.support_] = oc.dual_coef_.ravel()
        status = "max_iter" if any(issubclass(w.category, ConvergenceWarning)
                                   for w in caught) else "converged"
        n_iter = int(np.sum(oc.n_iter_))
    elif solver == "smo":
        a, info = smo_solve(simplex_qp(Qs), x0=x0, tol=tol, max_iter=max_iter)
        status, n_iter = info["status"], info["n_iter"]
        extra["kkt_violation"] = info["kkt_violation"]
    else:
        raise DataError("solver", f"unknown solver {solver!r}; use 'libsvm' or 'smo'")
    a = np.maximum(a, 0.0)
    a /= a.sum()
    rho = float(a @ (Qs @ a)) / scale
    return a, {"status": status, "n_iter": n_iter, "objective": 0.5 * rho, "rho": rho, **extra,
               "seconds": time.perf_counter() - t0}
