"""Batched image embedding: cached by content, on GPU when present, never stopped by a bad file."""

import collections
import hashlib
import itertools
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .._torch import resolve_device
from ._backbones import get_backbone
from ._cache import EmbeddingCache
from ._images import decode_image

logger = logging.getLogger(__name__)

__all__ = ["ImageEmbedder", "ImageEmbedding", "embed_images"]


@dataclass
class ImageEmbedding:
    """What :func:`embed_images` returns.

    Attributes
    ----------
    X : ndarray (n_ok, d) float32
        One row per readable image, in input order (``paths``).
    paths : list of str
        The readable images, the rows of ``X``.
    ok : ndarray of bool (n_inputs,)
        True where the input image was embedded; ``X`` holds the rows of ``inputs[ok]``.
    failures : list of (str, str)
        (path, reason) of every input that was skipped: missing, unreadable, not an image,
        truncated ..., in input order.
    n_computed, n_cached : int
        Distinct images run through the network in this call, and taken from the cache.
    """

    X: np.ndarray
    paths: list
    ok: np.ndarray
    failures: list = field(default_factory=list)
    n_computed: int = 0
    n_cached: int = 0


class ImageEmbedder:
    """Embeds image files with a pretrained backbone; keeps the network loaded between calls.

    Parameters
    ----------
    backbone : str, Backbone or callable, default="efficientnet-lite0"
        A name in :data:`webly.features.BACKBONES`, a :class:`~webly.features.Backbone`
        (any torch module plus its preprocessing), or a callable returning one.
    cache_dir : path, optional
        Folder of the content-hash cache: a vector is stored under the sha256 of the file's bytes,
        in a subfolder per backbone weights and preprocessing, so a re-run (or a copy of the same
        image under another name) embeds nothing twice. None: no cache.
    batch_size : int, default=32
        Images per forward pass (and per cache shard).
    device : str, default="auto"
        "auto": the first CUDA GPU when torch sees one, else the CPU; or any torch device string.
    n_workers : int, default=2
        Threads that read, hash, decode and preprocess images while the network runs (0: none).
    progress : bool or None, default=None
        tqdm progress bar; None shows it only on a terminal.

    Attributes
    ----------
    backbone_ : Backbone
        The loaded backbone (after the first :meth:`embed`).
    device_ : str
        The device the network runs on.
    """

    def __init__(self, backbone="efficientnet-lite0", *, cache_dir=None, batch_size=32,
                 device="auto", n_workers=2, progress=None):
        self.backbone = backbone
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.device = device
        self.n_workers = n_workers
        self.progress = progress

    def _setup(self):
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size: a positive integer, got {self.batch_size!r}")
        if not isinstance(self.n_workers, (int, np.integer)) or self.n_workers < 0:
            raise ValueError(f"n_workers: an integer >= 0, got {self.n_workers!r}")
        if getattr(self, "_setup_for", None) == (self.backbone, self.cache_dir, self.device):
            return
        backbone = get_backbone(self.backbone)
        cache = None
        if self.cache_dir is not None:
            cache = EmbeddingCache(self.cache_dir, backbone.cache_id(),
                                   {"name": backbone.name,
                                    "preprocess": backbone.describe_preprocess()})
        device = str(resolve_device(self.device))
        backbone.module.eval().to(device)
        self.backbone_, self.device_, self._cache = backbone, device, cache
        self._setup_for = (self.backbone, self.cache_dir, self.device)

    def embed(self, paths):
        """Embed the image files ``paths``; returns an :class:`ImageEmbedding`.

        Missing and unreadable files are listed in ``failures`` and skipped; every readable image
        is embedded. Vectors found in the cache are not recomputed; new ones are written to it
        one batch at a time, so an interrupted run keeps all finished batches.
        """
        from tqdm.auto import tqdm

        if isinstance(paths, (str, bytes, os.PathLike)):
            raise TypeError("paths: a list of image paths, got a single path")
        paths = [os.fspath(p) for p in paths]
        self._setup()
        cache, preprocess = self._cache, self.backbone_.preprocess
        keys = [None] * len(paths)
        reasons = {}
        pending = []       # (key, input) waiting for a forward pass
        computed = {}      # key -> vector computed in this call
        queued = set()

        def load(path):
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                if not data:
                    return None, None, "empty file"
                key = hashlib.sha256(data).hexdigest()
                if (cache is not None and key in cache) or key in computed or key in queued:
                    return key, None, None  # known content: no need to decode it
                x = preprocess(decode_image(data))
                return key, (x if _is_tensor(x) else np.asarray(x, dtype=np.float32)), None
            except Exception as exc:  # noqa: BLE001 -- one bad file is reported, not fatal
                return None, None, _reason(exc)

        bar = tqdm(total=len(paths), unit="img", desc="embedding images",
                   disable=None if self.progress is None else not self.progress)
        try:
            with ThreadPoolExecutor(max(self.n_workers, 1)) as pool:
                results = _ordered(pool, load, paths, self.n_workers, 2 * self.batch_size)
                for i, (key, x, reason) in enumerate(results):
                    if reason is not None:
                        reasons[i] = reason
                    else:
                        keys[i] = key
                        if x is not None and key not in queued and key not in computed:
                            pending.append((key, x))
                            queued.add(key)
                    if len(pending) >= self.batch_size:
                        self._forward(pending[:self.batch_size], computed)
                        queued.difference_update(k for k, _ in pending[:self.batch_size])
                        del pending[:self.batch_size]
                    bar.update(1)
                if pending:
                    self._forward(pending, computed)
        finally:
            bar.close()

        ok = np.array([k is not None for k in keys], dtype=bool)
        failures = [(paths[i], reasons[i]) for i in sorted(reasons)]
        from_cache = sorted({k for k in keys if k is not None and k not in computed})
        vectors = dict(computed)
        if from_cache:
            vectors.update(zip(from_cache, cache.get_many(from_cache)))
        if ok.any():
            X = np.stack([vectors[k] for k in itertools.compress(keys, ok)]).astype(np.float32)
        else:
            dim = (cache.dim or 0) if cache is not None else 0  # unknown without one image
            X = np.empty((0, dim), dtype=np.float32)
        if failures:
            shown = "; ".join(f"{p} ({r})" for p, r in failures[:3])
            logger.warning("%d of %d images skipped (missing or unreadable): %s%s",
                           len(failures), len(paths), shown, " ..." if len(failures) > 3 else "")
        return ImageEmbedding(X=X, paths=list(itertools.compress(paths, ok)), ok=ok,
                              failures=failures, n_computed=len(computed),
                              n_cached=len(from_cache))

    def _forward(self, batch, computed):
        import torch

        keys = [k for k, _ in batch]
        inputs = [torch.as_tensor(x) for _, x in batch]
        if len({tuple(x.shape) for x in inputs}) > 1:
            raise ValueError("backbone.preprocess: every image must give an input of the same "
                             f"shape, got {sorted({tuple(x.shape) for x in inputs})}")
        with torch.inference_mode():
            out = self.backbone_.module(torch.stack(inputs).to(self.device_))
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != len(batch):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"backbone.module: must return (n, d) features for n images, got "
                             f"{shape} for {len(batch)}; pool or flatten them in the module")
        X = out.detach().float().cpu().numpy()
        computed.update(zip(keys, X))
        if self._cache is not None:
            try:
                self._cache.put_many(keys, X)
            except OSError as exc:  # a full disk costs the cache, not the features
                warnings.warn(f"cache_dir: could not write embedding cache shard ({exc}); these "
                              f"{len(keys)} vectors are returned but not cached", RuntimeWarning,
                              stacklevel=3)


def _reason(exc):
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):  # its message names a BytesIO object
        return "not an image (no format PIL can read)"
    return f"{type(exc).__name__}: {exc}"


def _is_tensor(x):
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _ordered(pool, fn, items, n_workers, window):
    """fn(item) for each item in order, computed ``window`` items ahead on the pool's threads."""
    if n_workers == 0:
        yield from map(fn, items)
        return
    it = iter(items)
    futures = collections.deque(pool.submit(fn, item) for item in itertools.islice(it, window))
    while futures:
        result = futures.popleft().result()
        for item in itertools.islice(it, 1):
            futures.append(pool.submit(fn, item))
        yield result


def embed_images(paths, backbone="efficientnet-lite0", *, cache_dir=None, batch_size=32,
                 device="auto", n_workers=2, progress=None):
    """Embed image files with a pretrained CNN: features of the readable ones, failures listed.

    See :class:`ImageEmbedder` for the parameters (this builds one and calls
    :meth:`~ImageEmbedder.embed`).

    Returns
    -------
    ImageEmbedding
        ``X`` (n_ok, d) float32 for ``paths[ok]``, ``ok``, ``failures`` [(path, reason)],
        ``n_computed``, ``n_cached``.

    Examples
    --------
    >>> emb = embed_images(["a.jpg", "b.png"], cache_dir="~/.cache/webly")  # doctest: +SKIP
    >>> emb.X.shape, emb.failures                                           # doctest: +SKIP
    ((2, 1280), [])
    """
    return ImageEmbedder(backbone, cache_dir=cache_dir, batch_size=batch_size, device=device,
                         n_workers=n_workers, progress=progress).embed(paths)
