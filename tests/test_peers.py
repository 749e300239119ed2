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


def test_skada_peer_without_a_target_is_the_plain_svc():
    from sklearn.svm import SVC

    from webly.peers import SkadaClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=80) > 0, "a", "b")
    est = SkadaClassifier(C=3.0).fit(X, y, sources=np.repeat(["s1", "s2"], 40))
    svc = SVC(C=3.0, gamma="scale").fit(X, y)
    np.testing.assert_array_equal(est.predict(X), svc.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cleanlearning_on_rows_too_few_for_early_stopping_trains_without_it():
    pytest.importorskip("cleanlab")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    y = np.repeat([0, 1], 5)
    X[y == 1] += 2
    clf = CleanLearningClassifier(random_state=0).fit(X, y)   # 10 % of a fold: 1 row, 2 classes
    assert not clf.model_.early_stopping and clf.n_iter_ >= 1
    assert clf.predict(X).shape == (10,)
    big = CleanLearningClassifier(random_state=0, max_iter=20).fit(np.tile(X, (5, 1)), np.tile(y, 5))
    assert big.model_.early_stopping


def test_peers_refuse_a_single_class_naming_y():
    pytest.importorskip("cleanlab")
    from webly.errors import DataError
    from webly.peers import SkadaClassifier

    X = np.random.default_rng(0).normal(size=(6, 2))
    for est in (CleanLearningClassifier(), SkadaClassifier()):
        with pytest.raises(DataError, match="y: needs at least 2 classes"):
            est.fit(X, np.zeros(6, dtype=int))


def test_skada_peer_leaves_metadata_routing_as_it_was():
    # skada turns scikit-learn's metadata routing on process-wide when first imported; the peer
    # must not change how the user's other estimators route (a fresh process: skada unimported)
    pytest.importorskip("skada")
    import subprocess
    import sys

    code = ("import numpy as np, sklearn\n"
            "from webly.peers import SkadaClassifier\n"
            "rng = np.random.default_rng(0)\n"
            "X = rng.normal(size=(40, 3)); y = np.where(X[:, 0] > 0, 'a', 'b')\n"
            "est = SkadaClassifier(method='kmm').fit(X, y, sources=np.repeat(['s', 't'], 20),\n"
            "                                        X_target=rng.normal(size=(20, 3)))\n"
            "est.predict(X)\n"
            "print(sklearn.get_config()['enable_metadata_routing'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
