"""What SVM+ and L2-SVM+ share: the kernels, the support expansion, and the primal
(explicit-feature) path for 10^5-10^6 rows (:mod:`webly.solvers.primal`), in memory or on the
Dask cluster that holds X and X_priv as row-chunked Dask arrays."""

from __future__ import annotations

import sys
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot

from .base import (WebClassifierMixin, check_is_fitted, check_row_features, encode_targets,
                   one_vs_rest, per_class_notes, stack_decisions, status_note, validate_data,
                   warn_not_converged)
from .errors import DataError
from .kernels import Kernel, choose_solver, dask_solver, ovr_fit_arrays

if TYPE_CHECKING:
    import dask.array as da
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix


def _is_dask(x):
    """Whether ``x`` is a Dask array (without importing Dask)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def _dask_targets(y, n):
    """``(classes, y_index)`` of labels y for n Dask rows: ``classes`` in memory, the index a
    Dask vector when y is one (the labels stay on the cluster; a numpy y is checked here)."""
    if not _is_dask(y):
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
        return encode_targets(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
    classes = np.unique(y.map_blocks(np.unique, chunks=(np.nan,)).compute())
    encode_targets(classes)  # the in-memory checks (label type, two classes) on the classes
    return classes, y.map_blocks(_label_index, classes, dtype=np.intp)


def _label_index(labels, classes):
    return np.searchsorted(classes, labels)


def _stack_columns(columns):
    """:func:`webly.base.stack_decisions` for per-row Dask vectors (kept on the cluster)."""
    import dask.array as da

    if len(columns) == 1:
        return columns[0].astype(np.float64)
    return da.stack(columns, axis=1).astype(np.float64)


def _dask_features(name, X, n_features=None):
    """A Dask feature matrix, checked for shape (its values are checked by the solver, on the
    cluster); float32 stays float32, other dtypes become float64."""
    if X.ndim != 2:
        raise DataError(name, f"must be 2-D (rows x features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(name, f"has {X.shape[1]} features, but the model was fitted on "
                              f"{n_features}")
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def _dask_fit_rows(est, X, X_priv=None):
    """The Dask rows of a fit, checked here for shape (their values by the solver, on the
    cluster): ``X`` 2-D with known chunk sizes and at least 2 rows (``est.n_features_in_`` set),
    a Dask ``X_priv`` with one row per row of X (any other ``X_priv`` is returned as given, for
    the caller). Returns ``(X, n, X_priv)``."""
    X = _dask_features("X", X)
    if any(np.isnan(c) for c in X.shape):
        raise DataError("X", "has unknown chunk sizes; call compute_chunk_sizes() first")
    n = X.shape[0]
    if n < 2:
        raise DataError("X", f"needs at least 2 rows, got {n}")
    est.n_features_in_ = X.shape[1]
    est.__dict__.pop("feature_names_in_", None)
    if _is_dask(X_priv):
        X_priv = _dask_features("X_priv", X_priv)
        if X_priv.shape[0] != n:
            raise DataError("X_priv", f"has {X_priv.shape[0]} rows but X has {n}; give one row "
                                      "per row of X")
    return X, n, X_priv


def _on_partitions(est, method, X, dtype, columns):
    """``method`` of the fitted ``est`` applied to each row partition of the Dask array X
    (lazy; ``columns``: None for one value per row, else the number of columns)."""
    check_is_fitted(est)
    X = _dask_features("X", X, est.n_features_in_).rechunk({1: -1})
    if columns is None:
        return X.map_blocks(method, drop_axis=1, dtype=dtype,
                            meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(method, chunks=(X.chunks[0], (columns,)), dtype=dtype,
                        meta=np.empty((0, 0), dtype=dtype))


def _kernel_tags(est, tags):
    pre = est.kernel == "precomputed"
    tags.input_tags.pairwise = pre
    tags.input_tags.sparse = not pre
    return tags


def _validated_rows(est, X, y):
    """Parameters, X (dense or CSR; square when ``est.kernel == "precomputed"``) and y of a kernel
    LUPI fit (SVM+, L2-SVM+, GD): returns ``X, y_idx`` and sets ``est.classes_``."""
    est._validate_params()
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=np.float64, ensure_min_samples=2)
    if est.kernel == "precomputed" and X.shape[1] != X.shape[0]:
        raise DataError("X", f"a precomputed kernel must be square (n, n), got {X.shape}")
    est.classes_, y_idx = encode_targets(y)
    return X, y_idx


class _KernelLUPIBase(WebClassifierMixin, BaseEstimator):
    """Shared plumbing of the kernel LUPI estimators: validation, kernels, prediction."""

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma_plus": [Interval(Real, 0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear", "precomputed"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "kernel_priv": [StrOptions({"rbf", "linear", "precomputed"})],
        "gamma_priv": [Interval(Real, 0, None, closed="neither"), None],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "features": [StrOptions({"nystroem", "rbf_sampler"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "memory_limit": [Interval(Real, 0, None, closed="neither"), str, None],
    }

    #: kernel-sized (n x n float64) arrays the kernel path holds at its peak, without and with
    #: X_priv (benchmarks/kernel_memory.py: tracemalloc, kernels included, SVM+ at n = 10,000;
    #: subclasses set their own)
    _KERNEL_ARRAYS = (1.4, 2.6)
    #: what each further one-vs-rest problem solved at once (``n_jobs`` threads) adds: the
    #: SMO's working set (up to 0.4 GB, ~0.5 array at n = 10,000; subclasses set their own)
    _THREAD_ARRAYS = 0.5

    def _kernel_fit_arrays(self, has_priv, has_target=False):
        return self._KERNEL_ARRAYS[bool(has_priv)]

    def _choose_solver(self, X, X_priv, y=None):
        """The solver of this fit (:func:`webly.kernels.choose_solver` with this estimator's
        measured peak, :meth:`_kernel_fit_arrays`, and ``_THREAD_ARRAYS`` per further one-vs-rest
        thread: :func:`~webly.kernels.ovr_fit_arrays`); precomputed kernels take the kernel
        solver."""
        from sklearn.utils.validation import _num_samples

        self._validate_params()
        if _is_dask(X) or _is_dask(X_priv):  # rows on a cluster: only the primal path
            return dask_solver(type(self).__name__, self.solver)
        if self.solver != "primal" and (self.kernel == "precomputed" or (
                X_priv is not None and self.kernel_priv == "precomputed")):
            return "smo" if self.solver == "auto" else self.solver
        what = ("the rows themselves (linear kernels)" if self.kernel == "linear" and (
            X_priv is None or self.kernel_priv == "linear") else
            f"explicit features ({self.features}, {self.n_components} components)")
        arrays = self._kernel_fit_arrays(X_priv is not None)
        if y is not None:
            arrays = ovr_fit_arrays(arrays, getattr(self, "n_jobs", None),
                                    len(np.unique(np.asarray(y))), self._THREAD_ARRAYS)
        return choose_solver(self, _num_samples(X), arrays, what=what)

    def __sklearn_tags__(self):
        return _kernel_tags(self, super().__sklearn_tags__())

    # --- the primal (explicit feature) path, solver="primal" -------------------------------
    def _feature_map(self, kernel, gamma):
        from .solvers.primal import FeatureMap

        kind = "linear" if kernel == "linear" else self.features
        return FeatureMap(kind, gamma=gamma, n_components=self.n_components,
                          random_state=self.random_state)

    def _fit_primal(self, X, y, X_priv, solve):
        """Feature maps on both views, then one primal solve per one-vs-rest problem.

        ``solve(Z, y_pm, Z_priv, C, gamma_plus, tol, max_iter, n_threads)`` is
        :func:`webly.solvers.primal.svmplus_primal` or :func:`webly.solvers.primal.l2svmplus_primal`. Returns
        the list of ``(coef, intercept, coef_priv, intercept_priv, info)``.

        X and X_priv may be row-chunked Dask arrays (y numpy or Dask): the feature maps are
        fitted on the client (the bandwidth rule as a reduction, the Nystroem landmarks fetched)
        and applied where the partitions live, and each solve runs on the cluster
        (:mod:`webly.solvers.primal`); ``correcting_function_`` is then a Dask array.
        """
        from sklearn.utils import check_random_state

        from .solvers.primal import blas_threads

        self._validate_params()
        for name in ("kernel", "kernel_priv"):
            if getattr(self, name) == "precomputed":
                raise DataError(name, "solver='primal' works on feature rows, not precomputed "
                                      "kernels; use 'linear' or 'rbf' (approximated by "
                                      "`features`), or solver='smo'")
        on_dask = _is_dask(X) or _is_dask(X_priv)
        if on_dask:
            if not _is_dask(X):
                raise DataError("X", "must be a Dask array when X_priv is one (the rows of "
                                     "both views are partitioned together)")
            X, n, X_priv = _dask_fit_rows(self, X, X_priv)
            self.classes_, y_idx = _dask_targets(y, n)
            if X_priv is not None and not _is_dask(X_priv):
                X_priv = check_row_features("X_priv", X_priv, n, keep_float32=True)
        else:
            X, y = validate_data(self, X, y, accept_sparse="csr",
                                 dtype=[np.float64, np.float32], ensure_min_samples=2)
            n = X.shape[0]
            self.classes_, y_idx = encode_targets(y)
            X_priv = check_row_features("X_priv", X_priv, n)
        # one integer seed for both maps: deterministic for an int or RandomState random_state
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.feature_map_ = self._feature_map(self.kernel, self.gamma)
        self.feature_map_.random_state = seed
        Z = self.feature_map_.fit_transform(X)
        self.feature_map_priv_, Zp = None, None
        if X_priv is not None:
            self.feature_map_priv_ = self._feature_map(self.kernel_priv, self.gamma_priv)
            self.feature_map_priv_.random_state = seed + 1
            Zp = self.feature_map_priv_.fit_transform(X_priv)

        def fit_binary(k, y_pm):
            return solve(Z, y_pm, Zp, C=self.C, gamma_plus=self.gamma_plus, tol=self.tol,
                         max_iter=self.max_iter, n_threads=None)

        # one process-wide BLAS limit around all problems (see webly.solvers.primal.blas_threads)
        with blas_threads(1):
            models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        for attr in ("support_", "dual_coef_", "support_vectors_", "kernel_", "kernel_priv_"):
            self.__dict__.pop(attr, None)
        self.coef_ = np.vstack([m[0] for m in models])
        self.intercept_ = np.array([m[1] for m in models], dtype=np.float64)
        self.coef_priv_ = None if Zp is None else np.vstack([m[2] for m in models])
        stack = _stack_columns if on_dask else stack_decisions
        self.correcting_function_ = stack([m[4]["correcting_values"] for m in models])
        self.objective_ = np.array([-m[4]["objective"] for m in models])
        self.n_iter_ = np.array([m[4]["n_iter"] for m in models], dtype=np.int64)
        self._report([m[4] for m in models], "raise max_iter (Newton steps) or tol")
        return models

    def _report(self, infos, fix):
        """One ConvergenceWarning for the one-vs-rest solves that stopped at a limit."""
        warn_not_converged(self, per_class_notes(self.classes_,
                                                 [status_note(info, fix) for info in infos]))

    def _prepare(self, X, y, X_priv, dtype=np.float64):
        """Validated rows, the fitted kernels' training matrix ``K`` in ``dtype`` (float64, or
        float32 for a solver's ``kernel_dtype``; computed without a float64 copy) and the
        fitted privileged kernel (``kernel_priv_``, not yet applied)."""
        X, y_idx = _validated_rows(self, X, y)
        n = X.shape[0]
        X_priv = check_row_features("X_priv", X_priv, n,
                                    allow_sparse=self.kernel_priv != "precomputed")
        if X_priv is not None and self.kernel_priv == "precomputed" and X_priv.shape[1] != n:
            raise DataError("X_priv", f"a precomputed privileged kernel must be (n, n), got "
                                      f"{X_priv.shape}")
        self.kernel_ = Kernel(self.kernel, self.gamma).fit(X)
        # memory was checked against this estimator's own figure (_choose_solver)
        arrays = self._kernel_fit_arrays(X_priv is not None)
        K = np.ascontiguousarray(self.kernel_(X, fit_arrays=arrays, dtype=dtype), dtype=dtype)
        for attr in ("feature_map_", "feature_map_priv_", "coef_", "coef_priv_"):
            self.__dict__.pop(attr, None)
        self.kernel_priv_ = None
        if X_priv is not None:
            self.kernel_priv_ = Kernel(self.kernel_priv, self.gamma_priv).fit(X_priv, "gamma_priv")
        return X, X_priv, y_idx, K

    def _store_support(self, X, coefs, intercepts):
        """Keep the union of support rows over the one-vs-rest models."""
        coefs = np.atleast_2d(np.asarray(coefs))
        support = np.flatnonzero(np.any(coefs != 0, axis=0))
        self.support_ = support
        self.dual_coef_ = coefs[:, support]
        self.intercept_ = np.asarray(intercepts, dtype=np.float64)
        if self.kernel == "precomputed":
            self.support_vectors_ = None
        else:
            self.support_vectors_ = X[support]

    def _on_partitions(self, method, X, dtype, columns):
        return _on_partitions(self, method, X, dtype, columns)

    def predict(  # type: ignore[override]  # a Dask X gives a Dask vector
        self, X: ArrayLike | spmatrix
    ) -> NDArray[Any] | da.Array:
        """Class of each row (see :meth:`decision_function`); a Dask X gives a Dask vector."""
        if _is_dask(X):
            return self._on_partitions(self.predict, X, self.classes_.dtype, None)
        return super().predict(X)

    def decision_function(self, X: ArrayLike | spmatrix) -> NDArray[np.float64] | da.Array:
        """Scores ``sum_i coef_i k(x_i, x) + b``: (n,) for two classes, (n, C) otherwise.

        With ``kernel="precomputed"``, X is the (n_test, n_train) kernel to the training rows.
        A Dask X (rows in partitions) gives a Dask array with its row chunks, computed where the
        partitions live (lazy: call ``.compute()`` or keep working on the cluster).
        """
        if _is_dask(X):
            binary = len(self.classes_) == 2
            return self._on_partitions(self.decision_function, X, np.float64,
                                       None if binary else len(self.classes_))
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=np.float64)
        if getattr(self, "feature_map_", None) is not None:
            Z = self.feature_map_.transform(X)
            scores = np.asarray(safe_sparse_dot(Z, self.coef_.T, dense_output=True))
            return stack_decisions(list((scores + self.intercept_).T))
        if self.kernel == "precomputed":
            Kt = X[:, self.support_]
        elif self.support_.size:
            Kt = self.kernel_(X, self.support_vectors_)
        else:
            Kt = np.zeros((X.shape[0], 0))
        scores = np.asarray(Kt @ self.dual_coef_.T) + self.intercept_
        return stack_decisions(list(scores.T))
