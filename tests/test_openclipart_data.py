"""The shipped Open Clip Art crawl (datasets/openclipart): its shapes, bags, split and noise rates."""
import os
import re

import numpy as np
import pytest

from webly import WebDataset

HERE = os.path.join(os.path.dirname(__file__), os.pardir, "datasets", "openclipart")
QUERIES = ["bird", "boat", "dessert", "fish", "flower", "fruit", "house", "insect", "music",
           "religion", "sport", "weather"]


@pytest.fixture(scope="module")
def ds():
    return WebDataset.from_npz(os.path.join(HERE, "openclipart_crawl.npz"))


def _provenance_table():
    """{query: (train rows, wrong rows, noise %)} from PROVENANCE.md's noise table."""
    with open(os.path.join(HERE, "PROVENANCE.md"), encoding="utf-8") as fh:
        text = fh.read()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] in QUERIES:
            rows[cells[0]] = (int(cells[4]), int(cells[5]), float(cells[6].rstrip("%")))
    return rows


def test_shapes_classes_and_fields_are_as_documented(ds):
    n = len(ds.y)
    assert ds.X.shape == (n, 1280) and ds.X_test.shape == (len(ds.y_test), 1280)
    assert ds.X_priv.shape[0] == n and ds.X_priv.format == "csr"
    assert sorted(np.unique(ds.y)) == QUERIES
    assert ds.class_names.tolist() == sorted(QUERIES + ["other"])
    assert set(np.unique(ds.y_test)) == set(QUERIES)           # clean test: no "other"
    assert set(np.unique(ds.y_true)) <= set(ds.class_names)
    assert ds.class_vectors.shape[0] == len(ds.class_names)
    assert list(ds.meta.columns[:3]) == ["path", "query", "text"]
    assert (ds.meta["query"].to_numpy() == ds.y).all()


def test_bags_hold_one_query_of_at_most_ten_results(ds):
    for b in np.unique(ds.bags):
        rows = ds.bags == b
        assert rows.sum() <= 10 and len(np.unique(ds.y[rows])) == 1


def test_query_word_is_not_in_its_rows_text(ds):
    for q, text in zip(ds.y, ds.meta["text"]):
        tokens = set(re.split(r"[^a-z0-9']+", text.lower()))
        assert not {q, q + "s", q + "es"} & tokens


def test_test_images_never_appear_in_training(ds):
    # the test paths are not in the npz; the build removes every held-out image from all
    # crawls, so the train images and the test features share no row
    train = {tuple(np.round(r, 3)) for r in ds.X[:, :32]}
    test = {tuple(np.round(r, 3)) for r in ds.X_test[:, :32]}
    assert not train & test


def test_noise_rates_in_provenance_match_is_noisy(ds):
    table = _provenance_table()
    assert sorted(table) == QUERIES
    noisy = ds.is_noisy
    for q, (rows, wrong, pct) in table.items():
        mine = ds.y == q
        assert mine.sum() == rows and noisy[mine].sum() == wrong
        assert round(100 * noisy[mine].mean(), 1) == pct
