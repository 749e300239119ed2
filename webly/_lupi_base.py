"""What SVM+ and L2-SVM+ share: the kernels, the support expansion, and the primal
(explicit-feature) path for 10^5-10^6 rows (:mod:`webly.solvers.primal`)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot

from .base import (WebClassifierMixin, check_is_fitted, check_row_features, encode_targets,
                   one_vs_rest, per_class_notes, stack_decisions, status_note, validate_data,
                   warn_not_converged)
from .errors import DataError
from .kernels import Kernel, choose_solver


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
    #: X_priv (measured with tracemalloc, kernels included; subclasses set their own)
    _KERNEL_ARRAYS = (1.4, 2.6)

    def _kernel_arrays(self, has_priv):
        return self._KERNEL_ARRAYS[bool(has_priv)]

    def _choose_solver(self, X, X_priv):
        """The solver of this fit (:func:`webly.kernels.choose_solver` with this estimator's
        measured peak, :meth:`_kernel_arrays`); precomputed kernels take the kernel solver."""
        from sklearn.utils.validation import _num_samples

        self._validate_params()
        if self.solver != "primal" and (self.kernel == "precomputed" or (
                X_priv is not None and self.kernel_priv == "precomputed")):
            return "smo" if self.solver == "auto" else self.solver
        what = ("the rows themselves (linear kernels)" if self.kernel == "linear" and (
            X_priv is None or self.kernel_priv == "linear") else
            f"explicit features ({self.features}, {self.n_components} components)")
        return choose_solver(self, _num_samples(X), self._kernel_arrays(X_priv is not None),
                             what=what)

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
        """
        from sklearn.utils import check_random_state

        from .solvers.primal import blas_threads

        self._validate_params()
        for name in ("kernel", "kernel_priv"):
            if getattr(self, name) == "precomputed":
                raise DataError(name, "solver='primal' works on feature rows, not precomputed "
                                      "kernels; use 'linear' or 'rbf' (approximated by "
                                      "`features`), or solver='smo'")
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                             ensure_min_samples=2)
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
        self.correcting_function_ = stack_decisions([m[4]["correcting_values"] for m in models])
        self.objective_ = np.array([-m[4]["objective"] for m in models])
        self.n_iter_ = np.array([m[4]["n_iter"] for m in models], dtype=np.int64)
        self._report([m[4] for m in models], "raise max_iter (Newton steps) or tol")
        return models

    def _report(self, infos, fix):
        """One ConvergenceWarning for the one-vs-rest solves that stopped at a limit."""
        warn_not_converged(self, per_class_notes(self.classes_,
                                                 [status_note(info, fix) for info in infos]))

    def _prepare(self, X, y, X_priv):
        X, y_idx = _validated_rows(self, X, y)
        n = X.shape[0]
        X_priv = check_row_features("X_priv", X_priv, n,
                                    allow_sparse=self.kernel_priv != "precomputed")
        if X_priv is not None and self.kernel_priv == "precomputed" and X_priv.shape[1] != n:
            raise DataError("X_priv", f"a precomputed privileged kernel must be (n, n), got "
                                      f"{X_priv.shape}")
        self.kernel_ = Kernel(self.kernel, self.gamma).fit(X)
        # memory was checked against this estimator's own figure (_choose_solver)
        arrays = self._kernel_arrays(X_priv is not None)
        K = np.ascontiguousarray(self.kernel_(X, fit_arrays=arrays), dtype=np.float64)
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

    def decision_function(self, X):
        """Scores ``sum_i coef_i k(x_i, x) + b``: (n,) for two classes, (n, C) otherwise.

        With ``kernel="precomputed"``, X is the (n_test, n_train) kernel to the training rows.
        """
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
