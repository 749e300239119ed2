"""Property tests: any valid dataset round-trips losslessly and splits never cut a bag."""

import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from webly.dataset import WebDataset, datasets_equal

finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@st.composite
def datasets(draw):
    n_bags = draw(st.integers(2, 8))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_bags, max_size=n_bags))
    d = draw(st.integers(1, 5))
    n = sum(sizes)
    classes = draw(st.sampled_from([np.array(["cat", "dog"]), np.array([0, 1, 2]),
                                    np.array(["a b", "ü", "x"])]))
    bag_label = draw(st.lists(st.integers(0, len(classes) - 1), min_size=n_bags, max_size=n_bags))
    bags = np.repeat(np.arange(n_bags) * 3 + 1, sizes)
    y = classes[np.repeat(bag_label, sizes)]
    X = np.array(draw(st.lists(finite, min_size=n * d, max_size=n * d))).reshape(n, d)
    kw = dict(X=X, y=y, bags=bags, class_names=classes, name="h")
    if draw(st.booleans()):
        priv = np.array(draw(st.lists(st.floats(0, 1), min_size=n * 2, max_size=n * 2)))
        priv = priv.reshape(n, 2)
        kw["X_priv"] = sp.csr_matrix(priv) if draw(st.booleans()) else priv
    if draw(st.booleans()):
        kw["y_true"] = classes[np.array(draw(st.lists(st.integers(0, len(classes) - 1),
                                                      min_size=n, max_size=n)))]
    if draw(st.booleans()):
        kw["source"] = np.array(draw(st.lists(st.sampled_from(["g", "b"]), min_size=n, max_size=n)))
    if draw(st.booleans()):
        m = draw(st.integers(1, 4))
        kw["X_test"] = np.array(draw(st.lists(finite, min_size=m * d, max_size=m * d))).reshape(m, d)
        kw["y_test"] = classes[np.array(draw(st.lists(st.integers(0, len(classes) - 1),
                                                      min_size=m, max_size=m)))]
    return WebDataset(**kw)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.sampled_from(["npz", "parquet"]))
def test_any_valid_dataset_round_trips_without_loss(ds, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d.{fmt}"
        getattr(ds, f"to_{fmt}")(path)
        back = getattr(WebDataset, f"from_{fmt}")(path)
    assert datasets_equal(ds, back)
    assert back.y.dtype.kind == ds.y.dtype.kind


@settings(max_examples=40, deadline=None)
@given(datasets(), st.integers(0, 10))
def test_splits_never_cut_a_bag(ds, seed):
    train, test = ds.split_by_bag(0.4, random_state=seed)
    assert not set(ds.bags[train]) & set(ds.bags[test])
    assert len(train) + len(test) == ds.n_rows
