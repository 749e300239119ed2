"""From a web crawl (image files plus a manifest) to a :class:`~webly.dataset.WebDataset`.

A crawl manifest is a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or parquet file with one row per
crawled image:

========== ======== ==========================================================================
column     needed   meaning
========== ======== ==========================================================================
``path``   always   the image file, relative to the manifest's folder or absolute
``query``  web rows the search keyword the image was found with (its web label)
``source`` no       the site it came from; bags never mix sources
``title``, no       text fields; which ones form the privileged text is ``text_columns``
``tags``,           (default: those of ``title`` and ``tags`` that exist)
``caption``
``rank``   no       position in the query's search results (bags follow it; else file order)
``label``  no       the true label: ``y_true`` of web rows (noise evaluation), ``y_test`` of
                    test rows (needed there)
``split``  no       ``train`` (default) or ``test``: test rows form the clean test set
========== ======== ==========================================================================

Other columns are allowed and ignored. The clean test set comes from rows with ``split: test``
and/or a second manifest (``test_manifest``, which needs ``path`` and ``label``).

:func:`crawl_dataset` embeds the images (:func:`webly.features.embed_images`) and the web rows'
text (:class:`webly.features.TextEmbedder`), and cuts each query's results, in rank order, into
bags of ``bag_size`` consecutive rows. Images that are missing or cannot be read are dropped:
:func:`~webly.features.embed_images` logs them (one warning with the count and the first few)
and, with ``return_failures=True``, they are returned as ``[(path, reason)]``.
"""

import os

import numpy as np
import pandas as pd

from .errors import DataError, did_you_mean

__all__ = ["MANIFEST_COLUMNS", "crawl_dataset", "load_crawl", "read_manifest"]

#: the columns a manifest may hold (others are ignored)
MANIFEST_COLUMNS = ("path", "query", "source", "title", "tags", "caption", "rank", "label",
                    "split")
DEFAULT_TEXT_COLUMNS = ("title", "tags")
_SPLITS = ("train", "test")


def _expected():
    return ("expected columns: path, query (web rows), and optionally source, title, tags, "
            "caption, rank, label, split")


def _read_table(path, field):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(field, f"file {path!r} does not exist")
    if os.path.isdir(path):
        raise DataError(field, f"{path!r} is a folder; name the manifest file (.csv or .parquet)")
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif lower.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
            sep = "\t" if ".tsv" in lower else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                skipinitialspace=True)
        else:
            raise DataError(field, f"{path!r}: unknown manifest format; use .csv or .parquet")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 -- pandas, pyarrow raise many types for bad files
        raise DataError(field, f"{path!r} is not a readable manifest ({type(exc).__name__}: "
                               f"{exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _text_values(series):
    """A column as stripped strings, missing values as ''."""
    return [("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
            for v in series.astype(object)]


def read_manifest(path, *, text_columns=None, test=False, field=None):
    """Read and validate a crawl manifest; returns one normalised row per image.

    Parameters
    ----------
    path : path
        The manifest, ``.csv`` (also ``.csv.gz``, ``.tsv``) or ``.parquet``.
    text_columns : sequence of str, optional
        Columns joined (with spaces) into each row's text. None: those of ``title`` and ``tags``
        that exist. Named columns must exist.
    test : bool, default=False
        Every row is a clean test row: ``label`` is required, ``query`` is not.
    field : str, optional
        Name used in errors (default ``"manifest"``, or ``"test_manifest"`` when ``test``).

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (resolved against the manifest's folder), ``query``, ``source``,
        ``rank`` (float, NaN when absent), ``label`` (None when absent), ``split``
        (``train``/``test``) and ``text``, in file order. Missing image files are not checked
        here: :func:`crawl_dataset` reports them as failures.

    Raises
    ------
    DataError
        Naming ``<field>.<column>``: a missing column (with the expected ones), an empty path or
        query, a rank that is not a number, a split that is not train/test, a test row without
        a label, a label given on some web rows but not all.
    """
    field = field or ("test_manifest" if test else "manifest")
    frame = _read_table(path, field)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if len(frame) == 0:
        raise DataError(field, f"{os.fspath(path)!r} has no rows; a manifest lists one image a row")
    columns = list(frame.columns)

    def col_error(col, msg):
        return DataError(f"{field}.{col}", msg)

    required = ("path", "label") if test else ("path", "query")
    for col in required:
        if col not in columns:
            raise col_error(col, f"column missing from {os.fspath(path)!r}"
                                 f"{did_you_mean(col, columns)}; {_expected()}"
                                 f"{' (a test manifest needs path and label)' if test else ''}")
    if text_columns is None:
        text_cols = [c for c in DEFAULT_TEXT_COLUMNS if c in columns]
    else:
        if isinstance(text_columns, str):
            text_columns = [text_columns]
        text_cols = list(text_columns)
        for c in text_cols:
            if c not in columns:
                raise col_error(c, f"text column missing from {os.fspath(path)!r}"
                                   f"{did_you_mean(c, columns)}; it has: {', '.join(columns)}")

    n = len(frame)
    out = pd.DataFrame(index=range(n))
    raw_paths = _text_values(frame["path"])
    for i, p in enumerate(raw_paths):
        if not p:
            raise col_error("path", f"row {i + 1} has no path; every row names an image file")
    out["path"] = [os.path.normpath(p if os.path.isabs(p) else os.path.join(folder, p))
                   for p in raw_paths]

    if "split" in columns and not test:
        split = [s.lower() for s in _text_values(frame["split"])]
        split = [s or "train" for s in split]
        bad = sorted(set(split) - set(_SPLITS))
        if bad:
            raise col_error("split", f"unknown values {bad[:5]}; use 'train' or 'test'"
                                     f"{did_you_mean(bad[0], _SPLITS)}")
    else:
        split = ["test" if test else "train"] * n
    out["split"] = split
    is_train = np.array([s == "train" for s in split])

    query = _text_values(frame["query"]) if "query" in columns else [""] * n
    for i in np.flatnonzero(is_train):
        if not query[i]:
            raise col_error("query", f"row {i + 1} has no query; every web row needs the keyword "
                                     "it was found with")
    out["query"] = query

    if "source" in columns:
        source = _text_values(frame["source"])
        empty = [i for i in np.flatnonzero(is_train) if not source[i]]
        if empty and len(empty) < is_train.sum():
            raise col_error("source", f"row {empty[0] + 1} has no source while others have one; "
                                      "give every web row its site or drop the column")
        out["source"] = source if not empty else None
    else:
        out["source"] = None

    if "rank" in columns:
        rank = pd.to_numeric(frame["rank"].replace("", np.nan), errors="coerce")
        bad = np.flatnonzero(rank.isna().to_numpy() & is_train
                             & np.array([v != "" for v in _text_values(frame["rank"])]))
        if bad.size:
            raise col_error("rank", f"row {bad[0] + 1} has rank "
                                    f"{frame['rank'].iloc[bad[0]]!r}, not a number")
        out["rank"] = rank.to_numpy(dtype=float)
    else:
        out["rank"] = np.nan

    if "label" in columns:
        label = _text_values(frame["label"])
        rows_test = np.flatnonzero(~is_train)
        missing = [i for i in rows_test if not label[i]]
        if missing:
            raise col_error("label", f"test row {missing[0] + 1} has no label; the clean test "
                                     "set needs its true label on every row")
        train_rows = np.flatnonzero(is_train)
        empty = [i for i in train_rows if not label[i]]
        if empty and len(empty) < len(train_rows):
            raise col_error("label", f"web row {empty[0] + 1} has no label while others have "
                                     "one; label every web row (for y_true) or none")
        out["label"] = [v or None for v in label]
    else:
        if (~is_train).any():
            raise col_error("label", f"column missing from {os.fspath(path)!r}, but there are "
                                     "test rows (split = test); the test set needs its labels")
        out["label"] = None

    out["text"] = [" ".join(t for t in parts if t)
                   for parts in zip(*[_text_values(frame[c]) for c in text_cols])] \
        if text_cols else ""
    out.attrs["text_columns"] = text_cols
    return out


def _make_bags(rows, bag_size):
    """Bag id per row: each (source, query)'s rows in rank order (ties: file order), cut into
    runs of ``bag_size`` consecutive results (the last run holds the remainder)."""
    bags = np.empty(len(rows), dtype=np.int64)
    keys = rows["source"].fillna("").astype(str) + "\x00" + rows["query"].astype(str)
    order = pd.DataFrame({"key": keys.to_numpy(), "rank": rows["rank"].to_numpy(),
                          "pos": np.arange(len(rows))})
    next_id = 0
    # groups in order of first appearance, so bag ids follow the file
    for _, group in order.groupby("key", sort=False):
        g = group.sort_values(["rank", "pos"], na_position="last", kind="stable")
        k = np.arange(len(g)) // bag_size
        bags[g["pos"].to_numpy()] = next_id + k
        next_id += int(k.max()) + 1
    return bags


def check_params(**p):
    """Validate crawl-dataset parameters by name (the keys present); DataError names one."""
    from .features import BACKBONES, TEXT_MODELS

    if "bag_size" in p:
        v = p["bag_size"]
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise DataError("bag_size", f"must be a positive integer, got {v!r}")
    if "image_model" in p and p["image_model"] not in BACKBONES:
        v = p["image_model"]
        raise DataError("image_model", f"unknown image model {v!r}"
                                       f"{did_you_mean(v, BACKBONES)}; one of "
                                       f"{', '.join(BACKBONES)} (another network: use "
                                       "webly.crawl.crawl_dataset with a Backbone)")
    if "text_model" in p and p["text_model"] not in TEXT_MODELS:
        v = p["text_model"]
        raise DataError("text_model", f"unknown text model {v!r}{did_you_mean(v, TEXT_MODELS)}; "
                                      f"one of {', '.join(TEXT_MODELS)}")
    for k in ("manifest", "test_manifest", "cache_dir"):
        v = p.get(k)
        if v is not None and not isinstance(v, (str, os.PathLike)):
            raise DataError(k, f"must be a path, got {v!r}")
    if p.get("manifest") is not None and not os.path.isfile(p["manifest"]):
        raise DataError("manifest", f"file {os.fspath(p['manifest'])!r} does not exist")
    if p.get("test_manifest") is not None and not os.path.isfile(p["test_manifest"]):
        raise DataError("test_manifest", f"file {os.fspath(p['test_manifest'])!r} does not exist")
    tc = p.get("text_columns")
    if tc is not None and not (isinstance(tc, str) or (isinstance(tc, (list, tuple))
                                                        and all(isinstance(c, str) for c in tc))):
        raise DataError("text_columns", f"must be a list of column names, got {tc!r}")
    if "n_components" in p:
        v = p["n_components"]
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise DataError("n_components", f"must be a positive integer, got {v!r}")


def crawl_dataset(manifest, *, test_manifest=None, image_model="efficientnet-lite0",
                  text_model="tfidf", text_columns=None, bag_size=10, n_components=100,
                  cache_dir=None, batch_size=32, device="auto", progress=None, random_state=0,
                  name=None, return_failures=False):
    """Embed a crawl described by a manifest into a :class:`~webly.dataset.WebDataset`.

    Parameters
    ----------
    manifest : path
        The crawl manifest (see the module docstring for its columns).
    test_manifest : path, optional
        A manifest of the clean test set (``path``, ``label``); added to any ``split: test`` rows.
    image_model : str, Backbone or callable, default="efficientnet-lite0"
        The image network: a name in :data:`webly.features.BACKBONES` or a
        :class:`~webly.features.Backbone` (see :func:`webly.features.embed_images`).
    text_model : str, default="tfidf"
        A model of :class:`webly.features.TextEmbedder`, fitted on the web rows' text.
    text_columns : sequence of str, optional
        Manifest columns that form the text (default: those of ``title``, ``tags`` present).
        No text column: no ``X_priv``.
    bag_size : int, default=10
        Consecutive results of one query (and source) per bag.
    n_components : int, default=100
        Text dimension of ``tfidf-svd``, ``doc2vec``, ``word2vec``.
    cache_dir : path, optional
        Content-hash cache of image vectors: a re-run embeds nothing twice.
    batch_size, device, progress :
        Passed to :func:`webly.features.embed_images`.
    random_state : int, default=0
        Seed of the text model.
    name : str, optional
        Dataset name (default: the manifest's file name without extension).
    return_failures : bool, default=False
        Also return the dropped images as ``[(path, reason)]``.

    Returns
    -------
    WebDataset
        ``X`` (image features of readable web rows), ``y`` (query), ``bags``,
        ``X_priv`` (text features; CSR for ``tfidf``), ``source`` (if given), ``y_true`` (if
        every web row has a label), ``X_test``/``y_test`` (if there are test rows),
        ``class_vectors`` (the class names through the text model, dense), ``meta`` (``path``,
        ``query``, ``text``, and ``rank`` if given), ``class_names``.
    failures : list of (str, str)
        Only with ``return_failures=True``: missing or unreadable images, web rows then test
        rows, each dropped from the dataset.
    """
    from .dataset import WebDataset
    from .features import ImageEmbedder, TextEmbedder, get_backbone

    check_params(bag_size=bag_size, text_model=text_model, n_components=n_components)
    if isinstance(image_model, str):
        check_params(image_model=image_model)
    rows = read_manifest(manifest, text_columns=text_columns)
    tests = [rows[rows["split"] == "test"]]
    if test_manifest is not None:
        tests.append(read_manifest(test_manifest, text_columns=[], test=True))
    test_rows = pd.concat(tests, ignore_index=True)
    web = rows[rows["split"] == "train"].reset_index(drop=True)
    if len(web) == 0:
        raise DataError("manifest.split", f"{os.fspath(manifest)!r} has no web rows (all are "
                                          "split = test); the training set is the web rows")

    try:
        backbone = get_backbone(image_model)
    except (TypeError, ValueError, ImportError) as exc:
        raise DataError("image_model", str(exc)) from None
    embedder = ImageEmbedder(backbone, cache_dir=cache_dir, batch_size=batch_size, device=device,
                             progress=progress)
    emb = embedder.embed(list(web["path"]) + list(test_rows["path"]))
    failures = list(emb.failures)
    ok_web, ok_test = emb.ok[:len(web)], emb.ok[len(web):]
    X_all = np.asarray(emb.X, dtype=np.float32)
    X, X_test = X_all[:int(ok_web.sum())], X_all[int(ok_web.sum()):]
    web = web[ok_web].reset_index(drop=True)
    test_rows = test_rows[ok_test].reset_index(drop=True)
    if len(web) == 0:
        raise DataError("manifest.path", f"none of the {len(ok_web)} web images could be read "
                                         f"(first: {failures[0][0]}: {failures[0][1]})")

    bags = _make_bags(web, bag_size)
    text_cols = rows.attrs.get("text_columns", [])
    X_priv = class_vectors = None
    class_names = np.unique(np.concatenate([web["query"].to_numpy(dtype=str)]
                                           + [np.asarray([v for v in df["label"] if v],
                                                         dtype=str)
                                              for df in (web, test_rows) if len(df)]))
    if text_cols:
        texts = list(web["text"])
        if not any(t.strip() for t in texts):
            raise DataError(f"manifest.{text_cols[0]}", f"the text columns {text_cols} are empty "
                                                        "on every web row; fill them or set "
                                                        "text_columns: []")
        text = TextEmbedder(text_model, n_components=n_components, random_state=random_state)
        text.fit(texts)
        X_priv = text.transform(texts)
        cv = text.transform([str(c) for c in class_names])
        class_vectors = np.asarray(cv.toarray() if hasattr(cv, "toarray") else cv,
                                   dtype=np.float32)

    labels = web["label"]
    y_true = labels.to_numpy(dtype=str) if labels.notna().all() else None
    meta = pd.DataFrame({"path": web["path"], "query": web["query"], "text": web["text"]})
    if web["rank"].notna().any():
        meta["rank"] = web["rank"].to_numpy()
    has_source = web["source"].notna().all()
    ds = WebDataset(
        X=X, y=web["query"].to_numpy(dtype=str), bags=bags, X_priv=X_priv,
        source=web["source"].to_numpy(dtype=str) if has_source else None, y_true=y_true,
        meta=meta, X_test=X_test if len(test_rows) else None,
        y_test=test_rows["label"].to_numpy(dtype=str) if len(test_rows) else None,
        class_names=class_names, class_vectors=class_vectors,
        name=name or os.path.splitext(os.path.basename(os.fspath(manifest)))[0])
    return (ds, failures) if return_failures else ds


def load_crawl(manifest, test_manifest=None, image_model="efficientnet-lite0", text_model="tfidf",
               text_columns=None, bag_size=10, n_components=100, cache_dir=None):
    """The ``crawl`` dataset of configs: :func:`crawl_dataset` with its parameters by name."""
    return crawl_dataset(manifest, test_manifest=test_manifest, image_model=image_model,
                         text_model=text_model, text_columns=text_columns, bag_size=bag_size,
                         n_components=n_components, cache_dir=cache_dir)
