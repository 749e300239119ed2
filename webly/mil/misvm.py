"""mi-SVM and MI-SVM (Andrews, Tsochantaridis, Hofmann 2003) on libsvm.

Both alternate between a kernel SVM and a choice of positive-bag instances; each inner problem is
a plain SVM, so scikit-learn's ``SVC(kernel="precomputed")`` is the fast path.

* **mi-SVM** (instance level): every instance of a positive bag carries a label; start with all
  positive, fit, relabel positive-bag instances by the sign of ``f`` (above ``threshold``) while
  keeping at least ``ceil(rho |B|)`` (at least one) top-scored instances of each bag positive,
  repeat until labels stop changing or ``max_iter`` rounds.
* **MI-SVM** (bag level): a positive bag is represented by one instance, its witness; start from
  the bag's mean embedding, fit, take the highest-scoring instance of each bag as its witness,
  repeat until the witnesses stop changing.

Both also have an explicit-feature path (``solver="primal"``: primal C-SVM solves on the rows or
an approximate RBF map, each warm-started from the last round). mi-SVM's rounds are those of
mi-SVM-PI without privileged features (:func:`webly.mil._toolkit.relabel_rounds_primal`);
MI-SVM's solve on the negative rows plus one row per positive bag (its mean feature row, then
its witness's row), :meth:`MISVMClassifier._fit_binary_primal`. Both run on row-chunked Dask
arrays too (see :mod:`webly.mil._common`): each round scores the rows with one map over the
partitions; MI-SVM's negative rows stay there and only the positive bags' rows (means, then
witnesses) are fetched.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.svm import SVC
from sklearn.utils._param_validation import Hidden, Interval, StrOptions

from ..kernels import bag_mean_kernel, bag_mean_matrix
from ._common import BinaryMIL, MILClassifierBase
from ..solvers._rows import is_dask
from ._toolkit import (C_NEG_PARAM, MIL_PARAMS, PRIMAL_PARAMS, RELABEL_PARAMS,
                       RELABEL_RANGE_FRACTION, bag_mean_rows, constant_note, constant_round,
                       min_positives, negative_weight, positive_bag_groups, primal_decision,
                       relabel_positive_bags, relabel_rounds_primal, solve_mil_primal)

# libsvm solves the SVMs: max_iter is only the former name of max_rounds (one release)
_CONSTRAINTS = {
    **MIL_PARAMS,
    "max_rounds": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left"), Hidden(StrOptions({"deprecated"}))],
}


def _row_picker(rows, n):
    """Sparse (len(rows), n) matrix selecting ``rows`` (``S @ Z == Z[rows]``)."""
    return sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)),
                         shape=(len(rows), n))


def _fetch_rows(Z, idx):
    """``Z[idx]`` of a Dask Z as numpy (few rows: sorted, one slice per partition)."""
    order = np.argsort(idx, kind="stable")
    out = np.empty((len(idx), Z.shape[1]), dtype=Z.dtype)
    out[order] = Z[idx[order]].compute()
    return out


def _negative_weights(labels, C, c_neg):
    """libsvm's sample weights (multiples of ``C``) for a negative-unit weight ``c_neg``; None
    when it is ``C`` (the unweighted call)."""
    return None if c_neg == C else np.where(labels == 1, 1.0, c_neg / C)


def _svc_objective(K_units, alpha, b, labels, cost):
    """The primal value of a C-SVM solution on the units' kernel (1/2 a'Ka plus the weighted
    hinge) and its decision values on the units."""
    f = K_units @ alpha + b
    return 0.5 * alpha @ K_units @ alpha + (cost * np.maximum(0.0, 1.0 - labels * f)).sum(), f


def _svc_on_units(K_units, labels, C, tol, weights=None):
    svc = SVC(C=C, kernel="precomputed", tol=tol).fit(K_units, labels, sample_weight=weights)
    alpha = np.zeros(len(labels))
    alpha[svc.support_] = svc.dual_coef_.ravel()  # alpha_i y_i
    return alpha, float(svc.intercept_[0])


class MiSVMClassifier(MILClassifierBase):
    """mi-SVM: instance-level MIL SVM with relabelling of positive-bag instances.

    Parameters
    ----------
    C : float, default=1.0
        Hinge weight of each positive-bag instance (and of every instance with ``C_neg=None``).
    C_neg : float, "balanced" or None, default=None
        Hinge weight of each negative instance; None uses ``C``, ``"balanced"`` uses
        ``C * #positive-bag instances / #negative instances`` (per one-vs-rest problem), so both
        sides weigh the same in total. With one weight for every row and few positives (one query
        against many) ``w = 0`` can be the optimum of a round at every ``C``: on
        ``make_web_crawl`` c0 vs rest (1 % positives) it is, at 10^5 rows and at 10^6, for the
        all-positive start. Such a round's decision values are constant, and the rounds stop
        there with a note (ConvergenceWarning) instead of relabelling on rounding noise; weigh
        the classes then and choose ``C`` by validation (``benchmarks/mil_primal_scale.py``).
    kernel : {"rbf", "linear"}, default="rbf"
    gamma : float or None, default=None
        RBF bandwidth; None is the 1/mean-squared-distance rule.
    gamma_scale : float, default=1.0
        Multiplies the rule's bandwidth when ``gamma`` is None.
    rho : float in (0, 1] or None, default=0.6
        Each positive bag keeps at least ``ceil(rho |B|)`` positive instances; None keeps at least
        one (Andrews et al.). The default is the authors' web setting (Li et al.), as for
        :class:`~webly.mil.MiSVMPIClassifier`: a query bag holds mostly right images, and with
        only one forced positive, mi-SVM relabels most of them negative. Measured at the other
        defaults (C 1, the 1/mean-squared-distance bandwidth; ``configs/dev/misvm_defaults_web.yaml``
        and ``misvm_defaults_classic.yaml``, dev seeds, no tuning): on web-digits query bags (40 %
        wrong, 5 seeds) accuracy .917 with 0.6 against .513 with None (.772 with 0.3; plain SVM
        .911); on the classic sets (10-fold by bag, bag accuracy) 0.6 is no worse either: Musk1
        .833 vs .721, Elephant .775 vs .775, Fox .585 vs .485. ``configs/benchmarks/mil_classic.yaml``
        sets ``rho: null`` to compare with Andrews et al.'s published figures.
    threshold : float, default=0.0
        Positive-bag instances scoring above it are labelled positive (``relabel="webly"``).
    relabel : {"webly", "authors"}, default="webly"
        How positive-bag instances are relabelled after each SVM (both keep at least
        ``ceil(rho |B|)`` top-scored instances of each bag positive). ``"webly"``: positive when
        ``f > threshold`` (Andrews et al.'s sign rule). ``"authors"``: positive when ``f`` is
        above ``min f + 0.2 (max f - min f)`` over all positive-bag instances, the rule of the
        released mi-SVM-PI code (Li et al.; see :class:`~webly.mil.MiSVMPIClassifier`, which
        gives the measurement behind the default).
    max_rounds : int, default=20
        Relabelling rounds (formerly ``max_iter``, which now means solver iterations across
        webly); a run that has not settled by then warns (ConvergenceWarning).
    tol : float, default=1e-3
        libsvm stopping tolerance.
    n_jobs : int or None
        Threads over one-vs-rest classes.
    solver, features, n_components, random_state, memory_limit
        As :class:`~webly.mil.SMILClassifier` (``"smo"``: the kernel path, here libsvm's SMO).
        ``solver="primal"`` runs the rounds as primal C-SVM solves on explicit features, each
        warm-started from the last (at most 1,000 Newton steps per round; a run that has not
        settled keeps the last round's model instead of solving once more on the final labels).

    Attributes
    ----------
    classes_ : (C,) array
        The web labels seen in fit.
    models_ : list of BinaryMIL
        One fitted binary problem per class (one for ``classes_[1]`` with two classes):
        ``coef``, ``intercept``, ``n_iter``, ``instance_labels`` (the last round's labels of the
        training rows, +1 / -1) and ``info["objectives"]`` (the SVM objective of each round).
    n_iter_ : (n_models,) int array
        Relabelling rounds of each model (Newton steps of all rounds with ``solver="primal"``).
    noise_scores_ : (n,) array
        Minus each training row's score for its own web label: higher = more likely a wrong
        image.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    kernel_ : webly.kernels.Kernel
        The visual kernel with its fitted bandwidth (kernel path).
    X_fit_ : (n, d) array
        The training rows, for the train-test kernel at prediction (kernel path).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features of the rows (``solver="primal"``).
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    S. Andrews, I. Tsochantaridis, T. Hofmann. Support vector machines for multiple-instance
    learning. NIPS 2003.

    Examples
    --------
    Query bags of the embedded web-digits crawl (30 % wrong images), each positive bag keeping at
    least 60 % of its instances positive:

    >>> from webly import MiSVMClassifier, make_web_digits
    >>> ds = make_web_digits(n_bags_per_class=4, bag_size=8, random_state=0)
    >>> clf = MiSVMClassifier(rho=0.6).fit(ds.X, ds.y, bags=ds.bags)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.85
    True
    >>> bag_ids, bag_labels = clf.predict_bags(ds.X, ds.bags)
    >>> len(bag_ids), clf.noise_scores_.shape
    (40, (320,))
    """

    #: benchmarks/kernel_memory.py, n = 10,000: 1.00
    _KERNEL_FIT_ARRAYS = 1.1

    _method_name = "mi-SVM"
    _renamed = (("max_iter", "max_rounds"),)

    _parameter_constraints = {**_CONSTRAINTS, **RELABEL_PARAMS, **PRIMAL_PARAMS,
                              "rho": [Interval(Real, 0, 1, closed="right"), None],
                              "threshold": [Real], "C_neg": C_NEG_PARAM}

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, rho: float | None = 0.6, threshold: float = 0.0,
                 max_rounds: int = 20, tol: float = 1e-3, n_jobs: int | None = None,
                 max_iter: int | str = "deprecated", relabel: str = "webly", solver: str = "auto",
                 features: str = "nystroem", n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None,
                 C_neg: float | str | None = None) -> None:
        self.C = C
        self.C_neg = C_neg
        self.kernel = kernel
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.rho = rho
        self.threshold = threshold
        self.relabel = relabel
        self.max_rounds = max_rounds
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.solver = solver
        self.features = features
        self.n_components = n_components
        self.random_state = random_state
        self.memory_limit = memory_limit

    def _c_neg(self, y_pm):
        return negative_weight(self.C, self.C_neg, int((y_pm == 1).sum()),
                               int((y_pm != 1).sum()))

    def _fit_binary_primal(self, ctx, y_pm):
        return relabel_rounds_primal(
            ctx.Z, y_pm, ctx.bags, C=self.C, C_neg=self._c_neg(y_pm), rho=self.rho,
            threshold=self.threshold,
            range_fraction=RELABEL_RANGE_FRACTION[self.relabel],
            max_rounds=ctx.params["max_rounds"], tol=self.tol, max_iter=None)

    def _fit_binary(self, ctx, y_pm):
        K = ctx.K
        groups = positive_bag_groups(y_pm, ctx.bags)
        keep = min_positives(np.array([len(g) for g in groups]), self.rho)
        labels = y_pm.copy()
        c_neg = self._c_neg(y_pm)
        weights = _negative_weights(y_pm, self.C, c_neg)  # by bag, so fixed across rounds
        cost = np.where(y_pm == 1, self.C, c_neg)
        pos_rows = np.flatnonzero(y_pm == 1)
        objectives = []  # primal objective after each SVM solve (non-increasing, see tests)
        for it in range(1, ctx.params["max_rounds"] + 1):
            alpha, b = _svc_on_units(K, labels, self.C, self.tol, weights)
            obj, f = _svc_objective(K, alpha, b, labels, cost)
            objectives.append(obj)

            def resolve(t):
                state = _svc_on_units(K, labels, self.C, t, weights)
                return state, (K[pos_rows] @ state[0] + state[1])

            constant, refined = constant_round(f[pos_rows], self.tol, resolve)
            if refined is not None:  # the tighter solve replaces the round's
                alpha, b = refined
                objectives[-1], f = _svc_objective(K, alpha, b, labels, cost)
            if constant:  # w = 0: no order to relabel by
                return BinaryMIL(alpha, b, it, labels, info={
                    "objectives": objectives,
                    "not_converged": [constant_note(it, f[pos_rows], self.tol)]})
            new = relabel_positive_bags(f, groups, keep, labels, threshold=self.threshold,
                                        range_fraction=RELABEL_RANGE_FRACTION[self.relabel])
            if np.array_equal(new, labels):
                return BinaryMIL(alpha, b, it, labels, info={"objectives": objectives})
            labels = new
        alpha, b = _svc_on_units(K, labels, self.C, self.tol, weights)
        return BinaryMIL(alpha, b, ctx.params["max_rounds"], labels, info={
            "objectives": objectives,
            "not_converged": [f"did not settle in {ctx.params['max_rounds']} rounds; raise "
                              "max_rounds"]})


class MISVMClassifier(MILClassifierBase):
    """MI-SVM: bag-level MIL SVM where a positive bag is represented by its witness instance.

    Parameters
    ----------
    C, kernel, gamma, gamma_scale, max_rounds, tol, n_jobs
        As :class:`MiSVMClassifier`.
    C_neg : float, "balanced" or None, default=None
        Hinge weight of each negative instance; None uses ``C``, ``"balanced"`` uses
        ``C * #positive bags / #negative instances`` (a positive bag is one unit of weight
        ``C``). As in :class:`MiSVMClassifier`, a round whose decision values are constant on
        the positive bags' instances (``w = 0`` optimal) ends the rounds with a note
        (ConvergenceWarning) instead of choosing witnesses on rounding noise.
    solver, features, n_components, random_state, memory_limit
        As :class:`MiSVMClassifier`. ``solver="primal"`` runs the rounds as primal C-SVM solves
        (:func:`webly.solvers.primal.svmplus_primal` without privileged features) on explicit
        features ``z``: the negative rows and one row per positive bag, first the bag's mean
        ``1/|B| sum z(x_i)`` (the mean embedding itself for a linear kernel, its approximation
        under a feature map), then its witness's row; each solve is warm-started from the last
        (at most 1,000 Newton steps per round). With a linear kernel both paths solve the same
        problems (``tests/mil/test_misvm_primal.py``: per-round objectives within 1e-4, same
        witnesses).

    Notes
    -----
    Known deviation from Andrews et al. (their QP (6)): there the instances of a negative bag
    share one slack (in the dual, the bag's ``a_i`` sum to at most ``C``); here every negative
    instance has its own (``a_i <= C``), the form libsvm and webly's solvers can express, so at
    equal ``C`` a negative bag weighs about ``|B|`` times more. The start differs too: here each
    positive bag starts as its mean embedding ``1/|B| sum phi(x_i)``, in the paper as the
    kernel at its centroid (the same point for a linear kernel). Witnesses (each positive bag's
    best-scoring instance), the stopping rule (no witness changes; at most 12 rounds on the data
    below, under the default 20) and the bias (exact) are the paper's. Measured against the paper's
    algorithm solved exactly (``benchmarks/misvm_reference.py``; Musk1 / Elephant / Fox, 10-fold
    by bag, seed 0, RBF at the 1/mean-squared-distance bandwidth, bag accuracy, webly vs paper):
    C=1 .684 / .755 / .500 vs .764 / .845 / .550; C=10 .773 / .825 / .560 vs .806 / .805 / .590;
    C=100 .818 / .760 / .590 vs .819 / .760 / .615; C by inner CV .765 / .800 / .595 vs
    .803 / .820 / .605. The negatives' slack accounts for most of it (the paper's start with
    webly's negatives: C=1 .709 / .755 / .505).

    Not for query bags: a positive bag enters through one witness, so a web query bag of twelve
    images, seven of them right, trains on one. On web-digits (40 % wrong, dev seeds 100-104,
    ``configs/dev/misvm_defaults_web.yaml``) MI-SVM scores .609 / .638 / .628 accuracy at C 1 / 10
    / 100, against .917 for :class:`MiSVMClassifier` at its defaults and .911 for a plain SVM on
    the web labels; no ``C`` mends that, so the default ``C`` stays at Andrews et al.'s and
    libsvm's 1. On the classic sets MI-SVM wants a larger ``C`` than 1 (bag accuracy at C 1 / 10
    / 100, ``misvm_defaults_classic.yaml``, one seed: Musk1 .670 / .793 / .787, Elephant .765 /
    .785 / .805, Fox .505 / .570 / .585): tune it (``configs/benchmarks/mil_classic.yaml`` searches
    C in 1-1000 by inner cross-validation).

    Attributes
    ----------
    classes_ : (C,) array
        The web labels seen in fit.
    models_ : list of BinaryMIL
        One fitted binary problem per class (one for ``classes_[1]`` with two classes):
        ``coef``, ``intercept``, ``n_iter``, ``instance_labels`` (+1 for the final witnesses,
        -1 for every other row) and ``info["objectives"]`` (the SVM objective of each round).
    n_iter_ : (n_models,) int array
        Witness rounds of each model (Newton steps of all rounds with ``solver="primal"``, whose
        rounds are in ``info["rounds"]``).
    noise_scores_ : (n,) array
        Minus each training row's score for its own web label: higher = more likely a wrong
        image.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    kernel_ : webly.kernels.Kernel
        The visual kernel with its fitted bandwidth (kernel path).
    X_fit_ : (n, d) array
        The training rows, for the train-test kernel at prediction (kernel path).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features of the rows (``solver="primal"``).
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    S. Andrews, I. Tsochantaridis, T. Hofmann. Support vector machines for multiple-instance
    learning. NIPS 2003.

    Examples
    --------
    >>> from webly import MISVMClassifier, make_web_digits
    >>> ds = make_web_digits(n_bags_per_class=4, bag_size=8, random_state=0)
    >>> clf = MISVMClassifier().fit(ds.X, ds.y, bags=ds.bags)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.7
    True
    >>> clf.n_iter_.shape
    (10,)
    """

    #: benchmarks/kernel_memory.py, n = 10,000: 1.63 (K and the units' kernel)
    _KERNEL_FIT_ARRAYS = 1.8

    _method_name = "MI-SVM"
    _renamed = (("max_iter", "max_rounds"),)

    _parameter_constraints = {**_CONSTRAINTS, **PRIMAL_PARAMS, "C_neg": C_NEG_PARAM}

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, max_rounds: int = 20, tol: float = 1e-3,
                 n_jobs: int | None = None, max_iter: int | str = "deprecated",
                 solver: str = "auto", features: str = "nystroem", n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None,
                 C_neg: float | str | None = None) -> None:
        self.C = C
        self.C_neg = C_neg
        self.kernel = kernel
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.max_rounds = max_rounds
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.solver = solver
        self.features = features
        self.n_components = n_components
        self.random_state = random_state
        self.memory_limit = memory_limit

    def _fit_binary_primal(self, ctx, y_pm):
        """The rounds of :meth:`_fit_binary` on explicit features ``ctx.Z``: each a primal C-SVM
        on the units (negative rows, then one row per positive bag), warm-started from the last
        round (the units keep their order, so the multipliers carry over)."""
        Z = ctx.Z
        neg = np.flatnonzero(y_pm == -1)
        groups = positive_bag_groups(y_pm, ctx.bags)
        rows = np.concatenate(groups)
        bag_of_row = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        # one units matrix: the negative rows, then the positive bags' mean rows (the start),
        # replaced by their witnesses' rows in place each round
        on_dask = is_dask(Z)
        if on_dask:  # the negative rows stay lazy on the cluster; the bag rows come here
            import dask.array as da

            U_neg = Z[y_pm == -1]
            U_pos = bag_mean_rows(bag_mean_matrix(bag_of_row) @ _row_picker(rows, len(y_pm)), Z)
            U = da.concatenate([U_neg, da.from_array(U_pos, chunks=(len(groups), -1))])
        else:
            U = np.empty((len(neg) + len(groups), Z.shape[1]), dtype=Z.dtype)
            U[:len(neg)] = Z[neg]
            U[len(neg):] = bag_mean_matrix(bag_of_row) @ Z[rows]
        labels = np.r_[-np.ones(len(neg)), np.ones(len(groups))]
        c_neg = negative_weight(self.C, self.C_neg, len(groups), len(neg))
        C = self.C if c_neg == self.C else np.where(labels == 1, self.C, c_neg)
        max_rounds = ctx.params["max_rounds"]
        witnesses, info, total, notes, objectives = None, None, 0, [], []
        for it in range(1, max_rounds + 1):
            w, b, info = solve_mil_primal(U, labels, C=C, tol=self.tol, max_iter=None,
                                          start=info)
            total += info["n_iter"]
            notes += info["not_converged"]
            objectives.append(info["objective"])
            f = primal_decision(Z, w, b)

            def resolve(t):
                state = solve_mil_primal(U, labels, C=C, tol=t, max_iter=None, start=info)
                return state, primal_decision(Z, state[0], state[1])[rows]

            constant, refined = constant_round(f[rows], self.tol, resolve)
            if refined is not None:  # the tighter solve replaces the round's
                w, b, info = refined
                total += info["n_iter"]
                objectives[-1] = info["objective"]
                f = primal_decision(Z, w, b)
            if constant:  # w = 0: no witness stands out
                notes.append(constant_note(it, f[rows], self.tol))
                break
            new = np.array([g[np.argmax(f[g])] for g in groups])
            if witnesses is not None and np.array_equal(new, witnesses):
                break
            witnesses = new
            if it == max_rounds:
                notes.append(f"did not settle in {max_rounds} rounds; raise max_rounds")
                break
            if on_dask:
                U = da.concatenate([U_neg, da.from_array(_fetch_rows(Z, witnesses),
                                                         chunks=(len(groups), -1))])
            else:
                U[len(neg):] = Z[witnesses]
        lab = -np.ones(len(y_pm), dtype=int)
        lab[rows if witnesses is None else witnesses] = 1  # the start: every bag's rows
        return BinaryMIL(w, b, total, lab, info={"rounds": it, "objective": -info["objective"],
                                                 "objectives": objectives,
                                                 "not_converged": notes})

    def _fit_binary(self, ctx, y_pm):
        K = ctx.K
        n = len(y_pm)
        neg = np.flatnonzero(y_pm == -1)
        groups = positive_bag_groups(y_pm, ctx.bags)
        # units: negative instances, then one representative per positive bag; a selector S maps
        # units to (weighted) training rows, so K_units = S K S' and f = K S' (alpha) + b.
        rows = np.concatenate(groups)
        bag_of_row = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        means = bag_mean_matrix(bag_of_row)
        pos_sel = sp.csr_matrix((means.data, rows[means.indices], means.indptr),
                                shape=(len(groups), n))
        neg_sel = sp.csr_matrix((np.ones(len(neg)), (np.arange(len(neg)), neg)), shape=(len(neg), n))
        labels = np.r_[-np.ones(len(neg)), np.ones(len(groups))]
        c_neg = negative_weight(self.C, self.C_neg, len(groups), len(neg))
        weights = _negative_weights(labels, self.C, c_neg)
        cost = np.where(labels == 1, self.C, c_neg)
        witnesses = None
        objectives = []  # primal objective after each SVM solve (non-increasing, see tests)
        for it in range(1, ctx.params["max_rounds"] + 1):
            S = sp.vstack([neg_sel, pos_sel]).tocsr()
            K_units = bag_mean_kernel(K, S)  # S K S', by row blocks of S
            alpha, b = _svc_on_units(K_units, labels, self.C, self.tol, weights)
            objectives.append(_svc_objective(K_units, alpha, b, labels, cost)[0])
            coef = np.asarray(S.T @ alpha).ravel()
            f = K @ coef + b

            def resolve(t):
                a, b_t = _svc_on_units(K_units, labels, self.C, t, weights)
                return (a, b_t), K[rows] @ np.asarray(S.T @ a).ravel() + b_t

            constant, refined = constant_round(f[rows], self.tol, resolve)
            if refined is not None:  # the tighter solve replaces the round's
                alpha, b = refined
                objectives[-1] = _svc_objective(K_units, alpha, b, labels, cost)[0]
                coef = np.asarray(S.T @ alpha).ravel()
                f = K @ coef + b
            if constant:  # w = 0: no witness stands out
                lab = -np.ones(n, dtype=int)
                lab[rows if witnesses is None else witnesses] = 1
                return BinaryMIL(coef, b, it, lab, info={
                    "objectives": objectives,
                    "not_converged": [constant_note(it, f[rows], self.tol)]})
            new = np.array([g[np.argmax(f[g])] for g in groups])
            if witnesses is not None and np.array_equal(new, witnesses):
                lab = -np.ones(n, dtype=int)
                lab[witnesses] = 1
                return BinaryMIL(coef, b, it, lab, info={"objectives": objectives})
            witnesses = new
            pos_sel = sp.csr_matrix((np.ones(len(groups)), (np.arange(len(groups)), witnesses)),
                                    shape=(len(groups), n))
        lab = -np.ones(n, dtype=int)
        lab[witnesses] = 1
        return BinaryMIL(coef, b, ctx.params["max_rounds"], lab, info={
            "objectives": objectives,
            "not_converged": [f"did not settle in {ctx.params['max_rounds']} rounds; raise "
                              "max_rounds"]})
