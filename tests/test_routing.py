"""Metadata routing: webly estimators inside scikit-learn's Pipeline and GridSearchCV.

With ``sklearn.set_config(enable_metadata_routing=True)`` every estimator requests exactly the
metadata its ``fit`` names (bags, X_priv, sources, X_target, class_vectors, class_names), so it
fits inside ``make_pipeline`` and ``GridSearchCV`` with no ``set_fit_request`` call.
"""

import inspect
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from webly.base import FIT_METADATA, fit_kwargs_for
from webly.experiments import registry
from webly.experiments.config import MethodSpec
from webly.baselines import SVMClassifier
from webly.distillation import GDClassifier
from webly.svmplus import L2SVMPlusClassifier, SVMPlusClassifier

PEERS = {"cleanlab": "cleanlab", "skada": "skada"}


def _methods():
    """Registered methods, one per estimator class; not the zero-shot method (web-digits has no
    joint image-text space)."""
    seen, names = set(), []
    for name, entry in registry.METHODS.items():
        if name != "zero-shot" and entry.target not in seen:
            seen.add(entry.target)
            names.append(name)
    return names


METHODS = _methods()

# small and fast settings, and one small grid per method (the grid's first value is the setting
# the pipeline fits with)
VAE_FAST = {"max_epochs": 2, "early_stopping": False, "hidden_size": 16, "latent_dim": 8}
ROUNDS_FAST = {"max_rounds": 2, "mkl_max_iter": 3}
FAST = {"SemanticVAE": VAE_FAST, "SemanticVAE-DA": {**VAE_FAST, "use_lrr": False},
        "VAE-weighted": VAE_FAST, "MIL-CPB": ROUNDS_FAST, "MIL-CPB-PI": ROUNDS_FAST,
        "MIL-CPB-PI-DA": ROUNDS_FAST, "MDA-HS": ROUNDS_FAST, "MDA-HS+": ROUNDS_FAST,
        "MDA-HS+ENR": ROUNDS_FAST,
        "GCE": {"max_epochs": 2}, "co-teaching": {"max_epochs": 2},
        "MLP": {"hidden_layer_sizes": (8,), "max_iter": 20},
        "cleanlab": {"hidden_layer_sizes": (8,), "max_iter": 20, "cv_n_folds": 2}}
GRID = {"GD": {"alpha": [0.1, 1.0]}, "SemanticVAE": {"beta": [1.0, 0.5]},
        "SemanticVAE-DA": {"beta": [1.0, 0.5]}, "VAE-weighted": {"beta": [1.0, 0.5]},
        "GCE": {"q": [0.7, 0.5]}, "co-teaching": {"forget_rate": [0.2, 0.4]},
        "MLP": {"alpha": [1e-4, 1e-2]}, "cleanlab": {"alpha": [1e-4, 1e-2]}}


def _grid(name, est):
    if name in GRID:
        return GRID[name]
    key = "C" if "C" in est.get_params() else "C_source"
    return {key: [1.0, 0.1]}


def _estimator(name):
    if name in PEERS:
        pytest.importorskip(PEERS[name])
    return registry.make_estimator(MethodSpec(name=name, params=FAST.get(name, {})),
                                   random_state=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with threadpool_limits(1):  # tiny fits: threads only contend with other processes
        yield


@pytest.fixture(scope="module")
def small(web_digits):
    """Two classes, four whole bags each (three sources); GroupKFold(2) by bag keeps both
    classes in each training fold."""
    keep = [b for b in np.unique(web_digits.bags) if b // 8 < 2 and b % 8 < 4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test set keeps classes these rows lack
        return web_digits.subset(np.flatnonzero(np.isin(web_digits.bags, keep)))


def _metadata(est, ds, entry):
    """X, y and the fit metadata ``est`` takes, as the runner passes them (40 target rows)."""
    args = ds.fit_args(target=True, labels=entry.labels)
    args["X_target"] = args["X_target"][:40]
    X, y = args.pop("X"), args.pop("y")
    return X, y, fit_kwargs_for(est, args)


@pytest.mark.parametrize("name", METHODS)
def test_each_estimator_requests_exactly_the_metadata_its_fit_takes(name):
    est = _estimator(name)
    takes = [p for p in inspect.signature(est.fit).parameters if p in FIT_METADATA]
    with sklearn.config_context(enable_metadata_routing=True):
        requests = est.get_metadata_routing().fit.requests
    assert {k for k, v in requests.items() if v is True} == set(takes)
    for p in takes:  # keyword-only everywhere
        assert inspect.signature(est.fit).parameters[p].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("name", METHODS)
def test_every_method_fits_in_a_pipeline_and_a_grid_search_with_routing_on(name, small):
    entry = registry.METHODS[name]
    est = _estimator(name)
    X, y, meta = _metadata(est, small, entry)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and data warnings of two-epoch fits
        pipe = make_pipeline(StandardScaler(), est).fit(X, y, **meta)
        assert pipe.predict(small.X_test[:20]).shape == (20,)
        search = GridSearchCV(est, _grid(name, est), cv=GroupKFold(2), error_score="raise")
        search.fit(X, y, groups=small.bags, **meta)
    assert set(y) <= set(search.best_estimator_.classes_)  # SemanticVAE adds zero-shot classes
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_routing_passes_the_metadata_through_the_pipeline(small):
    """The pipeline's SVM+ is the SVM+ fit directly on the scaled rows with X_priv."""
    X, T = small.X, small.X_priv
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), SVMPlusClassifier()).fit(X, small.y, X_priv=T)
    direct = SVMPlusClassifier().fit(StandardScaler().fit_transform(X), small.y, X_priv=T)
    without = SVMPlusClassifier().fit(StandardScaler().fit_transform(X), small.y)
    Xt = StandardScaler().fit(X).transform(small.X_test)
    assert np.allclose(pipe[-1].decision_function(Xt), direct.decision_function(Xt))
    assert not np.allclose(pipe[-1].decision_function(Xt), without.decision_function(Xt))


def test_set_fit_request_still_overrides_the_default(small):
    with sklearn.config_context(enable_metadata_routing=True):
        est = SVMPlusClassifier().set_fit_request(X_priv=False)
        assert est.get_metadata_routing().fit.requests == {"X_priv": False}
        with pytest.raises(TypeError, match="X_priv"):  # scikit-learn: not routed to any object
            make_pipeline(StandardScaler(), est).fit(small.X, small.y, X_priv=small.X_priv)


def test_without_routing_a_pipeline_refuses_metadata_with_scikit_learns_error(small):
    """What a user must do: sklearn.set_config(enable_metadata_routing=True) (README)."""
    pipe = make_pipeline(StandardScaler(), SVMPlusClassifier())
    # off explicitly: importing skada (the skada peer) turns routing on for the whole process
    with sklearn.config_context(enable_metadata_routing=False), pytest.raises(
            ValueError, match="Pipeline.fit does not accept the X_priv parameter"):
        pipe.fit(small.X, small.y, X_priv=small.X_priv)


@pytest.mark.parametrize("cls, field", [(SVMPlusClassifier, "X_priv"),
                                        (L2SVMPlusClassifier, "X_priv"), (GDClassifier, "X_priv"),
                                        (SVMClassifier, "sample_weight")])
def test_positional_metadata_still_works_with_a_future_warning(cls, field, small):
    X, y = small.X, small.y
    value = small.X_priv if field == "X_priv" else np.linspace(0.5, 1.5, len(y))
    with pytest.warns(FutureWarning, match=rf"pass {field}=\.\.\. by keyword") as record:
        old = cls().fit(X, y, value)
    assert record[0].filename == __file__  # at the caller's line
    new = cls().fit(X, y, **{field: value})
    assert np.allclose(old.decision_function(small.X_test), new.decision_function(small.X_test))
    with pytest.raises(TypeError, match="multiple values"):
        cls().fit(X, y, value, **{field: value})
