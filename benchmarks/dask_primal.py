"""The SVM+ primal fit in one process and on a Dask cluster: seconds and agreement.

Run ``python benchmarks/dask_primal.py`` (options: ``--n 200000 --parts 8 --workers 2
--tol 1e-3``).

Data: :func:`primal_speed.make_web_rows` (web rows 256 float32 features, 30% one-sided label
noise, 50-d privileged tags), generated partition by partition (``--parts`` partitions of
``n / parts`` rows, partition ``i`` from seed ``1000 + i``). The cluster generates its partitions
where they will live (the client never holds the rows); the single-process fit gets the same
partitions, concatenated in memory. Both fit ``SVMPlusClassifier(solver="primal",
kernel="linear", kernel_priv="linear", C=0.1)``: the same code, through the in-memory and the
Dask rows backends of :mod:`webly.solvers.primal`.

The cluster is a ``LocalCluster`` of ``--workers`` worker processes with one thread each; BLAS
runs one thread in every worker (Dask's nanny sets ``OMP_NUM_THREADS`` etc. to 1; the script
prints what the workers report) and in the single process. Fit seconds are wall-clock and
exclude the data generation (the cluster's partitions are persisted before the clock starts;
the fit itself persists ``[X | X_priv]`` on the workers). Agreement: the objective's relative
difference, the Newton steps, and the predictions on 20,000 fresh rows. Both paths take the
same steps up to the order of floating-point sums: float32 rows' partial sums add up in a
different order (the cluster's partitions add theirs in float64), so the two stop at slightly
different points within ``tol``. On a 2-core machine the client, the scheduler and the workers
share the cores, and every Newton step is about three round trips to the scheduler
(value/gradient with the Hessian update, step and line-search setup, the remaining line-search
trials), each with a hop per task between scheduler and workers: the cluster pays latency that
one process does not, and gains only where the partitions' work outweighs it.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from primal_speed import D, D_PRIV, make_web_rows  # noqa: E402

C, GAMMA_PLUS = 0.1, 1.0


def _part(k, rows, what):
    """One partition's web rows (``what`` 0), labels (1) or tags (2)."""
    X, y, T, _ = make_web_rows(rows, seed=1000 + k)
    return (X, y, T)[what]


def dask_rows(n, parts):
    """(X, y, T) as Dask arrays whose partitions are generated where they are computed."""
    import dask
    import dask.array as da

    sizes = [n // parts + (k < n % parts) for k in range(parts)]
    out = []
    for what, (shape, dtype) in enumerate([((D,), np.float32), ((), np.int64),
                                           ((D_PRIV,), np.float32)]):
        blocks = [da.from_delayed(dask.delayed(_part)(k, m, what), shape=(m, *shape),
                                  dtype=dtype) for k, m in enumerate(sizes)]
        out.append(da.concatenate(blocks))
    return out


def fit(X, y, T, tol):
    from webly.svmplus import SVMPlusClassifier

    est = SVMPlusClassifier(solver="primal", kernel="linear", kernel_priv="linear", C=C,
                            gamma_plus=GAMMA_PLUS, tol=tol)
    t0 = time.perf_counter()
    est.fit(X, y, X_priv=T)
    return time.perf_counter() - t0, est


def main(n, parts, workers, tol):
    import dask
    import distributed
    from distributed import Client, LocalCluster, wait
    from threadpoolctl import threadpool_info, threadpool_limits

    from webly.experiments.benchmarks import machine_line

    threadpool_limits(1)
    print(machine_line(["numpy", "scipy", "scikit-learn"], note="BLAS 1 thread per process; ")
          + f"; dask {dask.__version__}, distributed {distributed.__version__}")
    print(f"SVM+ primal, linear / linear views, C = {C}, gamma_plus = {GAMMA_PLUS}, tol = {tol}: "
          f"{n:,} x {D} float32 web rows + {D_PRIV}-d float32 tags in {parts} partitions")
    Xt, _, _, yt = make_web_rows(20_000, seed=1)

    Xd, yd, Td = dask_rows(n, parts)
    with dask.config.set(scheduler="threads"):
        X, y, T = dask.compute(Xd, yd, Td)
    sec1, one = fit(X, y, T, tol)
    acc1 = float(np.mean(one.predict(Xt) == yt))
    del X, y, T

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        blas = client.run(lambda: sorted({i["num_threads"] for i in threadpool_info()
                                          if i["user_api"] == "blas"}))
        Xd, yd, Td = client.persist([Xd, yd, Td])
        wait([Xd, yd, Td])
        sec2, many = fit(Xd, yd, Td, tol)
        acc2 = float(np.mean(many.predict(Xt) == yt))
    print(f"workers' BLAS threads: {sorted(blas.values())}")
    rel = abs(many.objective_[0] - one.objective_[0]) / abs(one.objective_[0])
    same = float(np.mean(many.predict(Xt) == one.predict(Xt)))
    print()
    print("| where | fit s | Newton steps | objective_ | accuracy (true labels) |")
    print("|---|---|---|---|---|")
    print(f"| one process | {sec1:.1f} | {one.n_iter_[0]} | {one.objective_[0]:.10g} | "
          f"{acc1:.4f} |")
    print(f"| LocalCluster, {workers} worker processes | {sec2:.1f} | {many.n_iter_[0]} | "
          f"{many.objective_[0]:.10g} | {acc2:.4f} |")
    print()
    print(f"objective relative difference {rel:.2e}; predictions on {len(yt):,} test rows "
          f"agree on {same:.2%}; cluster / one process time {sec2 / sec1:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="training rows")
    ap.add_argument("--parts", type=int, default=8, help="row partitions")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--tol", type=float, default=1e-3, help="the estimator's tol")
    args = ap.parse_args()
    main(args.n, args.parts, args.workers, args.tol)
