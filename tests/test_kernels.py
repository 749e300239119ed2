import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import rbf_kernel, euclidean_distances

from webly.errors import DataError
from webly.kernels import (Kernel, bag_index, bag_mean_kernel, bag_mean_matrix, bag_means,
                           default_gamma, gaussian_kernel, linear_kernel, mean_squared_distance)


def test_default_gamma_is_inverse_mean_of_full_squared_distance_matrix():
    X = np.random.default_rng(0).normal(size=(40, 5))
    D = euclidean_distances(X, squared=True)
    assert np.isclose(mean_squared_distance(X), D.mean())
    assert np.isclose(default_gamma(X), 1.0 / D.mean())


def test_default_gamma_same_for_sparse_input():
    X = np.random.default_rng(1).random((30, 6)) * (np.random.default_rng(2).random((30, 6)) > 0.5)
    assert np.isclose(default_gamma(sp.csr_matrix(X)), default_gamma(X))


def test_gaussian_kernel_matches_sklearn_rbf():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 4)), rng.normal(size=(7, 4))
    assert np.allclose(gaussian_kernel(X, Y, gamma=0.3), rbf_kernel(X, Y, gamma=0.3))


def test_kernel_reuses_training_bandwidth_for_test_rows():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 3)), 5 * rng.normal(size=(10, 3))
    k = Kernel("rbf").fit(X)
    assert k.gamma_ == default_gamma(X)
    assert np.allclose(k(Y, X), rbf_kernel(Y, X, gamma=default_gamma(X)))


def test_linear_kernel_sparse_and_dense_agree():
    X = np.random.default_rng(0).random((10, 4))
    assert np.allclose(linear_kernel(sp.csr_matrix(X)), X @ X.T)


def test_bag_index_orders_bags_by_first_appearance():
    codes, uniques = bag_index(np.array([7, 7, 3, 9, 3]))
    assert uniques.tolist() == [7, 3, 9]
    assert codes.tolist() == [0, 0, 1, 2, 1]


def test_bag_mean_kernel_equals_kernel_of_mean_embeddings_for_linear_kernel():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    bags = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5])
    means = bag_means(X, bags)
    assert means.shape == (6, 3)
    assert np.allclose(means[0], X[:3].mean(axis=0))
    assert np.allclose(bag_mean_kernel(X @ X.T, bags), means @ means.T)
    A = bag_mean_matrix(bags)
    assert np.allclose(A.sum(axis=1), 1.0)


def test_bag_to_instance_kernel():
    rng = np.random.default_rng(0)
    X, Z = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    bags = np.array([0, 0, 1, 1, 1, 2])
    K = bag_mean_kernel(X @ Z.T, bags, np.arange(4))
    assert np.allclose(K, bag_means(X, bags) @ Z.T)


def test_bag_mean_kernel_forms_no_bags_by_rows_temporary():
    # sMIL's unit kernel (issue 19): by row blocks, C-ordered; before, the (bags, n) array A K
    # and a transposed copy of the result were made (2.4 n x n arrays per sMIL fit, now 1.4)
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 2000
    K = rng.normal(size=(n, n))
    units = np.where(rng.random(n) < 0.5, rng.integers(0, 100, n), 100 + np.arange(n))
    A = bag_mean_matrix(units)
    expected = (A @ (A @ K).T).T
    tracemalloc.start()
    out = bag_mean_kernel(K, A)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.flags.c_contiguous and np.array_equal(out, expected)
    assert peak <= 1.1 * out.nbytes, peak / out.nbytes


def test_gamma_scale_multiplies_the_rule_and_is_ignored_when_gamma_is_set():
    X = np.random.default_rng(0).normal(size=(30, 3))
    assert np.isclose(Kernel("rbf", gamma_scale=4).fit(X).gamma_, 4 * default_gamma(X))
    assert Kernel("rbf", gamma=0.7, gamma_scale=4).fit(X).gamma_ == 0.7


def test_a_kernel_the_machine_cannot_hold_is_refused_before_it_is_allocated(monkeypatch):
    from webly.kernels import KERNEL_FIT_ARRAYS, check_kernel_memory, memory_limit

    X = np.random.RandomState(0).rand(300, 4)
    need = KERNEL_FIT_ARRAYS * 8 * 300 * 300                     # 3.6 MB for the fit's Gram
    monkeypatch.setenv("WEBLY_MEMORY_LIMIT", f"{need // 1000 - 1}k")
    with pytest.raises(DataError, match=r"X: a kernel fit on 300 rows needs about 3\.6 MB .*"
                                        r"solver: auto or primal\), which never builds") as info:
        Kernel("rbf").fit(X)(X)
    assert info.value.field == "X"
    Kernel("rbf").fit(X)(X, X[:10])            # a cross kernel counts once: 24 kB, allowed
    monkeypatch.setenv("WEBLY_MEMORY_LIMIT", "4M")
    assert memory_limit() == 4e6
    check_kernel_memory(300, 300)                                  # 3.6 MB <= 4 MB
    monkeypatch.setenv("WEBLY_MEMORY_LIMIT", "lots")
    with pytest.raises(DataError, match="WEBLY_MEMORY_LIMIT"):
        memory_limit()
    monkeypatch.delenv("WEBLY_MEMORY_LIMIT")
    assert memory_limit() is None or memory_limit() > 0            # the system's figure


def test_an_estimator_fit_too_large_for_the_machine_fails_at_once_naming_x(monkeypatch):
    from webly.distillation import GDClassifier

    # (an estimator without an explicit-feature path: those choose it, see test_mil_solver_choice)
    rng = np.random.RandomState(0)
    X, y = rng.rand(200, 3), np.repeat([0, 1], 100)
    monkeypatch.setenv("WEBLY_MEMORY_LIMIT", "100k")
    with pytest.raises(DataError, match="^X: a kernel fit on"):
        GDClassifier().fit(X, y, X_priv=rng.rand(200, 2))


def test_the_system_limit_caps_the_environment_free_check(monkeypatch):
    import webly.kernels as K

    monkeypatch.delenv("WEBLY_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(K, "total_memory_bytes", lambda: 1000)
    K.check_kernel_memory(1000, 1000)            # 40 MB: small kernels never ask the system
    with pytest.raises(DataError, match="a kernel fit on 3,000 rows needs about 360.0 MB"):
        K.check_kernel_memory(3000, 3000)        # 360 MB: asks, and the 1 kB figure refuses it


def test_a_one_vs_rest_fit_counts_its_memory_once_per_thread(monkeypatch):
    # solver="auto" (issue 18 item 3): one binary problem's figure, plus per further problem
    # solved at once (n_jobs threads, at most one per class; two classes are one problem)
    import webly
    from webly.kernels import ovr_fit_arrays

    assert ovr_fit_arrays(2.0, None, 5) == 2.0
    assert ovr_fit_arrays(2.0, 2, 5) == 4.0
    assert ovr_fit_arrays(2.0, 4, 2) == 2.0
    assert ovr_fit_arrays(2.0, 8, 3) == 6.0
    assert ovr_fit_arrays(2.7, 3, 10, per_thread=1.5) == pytest.approx(5.7)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(150, 4)), rng.normal(size=(150, 2))
    y = np.repeat([0, 1, 2], 50)
    # 150 rows: an array is 0.18 MB; L2-SVM+ with X_priv 2.7 of them (0.49 MB), 1.5 more per
    # further thread (0.76 MB for two)
    for n_jobs, solver in ((None, "smo"), (2, "primal")):
        est = webly.L2SVMPlusClassifier(memory_limit="0.6M", n_jobs=n_jobs, n_components=20,
                                        random_state=0).fit(X, y, X_priv=T)
        assert est.solver_ == solver, (n_jobs, est.solver_)
    # the MIL family: its own figure once per thread (sMIL 1.5: 0.27 MB, 0.54 MB for two)
    bags = np.arange(150) // 5
    for n_jobs, solver in ((None, "smo"), (2, "primal")):
        est = webly.SMILClassifier(memory_limit="0.4M", n_jobs=n_jobs, n_components=20,
                                   random_state=0).fit(X, y, bags=bags)
        assert est.solver_ == solver, (n_jobs, est.solver_)
