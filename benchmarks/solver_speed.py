"""Solver speed: libsvm vs webly's SMO (SVM, SVM+) vs cvxpy/Clarabel on one RBF kernel QP.

Run ``python benchmarks/solver_speed.py [--no-clarabel] [--cpu-time] [--no-svmplus]
[--no-float32] [--only-float32] [--only-svmplus] [--quick] [n ...]`` (default n = 1000 2000 5000;
``--no-clarabel`` skips the slow cvxpy column; ``--cpu-time`` times with the process CPU clock
instead of the wall clock, for machines shared with other jobs: every solve here is
single-threaded, so on a quiet machine both clocks agree).
A second section (:func:`svmplus_section`, skipped by ``--no-svmplus``; ``--quick`` runs it small)
compares SVM+ with libsvm at n = 1,000 to 10,000 on two problems, min of 3, and reports the peak
memory of ``SVMPlusClassifier().fit`` at n = 10,000 (``--only-svmplus`` runs it alone). A third (:func:`float32_section`, skipped by
``--no-float32``; ``--only-float32`` runs it alone: 11 minutes wall and 3.2 GB peak RSS on 2
cores at load average 7-8, 250 s of CPU; ``--quick`` runs it small) puts SVM+ with float32
kernels (``kernel_dtype="float32"``) beside float64 and libsvm on the same two problems at
n = 5,000 and 10,000. For each n of the first table, on the same data and the same precomputed
RBF kernel (bandwidth rule 1 / mean squared distance):

* ``SVC``: ``sklearn.svm.SVC(kernel="precomputed", C=1, tol=1e-3).fit(K, y)`` (libsvm);
* ``SMO``: ``smo_solve(svm_qp(K, y, C=1), tol=5e-4)`` (our KKT tolerance 5e-4 is libsvm's
  stopping gap 1e-3);
* ``SMO+``: ``smo_solve(svmplus_qp(K, y, K~, C=1, gamma_plus=1), tol=5e-4)`` with K~ the linear
  kernel of 50-d privileged "tag" features;
* ``Clarabel``: the cvxpy reference of the SVM dual (n <= 2000 only).

Times are solve times only (kernels precomputed, numba code loaded before timing; the SMO moves
column gives the SMO+ Newton steps in brackets). ``mem``
columns are the peak memory allocated during the solve (tracemalloc, numpy included) divided by
the bytes of the kernel matrices the solve was given. Data: two Gaussian classes in 20-d with 30%
of one class carrying the other web label; the tags flag each row's true class, plus noise.
"""

import os
import sys
import time
import tracemalloc
import warnings

import numpy as np

from webly.experiments.benchmarks import machine_line


def make_data(n, seed=0, d=20, d_priv=50):
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, d))
    X[:, :2] += y_true[:, None]
    y = y_true.copy()
    y[(y_true == -1) & (rng.random(n) < 0.3)] = 1
    T = np.zeros((n, d_priv))
    T[:, 0] = y_true == 1
    T[:, 1] = y_true == -1
    T += 0.3 * np.abs(rng.normal(size=(n, d_priv)))
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y, T


CLOCK = time.perf_counter


def clocked(fn):
    """``(seconds, None, result)`` of ``fn()``, as :func:`timed` but without ``tracemalloc``,
    which taxes every allocation: it slowed issue 19's SVM+ solve at n = 5,000 by ~12% and
    libsvm's by ~3% (2026-12-07), so the time tables that report no memory do not run under it."""
    t0 = CLOCK()
    out = fn()
    return CLOCK() - t0, None, out


def timed(fn):
    tracemalloc.start()
    t0 = CLOCK()
    out = fn()
    dt = CLOCK() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dt, peak, out



def main(sizes, clarabel=True):
    from sklearn.svm import SVC

    from webly.kernels import gaussian_kernel, linear_kernel
    from webly.solvers import smo_solve, svm_qp, svmplus_qp
    from webly.solvers.reference import reference_solve

    warnings.simplefilter("ignore")
    X, y, T = make_data(1200)  # load the numba code (working sets, Newton steps)
    smo_solve(svmplus_qp(gaussian_kernel(X), y, linear_kernel(T)))
    smo_solve(svm_qp(gaussian_kernel(X), y))
    print(machine_line(["numpy", "scipy", "scikit-learn", "numba", "cvxpy"]))
    print(f"clock: {'process CPU time' if CLOCK is time.process_time else 'wall time'}")
    print()
    print("| n | SVC (libsvm) s | SMO s | SMO / SVC | SMO+ (X_priv) s | SMO+ / SVC | Clarabel s "
          "| SMO mem / K | SMO+ mem / (K + K~) | SMO moves | SMO+ moves |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in sizes:
        X, y, T = make_data(n)
        K = gaussian_kernel(X)
        Kp = linear_kernel(T)
        t_svc, _, svc = timed(lambda: SVC(C=1.0, kernel="precomputed", tol=1e-3).fit(K, y))
        t_smo, m_smo, (_, info) = timed(lambda: smo_solve(svm_qp(K, y, C=1.0), tol=5e-4))
        t_plus, m_plus, (_, info_p) = timed(
            lambda: smo_solve(svmplus_qp(K, y, Kp, C=1.0, gamma_plus=1.0), tol=5e-4))
        t_cvx = "-"
        if clarabel and n <= 2000:
            t_cvx = f"{timed(lambda: reference_solve(svm_qp(K, y, C=1.0), eps=1e-8))[0]:.2f}"
        print(f"| {n} | {t_svc:.3f} | {t_smo:.3f} | {t_smo / t_svc:.1f}x | {t_plus:.2f} | "
              f"{t_plus / t_svc:.1f}x | {t_cvx} | {m_smo / K.nbytes:.2f} | "
              f"{m_plus / (K.nbytes + Kp.nbytes):.2f} | {info['n_iter']} | {info_p['n_iter']} "
              f"({info_p.get('n_newton', 0)}) |",
              flush=True)
        rows.append((n, t_svc, t_smo, t_plus, None if t_cvx == "-" else float(t_cvx)))
    figure(rows)


def make_hard(n):
    """The harder problem of issue 19: ``make_classification(n, 20 features, 10 informative,
    flip_y=0.1)``, privileged features = the first 10 features plus unit Gaussian noise."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=20, n_informative=10, flip_y=0.1,
                               random_state=0)
    X_priv = X[:, :10] + np.random.default_rng(0).normal(size=(n, 10))
    return X, np.where(y > 0, 1.0, -1.0), X_priv


def svmplus_section(sizes, hard_sizes, memory_n, reps=3):
    """SVM+ against libsvm (issue 19): solve times side by side, min of ``reps``, then the peak
    memory of ``SVMPlusClassifier().fit``.

    Web data: ``make_data(n, d=64, d_priv=20)``, RBF kernel (bandwidth rule) on X, linear kernel
    on the 20-d privileged features; hard data: :func:`make_hard`, RBF ``gamma = 1/40`` on X,
    linear kernel on its 10-d privileged features. ``C = 1``, ``gamma_plus = 1``; libsvm is
    ``SVC(kernel="precomputed", C=1, tol=1e-3)``, our SMO runs at KKT tolerance 5e-4 (the same
    stopping gap); kernels are computed before timing. SVM+ is solved twice: by the
    decomposition alone (the privileged kernel as a matrix, as before issue 19's active-set
    start), and as :class:`~webly.SVMPlusClassifier` solves it with a linear privileged kernel
    (the privileged features as the block's factor: the primal-dual active-set start of
    :mod:`webly.solvers.pdas`, then the decomposition's KKT check). Each repetition times the
    four solves in turn on the same kernels; times are on ``CLOCK`` (wall clock, or process CPU
    time with ``--cpu-time``), not under ``tracemalloc`` (:func:`clocked`).
    """
    from sklearn.svm import SVC

    from webly.solvers import smo_solve, svm_qp, svmplus_qp
    from webly.svmplus import SVMPlusClassifier

    print()
    print(f"### SVM+ vs libsvm (min of {reps}, solve times only)")
    print()
    print("| problem | n | libsvm (SVC, precomputed K) s | SMO (SVM) s | SMO+ decomposition "
          "only s | SMO+ with the active-set start s | SMO+ / libsvm | active-set rounds, "
          "moves | objective: decomposition / active-set start |")
    print("|---|---|---|---|---|---|---|---|---|")
    cases = [("web, 64-d X, 20-d X_priv", n) for n in sizes]
    cases += [("hard (make_classification)", n) for n in hard_sizes]
    for name, n in cases:
        X, y, T, K, Kp = case_kernels(name, n)
        times = {"svc": [], "smo": [], "dec": [], "plus": []}
        for _ in range(reps):
            times["svc"].append(clocked(lambda: SVC(C=1.0, kernel="precomputed",
                                                  tol=1e-3).fit(K, y))[0])
            times["smo"].append(clocked(lambda: smo_solve(svm_qp(K, y, C=1.0), tol=5e-4))[0])
            # SVM+ as before (no factor: decomposition alone), then SVMPlusClassifier's solve
            # with a linear privileged kernel (its features as the block's factor)
            dt, _, (_, info_d) = clocked(
                lambda: smo_solve(svmplus_qp(K, y, Kp, C=1.0, gamma_plus=1.0), tol=5e-4))
            times["dec"].append(dt)
            dt, _, (_, info) = clocked(
                lambda: smo_solve(svmplus_qp(K, y, Kp, C=1.0, gamma_plus=1.0, factor=T),
                                  tol=5e-4))
            times["plus"].append(dt)
        t = {k: min(v) for k, v in times.items()}
        print(f"| {name} | {n} | {t['svc']:.3f} | {t['smo']:.3f} | {t['dec']:.3f} | "
              f"{t['plus']:.3f} | {t['plus'] / t['svc']:.1f}x | "
              f"{info['n_active_set_rounds']}, {info['n_iter']} | "
              f"{info_d['objective']:.10g} / {info['objective']:.10g} |", flush=True)
        K = Kp = None  # free the kernels before the next size
    if memory_n:
        X, y, T = make_data(memory_n, d=64, d_priv=20)
        SVMPlusClassifier().fit(X[:200], y[:200], X_priv=T[:200])  # compiled code loaded
        tracemalloc.start()
        SVMPlusClassifier().fit(X, y, X_priv=T)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        unit = 8.0 * memory_n ** 2
        print()
        print(f"Peak memory of `SVMPlusClassifier().fit` (RBF + linear privileged kernel) at "
              f"n = {memory_n}: {peak / 1e9:.2f} GB = {peak / unit:.2f} n^2 x 8 bytes "
              f"(tracemalloc, kernels included; the two float64 kernels are 2.00 n^2 x 8 bytes; "
              f"bound of issue 19: 2.2 n^2 x 8 bytes + 0.3 GB = {(2.2 * unit + 3e8) / 1e9:.2f} GB)")


def case_kernels(name, n, dtype=np.float64):
    """Rows and kernels of one case of :func:`svmplus_section`: ``(X, y, X_priv, K, K~)``."""
    from webly.kernels import gaussian_kernel, linear_kernel

    if name.startswith("web"):
        X, y, T = make_data(n, d=64, d_priv=20)
        return X, y, T, gaussian_kernel(X, dtype=dtype), linear_kernel(T, dtype=dtype)
    X, y, T = make_hard(n)
    return X, y, T, gaussian_kernel(X, gamma=1.0 / 40.0, dtype=dtype), linear_kernel(T, dtype=dtype)


def float32_section(sizes, memory_n, reps=3):
    """SVM+ with float32 kernels (``kernel_dtype="float32"``, issue 19 item 2) beside float64
    and libsvm: the cases of :func:`svmplus_section` at ``sizes`` on both problems, min of
    ``reps``, each repetition timing libsvm, the float64 and the float32 solve in turn.

    The float32 kernels are computed as ``SVMPlusClassifier(kernel_dtype="float32")`` computes
    them (float64 row blocks rounded once). Columns: solve seconds; the float32 objective's
    relative difference from the float64 one (both are the exact dual objective of their own
    kernels at KKT tolerance 5e-4); moves (Newton steps); the share of the n training rows whose
    predicted label (sign of ``K(a o y) + b``, float64 K) is the same for both solutions. Then
    the peak memory (tracemalloc, kernels included) of ``SVMPlusClassifier(kernel_dtype=...)
    .fit`` at ``memory_n`` on each problem.
    """
    from sklearn.svm import SVC

    from webly.solvers import kernel_matvec, smo_solve, svmplus_qp
    from webly.svmplus import SVMPlusClassifier

    for dtype in (np.float64, np.float32):  # load both variants of the numba code
        X, y, T, K, Kp = case_kernels("web", 1200, dtype)
        smo_solve(svmplus_qp(K, y, Kp), kernel_dtype=dtype)
    print()
    print(f"### SVM+ with float32 kernels (`kernel_dtype`; min of {reps}, solve times only)")
    print()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print()
    print("| problem | n | libsvm s | SMO+ float64 s | SMO+ float32 s | float32 / float64 "
          "| float64 / libsvm | float32 / libsvm | moves float64 (Newton) | moves float32 (Newton) "
          "| objective float64 | objective rel. diff. | same predicted label |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = ["web, 64-d X, 20-d X_priv", "hard (make_classification)"]
    for name in names:
        for n in sizes:
            X, y, T, K, Kp = case_kernels(name, n)
            K32, Kp32 = case_kernels(name, n, np.float32)[3:]
            times = {"svc": [], "f64": [], "f32": []}
            for _ in range(reps):
                times["svc"].append(timed(lambda: SVC(C=1.0, kernel="precomputed",
                                                      tol=1e-3).fit(K, y))[0])
                dt, _, (x64, i64) = timed(
                    lambda: smo_solve(svmplus_qp(K, y, Kp, C=1.0, gamma_plus=1.0), tol=5e-4))
                times["f64"].append(dt)
                dt, _, (x32, i32) = timed(
                    lambda: smo_solve(svmplus_qp(K32, y, Kp32, C=1.0, gamma_plus=1.0), tol=5e-4,
                                      kernel_dtype="float32"))
                times["f32"].append(dt)
            t = {k: min(v) for k, v in times.items()}
            o64, o32 = i64["objective"], i32["objective"]
            labels = [np.sign(kernel_matvec(K, x[:n] * y) + i["multipliers"][0])
                      for x, i in ((x64, i64), (x32, i32))]
            print(f"| {name} | {n} | {t['svc']:.3f} | {t['f64']:.3f} | {t['f32']:.3f} | "
                  f"{t['f32'] / t['f64']:.2f} | {t['f64'] / t['svc']:.1f}x | "
                  f"{t['f32'] / t['svc']:.1f}x | {i64['n_iter']} ({i64['n_newton']}) | "
                  f"{i32['n_iter']} ({i32['n_newton']}) | {o64:.10g} | "
                  f"{abs(o32 - o64) / abs(o64):.1e} | {np.mean(labels[0] == labels[1]):.4f} |",
                  flush=True)
            K = Kp = K32 = Kp32 = None  # free the kernels before the next case
    print()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    # how far apart the two optima are (not the solves' stopping points): both solved tightly
    n_tight = min(sizes[0], 2000)
    diffs = []
    for name in names:
        X, y, T, K, Kp = case_kernels(name, n_tight)
        K32, Kp32 = case_kernels(name, n_tight, np.float32)[3:]
        o64 = smo_solve(svmplus_qp(K, y, Kp), tol=1e-7)[1]["objective"]
        o32 = smo_solve(svmplus_qp(K32, y, Kp32), tol=1e-7, kernel_dtype="float32")[1]["objective"]
        diffs.append(f"{name.split(',')[0].split(' (')[0]} {abs(o32 - o64) / abs(o64):.1e}")
    print()
    print(f"Optima, not stopping points: at n = {n_tight}, both solved to KKT tolerance 1e-7, the "
          f"float32 objective differs from the float64 one by (relative) {'; '.join(diffs)}.")
    if not memory_n:
        return
    unit = 8.0 * memory_n ** 2
    print()
    print(f"Peak memory of `SVMPlusClassifier(kernel_dtype=...).fit` (RBF + linear privileged "
          f"kernel, tracemalloc, kernels included) at n = {memory_n}, in n^2 x 8 bytes (bound of "
          f"issue 19: 2.2 n^2 x 8 bytes + 0.3 GB = {(2.2 * unit + 3e8) / 1e9:.2f} GB):")
    print()
    for name in names:
        X, y, T = make_data(memory_n, d=64, d_priv=20) if name.startswith("web") else \
            make_hard(memory_n)
        gamma = None if name.startswith("web") else 1.0 / 40.0
        peaks = {}
        for dtype in ("float64", "float32"):
            SVMPlusClassifier(gamma=gamma, kernel_dtype=dtype).fit(X[:200], y[:200],
                                                                   X_priv=T[:200])
            tracemalloc.start()
            SVMPlusClassifier(gamma=gamma, kernel_dtype=dtype).fit(X, y, X_priv=T)
            peaks[dtype] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        print(f"- {name}: float64 {peaks['float64'] / 1e9:.2f} GB = "
              f"{peaks['float64'] / unit:.2f}; float32 {peaks['float32'] / 1e9:.2f} GB = "
              f"{peaks['float32'] / unit:.2f}", flush=True)


def figure(rows):
    """Solver time vs n (log-log) into $WEBLY_FIGURE_DIR, linked in the markdown output."""
    fig_dir, link = os.environ.get("WEBLY_FIGURE_DIR"), os.environ.get("WEBLY_FIGURE_LINK")
    if not fig_dir or not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for k, label in ((1, "SVC (libsvm)"), (2, "SMO (SVM)"), (3, "SMO+ (SVM+, 50-d X_priv)")):
        ax.plot(n, [r[k] for r in rows], marker="o", label=label)
    cvx = [(r[0], r[4]) for r in rows if r[4] is not None]
    if cvx:
        ax.plot(*zip(*cvx), marker="s", linestyle="--", label="cvxpy / Clarabel (SVM)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training rows n")
    ax.set_ylabel("solve seconds")
    ax.set_title("kernel QP solve time vs n (RBF kernel)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(fig_dir, exist_ok=True)
    fig.savefig(os.path.join(fig_dir, "solver_time_vs_n.png"), dpi=110, metadata={"Software": None})
    print(f"\n![solver time vs n]({link}/solver_time_vs_n.png)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--cpu-time" in args:
        CLOCK = time.process_time
    quick = "--quick" in args
    if "--only-svmplus" in args:
        print(machine_line(["numpy", "scipy", "scikit-learn", "numba"]))
        print(f"clock: {'process CPU time' if CLOCK is time.process_time else 'wall time'}")
        svmplus_section([1000, 2000] if quick else [1000, 2000, 5000, 10000],
                        [2000] if quick else [5000, 10000], 2000 if quick else 10000,
                        reps=1 if quick else 3)
        sys.exit(0)
    if "--only-float32" not in args:
        main([int(a) for a in args if not a.startswith("-")] or [1000, 2000, 5000],
             clarabel="--no-clarabel" not in args)
        if "--no-svmplus" not in args:
            svmplus_section([1000, 2000] if quick else [1000, 2000, 5000, 10000],
                            [2000] if quick else [5000, 10000], 2000 if quick else 10000,
                            reps=1 if quick else 3)
    if "--no-float32" not in args:
        if "--only-float32" in args:
            print(machine_line(["numpy", "scipy", "scikit-learn", "numba"]))
            print(f"clock: {'process CPU time' if CLOCK is time.process_time else 'wall time'}")
        float32_section([1000, 2000] if quick else [5000, 10000], 2000 if quick else 10000,
                        reps=1 if quick else 3)
