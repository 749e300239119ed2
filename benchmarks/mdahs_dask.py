"""MDA-HS and MDA-HS+ (``solver="primal"``) in one process and on a Dask cluster: seconds and
agreement.

Run ``python benchmarks/mdahs_dask.py`` (options: ``--n 10000 --d 64 --parts 4 --workers 2
--tol 1e-3 --max-rounds 0 --mkl-max-iter 2``); with ``PYTHONPATH`` pointing at the checkout (the
workers import webly) and ``OMP_NUM_THREADS=1`` (BLAS one thread per process).

Data: ``crawl(n, d, 5)`` of ``benchmarks/mdahs_primal_scale.py``
(:func:`webly.crawl_scale.make_web_crawl` with ``--n`` web rows of ``--d`` float32 image
features, 50-d text as ``X_priv``, 5 queries, 30% wrong rows, 3 sources cut to one size, seed 0;
``n / 10`` clean unlabelled target rows, ``n / 10`` held-out clean test rows), made once in this
process; the source rows are ordered by source (a stable sort), so that each source is a run of
rows, a slice of the partitions. All five one-vs-rest problems are fitted, with
``kernel="linear"``, ``tol=--tol``, no cutting-plane round (``max_rounds=--max-rounds``, 0: the
3 initial labellings of the target rows, one per source classifier, and MKL over them, at most
2 MKL steps, ``mkl_max_iter=--mkl-max-iter``), the estimators' defaults otherwise
(``variant="webly"``, C_source 1, C_target 10, theta 0.01; MDA-HS+'s text correcting function
linear). The rounds are cut because the cluster's cost is the number of Newton steps, not the
rows: each step is a few round trips to the workers, and every cutting-plane round adds MKL
steps of tens of Newton steps each (MDA-HS+ several times MDA-HS's); ``--max-rounds 1`` runs
the label search on the cluster too (many minutes on 2 cores).

One process: ``solver="primal"`` on the numpy rows. Cluster: a ``LocalCluster`` of ``--workers``
worker processes with one thread each; X (and MDA-HS+'s X_priv) are cut into ``--parts`` row
partitions, persisted on the workers before the clock starts, and the client's copies are
dropped; ``y``, ``sources`` and ``X_target`` are numpy (the label search, the MKL weights and
the target rows stay on the client). Fit seconds are wall-clock; status: how the cutting plane
and MKL ended (from the estimators' ConvergenceWarning; with max_rounds 0 the cutting plane
stops at its bound by design). Agreement: the cutting-plane rounds per class (``n_iter_``; the
Newton steps are not public), the largest relative difference of the margins ``rho_`` over the
classes, the largest decision difference on the held-out test rows relative to the largest
decision, the share of equal test predictions, whether every labelling (``labellings_``) is the
same, and the test accuracies (5 classes, chance 0.2). Both paths solve the same problem and
take the same steps up to the order of floating-point sums (the partitions add their partial
sums in float64). On a 2-core machine the client, the scheduler and the workers share the cores,
and every Newton step is a few round trips to the scheduler: the cluster pays latency that one
process does not; the point is that the same fit runs there, and on a real cluster unchanged.
"""

import argparse
import os
import re
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mdahs_primal_scale import crawl  # noqa: E402


def fit(cls, params, data, X, T):
    extra = {} if T is None else {"X_priv": T}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a fit out of rounds is reported in the table
        t0 = time.perf_counter()
        est = cls(**params).fit(X, data["y"], sources=data["sources"],
                                X_target=data["X_target"], **extra)
        secs = time.perf_counter() - t0
    # the estimators' status: one ConvergenceWarning naming each class's cutting-plane and MKL
    # ends (max_rounds 0: "cutting plane max_iter" by design)
    ends = sorted({m for w in caught
                   for m in re.findall(r"cutting plane \w+, MKL \w+", str(w.message))})
    return secs, est, "; ".join(ends) or ("converged" if not caught else
                                          str(caught[0].message)[:80])


def main(n, d, parts, workers, tol, max_rounds, mkl_max_iter):
    import dask
    import dask.array as da
    import distributed
    from distributed import Client, LocalCluster, wait
    from threadpoolctl import threadpool_limits

    from webly.experiments.benchmarks import machine_line
    from webly.multisource import MDAHS, MDAHSPlus

    threadpool_limits(1)
    machine = (machine_line(["numpy", "scipy", "scikit-learn"],
                            note="BLAS 1 thread per process; ")
               + f"; dask {dask.__version__}, distributed {distributed.__version__}")
    data = crawl(n, d, 5)
    order = np.argsort(data["sources"], kind="stable")
    for key in ("X", "y", "sources", "X_priv"):
        data[key] = data[key][order]
    X, T = data["X"], np.asarray(data["X_priv"], dtype=np.float32)
    n_s = X.shape[0]
    names, counts = np.unique(data["sources"], return_counts=True)
    print(f"{n_s:,} x {X.shape[1]} {X.dtype} source rows ({len(names)} sources of "
          f"{counts[0]:,}) + {T.shape[1]}-d text, {len(data['X_target']):,} target rows, "
          f"{len(data['X_test']):,} test rows, 5 classes; linear kernel; {parts} partitions, "
          f"tol = {tol}, max_rounds = {max_rounds}, mkl_max_iter = {mkl_max_iter}",
          flush=True)
    params = dict(solver="primal", kernel="linear", tol=tol, max_rounds=max_rounds,
                  mkl_max_iter=mkl_max_iter)
    runs = [("MDA-HS", MDAHS, False), ("MDA-HS+", MDAHSPlus, True)]
    X_test = data["X_test"]
    one = {}
    for name, cls, text in runs:
        sec, est, status = fit(cls, params, data, X, T if text else None)
        one[name] = (sec, est, status, est.decision_function(X_test))
        print(f"  one process: {name} {sec:.1f} s", flush=True)
    rows = -(-n_s // parts)
    Xd = da.from_array(X, chunks=(rows, -1))
    Td = da.from_array(T, chunks=(rows, -1))
    many = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            Xd, Td = client.persist([Xd, Td])
            wait([Xd, Td])
            del X, T  # the client keeps y, sources, the target and the test rows
            data["X"] = data["X_priv"] = None
            for name, cls, text in runs:
                sec, est, status = fit(cls, params, data, Xd, Td if text else None)
                many[name] = (sec, est, status, est.decision_function(X_test))
                print(f"  cluster: {name} {sec:.1f} s", flush=True)
    print()
    print("| method | where | fit s | rounds per class | status | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in runs:
        for where, (sec, est, status, _) in (
                ("one process", one[name]),
                (f"LocalCluster, {workers} worker processes", many[name])):
            acc = np.mean(est.predict(X_test) == data["y_test"])
            print(f"| {name} | {where} | {sec:.1f} | {[int(k) for k in est.n_iter_]} | "
                  f"{status} | {acc:.4f} |")
    print()
    for name, _, _ in runs:
        (s1, e1, _, D1), (s2, e2, _, D2) = one[name], many[name]
        rel = np.max(np.abs(e2.rho_ - e1.rho_) / np.abs(e1.rho_))
        gap = np.abs(D2 - D1).max() / np.abs(D1).max()
        same = len(e1.labellings_) == len(e2.labellings_) and all(
            a.shape == b.shape and np.array_equal(a, b)
            for a, b in zip(e1.labellings_, e2.labellings_))
        equal = np.mean(e1.predict(X_test) == e2.predict(X_test))
        print(f"{name}: rho relative difference at most {rel:.2e} over the classes; decisions on "
              f"{len(D1):,} test rows differ by at most {gap:.2e} of the largest; predictions "
              f"equal on {equal:.2%}; same labellings: {'yes' if same else 'no'}; "
              f"cluster / one process time {s2 / s1:.2f}")
    print()
    print(machine)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="web rows of the crawl")
    ap.add_argument("--d", type=int, default=64, help="image features")
    ap.add_argument("--parts", type=int, default=4, help="row partitions")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--tol", type=float, default=1e-3, help="the estimators' tol")
    ap.add_argument("--max-rounds", type=int, default=0, help="cutting-plane rounds")
    ap.add_argument("--mkl-max-iter", type=int, default=2, help="MKL steps per round")
    args = ap.parse_args()
    main(args.n, args.d, args.parts, args.workers, args.tol, args.max_rounds,
         args.mkl_max_iter)
