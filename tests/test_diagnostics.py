import numpy as np
import pytest
import scipy.sparse as sp

from webly.dataset import WebDataset
from webly.diagnostics import (
    noise_auc_within,
    premise_report,
    reconstruction_errors,
    source_noise_rates,
    text_noise_scores,
)


def _crawl(n_bags=60, bag_size=10, n_classes=3, noise=0.3, seed=0):
    """Query bags (bag b of query b % n_classes) with a share ``noise`` of wrong rows."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), bag_size)
    y = bags % n_classes
    noisy = rng.random(len(y)) < noise
    y_true = np.where(noisy, (y + rng.integers(1, n_classes, len(y))) % n_classes, y)
    return rng, bags, y, y_true, y != y_true


def _auc(noisy, scores):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(noisy, scores)


def test_text_auc_is_high_when_tags_name_the_true_class():
    # tags of the true class (as web-digits draws them): wrongness = tag disagrees with the
    # query, which only the text crossed with the web label can see
    rng, bags, y, y_true, noisy = _crawl()
    T = np.eye(3)[y_true] + 0.5 * rng.random((len(y), 3))
    auc = _auc(noisy, text_noise_scores(sp.csr_matrix(T), y, noisy, bags))
    assert auc > 0.95  # measured 0.99-1.00 over seeds 0-4


def test_text_auc_is_about_half_when_the_text_is_random():
    rng, bags, y, _, noisy = _crawl(n_bags=150)
    auc = _auc(noisy, text_noise_scores(rng.random((len(y), 20)), y, noisy, bags))
    assert abs(auc - 0.5) < 0.07  # measured 0.49-0.55 over data seeds 0-7 (0.42-0.57 at 600 rows)


def test_random_sparse_text_scores_only_the_queries_noise_rates_pooled_not_within():
    # queries with very different noise: uncentred sparse text crossed with the web label acts
    # as a per-query intercept, so the pooled AUC rewards knowing which query is noisy; the
    # within-query AUC, the premise the report leads with, stays near 0.5
    rng = np.random.default_rng(0)
    bags = np.repeat(np.arange(160), 10)
    y = bags % 4
    noisy = rng.random(len(y)) < np.array([0.05, 0.1, 0.6, 0.7])[y]
    T = sp.random(len(y), 50, density=0.1, random_state=0, format="csr")
    scores = text_noise_scores(T, y, noisy, bags)
    assert _auc(noisy, scores) > 0.7                       # measured 0.79-0.81 (seeds 0-2)
    assert abs(noise_auc_within(noisy, scores, y) - 0.5) < 0.1   # measured 0.495-0.507


def test_offmanifold_auc_is_high_when_wrong_rows_lie_off_a_subspace():
    rng, bags, y, _, noisy = _crawl()
    basis = np.linalg.qr(rng.normal(size=(40, 4)))[0].T  # a 4-d subspace of R^40
    X = rng.normal(size=(len(y), 4)) @ basis + 0.05 * rng.normal(size=(len(y), 40))
    X[noisy] += rng.normal(size=(noisy.sum(), 40))  # wrong rows: far off the subspace
    auc = _auc(noisy, reconstruction_errors(X, noisy, bags))
    assert auc > 0.95  # measured 1.00


def test_offmanifold_auc_is_about_half_when_wrong_rows_share_the_distribution():
    rng, bags, y, _, noisy = _crawl()
    basis = np.linalg.qr(rng.normal(size=(40, 4)))[0].T
    X = rng.normal(size=(len(y), 4)) @ basis + 0.3 * rng.normal(size=(len(y), 40))
    for per_query in (False, True):
        auc = _auc(noisy, reconstruction_errors(X, noisy, bags, y, per_query=per_query))
        assert abs(auc - 0.5) < 0.08  # measured 0.49-0.52


def test_premise_report_of_web_digits_has_every_figure(web_digits):
    rep = premise_report(web_digits, random_state=0)
    assert rep["noise_rate"] == pytest.approx(5 / 12)
    assert rep["text_noise_auc"] > 0.95 and rep["text_noise_auc_within_query"] > 0.95
    # wrong digits are real digits: on the global manifold (measured 0.49)
    assert abs(rep["offmanifold_noise_auc"] - 0.5) < 0.1
    assert set(rep["source_noise_rates"]) == {"clean", "noise", "blur"}
    assert rep["source_noise_spread"] == pytest.approx(0.0)


def test_premise_report_leaves_out_what_the_data_cannot_give():
    rng, bags, y, y_true, noisy = _crawl(n_bags=12)
    X = rng.normal(size=(len(y), 5))
    rep = premise_report(WebDataset(X=X, y=y, bags=bags))  # no y_true: nothing measurable
    assert rep["noise_rate"] is None and rep["text_noise_auc"] is None
    assert rep["offmanifold_noise_auc"] is None
    rep = premise_report(WebDataset(X=X, y=y, bags=bags, y_true=y_true))  # no X_priv, no source
    assert rep["noise_rate"] == pytest.approx(noisy.mean())
    assert rep["text_noise_auc"] is None and rep["source_noise_rates"] is None
    assert 0 <= rep["offmanifold_noise_auc"] <= 1
    clean = premise_report(WebDataset(X=X, y=y, bags=bags, y_true=y, X_priv=X))
    assert clean["noise_rate"] == 0 and clean["text_noise_auc"] is None


def test_within_query_auc_ignores_how_noisy_each_query_is():
    # scores that only rank the noisy query above the clean one: pooled AUC high, within 0.5
    queries = np.repeat([0, 1], 10)
    noisy = np.array([0] * 9 + [1] + [0] * 5 + [1] * 5, dtype=bool)
    scores = queries.astype(float)
    assert _auc(noisy, scores) > 0.7
    assert noise_auc_within(noisy, scores, queries) == pytest.approx(0.5)
    assert source_noise_rates(noisy, queries) == {"0": 0.1, "1": 0.5}


def test_source_target_auc_tells_a_target_like_source_from_a_shifted_one():
    from webly.diagnostics import source_target_auc

    rng = np.random.default_rng(0)
    target = rng.normal(size=(200, 8))
    like = rng.normal(size=(200, 8))                    # drawn as the target is
    shifted = rng.normal(size=(200, 8)) + np.r_[1.5, np.zeros(7)]   # moved along one feature
    X = np.vstack([like, shifted])
    source = np.repeat(["like", "shifted"], 200)
    auc = source_target_auc(X, source, target)
    assert abs(auc["like"] - 0.5) < 0.08          # measured 0.47
    assert auc["shifted"] > 0.8                   # measured 0.86
    ds = WebDataset(X=X, y=np.repeat([0, 1], 200), source=source, X_test=target)
    rep = premise_report(ds)                      # no y_true: the source figure is still given
    assert rep["noise_rate"] is None and rep["source_target_auc"] == auc
