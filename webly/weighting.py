"""Importance weighting of source rows towards a target set: kernel mean matching (KMM).

KMM (Huang et al. 2007) finds weights ``beta`` of the n_s source rows whose weighted mean in the
kernel feature space matches the target mean:

    min_beta  1/2 beta' K beta - kappa' beta
    s.t.      0 <= beta <= B,   |sum(beta) - n_s| <= n_s eps,

with ``K`` the source kernel and ``kappa_i = (n_s / n_t) sum_j k(x_i, x^t_j)``. It is a small
convex QP, solved here with cvxpy (the modelling tool the project uses for such problems).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError
from .kernels import Kernel

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

log = logging.getLogger("webly")


def kmm_weights(X_source: ArrayLike, X_target: ArrayLike, *, kernel: str = "rbf",
                gamma: float | None = None, B: float = 1000.0, eps: float | None = None,
                solver: str = "CLARABEL") -> tuple[NDArray[np.float64], dict[str, Any]]:
    """KMM importance weights of the source rows.

    Parameters
    ----------
    X_source : (n_s, d) array
    X_target : (n_t, d) array
    kernel : {"rbf", "linear"}
    gamma : float or None
        RBF bandwidth; None applies the mean-squared-distance rule to the source rows.
    B : float
        Upper bound of a weight.
    eps : float or None
        Tolerance of the mean constraint; None uses Huang et al.'s ``(sqrt(n_s) - 1)/sqrt(n_s)``.
    solver : str
        cvxpy solver.

    Returns
    -------
    beta : (n_s,) array of weights in [0, B]
    info : dict
        ``status``, ``objective`` and ``mmd2`` (the squared MMD of the weighted source mean to
        the target mean, up to the constant target term).

    References
    ----------
    J. Huang, A. Smola, A. Gretton, K. Borgwardt, B. Schölkopf. Correcting sample selection bias
    by unlabeled data. NIPS 2007.
    """
    import cvxpy as cp

    Xs, Xt = np.asarray(X_source, dtype=float), np.asarray(X_target, dtype=float)
    if Xs.ndim != 2 or Xt.ndim != 2 or Xs.shape[1] != Xt.shape[1]:
        raise DataError("X_target", f"must have the source's {Xs.shape[-1]} features, got shape "
                                    f"{Xt.shape}")
    if len(Xt) == 0:
        raise DataError("X_target", "is empty; KMM needs unlabelled target rows")
    if not B > 0:
        raise DataError("B", f"must be positive, got {B}")
    ns, nt = len(Xs), len(Xt)
    eps = (np.sqrt(ns) - 1) / np.sqrt(ns) if eps is None else float(eps)
    k = Kernel(kernel, gamma).fit(Xs)
    K = k(Xs)
    kappa = (ns / nt) * k(Xs, Xt).sum(axis=1)
    beta = cp.Variable(ns)
    # a kernel matrix is PSD by construction; psd_wrap skips cvxpy's eigenvalue check
    objective = 0.5 * cp.quad_form(beta, cp.psd_wrap((K + K.T) / 2)) - kappa @ beta
    cons = [beta >= 0, beta <= B, cp.abs(cp.sum(beta) - ns) <= ns * eps]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(solver=solver)
    if prob.status not in ("optimal", "optimal_inaccurate") or beta.value is None:
        raise RuntimeError(f"KMM QP failed with status {prob.status!r}")
    b = np.clip(beta.value, 0, B)
    return b, {"status": prob.status, "objective": float(prob.value),
               "mmd2": float(b @ K @ b / ns**2 - 2 * kappa @ b / (ns**2))}
