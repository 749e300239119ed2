"""MDA-HS algorithms on plain arrays: the simplex QP, source priors, group weights, labellings.

Notation (one binary problem, labels in {-1, +1}): rows are the source rows, ordered by source
(source s owns ``src_slices[s]``), followed by the ``n_t`` target rows. Base kernel
``k = (s, m)`` is feature type m on the rows of source s plus the target rows (zero elsewhere);
its blocks are ``K_ss`` (source s x source s), ``K_st`` (source s x target) and the target block
``K_tt[m] + p_s p_s' / (theta |F_s|)``, where ``p_s`` are the values of source s's classifier
``f_s`` on the target rows (the *prior*; ``|F_s|`` is the number of feature types of source s).
Every kernel includes the constant 1 (a regularised bias, as in the L2-loss SVM+).

For candidate target labellings ``y_1..y_T`` (source rows keep their labels), MDA-HS solves

    min_{mu in M} max_{a in simplex}  -1/2 a'( sum_{k,t} mu_{k,t} K_k∘y_t y_t' + D ) a

with ``D = diag(1/C_s)`` on source rows and ``diag(1/C_t)`` on target rows (MDA-HS+ replaces the
source block of D by the L2-loss SVM+ term ``(1/C_s)(I - (I + (C_s/lambda')(K~ + 1))^{-1})`` of
the text kernel ``K~``), and ``M = {mu >= 0 : sum_t ||mu_{.,t}||_2 <= 1}`` (``"l21"``) or the
elastic-net-like ``{(1 - eta) sum_t ||mu_{.,t}||_2 + eta ||mu||_2^2 <= 1}`` (``"elastic-net"``).
The inner max is a one-class QP (:func:`solve_simplex_qp`); ``mu`` has a closed-form update
(:func:`update_group_weights`) from ``q_{k,t} = ||w_{k,t}||^2 = mu_{k,t}^2 (a∘y_t)'K_k(a∘y_t)``;
a cutting plane adds the most violated labelling (:func:`mdahs_binary`).

The authors' variant (``variant="authors"`` of the estimators; Niu et al.'s release) uses the same
problem with other blocks and another labelling search: kernels without the constant 1, the prior
``f_s f_s' / (theta |F_s|)`` added to the *whole* source-s + target block (the estimator passes
``K_ss``, ``K_st`` with it added, and the uncentred ``f_s`` on the target rows as ``prior``),
initial labellings from one L2-SVM per source on its prior kernel
(:func:`source_ranking_labellings`), and a search over the coordinates of each kernel's square
root (:func:`authors_violated_labellings`, ``search="authors"`` of :func:`mdahs_binary`).
"""

import logging
import math
import time

import numpy as np

from ..kernels import row_block
from ..solvers.l2svmplus import add_privileged_term
from ..solvers.mkl import scale_to_constraint, update_group_weights
from ..solvers.simplex import solve_simplex_qp

logger = logging.getLogger(__name__)

__all__ = ["l2svm_source_classifier", "update_group_weights",
           "scale_to_constraint", "positive_band", "balanced_labelling", "mdahs_binary",
           "MDAHSProblem", "authors_positive_counts", "source_ranking_labellings",
           "authors_violated_labellings", "SourceSlack"]


def l2svm_source_classifier(K, y, C=1.0, tol=1e-3, max_iter=None, solver="libsvm"):
    """Per-source L2-loss SVM with normalised weight vector ``||w|| = 1``.

    Solves ``min 1/2 a'(K∘yy' + I/C)a`` over the simplex (``K`` includes the +1 bias) and returns
    the coefficients ``beta = a∘y / ||w||`` with ``||w||^2 = a'(K∘yy')a``, so that the
    classifier ``f(x) = sum_i beta_i k(x_i, x)`` has unit-norm weights (DESIGN.md 3.3).

    Returns
    -------
    beta : (n,) array
    info : dict
        As :func:`solve_simplex_qp`, plus ``w_norm``.
    """
    y = np.asarray(y, dtype=np.float64)
    Q = K * np.outer(y, y)
    Q[np.diag_indices_from(Q)] += 1.0 / C
    a, info = solve_simplex_qp(Q, tol=tol, max_iter=max_iter, overwrite_Q=True, solver=solver)
    ay = a * y
    w2 = float(ay @ (K @ ay))
    w = math.sqrt(w2) if w2 > 0 else 1.0
    info["w_norm"] = w
    return ay / w, info


# ----------------------------------------------------------------------------------------------
# labellings
# ----------------------------------------------------------------------------------------------

def positive_band(ratio, n_t, balance):
    """Allowed number of positive target rows for class ratio ``ratio`` and balance ``br``.

    At most ``ceil(ratio (1 + br) n_t)`` positives (the rule of the papers) and at least
    ``max(1, floor(ratio n_t / (1 + br)))``, with at least one negative: a labelling can never be
    all-negative (a known defect of the released code) nor all-positive.
    """
    hi = min(int(math.ceil(ratio * (1.0 + balance) * n_t - 1e-9)), n_t - 1)
    lo = max(1, int(math.floor(ratio * n_t / (1.0 + balance) + 1e-9)))
    hi = max(hi, 1)
    return min(lo, hi), hi


def balanced_labelling(scores, band):
    """+1 for rows with positive score, the count clamped into ``band`` by rank of score."""
    scores = np.asarray(scores, dtype=np.float64)
    lo, hi = band
    k = int(np.clip(np.sum(scores > 0), lo, hi))
    order = np.argsort(-scores, kind="stable")
    y = -np.ones(scores.shape[0])
    y[order[:k]] = 1.0
    return y


def authors_positive_counts(n_pos, n_neg, n_t, balance_ratios, rule="search"):
    """Numbers of positive target rows of the authors' labellings, one per balance ratio.

    The release turns each ``br`` into the ratio ``r = (1 + br) n_pos / n_neg`` (positive to
    negative source rows) and labels ``round(n_t r / (1 + r))`` target rows +1 for its initial
    labellings (``rule="initial"``, rounding half away from zero) and ``floor(n_t r / (1 + r))``
    in its search (``rule="search"``). Clamped to ``[1, n_t - 1]``: never all-negative nor
    all-positive.
    """
    counts = []
    for br in balance_ratios:
        r = (1.0 + br) * n_pos / n_neg
        if rule == "initial":
            k = math.floor(1.0 / (1.0 / r + 1.0) * n_t + 0.5)
        else:
            k = math.floor(n_t * r / (r + 1.0))
        counts.append(int(min(max(k, 1), n_t - 1)))
    return counts


def source_ranking_labellings(K_ss, K_ts, D_ss, y_s, n_positives, tol=1e-3, max_iter=None,
                              solver="libsvm"):
    """The authors' initial labellings from one source: the ``k`` best-ranked target rows +1.

    An L2-loss SVM on the source rows (``min 1/2 a'(K_ss∘yy' + D_ss)a`` over the simplex, with
    ``D_ss`` the source's block of ``D``: ``1/C_s`` or its privileged term) ranks the target rows
    by ``K_ts (a∘y)``; for each ``k`` in ``n_positives`` the ``k`` highest are +1, the rest -1.

    Returns
    -------
    labellings : list of (n_t,) arrays
    info : dict
        As :func:`solve_simplex_qp`.
    """
    y_s = np.asarray(y_s, dtype=np.float64)
    Q = K_ss * np.outer(y_s, y_s)
    if np.ndim(D_ss) == 1:
        Q[np.diag_indices_from(Q)] += D_ss
    else:
        Q += D_ss
    a, info = solve_simplex_qp(Q, tol=tol, max_iter=max_iter, overwrite_Q=True, solver=solver)
    scores = K_ts @ (a * y_s)
    order = np.argsort(-scores, kind="stable")
    out = []
    for k in n_positives:
        y = -np.ones(scores.shape[0])
        y[order[:k]] = 1.0
        out.append(y)
    return out, info


# ----------------------------------------------------------------------------------------------
# the MDA-HS problem of one binary task
# ----------------------------------------------------------------------------------------------

class SourceSlack:
    """The source rows' block ``D`` of the MDA-HS+ QP, added into ``Q`` without being held whole.

    Parameters
    ----------
    diag : (n_S,) array
        ``1/C_s`` on the rows without a correcting function, 0 on the others.
    terms : list of (rows, term)
        One per correcting function: its rows (increasing indices into the source rows) and its
        L2-SVM+ term there (:func:`~webly.solvers.l2svmplus.l2svmplus_privileged_term`), dense
        (r, r) or, for a linear text kernel, the factors ``(Psi, W)`` of
        :func:`~webly.solvers.l2svmplus.l2svmplus_privileged_factors` (r x (d~ + 1) each), added
        to ``Q`` row block by row block at each build: the r x r term is never held (at
        ``2 r^2 (d~ + 1)`` operations per build of Q).
    """

    def __init__(self, diag, terms):
        self.diag = np.asarray(diag, dtype=np.float64)
        self.terms = [(np.asarray(rows), term) for rows, term in terms]

    def scaled(self, scale):
        """``diag(sqrt(scale)) D diag(sqrt(scale))`` (the balance scale of the source rows); a
        dense term is scaled in place (the caller hands over its own arrays)."""
        root = np.sqrt(np.asarray(scale, dtype=np.float64))
        terms = []
        for rows, term in self.terms:
            rr = root[rows]
            if isinstance(term, tuple):
                term = (term[0] * rr[:, None], term[1] * rr[None, :])
            else:
                term *= rr[:, None]
                term *= rr[None, :]
            terms.append((rows, term))
        return SourceSlack(root * self.diag * root, terms)

    def add_to(self, Q):
        """``Q[:n_S, :n_S] += D``."""
        ar = np.arange(self.diag.shape[0])
        Q[ar, ar] += self.diag
        for rows, term in self.terms:
            add_privileged_term(Q, term, rows)
        return Q

    def block(self, sl):
        """``D[sl, sl]`` as a dense array (one source's block: the authors' initial labellings)."""
        idx = np.arange(self.diag.shape[0])[sl]
        out = np.diag(self.diag[sl])
        for rows, term in self.terms:
            keep = np.isin(rows, idx)
            if not keep.any():
                continue
            pos = np.searchsorted(idx, rows[keep])
            sub = ((term[0][keep], term[1][:, keep]) if isinstance(term, tuple)
                   else term[np.ix_(keep, keep)])
            add_privileged_term(out, sub, pos)
        return out


class _ProblemShape:
    """What both forms of one binary MDA-HS problem (kernel blocks, explicit rows) record of
    its rows: labels, prior, theta, sizes and the number of feature types per source."""

    def _set_shape(self, kernels, src_slices, y_src, prior, theta, n_t):
        self.kernels = kernels
        self.src_slices = src_slices
        self.y_src = np.asarray(y_src, dtype=np.float64)
        self.prior = np.asarray(prior, dtype=np.float64)
        self.theta = float(theta)
        self.n_S = self.y_src.shape[0]
        self.n_t = n_t
        self.n = self.n_S + self.n_t
        self.n_feat = {}
        for k in kernels:
            self.n_feat[k["source"]] = self.n_feat.get(k["source"], 0) + 1


class MDAHSProblem(_ProblemShape):
    """Kernel blocks of one binary MDA-HS problem; builds ``Q(mu)`` and kernel values fast.

    Parameters
    ----------
    kernels : list of dict
        One per base kernel ``(s, m)``: ``{"source": s, "feature": m (index into K_tt),
        "K_ss": (n_s, n_s), "K_st": (n_s, n_t)}``, kernels including the +1 bias.
    K_tt : list of (n_t, n_t) arrays
        Target kernel of each feature type (+1 included), shared by the sources having it.
    src_slices : list of slice
        Rows of each source among the source rows.
    y_src : (n_S,) array of {-1, +1}
    prior : (n_t, S) array
        ``f_s`` on the target rows.
    theta : float
    D_src : (n_S,) array, SourceSlack or (n_S, n_S) array
        Source block of D: ``1/C_s`` per row, or (MDA-HS+) with the privileged term.
    C_t : float
    """

    def __init__(self, kernels, K_tt, src_slices, y_src, prior, theta, D_src, C_t,
                 fixed_source_block=False):
        self.fixed_source_block = bool(fixed_source_block)
        self._set_shape(kernels, src_slices, y_src, prior, theta, K_tt[0].shape[0])
        self.K_tt = K_tt
        self.D_src = D_src
        self.C_t = float(C_t)
        self._Q = None
        self._sqrt = {}

    def kernel_sqrt(self, j):
        """Symmetric square root of base kernel j on its rows (source s, then the target rows),
        prior included: ``X`` with ``X X' = K_j``, computed once (the coordinates of the
        authors' labelling search)."""
        if j not in self._sqrt:
            k = self.kernels[j]
            s, m = k["source"], k["feature"]
            n_s = k["K_ss"].shape[0]
            K = np.empty((n_s + self.n_t, n_s + self.n_t))
            K[:n_s, :n_s] = k["K_ss"]
            K[:n_s, n_s:] = k["K_st"]
            K[n_s:, :n_s] = k["K_st"].T
            p = self.prior[:, s]
            K[n_s:, n_s:] = self.K_tt[m] + np.outer(p, p) / (self.theta * self.n_feat[s])
            w, U = np.linalg.eigh(K)
            self._sqrt[j] = (U * np.sqrt(np.maximum(w, 0.0))) @ U.T
        return self._sqrt[j]

    def build_Q(self, mu, Y):
        """``sum_{k,t} mu_{k,t} K_k∘y_t y_t' + D`` as an (n, n) array (reused buffer).

        ``Y`` is (n_t, T): the target part of every labelling. Built row block by row block from
        the kernel blocks (shared by the one-vs-rest problems): besides Q, temporaries of a block
        of rows only, no label-signed copy of a kernel block.
        """
        n_S = self.n_S
        if self._Q is None:
            self._Q = np.empty((self.n, self.n))
        Q = self._Q
        Q.fill(0.0)
        QT = Q[n_S:, n_S:]
        wm = {}
        Z = []
        for j, k in enumerate(self.kernels):
            s, m, sl = k["source"], k["feature"], self.src_slices[k["source"]]
            w_own = 1.0 / self.n_feat[s] if self.fixed_source_block else mu[j].sum()
            ys = self.y_src[sl]
            yw = (Y @ mu[j])[None, :]
            n_s = ys.shape[0]
            step = row_block(n_s)
            for i in range(0, n_s, step):
                r = slice(i, min(i + step, n_s))
                rows = slice(sl.start + i, sl.start + r.stop)
                blk = k["K_ss"][r] * np.outer(ys[r], ys)   # the label-signed block, exactly
                blk *= w_own
                Q[rows, sl] += blk
                # += : a source with several feature types has one cross block per type
                cross = ys[r, None] * k["K_st"][r]
                cross *= yw
                Q[rows, n_S:] += cross
            wm[m] = wm.get(m, 0.0) + mu[j]
            Z.append(self.prior[:, [s]] * Y * np.sqrt(mu[j] / (self.theta * self.n_feat[s])))
        Q[n_S:, :n_S] = Q[:n_S, n_S:].T
        for m, w in wm.items():   # one (n_t, n_t) temporary: the label products, then their
            L = (Y * w) @ Y.T     # product with K_tt in place
            L *= self.K_tt[m]
            QT += L
        del L
        Z = np.hstack(Z)
        QT += Z @ Z.T
        if isinstance(self.D_src, SourceSlack):
            self.D_src.add_to(Q)
        elif np.ndim(self.D_src) == 1:
            Q[np.arange(n_S), np.arange(n_S)] += self.D_src
        else:
            Q[:n_S, :n_S] += self.D_src
        Q[np.arange(n_S, self.n), np.arange(n_S, self.n)] += 1.0 / self.C_t
        return Q

    def solve(self, mu, Y, a0=None, *, tol=1e-3, max_iter=None, solver="libsvm"):
        """The inner QP for weights ``mu`` and labellings ``Y``: ``(a, info)`` of
        :func:`solve_simplex_qp` on :meth:`build_Q` (``info["rho"]`` the margin ``a'Qa``),
        warm-started from ``a0``."""
        return solve_simplex_qp(self.build_Q(mu, Y), x0=a0, tol=tol, max_iter=max_iter,
                                overwrite_Q=True, solver=solver)

    def kernel_values(self, a, Y):
        """``c_{k,t} = (a∘y_t)'K_k(a∘y_t)`` for every base kernel k and labelling column t."""
        n_S = self.n_S
        v = a[:n_S] * self.y_src
        U = a[n_S:, None] * Y
        KU = {m: None for m in {k["feature"] for k in self.kernels}}
        for m in KU:
            KU[m] = self.K_tt[m] @ U
        c = np.empty((len(self.kernels), Y.shape[1]))
        for j, k in enumerate(self.kernels):
            s, m, sl = k["source"], k["feature"], self.src_slices[k["source"]]
            vs = v[sl]
            ss = 0.0 if self.fixed_source_block else vs @ (k["K_ss"] @ vs)
            st = 2.0 * ((vs @ k["K_st"]) @ U)
            tt = np.einsum("it,it->t", U, KU[m])
            pr = (self.prior[:, s] @ U) ** 2 / (self.theta * self.n_feat[s])
            c[j] = ss + st + tt + pr
        return np.maximum(c, 1e-12 * np.max(np.abs(c)) if c.size else 0.0)

    def target_scores(self, a, mu, Y):
        """Decision values ``sum_{k,t} mu_{k,t} [K_k (a∘y_t)]`` on the target rows."""
        n_S = self.n_S
        v = a[:n_S] * self.y_src
        g = np.zeros(self.n_t)
        for j, k in enumerate(self.kernels):
            s, m, sl = k["source"], k["feature"], self.src_slices[k["source"]]
            u = a[n_S:] * (Y @ mu[j])
            g += mu[j].sum() * (v[sl] @ k["K_st"]) + self.K_tt[m] @ u
            g += self.prior[:, s] * (self.prior[:, s] @ u) / (self.theta * self.n_feat[s])
        return g

    def candidate_value(self, a, y_t):
        """``||c(y)||_2`` over base kernels for one target labelling (violation score)."""
        return float(np.linalg.norm(self.kernel_values(a, y_t[:, None])[:, 0]))


def authors_violated_labellings(problem, a, n_positives):
    """The release's most violated labellings: one per count in ``n_positives``.

    For base kernel j (source s) with square root ``X`` on its rows
    (:meth:`MDAHSProblem.kernel_sqrt`), each coordinate i scores a labelling y (source rows keep
    their labels) by ``|sum_r a_r y_r X_ri|``; with k positive target rows its two candidates
    are the k target rows of lowest ``a_r X_ri`` +1, or the k highest (the release's second
    candidate takes an index range that is empty when k <= n_t / 2, defect D9 of the authors'
    code; here it is the top k). For each k the labelling of largest score over coordinates and
    kernels is returned (first one on ties, coordinates in order, the low candidate first).
    One eigendecomposition per kernel and binary problem (cached by the problem).
    """
    n_S, n_t = problem.n_S, problem.n_t
    v = a[:n_S] * problem.y_src
    best = [(-np.inf, None)] * len(n_positives)
    for j, k in enumerate(problem.kernels):
        sl = problem.src_slices[k["source"]]
        X = problem.kernel_sqrt(j)
        n_s = sl.stop - sl.start
        src = v[sl] @ X[:n_s]
        tgt = a[n_S:, None] * X[n_s:]
        order = np.argsort(tgt, axis=0, kind="stable")
        csum = np.vstack([np.zeros((1, X.shape[1])),
                          np.cumsum(np.take_along_axis(tgt, order, axis=0), axis=0)])
        total = csum[-1]
        for b, kp in enumerate(n_positives):
            low = np.abs(src + 2.0 * csum[kp] - total)
            high = np.abs(src + total - 2.0 * csum[n_t - kp])
            vals = np.column_stack([low, high]).ravel()
            i = int(np.argmax(vals))
            if vals[i] > best[b][0]:
                col, top = divmod(i, 2)
                rows = order[n_t - kp:, col] if top else order[:kp, col]
                best[b] = (float(vals[i]), rows)
    out = []
    for _, rows in best:
        y = -np.ones(n_t)
        y[rows] = 1.0
        out.append(y)
    return out


#: the release's cutting plane stops when the margin changes by less than this (relative)
AUTHORS_ROUND_TOL = 1e-2
#: ... after at least this many rounds (the first included)
AUTHORS_MIN_ROUNDS = 5
#: weight of each new labelling before the weights are scaled onto the constraint (release)
AUTHORS_NEW_WEIGHT = 1e-3


def mdahs_binary(problem, init_labellings, *, ratio, balance_ratios=(0.0, 0.5),
                 weight_norm="l21", l2_ratio=0.5, max_rounds=5, mkl_max_iter=10,
                 mkl_tol=1e-3, cutting_plane_tol=1e-3, tol=1e-3, max_iter=None, solver="libsvm",
                 search="webly", n_positives=None):
    """Label-generating max-margin clustering with group MKL for one binary MDA-HS problem.

    Algorithm (cutting plane over target labellings, DESIGN.md 3.3):

    1. The working set starts with ``init_labellings`` (each source classifier's labelling of the
       target, balanced); ``mu`` starts uniform on the constraint boundary.
    2. MKL by alternation: solve the simplex QP for ``Q(mu)`` (warm-started), then the
       closed-form ``mu`` update from ``q = mu^2 c``; stop when the margin ``rho = a'Qa``
       changes by less than ``mkl_tol`` (relative) or after ``mkl_max_iter`` QPs.
    3. Most violated labelling: the current target scores, thresholded at 0 with the number of
       positives clamped into :func:`positive_band` for each ``br`` in ``balance_ratios``; the
       candidate with the largest ``||c(y)||_2`` (the dual norm of the l_{2,1} ball) is added
       if it beats the working set's best by more than ``cutting_plane_tol`` (relative) and is
       new; else stop. At most ``max_rounds`` labellings are added.

    With ``search="authors"`` (the release): ``mu`` starts at ``1/T``; the MKL runs at least 3
    QPs; every round adds, for each count in ``n_positives``, the labelling of
    :func:`authors_violated_labellings` (duplicates of earlier ones included, as in the release:
    identical columns share their weight at the optimum, so they do not change it) with weight
    ``AUTHORS_NEW_WEIGHT`` before ``mu`` is scaled onto the constraint; the rounds stop when
    ``rho`` changes by less than ``AUTHORS_ROUND_TOL`` (relative) after at least
    ``AUTHORS_MIN_ROUNDS`` rounds, or after ``max_rounds`` added rounds.

    Parameters
    ----------
    problem : MDAHSProblem or webly.multisource._mdahs_primal.MDAHSPrimalProblem
        The kernel blocks, or the explicit features (``solver="primal"``): anything with
        ``solve``, ``kernel_values``, ``target_scores``, ``candidate_value`` (and
        ``kernel_sqrt`` for ``search="authors"``).
    init_labellings : list of (n_t,) arrays of {-1, +1}
    ratio : float
        Fraction of positive source rows (the class ratio of the band).
    balance_ratios, weight_norm, l2_ratio, max_rounds, mkl_max_iter, mkl_tol,
    cutting_plane_tol, tol, max_iter, solver
        See :class:`~webly.multisource.MDAHS`.
    search : {"webly", "authors"}
        The labelling search (above).
    n_positives : list of int or None
        Positive target rows of each labelling the authors' search adds
        (:func:`authors_positive_counts`); ``search="authors"`` only.

    Returns
    -------
    solution : dict
        ``a`` (n,), ``mu`` (n_kernels, T), ``Y`` (n_t, T) labellings, ``rho``, ``target_scores``.
    info : dict
        ``status`` ("converged" or "max_iter"), ``n_iter`` (cutting-plane rounds),
        ``n_qp`` (QPs solved), ``objective`` (``-rho/2``, the saddle value), ``mkl_converged``.
    """
    t0 = time.perf_counter()
    Y = []
    for y in init_labellings:
        if not any(np.array_equal(y, z) for z in Y):
            Y.append(np.asarray(y, dtype=np.float64))
    Y = np.column_stack(Y)
    n_k = len(problem.kernels)
    authors = search == "authors"
    if authors:
        mu = np.full((n_k, Y.shape[1]), 1.0 / Y.shape[1])
    else:
        mu = scale_to_constraint(np.ones((n_k, Y.shape[1])), weight_norm, l2_ratio)
    bands = [positive_band(ratio, problem.n_t, br) for br in balance_ratios]
    a = None
    n_qp = 0
    qp_failures = 0
    status = "max_iter"
    mkl_ok = True
    round_rho = []
    for it in range(max_rounds + 1):
        rho_prev = None
        mkl_ok = False
        for i_mkl in range(mkl_max_iter):
            a, qinfo = problem.solve(mu, Y, a, tol=tol, max_iter=max_iter, solver=solver)
            n_qp += 1
            rho = qinfo["rho"]
            if qinfo["status"] != "converged":
                qp_failures += 1
                logger.debug("mdahs: inner QP stopped at its iteration limit")
            if (rho_prev is not None and abs(rho - rho_prev) <= mkl_tol * abs(rho_prev)
                    and (not authors or i_mkl >= 2)):
                mkl_ok = True
                break
            if i_mkl == mkl_max_iter - 1:
                break  # keep (a, mu) consistent: a solves the QP of the final mu
            rho_prev = rho
            c = problem.kernel_values(a, Y)
            mu = update_group_weights(mu ** 2 * c, weight_norm, l2_ratio)
        if authors:
            round_rho.append(rho)
            logger.debug("mdahs (authors' search): round %d, rho %.6g, %d labellings", it, rho,
                         Y.shape[1])
            if (it >= AUTHORS_MIN_ROUNDS - 1
                    and abs(rho - round_rho[-2]) < AUTHORS_ROUND_TOL * abs(round_rho[-2])):
                status = "converged"
                break
            if it == max_rounds:
                break
            new = authors_violated_labellings(problem, a, n_positives)
            Y = np.column_stack([Y] + new)
            mu = scale_to_constraint(
                np.column_stack([mu, np.full((n_k, len(new)), AUTHORS_NEW_WEIGHT)]),
                weight_norm, l2_ratio)
            continue
        c = problem.kernel_values(a, Y)
        best_in_set = float(np.max(np.linalg.norm(c, axis=0)))
        if it == max_rounds:
            break
        g = problem.target_scores(a, mu, Y)
        best, best_val = None, -np.inf
        for band in bands:
            y_new = balanced_labelling(g, band)
            if any(np.array_equal(y_new, Y[:, t]) for t in range(Y.shape[1])):
                continue
            val = problem.candidate_value(a, y_new)
            if val > best_val:
                best, best_val = y_new, val
        logger.debug("mdahs: round %d, rho %.6g, best in set %.6g, candidate %.6g", it, rho,
                     best_in_set, best_val)
        if best is None or best_val <= best_in_set * (1.0 + cutting_plane_tol):
            status = "converged"
            break
        Y = np.column_stack([Y, best])
        mu = scale_to_constraint(np.column_stack([mu, mu.mean(axis=1)]), weight_norm, l2_ratio)
    g = problem.target_scores(a, mu, Y)
    info = {"status": status, "n_iter": it, "n_qp": n_qp, "objective": -0.5 * rho, "rho": rho,
            "mkl_converged": mkl_ok, "qp_failures": qp_failures, "seconds": time.perf_counter() - t0}
    return {"a": a, "mu": mu, "Y": Y, "rho": rho, "target_scores": g}, info
