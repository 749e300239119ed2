"""solver="auto" of the MIL estimators (issue 18 item 3): the kernel path while it fits in
``memory_limit``, the explicit-feature path above it (logged), a clear refusal otherwise."""

import numpy as np
import pytest

import webly
from webly.errors import DataError

PRIMAL_CAPABLE = [webly.SMILClassifier, webly.SbMILClassifier, webly.SMILPIClassifier,
                  webly.SMILPIDAClassifier, webly.MiSVMClassifier, webly.MiSVMPIClassifier,
                  webly.MiSVMPIDAClassifier]


def _bags(n=240, seed=0):
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n // 6), 6)
    y = bags % 2
    X = rng.normal(size=(n, 6)) + 1.5 * y[:, None] * (rng.random(n) < 0.6)[:, None]
    return X, y, bags, X[:, :2] + rng.normal(size=(n, 2))


def _fit(cls, X, y, bags, T, **params):
    est = cls(**params)
    if "X_priv" in est.fit.__code__.co_varnames:
        return est.fit(X, y, bags=bags, X_priv=T)
    return est.fit(X, y, bags=bags)


@pytest.mark.parametrize("cls", PRIMAL_CAPABLE)
def test_auto_is_the_kernel_solver_when_it_fits(cls):
    X, y, bags, T = _bags()
    auto = _fit(cls, X, y, bags, T)
    smo = _fit(cls, X, y, bags, T, solver="smo")
    assert auto.solver_ == "smo" and cls().solver == "auto"
    np.testing.assert_array_equal(auto.decision_function(X), smo.decision_function(X))


@pytest.mark.parametrize("cls", [webly.SMILPIClassifier, webly.MiSVMClassifier])
def test_auto_goes_primal_above_the_memory_limit_and_says_so(cls, caplog):
    X, y, bags, T = _bags()
    with caplog.at_level("WARNING", logger="webly"):
        est = _fit(cls, X, y, bags, T, memory_limit="400k", n_components=40, random_state=0)
    assert est.solver_ == "primal" and hasattr(est, "feature_map_")
    [line] = [r.getMessage() for r in caplog.records if "solver='primal'" in r.getMessage()]
    # each estimator's own measured figure (benchmarks/kernel_memory.py), binary: one problem
    need = {webly.SMILPIClassifier: "691.2 kB (1.5", webly.MiSVMClassifier: "506.9 kB (1.1"}
    assert line.startswith(f"{cls.__name__}: the kernel solver on 240 rows would need about "
                           f"{need[cls]} arrays of 240 x 240), more than the 400.0 kB available")
    primal = _fit(cls, X, y, bags, T, solver="primal", n_components=40, random_state=0)
    np.testing.assert_array_equal(est.decision_function(X), primal.decision_function(X))


def test_explicit_kernel_solver_refuses_above_the_limit_and_da_goes_primal(monkeypatch):
    import webly.kernels

    def boom(*args, **kwargs):
        raise AssertionError("a kernel was computed")

    monkeypatch.setattr(webly.kernels, "gaussian_kernel", boom)
    X, y, bags, T = _bags()
    with pytest.raises(DataError, match=r"^solver: 'smo' \(a kernel solver\) on 240 rows needs "
                                        r"about 875\.5 kB \(1\.9 arrays"):
        webly.MiSVMPIClassifier(solver="smo", memory_limit="400k").fit(X, y, bags=bags,
                                                                      X_priv=T)
    # a -DA fit with a target goes to the primal path too (no kernel computed)
    est = webly.SMILPIDAClassifier(memory_limit="400k", n_components=40, random_state=0).fit(
        X, y, bags=bags, X_priv=T, X_target=X[:30])
    assert est.solver_ == "primal"
