"""sMIL-PI on explicit features (``solver="primal"``) at crawl scale: fit seconds and peak memory.

Run from the repository root: ``python benchmarks/mil_primal_scale.py [--n 100000]
[--classes 1] [--kernel linear] [--tol 1e-3] [--n-small 4000]``; without arguments it prints the
table of BENCHMARKS.md (:data:`TABLE`, each setting in its own process).

Data: ``webly.crawl_scale.make_web_crawl(n)`` (512 float32 features, 50-d text as ``X_priv``,
100 queries, bags of 10, 30% wrong rows, seed 0). ``--classes 1`` fits one binary problem: the
bags of query c0 positive, every other row a negative instance (about n rows of units: the
problem sMIL-PI solves per class); ``--classes 0`` fits all 100 queries one-vs-rest. The kernel
on the image features is linear (the 512 features themselves) or RBF through a 512-feature
Nystroem map (``--kernel rbf``); the correcting function is linear in the bags' mean text.
Authors' defaults C = 100, gamma_plus = 100, rho = 0.6, C_neg = 1. BLAS is pinned to one thread.
Peak memory is the process's peak resident set (``ru_maxrss``), printed after generating the
data and after the fit (the generator's own peak comes first).

``--n-small`` rows (the first bags of the same crawl, c0 vs rest) are also fitted with the
exact kernel solver (``solver="smo"``, linear kernels) and the primal path: both report minus
the optimal value of the same problem (``models_[0].info["objective"]``), so they must agree.
"""

import argparse
import json
import os
import subprocess
import resource
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.mil import SMILPIClassifier  # noqa: E402

PARAMS = dict(C=100.0, gamma_plus=100.0, rho=0.6, C_neg=1.0)


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def agreement(ds, n_small):
    """The first ``n_small`` rows (whole bags; c0 vs rest) with the exact kernel solver and the
    primal path, linear kernels: the same problem, so the same objective."""
    keep = np.flatnonzero(ds.bags < n_small // 10)
    Xs, ys, bs, Ts = ds.X[keep], np.where(ds.y[keep] == "c0", 1, 0), ds.bags[keep], \
        ds.X_priv[keep]
    res = {}
    for solver in ("smo", "primal"):
        t0 = time.perf_counter()
        e = SMILPIClassifier(solver=solver, kernel="linear", tol=1e-5, **PARAMS).fit(
            Xs.astype(np.float64), ys, bags=bs, X_priv=Ts.astype(np.float64))
        res[solver] = (e, time.perf_counter() - t0)
    (a, ta), (b, tb) = res["smo"], res["primal"]
    o0, o1 = a.models_[0].info["objective"], b.models_[0].info["objective"]
    D0, D1 = a.decision_function(Xs), b.decision_function(Xs)
    print(f"{len(keep):,} rows, linear kernels: objective smo {o0:.8g} ({ta:.1f} s), primal "
          f"{o1:.8g} ({tb:.1f} s), relative difference {abs(o1 - o0) / abs(o0):.1e}; "
          f"max |decision difference| {np.abs(D1 - D0).max():.1e}, predictions equal "
          f"{np.mean(a.predict(Xs) == b.predict(Xs)):.4f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=1, help="1: c0 vs rest; 0: all queries")
    p.add_argument("--kernel", choices=["linear", "rbf"], default="linear")
    p.add_argument("--n-small", type=int, default=4000)
    p.add_argument("--tol", type=float, default=1e-3)
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ds = make_web_crawl(args.n, random_state=0)
    y = np.where(ds.y == "c0", 1, 0) if args.classes == 1 else ds.y
    print(f"data: {ds.X.shape} {ds.X.dtype}, X_priv {ds.X_priv.shape}, {len(np.unique(ds.bags))} "
          f"bags; peak RSS after generating: {peak_gb():.2f} GB", flush=True)
    est = SMILPIClassifier(solver="primal", kernel=args.kernel, n_components=512, random_state=0,
                           tol=args.tol, **PARAMS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(ds.X, y, bags=ds.bags, X_priv=ds.X_priv)
        secs = time.perf_counter() - t0
    steps = est.n_iter_
    status = sorted({m.info["status"] for m in est.models_})
    print(f"sMIL-PI primal ({args.kernel}, {len(est.models_)} problem(s)): fit {secs:.1f} s, "
          f"peak RSS {peak_gb():.2f} GB, Newton steps {steps.sum()} (max {steps.max()}), "
          f"status {status}, objective (first problem) {est.models_[0].info['objective']:.8g}, "
          f"warnings {[str(w.message)[:80] for w in caught]}")
    acc = None
    if args.classes != 1:
        acc = float(np.mean(est.predict(ds.X_test) == ds.y_test))
        print(f"clean test accuracy {acc:.3f}")
    print("RESULT " + json.dumps({"n": args.n, "kernel": args.kernel, "problems": len(est.models_),
                                  "seconds": secs, "peak": peak_gb(), "steps": int(steps.sum()),
                                  "status": status, "accuracy": acc}), flush=True)
    if args.n_small:
        agreement(ds, args.n_small)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))


#: the settings of the table (run without arguments): rows, kernel, classes (1: c0 vs rest)
TABLE = [(100_000, "linear", 1), (100_000, "rbf", 1), (100_000, "linear", 0),
         (1_000_000, "linear", 1)]


def table():
    """Each setting in its own process (its own peak RSS), then the agreement on 4,000 rows."""
    print("### sMIL-PI on explicit features (`solver=\"primal\"`) at crawl scale")
    print()
    print("`make_web_crawl(n)`: 512 float32 features, 50-d text as `X_priv`, 100 queries, bags "
          "of 10, 30% wrong rows, seed 0; authors' defaults C = 100, gamma_plus = 100, rho = 0.6, "
          "C_neg = 1; RBF = Nystroem, 512 components; one BLAS thread. Peak = the process's "
          "peak resident memory (data generation included).")
    print()
    print("| rows | kernel | problems | fit s | peak RSS GB | Newton steps | status "
          "| clean test accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for n, kernel, classes in TABLE:
        out = subprocess.run([sys.executable, __file__, "--n", str(n), "--kernel", kernel,
                              "--classes", str(classes), "--n-small", "0"], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        what = "c0 vs rest" if classes == 1 else "all 100 queries"
        print(f"| {n:,} | {kernel} | {r['problems']} ({what}) | {r['seconds']:.1f} | "
              f"{r['peak']:.2f} | {r['steps']} | {', '.join(r['status'])} | {acc} |", flush=True)
    print()
    agreement(make_web_crawl(20_000, random_state=0), 4000)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))


if __name__ == "__main__":
    if len(sys.argv) == 1:
        table()
    else:
        main()
