"""Choose mi-SVM's / MI-SVM's / mi-SVM-PI's ``C`` (and ``C_neg``) by inner validation on the web
labels alone, for ``benchmarks/mil_primal_scale.py``'s one-query problem (c0 vs rest).

Run from the repository root: ``python benchmarks/mil_select_c.py [--method mi-svm]
[--n 100000] [--C 0.01 0.1 1 10] [--c-neg balanced]``.

Every fifth result page of each query is held out (bag ``b`` is a page of query ``b % 100``:
the bags with ``(b // 100) % 5 == 4``); each ``C`` of the grid is fitted on the other bags (``solver="primal"``, linear kernel,
as the benchmark) and scored by the average precision of the held-out rows' decision values
against their *web* label (query c0 or not: 30 % of those labels are wrong, but no clean label
is used). The clean test rows are scored too, for the report only: the choice is the
validation AP's best ``C``.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from benchmarks.mil_primal_scale import mil_estimator  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=["mi-svm", "misvm", "misvmpi"], default="mi-svm")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0, 10.0])
    p.add_argument("--c-neg", default="balanced")
    args = p.parse_args(argv)
    c_neg = None if args.c_neg == "none" else (
        args.c_neg if args.c_neg == "balanced" else float(args.c_neg))
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ds = make_web_crawl(args.n, random_state=0)
    y = np.where(ds.y == "c0", 1, 0)
    held = (ds.bags // 100) % 5 == 4  # a fifth of every query's bags
    fit = {"bags": ds.bags[~held]}
    if args.method == "misvmpi":
        fit["X_priv"] = ds.X_priv[~held]
    best = None
    for C in args.C:
        est, _ = mil_estimator(args.method, "linear", 1e-3, C, c_neg)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est.fit(ds.X[~held], y[~held], **fit)
            secs = time.perf_counter() - t0
        val = average_precision_score(y[held], est.decision_function(ds.X[held]))
        test = average_precision_score(ds.y_test == "c0", est.decision_function(ds.X_test))
        m = est.models_[0]
        print(f"{args.method} C {C:g} C_neg {args.c_neg}: validation AP (web labels) {val:.3f}, "
              f"clean test AP {test:.3f}; {secs:.1f} s, {int(est.n_iter_.sum())} Newton steps, "
              f"rounds {m.info.get('rounds')}, warnings {[str(w.message)[:70] for w in caught]}",
              flush=True)
        if best is None or val > best[1]:
            best = (C, val, test)
    print(f"chosen C {best[0]:g} (validation AP {best[1]:.3f}; its clean test AP {best[2]:.3f})")


if __name__ == "__main__":
    main()
