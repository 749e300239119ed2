"""Solver speed: libsvm vs webly's SMO (SVM, SVM+) vs cvxpy/Clarabel on one RBF kernel QP.

Run ``python benchmarks/solver_speed.py [--no-clarabel] [--cpu-time] [n ...]`` (default n = 1000
2000 5000; ``--no-clarabel`` skips the slow cvxpy column; ``--cpu-time`` times with the process
CPU clock instead of the wall clock, for machines shared with other jobs: every solve here is
single-threaded, so on a quiet machine both clocks agree). For each n, on
the same data and the same precomputed RBF kernel (bandwidth rule 1 / mean squared distance):

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


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1, -1)
    X = rng.normal(size=(n, 20))
    X[:, :2] += y_true[:, None]
    y = y_true.copy()
    y[(y_true == -1) & (rng.random(n) < 0.3)] = 1
    T = np.zeros((n, 50))
    T[:, 0] = y_true == 1
    T[:, 1] = y_true == -1
    T += 0.3 * np.abs(rng.normal(size=(n, 50)))
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y, T


CLOCK = time.perf_counter


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
    main([int(a) for a in args if not a.startswith("-")] or [1000, 2000, 5000],
         clarabel="--no-clarabel" not in args)
