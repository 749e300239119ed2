"""The semantic VAE on row-chunked Dask arrays (issue 18 item 4): training streams the partitions.

Each epoch visits the partitions in a seeded order and, within each computed partition, its rows
in a seeded order, with the batch step of the in-memory loop; one partition therefore draws the
same orders, batches and noise as the rows in memory, and must give the same model bit for bit
(without early stopping: the Dask hold-out rule, a seeded draw per partition, is not the in-memory
stratified split). Several partitions change the batches, so only the accuracy is compared.
"""

import threading
import weakref

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask[array] is not installed")

import webly  # noqa: E402
from webly.errors import DataError  # noqa: E402
from webly.semantic import SemanticVAE, SemanticVAEDA, VAEWeightedClassifier  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return webly.make_web_digits(random_state=0)


def _dask(X, y, parts):
    size = -(-len(X) // parts)
    Xd = da.from_array(X, chunks=(size, -1))
    return Xd, da.from_array(y, chunks=Xd.chunks[0])


@pytest.mark.parametrize("make", [
    lambda: SemanticVAE(random_state=0, early_stopping=False, max_epochs=6),
    lambda: VAEWeightedClassifier(random_state=0, early_stopping=False, max_epochs=6,
                                  feature_scaling="standard"),
], ids=["SemanticVAE-global", "VAEWeighted-standard"])
def test_one_partition_equals_in_memory(digits, make):
    mem = make().fit(digits.X, digits.y)
    dsk = make().fit(*_dask(digits.X, digits.y, 1))
    assert [h["train_loss"] for h in dsk.history_] == [h["train_loss"] for h in mem.history_]
    np.testing.assert_array_equal(dsk.decision_function(digits.X_test),
                                  mem.decision_function(digits.X_test))
    assert isinstance(dsk.noise_scores_, da.Array)
    np.testing.assert_array_equal(dsk.noise_scores_.compute(), mem.noise_scores_)
    np.testing.assert_array_equal(dsk.sample_weights_.compute(), mem.sample_weights_)
    np.testing.assert_array_equal(dsk.label_proba_.compute(), mem.label_proba_)


def test_predictions_on_dask_rows_are_lazy_and_equal(digits):
    model = SemanticVAE(random_state=0, max_epochs=5).fit(digits.X, digits.y)
    Xt = da.from_array(digits.X_test, chunks=(100, -1))
    for method in ("decision_function", "predict_proba", "predict", "encode"):
        out = getattr(model, method)(Xt)
        assert isinstance(out, da.Array), method
        np.testing.assert_array_equal(out.compute(), getattr(model, method)(digits.X_test))
    with pytest.raises(DataError, match="^X: has 3 features"):
        model.predict(Xt[:, :3])


def test_several_partitions_reach_in_memory_accuracy(digits):
    acc_mem = np.mean(SemanticVAE(random_state=0).fit(digits.X, digits.y)
                      .predict(digits.X_test) == digits.y_test)
    for parts in (4, 8):
        model = SemanticVAE(random_state=0).fit(*_dask(digits.X, digits.y, parts))
        acc = np.mean(model.predict(digits.X_test) == digits.y_test)
        assert acc >= acc_mem - 0.04, (parts, acc, acc_mem)
        # hold-out: round(0.1 * n_i) rows of each partition
        sizes = _dask(digits.X, digits.y, parts)[0].chunks[0]
        assert model.valid_mask_.sum().compute() == sum(round(0.1 * s) for s in sizes)
        noisy = ~np.asarray(digits.y == digits.y_true)
        scores = model.noise_scores_.compute()
        assert scores[noisy].mean() > scores[~noisy].mean() + 0.2


def test_streaming_holds_one_partition_at_a_time(digits):
    parts, lock = 6, threading.Lock()
    state = {"alive": 0, "max_alive": 0, "calls": 0}

    def _released():
        with lock:
            state["alive"] -= 1

    def load(block):  # a fresh array per computed partition, tracked until it is freed
        out = np.array(block, dtype=np.float64)
        if out.size == 0:  # Dask's call on a dummy array (the output meta)
            return out
        with lock:
            state["calls"] += 1
            state["alive"] += 1
            state["max_alive"] = max(state["max_alive"], state["alive"])
        weakref.finalize(out, _released)
        return out

    Xd, yd = _dask(digits.X, digits.y, parts)
    Xd = Xd.map_blocks(load, dtype=np.float64)
    model = VAEWeightedClassifier(random_state=0, max_epochs=4).fit(Xd, yd)
    # one pass for the labels, scaler and hold-out, then one per epoch; the lazy scores none
    assert state["calls"] == parts * (1 + model.n_epochs_)
    assert state["max_alive"] <= 2, state
    model.noise_scores_.compute()
    assert state["calls"] == parts * (2 + model.n_epochs_)


def test_bad_dask_input_is_a_one_line_data_error(digits):
    Xd, yd = _dask(digits.X, digits.y, 4)
    cases = [
        ("y", Xd, yd.rechunk(300)),                                   # mismatched partitions
        ("X", da.where(da.arange(len(digits.X))[:, None] == 500, np.nan, Xd), yd),   # NaN row
        ("y", Xd, yd[:-1]),                                           # one label short
        ("X", Xd[Xd[:, 0] > -1e9], yd),                               # unknown partition sizes
        ("X", digits.X, yd),                                          # only y on Dask
    ]
    for field, X, y in cases:
        with pytest.raises(DataError) as err:
            SemanticVAE(random_state=0, max_epochs=2).fit(X, y)
        assert err.value.field == field, (field, str(err.value))
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="^X: SemanticVAEDA needs the web rows in memory"):
        SemanticVAEDA(random_state=0, max_epochs=2).fit(Xd, yd)
