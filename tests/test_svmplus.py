"""SVM+, L2-SVM+ and GD estimators: SVM equivalence, LUPI behaviour (the scikit-learn contract:
tests/test_common.py)."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from webly.errors import DataError
from webly.kernels import Kernel
from webly.svmplus import GDClassifier, L2SVMPlusClassifier, SVMPlusClassifier


def _noisy_web_data(seed=0, n=160):
    """Two blobs; 25% of the negatives carry the positive web label; X_priv flags them."""
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, 5))
    X[:, :2] += 1.2 * y_true[:, None]
    noisy = (y_true == -1) & (rng.random(n) < 0.25)
    y = np.where(noisy, 1, y_true)
    X_priv = np.c_[noisy.astype(float), (y_true == 1).astype(float)] + 0.05 * rng.normal(size=(n, 2))
    return X, y, y_true, X_priv, noisy


def test_without_privileged_features_svmplus_is_libsvms_svc():
    X, y, *_ = _noisy_web_data()
    ours = SVMPlusClassifier(C=2.0, tol=1e-6).fit(X, y)
    gamma = Kernel("rbf").fit(X).gamma_
    ref = SVC(C=2.0, gamma=gamma, tol=1e-6).fit(X, y)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-4)
    # hinge slacks are the correcting-function values of the plain SVM
    slack = np.maximum(0, 1 - np.where(y == 1, 1, -1) * ref.decision_function(X))
    np.testing.assert_allclose(ours.correcting_function_, slack, atol=1e-4)


def test_correcting_function_finds_the_flagged_noisy_rows():
    X, y, y_true, X_priv, noisy = _noisy_web_data()
    clf = SVMPlusClassifier(C=1.0, gamma_plus=1.0).fit(X, y, X_priv=X_priv)
    xi = clf.correcting_function_
    assert xi.shape == (len(y),)
    # among the rows labelled positive on the web, the wrong images get the large slacks
    assert xi[noisy].mean() > 3 * xi[(y == 1) & ~noisy].mean()
    assert clf.objective_.shape == (1,) and clf.n_iter_[0] > 0
    assert np.isfinite(clf.intercept_priv_).all()


def test_multiclass_is_one_vs_rest_with_per_class_outputs():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    y = np.repeat([0, 1, 2], 30)
    X = centers[y] + rng.normal(size=(90, 2))
    X_priv = np.eye(3)[y] + 0.1 * rng.normal(size=(90, 3))
    for est in (SVMPlusClassifier(n_jobs=2), L2SVMPlusClassifier(), GDClassifier()):
        est.fit(X, y, X_priv=X_priv)
        assert est.decision_function(X).shape == (90, 3)
        assert (est.predict(X) == y).mean() > 0.9
    assert SVMPlusClassifier().fit(X, y, X_priv=X_priv).correcting_function_.shape == (90, 3)


def test_precomputed_kernels_give_the_same_model():
    X, y, _, X_priv, _ = _noisy_web_data()
    k = Kernel("rbf").fit(X)
    a = SVMPlusClassifier(tol=1e-6).fit(X, y, X_priv=X_priv)
    b = SVMPlusClassifier(kernel="precomputed", kernel_priv="precomputed", tol=1e-6).fit(
        k(X), y, X_priv=X_priv @ X_priv.T)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(k(X, X)), atol=1e-6)


def test_l2_svmplus_libsvm_and_smo_agree_and_decision_has_the_regularised_bias():
    X, y, _, X_priv, noisy = _noisy_web_data()
    a = L2SVMPlusClassifier(C=1.0, tol=1e-7).fit(X, y, X_priv=X_priv)
    b = L2SVMPlusClassifier(C=1.0, tol=1e-7, solver="libsvm").fit(X, y, X_priv=X_priv)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-5)
    # f(x) = sum a_i y_i (k(x_i, x) + 1) and the margin rho = a'Qa is met by the support rows
    K = a.kernel_(X)
    coef = np.zeros(len(y))
    coef[a.support_] = a.dual_coef_[0]
    np.testing.assert_allclose(a.decision_function(X), (K + 1) @ coef, atol=1e-10)
    ypm = np.where(y == a.classes_[1], 1, -1)
    margin = ypm * a.decision_function(X) + a.correcting_function_
    np.testing.assert_allclose(margin[np.abs(coef) > 1e-8], a.rho_[0], rtol=1e-4)
    xi = a.correcting_function_
    assert xi[noisy].mean() > xi[(y == 1) & ~noisy].mean()


def test_gd_without_imitation_is_kernel_ridge_on_hard_labels():
    from sklearn.kernel_ridge import KernelRidge

    X, y, _, X_priv, _ = _noisy_web_data()
    gd = GDClassifier(imitation=0.0, alpha=0.5).fit(X, y, X_priv=X_priv)
    K = Kernel("rbf").fit(X)(X)
    T = np.eye(2)[(y == 1).astype(int)]
    kr = KernelRidge(alpha=0.5, kernel="precomputed").fit(K, T - T.mean(0))
    expected = kr.predict(K) + T.mean(0)
    np.testing.assert_allclose(gd.decision_function(X), expected[:, 1] - expected[:, 0], atol=1e-8)


def test_gd_soft_labels_follow_temperature_and_a_good_teacher_helps():
    X, y, y_true, X_priv, noisy = _noisy_web_data(seed=3, n=300)
    hot = GDClassifier(imitation=1.0, temperature=10.0).fit(X, y, X_priv=X_priv)
    cold = GDClassifier(imitation=1.0, temperature=0.5).fit(X, y, X_priv=X_priv)
    assert np.abs(hot.soft_labels_ - 0.5).mean() < np.abs(cold.soft_labels_ - 0.5).mean()
    # teacher sees which web labels are wrong: X_priv -> true class, so distillation denoises
    Xt, _, yt, _, _ = _noisy_web_data(seed=4, n=400)
    teacher_priv = np.c_[X_priv, (y_true == 1).astype(float)]
    plain = GDClassifier(imitation=0.0).fit(X, y)
    distilled = GDClassifier(imitation=1.0, temperature=1.0).fit(X, y, X_priv=teacher_priv)
    acc = lambda m: (m.predict(Xt) == yt).mean()  # noqa: E731
    assert acc(distilled) >= acc(plain)


def test_grid_search_routes_privileged_features_through_cross_validation():
    X, y, _, X_priv, _ = _noisy_web_data()
    search = GridSearchCV(SVMPlusClassifier(), {"C": [0.1, 1.0], "gamma_plus": [1.0, 10.0]}, cv=3)
    search.fit(X, y, X_priv=X_priv)
    assert set(search.best_params_) == {"C", "gamma_plus"}
    assert search.best_estimator_.correcting_function_.shape == (len(y),)


def test_bad_privileged_features_are_named():
    X, y, _, X_priv, _ = _noisy_web_data()
    with pytest.raises(DataError, match="X_priv"):
        SVMPlusClassifier().fit(X, y, X_priv=X_priv[:10])
    with pytest.raises(DataError, match="X_priv"):
        GDClassifier().fit(X, y, X_priv=np.full_like(X_priv, np.nan))



# --- memory-aware solver choice (issue 18 item 3) -----------------------------------------------

def _memory_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y, X[:, :2] + rng.normal(size=(n, 2))


@pytest.mark.parametrize("cls", [SVMPlusClassifier, L2SVMPlusClassifier])
def test_auto_solver_is_the_kernel_solver_when_it_fits(cls):
    X, y, T = _memory_data()
    auto = cls().fit(X, y, X_priv=T)
    smo = cls(solver="smo").fit(X, y, X_priv=T)
    assert auto.solver_ == "smo"
    np.testing.assert_array_equal(auto.decision_function(X), smo.decision_function(X))


@pytest.mark.parametrize("cls", [SVMPlusClassifier, L2SVMPlusClassifier])
def test_auto_solver_switches_to_explicit_features_above_the_memory_limit(cls, caplog):
    X, y, T = _memory_data()
    # 300 rows: the kernel path needs 2.6 (SVM+) or 2.7 (L2-SVM+) x 0.72 MB
    with caplog.at_level("WARNING", logger="webly"):
        clf = cls(memory_limit="1M", n_components=50, random_state=0).fit(X, y, X_priv=T)
    assert clf.solver_ == "primal"
    assert hasattr(clf, "coef_") and not hasattr(clf, "dual_coef_")
    [record] = [r for r in caplog.records if "explicit features" in r.getMessage()]
    assert f"{cls.__name__}: the kernel solver on 300 rows would need" in record.getMessage()
    primal = cls(solver="primal", n_components=50, random_state=0).fit(X, y, X_priv=T)
    np.testing.assert_array_equal(clf.decision_function(X), primal.decision_function(X))
    assert (clf.predict(X) == y).mean() > 0.8


def test_explicit_kernel_solver_fails_before_computing_a_kernel(monkeypatch):
    import webly.kernels

    def boom(*args, **kwargs):
        raise AssertionError("a kernel was computed")

    monkeypatch.setattr(webly.kernels, "gaussian_kernel", boom)
    X, y, T = _memory_data()
    with pytest.raises(DataError, match=r"^solver: 'smo' \(a kernel solver\) on 300 rows needs "
                                        r"about 1\.9 MB \(2\.6 arrays"):
        SVMPlusClassifier(solver="smo", memory_limit=1e5).fit(X, y, X_priv=T)
    with pytest.raises(DataError, match="^memory_limit: must be a size such as 8G"):
        SVMPlusClassifier(memory_limit="lots").fit(X, y, X_priv=T)


def test_memory_limit_accepts_sizes():
    from webly.kernels import parse_size

    assert parse_size("8G", "m") == 8e9
    assert parse_size("500MB", "m") == 5e8
    assert parse_size(1234, "m") == 1234.0
    for bad in ("-1G", "0", "G", True, None):
        with pytest.raises(DataError, match="^m: must be a size"):
            parse_size(bad, "m")


def test_a_thread_parallel_one_vs_rest_holds_one_blas_thread_throughout():
    # each solve limits BLAS to one thread, but threadpoolctl's limit is process-wide: a solve
    # that ended restored the pools while another thread's solve still ran, whose products then
    # rounded differently (L2-SVM+ dual coefficients 4.5e-15 apart between n_jobs=1 and 2).
    # The loop now holds one thread from start to end, nested limits included
    from threadpoolctl import threadpool_info, threadpool_limits

    from webly.base import one_vs_rest, parallel_blas_limit

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    seen = []

    def fit_binary(k, y_pm):
        with threadpool_limits(1, user_api="blas"):   # as smo_solve does
            pass
        seen.append(blas_threads())                    # after an inner limit ended
        return k

    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        if 2 not in before:
            pytest.skip(f"no BLAS pool takes 2 threads here ({before})")
        assert one_vs_rest(fit_binary, np.arange(4), np.arange(8) % 4, n_jobs=2) == [0, 1, 2, 3]
        assert seen and all(s == {1} for s in seen)
        with parallel_blas_limit(1):                   # one job: the pools are left alone
            assert blas_threads() == before
