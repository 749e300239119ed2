"""Kernels: the one place for kernel matrices, the bandwidth rule and bag-mean embeddings.

The Gaussian kernel is ``k(x, x') = exp(-gamma ||x - x'||^2)`` with the default bandwidth of the
papers webly implements: ``gamma = 1 / mean squared distance`` over all pairs of *training* rows.
The bandwidth is fitted once on training rows and reused for train-test kernels (``Kernel.fit``).

Bag-mean kernels implement the mean embedding of a bag, ``phi(B) = 1/|B| sum_{i in B} phi(x_i)``:
``K_bag = A K A'`` with ``A`` the (n_bags, n) row-averaging matrix of :func:`bag_mean_matrix`.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.extmath import safe_sparse_dot

from .errors import DataError

KERNELS = ("linear", "rbf", "precomputed")


def _row_sq_norms(X):
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def mean_squared_distance(X):
    """Mean of ``||x_i - x_j||^2`` over all ordered pairs (i, j) of rows of X, diagonal included.

    Computed in O(n d) as ``2 (mean ||x_i||^2 - ||mean x||^2)``; equals ``D.mean()`` of the full
    squared-distance matrix ``D``.
    """
    X = X.astype(np.float64) if not sp.issparse(X) else X.astype(np.float64)
    mean_sq = _row_sq_norms(X).mean()
    mu = np.asarray(X.mean(axis=0)).ravel()
    return float(max(2.0 * (mean_sq - mu @ mu), 0.0))


def default_gamma(X):
    """Bandwidth rule of the papers: ``1 / mean squared distance`` over the rows of X.

    Falls back to 1.0 when all rows coincide (mean distance 0).
    """
    msd = mean_squared_distance(X)
    return 1.0 / msd if msd > 0 else 1.0


def linear_kernel(X, Y=None):
    """``X Y'`` as a dense array (X, Y dense or sparse)."""
    Y = X if Y is None else Y
    K = safe_sparse_dot(X, Y.T, dense_output=True)
    return np.asarray(K, dtype=np.float64)


def gaussian_kernel(X, Y=None, gamma=None):
    """``exp(-gamma ||x - y||^2)``; ``gamma=None`` applies :func:`default_gamma` to X."""
    if gamma is None:
        gamma = default_gamma(X)
    D = euclidean_distances(X, Y, squared=True)
    np.maximum(D, 0, out=D)
    D *= -gamma
    np.exp(D, out=D)
    return D


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

    def __init__(self, kind="rbf", gamma=None, gamma_scale=1.0):
        if kind not in KERNELS:
            raise DataError("kernel", f"unknown kernel {kind!r}; use one of {', '.join(KERNELS)}")
        if gamma is not None and not (np.isscalar(gamma) and gamma > 0):
            raise DataError("gamma", f"must be a positive number or None, got {gamma!r}")
        if not (np.isscalar(gamma_scale) and gamma_scale > 0):
            raise DataError("gamma_scale", f"must be a positive number, got {gamma_scale!r}")
        self.kind = kind
        self.gamma = gamma
        self.gamma_scale = gamma_scale

    def fit(self, X):
        """Fix the bandwidth from training rows X."""
        if self.kind == "rbf":
            self.gamma_ = (float(self.gamma) if self.gamma is not None
                           else self.gamma_scale * default_gamma(X))
        else:
            self.gamma_ = None
        return self

    def __call__(self, X, Y=None):
        """Kernel matrix between rows of X and Y (Y=None: X with itself)."""
        if self.kind == "precomputed":
            return np.asarray(X, dtype=np.float64)
        if self.kind == "linear":
            return linear_kernel(X, Y)
        if not hasattr(self, "gamma_"):
            self.fit(X)
        return gaussian_kernel(X, Y, gamma=self.gamma_)

    def __repr__(self):
        return f"Kernel({self.kind!r}, gamma={self.gamma!r}, gamma_scale={self.gamma_scale!r})"


def bag_index(bags):
    """Map bag ids to 0..B-1 in order of first appearance.

    Returns ``(codes, uniques)``: ``codes[i]`` is the position of row i's bag in ``uniques``.
    """
    bags = np.asarray(bags)
    uniques, first, codes = np.unique(bags, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes.ravel()], uniques[order]


def bag_mean_matrix(bags):
    """Sparse (n_bags, n) matrix ``A`` with ``A[b, i] = 1/|B_b|`` for the rows i of bag b.

    ``A @ X`` gives bag means; ``A @ K @ A.T`` the mean-embedding (bag-mean) kernel. Bags are in
    order of first appearance (see :func:`bag_index`).
    """
    codes, uniques = bag_index(bags)
    n = codes.shape[0]
    counts = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
    return sp.csr_matrix((1.0 / counts[codes], (codes, np.arange(n))), shape=(len(uniques), n))


def bag_means(X, bags):
    """Mean row of each bag, shape (n_bags, d), bags in order of first appearance."""
    A = bag_mean_matrix(bags)
    out = A @ X
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def bag_mean_kernel(K, bags_rows, bags_cols=None):
    """Mean-embedding kernel between the bags of rows and the bags of columns of a kernel matrix K.

    Parameters
    ----------
    K : (n, m) array
        Instance kernel.
    bags_rows : (n,) array
        Bag id of each row of K.
    bags_cols : (m,) array or None
        Bag id of each column of K; None uses ``bags_rows`` (K square, same rows and columns).
        Pass ``np.arange(m)`` to keep columns as instances (bag-to-instance kernel).
    """
    A = bag_mean_matrix(bags_rows)
    B = A if bags_cols is None else bag_mean_matrix(bags_cols)
    return np.asarray((A @ (B @ np.asarray(K).T).T))
