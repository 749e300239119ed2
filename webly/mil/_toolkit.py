"""The MIL toolkit: array functions every MIL estimator of webly shares.

Positive-bag groups and their minimum positives, the relabelling of positive bags from instance
scores (mi-SVM, mi-SVM-PI, sbMIL, MIL-CPB), the dual units of the bag-level methods and their
bag-mean kernel (or bag-mean feature rows on the primal path), the privileged kernel (or
features) of the -PI methods, one SMO call and one primal call that report (never warn), the
relabelling rounds of mi-SVM(-PI) on the primal path, and the parameter constraints the
estimators share. Nothing here sees an estimator.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions

from ..kernels import Kernel, bag_index, bag_mean_kernel, bag_mean_matrix
from ..solvers import smo_solve
from ..solvers._rows import is_dask
from ._common import BinaryMIL

# parameters of every kernel MIL estimator
MIL_PARAMS = {
    "C": [Interval(Real, 0, None, closed="neither")],
    "kernel": [StrOptions({"rbf", "linear"})],
    "gamma": [Interval(Real, 0, None, closed="neither"), None],
    "gamma_scale": [Interval(Real, 0, None, closed="neither")],
    "tol": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left"), None],
    "n_jobs": [Integral, None],
}

# the explicit-feature (primal) path of sMIL, sbMIL, sMIL-PI, mi-SVM and mi-SVM-PI
PRIMAL_PARAMS = {
    "solver": [StrOptions({"auto", "smo", "primal"})],
    "memory_limit": [Interval(Real, 0, None, closed="neither"), str, None],
    "features": [StrOptions({"nystroem", "rbf_sampler"})],
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}

# the -DA variants' visual correcting function (IJCV 2016): trade-offs and KMM's constraints
DA_PARAMS = {
    "C2": [Interval(Real, 0, None, closed="neither")],
    "gamma2": [Interval(Real, 0, None, closed="neither")],
    "eps": [Interval(Real, 0, 1, closed="left")],
    "B": [Interval(Real, 0, None, closed="neither"), None],
}

# how mi-SVM and mi-SVM-PI(-DA) relabel positive-bag instances: each rule's ``range_fraction``
# for :func:`relabel_positive_bags` (None: a fixed threshold on f)
RELABEL_RANGE_FRACTION = {"webly": None, "authors": 0.2}
RELABEL_PARAMS = {"relabel": [StrOptions(set(RELABEL_RANGE_FRACTION))]}


def positive_bag_groups(y_pm, bags):
    """Rows of each positive bag, as a list of index arrays (bags in order of appearance)."""
    pos_rows = np.flatnonzero(y_pm == 1)
    codes, _ = bag_index(bags[pos_rows])
    order = np.argsort(codes, kind="stable")
    splits = np.cumsum(np.bincount(codes))[:-1]
    return np.split(pos_rows[order], splits)


def min_positives(sizes, rho):
    """Instances each positive bag must keep positive: ceil(rho |B|), at least 1."""
    if rho is None:
        return np.ones_like(sizes)
    return np.maximum(1, np.ceil(rho * sizes - 1e-9).astype(int))


def relabel_positive_bags(f, groups, keep, labels, *, rule="at_least", threshold=0.0,
                          range_fraction=None):
    """Instance labels of the positive bags read off the scores ``f`` (other rows unchanged).

    ``rule="at_least"`` (mi-SVM, Andrews et al.): a row is positive when ``f > threshold``, and a
    bag with fewer than ``keep`` positives gets its top ``keep`` rows positive.
    ``rule="exactly"`` (sbMIL's second stage, MIL-CPB's admissible labellings): exactly the top
    ``keep`` rows of each bag positive. Ties keep the earlier row.

    ``range_fraction`` (``rule="at_least"`` only; the released mi-SVM-PI code of Li et al. uses
    0.2) replaces ``threshold`` by ``min f + range_fraction (max f - min f)``, min and max over
    the rows of all ``groups`` together: a threshold relative to the positive-bag scores, so
    shifting or scaling ``f`` changes no label.

    Parameters
    ----------
    f : (n,) array
    groups : list of index arrays (:func:`positive_bag_groups`)
    keep : (len(groups),) int array (:func:`min_positives`)
    labels : (n,) array of {-1, +1}; a relabelled copy is returned (same dtype)
    threshold : float
    range_fraction : float in [0, 1] or None
    """
    if rule not in ("at_least", "exactly"):
        raise ValueError(f"unknown rule {rule!r}; use 'at_least' or 'exactly'")
    if range_fraction is not None:
        if not 0 <= range_fraction <= 1:
            raise ValueError(f"range_fraction must lie in [0, 1], got {range_fraction!r}")
        f_pos = f[np.concatenate(groups)] if len(groups) else f[:0]
        if f_pos.size:
            threshold = f_pos.min() + range_fraction * (f_pos.max() - f_pos.min())
    out = labels.copy()
    for rows, m in zip(groups, keep):
        if rule == "exactly":
            out[rows] = -1
        else:
            out[rows] = np.where(f[rows] > threshold, 1, -1)
            if (out[rows] == 1).sum() >= m:
                continue
        out[rows[np.argsort(-f[rows], kind="stable")[:m]]] = 1
    return out


def negative_weight(C, C_neg, n_positive, n_negative):
    """The hinge weight of a negative unit: ``C`` when ``C_neg`` is None, ``C_neg`` when it is a
    number, ``C n_positive / n_negative`` for ``"balanced"`` (the two classes weigh the same in
    total: ``n_positive`` positive units of weight ``C``, ``n_negative`` negative ones)."""
    if C_neg is None:
        return float(C)
    if isinstance(C_neg, str):
        if C_neg != "balanced":
            raise ValueError(f"C_neg must be a number, None or 'balanced', got {C_neg!r}")
        return float(C) * n_positive / max(n_negative, 1)
    return float(C_neg)


#: the ``C_neg`` constraint of mi-SVM, MI-SVM and mi-SVM-PI
C_NEG_PARAM = [Interval(Real, 0, None, closed="neither"), StrOptions({"balanced"}), None]


def constant_scores(f_pos, tol):
    """Whether the decision values ``f_pos`` of the positive-bag instances spread by no more
    than ``tol`` (margin units, the accuracy of the solve). Alone this is no verdict: a small
    ``C`` shrinks a real ``w`` below it too; :func:`constant_round` decides."""
    f_pos = np.asarray(f_pos)
    return f_pos.size > 1 and float(np.ptp(f_pos)) <= tol


#: how much tighter :func:`constant_round` solves a round again whose scores look constant, and
#: the tightest tolerance it asks for: libsvm does not reach 1e-6 on such a round (measured on
#: the constant-round tests' problem at C = 1: 2,000,000 iterations, 9 s, the spread still 8e-6),
#: and reaches 1e-5 in as many iterations as 1e-3
CONSTANT_RECHECK, CONSTANT_RECHECK_FLOOR = 0.01, 1e-5


def recheck_tol(tol):
    """The tolerance of :func:`constant_round`'s second solve (``tol`` itself at or below the
    floor: no second solve)."""
    return min(tol, max(tol * CONSTANT_RECHECK, CONSTANT_RECHECK_FLOOR))


def constant_round(f_pos, tol, resolve):
    """Whether a round's optimum is ``w = 0`` (a constant function), so that relabelling (or
    choosing witnesses) by the scores would follow the solver's rounding, not a signal.

    A C-SVM has ``w = 0`` as its optimum exactly when the positive units' mean (weight ``C``
    each) is a combination of the negative units with weights in ``[0, C_neg]`` and the same
    total: with one weight for every row and few positives (one query against 99, 1 %) that
    holds whenever the positives' mean lies inside the negatives' reduced hull, for every ``C``
    (the condition does not involve ``C``). Scores spread by more than ``tol`` are a signal.
    Within ``tol`` they may be rounding (``w* = 0``) or a real ``w`` made small by a small ``C``
    (the scores scale with ``C`` there; measured on ``make_web_digits(noise_rate=0.4,
    random_state=0)`` with ``MiSVMPIClassifier(C=0.001, kernel_priv="rbf")``: spreads
    2.3e-4 to 3.0e-3 over its classes and rounds, against the default tol 1e-3). So the round
    is solved again at :func:`recheck_tol`, from its solution: a real ``w`` keeps its spread,
    rounding shrinks with the tolerance.

    ``resolve(tol)`` solves the round at ``tol`` and returns ``(state, f_pos)``. Returns
    ``(constant, refined)``: ``refined`` is None or the tighter solve's ``state``, which the
    caller goes on with (its note: :func:`constant_note`).
    """
    if not constant_scores(f_pos, tol):
        return False, None
    tight = recheck_tol(tol)
    if tight >= tol:
        return True, None
    state, f_tight = resolve(tight)
    return constant_scores(f_tight, tight), state


#: the note of a round whose decision values are constant on the positive bags
CONSTANT_NOTE = ("round {round}: the decision values of the positive-bag instances are constant "
                 "to the solve's accuracy (spread {spread:.1e} <= {tight:g}, the tolerance of a "
                 "second, tighter solve), so the rounds stopped instead of following rounding "
                 "noise (with one weight per row and rare positives w = 0 is the optimum at any "
                 "C); weigh the classes (C_neg='balanced', or C_neg about C * #positive / "
                 "#negative units) and choose C by validation")


def constant_note(it, f_pos, tol):
    """:data:`CONSTANT_NOTE` for round ``it`` of a solve at ``tol``."""
    return CONSTANT_NOTE.format(round=it, spread=float(np.ptp(f_pos)), tight=recheck_tol(tol))


def bag_units(y_pm, bags):
    """Dual units: one per positive bag, one per negative row.

    Returns ``(A, y_units, positive)``: ``A`` the sparse (units, n) averaging matrix (rows of a
    positive bag weigh 1/|B| in its unit), unit labels, and the positive-bag flags.
    """
    unit_of_row = np.where(y_pm == 1, bags, -1 - np.arange(len(y_pm)))
    codes, _ = bag_index(unit_of_row)
    A = bag_mean_matrix(unit_of_row)
    first = np.unique(codes, return_index=True)[1]
    y_units = y_pm[first]
    return A, y_units.astype(float), y_units == 1


def solve_mil_qp(qp, tol, max_iter, x0=None):
    """SMO on a MIL dual; ``info["not_converged"]`` holds a note when it stopped at a limit.

    A dual whose correcting block weighs its sum constraint unequally (sMIL-PI-DA with
    ``C2_per_unit=True``) is solved exactly by cvxpy/Clarabel instead (small problems; the SMO
    constrains unweighted sums).
    """
    if any(b.weights is not None and np.ptp(b.weights) > 0 for b in qp.blocks):
        from ..solvers import reference_solve

        x, info = reference_solve(qp)
        info["n_iter"] = info.get("n_iter", 0)
        info["not_converged"] = [] if info["status"] == "converged" else [
            f"the cvxpy solve ended {info['status']}"]
        return x, info
    x, info = smo_solve(qp, x0=x0, tol=tol, max_iter=max_iter)
    info["not_converged"] = [] if info["status"] == "converged" else [
        f"SMO stopped ({info['status']}, KKT violation {info['kkt_violation']:.2e} > tol {tol}); "
        "raise max_iter or tol"]
    return x, info


def unit_kernel(K, A):
    """Kernel between dual units (positive bags: mean embedding; negatives: instances), C-order.
    ``A`` is the averaging matrix of :func:`bag_units`."""
    return np.ascontiguousarray(bag_mean_kernel(K, A))


def privileged_kernel(priv, kernel, gamma):
    """C-contiguous kernel ``K~`` of the correcting function over privileged rows (sparse or
    dense), with the -PI estimators' ``kernel_priv`` / ``gamma_priv``."""
    priv = priv.toarray() if hasattr(priv, "toarray") else np.asarray(priv)
    return np.ascontiguousarray(Kernel(kernel, gamma).fit(priv, "gamma_priv")(priv))


# ----------------------------------------------------------------------------------------------
# the explicit-feature (primal) path: webly.solvers.primal on feature rows, no (n, n) kernel
# ----------------------------------------------------------------------------------------------

def unit_rows(Z, A):
    """Feature rows of the dual units (positive bags: their mean row; negatives: the row), in
    the precision of ``Z``: the primal counterpart of :func:`unit_kernel`."""
    R = A.astype(Z.dtype) @ Z
    return R.tocsr() if hasattr(R, "tocsr") else np.ascontiguousarray(R)


def privileged_features(priv, kernel, gamma, features, n_components, random_state):
    """Explicit features of the correcting function over privileged rows: the rows themselves
    (``kernel="linear"``) or an approximate RBF map fitted on them (bandwidth rule on these rows,
    as :func:`privileged_kernel`): the primal counterpart of :func:`privileged_kernel`."""
    from ..solvers.primal import FeatureMap

    kind = "linear" if kernel == "linear" else features
    return FeatureMap(kind, gamma=gamma, n_components=n_components,
                      random_state=random_state).fit_transform(priv)


def solve_mil_primal(F, y, F_priv=None, *, C, tol, max_iter, gamma_plus=1.0, margin=None,
                     priv_rows=None, start=None, da=None):
    """:func:`webly.solvers.primal.svmplus_primal` on a MIL problem; returns ``(coef, intercept,
    info)``, ``info["not_converged"]`` holding a note when it stopped at a limit (BLAS threads
    are left to the caller). ``da``: the -DA term's keywords of ``svmplus_primal``
    (``target_mean``, ``C2``, ``gamma2``, ``eps``, ``B``; see :func:`da_keywords`), or None."""
    from ..solvers.primal import svmplus_primal

    w, b, _, _, info = svmplus_primal(F, y, F_priv, C=C, gamma_plus=gamma_plus, tol=tol,
                                      max_iter=max_iter, n_threads=None, margin=margin,
                                      priv_rows=priv_rows, start=start, **(da or {}))
    info["not_converged"] = [] if info["status"] == "converged" else [
        f"primal solver stopped ({info['status']} after {info['n_iter']} Newton steps, "
        f"violation {info['kkt_violation']:.2e} > tol {tol}); raise max_iter or tol"]
    return w, b, info


def da_keywords(est, ctx, C2=None):
    """The -DA keywords of :func:`solve_mil_primal` from a -DA estimator's ``C2``, ``gamma2``,
    ``eps``, ``B`` and the fit's target mean (``C2``: per-unit values instead of ``est.C2``);
    None when the fit has no ``X_target``."""
    if ctx.target_mean is None:
        return None
    return {"target_mean": ctx.target_mean, "C2": est.C2 if C2 is None else C2,
            "gamma2": est.gamma2, "eps": est.eps, "B": est.B}


def primal_decision(Z, coef, intercept):
    """``Z coef + intercept`` as float64, in the precision of ``Z`` (no float64 copy of Z); a
    Dask ``Z`` gives the numpy n-vector, computed by one map over its partitions."""
    if is_dask(Z):
        return Z.map_blocks(primal_decision, coef, intercept, drop_axis=1, dtype=np.float64,
                            meta=np.empty((0,), dtype=np.float64)).compute()
    return np.asarray(Z @ coef.astype(Z.dtype, copy=False), dtype=np.float64) + intercept


# ----------------------------------------------------------------------------------------------
# the primal path on Dask: rows as a row-chunked Dask array, per-row metadata in memory
# ----------------------------------------------------------------------------------------------

def _average_block(A_block, X_block):
    """One partition's part of ``A @ X`` (float64), or None where it has no averaged row."""
    if not A_block.nnz:
        return None
    return np.asarray(A_block @ np.asarray(X_block, dtype=np.float64))


def _add_parts(parts):
    total = None
    for part in parts:
        if part is not None:
            total = part if total is None else total + part
    return total


def bag_mean_rows(A, X):
    """``A @ X`` for a sparse (k, n) averaging matrix with few rows k (the positive bags), in
    the precision of ``X``: :func:`unit_rows` in memory; on a row-chunked
    Dask ``X`` one map-reduce (each partition forms ``A[:, rows] @ X_rows`` where it lives, in
    float64, and one task adds the k x d parts), so only k dense rows reach this process."""
    if not is_dask(X):
        return unit_rows(X, A)
    import dask

    A = sp.csc_matrix(A, dtype=np.float64)
    X = X.rechunk({1: -1})
    edges = np.cumsum((0,) + X.chunks[0])
    parts = [dask.delayed(_average_block)(A[:, lo:hi], block)
             for lo, hi, block in zip(edges[:-1], edges[1:], X.to_delayed().ravel())]
    total = dask.delayed(_add_parts)(parts).compute()
    if total is None:
        total = np.zeros((A.shape[0], X.shape[1]))
    return total.astype(X.dtype if X.dtype == np.float32 else np.float64)


def unit_problem(Z, A, pos, *unit_values):
    """``(U, *unit_values)``: the feature rows of the dual units and per-unit values, in one
    order.

    In memory: ``unit_rows(Z, A)`` and the values as given (the order of :func:`bag_units`).
    On a row-chunked Dask ``Z`` the units are reordered, positive bags first: their mean rows
    (:func:`bag_mean_rows`, few, computed) form the first partition, and the negative rows
    follow as they are, a lazy selection of ``Z``'s partitions (never gathered here); the
    values are permuted to match. The problem is the same, in another order.
    """
    if not is_dask(Z):
        return (unit_rows(Z, A), *unit_values)
    import dask.array as da

    P, N = np.flatnonzero(pos), np.flatnonzero(~pos)
    neg = np.zeros(A.shape[1], dtype=bool)
    neg[sp.csr_matrix(A[N]).indices] = True  # a negative unit is one row, in row order
    parts = [] if not len(P) else [da.from_array(bag_mean_rows(A[P], Z), chunks=(len(P), -1))]
    U = da.concatenate(parts + [Z.rechunk({1: -1})[neg]]) if N.size else parts[0]
    order = np.r_[P, N]
    return (U, *[np.asarray(v)[order] for v in unit_values])


def pad_privileged(Z_priv, U, n_first):
    """Privileged features of the first ``n_first`` units, for the solver's ``priv_rows``:
    ``Z_priv`` itself in memory; on Dask (``U`` a Dask array) one row per unit, zeros after the
    first ``n_first`` (rows :func:`webly.solvers.primal.svmplus_primal` does not use)."""
    if not is_dask(U):
        return Z_priv
    import dask.array as da

    rest = U.chunks[0][1:] if U.chunks[0][0] == n_first else None
    head = da.from_array(Z_priv, chunks=(n_first, -1))
    if U.shape[0] == n_first:
        return head
    tail = da.zeros((U.shape[0] - n_first, Z_priv.shape[1]), dtype=Z_priv.dtype,
                    chunks=(rest or "auto", -1))
    return da.concatenate([head, tail])


def privileged_row_features(X_priv, rows, kernel, gamma, features, n_components, random_state):
    """Privileged features of the rows ``rows`` (a boolean mask; mi-SVM-PI's positive-bag
    instances): :func:`privileged_features` of ``X_priv[rows]`` in memory. On a Dask
    ``X_priv`` the map is fitted on those rows the same way
    (:class:`~webly.solvers.primal.FeatureMap` on Dask: the bandwidth rule as a reduction, the
    landmarks fetched) and applied to every row (lazy, one row per row of ``X_priv``: the
    solver's ``priv_rows`` form on Dask)."""
    if not is_dask(X_priv):
        return privileged_features(X_priv[np.flatnonzero(rows)], kernel, gamma, features,
                                   n_components, random_state)
    from ..solvers.primal import FeatureMap

    kind = "linear" if kernel == "linear" else features
    fm = FeatureMap(kind, gamma=gamma, n_components=n_components, random_state=random_state)
    return fm.fit(X_priv.rechunk({1: -1})[rows]).transform(X_priv)


def relabel_rounds_primal(Z, y_pm, bags, *, C, C_neg, rho, threshold, range_fraction,
                          max_rounds, tol, max_iter, Z_priv=None, gamma_plus=1.0, da=None):
    """mi-SVM / mi-SVM-PI on explicit features: alternate a primal solve and the relabelling of
    the positive-bag instances until the labels settle, each solve warm-started from the last.

    Every round solves the instance-level problem of :class:`~webly.mil.MiSVMPIClassifier`:
    weight ``C`` on the instances of positive bags (their correcting function on ``Z_priv``,
    the rows of those instances in order; without ``Z_priv`` a hinge) and a hinge of weight
    ``C_neg`` on the others. Relabelling as :func:`relabel_positive_bags` (``rule="at_least"``,
    at least ``ceil(rho |B|)`` per bag; ``rho=None``: one); a round whose decision values are
    constant on the positive-bag instances (:func:`constant_round`) ends the rounds with a
    note instead. ``da``: the -DA term of
    mi-SVM-PI-DA over all instances (:func:`da_keywords`), or None.

    Returns a :class:`~webly.mil._common.BinaryMIL` over the features: ``coef`` the weights,
    ``n_iter`` the Newton steps of all rounds, ``instance_labels`` the labels of the last
    solve; ``info``: ``rounds``, ``objective`` (minus the last primal value, the kernel
    path's sign), ``objectives`` (primal value of each round), ``not_converged``.
    """
    in_pos = y_pm == 1
    groups = positive_bag_groups(y_pm, bags)
    keep = min_positives(np.array([len(g) for g in groups]), rho)
    weights = np.where(in_pos, float(C), float(C_neg))
    priv_rows = None if Z_priv is None else in_pos
    pos_rows = np.flatnonzero(in_pos)
    labels, info, total, notes, objectives = y_pm.copy(), None, 0, [], []
    for it in range(1, max_rounds + 1):
        w, b, info = solve_mil_primal(Z, labels, Z_priv, C=weights, gamma_plus=gamma_plus,
                                      priv_rows=priv_rows, tol=tol, max_iter=max_iter,
                                      start=info, da=da)
        total += info["n_iter"]
        notes += info["not_converged"]
        objectives.append(info["objective"])
        f = primal_decision(Z, w, b)

        def resolve(t):
            state = solve_mil_primal(Z, labels, Z_priv, C=weights, gamma_plus=gamma_plus,
                                     priv_rows=priv_rows, tol=t, max_iter=max_iter,
                                     start=info, da=da)
            return state, primal_decision(Z, state[0], state[1])[pos_rows]

        constant, refined = constant_round(f[pos_rows], tol, resolve)
        if refined is not None:  # the tighter solve replaces the round's
            w, b, info = refined
            total += info["n_iter"]
            objectives[-1] = info["objective"]
            f = primal_decision(Z, w, b)
        if constant:  # w = 0: no order to relabel by
            notes.append(constant_note(it, f[pos_rows], tol))
            break
        new = relabel_positive_bags(f, groups, keep, labels,
                                    threshold=threshold, range_fraction=range_fraction)
        if np.array_equal(new, labels):
            break
        if it == max_rounds:
            notes.append(f"did not settle in {max_rounds} rounds; raise max_rounds")
            break
        labels = new
    return BinaryMIL(w, b, total, labels, info={"rounds": it, "objective": -info["objective"],
                                               "objectives": objectives,
                                               "not_converged": notes})
