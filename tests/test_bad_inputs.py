"""Bad input at estimator entry points: a typed error whose message names the field."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from webly.errors import DataError
from webly.mil import MiSVMPIClassifier, SMILPIClassifier, SMILPIDAClassifier
from webly.svmplus import SVMPlusClassifier

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 3))
y = np.r_[np.ones(10), np.zeros(10)].astype(int)
bags = np.r_[np.repeat([0, 1], 5), np.arange(10, 20)]
priv = rng.normal(size=(20, 2))


@pytest.mark.parametrize("make,kw,field", [
    (SMILPIClassifier, dict(bags=bags, X_priv=np.where(np.arange(40).reshape(20, 2) == 3, np.nan, priv)), "X_priv"),
    (SMILPIClassifier, dict(bags=bags, X_priv=priv[:15]), "X_priv"),
    (SMILPIClassifier, dict(bags=bags[:10], X_priv=priv), "bags"),
    (MiSVMPIClassifier, dict(bags=np.r_[np.zeros(12), np.arange(8)].astype(int), X_priv=priv), "bags"),
    (SMILPIDAClassifier, dict(bags=bags, X_priv=priv, X_target=np.zeros((4, 5))), "X_target"),
])
def test_estimator_metadata_errors_name_the_field(make, kw, field):
    with pytest.raises(DataError) as info:
        make().fit(X, y, **kw)
    assert info.value.field == field


def test_rho_outside_unit_interval_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match="'rho'"):
        SMILPIClassifier(rho=1.5).fit(X, y, bags=bags)


def test_one_class_bag_set_is_refused():
    with pytest.raises(DataError, match="at least 2 classes") as info:
        SMILPIClassifier().fit(X, np.ones(20, dtype=int), bags=bags)
    assert info.value.field == "y"


def test_wrong_feature_count_at_predict_names_x():
    est = SVMPlusClassifier().fit(X, y, X_priv=priv)
    with pytest.raises(ValueError, match="X has 5 features"):
        est.predict(np.zeros((2, 5)))
