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


def test_a_problem_left_with_one_side_by_zero_weights_decides_at_its_margin():
    # KMM can weigh every row of a class absent from the target to 0: that class's one-vs-rest
    # problem keeps only negatives (w = 0, b = -1), the others fit as usual; the model saves
    # and loads
    import os
    import tempfile

    import pytest

    from webly.persist import load, save

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 2)) + 3.0 * np.c_[y == 1, y == 2]
    w = np.where(y == 2, 0.0, 1.0)
    clf = SVMClassifier(kernel="linear").fit(X, y, sample_weight=w)
    assert clf.estimators_[2] == -1.0
    d = clf.decision_function(X)
    np.testing.assert_array_equal(d[:, 2], -1.0)
    ref = SVMClassifier(kernel="linear").fit(X[y < 2], y[y < 2])
    assert (clf.predict(X[y < 2]) == ref.predict(X[y < 2])).all()
    binary = SVMClassifier(kernel="linear").fit(X[y > 0], y[y > 0], sample_weight=w[y > 0])
    np.testing.assert_array_equal(binary.decision_function(X), -1.0)
    assert (binary.predict(X) == 1).all()
    with pytest.raises(ValueError, match="at least one non-zero"):   # scikit-learn's check
        SVMClassifier().fit(X, y, sample_weight=np.zeros(60))
    with tempfile.TemporaryDirectory() as tmp:
        save(clf, os.path.join(tmp, "m.skops"))
        again = load(os.path.join(tmp, "m.skops"))
    np.testing.assert_array_equal(again.decision_function(X), d)
