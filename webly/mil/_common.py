"""What every MIL estimator of webly shares: bag checks, the multi-class driver, bag outputs.

A multi-class web crawl is learned one query class at a time (one-vs-rest over classes, through
:func:`webly.base.one_vs_rest`): for class c, the bags of query c are positive bags and the rows of
all other queries are negative instances. A binary MIL set (``y`` in {0, 1} per bag) is the same
with one class. Each binary fit returns a :class:`BinaryMIL`: dual coefficients over the training
rows and an intercept, so ``f(x) = sum_i coef_i k(x_i, x) + intercept`` for every method.

The estimators with ``solver="primal"`` (sMIL, sbMIL, sMIL-PI, mi-SVM, mi-SVM-PI, MIL-CPB,
MIL-CPB-PI) instead map the
rows to explicit features ``z(x)`` (the rows themselves for a linear kernel, Nystroem or random
Fourier features for an RBF kernel: :class:`webly.solvers.primal.FeatureMap`) and solve the same
problems in the primal (:func:`webly.solvers.primal.svmplus_primal`), in O(n d) memory with no
(n, n) kernel; their :class:`BinaryMIL` holds weights over the features,
``f(x) = coef' z(x) + intercept``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _num_samples

from ..base import (WebClassifierMixin, check_bags, check_is_fitted, check_row_features,
                    check_row_metadata,
                    encode_targets, one_vs_rest, own_class_scores, stack_decisions,
                    per_class_notes, renamed_parameter, validate_data, warn_data,
                    warn_not_converged)
from ..errors import DataError
from ..kernels import KERNEL_FIT_ARRAYS, Kernel, bag_index, choose_solver
from ..metrics import bag_scores, labels_from_bag_scores

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self


@dataclass
class BinaryMIL:
    """One fitted binary MIL problem: ``f(x) = coef' k(X_train, x) + intercept``, or on the
    primal path ``f(x) = coef' z(x) + intercept`` over explicit features."""

    coef: np.ndarray
    intercept: float
    n_iter: int = 0
    instance_labels: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def decision(self, K_test_train):
        """Scores from the test-train kernel, or from the test rows' features (primal path;
        float32 features are used as they are)."""
        coef = self.coef.astype(K_test_train.dtype, copy=False)
        return np.asarray(K_test_train @ coef, dtype=np.float64) + self.intercept


@dataclass
class MILContext:
    """What a binary MIL fit may use beyond the visual kernel of the training rows."""

    K: np.ndarray
    bags: np.ndarray
    X_priv: object = None
    # (n,) each training row's kernel summed over the target rows
    k_target: np.ndarray | None = None
    n_target: int = 0
    params: dict = field(default_factory=dict)  # renamed parameters, resolved once per fit
    # explicit features of the training rows (solver="primal"; K is None)
    Z: np.ndarray | None = None
    seed: int = 0  # seed of the privileged feature maps (solver="primal")


class MILClassifierBase(WebClassifierMixin, BaseEstimator):
    """Kernel, multi-class driver, bag predictions and noise scores of the MIL estimators.

    Subclasses define ``fit`` with the metadata they use and call :meth:`_fit_mil`; they
    implement ``_fit_binary(ctx, y_pm) -> BinaryMIL`` with ``ctx`` a :class:`MILContext`, and,
    with a ``solver`` parameter, ``_fit_binary_primal(ctx, y_pm)`` for ``solver="primal"``
    (``ctx.Z`` the explicit features, ``ctx.K`` None).
    """

    #: (old, new) parameter names of this release: the old one still works, with a FutureWarning
    _renamed: tuple[tuple[str, str], ...] = ()
    #: the method's config name, and what a -PI method is without privileged features
    _method_name = "MIL"
    _without_priv: str | None = None

    def fit(self, X: ArrayLike, y: ArrayLike, *, bags: ArrayLike | None = None) -> Self:
        """Fit on rows X with per-row bag labels y and bag ids ``bags``."""
        return self._fit_mil(X, y, bags)

    def _warn_missing_metadata(self, bags, X_priv):
        """Warn when a fit lacks what makes the method itself (bags; X_priv for -PI methods)."""
        name = self._method_name
        if bags is None:
            warn_data("bags", f"{name} was fit without bags, so every row is its own bag and "
                              "multiple-instance learning has nothing to work with; pass bags "
                              "(the bag id of each row)")
        if X_priv is None and "X_priv" in inspect.signature(self.fit).parameters:
            warn_data("X_priv", f"{name} was fit without privileged features, so it drops its "
                                f"privileged term and reduces to {self._without_priv}; pass "
                                "X_priv (the privileged features of each row)")

    def _fit_mil(self, X, y, bags, X_priv=None, X_target=None):
        self._validate_params()
        if hasattr(self, "solver"):
            # the kernel path's peak: at most KERNEL_FIT_ARRAYS n x n arrays over the rows (a bound;
            # benchmarks/kernel_memory.py measures 1.0-2.6)
            self.solver_ = choose_solver(
                self, _num_samples(X), KERNEL_FIT_ARRAYS,
                no_primal=None if X_target is None else "has no -DA (X_target) term yet",
                what="the rows themselves (linear kernel)" if self.kernel == "linear" else
                f"explicit features ({self.features}, {self.n_components} components)")
            if self.solver_ == "primal":
                return self._fit_mil_primal(X, y, bags, X_priv, X_target)
        self._warn_missing_metadata(bags, X_priv)
        X, y = validate_data(self, X, y)
        bags = check_bags(bags, y, len(y))
        X_priv = check_row_features("X_priv", X_priv, len(y))
        self.classes_, y_idx = encode_targets(y)
        self.kernel_ = Kernel(self.kernel, self.gamma, self.gamma_scale).fit(X)
        self.__dict__.pop("feature_map_", None)
        K = self.kernel_(X)
        ctx = MILContext(K, bags, X_priv, params={
            new: renamed_parameter(self, old, new) for old, new in self._renamed})
        if X_target is not None:
            X_target = check_row_features("X_target", X_target, allow_sparse=False)
            if X_target.shape[1] != X.shape[1]:
                raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                            f"{X.shape[1]}")
            ctx.k_target = self.kernel_(X, X_target).sum(axis=1)
            ctx.n_target = X_target.shape[0]
        self.models_ = one_vs_rest(lambda k, y_pm: self._fit_binary(ctx, y_pm),
                                   self.classes_, y_idx, n_jobs=self.n_jobs)
        # solvers only report a status: one warning for the fit, at the user's call
        warn_not_converged(self, per_class_notes(
            self.classes_, [m.info.get("not_converged", []) for m in self.models_]))
        self.X_fit_ = X
        self.n_iter_ = np.array([m.n_iter for m in self.models_])
        self.noise_scores_ = -own_class_scores(self._decision_from_kernel(K), y_idx)
        return self

    def _fit_mil_primal(self, X, y, bags, X_priv, X_target):
        """``solver="primal"``: explicit features of the rows, then one primal fit per class."""
        from sklearn.utils import check_random_state

        from ..solvers.primal import FeatureMap, blas_threads

        if X_target is not None:
            raise DataError("solver", f"{self._method_name}: solver='primal' has no "
                                      "domain-adaptation (X_target) term yet; fit without "
                                      "X_target or use solver='smo'")
        self._warn_missing_metadata(bags, X_priv)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        bags = check_bags(bags, y, len(y))
        X_priv = check_row_features("X_priv", X_priv, len(y), keep_float32=True)
        self.classes_, y_idx = encode_targets(y)
        # the kernel path's bandwidth (rule x gamma_scale), then the map; one integer seed for
        # both views (deterministic for an int or RandomState random_state)
        gamma = Kernel(self.kernel, self.gamma, self.gamma_scale).fit(X).gamma_
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        kind = "linear" if self.kernel == "linear" else self.features
        self.feature_map_ = FeatureMap(kind, gamma=gamma, n_components=self.n_components,
                                       random_state=seed)
        Z = self.feature_map_.fit_transform(X)
        ctx = MILContext(None, bags, X_priv, Z=Z, seed=seed + 1, params={
            new: renamed_parameter(self, old, new) for old, new in self._renamed})
        for attr in ("kernel_", "X_fit_"):
            self.__dict__.pop(attr, None)
        # one process-wide BLAS limit around all problems (webly.solvers.primal.blas_threads)
        with blas_threads(1):
            self.models_ = one_vs_rest(lambda k, y_pm: self._fit_binary_primal(ctx, y_pm),
                                       self.classes_, y_idx, n_jobs=self.n_jobs)
        warn_not_converged(self, per_class_notes(
            self.classes_, [m.info.get("not_converged", []) for m in self.models_]))
        self.n_iter_ = np.array([m.n_iter for m in self.models_])
        self.noise_scores_ = -own_class_scores(self._decision_from_kernel(Z), y_idx)
        return self

    def _decision_from_kernel(self, K):
        """Scores from the test-train kernel, or from features on the primal path."""
        return stack_decisions([m.decision(K) for m in self.models_])

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Instance scores, (n,) for two classes and (n, C) otherwise."""
        check_is_fitted(self)
        if getattr(self, "feature_map_", None) is not None:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
            return self._decision_from_kernel(self.feature_map_.transform(X))
        X = validate_data(self, X, reset=False)
        return self._decision_from_kernel(self.kernel_(X, self.X_fit_))

    #: how instance scores make a bag score: "max" (best instance) or "mean" (mean embedding)
    bag_rule = "max"

    def _bag_offset(self, sizes):
        """Added to bag scores before thresholding (0: the instance decision threshold)."""
        return np.zeros(len(sizes))

    def bag_decision_function(self, X: ArrayLike,
                              bags: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64]]:
        """``(bag_ids, scores)``: one score per bag (and class), by the method's bag rule."""
        bags = check_row_metadata("bags", bags, np.shape(X)[0])
        ids, S = bag_scores(self.decision_function(X), bags, self.bag_rule)
        codes, _ = bag_index(bags)
        offset = self._bag_offset(np.bincount(codes).astype(float))
        return ids, S + (offset if S.ndim == 1 else offset[:, None])

    def predict_bags(self, X: ArrayLike,
                     bags: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``(bag_ids, labels)`` of the bags of X (see :meth:`bag_decision_function`)."""
        ids, S = self.bag_decision_function(X, bags)
        return ids, labels_from_bag_scores(S, self.classes_)


__all__ = ["BinaryMIL", "MILContext", "MILClassifierBase"]
