"""Embedded default data: ``web-digits``, a web-like dataset built from real digit images.

Nothing is downloaded: the images are the 1,797 8x8 handwritten digits that scikit-learn ships
(``sklearn.datasets.load_digits``); the class vectors are shipped in ``webly/data``.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .dataset import WebDataset
from .errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from numpy.typing import NDArray

CORRUPTIONS = ("clean", "noise", "blur", "shift", "contrast", "occlude", "invert")


def digits_class_vectors() -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """``(names, vectors)`` of the ten digit classes: 384-d MiniLM class-name vectors."""
    with resources.files("webly.data").joinpath("digits_class_vectors.npz").open("rb") as fh:
        z = np.load(fh)
        return z["names"].astype(str), z["vectors"].astype(np.float64)


def corrupt(images: NDArray[np.float64], kind: str, severity: float = 1.0,
            random_state: int | np.random.RandomState | None = None) -> NDArray[np.float64]:
    """Apply one source corruption to (n, 8, 8) images with values in [0, 1].

    ``clean`` identity; ``noise`` additive Gaussian noise (sd 0.25 x severity);
    ``blur`` Gaussian blur (sigma 0.8 x severity); ``shift`` translation by
    round(1 x severity) pixels right and down (zero fill); ``contrast`` values pulled towards 0.5
    (x <- 0.5 + (x - 0.5)(1 - 0.6 severity)) plus a brightness offset of 0.15 x severity;
    ``occlude`` a random 3x3 block set to 0 in each image; ``invert`` x <- 1 - x.
    Results are clipped to [0, 1].
    """
    if kind not in CORRUPTIONS:
        raise DataError("sources", f"unknown corruption {kind!r}; use one of {', '.join(CORRUPTIONS)}")
    rng = check_random_state(random_state)
    x = images.astype(np.float64).copy()
    if kind == "noise":
        x += rng.normal(0.0, 0.25 * severity, size=x.shape)
    elif kind == "blur":
        x = np.stack([ndimage.gaussian_filter(im, sigma=0.8 * severity) for im in x]) if len(x) else x
    elif kind == "shift":
        s = max(int(round(severity)), 1)
        out = np.zeros_like(x)
        out[:, s:, s:] = x[:, :-s, :-s]
        x = out
    elif kind == "contrast":
        x = 0.5 + (x - 0.5) * (1.0 - 0.6 * min(severity, 1.5)) + 0.15 * severity
    elif kind == "occlude":
        r = rng.randint(0, 6, size=(len(x), 2))
        for i, (a, b) in enumerate(r):
            x[i, a:a + 3, b:b + 3] = 0.0
    elif kind == "invert":
        x = 1.0 - x
    return np.clip(x, 0.0, 1.0)


def make_web_digits(*, n_bags_per_class: int = 8, bag_size: int = 12, noise_rate: float = 0.3,
                    noise_type: str = "uniform",
                    sources: Sequence[str] = ("clean", "noise", "blur"), target: str = "clean",
                    severity: float = 1.0, test_size: float = 0.3, n_background_tags: int = 30,
                    tags_per_class: int = 4, words_per_image: int = 6, tag_noise: float = 0.3,
                    query_tag_rate: float = 0.2,
                    random_state: int | np.random.RandomState | None = 0) -> WebDataset:
    """Simulate a web crawl of digit images: noisy query bags, tags, sources, a clean test set.

    Simulation, step by step (every random draw uses ``random_state``):

    1. **Images.** The 1,797 8x8 digits of ``load_digits``, pixels scaled to [0, 1] (divided by
       16). A stratified split puts ``test_size`` of them aside as the clean test set; the rest is
       the *pool* the crawl draws from.
    2. **Queries and bags.** For each class c (the query, e.g. "three") the crawl returns
       ``n_bags_per_class`` bags of ``bag_size`` images. Bag j of query c comes from source
       ``sources[j % len(sources)]`` (a result page of one search engine). Every row's web label
       ``y`` is its query.
    3. **Label noise.** In every bag exactly ``round(noise_rate * bag_size)`` images are wrong:
       their true class is another class, drawn uniformly among the other classes
       (``noise_type="uniform"``) or always the next digit c+1 mod 10 (``"pair"``, confusable
       noise). The other images are of class c. Images are drawn from the pool without
       replacement while the pool of a class lasts; then that class is reshuffled and reused.
       ``y_true`` holds the true classes.
    4. **Privileged tags** (``X_priv``), drawn from each image's *true* class: the vocabulary is
       ``tags_per_class`` words per class (the class name and ``<name>_tag1`` ...) plus
       ``n_background_tags`` generic words. Each image gets ``words_per_image`` words: with
       probability ``1 - tag_noise`` a word of its true class, else a word drawn uniformly from the
       whole vocabulary. With probability ``query_tag_rate`` the query's own name is added too (web
       text mentions the query whether or not the image shows it). Features are word counts,
       L2-normalised; the words are kept as text in ``meta["tags"]``.
    5. **Sources (domain shift).** Each source applies its corruption (see :func:`corrupt`, with
       ``severity``) to the images of its bags. The test set gets the ``target`` corruption
       ("clean" by default), so training sources that corrupt images are shifted from the target.
    6. **Semantics.** ``class_names`` are "zero" .. "nine"; ``class_vectors`` the shipped 384-d
       MiniLM vectors of those names.

    Parameters
    ----------
    n_bags_per_class, bag_size : int
        Crawl size: rows = 10 x n_bags_per_class x bag_size (960 by default).
    noise_rate : float in [0, 1)
        Fraction of wrong images in every bag.
    noise_type : {"uniform", "pair"}
    sources : sequence of str
        Corruption of each web source, from ``CORRUPTIONS``.
    target : str
        Corruption of the test/target set.
    severity : float
        Strength of the corruptions.
    test_size : float
        Fraction of the 1,797 images kept as the clean test set.
    n_background_tags, tags_per_class, words_per_image : int
    tag_noise, query_tag_rate : float in [0, 1]
    random_state : int, RandomState or None

    Returns
    -------
    WebDataset
        With ``X`` (n, 64), ``y`` and ``y_true`` (class names), ``bags``, ``X_priv``,
        ``source`` (corruption names), ``meta`` (query, source, true class, is_noisy,
        digit index, tags), ``X_test``/``y_test``, ``class_names``, ``class_vectors``.

    Examples
    --------
    >>> ds = make_web_digits(noise_rate=0.25, random_state=0)
    >>> ds.X.shape, round(float(ds.is_noisy.mean()), 2)
    ((960, 64), 0.25)
    """
    check_params(n_bags_per_class=n_bags_per_class, bag_size=bag_size, noise_rate=noise_rate,
                 noise_type=noise_type, sources=sources, target=target, severity=severity,
                 test_size=test_size, tag_noise=tag_noise, query_tag_rate=query_tag_rate,
                 n_background_tags=n_background_tags, tags_per_class=tags_per_class,
                 words_per_image=words_per_image, random_state=random_state)
    rng = check_random_state(random_state)
    names, vectors = digits_class_vectors()
    C = len(names)
    digits = load_digits()
    images = digits.images / 16.0
    labels = digits.target
    idx = np.arange(len(labels))
    pool_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=labels,
                                          random_state=rng.randint(2**31 - 1))
    bags, query, true, img_idx, bag_j = simulate_query_bags(
        labels, pool_idx, C, n_bags_per_class, bag_size, noise_rate, noise_type, rng)
    src_names = np.array([sources[j % len(sources)] for j in bag_j])

    X = np.empty((len(bags), 64))
    for s in dict.fromkeys(sources):
        m = src_names == s
        X[m] = corrupt(images[img_idx[m]], s, severity, rng).reshape(m.sum(), 64)
    X_test = corrupt(images[test_idx], target, severity, rng).reshape(len(test_idx), 64)

    vocab, X_priv, tag_text = _tags(true, query, names, rng, n_background_tags, tags_per_class,
                                    words_per_image, tag_noise, query_tag_rate)
    meta = pd.DataFrame({"query": names[query], "source": src_names, "true_class": names[true],
                         "is_noisy": query != true, "digit_index": img_idx, "tags": tag_text})
    return WebDataset(
        X=X, y=names[query], bags=bags, X_priv=X_priv, source=src_names, y_true=names[true],
        meta=meta, X_test=X_test, y_test=names[labels[test_idx]], class_names=names,
        class_vectors=vectors, name="web-digits")


def simulate_query_bags(labels, pool_idx, n_classes, n_bags_per_class, bag_size, noise_rate,
                        noise_type, rng):
    """Draw noisy query bags from a labelled pool (steps 2-3 of :func:`make_web_digits`).

    Returns ``(bags, query, true, index, bag_number)`` per row: bag id, query class, true class,
    the row's index into ``labels`` and the bag's number within its query.
    """
    C = n_classes
    pool = {c: list(rng.permutation(pool_idx[labels[pool_idx] == c])) for c in range(C)}
    queue = {c: [] for c in range(C)}
    for c in range(C):
        if not pool[c]:
            raise DataError("y", f"class {c} has no rows to draw query bags from")

    def draw(c):
        if not queue[c]:
            queue[c] = list(rng.permutation(pool[c]))
        return queue[c].pop()

    n_wrong = int(round(noise_rate * bag_size))
    rows = []
    bag_id = 0
    for c in range(C):
        for j in range(n_bags_per_class):
            wrong = np.zeros(bag_size, dtype=bool)
            wrong[rng.choice(bag_size, size=n_wrong, replace=False)] = True
            for w in wrong:
                if not w:
                    k = c
                elif noise_type == "pair":
                    k = (c + 1) % C
                else:
                    k = rng.choice([o for o in range(C) if o != c])
                rows.append((bag_id, c, k, draw(k), j))
            bag_id += 1
    return tuple(np.array(v) for v in zip(*rows))


def make_query_bags(ds: WebDataset, *, n_bags_per_class: int = 8, bag_size: int = 12,
                    noise_rate: float = 0.3, noise_type: str = "uniform",
                    random_state: int | np.random.RandomState | None = 0) -> WebDataset:
    """Turn a cleanly labelled dataset into web-like query bags with wrong images.

    The same simulation as steps 2-3 of :func:`make_web_digits`, applied to the training rows of
    ``ds`` (their ``y`` taken as true labels): for each class, ``n_bags_per_class`` bags of
    ``bag_size`` rows, exactly ``round(noise_rate * bag_size)`` of them from other classes. The
    rows keep their features and privileged features; ``y`` becomes the query, ``y_true`` the
    original label; the test set is kept.
    """
    check_params(n_bags_per_class=n_bags_per_class, bag_size=bag_size, noise_rate=noise_rate,
                 noise_type=noise_type, random_state=random_state)
    rng = check_random_state(random_state)
    names = ds.class_names
    order = np.argsort(names)
    codes = order[np.searchsorted(names[order], ds.y)]
    bags, query, true, idx, _ = simulate_query_bags(
        codes, np.arange(ds.n_rows), len(names), n_bags_per_class, bag_size, noise_rate,
        noise_type, rng)
    meta = pd.DataFrame({"row": idx, "is_noisy": query != true})
    return WebDataset(X=ds.X[idx], y=names[query], bags=bags,
                      X_priv=None if ds.X_priv is None else ds.X_priv[idx],
                      y_true=names[true], meta=meta, X_test=ds.X_test, y_test=ds.y_test,
                      class_names=names, class_vectors=ds.class_vectors, name=ds.name)


def _tags(true, query, names, rng, n_background, per_class, n_words, tag_noise, query_rate):
    class_words = [[str(nm)] + [f"{nm}_tag{j}" for j in range(1, per_class)] for nm in names]
    vocab = [w for ws in class_words for w in ws] + [f"word{j}" for j in range(n_background)]
    V = len(vocab)
    counts = np.zeros((len(true), V))
    texts = []
    for i, (k, q) in enumerate(zip(true, query)):
        words = []
        for _ in range(n_words):
            if rng.rand() < 1.0 - tag_noise:
                words.append(k * per_class + rng.randint(per_class))
            else:
                words.append(rng.randint(V))
        if rng.rand() < query_rate:
            words.append(q * per_class)
        np.add.at(counts[i], words, 1.0)
        texts.append(" ".join(vocab[w] for w in words))
    norms = np.linalg.norm(counts, axis=1, keepdims=True)
    return vocab, counts / np.maximum(norms, 1e-12), texts


def check_params(**p):
    """Validate simulation parameters by name; each rule applies to the keys present.

    Raises a :class:`~webly.errors.DataError` naming the parameter (``noise_rate``); a config
    reports it as ``dataset.noise_rate``. Keys without a rule are ignored, so a dataset spec can be
    passed whole (the config registry calls this before anything runs).
    """
    def bad(name, msg):
        raise DataError(name, msg)

    def integer(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    def number(v):
        return (isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, (bool, np.bool_)) and np.isfinite(v))

    for k in ("n_bags_per_class", "bag_size", "words_per_image", "tags_per_class"):
        if k in p and not (integer(p[k]) and p[k] >= 1):
            bad(k, f"must be a positive integer, got {p[k]!r}")
    if "n_background_tags" in p and not (integer(p["n_background_tags"])
                                         and p["n_background_tags"] >= 0):
        bad("n_background_tags", f"must be a non-negative integer, got {p['n_background_tags']!r}")
    ranges = {"noise_rate": ("[0, 1)", lambda v: 0 <= v < 1),
              "tag_noise": ("[0, 1]", lambda v: 0 <= v <= 1),
              "query_tag_rate": ("[0, 1]", lambda v: 0 <= v <= 1),
              "test_size": ("(0, 1)", lambda v: 0 < v < 1),
              "severity": ("(0, inf)", lambda v: v > 0)}
    for k, (interval, ok) in ranges.items():
        if k in p and not (number(p[k]) and ok(p[k])):
            kind = "" if number(p[k]) else "a number "
            bad(k, f"must be {kind}in {interval}, got {p[k]!r}")
    if "noise_type" in p and p["noise_type"] not in ("uniform", "pair"):
        bad("noise_type", f"must be 'uniform' or 'pair', got {p['noise_type']!r}")
    if "sources" in p:
        if isinstance(p["sources"], str) or not hasattr(p["sources"], "__len__") \
                or len(p["sources"]) == 0:
            bad("sources", "must be a non-empty list of corruption names, e.g. [clean, noise, blur]")
        for s in p["sources"]:
            if not isinstance(s, str) or s not in CORRUPTIONS:
                bad("sources", f"unknown corruption {s!r}; use one of {', '.join(CORRUPTIONS)}")
    if "target" in p and not (isinstance(p["target"], str) and p["target"] in CORRUPTIONS):
        bad("target", f"unknown corruption {p['target']!r}; use one of {', '.join(CORRUPTIONS)}")
    if "random_state" in p:
        v = p["random_state"]
        if not (v is None or isinstance(v, np.random.RandomState)
                or (integer(v) and 0 <= v <= 2**32 - 1)):
            bad("random_state", f"must be an integer in [0, 2**32 - 1] (a numpy seed) or None, "
                                f"got {v!r}")
