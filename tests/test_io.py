import os

import numpy as np
import pytest

from webly.errors import DataError
from webly.io import read_mil_csv


def test_shipped_musk1_loads_with_its_published_shape(repo_root):
    ds = read_mil_csv(os.path.join(repo_root, "datasets", "mil_classic", "musk1.csv.gz"))
    assert ds.X.shape == (476, 166) and ds.n_bags == 92
    bag_y = ds.y[np.unique(ds.bags, return_index=True)[1]]
    assert (bag_y == 1).sum() == 47 and (bag_y == 0).sum() == 45


def test_any_csv_of_the_format_loads(tmp_path):
    p = tmp_path / "toy.csv"
    p.write_text("bag_id,bag_label,a,b\n1,1,0.5,1\n1,1,0.1,2\n2,0,3,4\n")
    ds = read_mil_csv(p)
    assert ds.X.shape == (3, 2) and ds.bags.tolist() == [1, 1, 2] and ds.name == "toy"


@pytest.mark.parametrize("text,field", [
    ("bag,bag_label,a\n1,1,0\n", "bag_id"),
    ("bag_id,bag_label,a\n1,2,0\n", "bag_label"),
    ("bag_id,bag_label\n1,1\n", "X"),
    ("bag_id,bag_label,a\n1,1,x\n", "X"),
    ("bag_id,bag_label,a\n1,1,0\n1,0,1\n", "bags"),
])
def test_malformed_csv_is_refused_naming_the_field(tmp_path, text, field):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError) as info:
        read_mil_csv(p)
    assert info.value.field == field


@pytest.mark.parametrize("labels,lo,hi", [("one", 0.5, 0.65), ("majority", 0.65, 0.8)])
def test_music_genre_crowd_labels_are_real_crowd_answers(repo_root, labels, lo, hi):
    from webly.io import load_music_genre_crowd
    path = os.path.join(repo_root, "datasets", "music_genre_crowd", "music_genre_crowd.npz")
    ds = load_music_genre_crowd(path, labels=labels, random_state=0)
    assert ds.X.shape == (700, 124) and ds.X_test.shape == (300, 124)
    assert lo < np.mean(ds.y == ds.y_true) < hi
    assert abs(ds.X.mean()) < 1e-8  # standardised on the training songs
    again = load_music_genre_crowd(path, labels=labels, random_state=0)
    assert np.array_equal(ds.y, again.y)
    with pytest.raises(DataError, match="dataset.labels"):
        load_music_genre_crowd(path, labels="all")
