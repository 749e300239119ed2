"""Several feature types of the same rows: :class:`FeatureBlocks` and :class:`GroupedFeatures`.

Heterogeneous web sources (MDA-HS, Chen, Duan, Xu CVPR 2013; Niu et al. T-NNLS 2017) describe
their rows with different feature types: Google and Bing images with 2-D features, Flickr
videos with 2-D keyframe features *and* 3-D motion features, a target of consumer videos with
all of them. webly keeps one convention for all data, flat rows::

    X = FeatureBlocks({"2d": X2d, "3d": X3d})      # a row lacking a type is a NaN row there
    clf.fit(X, y, sources=source_of_each_row, X_target=FeatureBlocks({...}))

or, built per source (rows stacked source by source)::

    X, sources = FeatureBlocks.from_sources({"google": {"2d": Xg},
                                             "flickr": {"2d": GroupedFeatures(frames, video),
                                                        "3d": Xf3}})

and :meth:`webly.WebDataset.from_sources` builds a whole dataset that way. A block is either an
(n, d) array or :class:`GroupedFeatures` (several rows per sample, e.g. the keyframes of a
video; kernels average over them). Estimators that take one feature array refuse a
``FeatureBlocks`` with a :class:`~webly.errors.DataError` naming ``X``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import check_row_features, check_row_metadata
from .errors import DataError
from .kernels import bag_index, bag_mean_matrix

if TYPE_CHECKING:
    import scipy.sparse as sp
    from collections.abc import Callable, Mapping
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self

__all__ = ["FeatureBlocks", "GroupedFeatures"]


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
    def n_samples(self) -> int:
        return int(np.max(self.groups)) + 1 if len(self.groups) else 0

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def averaging_matrix(self) -> sp.csr_matrix:
        """Sparse (n_samples, n_rows) matrix averaging each sample's rows."""
        A = bag_mean_matrix(self.groups)  # rows in order of first appearance
        _, uniques = bag_index(self.groups)
        return A[np.argsort(uniques)]


def check_block(name, value, n=None):
    """An array or GroupedFeatures block, validated: returns ``(block, n_samples)``."""
    from .solvers._rows import is_dask

    if isinstance(value, GroupedFeatures):
        X = check_row_features(f"{name}.X", value.X, allow_sparse=False)
        groups = check_row_metadata(f"{name}.groups", value.groups, X.shape[0])
        if groups is None or groups.dtype.kind not in "iu":
            raise DataError(f"{name}.groups", "must hold integer sample indices 0..n-1")
        m = int(groups.max()) + 1 if groups.size else 0
        if groups.min() < 0 or np.unique(groups).size != m:
            raise DataError(f"{name}.groups", "must cover every sample index 0..n-1 at least once")
        block = GroupedFeatures(X, groups.astype(np.int64))
    elif is_dask(value):  # row-chunked Dask rows, checked by the estimator that takes them
        block, m = value, value.shape[0]
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


def take_samples(block, idx):
    """The samples ``idx`` of a block, in that order (repeats allowed); a grouped block keeps
    all frame rows of each requested sample, its copy i in group i."""
    idx = np.asarray(idx, dtype=np.int64)
    if not isinstance(block, GroupedFeatures):
        return block[idx]
    order = np.argsort(block.groups, kind="stable")           # frames sorted by sample
    counts = np.bincount(block.groups, minlength=block.n_samples)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = counts[idx]                                         # frames of each requested sample
    group = np.repeat(np.arange(len(idx)), take)
    offset = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
    frames = order[starts[idx][group] + offset]
    return GroupedFeatures(block.X[frames], group)


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


def nan_rows(X):
    """(n,) bool: the rows of a dense 2-D float array that are NaN in every column (a row without
    this feature type / without text), or None when X has no NaN at all (one finite-sum check,
    no n x d temporary in that common case)."""
    X = np.asarray(X)
    if X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] == 0 or \
            np.isfinite(X.sum(dtype=np.float64)):
        return None
    return np.isnan(X).all(axis=1)


def _present_rows(name, value, n_rows):
    """Split a block given over all rows into (block of the rows that have it, present mask).

    An array marks a missing row with NaN in every column; a grouped block by giving that
    sample no frame rows.
    """
    if isinstance(value, GroupedFeatures):
        groups = np.asarray(value.groups)
        if groups.ndim != 1 or groups.dtype.kind not in "iu":
            raise DataError(f"{name}.groups", "must hold integer row indices")
        if n_rows is not None and groups.size and (groups.min() < 0 or groups.max() >= n_rows):
            raise DataError(f"{name}.groups", f"must hold row indices 0..{n_rows - 1}")
        n = n_rows if n_rows is not None else (int(groups.max()) + 1 if groups.size else 0)
        present = np.zeros(n, dtype=bool)
        present[groups] = True
        pos = np.cumsum(present) - 1
        block, _ = check_block(name, GroupedFeatures(value.X, pos[groups]))
        return block, present
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(name, f"must be numeric ({exc})") from None
    if arr.ndim != 2:
        raise DataError(name, f"must be 2-D (rows x features), got shape {arr.shape}")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise DataError(name, f"has {arr.shape[0]} rows but there are {n_rows}; give one row per "
                              "row (NaN where a row lacks this type)")
    missing = nan_rows(arr)
    if missing is None:                   # every row has this type (and no NaN anywhere)
        return check_row_features(name, arr, allow_sparse=False), np.ones(arr.shape[0], bool)
    partial = np.flatnonzero(np.isnan(arr[~missing]).any(axis=1))
    if partial.size:
        rows = np.flatnonzero(~missing)[partial]
        raise DataError(name, f"rows {rows[:5].tolist()} are partly NaN; a row either has this "
                              "feature type (every column finite) or lacks it (every column NaN)")
    block = check_row_features(name, arr[~missing], allow_sparse=False)
    return block, ~missing


class FeatureBlocks:
    """Several feature types of the same ``n`` rows; a row may lack some types.

    Parameters
    ----------
    blocks : dict
        ``{feature type: block}``. An array block has one row per row (all-NaN where the row lacks
        the type); a :class:`GroupedFeatures` block maps its frame rows to rows with ``groups``
        (a row with no frames lacks the type).
    n_rows : int, optional
        Number of rows; inferred from the blocks when omitted (needed only when every block is
        grouped and the last rows lack them all).

    Examples
    --------
    >>> import numpy as np
    >>> X = FeatureBlocks({"2d": np.ones((3, 2)), "3d": np.array([[np.nan] * 3, [1, 2, 3], [4, 5, 6]])})
    >>> X.shape, X.feature_types, X.present("3d").tolist()
    ((3, 5), ['2d', '3d'], [False, True, True])
    """

    def __init__(self, blocks: Mapping[str, ArrayLike | GroupedFeatures] | FeatureBlocks,
                 n_rows: int | None = None) -> None:
        if isinstance(blocks, FeatureBlocks):
            blocks = blocks.to_dict()
        if not isinstance(blocks, dict) or not blocks:
            raise DataError("X", "give a non-empty dict {feature type: rows}")
        if n_rows is None:
            sizes = {np.shape(b)[0] for b in blocks.values() if not isinstance(b, GroupedFeatures)}
            if len(sizes) > 1:
                raise DataError("X", f"feature blocks have different numbers of rows {sorted(sizes)}; "
                                     "give every block one row per row (NaN where a row lacks it)")
            n_rows = sizes.pop() if sizes else None
        self._blocks, self._present = {}, {}
        for m, value in blocks.items():
            if not isinstance(m, str) or not m:
                raise DataError("X", f"feature type names must be non-empty strings, got {m!r}")
            self._blocks[m], self._present[m] = _present_rows(f"X[{m!r}]", value, n_rows)
        if n_rows is None:
            n_rows = max(len(p) for p in self._present.values())
            self._present = {m: np.pad(p, (0, n_rows - len(p))) for m, p in self._present.items()}
        self.n_rows = int(n_rows)
        if self.n_rows == 0:
            raise DataError("X", "has no rows")
        lacking = np.flatnonzero(~np.any(np.column_stack(list(self._present.values())), axis=1))
        if lacking.size:
            raise DataError("X", f"rows {lacking[:5].tolist()} have no feature type at all")

    # ------------------------------------------------------------------ views
    @property
    def feature_types(self) -> list[str]:
        return list(self._blocks)

    @property
    def n_features(self) -> dict[str, int]:
        """``{feature type: number of columns}``."""
        return {m: n_features_of(b) for m, b in self._blocks.items()}

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, total columns)``: what logs print and scikit-learn's splitters count."""
        return (self.n_rows, int(sum(self.n_features.values())))

    def __len__(self) -> int:
        return self.n_rows

    def present(self, feature_type: str) -> NDArray[np.bool_]:
        """Boolean mask of the rows that have ``feature_type``."""
        return self._present[feature_type].copy()

    def block(self, feature_type: str) -> NDArray[np.float64] | GroupedFeatures:
        """The block of ``feature_type`` over the rows that have it (:meth:`present`)."""
        if feature_type not in self._blocks:
            raise DataError("X", f"has no feature type {feature_type!r}; it has {self.feature_types}")
        return self._blocks[feature_type]

    def complete(self) -> bool:
        """True when every row has every feature type (what a target set needs)."""
        return all(p.all() for p in self._present.values())

    def __getitem__(self, rows: ArrayLike | slice) -> FeatureBlocks:
        """The rows ``rows`` (indices, boolean mask or slice) as a new FeatureBlocks."""
        idx = np.arange(self.n_rows)[rows]
        if np.ndim(idx) != 1:
            raise DataError("rows", "index FeatureBlocks with a 1-D array of rows, a mask or a slice")
        new = object.__new__(FeatureBlocks)
        new.n_rows, new._blocks, new._present = len(idx), {}, {}
        for m, block in self._blocks.items():
            pos = np.cumsum(self._present[m]) - 1          # row -> sample in the compact block
            have = self._present[m][idx]
            new._blocks[m] = take_samples(block, pos[idx[have]])
            new._present[m] = have
        return new

    def to_dict(self) -> dict[str, NDArray[np.float64] | GroupedFeatures]:
        """``{feature type: block}`` over all rows: arrays with NaN rows where a row lacks the
        type, grouped blocks with ``groups`` = row index (the constructor's input)."""
        out = {}
        for m, block in self._blocks.items():
            rows = np.flatnonzero(self._present[m])
            if isinstance(block, GroupedFeatures):
                out[m] = GroupedFeatures(block.X, rows[block.groups])
            else:
                full = np.full((self.n_rows, block.shape[1]), np.nan)
                full[rows] = block
                out[m] = full
        return out

    def map_blocks(
        self, fn: Callable[[str, NDArray[np.float64]], NDArray[np.float64]]
    ) -> FeatureBlocks:
        """A FeatureBlocks with ``fn(feature type, frame rows)`` applied to each block's rows."""
        out = {}
        for m, block in self.to_dict().items():
            if isinstance(block, GroupedFeatures):
                out[m] = GroupedFeatures(fn(m, block.X), block.groups)
            else:
                have = self._present[m]
                full = block.copy()
                full[have] = fn(m, block[have])
                out[m] = full
        return FeatureBlocks(out, n_rows=self.n_rows)

    def equals(self, other: object) -> bool:
        """Same rows, types and values."""
        if not isinstance(other, FeatureBlocks) or other.n_rows != self.n_rows:
            return False
        if other.feature_types != self.feature_types:
            return False
        for m in self.feature_types:
            a, b = self._blocks[m], other._blocks[m]
            if not np.array_equal(self._present[m], other._present[m]):
                return False
            if isinstance(a, GroupedFeatures) != isinstance(b, GroupedFeatures):
                return False
            if isinstance(a, GroupedFeatures):
                if not (np.array_equal(a.X, b.X) and np.array_equal(a.groups, b.groups)):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    def __repr__(self):
        kinds = ", ".join(f"{m!r}: {d}-d" + ("" if p.all() else f" on {int(p.sum())} rows")
                          for (m, d), p in zip(self.n_features.items(), self._present.values()))
        return f"FeatureBlocks({self.n_rows} rows; {kinds})"

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_sources(
        cls, per_source: Mapping[str, Mapping[str, ArrayLike | GroupedFeatures]]
    ) -> tuple[Self, NDArray[Any]]:
        """Stack ``{source: {feature type: block}}`` source by source.

        Returns ``(X, sources)``: the FeatureBlocks and the (n,) source name of each row. Every
        block of one source has one sample (row, or group of frame rows) per row of the source.
        """
        if not isinstance(per_source, dict) or not per_source:
            raise DataError("sources", "give a non-empty dict {source name: {feature type: X}}")
        names = [str(s) for s in per_source]
        if len(set(names)) != len(names):
            raise DataError("sources", "source names must stay distinct as strings")
        sizes, checked, types = [], [], []
        for s, feats in zip(names, per_source.values()):
            if not isinstance(feats, dict) or not feats:
                raise DataError(f"sources[{s!r}]", "give a non-empty dict {feature type: X}")
            n_s, clean = None, {}
            for m, value in feats.items():
                clean[m], n_s = check_block(f"sources[{s!r}][{m!r}]", value, n_s)
                if m not in types:
                    types.append(m)
            sizes.append(n_s)
            checked.append(clean)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n = int(offsets[-1])
        blocks = {}
        for m in types:
            grouped = any(isinstance(c.get(m), GroupedFeatures) for c in checked)
            if grouped:
                Xs, gs = [], []
                for off, n_s, c in zip(offsets, sizes, checked):
                    if m in c:
                        b = c[m] if isinstance(c[m], GroupedFeatures) else \
                            GroupedFeatures(c[m], np.arange(n_s))
                        Xs.append(b.X)
                        gs.append(b.groups + off)
                blocks[m] = GroupedFeatures(np.vstack(Xs), np.concatenate(gs))
            else:
                d = {n_features_of(c[m]) for c in checked if m in c}
                if len(d) > 1:
                    raise DataError("sources", f"feature type {m!r} has {sorted(d)} columns in "
                                               "different sources; one type, one width")
                full = np.full((n, d.pop()), np.nan)
                for off, n_s, c in zip(offsets, sizes, checked):
                    if m in c:
                        full[off:off + n_s] = c[m]
                blocks[m] = full
        sources = np.repeat(np.array(names), sizes)
        return cls(blocks, n_rows=n), sources
