"""The MIL-CPB algorithm on plain arrays: a cutting plane over instance labellings and l1-MKL.

Formulation (one binary problem; Li, Duan, Xu, Tsang, ICCV 2011, with the privileged and
domain-adaptation correcting functions of Li, Niu, Xu, ECCV 2014 / Niu, Li, Xu, IJCV 2016)
------------------------------------------------------------------------------------------
Instances of negative bags are labelled -1; an instance labelling ``y`` of the positive-bag
instances is *admissible* (``y in Y``) when every positive bag B has at least
``ceil(rho |B|)`` (at least one) positive instances. For a fixed ``y`` the model is an
instance-level SVM whose bias is absorbed into the kernel, ``k^(x, x') = k(x, x') + s^2``
(``s = intercept_scaling``: a constant feature, so the bias is regularised and no equality
constraint couples the dual variables to ``y``). Its dual, in the minimisation form webly's
solvers use, is

    g(a, z; y) = 1/2 (a∘y)'K^(a∘y) - 1'a + Omega(a, z)

over ``0 <= a_i <= C_neg`` (negative instances) and ``a_i >= 0`` (positive-bag instances), where
``Omega`` collects the label-independent correcting functions:

* MIL-CPB: none; positive-bag instances get the box ``a_i <= C`` (a plain hinge);
* -PI: the SVM+ correcting function on the privileged features of the positive-bag instances P,
  ``Omega = 1/(2 gamma_plus) v'K~v - (1/gamma_plus) v'K~c + c'K~c/(2 gamma_plus)`` with
  ``v = a_P + z``, ``z >= 0``, ``sum v = sum c``, ``c_i = C`` (:func:`webly.solvers.svmplus_qp`'s
  block; the constant makes ``-g`` the SVM+ dual value);
* -DA: plus the visual correcting function matching ``X_target``
  (:func:`webly.solvers.add_domain_adaptation` over all instances, on the visual kernel ``K``:
  on explicit features a correcting function of the instances' own features, see
  :func:`milcpb_binary_primal`).

MIL-CPB solves the convex relaxation of ``min_{y in Y} min_w primal(w; y)``, the l1-MKL over the
label kernels ``K^∘y_t y_t'``:

    max_{d in simplex} min_{a, z} 1/2 a'(sum_t d_t K^∘y_t y_t') a - 1'a + Omega(a, z)
      = max_{d} min_{a, z} sum_t d_t g(a, z; y_t)
      = min_{a, z} max_{y in Y} g(a, z; y),

a minimax over the (exponentially many) admissible labellings, solved by a cutting plane on a
working set ``{y_1..y_T}``:

1. start from one labelling: all positive-bag instances positive (``init="all"``), or the top
   ``ceil(rho |B|)`` instances of each bag by the score of that first solve (``init="top"``);
2. MKL by alternation: solve the QP above for the current ``d`` (SMO, warm-started from the
   previous solution), compute ``q_t = (a∘y_t)'K^(a∘y_t)`` and update in closed form
   ``d_t <- d_t sqrt(q_t) / sum_s d_s sqrt(q_s)`` (``d_t sqrt(q_t) = ||w_t||``, the l1-MKL
   update), until the MKL duality gap ``1/2 (max_t q_t - d'q)`` is at most ``mkl_tol 1'a``
   (``1'a``, the reward term of the dual, sets the scale) or ``mkl_max_iter`` QPs;
3. most violated labelling, ``argmax_y q(y)`` with ``q(y) = ||sum_i a_i y_i phi^(x_i)||^2`` (a
   binary quadratic problem), by sorting current scores within each positive bag
   (:func:`most_violated_labelling`): the labelling maximising the linearisation
   ``sum_i a_i y_i h_i`` of ``q`` at the current classifier, with the leave-self-out scores
   ``h_i = f(x_i) - a_i ybar_i k^(x_i, x_i)`` (``ybar = sum_t d_t y_t``; the diagonal of ``q``
   does not depend on y), or the top ``ceil(rho |B|)`` of each bag by ``h``, whichever has the
   larger ``q``. It is added when it is new and violates, ``1/2 (q(y) - d'q) > cp_tol 1'a``;
   otherwise the cutting plane has converged. At most ``max_rounds`` labellings are used.

The decision function is ``f(x) = sum_i coef_i (k(x_i, x) + s^2)`` with
``coef = a∘(sum_t d_t y_t)``: a :class:`~webly.mil._common.BinaryMIL` with
``intercept = s^2 sum(coef)``.

The squared hinge (``loss="squared_hinge"``, the default of MIL-CPB and MIL-CPB-PI)
-----------------------------------------------------------------------------------
The label-generating relaxation of maximum-margin clustering (LG-MMC: Li, Tsang, Kwok, Zhou,
AISTATS 2009) on which MIL-CPB is built uses the squared hinge in the rho-margin form: for one
labelling, ``min 1/2 ||w||^2 - rho + 1/2 sum_i C_i xi_i^2`` s.t.
``y_i w'phi^(x_i) >= rho - xi_i`` (``C_i = C`` on positive-bag instances, ``C_neg`` on
negatives), whose dual is a QP over the simplex,

    g2(a; y) = 1/2 (a∘y)'K^(a∘y) + 1/2 a'Da,    a >= 0,  sum a = 1,

with ``D = diag(1/C_i)``; -PI makes the slack of each positive-bag instance a correcting
function ``xi_i = w~'phi~(x~_i) + b~`` of its privileged features, regularised by
``gamma_plus/2 (||w~||^2 + b~^2)`` (the L2-loss SVM+ of Li, Dai, Tan, Xu, Van Gool, CVPR 2016),
which replaces the positive-bag block of ``D`` by
``(1/C)(I - (I + (C/gamma_plus)(K~ + 1))^{-1})``. ``D`` does not depend on the labelling, so
the relaxation ``min_a max_{y in Y} g2(a; y) = max_d min_a 1/2 a'(sum_t d_t K^∘y_t y_t' + D)a``
is the same cutting plane and l1-MKL as above (same ``q_t``, most violated labelling and weight
update), each QP solved by :func:`webly.solvers.solve_simplex_qp` (SMO, warm-started). The
tolerances are relative to the margin ``rho = a'Qa`` instead of ``1'a``. The solution of the
rho-margin form is ``rho`` times that of the usual squared-hinge SVM (margin 1, slack weights
``C``), so ``coef = a∘(sum_t d_t y_t) / rho``: the decision values of the one-vs-rest classes
are on the usual scale. -DA has no squared-hinge form here (its KMM constraints are inequalities
on ``a``).

The QP is a :class:`~webly.solvers.KernelQP` over ``a`` and one extra *free* unit: its
mandatory constraint ``y'a = 0`` is made vacuous by an extra variable ``a_0 >= 0`` with label -1,
zero kernel row and no reward (``a_0 = sum a``), because the bias lives in the kernel; the labels
live in the kernel too (every real unit has ``y = +1`` in the QP).

The bias: with one ``a`` shared by all labellings, an unregularised bias would need
``y_t'a = 0`` for every ``t`` at once, so it is a constant feature (regularised, as in the
label-generating MKL of Li, Tsang et al.). With small ``C`` (the authors' 0.01) the bias stays
small and the soft labels ``ybar`` of positive-bag instances are below 1, so the threshold 0 of
``predict`` can sit low or high while the ranking (``decision_function``, AP) is unaffected;
raise ``intercept_scaling`` to regularise the bias less.
"""

import logging
import time

import numpy as np

from ..errors import DataError
from ..solvers import KernelQP
from ..solvers.l2svmplus import add_privileged_term
from ..solvers.mkl import update_group_weights
from ..solvers.simplex import solve_simplex_qp
from ._common import BinaryMIL
from ._toolkit import relabel_positive_bags, solve_mil_qp

logger = logging.getLogger("webly.mil.milcpb")

__all__ = ["label_kernel", "most_violated_labelling", "l1_mkl_update", "milcpb_binary",
           "milcpb_binary_primal"]


def _stop_notes(status, max_rounds, violation, scale_name, cp_tol, scale, mkl_ok, n_labellings,
                mkl_max_iter, gap, mkl_tol, qp_limits, n_qp, solves):
    """The notes of a cutting-plane run that stopped at a limit (``solves``: what the inner
    solves are called, "QPs" or "primal solves")."""
    notes = []
    if status != "converged":
        notes.append(f"the cutting plane stopped after max_rounds={max_rounds} labellings with "
                     f"a violated labelling left (violation {violation:.3g} > cp_tol x "
                     f"{scale_name} = {cp_tol * scale:.3g}); raise max_rounds")
    if not mkl_ok:
        notes.append(f"the MKL over {n_labellings} labellings stopped after "
                     f"mkl_max_iter={mkl_max_iter} QPs with duality gap {gap:.3g} > mkl_tol x "
                     f"{scale_name} = {mkl_tol * scale:.3g}; raise mkl_max_iter")
    if qp_limits:
        notes.append(f"{qp_limits} of {n_qp} {solves} stopped at their iteration limit; raise "
                     "max_iter or tol")
    return notes


def _add_labelling(Y, d, y_new):
    """The working set with ``y_new`` added: its weight ``1/(T+1)``, the others scaled by
    ``T/(T+1)`` (still on the simplex)."""
    T = Y.shape[1]
    return np.column_stack([Y, y_new]), np.r_[d * T / (T + 1.0), 1.0 / (T + 1.0)]


def label_kernel(K, Y, d, shift=1.0, out=None):
    """``(K + shift) ∘ (Y diag(d) Y')``, written into the top-left (n, n) block of ``out``.

    ``out`` may be larger (the MIL-CPB QP keeps one extra zero row and column for its free
    unit); it is filled row block by row block so that no second (n, n) temporary is made.
    """
    n = K.shape[0]
    if out is None:
        out = np.empty((n, n))
    Yd = Y * d
    step = max(1, (1 << 21) // max(n, 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        blk = out[s:e, :n]
        np.add(K[s:e], shift, out=blk)
        blk *= Yd[s:e] @ Y.T
    return out


def _label_norms(K, Y, a, shift):
    """``q_t = (a∘y_t)'(K + shift)(a∘y_t)`` for every column ``y_t`` of ``Y``."""
    U = a[:, None] * Y
    return np.einsum("it,it->t", U, K @ U) + shift * U.sum(axis=0) ** 2


def _linearised_labelling(g, a, groups, keep, y_base):
    """The admissible labelling maximising ``sum_i a_i y_i g_i``, by a sort within each bag.

    Per positive bag: ``y_i = sign g_i``, then the instances with the largest ``a_i g_i`` (ties:
    larger ``g_i``) made positive until the bag has its ``keep`` positives.
    """
    y = y_base.astype(np.float64).copy()
    for rows, m in zip(groups, keep):
        gr = g[rows]
        lab = np.where(gr > 0, 1.0, -1.0)
        if (lab > 0).sum() < m:
            order = np.lexsort((-gr, -(a[rows] * gr)))  # a g descending, then g descending
            lab[order[:m]] = 1.0
        y[rows] = lab
    return y


def most_violated_labelling(K, a, f, y_soft, groups, keep, y_base, shift=1.0):
    """The more violated of two admissible labellings read off the current scores.

    Finding ``argmax_y q(y)``, ``q(y) = (a∘y)'(K + shift)(a∘y)``, is a binary quadratic
    problem. Its diagonal ``sum_i a_i^2 (K_ii + shift)`` does not depend on y (``y_i^2 = 1``), so
    its linearisation at the current classifier ``f = (K + shift)(a∘y_soft)``, ``y_soft =
    sum_t d_t y_t``, is ``2 sum_i a_i y_i h_i`` with the *leave-self-out* scores
    ``h_i = f_i - a_i y_soft_i (K_ii + shift)``. MIL-CPB sorts them within each positive bag:

    * the maximiser of ``sum_i a_i y_i h_i`` (:func:`_linearised_labelling`);
    * the sparsest admissible labelling by ``h``: exactly the top ``keep`` of each bag
      (:func:`~webly.mil._toolkit.relabel_positive_bags`, ``rule="exactly"``), which the linearisation misses when ``h > 0`` on whole bags.

    Returns ``(y, q(y))`` of the one with the larger ``q``. (Ascending further on ``q``, by
    re-sorting the leave-self-out scores of the labelling found until it stops changing, finds
    larger ``q`` but, measured on the ``benchmarks/mil_speed.py`` data, labellings that agree
    less with the true labels, 0.3-0.6 against 0.7-0.9, and worse classifiers.)
    """
    diag = np.diag(K) + shift
    h = f - a * y_soft * diag
    best, best_q = None, -np.inf
    for y in (_linearised_labelling(h, a, groups, keep, y_base),
              relabel_positive_bags(h, groups, keep, y_base, rule="exactly")):
        q = float(_label_norms(K, y[:, None], a, shift)[0])
        if q > best_q:
            best, best_q = y, q
    return best, best_q


def l1_mkl_update(d, q):
    """Closed-form l1-MKL weights ``d_t sqrt(q_t) / sum_s d_s sqrt(q_s)`` (``= ||w_t|| / sum``).

    The one-kernel-per-group case of :func:`webly.solvers.mkl.update_group_weights`.
    """
    return update_group_weights((np.asarray(d) ** 2 * np.asarray(q))[None, :], "l21")[0]


def _warm_start(x0, n, blocks):
    """The previous solution ``[a; a_0; z..]`` made feasible to the last bit for a new round.

    A solution meets each block total ``sum(a[S_j]) + sum(z_j)`` only up to rounding; a start
    whose total lies an ulp outside ``[lo_j, hi_j]`` makes :func:`~webly.solvers.smo_solve`
    start cold (above ``hi_j`` with ``z_j = 0``) or stall (an equality block's slack of an ulp,
    above its bound 0). So each total is set exactly (as the solver sums it) into
    ``[lo_j, hi_j]`` by moving the largest ``z_j`` (or, when ``z_j`` cannot absorb it, the
    largest ``a``), and ``a_0 = sum a``.
    """
    if x0 is None:
        return None
    x = x0.copy()
    starts = np.cumsum([n + 1] + [len(b.index) for b in blocks])
    for j, b in enumerate(blocks):
        z = x[starts[j]:starts[j + 1]]
        for _ in range(8):
            total = x[b.index].sum() + z.sum()
            target = min(max(total, b.lo), b.hi)
            if total == target:
                break
            k = int(np.argmax(z))
            if z[k] + (target - total) >= 0:
                z[k] += target - total
            else:
                i = b.index[int(np.argmax(x[b.index]))]
                x[i] = max(x[i] + (target - total), 0.0)
    x[n] = x[:n].sum()
    return x


def milcpb_binary(K, y_pm, groups, keep, *, upper=None, blocks=(), constant=0.0,
                  loss="hinge", penalty=None, shift=1.0, init="all", max_rounds=10, cp_tol=1e-2,
                  mkl_max_iter=20, mkl_tol=1e-2, tol=1e-3, max_iter=None, name="MIL-CPB"):
    """MIL-CPB cutting plane with l1-MKL over instance labellings (see the module docstring).

    Parameters
    ----------
    K : (n, n) array
        Visual kernel of the training instances (without the bias constant).
    y_pm : (n,) array of {-1, +1}
        +1 for the instances of positive bags.
    groups, keep
        Rows of each positive bag and the positives each must keep (``min_positives``).
    upper : (n,) array
        ``loss="hinge"``: box of ``a`` (``inf`` for units whose slack is a correcting function).
    blocks : tuple of CorrectingBlock
        ``loss="hinge"``: label-independent correcting blocks over the first n units
        (privileged, -DA).
    constant : float
        ``loss="hinge"``: constant of the objective (``c'K~c / (2 gamma_plus)`` with a
        privileged block).
    loss : {"hinge", "squared_hinge"}
        The QP of one labelling: the hinge dual (box, reward ``1'a``) or the simplex QP of the
        squared hinge in the rho-margin form (see the module docstring).
    penalty : tuple ``(diag, rows, block)``
        ``loss="squared_hinge"``: the label-independent term ``D`` of the simplex QP, ``diag``
        (n,) on the diagonal plus ``block`` (or None) on ``rows`` x ``rows`` (the L2-SVM+ term
        of the privileged rows, dense or as the factors of a linear privileged kernel: see
        :func:`~webly.solvers.l2svmplus.add_privileged_term`).
    shift : float
        ``s^2``: the bias constant added to the kernel.
    init, max_rounds, cp_tol, mkl_max_iter, mkl_tol, tol, max_iter
        As the estimators' parameters.

    Returns
    -------
    BinaryMIL
        ``info``: ``d`` (MKL weights), ``labellings`` ((n, T) int8), ``objectives`` (QP
        objective at the end of each round; it can only rise as labellings are added),
        ``mkl_gap``, ``violation`` (of the last candidate labelling), ``rounds``, ``n_qp``,
        ``status`` ("converged" or "max_rounds"), ``mkl_converged``, ``x`` (QP solution,
        ``[a; a_0; z..]``, or ``a`` for the squared hinge), ``scale`` (``1'a``, or the margin
        ``rho = a'Qa`` for the squared hinge: the scale of the tolerances), ``seconds``.
    """
    t0 = time.perf_counter()
    n = K.shape[0]
    y_base = np.where(y_pm == 1, 1.0, -1.0)
    if loss == "squared_hinge":
        if penalty is None:
            raise DataError("penalty", "the squared hinge needs its term (diag, rows, block)")
        pen_diag, pen_rows, pen_block = penalty
        buf = np.zeros((n, n))
        diag = np.diag_indices(n)

        def solve(Y, d, x0):
            label_kernel(K, Y, d, shift, out=buf)
            buf[diag] += pen_diag
            if pen_block is not None:
                add_privileged_term(buf, pen_block, pen_rows)
            a, info = solve_simplex_qp(buf, x0=x0, tol=tol, max_iter=max_iter,
                                       overwrite_Q=True, solver="smo")
            info["scale"] = max(info["rho"], 1e-300)  # the margin a'Qa
            return a, info
    elif loss == "hinge":
        buf = np.zeros((n + 1, n + 1))
        qp_y = np.r_[np.ones(n), -1.0]
        qp_p = np.r_[np.ones(n), 0.0]
        qp_upper = np.r_[np.asarray(upper, dtype=np.float64), np.inf]

        def solve(Y, d, x0):
            label_kernel(K, Y, d, shift, out=buf)
            qp = KernelQP(K=buf, y=qp_y, p=qp_p, upper=qp_upper, blocks=tuple(blocks),
                          constant=constant)
            x, info = solve_mil_qp(qp, tol, max_iter, x0=_warm_start(x0, n, blocks))
            info["scale"] = max(float(x[:n].sum()), 1e-12)  # 1'a: the reward term of the dual
            return x, info
    else:
        raise DataError("loss", f"unknown loss {loss!r}; use 'hinge' or 'squared_hinge'")

    scale_name = "a'Qa" if loss == "squared_hinge" else "1'a"
    Y = y_base[:, None].copy()  # init "all": every positive-bag instance positive
    d = np.ones(1)
    x, moves, n_qp = None, 0, 0
    if init == "top":
        x, info = solve(Y, d, None)
        moves, n_qp = moves + int(info["n_iter"]), n_qp + 1
        a = x[:n]
        f = K @ (a * Y[:, 0]) + shift * (a * Y[:, 0]).sum()
        Y = relabel_positive_bags(f, groups, keep, y_base, rule="exactly")[:, None]

    objectives = []
    status, gap, violation, mkl_ok, qp_limits = "max_rounds", 0.0, np.inf, True, 0
    for rnd in range(1, max_rounds + 1):
        mkl_ok = Y.shape[1] == 1
        for i_mkl in range(mkl_max_iter):
            x, info = solve(Y, d, x)
            moves, n_qp = moves + int(info["n_iter"]), n_qp + 1
            qp_limits += info["status"] != "converged"
            a = x[:n]
            q = _label_norms(K, Y, a, shift)
            scale = info["scale"]
            gap = 0.5 * (q.max() - d @ q)
            logger.debug("%s: MKL %d, objective %.10g, relative gap %.3g", name, i_mkl,
                         info["objective"], gap / scale)
            if Y.shape[1] == 1 or gap <= mkl_tol * scale:
                mkl_ok = True
                break
            if i_mkl == mkl_max_iter - 1:
                break  # keep (a, d) consistent: a solves the QP of this d
            d = l1_mkl_update(d, q)
        objectives.append(float(info["objective"]))
        y_soft = Y @ d
        coef = a * y_soft
        f = K @ coef + shift * coef.sum()
        y_new, q_new = most_violated_labelling(K, a, f, y_soft, groups, keep, y_base, shift)
        known = np.any(np.all(Y == y_new[:, None], axis=0))
        violation = 0.0 if known else 0.5 * (q_new - d @ q)
        logger.debug("%s: round %d, %d labellings, objective %.8g, relative MKL gap %.3g, "
                     "relative violation %.3g", name, rnd, Y.shape[1], info["objective"],
                     gap / scale, violation / scale)
        if violation <= cp_tol * scale:
            status = "converged"
            break
        if rnd == max_rounds:
            break
        Y, d = _add_labelling(Y, d, y_new)
    # the estimator reports them (warn_not_converged): solvers never warn
    notes = _stop_notes(status, max_rounds, violation, scale_name, cp_tol, scale, mkl_ok,
                        Y.shape[1], mkl_max_iter, gap, mkl_tol, qp_limits, n_qp, "QPs")
    coef = a * (Y @ d)
    if loss == "squared_hinge":
        coef /= scale  # margin 1: the squared-hinge SVM of weights C (see the module docstring)
    dominant = Y[:, int(np.argmax(d))].astype(int)
    return BinaryMIL(coef, float(shift * coef.sum()), moves, dominant,
                     info={"d": d, "labellings": Y.astype(np.int8), "objectives": objectives,
                           "objective": objectives[-1], "mkl_gap": float(gap),
                           "violation": float(violation), "rounds": rnd, "n_qp": n_qp,
                           "status": status, "mkl_converged": mkl_ok, "x": x, "scale": scale,
                           "loss": loss, "not_converged": notes,
                           "seconds": time.perf_counter() - t0})


class _MemoryRows:
    """What :func:`milcpb_binary_primal` reads from the rows, on rows in memory: the solver's
    label blocks, the multipliers, and the per-row passes (scores, label norms)."""

    def __init__(self, Z, y_pm, Z_priv, shift):
        self.Z, self.shift = Z, shift
        self.dz = Z.shape[1]
        self.s = float(np.sqrt(shift))
        in_pos = y_pm == 1
        self.P = np.flatnonzero(in_pos)
        self.Z_P = Z[self.P]
        self.Z_priv = Z_priv
        self.priv_rows = None if Z_priv is None else in_pos
        self.diag = np.einsum("ij,ij->i", Z, Z, dtype=np.float64) + shift  # k^(x_i, x_i)

    def features(self, Y, d, H):
        """The solver's ``F`` for labellings ``Y`` and weights ``d`` (rotation ``H``)."""
        from ..solvers.block_rows import BlockRows

        return BlockRows(self.Z, (Y[self.P] * np.sqrt(d)) @ H, self.P, const=self.s,
                         Phi_rows=self.Z_P)

    def dual(self, info):
        """The solve's multipliers ``a``."""
        return np.asarray(info["dual"], dtype=np.float64)

    def total(self, a):
        """``1'a``."""
        return float(a.sum())

    def host(self, a):
        """``a`` as a numpy n-vector."""
        return a

    def score(self, W):
        """Decision values on the training rows, ``W[0]'phi^`` (an n-vector)."""
        return np.asarray(self.Z @ W[0, :self.dz].astype(self.Z.dtype, copy=False),
                          np.float64) + (self.s * W[0, self.dz] if self.s else 0.0)

    def leave_self_out(self, W, a, Y, d):
        """``(h, a)``: the leave-self-out scores ``h = f - a (Y d) k^(x, x)`` and the
        multipliers, n-vectors (:func:`most_violated_labelling`)."""
        return self.score(W) - a * (Y @ d) * self.diag, a

    def norms(self, a, Y, cols):
        """``q(y_t) = ||sum_i a_i y_ti phi^_i||^2`` of the columns ``cols`` of the labellings
        ``Y`` (an (n, k) array of candidates when ``cols`` is None)."""
        Y = Y if cols is None else Y[:, cols]
        out = []
        for t in range(Y.shape[1]):
            u = a * Y[:, t]
            g = np.asarray(self.Z.T @ u.astype(self.Z.dtype, copy=False), np.float64)
            out.append(float(g @ g + self.shift * u.sum() ** 2))
        return out


class _DaskRows:
    """:class:`_MemoryRows` on row-chunked Dask rows (MIL-CPB on a cluster).

    The rows ``Z`` (and the privileged rows, one per row: the solver's ``priv_rows`` form on
    Dask) stay in their partitions; so do the multipliers ``a`` (a Dask vector) and the
    labellings, sent there once each as an int8 column (:meth:`features`). The solves take a
    :class:`~webly.solvers.block_rows.DaskBlockRows` (each partition builds its own label
    blocks from its rows, its labellings and the small MKL weights). The scores and the
    leave-self-out scores are one map over the partitions (each computes ``f``, ``Y d`` and
    ``k^(x_i, x_i)`` of its rows) of which only the positive-bag instances' values come here:
    the labelling search sorts within each positive bag on the client, so a bag whose rows lie
    in several partitions needs nothing more. The label norms ``||Phi'(a∘y)||^2`` are one
    map-reduce for all labellings asked (only (d + 1) x k sums come here).
    """

    def __init__(self, Z, y_pm, Z_priv, shift):
        import dask.array as da

        self.da = da
        self.Z, self.shift = Z.rechunk({1: -1}), shift  # one column chunk (the estimators' is)
        self.chunks = Z.chunks[0]
        self.dz = Z.shape[1]
        self.s = float(np.sqrt(shift))
        self.in_pos = y_pm == 1
        self.Z_priv = Z_priv
        self.priv_rows = None if Z_priv is None else self.in_pos
        # (int8 copy, persisted Dask int8 column) of the working set's labellings, in order,
        # and of the last candidates (the one added next is not sent again)
        self.cols, self.candidates = [], []
        self.spec = None  # the DaskBlockRows (its rows backend is kept across solves)

    def _send(self, y):
        y = y.astype(np.int8)
        return y, self.da.from_array(y, chunks=(self.chunks,)).persist()

    def _labels(self, Y):
        """The labellings ``Y`` (the working set, columns only ever appended or, after
        ``init="top"``, replaced) as a Dask (n, T) int8 array of persisted columns: a column
        is sent when it is new (one n-vector comparison per column on the client)."""
        for t in range(Y.shape[1]):
            if t < len(self.cols) and np.array_equal(self.cols[t][0], Y[:, t]):
                continue
            hit = [c for c in self.candidates if np.array_equal(c[0], Y[:, t])]
            col = hit[0] if hit else self._send(Y[:, t])
            if t < len(self.cols):
                self.cols[t] = col
            else:
                self.cols.append(col)
        del self.cols[Y.shape[1]:]
        return self.da.stack([dcol for _, dcol in self.cols], axis=1)

    def features(self, Y, d, H):
        from ..solvers.block_rows import DaskBlockRows

        labels = self._labels(Y)
        if self.spec is None:
            self.spec = DaskBlockRows(self.Z, labels, d, const=self.s)
        else:
            self.spec = self.spec.relabel(labels, d)
        return self.spec

    def dual(self, info):
        return info["dual"].persist()

    def total(self, a):
        return float(a.sum().compute())

    def host(self, a):
        return np.asarray(a.compute(), dtype=np.float64)

    def _on_pos(self, *vectors):
        """The positive-bag instances' entries of Dask n-vectors, as numpy n-vectors (zeros
        elsewhere; the labelling search reads only those), in one computation."""
        import dask

        out = []
        for v in dask.compute(*[v[self.in_pos] for v in vectors]):
            full = np.zeros(len(self.in_pos))
            full[self.in_pos] = v
            out.append(full)
        return out

    def score(self, W):
        return self._on_pos(self.Z.map_blocks(
            _block_scores, W[0], self.dz, self.s, drop_axis=1, dtype=np.float64,
            meta=np.empty((0,), np.float64)))[0]

    def leave_self_out(self, W, a, Y, d):
        da = self.da
        h = da.blockwise(_block_leave_self_out, "i", self.Z, "ij", a, "i", self._labels(Y),
                         "it", W=W[0], dz=self.dz, s=self.s, d=np.asarray(d), shift=self.shift,
                         dtype=np.float64, concatenate=True, meta=np.empty((0,), np.float64))
        return tuple(self._on_pos(h, a))

    def norms(self, a, Y, cols):
        import dask

        if cols is None:  # candidates: sent here, kept for the one that joins the working set
            self.candidates = [self._send(Y[:, t]) for t in range(Y.shape[1])]
            labels = self.da.stack([dcol for _, dcol in self.candidates], axis=1)
        else:
            labels = self._labels(Y)[:, cols]
        U = a[:, None] * labels
        G = self.Z.T @ U.astype(self.Z.dtype)
        G, su = dask.compute(G.astype(np.float64), U.sum(axis=0))
        G = np.asarray(G, np.float64)
        return [float(G[:, t] @ G[:, t] + self.shift * su[t] ** 2) for t in range(G.shape[1])]


def _block_scores(Zb, w0, dz, s):
    """One partition's decision values ``w0'[z, s]``."""
    return np.asarray(Zb @ w0[:dz].astype(Zb.dtype, copy=False), np.float64) + \
        (s * w0[dz] if s else 0.0)


def _block_leave_self_out(Zb, ab, Yb, W, dz, s, d, shift):
    """One partition's leave-self-out scores (:meth:`_MemoryRows.leave_self_out`)."""
    diag = np.einsum("ij,ij->i", Zb, Zb, dtype=np.float64) + shift
    return _block_scores(Zb, W, dz, s) - ab * (Yb @ d) * diag


def milcpb_binary_primal(Z, y_pm, groups, keep, *, C, C_neg, Z_priv=None, gamma_plus=1.0,
                         loss="squared_hinge", shift=1.0, init="all", max_rounds=10, cp_tol=1e-2,
                         mkl_max_iter=20, mkl_tol=1e-2, tol=1e-3, max_iter=None,
                         name="MIL-CPB", target_mean=None, C2=1e3, gamma2=1e3, eps=0.0, B=None):
    """:func:`milcpb_binary` on explicit features ``Z`` (``solver="primal"``): the same problem.

    For fixed MKL weights ``d`` the QP of the kernel path is the dual of an SVM on the
    per-labelling feature blocks ``(sqrt(d) ∘ y_i) ⊗ phi^_i`` (``phi^ = [z, s]``), held as a
    :class:`~webly.solvers.block_rows.BlockRows` in the coordinates of
    :func:`~webly.solvers.block_rows.label_rotation`, where every negative instance has one
    D-wide block and only the positive-bag instances have all T: ``loss="hinge"`` is
    :func:`~webly.solvers.primal.svmplus_primal` (weights ``C`` / ``C_neg``; with ``Z_priv``,
    the rows of the positive-bag instances in order, their slack is the SVM+ correcting
    function), ``loss="squared_hinge"`` is :func:`~webly.solvers.primal.l2svmplus_primal` (the
    rho-margin form; with ``Z_priv`` the L2-SVM+ correcting function), both with the bias as the
    constant feature ``s`` (``fit_intercept=False``). The multipliers of the solve are the
    kernel path's ``a``; ``q_t = ||v_t||^2 / d_t`` from the block weights, the scores
    ``f = W[0]'phi^`` (the first rotated block), the most violated labelling, MKL update,
    tolerances and stopping rules are :func:`milcpb_binary`'s. Each solve starts from the
    previous one (its multipliers, and its block weights ``w_t = sqrt(d_t) v_t`` kept, so the
    decision values are unchanged by a new ``d`` or a new labelling with ``w = 0``).

    With ``target_mean`` (the mean of the target rows' features ``z``; ``loss="hinge"``) each
    solve adds the -DA correcting function of MIL-CPB-PI-DA, as the kernel
    path's :func:`~webly.solvers.add_domain_adaptation` block on the visual kernel ``K = Z Z'``
    over the n instances (not on the label kernel): :func:`~webly.solvers.primal.svmplus_primal`
    with ``target_mean``, ``C2``, ``gamma2``, ``eps``, ``B`` and ``F_target=Z`` (the correcting
    function ``v_i = u2'z_i + c2`` on the instances' own features, under the label blocks), with
    ``fit_intercept=False``: the dual is the kernel path's QP (no ``y'a = 0``, its free unit),
    so the objectives, labellings and decisions are the kernel path's. The rows are taken in
    float64 then (the -DA solve's precision; on Dask persisted so); the warm starts carry
    ``u2, c2`` and the -DA multipliers from solve to solve as the other parameters. On Dask
    rows the correcting function's rows are the label blocks' own (``F_target`` the
    :class:`~webly.solvers.block_rows.DaskBlockRows`' ``Phi``, a view of the solver's
    persisted rows).

    On a row-chunked Dask ``Z`` (``Z_priv`` then a Dask array with one row per row of ``Z``,
    the rows outside the positive bags unused) the algorithm is the same code: the solves run
    on the cluster on a :class:`~webly.solvers.block_rows.DaskBlockRows`, and the per-row
    passes (scores, leave-self-out scores, label norms) are maps over the partitions
    (:class:`_DaskRows`); the client holds the labellings (an (n, T) int8 array, as ``info``
    returns them) and the positive-bag instances' scores of each round.

    Returns
    -------
    BinaryMIL
        Weights over the features: ``f(x) = coef' z(x) + intercept``; ``n_iter`` the Newton
        steps of all solves; ``info`` as :func:`milcpb_binary`'s (``objective``: minus the
        primal optimum, the kernel path's QP value; ``x``: the multipliers ``a``).
    """
    from ..solvers._rows import is_dask
    from ..solvers.block_rows import label_rotation
    from ..solvers.primal import l2svmplus_primal, svmplus_primal

    t0 = time.perf_counter()
    da_kw = {}
    if target_mean is not None:
        if loss != "hinge":
            raise DataError("loss", "the -DA term (target_mean) has no squared-hinge form; use "
                                    "loss='hinge'")
        if Z.dtype != np.float64:  # the -DA solve's precision (on Dask persisted as float64)
            Z = Z.astype(np.float64).persist() if is_dask(Z) else Z.astype(np.float64)
    rows = (_DaskRows if is_dask(Z) else _MemoryRows)(Z, y_pm, Z_priv, shift)
    if target_mean is not None:  # the -DA function on the instances' rows (on Dask: the label
        # blocks' own rows, DaskBlockRows' Phi, a view of the solver's persisted rows)
        da_kw = dict(target_mean=target_mean, C2=C2, gamma2=gamma2, eps=eps, B=B,
                     F_target=rows.Z)
    dz = rows.dz
    s = rows.s
    D = dz + (1 if s else 0)
    y_base = np.where(y_pm == 1, 1.0, -1.0)
    in_pos = y_pm == 1
    weights = np.where(in_pos, float(C), float(C_neg))
    if loss not in ("hinge", "squared_hinge"):
        raise DataError("loss", f"unknown loss {loss!r}; use 'hinge' or 'squared_hinge'")
    state = {"info": None, "W": None, "d": None}

    def blocks_of(W, d_old, d_new):
        """Rotated weights for ``d_new`` keeping each labelling's ``w_t = sqrt(d_t) v_t``."""
        H_old, H_new = label_rotation(d_old), label_rotation(d_new)
        V = H_old @ W                                   # v_t, original coordinates
        w = np.sqrt(d_old)[:, None] * V
        T = len(d_new)
        Vn = np.zeros((T, W.shape[1]))
        live = np.asarray(d_new[:len(d_old)]) > 0
        Vn[:len(d_old)][live] = w[live] / np.sqrt(d_new[:len(d_old)][live])[:, None]
        return H_new @ Vn

    def solve(Y, d):
        H = label_rotation(d)
        F = rows.features(Y, d, H)
        start = None
        prev = state["info"]
        if prev is not None:
            th, mults, rhos = prev["state"]
            W0 = blocks_of(state["W"], state["d"], d)
            th = np.r_[W0.ravel(), 0.0, th[prev["_tail"]:]]
            start = {"state": (th, mults, rhos)}
        common = dict(gamma_plus=gamma_plus, tol=tol, max_iter=max_iter, n_threads=None,
                      priv_rows=rows.priv_rows, start=start, fit_intercept=False)
        if loss == "hinge":
            w, _, _, _, info = svmplus_primal(F, y_base, rows.Z_priv, C=weights, **common,
                                              **da_kw)
            info["dual"] = rows.dual(info)
            info["scale"] = max(rows.total(info["dual"]), 1e-12)
        else:
            w, _, _, _, info = l2svmplus_primal(F, y_base, rows.Z_priv, C=weights, **common)
            info["dual"] = rows.dual(info)
            info["scale"] = max(info["margin"], 1e-300)
        info["_tail"] = len(Y[0]) * D + 1  # where [u, c, m] start in theta
        W = w.reshape(len(d), D)
        state.update(info=info, W=W, d=np.array(d, dtype=np.float64))
        return W, H, info

    def label_norms(W, H, d, Y, a):
        """``q_t = ||v_t||^2 / d_t`` (by the multipliers where ``d_t = 0``)."""
        V = H @ W
        q = np.empty(len(d))
        zero = [t for t in range(len(d)) if not d[t] > 0]
        for t in range(len(d)):
            if d[t] > 0:
                q[t] = V[t] @ V[t] / d[t]
        if zero:
            q[zero] = rows.norms(a, Y, zero)
        return q

    scale_name = "a'Qa" if loss == "squared_hinge" else "1'a"
    Y = y_base[:, None].copy()
    d = np.ones(1)
    steps, n_qp = 0, 0
    if init == "top":
        W, H, info = solve(Y, d)
        steps, n_qp = steps + int(info["n_iter"]), n_qp + 1
        Y = relabel_positive_bags(rows.score(W), groups, keep, y_base, rule="exactly")[:, None]

    objectives = []
    status, gap, violation, mkl_ok, qp_limits = "max_rounds", 0.0, np.inf, True, 0
    for rnd in range(1, max_rounds + 1):
        mkl_ok = Y.shape[1] == 1
        for i_mkl in range(mkl_max_iter):
            W, H, info = solve(Y, d)
            steps, n_qp = steps + int(info["n_iter"]), n_qp + 1
            qp_limits += info["status"] != "converged"
            a = info["dual"]
            q = label_norms(W, H, d, Y, a)
            scale = info["scale"]
            gap = 0.5 * (q.max() - d @ q)
            logger.debug("%s primal: MKL %d, objective %.10g, relative gap %.3g", name, i_mkl,
                         -info["objective"], gap / scale)
            if Y.shape[1] == 1 or gap <= mkl_tol * scale:
                mkl_ok = True
                break
            if i_mkl == mkl_max_iter - 1:
                break
            d = l1_mkl_update(d, q)
        objectives.append(-float(info["objective"]))
        h, a_host = rows.leave_self_out(W, a, Y, d)
        cands = [_linearised_labelling(h, a_host, groups, keep, y_base),
                 relabel_positive_bags(h, groups, keep, y_base, rule="exactly")]
        qs = rows.norms(a, np.column_stack(cands), None)
        best, q_new = None, -np.inf
        for cand, qc in zip(cands, qs):
            if qc > q_new:
                best, q_new = cand, qc
        y_new = best
        known = np.any(np.all(Y == y_new[:, None], axis=0))
        violation = 0.0 if known else 0.5 * (q_new - d @ q)
        logger.debug("%s primal: round %d, %d labellings, objective %.8g, relative MKL gap "
                     "%.3g, relative violation %.3g", name, rnd, Y.shape[1], objectives[-1],
                     gap / scale, violation / scale)
        if violation <= cp_tol * scale:
            status = "converged"
            break
        if rnd == max_rounds:
            break
        Y, d = _add_labelling(Y, d, y_new)
    # the estimator reports them (warn_not_converged): solvers never warn
    notes = _stop_notes(status, max_rounds, violation, scale_name, cp_tol, scale, mkl_ok,
                        Y.shape[1], mkl_max_iter, gap, mkl_tol, qp_limits, n_qp, "primal solves")
    coef = W[0, :dz].copy()
    intercept = s * float(W[0, dz]) if s else 0.0
    if loss == "squared_hinge":
        coef /= scale  # margin 1 (see the module docstring)
        intercept /= scale
    dominant = Y[:, int(np.argmax(d))].astype(int)
    return BinaryMIL(coef, float(intercept), steps, dominant,
                     info={"d": d, "labellings": Y.astype(np.int8), "objectives": objectives,
                           "objective": objectives[-1], "mkl_gap": float(gap),
                           "violation": float(violation), "rounds": rnd, "n_qp": n_qp,
                           "status": status, "mkl_converged": mkl_ok, "x": rows.host(a),
                           "scale": scale, "loss": loss, "not_converged": notes,
                           "seconds": time.perf_counter() - t0})
