"""Model files that cannot run code when loaded: ``save`` / ``load`` for every webly estimator.

A model file is a zip archive holding ``webly_model.json`` (format version, webly version,
estimator class) and ``model.skops``: the estimator in skops' format, which rebuilds objects from
an explicit list of allowed types instead of unpickling arbitrary code. On load, types defined by
webly itself and those skops trusts by default are allowed; any other type in the file is refused
with its name, unless the caller passes it in ``trusted`` after checking where the file came from.
Files are written atomically.
"""

import json
import zipfile

from .errors import DataError
from .fileio import atomic_path

FORMAT_VERSION = 1
# scikit-learn internals that skops does not trust by default but that hold only arrays/numbers
_EXTRA_TRUSTED = {
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
}
_META = "webly_model.json"
_MODEL = "model.skops"


def save(estimator, path):
    """Write a fitted (or unfitted) estimator to ``path``."""
    import skops.io as sio

    from . import __version__

    meta = {"format_version": FORMAT_VERSION, "webly_version": __version__,
            "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}"}
    try:
        payload = sio.dumps(estimator)
    except RecursionError:  # e.g. skada's pipelines (the skada peer): nothing is written
        raise DataError("estimator", f"{meta['class']} cannot be saved: skops cannot serialise "
                                     "the objects it holds; refit it instead") from None
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_META, json.dumps(meta, indent=2))
            zf.writestr(_MODEL, payload)


def load(path, *, trusted=()):
    """Read an estimator written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
    trusted : sequence of str
        Extra fully qualified type names to allow (beyond webly's own types and skops' defaults).

    Raises
    ------
    DataError
        ``path`` when the file is missing or not a webly model file, ``format_version`` when it
        was written by an incompatible webly, ``trusted`` when it holds types not allowed.
    """
    import skops.io as sio

    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(_META))
            payload = zf.read(_MODEL)
    except FileNotFoundError:
        raise DataError("path", f"model file {str(path)!r} does not exist") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        raise DataError("path", f"{str(path)!r} is not a webly model file (written by "
                                "webly.persist.save)") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError("format_version", f"{str(path)!r} has model format {version!r}; this "
                                          f"webly reads format {FORMAT_VERSION}. Re-save the "
                                          "model with a matching webly version")
    untrusted = sio.get_untrusted_types(data=payload)
    allowed = [t for t in untrusted
               if t.startswith("webly.") or t in _EXTRA_TRUSTED or t in set(trusted)]
    refused = sorted(set(untrusted) - set(allowed))
    if refused:
        raise DataError("trusted", f"{str(path)!r} contains types webly does not trust: "
                                   f"{', '.join(refused)}; pass them in trusted=[...] only if "
                                   "you trust the file's origin")
    return sio.loads(payload, trusted=allowed)


def peek(path):
    """The metadata of a model file (format version, webly version, estimator class)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(_META))
    except (FileNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError("path", f"{str(path)!r} is not a readable webly model file ({exc})") from None


__all__ = ["save", "load", "peek", "FORMAT_VERSION"]
