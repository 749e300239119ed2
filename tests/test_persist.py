import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

from webly import persist
from webly.base import fit_kwargs_for
from webly.errors import DataError
from webly.experiments import registry
from webly.experiments.config import MethodSpec


@pytest.fixture(scope="module")
def small_web(web_digits):
    return web_digits.subset(np.flatnonzero(np.isin(web_digits.bags, np.arange(0, 80, 4))))


# the skada peer (benchmarks only) holds skada pipelines that skops cannot serialise: saving it
# gives a clear error instead (tested below). zero-shot needs image features and class vectors of
# one joint embedding, which web-digits (64-d pixels, 384-d name vectors) lacks; its round trip is
# in tests/test_heads.py
SAVABLE = sorted(set(registry.METHODS) - {"skada", "zero-shot"})


@pytest.mark.parametrize("name", SAVABLE)
def test_save_load_predict_gives_identical_predictions_for_every_method(name, small_web, tmp_path):
    entry = registry.METHODS[name]
    est = registry.make_estimator(MethodSpec(name=name), random_state=0)
    args = small_web.fit_args(target=True, labels=entry.labels)
    X, y = args.pop("X"), args.pop("y")
    est.fit(X, y, **fit_kwargs_for(est, args))
    path = tmp_path / "model.webly"
    persist.save(est, path)
    back = persist.load(path)
    Xt = small_web.X_test[:50]
    assert type(back) is type(est)
    assert np.array_equal(back.predict(Xt), est.predict(Xt))
    scores = "decision_function" if hasattr(est, "decision_function") else "predict_proba"
    assert np.array_equal(getattr(back, scores)(Xt), getattr(est, scores)(Xt))
    assert persist.peek(path)["format_version"] == persist.FORMAT_VERSION


def test_wrong_format_version_is_refused(tmp_path, small_web):
    from webly.baselines import SVMClassifier
    path = tmp_path / "m.webly"
    persist.save(SVMClassifier().fit(small_web.X, small_web.y), path)
    with zipfile.ZipFile(path) as zf:
        payload = zf.read("model.skops")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("webly_model.json", json.dumps({"format_version": 99}))
        zf.writestr("model.skops", payload)
    with pytest.raises(DataError, match="format_version") as info:
        persist.load(path)
    assert "99" in str(info.value)


class NotWebly:
    """A type from outside webly: a file holding it must not load without consent."""

    def __init__(self):
        self.x = 1


def test_files_with_untrusted_types_are_refused(tmp_path):
    path = tmp_path / "evil.webly"
    persist.save(NotWebly(), path)
    with pytest.raises(DataError, match="NotWebly") as info:
        persist.load(path)
    assert info.value.field == "trusted"
    (name,) = [t for t in str(info.value).split(": ", 2)[-1].split(";")[0].split(", ")]
    assert persist.load(path, trusted=[name]).x == 1


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_bad_or_missing_file_names_the_path(tmp_path, content):
    path = tmp_path / "m.webly"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        persist.load(path)
    assert info.value.field == "path"


def test_an_estimator_skops_cannot_serialise_is_refused_by_name_and_nothing_is_written(tmp_path):
    pytest.importorskip("skada")
    from webly.peers import SkadaClassifier

    rng = np.random.default_rng(0)
    est = SkadaClassifier().fit(rng.normal(size=(40, 3)), np.repeat([0, 1], 20),
                                X_target=rng.normal(size=(10, 3)))
    with pytest.raises(DataError, match="SkadaClassifier cannot be saved") as info:
        persist.save(est, tmp_path / "m.webly")
    assert info.value.field == "estimator"
    assert list(tmp_path.iterdir()) == []


# --- crafted model files: a skops node that makes load() call a webly function -------------------

def _json_node(value):
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _call_node(module, name, *args, loader="ConstructorFromReduceNode"):
    """A skops node that rebuilds by calling ``module.name(*args)`` (skops calls the 'class')."""
    return {"__class__": name, "__module__": module, "__loader__": loader,
            "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "content": [_json_node(a) for a in args]}}


def _write_crafted(path, *nodes):
    """A webly model file whose skops payload is a tuple of ``nodes`` (valid metadata)."""
    schema = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
              "content": list(nodes), "protocol": 2, "_skops_version": "0.16.0"}
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("webly_model.json", json.dumps({"format_version": persist.FORMAT_VERSION,
                                                    "webly_version": "0.1.0", "class": "x"}))
        zf.writestr("model.skops", inner.getvalue())


def test_a_node_calling_a_webly_function_is_refused_and_writes_nothing(tmp_path):
    target = tmp_path / "written.txt"
    path = tmp_path / "m.webly"
    _write_crafted(path, _call_node("webly.fileio", "write_text", str(target), "pwned"))
    with pytest.raises(DataError, match="webly.fileio.write_text") as info:
        persist.load(path)
    assert info.value.field == "path"
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.webly"]


def test_the_write_then_import_chain_is_refused_and_neither_step_runs(tmp_path, monkeypatch):
    # first node writes a module into a folder on sys.path, the second imports it through
    # registry._import: before the allow-list this ran the module's code in the loading process
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "ran.txt"
    module = tmp_path / "webly_evil_mod.py"
    code = f"open({str(marker)!r}, 'w').write('ran')\nx = 1\n"
    path = tmp_path / "m.webly"
    _write_crafted(path, _call_node("webly.fileio", "write_text", str(module), code),
                   _call_node("webly.experiments.registry", "_import", "webly_evil_mod:x"))
    with pytest.raises(DataError, match="not a webly estimator or helper class"):
        persist.load(path)
    assert not module.exists() and not marker.exists()
    assert "webly_evil_mod" not in sys.modules
    # the second node alone (a module already on disk) is refused too: nothing is imported
    module.write_text(code)
    _write_crafted(path, _call_node("webly.experiments.registry", "_import", "webly_evil_mod:x"))
    with pytest.raises(DataError, match="webly.experiments.registry._import"):
        persist.load(path)
    assert not marker.exists() and "webly_evil_mod" not in sys.modules


@pytest.mark.parametrize("module,name,loader", [
    ("webly.fileio", "write_text", "ObjectNode"),          # a function, even as an object node
    ("webly", "SVMClassifier", "ObjectNode"),              # an allowed class under another name
    ("webly.baselines", "SVMClassifier", "DictNode"),      # an allowed class, called to rebuild
    ("webly.baselines", "SVMClassifier", "ConstructorFromReduceNode"),
    ("webly.persist", "FORMAT_VERSION", "ObjectNode"),     # a module attribute
    ("webly.persist", "os", "ObjectNode"),
    ("webly.kernels.Kernel", "__init__", "ObjectNode"),    # a method reached as a 'class'
])
def test_only_allowed_webly_classes_rebuilt_from_attributes_load(tmp_path, module, name, loader):
    path = tmp_path / "m.webly"
    _write_crafted(path, _call_node(module, name, loader=loader))
    with pytest.raises(DataError) as info:
        persist.load(path)
    assert info.value.field == "path" and name in str(info.value)


def test_webly_names_cannot_be_trusted_by_the_caller(tmp_path):
    path = tmp_path / "m.webly"
    _write_crafted(path, _call_node("webly.fileio", "write_text", str(tmp_path / "w"), "x"))
    with pytest.raises(DataError) as info:
        persist.load(path, trusted=["webly.fileio.write_text"])
    assert info.value.field == "trusted"
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("call", [("os", "system", "touch {t}"),
                                  ("builtins", "exec", "open({t!r}, 'w')")])
def test_non_webly_callables_are_refused_as_untrusted_types(tmp_path, call):
    target = tmp_path / "touched"
    module, name, arg = call
    path = tmp_path / "m.webly"
    _write_crafted(path, _call_node(module, name, arg.format(t=str(target))))
    with pytest.raises(DataError, match=f"{module}.{name}") as info:
        persist.load(path)
    assert info.value.field == "trusted" and not target.exists()


def test_a_pickle_in_place_of_the_model_is_refused(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'boom'}",))

    path = tmp_path / "m.webly"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("webly_model.json", json.dumps({"format_version": persist.FORMAT_VERSION}))
        zf.writestr("model.skops", pickle.dumps(Boom()))
    with pytest.raises(DataError) as info:
        persist.load(path)
    assert info.value.field == "path" and not (tmp_path / "boom").exists()


def test_every_webly_estimator_class_is_allowed_and_every_allowed_name_is_that_class():
    import importlib
    import inspect
    import pkgutil

    import webly
    from sklearn.base import BaseEstimator

    found = set()
    for mod in pkgutil.walk_packages(webly.__path__, "webly."):
        if ".experiments" in mod.name or mod.name.endswith("_smo_kernels"):
            continue
        for obj in vars(importlib.import_module(mod.name)).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseEstimator)
                    and obj.__module__ == mod.name and not obj.__name__.startswith("_")
                    and not obj.__name__.endswith("Base") and obj.__name__ != "SkadaClassifier"):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    assert found <= set(persist.ALLOWED_TYPES), found - set(persist.ALLOWED_TYPES)
    for name in persist.ALLOWED_TYPES:
        assert persist._resolve_class(name) is not None, name


@pytest.mark.parametrize("version,says", [(2, "upgrade webly"), (0, "refit the estimator"),
                                          ("1", "no model format"), (None, "no model format")])
def test_format_versions_other_than_this_one_say_what_to_do(tmp_path, small_web, version, says):
    from webly.baselines import SVMClassifier
    path = tmp_path / "m.webly"
    persist.save(SVMClassifier().fit(small_web.X, small_web.y), path)
    with zipfile.ZipFile(path) as zf:
        payload = zf.read("model.skops")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("webly_model.json", json.dumps({"format_version": version,
                                                    "webly_version": "9.9"}))
        zf.writestr("model.skops", payload)
    with pytest.raises(DataError, match=says) as info:
        persist.load(path)
    assert info.value.field == "format_version"


def _rewrite_modules(path, renames):
    """Rewrite a saved model file as an earlier webly wrote it: each module name in ``renames``
    (new -> old) replaced in its skops schema. Every new name must have been there."""
    with zipfile.ZipFile(path) as zf:
        meta, payload = zf.read("webly_model.json"), zf.read("model.skops")
    inner = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(inner, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "schema.json":
                for new, old in renames.items():
                    assert f'"{new}"'.encode() in data
                    data = data.replace(f'"{new}"'.encode(), f'"{old}"'.encode())
            dst.writestr(item, data)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("webly_model.json", meta)
        zf.writestr("model.skops", inner.getvalue())


def test_a_file_naming_a_class_by_its_old_module_loads_as_the_moved_class(tmp_path, small_web):
    from webly.svmplus import SVMPlusClassifier

    est = SVMPlusClassifier(solver="primal", random_state=0).fit(
        small_web.X, small_web.y, X_priv=small_web.X_priv)
    path = tmp_path / "m.webly"
    persist.save(est, path)
    # as written before FeatureMap moved to solvers
    _rewrite_modules(path, {"webly.solvers.primal": "webly.primal"})
    back = persist.load(path)
    np.testing.assert_array_equal(back.decision_function(small_web.X_test[:30]),
                                  est.decision_function(small_web.X_test[:30]))


def test_the_old_primal_module_still_answers_with_a_future_warning():
    import webly.primal
    from webly.solvers.primal import FeatureMap

    with pytest.warns(FutureWarning, match="webly.solvers.primal"):
        assert webly.primal.FeatureMap is FeatureMap


def test_a_fitted_text_embedder_round_trips(tmp_path):
    from webly.features import TextEmbedder

    texts = ["a red bird on a tree", "a blue car on the road", "bird song at dawn",
             "car engine noise"] * 3
    est = TextEmbedder(model="tfidf").fit(texts)
    persist.save(est, tmp_path / "t.webly")
    back = persist.load(tmp_path / "t.webly")
    a, b = est.transform(texts[:4]), back.transform(texts[:4])
    a, b = (m.toarray() if hasattr(m, "toarray") else m for m in (a, b))
    np.testing.assert_array_equal(a, b)


def test_a_semantic_da_model_written_before_the_split_of_vae_py_loads(tmp_path, small_web):
    from webly.semantic import SemanticVAEDA

    est = SemanticVAEDA(hidden_size=16, max_epochs=2, random_state=0).fit(
        small_web.X, small_web.y, X_target=small_web.X_test[:60],
        class_vectors=small_web.class_vectors)
    path = tmp_path / "m.webly"
    persist.save(est, path)
    # the names the file had before the split (both classes lived in webly.semantic.vae)
    _rewrite_modules(path, {"webly.semantic.vae_da": "webly.semantic.vae",
                            "webly.semantic._vae_base": "webly.semantic.vae"})
    back = persist.load(path)
    assert type(back) is SemanticVAEDA
    np.testing.assert_array_equal(back.predict_proba(small_web.X_test[:60]),
                                  est.predict_proba(small_web.X_test[:60]))


def test_a_model_fitted_on_dask_arrays_saves_its_values_and_stays_lazy(tmp_path):
    # SVM+ on Dask arrays (the primal path) keeps correcting_function_ as a Dask array; the file
    # holds its values, the fitted estimator is left as it was
    da = pytest.importorskip("dask.array")
    from webly import SVMPlusClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    y = (X[:, 0] > 0).astype(int)
    T = X[:, :2] + rng.normal(size=(600, 2))
    clf = SVMPlusClassifier(solver="primal", kernel="linear").fit(
        da.from_array(X, chunks=200), y, X_priv=da.from_array(T, chunks=200))
    assert isinstance(clf.correcting_function_, da.Array)
    path = tmp_path / "m.webly"
    persist.save(clf, path)
    back = persist.load(path)
    assert isinstance(clf.correcting_function_, da.Array)
    assert isinstance(back.correcting_function_, np.ndarray)
    np.testing.assert_array_equal(back.correcting_function_, clf.correcting_function_.compute())
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
