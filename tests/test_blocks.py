"""FeatureBlocks: several feature types of the same rows, a row lacking some (webly.blocks)."""

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

import webly
from webly import FeatureBlocks, GroupedFeatures, WebDataset
from webly.dataset import datasets_equal
from webly.errors import DataError

NAN = np.nan


def _blocks():
    """Rows 0-1 images (2-D only), rows 2-4 videos (2-D keyframes: 2, 1, 3 frames; 3-D)."""
    frames = np.arange(12, dtype=float).reshape(6, 2)
    image = np.array([[100.0, 101.0], [102.0, 103.0]])
    two_d = GroupedFeatures(np.vstack([image, frames]), np.array([0, 1, 2, 2, 3, 4, 4, 4]))
    three_d = np.array([[NAN] * 3, [NAN] * 3, [1, 2, 3], [4, 5, 6], [7, 8, 9]])
    return FeatureBlocks({"2d": two_d, "3d": three_d})


def test_rows_types_and_presence():
    X = _blocks()
    assert X.n_rows == len(X) == 5 and X.shape == (5, 5)
    assert X.feature_types == ["2d", "3d"] and X.n_features == {"2d": 2, "3d": 3}
    assert X.present("3d").tolist() == [False, False, True, True, True]
    assert X.present("2d").all() and not X.complete()
    assert np.array_equal(X.block("3d"), [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert "3 rows" in repr(X)


def test_row_subsets_keep_each_rows_features_and_frames():
    X = _blocks()
    sub = X[np.array([4, 0, 2])]
    assert sub.present("3d").tolist() == [True, False, True]
    assert np.array_equal(sub.block("3d"), [[7, 8, 9], [1, 2, 3]])
    g = sub.block("2d")  # row 4 has three frames, row 0 one image, row 2 two frames
    assert np.bincount(g.groups).tolist() == [3, 1, 2]
    assert np.array_equal(g.X[g.groups == 0], np.arange(6, 12.0).reshape(3, 2))
    assert np.array_equal(g.X[g.groups == 1], [[100.0, 101.0]])
    mask = np.zeros(5, bool)
    mask[[2, 3]] = True
    assert X[mask].complete() and X[mask].equals(X[2:4])


def test_repeated_and_unsorted_rows_keep_their_frames():
    X = _blocks()
    sub = X[np.array([4, 2, 4, 0])]           # row 4 twice (a bootstrap), out of order
    g = sub.block("2d")
    assert np.bincount(g.groups).tolist() == [3, 2, 3, 1]
    assert np.array_equal(g.X[g.groups == 0], g.X[g.groups == 2])
    assert np.array_equal(g.X[g.groups == 3], [[100.0, 101.0]])
    assert sub.present("3d").tolist() == [True, True, True, False]
    assert np.array_equal(sub.block("3d"), [[7, 8, 9], [1, 2, 3], [7, 8, 9]])
    assert FeatureBlocks(sub.to_dict()).equals(sub)   # the npz layout round-trips it


def test_to_dict_round_trips_and_map_blocks_touches_only_present_rows():
    X = _blocks()
    assert FeatureBlocks(X.to_dict()).equals(X)
    doubled = X.map_blocks(lambda m, rows: 2 * rows)
    assert np.array_equal(doubled.block("3d"), 2 * X.block("3d"))
    assert np.array_equal(doubled.present("3d"), X.present("3d"))
    assert np.array_equal(doubled.block("2d").X, 2 * X.block("2d").X)


@pytest.mark.parametrize("blocks, n_rows, match", [
    ({}, None, "non-empty dict"),
    ({"a": np.array([[1.0, NAN]])}, None, "partly NaN"),
    ({"a": np.ones((3, 2)), "b": np.ones((4, 2))}, None, "different numbers of rows"),
    ({"a": np.array([[NAN, NAN], [1.0, 2.0]])}, None, r"rows \[0\] have no feature type"),
    ({"a": GroupedFeatures(np.ones((2, 2)), np.array([0, 5]))}, 3,
     r"X\['a'\]\.groups: must hold row indices 0..2"),
    ({1: np.ones((2, 2))}, None, "non-empty strings"),
    ({"a": np.ones((3, 2))}, 5, r"X\['a'\]: has 3 rows but there are 5"),
    ({"a": np.array([[1.0, np.inf]])}, None, "NaN or infinite"),
])
def test_bad_blocks_name_the_field(blocks, n_rows, match):
    with pytest.raises(DataError, match=match):
        FeatureBlocks(blocks, n_rows=n_rows)


def test_from_sources_stacks_rows_source_by_source():
    X, sources = FeatureBlocks.from_sources({
        "img": {"2d": np.ones((2, 2))},
        "vid": {"2d": GroupedFeatures(np.zeros((3, 2)), np.array([0, 0, 1])),
                "3d": np.ones((2, 3))}})
    assert sources.tolist() == ["img", "img", "vid", "vid"]
    assert X.present("3d").tolist() == [False, False, True, True]
    assert X.block("2d").groups.tolist() == [0, 1, 2, 2, 3]
    with pytest.raises(DataError, match="one type, one width"):
        FeatureBlocks.from_sources({"a": {"x": np.ones((2, 2))}, "b": {"x": np.ones((2, 3))}})
    with pytest.raises(DataError, match=r"sources\['b'\]\['y'\]"):
        FeatureBlocks.from_sources({"a": {"x": np.ones((2, 2))},
                                    "b": {"x": np.ones((2, 2)), "y": np.ones((3, 1))}})


def _dataset():
    rng = np.random.RandomState(0)
    return WebDataset.from_sources(
        {"img": {"2d": rng.randn(6, 2)},
         "vid": {"2d": GroupedFeatures(rng.randn(8, 2), np.repeat(np.arange(4), 2)),
                 "3d": rng.randn(4, 3)}},
        {"img": [0, 1, 0, 1, 0, 1], "vid": [1, 0, 1, 0]},
        target={"2d": GroupedFeatures(rng.randn(6, 2), np.repeat(np.arange(3), 2)),
                "3d": rng.randn(3, 3)},
        target_labels=[0, 1, 1], privileged={"vid": rng.randn(4, 2)}, name="hetero")


def test_dataset_from_sources_fields():
    ds = _dataset()
    assert ds.n_rows == 10 and ds.source.tolist() == ["img"] * 6 + ["vid"] * 4
    assert np.isnan(ds.X_priv[:6]).all() and np.isfinite(ds.X_priv[6:]).all()
    assert ds.X_test.complete() and len(ds.X_test) == 3
    assert "2 2d + 3 3d features" in ds.summary()
    sub = ds.subset(ds.source == "vid")
    assert sub.X.complete() and np.array_equal(sub.y, [1, 0, 1, 0])
    with pytest.raises(DataError, match="labels"):
        WebDataset.from_sources({"a": {"x": np.ones((2, 2))}}, {"b": [0, 1]})
    with pytest.raises(DataError, match=r"labels\['a'\]"):
        WebDataset.from_sources({"a": {"x": np.ones((2, 2))}}, {"a": [0, 1, 1]})
    with pytest.raises(DataError, match="X_priv"):  # text of no row at all is no text
        WebDataset(X=np.eye(3), y=[0, 1, 1], X_priv=np.full((3, 2), NAN))


def test_dataset_with_blocks_round_trips_through_npz_but_not_parquet(tmp_path):
    ds = _dataset()
    ds.to_npz(tmp_path / "h.npz")
    back = WebDataset.from_npz(tmp_path / "h.npz")
    assert datasets_equal(ds, back) and back.name == "hetero"
    assert isinstance(back.X.block("2d"), GroupedFeatures)
    with pytest.raises(DataError, match="to_npz"):
        ds.to_parquet(tmp_path / "h.parquet")
    assert not (tmp_path / "h.parquet").exists()


def test_standardized_scales_each_type_on_its_own_rows():
    ds = _dataset().standardized()
    three = ds.X.block("3d")
    assert np.allclose(three.mean(axis=0), 0) and np.allclose(three.std(axis=0), 1)
    assert np.allclose(ds.X.block("2d").X.mean(axis=0), 0)
    assert ds.X_test.complete()


def test_standardized_leaves_a_type_no_row_has_as_it_is():
    ds = _dataset()
    images = ds.subset(ds.source == "img")          # no row has the 3-D type any more
    assert images.X_priv is None                    # nor text: only the videos had it
    scaled = images.standardized()
    assert np.allclose(scaled.X.block("2d").X.mean(axis=0), 0)
    assert np.array_equal(scaled.X_test.block("3d"), images.X_test.block("3d"))


def test_splitters_count_rows():
    ds = _dataset()
    folds = list(GroupKFold(2).split(ds.X, ds.y, groups=ds.source))
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(10))


def test_fitted_heterogeneous_model_saves_and_loads(tmp_path):
    ds = _dataset()
    clf = webly.MDAHSPlus(max_rounds=1, mkl_max_iter=5).fit(**ds.fit_args(target=True))
    webly.save(clf, tmp_path / "m.skops")
    back = webly.load(tmp_path / "m.skops")
    assert np.array_equal(back.decision_function(ds.X_test), clf.decision_function(ds.X_test))
