"""MDA-HS and MDA-HS+ on explicit features (``solver="primal"``) at crawl scale: fit seconds,
peak memory and accuracy, and agreement with the kernel path on a small problem.

Run from the repository root: ``python benchmarks/mdahs_primal_scale.py [--method mdahsplus]
[--n 100000] [--kernel linear] [--tol 1e-3]`` fits one setting; ``--agree`` prints the
agreement lines only; ``--premise`` the premise lines only (:func:`premise`: does MDA-HS+'s
text correcting function vary in its solution?); without arguments it prints the whole table
(:data:`TABLE`, each setting in its own process, so that each peak is its own, stopped after
:data:`SETTING_LIMIT` s), then the agreement and the premise lines.

Data: ``webly.crawl_scale.make_web_crawl(n, n_features=64, n_classes=5, n_test=2 n_t)`` (64
float32 image features, 50-d text as ``X_priv``, 5 queries, 30% wrong rows, 3 sources assigned
per bag, seed 0), the sources cut to one size (the smallest) so that MDA-HS+'s balanced text
block is one correcting function (see ``MDAHSPlus``); the web rows are the labelled source rows
(labels: the query), the first ``n_t = n / 10`` clean test rows the unlabelled target
(``X_target``), the other ``n_t`` the held-out test rows. All five one-vs-rest problems are
fitted. The kernel is linear (the 64 features themselves) or RBF through a Nystroem map
(``--kernel rbf``, ``--components``, default 64); MDA-HS+'s text correcting function is
linear. Estimator defaults otherwise (C_source 1, C_target 10, theta 0.01, max_rounds 5,
mkl_max_iter 10, tol 1e-3). Each labelling adds a block of ``D + 2`` parameters per source
(3 sources: up to 3 x 8 x 66 = 1,584 with the linear kernel), solved by Newton steps on the
kept Hessian (the target rows' Gram and products by labelling pattern, see
``webly/multisource/_mdahs_primal.py``). BLAS is pinned to one thread. Peak memory is the process's peak resident set
(``ru_maxrss``, data generation included). Accuracy: ``predict`` on the held-out clean test
rows (5 classes, chance 0.2) and on the target rows (transductive).

Agreement (``--agree``): ``make_web_crawl(1200, n_features=32, n_classes=3)``, the same
construction with ``n_t = 300``, fitted by the kernel path (``solver="smo"``) and the primal
path with the linear kernel at tol = mkl_tol = 1e-9 (mkl_max_iter 60): the largest relative
difference of the margins ``rho_``, the largest difference of the group weights ``mu``, whether
every labelling is the same, and the largest test decision difference; then RBF (kernel path)
vs a 150-component Nystroem map (primal): test accuracies.
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
from webly.multisource import MDAHS, MDAHSPlus  # noqa: E402

METHODS = {"mdahs": ("MDA-HS", MDAHS), "mdahsplus": ("MDA-HS+", MDAHSPlus)}
#: (method, rows, kernel) of the table
TABLE = [("mdahs", 100_000, "linear"), ("mdahs", 100_000, "rbf"), ("mdahsplus", 100_000, "linear"),
         ("mdahs", 1_000_000, "linear")]
#: a setting still running after this many seconds is stopped and reported as such (MDA-HS at
#: 10^6 rows: 472 s fit, 2.7 GB peak, 8 minutes in all on 2026-12-07, one BLAS thread)
SETTING_LIMIT = 1200


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def crawl(n, n_features, n_classes, n_t=None, seed=0):
    """Source rows (equal-size sources), target rows and held-out test rows."""
    n_t = n // 10 if n_t is None else n_t
    ds = make_web_crawl(n, n_features=n_features, n_classes=n_classes, n_test=2 * n_t,
                        random_state=seed)
    names, counts = np.unique(ds.source, return_counts=True)
    keep = np.sort(np.concatenate([np.flatnonzero(ds.source == s)[:counts.min()]
                                   for s in names]))
    return {"X": ds.X[keep], "y": ds.y[keep], "sources": ds.source[keep],
            "X_priv": ds.X_priv[keep], "X_target": ds.X_test[:n_t], "y_target": ds.y_test[:n_t],
            "X_test": ds.X_test[n_t:], "y_test": ds.y_test[n_t:]}


def _fit(method, data, **params):
    est = METHODS[method][1](**params)
    extra = {"X_priv": data["X_priv"]} if method == "mdahsplus" else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(data["X"], data["y"], sources=data["sources"], X_target=data["X_target"],
                **extra)
        secs = time.perf_counter() - t0
    return est, secs, [str(w.message)[:90] for w in caught]


def one(args):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    data = crawl(args.n, args.features, 5)
    gen_peak = peak_gb()
    est, secs, warned = _fit(args.method, data, solver="primal", kernel=args.kernel,
                             n_components=args.components, random_state=0, tol=args.tol)
    acc = float(np.mean(est.predict(data["X_test"]) == data["y_test"]))
    acc_t = float(np.mean(est.target_labels_ == data["y_target"]))
    kernel = args.kernel if args.kernel == "linear" else f"rbf (Nystroem {args.components})"
    print(f"| {METHODS[args.method][0]} | {len(data['y']):,} + {len(data['y_target']):,} | "
          f"{kernel} | {secs:.1f} | {peak_gb():.2f} (data {gen_peak:.2f}) | {acc:.4f} | "
          f"{acc_t:.4f} | {[int(k) for k in est.n_iter_]} | {'ok' if not warned else warned} |", flush=True)


def agree():
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    data = crawl(1200, 32, 3, n_t=300)
    for key in ("X", "X_priv", "X_target", "X_test"):
        data[key] = data[key].astype(np.float64)
    for method in METHODS:
        name = METHODS[method][0]
        kw = {"kernel": "linear", "tol": 1e-9, "mkl_tol": 1e-9, "mkl_max_iter": 60}
        a, ta, _ = _fit(method, data, solver="smo", **kw)
        b, tb, _ = _fit(method, data, solver="primal", **kw)
        rel = np.max(np.abs(a.rho_ - b.rho_) / a.rho_)
        same = all(x.shape == y.shape and np.array_equal(x, y)
                   for x, y in zip(a.labellings_, b.labellings_))
        dmu = max(float(np.max(np.abs(x - y))) if x.shape == y.shape else np.inf
                  for x, y in zip(a.kernel_weights_, b.kernel_weights_))
        D0, D1 = a.decision_function(data["X_test"]), b.decision_function(data["X_test"])
        print(f"{name}, {len(data['y']):,} source + {len(data['y_target'])} target rows, 3 "
              f"classes, linear kernel, tol 1e-9: kernel path {ta:.1f} s, primal {tb:.1f} s; "
              f"largest relative difference of rho {rel:.1e}; largest |mu difference| "
              f"{dmu:.1e}; same labellings {same}; max |test decision difference| "
              f"{np.abs(D1 - D0).max():.1e} (scale {np.abs(D0).max():.2g}); test predictions "
              f"equal {np.mean(a.predict(data['X_test']) == b.predict(data['X_test'])):.4f}",
              flush=True)
        a, ta, _ = _fit(method, data, solver="smo", kernel="rbf")
        b, tb, _ = _fit(method, data, solver="primal", kernel="rbf", n_components=150,
                        random_state=0)
        acc0 = np.mean(a.predict(data["X_test"]) == data["y_test"])
        acc1 = np.mean(b.predict(data["X_test"]) == data["y_test"])
        print(f"{name}, RBF kernel ({ta:.1f} s) vs Nystroem 150 components ({tb:.1f} s): test "
              f"accuracy {acc0:.4f} vs {acc1:.4f}; predictions equal "
              f"{np.mean(a.predict(data['X_test']) == b.predict(data['X_test'])):.4f}",
              flush=True)


def premise():
    """Is MDA-HS+'s premise (the text rows' slack tells clean from wrong rows) at work in its
    solution? Per fit, over the one-vs-rest problems: the text correcting function ``s = u'z +
    c`` of the last inner solve (``|u|``, the spread of ``s`` over the text rows in margins
    ``m``), the share of source rows whose constraint ``y f + s >= m`` is tight (within 1% of
    ``m``), and ``m C_source n_S``: about 1 is the margin that a constant slack ``s = m`` on every
    source row buys alone (the slack's cost ``C_source n_S m^2 / 2`` against ``-m``, the
    target rows and ``gamma_plus`` aside). All source rows have text here."""
    from threadpoolctl import threadpool_limits

    from webly.multisource._mdahs_primal import MDAHSPrimalProblem

    threadpool_limits(1)
    last = {}
    solve = MDAHSPrimalProblem.solve

    def recording(self, *args, **kw):  # the state of each problem's last solve
        out = solve(self, *args, **kw)
        last[id(self)] = (self, args[0], args[1])
        return out

    MDAHSPrimalProblem.solve = recording
    try:
        for n, C in ((1500, 1.0), (20000, 1.0), (5000, 1.0), (5000, 0.01), (5000, 1e-4)):
            data = crawl(n, 64, 5)
            last.clear()
            est, secs, _ = _fit("mdahsplus", data, solver="primal", kernel="linear",
                                random_state=0, C_source=C)
            u_norm, spread, tight, ratio = [], [], [], []
            for prob, mu, Y in last.values():
                th = prob._state[0]
                dp = prob.Z_priv.shape[1]
                u, c, m = th[-dp - 2:-2], th[-2], th[-1]
                F = prob.rows(mu, Y)
                f = (F @ th[:F.width])[:prob.n_S]
                s = prob.Z_priv @ u + c
                u_norm.append(np.linalg.norm(u))
                spread.append(np.std(s) / m)
                tight.append(np.mean(np.abs(f + s - m) <= 0.01 * m))
                ratio.append(m * C * prob.n_S)
            base, _, _ = _fit("mdahs", data, solver="primal", kernel="linear", random_state=0,
                              C_source=C)
            acc = np.mean(est.predict(data["X_test"]) == data["y_test"])
            acc0 = np.mean(base.predict(data["X_test"]) == data["y_test"])
            print(f"MDA-HS+, {len(data['y']):,} source rows, C_source {C:g}: |u| "
                  f"{min(u_norm):.1e}-{max(u_norm):.1e}; std of s over the text rows "
                  f"{min(spread):.1e}-{max(spread):.1e} margins; tight source rows "
                  f"{min(tight):.3f}-{max(tight):.3f}; m C_source n_S "
                  f"{min(ratio):.3f}-{max(ratio):.3f}; test accuracy {acc:.4f} (MDA-HS "
                  f"{acc0:.4f}); {secs:.1f} s", flush=True)
    finally:
        MDAHSPrimalProblem.solve = solve


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=list(METHODS), default=None)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--kernel", choices=["linear", "rbf"], default="linear")
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--components", type=int, default=64)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--agree", action="store_true")
    p.add_argument("--premise", action="store_true")
    args = p.parse_args(argv)
    if args.agree:
        return agree()
    if args.premise:
        return premise()
    if args.method is not None:
        return one(args)
    from webly.experiments.benchmarks import machine_line

    print("### MDA-HS / MDA-HS+ on explicit features (`solver=\"primal\"`) at crawl scale")
    print()
    print("`make_web_crawl(n, n_features=64, n_classes=5)`: 3 equal-size sources of web rows, "
          "n / 10 unlabelled target rows, n / 10 held-out clean test rows; all 5 one-vs-rest "
          "problems; estimator defaults (`variant=\"webly\"`, max_rounds 5); linear kernel "
          "or a 64-component Nystroem map; one BLAS thread; peak = the process's peak resident "
          "memory, data included.")
    print()
    print("| method | source + target rows | kernel | fit s | peak RSS GB | test accuracy | "
          "target accuracy | rounds per class | status |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for method, n, kernel in TABLE:
        try:
            subprocess.run([sys.executable, __file__, "--method", method, "--n", str(n),
                            "--kernel", kernel, "--tol", str(args.tol), "--features",
                            str(args.features), "--components", str(args.components)],
                           check=False, timeout=SETTING_LIMIT)
        except subprocess.TimeoutExpired:
            print(f"| {METHODS[method][0]} | {n:,} | {kernel} | stopped after {SETTING_LIMIT} s "
                  "| - | - | - | - | not finished |", flush=True)
    print()
    subprocess.run([sys.executable, __file__, "--agree"], check=False)
    subprocess.run([sys.executable, __file__, "--premise"], check=False)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread; "))


if __name__ == "__main__":
    main()
