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
from typing import TYPE_CHECKING, Any

from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from .base import WebClassifierMixin, encode_targets, one_vs_rest, own_class_scores, stack_decisions
from .base import per_class_notes
from .base import check_is_fitted, check_row_features, validate_data, warn_not_converged
from .base import positional_metadata_deprecated
from ._lupi_base import _dask_features, _is_dask, _on_partitions
from .errors import DataError
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
    estimators_ : list of SVC or float
        One binary SVC per class (one for ``classes_[1]`` when there are two classes); a float
        (+1 or -1) where the rows of positive weight hold one side of the problem only (the
        SVM's decision is then that constant).
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
        # rows of weight 0 are left out of the fit (they cannot be support vectors): libsvm
        # drops them itself but then misreads a precomputed kernel's columns (decision values
        # off by up to 12 against kernel="linear" on 60 rows with every fifth weight 0)
        keep = sw > 0
        K_fit = K if keep.all() else K[np.ix_(keep, keep)]

        def fit_binary(k, y_pm):
            y_fit = y_pm[keep]
            if np.all(y_fit == y_fit[0]):
                # every row of the other side has weight 0 (KMM can weigh a class absent from
                # the target to 0): the weighted SVM's optimum is w = 0 with its decision at
                # the margin of the side left, b = +-1
                return float(y_fit[0])
            return SVC(C=self.C, kernel="precomputed", tol=self.tol).fit(K_fit, y_fit,
                                                                        sample_weight=sw[keep])

        self.estimators_ = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self.X_fit_ = X if keep.all() else X[keep]
        K_rows = K if keep.all() else K[:, keep]
        D = stack_decisions([_svc_decision(est, K_rows) for est in self.estimators_])
        self.noise_scores_ = -own_class_scores(D, y_idx)
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """One-vs-rest scores, (n,) for two classes and (n, C) otherwise."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        K = self.kernel_(X, self.X_fit_)
        return stack_decisions([_svc_decision(est, K) for est in self.estimators_])


def _svc_decision(est, K):
    """Decision values of one binary problem of :class:`SVMClassifier`: its SVC's, or the
    constant of a problem left with one side (see ``fit``)."""
    return np.full(K.shape[0], est) if isinstance(est, float) else est.decision_function(K)


def _labels_like_rows(y_idx, chunks):
    """A label index vector as a Dask vector in the rows' partitions."""
    import dask.array as da

    return da.from_array(np.asarray(y_idx), chunks=(chunks,))


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
    solver : {"auto", "smo", "primal"}, default="auto"
        ``"smo"``: the kernel path (the KMM QP on the kernel matrix,
        ``kmm_weights(solver="kernel")``, then libsvm). ``"primal"``: explicit
        features ``z`` (the rows themselves for a linear kernel, ``features`` for an RBF kernel)
        fitted once on the training rows: KMM on them
        (:func:`webly.weighting.kmm_weights_primal`, no kernel matrix), then a primal C-SVM
        per class (:func:`webly.solvers.primal.svmplus_primal` without privileged features,
        row ``i``'s weight ``C`` times its KMM weight; rows of weight 0 are left out).
        ``"auto"``: the kernel path while its peak memory fits in ``memory_limit``, about
        :data:`webly.weighting.KMM_ALM_ARRAYS` (n, n) float64 arrays with ``X_target`` and
        1.4 without (libsvm), else the primal path, said in a WARNING log line
        (:func:`webly.kernels.choose_solver`). X (and ``X_target``) as row-chunked Dask arrays
        take the primal path on their cluster: the map fitted as in memory, KMM's passes over
        the rows as maps over the partitions, the C-SVMs solved there; the labels and the KMM
        weights are n-vectors in this process, ``noise_scores_``, ``decision_function`` and
        ``predict`` of Dask rows are lazy Dask arrays. A kernel ``solver`` is refused then.
    features : {"nystroem", "rbf_sampler"}, default="nystroem"
        Approximate RBF map of the primal path (:class:`webly.solvers.primal.FeatureMap`), at
        the kernel path's bandwidth.
    n_components : int, default=512
        Features of that map.
    random_state : int, RandomState or None, default=None
        Seed of the map.
    memory_limit : int, str or None, default=None
        Bytes (or ``"8G"``-style) the kernel path may take; None: the memory available now (or
        ``WEBLY_MEMORY_LIMIT``).

    Attributes
    ----------
    sample_weights_ : (n,) array
        The KMM weights of the training rows.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    classes_, kernel_, estimators_, noise_scores_
        As :class:`SVMClassifier` (the SVCs are fitted with the weighted ``C``; ``kernel_`` and
        ``estimators_`` on the kernel path).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features (``solver="primal"``).
    coef_, intercept_ : (n_models, n_features_out) and (n_models,) arrays
        ``f(x) = coef_[k]' z(x) + intercept_[k]`` per one-vs-rest model (``solver="primal"``).
    n_iter_ : (n_models,) int array
        Newton steps of each primal C-SVM (``solver="primal"``).

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
        "solver": [StrOptions({"auto", "smo", "primal"})],
        "features": [StrOptions({"nystroem", "rbf_sampler"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "memory_limit": [Interval(Real, 0, None, closed="neither"), str, None],
    }

    #: (n, n) float64 arrays of the kernel path without X_target (libsvm on the kernel: peak
    #: resident memory 1.35 n^2 x 8 bytes at n = 3,000 and 6,000, as SVM+ without X_priv)
    _SVM_KERNEL_ARRAYS = 1.4

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, class_weight: str | dict | None = None,
                 tol: float = 1e-3, n_jobs: int | None = None, B: float = 1000.0,
                 eps: float | None = None, solver: str = "auto", features: str = "nystroem",
                 n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None) -> None:
        super().__init__(C=C, kernel=kernel, gamma=gamma, gamma_scale=gamma_scale,
                         class_weight=class_weight, tol=tol, n_jobs=n_jobs)
        self.B = B
        self.eps = eps
        self.solver = solver
        self.features = features
        self.n_components = n_components
        self.random_state = random_state
        self.memory_limit = memory_limit

    def fit(self, X: ArrayLike, y: ArrayLike, *, X_target: ArrayLike | None = None,
            sample_weight: ArrayLike | None = None) -> Self:
        """Weight the rows of X towards ``X_target`` with KMM, then fit the weighted SVM."""
        from sklearn.utils.validation import _num_samples

        from .kernels import choose_solver, dask_solver
        from .weighting import KMM_ALM_ARRAYS, kmm_weights

        self._validate_params()
        if _is_dask(X) or _is_dask(X_target):  # rows on a cluster: only the explicit path
            self.solver_ = dask_solver(type(self).__name__, self.solver, "X or X_target")
            return self._fit_primal(X, y, X_target, sample_weight)
        n = _num_samples(X)
        arrays = self._SVM_KERNEL_ARRAYS
        if X_target is not None:  # KMM's QP on the kernel alone, then the SVM
            arrays = max(KMM_ALM_ARRAYS, self._SVM_KERNEL_ARRAYS)
        self.solver_ = choose_solver(
            self, n, arrays,
            what="the rows themselves (linear kernel)" if self.kernel == "linear" else
            f"explicit features ({self.features}, {self.n_components} components)")
        if self.solver_ == "primal":
            return self._fit_primal(X, y, X_target, sample_weight)
        for attr in ("feature_map_", "coef_", "intercept_", "n_iter_"):
            self.__dict__.pop(attr, None)
        X, y = validate_data(self, X, y)
        if X_target is None:
            w = np.ones(len(y))
        else:
            X_target = check_row_features("X_target", X_target, allow_sparse=False)
            gamma = (self.gamma if self.kernel == "linear" or self.gamma
                     else self.gamma_scale * default_gamma(X))
            # the memory was checked above, on this estimator's figure
            w, info = kmm_weights(X, X_target, kernel=self.kernel, gamma=gamma, B=self.B,
                                  eps=self.eps, solver="kernel", memory_limit=np.inf)
            if info["status"] != "optimal":
                warn_not_converged(self, [f"the KMM QP is {info['status']}; the weights are "
                                          "approximate (try another B or eps)"])
        self.sample_weights_ = w
        if sample_weight is not None:
            w = w * _check_sample_weight(sample_weight, X)
        return super().fit(X, y, sample_weight=w)

    def _fit_primal(self, X, y, X_target, sample_weight):
        """``solver="primal"``: explicit features, KMM on them, one primal C-SVM per class."""
        from sklearn.utils import check_random_state

        from .base import status_note
        from .solvers.primal import FeatureMap, _dask_default_gamma, blas_threads, svmplus_primal
        from .weighting import kmm_weights_primal

        on_dask = _is_dask(X)
        if on_dask:
            X = _dask_features("X", X).rechunk({1: -1})
            self.n_features_in_ = X.shape[1]
            self.__dict__.pop("feature_names_in_", None)
            # the labels are an n-vector: computed to this process (the rows stay on the cluster)
            y = y.compute() if _is_dask(y) else np.asarray(y)
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise DataError("y", f"must be one label per row ({X.shape[0]}), got shape "
                                     f"{y.shape}")
            # the bandwidth rule (x gamma_scale) as a reduction over the partitions
            gamma = (None if self.kernel == "linear" else self.gamma if self.gamma is not None
                     else self.gamma_scale * _dask_default_gamma(X))
        else:
            if _is_dask(X_target):
                raise DataError("X", "must be a Dask array when X_target is one; pass "
                                     "X_target.compute() or X as a Dask array")
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
            gamma = Kernel(self.kernel, self.gamma, self.gamma_scale).fit(X).gamma_
        self.classes_, y_idx = encode_targets(y)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.feature_map_ = FeatureMap("linear" if self.kernel == "linear" else self.features,
                                       gamma=gamma, n_components=self.n_components,
                                       random_state=seed).fit(X)
        Z = self.feature_map_.transform(X)
        if on_dask:  # mapped once on the cluster: KMM and every C-SVM read it many times
            Z = Z.persist()
        notes = []
        if X_target is None:
            w = np.ones(len(y))
        else:
            if _is_dask(X_target):
                X_target = _dask_features("X_target", X_target, X.shape[1]).rechunk({1: -1})
            else:
                X_target = check_row_features("X_target", X_target, allow_sparse=False,
                                              keep_float32=True)
                if X_target.shape[1] != X.shape[1]:
                    raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                                f"{X.shape[1]}")
            w, info = kmm_weights_primal(Z, self.feature_map_.transform(X_target), B=self.B,
                                         eps=self.eps)
            if info["status"] != "optimal":
                notes.append(f"the KMM solve stopped ({info['status']} after {info['n_iter']} "
                             "L-BFGS-B iterations, relative duality gap "
                             f"{info['gap']:.2g}); the weights are approximate (try another B "
                             "or eps)")
        self.sample_weights_ = w
        sw = w if sample_weight is None else w * _check_sample_weight(sample_weight, y)
        if self.class_weight is not None:
            sw = sw * compute_sample_weight(self.class_weight, y)
        # a row of weight 0 has no term in the SVM (libsvm's C_i = 0); the primal needs C_i > 0
        keep = np.flatnonzero(sw > 0)
        Zk = Z if len(keep) == len(sw) else Z[keep]  # on Dask: a selection of each partition
        C = self.C if np.all(sw[keep] == 1) else self.C * sw[keep]

        def fit_binary(k, y_pm):
            return svmplus_primal(Zk, y_pm[keep], None, C=C, tol=self.tol, n_threads=None)

        # one process-wide BLAS limit around all problems (webly.solvers.primal.blas_threads)
        with blas_threads(1):
            models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        for attr in ("kernel_", "X_fit_", "estimators_"):
            self.__dict__.pop(attr, None)
        self.coef_ = np.vstack([m[0] for m in models])
        self.intercept_ = np.array([m[1] for m in models], dtype=np.float64)
        self.n_iter_ = np.array([m[4]["n_iter"] for m in models], dtype=np.int64)
        warn_not_converged(self, notes + per_class_notes(
            self.classes_, [status_note(m[4], "raise tol") for m in models]))
        if on_dask:  # one score per row, computed where the partitions live (lazy)
            import dask.array as da

            self.noise_scores_ = da.blockwise(
                self._noise_block, "i", Z, "ij", _labels_like_rows(y_idx, Z.chunks[0]), "i",
                concatenate=True, dtype=np.float64, meta=np.empty((0,), dtype=np.float64))
        else:
            self.noise_scores_ = -own_class_scores(self._primal_decision(Z), y_idx)
        return self

    def _noise_block(self, Zb, yb):
        return -own_class_scores(self._primal_decision(Zb), yb)

    def _primal_decision(self, Z):
        return stack_decisions([
            np.asarray(Z @ coef.astype(Z.dtype, copy=False), dtype=np.float64) + b
            for coef, b in zip(self.coef_, self.intercept_)])

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class of each row; a Dask X (``solver="primal"``) gives a Dask vector, lazy."""
        if _is_dask(X):
            return _on_partitions(self, self.predict, X, self.classes_.dtype, None)
        return super().predict(X)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """One-vs-rest scores, (n,) for two classes and (n, C) otherwise; a Dask X
        (``solver="primal"``) gives a Dask array with its row chunks, lazy."""
        if getattr(self, "feature_map_", None) is None:
            return super().decision_function(X)
        if _is_dask(X):  # a Dask vector (or (n, C) array) with X's row chunks, lazy
            return _on_partitions(self, self.decision_function, X, np.float64,
                                  None if len(self.classes_) == 2 else len(self.classes_))
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._primal_decision(self.feature_map_.transform(X))
