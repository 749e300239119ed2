"""A folder of embedding vectors keyed by image content, never half-written.

Layout: ``<folder>/<backbone cache id, 24 hex>/shard-<unique>.npz``, each shard holding ``keys``
(sha256 of the image files' bytes, ``U64``) and ``X`` (float32, one row per key), plus
``model.json`` describing the backbone for people. Every shard is written whole to a temporary
file in the same folder and renamed into place (:class:`webly.fileio.atomic_path`), so a killed
or failed write leaves no shard at all; readers only look at ``shard-*.npz``. Shards are never
modified, so several processes may share a cache: a key written twice holds the same vector.
"""

import glob
import logging
import os
import time
import uuid

import numpy as np

from ..fileio import atomic_path, write_json

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingCache"]

#: temporary files older than this are the leftovers of killed writes (a shard takes seconds)
_STALE_TMP_SECONDS = 3600.0


class EmbeddingCache:
    """Vectors of one backbone by content key, in ``folder``.

    Parameters
    ----------
    folder : path
        The cache folder the user named; one subfolder per backbone (weights + preprocessing).
    cache_id : str
        :meth:`Backbone.cache_id` of the backbone.
    description : dict, optional
        Written once to ``model.json`` in the subfolder.
    """

    def __init__(self, folder, cache_id, description=None):
        self.folder = os.path.join(os.fspath(folder), cache_id[:24])
        os.makedirs(self.folder, exist_ok=True)
        self._remove_stale_temporaries()
        info = os.path.join(self.folder, "model.json")
        if description is not None and not os.path.exists(info):
            write_json(info, {"cache_id": cache_id, **description})
        self._index = {}  # key -> (shard path, row)
        self.dim = None
        for path in sorted(glob.glob(os.path.join(self.folder, "shard-*.npz"))):
            self._add_shard(path)

    def __len__(self):
        return len(self._index)

    def __contains__(self, key):
        return key in self._index

    def _add_shard(self, path):
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = z["keys"]
                shape = z["X"].shape
            if keys.ndim != 1 or len(shape) != 2 or shape[0] != len(keys):
                raise ValueError(f"keys {keys.shape} and X {shape} disagree")
            if self.dim is not None and shape[1] != self.dim:
                raise ValueError(f"{shape[1]} columns where other shards have {self.dim}")
        except Exception as exc:  # noqa: BLE001 -- a shard damaged outside webly: embed again
            logger.warning("ignoring unreadable embedding cache shard %s (%s: %s)", path,
                           type(exc).__name__, exc)
            return
        self.dim = shape[1]
        for row, key in enumerate(keys.tolist()):
            self._index.setdefault(key, (path, row))

    def get_many(self, keys):
        """Vectors of ``keys`` (all present), (len(keys), dim) float32, reading each shard once."""
        out = np.empty((len(keys), self.dim or 0), dtype=np.float32)
        by_shard = {}
        for i, key in enumerate(keys):
            path, row = self._index[key]
            by_shard.setdefault(path, []).append((i, row))
        for path, pairs in by_shard.items():
            with np.load(path, allow_pickle=False) as z:
                X = z["X"]
            idx, rows = np.array(pairs).T
            out[idx] = X[rows]
        return out

    def put_many(self, keys, X):
        """Write one new shard with ``keys`` and their rows of ``X``, atomically."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if not len(keys):
            return
        name = f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        path = os.path.join(self.folder, name)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keys=np.asarray(keys, dtype="U64"), X=X)
        self.dim = X.shape[1]
        for row, key in enumerate(keys):
            self._index.setdefault(key, (path, row))

    def _remove_stale_temporaries(self):
        now = time.time()
        for path in glob.glob(os.path.join(self.folder, ".tmp-*")):
            try:
                if now - os.path.getmtime(path) > _STALE_TMP_SECONDS:
                    os.remove(path)
            except OSError:
                pass
