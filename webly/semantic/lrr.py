"""Low-rank representation (LRR) by the inexact augmented Lagrange multiplier method.

Solves, for data ``X`` (d x m) over a dictionary ``A`` (d x n),

.. math::  \\min_{Z, E} \\|Z\\|_* + \\lambda \\|E\\|_{2,1} \\quad \\text{s.t.}\\quad X = A Z + E,

where :math:`\\|E\\|_{2,1} = \\sum_j \\|E_{:,j}\\|_2` makes the error column-sparse (a few target
samples that the dictionary cannot explain). In the semantic VAE with adaptation the columns of
``A`` are training (web) latents and those of ``X`` target latents; ``A @ Z`` are the refined target
latents that get classified.

Plain arrays in, ``(Z, E, info)`` out; no estimator objects here.

References
----------
.. [1] G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma. Robust recovery of subspace structures by
   low-rank representation. IEEE TPAMI 35(1), 2013 (Algorithm 1 and Theorem 3.1).
.. [2] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
   category-level supervision. CVPR 2018 (low-rank refinement of the target latents).
"""

import numpy as np

from ..errors import DataError


def _svt(M, tau, method="gram"):
    """Singular value thresholding: prox of ``tau * ||.||_*`` at M; returns (result, rank).

    ``method="gram"`` diagonalises the smaller Gram matrix (``M M'`` or ``M' M``) with ``eigh``:
    several times faster than a LAPACK SVD for the wide matrices of the LRR iterations, and exact
    for the singular values that survive the threshold (those above ~1e-8 of the largest);
    ``"svd"`` uses ``numpy.linalg.svd``.
    """
    if method == "svd":
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
        s = np.maximum(s - tau, 0.0)
        k = int(np.count_nonzero(s))
        return (U[:, :k] * s[:k]) @ Vt[:k], k
    wide = M.shape[0] <= M.shape[1]
    G = M @ M.T if wide else M.T @ M
    w, V = np.linalg.eigh(G)
    s = np.sqrt(np.maximum(w, 0.0))
    keep = s > tau
    k = int(np.count_nonzero(keep))
    if k == 0:
        return np.zeros_like(M), 0
    V = V[:, keep]
    shrink = (s[keep] - tau) / s[keep]
    if wide:
        return (V * shrink) @ (V.T @ M), k
    return ((M @ V) * shrink) @ V.T, k


def _column_shrink(M, tau):
    """Prox of ``tau * ||.||_{2,1}``: shrink each column's l2 norm by tau."""
    norms = np.linalg.norm(M, axis=0)
    scale = np.where(norms > tau, 1.0 - tau / np.maximum(norms, 1e-300), 0.0)
    return M * scale


def lrr_objective(Z, E, lam):
    """``||Z||_* + lam * ||E||_{2,1}``."""
    return float(np.linalg.svd(Z, compute_uv=False).sum() + lam * np.linalg.norm(E, axis=0).sum())


def lrr(X, A=None, *, lam=0.1, mu0=1e-6, rho=1.1, mu_max=1e10, tol=1e-8, max_iter=1000,
        reduce=True, svt="gram"):
    """Low-rank representation of the columns of ``X`` over the columns of ``A`` (inexact ALM).

    Parameters
    ----------
    X : (d, m) array
        Data to represent, one sample per column (target latents).
    A : (d, n) array, optional
        Dictionary, one atom per column (training latents); ``X`` itself when None (subspace
        segmentation / outlier detection).
    lam : float > 0
        Weight of the column-sparse error :math:`\\|E\\|_{2,1}`; larger trusts the dictionary
        less often (fewer columns flagged as errors).
    mu0, rho, mu_max : float
        Penalty schedule of the augmented Lagrangian: start, growth factor, cap
        (defaults as in [1]_ and the CVPR 2018 paper: 1e-6, 1.1, 1e10).
    tol : float
        Stop when both constraint violations, ``||X - AZ - E||_inf`` and ``||Z - J||_inf``,
        relative to ``max(1, ||X||_inf)``, fall below ``tol``.
    max_iter : int
    reduce : bool
        Solve in the row space of ``A`` (Theorem 3.1 of [1]_: the optimal ``Z`` lies in
        ``span(A')``), so the per-iteration SVD is (rank A) x m instead of n x m. Same optimum;
        much faster when the dictionary has more atoms than dimensions.
    svt : {"gram", "svd"}
        How the singular value thresholding step is computed: ``"gram"`` (default, eigh of the
        smaller Gram matrix, several times faster) or ``"svd"`` (LAPACK SVD).

    Returns
    -------
    Z : (n, m) array
        Representation coefficients (low rank).
    E : (d, m) array
        Column-sparse error.
    info : dict
        ``status`` ("converged" or "max_iter"), ``n_iter``, ``residual`` (final relative
        constraint violation), ``objective`` (``||Z||_* + lam ||E||_{2,1}``), ``rank`` (of the
        last singular-value-thresholded iterate).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.size == 0 or not np.all(np.isfinite(X)):
        raise DataError("X", f"must be a finite non-empty 2-D array (dimensions x samples), got shape {X.shape}")
    A = X if A is None else np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != X.shape[0] or not np.all(np.isfinite(A)):
        raise DataError("A", f"must be a finite 2-D array with {X.shape[0]} rows (the dimension of "
                             f"X's columns), got shape {A.shape}")
    if not lam > 0:
        raise DataError("lam", f"must be > 0, got {lam}")
    if svt not in ("gram", "svd"):
        raise DataError("svt", f"must be 'gram' or 'svd', got {svt!r}")
    if not (mu0 > 0 and rho > 1 and mu_max >= mu0):
        raise DataError("rho", "need mu0 > 0, rho > 1 and mu_max >= mu0")

    if reduce:
        # A = U diag(s) Vt; Z* = V Zr with Zr solved over B = A V = U diag(s) (d x r).
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        r = int(np.sum(s > s[0] * max(A.shape) * np.finfo(float).eps)) if s.size else 0
        P = Vt[:r].T
        B = U[:, :r] * s[:r]
    else:
        P, B = None, A
    n = B.shape[1]
    m = X.shape[1]
    BtB = B.T @ B
    off = BtB - np.diag(np.diag(BtB))
    if np.abs(off).max(initial=0.0) <= 1e-10 * max(1.0, np.abs(BtB).max(initial=0.0)):
        # orthogonal atoms (always so after the reduction, B = U diag(s)): diagonal solve
        inv_diag = 1.0 / (1.0 + np.diag(BtB))
        solve = lambda R: inv_diag[:, None] * R  # noqa: E731
    else:
        inv = np.linalg.inv(np.eye(n) + BtB)
        solve = lambda R: inv @ R  # noqa: E731
    scale = max(1.0, float(np.abs(X).max()))

    Z = np.zeros((n, m))
    J = np.zeros((n, m))
    E = np.zeros_like(X)
    Y1 = np.zeros_like(X)
    Y2 = np.zeros((n, m))
    mu = mu0
    status, residual, rank = "max_iter", np.inf, 0
    for it in range(1, max_iter + 1):
        J, rank = _svt(Z + Y2 / mu, 1.0 / mu, svt)
        Z = solve(B.T @ (X - E + Y1 / mu) + J - Y2 / mu)
        BZ = B @ Z
        E = _column_shrink(X - BZ + Y1 / mu, lam / mu)
        R1 = X - BZ - E
        R2 = Z - J
        Y1 += mu * R1
        Y2 += mu * R2
        mu = min(rho * mu, mu_max)
        residual = max(np.abs(R1).max(), np.abs(R2).max()) / scale
        if residual < tol:
            status = "converged"
            break
    Z_full = P @ Z if reduce else Z
    info = {"status": status, "n_iter": it, "residual": float(residual),
            "objective": lrr_objective(Z, E, lam), "rank": rank}
    return Z_full, E, info


__all__ = ["lrr", "lrr_objective"]
