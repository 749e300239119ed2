import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from webly.dataset import WebDataset, datasets_equal
from webly.errors import DataError


def small(**kw):
    rng = np.random.default_rng(0)
    base = dict(X=rng.normal(size=(8, 3)), y=np.array(["a"] * 4 + ["b"] * 4),
                bags=np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    base.update(kw)
    return WebDataset(**base)


def full(sparse_priv=False):
    rng = np.random.default_rng(1)
    priv = rng.random((8, 5))
    return small(
        X_priv=sp.csr_matrix(priv * (priv > 0.5)) if sparse_priv else priv,
        source=np.array(["google", "bing"] * 4), y_true=np.array(["a", "b", "a", "a", "b", "b", "a", "b"]),
        meta=pd.DataFrame({"url": [f"http://x/{i}" for i in range(8)], "rank": np.arange(8)}),
        X_test=rng.normal(size=(3, 3)), y_test=np.array(["b", "a", "c"]),
        class_names=np.array(["a", "b", "c"]), class_vectors=rng.normal(size=(3, 4)), name="toy")


@pytest.mark.parametrize("field,kw,match", [
    ("X", dict(X=np.full((8, 3), np.nan)), "NaN"),
    ("X", dict(X=np.r_[np.zeros((7, 3)), [[np.inf, 0, 0]]]), "NaN or infinite"),
    ("X", dict(X=np.zeros(8)), "2-D"),
    ("y", dict(y=np.array(["a"] * 7)), "7 entries but X has 8"),
    ("bags", dict(bags=np.arange(5)), "5 entries"),
    ("bags", dict(bags=np.array([0, 0, 0, 1, 1, 2, 2, 2])), "mix several web labels"),
    ("bags", dict(bags=np.array(["x"] * 8)), "integer bag ids"),
    ("y", dict(class_names=np.array(["a"])), r"\['b'\] are not in class_names"),
    ("X_priv", dict(X_priv=np.zeros((7, 2))), "7 rows but X has 8"),
    ("X_priv", dict(X_priv=np.full((8, 2), np.nan)), "NaN"),
    ("X_test", dict(X_test=np.zeros((2, 4))), "4 features but X has 3"),
    ("y_test", dict(y_test=np.array(["a"])), "without X_test"),
    ("class_vectors", dict(class_vectors=np.zeros((3, 2))), "one row per class"),
    ("meta", dict(meta=pd.DataFrame({"u": [1, 2]})), "2 rows"),
    ("class_names", dict(class_names=np.array(["a", "b", "a"])), "duplicates"),
])
def test_bad_fields_are_refused_with_the_field_named(field, kw, match):
    with pytest.raises(DataError, match=match) as info:
        small(**kw)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_empty_dataset_is_refused():
    with pytest.raises(DataError, match="no rows"):
        WebDataset(X=np.zeros((0, 3)), y=np.array([]))


def test_class_names_inferred_from_all_labels():
    ds = small(X_test=np.zeros((1, 3)), y_test=np.array(["z"]))
    assert ds.class_names.tolist() == ["a", "b", "z"]


@pytest.mark.parametrize("sparse_priv", [False, True])
def test_npz_round_trip_is_lossless(tmp_path, sparse_priv):
    ds = full(sparse_priv)
    ds.to_npz(tmp_path / "d.npz")
    back = WebDataset.from_npz(tmp_path / "d.npz")
    assert datasets_equal(ds, back)
    assert sp.issparse(back.X_priv) == sparse_priv
    assert back.name == "toy"
    assert back.meta["url"].tolist() == ds.meta["url"].tolist()


@pytest.mark.parametrize("sparse_priv", [False, True])
def test_parquet_round_trip_is_lossless(tmp_path, sparse_priv):
    ds = full(sparse_priv)
    ds.to_parquet(tmp_path / "d.parquet")
    back = WebDataset.from_parquet(tmp_path / "d.parquet")
    assert datasets_equal(ds, back)
    assert sp.issparse(back.X_priv) == sparse_priv


def test_minimal_npz_with_only_x_and_y_loads(tmp_path):
    np.savez(tmp_path / "m.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    ds = WebDataset.from_npz(tmp_path / "m.npz")
    assert ds.bags is None and ds.n_bags == 3 and ds.class_names.tolist() == [0, 1]


@pytest.mark.parametrize("arrays,field", [
    (dict(X=np.array([[0.0, np.nan], [1, 1]]), y=np.array([0, 1])), "X"),
    (dict(X=np.eye(3), y=np.array([0, 1])), "y"),
    (dict(X=np.eye(3)), "y"),
    (dict(X=np.eye(2), y=np.array([0, 1]), bogus=np.eye(2)), "bogus"),
    (dict(X=np.eye(2), y=np.array([0, 1]), X_priv=np.eye(3)), "X_priv"),
])
def test_bad_npz_is_refused_naming_the_field(tmp_path, arrays, field):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        WebDataset.from_npz(tmp_path / "bad.npz")
    assert info.value.field == field


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        WebDataset.from_npz(tmp_path / "nope.npz")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    ds = full()
    target = tmp_path / "d.npz"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError):
        ds.to_npz(target)
    assert list(tmp_path.iterdir()) == []


def test_kfold_by_bag_never_cuts_a_bag_and_covers_every_row(web_digits):
    seen = np.zeros(web_digits.n_rows, dtype=int)
    for train, test in web_digits.kfold_by_bag(5, random_state=0):
        assert not set(web_digits.bags[train]) & set(web_digits.bags[test])
        seen[test] += 1
    assert (seen == 1).all()


def test_split_by_bag_is_seeded_and_keeps_bags_whole(web_digits):
    a = web_digits.split_by_bag(0.25, random_state=3)
    b = web_digits.split_by_bag(0.25, random_state=3)
    c = web_digits.split_by_bag(0.25, random_state=4)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    assert not set(web_digits.bags[a[0]]) & set(web_digits.bags[a[1]])


def test_fit_args_route_metadata(web_digits):
    args = web_digits.fit_args(target=True)
    assert set(args) == {"X", "y", "bags", "X_priv", "sources", "X_target", "class_vectors",
                         "class_names"}
    assert args["X_target"] is web_digits.X_test
    assert np.array_equal(web_digits.fit_args(labels="true")["y"], web_digits.y_true)
    with pytest.raises(DataError, match="y_true"):
        small().fit_args(labels="true")


def test_subset_keeps_rows_aligned(web_digits):
    rows = np.arange(0, web_digits.n_rows, 7)
    sub = web_digits.subset(rows)
    assert np.array_equal(sub.X, web_digits.X[rows])
    assert sub.meta["digit_index"].tolist() == web_digits.meta["digit_index"].iloc[rows].tolist()
    assert sub.X_test is web_digits.X_test


def test_subsample_per_class_is_seeded_and_counts_rows(repo_root):
    import os
    from webly.experiments.registry import load_npz
    path = os.path.join(repo_root, "datasets", "wikipedia_xmodal", "wikipedia.npz")
    a = load_npz(path, train_per_class=5, random_state=0)
    b = load_npz(path, train_per_class=5, random_state=0)
    c = load_npz(path, train_per_class=5, random_state=1)
    assert a.n_rows == 50 and (np.unique(a.y, return_counts=True)[1] == 5).all()
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    assert a.X_test.shape == (693, 128) and a.X_priv.shape == (50, 10)


def test_subsample_per_class_keeps_bags_whole(web_digits):
    sub = web_digits.subsample_per_class(20, random_state=0)
    assert set(np.unique(sub.bags, return_counts=True)[1]) == {12}
    assert (np.unique(sub.y, return_counts=True)[1] == 24).all()
    with pytest.raises(DataError, match="train_per_class"):
        web_digits.subsample_per_class(0)


def test_standardized_fits_on_training_rows_and_maps_the_test_set_alike():
    rng = np.random.default_rng(0)
    ds = small(X=rng.normal(5, 3, size=(8, 3)), X_test=rng.normal(5, 3, size=(4, 3)),
               y_test=np.array(["a", "b", "a", "b"]))
    st = ds.standardized()
    assert np.allclose(st.X.mean(axis=0), 0) and np.allclose(st.X.std(axis=0), 1)
    mu, sd = ds.X.mean(axis=0), ds.X.std(axis=0)
    assert np.allclose(st.X_test, (ds.X_test - mu) / sd)
    assert np.array_equal(st.y, ds.y) and ds.X.mean() > 1  # the original is untouched
