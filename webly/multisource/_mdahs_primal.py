"""MDA-HS on explicit features (``solver="primal"``): the problem of :mod:`._mdahs`, in the primal.

With explicit features ``phi_m`` of each feature type (the rows themselves for a linear kernel, a
:class:`~webly.solvers.primal.FeatureMap` for RBF), base kernel ``k = (s, m)`` is the Gram matrix
of the rows ``x^_k(i) = [phi_m(x_i), 1, pi_k(i)]`` on source s's rows and the target rows (zero
elsewhere), with the prior coordinate ``pi_k(i) = p_s(i) / sqrt(theta |F_s|)`` on target rows
(0 on source rows): ``K_k = X^_k X^_k'``. For weights ``mu`` and labellings ``y_1..y_T`` the
inner problem of :func:`~._mdahs.mdahs_binary`,

    min_{a in simplex} 1/2 a'(sum_{k,t} mu_{k,t} K_k∘y_t y_t' + D) a,

is the dual of the rho-margin L2-loss SVM on the rows ``r_i = concat_k (sqrt(mu_k) ∘ y_{.,i})
⊗ x^_k(i)`` (labels +1, no separate bias: the constant is in ``x^``):

    min_{v, m} 1/2 ||v||^2 - m + 1/2 sum_i max(0, m - v'r_i)^2 / D_ii,

(``v_{k,t} = w_{k,t} / sqrt(mu_{k,t})``: this is ``1/2 sum ||w_{k,t}||^2 / mu_{k,t}`` with
``f_i = sum_{k,t} y_{t,i} w_{k,t}'x^_k(i)``). Stationarity gives ``w_{k,t} = mu_{k,t}
X^_k'(a∘y_t)``, ``a_i = max(0, m - f_i) / D_ii``, ``sum a = 1`` and ``m = a'Qa`` (the kernel
path's margin ``rho``); the optimum is ``-rho/2``, the kernel path's ``objective``. MDA-HS+'s
source block ``(1/C_s)(I - (I + (C_s/lambda')(Z Z' + 1))^{-1})`` is the L2-SVM+ correcting
function ``u'z_i + c`` on the text rows ``z_i`` (Woodbury), the slack of those rows:
:func:`~webly.solvers.primal.l2svmplus_primal` solves both (``fit_intercept=False``).

The rows are held as :class:`MDAHSRows`: per kernel, the Householder rotation of
:func:`~webly.solvers.block_rows.label_rotation` maps ``sqrt(mu_k)`` to ``e_1``, so a source row
(its label is the same in every labelling) has one block per kernel of its source (``y_i
||sqrt(mu_k)|| x^_k(i)``), and only the target rows have all ``T`` blocks of every kernel. Those
are never formed: block ``(k, t)`` of target row i is ``C_k[p_i, t] x^_k(i)``, with ``p_i`` the
row's pattern of labels over the labellings, so products with them go through the rows ``[z_i,
1, priors]`` and the Hessian's Gram matrix of many target rows through one ``(E, E)`` Gram
matrix per pattern (:meth:`MDAHSRows._target_gram`). The
label norms ``c_{k,t} = ||X^_k'(a∘y_t)||^2``, the target scores and the most violated labelling
are computed from the multipliers ``a`` and the features, as the kernel path computes them from
its kernels (:class:`MDAHSPrimalProblem` has :class:`~._mdahs.MDAHSProblem`'s methods), so
:func:`~._mdahs.mdahs_binary` runs unchanged on it. With many parameters (512 features: 1,542 a
labelling over 3 sources) the Newton Hessian is kept unassembled, as those per-pattern moments
and each source's block (:class:`_LabelGram`), and its systems solved by preconditioned CG.

**On a Dask cluster** (the estimators' ``X``, and MDA-HS+'s ``X_priv``, as row-chunked Dask
arrays; one feature type, a linear text function): every row is held as one row of a persisted
Dask array in the target rows' layout ``[z, 1, prior of each kernel]`` (zeros for the prior on
source rows) plus its source and label, the source rows first (by source, each source's
partitions as given), then the target rows sent from the client; the target rows' labellings
follow as an (n, T) int8 Dask array chunked like the rows (:class:`DaskMDAHSRows`). Each
partition builds its own :class:`MDAHSRows` from them (:func:`_partition_rows`, the in-memory
matrix's :func:`mdahs_rows`), so :func:`~webly.solvers.primal.l2svmplus_primal`'s row kernels
and Gram matrices run there unchanged (MIL-CPB's :class:`~webly.solvers.block_rows.DaskBlockRows`
does the same for its label blocks). The warm start's ``F'a0`` and ``a0'Qa0`` are a map over
the partitions (:func:`_k_warm`); after a solve the multipliers stay there and only the
per-source sums ``[Z_s'(a∘y), sum a∘y]`` and the target rows' multipliers come back
(:class:`_DaskDual`): the label norms, target scores and labelling search on the client use
those and the target rows, as in memory. The per-row weights and labels are sent from the
client once per binary problem.
"""

import numpy as np

from ..errors import DataError
from ..solvers._rows import is_dask
from ..solvers.block_rows import (
    DaskStructuredRows,
    _Adjoint,
    label_rotation,
    structured_grams,
)
from ._mdahs import _ProblemShape

__all__ = ["DaskMDAHSRows", "MDAHSPrimalProblem", "MDAHSRows", "l2svm_source_primal",
           "mdahs_rows"]


def _rotation(mu_k):
    """:func:`label_rotation` of ``mu_k``; the identity when every weight is 0."""
    return label_rotation(mu_k) if np.sum(mu_k) > 0 else np.eye(len(mu_k))


class MDAHSRows:
    """The (n, sum_k T D_k) rows of one MDA-HS primal solve (see the module docstring).

    Parameters
    ----------
    narrow : list of (n_s, W_s) arrays
        Per source, the rows ``y_i [x^_k(i) for k of s]`` (label included), and
    narrow_cols : list of (W_s,) int arrays
        the columns of their first rotated blocks;
    narrow_scale : list of (W_s,) arrays
        ``||sqrt(mu_k)||`` on those columns.
    wide : (n_t, width) array
        The target rows, every block.
    """

    hessian_max = 6144  # as BlockRows: keep the Hessian (factorised up to 4,096, then CG)

    def __init__(self, narrow, narrow_cols, narrow_scale, wide, blocks, patterns=None):
        self.narrow, self.cols, self.scale = narrow, narrow_cols, narrow_scale
        self.wide = wide
        # the target rows by labelling pattern (see _target_gram): None, or a dict with
        # "code" (n_t,) pattern of each row, "C" per kernel (n_patterns, T) the rotated label
        # coefficients of each pattern, "E" (n_t, E) the rows [z (each feature type), 1,
        # prior of each kernel], "ecols" per kernel the columns of E of its x^, "one" the
        # column of the 1, "offs" each kernel's first column of w, "T", "width", and "Cfull"
        # (n_t, n_kernels T) each row's coefficients; with them ``wide`` is None: the target
        # rows are never formed (their products go through E, see _target_mv)
        self.patterns = patterns
        self.blocks = blocks  # (start, stop) column ranges of the (kernel, labelling) blocks
        self.n_S = sum(N.shape[0] for N in narrow)
        self.bounds = np.cumsum([0] + [N.shape[0] for N in narrow])
        if wide is None:
            self.n_t, self.width = patterns["E"].shape[0], patterns["width"]
        else:
            self.n_t, self.width = wide.shape
        self.n = self.n_S + self.n_t
        self.shape = (self.n, self.width)
        self.dtype = np.dtype(np.float64)

    @property
    def T(self):
        return _Adjoint(self)

    def __matmul__(self, w):
        w = np.asarray(w, dtype=np.float64)
        out = np.empty(self.n)
        for s, N in enumerate(self.narrow):
            out[self.bounds[s]:self.bounds[s + 1]] = N @ (self.scale[s] * w[self.cols[s]])
        out[self.n_S:] = self.wide @ w if self.wide is not None else self._target_mv(w)
        return out

    def _target_mv(self, w):
        """The target rows times ``w`` without forming them: row i's block (k, t) is
        ``Cfull[i, kT + t] x^_k(i)`` with ``x^_k(i) = E[i, ecols[k]]``, so the product is
        ``sum_j Cfull[i, j] (E W)[i, j]`` with ``W`` (E, n_kernels T) holding each block of
        ``w`` on its kernel's columns of E: a pass over the (n_t, E) rows E instead of the
        (n_t, n_kernels T D) target rows (8x fewer bytes at 8 labellings: at 10^6 rows these
        were 1.3 GB, read at every product)."""
        P = self.patterns
        return np.einsum("ij,ij->i", P["E"] @ self._target_w(w), P["Cfull"])

    def _target_w(self, w):
        P = self.patterns
        T = P["T"]
        W = np.zeros((P["E"].shape[1], len(P["C"]) * T))
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            W[ck, k * T:(k + 1) * T] = w[ok:ok + T * len(ck)].reshape(T, len(ck)).T
        return W

    def _target_rmv(self, v):
        """The adjoint of :meth:`_target_mv` (a vector of ``width``)."""
        P = self.patterns
        T = P["T"]
        G = P["E"].T @ (v[:, None] * P["Cfull"])
        out = np.zeros(self.width)
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            out[ok:ok + T * len(ck)] = G[ck, k * T:(k + 1) * T].T.reshape(-1)
        return out

    def _target_rows(self, j):
        """The target rows ``j`` (local indices), formed."""
        if self.wide is not None:
            return self.wide[j]
        P = self.patterns
        T = P["T"]
        out = np.zeros((len(j), self.width))
        E = P["E"][j]
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            out[:, ok:ok + T * len(ck)] = (P["Cfull"][j, k * T:(k + 1) * T][:, :, None]
                                          * E[:, None, ck]).reshape(len(j), T * len(ck))
        return out

    def rmatvec(self, v):
        v = np.asarray(v, dtype=np.float64)
        out = (self.wide.T @ v[self.n_S:] if self.wide is not None
               else self._target_rmv(v[self.n_S:]))
        for s, N in enumerate(self.narrow):
            out[self.cols[s]] += self.scale[s] * (N.T @ v[self.bounds[s]:self.bounds[s + 1]])
        return out

    def _source_of(self, idx):
        return np.searchsorted(self.bounds, idx, side="right") - 1

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        out = np.zeros((len(idx), self.width))
        tgt = idx >= self.n_S
        out[tgt] = self._target_rows(idx[tgt] - self.n_S)
        src = np.flatnonzero(~tgt)
        which = self._source_of(idx[src])
        for s in np.unique(which):
            sel = src[which == s]
            rows = idx[sel] - self.bounds[s]
            out[np.ix_(sel, self.cols[s])] = self.narrow[s][rows] * self.scale[s]
        return out

    def block_slices(self, size):
        out = [np.arange(lo, hi) for lo, hi in self.blocks]
        if size > self.width:
            out.append(np.arange(self.width, size))
        return out

    def grams(self, prob, fam, idx, dtype, diag=False, chunk=8192, out=None, sign=1.0):
        """As :meth:`webly.solvers.block_rows.BlockRows.grams`: the source rows' Jacobian rows
        have entries only in their source's first blocks and the parameters after ``w``, so
        their Gram matrix is formed on those columns and scattered (``out``, ``sign``: added
        in place, :func:`~webly.solvers.block_rows.structured_grams`)."""
        spec = prob.jac_spec(fam)
        has_f, has_s = spec[3], spec[4]
        idx = np.asarray(idx)
        glob = idx if fam.rows is None else fam.rows[idx]
        group = np.full(len(idx), -1)
        if has_f:
            src = glob < self.n_S
            group[src] = self._source_of(glob[src])
        narrow = (lambda g: self.cols[g],
                  lambda g, rows: self.narrow[g][rows - self.bounds[g]] * self.scale[g])
        if isinstance(out, _LabelGram):  # the Hessian kept implicitly (label_gram)
            tgt = group < 0 if has_f else np.zeros(len(idx), bool)
            if tgt.any() and (has_s or (len(spec) > 6 and spec[8])):
                raise ValueError("target rows in a family with a correcting function")
            structured_grams(prob, fam, idx[~tgt], dtype, group[~tgt], *narrow, chunk=chunk,
                             out=out, sign=sign)
            if tgt.any():
                rows = glob[tgt] - self.n_S
                yt = fam.y[idx[tgt]]
                codes = self.patterns["code"][rows] * 2 + (yt > 0)
                uniq, M, count = self._group_moments(rows, codes)
                out.add_groups([(int(c), bool(spec[5])) for c in uniq], sign * M, sign * count)
            return out
        if (self.patterns is not None and has_f and not has_s and not diag
                and (len(spec) == 6 or not spec[8]) and dtype == np.float64):
            tgt = np.flatnonzero(group < 0)
            rows = glob[tgt] - self.n_S
            yt = fam.y[idx[tgt]]
            codes = self.patterns["code"][rows] * 2 + (yt > 0)
            # one group's Gram costs about what one wide row's costs
            if len(tgt) > 2 * len(np.unique(codes)):
                keep = group >= 0
                out = structured_grams(prob, fam, idx[keep], dtype, group[keep], *narrow,
                                       chunk=chunk, out=np.zeros((spec[0], spec[0]))
                                       if out is None else out, sign=sign)
                self._target_gram(spec, rows, yt, codes, out, sign)
                return out
        return structured_grams(prob, fam, idx, dtype, group, *narrow, diag=diag, chunk=chunk,
                                out=out, sign=sign)

    def _group_moments(self, rows, codes):
        """``(codes, M, count)``: the distinct group codes of the target rows ``rows`` (local
        indices), each group's moments ``M_g = sum_{i in g} e_i e_i'`` of the rows ``E`` and
        its number of rows."""
        uniq, inv = np.unique(codes, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        cuts = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        E = self.patterns["E"][rows[order]]
        M = np.empty((len(uniq), E.shape[1], E.shape[1]))
        for g in range(len(uniq)):
            Eg = E[cuts[g]:cuts[g + 1]]
            M[g] = Eg.T @ Eg
        return uniq, M, np.diff(cuts).astype(np.float64)

    def label_gram(self, prob):
        """An empty :class:`_LabelGram` for ``prob``'s Hessian (the Newton solver keeps it
        implicitly above ``_FACTOR_MAX`` parameters), or None without labelling patterns."""
        if self.patterns is None:
            return None
        return _LabelGram(self.patterns, prob.size, prob.d)

    def _target_gram(self, spec, rows, yt, codes, out, sign):
        """Add ``sign`` times the Gram matrix of the target rows ``rows`` (their labels ``yt``)
        to the upper triangle of ``out``, by labelling pattern.

        A target row's Jacobian row is ``J_i = [y_i r_i, y_i, 0.., -1]`` (w, b, m) with the
        block ``(k, t)`` of ``r_i`` equal to ``C_k[p, t] x^_k(i)``: ``C_k[p]`` depends on the
        row only through its pattern ``p`` of labels over the labellings, and ``x^_k(i) = P_k
        e_i`` with ``e_i = [z_i, 1, prior of every kernel]``. So with ``M_g = sum_{i in g} e_i
        e_i'`` over the rows of each (pattern, label) group ``g`` the Gram matrix is, block by
        block, ``sum_g C_k[g] C_k'[g]' (x) P_k M_g P_k'`` (and its b, m rows from ``M_g``'s
        column of the 1): ``n E^2`` for the rows plus ``n_groups (T D)^2`` per pair of kernels,
        against ``n (sum_k T D_k)^2`` for the rows themselves (~1,600 columns at 8
        labellings: at 10^6 rows the full rebuilds of the Hessian were most of a solve)."""
        P = self.patterns
        size, d = spec[0], spec[1]
        has_m = spec[5]
        uniq, M, count = self._group_moments(rows, codes)
        pat = uniq // 2
        ysign = np.where(uniq % 2 == 1, 1.0, -1.0)
        T, one = P["T"], P["one"]
        Cg = [C[pat] for C in P["C"]]  # (n_groups, T) per kernel
        K = len(Cg)
        for k in range(K):
            ck, ok = P["ecols"][k], P["offs"][k]
            Dk = len(ck)
            for k2 in range(k, K):
                c2, o2 = P["ecols"][k2], P["offs"][k2]
                D2 = len(c2)
                B = M[:, ck][:, :, c2].reshape(len(uniq), Dk * D2)
                W = (Cg[k][:, :, None] * Cg[k2][:, None, :]).reshape(len(uniq), T * T)
                R = (W.T @ B).reshape(T, T, Dk, D2).transpose(0, 2, 1, 3).reshape(T * Dk,
                                                                                  T * D2)
                if k2 == k:
                    R = np.triu(R)
                out[ok:ok + T * Dk, o2:o2 + T * D2] += sign * R
            # b: J_b = y_i, so (w, b) = sum_i r_i; m: J_m = -1, (w, m) = -sum_i y_i r_i
            e1 = M[:, ck, one]  # (n_groups, D_k): sum_{i in g} x^_k(i)
            out[ok:ok + T * Dk, d] += sign * (Cg[k].T @ e1).reshape(-1)
            if has_m:
                out[ok:ok + T * Dk, size - 1] -= sign * ((Cg[k] * ysign[:, None]).T
                                                         @ e1).reshape(-1)
        out[d, d] += sign * count.sum()
        if has_m:
            out[d, size - 1] -= sign * (ysign @ count)
            out[size - 1, size - 1] += sign * count.sum()
        return out


class _LabelGram:
    """A Gram matrix ``sum_i J_i' J_i`` of :class:`MDAHSRows`' Jacobian rows kept implicitly:
    the Newton Hessian of a solve with many parameters (512 features, several labellings), where
    the kept dense ``(size, size)`` Hessian is factorised at every Newton step (4,626 parameters
    at 3 labellings) and the matrix-free Newton-CG above ``hessian_max`` makes a pass over the
    rows per product.

    Held as: ``narrow``, per set of columns ``keep`` (a source's first blocks and the
    parameters after ``w``; or those parameters alone: the text slack's ``Psi'Psi``) a dense
    ``(len(keep), len(keep))`` upper triangle; ``groups``, per (labelling pattern, label,
    has-m) group of target rows the moments ``M_g = sum_{i in g} e_i e_i'`` of their rows ``e_i
    = [z_i, 1, priors]`` and their count (see :meth:`MDAHSRows._target_gram`, of which this is
    the unassembled form); ``dvec`` a diagonal. A product costs ``n_groups E^2`` plus the
    sources' blocks, against ``size^2`` (or a pass over the rows); :meth:`blocks` forms the
    diagonal blocks of the preconditioner: every kernel's first labelling block (where the
    source rows and the target rows of one label in every labelling live: the rotation of
    :func:`~webly.solvers.block_rows.label_rotation`) with the parameters after ``w`` as one
    block, then one block per other (kernel, labelling).
    """

    def __init__(self, patterns, size, d):
        self.P, self.size, self.d = patterns, size, d
        self.narrow = {}
        self.groups = {}
        self.dvec = np.zeros(size)
        self._st = None

    def empty(self):
        return _LabelGram(self.P, self.size, self.d)

    def add_narrow(self, keep, G):
        key = (int(keep[0]), len(keep))
        hit = self.narrow.get(key)
        if hit is None:
            self.narrow[key] = (np.asarray(keep), G.copy())
        else:
            hit[1][...] += G

    def add_groups(self, keys, M, count):
        self._st = None
        for g, key in enumerate(keys):
            hit = self.groups.get(key)
            if hit is None:
                self.groups[key] = [M[g].copy(), float(count[g])]
            else:
                hit[0] += M[g]
                hit[1] += float(count[g])

    def axpy(self, a, other):
        """``self += a other`` (in place)."""
        self._st = None
        self.dvec += a * other.dvec
        for key, (keep, G) in other.narrow.items():
            hit = self.narrow.get(key)
            if hit is None:
                self.narrow[key] = (keep, a * G)
            else:
                hit[1][...] += a * G
        for key, (M, c) in other.groups.items():
            hit = self.groups.get(key)
            if hit is None:
                self.groups[key] = [a * M, a * c]
            else:
                hit[0] += a * M
                hit[1] += a * c
        return self

    def __iadd__(self, other):
        return self.axpy(1.0, other)

    def __isub__(self, other):
        return self.axpy(-1.0, other)

    def __rmul__(self, a):
        return self.empty().axpy(float(a), self)

    @classmethod
    def combine(cls, coefs, grams):
        """``sum_k coefs[k] grams[k]``, a new :class:`_LabelGram`."""
        out = grams[0].empty()
        for a, G in zip(coefs, grams):
            out.axpy(float(a), G)
        return out

    def _stacked(self):
        """The groups as arrays: pattern, label sign, has-m flag, count, moments (kept until
        the groups change)."""
        if self._st is None:
            self._st = self._stack()
        return self._st

    def _stack(self):
        keys = list(self.groups)
        if not keys:
            return None
        pat = np.array([k[0] // 2 for k in keys])
        ysg = np.array([1.0 if k[0] % 2 else -1.0 for k in keys])
        hm = np.array([1.0 if k[1] else 0.0 for k in keys])
        cnt = np.array([self.groups[k][1] for k in keys])
        M = np.stack([self.groups[k][0] for k in keys])
        return pat, ysg, hm, cnt, M

    def matvec(self, v):
        P, d, size = self.P, self.d, self.size
        out = self.dvec * v
        for keep, G in self.narrow.values():
            vk = v[keep]
            # G is an upper triangle: G v + G' v - diag(G) v
            out[keep] += G @ vk + G.T @ vk - np.diagonal(G) * vk
        st = self._stacked()
        if st is None:
            return out
        pat, ysg, hm, cnt, M = st
        T = P["T"]
        Q = np.zeros((len(pat), M.shape[1]))
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            Vk = v[ok:ok + T * len(ck)].reshape(T, len(ck))
            Q[:, ck] += P["C"][k][pat] @ Vk
        Q *= ysg[:, None]
        Q[:, P["one"]] += ysg * v[d] - hm * v[size - 1]
        U = np.matmul(M, Q[:, :, None])[:, :, 0]
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            out[ok:ok + T * len(ck)] += ((P["C"][k][pat] * ysg[:, None]).T
                                         @ U[:, ck]).reshape(-1)
        out[d] += ysg @ U[:, P["one"]]
        out[size - 1] -= hm @ U[:, P["one"]]
        return out

    def diagonal(self):
        P, d, size = self.P, self.d, self.size
        out = self.dvec.copy()
        for keep, G in self.narrow.values():
            out[keep] += np.diagonal(G)
        st = self._stacked()
        if st is None:
            return out
        pat, ysg, hm, cnt, M = st
        T = P["T"]
        dM = np.einsum("gii->gi", M)
        for k, (ck, ok) in enumerate(zip(P["ecols"], P["offs"])):
            out[ok:ok + T * len(ck)] += ((P["C"][k][pat] ** 2).T @ dM[:, ck]).reshape(-1)
        out[d] += cnt.sum()
        out[size - 1] += hm @ cnt
        return out

    def add_diag(self, vec):
        self.dvec = self.dvec + vec

    def blocks(self):
        """``[(index, dense symmetric block)]``: the preconditioner's diagonal blocks (see the
        class docstring), covering every parameter once."""
        P, size = self.P, self.size
        T = P["T"]
        dims = [len(ck) for ck in P["ecols"]]
        first = np.concatenate([np.arange(o, o + D) for o, D in zip(P["offs"], dims)]
                               + [np.arange(P["width"], size)])
        index = [first] + [np.arange(o + t * D, o + (t + 1) * D)
                           for o, D in zip(P["offs"], dims) for t in range(1, T)]
        H = [np.diag(self.dvec[b]) for b in index]
        loc = np.full(size, -1)
        loc[first] = np.arange(len(first))
        for keep, G in self.narrow.values():  # the source rows live in the first block only
            at = loc[keep]
            if (at < 0).any():
                raise ValueError("a narrow Gram block outside the first labelling blocks")
            H[0][np.ix_(at, at)] += G + np.triu(G, 1).T
        st = self._stacked()
        if st is not None:
            pat, ysg, hm, cnt, M = st
            self._first_target(H[0], loc, pat, ysg, hm, cnt, M)
            Mf = M.reshape(len(pat), -1)  # weighted sums of the moments: one product each
            for k, ck in enumerate(P["ecols"]):
                if T == 1:
                    break
                W = (P["C"][k][pat][:, 1:] ** 2).T  # (T - 1, n_groups)
                R = (W @ Mf).reshape(T - 1, M.shape[1], M.shape[1])
                for t in range(T - 1):
                    H[1 + k * (T - 1) + t] += R[t][np.ix_(ck, ck)]
        return list(zip(index, H))

    def _first_target(self, H, loc, pat, ysg, hm, cnt, M):
        """The target groups' part of the first block (every kernel's labelling 0, and the
        parameters after ``w``), added to ``H`` (full)."""
        P, d, size = self.P, self.d, self.size
        one = P["one"]
        K = len(P["C"])
        c0 = [P["C"][k][pat][:, 0] for k in range(K)]
        lo = [loc[o:o + len(ck)] for o, ck in zip(P["offs"], P["ecols"])]
        Mf = M.reshape(len(pat), -1)
        for k in range(K):
            ck = P["ecols"][k]
            for k2 in range(k, K):
                c2 = P["ecols"][k2]
                S = ((c0[k] * c0[k2]) @ Mf).reshape(M.shape[1], M.shape[1])[np.ix_(ck, c2)]
                H[np.ix_(lo[k], lo[k2])] += S
                if k2 != k:
                    H[np.ix_(lo[k2], lo[k])] += S.T
            e1 = M[:, ck, one]  # (n_groups, D_k)
            vb = c0[k] @ e1
            H[lo[k], loc[d]] += vb
            H[loc[d], lo[k]] += vb
            vm = -(c0[k] * ysg * hm) @ e1
            H[lo[k], loc[size - 1]] += vm
            H[loc[size - 1], lo[k]] += vm
        H[loc[d], loc[d]] += cnt.sum()
        bm = -(ysg * hm) @ cnt
        H[loc[d], loc[size - 1]] += bm
        H[loc[size - 1], loc[d]] += bm
        H[loc[size - 1], loc[size - 1]] += hm @ cnt


def _layout(dims, T):
    """``(offs, blocks)``: each kernel's first column of ``w`` (and the width last) and the
    (start, stop) columns of its (kernel, labelling) blocks, for kernels of ``dims`` columns
    and T labellings."""
    offs = np.cumsum([0] + [T * D for D in dims])
    blocks = [(int(offs[j] + t * D), int(offs[j] + (t + 1) * D))
              for j, D in enumerate(dims) for t in range(T)]
    return offs, blocks


def mdahs_rows(narrow, E, ecols, one, dims, sources, n_sources, mu, Y):
    """:class:`MDAHSRows` of the narrow source rows ``narrow`` (per source, ``y_i [x^_k(i) for k
    of s]``) and the target rows ``E`` ([z of each feature type, 1, prior of each kernel];
    kernel j's ``x^`` on the columns ``ecols[j]``, ``dims[j]`` of them, of source
    ``sources[j]``; ``one`` the column of the 1) for weights ``mu`` (n_kernels, T) and the
    target rows' labellings ``Y``: the in-memory matrix, and each partition's on Dask rows
    (:func:`_partition_rows`)."""
    T = Y.shape[1]
    n_t = E.shape[0]
    offs, blocks = _layout(dims, T)
    patterns = wide = None
    if T < 62:  # the target rows by labelling pattern, never formed (MDAHSRows)
        code = (Y > 0).astype(np.int64) @ (np.int64(1) << np.arange(T, dtype=np.int64))
        _, first, inv = np.unique(code, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        Yp = Y[first]
        C = [(Yp * np.sqrt(mu[j])) @ _rotation(mu[j]) for j in range(len(dims))]
        patterns = {"code": inv, "T": T, "E": E, "one": one,
                    "ecols": ecols, "offs": [int(o) for o in offs[:-1]], "C": C,
                    "width": int(offs[-1]), "Cfull": np.hstack([c[inv] for c in C])}
    else:
        wide = np.empty((n_t, int(offs[-1])))
    cols = [[] for _ in range(n_sources)]
    scale = [[] for _ in range(n_sources)]
    for j, s in enumerate(sources):
        D = dims[j]
        if wide is not None:
            H = _rotation(mu[j])
            Ct = (Y * np.sqrt(mu[j])) @ H      # (n_t, T): H (sqrt(mu) ∘ y_i), H symmetric
            Xh = E[:, ecols[j]]
            wide[:, offs[j]:offs[j + 1]] = (Ct[:, :, None]
                                            * Xh[:, None, :]).reshape(n_t, T * D)
        cols[s].append(np.arange(offs[j], offs[j] + D))
        scale[s].append(np.full(D, np.sqrt(mu[j].sum())))
    cols = [np.concatenate(c) if c else np.zeros(0, np.intp) for c in cols]
    scale = [np.concatenate(c) if c else np.zeros(0) for c in scale]
    return MDAHSRows(narrow, cols, scale, wide, blocks, patterns)


def _partition_rows(Rb, Lb, d, ecols, one, dims, sources, n_sources, mu):
    """One partition's :class:`MDAHSRows` on Dask rows (:class:`DaskMDAHSRows`): ``Rb[:, :d]``
    its rows ``[E-layout | source | y]`` (a source row's E-layout is ``[z, 1, 0..]``: its
    ``x^`` without a prior; sources in order, the target rows (source -1) last; MDA-HS+'s
    privileged features follow), ``Lb`` their labellings (read on the target rows)."""
    Rb = Rb[:, :d]
    width = d - 2
    E_all = Rb[:, :width]
    src = Rb[:, width]
    ys = Rb[:, width + 1]
    narrow = []
    for s in range(n_sources):
        sel = np.flatnonzero(src == s)
        own = [j for j in range(len(sources)) if sources[j] == s]
        parts = [E_all[sel][:, ecols[j]] for j in own]
        narrow.append(ys[sel][:, None] * np.hstack(parts) if parts
                      else np.zeros((len(sel), 0)))
    tgt = src < 0
    return mdahs_rows(narrow, np.ascontiguousarray(E_all[tgt]), ecols, one, dims, sources,
                      n_sources, mu, np.asarray(Lb[tgt], dtype=np.float64))


class DaskMDAHSRows(DaskStructuredRows):
    """:class:`MDAHSRows` over row-chunked Dask rows (MDA-HS on a Dask cluster): what
    :func:`~webly.solvers.primal.l2svmplus_primal` takes as ``F`` there.

    ``Phi`` (n, E + 2) holds every row in the E-layout of the target rows (:func:`mdahs_rows`)
    plus its source (-1 on the target rows) and label: the source rows first, by source, then
    the target rows. The target rows' labellings travel as an (n, T) int8 Dask array chunked
    like the rows (0 on the source rows); the weights ``mu`` with each task. Every partition
    builds its own :class:`MDAHSRows` (:func:`_partition_rows`); the backend is shared by the
    matrices made by :meth:`relabel` (:class:`~webly.solvers.block_rows.DaskStructuredRows`).
    """

    def __init__(self, Phi, layout, mu, Y, _shared=None):
        self.Phi, self.layout = Phi, layout
        self.mu = np.asarray(mu, dtype=np.float64)
        self.Y = np.asarray(Y)
        self._shared = {} if _shared is None else _shared
        self.width = int(sum(self.Y.shape[1] * D for D in layout["dims"]))
        self.shape = (Phi.shape[0], self.width)
        self.dtype = np.dtype(np.float64)

    def _labels(self):
        """The (n, T) int8 labellings, 0 on the source rows, chunked like the rows (persisted:
        lazy, its keys were lowered differently by later graphs and Dask warned); one array
        for the solves of one labelling set (the MKL steps)."""
        import dask.array as da

        L, T = self.layout, self.Y.shape[1]
        hit = self._shared.get("labels")
        if hit is not None and np.array_equal(hit[0], self.Y):
            return hit[1]
        labels = da.concatenate(
            [da.zeros((L["n_S"], T), dtype=np.int8, chunks=(L["src_chunks"], T)),
             da.from_array(self.Y.astype(np.int8), chunks=(L["tgt_chunks"], T))]).persist()
        self._shared["labels"] = (self.Y.copy(), labels)
        return labels

    def relabel(self, mu, Y):
        """The rows of other weights and labellings (sharing the backend)."""
        return DaskMDAHSRows(self.Phi, self.layout, mu, Y, self._shared)

    def cols(self, rows):
        """The solver's ``F`` over the backend ``rows`` whose ``F`` is ``Phi``."""
        from ..solvers._rows import _StructuredCols

        L = self.layout
        _, blocks = _layout(L["dims"], self.Y.shape[1])
        labels = self._labels().rechunk({0: rows.chunks, 1: -1})
        return _StructuredCols(rows.R, (rows.R, labels), _partition_rows, (
            rows.d, L["ecols"], L["one"], L["dims"], L["sources"], L["n_sources"], self.mu),
            self.width, blocks, MDAHSRows.hessian_max)


def _k_warm(F, a, C, Fp=None, P=None, u=None, c=0.0):
    """Row kernel of a warm start on Dask rows: ``F'a`` and ``a'Da`` of the previous solve's
    multipliers ``a`` (``a_i^2 / C_i``, and ``a_i s_i`` on the privileged rows ``P`` with the
    correcting function ``s = Fp u + c``)."""
    w = F.T @ a
    if Fp is None:
        return (), [w, float(np.sum(a ** 2 / C))], None
    s = np.asarray(Fp @ u, dtype=np.float64) + c
    return (), [w, float(np.sum(np.where(P, 0.0, a ** 2 / C))), float(np.where(P, a * s, 0.0)
                                                                        .sum())], None


def _k_source_sums(F, a, one, n_sources):
    """Row kernel: per source, ``[Z_s'(a∘y), sum a∘y]`` of the source rows (``F`` the rows
    ``[E-layout | source | y]``, ``z`` on the columns before ``one``)."""
    width = F.shape[1] - 2
    src, v = F[:, width], a * F[:, width + 1]
    out = np.zeros((n_sources, one + 1))
    for s in range(n_sources):
        sel = src == s
        out[s, :one] = F[sel, :one].T @ v[sel]
        out[s, one] = v[sel].sum()
    return (), [out], None


class _DaskDual:
    """The multipliers of a solve on Dask rows: ``a`` (n,) on the cluster (a warm start's), the
    source rows' sums per source ``src`` (:func:`_k_source_sums`) and the target rows'
    multipliers ``target`` on the client: what :meth:`MDAHSPrimalProblem._parts` reads."""

    def __init__(self, a, src, target):
        self.a, self.src, self.target = a, src, target


class MDAHSPrimalProblem(_ProblemShape):
    """One binary MDA-HS problem on explicit features; the methods of
    :class:`~._mdahs.MDAHSProblem` that :func:`~._mdahs.mdahs_binary` calls.

    Parameters
    ----------
    kernels : list of dict
        One per base kernel ``(s, m)``: ``{"source": s, "feature": m (index into Z_t),
        "Z_s": (n_s, d_m) features of source s's rows}``.
    Z_t : list of (n_t, d_m) arrays
        Target features of each feature type.
    src_slices, y_src, prior, theta, C_t
        As :class:`~._mdahs.MDAHSProblem`.
    C_src : (n_S,) array
        Squared-slack weight of each source row (``1 / D_ii``; on the text rows the weight of
        the correcting function, one value).
    Z_priv : (|P|, d~) array or None
        Text features of the rows ``priv_rows`` (MDA-HS+), in row order.
    priv_rows : (n_S,) bool array or None
    gamma_plus : float
        ``lambda'``.
    """

    def __init__(self, kernels, Z_t, src_slices, y_src, prior, theta, C_src, C_t, Z_priv=None,
                 priv_rows=None, gamma_plus=1.0):
        self._set_shape(kernels, src_slices, y_src, prior, theta, Z_t[0].shape[0])
        self.Z_t = Z_t
        nf = self.n_feat
        self.C = np.r_[np.asarray(C_src, dtype=np.float64), np.full(self.n_t, float(C_t))]
        self.Z_priv, self.gamma_plus = Z_priv, float(gamma_plus)
        self.priv_rows = None if priv_rows is None else np.r_[priv_rows, np.zeros(self.n_t, bool)]
        # the prior coordinate of each kernel on the target rows
        self.pi = [self.prior[:, k["source"]] / np.sqrt(self.theta * nf[k["source"]])
                   for k in kernels]
        # the narrow rows of each source: y_i [z_i, 1, 0] for each of its kernels
        self.dims = [k["Z_s"].shape[1] + 2 for k in kernels]
        self.on_dask = any(is_dask(k["Z_s"]) for k in kernels) or is_dask(Z_priv)
        self._narrow = []
        for s, sl in enumerate(src_slices if not self.on_dask else ()):
            own = [k for k in kernels if k["source"] == s]
            ys = self.y_src[sl][:, None]
            parts = [np.column_stack([k["Z_s"], np.ones(sl.stop - sl.start),
                                      np.zeros(sl.stop - sl.start)]) for k in own]
            self._narrow.append(ys * np.hstack(parts) if parts else np.zeros((0, 0)))
        # the target rows [z of each feature type, 1, prior of each kernel] and each kernel's
        # columns of them (x^_k), for the Hessian by labelling pattern (MDAHSRows._target_gram)
        feats = sorted({k["feature"] for k in kernels})
        fstart = np.cumsum([0] + [Z_t[m].shape[1] for m in feats])
        one = int(fstart[-1])
        self._E = np.column_stack([np.asarray(Z_t[m], dtype=np.float64) for m in feats]
                                  + [np.ones(self.n_t)] + self.pi)
        self._ecols = [np.r_[np.arange(fstart[feats.index(k["feature"])],
                                       fstart[feats.index(k["feature"]) + 1]), one, one + 1 + j]
                       for j, k in enumerate(kernels)]
        self._one = one
        self._state = None
        self.n_newton = 0
        if self.on_dask:
            self._setup_dask()

    def _setup_dask(self):
        """The rows on Dask (:class:`DaskMDAHSRows`): every row in the target rows' E-layout
        plus its source and label, the source rows from their Dask features (one kernel per
        source), the target rows sent from here; the solver's labels (ones), the per-row
        weights ``C`` and MDA-HS+'s text rows (one per row: zeros off the text rows) chunked
        like them."""
        import dask.array as da

        kernels, K = self.kernels, len(self.kernels)
        if any(sum(k["source"] == s for k in kernels) != 1 for s in range(len(self.src_slices))):
            raise DataError("X", "on Dask arrays each source has one feature type (X an array)")
        Ew = self._E.shape[1]
        parts, src_chunks = [], ()
        for s, sl in enumerate(self.src_slices):
            Z = kernels[[k["source"] for k in kernels].index(s)]["Z_s"]
            if Z.shape[1] != self._one:
                raise DataError("X", "on Dask arrays each source has one feature type")
            Z = (Z if is_dask(Z) else da.from_array(np.asarray(Z))).astype(np.float64)
            Z = Z.rechunk({1: -1})
            ch = Z.chunks[0]
            n_s = sl.stop - sl.start
            # [1, no prior (zeros), the source] on every row, then the labels
            rest = np.zeros((1, Ew - self._one + 1))
            rest[0, 0], rest[0, -1] = 1.0, s
            cols = da.broadcast_to(da.from_array(rest, chunks=(1, -1)), (n_s, rest.shape[1]),
                                   chunks=(ch, rest.shape[1]))
            y = da.from_array(self.y_src[sl][:, None], chunks=(ch, 1))
            parts.append(da.concatenate([Z, cols, y], axis=1))
            src_chunks += ch
        tgt = np.column_stack([self._E, np.full(self.n_t, -1.0), np.ones(self.n_t)])
        size = max(src_chunks) if src_chunks else self.n_t
        tgt_chunks = da.core.normalize_chunks((size,), (self.n_t,))[0]
        Phi = da.concatenate(parts + [da.from_array(tgt, chunks=(tgt_chunks, -1))], axis=0)
        chunks = Phi.chunks[0]
        layout = {"ecols": self._ecols, "one": self._one, "dims": self.dims,
                  "sources": [k["source"] for k in kernels], "n_sources": len(self.src_slices),
                  "n_S": self.n_S, "src_chunks": src_chunks, "tgt_chunks": tgt_chunks}
        T0 = np.zeros((self.n_t, 1))
        self._dask = DaskMDAHSRows(Phi, layout, np.zeros((K, 1)), T0)
        self._y1 = da.ones(self.n, chunks=(chunks,))
        self._Cd = da.from_array(self.C, chunks=(chunks,))
        self._Pd = None
        if self.Z_priv is not None:
            # one text row per row (zeros off the text rows), as the Dask solver takes them
            self._Pd = da.from_array(self.priv_rows, chunks=(chunks,))
            self.Z_priv = self._text_rows(src_chunks, tgt_chunks)

    def _text_rows(self, src_chunks, tgt_chunks):
        """MDA-HS+'s text rows ``Z_priv`` (the rows ``priv_rows``, in order) as one row per row
        of the Dask rows: the text of a source with text, zeros on the others and the target
        rows (never read: :func:`~webly.solvers.primal.l2svmplus_primal` switches them off)."""
        import dask.array as da

        Z = self.Z_priv
        if not is_dask(Z):
            raise DataError("X_priv", "on Dask arrays give X_priv as a Dask array too")
        dp = Z.shape[1]
        parts, pos, at = [], 0, 0
        for sl in self.src_slices:
            n_s = sl.stop - sl.start
            ch, k = [], 0
            while k < n_s:
                ch.append(src_chunks[at])
                k += src_chunks[at]
                at += 1
            on = self.priv_rows[sl]
            if on.all():
                parts.append(Z[pos:pos + n_s].astype(np.float64).rechunk((tuple(ch), dp)))
                pos += n_s
            elif not on.any():
                parts.append(da.zeros((n_s, dp), chunks=(tuple(ch), dp)))
            else:
                raise DataError("X_priv", "on Dask arrays a source has text on all its rows or "
                                          "on none")
        parts.append(da.zeros((self.n_t, dp), chunks=(tgt_chunks, dp)))
        return da.concatenate(parts)

    # ----------------------------------------------------------------- the rows of one solve
    def rows(self, mu, Y):
        """:class:`MDAHSRows` for weights ``mu`` (n_kernels, T) and labellings ``Y`` (on Dask
        rows a :class:`DaskMDAHSRows`)."""
        if self.on_dask:
            return self._dask.relabel(mu, Y)
        return mdahs_rows(self._narrow, self._E, self._ecols, self._one, self.dims,
                          [k["source"] for k in self.kernels], len(self.src_slices), mu, Y)

    def solve(self, mu, Y, a0=None, *, tol=1e-3, max_iter=None, solver=None):
        """The inner problem in the primal (:func:`~webly.solvers.primal.l2svmplus_primal`):
        ``(a, info)`` with ``info["rho"]`` the margin, as :meth:`~._mdahs.MDAHSProblem.solve`.
        Warm-started from ``a0``: the weights ``F'a0`` of these rows and the margin ``a0'Qa0``
        (and the previous solve's correcting function)."""
        from ..solvers.primal import l2svmplus_primal

        F = self.rows(mu, Y)
        if self.on_dask:
            return self._solve_dask(F, a0, tol, max_iter)
        start = None
        if a0 is not None and self._state is not None:
            th_prev, mults, rhos = self._state
            w = F.rmatvec(a0)
            if self.Z_priv is None:
                m = float(w @ w + np.sum(a0 ** 2 / self.C))  # a'Qa
                tail = th_prev[:0]
            else:
                # the text rows' slack is their correcting function s = u'z + c (the previous
                # solve's), not a_i / C_i: a'Qa = ||w||^2 + sum_N a_i^2 / C_i + sum_P a_i s_i.
                # (a_i^2 / C_i on the text rows made m ~150x too large at 20,000 rows: the
                # warm start began at an objective of 27 against -1.8e-5 at the optimum)
                dp = self.Z_priv.shape[1]
                tail = th_prev[len(th_prev) - dp - 2:-1]
                P = self.priv_rows
                s = self.Z_priv @ tail[:dp] + tail[dp]
                m = float(w @ w + np.sum(a0[~P] ** 2 / self.C[~P]) + a0[P] @ s)
            start = {"state": (np.r_[w, 0.0, tail, m], mults, rhos)}
        C = self.C
        w, _, _, _, info = l2svmplus_primal(
            F, np.ones(self.n), self.Z_priv, C=C, gamma_plus=self.gamma_plus, tol=tol,
            max_iter=max_iter, n_threads=None, priv_rows=self.priv_rows, start=start,
            fit_intercept=False)
        self._state = info["state"]
        self.n_newton += int(info["n_iter"])
        info["rho"] = float(info["margin"])
        return np.asarray(info["dual"], dtype=np.float64), info

    def _solve_dask(self, F, a0, tol, max_iter):
        """:meth:`solve` on Dask rows: the warm start's ``F'a0`` and ``a0'Qa0`` by a map over the
        partitions (:func:`_k_warm`), and the multipliers returned as a :class:`_DaskDual`."""
        from ..solvers.primal import l2svmplus_primal

        rows = F.backend(self._y1, self.Z_priv)
        start = None
        if a0 is not None and self._state is not None:
            th_prev, mults, rhos = self._state
            args = {"F": rows.blocks(F), "a": a0.a, "C": self._Cd}
            if self.Z_priv is None:
                tail = th_prev[:0]
            else:
                dp = self.Z_priv.shape[1]
                tail = th_prev[len(th_prev) - dp - 2:-1]
                args.update(Fp=rows.F_priv, P=self._Pd, u=tail[:dp], c=float(tail[dp]))
            (sums, _), = rows.compute([rows.run(_k_warm, rows_meta=(), **args)[1]])
            w = sums[0]
            m = float(w @ w + sum(sums[1:]))
            start = {"state": (np.r_[w, 0.0, tail, m], mults, rhos)}
        _, _, _, _, info = l2svmplus_primal(
            F, self._y1, self.Z_priv, C=self._Cd, gamma_plus=self.gamma_plus, tol=tol,
            max_iter=max_iter, n_threads=None, priv_rows=self.priv_rows, start=start,
            fit_intercept=False)
        self._state = info["state"]
        self.n_newton += int(info["n_iter"])
        info["rho"] = float(info["margin"])
        a = rows.persist(info["dual"])
        L = F.layout
        red = rows.run(_k_source_sums, rows_meta=(), F=rows.F, a=a, one=L["one"],
                       n_sources=L["n_sources"])[1]
        target, (sums, _) = rows.compute([a[self.n_S:], red])
        src = [(sums[0][s, :L["one"]], sums[0][s, L["one"]]) for s in L["sources"]]
        return _DaskDual(a, src, np.asarray(target, dtype=np.float64)), info

    # ----------------------------------------------------------------- as MDAHSProblem
    def _parts(self, a, Y):
        """Per kernel j: ``X^_j'`` of the source rows' ``a∘y`` (z part, bias) and of the target
        rows' ``a∘y_t`` (z part (d, T), bias (T,), prior (T,)); ``a`` a :class:`_DaskDual`
        on Dask rows."""
        n_S = self.n_S
        if isinstance(a, _DaskDual):
            src, a_t = a.src, a.target
        else:
            src, a_t = None, a[n_S:]
            v = a[:n_S] * self.y_src
        U = a_t[:, None] * Y
        ZU = {m: self.Z_t[m].T @ U for m in {k["feature"] for k in self.kernels}}
        bu = U.sum(axis=0)
        out = []
        for j, k in enumerate(self.kernels):
            if src is None:
                vs = v[self.src_slices[k["source"]]]
                gs, bs = k["Z_s"].T @ vs, vs.sum()
            else:
                gs, bs = src[j]
            out.append((gs, bs, ZU[k["feature"]], bu, self.pi[j] @ U))
        return out

    def kernel_values(self, a, Y):
        """``c_{k,t} = ||X^_k'(a∘y_t)||^2`` for every base kernel k and labelling column t."""
        c = np.empty((len(self.kernels), Y.shape[1]))
        for j, (gs, bs, G, bu, pr) in enumerate(self._parts(a, Y)):
            c[j] = (np.sum((gs[:, None] + G) ** 2, axis=0) + (bs + bu) ** 2 + pr ** 2)
        return np.maximum(c, 1e-12 * np.max(np.abs(c)) if c.size else 0.0)

    def weights(self, a, mu, Y):
        """Per kernel ``(w_z, w_bias, w_prior)``: ``sum_t mu_{k,t} X^_k'(a∘y_t)``."""
        out = []
        for j, (gs, bs, G, bu, pr) in enumerate(self._parts(a, Y)):
            ms = mu[j].sum()
            out.append((ms * gs + G @ mu[j], ms * bs + bu @ mu[j], pr @ mu[j]))
        return out

    def target_scores(self, a, mu, Y):
        """Decision values ``sum_k X^_k w_k`` on the target rows."""
        g = np.zeros(self.n_t)
        for j, (wz, wb, wp) in enumerate(self.weights(a, mu, Y)):
            g += self.Z_t[self.kernels[j]["feature"]] @ wz + wb + self.pi[j] * wp
        return g

    def candidate_value(self, a, y_t):
        """``||c(y)||_2`` over base kernels for one target labelling (violation score)."""
        return float(np.linalg.norm(self.kernel_values(a, y_t[:, None])[:, 0]))


def l2svm_source_primal(X, y, C=1.0, tol=1e-3, max_iter=None):
    """:func:`~._mdahs.l2svm_source_classifier` on explicit features ``X`` (the +1 bias is the
    regularised intercept of :func:`~webly.solvers.primal.l2svmplus_primal`): unit-norm weights
    ``(w, b) / ||(w, b)||``.

    Returns
    -------
    coef : (d,) array
    intercept : float
    info : dict
    """
    from ..solvers.primal import l2svmplus_primal

    y = np.asarray(y, dtype=np.float64)
    w, b, _, _, info = l2svmplus_primal(X, y, C=C, tol=tol, max_iter=max_iter, n_threads=None)
    norm = float(np.sqrt(w @ w + b * b))
    norm = norm if norm > 0 else 1.0
    info["w_norm"] = norm
    return w / norm, b / norm, info
