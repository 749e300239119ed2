"""MIL-CPB, MIL-CPB-PI and MIL-CPB-PI-DA on explicit features (``solver="primal"``) at crawl scale: fit seconds,
peak memory and accuracy, and agreement with the kernel path on a few thousand rows.

Run from the repository root: ``python benchmarks/milcpb_primal_scale.py [--method milcpbpi]
[--n 100000] [--kernel linear] [--tol 1e-3] [--max-rounds 3]`` fits one setting; ``--agree`` prints the agreement
lines only; without arguments it prints the whole table (:data:`TABLE`, each setting in its own
process, so that each peak is its own: 10^5 rows with both kernels, 10^6 rows with the linear
one) and then the agreement lines.

Data: ``webly.crawl_scale.make_web_crawl(n)`` (512 float32 features, 50-d text as ``X_priv``,
100 queries, bags of 10, 30% wrong rows, seed 0). One binary problem: the bags of query c0
positive, every other row a negative instance (about 1% of the rows are positive-bag instances).
The kernel on the image features is linear (the 512 features themselves) or RBF through a
512-feature Nystroem map (``--kernel rbf``); MIL-CPB-PI's correcting function is linear in each
instance's text; MIL-CPB-PI-DA (hinge loss, its only one) adds the -DA correcting function
matching the 10,000 clean test rows as ``X_target`` (unlabelled; transductive, as the -DA
benchmarks). The estimators' defaults otherwise (squared hinge; MIL-CPB C = 1, MIL-CPB-PI
C = 0.01, gamma_plus = 10; rho = 0.6; mkl_max_iter = 20) but ``max_rounds = 3`` (at most three
labellings; ``--max-rounds`` changes it): each labelling adds a block of 513 parameters; up to
eight (4,096 parameters) a Newton step factorises the kept Hessian (or reuses the last factor),
from nine on it solves by block-preconditioned CG. The default 10 rounds took 456 s for
MIL-CPB-PI at 10^5 rows (6 rounds 87.5 s; 2026-12-07, one thread, with other work on the second
core), too long for this table. BLAS is pinned to one thread. Peak memory is the process's peak resident set (``ru_maxrss``, data generation
included). Accuracy: ``predict`` on the 10,000 clean test rows, c0 against the rest (a 99% base
rate, so the average precision of ``decision_function`` for c0 is printed too).

Agreement (``--agree``): ``make_web_crawl(3000, n_classes=10)`` (the same generator with 10
queries, so c0's bags are 10% of the rows), c0 vs rest, fitted by the kernel path
(``solver="smo"``) and the primal path (``max_rounds`` as above). With linear kernels both solve the same problems: the
largest relative difference of a round's objective, whether the same labellings were added, and
the largest decision difference are printed (tol 1e-6). Where a round's QP is solved to the
same objective with multipliers ``a`` that differ at the solvers' tolerance, the next labelling
(the candidate whose label norm under ``a`` is largest) can differ on a near-tie, and the later
rounds then solve other problems: measured for MIL-CPB-PI (-DA) with the hinge, round 1's
objectives agree to 4e-9 (0), its decisions to 4e-6 (2e-5), its multipliers by 3e-5 (1e-4) of
at most 0.05, and the second labellings differ. With the RBF kernel the primal path uses
a 1,000-component Nystroem map: the test accuracies and APs of both are printed.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from webly.mil import MILCPBClassifier, MILCPBPIClassifier, MILCPBPIDAClassifier  # noqa: E402

METHODS = {"milcpb": ("MIL-CPB", MILCPBClassifier), "milcpbpi": ("MIL-CPB-PI", MILCPBPIClassifier),
           "milcpbpida": ("MIL-CPB-PI-DA", MILCPBPIDAClassifier)}
#: (method, rows, kernel) of the table
TABLE = ([(m, 100_000, k) for m in METHODS for k in ("linear", "rbf")]
         + [(m, 1_000_000, "linear") for m in METHODS])


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def _fit(method, X, y, bags, T, X_target=None, **params):
    cls = METHODS[method][1]
    est = cls(**params)
    kw = {"X_priv": T} if method != "milcpb" else {}
    if method == "milcpbpida":
        kw["X_target"] = X_target
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X, y, bags=bags, **kw)
        secs = time.perf_counter() - t0
    return est, secs, [str(w.message)[:90] for w in caught]


def _scores(est, ds):
    from sklearn.metrics import average_precision_score

    truth = ds.y_test == "c0"
    s = est.decision_function(ds.X_test)
    return float(np.mean((s > 0) == truth)), float(average_precision_score(truth, s))


def one(args):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ds = make_web_crawl(args.n, random_state=0)
    y = np.where(ds.y == "c0", 1, 0)
    gen_peak = peak_gb()
    est, secs, warned = _fit(args.method, ds.X, y, ds.bags, ds.X_priv, ds.X_test, solver="primal",
                             kernel=args.kernel, n_components=512, random_state=0, tol=args.tol,
                             max_rounds=args.max_rounds)
    m = est.models_[0]
    acc, ap = _scores(est, ds)
    print(f"| {METHODS[args.method][0]} | {args.n:,} | {args.kernel} | {secs:.1f} | "
          f"{peak_gb():.2f} (data {gen_peak:.2f}) | {acc:.4f} | {ap:.4f} | {m.info['rounds']} / "
          f"{m.info['n_qp']} / {m.n_iter} | {m.info['status']} | {warned} |", flush=True)


def agree(max_rounds):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ds = make_web_crawl(3000, n_classes=10, random_state=0)
    y = np.where(ds.y == "c0", 1, 0)
    X, T = ds.X.astype(np.float64), ds.X_priv.astype(np.float64)
    for method in METHODS:
        name = METHODS[method][0]
        Xt = ds.X_test.astype(np.float64)
        for loss in ("hinge",) if method == "milcpbpida" else ("squared_hinge", "hinge"):
            kw = dict(kernel="linear", tol=1e-6, loss=loss, max_rounds=max_rounds)
            a, ta, _ = _fit(method, X, y, ds.bags, T, Xt, solver="smo", **kw)
            b, tb, _ = _fit(method, X, y, ds.bags, T, Xt, solver="primal", **kw)
            m0, m1 = a.models_[0], b.models_[0]
            o0, o1 = np.array(m0.info["objectives"]), np.array(m1.info["objectives"])
            k = min(len(o0), len(o1))
            rels = np.abs(o1[:k] - o0[:k]) / np.abs(o0[:k])
            L0, L1 = m0.info["labellings"], m1.info["labellings"]
            same = L0.shape == L1.shape and np.array_equal(L0, L1)
            # labellings in common before the first that differs (the first is "all")
            common = next((t for t in range(min(L0.shape[1], L1.shape[1]))
                           if not np.array_equal(L0[:, t], L1[:, t])), min(L0.shape[1],
                                                                            L1.shape[1]))
            D0, D1 = a.decision_function(ds.X_test), b.decision_function(ds.X_test)
            print(f"{name}, {loss}, {len(y):,} rows, linear kernel, tol 1e-6: rounds smo "
                  f"{len(o0)} ({ta:.1f} s), primal {len(o1)} ({tb:.1f} s); relative "
                  f"difference of each round's objective {', '.join(f'{r:.1e}' for r in rels)}; "
                  f"same labellings {same} (the first {common} in common); max "
                  f"|test decision difference| {np.abs(D1 - D0).max():.1e} (scale "
                  f"{np.abs(D0).max():.2g}); test predictions equal "
                  f"{np.mean((D0 > 0) == (D1 > 0)):.4f}", flush=True)
        a, ta, _ = _fit(method, X, y, ds.bags, T, Xt, solver="smo", kernel="rbf",
                        max_rounds=max_rounds)
        b, tb, _ = _fit(method, X, y, ds.bags, T, Xt, solver="primal", kernel="rbf",
                        n_components=1000, random_state=0, max_rounds=max_rounds)
        (acc0, ap0), (acc1, ap1) = _scores(a, ds), _scores(b, ds)
        print(f"{name}, {len(y):,} rows, RBF kernel ({ta:.1f} s) vs Nystroem 1,000 components "
              f"({tb:.1f} s): test accuracy {acc0:.4f} vs {acc1:.4f} (difference "
              f"{100 * abs(acc1 - acc0):.2f} points), AP {ap0:.4f} vs {ap1:.4f}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=list(METHODS), default=None)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--kernel", choices=["linear", "rbf"], default="linear")
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--max-rounds", type=int, default=3)
    p.add_argument("--agree", action="store_true")
    args = p.parse_args(argv)
    if args.agree:
        return agree(args.max_rounds)
    if args.method is not None:
        return one(args)
    from webly.experiments.benchmarks import machine_line

    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))
    print("| method | rows | kernel | fit s | peak RSS GB | test accuracy (c0 vs rest) | AP c0 | "
          "rounds / QPs / Newton steps | status | warnings |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for method, n, kernel in TABLE:
        subprocess.run([sys.executable, __file__, "--method", method, "--n", str(n), "--kernel",
                        kernel, "--tol", str(args.tol), "--max-rounds", str(args.max_rounds)],
                       check=False)
    print()
    subprocess.run([sys.executable, __file__, "--agree", "--max-rounds", str(args.max_rounds)],
                   check=False)


if __name__ == "__main__":
    main()
