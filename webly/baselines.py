"""Instance-level baselines: a kernel SVM on the web labels (and, in configs, on true labels).

``SVM`` in a config is :class:`SVMClassifier` fit on the web labels; ``SVM-oracle`` is the same
estimator fit on the true labels ``y_true`` (an upper reference where those exist, never a method).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from numbers import Real, Integral
from typing import TYPE_CHECKING

from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from .base import WebClassifierMixin, encode_targets, one_vs_rest, own_class_scores, stack_decisions
from .base import check_is_fitted, check_row_features, validate_data, warn_not_converged
from .base import positional_metadata_deprecated
from .kernels import Kernel, default_gamma

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self


class SVMClassifier(WebClassifierMixin, BaseEstimator):
    """Kernel SVM on instances, one-vs-rest over classes (libsvm through scikit-learn).

    Bags, privileged features and sources are ignored: this is the baseline every web-data
    method is compared with. The Gaussian bandwidth defaults to the papers' rule
    (1 / mean squared distance over training rows), fitted once and reused at predict time.

    Parameters
    ----------
    C : float, default=1.0
        Hinge-loss weight.
    kernel : {"rbf", "linear"}, default="rbf"
    gamma : float or None, default=None
        RBF bandwidth; None applies the mean-squared-distance rule.
    gamma_scale : float, default=1.0
        Multiplies the rule's bandwidth when ``gamma`` is None (search it, not ``gamma``).
    class_weight : dict, {"balanced"} or None, default=None
        Weights of the original classes, applied to every row of that class in each binary
        problem (``C`` of row i becomes ``C * weight[y_i]``); "balanced" weights classes by
        ``n / (C * count)``.
    tol : float, default=1e-3
    n_jobs : int or None, default=None
        Threads for the one-vs-rest problems.

    Attributes
    ----------
    classes_ : (C,) array
    kernel_ : webly.kernels.Kernel
        The kernel with its fitted bandwidth ``gamma_``.
    estimators_ : list of SVC
        One binary SVC per class (one for ``classes_[1]`` when there are two classes).
    noise_scores_ : (n,) array
        Minus each training row's score for its own label (higher = the SVM disagrees more with
        the web label): the classifier-disagreement baseline of noise detection.

    References
    ----------
    C. Cortes, V. Vapnik. Support-vector networks. Machine Learning 20, 1995.

    Examples
    --------
    >>> from webly import SVMClassifier, make_web_digits
    >>> ds = make_web_digits(random_state=0)
    >>> clf = SVMClassifier().fit(ds.X, ds.y)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.9
    True
    """

    _expected_failed_checks = {
        "check_sample_weight_equivalence_on_dense_data":
            "libsvm stops at a tolerance, so a row weighted 2 and the row repeated give "
            "solutions that differ within it (as sklearn.svm.SVC)",
    }

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "gamma_scale": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, class_weight: str | dict | None = None,
                 tol: float = 1e-3, n_jobs: int | None = None) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.class_weight = class_weight
        self.tol = tol
        self.n_jobs = n_jobs

    @positional_metadata_deprecated("sample_weight")
    def fit(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None) -> Self:
        """Fit one binary SVC per class on the rows X with labels y."""
        self._validate_params()
        X, y = validate_data(self, X, y)
        self.classes_, y_idx = encode_targets(y)
        sw = np.ones(len(y)) if sample_weight is None else _check_sample_weight(sample_weight, X)
        if self.class_weight is not None:
            sw = sw * compute_sample_weight(self.class_weight, y)
        self.kernel_ = Kernel(self.kernel, self.gamma, self.gamma_scale).fit(X)
        K = self.kernel_(X)

        def fit_binary(k, y_pm):
            return SVC(C=self.C, kernel="precomputed", tol=self.tol).fit(K, y_pm, sample_weight=sw)

        self.estimators_ = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self.X_fit_ = X
        D = stack_decisions([est.decision_function(K) for est in self.estimators_])
        self.noise_scores_ = -own_class_scores(D, y_idx)
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """One-vs-rest scores, (n,) for two classes and (n, C) otherwise."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        K = self.kernel_(X, self.X_fit_)
        return stack_decisions([est.decision_function(K) for est in self.estimators_])


class KMMSVMClassifier(SVMClassifier):
    """KMM importance weights of the web rows towards the target, then a weighted kernel SVM.

    The domain-adaptation baseline of the -DA methods: :func:`webly.weighting.kmm_weights`
    matches the weighted mean of the training rows to the mean of the unlabelled target rows
    ``X_target`` in the kernel feature space; each row's ``C`` is multiplied by its weight.
    Without ``X_target`` every weight is 1 (a plain SVM).

    Parameters
    ----------
    C, kernel, gamma, gamma_scale, class_weight, tol, n_jobs
        As :class:`SVMClassifier` (the same bandwidth serves KMM and the SVM).
    B : float, default=1000.0
        Upper bound of a weight.
    eps : float or None, default=None
        Tolerance of the mean constraint; None is Huang et al.'s ``(sqrt(n) - 1)/sqrt(n)``.

    Attributes
    ----------
    sample_weights_ : (n,) array
        The KMM weights of the training rows.
    classes_, kernel_, estimators_, noise_scores_
        As :class:`SVMClassifier` (the SVCs are fitted with the weighted ``C``).

    References
    ----------
    J. Huang, A. Smola, A. Gretton, K. Borgwardt, B. Schölkopf. Correcting sample selection bias
    by unlabeled data. NIPS 2007.

    Examples
    --------
    Web rows from three corrupted sources, weighted towards the clean target rows:

    >>> from webly import KMMSVMClassifier, make_web_digits
    >>> ds = make_web_digits(n_bags_per_class=4, bag_size=8, random_state=0)
    >>> clf = KMMSVMClassifier().fit(ds.X, ds.y, X_target=ds.X_test)
    >>> clf.sample_weights_.shape
    (320,)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.85
    True
    """

    _parameter_constraints = {
        **SVMClassifier._parameter_constraints,
        "B": [Interval(Real, 0, None, closed="neither")],
        "eps": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, class_weight: str | dict | None = None,
                 tol: float = 1e-3, n_jobs: int | None = None, B: float = 1000.0,
                 eps: float | None = None) -> None:
        super().__init__(C=C, kernel=kernel, gamma=gamma, gamma_scale=gamma_scale,
                         class_weight=class_weight, tol=tol, n_jobs=n_jobs)
        self.B = B
        self.eps = eps

    def fit(self, X: ArrayLike, y: ArrayLike, *, X_target: ArrayLike | None = None,
            sample_weight: ArrayLike | None = None) -> Self:
        """Weight the rows of X towards ``X_target`` with KMM, then fit the weighted SVM."""
        from .weighting import kmm_weights

        self._validate_params()
        X, y = validate_data(self, X, y)
        if X_target is None:
            w = np.ones(len(y))
        else:
            X_target = check_row_features("X_target", X_target, allow_sparse=False)
            gamma = (self.gamma if self.kernel == "linear" or self.gamma
                     else self.gamma_scale * default_gamma(X))
            w, info = kmm_weights(X, X_target, kernel=self.kernel, gamma=gamma, B=self.B,
                                  eps=self.eps)
            if info["status"] != "optimal":
                warn_not_converged(self, [f"the KMM QP is {info['status']}; the weights are "
                                          "approximate (try another B or eps)"])
        self.sample_weights_ = w
        if sample_weight is not None:
            w = w * _check_sample_weight(sample_weight, X)
        return super().fit(X, y, sample_weight=w)
