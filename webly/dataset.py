"""`WebDataset`: the shared data model of webly (DESIGN.md section 2).

A web-training set is held as flat rows plus per-row metadata, with an optional clean test/target
set and category-level semantics. Estimators never see this object: :meth:`WebDataset.fit_args`
hands them flat ``X`` plus routed metadata (``bags``, ``X_priv``, ``sources``, ``X_target``).

Files
-----
``npz``: one array per field, keys named after the fields (``X``, ``y``, ``bags``, ``X_priv``,
``source``, ``y_true``, ``X_test``, ``y_test``, ``class_names``, ``class_vectors``; all but ``X``
and ``y`` optional). A sparse ``X_priv`` is stored as ``X_priv_data``, ``X_priv_indices``,
``X_priv_indptr``, ``X_priv_shape``; metadata columns as ``meta__<column>``.

``parquet``: one table, one row per web row and per test row; ``split`` is ``"train"`` or
``"test"``; features in columns ``X_0 .. X_{d-1}`` and ``X_priv_0 ..``; ``y``, ``bags``,
``source``, ``y_true`` as columns (test rows carry their label in ``y``); metadata columns as
``meta__<column>``; class names and vectors in the file's key-value metadata (``webly`` key, JSON).
Any parquet with columns ``X_*`` and ``y`` (and optionally the others) loads.
"""

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold
from sklearn.utils import check_random_state

from .base import check_bags, check_row_features, check_row_metadata, warn_data
from .base import warn_identical_rows
from .errors import DataError
from .fileio import atomic_path

_ARRAY_FIELDS = ("X", "y", "bags", "X_priv", "source", "y_true", "X_test", "y_test",
                 "class_names", "class_vectors")
_ROW_FIELDS = ("y", "bags", "source", "y_true")
FORMAT_VERSION = 1


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
    X : (n, d) float array
        Visual features of each web instance (image, keyframe, video).
    y : (n,) array
        Web label: the query each row was found with (noisy). Every value must be in
        ``class_names``; all rows of a bag share it.
    bags : (n,) int array, optional
        Bag id of each row; None makes every row its own bag.
    X_priv : (n, d*) array or sparse matrix, optional
        Privileged features (text, tags): training only.
    source : (n,) array, optional
        Web source of each row (e.g. ``"google"``, ``"flickr"``).
    y_true : (n,) array, optional
        True labels, for evaluating noise detection only; never used in fit.
    meta : pandas.DataFrame, optional
        Anything else per row, aligned with the rows.
    X_test, y_test : (m, d), (m,) arrays, optional
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

    X: np.ndarray
    y: np.ndarray
    bags: np.ndarray = None
    X_priv: object = None
    source: np.ndarray = None
    y_true: np.ndarray = None
    meta: pd.DataFrame = None
    X_test: np.ndarray = None
    y_test: np.ndarray = None
    class_names: np.ndarray = None
    class_vectors: np.ndarray = None
    name: str = field(default="dataset")

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self):
        """Check every field; raise :class:`~webly.errors.DataError` naming the first bad one."""
        if self.X is None:
            raise DataError("X", "is required")
        self.X = check_row_features("X", self.X, allow_sparse=False)
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
        self.X_priv = check_row_features("X_priv", self.X_priv)
        if self.X_priv is not None and self.X_priv.shape[0] != n:
            raise DataError("X_priv", f"has {self.X_priv.shape[0]} rows but X has {n}; "
                                      "give privileged features for every row")
        if self.meta is not None:
            if not isinstance(self.meta, pd.DataFrame):
                raise DataError("meta", "must be a pandas DataFrame")
            if len(self.meta) != n:
                raise DataError("meta", f"has {len(self.meta)} rows but X has {n}")
            self.meta = self.meta.reset_index(drop=True)
        self.X_test = check_row_features("X_test", self.X_test, allow_sparse=False)
        if self.X_test is not None:
            if self.X_test.shape[1] != self.X.shape[1]:
                raise DataError("X_test", f"has {self.X_test.shape[1]} features but X has "
                                          f"{self.X.shape[1]}; use the same feature extractor")
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
    def n_rows(self):
        return self.X.shape[0]

    @property
    def bag_ids(self):
        """Bag id of every row (row index when ``bags`` is None: singleton bags)."""
        return self.bags if self.bags is not None else np.arange(self.n_rows)

    @property
    def n_bags(self):
        return len(np.unique(self.bag_ids))

    @property
    def is_noisy(self):
        """Boolean mask of rows whose web label differs from the true label (needs ``y_true``)."""
        if self.y_true is None:
            raise DataError("y_true", "is needed to know which web labels are wrong")
        return self.y != self.y_true

    def fit_args(self, *, target=False, labels="web"):
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

    def subset(self, rows):
        """A dataset of the given rows (indices or mask); the test set and classes are kept."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.size == 0:
            raise DataError("rows", "the subset is empty")
        take = lambda v: None if v is None else v[rows]  # noqa: E731
        return replace(self, X=self.X[rows], y=self.y[rows], bags=take(self.bags),
                       X_priv=None if self.X_priv is None else self.X_priv[rows],
                       source=take(self.source), y_true=take(self.y_true),
                       meta=None if self.meta is None else self.meta.iloc[rows])

    def subsample_per_class(self, n_per_class, random_state=None):
        """A dataset with about ``n_per_class`` training rows of each web label, whole bags.

        Bags of each class are drawn at random (seeded) until the class has at least
        ``n_per_class`` rows; with singleton bags that is exactly ``n_per_class`` rows. The test
        set is kept. Used for learning curves ("5, 10, 20 images per class").
        """
        if not (isinstance(n_per_class, (int, np.integer)) and n_per_class >= 1):
            raise DataError("train_per_class", f"must be a positive integer, got {n_per_class!r}")
        rng = check_random_state(random_state)
        bag_ids, bag_order, bag_y = self._bag_labels()
        sizes = pd.Series(bag_ids).value_counts()
        chosen = []
        for c in self.class_names:
            bags_c = bag_order[bag_y == c]
            if len(bags_c) == 0:
                continue
            total = 0
            for b in rng.permutation(bags_c):
                if total >= n_per_class:
                    break
                chosen.append(b)
                total += int(sizes[b])
        rows = np.flatnonzero(np.isin(bag_ids, chosen))
        return self.subset(rows)

    def standardized(self):
        """Features scaled to zero mean and unit variance, fitted on the training rows ``X``.

        The same affine map is applied to ``X_test``; ``X_priv`` is left as it is. Use it for
        features whose dimensions have very different scales (histograms, audio descriptors).
        With ``split: holdout`` or ``kfold`` the statistics include the held-out web rows
        (unsupervised, no labels used).
        """
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(self.X)
        return replace(self, X=scaler.transform(self.X),
                       X_test=None if self.X_test is None else scaler.transform(self.X_test))

    def with_test(self, X_test, y_test):
        """The same training rows with another test/target set."""
        return replace(self, X_test=X_test, y_test=y_test)

    # ------------------------------------------------------------------ splits
    def _bag_labels(self):
        bag_ids = self.bag_ids
        frame = pd.DataFrame({"bag": bag_ids, "y": self.y})
        first = frame.drop_duplicates("bag")
        return bag_ids, first["bag"].to_numpy(), first["y"].to_numpy()

    def kfold_by_bag(self, n_splits=5, random_state=None):
        """Yield ``(train_rows, test_rows)`` for k folds that never cut a bag.

        Folds are stratified by the bags' web labels (scikit-learn ``StratifiedGroupKFold``).
        """
        bag_ids = self.bag_ids
        n_bags = self.n_bags
        if not 2 <= n_splits <= n_bags:
            raise DataError("folds", f"needs 2 <= folds <= number of bags ({n_bags}), got {n_splits}")
        seed = check_random_state(random_state).randint(2**31 - 1)
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        yield from cv.split(self.X, self.y, groups=bag_ids)

    def split_by_bag(self, test_size=0.25, random_state=None):
        """``(train_rows, test_rows)`` of a random split by bag (a bag is never cut)."""
        if not 0 < test_size < 1:
            raise DataError("test_size", f"must be in (0, 1), got {test_size}")
        if self.n_bags < 2:
            raise DataError("bags", "a split by bag needs at least two bags")
        seed = check_random_state(random_state).randint(2**31 - 1)
        gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        return next(gss.split(self.X, self.y, groups=self.bag_ids))

    def to_npz(self, path):
        """Write every field to an ``.npz`` file, atomically (temp file + rename)."""
        arrays = {"X": self.X, "y": self.y, "class_names": self.class_names,
                  "format_version": np.array(FORMAT_VERSION), "name": np.array(self.name)}
        for f in ("bags", "source", "y_true", "X_test", "y_test", "class_vectors"):
            if getattr(self, f) is not None:
                arrays[f] = getattr(self, f)
        if self.X_priv is not None:
            if sp.issparse(self.X_priv):
                csr = sp.csr_matrix(self.X_priv)
                arrays.update(X_priv_data=csr.data, X_priv_indices=csr.indices,
                              X_priv_indptr=csr.indptr, X_priv_shape=np.array(csr.shape))
            else:
                arrays["X_priv"] = self.X_priv
        if self.meta is not None:
            for col in self.meta.columns:
                arrays[f"meta__{col}"] = _meta_column_to_numpy(self.meta[col])
        arrays = {k: (v.astype(str) if isinstance(v, np.ndarray) and v.dtype.kind == "O" else v)
                  for k, v in arrays.items()}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def from_npz(cls, path, name=None):
        """Read a dataset from ``.npz`` (keys named after the fields; ``X`` and ``y`` required)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise DataError("path", f"file {path!r} does not exist")
        try:
            z = np.load(path, allow_pickle=False)
        except _DAMAGED_NPZ as exc:
            raise DataError("path", f"{path!r} is not a readable npz file ({exc}); write it "
                                    "again (np.savez or WebDataset.to_npz)") from None
        with z:
            keys = set(z.files)
            for req in ("X", "y"):
                if req not in keys:
                    raise DataError(req, f"missing from {path!r}; an npz needs arrays 'X' and 'y' "
                                         f"(found {sorted(keys)})")
            known = set(_ARRAY_FIELDS) | {"format_version", "name", *_SPARSE_PRIV_KEYS}
            unknown = [k for k in keys if k not in known and not k.startswith("meta__")]
            if unknown:
                raise DataError(unknown[0], f"unknown key in {path!r}; allowed keys: "
                                            f"{', '.join(_ARRAY_FIELDS)} and meta__<column>")
            kw = {f: _npz_array(z, f, path) for f in _ARRAY_FIELDS if f in keys}
            sparse_keys = [k for k in _SPARSE_PRIV_KEYS if k in keys]
            if sparse_keys:
                kw["X_priv"] = _npz_csr(z, sparse_keys, path, dense="X_priv" in keys)
            meta_cols = [k for k in z.files if k.startswith("meta__")]  # written order
            if meta_cols:
                kw["meta"] = pd.DataFrame({k[len("meta__"):]: _npz_array(z, k, path)
                                           for k in meta_cols})
            ds_name = name or (str(_npz_array(z, "name", path)) if "name" in keys else
                               os.path.splitext(os.path.basename(path))[0])
        for k in ("y", "bags", "source", "y_true", "y_test", "class_names"):
            if k in kw and kw[k].ndim == 0:
                raise DataError(k, f"must be 1-D in {path!r}, got a scalar")
        return cls(name=ds_name, **kw)

    # ------------------------------------------------------------------ io: parquet
    def to_frame(self):
        """One pandas frame of training and test rows (see the module docstring for columns)."""
        parts = [_rows_frame(self.X, "X")]
        if self.X_priv is not None:
            dense = self.X_priv.toarray() if sp.issparse(self.X_priv) else self.X_priv
            parts.append(_rows_frame(dense, "X_priv"))
        train = pd.concat(parts, axis=1)
        train.insert(0, "split", "train")
        train["y"] = self.y
        for f in ("bags", "source", "y_true"):
            if getattr(self, f) is not None:
                train[f] = getattr(self, f)
        if self.meta is not None:
            for col in self.meta.columns:
                train[f"meta__{col}"] = self.meta[col].to_numpy()
        if self.X_test is None:
            return train
        test = _rows_frame(self.X_test, "X")
        test.insert(0, "split", "test")
        if self.y_test is not None:
            test["y"] = self.y_test
        return pd.concat([train, test], ignore_index=True)

    def to_parquet(self, path):
        """Write the dataset to one parquet file, atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = self.to_frame()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        info = {"format_version": FORMAT_VERSION, "name": self.name,
                "class_names": self.class_names.tolist(),
                "class_vectors": None if self.class_vectors is None else self.class_vectors.tolist(),
                "X_priv_sparse": bool(self.X_priv is not None and sp.issparse(self.X_priv)),
                "has_y_test": self.y_test is not None}
        md = dict(table.schema.metadata or {})
        md[b"webly"] = json.dumps(info).encode()
        table = table.replace_schema_metadata(md)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)

    @classmethod
    def from_parquet(cls, path, name=None):
        """Read a dataset from parquet: columns ``X_*``, ``y`` and optional others."""
        import pyarrow.parquet as pq

        path = os.fspath(path)
        if not os.path.exists(path):
            raise DataError("path", f"file {path!r} does not exist")
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise DataError("path", f"{path!r} is not a readable parquet file ({exc})") from None
        md = table.schema.metadata or {}
        info = {}
        if b"webly" in md:
            try:
                info = json.loads(md[b"webly"])
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError("metadata", f"the 'webly' key-value metadata of {path!r} is not "
                                            f"JSON ({exc}); write the file with "
                                            "WebDataset.to_parquet, or drop that key") from None
            if not isinstance(info, dict):
                raise DataError("metadata", f"the 'webly' key-value metadata of {path!r} must be "
                                            f"a JSON object, got {type(info).__name__}; write the "
                                            "file with WebDataset.to_parquet, or drop that key")
        frame = table.to_pandas()
        return cls.from_frame(frame, info=info,
                              name=name or info.get("name") or
                              os.path.splitext(os.path.basename(path))[0])

    @classmethod
    def from_frame(cls, frame, info=None, name="dataset"):
        """Build a dataset from a frame laid out as :meth:`to_frame` writes it."""
        info = info or {}
        for req in ("y",):
            if req not in frame.columns:
                raise DataError(req, "column missing; a parquet/frame dataset needs 'y' and X_* columns")
        x_cols = _prefixed(frame.columns, "X")
        if not x_cols:
            raise DataError("X", "no feature columns X_0, X_1, ... found")
        if "split" in frame.columns:
            is_test = (frame["split"].astype(str) == "test").to_numpy()
        else:
            is_test = np.zeros(len(frame), dtype=bool)
        priv_cols = _prefixed(frame.columns, "X_priv")
        for name_, cols in (("X", x_cols), ("X_priv", priv_cols)):
            for c in cols:
                if not pd.api.types.is_numeric_dtype(frame[c].dtype):
                    raise DataError(name_, f"column {c!r} is not numeric (dtype {frame[c].dtype}); "
                                           "feature columns hold numbers: convert them, or "
                                           "rename columns that are not features")
        train, test = frame[~is_test], frame[is_test]
        kw = {"X": train[x_cols].to_numpy(dtype=np.float64), "y": _column(train["y"])}
        if priv_cols:
            priv = train[priv_cols].to_numpy(dtype=np.float64)
            kw["X_priv"] = sp.csr_matrix(priv) if info.get("X_priv_sparse") else priv
        for f in ("bags", "source", "y_true"):
            if f in frame.columns:
                kw[f] = _column(train[f])
        meta_cols = [c for c in frame.columns if str(c).startswith("meta__")]
        if meta_cols:
            kw["meta"] = pd.DataFrame({c[len("meta__"):]: train[c].to_numpy() for c in meta_cols})
        if len(test):
            kw["X_test"] = test[x_cols].to_numpy(dtype=np.float64)
            if info.get("has_y_test", True) and test["y"].notna().all():
                kw["y_test"] = _column(test["y"])
        if info.get("class_names") is not None:
            kw["class_names"] = np.asarray(info["class_names"])
        if info.get("class_vectors") is not None:
            kw["class_vectors"] = np.asarray(info["class_vectors"], dtype=np.float64)
        return cls(name=name, **kw)

    def summary(self):
        """One-line description used in logs and reports."""
        parts = [f"{self.name}: {self.n_rows} web rows x {self.X.shape[1]} features",
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


#: what reading a damaged or truncated npz raises (numpy, zipfile, zlib)
_DAMAGED_NPZ = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
_SPARSE_PRIV_KEYS = ("X_priv_data", "X_priv_indices", "X_priv_indptr", "X_priv_shape")


def _npz_array(z, key, path):
    """One array of an open npz; a DataError naming ``key`` if it cannot be read."""
    try:
        return z[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(key, f"is stored as Python objects (dtype object) in {path!r}, which "
                                 "webly does not unpickle; save it as numbers or strings, e.g. "
                                 f"{key}.astype(str)") from None
        raise DataError(key, f"cannot be read from {path!r} ({exc}); the file is damaged or "
                             "truncated: write it again") from None
    except _DAMAGED_NPZ as exc:
        raise DataError(key, f"cannot be read from {path!r} ({type(exc).__name__}: {exc}); the "
                             "file is damaged or truncated: write it again") from None


def _npz_csr(z, present, path, dense):
    """The sparse ``X_priv`` of an npz from its four CSR arrays, fully checked."""
    if dense:
        raise DataError("X_priv", f"{path!r} holds both a dense X_priv and sparse X_priv_* "
                                  "arrays; keep one of them")
    missing = [k for k in _SPARSE_PRIV_KEYS if k not in present]
    if missing:
        raise DataError(missing[0], f"missing from {path!r}; a sparse X_priv needs all of "
                                    f"{', '.join(_SPARSE_PRIV_KEYS)} (as a CSR matrix has them)")
    data, indices, indptr, shape = (_npz_array(z, k, path) for k in _SPARSE_PRIV_KEYS)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
        raise DataError("X_priv_shape", f"must be two non-negative integers (rows, columns) in "
                                        f"{path!r}, got {shape.tolist()!r}")
    try:
        csr = sp.csr_matrix((data, indices, indptr), shape=tuple(int(v) for v in shape))
        csr.check_format(full_check=True)
    except (ValueError, TypeError, IndexError) as exc:
        raise DataError("X_priv", f"X_priv_data, X_priv_indices, X_priv_indptr and X_priv_shape "
                                  f"in {path!r} do not form a valid CSR matrix ({exc}); write "
                                  "them from a scipy.sparse.csr_matrix") from None
    return csr


def _rows_frame(M, prefix):
    return pd.DataFrame(np.asarray(M), columns=[f"{prefix}_{j}" for j in range(M.shape[1])])


def _prefixed(columns, prefix):
    """Columns ``<prefix>_<int>`` sorted by their integer suffix."""
    out = []
    for c in columns:
        head, _, tail = str(c).rpartition("_")
        if head == prefix and tail.isdigit():
            out.append((int(tail), c))
    return [c for _, c in sorted(out)]


def _column(series):
    """A frame column as a plain numpy array (pandas string dtype -> numpy str).

    Integer columns that became float because test rows lack them (NaN there) turn back into
    integers once the test rows are dropped.
    """
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        return series.astype(object).to_numpy().astype(str)
    values = series.to_numpy()
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values


def _meta_column_to_numpy(col):
    if pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
        return col.astype(object).to_numpy().astype(str)
    return col.to_numpy()


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
        if not np.array_equal(np.asarray(u), np.asarray(v)):
            return False
    return True
