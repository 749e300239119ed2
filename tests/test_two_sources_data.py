"""The shipped two-source crawl (datasets/openclipart_emoji): its sources, shapes, bags, truth
rule, noise rates (as PROVENANCE.md states them) and the target split."""
import importlib.util
import os
import re

import numpy as np
import pytest

from webly import WebDataset

HERE = os.path.join(os.path.dirname(__file__), os.pardir, "datasets", "openclipart_emoji")
OPENCLIPART = os.path.join(os.path.dirname(__file__), os.pardir, "datasets", "openclipart",
                           "openclipart_crawl.npz")
QUERIES = ["bird", "boat", "dessert", "fish", "flower", "fruit", "house", "insect", "music",
           "religion", "sport", "weather"]
SOURCES = ["emoji", "openclipart"]


@pytest.fixture(scope="module")
def ds():
    return WebDataset.from_npz(os.path.join(HERE, "crawl_two_sources.npz"))


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("two_sources_build",
                                                  os.path.join(HERE, "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _provenance_table():
    """{(source, query): (rows, wrong rows, noise %)} from PROVENANCE.md's noise table."""
    with open(os.path.join(HERE, "PROVENANCE.md"), encoding="utf-8") as fh:
        text = fh.read()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in SOURCES and cells[1] in QUERIES:
            rows[cells[0], cells[1]] = (int(cells[2]), int(cells[3]), float(cells[4].rstrip("%")))
    return rows


def test_shapes_classes_and_fields_are_as_documented(ds):
    n = len(ds.y)
    assert n == 613
    assert ds.X.shape == (n, 1280) and ds.X_test.shape == (220, 1280)
    assert ds.X_priv.shape[0] == n and ds.X_priv.format == "csr"
    assert ds.class_names.tolist() == sorted(QUERIES + ["other"])
    assert set(np.unique(ds.y_true)) <= set(ds.class_names)
    assert set(np.unique(ds.y_test)) == set(QUERIES)            # clean target: no "other"
    assert list(ds.meta.columns) == ["path", "query", "text", "rank", "source", "category"]
    assert (ds.meta["query"].to_numpy() == ds.y).all()
    # features stored at float16 precision
    assert np.array_equal(ds.X, ds.X.astype(np.float16).astype(np.float64))


def test_every_row_carries_its_source(ds):
    assert sorted(np.unique(ds.source)) == SOURCES
    assert (ds.meta["source"].to_numpy() == ds.source).all()
    emoji, oca = ds.source == "emoji", ds.source == "openclipart"
    assert emoji.sum() == 190 and oca.sum() == 423
    for q in QUERIES:                                            # both sources answer every query
        assert (ds.y[emoji] == q).any() and (ds.y[oca] == q).any()
    assert all(p.startswith("node_modules/emoji-datasource-google/img/google/64/")
               for p in ds.meta["path"][emoji])
    assert all(p.startswith("/usr/share/openclipart/png/") for p in ds.meta["path"][oca])


def test_openclipart_rows_are_the_shipped_openclipart_crawl(ds):
    oca = WebDataset.from_npz(OPENCLIPART)
    mine = ds.source == "openclipart"
    assert np.array_equal(ds.X[mine], oca.X) and np.array_equal(ds.X_test, oca.X_test)
    assert (ds.y[mine] == oca.y).all() and (ds.y_true[mine] == oca.y_true).all()
    assert (ds.y_test == oca.y_test).all()
    assert (ds.meta["text"][mine].to_numpy() == oca.meta["text"].to_numpy()).all()


def test_bags_hold_one_query_of_one_source_and_ids_are_distinct_across_sources(ds):
    for b in np.unique(ds.bags):
        rows = ds.bags == b
        assert rows.sum() <= 10
        assert len(np.unique(ds.y[rows])) == 1 and len(np.unique(ds.source[rows])) == 1
    assert not set(ds.bags[ds.source == "emoji"]) & set(ds.bags[ds.source == "openclipart"])
    assert ds.n_bags == 73


def test_emoji_truth_is_its_unicode_subgroup_mapped_to_the_classes(ds, build):
    emoji = ds.source == "emoji"
    for cat, truth in zip(ds.meta["category"][emoji], ds.y_true[emoji]):
        assert truth == build.truth(cat.split("/", 1)[1])
    assert sorted(build.QUERIES) == QUERIES


def test_query_word_is_not_in_its_rows_text(ds):
    for q, text in zip(ds.y, ds.meta["text"]):
        tokens = set(re.split(r"[^a-z0-9']+", text.lower()))
        assert not {q, q + "s", q + "es"} & tokens


def test_text_features_share_one_vocabulary_across_sources(ds):
    # one TF-IDF over both sources: each source uses columns of the other
    used = {s: set(ds.X_priv[ds.source == s].indices) for s in SOURCES}
    assert used["emoji"] & used["openclipart"]
    # every row with a word has text features (openclipart's re-derived from meta__text); the two
    # empty texts are a title and keywords that were only the query word
    has_words = np.array([bool(re.search(r"[a-z0-9]{2}", t.lower())) for t in ds.meta["text"]])
    assert ((np.diff(ds.X_priv.indptr) > 0) == has_words).all() and (~has_words).sum() == 2


def test_no_test_image_is_a_training_row(ds):
    gap = np.abs(ds.X_test[:, None, :] - ds.X[None]).max(axis=2)
    assert gap.min() > 1e-6


def test_noise_rates_in_provenance_match_y_vs_y_true(ds):
    table = _provenance_table()
    assert sorted(table) == sorted((s, q) for s in SOURCES for q in QUERIES)
    noisy = ds.y != ds.y_true
    for (s, q), (rows, wrong, pct) in table.items():
        mine = (ds.source == s) & (ds.y == q)
        assert mine.sum() == rows and noisy[mine].sum() == wrong
        assert round(100 * noisy[mine].mean(), 1) == pct
