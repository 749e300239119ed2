"""webly's own dataset files: npz and parquet, read into and written from a
:class:`~webly.dataset.WebDataset` (whose ``to_npz`` / ``from_npz`` / ``to_parquet`` /
``from_parquet`` methods call these functions). Writes are atomic; reads name the field of any
damaged or unknown content.

Files
-----
``npz``: one array per field, keys named after the fields (``X``, ``y``, ``bags``, ``X_priv``,
``source``, ``y_true``, ``X_test``, ``y_test``, ``class_names``, ``class_vectors``; all but ``X``
and ``y`` optional). A sparse ``X_priv`` is stored as ``X_priv_data``, ``X_priv_indices``,
``X_priv_indptr``, ``X_priv_shape``; metadata columns as ``meta__<column>``. A :class:`~webly.FeatureBlocks` ``X`` (or ``X_test``) is stored as
``X__rows`` and, per feature type m, ``X__block__<m>`` (NaN rows where a row lacks m) or
``X__frames__<m>`` with ``X__groups__<m>`` (frame blocks).

``parquet`` (one feature array only): one table, one row per web row and per test row; ``split`` is ``"train"`` or
``"test"``; features in columns ``X_0 .. X_{d-1}`` and ``X_priv_0 ..``; ``y``, ``bags``,
``source``, ``y_true`` as columns (test rows carry their label in ``y``); metadata columns as
``meta__<column>``; class names and vectors in the file's key-value metadata (``webly`` key, JSON).
Any parquet with columns ``X_*`` and ``y`` (and optionally the others) loads.
"""

import json
import os
import zipfile
import zlib

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .blocks import FeatureBlocks, GroupedFeatures
from .errors import DataError
from .fileio import atomic_path

_ARRAY_FIELDS = ("X", "y", "bags", "X_priv", "source", "y_true", "X_test", "y_test",
                 "class_names", "class_vectors")
FORMAT_VERSION = 1


def _block_arrays(field, blocks):
    """npz arrays of a FeatureBlocks: ``<field>__rows`` (row count), then per feature type m
    ``<field>__block__<m>`` (rows x d, NaN where a row lacks m) or, for frame blocks,
    ``<field>__frames__<m>`` and ``<field>__groups__<m>`` (row index of each frame)."""
    out = {f"{field}__rows": np.array(blocks.n_rows)}
    for m, block in blocks.to_dict().items():
        if isinstance(block, GroupedFeatures):
            out[f"{field}__frames__{m}"] = block.X
            out[f"{field}__groups__{m}"] = block.groups
        else:
            out[f"{field}__block__{m}"] = block
    return out


def _blocks_from_npz(z, field, path):
    """The FeatureBlocks written by :func:`_block_arrays`, or None when the file has none."""
    prefix = f"{field}__"
    keys = [k for k in z.files if k.startswith(prefix) and k != f"{field}__rows"]
    if f"{field}__rows" not in z.files:
        return None
    blocks = {}
    for k in keys:
        kind, _, m = k[len(prefix):].partition("__")
        if kind == "block":
            blocks[m] = _npz_array(z, k, path)
        elif kind == "frames":
            groups_key = f"{field}__groups__{m}"
            if groups_key not in z.files:
                raise DataError(groups_key, f"missing from {path!r}: frame block {m!r} needs the "
                                            "row index of each frame")
            blocks[m] = GroupedFeatures(_npz_array(z, k, path), _npz_array(z, groups_key, path))
        elif kind != "groups":
            raise DataError(k, f"unknown key in {path!r}")
    return FeatureBlocks(blocks, n_rows=int(_npz_array(z, f"{field}__rows", path)))


def write_npz(self, path):
    """Write every field to an ``.npz`` file, atomically (temp file + rename)."""
    arrays = {"y": self.y, "class_names": self.class_names,
              "format_version": np.array(FORMAT_VERSION), "name": np.array(self.name)}
    for f in ("X", "bags", "source", "y_true", "X_test", "y_test", "class_vectors"):
        value = getattr(self, f)
        if isinstance(value, FeatureBlocks):
            arrays.update(_block_arrays(f, value))
        elif value is not None:
            arrays[f] = value
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

def read_npz(cls, path, name=None):
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
            if req not in keys and not (req == "X" and "X__rows" in keys):
                raise DataError(req, f"missing from {path!r}; an npz needs arrays 'X' and 'y' "
                                     f"(found {sorted(keys)})")
        known = set(_ARRAY_FIELDS) | {"format_version", "name", *_SPARSE_PRIV_KEYS}
        blocky = ("meta__", "X__", "X_test__")
        unknown = [k for k in keys if k not in known and not k.startswith(blocky)]
        if unknown:
            raise DataError(unknown[0], f"unknown key in {path!r}; allowed keys: "
                                        f"{', '.join(_ARRAY_FIELDS)} and meta__<column>")
        kw = {f: _npz_array(z, f, path) for f in _ARRAY_FIELDS if f in keys}
        for f in ("X", "X_test"):
            blocks = _blocks_from_npz(z, f, path)
            if blocks is not None:
                kw[f] = blocks
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

def to_frame(self):
    """One pandas frame of training and test rows (see the module docstring for columns)."""
    if isinstance(self.X, FeatureBlocks):
        raise DataError("X", "holds several feature types; a frame (and parquet) holds one "
                             "feature array: save this dataset with to_npz")
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

def write_parquet(self, path):
    """Write the dataset to one parquet file, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = to_frame(self)
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

def read_parquet(cls, path, name=None):
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
    return from_frame(cls, frame, info=info,
                          name=name or info.get("name") or
                          os.path.splitext(os.path.basename(path))[0])

def read_parquet_dask(path):
    """The training rows of parquet data as Dask arrays, read lazily: ``{"X", "y", "X_priv"}``.

    For fits past one machine's memory (:class:`~webly.SVMPlusClassifier` /
    :class:`~webly.L2SVMPlusClassifier` with ``solver="primal"`` take Dask arrays and solve on
    their cluster). ``path``: one parquet file, a folder of them or a glob, laid out as
    :meth:`WebDataset.to_parquet` writes (columns ``X_0..``, ``y``, optional ``X_priv_0..`` and
    ``split``; rows whose ``split`` is ``"test"`` are left out). Row chunks follow the files'
    partitions (a file or row group); reading counts their rows (one pass over X's, y's and
    X_priv's columns, nothing kept in memory). ``X_priv`` is None without ``X_priv_*`` columns.
    The feature dtype is the file's (float32 stays float32).
    """
    import dask.dataframe as dd

    try:
        frame = dd.read_parquet(os.fspath(path))
    except Exception as exc:  # pyarrow / fsspec raise several types for a bad path or file
        raise DataError("path", f"{os.fspath(path)!r} is not readable parquet data ({exc})") from None
    x_cols = _prefixed(frame.columns, "X")
    if "y" not in frame.columns or not x_cols:
        raise DataError("path", f"{os.fspath(path)!r} needs columns 'y' and X_0, X_1, ...")
    priv_cols = _prefixed(frame.columns, "X_priv")
    if "split" in frame.columns:
        frame = frame[frame["split"].astype(str) != "test"]
    def rows(part):  # row counts from the array's own partitions (one pass over them)
        return part.to_dask_array().compute_chunk_sizes()

    # each column set is its own expression (Dask may merge a filtered frame's partitions
    # differently for each): y and X_priv are brought onto X's row chunks
    X = rows(frame[x_cols])
    y = rows(frame["y"]).rechunk((X.chunks[0],))
    X_priv = rows(frame[priv_cols]).rechunk((X.chunks[0], -1)) if priv_cols else None
    return {"X": X, "y": y, "X_priv": X_priv}


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
