"""What every MIL estimator of webly shares: bag checks, the multi-class driver, bag outputs.

A multi-class web crawl is learned one query class at a time (one-vs-rest over classes, through
:func:`webly.base.one_vs_rest`): for class c, the bags of query c are positive bags and the rows of
all other queries are negative instances. A binary MIL set (``y`` in {0, 1} per bag) is the same
with one class. Each binary fit returns a :class:`BinaryMIL`: dual coefficients over the training
rows and an intercept, so ``f(x) = sum_i coef_i k(x_i, x) + intercept`` for every method.

The estimators with ``solver="primal"`` (sMIL, sbMIL, sMIL-PI, mi-SVM, mi-SVM-PI, MI-SVM,
MIL-CPB, MIL-CPB-PI, and the -DA variants sMIL-PI-DA, mi-SVM-PI-DA, MIL-CPB-PI-DA) instead map
the rows to explicit features ``z(x)`` (the rows themselves for a linear kernel, Nystroem or
random Fourier features for an RBF kernel: :class:`webly.solvers.primal.FeatureMap`) and solve
the same problems in the primal (:func:`webly.solvers.primal.svmplus_primal`), in O(n d)
memory with no (n, n) kernel; their :class:`BinaryMIL` holds weights over the features,
``f(x) = coef' z(x) + intercept``. The -DA term needs only the mean feature row of the
unlabelled target rows (``MILContext.target_mean``, computed once, block by block, so
``X_target`` may be large).

**On Dask** (issue 18 item 4), sMIL, sbMIL, sMIL-PI, mi-SVM, mi-SVM-PI, MI-SVM, MIL-CPB and
MIL-CPB-PI, and the -DA variants sMIL-PI-DA, mi-SVM-PI-DA and MIL-CPB-PI-DA, also fit rows
held as a row-chunked :class:`dask.array.Array` (``X``, and ``X_priv`` in the same row chunks;
a numpy ``X_priv`` is sent there): ``solver="auto"`` takes the primal path, a kernel solver
named explicitly raises a :class:`~webly.errors.DataError` naming the fix, as SVM+ does. ``y``
and ``bags`` are per-row vectors, numpy or Dask, computed here once (10^7 of them take 80 MB);
the rows never are. ``X_target`` (numpy, or a Dask array in
any row chunks) enters only through the mean of its mapped rows: a Dask one is mapped where its
partitions live and their column sums added in one reduction; the -DA solve then runs on the
cluster as the others (its rows there in float64, as the in-memory -DA solve computes). The feature map is fitted as SVM+ fits it on Dask (the bandwidth rule as a reduction, the
Nystroem landmarks fetched) and applied where the partitions live; the positive bags' mean rows
(few: one per positive bag) come from one map-reduce (:func:`webly.mil._toolkit.bag_mean_rows`)
while the negative rows stay in their partitions (:func:`webly.mil._toolkit.unit_problem`); every
solve runs on the cluster (:mod:`webly.solvers._rows`: data-parallel full-batch Newton), and each
relabelling round of mi-SVM(-PI) / MI-SVM scores all rows with one map over the partitions and
relabels on the numpy n-vector. MIL-CPB(-PI)'s solves take its per-labelling feature blocks as
a :class:`~webly.solvers.block_rows.DaskBlockRows` (each partition builds its rows' blocks from
its labellings, sent there once each, and the small MKL weights), and each cutting-plane round
brings the positive-bag instances' leave-self-out scores here for the labelling search, whose
label norms are a map-reduce (:func:`webly.mil._cutting_plane.milcpb_binary_primal`; the -DA
correcting function of MIL-CPB-PI-DA is on the blocks' own rows, a view of the same persisted
rows). The
fit equals the in-memory primal fit up to the order of floating-point sums (``tests/mil/test_mil_dask.py``). ``decision_function`` and ``predict`` of a
Dask X give lazy Dask arrays in its row chunks, ``noise_scores_`` of a Dask fit is one too (as
SVM+'s ``correcting_function_``; :func:`webly.persist.save` computes it into the file), and the bag
outputs (``bag_decision_function``, ``predict_bags``) are numpy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _num_samples

from .._lupi_base import _dask_features, _dask_fit_rows, _is_dask, _on_partitions
from ..base import (WebClassifierMixin, check_bags, check_is_fitted, check_row_features,
                    check_row_metadata,
                    encode_targets, one_vs_rest, own_class_scores, stack_decisions,
                    per_class_notes, renamed_parameter, validate_data, warn_data,
                    warn_not_converged)
from ..errors import DataError
from ..kernels import (KERNEL_FIT_ARRAYS, Kernel, bag_index, choose_solver, dask_solver,
                       ovr_fit_arrays)
from ..metrics import bag_scores, labels_from_bag_scores

if TYPE_CHECKING:
    import dask.array as da
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
    # (d,) mean feature row of the target rows (solver="primal" with X_target)
    target_mean: np.ndarray | None = None


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
    #: kernel-sized (n x n float64) arrays the kernel path of one binary problem holds at its
    #: peak, kernels and the solver's working set included: benchmarks/kernel_memory.py's
    #: tracemalloc peak at n = 10,000, rounded up (subclasses set theirs; a one-vs-rest fit
    #: counts it once per thread, :func:`~webly.kernels.ovr_fit_arrays`)
    _KERNEL_FIT_ARRAYS: float = KERNEL_FIT_ARRAYS

    def _kernel_fit_arrays(self, has_priv, has_target):
        """This fit's figure for one binary problem (see ``_KERNEL_FIT_ARRAYS``)."""
        return self._KERNEL_FIT_ARRAYS

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
        if _is_dask(X) or _is_dask(X_priv):
            self.solver_ = self._dask_solver()
            return self._fit_mil_primal(X, y, bags, X_priv, X_target)
        arrays = ovr_fit_arrays(self._kernel_fit_arrays(X_priv is not None, X_target is not None),
                                getattr(self, "n_jobs", None), len(np.unique(np.asarray(y))))
        if hasattr(self, "solver"):
            self.solver_ = choose_solver(
                self, _num_samples(X), arrays,
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
        K = self.kernel_(X, fit_arrays=arrays)
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

        self._warn_missing_metadata(bags, X_priv)
        on_dask = _is_dask(X) or _is_dask(X_priv)
        if on_dask:
            X, y, bags, X_priv = self._dask_rows(X, y, bags, X_priv)
        else:
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
            bags = check_bags(bags, y, len(y))
            X_priv = check_row_features("X_priv", X_priv, len(y), keep_float32=True)
        self.classes_, y_idx = encode_targets(y)
        # the kernel path's bandwidth (rule x gamma_scale), then the map; one integer seed for
        # both views (deterministic for an int or RandomState random_state)
        gamma = (_dask_gamma(self, X) if on_dask else
                 Kernel(self.kernel, self.gamma, self.gamma_scale).fit(X).gamma_)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        kind = "linear" if self.kernel == "linear" else self.features
        self.feature_map_ = FeatureMap(kind, gamma=gamma, n_components=self.n_components,
                                       random_state=seed)
        Z = self.feature_map_.fit_transform(X)
        if on_dask:  # mapped once: every solve and relabelling round reads it
            Z = Z.rechunk({1: -1}).persist()
        ctx = MILContext(None, bags, X_priv, Z=Z, seed=seed + 1, params={
            new: renamed_parameter(self, old, new) for old, new in self._renamed})
        if X_target is not None:
            ctx.target_mean, ctx.n_target = self._target_mean(X_target, X.shape[1])
        for attr in ("kernel_", "X_fit_"):
            self.__dict__.pop(attr, None)
        # one process-wide BLAS limit around all problems (webly.solvers.primal.blas_threads)
        with blas_threads(1):
            self.models_ = one_vs_rest(lambda k, y_pm: self._fit_binary_primal(ctx, y_pm),
                                       self.classes_, y_idx, n_jobs=self.n_jobs)
        warn_not_converged(self, per_class_notes(
            self.classes_, [m.info.get("not_converged", []) for m in self.models_]))
        self.n_iter_ = np.array([m.n_iter for m in self.models_])
        if on_dask:
            self.noise_scores_ = _dask_noise_scores(self.models_, Z, y_idx)
        else:
            self.noise_scores_ = -own_class_scores(self._decision_from_kernel(Z), y_idx)
        return self

    # --- rows on a Dask cluster (solver="primal" only) ------------------------------------------
    def _dask_solver(self):
        """The solver of a fit whose X (or X_priv) is a Dask array: the primal path (every
        estimator with a ``solver``, ``X_target`` included), or a
        :class:`~webly.errors.DataError` naming the fix (as SVM+ on Dask)."""
        name = self._method_name
        if not hasattr(self, "solver"):
            raise DataError("X", f"{name} has no explicit-feature (primal) path, so it cannot "
                                 "fit on a Dask array; pass X.compute() (rows in memory) or use "
                                 "mi-SVM(-PI)(-DA), MI-SVM, sMIL, sbMIL, sMIL-PI(-DA) or "
                                 "MIL-CPB(-PI)")
        return dask_solver(type(self).__name__, self.solver)

    def _dask_rows(self, X, y, bags, X_priv):
        """Checked ``X, y, bags, X_priv`` of a fit on a row-chunked Dask X: X stays a Dask array
        (its values are checked by the solver, on the cluster), ``y`` and ``bags`` become numpy
        n-vectors (computed once if Dask: 10^7 of them take 80 MB), and ``X_priv`` a Dask array
        in X's row chunks (a dense numpy one is sent there)."""
        import dask.array as da

        if not _is_dask(X):
            raise DataError("X", "must be a Dask array when X_priv is one (the rows of both "
                                 "views are partitioned together)")
        X, n, X_priv = _dask_fit_rows(self, X, X_priv)
        X = X.rechunk({1: -1})
        y = np.asarray(y.compute() if _is_dask(y) else y)
        if y.ndim != 1 or y.shape[0] != n:
            raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
        if _is_dask(bags):
            bags = bags.compute()
        bags = check_bags(bags, y, n)
        if X_priv is not None:
            if _is_dask(X_priv):
                if X_priv.chunks[0] != X.chunks[0]:
                    raise DataError("X_priv", f"has row chunks {X_priv.chunks[0]} but X has "
                                              f"{X.chunks[0]}; partition both views alike "
                                              "(X_priv.rechunk({0: X.chunks[0]}))")
                X_priv = X_priv.rechunk({1: -1})
            else:
                X_priv = check_row_features("X_priv", X_priv, n, allow_sparse=False,
                                            keep_float32=True)
                X_priv = da.from_array(X_priv, chunks=(X.chunks[0], -1))
        return X, y, bags, X_priv

    #: target rows mapped at once when averaging their features (bounds the temporary memory)
    _TARGET_BLOCK = 16384

    def _target_mean(self, X_target, n_features):
        """``(mean of feature_map_(X_target) over its rows, number of rows)``: the -DA term's
        target centre on the primal path, mapped block by block; a row-chunked Dask
        ``X_target`` is mapped where its partitions live and their float64 column sums are
        added in one reduction (only the (d,) mean reaches this process)."""
        if _is_dask(X_target):
            return self._dask_target_mean(X_target, n_features)
        X_target = check_row_features("X_target", X_target, keep_float32=True)
        if X_target.shape[1] != n_features:
            raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                        f"{n_features}")
        n_t = X_target.shape[0]
        total = np.zeros(self.feature_map_.n_features_out_)
        for lo in range(0, n_t, self._TARGET_BLOCK):
            Zt = self.feature_map_.transform(X_target[lo:lo + self._TARGET_BLOCK])
            total += np.asarray(Zt.sum(axis=0, dtype=np.float64)).ravel()
        return total / n_t, n_t

    def _dask_target_mean(self, X_target, n_features):
        """:meth:`_target_mean` of a row-chunked Dask ``X_target``: one map-reduce."""
        X_target = _dask_features("X_target", X_target)
        if any(np.isnan(c) for c in X_target.shape):
            raise DataError("X_target", "has unknown chunk sizes; call compute_chunk_sizes() "
                                        "first")
        if X_target.shape[1] != n_features:
            raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                        f"{n_features}")
        n_t = X_target.shape[0]
        if n_t == 0:
            raise DataError("X_target", "has no rows; pass at least one target row")
        import dask

        X_target = X_target.rechunk({1: -1})
        # one pass: the mapped rows' column sums, and the rows' sum (finite: finite entries)
        total, check = dask.compute(
            self.feature_map_.transform(X_target).sum(axis=0, dtype=np.float64),
            X_target.sum(dtype=np.float64))
        if not (np.isfinite(check) and np.all(np.isfinite(total))):
            raise DataError("X_target", "contains NaN or infinite values; impute or drop "
                                        "those rows")
        return np.asarray(total, dtype=np.float64) / n_t, n_t

    def _decision_from_kernel(self, K):
        """Scores from the test-train kernel, or from features on the primal path."""
        return stack_decisions([m.decision(K) for m in self.models_])

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64] | da.Array:
        """Instance scores, (n,) for two classes and (n, C) otherwise.

        A Dask X (rows in partitions) gives a Dask array with its row chunks, computed where the
        partitions live (lazy: call ``.compute()`` or keep working on the cluster), as SVM+.
        """
        if _is_dask(X):
            binary = len(self.classes_) == 2
            return _on_partitions(self, self.decision_function, X, np.float64,
                                  None if binary else len(self.classes_))
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

    def predict(  # type: ignore[override]  # a Dask X gives a Dask vector
        self, X: ArrayLike
    ) -> NDArray[Any] | da.Array:
        """Class of each row (see :meth:`decision_function`); a Dask X gives a Dask vector."""
        if _is_dask(X):
            return _on_partitions(self, self.predict, X, self.classes_.dtype, None)
        return super().predict(X)

    def bag_decision_function(self, X: ArrayLike,
                              bags: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64]]:
        """``(bag_ids, scores)``: one score per bag (and class), by the method's bag rule.

        With a Dask X (or bags) the instance scores are computed where the partitions live
        and brought here as one n-vector (n x C) with the bag ids: the bag outputs are numpy.
        """
        if _is_dask(bags):
            bags = bags.compute()
        bags = check_row_metadata("bags", bags, np.shape(X)[0])
        D = self.decision_function(X)
        ids, S = bag_scores(D.compute() if _is_dask(D) else D, bags, self.bag_rule)
        codes, _ = bag_index(bags)
        offset = self._bag_offset(np.bincount(codes).astype(float))
        return ids, S + (offset if S.ndim == 1 else offset[:, None])

    def predict_bags(self, X: ArrayLike,
                     bags: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``(bag_ids, labels)`` of the bags of X (see :meth:`bag_decision_function`)."""
        ids, S = self.bag_decision_function(X, bags)
        return ids, labels_from_bag_scores(S, self.classes_)


def _dask_gamma(est, X):
    """The kernel path's RBF bandwidth (``gamma``, or the rule x ``gamma_scale``) from a Dask X:
    the rule's mean squared distance as one reduction over the partitions."""
    if est.kernel != "rbf":
        return None
    if est.gamma is not None:
        return float(est.gamma)
    from ..solvers.primal import _dask_default_gamma

    return est.gamma_scale * _dask_default_gamma(X)


def _own_scores_block(Z, y_idx, models):
    return -own_class_scores(stack_decisions([m.decision(Z) for m in models]), y_idx)


def _dask_noise_scores(models, Z, y_idx):
    """``noise_scores_`` of a fit on Dask rows: a lazy Dask vector in Z's row chunks (as SVM+'s
    ``correcting_function_``; :func:`webly.persist.save` computes it into the file)."""
    import dask.array as da

    y_idx = da.from_array(np.asarray(y_idx), chunks=(Z.chunks[0],))
    return da.blockwise(_own_scores_block, "i", Z, "ij", y_idx, "i", models=models,
                        dtype=np.float64, concatenate=True,
                        meta=np.empty((0,), dtype=np.float64))


__all__ = ["BinaryMIL", "MILContext", "MILClassifierBase"]
