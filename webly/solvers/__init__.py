"""Solvers for the kernel QPs of webly: plain arrays in, ``(solution, info)`` out.

* :class:`KernelQP` and its builders describe every dual of the SVM+ family (SVM, SVM+, sMIL,
  sMIL-PI, the -DA block) over ``x = [a; z_1; z_2]``;
* :func:`smo_solve` is the fast decomposition solver (numba), :func:`reference_solve` the cvxpy
  ground truth for small problems;
* :func:`solve_simplex_qp` solves the one-class simplex QP of every L2-loss SVM dual (L2-SVM+,
  MDA-HS, MIL-CPB); :func:`l2svmplus_qp` / :func:`solve_l2svmplus` give the closed-form
  L2-loss SVM+ dual.

Solvers never warn: each returns ``info["status"]`` and the estimator reports a fit that did not
converge (:func:`webly.base.warn_not_converged`).

Nothing here sees an estimator object.
"""

from .problems import (KERNEL_DTYPES, CorrectingBlock, KernelQP, add_domain_adaptation,
                       check_kernel_dtype, correcting_values, kernel_matvec, privileged_block,
                       qp_objective, smil_pi_qp, split_solution, svm_qp, svmplus_qp)
from .._lazy import lazy_attributes
from .smo import kkt_violation, qp_kkt, smo_solve

_LAZY = {"reference_solve": ".reference", "psd_factor": ".reference",
         "l2svmplus_qp": ".l2svmplus", "solve_l2svmplus": ".l2svmplus",
         "l2svmplus_privileged_term": ".l2svmplus", "solve_simplex_qp": ".simplex",
         "update_group_weights": ".mkl",
         "simplex_qp": ".simplex"}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = ["CorrectingBlock", "KernelQP", "svm_qp", "svmplus_qp", "smil_pi_qp", "privileged_block",
           "add_domain_adaptation", "split_solution", "qp_objective", "correcting_values",
           "smo_solve", "kkt_violation", "qp_kkt", "KERNEL_DTYPES", "check_kernel_dtype",
           "kernel_matvec", *_LAZY]
