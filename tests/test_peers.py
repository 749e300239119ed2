"""Peers wrap other packages (cleanlab); they see web features and web labels only."""

import builtins

import numpy as np
import pytest

from webly import metrics as M
from webly.errors import ConfigError
from webly.peers import CleanLearningClassifier


def test_cleanlearning_flags_wrong_web_labels_and_predicts(web_digits):
    pytest.importorskip("cleanlab")
    ds = web_digits
    clf = CleanLearningClassifier(random_state=0).fit(ds.X, ds.y)
    assert set(clf.predict(ds.X_test)) <= set(ds.class_names)
    proba = clf.predict_proba(ds.X_test)
    assert proba.shape == (len(ds.X_test), len(clf.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert clf.noise_scores_.shape == (len(ds.y),)
    assert M.noise_auc(ds.is_noisy, clf.noise_scores_) > 0.8
    # removed rows are mostly truly wrong ones
    assert ds.is_noisy[clf.label_issues_].mean() > 0.7
    again = CleanLearningClassifier(random_state=0).fit(ds.X, ds.y)
    assert np.array_equal(again.predict(ds.X_test), clf.predict(ds.X_test))


def test_missing_peer_package_says_how_to_install(monkeypatch, web_digits):
    real = builtins.__import__

    def no_cleanlab(name, *a, **k):
        if name.startswith("cleanlab"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_cleanlab)
    with pytest.raises(ConfigError, match=r"webly\[peers\]"):
        CleanLearningClassifier().fit(web_digits.X, web_digits.y)


def _fit_score(ds, seed):
    return CleanLearningClassifier(random_state=seed).fit(ds.X, ds.y).score(ds.X_test, ds.y_test)


def test_cleanlearning_runs_inside_joblib_workers(web_digits):
    # benchmark runs fit in loky worker processes, where cleanlab's own process pool used to fail
    pytest.importorskip("cleanlab")
    from joblib import Parallel, delayed

    scores = Parallel(n_jobs=2)(delayed(_fit_score)(web_digits, s) for s in (0, 1))
    assert min(scores) > 0.8


@pytest.mark.parametrize("method", ["kmm", "coral"])
def test_skada_peer_adapts_sources_to_the_target(method):
    pytest.importorskip("skada")
    from webly.peers import SkadaClassifier

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(120, 5))
    ys = np.where(Xs[:, 0] > 0, "a", "b")
    Xt = rng.normal(size=(60, 5)) + 0.5
    est = SkadaClassifier(method=method).fit(Xs, ys, sources=np.repeat(["s1", "s2"], 60),
                                              X_target=Xt)
    proba = est.predict_proba(Xt)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(est.predict(Xt) == np.where(Xt[:, 0] > 0, "a", "b")) > 0.7


def test_skada_peer_names_a_bad_sources_field():
    pytest.importorskip("skada")
    from webly.errors import DataError
    from webly.peers import SkadaClassifier

    with pytest.raises(DataError, match="sources"):
        SkadaClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1], sources=["a"], X_target=np.zeros((2, 2)))
