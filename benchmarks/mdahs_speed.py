"""Speed of MDA-HS: 3 sources x 1,000 rows + 2,000 target rows, 10 classes (goal: <= 120 s).

Digits as domains (``webly.multisource.datasets.load_digit_domains``): sources USPS, optdigits
and mfeat with 100 rows per digit each, target MNIST with 200 rows per digit; 256 pixel
features, Gaussian kernels, one-vs-rest over the 10 digits on ``--n-jobs`` threads.

Run from the repository root::

    python benchmarks/mdahs_speed.py [--n-jobs 2] [--seed 0]

Prints the fit time, the target accuracy and the learned source weights of MDA-HS, beside the
pooled SVM and the uniform average of source classifiers.
"""

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from webly.baselines import SVMClassifier  # noqa: E402
from webly.multisource import MDAHS, UniformSourcesClassifier  # noqa: E402
from webly.multisource.datasets import load_digit_domains  # noqa: E402

BUDGET_SECONDS = 120.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ds = load_digit_domains("mnist", source_per_class=100, target_per_class=200,
                            random_state=args.seed)
    print(f"{ds.summary()}")
    rows = []
    for name, est, kw in [
        ("pooled-SVM", SVMClassifier(n_jobs=args.n_jobs), {}),
        ("uniform-sources", UniformSourcesClassifier(n_jobs=args.n_jobs), {"sources": ds.source}),
        ("MDA-HS", MDAHS(n_jobs=args.n_jobs), {"sources": ds.source, "X_target": ds.X_test}),
    ]:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(ds.X, ds.y, **kw)
        fit_s = time.perf_counter() - t0
        acc = float((est.predict(ds.X_test) == ds.y_test).mean())
        n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        rows.append((name, fit_s, acc, n_warn))
        print(f"{name:16s} fit {fit_s:7.1f} s   target accuracy {acc:.3f}   "
              f"convergence warnings {n_warn}", flush=True)
        if name == "MDA-HS":
            weights = ", ".join(f"{s} {w:.3f}" for s, w in est.source_weights_.items())
            print(f"{'':16s} source weights: {weights}; cutting-plane rounds "
                  f"{est.n_iter_.tolist()}")
    mdahs_s = rows[-1][1]
    ok = mdahs_s <= BUDGET_SECONDS
    print(f"MDA-HS fit {mdahs_s:.1f} s {'<=' if ok else '>'} budget {BUDGET_SECONDS:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
