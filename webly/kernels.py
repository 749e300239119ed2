"""Kernels: the one place for kernel matrices, the bandwidth rule and bag-mean embeddings.

The Gaussian kernel is ``k(x, x') = exp(-gamma ||x - x'||^2)`` with the default bandwidth of the
papers webly implements: ``gamma = 1 / mean squared distance`` over all pairs of *training* rows.
The bandwidth is fitted once on training rows and reused for train-test kernels (``Kernel.fit``).

Bag-mean kernels implement the mean embedding of a bag, ``phi(B) = 1/|B| sum_{i in B} phi(x_i)``:
``K_bag = A K A'`` with ``A`` the (n_bags, n) row-averaging matrix of :func:`bag_mean_matrix`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.extmath import safe_sparse_dot

from .base import warn_data
from .errors import DataError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix
    from typing_extensions import Self

KERNELS = ("linear", "rbf", "precomputed")

#: an RBF training kernel whose sampled off-diagonal entries all lie below IDENTITY_TOL is
#: numerically the identity (a new row's kernel values, hence its scores beyond the intercept,
#: are ~0 unless it nearly repeats a training row); one whose entries all lie within ONES_TOL of
#: 1 is numerically all ones (only the last few of float64's 16 digits tell rows apart)
IDENTITY_TOL = 1e-8
ONES_TOL = 1e-12
#: rows sampled (fixed seed) to check a fitted bandwidth: their pairwise distances, O(256^2 d)
_DEGENERATE_SAMPLE = 256


def total_memory_bytes() -> int | None:
    """Memory this process may use: physical memory, or a lower cgroup (container) limit.

    None where neither can be read (then kernels are not checked against it).
    """
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file) as fh:
                limit = int(fh.read().strip())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        total = limit if total is None else min(total, limit)
    return total if total and total > 0 else None


def _row_sq_norms(X):
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def mean_squared_distance(X: NDArray[Any] | spmatrix) -> float:
    """Mean of ``||x_i - x_j||^2`` over all ordered pairs (i, j) of rows of X, diagonal included.

    Computed in O(n d) as ``2 (mean ||x_i||^2 - ||mean x||^2)``; equals ``D.mean()`` of the full
    squared-distance matrix ``D``.
    """
    X = X.astype(np.float64) if not sp.issparse(X) else X.astype(np.float64)
    mean_sq = _row_sq_norms(X).mean()
    mu = np.asarray(X.mean(axis=0)).ravel()
    return float(max(2.0 * (mean_sq - mu @ mu), 0.0))


def default_gamma(X: NDArray[Any] | spmatrix) -> float:
    """Bandwidth rule of the papers: ``1 / mean squared distance`` over the rows of X.

    Falls back to 1.0 when all rows coincide (mean distance 0).
    """
    msd = mean_squared_distance(X)
    return 1.0 / msd if msd > 0 else 1.0


#: entries of the float64 row blocks a float32 kernel is computed in (32 MB)
_FLOAT32_BLOCK = 1 << 22


def _float32_by_blocks(n_rows, n_cols, block):
    """A C-contiguous float32 (n_rows, n_cols) array filled from ``block(i, j)``, the float64
    kernel of rows ``i:j`` (computed in float64, rounded once): no float64 array of the full
    size is ever held."""
    out = np.empty((n_rows, n_cols), dtype=np.float32)
    step = max(1, _FLOAT32_BLOCK // max(n_cols, 1))
    for i in range(0, n_rows, step):
        out[i:i + step] = block(i, min(i + step, n_rows))
    return out


def linear_kernel(X: NDArray[Any] | spmatrix, Y: NDArray[Any] | spmatrix | None = None, *,
                  fit_arrays: float | None = None, dtype: Any = np.float64) -> NDArray[Any]:
    """``X Y'`` as a dense array (X, Y dense or sparse); ``fit_arrays``: see
    :func:`check_kernel_memory` (``arrays``); ``dtype`` float64 or float32 (the products are
    computed in float64 row block by row block and rounded once, see
    :func:`webly.solvers.check_kernel_dtype`)."""
    Y = X if Y is None else Y
    check_kernel_memory(X.shape[0], Y.shape[0], fit=Y is X, arrays=fit_arrays)
    if np.dtype(dtype) == np.float32:
        return _float32_by_blocks(X.shape[0], Y.shape[0], lambda i, j: np.asarray(
            safe_sparse_dot(X[i:j], Y.T, dense_output=True), dtype=np.float64))
    K = safe_sparse_dot(X, Y.T, dense_output=True)
    return np.asarray(K, dtype=np.float64)


def gaussian_kernel(X: NDArray[Any] | spmatrix, Y: NDArray[Any] | spmatrix | None = None,
                    gamma: float | None = None, *,
                    fit_arrays: float | None = None, dtype: Any = np.float64) -> NDArray[Any]:
    """``exp(-gamma ||x - y||^2)``; ``gamma=None`` applies :func:`default_gamma` to X;
    ``fit_arrays``: see :func:`check_kernel_memory` (``arrays``); ``dtype`` float64 or float32
    (computed in float64 row block by row block and rounded once, with an exact unit diagonal
    when Y is None, as the float64 kernel has)."""
    if gamma is None:
        gamma = default_gamma(X)
    check_kernel_memory(X.shape[0], X.shape[0] if Y is None else Y.shape[0], fit=Y is None,
                        arrays=fit_arrays)
    if np.dtype(dtype) == np.float32:
        Z = X if Y is None else Y
        Z_sq = _row_sq_norms(Z).reshape(1, -1)

        def block(i, j):
            D = euclidean_distances(X[i:j], Z, Y_norm_squared=Z_sq, squared=True)
            if Y is None:  # the distance of a row to itself is 0 (euclidean_distances(X) sets it)
                D[np.arange(j - i), np.arange(i, j)] = 0.0
            np.maximum(D, 0, out=D)
            D *= -gamma
            return np.exp(D, out=D)

        return _float32_by_blocks(X.shape[0], Z.shape[0], block)
    D = euclidean_distances(X, Y, squared=True)
    np.maximum(D, 0, out=D)
    D *= -gamma
    np.exp(D, out=D)
    return D


#: kernel-sized (n x n) float64 arrays a kernel fit is checked against when its estimator has no
#: figure of its own (the estimators' figures: benchmarks/kernel_memory.py)
KERNEL_FIT_ARRAYS = 5
#: kernels this small (bytes, fit count included) are allowed without asking the system
_NEVER_CHECKED = 64e6
_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def memory_limit() -> float | None:
    """Bytes webly's kernels may take: ``WEBLY_MEMORY_LIMIT`` (e.g. ``8G``, ``500M``) when set,
    else the memory available now (Linux ``MemAvailable``), capped by :func:`total_memory_bytes`
    (physical memory or a container's limit); None where none of these can be read."""
    env = os.environ.get("WEBLY_MEMORY_LIMIT", "").strip()
    if env:
        return parse_size(env, "WEBLY_MEMORY_LIMIT")
    figures = [total_memory_bytes()]
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            figures += [float(line.split()[1]) * 1024 for line in fh
                        if line.startswith("MemAvailable:")]
    except OSError:
        pass
    figures = [f for f in figures if f]
    return min(figures) if figures else None


def parse_size(value: float | str, name: str) -> float:
    """Bytes from a number of bytes or a size string such as ``8G``, ``500M``, ``2.5GB``;
    a bad value raises a :class:`~webly.errors.DataError` naming ``name``."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if value > 0:
            return float(value)
    elif isinstance(value, str):
        num, unit = value.strip().rstrip("bB"), ""
        if num and num[-1].lower() in "kmgt":
            num, unit = num[:-1], num[-1].lower()
        try:
            size = float(num) * _UNITS[unit]
        except ValueError:
            size = 0.0
        if size > 0:
            return size
    raise DataError(name, f"must be a size such as 8G or 500M (or a number of bytes), got "
                          f"{value!r}")


def _size(nbytes):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:.0f} bytes"


def check_kernel_memory(n_rows: int, n_cols: int, *, fit: bool = True, name: str = "X",
                        arrays: float | None = None) -> None:
    """Refuse, before allocating, a kernel matrix that the machine cannot hold.

    A fit's Gram matrix counts ``arrays`` times, by default :data:`KERNEL_FIT_ARRAYS` (the
    solvers hold that many kernel-sized arrays at their peak; an estimator that has measured
    its own peak passes its figure); a cross kernel (prediction) once. Raises a
    :class:`~webly.errors.DataError` naming ``name`` with the estimate and the ways out.
    """
    arrays = (KERNEL_FIT_ARRAYS if arrays is None else arrays) if fit else 1
    need = arrays * 8.0 * n_rows * n_cols
    if need <= _NEVER_CHECKED and "WEBLY_MEMORY_LIMIT" not in os.environ:
        return                        # small kernels: no reading of system files on every call
    limit = memory_limit()
    if limit is not None and need > limit:
        what = (f"a kernel fit on {n_rows:,} rows needs about {_size(need)} "
                f"({arrays:g} arrays of {n_rows:,} x {n_cols:,})" if fit else
                f"a {n_rows:,} x {n_cols:,} kernel needs {_size(need)}")
        fix = ("use fewer rows (e.g. a subsample per class), or a method with an "
               "explicit-feature path (SVM+, L2-SVM+, sMIL, sbMIL, sMIL-PI, mi-SVM, mi-SVM-PI: "
               "solver: auto or primal), which never builds the n x n kernel" if fit else
               "predict in smaller batches")
        raise DataError(name, f"{what}, more than the {_size(limit)} available; {fix} "
                              "(WEBLY_MEMORY_LIMIT=8G sets the limit)")


def ovr_fit_arrays(arrays: float, n_jobs: int | None, n_classes: int,
                   per_thread: float | None = None) -> float:
    """A fit's kernel-sized arrays: ``arrays`` (one binary problem's peak, kernels included)
    plus ``per_thread`` (default: ``arrays``, an upper bound that counts the shared kernels once
    per thread) for each further one-vs-rest problem solved at once (``n_jobs`` threads, at
    most one problem per class, one problem for two classes)."""
    from joblib import effective_n_jobs

    problems = 1 if n_classes <= 2 else n_classes
    threads = max(1, min(effective_n_jobs(n_jobs), problems))
    return arrays + (threads - 1) * (arrays if per_thread is None else per_thread)


def choose_solver(est: Any, n_rows: int, arrays: float, *, no_primal: str | None = None,
                  what: str = "explicit features") -> str:
    """The solver a fit of ``est`` uses (its ``solver`` and ``memory_limit`` parameters).

    ``"auto"`` is the kernel solver while the kernel path's peak memory, ``arrays`` n x n float64
    arrays for ``n_rows`` rows (the estimator's measured figure), fits in ``est.memory_limit``
    (None: :func:`memory_limit`, the memory available now or ``WEBLY_MEMORY_LIMIT``), and
    ``"primal"`` (on ``what``) above it, said in a WARNING log line. A kernel solver named
    explicitly, or ``"auto"`` where the primal path cannot take this fit (``no_primal``: why),
    fails at once above the limit with the figure and the fix (a
    :class:`~webly.errors.DataError` naming ``solver``).
    """
    import logging

    solver = est.solver
    if solver == "primal":
        return "primal"
    kernel_solver = "smo" if solver == "auto" else solver
    need = arrays * 8.0 * n_rows * n_rows
    limit = (memory_limit() if est.memory_limit is None
             else parse_size(est.memory_limit, "memory_limit"))
    if limit is None or need <= limit:
        return kernel_solver
    figure = (f"about {_size(need)} ({arrays:g} arrays of {n_rows:,} x {n_rows:,}), more than "
              f"the {_size(limit)}")
    if solver == "auto" and no_primal:
        raise DataError("solver", f"the kernel solver on {n_rows:,} rows needs {figure} "
                                  f"available, and the primal path {no_primal}; use fewer rows "
                                  "or a larger memory_limit")
    if solver == "auto":
        logging.getLogger("webly").warning(
            "%s: the kernel solver on %d rows would need %s available; solving on %s instead "
            "(solver='primal')", type(est).__name__, n_rows, figure, what)
        return "primal"
    raise DataError("solver", f"{solver!r} (a kernel solver) on {n_rows:,} rows needs {figure} "
                              "available; use solver='auto' or 'primal' (explicit features, "
                              "O(n d) memory), fewer rows, or a larger memory_limit")


def dask_solver(name: str, solver: str, inputs: str = "X or X_priv") -> str:
    """The solver of a fit whose rows (``inputs``) are a Dask array: ``"primal"`` (on their
    cluster), said in an INFO log line for ``solver="auto"``; a kernel solver named explicitly
    fails at once (a :class:`~webly.errors.DataError` naming ``solver`` and the fix), since it
    needs the rows, and an n x n kernel, in this process. ``name`` names the estimator or
    function in the log line."""
    import logging

    if solver not in ("auto", "primal"):
        raise DataError("solver", f"{solver!r} (a kernel solver) needs the rows in memory, and "
                                  f"{inputs} is a Dask array; use solver='auto' or 'primal' "
                                  "(solved on the cluster), or pass .compute()")
    if solver == "auto":
        logging.getLogger("webly").info(
            "%s: %s is a Dask array; solving on explicit features on its cluster "
            "(solver='primal')", name, inputs)
    return "primal"


class Kernel:
    """A kernel whose bandwidth is fitted on training rows and reused on any later rows.

    Parameters
    ----------
    kind : {"linear", "rbf", "precomputed"}
        ``precomputed`` means the inputs already are kernel matrices and are returned unchanged.
    gamma : float or None
        RBF bandwidth; None applies the mean-squared-distance rule to the rows given to ``fit``.
    gamma_scale : float
        Multiplies the rule's bandwidth (ignored when ``gamma`` is set), so a search over
        ``gamma_scale`` explores bandwidths relative to the data's scale.

    Examples
    --------
    >>> import numpy as np
    >>> k = Kernel("rbf").fit(np.array([[0.0], [2.0]]))
    >>> k.gamma_
    0.5
    >>> k(np.array([[0.0]]), np.array([[0.0], [1.0]])).round(4).tolist()
    [[1.0, 0.6065]]
    """

    def __init__(self, kind: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0) -> None:
        if kind not in KERNELS:
            raise DataError("kernel", f"unknown kernel {kind!r}; use one of {', '.join(KERNELS)}")
        if gamma is not None and not (np.isscalar(gamma) and gamma > 0):
            raise DataError("gamma", f"must be a positive number or None, got {gamma!r}")
        if not (np.isscalar(gamma_scale) and gamma_scale > 0):
            raise DataError("gamma_scale", f"must be a positive number, got {gamma_scale!r}")
        self.kind = kind
        self.gamma = gamma
        self.gamma_scale = gamma_scale

    def fit(self, X: NDArray[Any] | spmatrix, param: str = "gamma") -> Self:
        """Fix the bandwidth from training rows X.

        Warns (:class:`~webly.base.DataWarning` naming ``param``, the estimator parameter that
        set the bandwidth) when the bandwidth makes the kernel of the training rows numerically
        the identity or the all-ones matrix.
        """
        if self.kind == "rbf":
            self.gamma_ = (float(self.gamma) if self.gamma is not None
                           else self.gamma_scale * default_gamma(X))
            self._check_bandwidth(X, param)
        else:
            self.gamma_ = None
        return self

    def _check_bandwidth(self, X, param):
        """Warn when ``exp(-gamma_ d)`` over a sample of distinct row pairs is all ~0 or all ~1."""
        n = X.shape[0]
        rows = np.arange(n)
        if n > _DEGENERATE_SAMPLE:
            rows = np.sort(np.random.default_rng(0).choice(n, _DEGENERATE_SAMPLE, replace=False))
        S = X[rows]
        i, j = np.triu_indices(len(rows), k=1)
        D = euclidean_distances(S, squared=True)[i, j]
        sq = _row_sq_norms(S)
        # pairs of identical rows (up to rounding) say nothing about the bandwidth
        t = self.gamma_ * D[D > 1e-12 * (sq[i] + sq[j])]
        if t.size == 0:
            return
        if np.exp(-t.min()) < IDENTITY_TOL:
            shape = (f"the identity (every sampled off-diagonal entry is below {IDENTITY_TOL:g}): "
                     "no two rows look alike, so nothing learnt carries over to other rows")
            size = "smaller"
        elif -np.expm1(-t.max()) < ONES_TOL:
            shape = (f"all ones (every sampled entry is within {ONES_TOL:g} of 1): every pair "
                     "of rows looks alike, so rows can barely be told apart")
            size = "larger"
        else:
            return
        if self.gamma is not None:
            source, fix = f"{param}={self.gamma_:.3g}", f"use a {size} {param}"
        else:
            source = (f"{param}={self.gamma_:.3g} (gamma_scale={self.gamma_scale:g} x the "
                      "1/mean-squared-distance rule)")
            fix = f"use a {size} gamma_scale, or set {param}"
            if size == "larger":  # a few far-away rows inflate the mean distance of the rule
                fix += ", or standardise X if a few rows lie far from the others"
        warn_data(param, f"{source} makes the RBF kernel of the training rows numerically "
                         f"{shape}; {fix}")

    def __call__(self, X: NDArray[Any] | spmatrix, Y: NDArray[Any] | spmatrix | None = None, *,
                 fit_arrays: float | None = None, dtype: Any = np.float64) -> NDArray[Any]:
        """Kernel matrix between rows of X and Y (Y=None: X with itself); ``fit_arrays``: the
        kernel-sized arrays the caller's fit holds (see :func:`check_kernel_memory`); ``dtype``
        float64 or float32 (a solver's ``kernel_dtype``, see :func:`gaussian_kernel`)."""
        if self.kind == "precomputed":
            return np.asarray(X, dtype=dtype)
        if self.kind == "linear":
            return linear_kernel(X, Y, fit_arrays=fit_arrays, dtype=dtype)
        if not hasattr(self, "gamma_"):
            self.fit(X)
        return gaussian_kernel(X, Y, gamma=self.gamma_, fit_arrays=fit_arrays, dtype=dtype)

    def __repr__(self):
        return f"Kernel({self.kind!r}, gamma={self.gamma!r}, gamma_scale={self.gamma_scale!r})"


def bag_index(bags: ArrayLike) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """Map bag ids to 0..B-1 in order of first appearance.

    Returns ``(codes, uniques)``: ``codes[i]`` is the position of row i's bag in ``uniques``.
    """
    bags = np.asarray(bags)
    uniques, first, codes = np.unique(bags, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes.ravel()], uniques[order]


def bag_mean_matrix(bags: ArrayLike) -> sp.csr_matrix:
    """Sparse (n_bags, n) matrix ``A`` with ``A[b, i] = 1/|B_b|`` for the rows i of bag b.

    ``A @ X`` gives bag means; ``A @ K @ A.T`` the mean-embedding (bag-mean) kernel. Bags are in
    order of first appearance (see :func:`bag_index`).
    """
    codes, uniques = bag_index(bags)
    n = codes.shape[0]
    counts = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
    return sp.csr_matrix((1.0 / counts[codes], (codes, np.arange(n))), shape=(len(uniques), n))


def bag_means(X: NDArray[Any] | spmatrix, bags: ArrayLike) -> NDArray[np.float64]:
    """Mean row of each bag, shape (n_bags, d), bags in order of first appearance."""
    A = bag_mean_matrix(bags)
    out = A @ X
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def row_block(n: int) -> int:
    """Rows per block when an (n, .) kernel-sized array is processed block by block (bag means,
    symmetrising, label flips): at most 256, about n / 64 below 16,384 rows, so that a block's
    temporaries stay near 1/64 of the array."""
    return min(256, max(8, n // 64))


def bag_mean_kernel(K: ArrayLike, bags_rows: ArrayLike | spmatrix,
                    bags_cols: ArrayLike | spmatrix | None = None) -> NDArray[np.float64]:
    """Mean-embedding kernel between the bags of rows and the bags of columns of a kernel matrix K.

    Parameters
    ----------
    K : (n, m) array
        Instance kernel.
    bags_rows : (n,) array or sparse matrix
        Bag id of each row of K, or the (bags, n) averaging matrix
        (:func:`bag_mean_matrix`).
    bags_cols : (m,) array, sparse matrix or None
        The same for the columns of K; None uses ``bags_rows`` (K square, same rows and
        columns). Pass ``np.arange(m)`` to keep columns as instances (bag-to-instance kernel).
    """
    A = bags_rows if sp.issparse(bags_rows) else bag_mean_matrix(bags_rows)
    if bags_cols is None:
        B = A
    else:
        B = bags_cols if sp.issparse(bags_cols) else bag_mean_matrix(bags_cols)
    A, B, K = sp.csr_matrix(A), sp.csr_matrix(B), np.asarray(K)
    # by row blocks of A: a block's (b, m) rows A K are its only temporary, and the result is
    # C-ordered (no (bags, m) array A K, no transposed copy)
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.result_type(K.dtype, np.float64))
    step = row_block(A.shape[0])
    for i in range(0, A.shape[0], step):
        out[i:i + step] = (B @ (A[i:i + step] @ K).T).T
    return out
