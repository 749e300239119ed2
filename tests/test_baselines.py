import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from webly.baselines import SVMClassifier


# Declared deviation: like scikit-learn's own SVC (xfailed there for the same reason), libsvm's
# stopping tolerance makes "weight 2" and "row twice" give slightly different solutions.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data":
        "libsvm solutions for weighted and repeated rows differ within its tolerance (as SVC)",
}


@parametrize_with_checks([SVMClassifier()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_svm_learns_web_digits_and_oracle_is_an_upper_reference(web_digits):
    web = SVMClassifier().fit(web_digits.X, web_digits.y)
    oracle = SVMClassifier().fit(web_digits.X, web_digits.y_true)
    acc_web = (web.predict(web_digits.X_test) == web_digits.y_test).mean()
    acc_oracle = (oracle.predict(web_digits.X_test) == web_digits.y_test).mean()
    assert acc_web > 0.8
    assert acc_oracle > acc_web
    assert web.decision_function(web_digits.X_test).shape == (len(web_digits.y_test), 10)


def test_binary_decision_function_is_one_column():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-2, 1, (20, 2)), rng.normal(2, 1, (20, 2))]
    y = np.r_[["neg"] * 20, ["pos"] * 20]
    clf = SVMClassifier(kernel="linear").fit(X, y)
    d = clf.decision_function(X)
    assert d.shape == (40,)
    assert (clf.predict(X) == np.where(d > 0, "pos", "neg")).all()
