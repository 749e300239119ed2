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


def test_config_loader_swaps_in_the_minilm_class_vectors(ds, tmp_path):
    # the file's own class vectors are TF-IDF of the names (mostly zero rows); a config gives the
    # semantic VAE real ones with dataset: {..., class_vectors: openclipart13}
    from webly.errors import DataError
    from webly.experiments.registry import load_npz
    from webly.semantic import load_class_vectors

    path = os.path.join(HERE, "openclipart_crawl.npz")
    with_vectors = load_npz(path, class_vectors="openclipart13")
    names, vectors = load_class_vectors("openclipart13")
    assert with_vectors.class_vectors.shape == (13, 384)
    for c, row in zip(with_vectors.class_names, with_vectors.class_vectors):
        assert np.array_equal(row, vectors[names.tolist().index(c)])   # matched by name
    sim = with_vectors.class_vectors @ with_vectors.class_vectors.T
    assert np.all(np.abs(np.linalg.norm(with_vectors.class_vectors, axis=1) - 1) < 1e-5)
    assert np.all(sim[~np.eye(13, dtype=bool)] < 0.9)                  # distinct classes
    np.savez(tmp_path / "few.npz", class_names=np.array(["bird", "boat"]), vectors=np.eye(2))
    with pytest.raises(DataError, match="dataset.class_vectors: has no vector for classes"):
        load_npz(path, class_vectors=str(tmp_path / "few.npz"))


def test_minilm_text_is_aligned_and_scores_noise_zero_shot(ds):
    # openclipart_text_minilm.npz: MiniLM vectors of each row's text (query word removed), the
    # same text space as the openclipart13 class vectors; no training: similarity to the query's
    # class name against the best other class
    import hashlib

    from sklearn.metrics import roc_auc_score

    from webly.experiments.registry import with_class_vectors
    from webly.heads import ZeroShotClassifier

    with np.load(os.path.join(HERE, "openclipart_text_minilm.npz"), allow_pickle=False) as z:
        T, sha = z["X_priv"], str(z["text_sha1"])
    assert T.shape == (len(ds.y), 384)
    assert sha == hashlib.sha1("\n".join(ds.meta["text"].astype(str)).encode()).hexdigest()
    named = with_class_vectors(ds, "openclipart13")
    clf = ZeroShotClassifier().fit(T, ds.y, class_vectors=named.class_vectors,
                                   class_names=named.class_names, X_priv=T)
    assert clf.noise_source_ == "X_priv"
    assert roc_auc_score(ds.is_noisy, clf.noise_scores_) > 0.72          # measured 0.777
