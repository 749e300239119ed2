"""Probabilities from any webly classifier: fit on the web rows, then Platt-scale its scores on a
small *clean* labelled set with scikit-learn's FrozenEstimator + CalibratedClassifierCV (the
recipe of the README).

The kernel methods give scores, not probabilities (the VAE family and the torch/linear heads have
their own ``predict_proba``). Calibrating by cross-validation on the web rows themselves
(``CalibratedClassifierCV(est, cv=GroupKFold())`` with routed metadata) runs, but fits the
sigmoids to the *web* labels of held-out bags: on web-digits (40% wrong), the per-class ROC-AUC
of the scores against held-out web labels was 0.25-0.85 (against true labels 0.53-1.0, on the
clean test rows 0.93-1.0), the sigmoids of some folds flipped sign, and SVM+'s calibrated
accuracy fell to 0.40 (uncalibrated 0.91). Calibration needs labels that are right.
"""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from webly.baselines import SVMClassifier
from webly.base import fit_kwargs_for
from webly.mil import MILCPBPIClassifier, MiSVMPIClassifier, SMILPIClassifier
from webly.multisource import MDAHSPlus
from webly.svmplus import SVMPlusClassifier


@pytest.fixture(scope="module")
def small(web_digits):
    """Four classes (all their query bags), their clean test rows split into a calibration half
    and an evaluation half."""
    classes = web_digits.class_names[:4]
    test = np.flatnonzero(np.isin(web_digits.y_test, classes))
    ds = web_digits.with_test(web_digits.X_test[test], web_digits.y_test[test])
    ds = ds.subset(np.isin(ds.y, classes))
    cal = np.arange(len(ds.y_test)) % 2 == 0
    return ds, cal


ESTIMATORS = [SVMClassifier(), SVMPlusClassifier(), SMILPIClassifier(),
              MiSVMPIClassifier(max_rounds=3), MILCPBPIClassifier(max_rounds=2, mkl_max_iter=3),
              MDAHSPlus(max_rounds=2, mkl_max_iter=3)]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_platt_on_a_clean_set_gives_probabilities_for_every_family(est, small):
    ds, cal = small
    X_cal, y_cal = ds.X_test[cal], ds.y_test[cal]
    X_ev, y_ev = ds.X_test[~cal], ds.y_test[~cal]
    meta = fit_kwargs_for(est, {"bags": ds.bags, "X_priv": ds.X_priv, "sources": ds.source,
                                "X_target": X_ev})
    with threadpool_limits(1):
        est.fit(ds.X, ds.y, **meta)
        model = CalibratedClassifierCV(FrozenEstimator(est), method="sigmoid").fit(X_cal, y_cal)
        P = model.predict_proba(X_ev)
    assert P.shape == (len(y_ev), 4) and np.allclose(P.sum(axis=1), 1)
    assert np.all((P >= 0) & (P <= 1))
    # calibration keeps the ranking of the scores: the argmax agrees with the estimator's own
    # prediction on nearly every row (measured 0.917 for SVM+, 0.98-1.0 for the others), and the
    # probabilities beat the uninformed guess (log loss measured 0.09-0.35 against ln 4 = 1.39)
    agree = np.mean(model.classes_[P.argmax(axis=1)] == est.predict(X_ev))
    assert agree > 0.85, agree
    prior = np.full((len(y_ev), 4), 0.25)
    assert log_loss(y_ev, P, labels=model.classes_) < 0.5 * log_loss(y_ev, prior,
                                                                      labels=model.classes_)
