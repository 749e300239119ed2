"""Multi-source estimators: MDA-HS, MDA-HS+, MDA-HS+ENR and the per-source baselines.

All estimators fit ``fit(X, y, *, sources=None, X_target=None)`` (MDA-HS+ also ``X_priv``) on
flat source rows: ``X`` an array when every source shares one feature space, or a
:class:`~webly.FeatureBlocks` when sources have their own feature types (the estimators group
the rows by source internally, :class:`~webly.multisource.data.MultiSourceData`). After fitting,
every classifier is a kernel expansion over its support rows, one term per feature type::

    f_c(x) = ( sum_m sum_j coef_{m,j,c} (k_m(x_m, z_{m,j}) + b) + offset_c ) / norm_c

with ``b = kernel_bias_``: 1 (every kernel carries the constant of a regularised bias), 0 for
MDA-HS(+) with ``variant="authors"`` (the release's kernels have none),

so ``decision_function`` takes new target rows: an array in the one-feature-space case, or a
complete FeatureBlocks (or a dict ``{feature type: block}``) in the heterogeneous case.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import (WebClassifierMixin, check_is_fitted, check_row_features, check_row_metadata,
                    encode_targets, stack_decisions,
                    validate_data, warn_not_converged)
from .._lupi_base import _dask_fit_rows, _on_partitions
from ..errors import DataError
from ..kernels import Kernel
from ..solvers._rows import is_dask
from . import _mdahs as A
from ..blocks import (FeatureBlocks, GroupedFeatures, check_block, concat_samples, n_features_of, nan_rows,
                      rows_of, take_samples)
from .data import DEFAULT_FEATURE, MultiSourceData, block_kernel

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self

logger = logging.getLogger(__name__)


def _check_text(X_priv, n):
    """Text features of the source rows; all-NaN rows (whole sources) mean "no text"."""
    missing = None if sp.issparse(X_priv) else nan_rows(X_priv)
    if missing is not None and missing.any():
        T = np.asarray(X_priv, dtype=np.float64)
        check_row_features("X_priv", T[~missing])
        if T.shape[0] != n:
            raise DataError("X_priv", f"has {T.shape[0]} rows but X has {n}")
        return T
    return check_row_features("X_priv", X_priv, n)


def map_block(feature_map, block):
    """Explicit features of a block's samples: the map of its rows (of a grouped block, the
    mean over each sample's rows: the features of the averaged kernel); a Dask block's are a
    Dask array with its row chunks."""
    if is_dask(block):
        return feature_map.transform(block).astype(np.float64)
    Z = np.asarray(feature_map.transform(rows_of(block)), dtype=np.float64)
    if isinstance(block, GroupedFeatures):
        Z = np.asarray(block.averaging_matrix() @ Z)
    return Z


class _KernelBlocks:
    """Kernels of a MultiSourceData: one bandwidth per feature type, blocks per (source, type)."""

    def __init__(self, data, kernels, with_target, bias=1.0):
        self.data = data
        self.kernels = kernels
        names = data.source_names
        self.K_ss, self.K_st = {}, {}
        for s in names:
            for m, block in data.sources[s].items():
                self.K_ss[s, m] = block_kernel(kernels[m], block, block) + bias
                if with_target:
                    self.K_st[s, m] = block_kernel(kernels[m], block, data.target[m]) + bias
        self.K_tt = {}
        if with_target:
            for m in data.feature_types:
                T = data.target[m]
                self.K_tt[m] = block_kernel(kernels[m], T, T) + bias

    def mean_source_kernel(self, s):
        ms = list(self.data.sources[s])
        return sum(self.K_ss[s, m] for m in ms) / len(ms)

    def mean_source_target_kernel(self, s):
        ms = list(self.data.sources[s])
        return sum(self.K_st[s, m] for m in ms) / len(ms)


class _MultiSourceBase(WebClassifierMixin, BaseEstimator):
    """Plumbing shared by the multi-source estimators: data, kernels, per-source classifiers."""

    #: ``fit`` takes X as a :class:`~webly.FeatureBlocks` (sources with their own feature types)
    accepts_feature_blocks = True

    _parameter_constraints = {
        "C_source": [Interval(Real, 0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "solver": [StrOptions({"libsvm", "smo"})],
    }

    # ------------------------------------------------------------------ data
    def _source_data(self, X, y, sources, X_target, X_priv=None):
        """Validate flat rows (``X`` an array or :class:`~webly.FeatureBlocks`) and group them by
        source (:meth:`MultiSourceData.from_rows`)."""
        if is_dask(X) or is_dask(X_priv):
            X, y, X_target, X_priv = self._dask_rows(X, y, X_target, X_priv)
        elif isinstance(X, FeatureBlocks):
            y = check_row_metadata("y", y, X.n_rows)
            if y is None:
                raise DataError("y", "is required (the label of each source row)")
            self.n_features_in_ = X.shape[1]
            self._feature_input = "blocks"
        else:
            X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
            if X_target is not None:
                X_target = check_row_features("X_target", X_target, allow_sparse=False)
                if X_target.shape[1] != X.shape[1]:
                    raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                                f"{X.shape[1]}; use the same feature extractor")
            self._feature_input = "array"
        n = len(y)
        sources = check_row_metadata("sources", sources, n)
        if X_priv is not None and not is_dask(X_priv):
            X_priv = _check_text(X_priv, n)
        return MultiSourceData.from_rows(X, y, sources, X_target, X_priv)

    #: whether ``fit`` takes row-chunked Dask arrays (MDA-HS(+) with ``solver="primal"``)
    _takes_dask = False

    def _dask_rows(self, X, y, X_target, X_priv):
        """Checked Dask ``X`` (and ``X_priv``): their shapes and chunk sizes here, their values
        by the solver on the cluster. The labels, the target rows (n_t, small) and the
        metadata are held here (a Dask ``y`` or ``X_target`` is computed)."""
        if not self._takes_dask:
            raise DataError("X", f"{type(self).__name__} does not take Dask arrays; compute them "
                                 "(or use MDAHS / MDAHSPlus with solver='primal')")
        if not is_dask(X):
            raise DataError("X", "give X as a Dask array too when X_priv is one (chunked like "
                                 "its rows)")
        if X_priv is not None and not is_dask(X_priv):
            raise DataError("X_priv", "give X_priv as a Dask array too when X is one")
        X, n, X_priv = _dask_fit_rows(self, X, X_priv)
        y = check_row_metadata("y", y.compute() if is_dask(y) else y, n)
        if y is None:
            raise DataError("y", "is required (the label of each source row)")
        if X_target is not None:
            X_target = check_row_features("X_target", X_target.compute() if is_dask(X_target)
                                          else X_target, allow_sparse=False)
            if X_target.shape[1] != X.shape[1]:
                raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                            f"{X.shape[1]}; use the same feature extractor")
        self._feature_input = "array"
        return X, y, X_target, X_priv

    def fit_multisource(self, data: MultiSourceData) -> Self:
        """Deprecated: use ``fit(X, y, sources=..., X_target=...)`` with ``X`` a
        :class:`~webly.FeatureBlocks` (:meth:`webly.WebDataset.from_sources` builds one from the
        same dicts). Kept for one release."""
        warnings.warn("fit_multisource(data) is deprecated and will be removed in the next "
                      "release; call fit(X, y, sources=..., X_target=...) with X a "
                      "webly.FeatureBlocks (webly.WebDataset.from_sources builds X, y, sources "
                      "and X_test from the same dicts)", FutureWarning, stacklevel=2)
        if not isinstance(data, MultiSourceData):
            raise DataError("data", "give a webly.multisource.MultiSourceData")
        self._validate_params()
        self._feature_input = "blocks"
        return self._fit_data(data)

    def _setup_rows(self, data):
        """Classes, per-source label indices, sources, feature types and row slices."""
        self.classes_, y_idx = encode_targets(data.all_labels())
        self.sources_ = list(data.source_names)
        self.feature_types_ = list(data.feature_types)
        self._dims = {m: None for m in data.feature_types}
        for s in data.source_names:
            for m, b in data.sources[s].items():
                self._dims[m] = n_features_of(b)
        bounds = np.cumsum([0] + [data.n_source(s) for s in data.source_names])
        self._slices = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(len(bounds) - 1)]
        for key in ("feature_map_", "feature_coef_"):  # the explicit-feature path's (a refit)
            self.__dict__.pop(key, None)
        return y_idx

    def _setup(self, data, kernel_bias=1.0):
        """Classes, per-source label indices and fitted kernels (bandwidth per feature type);
        every kernel block plus ``kernel_bias`` (the constant of a regularised bias, or 0)."""
        y_idx = self._setup_rows(data)
        use_target = self._uses_target() and data.target is not None
        kernels = {}
        for m in data.feature_types:
            rows = [rows_of(data.sources[s][m]) for s in data.source_names if m in data.sources[s]]
            if use_target:
                rows.append(rows_of(data.target[m]))
            kernels[m] = Kernel(self.kernel, self.gamma).fit(np.vstack(rows))
        self.kernels_ = kernels
        self.kernel_bias_ = float(kernel_bias)
        return y_idx, _KernelBlocks(data, kernels, use_target, self.kernel_bias_)

    def _uses_target(self):
        return False

    def _fit_data(self, data):
        """Fit the models (``_fit_models``); one ConvergenceWarning for every solve that stopped
        at a limit (solvers only report a status)."""
        self._not_converged = []
        try:
            self._fit_models(data)
        finally:
            notes = self._not_converged
            del self._not_converged  # not part of the fitted state
        warn_not_converged(self, notes)
        return self

    def _source_classifier(self, blocks, s_pos, y_pm):
        """Unit-norm L2-loss SVM of one source: coefficients over its rows."""
        s = self.sources_[s_pos]
        y_s = y_pm[self._slices[s_pos]]
        beta, info = A.l2svm_source_classifier(blocks.mean_source_kernel(s), y_s, C=self.C_source,
                                               tol=self.tol, max_iter=self.max_iter,
                                               solver=getattr(self, "solver_", self.solver))
        if info["status"] != "converged":  # reported once, at the end of fit
            self._not_converged.append(f"source {s!r}: L2-SVM stopped ({info['status']}; "
                                       "raise max_iter)")
        return beta

    # ------------------------------------------------------------------ expansion
    def _store_expansion(self, data, coefs, norms):
        """Keep the support rows of each feature type and their coefficients per model.

        ``coefs[m]`` is ``(source_coefs, target_coefs)``: ``source_coefs[s]`` (n_s, n_models)
        for each source having m, ``target_coefs`` (n_t, n_models) or None.
        """
        self.expansion_ = {}
        for m in data.feature_types:
            src_c, tgt_c = coefs[m]
            blocks, cols = [], []
            for s in data.source_names:
                if s in src_c:
                    C = src_c[s]
                    keep = np.flatnonzero(np.any(C != 0, axis=1))
                    blocks.append(take_samples(data.sources[s][m], keep))
                    cols.append(C[keep])
            if tgt_c is not None:
                keep = np.flatnonzero(np.any(tgt_c != 0, axis=1))
                blocks.append(take_samples(data.target[m], keep))
                cols.append(tgt_c[keep])
            self.expansion_[m] = (concat_samples(blocks), np.vstack(cols))
        self.norm_ = np.asarray(norms, dtype=np.float64)
        self.offset_ = np.zeros(len(self.norm_))

    def _store_source_average(self, data, models, chosen):
        """The expansion of ``(1/|chosen|) sum_s f_s``: ``models[k][s]`` are the coefficients of
        source position s's classifier in model k. Returns the weight ``1/|chosen|``."""
        w = 1.0 / len(chosen)
        coefs = {}
        for m in data.feature_types:
            src = {}
            for s in chosen:
                name = self.sources_[s]
                if m in data.sources[name]:
                    nf = len(data.sources[name])
                    src[name] = np.column_stack([mod[s] for mod in models]) * (w / nf)
            coefs[m] = (src, None)
        self._store_expansion(data, coefs, np.ones(len(models)))
        return w

    def _features_for_predict(self, X):
        if isinstance(X, FeatureBlocks):
            if not X.complete():
                raise DataError("X", "every row to predict needs every feature type the model "
                                     f"was fitted with: {self.feature_types_}")
            X = {m: X.block(m) for m in X.feature_types}
        if isinstance(X, dict):
            out, n = {}, None
            for m in self.feature_types_:
                if m not in X:
                    raise DataError("X", f"lacks feature type {m!r}; give every feature type the "
                                         f"model was fitted with: {self.feature_types_}")
                block, n = check_block(f"X[{m!r}]", X[m], n)
                if n_features_of(block) != self._dims[m]:
                    raise DataError(f"X[{m!r}]", f"has {n_features_of(block)} features, expected "
                                                 f"{self._dims[m]}")
                out[m] = block
            return out, n
        if getattr(self, "_feature_input", "array") != "array":
            raise DataError("X", "this model was fitted on several feature types; give a "
                                 "FeatureBlocks (or a dict {feature type: rows}) with all of "
                                 f"them: {self.feature_types_}")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return {DEFAULT_FEATURE: X}, X.shape[0]

    def _dask_rows_to_score(self, X):
        """Whether X is a Dask array to score by partitions (one feature space only)."""
        if not is_dask(X):
            return False
        check_is_fitted(self)
        if getattr(self, "_feature_input", "array") != "array":
            raise DataError("X", "Dask arrays are scored for models fitted on one feature "
                                 "space; give a FeatureBlocks with every feature type")
        return True

    def predict(self, X: ArrayLike | FeatureBlocks) -> NDArray:
        """Class of each row (see :meth:`decision_function`); a Dask X gives a Dask vector."""
        if self._dask_rows_to_score(X):
            return _on_partitions(self, self.predict, X, self.classes_.dtype, None)
        return super().predict(X)

    def decision_function(self, X: ArrayLike | FeatureBlocks) -> NDArray[np.float64]:
        """Scores of new target rows: (n,) for two classes, (n, C) otherwise.

        X is an (n, d) array when the model was fitted on one feature space, else a
        :class:`~webly.FeatureBlocks` in which every row has every fitted feature type (or a dict
        ``{feature type: array or GroupedFeatures}``). A row-chunked Dask array (one feature
        space) gives a Dask array with its row chunks, computed where the partitions live.
        """
        if self._dask_rows_to_score(X):
            return _on_partitions(self, self.decision_function, X, np.float64,
                                  None if len(self.classes_) == 2 else len(self.classes_))
        check_is_fitted(self)
        feats, n = self._features_for_predict(X)
        total = np.zeros((n, len(self.norm_))) + self.offset_
        if hasattr(self, "feature_coef_"):  # explicit features (solver="primal")
            for m, coef in self.feature_coef_.items():
                total += map_block(self.feature_map_[m], feats[m]) @ coef
            return stack_decisions(list((total / self.norm_).T))
        bias = getattr(self, "kernel_bias_", 1.0)  # models saved before it had the +1
        for m, (pool, coef) in self.expansion_.items():
            if coef.shape[0]:
                total += (block_kernel(self.kernels_[m], feats[m], pool) + bias) @ coef
        return stack_decisions(list((total / self.norm_).T))
