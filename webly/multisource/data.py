"""Heterogeneous multi-source data: sources with their own feature types, a target with all.

The setting of MDA-HS (Chen, Duan, Xu, CVPR 2013; Niu et al., T-NNLS 2017): web sources
``s = 1..S`` (e.g. Google and Bing images with 2-D features, Flickr videos with 3-D features) each
come with *their own* feature types, while the unlabelled target (e.g. consumer videos) has *all*
feature types. :class:`MultiSourceData` holds that::

    data = MultiSourceData(
        sources={"google": {"2d": Xg}, "flickr": {"2d": Xf2, "3d": Xf3}},
        labels={"google": yg, "flickr": yf},
        target={"2d": GroupedFeatures(keyframes, video_of_frame), "3d": Xt3},
        privileged={"google": Tg, "flickr": Tf})          # optional text (MDA-HS+)

A feature block is either an array (one row per sample) or :class:`GroupedFeatures` (several
rows per sample, e.g. the keyframes of a video). Kernels between grouped blocks average over the
group's rows (the mean embedding of :func:`webly.kernels.bag_mean_matrix`), which is how an image
source is compared with a video target on 2-D features (image-to-video kernel).

For the common case where every source shares one feature space (Office-Caltech10, digits,
web-digits) use :meth:`MultiSourceData.from_arrays` (flat ``X, y, sources, X_target``) or
:meth:`MultiSourceData.from_webdataset`; the single feature type is then named ``"x"``.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..base import check_row_features, check_row_metadata
from ..blocks import (FeatureBlocks, GroupedFeatures, check_block, concat_samples,  # noqa: F401
                      n_features_of, nan_rows, rows_of, take_samples)
from ..errors import DataError
from ..solvers._rows import is_dask

__all__ = ["GroupedFeatures", "MultiSourceData", "base_kernel_names"]

_check_block = check_block

DEFAULT_FEATURE = "x"


def block_kernel(kernel, A, B):
    """Kernel matrix between the samples of blocks A and B (grouped blocks are averaged)."""
    K = kernel(rows_of(A), rows_of(B))
    if isinstance(A, GroupedFeatures):
        K = np.asarray(A.averaging_matrix() @ K)
    if isinstance(B, GroupedFeatures):
        K = np.asarray((B.averaging_matrix() @ K.T).T)
    return np.ascontiguousarray(K, dtype=np.float64)


def _take_rows(X, rows):
    """``X[rows]``; on a Dask array a contiguous run of rows is a slice (no gather)."""
    if is_dask(X) and len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return X[int(rows[0]):int(rows[-1]) + 1]
    return X[rows]


@dataclass
class MultiSourceData:
    """Labelled sources, each with its own feature types, and an unlabelled target with all.

    Parameters
    ----------
    sources : dict
        ``{source name: {feature type: block}}``; a block is an (n_s, d_m) array or
        :class:`GroupedFeatures` with n_s samples. Every block of one source has n_s samples.
    labels : dict
        ``{source name: (n_s,) labels}``.
    target : dict or None
        ``{feature type: block}`` with every feature type used by any source (n_t samples each);
        None when there is no unlabelled target (MDA-HS then falls back to its source prior).
    privileged : dict or None
        ``{source name: (n_s, d~) array}``: text features of source samples (privileged: never
        needed at prediction time). Sources left out have none.

    Attributes
    ----------
    source_names : list of str
        Sources in order of ``sources``.
    feature_types : list of str
        All feature types, in order of first appearance.
    """

    sources: dict
    labels: dict
    target: dict | None = None
    privileged: dict | None = None
    source_names: list = field(init=False)
    feature_types: list = field(init=False)

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Check every block; raise :class:`~webly.errors.DataError` naming the first bad one."""
        if not isinstance(self.sources, dict) or not self.sources:
            raise DataError("sources", "give a non-empty dict {source name: {feature type: X}}")
        if not isinstance(self.labels, dict) or set(self.labels) != set(self.sources):
            raise DataError("labels", "give one label array per source, keyed like `sources`")
        self.source_names = [str(s) for s in self.sources]
        if len(set(self.source_names)) != len(self.source_names):
            raise DataError("sources", "source names must stay distinct as strings")
        self.sources = {str(s): v for s, v in self.sources.items()}
        self.labels = {str(s): v for s, v in self.labels.items()}
        types, dims = [], {}
        for s in self.source_names:
            feats = self.sources[s]
            if not isinstance(feats, dict) or not feats:
                raise DataError(f"sources[{s!r}]", "give a non-empty dict {feature type: X}")
            y = np.asarray(self.labels[s])
            if y.ndim != 1 or y.size == 0:
                raise DataError(f"labels[{s!r}]", "must be a non-empty 1-D array")
            clean = {}
            for m, block in feats.items():
                block, _ = _check_block(f"sources[{s!r}][{m!r}]", block, len(y))
                d = n_features_of(block)
                if dims.setdefault(m, d) != d:
                    raise DataError(f"sources[{s!r}][{m!r}]", f"has {d} features but feature type "
                                                              f"{m!r} has {dims[m]} elsewhere")
                clean[m] = block
                if m not in types:
                    types.append(m)
            self.sources[s] = clean
            self.labels[s] = y
        self.feature_types = types
        if self.target is not None:
            if not isinstance(self.target, dict):
                raise DataError("target", "give a dict {feature type: X_target}")
            missing = [m for m in types if m not in self.target]
            if missing:
                raise DataError("target", f"lacks feature types {missing}; the target needs every "
                                          "feature type of every source")
            n_t = None
            clean = {}
            for m in types:
                block, n = _check_block(f"target[{m!r}]", self.target[m], n_t)
                n_t = n
                if n_features_of(block) != dims[m]:
                    raise DataError(f"target[{m!r}]", f"has {n_features_of(block)} features but "
                                                      f"the sources' {m!r} has {dims[m]}")
                clean[m] = block
            if n_t == 0:
                raise DataError("target", "has no rows; give unlabelled target rows or None")
            self.target = clean
        if self.privileged is not None:
            clean = {}
            dp = None
            for s, T in self.privileged.items():
                s = str(s)
                if s not in self.sources:
                    raise DataError("privileged", f"names unknown source {s!r}")
                if T is None:
                    continue
                if is_dask(T):  # row-chunked Dask rows, checked by the estimator
                    if T.ndim != 2 or T.shape[0] != len(self.labels[s]):
                        raise DataError(f"privileged[{s!r}]", f"must be (n_s, d~) with n_s = "
                                                              f"{len(self.labels[s])}, got "
                                                              f"{T.shape}")
                else:
                    T = check_row_features(f"privileged[{s!r}]", T, len(self.labels[s]))
                    if sp.issparse(T):
                        T = T.toarray()
                if dp is not None and T.shape[1] != dp:
                    raise DataError(f"privileged[{s!r}]", "every source's text needs the same columns")
                dp = T.shape[1]
                clean[s] = T
            self.privileged = clean or None
        return self

    # ------------------------------------------------------------------ views
    @property
    def n_target(self):
        if self.target is None:
            return 0
        b = self.target[self.feature_types[0]]
        return b.n_samples if isinstance(b, GroupedFeatures) else b.shape[0]

    def n_source(self, s):
        return len(self.labels[s])

    def all_labels(self):
        return np.concatenate([self.labels[s] for s in self.source_names])

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_rows(cls, X, y, sources=None, X_target=None, X_priv=None):
        """The per-source view of flat rows: ``X`` (an array or :class:`~webly.FeatureBlocks`),
        labels ``y``, the source of each row (None: one source ``"all"``), target rows
        (array, complete FeatureBlocks, or ``{feature type: block}``), text ``X_priv``.

        Rows keep their order inside each source; sources are in order of first appearance. An
        array ``X`` is one feature type named ``"x"``. Every row of one source must have the same
        feature types; ``X_priv`` rows that are all NaN mean "no text" and must cover whole
        sources.
        """
        y = np.asarray(y)
        n = len(y)
        sources = check_row_metadata("sources", sources, n)
        if sources is None:
            sources = np.full(n, "all")
        blocks = X if isinstance(X, FeatureBlocks) else None   # an array X: one type, "x"
        n_rows = len(X) if blocks is not None else np.shape(X)[0]
        if n_rows != n:
            raise DataError("X", f"has {n_rows} rows but y has {n}")
        names = list(dict.fromkeys(np.asarray(sources).tolist()))
        # (on Dask X_priv every row has text: no all-NaN rows of sources without any)
        priv_missing = None if X_priv is None or sp.issparse(X_priv) or is_dask(X_priv) \
            else nan_rows(X_priv)
        src, lab, priv = {}, {}, {}
        for s in names:
            rows = np.flatnonzero(sources == s)
            if blocks is None:
                src[str(s)] = {DEFAULT_FEATURE: _take_rows(X, rows)}
            else:
                types = [m for m in blocks.feature_types if blocks.present(m)[rows].any()]
                partial = [m for m in types if not blocks.present(m)[rows].all()]
                if partial:
                    raise DataError("X", f"rows of source {s!r} differ in feature types "
                                         f"({partial[0]!r} on some rows only); every row of one "
                                         "source needs the same feature types")
                sub = blocks[rows]
                src[str(s)] = {m: sub.block(m) for m in types}
            lab[str(s)] = y[rows]
            if X_priv is not None:
                if priv_missing is not None and priv_missing[rows].any():
                    if not priv_missing[rows].all():
                        raise DataError("X_priv", f"rows of source {s!r} are partly without text "
                                                  "(all-NaN rows); give text for every row of a "
                                                  "source or for none")
                    continue
                priv[str(s)] = _take_rows(X_priv, rows)
        target = None
        if X_target is not None:
            if isinstance(X_target, FeatureBlocks):
                if not X_target.complete():
                    raise DataError("X_target", "every target row needs every feature type")
                target = {m: X_target.block(m) for m in X_target.feature_types}
            elif isinstance(X_target, dict):
                target = dict(X_target)
            elif isinstance(X, FeatureBlocks):
                raise DataError("X_target", "X holds several feature types; give the target "
                                            "rows as a FeatureBlocks with all of them")
            else:
                target = {DEFAULT_FEATURE: X_target}
            types = blocks.feature_types if blocks is not None else [DEFAULT_FEATURE]
            missing = [m for m in types if m not in target]
            if missing:
                raise DataError("X_target", f"lacks feature types {missing}; the target rows "
                                            "need every feature type of every source")
            for m, width in (blocks.n_features if blocks is not None else {}).items():
                got = n_features_of(target[m]) if hasattr(target[m], "shape") or \
                    isinstance(target[m], GroupedFeatures) else None
                if got is not None and got != width:
                    raise DataError(f"X_target[{m!r}]", f"has {got} features but X's {m!r} has "
                                                        f"{width}; use the same feature extractor")
        return cls(sources=src, labels=lab, target=target, privileged=priv or None)

    @classmethod
    def from_arrays(cls, X, y, sources=None, X_target=None, X_priv=None):
        """Sources sharing one feature space (:meth:`from_rows` with an array ``X``)."""
        return cls.from_rows(np.asarray(X, dtype=np.float64), y, sources, X_target, X_priv)

    @classmethod
    def from_webdataset(cls, ds, *, use_privileged=False):
        """Sources from ``ds.source``, labels ``ds.y``, target ``ds.X_test`` (its labels unused)."""
        return cls.from_rows(ds.X, ds.y, ds.source, ds.X_test,
                             ds.X_priv if use_privileged else None)


def base_kernel_names(data):
    """``[(source, feature type), ...]``: one base kernel per feature type of each source."""
    return [(s, m) for s in data.source_names for m in data.sources[s]]
