"""Multi-source benchmark datasets: one domain is the target, the others are labelled sources.

Each loader returns a :class:`~webly.dataset.WebDataset` whose rows are the labelled source rows
(``source`` names their domain) and whose ``X_test``/``y_test`` are the target rows (unlabelled at
fit time: the runner hands ``X_test`` to adaptation methods as ``X_target`` and scores them on
``y_test``). Loaders are seeded: ``random_state`` (the run seed) draws the subsamples.

The data ship with the project (``datasets/office_caltech10``, ``datasets/digits_domains``; see
their PROVENANCE.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils import check_random_state

from ..dataset import WebDataset
from ..errors import DataError
from ..fileio import shipped_path

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["load_office_caltech10", "load_digit_domains", "OFFICE_DOMAINS", "DIGIT_DOMAINS"]

OFFICE_DOMAINS = ("amazon", "caltech", "dslr", "webcam")
DIGIT_DOMAINS = ("mnist", "usps", "optdigits", "mfeat")


def _path(*parts):
    path = shipped_path(*parts)
    if not os.path.exists(path):
        raise DataError("path", f"{path!r} is missing; it ships with webly (datasets/ of the "
                                "repository, webly/datasets/ of the wheel)")
    return path


def _per_class(y, n, rng):
    """Indices of at most n rows per class (all when n is None), sorted."""
    if n is None:
        return np.arange(len(y))
    idx = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        idx.append(rng.choice(rows, size=min(n, rows.size), replace=False))
    return np.sort(np.concatenate(idx))


def _fraction_per_class(y, frac, rng):
    if frac >= 1:
        return np.arange(len(y))
    idx = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = max(1, int(round(frac * rows.size)))
        idx.append(rng.choice(rows, size=k, replace=False))
    return np.sort(np.concatenate(idx))


def _check_domains(name, target, sources, domains):
    if target not in domains:
        raise DataError(f"{name}.target", f"unknown domain {target!r}; use one of {domains}")
    if sources is None:
        sources = [d for d in domains if d != target]
    sources = list(sources)
    bad = [s for s in sources if s not in domains or s == target]
    if bad or not sources:
        raise DataError(f"{name}.sources", f"give domains other than the target from {domains}, "
                                           f"got {sources}")
    return sources


def _check_count(name, value):
    if value is not None and not (isinstance(value, (int, np.integer)) and value >= 1):
        raise DataError(name, f"must be a positive integer or None, got {value!r}")


def load_office_caltech10(target: str = "amazon", sources: Sequence[str] | None = None,
                          source_per_class: int | None = None, target_fraction: float = 0.8,
                          random_state: int | np.random.RandomState | None = None) -> WebDataset:
    """Office-Caltech10 with SURF-800 features: one domain the target, the others sources.

    Preprocessing (Gong et al. 2012): each histogram divided by its sum, then each *domain*
    z-scored (population standard deviation), which uses the unlabelled target rows' statistics.

    Parameters
    ----------
    target : {"amazon", "caltech", "dslr", "webcam"}, default="amazon"
    sources : list of str or None
        Source domains; None uses the other three.
    source_per_class : int or None, default=None
        Source rows kept per class and domain (seeded); None keeps all.
    target_fraction : float in (0, 1], default=0.8
        Fraction of the target rows of each class drawn (seeded) as this run's target.
    random_state : int, RandomState or None
        The run seed (draws the subsamples).

    Returns
    -------
    WebDataset
        Rows: source rows with ``source`` = domain name; ``X_test``/``y_test``: target rows;
        ``class_names``: the 10 categories; name ``office-caltech10/<target>``.
    """
    sources = _check_domains("dataset", target, sources, OFFICE_DOMAINS)
    _check_count("dataset.source_per_class", source_per_class)
    if not 0 < target_fraction <= 1:
        raise DataError("dataset.target_fraction", f"must be in (0, 1], got {target_fraction}")
    rng = check_random_state(random_state)
    with np.load(_path("office_caltech10", "office_caltech10_surf.npz")) as z:
        names = z["class_names"].astype(str)
        data = {d: (z[f"X_{d}"].astype(np.float64), z[f"y_{d}"].astype(np.int64))
                for d in OFFICE_DOMAINS}

    def prep(X):
        X = X / np.maximum(X.sum(axis=1, keepdims=True), 1e-12)
        return (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)

    Xs, ys, ss = [], [], []
    for d in sources:
        X, y = data[d]
        keep = _per_class(y, source_per_class, rng)
        Xs.append(prep(X)[keep])
        ys.append(names[y[keep]])
        ss.append(np.full(keep.size, d))
    Xt, yt = data[target]
    keep = _fraction_per_class(yt, target_fraction, rng)
    return WebDataset(X=np.vstack(Xs), y=np.concatenate(ys), source=np.concatenate(ss),
                      X_test=prep(Xt)[keep], y_test=names[yt[keep]], class_names=names,
                      name=f"office-caltech10/{target}")


def load_digit_domains(target: str = "mnist", sources: Sequence[str] | None = None,
                       source_per_class: int | None = 100, target_per_class: int | None = 100,
                       random_state: int | np.random.RandomState | None = None) -> WebDataset:
    """Handwritten digits from four collections as domains, on one 16x16 grid.

    Domains: MNIST (test set), USPS, optdigits (scikit-learn's ``load_digits``) and UCI mfeat
    pixels, resampled to 16x16 grey values in [0, 1] (see ``datasets/digits_domains``). Each
    domain keeps its own writers, scanning and framing: that is the domain shift.

    Parameters
    ----------
    target : {"mnist", "usps", "optdigits", "mfeat"}, default="mnist"
    sources : list of str or None
        Source domains; None uses the other three.
    source_per_class : int or None, default=100
        Rows per digit drawn from each source domain (seeded); None keeps all shipped rows.
    target_per_class : int or None, default=100
        Rows per digit drawn from the target domain (seeded); None keeps all.
    random_state : int, RandomState or None

    Returns
    -------
    WebDataset
        Rows: source rows (256 pixels) with ``source`` = domain; ``X_test``/``y_test``: target
        rows; ``class_names`` 0..9; name ``digit-domains/<target>``.
    """
    sources = _check_domains("dataset", target, sources, DIGIT_DOMAINS)
    _check_count("dataset.source_per_class", source_per_class)
    _check_count("dataset.target_per_class", target_per_class)
    rng = check_random_state(random_state)
    with np.load(_path("digits_domains", "digit_domains_16x16.npz")) as z:
        data = {d: (z[f"X_{d}"].astype(np.float64) / 255.0, z[f"y_{d}"].astype(np.int64))
                for d in DIGIT_DOMAINS}
    Xs, ys, ss = [], [], []
    for d in sources:
        X, y = data[d]
        keep = _per_class(y, source_per_class, rng)
        Xs.append(X[keep])
        ys.append(y[keep])
        ss.append(np.full(keep.size, d))
    Xt, yt = data[target]
    keep = _per_class(yt, target_per_class, rng)
    return WebDataset(X=np.vstack(Xs), y=np.concatenate(ys), source=np.concatenate(ss),
                      X_test=Xt[keep], y_test=yt[keep], class_names=np.arange(10),
                      name=f"digit-domains/{target}")
