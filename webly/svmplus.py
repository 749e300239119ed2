"""Learning using privileged information: SVM+, L2-loss SVM+ and generalized distillation.

All three fit ``fit(X, y, X_priv=None)``: ``X_priv`` (n, d~) are privileged features of the
training rows (text, tags) that are not available at test time. Without ``X_priv`` SVM+ is the
C-SVM, L2-SVM+ the L2-loss SVM and GD a kernel ridge (least-squares) classifier. Multi-class
problems are one-vs-rest (SVM+ through :func:`webly.base.one_vs_rest`, L2-SVM+ through its
labellings :func:`webly.base.ovr_labels`, solved in one shared buffer) or a single multi-output
fit (GD).

SVM+ and L2-SVM+ have two paths: ``solver="smo"`` (default) solves the exact kernel dual;
``solver="primal"`` solves the same problem on explicit features (the rows for a linear kernel,
Nystroem or random Fourier features for an RBF kernel) in the primal, for 10^5-10^6 rows (see
:mod:`webly.solvers.primal`), e.g. ``SVMPlusClassifier(solver="primal", features="nystroem",
n_components=512)``.

Config registry names: ``SVM+`` -> :class:`SVMPlusClassifier`, ``L2-SVM+`` ->
:class:`L2SVMPlusClassifier`, ``GD`` -> :class:`GDClassifier` (:mod:`webly.experiments.registry`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions
from typing import TYPE_CHECKING

from ._lupi_base import _KernelLUPIBase
from .base import one_vs_rest, ovr_labels, positional_metadata_deprecated, stack_decisions

if TYPE_CHECKING:
    import dask.array as da
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix
    from typing_extensions import Self

__all__ = ["SVMPlusClassifier", "L2SVMPlusClassifier", "GDClassifier"]


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
    solver : {"auto", "smo", "primal"}, default="auto"
        ``auto``: ``smo`` while its peak memory (2.6 n x n float64 arrays with X_priv, 1.4
        without: ``benchmarks/kernel_memory.py``, n = 10,000; less with ``kernel_dtype=
        "float32"``; 0.5 more per further one-vs-rest thread, the solver's working set) fits
        in ``memory_limit``, else
        ``primal``, said in a log line (WARNING; the choice is ``solver_``).
        ``smo``: the exact kernel dual (needs the (n, n) kernels; up to a few 10^4 rows); above
        ``memory_limit`` it fails at once with the figure.
        ``primal``: the large-data path of :mod:`webly.solvers.primal`: the same SVM+ problem on
        explicit features, solved in the primal (augmented Lagrangian, Newton steps) in
        O(n (d + d~)) memory. A linear kernel uses the rows themselves (then it is exactly the
        problem ``smo`` solves with linear kernels); an RBF kernel (on either view) is
        approximated by ``features`` with ``n_components`` features, with the same bandwidths
        (``gamma``, ``gamma_priv`` or the 1 / mean squared distance rule). Precomputed kernels
        are refused. ``tol`` is then the largest constraint violation in margin units.
        X and X_priv may be row-chunked Dask arrays (y numpy or Dask): ``auto`` then takes
        ``primal``, which solves on their cluster (each pass over the rows a map-reduce over
        the partitions; the model equals the in-memory fit to rounding), and
        ``decision_function`` / ``predict`` of a Dask X return Dask arrays;
        :func:`webly.formats.read_parquet_dask` reads parquet files as such arrays.
    features : {"nystroem", "rbf_sampler"}, default="nystroem"
        Approximate feature map of an RBF kernel with ``solver="primal"``:
        :class:`sklearn.kernel_approximation.Nystroem` or random Fourier features
        (:class:`~sklearn.kernel_approximation.RBFSampler`). Ignored otherwise.
    n_components : int, default=512
        Features of that map on each RBF view (Nystroem uses at most n training rows).
    random_state : int, RandomState or None, default=None
        Seeds the feature maps (``solver="primal"``); the solvers are deterministic.
    memory_limit : float, str or None, default=None
        Memory the kernel path may take (bytes, or a size such as ``"8G"``); None: the memory
        available now (or the ``WEBLY_MEMORY_LIMIT`` environment variable). Used by ``solver``.
    kernel_dtype : {"float64", "float32"}, default="float64"
        Precision in which ``smo`` stores the kernels K and K~ (computed in float64 and rounded
        once, block by block: no float64 copy is made); the solver's gradient, dual variables
        and sums stay float64 (:func:`webly.solvers.smo_solve`). ``"float32"`` halves the
        kernels' memory: the peak of a fit with X_priv at n = 10,000 is 1.6 instead of 2.6
        n x n float64 arrays. Measured against float64 by ``python benchmarks/solver_speed.py
        --only-float32`` (SVM+ on its web and hard problems at n = 5,000 and 10,000, KKT
        tolerance 5e-4): dual objectives within 9e-8 to 5e-7 relative, the same predicted
        label on every training row, solve times 0.6 to 1.7 times float64's (no steady gain:
        the solver's inner loops read its float64 working-set Hessian, the kernels only fill
        it and update the gradient). It is not the default because the float32 kernels'
        optimum is not always within 1e-6 of the float64 one: 2.5e-6 (relative) on the hard
        problem at n = 2,000, both solved to KKT tolerance 1e-7 (same script). Ignored by
        ``primal`` (which keeps float32 rows as float32).

    Attributes
    ----------
    solver_ : {"smo", "primal"}
        The solver this fit used (``solver="auto"`` chooses by memory).
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
        Solver iterations of each model: active-set rounds plus decomposition moves
        (``smo``; with a linear privileged kernel the active-set start usually solves it, see
        :mod:`webly.solvers.pdas`), or Newton steps (``primal``).
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
    >>> from webly import SVMPlusClassifier
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
        "solver": [StrOptions({"auto", "smo", "primal"})],
        # checked in fit by webly.solvers.check_kernel_dtype (a DataError naming it)
        "kernel_dtype": "no_validation",
    }
    #: peak of the kernel path in n x n float64 arrays with float32 kernels (without, with
    #: X_priv): with X_priv measured (1.58 and 1.57 at n = 10,000, `benchmarks/solver_speed.py
    #: --only-float32`); without, the float64 figure 1.4 less half of its one kernel
    _KERNEL_ARRAYS_FLOAT32 = (0.9, 1.6)

    def __init__(self, C: float = 1.0, gamma_plus: float = 1.0, kernel: str = "rbf",
                 gamma: float | None = None, kernel_priv: str = "linear",
                 gamma_priv: float | None = None, tol: float = 1e-3, max_iter: int | None = None,
                 n_jobs: int | None = None, solver: str = "auto", features: str = "nystroem",
                 n_components: int = 512, random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None, kernel_dtype: str = "float64") -> None:
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
        self.memory_limit = memory_limit
        self.kernel_dtype = kernel_dtype

    def _kernel_fit_arrays(self, has_priv, has_target=False):
        from .solvers import check_kernel_dtype

        if check_kernel_dtype(self.kernel_dtype) == np.float32:
            return self._KERNEL_ARRAYS_FLOAT32[bool(has_priv)]
        return super()._kernel_fit_arrays(has_priv)

    @positional_metadata_deprecated("X_priv")
    def fit(self, X: ArrayLike | spmatrix, y: ArrayLike, *,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """Fit on rows X with labels y and, optionally, privileged features X_priv (n, d~)."""
        from .solvers import check_kernel_dtype, kernel_matvec, smo_solve, svm_qp, svmplus_qp
        from .solvers.pdas import privileged_factor

        dtype = check_kernel_dtype(self.kernel_dtype)
        self.solver_ = self._choose_solver(X, X_priv, y)
        if self.solver_ == "primal":
            from .solvers.primal import svmplus_primal

            models = self._fit_primal(X, y, X_priv, svmplus_primal)
            self.intercept_priv_ = np.array([m[3] for m in models], dtype=np.float64)
            return self
        X, X_priv, y_idx, K = self._prepare(X, y, X_priv, dtype)
        Kp = None
        if X_priv is not None:
            Kp = np.ascontiguousarray(
                self.kernel_priv_(X_priv, fit_arrays=self._kernel_fit_arrays(True), dtype=dtype),
                dtype=dtype)
        factor = privileged_factor(X_priv, self.kernel_priv)

        def fit_binary(k, y_pm):
            if Kp is None:
                qp = svm_qp(K, y_pm, C=self.C)
            else:
                qp = svmplus_qp(K, y_pm, Kp, C=self.C, gamma_plus=self.gamma_plus,
                                factor=factor)
            x, info = smo_solve(qp, tol=self.tol / 2.0, max_iter=self.max_iter,
                                kernel_dtype=dtype)
            a = x[:len(y_pm)]
            b = float(info["multipliers"][0])
            if Kp is None:
                f = kernel_matvec(K, a * y_pm) + b
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
        self.n_iter_ = np.array([m[4]["n_iter"] + m[4]["n_active_set_rounds"] for m in models],
                                dtype=np.int64)
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
    kernel, gamma, kernel_priv, gamma_priv
        As in :class:`SVMPlusClassifier`.
    solver : {"auto", "smo", "libsvm", "primal"}, default="auto"
        ``auto``: ``smo`` while the kernel path's peak memory (1.4 n x n float64 arrays
        without X_priv, 2.7 with one: the visual kernel, in which each problem's Q is formed,
        the privileged term, and the solver's working set; ``benchmarks/kernel_memory.py``;
        1.5 more per further thread with ``n_jobs`` > 1 and several classes) fits in
        ``memory_limit``, else ``primal`` (said in a
        WARNING log line; the choice is ``solver_``); else webly's SMO solver, or libsvm's
        one-class solver on the precomputed Q, or the large-data primal path of
        :mod:`webly.solvers.primal` (the rho-margin primal of the module docstring of :mod:`webly.solvers.l2svmplus` on explicit features; see
        :class:`SVMPlusClassifier` for the features, ``features`` / ``n_components`` and
        Dask arrays).
    tol : float, default=1e-3
        Stopping gap (KKT tolerance ``tol / 2``); with ``primal``, the largest constraint
        violation relative to the margin.
    max_iter : int or None, default=None
    n_jobs : int or None, default=None
    features, n_components, random_state, memory_limit
        As in :class:`SVMPlusClassifier`.

    Attributes
    ----------
    solver_, classes_, support_, support_vectors_, kernel_, kernel_priv_
        As in :class:`SVMPlusClassifier`.
    coef_, coef_priv_, feature_map_, feature_map_priv_
        As in :class:`SVMPlusClassifier` (``solver="primal"``).
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
    >>> from webly import L2SVMPlusClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> clf = L2SVMPlusClassifier().fit(X, y, X_priv=X[:, :1])
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    _parameter_constraints = {
        **_KernelLUPIBase._parameter_constraints,
        "solver": [StrOptions({"auto", "smo", "libsvm", "primal"})],
    }

    def _kernel_fit_arrays(self, has_priv, has_target=False):
        # benchmarks/kernel_memory.py (tracemalloc): K, in which Q is formed, and the privileged
        # term P (its kernel's own array, factorised and inverted in place), plus the SMO's
        # working set (capped at 4,000 variables: up to 0.4 GB): 2.07-2.21 at n = 10,000 on
        # labels with few free variables, 2.64 on the MIL-like labels of kernel_memory.py's
        # table (1.04 without X_priv, where P = I/C is a scalar)
        return 2.7 if has_priv else 1.4

    #: each further problem solved at once forms its Q in a buffer of its own, plus its working
    #: set (solve_l2svmplus_many)
    _THREAD_ARRAYS = 1.5

    def __init__(self, C: float = 1.0, gamma_plus: float = 1.0, kernel: str = "rbf",
                 gamma: float | None = None, kernel_priv: str = "linear",
                 gamma_priv: float | None = None, solver: str = "auto", tol: float = 1e-3,
                 max_iter: int | None = None, n_jobs: int | None = None, features: str = "nystroem",
                 n_components: int = 512, random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None) -> None:
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
        self.memory_limit = memory_limit

    @positional_metadata_deprecated("X_priv")
    def fit(self, X: ArrayLike | spmatrix, y: ArrayLike, *,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """Fit on rows X with labels y and, optionally, privileged features X_priv (n, d~)."""
        from .solvers.l2svmplus import l2svmplus_privileged_term, solve_l2svmplus_many

        self.solver_ = self._choose_solver(X, X_priv, y)
        if self.solver_ == "primal":
            from .solvers.primal import l2svmplus_primal

            models = self._fit_primal(X, y, X_priv, l2svmplus_primal)
            self.rho_ = np.array([m[4]["margin"] for m in models])
            return self
        X, X_priv, y_idx, K = self._prepare(X, y, X_priv)
        n = X.shape[0]
        # two n x n arrays: K (each problem's Q is formed in it) and P (a scalar 1/C without
        # X_priv; the privileged kernel's own array with another privileged kernel)
        if X_priv is None:
            P = 1.0 / self.C
        elif self.kernel_priv == "linear":
            P = l2svmplus_privileged_term(n, self.C, self.gamma_plus, F_priv=X_priv)
        else:
            K_priv = self.kernel_priv_(X_priv, fit_arrays=self._kernel_fit_arrays(True))
            P = l2svmplus_privileged_term(n, self.C, self.gamma_plus, K_priv=K_priv,
                                          overwrite_K_priv=not np.shares_memory(K_priv, X_priv))
            del K_priv
        ys = ovr_labels(self.classes_, y_idx)
        fits = solve_l2svmplus_many(K, ys, P, solver=self.solver_, tol=self.tol / 2.0,
                                    max_iter=self.max_iter, n_jobs=self.n_jobs,
                                    overwrite_K=not np.shares_memory(K, X))
        del K
        models = [(a * y_pm, info["intercept"], info) for y_pm, (a, info) in zip(ys, fits)]
        self._store_support(X, [m[0] for m in models], [m[1] for m in models])
        self.rho_ = np.array([m[2]["rho"] for m in models])
        self.correcting_function_ = stack_decisions([m[2]["correcting_values"] for m in models])
        self.objective_ = np.array([m[2]["objective"] for m in models])
        self._report([m[2] for m in models], "raise max_iter or tol")
        self.n_iter_ = np.array([m[2]["n_iter"] for m in models], dtype=np.int64)
        return self

    def decision_function(self, X: ArrayLike | spmatrix) -> NDArray[np.float64] | da.Array:
        """Scores ``sum_i a_i y_i (k(x_i, x) + 1)``: (n,) for two classes, (n, C) otherwise.

        The "+1" of ``K + 1`` is the regularised bias ``b = sum a_i y_i`` kept in ``intercept_``.
        """
        return super().decision_function(X)


from .distillation import GDClassifier  # noqa: E402  (the third LUPI method, kept importable)
