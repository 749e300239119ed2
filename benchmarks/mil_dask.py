"""sMIL-PI, sMIL-PI-DA, mi-SVM-PI and MIL-CPB-PI (primal path) in one process and on a Dask
cluster: seconds and agreement.

Run ``python benchmarks/mil_dask.py`` (options: ``--n 200000 --d 256 --classes 10 --parts 8
--workers 2 --tol 1e-3 --max-rounds 20``); with ``PYTHONPATH`` pointing at the checkout and
``OMP_NUM_THREADS=1`` (BLAS one thread per process).

Data: :func:`webly.crawl_scale.make_web_crawl` (``--n`` web rows of ``--d`` float32 features,
bags of 10, ``--classes`` queries, 30% wrong rows, 50-d float32 text as privileged features),
made once in this process. The MIL problem is binary: the bags of query ``c0`` are the positive
bags, every other row a negative instance (as one one-vs-rest problem of a multi-class fit).
The estimators run with ``kernel="linear", kernel_priv="linear"`` and the authors' defaults
otherwise (sMIL-PI(-DA) C = 100, gamma_plus = 100, rho = 0.6; mi-SVM-PI C = 0.1, gamma_plus = 10);
sMIL-PI-DA's ``X_target`` is the crawl's 1,000 clean test rows (numpy in one process, a Dask
array of 2 partitions on the cluster), its -DA parameters the defaults; MIL-CPB-PI at its defaults
(squared hinge, C = 0.01, gamma_plus = 10) but at most 3 labellings (as
``benchmarks/milcpb_primal_scale.py``).

One process: ``solver="primal"`` on the numpy rows. Cluster: a ``LocalCluster`` of
``--workers`` worker processes with one thread each; X and X_priv are cut into ``--parts``
row partitions, persisted on the workers before the clock starts, and the client's copies are
dropped; ``y`` and ``bags`` are numpy. Fit seconds are wall-clock. Agreement: the relative
difference of the final objective (minus the last primal value of each model), the Newton
steps (and relabelling rounds), and the largest decision difference over 20,000 rows relative
to the largest decision. Both paths take the same steps up to the order of floating-point sums
(float32 rows: the partitions add their partial sums in float64, so the two may stop at
slightly different points within ``tol``). On a 2-core machine the client, the scheduler and
the workers share the cores, and every Newton step is a few round trips to the scheduler: the
cluster pays latency that one process does not; the point is that the same fit runs there, and
on a real cluster unchanged.
"""

import argparse
import time
import warnings

import numpy as np


def fit(cls, params, X, y, bags, T, X_target=None):
    extra = {} if X_target is None else {"X_target": X_target}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run out of rounds is reported in the table
        t0 = time.perf_counter()
        est = cls(**params).fit(X, y, bags=bags, X_priv=T, **extra)
        return time.perf_counter() - t0, est


def main(n, d, classes, parts, workers, tol, max_rounds):
    import dask
    import dask.array as da
    import distributed
    from distributed import Client, LocalCluster, wait
    from threadpoolctl import threadpool_limits

    from webly.crawl_scale import make_web_crawl
    from webly.experiments.benchmarks import machine_line
    from webly.mil import (MILCPBPIClassifier, MiSVMPIClassifier, SMILPIClassifier,
                           SMILPIDAClassifier)

    threadpool_limits(1)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread per process; ")
          + f"; dask {dask.__version__}, distributed {distributed.__version__}")
    ds = make_web_crawl(n, n_features=d, n_classes=classes, n_test=1000, random_state=0)
    X, T = ds.X, np.asarray(ds.X_priv, dtype=np.float32)
    y = (np.asarray(ds.y) == "c0").astype(int)
    bags = np.asarray(ds.bags)
    n = X.shape[0]
    print(f"{n:,} x {X.shape[1]} float32 web rows + {T.shape[1]}-d float32 text, "
          f"{len(np.unique(bags[y == 1])):,} positive bags ({int(y.sum()):,} rows) of query c0, "
          f"{int((y == 0).sum()):,} negative rows; {parts} partitions, tol = {tol}")
    Xt = X[:20_000]
    common = dict(kernel="linear", kernel_priv="linear", tol=tol)
    Xtarget = np.asarray(ds.X_test)
    runs = [("sMIL-PI", SMILPIClassifier, common),
            ("sMIL-PI-DA", SMILPIDAClassifier, common),
            ("mi-SVM-PI", MiSVMPIClassifier, {**common, "max_rounds": max_rounds}),
            ("MIL-CPB-PI", MILCPBPIClassifier, {**common, "max_rounds": 3})]
    target = {"sMIL-PI-DA": Xtarget}
    one = {}
    for name, cls, params in runs:
        sec, est = fit(cls, {**params, "solver": "primal"}, X, y, bags, T, target.get(name))
        one[name] = (sec, est, est.decision_function(Xt))
        print(f"  one process: {name} {sec:.1f} s")
    rows = -(-n // parts)
    Xd = da.from_array(X, chunks=(rows, -1))
    Td = da.from_array(T, chunks=(rows, -1))
    many = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        Xd, Td = client.persist([Xd, Td])
        wait([Xd, Td])
        del X, T, ds  # the client keeps only Xt, y and bags
        target = {k: da.from_array(v, chunks=(-(-len(v) // 2), -1)) for k, v in target.items()}
        for name, cls, params in runs:
            sec, est = fit(cls, params, Xd, y, bags, Td, target.get(name))
            many[name] = (sec, est, est.decision_function(da.from_array(Xt, chunks=(5000, -1)))
                          .compute())
            print(f"  cluster: {name} {sec:.1f} s")
    print()
    print("| method | where | fit s | Newton steps | rounds | converged | objective |")
    print("|---|---|---|---|---|---|---|")
    for name, _, _ in runs:
        for where, (sec, est, _) in (("one process", one[name]),
                                     (f"LocalCluster, {workers} worker processes", many[name])):
            m = est.models_[0]
            print(f"| {name} | {where} | {sec:.1f} | {est.n_iter_[0]} | "
                  f"{m.info.get('rounds', '-')} | {'no' if m.info['not_converged'] else 'yes'} | "
                  f"{m.info['objective']:.10g} |")
    print()
    for name, _, _ in runs:
        (s1, e1, D1), (s2, e2, D2) = one[name], many[name]
        o1, o2 = e1.models_[0].info["objective"], e2.models_[0].info["objective"]
        gap = np.abs(D2 - D1).max() / np.abs(D1).max()
        print(f"{name}: objective relative difference {abs(o2 - o1) / abs(o1):.2e}; decisions "
              f"on {len(D1):,} rows differ by at most {gap:.2e} of the largest; predictions "
              f"agree on {np.mean((D1 > 0) == (D2 > 0)):.2%}; "
              f"cluster / one process time {s2 / s1:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="training rows")
    ap.add_argument("--d", type=int, default=256, help="image features")
    ap.add_argument("--classes", type=int, default=10, help="queries of the crawl")
    ap.add_argument("--parts", type=int, default=8, help="row partitions")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--tol", type=float, default=1e-3, help="the estimators' tol")
    ap.add_argument("--max-rounds", type=int, default=20, help="mi-SVM-PI relabelling rounds")
    args = ap.parse_args()
    main(args.n, args.d, args.classes, args.parts, args.workers, args.tol, args.max_rounds)
