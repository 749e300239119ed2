"""Multi-source estimators: planted source weights, heterogeneous data (the scikit-learn
contract: tests/test_common.py)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from webly.errors import DataError
from webly import FeatureBlocks, WebDataset
from webly.multisource import (MDAHS, GroupedFeatures, MDAHSPlus, MDAHSPlusENR,
                               SingleSourceClassifier, UniformSourcesClassifier)
from webly.multisource.data import MultiSourceData
from webly.synthetic import corrupt


def _digits_domains(n_src=60, n_tgt=90, classes=(0, 1, 2), seed=0):
    d = load_digits()
    keep = np.isin(d.target, classes)
    X, y = d.images[keep] / 16.0, d.target[keep]
    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(y))
    t, a, b = idx[:n_tgt], idx[n_tgt:n_tgt + n_src], idx[n_tgt + n_src:n_tgt + 2 * n_src]
    Xt = X[t].reshape(len(t), 64)
    Xa = X[a].reshape(len(a), 64)                                       # target's distribution
    # heavily corrupted: blurred, noisy, and its pixels scrambled by a fixed permutation, so that
    # its classes are learnable inside the source but its classifier is useless on the target
    Xb = corrupt(corrupt(X[b], "blur", random_state=rng), "noise", random_state=rng)
    Xb = Xb.reshape(len(b), 64)[:, rng.permutation(64)]
    Xs = np.vstack([Xa, Xb])
    ys = np.r_[y[a], y[b]]
    src = np.r_[np.full(len(a), "like-target"), np.full(len(b), "corrupted")]
    return Xs, ys, src, Xt, y[t]


KNOWN_LIMITATION = (
    "property of the MDA-HS saddle point, not a solver or closed-form error (issue 6): a source's "
    "rows are fitted only by its own base kernels, so the KKT condition of its support rows, "
    "y_i sum_t mu_(s,t) f_(s,t)(x_i) + a_i/C_s = const, pins sum_t mu_(s,t) to the inverse of "
    "its own margins; a source like the target is helped by the target rows through K_st and "
    "needs (gets) less weight, an unrelated one more (see the MDAHS docstring, 'Source "
    "weights'). Strict, so the test reports if this changes")


@pytest.mark.xfail(strict=True, reason=KNOWN_LIMITATION)
def test_planted_source_weights_prefer_the_source_like_the_target():
    Xs, ys, src, Xt, yt = _digits_domains()
    clf = MDAHS().fit(Xs, ys, sources=src, X_target=Xt)
    w = clf.source_weights_
    assert set(w) == {"like-target", "corrupted"}
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["like-target"] > w["corrupted"]
    assert np.all(clf.source_weights_per_model_[:, 0] > clf.source_weights_per_model_[:, 1])


AUTHORS_RELEVANCE = (
    "measured (issue 20): with variant='authors' (the release's prior f_s f_s'/theta on the "
    "whole source + target block) the prior coefficients gamma_s = (1/theta) sum_t mu_(s,t) "
    "f_s'(a o y_t) rank the corrupted source first in 15 of 15 (seed, class) problems, seeds 0-4 "
    "(means over classes like-target / corrupted 0.91-1.47 / 1.51-2.04; seed 0: 1.245 / 1.507), "
    "and so do its kernel weights mu (0.378-0.468 / 0.532-0.622); with webly's centred "
    "target-only prior gamma_s ranks the like-target source first in 5 of 15. The authors' "
    "gamma_s sums a source-row part f_s'(a_s o y_s), which grows with the dual mass of source "
    "s's rows (corrupted 0.26-0.64, like-target 0-0.14 "
    "on seed 0-2: the KKT mechanism of the kernel weights, KNOWN_LIMITATION), and a target-row "
    "part that alone ranks the like-target source first in 9 of 9 (seeds 0-2). The corrupted "
    "source's f_s is nearly flat on the target (std 0.035-0.043 vs 0.25-0.27), so its larger "
    "gamma_s moves the target decision less: gamma_s times that std ranks the like-target source "
    "first in 15 of 15 (test below). Strict, so the test reports if this changes")


@pytest.mark.xfail(strict=True, reason=AUTHORS_RELEVANCE)
def test_planted_source_relevance_of_the_authors_variant_prefers_the_source_like_the_target():
    Xs, ys, src, Xt, yt = _digits_domains()
    clf = MDAHS(variant="authors").fit(Xs, ys, sources=src, X_target=Xt)
    g = clf.source_relevance_
    assert g["like-target"] > g["corrupted"]
    assert np.all(clf.source_relevance_per_model_[:, 0] > clf.source_relevance_per_model_[:, 1])


@pytest.mark.parametrize("variant", ["webly", "authors"])
def test_prior_terms_weighted_by_their_spread_on_the_target_rank_the_like_target_source_first(
        variant):
    # what does rank the planted sources: the size of source s's term gamma_s f_s(x) in the target
    # decision, gamma_s times the spread of f_s (the unit-norm L2-SVM of source s, rebuilt here
    # with the fitted kernel) over the target rows. Measured on seeds 0-4: every class for
    # variant='authors' (15 of 15 (seed, class) problems), the mean over classes for 'webly'
    # (12 of 15 classes; seed 0, class 1 has gamma_like-target 0.000)
    from webly.multisource._mdahs import l2svm_source_classifier

    Xs, ys, src, Xt, yt = _digits_domains()
    clf = MDAHS(variant=variant).fit(Xs, ys, sources=src, X_target=Xt)
    kern, bias = clf.kernels_["x"], clf.kernel_bias_
    spread = np.zeros((len(clf.classes_), 2))
    for c, label in enumerate(clf.classes_):
        for s, name in enumerate(clf.sources_):
            rows = src == name
            beta, _ = l2svm_source_classifier(kern(Xs[rows]) + bias,
                                              np.where(ys[rows] == label, 1.0, -1.0))
            spread[c, s] = np.std((kern(Xt, Xs[rows]) + bias) @ beta)
    size = clf.source_relevance_per_model_ * spread
    assert clf.sources_ == ["like-target", "corrupted"]
    if variant == "authors":
        assert np.all(size[:, 0] > size[:, 1])
    else:
        assert size[:, 0].mean() > size[:, 1].mean()


def test_authors_variant_predicts_new_target_rows_as_it_labels_the_seen_ones():
    # no constant in the kernels and the prior also on the source rows, both folded into the
    # kernel expansion: the inductive scores of the target rows are the transductive ones
    Xs, ys, src, Xt, yt = _digits_domains()
    clf = MDAHS(variant="authors").fit(Xs, ys, sources=src, X_target=Xt)
    assert clf.kernel_bias_ == 0.0
    assert np.array_equal(clf.target_labels_, clf.predict(Xt))
    assert (clf.predict(Xt) == yt).mean() > 0.85  # measured 0.922 (webly's variant 0.811)
    # the release's search grows the labellings: 2 per source, then 2 per round (one per br)
    assert [y.shape[1] for y in clf.labellings_] == [m.shape[1] for m in clf.kernel_weights_]
    assert min(y.shape[1] for y in clf.labellings_) >= 4 + 2 * 4
    assert set(np.unique(clf.labellings_[0])) == {-1, 1}


@pytest.mark.parametrize("variant", ["webly", "authors"])
def test_source_relevance_is_reported_per_source_and_model(variant):
    Xs, ys, src, Xt, yt = _digits_domains(classes=(3, 8))
    clf = MDAHS(max_rounds=2, variant=variant).fit(Xs, ys, sources=src, X_target=Xt)
    assert clf.source_relevance_per_model_.shape == (1, 2)
    assert clf.source_relevance_ == dict(zip(clf.sources_, clf.source_relevance_per_model_[0]))
    uniform = MDAHS(variant=variant).fit(Xs, ys, sources=src)  # no target: the source average
    assert uniform.source_relevance_ == {"like-target": 0.5, "corrupted": 0.5}


def test_transductive_labels_equal_inductive_predictions_on_the_target():
    Xs, ys, src, Xt, yt = _digits_domains()
    clf = MDAHS().fit(Xs, ys, sources=src, X_target=Xt)
    assert np.array_equal(clf.target_labels_, clf.predict(Xt))
    assert (clf.predict(Xt) == yt).mean() > 0.7
    assert sum(clf.source_weights_.values()) == pytest.approx(1.0)


@pytest.mark.xfail(strict=True, reason=KNOWN_LIMITATION)
def test_mdahs_beats_the_uniform_average_when_a_source_is_corrupted():
    Xs, ys, src, Xt, yt = _digits_domains(seed=1)
    acc = {}
    for name, est, kw in [("uniform", UniformSourcesClassifier(), {}),
                          ("mdahs", MDAHS(), {"X_target": Xt})]:
        acc[name] = (est.fit(Xs, ys, sources=src, **kw).predict(Xt) == yt).mean()
    assert acc["mdahs"] >= acc["uniform"]


def test_binary_problem_and_decision_shapes():
    Xs, ys, src, Xt, yt = _digits_domains(classes=(3, 8))
    clf = MDAHS(max_rounds=2).fit(Xs, ys, sources=src, X_target=Xt)
    assert clf.decision_function(Xt).shape == (len(Xt),)
    assert set(clf.predict(Xt)) <= {3, 8}
    assert len(clf.kernel_weights_) == 1 and clf.kernel_weights_[0].shape[0] == 2


def test_without_target_falls_back_to_uniform_sources():
    Xs, ys, src, Xt, _ = _digits_domains()
    a = MDAHS().fit(Xs, ys, sources=src)
    b = UniformSourcesClassifier().fit(Xs, ys, sources=src)
    assert np.allclose(a.decision_function(Xt), b.decision_function(Xt))
    assert a.source_weights_ == {"like-target": 0.5, "corrupted": 0.5}


def test_mdahs_plus_uses_text_and_reduces_to_mdahs_without_it():
    Xs, ys, src, Xt, _ = _digits_domains(classes=(0, 1))
    rng = np.random.RandomState(0)
    text = np.eye(2)[(ys == 1).astype(int)] + 0.3 * rng.rand(len(ys), 2)
    plain = MDAHS(max_rounds=1).fit(Xs, ys, sources=src, X_target=Xt)
    no_text = MDAHSPlus(max_rounds=1).fit(Xs, ys, sources=src, X_target=Xt)
    with_text = MDAHSPlus(max_rounds=1).fit(Xs, ys, sources=src, X_target=Xt,
                                                        X_priv=text)
    assert np.allclose(plain.decision_function(Xt), no_text.decision_function(Xt))
    assert not np.allclose(plain.decision_function(Xt), with_text.decision_function(Xt))
    enr = MDAHSPlusENR(max_rounds=1).fit(Xs, ys, sources=src, X_target=Xt,
                                                     X_priv=text)
    assert enr.weight_norm == "elastic-net"
    assert sum(enr.source_weights_.values()) == pytest.approx(1.0)


def _heterogeneous(rng):
    """Google images (2-D features), Flickr videos (3 keyframes of 2-D features + 3-D motion
    features), a target of videos (2 keyframes + 3-D); the class is readable in both types."""
    n_img, n_vid, n_t = 40, 30, 20

    def f2d(y):  # 2-D (image) features, class in the first coordinate
        return np.c_[y * 2.0 - 1 + 0.5 * rng.randn(len(y)), rng.randn(len(y))]

    def f3d(y):  # 3-D (motion) features
        return np.c_[rng.randn(len(y)), y * 2.0 - 1 + 0.5 * rng.randn(len(y)), rng.randn(len(y))]

    y_img, y_vid, y_t = ((rng.rand(n) > 0.5).astype(int) for n in (n_img, n_vid, n_t))
    frames_vid = np.repeat(np.arange(n_vid), 3)
    frames_t = np.repeat(np.arange(n_t), 2)
    sources = {"google": {"2d": f2d(y_img)},
               "flickr": {"2d": GroupedFeatures(f2d(y_vid[frames_vid]), frames_vid),
                          "3d": f3d(y_vid)}}
    labels = {"google": y_img, "flickr": y_vid}
    target = {"2d": GroupedFeatures(f2d(y_t[frames_t]), frames_t), "3d": f3d(y_t)}
    return sources, labels, target, y_t


def test_heterogeneous_sources_and_keyframe_averaged_target():
    sources, labels, target, y_t = _heterogeneous(np.random.RandomState(0))
    ds = WebDataset.from_sources(sources, labels, target=target, target_labels=y_t)
    assert isinstance(ds.X, FeatureBlocks) and ds.X.present("3d").sum() == 30
    clf = MDAHS(max_rounds=2).fit(**ds.fit_args(target=True))
    assert clf.kernel_names_ == [("google", "2d"), ("flickr", "2d"), ("flickr", "3d")]
    pred = clf.predict(ds.X_test)
    assert (pred == y_t).mean() > 0.8
    assert np.array_equal(pred, clf.predict(target))  # a dict of blocks is the same rows
    with pytest.raises(DataError, match="lacks feature type '3d'"):
        clf.predict({"2d": target["2d"]})
    with pytest.raises(DataError, match="X_test"):
        WebDataset.from_sources(sources, labels, target={"2d": target["2d"],
                                                         "3d": np.full((20, 3), np.nan)})
    with pytest.raises(DataError, match="X_target"):  # the target needs every feature type
        MDAHS(max_rounds=2).fit(ds.X, ds.y, sources=ds.source,
                                X_target=FeatureBlocks({"2d": target["2d"]}))
    with pytest.raises(DataError, match=r"X_target\['3d'\]: has 4 features but X's '3d' has 3"):
        MDAHS(max_rounds=2).fit(ds.X, ds.y, sources=ds.source, X_target=FeatureBlocks(
            {"2d": target["2d"], "3d": np.ones((20, 4))}))


def test_deprecated_fit_multisource_gives_the_same_model_as_fit():
    sources, labels, target, y_t = _heterogeneous(np.random.RandomState(0))
    ds = WebDataset.from_sources(sources, labels, target=target)
    new = MDAHS(max_rounds=2).fit(**ds.fit_args(target=True))
    with pytest.warns(FutureWarning, match="MultiSourceData is deprecated"):
        from webly.multisource import MultiSourceData as Deprecated
    data = Deprecated(sources=sources, labels=labels, target=target)
    with pytest.warns(FutureWarning, match="fit_multisource"):
        old = MDAHS(max_rounds=2).fit_multisource(data)
    assert np.array_equal(old.decision_function(target), new.decision_function(ds.X_test))
    assert old.source_weights_ == new.source_weights_


def test_rows_of_one_source_must_share_feature_types():
    sources, labels, target, _ = _heterogeneous(np.random.RandomState(0))
    ds = WebDataset.from_sources(sources, labels, target=target)
    mixed = ds.source.copy()
    mixed[:5] = "flickr"  # five image rows (no 3-D features) claimed by the video source
    with pytest.raises(DataError, match="rows of source 'flickr' differ in feature types"):
        MDAHS(max_rounds=2).fit(ds.X, ds.y, sources=mixed, X_target=ds.X_test)


def test_text_for_some_sources_only_in_mdahs_plus():
    rng = np.random.RandomState(1)
    sources, labels, target, y_t = _heterogeneous(rng)
    text = rng.randn(30, 4)
    ds = WebDataset.from_sources(sources, labels, target=target, privileged={"flickr": text})
    assert np.isnan(ds.X_priv[:40]).all() and np.isfinite(ds.X_priv[40:]).all()
    plus = MDAHSPlus(max_rounds=2).fit(**ds.fit_args(target=True))
    explicit = MultiSourceData(sources=sources, labels=labels, target=target,
                               privileged={"flickr": text})
    with pytest.warns(FutureWarning):
        old = MDAHSPlus(max_rounds=2).fit_multisource(explicit)
    assert np.array_equal(plus.decision_function(ds.X_test), old.decision_function(target))
    half = ds.X_priv.copy()
    half[40:45] = np.nan  # five video rows without text, the other 25 with
    with pytest.raises(DataError, match="X_priv"):
        MDAHSPlus(max_rounds=2).fit(ds.X, ds.y, sources=ds.source, X_target=ds.X_test,
                                    X_priv=half)


def test_one_array_estimators_refuse_several_feature_types():
    from webly.baselines import SVMClassifier

    sources, labels, target, _ = _heterogeneous(np.random.RandomState(0))
    ds = WebDataset.from_sources(sources, labels, target=target)
    with pytest.raises(DataError, match="X: holds several feature types"):
        SVMClassifier().fit(ds.X, ds.y)


def test_errors_name_the_field():
    Xs, ys, src, Xt, _ = _digits_domains()
    with pytest.raises(DataError, match="X_target"):
        MDAHS().fit(Xs, ys, sources=src, X_target=Xt[:, :10])
    with pytest.raises(DataError, match="sources"):
        MDAHS().fit(Xs, ys, sources=src[:5], X_target=Xt)
    with pytest.raises(DataError, match="balance_ratios"):
        MDAHS(balance_ratios=(-1.0,)).fit(Xs, ys, sources=src, X_target=Xt)
    with pytest.raises(DataError, match="source"):
        SingleSourceClassifier(source="nope").fit(Xs, ys, sources=src)
    with pytest.raises(DataError, match="out of range"):
        SingleSourceClassifier(source=5).fit(Xs, ys, sources=src)


def test_single_source_picks_by_sorted_position():
    Xs, ys, src, Xt, _ = _digits_domains()
    clf = SingleSourceClassifier(source=1).fit(Xs, ys, sources=src)
    assert clf.source_ == "like-target"  # sorted: corrupted, like-target
    assert clf.source_weights_ == {"like-target": 1.0, "corrupted": 0.0}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [MDAHS, MDAHSPlus])
def test_kernel_fit_holds_the_qp_and_the_kernel_blocks(monkeypatch, cls):
    # issue 19: besides the solver's working set (a fixed share, see smo_solve) a fit holds the
    # kernel blocks (source x source per source, source x target, target x target), the QP
    # matrix Q and, for MDA-HS+ with a linear text kernel, two thin factors of its privileged
    # term: no label-signed copy of a block, no n_S x n_S privileged term. Before: 1.85
    # (MDA-HS) and 2.85 (MDA-HS+) (n + n_t)^2 arrays at 11,000 rows with the solves
    import tracemalloc

    from webly.multisource import _mdahs

    def uniform(Q, x0=None, tol=None, max_iter=None, overwrite_Q=False, solver=None):
        a = np.full(Q.shape[0], 1.0 / Q.shape[0])
        rho = float(a @ (Q @ a))
        return a, {"status": "converged", "n_iter": 0, "objective": rho / 2, "rho": rho,
                   "seconds": 0.0}

    monkeypatch.setattr(_mdahs, "solve_simplex_qp", uniform)
    rng = np.random.default_rng(0)
    n, n_t = 1500, 150
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 8)) + y[:, None]
    sources = np.repeat(["a", "b", "c"], n // 3)
    kw = {"X_priv": X[:, :4] + rng.normal(size=(n, 4))} if cls is MDAHSPlus else {}
    fit = dict(sources=sources, X_target=rng.normal(size=(n_t, 8)) + 0.5)
    est = cls(solver="smo", max_rounds=1)
    tracemalloc.start()
    est.fit(X, y, **fit, **kw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrays = peak / (8.0 * (n + n_t) ** 2)
    assert arrays <= 1.6, arrays
