"""Readers for dataset files in formats other than webly's own npz/parquet.

``mil_csv``: the bag CSV format of the classic MIL benchmarks (Musk, Elephant, Fox, Tiger):
a header row, then one row per instance, ``bag_id,bag_label,f0..f{D-1}``; ``bag_id`` groups
instances, ``bag_label`` is the bag's label (1 positive, 0 negative) repeated on every instance.
Instance labels are unknown in that format.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .dataset import WebDataset
from .errors import DataError
from .fileio import shipped_path


def read_mil_csv(path: str | os.PathLike[str], name: str | None = None) -> WebDataset:
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
    if frame.empty:
        raise DataError("dataset.path", f"{path!r} has a header but no rows; a MIL CSV holds one "
                                        "row per instance after the header")
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


def load_music_genre_crowd(path: str | os.PathLike[str] | None = None, labels: str = "one",
                           standardize: bool = True,
                           random_state: int | np.random.RandomState | None = None) -> WebDataset:
    """Music genres with real crowd labels (Rodrigues et al. 2013): 700 songs, 300 gold test songs.

    Parameters
    ----------
    path : str or None
        The npz; None is the shipped one (``datasets/music_genre_crowd/``, see its
        PROVENANCE.md), found with the installed package whatever the working directory.
    labels : {"one", "majority"}
        Web label of each training song: one crowd answer drawn at random per song (seeded), or
        the majority vote of its answers (ties broken at random, seeded).
    standardize : bool
        Scale features to zero mean and unit variance, fitted on the 700 training songs and
        applied to the test songs (the Marsyas features have very different scales).
    random_state : int or None

    Returns
    -------
    WebDataset
        ``y`` the crowd label, ``y_true`` the gold genre (for noise evaluation only), ``meta``
        with the song name and its number of answers, the gold test set and the genre vectors.
    """
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import check_random_state

    if labels not in ("one", "majority"):
        raise DataError("dataset.labels", f"must be 'one' or 'majority', got {labels!r}")
    path = shipped_path("music_genre_crowd", "music_genre_crowd.npz") if path is None else \
        os.fspath(path)
    if not os.path.exists(path):
        raise DataError("dataset.path", f"file {path!r} does not exist")
    rng = check_random_state(random_state)
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    names = d["class_names"].astype(str)
    n = d["X"].shape[0]
    frame = pd.DataFrame({"song": d["answer_song"], "label": d["answer_label"].astype(str)})
    y = np.empty(n, dtype=object)
    for song, answers in frame.groupby("song")["label"]:
        answers = answers.to_numpy()
        if labels == "one":
            y[song] = answers[rng.randint(len(answers))]
        else:
            values, counts = np.unique(answers, return_counts=True)
            top = values[counts == counts.max()]
            y[song] = top[rng.randint(len(top))]
    if any(v is None for v in y):
        raise DataError("answer_song", f"some songs in {path!r} have no crowd answer")
    X, X_test = d["X"], d["X_test"]
    if standardize:
        scaler = StandardScaler().fit(X)
        X, X_test = scaler.transform(X), scaler.transform(X_test)
    meta = pd.DataFrame({"song": d["song"].astype(str),
                         "n_answers": np.bincount(d["answer_song"], minlength=n)})
    return WebDataset(X=X, y=y.astype(str), y_true=d["y_gold"].astype(str), meta=meta,
                      X_test=X_test, y_test=d["y_test"].astype(str), class_names=names,
                      class_vectors=d["class_vectors"].astype(np.float64),
                      name=f"music-genre-crowd ({labels})")
