"""Solvers return a status; an estimator whose solves stopped at a limit issues one
ConvergenceWarning for the fit, pointing at the user's call (this file), naming what to raise."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import webly


@pytest.fixture(scope="module")
def small(web_digits):
    ds = web_digits.subset(np.flatnonzero(np.isin(web_digits.bags, np.arange(0, 80, 4))))
    return ds


CASES = [
    # (estimator, fit arguments it uses, the parameter the message says to raise)
    (lambda: webly.SVMPlusClassifier(max_iter=3), ("X_priv",), "max_iter"),
    (lambda: webly.SVMPlusClassifier(solver="primal", max_iter=2, random_state=0), ("X_priv",),
     "max_iter"),
    (lambda: webly.L2SVMPlusClassifier(max_iter=3), ("X_priv",), "max_iter"),
    (lambda: webly.SMILClassifier(max_iter=3), ("bags",), "max_iter"),
    (lambda: webly.SMILPIClassifier(max_iter=3), ("bags", "X_priv"), "max_iter"),
    (lambda: webly.MiSVMClassifier(max_rounds=1), ("bags",), "max_rounds"),
    (lambda: webly.MiSVMPIClassifier(max_rounds=1), ("bags", "X_priv"), "max_rounds"),
    (lambda: webly.MILCPBClassifier(max_rounds=1), ("bags",), "max_rounds"),
    (lambda: webly.MDAHS(max_rounds=0, mkl_max_iter=1), ("sources", "X_target"),
     "mkl_max_iter"),
    (lambda: webly.SemanticVAEDA(hidden_size=16, max_epochs=2, lrr_max_iter=1, random_state=0),
     ("X_target", "class_vectors"), "lrr_max_iter"),
]


IDS = ["SVM+", "SVM+-primal", "L2-SVM+", "sMIL", "sMIL-PI", "mi-SVM", "mi-SVM-PI", "MIL-CPB",
       "MDA-HS", "SemanticVAE-DA-LRR"]


@pytest.mark.parametrize("make,uses,fix", CASES, ids=IDS)
def test_a_fit_that_stops_at_a_limit_warns_once_at_the_callers_line(small, make, uses, fix):
    est = make()
    args = {"bags": small.bags, "X_priv": small.X_priv, "sources": small.source,
            "X_target": small.X_test[:150], "class_vectors": small.class_vectors}
    with pytest.warns(ConvergenceWarning) as record:
        est.fit(small.X, small.y, **{k: args[k] for k in uses})
    conv = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1, [str(w.message) for w in conv]
    assert conv[0].filename == __file__  # the user's fit call, not webly's internals
    message = str(conv[0].message)
    assert message.startswith(f"{type(est).__name__} did not converge: ") and fix in message


def test_a_converged_fit_does_not_warn(small):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        webly.SMILPIClassifier().fit(small.X, small.y, bags=small.bags, X_priv=small.X_priv)


def test_data_warnings_point_at_the_callers_line_too(small):
    from webly.base import DataWarning

    with pytest.warns(DataWarning, match="X_priv: sMIL-PI") as record:
        webly.SMILPIClassifier().fit(small.X, small.y, bags=small.bags)
    assert [w.filename for w in record if issubclass(w.category, DataWarning)] == [__file__]


@pytest.mark.parametrize("make,old,new", [
    (webly.MiSVMClassifier, "max_iter", "max_rounds"),
    (webly.MISVMClassifier, "max_iter", "max_rounds"),
    (webly.MDAHS, "max_cutting_plane_iter", "max_rounds"),
    (webly.MDAHSPlus, "max_mkl_iter", "mkl_max_iter"),
])
def test_renamed_parameters_keep_working_for_a_release_with_a_future_warning(small, make, old,
                                                                            new):
    args = {"bags": small.bags} if "SVM" in make.__name__ else {
        "sources": small.source, "X_target": small.X_test[:150]}
    value = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(FutureWarning, match=f"{old} is renamed {new}") as record:
            by_old = make(**{old: value}).fit(small.X, small.y, **args)
        by_new = make(**{new: value}).fit(small.X, small.y, **args)
    assert [w.filename for w in record if issubclass(w.category, FutureWarning)] == [__file__]
    np.testing.assert_array_equal(by_old.decision_function(small.X_test[:40]),
                                  by_new.decision_function(small.X_test[:40]))
