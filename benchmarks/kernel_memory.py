"""Peak memory of the kernel path of each kernel estimator, in n x n float64 arrays.

The figures behind ``solver="auto"`` (``_KERNEL_ARRAYS`` of SVM+ / L2-SVM+, KMM's kernel
solver, and the bound :data:`webly.kernels.KERNEL_FIT_ARRAYS` the other kernel estimators are
checked against): the ``tracemalloc`` peak of one ``fit`` (kernels included, inputs excluded)
divided by ``8 n^2``, on a binary problem (20 features; 5-d privileged features; bags of 10,
half of them positive; the multi-source methods: 3 equal sources of the rows and ``n / 10``
unlabelled target rows, ``n`` counting both), after a small fit that loads the compiled code.
First at n = 3,000 (every estimator), then at n = 10,000, where the solvers' working sets (a
fixed size, not n x n) no longer weigh: the sizes where the choice of path matters. Run:
``python benchmarks/kernel_memory.py [n] [n_big]``.
"""

import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import webly  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.kernels import KERNEL_FIT_ARRAYS  # noqa: E402
from webly.weighting import KMM_ALM_ARRAYS, KMM_KERNEL_ARRAYS, kmm_weights  # noqa: E402

#: name, estimator, parameters, inputs: "priv" (X_priv), "bags", "target" (X_target),
#: "sources" (sources + X_target)
CASES = [
    ("SVM+", webly.SVMPlusClassifier, {"solver": "smo"}, ("priv",)),
    ("SVM+ without X_priv", webly.SVMPlusClassifier, {"solver": "smo"}, ()),
    ("L2-SVM+ (linear privileged kernel)", webly.L2SVMPlusClassifier, {"solver": "smo"},
     ("priv",)),
    ("L2-SVM+ (RBF privileged kernel)", webly.L2SVMPlusClassifier,
     {"solver": "smo", "kernel_priv": "rbf"}, ("priv",)),
    ("L2-SVM+ without X_priv", webly.L2SVMPlusClassifier, {"solver": "smo"}, ()),
    ("sMIL", webly.SMILClassifier, {"solver": "smo"}, ("bags",)),
    ("sbMIL", webly.SbMILClassifier, {"solver": "smo"}, ("bags",)),
    ("sMIL-PI", webly.SMILPIClassifier, {"solver": "smo"}, ("priv", "bags")),
    ("sMIL-PI-DA", webly.SMILPIDAClassifier, {"solver": "smo"}, ("priv", "bags", "target")),
    ("mi-SVM", webly.MiSVMClassifier, {"solver": "smo", "rho": 0.6}, ("bags",)),
    ("MI-SVM", webly.MISVMClassifier, {"solver": "smo"}, ("bags",)),
    ("mi-SVM-PI", webly.MiSVMPIClassifier, {"solver": "smo"}, ("priv", "bags")),
    ("mi-SVM-PI-DA", webly.MiSVMPIDAClassifier, {"solver": "smo"}, ("priv", "bags", "target")),
    ("MIL-CPB", webly.MILCPBClassifier, {}, ("bags",)),
    ("MIL-CPB-PI", webly.MILCPBPIClassifier, {}, ("priv", "bags")),
    ("MIL-CPB-PI (hinge)", webly.MILCPBPIClassifier, {"loss": "hinge"}, ("priv", "bags")),
    ("MIL-CPB-PI-DA", webly.MILCPBPIDAClassifier, {}, ("priv", "bags", "target")),
    ("MDA-HS", webly.MDAHS, {"solver": "smo", "max_rounds": 2}, ("sources",)),
    ("MDA-HS+", webly.MDAHSPlus, {"solver": "smo", "max_rounds": 2}, ("priv", "sources")),
]
#: the estimators measured again at n_big
BIG = [c[0] for c in CASES if c[0] not in ("SVM+ without X_priv", "L2-SVM+ without X_priv")]


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n // 10), 10)
    y = bags % 2
    X = rng.normal(size=(n, 20)) + y[:, None] * (rng.random(n) < 0.6)[:, None]
    T = X[:, :5] + rng.normal(size=(n, 5))
    Xt = rng.normal(size=(n // 10, 20)) + 0.5
    return X, y, {"priv": {"X_priv": T}, "bags": {"bags": bags}, "target": {"X_target": Xt},
                  "sources": {"sources": bags % 3, "X_target": Xt}}


def peak_of(cls, params, X, y, kw):
    est = cls(**params)
    tracemalloc.start()
    t0 = time.perf_counter()
    est.fit(X, y, **kw)
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return est, peak, secs


def used_figure(est, kw):
    """The figure ``solver="auto"`` uses for this fit (one binary problem)."""
    if hasattr(est, "_kernel_fit_arrays"):
        return est._kernel_fit_arrays("X_priv" in kw, "X_target" in kw)
    return KERNEL_FIT_ARRAYS


def table(n, names):
    X, y, inputs = data(n)
    for name, cls, params, needs in CASES:
        if name not in names:
            continue
        kw = {k: v for need in needs for k, v in inputs[need].items()}
        rows = len(y) + (len(kw["X_target"]) if "sources" in needs else 0)
        small = {k: (v[:200] if k != "X_target" else v[:20]) for k, v in kw.items()}
        cls(**params).fit(X[:200], y[:200], **small)
        est, peak, secs = peak_of(cls, params, X, y, kw)
        print(f"| {name} | {rows:,} | {peak / 1e9:.3f} | {peak / (8.0 * rows * rows):.2f} | "
              f"{used_figure(est, kw):g} | {secs:.1f} |", flush=True)
    if "KMM" not in names:
        return
    # KMM's QP (the weights of the -DA baseline KMM-SVM): cvxpy / Clarabel, and the kernel solver
    Xt = X[: n // 3] + 0.5
    for name, solver, used in (("KMM QP, cvxpy (Clarabel)", "CLARABEL", KMM_KERNEL_ARRAYS),
                               ("KMM QP, solver='kernel' (auto)", "kernel", KMM_ALM_ARRAYS)):
        kmm_weights(X[:200], Xt[:50], solver=solver)
        tracemalloc.start()
        t0 = time.perf_counter()
        kmm_weights(X, Xt, solver=solver)
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"| {name}, n_t = {len(Xt):,} | {n:,} | {peak / 1e9:.3f} | "
              f"{peak / (8.0 * n * n):.2f} | {used:g} | {secs:.1f} |", flush=True)


def main(n, big):
    print("### Peak memory of a kernel fit (binary; tracemalloc, kernels included)")
    print()
    print("| estimator | n (rows, + target rows for MDA-HS) | peak GB | peak / (n^2 x 8 bytes) | "
          "figure webly uses | fit s |")
    print("|---|---|---|---|---|---|")
    table(n, {c[0] for c in CASES} | {"KMM"})
    table(big, set(BIG))
    print()
    print("Each kernel estimator's solver=\"auto\" checks its own figure (the column; "
          "webly.kernels.ovr_fit_arrays counts it once per one-vs-rest problem solved at once, "
          f"n_jobs threads), the n = {big:,} peak rounded up; an estimator without one is "
          f"checked against KERNEL_FIT_ARRAYS = {KERNEL_FIT_ARRAYS}. At n = {n:,} the SMO's "
          "working set (a dense Hessian of up to 2,000-4,000 variables and a Newton step's "
          "copies: up to 0.4 GB, not n x n) is a large share of the peak; the n = "
          f"{big:,} rows show the figures where the choice of path matters.")
    print(machine_line(["numpy", "scipy", "scikit-learn"]))


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
