"""Generalized distillation (Lopez-Paz, Bottou, Schoelkopf, Vapnik, ICLR 2016): a teacher on the
privileged features ``X_priv``, a student on ``X`` that imitates its soft labels. The LUPI
baseline beside SVM+ and L2-SVM+ (:mod:`webly.svmplus`)."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._lupi_base import _kernel_tags, _validated_rows
from .base import (WebClassifierMixin, check_is_fitted, check_row_features,
                   positional_metadata_deprecated, validate_data)
from .errors import DataError
from .kernels import Kernel

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix
    from typing_extensions import Self

__all__ = ["GDClassifier"]


class GDClassifier(WebClassifierMixin, BaseEstimator):
    """Generalized distillation (Lopez-Paz et al., ICLR 2016): a teacher on X_priv, a student on X.

    1. The *teacher* is fit on ``(X_priv, y)``; its scores at temperature ``T`` give soft labels
       ``s_i = softmax(f_t(x~_i) / T)`` (``sigmoid`` in the binary case).
    2. The *student* on X fits the imitation targets ``t_i = (1 - lambda) onehot(y_i) + lambda s_i``.
       Because the squared loss (like the cross-entropy) is linear in its target,
       ``(1 - lambda) ||f - y||^2 + lambda ||f - s||^2 = ||f - t||^2 + const``, so the
       distillation objective of the paper with the squared loss is exactly kernel ridge
       regression on ``t``: ``min_f sum_i ||f(x_i) - t_i||^2 + alpha ||f||_H^2`` with an
       unpenalised per-class offset (the target mean), solved in closed form (one Cholesky
       factorisation shared by all classes). This is the least-squares kernel classifier; the
       class is the arg-max of ``f``.

    Without ``X_priv`` (or ``imitation=0``) the targets are the hard labels.

    Parameters
    ----------
    imitation : float in [0, 1], default=0.5
        ``lambda``: weight of the teacher's soft labels.
    temperature : float, default=1.0
        ``T`` > 0: larger values soften the teacher's labels.
    teacher : estimator or None, default=None
        Fit on ``(X_priv, y)``; must have ``decision_function`` or ``predict_proba``. None uses
        ``LogisticRegression(C=1.0, max_iter=1000)`` (multinomial: its scores are logits).
    kernel : {"rbf", "linear", "precomputed"}, default="rbf"
        Student kernel on X.
    gamma : float or None, default=None
        Student RBF bandwidth; None applies the rule ``1 / mean squared distance``.
    alpha : float, default=1.0
        Ridge penalty of the student.

    Attributes
    ----------
    classes_ : (n_classes,) array
    teacher_ : estimator or None
        The fitted teacher (None without X_priv).
    soft_labels_ : (n, n_classes) array or None
        Teacher's soft labels on the training rows.
    dual_coef_ : (n, n_classes) array
        Student coefficients ``(K + alpha I)^{-1} (t - mean t)``.
    intercept_ : (n_classes,) array
    X_fit_ : array
        Training rows (the student is a kernel expansion over all of them).
    kernel_ : webly.kernels.Kernel

    References
    ----------
    D. Lopez-Paz, L. Bottou, B. Schölkopf, V. Vapnik. Unifying distillation and privileged
    information. ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from webly import GDClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> clf = GDClassifier(imitation=0.5, temperature=2.0).fit(X, y, X_priv=X[:, :1])
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    _parameter_constraints = {
        "imitation": [Interval(Real, 0, 1, closed="both")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "teacher": [HasMethods(["fit"]), None],
        "kernel": [StrOptions({"rbf", "linear", "precomputed"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "alpha": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, imitation: float = 0.5, temperature: float = 1.0, teacher: Any = None,
                 kernel: str = "rbf", gamma: float | None = None, alpha: float = 1.0) -> None:
        self.imitation = imitation
        self.temperature = temperature
        self.teacher = teacher
        self.kernel = kernel
        self.gamma = gamma
        self.alpha = alpha

    def __sklearn_tags__(self):
        return _kernel_tags(self, super().__sklearn_tags__())

    @positional_metadata_deprecated("X_priv")
    def fit(self, X: ArrayLike | spmatrix, y: ArrayLike, *,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """Fit the teacher on (X_priv, y) (if given) and the student on X."""
        X, y_idx = _validated_rows(self, X, y)
        n = X.shape[0]
        X_priv = check_row_features("X_priv", X_priv, n)
        n_classes = len(self.classes_)
        targets = np.zeros((n, n_classes))
        targets[np.arange(n), y_idx] = 1.0
        self.teacher_, self.soft_labels_ = None, None
        if X_priv is not None:
            self.teacher_ = self._fit_teacher(X_priv, y_idx)
            self.soft_labels_ = self._soft_labels(self.teacher_, X_priv, n_classes)
            targets = (1.0 - self.imitation) * targets + self.imitation * self.soft_labels_
        self.kernel_ = Kernel(self.kernel, self.gamma).fit(X)
        K = np.array(self.kernel_(X), dtype=np.float64, copy=True)
        self.intercept_ = targets.mean(axis=0)
        K[np.diag_indices_from(K)] += self.alpha
        self.dual_coef_ = sla.solve(K, targets - self.intercept_, assume_a="pos")
        self.X_fit_ = X
        return self

    def _fit_teacher(self, X_priv, y_idx):
        if self.teacher is None:
            from sklearn.linear_model import LogisticRegression
            teacher = LogisticRegression(C=1.0, max_iter=1000)
        else:
            teacher = clone(self.teacher)
        return teacher.fit(X_priv, y_idx)

    def _soft_labels(self, teacher, X_priv, n_classes):
        T = self.temperature
        if hasattr(teacher, "decision_function"):
            scores = np.asarray(teacher.decision_function(X_priv), dtype=np.float64)
            if scores.ndim == 1:
                scores = np.column_stack([np.zeros_like(scores), scores])
        else:
            proba = np.asarray(teacher.predict_proba(X_priv), dtype=np.float64)
            scores = np.log(np.clip(proba, 1e-12, None))
        if scores.shape[1] != n_classes:
            raise DataError("teacher", f"scores {scores.shape[1]} classes, expected {n_classes}")
        z = scores / T
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def decision_function(self, X: ArrayLike | spmatrix) -> NDArray[np.float64]:
        """Student scores: (n, n_classes), or ``f_1 - f_0`` (n,) for two classes."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=np.float64)
        Kt = X if self.kernel == "precomputed" else self.kernel_(X, self.X_fit_)
        scores = np.asarray(Kt @ self.dual_coef_) + self.intercept_
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores
