"""A crawl-scale web set generated on the fly (issue 18 item 5): 10^5 - 10^6 rows x 512 features
without shipping them, with the structure of a keyword crawl.

:func:`make_web_crawl` simulates, row block by row block (so memory stays at the output arrays):

1. **Classes on a manifold.** Each class has a centre in a ``n_latent``-dimensional latent space;
   an image is its class centre plus latent noise, mapped to ``n_features`` dimensions by one
   fixed random orthonormal map, plus small isotropic noise (CNN embeddings lie near a
   low-dimensional manifold).
2. **Queries and bags.** Web rows come in query bags of ``bag_size`` consecutive results of one
   query (``y`` = the query); sources are assigned per bag.
3. **Label noise of two kinds.** A share ``noise_rate`` of the web rows is wrong: of those, a share
   ``outlier_rate`` are *off-manifold* junk (drawn in the ambient space, away from every class:
   logos, banners, broken images), the rest are images of another class (confusable noise, on
   the manifold). So the off-manifold premise of the semantic VAE holds for part of the noise
   only, and ``webly.diagnostics`` measures it.
4. **Privileged text** (``X_priv``, ``n_priv`` dims): a noisy one-hot-like embedding of the true
   class (junk rows get text of no class), so the text premise of the -PI methods holds.
5. **Clean test set**: ``n_test`` on-manifold rows, labels uniform over classes.

Image features are float32 (the explicit-feature solvers work in it; ``WebDataset`` keeps
float32); rows are simulated in fixed chunks of ``CHUNK_ROWS``, each with its own seeded stream,
so memory stays at the output arrays plus one chunk.
"""

import numpy as np

from .errors import DataError

__all__ = ["make_web_crawl"]

#: rows simulated at a time (each chunk draws from its own stream, seeded by the chunk index)
CHUNK_ROWS = 16_384


def _check(n_rows, n_features, n_classes, n_latent, n_priv, bag_size, noise_rate, outlier_rate,
           noise_type, n_sources, n_test):
    ints = {"n_rows": n_rows, "n_features": n_features, "n_classes": n_classes,
            "n_latent": n_latent, "n_priv": n_priv, "bag_size": bag_size, "n_sources": n_sources,
            "n_test": n_test}
    for name, v in ints.items():
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise DataError(name, f"must be a positive integer, got {v!r}")
    if n_classes < 2:
        raise DataError("n_classes", "needs at least 2 classes")
    if n_latent > n_features:
        raise DataError("n_latent", f"must be at most n_features ({n_features}), got {n_latent}")
    if n_rows < n_classes * bag_size:
        raise DataError("n_rows", f"gives less than one bag per class; use at least "
                                  f"n_classes x bag_size = {n_classes * bag_size}")
    if not (isinstance(noise_rate, (int, float)) and 0 <= noise_rate < 1):
        raise DataError("noise_rate", f"must be in [0, 1), got {noise_rate!r}")
    if noise_type not in ("pair", "uniform"):
        raise DataError("noise_type", f"must be 'pair' or 'uniform', got {noise_type!r}")
    if not (isinstance(outlier_rate, (int, float)) and 0 <= outlier_rate <= 1):
        raise DataError("outlier_rate", f"must be in [0, 1], got {outlier_rate!r}")


def make_web_crawl(n_rows=100_000, *, n_features=512, n_classes=100, n_latent=32, n_priv=50,
                   bag_size=10, noise_rate=0.3, outlier_rate=0.3, noise_type="pair",
                   n_sources=3, n_test=10_000, class_separation=0.5, random_state=0):
    """Simulate a crawl of ``n_rows`` web rows (see the module docstring for the model).

    Parameters
    ----------
    n_rows : int
        Web rows (rounded down to whole bags).
    n_features, n_latent, n_priv : int
        Image feature dimension, latent (manifold) dimension, text feature dimension.
    n_classes, bag_size, n_sources : int
        Queries, results per bag, web sources (assigned per bag, round robin).
    noise_rate : float in [0, 1)
        Share of wrong web rows; ``outlier_rate`` of them off-manifold junk, the rest confusable
        images of another class: always the next class (``noise_type="pair"``: a query keeps
        returning one look-alike, which biases a classifier) or any other (``"uniform"``, which
        many rows average out).
    n_test : int
        Clean test rows.
    class_separation : float
        Distance scale of the class centres in latent units (latent noise has unit variance);
        the default 0.5 makes a linear probe on clean labels reach about 0.77 (20 classes,
        128 features), so there is room both ways.
    random_state : int

    Returns
    -------
    WebDataset
        ``X`` (n, n_features) float32, ``y`` (the query ``c<k>``), ``y_true`` (the true class;
        off-manifold junk rows carry the extra class ``"junk"``, never a query or test label),
        ``bags``, ``source``, ``X_priv`` float32, ``X_test``/``y_test``.

    Examples
    --------
    >>> ds = make_web_crawl(2_000, n_features=64, n_classes=10, n_test=500, random_state=0)
    >>> ds.X.shape, ds.X.dtype.name, round(float(ds.is_noisy.mean()), 2)
    ((2000, 64), 'float32', 0.31)
    """
    from .dataset import WebDataset

    _check(n_rows, n_features, n_classes, n_latent, n_priv, bag_size, noise_rate, outlier_rate,
           noise_type, n_sources, n_test)
    setup = np.random.default_rng([random_state, 0])
    basis = np.linalg.qr(setup.standard_normal((n_features, n_latent)))[0].astype(np.float32)
    centres = (class_separation * setup.standard_normal((n_classes, n_latent))).astype(np.float32)
    text_codes = setup.standard_normal((n_classes + 1, n_priv)).astype(np.float32)

    n_bags = n_rows // bag_size
    n = n_bags * bag_size
    bags = np.repeat(np.arange(n_bags), bag_size)
    y = bags % n_classes                                   # bag b is a result page of query b % C
    source = np.array([f"s{i}" for i in range(n_sources)])[(bags // n_classes) % n_sources]
    X = np.empty((n, n_features), dtype=np.float32)
    X_priv = np.empty((n, n_priv), dtype=np.float32)
    y_true = np.empty(n, dtype=np.int64)
    for chunk, start in enumerate(range(0, n, CHUNK_ROWS)):
        stop = min(n, start + CHUNK_ROWS)
        rng = np.random.default_rng([random_state, 1, chunk])
        m = stop - start
        wrong = rng.random(m) < noise_rate
        junk = wrong & (rng.random(m) < outlier_rate)
        truth = y[start:stop].copy()
        step = 1 if noise_type == "pair" else rng.integers(1, n_classes, m)
        other = (truth + step) % n_classes
        truth[wrong & ~junk] = other[wrong & ~junk]
        latent = centres[truth] + rng.standard_normal((m, n_latent), dtype=np.float32)
        rows = latent @ basis.T + 0.1 * rng.standard_normal((m, n_features), dtype=np.float32)
        # junk: off the manifold, at the norm of a typical image
        noise = rng.standard_normal((int(junk.sum()), n_features), dtype=np.float32)
        scale = np.sqrt(float(class_separation ** 2 + 1) * n_latent / n_features)
        rows[junk] = noise * scale
        truth[junk] = n_classes
        X[start:stop] = rows
        y_true[start:stop] = truth
        X_priv[start:stop] = text_codes[truth] + rng.standard_normal((m, n_priv),
                                                                     dtype=np.float32)
    rng = np.random.default_rng([random_state, 2])
    y_test = rng.integers(0, n_classes, n_test)
    latent = centres[y_test] + rng.standard_normal((n_test, n_latent), dtype=np.float32)
    X_test = latent @ basis.T + 0.1 * rng.standard_normal((n_test, n_features), dtype=np.float32)
    names = np.array([f"c{k}" for k in range(n_classes)] + ["junk"])
    return WebDataset(X=X, y=names[y], bags=bags, X_priv=X_priv, source=source,
                      y_true=names[y_true], X_test=X_test.astype(np.float32),
                      y_test=names[y_test], class_names=names, name="web-crawl")
