import numpy as np
import pytest

from webly.baselines import KMMSVMClassifier, SVMClassifier
from webly.errors import DataError
from webly.kernels import Kernel
from webly.weighting import kmm_weights


def _mmd2(Xs, w, Xt, k):
    w = w / w.sum()
    return w @ k(Xs) @ w - 2 * w @ k(Xs, Xt).mean(axis=1) + k(Xt).mean()


def test_kmm_upweights_source_rows_near_the_target_and_lowers_the_mmd():
    rng = np.random.default_rng(0)
    Xs = rng.normal(0, 1, size=(150, 2))
    Xt = rng.normal(1.0, 0.5, size=(100, 2))
    w, info = kmm_weights(Xs, Xt, B=10)
    assert info["status"] == "optimal" and (w >= 0).all() and (w <= 10 + 1e-9).all()
    near = np.linalg.norm(Xs - 1.0, axis=1) < 1
    assert w[near].mean() > 2 * w[~near].mean()
    k = Kernel("rbf").fit(Xs)
    assert _mmd2(Xs, w, Xt, k) < 0.5 * _mmd2(Xs, np.ones(len(Xs)), Xt, k)


def test_kmm_refuses_a_target_with_other_features():
    with pytest.raises(DataError, match="X_target"):
        kmm_weights(np.zeros((3, 2)), np.zeros((3, 4)))


def test_kmm_svm_without_target_is_the_plain_svm(web_digits):
    X, y = web_digits.X[:300], web_digits.y[:300]
    a = KMMSVMClassifier().fit(X, y)
    b = SVMClassifier().fit(X, y)
    assert np.allclose(a.decision_function(X[:20]), b.decision_function(X[:20]))
    assert (a.sample_weights_ == 1).all()


def test_kmm_svm_uses_the_target(web_digits):
    X, y = web_digits.X[:300], web_digits.y[:300]
    est = KMMSVMClassifier(B=5).fit(X, y, X_target=web_digits.X_test[:100])
    assert est.sample_weights_.std() > 0
