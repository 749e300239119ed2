"""Learning using privileged information: SVM+, L2-loss SVM+ and generalized distillation.

All three fit ``fit(X, y, X_priv=None)``: ``X_priv`` (n, d~) are privileged features of the
training rows (text, tags) that are not available at test time. Without ``X_priv`` SVM+ is the
C-SVM, L2-SVM+ the L2-loss SVM and GD a kernel ridge (least-squares) classifier. Multi-class
problems are one-vs-rest through :func:`webly.base.one_vs_rest` (SVM+, L2-SVM+) or a single
multi-output fit (GD).

SVM+ and L2-SVM+ have two paths: ``solver="smo"`` (default) solves the exact kernel dual;
``solver="primal"`` solves the same problem on explicit features (the rows for a linear kernel,
Nystroem or random Fourier features for an RBF kernel) in the primal, for 10^5-10^6 rows (see
:mod:`webly.solvers.primal`), e.g. ``SVMPlusClassifier(solver="primal", features="nystroem",
n_components=512)``.

Config registry names: ``SVM+`` -> :class:`SVMPlusClassifier`, ``L2-SVM+`` ->
:class:`L2SVMPlusClassifier`, ``GD`` -> :class:`GDClassifier` (:mod:`webly.experiments.registry`).
"""

import logging
from numbers import Integral, Real

import numpy as np
import scipy.linalg as sla
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot

from .base import (WebClassifierMixin, check_is_fitted, check_row_features, encode_targets,
                   one_vs_rest, per_class_notes, stack_decisions, status_note, validate_data,
                   warn_not_converged)
from .errors import DataError
from .kernels import Kernel

logger = logging.getLogger(__name__)

__all__ = ["SVMPlusClassifier", "L2SVMPlusClassifier", "GDClassifier"]


def _kernel_tags(est, tags):
    pre = est.kernel == "precomputed"
    tags.input_tags.pairwise = pre
    tags.input_tags.sparse = not pre
    return tags


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
    }

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
        warn_not_converged(self, per_class_notes(
            self.classes_ if len(infos) > 1 else self.classes_[1:],
            [status_note(info, fix) for info in infos]))

    def _prepare(self, X, y, X_priv):
        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64,
                             ensure_min_samples=2)
        n = X.shape[0]
        if self.kernel == "precomputed" and X.shape[1] != n:
            raise DataError("X", f"a precomputed kernel must be square (n, n), got {X.shape}")
        self.classes_, y_idx = encode_targets(y)
        X_priv = check_row_features("X_priv", X_priv, n,
                                    allow_sparse=self.kernel_priv != "precomputed")
        if X_priv is not None and self.kernel_priv == "precomputed" and X_priv.shape[1] != n:
            raise DataError("X_priv", f"a precomputed privileged kernel must be (n, n), got "
                                      f"{X_priv.shape}")
        self.kernel_ = Kernel(self.kernel, self.gamma).fit(X)
        K = np.ascontiguousarray(self.kernel_(X), dtype=np.float64)
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


class SVMPlusClassifier(_KernelLUPIBase):
    """SVM+ (learning using privileged information) solved by webly's SMO-type solver.

    The dual (Vapnik & Vashist 2009), per one-vs-rest problem with labels ``y`` in {-1, +1}::

        max_{a, b >= 0} sum a - 1/2 (a∘y)'K(a∘y) - 1/(2 gamma_plus) (a+b-C)'K~(a+b-C)
        s.t. y'a = 0,  sum(a + b - C) = 0,

    with ``K`` the kernel on ``X`` and ``K~`` the privileged kernel on ``X_priv``. The correcting
    (slack) function ``xi(x~) = (1/gamma_plus) sum_i (a_i + b_i - C) k~(x~_i, x~) + b*`` models
    each training row's slack from its privileged features. Without ``X_priv`` the estimator is
    the C-SVM (same solver, the libsvm dual).

    Parameters
    ----------
    C : float, default=1.0
        Loss weight (per row).
    gamma_plus : float, default=1.0
        Regularisation of the correcting function (the SVM+ "gamma"; not a bandwidth).
    kernel : {"rbf", "linear", "precomputed"}, default="rbf"
        Kernel on X; "precomputed" takes X as the (n, n) training kernel and the (m, n)
        test-train kernel at prediction.
    gamma : float or None, default=None
        RBF bandwidth on X; None applies the rule ``1 / mean squared distance``.
    kernel_priv : {"linear", "rbf", "precomputed"}, default="linear"
        Kernel on X_priv.
    gamma_priv : float or None, default=None
        RBF bandwidth on X_priv (same rule when None).
    tol : float, default=1e-3
        Stopping gap as in scikit-learn's SVC (the solver's KKT tolerance is ``tol / 2``).
    max_iter : int or None, default=None
        Maximal solver moves per binary problem (None: no practical limit); with
        ``solver="primal"`` the maximal Newton steps (None: 1,000).
    n_jobs : int or None, default=None
        Threads for the one-vs-rest problems (the solver releases the GIL).
    solver : {"smo", "primal"}, default="smo"
        ``smo``: the exact kernel dual (needs the (n, n) kernels; up to a few 10^4 rows).
        ``primal``: the large-data path of :mod:`webly.solvers.primal`: the same SVM+ problem on
        explicit features, solved in the primal (augmented Lagrangian, Newton steps) in
        O(n (d + d~)) memory. A linear kernel uses the rows themselves (then it is exactly the
        problem ``smo`` solves with linear kernels); an RBF kernel (on either view) is
        approximated by ``features`` with ``n_components`` features, with the same bandwidths
        (``gamma``, ``gamma_priv`` or the 1 / mean squared distance rule). Precomputed kernels
        are refused. ``tol`` is then the largest constraint violation in margin units.
    features : {"nystroem", "rbf_sampler"}, default="nystroem"
        Approximate feature map of an RBF kernel with ``solver="primal"``:
        :class:`sklearn.kernel_approximation.Nystroem` or random Fourier features
        (:class:`~sklearn.kernel_approximation.RBFSampler`). Ignored otherwise.
    n_components : int, default=512
        Features of that map on each RBF view (Nystroem uses at most n training rows).
    random_state : int, RandomState or None, default=None
        Seeds the feature maps (``solver="primal"``); the solvers are deterministic.

    Attributes
    ----------
    classes_ : (n_classes,) array
    support_ : (n_SV,) int array
        Training rows with a nonzero dual coefficient in some one-vs-rest model (``smo``).
    support_vectors_ : (n_SV, d) array or None (precomputed kernel)
    dual_coef_ : (n_models, n_SV) array
        ``a_i y_i``; one model (for ``classes_[1]``) in the binary case (``smo``).
    coef_ : (n_models, n_features) array
        ``w`` on the mapped features (``primal``); ``f(x) = coef_ z(x) + intercept_``.
    coef_priv_ : (n_models, n_features_priv) array or None
        Weights of the correcting functions on the mapped privileged features (``primal``).
    feature_map_, feature_map_priv_ : webly.solvers.primal.FeatureMap
        Fitted feature maps (``primal``; ``feature_map_priv_`` is None without X_priv).
    intercept_ : (n_models,) array
    intercept_priv_ : (n_models,) array
        ``b*`` of each correcting function (NaN without X_priv).
    correcting_function_ : (n,) or (n, n_models) array
        Correcting-function (slack) values on the training rows; without X_priv the SVM's
        hinge slacks ``max(0, 1 - y f(x))``.
    objective_ : (n_models,) array
        Minimised dual objective (minus the dual above) of each model; with ``primal``, minus
        the primal objective, so that both solvers report the same number at the optimum.
    n_iter_ : (n_models,) int array
        Solver moves (``smo``) or Newton steps (``primal``) of each model.
    kernel_, kernel_priv_ : webly.kernels.Kernel
        Fitted kernels (``smo``; ``kernel_priv_`` is None without X_priv).

    References
    ----------
    V. Vapnik, A. Vashist. A new learning paradigm: Learning using privileged information.
    Neural Networks 22(5-6), 2009.

    D. Pechyony, R. Izmailov, A. Vashist, V. Vapnik. SMO-style algorithms for learning using
    privileged information. DMIN 2010.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> X_priv = X[:, :1] + 0.1 * rng.normal(size=(60, 1))
    >>> clf = SVMPlusClassifier(C=1.0, gamma_plus=1.0).fit(X, y, X_priv=X_priv)
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True

    The large-data path (explicit features, primal solver):

    >>> big = SVMPlusClassifier(solver="primal", features="nystroem", n_components=50,
    ...                         random_state=0).fit(X, y, X_priv=X_priv)
    >>> float((big.predict(X) == y).mean()) > 0.9
    True
    """

    _parameter_constraints = {
        **_KernelLUPIBase._parameter_constraints,
        "solver": [StrOptions({"smo", "primal"})],
    }

    def __init__(self, C=1.0, gamma_plus=1.0, kernel="rbf", gamma=None, kernel_priv="linear",
                 gamma_priv=None, tol=1e-3, max_iter=None, n_jobs=None, solver="smo",
                 features="nystroem", n_components=512, random_state=None):
        self.C = C
        self.gamma_plus = gamma_plus
        self.kernel = kernel
        self.gamma = gamma
        self.kernel_priv = kernel_priv
        self.gamma_priv = gamma_priv
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.solver = solver
        self.features = features
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y, X_priv=None):
        """Fit on rows X with labels y and, optionally, privileged features X_priv (n, d~)."""
        from .solvers import smo_solve, svm_qp, svmplus_qp

        self._validate_params()
        if self.solver == "primal":
            from .solvers.primal import svmplus_primal

            models = self._fit_primal(X, y, X_priv, svmplus_primal)
            self.intercept_priv_ = np.array([m[3] for m in models], dtype=np.float64)
            return self
        X, X_priv, y_idx, K = self._prepare(X, y, X_priv)
        Kp = None
        if X_priv is not None:
            Kp = np.ascontiguousarray(self.kernel_priv_(X_priv), dtype=np.float64)

        def fit_binary(k, y_pm):
            if Kp is None:
                qp = svm_qp(K, y_pm, C=self.C)
            else:
                qp = svmplus_qp(K, y_pm, Kp, C=self.C, gamma_plus=self.gamma_plus)
            x, info = smo_solve(qp, tol=self.tol / 2.0, max_iter=self.max_iter)
            a = x[:len(y_pm)]
            b = float(info["multipliers"][0])
            if Kp is None:
                f = K @ (a * y_pm) + b
                xi = np.maximum(0.0, 1.0 - y_pm * f)
                b_priv = np.nan
            else:
                xi = info["correcting_values"][0]
                b_priv = float(info["multipliers"][1])
            return a * y_pm, b, b_priv, xi, info

        models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self._store_support(X, [m[0] for m in models], [m[1] for m in models])
        self.intercept_priv_ = np.array([m[2] for m in models])
        self.correcting_function_ = stack_decisions([m[3] for m in models])
        self.objective_ = np.array([m[4]["objective"] for m in models])
        self._report([m[4] for m in models], "raise max_iter or tol")
        self.n_iter_ = np.array([m[4]["n_iter"] for m in models], dtype=np.int64)
        return self


class L2SVMPlusClassifier(_KernelLUPIBase):
    """L2-loss SVM+ (Li et al., CVPR 2016): SVM+ with a squared correcting-function loss.

    Per one-vs-rest problem the dual is the one-class QP ``min 1/2 a'Qa, a >= 0, sum a = 1`` with
    ``Q = (K + 1)∘yy' + (1/C)(I - (I + (C/gamma_plus)(K~ + 1))^{-1})`` (see
    :mod:`webly.solvers.l2svmplus`); the decision function is ``sum_i a_i y_i (k(x_i, x) + 1)``
    (the bias ``b = sum a_i y_i`` is regularised, so there is no equality ``y'a = 0``). For a
    linear privileged kernel the inverse is formed through the Woodbury identity in
    O(n^2 d~); other privileged kernels cost one O(n^3) Cholesky factorisation. Without
    ``X_priv``, ``Q = (K + 1)∘yy' + I / C`` (the L2-loss SVM).

    Parameters
    ----------
    C : float, default=1.0
    gamma_plus : float, default=1.0
        Regularisation of the correcting function.
    kernel, gamma, kernel_priv, gamma_priv : as in :class:`SVMPlusClassifier`
    solver : {"smo", "libsvm", "primal"}, default="smo"
        webly's SMO solver, or libsvm's one-class solver on the precomputed Q, or the
        large-data primal path of :mod:`webly.solvers.primal` (the rho-margin primal of the module
        docstring of :mod:`webly.solvers.l2svmplus` on explicit features; see
        :class:`SVMPlusClassifier` for the features and ``features`` / ``n_components``).
    tol : float, default=1e-3
        Stopping gap (KKT tolerance ``tol / 2``); with ``primal``, the largest constraint
        violation relative to the margin.
    max_iter : int or None, default=None
    n_jobs : int or None, default=None
    features, n_components, random_state : as in :class:`SVMPlusClassifier`

    Attributes
    ----------
    classes_, support_, support_vectors_, kernel_, kernel_priv_ : as in SVMPlusClassifier
    coef_, coef_priv_, feature_map_, feature_map_priv_ : as in SVMPlusClassifier (``primal``)
    dual_coef_ : (n_models, n_SV) array
        ``a_i y_i``.
    intercept_ : (n_models,) array
        ``b = sum_i a_i y_i``.
    rho_ : (n_models,) array
        The margin ``a'Qa`` of each model (the primal's ``m``).
    correcting_function_ : (n,) or (n, n_models) array
        Squared-loss slacks ``xi = P a`` on the training rows.
    objective_ : (n_models,) array
        ``1/2 a'Qa`` (with ``primal``: minus the primal objective, equal at the optimum).
    n_iter_ : (n_models,) int array

    References
    ----------
    W. Li, D. Dai, M. Tan, D. Xu, L. Van Gool. Fast algorithms for linear and kernel SVM+.
    CVPR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> clf = L2SVMPlusClassifier().fit(X, y, X_priv=X[:, :1])
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    _parameter_constraints = {
        **_KernelLUPIBase._parameter_constraints,
        "solver": [StrOptions({"smo", "libsvm", "primal"})],
    }

    def __init__(self, C=1.0, gamma_plus=1.0, kernel="rbf", gamma=None, kernel_priv="linear",
                 gamma_priv=None, solver="smo", tol=1e-3, max_iter=None, n_jobs=None,
                 features="nystroem", n_components=512, random_state=None):
        self.C = C
        self.gamma_plus = gamma_plus
        self.kernel = kernel
        self.gamma = gamma
        self.kernel_priv = kernel_priv
        self.gamma_priv = gamma_priv
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.features = features
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y, X_priv=None):
        """Fit on rows X with labels y and, optionally, privileged features X_priv (n, d~)."""
        from .solvers.l2svmplus import l2svmplus_privileged_term, solve_l2svmplus

        self._validate_params()
        if self.solver == "primal":
            from .solvers.primal import l2svmplus_primal

            models = self._fit_primal(X, y, X_priv, l2svmplus_primal)
            self.rho_ = np.array([m[4]["margin"] for m in models])
            return self
        X, X_priv, y_idx, K = self._prepare(X, y, X_priv)
        n = X.shape[0]
        if X_priv is None:
            P = l2svmplus_privileged_term(n, self.C, self.gamma_plus)
        elif self.kernel_priv == "linear":
            P = l2svmplus_privileged_term(n, self.C, self.gamma_plus, F_priv=X_priv)
        else:
            P = l2svmplus_privileged_term(n, self.C, self.gamma_plus,
                                          K_priv=self.kernel_priv_(X_priv))

        def fit_binary(k, y_pm):
            a, info = solve_l2svmplus(K, y_pm, P, solver=self.solver, tol=self.tol / 2.0,
                                      max_iter=self.max_iter)
            return a * y_pm, float(a @ y_pm), info

        models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self._store_support(X, [m[0] for m in models], [m[1] for m in models])
        self.rho_ = np.array([m[2]["rho"] for m in models])
        self.correcting_function_ = stack_decisions([m[2]["correcting_values"] for m in models])
        self.objective_ = np.array([m[2]["objective"] for m in models])
        self._report([m[2] for m in models], "raise max_iter or tol")
        self.n_iter_ = np.array([m[2]["n_iter"] for m in models], dtype=np.int64)
        return self

    def decision_function(self, X):
        """Scores ``sum_i a_i y_i (k(x_i, x) + 1)``: (n,) for two classes, (n, C) otherwise.

        The "+1" of ``K + 1`` is the regularised bias ``b = sum a_i y_i`` kept in ``intercept_``.
        """
        return super().decision_function(X)


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

    def __init__(self, imitation=0.5, temperature=1.0, teacher=None, kernel="rbf", gamma=None,
                 alpha=1.0):
        self.imitation = imitation
        self.temperature = temperature
        self.teacher = teacher
        self.kernel = kernel
        self.gamma = gamma
        self.alpha = alpha

    def __sklearn_tags__(self):
        return _kernel_tags(self, super().__sklearn_tags__())

    def fit(self, X, y, X_priv=None):
        """Fit the teacher on (X_priv, y) (if given) and the student on X."""
        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64,
                             ensure_min_samples=2)
        n = X.shape[0]
        if self.kernel == "precomputed" and X.shape[1] != n:
            raise DataError("X", f"a precomputed kernel must be square (n, n), got {X.shape}")
        self.classes_, y_idx = encode_targets(y)
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

    def decision_function(self, X):
        """Student scores: (n, n_classes), or ``f_1 - f_0`` (n,) for two classes."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=np.float64)
        Kt = X if self.kernel == "precomputed" else self.kernel_(X, self.X_fit_)
        scores = np.asarray(Kt @ self.dual_coef_) + self.intercept_
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores
