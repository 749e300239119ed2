import numpy as np

from webly.baselines import SVMClassifier


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


def test_rows_of_weight_zero_are_left_out_as_if_absent():
    # libsvm with a precomputed kernel misreads the kernel once it drops weight-0 rows (decision
    # values off by up to 12 on this problem); SVMClassifier leaves them out itself
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    w = np.ones(60)
    w[::5] = 0.0
    weighted = SVMClassifier(kernel="linear").fit(X, y, sample_weight=w)
    absent = SVMClassifier(kernel="linear").fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.decision_function(X), absent.decision_function(X),
                               atol=1e-12)
    assert weighted.noise_scores_.shape == (60,)
    np.testing.assert_allclose(weighted.noise_scores_[w > 0], absent.noise_scores_, atol=1e-12)
