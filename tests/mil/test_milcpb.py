import itertools
import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from webly.errors import DataError
from webly.experiments import registry
from webly.kernels import Kernel
from webly.mil import MILCPBClassifier, MILCPBPIClassifier, MILCPBPIDAClassifier
from webly.mil._toolkit import min_positives, positive_bag_groups
from webly.mil.milcpb import l1_mkl_update, label_kernel, most_violated_labelling
from webly.solvers.reference import psd_factor

def _toy(seed=0, n_bags=8, size=5, n_neg=40, frac=0.7):
    rng = np.random.default_rng(seed)
    truth = rng.random((n_bags, size)) < frac
    Xp = np.where(truth[..., None], rng.normal(1.5, 1, (n_bags, size, 2)),
                  rng.normal(-1.5, 1, (n_bags, size, 2))).reshape(-1, 2)
    Xn = rng.normal(-1.5, 1, (n_neg, 2))
    X = np.r_[Xp, Xn]
    y = np.r_[np.ones(len(Xp)), np.zeros(n_neg)].astype(int)
    bags = np.r_[np.repeat(np.arange(n_bags), size), 100 + np.arange(n_neg)]
    flag = np.r_[truth.ravel(), np.zeros(n_neg, bool)]
    priv = np.c_[flag + rng.normal(0, .1, len(X)), rng.normal(size=len(X))]
    return X, y, bags, priv, flag


# ------------------------------------------------------------------------------------------
# the cvxpy reference: the max form of the MIL-CPB relaxation over a set of labellings
# ------------------------------------------------------------------------------------------

def _admissible_labellings(y_pm, bags, rho):
    groups = positive_bag_groups(y_pm, bags)
    keep = min_positives(np.array([len(g) for g in groups]), rho)
    per_bag = []
    for rows, m in zip(groups, keep):
        per_bag.append([lab for lab in itertools.product((-1.0, 1.0), repeat=len(rows))
                        if sum(v > 0 for v in lab) >= m])
    out = []
    for choice in itertools.product(*per_bag):
        y = -np.ones(len(y_pm))
        for rows, lab in zip(groups, choice):
            y[rows] = lab
        out.append(y)
    return out


def _reference(K, y_pm, labellings, C, C_neg, K_priv=None, gamma_plus=None, da=None):
    """``max_{a, z, theta} theta`` s.t. ``theta <= g(a, z; y)`` for each labelling y: the max
    form of the MIL-CPB dual, written from the formulas (bias as a constant feature 1), not
    from webly's QP. Returns ``(theta, a)``."""
    n = len(y_pm)
    P = np.flatnonzero(y_pm == 1)
    Fhat = psd_factor(K + 1.0)
    a, theta = cp.Variable(n), cp.Variable()
    omega, cons = 0, [a >= 0, a[np.flatnonzero(y_pm == -1)] <= C_neg]
    if K_priv is None:
        cons.append(a[P] <= C)
    else:  # SVM+ slack on the positive-bag instances: (v - c)'K~(v - c) / (2 gamma), v = a_P + b
        b = cp.Variable(len(P))
        v = a[P] + b - C
        omega = omega + cp.sum_squares(psd_factor(K_priv).T @ v) / (2 * gamma_plus)
        cons += [b >= 0, cp.sum(v) == 0]
    if da is not None:  # -DA: 1/(2 g2) v'K v - (1/g2)(n/n_t) C2 v'(K_st 1), sum v = n C2
        k_target, n_target, C2, gamma2 = da
        z2 = cp.Variable(n)
        v2 = a + z2
        omega = omega + (cp.sum_squares(psd_factor(K).T @ v2) / (2 * gamma2)
                         - (n / n_target) * C2 / gamma2 * (k_target @ v2))
        cons += [z2 >= 0, cp.sum(v2) == n * C2]
    for y in labellings:
        cons.append(theta <= cp.sum(a) - 0.5 * cp.sum_squares(Fhat.T @ cp.multiply(y, a)) - omega)
    cp.Problem(cp.Maximize(theta), cons).solve(solver="CLARABEL")
    return theta.value, a.value


TIGHT = dict(tol=1e-7, mkl_tol=1e-7, mkl_max_iter=5000, max_rounds=50)


def _fit_variant(variant, X, y, bags, priv):
    """The fitted estimator and the keyword arguments of :func:`_reference` for it."""
    y_pm = np.where(y == 1, 1, -1)
    K = Kernel("rbf").fit(X)(X)
    if variant in ("plain", "instances"):
        est = MILCPBClassifier(loss="hinge", C=2.0, C_neg=0.5, **TIGHT).fit(
            X, y, bags=None if variant == "instances" else bags)
        return est, dict(K=K, y_pm=y_pm, C=2.0, C_neg=0.5)
    Kp = Kernel("linear").fit(priv[y == 1])(priv[y == 1])
    kw = dict(C=0.5, gamma_plus=2.0, C_neg=0.3, **TIGHT)
    ref = dict(K=K, y_pm=y_pm, C=0.5, C_neg=0.3, K_priv=Kp, gamma_plus=2.0)
    if variant == "PI":
        return MILCPBPIClassifier(loss="hinge", **kw).fit(X, y, bags=bags, X_priv=priv), ref
    Xt = X[:6] + 0.5
    est = MILCPBPIDAClassifier(C2=2.0, gamma2=5.0, **kw).fit(X, y, bags=bags, X_priv=priv,
                                                              X_target=Xt)
    ref["da"] = (Kernel("rbf").fit(X)(X, Xt).sum(axis=1), len(Xt), 2.0, 5.0)
    return est, ref


@pytest.mark.parametrize("variant", ["plain", "instances", "PI", "PI-DA"])
def test_mkl_over_the_final_labellings_matches_the_cvxpy_optimum(variant):
    X, y, bags, priv, _ = _toy(3, n_bags=3, size=4, n_neg=10, frac=0.6)
    est, ref_kw = _fit_variant(variant, X, y, bags, priv)
    model = est.models_[0]
    labellings = model.info["labellings"].T.astype(float)
    ref, a_ref = _reference(labellings=labellings, **ref_kw)
    ours = -model.info["objective"]  # the solver minimises minus the dual
    assert abs(ours - ref) <= 1e-5 * (1 + abs(ref)), (ours, ref)
    # the dual variables of the relaxation are unique (strictly concave in a)
    assert np.allclose(model.info["x"][:len(y)], a_ref, atol=1e-3 * (1 + np.abs(a_ref).max()))
    if variant == "instances":
        assert len(labellings) == 1


def test_cutting_plane_value_bounds_the_relaxation_over_all_labellings_closely():
    # 3 bags of 4 keeping >= 3 positives: 5^3 = 125 admissible labellings, enumerated for cvxpy;
    # the per-bag sort finds a working set whose value is an upper bound within 5%
    X, y, bags, priv, _ = _toy(3, n_bags=3, size=4, n_neg=10, frac=0.6)
    est, ref_kw = _fit_variant("PI", X, y, bags, priv)
    model = est.models_[0]
    assert model.info["status"] == "converged"
    every, _ = _reference(labellings=_admissible_labellings(ref_kw["y_pm"], bags, 0.6),
                          **ref_kw)
    ours = -model.info["objective"]
    assert every - 1e-6 <= ours <= every + 0.05 * abs(every), (ours, every)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_decision_function_is_the_mkl_combination_of_the_label_kernels():
    X, y, bags, priv, _ = _toy(4)
    est = MILCPBClassifier(loss="hinge", C=1.0, intercept_scaling=2.0).fit(X, y, bags=bags)
    m = est.models_[0]
    a, Y, d = m.info["x"][:len(y)], m.info["labellings"].astype(float), m.info["d"]
    K = est.kernel_(X[:7], X)
    manual = sum(d[t] * (K + 4.0) @ (a * Y[:, t]) for t in range(len(d)))
    assert np.allclose(est.decision_function(X[:7]), manual)
    assert np.all(d >= 0) and np.isclose(d.sum(), 1.0)


def test_label_kernel_matches_its_definition_and_fills_a_larger_buffer():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(9, 3))
    K = A @ A.T
    Y = np.where(rng.random((9, 3)) < 0.5, 1.0, -1.0)
    d = np.array([0.2, 0.5, 0.3])
    out = np.zeros((10, 10))
    label_kernel(K, Y, d, 0.5, out=out)
    expected = sum(d[t] * (K + 0.5) * np.outer(Y[:, t], Y[:, t]) for t in range(3))
    assert np.allclose(out[:9, :9], expected) and not out[9].any() and not out[:, 9].any()


def test_mkl_weight_update_is_the_closed_form_l1_step():
    d, q = np.array([0.5, 0.3, 0.2]), np.array([4.0, 9.0, 0.0])
    step = d * np.sqrt(q)
    assert np.allclose(l1_mkl_update(d, q), step / step.sum())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_labelling_keeps_rho_positives_and_negatives_stay_negative():
    X, y, bags, priv, _ = _toy(0)
    est = MILCPBPIClassifier(loss="hinge", C=1, gamma_plus=1, rho=0.6).fit(X, y, bags=bags,
                                                                           X_priv=priv)
    model = est.models_[0]
    y_pm = np.where(y == 1, 1, -1)
    labellings = model.info["labellings"]
    assert labellings.shape[1] == model.info["rounds"] >= 2
    for t in range(labellings.shape[1]):
        for rows in positive_bag_groups(y_pm, bags):
            assert (labellings[rows, t] == 1).sum() >= np.ceil(0.6 * len(rows))
        assert (labellings[y_pm == -1, t] == -1).all()


def test_most_violated_labelling_sorts_leave_self_out_scores_within_bags():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(12, 1))
    K = np.exp(-np.square(Z - Z.T))
    y_pm = np.r_[np.ones(8), -np.ones(4)]
    bags = np.r_[0, 0, 0, 0, 1, 1, 1, 1, 10, 11, 12, 13]
    groups = positive_bag_groups(y_pm, bags)
    keep = min_positives(np.array([4, 4]), 0.5)
    a = rng.random(12)
    y_soft = np.r_[rng.uniform(-1, 1, 8), -np.ones(4)]
    coef = a * y_soft
    f = (K + 1.0) @ coef
    y, q = most_violated_labelling(K, a, f, y_soft, groups, keep, y_pm, shift=1.0)
    u = a * y
    assert np.isclose(q, u @ (K + 1.0) @ u)
    assert (y[8:] == -1).all()
    # the sort key: each instance's score without its own term
    h = f - a * y_soft * 2.0
    for rows, m in zip(groups, keep):
        assert (y[rows] == 1).sum() >= m
    # it is the better of the two per-bag sorts, and no single flip inside the rho constraint
    # of the linearisation sum_i a_i y_i h_i improves on its choice of labelling
    lin = np.r_[[np.where(h[r] > 0, 1.0, -1.0) for r in groups]].ravel()
    for rows, m in zip(groups, keep):
        if (lin[rows] > 0).sum() >= m:
            continue
        lin[rows[np.lexsort((-h[rows], -(a[rows] * h[rows])))[:m]]] = 1.0
    top = -np.ones(8)
    for rows, m in zip(groups, keep):
        top[rows[np.argsort(-h[rows])[:m]]] = 1.0
    qs = [np.r_[c, -np.ones(4)] for c in (lin, top)]
    qs = [(a * c) @ (K + 1.0) @ (a * c) for c in qs]
    assert np.isclose(q, max(qs))


def test_objective_never_improves_as_labellings_are_added():
    X, y, bags, priv, _ = _toy(5)
    est = MILCPBPIClassifier(loss="hinge", C=1, gamma_plus=1, mkl_tol=1e-4, mkl_max_iter=300,
                             max_rounds=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, bags=bags, X_priv=priv)
    obj = np.array(est.models_[0].info["objectives"])
    # min over MKL weights on a growing set: the (minimised) dual objective can only rise
    assert len(obj) >= 2 and np.all(np.diff(obj) >= -1e-4 * np.abs(obj[:-1]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_learns_the_toy_and_flags_the_wrong_instances_of_positive_bags():
    X, y, bags, priv, flag = _toy(6, n_bags=12, size=6, n_neg=60)
    Xt, _, _, _, truth_t = _toy(7, n_bags=12, size=6, n_neg=60)
    for est, kw in [(MILCPBClassifier(loss="hinge"), {}),
                    (MILCPBPIClassifier(loss="hinge", C=1), {"X_priv": priv})]:
        est.fit(X, y, bags=bags, **kw)
        assert (est.predict(Xt) == truth_t).mean() >= 0.85
        pos = y == 1
        assert roc_auc_score(~flag[pos], est.noise_scores_[pos]) >= 0.9
        ids, labels = est.predict_bags(Xt, bags)
        assert len(ids) == len(np.unique(bags)) and set(labels) <= {0, 1}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_privileged_features_change_the_solution_and_da_uses_the_target():
    X, y, bags, priv, _ = _toy(1)
    plain = MILCPBPIClassifier(loss="hinge", C=1, gamma_plus=1).fit(X, y, bags=bags)
    pi = MILCPBPIClassifier(loss="hinge", C=1, gamma_plus=1).fit(X, y, bags=bags, X_priv=priv)
    da = MILCPBPIDAClassifier(C=1, gamma_plus=1, C2=10, gamma2=10).fit(
        X, y, bags=bags, X_priv=priv, X_target=X[:20] + 1.0)
    no_target = MILCPBPIDAClassifier(C=1, gamma_plus=1).fit(X, y, bags=bags, X_priv=priv)
    d = [m.decision_function(X) for m in (plain, pi, da, no_target)]
    assert not np.allclose(d[0], d[1], atol=1e-3)
    assert not np.allclose(d[1], d[2], atol=1e-3)
    assert np.allclose(d[1], d[3])
    # without X_priv MIL-CPB-PI is MIL-CPB with the same C
    plain_cpb = MILCPBClassifier(loss="hinge", C=1).fit(X, y, bags=bags)
    assert np.allclose(d[0], plain_cpb.decision_function(X))


def test_without_bags_there_is_one_labelling_and_no_cutting_plane():
    X, y, _, _, _ = _toy(2)
    model = MILCPBClassifier(loss="hinge").fit(X, y).models_[0]
    assert model.info["labellings"].shape[1] == 1 and model.info["rounds"] == 1
    assert np.array_equal(model.instance_labels, np.where(y == 1, 1, -1))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multiclass_runs_one_vs_rest():
    X, y, bags, _, _ = _toy(3)
    y3 = y.copy()
    y3[bags >= 120] = 2  # half of the negatives become a third query
    est = MILCPBClassifier(loss="hinge").fit(X, y3, bags=bags)
    assert len(est.models_) == 3 and est.decision_function(X).shape == (len(X), 3)
    assert set(est.predict(X)) <= {0, 1, 2}


def test_warns_when_rounds_or_mkl_iterations_run_out():
    X, y, bags, _, _ = _toy(0)
    with pytest.warns(ConvergenceWarning, match="max_rounds"):
        MILCPBClassifier(loss="hinge", max_rounds=1).fit(X, y, bags=bags)
    with pytest.warns(ConvergenceWarning) as record:
        MILCPBClassifier(loss="hinge", mkl_max_iter=1, mkl_tol=0.0, max_rounds=3).fit(
            X, y, bags=bags)
    assert any("mkl_max_iter" in str(w.message) for w in record)


def test_top_initialisation_starts_from_the_top_rho_of_each_bag():
    X, y, bags, _, flag = _toy(8)
    est = MILCPBClassifier(loss="hinge", init="top", max_rounds=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, bags=bags)
    first = est.models_[0].info["labellings"][:, 0]
    y_pm = np.where(y == 1, 1, -1)
    for rows in positive_bag_groups(y_pm, bags):
        assert (first[rows] == 1).sum() == np.ceil(0.6 * len(rows))


@pytest.mark.parametrize("name,cls", [("MIL-CPB", MILCPBClassifier),
                                      ("MIL-CPB-PI", MILCPBPIClassifier),
                                      ("MIL-CPB-PI-DA", MILCPBPIDAClassifier)])
def test_registered_for_configs_with_the_authors_defaults(name, cls):
    assert registry.METHODS[name].load() is cls
    if name != "MIL-CPB":
        params = cls().get_params()
        assert (params["C"], params["gamma_plus"], params["rho"]) == (0.01, 10.0, 0.6)
    # the label-generating (squared hinge) form by default; -DA exists only with the hinge
    assert cls().loss == ("hinge" if name == "MIL-CPB-PI-DA" else "squared_hinge")


# ------------------------------------------------------------------------------------------
# the squared hinge: the label-generating (LG-MMC) simplex form
# ------------------------------------------------------------------------------------------

def _l2svmplus_term(F, C, gamma_plus):
    """``(1/C)(I - (I + (C/gamma)(F F' + 1))^{-1})`` by a plain inverse (not Woodbury)."""
    m = len(F)
    return (np.eye(m) - np.linalg.inv(np.eye(m) + (C / gamma_plus) * (F @ F.T + 1.0))) / C


def _squared_reference(K, labellings, D):
    """``min_{a in simplex} max_t 1/2 (a∘y_t)'(K + 1)(a∘y_t) + 1/2 a'Da``, written from the
    formulas with cvxpy. Returns ``(value, a)``."""
    n = K.shape[0]
    Fhat, Fd = psd_factor(K + 1.0), psd_factor(D)
    a, theta = cp.Variable(n), cp.Variable()
    cons = [a >= 0, cp.sum(a) == 1]
    for y in labellings:
        cons.append(theta >= 0.5 * cp.sum_squares(Fhat.T @ cp.multiply(y, a))
                    + 0.5 * cp.sum_squares(Fd.T @ a))
    cp.Problem(cp.Minimize(theta), cons).solve(solver="CLARABEL")
    return theta.value, a.value


@pytest.mark.parametrize("variant", ["plain", "PI"])
def test_squared_hinge_mkl_over_the_final_labellings_matches_the_cvxpy_optimum(variant):
    X, y, bags, priv, _ = _toy(3, n_bags=3, size=4, n_neg=10, frac=0.6)
    y_pm = np.where(y == 1, 1, -1)
    K = Kernel("rbf").fit(X)(X)
    kw = dict(loss="squared_hinge", C_neg=0.5, tol=1e-8, mkl_tol=1e-7, mkl_max_iter=5000,
              max_rounds=4)
    D = np.diag(np.where(y_pm == 1, 1 / 2.0, 1 / 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if variant == "plain":
            est = MILCPBClassifier(C=2.0, **kw).fit(X, y, bags=bags)
        else:
            est = MILCPBPIClassifier(C=2.0, gamma_plus=3.0, **kw).fit(X, y, bags=bags,
                                                                        X_priv=priv)
            P = np.flatnonzero(y_pm == 1)
            D[np.ix_(P, P)] = _l2svmplus_term(priv[P], 2.0, 3.0)
    model = est.models_[0]
    labellings = model.info["labellings"].T.astype(float)
    assert len(labellings) >= 2
    ref, a_ref = _squared_reference(K, labellings, D)
    assert abs(model.info["objective"] - ref) <= 1e-5 * abs(ref), (model.info["objective"], ref)
    assert np.allclose(model.info["x"], a_ref, atol=1e-3 * np.abs(a_ref).max())
    # the coefficients are those of the saddle point scaled to margin 1
    Y, d = model.info["labellings"].astype(float), model.info["d"]
    assert np.allclose(model.coef, model.info["x"] * (Y @ d) / model.info["scale"])
    assert np.isclose(model.info["scale"], 2 * model.info["objective"])


def test_squared_hinge_with_one_labelling_is_the_l2_svm():
    # without bags there is one labelling: the squared-hinge SVM (slack weights C, C_neg), bias
    # a regularised constant feature s; its usual dual max 1'b - 1/2 (b∘y)'(K + s^2)(b∘y)
    # - 1/2 sum b_i^2 / C_i over b >= 0, solved by cvxpy
    X, y, _, _, _ = _toy(2, n_bags=4, size=4, n_neg=12)
    y_pm = np.where(y == 1, 1.0, -1.0)
    est = MILCPBClassifier(C=2.0, C_neg=0.5, intercept_scaling=1.5, loss="squared_hinge",
                           tol=1e-8).fit(X, y)
    model = est.models_[0]
    assert model.info["rounds"] == 1 and model.info["status"] == "converged"
    K = est.kernel_(X, X)
    b = cp.Variable(len(y))
    inv_c = np.where(y_pm > 0, 1 / 2.0, 1 / 0.5)
    cp.Problem(cp.Maximize(cp.sum(b) - 0.5 * cp.sum_squares(psd_factor(K + 2.25).T
                                                            @ cp.multiply(y_pm, b))
                           - 0.5 * cp.sum(cp.multiply(inv_c, cp.square(b)))),
               [b >= 0]).solve(solver="CLARABEL")
    coef = b.value * y_pm
    assert np.allclose(model.coef, coef, atol=1e-5 * np.abs(coef).max())
    assert np.isclose(model.intercept, 2.25 * coef.sum(), atol=1e-5 * np.abs(coef).sum())
    assert np.allclose(est.decision_function(X), (K + 2.25) @ coef,
                       atol=1e-4 * np.abs(coef).sum())


def _separated_bags(seed, n_pos, n_bags=6, size=5, n_neg=30):
    rng = np.random.default_rng(seed)
    truth = np.zeros((n_bags, size), bool)
    truth[:, :n_pos] = True
    truth = rng.permuted(truth, axis=1)
    Xp = np.where(truth[..., None], rng.normal(1.5, .5, (n_bags, size, 2)),
                  rng.normal(-1.5, .5, (n_bags, size, 2))).reshape(-1, 2)
    X = np.r_[Xp, rng.normal(-1.5, .5, (n_neg, 2))]
    y = np.r_[np.ones(len(Xp)), np.zeros(n_neg)].astype(int)
    bags = np.r_[np.repeat(np.arange(n_bags), size), 100 + np.arange(n_neg)]
    return X, y, bags, np.where(np.r_[truth.ravel(), np.zeros(n_neg, bool)], 1, -1)


@pytest.mark.parametrize("n_pos", [5, 3], ids=["clean-bags", "rho-positives"])
def test_squared_hinge_recovers_the_true_labelling_of_separable_bags(n_pos):
    # positive bags that are clean (all 5 positive), or hold exactly ceil(rho |B|) = 3
    # positives, far from the negatives: the heaviest labelling of the relaxation is the truth
    X, y, bags, truth = _separated_bags(0, n_pos)
    model = MILCPBClassifier(loss="squared_hinge").fit(X, y, bags=bags).models_[0]
    assert model.info["status"] == "converged"
    assert np.array_equal(model.instance_labels, truth)
    assert model.info["d"].max() >= 0.7


def test_squared_hinge_has_no_domain_adaptation_form():
    X, y, bags, priv, _ = _toy(0)
    with pytest.raises(DataError, match="loss"):
        MILCPBPIDAClassifier(loss="squared_hinge").fit(X, y, bags=bags, X_priv=priv,
                                                       X_target=X[:5])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_squared_pi_tends_to_milcpb_as_gamma_plus_goes_to_zero():
    # the L2-SVM+ term (1/C)(I - (I + (C/g)(K~ + 1))^-1) tends to I/C as g -> 0 when K~ has full
    # rank (a sharp RBF): MIL-CPB-PI becomes MIL-CPB, which is why the benchmark grids reach
    # small gamma_plus; at gamma_plus = 1 the privileged features move the solution
    X, y, bags, priv, _ = _toy(2)
    kw = dict(C=1, max_rounds=2, kernel_priv="rbf", gamma_priv=100.0)
    base = MILCPBClassifier(C=1, max_rounds=2).fit(X, y, bags=bags).decision_function(X)
    gap = {g: np.abs(MILCPBPIClassifier(gamma_plus=g, **kw).fit(X, y, bags=bags, X_priv=priv)
                     .decision_function(X) - base).max() for g in (1.0, 1e-4)}
    assert gap[1e-4] < 1e-2 < gap[1.0]
