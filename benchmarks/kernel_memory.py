"""Peak memory of the kernel path of each kernel estimator, in n x n float64 arrays.

The figures behind ``solver="auto"`` (``_KERNEL_ARRAYS`` of SVM+ / L2-SVM+, KMM's two kernel
solvers, and the bound :data:`webly.kernels.KERNEL_FIT_ARRAYS` the other kernel estimators are
checked against): the
``tracemalloc`` peak of one ``fit`` (kernels included, inputs excluded) divided by ``8 n^2``, on
a binary problem of n = 3,000 rows (20 features; 5-d privileged features; bags of 10), after a
small fit that loads the compiled code. Run: ``python benchmarks/kernel_memory.py [n]``.
"""

import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import webly  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.kernels import KERNEL_FIT_ARRAYS  # noqa: E402


def main(n):
    rng = np.random.default_rng(0)
    bags = np.repeat(np.arange(n // 10), 10)
    y = bags % 2
    X = rng.normal(size=(n, 20)) + y[:, None] * (rng.random(n) < 0.6)[:, None]
    T = X[:, :5] + rng.normal(size=(n, 5))
    cases = [("SVM+", webly.SVMPlusClassifier, {"solver": "smo"}, True, False),
             ("SVM+ without X_priv", webly.SVMPlusClassifier, {"solver": "smo"}, False, False),
             ("L2-SVM+ (linear privileged kernel)", webly.L2SVMPlusClassifier,
              {"solver": "smo"}, True, False),
             ("L2-SVM+ (RBF privileged kernel)", webly.L2SVMPlusClassifier,
              {"solver": "smo", "kernel_priv": "rbf"}, True, False),
             ("L2-SVM+ without X_priv", webly.L2SVMPlusClassifier, {"solver": "smo"}, False,
              False),
             ("sMIL", webly.SMILClassifier, {"solver": "smo"}, False, True),
             ("sMIL-PI", webly.SMILPIClassifier, {"solver": "smo"}, True, True),
             ("mi-SVM", webly.MiSVMClassifier, {"solver": "smo", "rho": 0.6}, False, True),
             ("mi-SVM-PI", webly.MiSVMPIClassifier, {"solver": "smo"}, True, True),
             ("MIL-CPB-PI", webly.MILCPBPIClassifier, {}, True, True)]
    print(f"### Peak memory of a kernel fit (binary, n = {n:,}; tracemalloc, kernels included)")
    print()
    print("| estimator | peak GB | peak / (n^2 x 8 bytes) | figure webly uses |")
    print("|---|---|---|---|")
    for name, cls, params, priv, mil in cases:
        kw = {"X_priv": T} if priv else {}
        if mil:
            kw["bags"] = bags
        cls(**params).fit(X[:200], y[:200], **{k: v[:200] for k, v in kw.items()})
        est = cls(**params)
        tracemalloc.start()
        est.fit(X, y, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        used = est._kernel_arrays(priv) if hasattr(est, "_kernel_arrays") else KERNEL_FIT_ARRAYS
        print(f"| {name} | {peak / 1e9:.3f} | {peak / (8.0 * n * n):.2f} | {used:g} |",
              flush=True)
    # KMM's QP (the weights of the -DA baseline KMM-SVM): cvxpy / Clarabel, and solver="kernel"
    from webly.weighting import KMM_ALM_ARRAYS, KMM_KERNEL_ARRAYS, kmm_weights

    Xt = X[: n // 3] + 0.5
    for name, solver, used in (("KMM QP, cvxpy (Clarabel)", "CLARABEL", KMM_KERNEL_ARRAYS),
                               ("KMM QP, solver='kernel'", "kernel", KMM_ALM_ARRAYS)):
        kmm_weights(X[:200], Xt[:50], solver=solver)
        tracemalloc.start()
        kmm_weights(X, Xt, solver=solver)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"| {name} (n_t = {len(Xt):,}) | {peak / 1e9:.3f} | {peak / (8.0 * n * n):.2f} | "
              f"{used:g} |", flush=True)
    # the SMO's dense working set is capped (4,000 variables): a fixed share, large next to
    # small kernels; the SVM+ and L2-SVM+ figures are those at n = 10,000 (the sizes where the
    # choice matters)
    big = 10_000
    Xb = np.random.default_rng(1).normal(size=(big, 20))
    yb = (Xb[:, 0] > 0).astype(int)
    Tb = Xb[:, :5] + np.random.default_rng(2).normal(size=(big, 5))
    for name, cls, params in [("SVM+", webly.SVMPlusClassifier, {}),
                              ("L2-SVM+ (linear privileged kernel)", webly.L2SVMPlusClassifier, {}),
                              ("L2-SVM+ (RBF privileged kernel)", webly.L2SVMPlusClassifier,
                               {"kernel_priv": "rbf"})]:
        tracemalloc.start()
        est = cls(solver="smo", **params).fit(Xb, yb, X_priv=Tb)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"| {name} at n = {big:,} | {peak / 1e9:.3f} | {peak / (8.0 * big * big):.2f} | "
              f"{est._kernel_arrays(True):g} |", flush=True)
    print()
    print(f"The MIL estimators are checked against the bound KERNEL_FIT_ARRAYS = "
          f"{KERNEL_FIT_ARRAYS}; a one-vs-rest fit with n_jobs > 1 holds one set of working "
          "arrays per thread. At n = 3,000 the SMO's working set (a dense Hessian of up to "
          "2,000-4,000 variables and a Newton step's copies: a fixed size, not n x n) is a "
          "large share of the peak; SVM+'s and L2-SVM+'s figures are those at n = 10,000.")
    print(machine_line(["numpy", "scipy", "scikit-learn"]))


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
