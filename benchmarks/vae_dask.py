"""The VAE family on crawl-scale rows streamed from Dask partitions: fit seconds, peak memory, accuracy.

Run from the repository root: ``python benchmarks/vae_dask.py [--n 100000] [--parts 10]
[--where dask|memory] [--epochs 10] [--threads K]``; without arguments it prints the table of
BENCHMARKS.md
(:data:`TABLE`, each setting in its own process, so that each has its own peak memory).

Data: :func:`webly.crawl_scale.make_web_crawl` (512 float32 features, 100 queries, 30% wrong rows
of which 30% off-manifold junk, seed 0), generated in this process (its peak is printed after
generating; the fit's peak includes it). ``--where dask`` hands the rows to the fit as a Dask array
of ``--parts`` row partitions (``dask.array.from_array`` over the generated array, threaded
scheduler): the fit streams them, at most two partitions' training rows in memory at once
(:meth:`webly.semantic.VAEWeightedClassifier.fit` on Dask input), and the peak shows what the
fit adds beyond the data. ``--where memory`` fits the array itself.

Model: :class:`webly.semantic.VAEWeightedClassifier` (the VAE weighting without semantics: the
crawl's queries ``c0..c99`` have no word vectors) with 512 hidden units, batch 1024,
``--epochs`` epochs (early stopping on the 10% hold-out at its default patience), on the CPU
with ``--threads`` torch threads (default: torch's own setting, which the benchmarks command
pins to 1); the table's 10^6-row fit uses both cores of this 2-core machine (2 threads; one
thread took 695.7 s in the previous table, commit 4e637e5), and a 10^5-row fit on 2 threads shows what the second
thread buys. Accuracy: on the 10,000 clean test rows.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--parts", type=int, default=10)
    p.add_argument("--where", choices=["dask", "memory"], default="dask")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    import dask
    import dask.array as da
    import torch

    from webly.semantic import VAEWeightedClassifier

    if args.threads:
        torch.set_num_threads(args.threads)
    ds = make_web_crawl(args.n, random_state=0)
    print(f"data: {ds.X.shape} {ds.X.dtype}; peak RSS after generating {peak_gb():.2f} GB; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    X = ds.X
    if args.where == "dask":
        X = da.from_array(ds.X, chunks=(-(-args.n // args.parts), -1))
    est = VAEWeightedClassifier(hidden_size=512, batch_size=1024, max_epochs=args.epochs,
                                random_state=0)
    with dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        est.fit(X, ds.y)
        secs = time.perf_counter() - t0
    acc = float(np.mean(est.predict(ds.X_test) == ds.y_test))
    epochs = f"{est.n_epochs_} (best {est.best_epoch_})"
    print(f"VAEWeightedClassifier ({args.where}): fit {secs:.1f} s, peak RSS {peak_gb():.2f} GB, "
          f"epochs {epochs}, clean test accuracy {acc:.3f}", flush=True)
    print("RESULT " + json.dumps({"n": args.n, "where": args.where, "parts": args.parts,
                                  "seconds": secs, "peak": peak_gb(), "epochs": epochs,
                                  "accuracy": acc, "threads": torch.get_num_threads()}), flush=True)


#: (rows, where, torch threads): the settings of the table
TABLE = [(100_000, "memory", 1), (100_000, "dask", 1), (100_000, "dask", 2),
         (1_000_000, "dask", 2)]


def table():
    print("### VAE weighting on rows streamed from Dask partitions (`make_web_crawl`)")
    print()
    print("`VAEWeightedClassifier(hidden_size=512, batch_size=1024, max_epochs=10)`, "
          "`make_web_crawl(n)` (512 float32 features, 100 queries, 30% wrong rows, seed 0); "
          "Dask: 10 row partitions, threaded scheduler, streamed by the fit. Peak = the "
          "process's peak resident memory, the generated data included (X alone: 0.2 GB at "
          "10^5 rows, 2.0 GB at 10^6). Accuracy on the 10,000 clean test rows (chance 0.01).")
    print()
    print("| rows | rows given as | torch threads | fit s | peak RSS GB | epochs run (kept) | "
          "clean test accuracy |")
    print("|---|---|---|---|---|---|---|")
    for n, where, threads in TABLE:
        out = subprocess.run([sys.executable, __file__, "--n", str(n), "--where", where,
                              "--threads", str(threads)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        what = "numpy array" if where == "memory" else f"Dask, {r['parts']} partitions"
        print(f"| {n:,} | {what} | {r['threads']} | {r['seconds']:.1f} | {r['peak']:.2f} | "
              f"{r['epochs']} | {r['accuracy']:.3f} |", flush=True)
    print()
    print(machine_line(["numpy", "torch", "dask"], note="torch threads as in the table; "))


if __name__ == "__main__":
    if len(sys.argv) == 1:
        table()
    else:
        main()
