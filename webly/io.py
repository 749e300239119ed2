"""Readers for dataset files in formats other than webly's own npz/parquet.

``mil_csv``: the bag CSV format of the classic MIL benchmarks (Musk, Elephant, Fox, Tiger):
a header row, then one row per instance, ``bag_id,bag_label,f0..f{D-1}``; ``bag_id`` groups
instances, ``bag_label`` is the bag's label (1 positive, 0 negative) repeated on every instance.
Instance labels are unknown in that format.
"""

import os

import numpy as np
import pandas as pd

from .dataset import WebDataset
from .errors import DataError


def read_mil_csv(path, name=None):
    """Read a bag CSV (``bag_id,bag_label,features...``) into a :class:`WebDataset`.

    Rows become instances, ``bags`` the bag ids, ``y`` the bag labels (0/1, class_names [0, 1]).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError("dataset.path", f"file {path!r} does not exist")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError("dataset.path", f"{path!r} is not a readable CSV ({exc})") from None
    for col in ("bag_id", "bag_label"):
        if col not in frame.columns:
            raise DataError(col, f"column missing from {path!r}; a MIL CSV has header "
                                 "bag_id,bag_label,f0,f1,...")
    feats = [c for c in frame.columns if c not in ("bag_id", "bag_label")]
    if not feats:
        raise DataError("X", f"{path!r} has no feature columns after bag_id,bag_label")
    labels = frame["bag_label"].to_numpy()
    if not np.isin(labels, [0, 1]).all():
        raise DataError("bag_label", f"must be 0 or 1 in {path!r}, found "
                                     f"{sorted(set(labels.tolist()) - {0, 1})[:5]}")
    try:
        X = frame[feats].to_numpy(dtype=np.float64)
    except ValueError as exc:
        raise DataError("X", f"non-numeric feature values in {path!r} ({exc})") from None
    bags = frame["bag_id"].to_numpy()
    if bags.dtype.kind not in "iu":
        raise DataError("bag_id", f"must be integers in {path!r}")
    return WebDataset(X=X, y=labels.astype(np.int64), bags=bags.astype(np.int64),
                      class_names=np.array([0, 1]),
                      name=name or _stem(path))


def _stem(path):
    """File name without its extensions: ``musk1.csv.gz`` -> ``musk1``."""
    return os.path.basename(path).split(".")[0]
