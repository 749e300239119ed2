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
from ..errors import DataError
from ..kernels import bag_index, bag_mean_matrix

__all__ = ["GroupedFeatures", "MultiSourceData", "base_kernel_names"]

DEFAULT_FEATURE = "x"


@dataclass(frozen=True)
class GroupedFeatures:
    """Several feature rows per sample (e.g. keyframes per video); kernels average over them.

    Parameters
    ----------
    X : (n_rows, d) array
        Feature rows (frames).
    groups : (n_rows,) int array
        Sample index (0..n_samples-1) of each row; every sample needs at least one row.
    """

    X: np.ndarray
    groups: np.ndarray

    @property
    def n_samples(self):
        return int(np.max(self.groups)) + 1 if len(self.groups) else 0

    @property
    def n_features(self):
        return self.X.shape[1]

    def averaging_matrix(self):
        """Sparse (n_samples, n_rows) matrix averaging each sample's rows."""
        A = bag_mean_matrix(self.groups)  # rows in order of first appearance
        _, uniques = bag_index(self.groups)
        return A[np.argsort(uniques)]


def _check_block(name, value, n=None):
    """An array or GroupedFeatures block: validated, returns ``(block, n_samples)``."""
    if isinstance(value, GroupedFeatures):
        X = check_row_features(f"{name}.X", value.X, allow_sparse=False)
        groups = check_row_metadata(f"{name}.groups", value.groups, X.shape[0])
        if groups is None or groups.dtype.kind not in "iu":
            raise DataError(f"{name}.groups", "must hold integer sample indices 0..n-1")
        m = int(groups.max()) + 1 if groups.size else 0
        if groups.min() < 0 or np.unique(groups).size != m:
            raise DataError(f"{name}.groups", "must cover every sample index 0..n-1 at least once")
        block, m = GroupedFeatures(X, groups.astype(np.int64)), m
    else:
        block = check_row_features(name, value, allow_sparse=False)
        m = block.shape[0]
    if n is not None and m != n:
        raise DataError(name, f"describes {m} samples but {n} are expected; give one row (or one "
                              "group of rows) per sample")
    return block, m


def n_features_of(block):
    return block.n_features if isinstance(block, GroupedFeatures) else block.shape[1]


def rows_of(block):
    """Raw feature rows of a block (frames for grouped blocks)."""
    return block.X if isinstance(block, GroupedFeatures) else block


def block_kernel(kernel, A, B):
    """Kernel matrix between the samples of blocks A and B (grouped blocks are averaged)."""
    K = kernel(rows_of(A), rows_of(B))
    if isinstance(A, GroupedFeatures):
        K = np.asarray(A.averaging_matrix() @ K)
    if isinstance(B, GroupedFeatures):
        K = np.asarray((B.averaging_matrix() @ K.T).T)
    return np.ascontiguousarray(K, dtype=np.float64)


def take_samples(block, idx):
    """The samples ``idx`` of a block (a grouped block keeps all rows of those samples)."""
    idx = np.asarray(idx, dtype=np.int64)
    if not isinstance(block, GroupedFeatures):
        return block[idx]
    pos = np.full(block.n_samples, -1, dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    keep = pos[block.groups] >= 0
    return GroupedFeatures(block.X[keep], pos[block.groups[keep]])


def concat_samples(blocks):
    """Samples of several blocks stacked in order (grouped if any block is grouped)."""
    if not any(isinstance(b, GroupedFeatures) for b in blocks):
        return np.vstack(blocks)
    Xs, gs, off = [], [], 0
    for b in blocks:
        if isinstance(b, GroupedFeatures):
            Xs.append(b.X)
            gs.append(b.groups + off)
            off += b.n_samples
        else:
            Xs.append(b)
            gs.append(np.arange(b.shape[0]) + off)
            off += b.shape[0]
    return GroupedFeatures(np.vstack(Xs), np.concatenate(gs))


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
    target: dict = None
    privileged: dict = None
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
    def from_arrays(cls, X, y, sources=None, X_target=None, X_priv=None, feature=DEFAULT_FEATURE):
        """Sources sharing one feature space: flat rows ``X``, labels ``y``, source of each row.

        ``sources=None`` makes all rows one source named ``"all"``; ``X_priv`` (optional) gives
        text features of the rows. Rows keep their order inside each source.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        n = X.shape[0]
        sources = check_row_metadata("sources", sources, n)
        if sources is None:
            sources = np.full(n, "all")
        names = list(dict.fromkeys(np.asarray(sources).tolist()))
        src, lab, priv = {}, {}, {}
        for s in names:
            rows = np.flatnonzero(sources == s)
            src[str(s)] = {feature: X[rows]}
            lab[str(s)] = y[rows]
            if X_priv is not None:
                priv[str(s)] = X_priv[rows]
        target = None if X_target is None else {feature: X_target}
        return cls(sources=src, labels=lab, target=target, privileged=priv or None)

    @classmethod
    def from_webdataset(cls, ds, *, use_privileged=False, feature=DEFAULT_FEATURE):
        """Sources from ``ds.source``, labels ``ds.y``, target ``ds.X_test`` (its labels unused)."""
        return cls.from_arrays(ds.X, ds.y, ds.source, ds.X_test,
                               ds.X_priv if use_privileged else None, feature=feature)


def base_kernel_names(data):
    """``[(source, feature type), ...]``: one base kernel per feature type of each source."""
    return [(s, m) for s in data.source_names for m in data.sources[s]]
