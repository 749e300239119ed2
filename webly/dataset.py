"""`WebDataset`: the shared data model of webly (DESIGN.md section 2).

A web-training set is held as flat rows plus per-row metadata, with an optional clean test/target
set and category-level semantics. Estimators never see this object: :meth:`WebDataset.fit_args`
hands them flat ``X`` plus routed metadata (``bags``, ``X_priv``, ``sources``, ``X_target``).

Files: :mod:`webly.formats` (npz, parquet). Splits by bag: :mod:`webly.splits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import check_bags, check_row_features, check_row_metadata, warn_data
from .base import warn_identical_rows
from .blocks import FeatureBlocks, nan_rows
from .errors import DataError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Mapping
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix
    from typing_extensions import Self
    from .blocks import GroupedFeatures



def _vector(name, value, n):
    value = check_row_metadata(name, value, n)
    if value is None:
        return None
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise DataError(name, "contains NaN or infinite values; every row needs a value")
    if value.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in value):
            raise DataError(name, "contains missing values; every row needs a value")
    return value


def _privileged(value, n):
    """Privileged features of every row; an all-NaN row (dense) means the row has none."""
    missing = None if value is None or sp.issparse(value) else nan_rows(value)
    if missing is not None and missing.all():
        raise DataError("X_priv", "contains NaN in every row; give privileged features "
                                  "(all-NaN marks only the rows that have none) or None")
    if missing is not None and missing.any():
        check_row_features("X_priv", np.asarray(value)[~missing])
        value = np.asarray(value, dtype=np.float64)
    else:
        value = check_row_features("X_priv", value)
    if value is not None and value.shape[0] != n:
        raise DataError("X_priv", f"has {value.shape[0]} rows but X has {n}; "
                                  "give privileged features for every row")
    return value


def _feature_width(X):
    return X.n_features if isinstance(X, FeatureBlocks) else X.shape[1]


def _labels_as_array(value):
    """Labels as a numpy array of a plain dtype (ints stay ints, text becomes str)."""
    arr = np.asarray(value)
    if arr.dtype.kind in "OUS":
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr.ravel()):
            return arr.astype(np.int64)
        return arr.astype(str)
    return arr


@dataclass(eq=False)
class WebDataset:
    """Web-training rows with bags, privileged features, sources, and a clean test/target set.

    Parameters
    ----------
    X : (n, d) float array or FeatureBlocks
        Visual features of each web instance (image, keyframe, video); float32 stays float32
        (crawl-scale sets: half the memory; estimators convert as they need), other types
        become float64; a
        :class:`~webly.FeatureBlocks` when sources have their own feature types (see
        :meth:`from_sources`).
    y : (n,) array
        Web label: the query each row was found with (noisy). Every value must be in
        ``class_names``; all rows of a bag share it.
    bags : (n,) int array, optional
        Bag id of each row; None makes every row its own bag.
    X_priv : (n, d*) array or sparse matrix, optional
        Privileged features (text, tags): training only. An all-NaN row (dense) is a row
        without them (MDA-HS+ accepts sources without text; the -PI methods need every row).
    source : (n,) array, optional
        Web source of each row (e.g. ``"google"``, ``"flickr"``).
    y_true : (n,) array, optional
        True labels, for evaluating noise detection only; never used in fit.
    meta : pandas.DataFrame, optional
        Anything else per row, aligned with the rows.
    X_test, y_test : (m, d) array or FeatureBlocks, (m,) array, optional
        Clean test/target set (unlabelled at fit time for adaptation).
    class_names : (C,) array, optional
        All classes; inferred as the sorted labels of ``y`` and ``y_test`` when omitted.
    class_vectors : (C, a) float array, optional
        Category-level semantics, row c for ``class_names[c]``.
    name : str
        Label used in results.

    Examples
    --------
    >>> import numpy as np
    >>> ds = WebDataset(X=np.eye(4), y=np.array([0, 0, 1, 1]), bags=np.array([0, 0, 1, 1]))
    >>> ds.n_bags, ds.class_names.tolist()
    (2, [0, 1])
    """

    X: NDArray[Any] | FeatureBlocks
    y: NDArray[Any]
    bags: NDArray[np.integer[Any]] | None = None
    X_priv: NDArray[Any] | spmatrix | None = None
    source: NDArray[Any] | None = None
    y_true: NDArray[Any] | None = None
    meta: pd.DataFrame | None = None
    X_test: NDArray[Any] | FeatureBlocks | None = None
    y_test: NDArray[Any] | None = None
    class_names: NDArray[Any] | None = None
    class_vectors: NDArray[np.float64] | None = None
    name: str = field(default="dataset")

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> Self:
        """Check every field; raise :class:`~webly.errors.DataError` naming the first bad one."""
        if self.X is None:
            raise DataError("X", "is required")
        if isinstance(self.X, FeatureBlocks):
            n = self.X.n_rows
        else:
            self.X = check_row_features("X", self.X, allow_sparse=False, keep_float32=True)
            n = self.X.shape[0]
            if n == 0:
                raise DataError("X", "has no rows; a dataset needs at least one web row")
            warn_identical_rows("X", self.X)
        if self.y is None:
            raise DataError("y", "is required (the web label of each row)")
        self.y = _labels_as_array(_vector("y", self.y, n))
        self.bags = _vector("bags", self.bags, n)
        self.source = _vector("source", self.source, n)
        self.y_true = _vector("y_true", self.y_true, n)
        if self.y_true is not None:
            self.y_true = _labels_as_array(self.y_true)
        self.X_priv = _privileged(self.X_priv, n)
        if self.meta is not None:
            if not isinstance(self.meta, pd.DataFrame):
                raise DataError("meta", "must be a pandas DataFrame")
            if len(self.meta) != n:
                raise DataError("meta", f"has {len(self.meta)} rows but X has {n}")
            self.meta = self.meta.reset_index(drop=True)
        if not isinstance(self.X_test, FeatureBlocks):
            self.X_test = check_row_features("X_test", self.X_test, allow_sparse=False,
                                             keep_float32=True)
        if self.X_test is not None:
            if isinstance(self.X_test, FeatureBlocks) and not self.X_test.complete():
                raise DataError("X_test", "every test/target row needs every feature type")
            if _feature_width(self.X_test) != _feature_width(self.X):
                raise DataError("X_test", f"has {_feature_width(self.X_test)} features but X has "
                                          f"{_feature_width(self.X)}; use the same feature "
                                          "extractor (and the same feature types)")
            if self.y_test is not None:
                self.y_test = _labels_as_array(_vector("y_test", self.y_test, self.X_test.shape[0]))
        elif self.y_test is not None:
            raise DataError("y_test", "given without X_test")
        self._check_classes()
        self._check_bags()
        if self.y_test is not None:
            unseen = np.setdiff1d(np.unique(self.y_test), self.y)
            if unseen.size:
                warn_data("y_test", f"labels {unseen[:5].tolist()} never occur in y, so no "
                                    "classifier trained on these rows can predict them (their "
                                    "test rows are always wrong); add training rows of those "
                                    "classes or drop them from the test set")
        return self

    def _check_classes(self):
        labels = [self.y] + [v for v in (self.y_test, self.y_true) if v is not None]
        if self.class_names is None:
            self.class_names = np.unique(np.concatenate([np.asarray(v) for v in labels]))
        else:
            self.class_names = _labels_as_array(self.class_names)
            if self.class_names.ndim != 1:
                raise DataError("class_names", f"must be 1-D, got shape {self.class_names.shape}")
            if len(np.unique(self.class_names)) != len(self.class_names):
                raise DataError("class_names", "contains duplicates")
        for fname in ("y", "y_test", "y_true"):
            v = getattr(self, fname)
            if v is None:
                continue
            try:
                missing = np.setdiff1d(np.unique(v), self.class_names)
            except TypeError:
                raise DataError(fname, f"labels of dtype {v.dtype} cannot be compared with "
                                       f"class_names of dtype {self.class_names.dtype}") from None
            if missing.size:
                raise DataError(fname, f"labels {missing[:5].tolist()} are not in class_names; "
                                       "add them to class_names or fix the labels")
        if self.class_vectors is not None:
            cv = check_row_features("class_vectors", self.class_vectors, allow_sparse=False)
            if cv.shape[0] != len(self.class_names):
                raise DataError("class_vectors", f"has {cv.shape[0]} rows but there are "
                                                 f"{len(self.class_names)} class_names; one row per class")
            self.class_vectors = cv

    def _check_bags(self):
        if self.bags is not None:
            if self.bags.dtype.kind not in "iu":
                raise DataError("bags", f"must hold integer bag ids, got dtype {self.bags.dtype}")
            check_bags(self.bags, self.y, self.n_rows)

    # ------------------------------------------------------------------ views
    @property
    def n_rows(self) -> int:
        return len(self.X) if isinstance(self.X, FeatureBlocks) else self.X.shape[0]

    @property
    def bag_ids(self) -> NDArray[Any]:
        """Bag id of every row (row index when ``bags`` is None: singleton bags)."""
        return self.bags if self.bags is not None else np.arange(self.n_rows)

    @property
    def n_bags(self) -> int:
        return len(np.unique(self.bag_ids))

    @property
    def is_noisy(self) -> NDArray[np.bool_]:
        """Boolean mask of rows whose web label differs from the true label (needs ``y_true``)."""
        if self.y_true is None:
            raise DataError("y_true", "is needed to know which web labels are wrong")
        return self.y != self.y_true

    def fit_args(self, *, target: bool = False, labels: str = "web") -> dict[str, Any]:
        """Keyword arguments for an estimator's ``fit``: ``X``, ``y`` and routed metadata.

        Parameters
        ----------
        target : bool
            Also pass ``X_target=X_test`` (unlabelled target rows for domain adaptation).
        labels : {"web", "true"}
            Fit on web labels, or on true labels (oracle reference; needs ``y_true``).
        """
        if labels == "true" and self.y_true is None:
            raise DataError("y_true", "the oracle fits on true labels, but this dataset has none")
        args = {"X": self.X, "y": self.y if labels == "web" else self.y_true,
                "bags": self.bags, "X_priv": self.X_priv, "sources": self.source}
        if self.class_vectors is not None:
            args["class_vectors"] = self.class_vectors
            args["class_names"] = self.class_names
        if target:
            if self.X_test is None:
                raise DataError("X_test", "adaptation needs unlabelled target rows (X_test)")
            args["X_target"] = self.X_test
        return {k: v for k, v in args.items() if v is not None}

    def subset(self, rows: ArrayLike) -> Self:
        """A dataset of the given rows (indices or mask); the test set and classes are kept."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.size == 0:
            raise DataError("rows", "the subset is empty")
        take = lambda v: None if v is None else v[rows]  # noqa: E731
        X_priv = None if self.X_priv is None else self.X_priv[rows]
        missing = None if X_priv is None or sp.issparse(X_priv) else nan_rows(X_priv)
        if missing is not None and missing.all():
            X_priv = None  # the rows chosen are all rows without privileged features
        return replace(self, X=self.X[rows], y=self.y[rows], bags=take(self.bags),
                       X_priv=X_priv,
                       source=take(self.source), y_true=take(self.y_true),
                       meta=None if self.meta is None else self.meta.iloc[rows])

    def subsample_per_class(self, n_per_class: int,
                            random_state: int | np.random.RandomState | None = None) -> Self:
        """A dataset with about ``n_per_class`` training rows of each web label, whole bags
        (learning curves; see :func:`webly.splits.subsample_per_class`)."""
        from .splits import subsample_per_class
        return subsample_per_class(self, n_per_class, random_state)

    def standardized(self) -> Self:
        """Features scaled to zero mean and unit variance, fitted on the training rows ``X``.

        The same affine map is applied to ``X_test``; ``X_priv`` is left as it is. Use it for
        features whose dimensions have very different scales (histograms, audio descriptors).
        With ``split: holdout`` or ``kfold`` the statistics include the held-out web rows
        (unsupervised, no labels used). Several feature types are scaled type by type, on the
        rows (frames) that have each.
        """
        from sklearn.preprocessing import StandardScaler

        if isinstance(self.X, FeatureBlocks):
            fitted = {m: StandardScaler().fit(getattr(self.X.block(m), "X", self.X.block(m)))
                      for m in self.X.feature_types if self.X.present(m).any()}
            scale = lambda blocks: blocks.map_blocks(  # noqa: E731 (a type no row has: as is)
                lambda m, rows: fitted[m].transform(rows) if m in fitted else rows)
        else:
            scaler = StandardScaler().fit(self.X)
            scale = scaler.transform
        return replace(self, X=scale(self.X),
                       X_test=None if self.X_test is None else scale(self.X_test))

    @classmethod
    def from_sources(cls, sources: Mapping[str, Mapping[str, ArrayLike | GroupedFeatures]],
                     labels: Mapping[str, ArrayLike], *,
                     target: Mapping[str, ArrayLike | GroupedFeatures] | None = None,
                     target_labels: ArrayLike | None = None,
                     privileged: Mapping[str, ArrayLike | spmatrix | None] | None = None,
                     **fields: Any) -> Self:
        """A dataset from per-source feature types (heterogeneous sources, MDA-HS).

        Parameters
        ----------
        sources : dict
            ``{source name: {feature type: block}}``; a block is an (n_s, d_m) array or
            :class:`~webly.GroupedFeatures` (several frame rows per sample). Rows are stacked
            source by source into ``X`` (a :class:`~webly.FeatureBlocks`) and ``source``.
        labels : dict
            ``{source name: (n_s,) web labels}`` -> ``y``.
        target : dict, optional
            ``{feature type: block}`` with every feature type -> ``X_test`` (target/test rows).
        target_labels : (n_t,) array, optional
            -> ``y_test`` (used for evaluation only).
        privileged : dict, optional
            ``{source name: (n_s, d~) array}`` -> ``X_priv``; sources left out have no text
            (all-NaN rows).
        **fields
            Any other field (``class_names``, ``class_vectors``, ``y_true``, ``meta``, ``name``).

        Examples
        --------
        >>> import numpy as np
        >>> ds = WebDataset.from_sources({"img": {"2d": np.eye(2)}, "vid": {"2d": np.eye(2),
        ...                                                                  "3d": np.ones((2, 3))}},
        ...                              {"img": [0, 1], "vid": [1, 0]})
        >>> ds.X.shape, ds.source.tolist()
        ((4, 5), ['img', 'img', 'vid', 'vid'])
        """
        X, source = FeatureBlocks.from_sources(sources)
        if not isinstance(labels, dict) or {str(s) for s in labels} != set(source.tolist()):
            raise DataError("labels", "give one label array per source, keyed like `sources`")
        by_name = {str(s): v for s, v in labels.items()}
        y = []
        for s in dict.fromkeys(source.tolist()):
            ys = np.asarray(by_name[s])
            if ys.ndim != 1 or len(ys) != int((source == s).sum()):
                raise DataError(f"labels[{s!r}]", f"needs one label per row of source {s!r} "
                                                  f"({int((source == s).sum())})")
            y.append(ys)
        X_priv = None
        if privileged:
            unknown = [s for s in privileged if str(s) not in by_name]
            if unknown:
                raise DataError("privileged", f"names unknown source {unknown[0]!r}")
            texts = {str(s): (T.toarray() if sp.issparse(T) else np.asarray(T, dtype=np.float64))
                     for s, T in privileged.items() if T is not None}
            widths = {T.shape[1] for T in texts.values() if np.ndim(T) == 2}
            if len(widths) != 1:
                raise DataError("privileged", "every source's text needs the same columns")
            X_priv = np.full((len(source), widths.pop()), np.nan)
            for s, T in texts.items():
                rows = np.flatnonzero(source == s)
                if T.shape[0] != len(rows):
                    raise DataError(f"privileged[{s!r}]", f"has {T.shape[0]} rows but source "
                                                          f"{s!r} has {len(rows)}")
                X_priv[rows] = T
        X_test = None if target is None else FeatureBlocks(target)
        return cls(X=X, y=np.concatenate(y), source=source, X_priv=X_priv, X_test=X_test,
                   y_test=target_labels, **fields)

    def with_test(self, X_test: ArrayLike | FeatureBlocks | None, y_test: ArrayLike | None) -> Self:
        """The same training rows with another test/target set."""
        return replace(self, X_test=X_test, y_test=y_test)

    # ------------------------------------------------------------------ splits (webly.splits)
    def kfold_by_bag(
        self, n_splits: int = 5, random_state: int | np.random.RandomState | None = None
    ) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """Yield ``(train_rows, test_rows)`` for k folds that never cut a bag (stratified)."""
        from .splits import kfold_by_bag
        return kfold_by_bag(self, n_splits, random_state)

    def split_by_bag(
        self, test_size: float = 0.25, random_state: int | np.random.RandomState | None = None
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """``(train_rows, test_rows)`` of a random split by bag (a bag is never cut)."""
        from .splits import split_by_bag
        return split_by_bag(self, test_size, random_state)

    # ------------------------------------------------------------------ files (webly.formats)
    def to_npz(self, path: str | os.PathLike[str]) -> None:
        """Write every field to an ``.npz`` file, atomically (see :mod:`webly.formats`)."""
        from .formats import write_npz
        write_npz(self, path)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str], name: str | None = None) -> Self:
        """Read a dataset from ``.npz`` (keys named after the fields; ``X`` and ``y`` required)."""
        from .formats import read_npz
        return read_npz(cls, path, name)

    def to_frame(self) -> pd.DataFrame:
        """One pandas frame of training and test rows (see :mod:`webly.formats`)."""
        from .formats import to_frame
        return to_frame(self)

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write the dataset to one parquet file, atomically."""
        from .formats import write_parquet
        write_parquet(self, path)

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str], name: str | None = None) -> Self:
        """Read a dataset from parquet: columns ``X_*``, ``y`` and optional others."""
        from .formats import read_parquet
        return read_parquet(cls, path, name)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, info: Mapping[str, Any] | None = None,
                   name: str = "dataset") -> Self:
        """Build a dataset from a frame laid out as :meth:`to_frame` writes it."""
        from .formats import from_frame
        return from_frame(cls, frame, info, name)

    def summary(self) -> str:
        """One-line description used in logs and reports."""
        width = (" + ".join(f"{d} {m}" for m, d in self.X.n_features.items())
                 if isinstance(self.X, FeatureBlocks) else self.X.shape[1])
        parts = [f"{self.name}: {self.n_rows} web rows x {width} features",
                 f"{self.n_bags} bags", f"{len(self.class_names)} classes"]
        if self.X_priv is not None:
            parts.append(f"privileged {self.X_priv.shape[1]}-d")
        if self.source is not None:
            parts.append(f"{len(np.unique(self.source))} sources")
        if self.y_true is not None:
            parts.append(f"{self.is_noisy.mean():.0%} wrong web labels")
        if self.X_test is not None:
            parts.append(f"test {self.X_test.shape[0]} rows")
        return ", ".join(parts)


def datasets_equal(a, b):
    """True when two datasets hold the same values in every field (used by round-trip tests)."""
    for f in fields(WebDataset):
        u, v = getattr(a, f.name), getattr(b, f.name)
        if f.name == "name":
            continue
        if (u is None) != (v is None):
            return False
        if u is None:
            continue
        if isinstance(u, FeatureBlocks) or isinstance(v, FeatureBlocks):
            if not (isinstance(u, FeatureBlocks) and u.equals(v)):
                return False
            continue
        if f.name == "meta":
            if list(u.columns) != list(v.columns):
                return False
            for c in u.columns:
                if not np.array_equal(np.asarray(u[c].astype(object)), np.asarray(v[c].astype(object))):
                    return False
            continue
        if sp.issparse(u) or sp.issparse(v):
            if not (sp.issparse(u) and sp.issparse(v)) or (u != v).nnz:
                return False
            continue
        u, v = np.asarray(u), np.asarray(v)
        if not np.array_equal(u, v, equal_nan=u.dtype.kind == "f" and v.dtype.kind == "f"):
            return False
    return True
