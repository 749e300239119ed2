"""The primal path on Dask arrays (issue 18 item 4): the same fit, computed over partitions.

With features as row-chunked Dask arrays, every pass over the rows of the primal solver is a map
over the partitions and a reduction (``webly.solvers._rows.DaskRows``); the method is the same
code as in memory, so the fit must take the same Newton steps and reach the same objective,
decisions and predictions. The cluster tests run on a 2-worker ``LocalCluster`` with
``processes=False`` (workers are threads of this process, which keeps the module at a few
seconds; the scheduler, the task graphs and the transfers between workers are the real ones),
with four partitions, two per worker. The other tests use Dask's threaded scheduler.
"""

import functools

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (the 'dev' or 'dask' extra)")
da = pytest.importorskip("dask.array", reason="dask[array] is not installed")

import webly.solvers.primal as primal_mod  # noqa: E402
from webly.errors import DataError  # noqa: E402
from webly.solvers.primal import FeatureMap, l2svmplus_primal, svmplus_primal  # noqa: E402
from webly.svmplus import L2SVMPlusClassifier, SVMPlusClassifier  # noqa: E402


def _web_rows(n=400, d=6, dp=4, seed=0):
    """Two Gaussian classes, 30% of the negatives labelled positive; the privileged 'tags' flag
    the true class and, for most correct rows, that the text matches the query (float64)."""
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, d))
    X[:, :3] += 1.5 * y_true[:, None]
    y = y_true.copy()
    y[(y_true == -1) & (rng.random(n) < 0.3)] = 1
    T = np.zeros((n, dp))
    T[:, 0] = y_true == 1
    T[:, 1] = y_true == -1
    T[:, 2] = (y == y_true) & (rng.random(n) < 0.8)
    T += 0.1 * np.abs(rng.normal(size=(n, dp)))
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y, T


def _parts(A, n_parts=4):
    rows = -(-A.shape[0] // n_parts)
    return da.from_array(A, chunks=(rows,) if A.ndim == 1 else (rows, -1))


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            c.wait_for_workers(2)
            yield c


@pytest.fixture
def threads():
    """Dask's threaded scheduler, also while the module's cluster client is the default."""
    with dask.config.set(scheduler="threads"):
        yield


# --- on a 2-worker LocalCluster ---------------------------------------------------------------

@pytest.mark.parametrize("with_priv", [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=["svm+", "c-svm"])
def test_svmplus_on_a_two_worker_cluster_equals_the_single_process_fit(client, with_priv):
    from distributed import get_task_stream

    X, y, T = _web_rows()
    T = T if with_priv else None
    est = dict(solver="primal", kernel="linear", C=1.0, gamma_plus=1.0)
    ref = SVMPlusClassifier(**est).fit(X, y, X_priv=T)
    with get_task_stream(client) as stream:
        dsk = SVMPlusClassifier(**est).fit(_parts(X), y,
                                           X_priv=None if T is None else _parts(T))
    # the passes over the rows ran on both workers
    # (client.nthreads() asks the scheduler; scheduler_info() can return a cached, empty view)
    assert {task["worker"] for task in stream.data} == set(client.nthreads())
    assert dsk.solver_ == "primal"
    np.testing.assert_array_equal(dsk.n_iter_, ref.n_iter_)  # the same Newton steps
    np.testing.assert_allclose(dsk.objective_, ref.objective_, rtol=1e-10)
    np.testing.assert_allclose(dsk.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dsk.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    scores = dsk.decision_function(_parts(X))
    assert isinstance(scores, da.Array)  # lazy, chunked like the rows
    np.testing.assert_allclose(scores.compute(), ref.decision_function(X), atol=1e-8)
    np.testing.assert_array_equal(dsk.predict(_parts(X)).compute(), ref.predict(X))
    assert isinstance(dsk.correcting_function_, da.Array)
    np.testing.assert_allclose(dsk.correcting_function_.compute(), ref.correcting_function_,
                               atol=1e-8)


# --- the same code path, partition by partition (threaded scheduler) ------------------------

def test_solver_on_partitions_keeps_per_row_results_there(threads):
    X, y, T = _web_rows(300)
    ref = svmplus_primal(X, y, T, C=0.5)
    w, b, u, c, info = svmplus_primal(_parts(X), _parts(y), _parts(T), C=0.5)
    assert info["objective"] == pytest.approx(ref[4]["objective"], rel=1e-10)
    for key in ("dual", "dual_priv", "correcting_values"):
        assert isinstance(info[key], da.Array) and info[key].chunks == _parts(X).chunks[:1]
        np.testing.assert_allclose(info[key].compute(), ref[4][key], atol=1e-7)


def test_one_partition_gives_the_in_memory_numbers_exactly(threads):
    # the row kernels are the in-memory code: on one partition every sum has the same order
    X, y, T = _web_rows()
    ref = svmplus_primal(X, y, T, C=1.0)
    out = svmplus_primal(_parts(X, 1), y, _parts(T, 1), C=1.0)
    np.testing.assert_array_equal(out[0], ref[0])
    assert out[1] == ref[1] and out[4]["objective"] == ref[4]["objective"]
    np.testing.assert_array_equal(out[4]["dual"].compute(), ref[4]["dual"])


@pytest.mark.parametrize("path", ["sampled_hessian", "conjugate_gradients"])
def test_every_newton_path_takes_the_in_memory_steps(path, monkeypatch, threads):
    X, y, T = _web_rows(300, seed=1)
    rng = np.random.default_rng(2)
    kw = dict(C=0.2 + rng.random(len(y)), margin=rng.random(len(y)) - 0.2, gamma_plus=2.0)
    if path == "conjugate_gradients":
        monkeypatch.setattr(primal_mod, "_DIRECT_MAX", 4)
    else:  # Hessians estimated on 32 rows (drawn by global row index) while many rows change
        monkeypatch.setattr(primal_mod, "_Hessian",
                            functools.partial(primal_mod._Hessian, sample=32))
    ref = svmplus_primal(X, y, T, **kw)
    out = svmplus_primal(_parts(X, 3), y, _parts(T, 5), C=kw["C"],
                         margin=_parts(kw["margin"][:, None], 2)[:, 0], gamma_plus=2.0)
    assert out[4]["status"] == ref[4]["status"] == "converged"
    assert out[4]["n_iter"] == ref[4]["n_iter"]
    assert ("hessian_rows" in out[4]) == (path == "sampled_hessian")
    if path == "sampled_hessian":
        assert out[4]["hessian_rows"] == ref[4]["hessian_rows"]
    assert out[4]["objective"] == pytest.approx(ref[4]["objective"], rel=1e-10)


@pytest.mark.parametrize("with_priv", [True, False])
def test_l2_svmplus_on_partitions_equals_in_memory(with_priv, threads):
    X, y, T = _web_rows(seed=3)
    ref = l2svmplus_primal(X, y, T if with_priv else None, C=1.0)
    out = l2svmplus_primal(_parts(X), y, _parts(T) if with_priv else None, C=1.0)
    assert out[4]["margin"] == pytest.approx(ref[4]["margin"], rel=1e-10)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("with_priv", [True, False], ids=["priv", "plain"])
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_label_blocks_on_partitions_solve_the_in_memory_problem(loss, with_priv, threads):
    # MIL-CPB's solves: per-labelling feature blocks (BlockRows in memory, DaskBlockRows over
    # partitions, each partition building its own blocks), one weight per row (C on the
    # general rows, C_neg elsewhere), the bias a constant feature, and the privileged rows a
    # mask over all rows on Dask (the squared hinge's L2-SVM+ term only on those rows)
    from webly.solvers.block_rows import BlockRows, DaskBlockRows, label_rotation

    X, _, T = _web_rows(300, seed=5)
    rng = np.random.default_rng(5)
    gen = rng.random(len(X)) < 0.4
    y = np.where(gen, 1.0, -1.0)
    Y = np.where(rng.random((len(X), 3)) < 0.6, 1.0, -1.0)
    Y[~gen] = -1.0
    d = np.array([0.5, 0.3, 0.2])
    P = np.flatnonzero(gen)
    F = BlockRows(X, (Y[P] * np.sqrt(d)) @ label_rotation(d), P, const=1.0)
    Fd = DaskBlockRows(_parts(X, 3), _parts(Y.astype(np.int8), 3), d, const=1.0)
    solve = svmplus_primal if loss == "hinge" else l2svmplus_primal
    kw = dict(C=np.where(gen, 1.0, 0.5), gamma_plus=2.0, tol=1e-6, fit_intercept=False,
              priv_rows=gen if with_priv else None)
    ref = solve(F, y, T[P] if with_priv else None, **kw)
    out = solve(Fd, y, _parts(T, 3) if with_priv else None, **kw)
    assert out[4]["status"] == ref[4]["status"] == "converged"
    assert out[4]["n_iter"] == ref[4]["n_iter"]
    assert out[4]["objective"] == pytest.approx(ref[4]["objective"], rel=1e-10)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out[4]["dual"].compute(), ref[4]["dual"], atol=1e-8)
    if with_priv:
        np.testing.assert_allclose(out[2], ref[2], rtol=1e-8, atol=1e-12)
        xi = out[4]["correcting_values"].compute()
        np.testing.assert_allclose(xi, ref[4]["correcting_values"], atol=1e-8)
    # a warm start from the solve's state (the cutting plane's next solve, under new weights)
    # takes the in-memory steps too
    d2 = np.array([0.2, 0.3, 0.5])
    F2 = BlockRows(X, (Y[P] * np.sqrt(d2)) @ label_rotation(d2), P, const=1.0)
    ref2 = solve(F2, y, T[P] if with_priv else None, start=ref[4], **kw)
    out2 = solve(Fd.relabel(Fd.labels, d2), y, _parts(T, 3) if with_priv else None,
                 start=out[4], **kw)
    assert out2[4]["n_iter"] == ref2[4]["n_iter"]
    assert out2[4]["objective"] == pytest.approx(ref2[4]["objective"], rel=1e-10)


def test_float32_partitions_stay_float32_and_agree_to_the_solver_tolerance(threads):
    X, y, T = _web_rows(seed=4)
    X32, T32 = X.astype(np.float32), T.astype(np.float32)
    ref = svmplus_primal(X32, y, T32, C=1.0)
    out = svmplus_primal(_parts(X32), y, _parts(T32), C=1.0)
    assert out[4]["objective"] == pytest.approx(ref[4]["objective"], rel=1e-5)
    assert np.array_equal(np.sign(X @ out[0] + out[1]), np.sign(X @ ref[0] + ref[1]))


def test_nystroem_map_of_partitions_is_the_in_memory_map(threads):
    X, y, T = _web_rows(500, d=8)
    Xd = da.from_array(X, chunks=(120, 3))  # any chunks; the map sees whole rows
    for kind in ("nystroem", "rbf_sampler"):
        mem = FeatureMap(kind, n_components=40, random_state=7).fit(X)
        part = FeatureMap(kind, n_components=40, random_state=7).fit(Xd)
        assert part.gamma_ == pytest.approx(mem.gamma_, rel=1e-12)
        Z = part.transform(Xd)
        assert isinstance(Z, da.Array) and Z.chunks[0] == Xd.chunks[0]
        np.testing.assert_allclose(Z.compute(), mem.transform(X), atol=1e-12)


def test_estimators_on_dask_rows_multiclass_rbf_and_dask_labels(threads):
    X, y, T = _web_rows(300, d=8, seed=5)
    y3 = np.where(X[:, 4] > 0.7, "c", np.where(y > 0, "b", "a"))
    kw = dict(kernel="rbf", n_components=20, random_state=0)
    ref = SVMPlusClassifier(solver="primal", **kw).fit(X, y3, X_priv=T)
    dsk = SVMPlusClassifier(**kw).fit(_parts(X), da.from_array(y3, chunks=90), X_priv=_parts(T))
    assert dsk.solver_ == "primal"  # auto: rows on a cluster take the primal path
    np.testing.assert_array_equal(dsk.classes_, ref.classes_)
    np.testing.assert_allclose(dsk.decision_function(_parts(X)).compute(),
                               ref.decision_function(X), atol=1e-8)
    assert dsk.correcting_function_.shape == (300, 3)
    l2 = L2SVMPlusClassifier(solver="primal", kernel="linear").fit(_parts(X), y, X_priv=T)
    l2_ref = L2SVMPlusClassifier(solver="primal", kernel="linear").fit(X, y, X_priv=T)
    np.testing.assert_array_equal(l2.predict(_parts(X)).compute(), l2_ref.predict(X))


def test_bad_dask_input_is_named(threads):
    X, y, T = _web_rows(100)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match="^F: .*NaN"):
        svmplus_primal(_parts(bad), y, _parts(T))
    with pytest.raises(DataError, match="^y: "):
        svmplus_primal(_parts(X), np.where(y > 0, 1, 0), _parts(T))
    with pytest.raises(DataError, match="^F_priv: "):
        svmplus_primal(_parts(X), y, _parts(T[:50]))
    with pytest.raises(DataError, match="^priv_rows: "):
        svmplus_primal(_parts(X), y, T[:40], priv_rows=np.arange(100) < 40)
    with pytest.raises(DataError, match="^solver: .*Dask"):
        SVMPlusClassifier(solver="smo").fit(_parts(X), y, X_priv=_parts(T))
    with pytest.raises(DataError, match="^X: "):
        SVMPlusClassifier(solver="primal").fit(X, y, X_priv=_parts(T))


def test_a_folder_of_parquet_files_fits_as_the_rows_in_memory(tmp_path, threads):
    # webly.formats.read_parquet_dask: three files = three partitions, read lazily; the test
    # rows of a WebDataset's frame are left out; the fit equals the in-memory one
    import pandas as pd

    from webly import WebDataset
    from webly.formats import read_parquet_dask

    X, y, T = _web_rows(300, seed=6)
    ds = WebDataset(X=X.astype(np.float32), y=np.where(y > 0, "pos", "neg"),
                    X_priv=T.astype(np.float32), X_test=X[:20].astype(np.float32),
                    y_test=np.where(y[:20] > 0, "pos", "neg"))
    frame = ds.to_frame()
    train = frame[frame["split"] == "train"]
    for i, rows in enumerate(np.array_split(np.arange(len(train)), 3)):
        train.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    frame[frame["split"] == "test"].to_parquet(tmp_path / "test.parquet", index=False)
    parts = read_parquet_dask(tmp_path)
    assert isinstance(parts["X"], da.Array) and parts["X"].dtype == np.float32
    assert parts["X"].shape == (300, 6) and parts["X_priv"].shape == (300, 4)
    assert sum(parts["X"].chunks[0]) == 300 and len(parts["X"].chunks[0]) >= 2  # partitions
    assert parts["y"].chunks[0] == parts["X"].chunks[0] == parts["X_priv"].chunks[0]
    kw = dict(kernel="linear", solver="primal")
    lazy = SVMPlusClassifier(**kw).fit(parts["X"], parts["y"], X_priv=parts["X_priv"])
    ref = SVMPlusClassifier(**kw).fit(ds.X, ds.y, X_priv=ds.X_priv)
    np.testing.assert_array_equal(lazy.classes_, ref.classes_)
    np.testing.assert_allclose(lazy.decision_function(ds.X_test), ref.decision_function(ds.X_test),
                               atol=1e-5)
    assert pd.api.types.is_object_dtype(parts["y"].dtype) or parts["y"].dtype.kind in "OUS"
    with pytest.raises(DataError, match="^path: "):
        read_parquet_dask(tmp_path / "missing")
