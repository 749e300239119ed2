"""sMIL(-PI), mi-SVM(-PI), MI-SVM and KMM on explicit features (``solver="primal"``) at crawl
scale: fit seconds, peak memory and the clean test rows' ranking.

Run from the repository root: ``python benchmarks/mil_primal_scale.py [--method smilpi]
[--n 100000] [--classes 1] [--kernel linear] [--tol 1e-3] [--n-small 4000]``; without arguments
it prints the table of BENCHMARKS.md (:data:`TABLE`, each setting in its own process).

Data: ``webly.crawl_scale.make_web_crawl(n)`` (512 float32 features, 50-d text as ``X_priv``,
100 queries, bags of 10, 30% wrong rows, seed 0). ``--classes 1`` fits one binary problem: the
bags of query c0 positive, every other row a negative instance (about n rows of units: the
problem sMIL-PI solves per class); ``--classes 0`` fits all 100 queries one-vs-rest. The kernel
on the image features is linear (the 512 features themselves) or RBF through a 512-feature
Nystroem map (``--kernel rbf``); the correcting function is linear in the bags' mean text.
Authors' defaults C = 100, gamma_plus = 100, rho = 0.6, C_neg = 1. BLAS is pinned to one thread.
Peak memory is the process's peak resident set (``ru_maxrss``), printed after generating the
data and after the fit (the generator's own peak comes first).

``--method smil``, ``mi-svm``, ``misvm``: :class:`~webly.mil.SMILClassifier`,
:class:`~webly.mil.MiSVMClassifier` (rho = 0.6) and :class:`~webly.mil.MISVMClassifier` at their
default C = 1 on the same bags; ``--method misvmpi``: :class:`~webly.mil.MiSVMPIClassifier` at
its defaults, the authors' C = 0.1, gamma_plus = 10, rho = 0.6. With ``--classes 1`` the
script also prints the average precision of the c0-vs-rest decision values on the 10,000 clean
test rows (c0 is 1% of them).
``--method kmm``: :func:`webly.weighting.kmm_weights` of the web rows towards the 10,000 clean
test rows (B = 1000, Huang et al.'s eps; ``--classes`` is ignored); ``--method kmmsvm``:
:class:`~webly.baselines.KMMSVMClassifier` (C = 1) weighted towards the first 5,000 test rows,
accuracy on the other 5,000. Their iterations are L-BFGS-B's for KMM, Newton steps for the SVMs.

``--C`` and ``--c-neg`` (a number or ``balanced``) set mi-SVM's, MI-SVM's and mi-SVM-PI's ``C``
and ``C_neg``: at the default one weight per row, one query against the rest (1 % positives)
has ``w = 0`` as its first round's optimum at every ``C``, and the fit stops there with a note
(see :class:`~webly.mil.MiSVMClassifier`'s ``C_neg``).

``--n-small`` rows (the first bags of the same crawl, c0 vs rest) are also fitted with the
exact kernel solver (``solver="smo"``, linear kernels) and the primal path: both report minus
the optimal value of the same problem (``models_[0].info["objective"]``), so they must agree;
for MI-SVM every round's objective and the witnesses are compared, for KMM (1,500 rows towards
500 test rows) the objective of the cvxpy QP and of the explicit solve.
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
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.mil import (MiSVMClassifier, MiSVMPIClassifier, MISVMClassifier,  # noqa: E402
                        SMILClassifier, SMILPIClassifier)

PARAMS = dict(C=100.0, gamma_plus=100.0, rho=0.6, C_neg=1.0)
METHODS = {"smilpi": "sMIL-PI", "smil": "sMIL", "misvm": "MI-SVM", "mi-svm": "mi-SVM",
           "misvmpi": "mi-SVM-PI", "kmm": "KMM weights", "kmmsvm": "KMM-SVM"}


def mil_estimator(method, kernel, tol, C=None, C_neg=None):
    """``(estimator, fit metadata)`` of a MIL ``--method`` on the primal path, at the settings of
    the module docstring (``C`` and ``C_neg``: mi-SVM, MI-SVM and mi-SVM-PI at another ``C`` or
    negative weight, None for the defaults)."""
    common = dict(solver="primal", kernel=kernel, n_components=512, random_state=0, tol=tol)
    if method in ("misvm", "mi-svm", "misvmpi"):
        common.update({k: v for k, v in (("C", C), ("C_neg", C_neg)) if v is not None})
    if method == "smilpi":
        return SMILPIClassifier(**common, **PARAMS), ("bags", "X_priv")
    if method == "smil":
        return SMILClassifier(**common), ("bags",)
    if method == "misvm":
        return MISVMClassifier(**common), ("bags",)
    if method == "mi-svm":
        return MiSVMClassifier(**common), ("bags",)
    return MiSVMPIClassifier(**common), ("bags", "X_priv")  # the authors' C 0.1, gamma_plus 10


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


def agreement_misvm(ds, n_small):
    """MI-SVM on the first ``n_small`` rows (c0 vs rest), linear kernel: the kernel path's
    rounds and the primal path's, round by round (both solved to tol 1e-7)."""
    keep = np.flatnonzero(ds.bags < n_small // 10)
    Xs, ys, bs = ds.X[keep].astype(np.float64), np.where(ds.y[keep] == "c0", 1, 0), ds.bags[keep]
    res = {}
    for solver in ("smo", "primal"):
        t0 = time.perf_counter()
        # tol 1e-7: at 1e-5 libsvm's round objectives sit up to 1e-4 above the optimum
        e = MISVMClassifier(solver=solver, kernel="linear", tol=1e-7).fit(Xs, ys, bags=bs)
        res[solver] = (e, time.perf_counter() - t0)
    (a, ta), (b, tb) = res["smo"], res["primal"]
    o0, o1 = np.array(a.models_[0].info["objectives"]), np.array(b.models_[0].info["objectives"])
    rel = np.max(np.abs(o1 - o0) / np.abs(o0)) if len(o0) == len(o1) else np.nan
    same = np.array_equal(a.models_[0].instance_labels, b.models_[0].instance_labels)
    print(f"MI-SVM, {len(keep):,} rows, linear kernel, tol 1e-7: rounds smo {len(o0)} ({ta:.1f} s), "
          f"primal {len(o1)} ({tb:.1f} s); largest relative difference of a round's objective "
          f"{rel:.1e}; same witnesses {same}; predictions equal "
          f"{np.mean(a.predict(Xs) == b.predict(Xs)):.4f}")


def agreement_kmm(ds, n_source=1500, n_target=500):
    """KMM of ``n_source`` web rows towards ``n_target`` test rows, linear kernel: the cvxpy QP
    and the explicit solve (the same problem; the weights themselves are not unique)."""
    from webly.weighting import kmm_weights

    Xs, Xt = ds.X[:n_source].astype(np.float64), ds.X_test[:n_target].astype(np.float64)
    t0 = time.perf_counter()
    _, i0 = kmm_weights(Xs, Xt, kernel="linear", solver="CLARABEL")
    t1 = time.perf_counter()
    w1, i1 = kmm_weights(Xs, Xt, kernel="linear", solver="primal")
    t2 = time.perf_counter()
    n = len(Xs)
    eps = (np.sqrt(n) - 1) / np.sqrt(n)
    print(f"KMM, {n:,} rows towards {len(Xt):,}, linear kernel: objective cvxpy "
          f"{i0['objective']:.10g} ({t1 - t0:.1f} s), explicit {i1['objective']:.10g} "
          f"({t2 - t1:.1f} s, {i1['n_iter']} L-BFGS-B iterations), relative difference "
          f"{abs(i1['objective'] - i0['objective']) / abs(i0['objective']):.1e} (certified gap "
          f"{i1['gap']:.1e}); constraints: weights in [{w1.min():.3g}, {w1.max():.3g}], "
          f"|sum - n| / n = {abs(w1.sum() - n) / n:.3g} <= eps {eps:.3g}")


def fit_kmm(args, ds):
    """``--method kmm`` / ``kmmsvm``: (seconds, iterations, status, problems, accuracy)."""
    from webly.baselines import KMMSVMClassifier
    from webly.weighting import kmm_weights

    if args.method == "kmm":
        t0 = time.perf_counter()
        w, info = kmm_weights(ds.X, ds.X_test, kernel=args.kernel, solver="primal",
                              n_components=512, random_state=0)
        secs = time.perf_counter() - t0
        print(f"KMM weights primal ({args.kernel}): {secs:.1f} s, {info['n_iter']} L-BFGS-B "
              f"iterations, status {info['status']}, relative gap {info['gap']:.1e}, weights "
              f"in [{w.min():.3g}, {w.max():.3g}] summing to {w.sum() / len(w):.4f} n")
        return secs, info["n_iter"], [info["status"]], "-", None, None
    y = np.where(ds.y == "c0", 1, 0) if args.classes == 1 else ds.y
    half = len(ds.X_test) // 2
    est = KMMSVMClassifier(solver="primal", kernel=args.kernel, n_components=512,
                           random_state=0, tol=args.tol)
    t0 = time.perf_counter()
    est.fit(ds.X, y, X_target=ds.X_test[:half])
    secs = time.perf_counter() - t0
    acc = ap = None
    if args.classes != 1:
        acc = float(np.mean(est.predict(ds.X_test[half:]) == ds.y_test[half:]))
    else:
        ap = float(average_precision_score(ds.y_test[half:] == "c0",
                                           est.decision_function(ds.X_test[half:])))
    return secs, int(est.n_iter_.sum()), None, len(est.n_iter_), acc, ap


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=list(METHODS), default="smilpi")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=1, help="1: c0 vs rest; 0: all queries")
    p.add_argument("--kernel", choices=["linear", "rbf"], default="linear")
    p.add_argument("--n-small", type=int, default=4000)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--C", type=float, default=None,
                   help="mi-SVM, MI-SVM, mi-SVM-PI: C instead of the default")
    p.add_argument("--c-neg", default=None,
                   help="mi-SVM, MI-SVM, mi-SVM-PI: C_neg, a number or 'balanced'")
    args = p.parse_args(argv)
    if args.c_neg not in (None, "balanced"):
        args.c_neg = float(args.c_neg)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ds = make_web_crawl(args.n, random_state=0)
    y = np.where(ds.y == "c0", 1, 0) if args.classes == 1 else ds.y
    print(f"data: {ds.X.shape} {ds.X.dtype}, X_priv {ds.X_priv.shape}, {len(np.unique(ds.bags))} "
          f"bags; peak RSS after generating: {peak_gb():.2f} GB", flush=True)
    ap = None
    if args.method in ("kmm", "kmmsvm"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            secs, steps, status, problems, acc, ap = fit_kmm(args, ds)
        if status is None:  # KMM-SVM: its solves report through a ConvergenceWarning
            status = ["not converged" if any("converge" in str(w.message) for w in caught)
                      else "converged"]
        print(f"{METHODS[args.method]} primal ({args.kernel}): fit {secs:.1f} s, peak RSS "
              f"{peak_gb():.2f} GB, iterations {steps}, warnings "
              f"{[str(w.message)[:80] for w in caught]}")
    else:
        est, keys = mil_estimator(args.method, args.kernel, args.tol, args.C, args.c_neg)
        fit = {k: getattr(ds, k) for k in keys}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est.fit(ds.X, y, **fit)
            secs = time.perf_counter() - t0
        n_iter = est.n_iter_
        steps, problems = int(n_iter.sum()), len(est.models_)
        status = sorted({"not converged" if m.info.get("not_converged") else "converged"
                         for m in est.models_})
        rounds = (f", rounds {[m.info['rounds'] for m in est.models_][:10]}"
                  if "rounds" in est.models_[0].info else "")
        print(f"{METHODS[args.method]} primal ({args.kernel}, {problems} problem(s)): fit "
              f"{secs:.1f} s, peak RSS {peak_gb():.2f} GB, Newton steps {steps} (max "
              f"{n_iter.max()}){rounds}, status {status}, objective (first problem) "
              f"{est.models_[0].info['objective']:.8g}, "
              f"warnings {[str(w.message)[:80] for w in caught]}")
        acc = None
        if args.classes != 1:
            acc = float(np.mean(est.predict(ds.X_test) == ds.y_test))
            print(f"clean test accuracy {acc:.3f}")
        else:  # one query against the rest: the ranking of its clean test rows
            ap = float(average_precision_score(ds.y_test == "c0",
                                               est.decision_function(ds.X_test)))
            print(f"clean test AP of c0 vs rest {ap:.3f} (chance {np.mean(ds.y_test == 'c0'):.3f})")
    print("RESULT " + json.dumps({"method": args.method, "n": args.n, "kernel": args.kernel,
                                  "C": args.C, "C_neg": args.c_neg,
                                  "problems": problems, "seconds": secs, "peak": peak_gb(),
                                  "steps": steps, "status": status, "accuracy": acc,
                                  "ap": ap}),
          flush=True)
    if args.n_small:
        {"smilpi": agreement, "misvm": agreement_misvm}.get(
            args.method, lambda ds, _: agreement_kmm(ds))(ds, args.n_small)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))


#: the settings of the table (run without arguments): method, rows, kernel, classes (1: c0 vs
#: rest)
TABLE = [("smilpi", 100_000, "linear", 1), ("smilpi", 100_000, "rbf", 1),
         ("smilpi", 100_000, "linear", 0), ("smilpi", 1_000_000, "linear", 1),
         ("smil", 100_000, "linear", 1), ("smil", 1_000_000, "linear", 1),
         ("mi-svm", 100_000, "linear", 1), ("mi-svm", 1_000_000, "linear", 1),
         ("misvmpi", 100_000, "linear", 1), ("misvmpi", 100_000, "rbf", 1),
         ("misvmpi", 1_000_000, "linear", 1),
         ("misvm", 100_000, "linear", 1), ("misvm", 100_000, "rbf", 1),
         ("misvm", 1_000_000, "linear", 1),
         ("kmm", 100_000, "linear", 1), ("kmm", 100_000, "rbf", 1),
         ("kmm", 1_000_000, "linear", 1), ("kmmsvm", 100_000, "rbf", 1)]


#: seconds a setting of the table may take (its process is stopped after that; the issue's
#: target for a fit at 10^6 rows is 10 minutes)
SETTING_LIMIT = 1200


def table():
    """Each setting in its own process (its own peak RSS), then the agreement on 4,000 rows."""
    print("### sMIL(-PI), mi-SVM(-PI), MI-SVM and KMM on explicit features (`solver=\"primal\"`) "
          "at crawl scale")
    print()
    print("`make_web_crawl(n)`: 512 float32 features, 50-d text as `X_priv`, 100 queries, bags "
          "of 10, 30% wrong rows, seed 0; sMIL-PI at the authors' defaults C = 100, gamma_plus = "
          "100, rho = 0.6, C_neg = 1; sMIL, mi-SVM, MI-SVM and KMM-SVM at C = 1 (mi-SVM rho = 0.6); "
          "mi-SVM-PI at the authors' C = 0.1, gamma_plus = 10, rho = 0.6; KMM weights the web rows "
          "towards the 10,000 clean test rows (KMM-SVM towards the first 5,000), B = 1000, "
          "Huang et al.'s eps; RBF = Nystroem, 512 components; one BLAS thread. Iterations: "
          "Newton steps of the SVM solves (all rounds), L-BFGS-B iterations for KMM weights. "
          "Peak = the process's peak resident memory (data generation included). AP: average "
          "precision of the c0-vs-rest decision values on the 10,000 clean test rows (chance "
          "0.01), for the one-problem rows. The kernel "
          "paths are out of reach at these sizes (KMM's QP: about 18 x 8 n^2 bytes, 1.4 TB at "
          "n = 100,000).")
    print()
    print("| method | rows | kernel | problems | fit s | peak RSS GB | iterations | status "
          "| clean test accuracy | clean test AP (c0) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method, n, kernel, classes in TABLE:
        what = "c0 vs rest" if classes == 1 else "all 100 queries"
        try:
            out = subprocess.run([sys.executable, __file__, "--method", method, "--n", str(n),
                                  "--kernel", kernel, "--classes", str(classes), "--n-small",
                                  "0"], check=True, capture_output=True, text=True,
                                 timeout=SETTING_LIMIT).stdout
        except subprocess.TimeoutExpired:  # the data generation included
            print(f"| {METHODS[method]} | {n:,} | {kernel} | 1 ({what}) | stopped after "
                  f"{SETTING_LIMIT} s | - | - | not finished | - | - |", flush=True)
            continue
        r = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        ap = "-" if r["ap"] is None else f"{r['ap']:.3f}"
        problems = "-" if r["problems"] == "-" else f"{r['problems']} ({what})"
        print(f"| {METHODS[method]} | {n:,} | {kernel} | {problems} | {r['seconds']:.1f} | "
              f"{r['peak']:.2f} | {r['steps']} | {', '.join(r['status'])} | {acc} | {ap} |", flush=True)
    print()
    small = make_web_crawl(20_000, random_state=0)
    agreement(small, 4000)
    print()
    agreement_misvm(small, 4000)
    print()
    agreement_kmm(small)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))


if __name__ == "__main__":
    if len(sys.argv) == 1:
        table()
    else:
        main()
