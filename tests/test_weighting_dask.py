"""KMM weights of rows in Dask partitions (issue 18 item 4): the explicit-feature solve of
:func:`webly.weighting.kmm_weights_primal`, with ``F' beta`` a map-reduce over the partitions and
``F r`` a map, reaches the in-memory solve's optimum: the same QP, only summed in another order.
The weights themselves are not unique (``K = F F'`` has rank d), so the objectives are compared,
and the constraints checked.
"""

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (the 'dev' or 'dask' extra)")
da = pytest.importorskip("dask.array", reason="dask[array] is not installed")

from webly.errors import DataError  # noqa: E402
from webly.weighting import kmm_weights, kmm_weights_primal  # noqa: E402


def _rows(n=1200, d=5, shift=0.5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype(dtype),
            rng.normal(shift, 0.7, size=(n // 4, d)).astype(dtype))


def _parts(A, n_parts=4):
    rows = -(-A.shape[0] // n_parts)
    return da.from_array(A, chunks=(rows,) if A.ndim == 1 else (rows, -1))


def _feasible(w, B, eps):
    n = len(w)
    assert w.min() >= 0 and w.max() <= B
    assert abs(w.sum() - n) <= n * eps + 1e-9 * n


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize("B, eps", [(1000.0, None), (5.0, 0.0), (2.0, 0.1)],
                         ids=["inactive", "equality", "bounded"])
def test_partitions_reach_the_in_memory_optimum(B, eps, threads):
    F, G = _rows()
    w0, i0 = kmm_weights_primal(F, G, B=B, eps=eps, tol=1e-8)
    w1, i1 = kmm_weights_primal(_parts(F), _parts(G, 3), B=B, eps=eps, tol=1e-8)
    assert i0["status"] == i1["status"] == "optimal"
    assert isinstance(w1, np.ndarray) and w1.shape == (len(F),)
    # both are certified within tol of the one optimum
    assert i1["objective"] == pytest.approx(i0["objective"], rel=2e-8)
    _feasible(w1, B, (np.sqrt(len(F)) - 1) / np.sqrt(len(F)) if eps is None else eps)


def test_float32_partitions_are_centred_as_in_memory(threads):
    """Float32 rows are centred on the target mean in each partition (as the in-memory copy is),
    so ``F' beta`` resolves the residual and both reach the float64 optimum to float32 accuracy."""
    rng = np.random.default_rng(1)
    F, G = rng.random((2000, 20)), rng.random((300, 20)) + 0.1  # far from the origin
    _, i64 = kmm_weights_primal(F, G, B=10)
    _, i32 = kmm_weights_primal(_parts(F.astype(np.float32)), G.astype(np.float32), B=10)
    assert i32["status"] == "optimal"
    assert i32["objective"] == pytest.approx(i64["objective"], rel=1e-6)


def test_kmm_weights_on_dask_rows_takes_the_explicit_path_with_the_same_map(threads):
    """An RBF kernel on Dask rows: the bandwidth rule and the Nystroem landmarks are the in-memory
    ones (FeatureMap on Dask), so the approximate QP and its optimum are the same."""
    X, T = _rows(n=800, d=4, shift=0.2)  # about 100 L-BFGS-B iterations
    w0, i0 = kmm_weights(X, T, solver="primal", n_components=30, random_state=0)
    w1, i1 = kmm_weights(_parts(X), _parts(T, 2), n_components=30, random_state=0)
    assert i0["status"] == i1["status"] == "optimal"
    assert i1["solver"] == "primal"
    assert i1["feature_map"].gamma_ == pytest.approx(i0["feature_map"].gamma_, rel=1e-12)
    assert i1["objective"] == pytest.approx(i0["objective"], rel=1e-7)
    assert np.corrcoef(w0, w1)[0, 1] > 0.99


def test_two_worker_cluster_gives_the_single_process_optimum():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    F, G = _rows()  # about 60 L-BFGS-B iterations, each two passes over the partitions
    _, i0 = kmm_weights_primal(F, G, B=2.0, eps=0.1, tol=1e-8)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        w1, i1 = kmm_weights_primal(_parts(F), _parts(G), B=2.0, eps=0.1, tol=1e-8)
    assert i1["status"] == "optimal"
    assert i1["objective"] == pytest.approx(i0["objective"], rel=2e-8)
    _feasible(w1, 2.0, 0.1)


def test_bad_dask_input_is_named(threads):
    F, G = _rows(n=200)
    with pytest.raises(DataError, match="solver.*Dask"):
        kmm_weights(_parts(F), G, solver="CLARABEL")
    bad = F.copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match="F_source.*NaN"):
        kmm_weights_primal(_parts(bad), G)
    with pytest.raises(DataError, match="X_target"):
        kmm_weights(_parts(F), G[:, :3], kernel="linear")
    with pytest.raises(DataError, match="F_source.*unknown chunk"):
        kmm_weights_primal(_parts(F)[_parts(F)[:, 0] > 0], G)


def test_kmm_svm_on_dask_rows_is_the_in_memory_primal_fit(threads, tmp_path):
    """KMM-SVM's explicit path on partitions: the same map; KMM weights at the in-memory optimum
    (the weights themselves are not unique: compare the objective); then, given those weights,
    the weighted primal C-SVMs on the cluster are the in-memory ones: decisions, predictions and
    noise scores to the solver tolerance."""
    from webly.baselines import KMMSVMClassifier

    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 4))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0.3, "cat", np.where(X[:, 2] > 0, "dog", "owl"))
    T = rng.normal(0.2, 0.8, size=(200, 4))
    params = dict(solver="primal", n_components=40, random_state=0, tol=1e-6)
    mem = KMMSVMClassifier(**params).fit(X, y, X_target=T)
    on = KMMSVMClassifier(**{**params, "solver": "auto"}).fit(_parts(X), _parts(y),
                                                              X_target=_parts(T))
    assert on.solver_ == "primal"
    Z, c = mem.feature_map_.transform(X), len(X) * mem.feature_map_.transform(T).mean(axis=0)
    residual = lambda w: 0.5 * np.sum((Z.T @ w - c) ** 2)  # noqa: E731
    # KMM's objective is residual - c'c/2; both are within its tol (1e-6 relative) of the optimum
    assert abs(residual(on.sample_weights_) - residual(mem.sample_weights_)) <= 2e-6 * 0.5 * c @ c
    # the SVM stage alone: the in-memory fit with the Dask fit's weights
    same = KMMSVMClassifier(**params).fit(X, y, sample_weight=on.sample_weights_)
    D = on.decision_function(_parts(X))
    assert isinstance(D, da.Array) and D.shape == (600, 3)
    np.testing.assert_allclose(D.compute(), same.decision_function(X), atol=1e-4)
    assert np.mean(on.predict(_parts(X)).compute() == same.predict(X)) > 0.99
    assert isinstance(on.noise_scores_, da.Array)
    np.testing.assert_allclose(on.noise_scores_.compute(), same.noise_scores_, atol=1e-4)
    # a model file holds the lazy noise scores' values and predicts as the fitted model
    from webly import persist

    path = tmp_path / "kmm.skops"
    persist.save(on, path)
    back = persist.load(path)
    np.testing.assert_array_equal(back.noise_scores_, on.noise_scores_.compute())
    np.testing.assert_array_equal(back.predict(X), on.predict(_parts(X)).compute())
    with pytest.raises(DataError, match="solver.*Dask"):
        KMMSVMClassifier(solver="smo").fit(_parts(X), y, X_target=T)
    with pytest.raises(DataError, match="X.*Dask array when X_target"):
        KMMSVMClassifier(solver="primal").fit(X, y, X_target=_parts(T))
