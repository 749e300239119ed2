"""Model files that cannot run code when loaded: ``save`` / ``load`` for every webly estimator.

A model file is a zip archive holding ``webly_model.json`` (format version, webly version,
estimator class) and ``model.skops``: the estimator in skops' format, which rebuilds objects from
an explicit list of allowed types instead of unpickling arbitrary code.

What a file may name, checked before anything in it is imported or built:

- webly's own types only from :data:`ALLOWED_TYPES`, an explicit list of the estimator classes and
  the helper classes their fitted state holds. Each is checked to resolve to exactly that class
  (never a function, a module attribute or a class reached under another name), and only as an
  object rebuilt from its attributes (skops' ``ObjectNode``, the way :func:`save` writes it): a
  file cannot make ``load`` call a webly function such as a file writer or an importer;
- the types skops trusts by default (numpy arrays, builtin containers, scikit-learn estimators);
- anything else only when the caller names it in ``trusted`` after checking where the file came
  from. webly's own names cannot be trusted that way.

Files are written atomically.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from .errors import DataError
from .fileio import atomic_path

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable
    from sklearn.base import BaseEstimator

FORMAT_VERSION = 1
#: every webly type a model file may hold: the estimator classes (a test checks this list against
#: the BaseEstimator subclasses webly defines) and the helper classes their fitted state needs
ALLOWED_TYPES = (
    "webly.baselines.SVMClassifier",
    "webly.baselines.KMMSVMClassifier",
    "webly.svmplus.SVMPlusClassifier",
    "webly.svmplus.L2SVMPlusClassifier",
    "webly.distillation.GDClassifier",
    "webly.mil.misvm.MiSVMClassifier",
    "webly.mil.misvm.MISVMClassifier",
    "webly.mil.misvm_pi.MiSVMPIClassifier",
    "webly.mil.misvm_pi.MiSVMPIDAClassifier",
    "webly.mil.smil.SMILClassifier",
    "webly.mil.smil.SbMILClassifier",
    "webly.mil.smil.SMILPIClassifier",
    "webly.mil.smil.SMILPIDAClassifier",
    "webly.mil.milcpb.MILCPBClassifier",
    "webly.mil.milcpb.MILCPBPIClassifier",
    "webly.mil.milcpb.MILCPBPIDAClassifier",
    "webly.multisource.mdahs.MDAHS",
    "webly.multisource.mdahs_plus.MDAHSPlus",
    "webly.multisource.mdahs_plus.MDAHSPlusENR",
    "webly.multisource.ensembles.UniformSourcesClassifier",
    "webly.multisource.ensembles.SingleSourceClassifier",
    "webly.semantic.vae.SemanticVAE",
    "webly.semantic.vae_da.SemanticVAEDA",
    "webly.semantic.vae.VAEWeightedClassifier",
    "webly.peers.CleanLearningClassifier",
    "webly.features._text.TextEmbedder",
    "webly.heads.linear.LinearProbeClassifier",
    "webly.heads.robust.GCEClassifier",
    "webly.heads.robust.CoTeachingClassifier",
    "webly.heads.zeroshot.ZeroShotClassifier",
    # helper classes held in fitted state
    "webly.kernels.Kernel",
    "webly.blocks.GroupedFeatures",
    "webly.solvers.primal.FeatureMap",
    "webly.mil._common.BinaryMIL",
    "webly.semantic._vae_base._GlobalScaler",
)
_ALLOWED = frozenset(ALLOWED_TYPES)
#: classes that moved since format 1 was first written: old name -> new name (a file naming the
#: old one is read as naming the new one; nothing else about it changes)
MOVED_TYPES = {"webly.primal.FeatureMap": "webly.solvers.primal.FeatureMap",
               "webly.semantic.vae.SemanticVAEDA": "webly.semantic.vae_da.SemanticVAEDA",
               "webly.semantic.vae._GlobalScaler": "webly.semantic._vae_base._GlobalScaler",
               "webly.svmplus.GDClassifier": "webly.distillation.GDClassifier",
               "webly.multisource._classes.MDAHS": "webly.multisource.mdahs.MDAHS",
               **{f"webly.multisource._classes.{c}": f"webly.multisource.mdahs_plus.{c}"
                  for c in ("MDAHSPlus", "MDAHSPlusENR")},
               **{f"webly.multisource._classes.{c}": f"webly.multisource.ensembles.{c}"
                  for c in ("UniformSourcesClassifier", "SingleSourceClassifier")}}
# how save() writes a webly object: a new instance whose attributes are set (no call of anything)
_WEBLY_LOADER = "ObjectNode"
# scikit-learn internals that skops does not trust by default but that hold only arrays/numbers
_EXTRA_TRUSTED = {
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
}
_META = "webly_model.json"
_MODEL = "model.skops"


def save(estimator: BaseEstimator, path: str | os.PathLike[str]) -> None:
    """Write a fitted (or unfitted) estimator to ``path``."""
    import skops.io as sio

    from . import __version__

    meta = {"format_version": FORMAT_VERSION, "webly_version": __version__,
            "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}"}
    try:
        payload = sio.dumps(_in_memory(estimator))
    except (RecursionError, TypeError):  # e.g. skada's pipelines (the skada peer): nothing written
        raise DataError("estimator", f"{meta['class']} cannot be saved: skops cannot serialise "
                                     "the objects it holds; refit it instead") from None
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_META, json.dumps(meta, indent=2))
            zf.writestr(_MODEL, payload)


def _in_memory(estimator):
    """The estimator with its Dask-array attributes computed into numpy arrays (a shallow copy;
    the caller's estimator keeps its lazy arrays).

    A fit on Dask arrays (SVM+ / L2-SVM+ ``solver="primal"``) leaves per-training-row attributes
    such as ``correcting_function_`` as Dask arrays; a model file holds their values (8 bytes per
    row and model).
    """
    lazy = {k: v for k, v in vars(estimator).items()
            if type(v).__module__.split(".")[0] == "dask" and hasattr(v, "compute")}
    if not lazy:
        return estimator
    import copy

    import numpy as np

    out = copy.copy(estimator)
    for k, v in lazy.items():
        setattr(out, k, np.asarray(v.compute()))
    return out


def load(path: str | os.PathLike[str], *, trusted: Iterable[str] = ()) -> Any:
    """Read an estimator written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
    trusted : sequence of str
        Extra fully qualified type names to allow (beyond webly's own types and skops' defaults).

    Raises
    ------
    DataError
        ``path`` when the file is missing, not a webly model file, damaged, or names a webly
        object that is not an allowed class (see the module docstring); ``format_version`` when
        it was written in a format this webly does not read (with what to do); ``trusted`` when
        it holds other types not allowed, or ``trusted`` names a webly type.
    """
    import skops.io as sio

    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(_META))
            payload = zf.read(_MODEL)
    except FileNotFoundError:
        raise DataError("path", f"model file {str(path)!r} does not exist") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict):
        raise DataError("path", f"{str(path)!r} is not a webly model file (written by "
                                "webly.persist.save)")
    _check_version(path, meta)
    trusted = set(trusted)
    own = sorted(t for t in trusted if _is_webly(t))
    if own:
        raise DataError("trusted", f"{own[0]!r} is a webly name: webly decides which of its own "
                                   "types a model file may hold (webly.persist.ALLOWED_TYPES); "
                                   "remove it from trusted=[...]")
    payload = _checked_payload(path, payload)  # before skops imports or builds anything
    try:
        untrusted = sio.get_untrusted_types(data=payload)
    except Exception as exc:  # a damaged payload: skops' own parse errors vary
        raise DataError("path", f"{str(path)!r} holds a damaged model ({type(exc).__name__}); "
                                "save the estimator again") from None
    allowed = [t for t in untrusted if t in _ALLOWED or t in _EXTRA_TRUSTED or t in trusted]
    refused = sorted(set(untrusted) - set(allowed))
    if refused:
        raise DataError("trusted", f"{str(path)!r} contains types webly does not trust: "
                                   f"{', '.join(refused)}; pass them in trusted=[...] only if "
                                   "you trust the file's origin")
    return sio.loads(payload, trusted=allowed)


def _is_webly(name):
    return name == "webly" or name.startswith("webly.")


def _check_version(path, meta):
    version = meta.get("format_version")
    written_by = meta.get("webly_version", "an unknown version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError("format_version", f"{str(path)!r} records no model format version; it was "
                                          "not written by webly.save: refit the estimator and "
                                          "save it with webly.save")
    if version > FORMAT_VERSION:
        from . import __version__
        raise DataError("format_version", f"{str(path)!r} has model format {version} (written by "
                                          f"webly {written_by}); this webly ({__version__}) reads "
                                          f"format {FORMAT_VERSION} and older: upgrade webly to "
                                          "load it")
    if version < FORMAT_VERSION:  # no older format exists yet; when one does, read it here
        raise DataError("format_version", f"{str(path)!r} has model format {version} (written by "
                                          f"webly {written_by}), which this webly no longer "
                                          "reads: refit the estimator with this webly and save "
                                          "it again (webly.save)")


def _resolve_class(name):
    """The class ``name`` (``module.QualName``) names, or None when it is anything else."""
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    if not inspect.isclass(obj) or f"{obj.__module__}.{obj.__qualname__}" != name:
        return None
    return obj


def _read_schema(path, payload):
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf:
            return json.loads(zf.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise DataError("path", f"{str(path)!r} holds a damaged model (no readable schema); save "
                                "the estimator again") from None


def _nodes(schema):
    """Every dict of the skops schema (nodes and their parts), depth first."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            yield node


def _checked_payload(path, payload):
    """The payload, its moved class names (:data:`MOVED_TYPES`) brought up to date, after every
    node of its skops schema that names a webly type was checked (one pass, before skops imports
    or builds anything).

    skops rebuilds some nodes by calling the named object (``ConstructorFromReduceNode`` calls it
    with arguments from the file, ``DictNode`` calls it with none), so a webly *function* named in
    a file would run on load. Every node naming a webly module must name an allowed class, as an
    ``ObjectNode``, by its exact module and class name; the class is resolved and checked.
    """
    schema = _read_schema(path, payload)
    moved, resolved = False, set()
    for node in _nodes(schema):
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        if name in MOVED_TYPES:
            name = MOVED_TYPES[name]
            node["__module__"], _, node["__class__"] = name.rpartition(".")
            moved = True
        module = node.get("__module__")
        if not (isinstance(module, str) and _is_webly(module)):
            continue
        if name not in resolved:
            if name not in _ALLOWED or _resolve_class(name) is None:
                raise DataError("path", f"{str(path)!r} names {name!r}, which is not a webly "
                                        "estimator or helper class a model may hold; refusing to "
                                        "load it (only load model files from sources you trust)")
            resolved.add(name)
        loader = node.get("__loader__")
        if loader != _WEBLY_LOADER:
            raise DataError("path", f"{str(path)!r} rebuilds {name!r} with {loader!r} (webly "
                                    f"writes its types as {_WEBLY_LOADER}); refusing to load it")
    if not moved:
        return payload
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = json.dumps(schema) if item.filename == "schema.json" else src.read(item)
            dst.writestr(item, data)
    return out.getvalue()


def peek(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a model file (format version, webly version, estimator class)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(_META))
    except (FileNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError("path", f"{str(path)!r} is not a readable webly model file ({exc})") from None


__all__ = ["save", "load", "peek", "FORMAT_VERSION"]
