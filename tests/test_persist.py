import json
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
# gives a clear error instead (tested below)
SAVABLE = sorted(set(registry.METHODS) - {"skada"})


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
