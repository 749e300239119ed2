"""Would the primal solvers' row passes run faster on torch than on numpy, on this CPU?

Run from the repository root: ``python benchmarks/rows_backend.py [--n 1000000] [--fit-n 200000]
[--repeat 5]``.

Issue #18 asks for the primal solvers on torch tensors (CPU or CUDA) or on numpy, "whichever
measures faster here", with one implementation per problem. The solvers of
:mod:`webly.solvers.primal` touch their n rows only through row passes (:mod:`webly.solvers._rows`:
``F w``, ``F' v``, per-row vector arithmetic, and Gram matrices ``J' J`` over a selection of rows
for the Newton system). This script measures:

1. **Where a primal fit spends its time:** one ``SVMPlusClassifier(solver="primal")`` fit on
   ``--fit-n`` rows of :func:`webly.crawl_scale.make_web_crawl` (512 float32 features, 50-d text
   as ``X_priv``, c0 vs rest, C = 100, gamma_plus = 100) under cProfile: the share of the fit in
   the row-pass functions (the matrix products ``_mv`` / ``_rmv``, the Gram passes, the per-row
   kernels ``_k_*``), against everything else (the small Newton system, Python overhead).
2. **The same operations on numpy and on torch (CPU), side by side** on ``--n`` x 512 float32 rows
   (one array; torch reads it without a copy through ``torch.from_numpy``), in alternating
   order, min of ``--repeat``: ``F w``, ``F' v``, the Gram matrix of 10% of the rows (gathered),
   and a squared-hinge pass over n-vectors (the per-row arithmetic of a line search: ``max(0,
   1 - y f)``, its square and sum) in float64 as the solvers keep per-row vectors.

BLAS and torch are pinned to one thread (the other BENCHMARKS scripts' setting); a ratio > 1 in
the table means torch is slower. The figures are those of this machine; a GPU was not measured.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.experiments.benchmarks import machine_line  # noqa: E402

#: the functions of a primal fit counted as row passes (module suffix, function-name prefix)
ROW_PASSES = (("_rows.py", "_mv"), ("_rows.py", "_rmv"), ("_rows.py", "gram_rows"),
              ("_rows.py", "_k_gram"), ("_rows.py", "jac_block"), ("primal.py", "_k_"))


def fit_profile(n):
    """Seconds of one primal SVM+ fit and the share of its time in the row passes."""
    from threadpoolctl import threadpool_limits

    from webly.crawl_scale import make_web_crawl
    from webly.svmplus import SVMPlusClassifier

    ds = make_web_crawl(n, random_state=0)
    y = np.where(ds.y == "c0", 1, -1)
    est = SVMPlusClassifier(solver="primal", kernel="linear", kernel_priv="linear", C=100.0,
                            gamma_plus=100.0)
    prof = cProfile.Profile()
    with threadpool_limits(1):
        t0 = time.perf_counter()
        prof.enable()
        est.fit(ds.X, y, X_priv=ds.X_priv)
        prof.disable()
        secs = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    rows = 0.0
    for (path, _, name), (_, _, tottime, _, _) in stats.items():
        if any(path.endswith(mod) and name.startswith(pre) for mod, pre in ROW_PASSES):
            rows += tottime
    total = sum(v[2] for v in stats.values())
    return secs, rows / total, int(est.n_iter_[0])


def _best(fn, repeat):
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def operations(n, repeat):
    """(name, numpy seconds, torch seconds) of each row operation, measured alternately."""
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    F = rng.standard_normal((n, 512), dtype=np.float32)
    Ft = torch.from_numpy(F)
    w = rng.standard_normal(512).astype(np.float32)
    wt = torch.from_numpy(w)
    v = rng.standard_normal(n).astype(np.float32)
    vt = torch.from_numpy(v)
    sel = np.sort(rng.choice(n, n // 10, replace=False))
    selt = torch.from_numpy(sel)
    f = rng.standard_normal(n)
    yv = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    ft, yt = torch.from_numpy(f), torch.from_numpy(yv)

    def hinge_np():
        r = np.maximum(0.0, 1.0 - yv * f)
        return float(r @ r)

    def hinge_torch():
        r = torch.clamp(1.0 - yt * ft, min=0.0)
        return float(r @ r)

    ops = [("F w", lambda: F @ w, lambda: Ft @ wt),
           ("F' v", lambda: F.T @ v, lambda: Ft.T @ vt),
           ("Gram of 10% of the rows", lambda: (lambda J: J.T @ J)(F[sel]),
            lambda: (lambda J: J.T @ J)(Ft[selt])),
           ("squared hinge over n (float64)", hinge_np, hinge_torch)]
    out = []
    for name, a, b in ops:
        ta, tb = [], []
        for _ in range(2):          # alternate: numpy, torch, numpy, torch
            ta.append(_best(a, repeat))
            tb.append(_best(b, repeat))
        out.append((name, min(ta), min(tb)))
    return out, torch.__version__


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--fit-n", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    line = machine_line(["numpy", "torch", "scikit-learn"], "BLAS and torch 1 thread; ")
    secs, share, steps = fit_profile(args.fit_n)
    print("### Row passes of the primal solvers: numpy or torch on this CPU\n")
    print(f"SVM+ primal fit, {args.fit_n:,} rows x 512 (+ 50-d text), linear: {secs:.1f} s "
          f"({steps} Newton steps); {100 * share:.0f}% of the profiled time in the row passes "
          "(matrix products, Gram passes, per-row kernels).\n")
    with threadpool_limits(1):
        ops, tv = operations(args.n, args.repeat)
    print(f"{args.n:,} x 512 float32 rows, min of {args.repeat}, alternating:\n")
    print("| operation | numpy s | torch (CPU) s | torch / numpy |")
    print("|---|---|---|---|")
    for name, a, b in ops:
        print(f"| {name} | {a:.4f} | {b:.4f} | {b / a:.2f} |")
    print()
    print(line)


if __name__ == "__main__":
    main()
