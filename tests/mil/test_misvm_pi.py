import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from webly.mil import MiSVMPIClassifier, MiSVMPIDAClassifier
from webly.mil._common import positive_bag_groups
from webly.solvers import qp_kkt

EXPECTED = {"check_sample_weight_equivalence_on_dense_data": "fit takes no sample_weight"}


@parametrize_with_checks([MiSVMPIClassifier(), MiSVMPIDAClassifier()],
                         expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_estimator_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


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
