"""webly's MI-SVM beside Andrews et al.'s algorithm (NIPS 2003) on Musk1, Elephant and Fox.

The widely used reference implementation (the ``misvm`` package) is not on PyPI, so the reference
here is the paper's algorithm itself, written out below (nothing is taken from ``misvm``; where
``import misvm`` works, its ``MISVM`` runs as one more column, ``scale_C=False``):

* Figure 2: start each positive bag's representative at its centroid ``x_I = mean of the bag's
  instances``; then solve the QP, make each positive bag's highest-scoring instance its witness,
  and repeat until no witness changes (or the round limit);
* each QP is the dual of problem (6), where the instances of a negative bag share that bag's
  slack ``xi_I``::

      max 1'a - 1/2 a'(YKY)a   s.t.  y'a = 0,  0 <= a_I <= C (positive-bag witnesses),
                                     a_i >= 0,  sum_{i in I} a_i <= C (each negative bag I)

  solved by Clarabel (installed with cvxpy) to 1e-10; the bias is the multiplier of ``y'a = 0``.

The reference also runs with one choice changed at a time, so that each difference from webly is
measured alone: ``init`` "centroid" (the paper) or "embedding" (the bag's mean in the kernel's
feature space, ``1/|B| sum phi(x_i)``), and ``negatives`` "bag" (the paper: one slack per negative
bag) or "instance" (one slack per negative instance, ``0 <= a_i <= C``, as in webly). Everything
else is equal: C, the RBF bandwidth (1/mean squared distance over each training fold), the round
limit, the folds (10-fold by bag, ``WebDataset.kfold_by_bag``, seed 0). Reported: bag accuracy
(a bag is positive when its best instance scores above 0), mean over the folds, and the mean and
largest number of rounds.

Run from the repository root (about 10 minutes on 2 cores for the default grid)::

    python benchmarks/misvm_reference.py [--datasets musk1 elephant fox] [--C 1 10 100]
                                         [--max-rounds 50] [--seed 0] [--trace elephant]
    python benchmarks/misvm_reference.py --tune --C 0.1 1 10 100 1000    # about 30 minutes

``--trace DATA`` prints, for fold 0 of DATA at the first C, every round of webly and of each
reference variant (witness changes, objective, support vectors, bias, training and test bag
accuracy).
"""

import argparse
import importlib.util
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.io import read_mil_csv  # noqa: E402
from webly.kernels import Kernel  # noqa: E402
from webly.mil import MISVMClassifier  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = [("centroid", "bag"), ("embedding", "bag"), ("centroid", "instance"),
            ("embedding", "instance")]


def dual_qp(K_units, y, C, neg_groups):
    """Solve the MI-SVM dual over the units (``neg_groups``: unit indices of each negative bag,
    whose ``a`` sum to at most C; None: every negative unit has its own box ``a <= C``).

    Returns ``(a, b, objective)`` with the exact bias (multiplier of ``y'a = 0``)."""
    import clarabel

    n = len(y)
    P = sp.csc_matrix(np.triu(np.outer(y, y) * K_units))
    pos = np.flatnonzero(y > 0)
    rows = [sp.csr_matrix(y[None, :]), -sp.eye(n, format="csr")]
    if neg_groups is None:
        neg = np.flatnonzero(y < 0)
        caps = sp.csr_matrix((np.ones(n), (np.arange(n), np.r_[neg, pos])), shape=(n, n))
    else:
        r = np.concatenate([np.full(len(g), k) for k, g in enumerate(neg_groups)]
                           + [len(neg_groups) + np.arange(len(pos))])
        c = np.concatenate(list(neg_groups) + [pos])
        caps = sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(neg_groups) + len(pos), n))
    A = sp.vstack(rows + [caps]).tocsc()
    rhs = np.r_[0.0, np.zeros(n), np.full(caps.shape[0], float(C))]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    settings.max_iter = 500
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n + caps.shape[0])]
    sol = clarabel.DefaultSolver(P, -np.ones(n), A, rhs, cones, settings).solve()
    a = np.clip(np.array(sol.x), 0.0, None)
    return a, float(sol.z[0]), 0.5 * float(a @ (np.outer(y, y) * K_units) @ a) - float(a.sum())


def paper_mi_svm(X, y01, bags, C, gamma, init="centroid", negatives="bag", max_rounds=50,
                 trace=None):
    """Andrews et al.'s MI-SVM (Figure 2, QP (6)); returns a predictor ``f(X_new)`` and the
    number of rounds. ``trace(round, info)`` is called after each QP."""
    kern = Kernel("rbf", gamma).fit(X)
    K = kern(X)
    pos_bags = [np.flatnonzero(bags == b) for b in np.unique(bags[y01 == 1])]
    neg = np.flatnonzero(y01 == 0)
    neg_groups = [np.flatnonzero(bags[neg] == b) for b in np.unique(bags[neg])]
    y = np.r_[-np.ones(len(neg)), np.ones(len(pos_bags))]
    if init == "centroid":
        R = np.vstack([X[neg], np.vstack([X[g].mean(axis=0) for g in pos_bags])])
        K_units, K_rows = kern(R, R), kern(X, R)
        units_of = lambda Z: kern(Z, R)  # noqa: E731
    else:  # the bag's mean embedding: averaging rows of the training kernel
        S = np.zeros((len(y), len(X)))
        S[np.arange(len(neg)), neg] = 1.0
        for j, g in enumerate(pos_bags):
            S[len(neg) + j, g] = 1.0 / len(g)
        K_rows = K @ S.T
        K_units = S @ K_rows
        units_of = lambda Z: kern(Z, X) @ S.T  # noqa: E731
    witnesses = None
    for it in range(1, max_rounds + 1):
        a, b, obj = dual_qp(K_units, y, C, neg_groups if negatives == "bag" else None)
        f = K_rows @ (a * y) + b
        new = np.array([g[np.argmax(f[g])] for g in pos_bags])
        if trace is not None:
            trace(it, {"changed": None if witnesses is None else int((new != witnesses).sum()),
                       "objective": obj, "support": int((a > 1e-7 * C).sum()), "b": b,
                       "predict": (lambda Z, a=a, b=b, u=units_of: u(Z) @ (a * y) + b)})
        if witnesses is not None and np.array_equal(new, witnesses):
            break
        witnesses = new
        units = np.r_[neg, witnesses]
        K_units, K_rows = K[np.ix_(units, units)], K[:, units]
        units_of = lambda Z, units=units: kern(Z, X[units])  # noqa: E731
    # the SVM of the last QP (its witnesses settled, or the round limit was reached)
    predict = lambda Z: units_of(Z) @ (a * y) + b  # noqa: E731
    return predict, it


def bag_accuracy(scores, y01, bags):
    ids = np.unique(bags)
    pred = np.array([scores[bags == u].max() > 0 for u in ids])
    truth = np.array([y01[bags == u][0] == 1 for u in ids])
    return float((pred == truth).mean())


def _misvm_package():
    try:
        import misvm  # noqa: F401
    except ImportError:
        return None
    return misvm


def run_fold(ds, train, test, C, max_rounds, variants, trace=None):
    X, y, bags = ds.X[train], ds.y[train], ds.bags[train]
    Xt, yt, bt = ds.X[test], ds.y[test], ds.bags[test]
    gamma = Kernel("rbf").fit(X).gamma_
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MISVMClassifier(C=C, gamma=gamma, max_rounds=max_rounds).fit(X, y, bags=bags)
    out["webly"] = (bag_accuracy(est.decision_function(Xt), yt, bt), int(est.n_iter_[0]))
    if trace is not None:
        info = est.models_[0].info
        trace("webly", {"rounds": int(est.n_iter_[0]), "objectives": info["objectives"],
                        "b": est.models_[0].intercept, "test": out["webly"][0]})
    for init, negatives in variants:
        def report(it, info, name=f"paper {init}/{negatives}"):
            trace(name, {"round": it, **{k: v for k, v in info.items() if k != "predict"},
                         "train": bag_accuracy(info["predict"](X), y, bags),
                         "test": bag_accuracy(info["predict"](Xt), yt, bt)})
        cb = None if trace is None else report
        predict, rounds = paper_mi_svm(X, y, bags, C, gamma, init, negatives, max_rounds, cb)
        out[f"{init}/{negatives}"] = (bag_accuracy(predict(Xt), yt, bt), rounds)
    pkg = _misvm_package()
    if pkg is not None:
        bag_list = [X[bags == u] for u in np.unique(bags)]
        labels = np.array([1.0 if y[bags == u][0] == 1 else -1.0 for u in np.unique(bags)])
        clf = pkg.MISVM(kernel="rbf", gamma=gamma, C=C, scale_C=False, max_iters=max_rounds,
                        verbose=False)
        clf.fit(bag_list, labels)
        ids = np.unique(bt)
        pred = np.sign(clf.predict([Xt[bt == u] for u in ids])) > 0
        truth = np.array([yt[bt == u][0] == 1 for u in ids])
        out["misvm"] = (float((pred == truth).mean()), -1)
    return out


def _fit_predict(method, X, y, bags, C, gamma, max_rounds):
    if method == "webly":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MISVMClassifier(C=C, gamma=gamma, max_rounds=max_rounds).fit(X, y, bags=bags)
        return est.decision_function
    return paper_mi_svm(X, y, bags, C, gamma, "centroid", "bag", max_rounds)[0]


def run_fold_tuned(ds, train, test, grid, max_rounds, seed, inner=3):
    """webly and the paper's algorithm, each with C chosen per outer fold by an inner CV by bag
    (bag accuracy) on the training rows only; the bandwidth is the rule's on the training rows."""
    from sklearn.model_selection import StratifiedGroupKFold

    X, y, bags = ds.X[train], ds.y[train], ds.bags[train]
    cv = StratifiedGroupKFold(n_splits=inner, shuffle=True, random_state=seed)
    splits = list(cv.split(X, y, groups=bags))
    out = {}
    for method in ("webly", "paper"):
        scores = []
        for C in grid:
            acc = []
            for tr, va in splits:
                g = Kernel("rbf").fit(X[tr]).gamma_
                f = _fit_predict(method, X[tr], y[tr], bags[tr], C, g, max_rounds)
                acc.append(bag_accuracy(f(X[va]), y[va], bags[va]))
            scores.append(np.mean(acc))
        C = grid[int(np.argmax(scores))]  # ties keep the smaller C
        f = _fit_predict(method, X, y, bags, C, Kernel("rbf").fit(X).gamma_, max_rounds)
        out[method] = (bag_accuracy(f(ds.X[test]), ds.y[test], ds.bags[test]), C)
    return out


def _print_trace(kind, info):
    if kind == "webly":
        obj = ", ".join(f"{o:.2f}" for o in info["objectives"])
        print(f"  webly: {info['rounds']} rounds, objective per solve [{obj}], "
              f"b {info['b']:.3f}, test bag accuracy {info['test']:.3f}")
        return
    changed = "-" if info["changed"] is None else info["changed"]
    print(f"  {kind:28s} round {info['round']:2d}: witnesses changed {changed!s:>3}, dual "
          f"objective {info['objective']:9.3f}, support {info['support']:4d}, "
          f"b {info['b']:7.3f}, train {info['train']:.3f}, test {info['test']:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["musk1", "elephant", "fox"])
    ap.add_argument("--C", nargs="+", type=float, default=[1.0, 10.0, 100.0])
    ap.add_argument("--max-rounds", type=int, default=50)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trace", metavar="DATA", help="round-by-round trace of fold 0 of DATA")
    ap.add_argument("--tune", action="store_true",
                    help="instead: webly vs the paper with C chosen from --C per outer fold by a "
                         "3-fold inner CV by bag")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("clarabel") is None:
        print("skipped: the paper's reference QPs need clarabel (installed with cvxpy)")
        return
    print(machine_line(["numpy", "scikit-learn", "clarabel"]))
    print("misvm package:", "found" if _misvm_package() else "not installed (paper reference only)")
    if args.trace:
        ds = read_mil_csv(os.path.join(ROOT, "datasets", "mil_classic", f"{args.trace}.csv.gz"))
        train, test = next(ds.kfold_by_bag(args.folds, random_state=args.seed))
        print(f"\nTrace: {args.trace}, fold 0, C = {args.C[0]:g}")
        run_fold(ds, train, test, args.C[0], args.max_rounds, VARIANTS, trace=_print_trace)
    if args.tune:
        print(f"\n{args.folds}-fold bag accuracy, C from {args.C} by inner CV (mean over folds; "
              f"C chosen: median), max_rounds {args.max_rounds}, seed {args.seed}")
        print("| data | webly | paper (centroid/bag) |\n|---|---|---|")
        for name in args.datasets:
            ds = read_mil_csv(os.path.join(ROOT, "datasets", "mil_classic", f"{name}.csv.gz"))
            res = [run_fold_tuned(ds, tr, te, args.C, args.max_rounds, args.seed)
                   for tr, te in ds.kfold_by_bag(args.folds, random_state=args.seed)]
            cells = [f"{np.mean([r[m][0] for r in res]):.3f} "
                     f"(C {np.median([r[m][1] for r in res]):g})" for m in ("webly", "paper")]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        return
    cols = ["webly"] + [f"{i}/{n}" for i, n in VARIANTS] + (["misvm"] if _misvm_package() else [])
    print(f"\n{args.folds}-fold bag accuracy (mean over folds; rounds mean/max), "
          f"max_rounds {args.max_rounds}, seed {args.seed}")
    print("| data | C | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name in args.datasets:
        ds = read_mil_csv(os.path.join(ROOT, "datasets", "mil_classic", f"{name}.csv.gz"))
        folds = list(ds.kfold_by_bag(args.folds, random_state=args.seed))
        for C in args.C:
            t0 = time.perf_counter()
            res = [run_fold(ds, tr, te, C, args.max_rounds, VARIANTS) for tr, te in folds]
            cells = []
            for col in cols:
                acc = np.mean([r[col][0] for r in res])
                rounds = [r[col][1] for r in res]
                cells.append(f"{acc:.3f}" + ("" if col == "misvm" else
                                             f" ({np.mean(rounds):.1f}/{max(rounds)})"))
            print(f"| {name} | {C:g} | " + " | ".join(cells)
                  + f" |  <!-- {time.perf_counter() - t0:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
