"""Generating a crawl-scale web set: seconds and peak memory of ``webly.crawl_scale.make_web_crawl``
at 10^5 and 10^6 rows x 512 float32 features (+ 50-d text), seed 0.

Run from the repository root: ``python benchmarks/crawl_scale.py [--sizes 100000 1000000]``
(about half a minute and 3 GB at 10^6 on 2 cores). Peak memory by tracemalloc (numpy's
allocations), the output arrays included.
"""

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webly.crawl_scale import make_web_crawl  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = p.parse_args(argv)
    print("### Crawl-scale generator (`make_web_crawl`, 512 features, 50-d text, seed 0)")
    print()
    print("| rows | seconds | peak memory GB | X GB | wrong rows |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        tracemalloc.start()
        t0 = time.perf_counter()
        ds = make_web_crawl(n, random_state=0)
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"| {n:,} | {secs:.1f} | {peak / 1e9:.2f} | {ds.X.nbytes / 1e9:.2f} | "
              f"{ds.is_noisy.mean():.1%} |", flush=True)
        del ds
    print()
    print(machine_line(["numpy"]))


if __name__ == "__main__":
    main()
