import numpy as np

from webly.mil import MiSVMPIClassifier, MiSVMPIDAClassifier
from webly.mil._toolkit import positive_bag_groups


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    n_bags, size = 8, 5
    truth = rng.random((n_bags, size)) < 0.7
    Xp = np.where(truth[..., None], rng.normal(1.5, 1, (n_bags, size, 2)),
                  rng.normal(-1.5, 1, (n_bags, size, 2))).reshape(-1, 2)
    Xn = rng.normal(-1.5, 1, (40, 2))
    X = np.r_[Xp, Xn]
    y = np.r_[np.ones(len(Xp)), np.zeros(len(Xn))].astype(int)
    bags = np.r_[np.repeat(np.arange(n_bags), size), 100 + np.arange(len(Xn))]
    priv = np.r_[truth.ravel().astype(float), np.zeros(len(Xn))][:, None] + rng.normal(0, .1, (len(X), 1))
    return X, y, bags, np.c_[priv, rng.normal(size=(len(X), 1))]


def test_relabelling_keeps_rho_positives_and_settles():
    X, y, bags, priv = _toy()
    est = MiSVMPIClassifier(C=1, gamma_plus=1, rho=0.6).fit(X, y, bags=bags, X_priv=priv)
    model = est.models_[0]
    y_pm = np.where(y == 1, 1, -1)
    for rows in positive_bag_groups(y_pm, bags):
        assert (model.instance_labels[rows] == 1).sum() >= np.ceil(0.6 * len(rows))
    assert (model.instance_labels[y_pm == -1] == -1).all()
    assert model.info["rounds"] < est.max_rounds


def test_authors_relabelling_settles_at_a_fixed_point_of_the_range_rule():
    # relabel="authors": +1 above min + 0.2 (max - min) of the positive-bag scores; threshold is
    # not used, and the final labels are those the rule reads off the final scores
    from webly.mil._toolkit import min_positives, relabel_positive_bags

    X, y, bags, priv = _toy(7)
    fits = [MiSVMPIClassifier(C=1, gamma_plus=1, relabel="authors", threshold=t, tol=1e-6)
            .fit(X, y, bags=bags, X_priv=priv) for t in (0.0, 5.0)]
    labels = fits[0].models_[0].instance_labels
    np.testing.assert_array_equal(labels, fits[1].models_[0].instance_labels)
    y_pm = np.where(y == 1, 1, -1)
    groups = positive_bag_groups(y_pm, bags)
    keep = min_positives(np.array([len(g) for g in groups]), 0.6)
    f = fits[0].decision_function(X)
    np.testing.assert_array_equal(
        relabel_positive_bags(f, groups, keep, labels, range_fraction=0.2), labels)
    webly = MiSVMPIClassifier(C=1, gamma_plus=1, tol=1e-6).fit(X, y, bags=bags, X_priv=priv)
    assert not np.array_equal(webly.models_[0].instance_labels, labels)


def test_privileged_features_change_the_solution_and_da_uses_the_target():
    X, y, bags, priv = _toy(1)
    plain = MiSVMPIClassifier(C=1, gamma_plus=1).fit(X, y, bags=bags)
    pi = MiSVMPIClassifier(C=1, gamma_plus=1).fit(X, y, bags=bags, X_priv=priv)
    da = MiSVMPIDAClassifier(C=1, gamma_plus=1, C2=10, gamma2=10).fit(
        X, y, bags=bags, X_priv=priv, X_target=X[:20] + 1.0)
    d = [m.decision_function(X) for m in (plain, pi, da)]
    assert not np.allclose(d[0], d[1], atol=1e-3)
    assert not np.allclose(d[1], d[2], atol=1e-3)


def test_final_round_is_solved_to_the_cvxpy_optimum_of_its_qp():
    from webly.kernels import Kernel
    from webly.mil._common import MILContext
    from webly.solvers import qp_objective, reference_solve

    X, y, bags, priv = _toy(2)
    est = MiSVMPIClassifier(C=1, gamma_plus=1, tol=1e-5).fit(X, y, bags=bags, X_priv=priv)
    model = est.models_[0]
    in_pos = y == 1
    Kp = Kernel("linear").fit(priv[in_pos])(priv[in_pos])
    qp = est._qp(MILContext(est.kernel_(X), bags, priv), model.instance_labels, in_pos, Kp)
    x_ref, _ = reference_solve(qp)
    ours, ref = qp_objective(qp, model.info["x"]), qp_objective(qp, x_ref)
    assert abs(ours - ref) <= 1e-4 * (1 + abs(ref))


def test_without_privileged_features_it_is_mi_svm_at_the_same_C():
    # same QP (plain hinge, one C for every instance), same relabelling rule and rho: the SMO and
    # libsvm solutions must agree on the instance labels and, up to the tolerance, on f
    from webly.mil import MiSVMClassifier

    X, y, bags, _ = _toy(3)
    for C in (0.1, 1.0, 10.0):
        pi = MiSVMPIClassifier(C=C, rho=0.6, tol=1e-6).fit(X, y, bags=bags)
        base = MiSVMClassifier(C=C, rho=0.6, tol=1e-6).fit(X, y, bags=bags)
        np.testing.assert_array_equal(pi.models_[0].instance_labels,
                                      base.models_[0].instance_labels)
        assert pi.models_[0].info["rounds"] == base.models_[0].n_iter
        np.testing.assert_allclose(pi.decision_function(X), base.decision_function(X), atol=1e-3)


def test_C_neg_bounds_only_the_negative_instances():
    from webly.mil._common import MILContext

    X, y, bags, priv = _toy(4)
    est = MiSVMPIClassifier(C=2.0, C_neg=0.5)
    in_pos = y == 1
    ctx = MILContext(np.eye(len(y)), bags)
    labels = np.where(in_pos, 1, -1)
    plain = est._qp(ctx, labels, in_pos, None)
    np.testing.assert_array_equal(plain.upper, np.where(in_pos, 2.0, 0.5))
    Kp = np.eye(in_pos.sum())
    pi = est._qp(ctx, labels, in_pos, Kp)
    assert np.isinf(pi.upper[in_pos]).all() and (pi.upper[~in_pos] == 0.5).all()
    block = pi.blocks[0]
    np.testing.assert_array_equal(block.index, np.flatnonzero(in_pos))
    assert block.lo == block.hi == 2.0 * in_pos.sum()  # sum(a + z) = sum(c), c_i = C


def test_correcting_function_gives_the_wrong_instances_the_larger_slack():
    # first round (every positive-bag instance labelled +1): the privileged feature says which
    # instances are wrong, so the slack function must rank them above the right ones
    from sklearn.metrics import roc_auc_score

    from webly.kernels import Kernel
    from webly.mil._common import MILContext
    from webly.solvers import smo_solve

    X, y, bags, priv = _toy(5)
    in_pos = y == 1
    wrong = priv[in_pos, 0] < 0.5  # the toy's privileged column 0 is the truth (+ noise)
    est = MiSVMPIClassifier(C=1, gamma_plus=1)
    Kp = np.ascontiguousarray(Kernel("linear").fit(priv[in_pos])(priv[in_pos]))
    qp = est._qp(MILContext(Kernel("rbf").fit(X)(X), bags, priv), np.where(in_pos, 1, -1),
                 in_pos, Kp)
    _, info = smo_solve(qp, tol=1e-5)
    slack = info["correcting_values"][0]
    assert slack.min() >= -1e-6
    assert roc_auc_score(wrong, slack) > 0.9


def test_unconstrained_correcting_function_tends_to_mi_svm_and_a_low_rank_linear_one_does_not():
    # (1/2g) v'K~v with v = a + z - C: as g -> 0 a full-rank K~ forces a + z = C, i.e. the hinge's
    # box a <= C (mi-SVM); a rank-2 linear K~ only forces X*'v = 0, a different model
    X, y, bags, priv = _toy(6)
    plain = MiSVMPIClassifier(C=1, tol=1e-6).fit(X, y, bags=bags)
    near = MiSVMPIClassifier(C=1, gamma_plus=1e-3, kernel_priv="rbf", gamma_priv=100.0,
                             tol=1e-6).fit(X, y, bags=bags, X_priv=priv)
    linear = MiSVMPIClassifier(C=1, gamma_plus=1e-3, tol=1e-6).fit(X, y, bags=bags, X_priv=priv)
    np.testing.assert_array_equal(near.models_[0].instance_labels, plain.models_[0].instance_labels)
    np.testing.assert_allclose(near.decision_function(X), plain.decision_function(X), atol=5e-3)
    assert np.abs(linear.decision_function(X) - plain.decision_function(X)).max() > 0.1
