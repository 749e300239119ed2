"""The runner's inner hyperparameter search (``search:`` in a config): scikit-learn's GridSearchCV.

Folds by bag on the training rows, the protocol's first metric through a routed scorer, the mean
over the folds where the metric is defined (ties keep the earlier point), and an adaptation
method's target rows: the unit's evaluation rows, whole, in every fit.
"""

import functools
import glob
import inspect
import os
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.utils.metadata_routing import MetadataRequest
from threadpoolctl import threadpool_limits

from webly import metrics as M
from webly.errors import DataError
from webly.experiments import registry, runner
from webly.experiments.config import MethodSpec, ProtocolSpec, load_config
from webly.synthetic import make_web_digits

SEED = 0


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def train():
    """240 web rows in 40 query bags of 6 (4 per digit), 30% wrong labels."""
    return make_web_digits(n_bags_per_class=4, bag_size=6, noise_rate=0.3, random_state=0)


def _search(train, name, grid, metric, X_target=None, params=None, folds=3):
    spec = MethodSpec(name=name, params=params or {}, search=grid)
    return runner._inner_search(spec, registry.METHODS[name], train, X_target, SEED,
                                ProtocolSpec(metrics=[metric], inner_folds=folds))


def _splits(train, folds=3):
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=SEED)
    return list(cv.split(train.X, train.y, groups=train.bags))


class _BagRuleAccuracy:
    """The test's own scorer: bag accuracy by the estimator's bag rule, bags routed to it."""

    def __call__(self, est, X, y, bags):
        _, S = est.bag_decision_function(X, bags)
        return M.bag_accuracy_from_bag_scores(y, bags, S, est.classes_)

    def get_metadata_routing(self):
        request = MetadataRequest(owner=self)
        request.score.add_request(param="bags", alias=True)
        return request


def test_search_scores_and_chooses_as_a_direct_gridsearchcv_with_bag_accuracy(train):
    # sMIL has its own bag rule (bag_decision_function): the runner's scorer must reach it with
    # each validation fold's bag ids, and the fits must get the training folds' bags
    grid = {"C": [0.01, 1.0, 100.0]}
    chosen, results = _search(train, "sMIL", grid, "bag_accuracy")
    direct = GridSearchCV(registry.make_estimator(MethodSpec(name="sMIL"), random_state=SEED),
                          grid, scoring=_BagRuleAccuracy(), cv=_splits(train), refit=False)
    with sklearn.config_context(enable_metadata_routing=True):
        direct.fit(train.X, train.y, bags=train.bags)
    expected = direct.cv_results_["mean_test_score"]
    assert len(set(expected)) == len(expected)  # the grid's points score differently here
    np.testing.assert_array_equal(results["mean_test_score"], expected)
    assert chosen == direct.cv_results_["params"][int(np.argmax(expected))]


def _fake_metric(train, table):
    """A stand-in for runner._metric_values: ``table[C]`` is (value on the first fold, value on
    the others)."""
    first = _splits(train)[0][1]

    def values(est, ev, metrics, train_ds, fit_on="web"):
        on_first = len(ev["y"]) == len(first) and np.array_equal(ev["X"], train.X[first])
        return {metrics[0]: table[est.C][0 if on_first else 1]}
    return values


def test_a_fold_where_the_metric_is_nan_is_left_out_of_the_mean(train, monkeypatch):
    # C=2 has no value on the first fold and 0.6 on the others: it beats C=1's 0.5 everywhere,
    # where GridSearchCV's own ranking (a NaN mean sinks) would choose C=1; C=3, NaN on every
    # fold, loses
    monkeypatch.setattr(runner, "_metric_values", _fake_metric(
        train, {1.0: (0.5, 0.5), 2.0: (np.nan, 0.6), 3.0: (np.nan, np.nan)}))
    chosen, results = _search(train, "SVM", {"C": [3.0, 1.0, 2.0]}, "accuracy")
    assert chosen == {"C": 2.0}
    assert results["params"][int(np.argmin(results["rank_test_score"]))] == {"estimator__C": 1.0}


@pytest.mark.parametrize("grid", [[1.0, 2.0], [2.0, 1.0]])
def test_ties_keep_the_earlier_point(train, monkeypatch, grid):
    monkeypatch.setattr(runner, "_metric_values", _fake_metric(
        train, {1.0: (0.5, 0.5), 2.0: (0.5, 0.5)}))
    chosen, _ = _search(train, "SVM", {"C": grid}, "accuracy")
    assert chosen == {"C": grid[0]}


def test_a_grid_without_any_value_keeps_its_first_point_and_says_so(train, monkeypatch):
    monkeypatch.setattr(runner, "_metric_values", _fake_metric(
        train, {1.0: (np.nan, np.nan), 2.0: (np.nan, np.nan)}))
    with pytest.warns(UserWarning, match="no grid point has a map on any inner fold"):
        chosen, _ = _search(train, "SVM", {"C": [2.0, 1.0]}, "map")
    assert chosen == {"C": 2.0}


def test_an_adaptation_method_adapts_to_the_evaluation_rows_whole_in_every_fit(train,
                                                                               monkeypatch):
    # as many target rows as training rows: scikit-learn would cut routed metadata of that
    # length to each fold's rows; the search must give every fit all of them, as the final fit
    cls = registry.METHODS["sMIL-PI-DA"].load()
    seen, fit = [], cls.fit

    @functools.wraps(fit)
    def recording_fit(self, X, y, **kwargs):
        seen.append((len(y), kwargs.get("X_target")))
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(cls, "fit", recording_fit)
    X_target = train.X_test[:train.n_rows]
    assert len(X_target) == train.n_rows
    spec = MethodSpec(name="sMIL-PI-DA", search={"C": [0.1, 10.0]})
    _, chosen = runner._fit(spec, registry.METHODS[spec.name], train, {"X": X_target}, SEED,
                            ProtocolSpec(metrics=["bag_accuracy"], inner_folds=3))
    assert chosen["C"] in (0.1, 10.0)
    assert len(seen) == 2 * 3 + 1  # two points on three folds, then the final fit
    assert sorted({n for n, _ in seen}) != [train.n_rows]  # the search's fits had fold rows
    for _, got in seen:
        np.testing.assert_array_equal(got, X_target)


def _searched_methods():
    """(config, spec) of every method with a search in the benchmark configs."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = []
    for path in sorted(glob.glob(os.path.join(root, "configs", "benchmarks", "*.yaml"))):
        for spec in load_config(path).methods:
            if spec.search:
                out.append(pytest.param(spec, id=f"{os.path.basename(path)[:-5]}-{spec.display}"))
    return out


@pytest.mark.parametrize("spec", _searched_methods())
def test_grid_points_set_on_the_estimator_equal_building_it_with_them(spec):
    # the search sets each point on a clone of the estimator built from the fixed parameters;
    # the final fit builds one from fixed parameters and point together
    from sklearn.model_selection import ParameterGrid

    base = registry.make_estimator(spec, random_state=SEED)
    for point in ParameterGrid(spec.search):
        searched = clone(base).set_params(**point)
        built = registry.make_estimator(spec.model_copy(update={"params": {**spec.params,
                                                                           **point}}),
                                        random_state=SEED)
        assert type(searched) is type(built)
        assert repr(searched.get_params(deep=False)) == repr(built.get_params(deep=False))


def _takes_priv():
    names = []
    for name, entry in registry.METHODS.items():
        if name != "zero-shot" and "X_priv" in inspect.signature(entry.load().fit).parameters:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _takes_priv())
def test_all_nan_privileged_features_fit_as_none_or_are_refused(name):
    # a search fold whose rows all lack privileged features gets an all-NaN X_priv where
    # Dataset.subset gives None: the same fit (methods taking rows without text) or a DataError
    # (methods refusing NaN rows, which refuse them in the unit's final fit too)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), np.repeat([0, 1], 30)
    est = registry.make_estimator(MethodSpec(name=name), random_state=SEED)
    meta = {"bags": np.arange(60) // 3, "sources": np.where(np.arange(60) % 2, "a", "b"),
            "X_target": X[:10]}
    meta = {k: v for k, v in meta.items() if k in inspect.signature(est.fit).parameters}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit without X_priv: the -PI methods say so
        without = clone(est).fit(X, y, **meta)
        try:
            nan = clone(est).fit(X, y, X_priv=np.full((60, 3), np.nan), **meta)
        except DataError as exc:
            assert exc.field == "X_priv"
            return
    np.testing.assert_array_equal(nan.decision_function(X), without.decision_function(X))


@pytest.mark.parametrize("kernel", ["rbf", "precomputed"])
def test_the_search_estimator_cuts_a_precomputed_kernel_as_a_kernel(kernel):
    # GridSearchCV cuts X to (fold rows x fold rows) only for an estimator tagged pairwise
    from sklearn.utils import get_tags

    est = registry.make_estimator(MethodSpec(name="SVM+", params={"kernel": kernel}),
                                  random_state=SEED)
    assert get_tags(runner._FixedFitArgs(est, {})).input_tags.pairwise is (kernel == "precomputed")
