"""Per-labelling feature blocks for the primal solvers: the explicit form of label-kernel MKL.

MIL-CPB (:mod:`webly.mil._cutting_plane`) and, over target labellings, MDA-HS learn an l1-MKL
over *label kernels* ``K^ ∘ y_t y_t'`` (``K^`` the kernel of the rows with the bias as a
constant feature ``s``, ``y_t`` one labelling of the rows, ``t = 1..T``). For fixed weights
``d`` on the simplex the model is ``f_i = sum_t y_{t,i} w_t'phi^_i`` with the regulariser
``sum_t ||w_t||^2 / (2 d_t)``: with ``v_t = w_t / sqrt(d_t)`` an SVM (or L2-SVM, SVM+, L2-SVM+)
on the rows ``x_i = (sqrt(d) ∘ y_i) ⊗ phi^_i`` (T blocks of D features), whose Gram matrix is
``sum_t d_t K^ ∘ y_t y_t'``.

Explicitly those rows are ``T D`` wide. An orthogonal change of coordinates over the blocks
keeps the regulariser ``1/2 sum_t ||v_t||^2`` and the problem; :func:`label_rotation` takes the
Householder reflection ``H`` (symmetric, orthogonal) that maps ``sqrt(d)`` to ``e_1``. A row
whose labels are the same ``sigma`` in every labelling (the negative instances of MIL: -1 in
every ``y_t``) becomes ``sigma e_1 ⊗ phi^_i``, since ``H sqrt(d) = e_1``: it has only the first
block. Only the other rows (the positive-bag instances) need all T blocks, with coefficients
``c_i = H (sqrt(d) ∘ y_i)``. :class:`BlockRows` is that matrix, held as the D-wide rows plus the
(m, T) coefficients of its m general rows, so it costs the rows themselves plus m x D, not
n x T x D; it offers what the primal solvers read from ``F`` (``F @ w``, ``F.T @ v``, dense row
blocks ``F[idx]``), so :func:`webly.solvers.primal.svmplus_primal` and
:func:`~webly.solvers.primal.l2svmplus_primal` take it as ``F`` (with ``fit_intercept=False``:
the bias is the constant feature, inside the blocks).

In the rotated coordinates the weights are ``W`` (T, D), ``w = W.ravel()``; the blocks of the
original coordinates are ``V = H W`` (``w_t = sqrt(d_t) v_t``), and the decision function is
``sum_t sqrt(d_t) v_t'phi^(x) = (H sqrt(d))'W phi^(x) = W[0]'phi^(x)``: the first rotated block
alone. The label norms of the kernel path, ``q_t = (a∘y_t)'K^(a∘y_t) = ||sum_i a_i y_{t,i}
phi^_i||^2``, are ``||v_t||^2 / d_t`` at the optimum (``v_t = sqrt(d_t) sum_i a_i y_{t,i}
phi^_i``).
"""

import numpy as np

__all__ = ["BlockRows", "DaskBlockRows", "DaskStructuredRows", "label_rotation",
           "structured_grams"]


def label_rotation(d):
    """The symmetric orthogonal ``H`` (T, T) with ``H sqrt(d) = e_1`` (a Householder reflection;
    the identity when ``sqrt(d) = e_1``)."""
    r = np.sqrt(np.asarray(d, dtype=np.float64))
    r = r / np.linalg.norm(r)
    v = r.copy()
    v[0] -= 1.0
    vv = v @ v
    H = np.eye(len(r))
    if vv > 1e-300:
        H -= (2.0 / vv) * np.outer(v, v)
    return H


class _Adjoint:
    def __init__(self, B):
        self.B = B
        self.shape = B.shape[::-1]
        self.dtype = B.dtype

    def __matmul__(self, v):
        return self.B.rmatvec(v)


class BlockRows:
    """The (n, T D) matrix whose row i is ``kron(c_i, [phi_i, const])``.

    ``c_i = coef[k]`` for the general rows ``i = rows[k]`` and ``c_i = e_1`` (the first block
    only) for every other row (see the module docstring). ``const`` appends a constant feature
    to every row of ``phi`` without copying it (the bias as a feature; 0: none).

    Parameters
    ----------
    Phi : (n, d) float32 or float64 array
        The rows' features; float32 is kept.
    coef : (m, T) array
        Block coefficients of the general rows.
    rows : (m,) int array
        Their row indices, sorted.
    const : float
        The constant feature ``s`` (D = d + 1 when nonzero, else d).
    Phi_rows : (m, d) array or None
        ``Phi[rows]`` when the caller already holds it (it is kept, not copied, so that
        successive matrices of one fit share it).
    """

    #: most parameters for which the primal solvers keep the Newton Hessian (exactly, by rank-k
    #: updates; factorised up to 4,096, solved by block-preconditioned CG above: see
    #: ``webly.solvers.primal._FACTOR_MAX``): up to 11 labellings of 512
    #: features. The Hessian of the general rows is cheap to update, while matrix-free CG on
    #: the rows needs hundreds of passes over them per Newton step.
    hessian_max = 6144

    def __init__(self, Phi, coef, rows, const=0.0, Phi_rows=None):
        self.Phi = Phi
        self.coef = np.asarray(coef, dtype=np.float64)
        self.rows = np.asarray(rows, dtype=np.intp)
        self.const = float(const)
        self.Phi_rows = Phi[self.rows] if Phi_rows is None else Phi_rows
        self.n, self.d = Phi.shape
        self.D = self.d + (1 if self.const else 0)
        self.n_blocks = self.coef.shape[1]
        self.shape = (self.n, self.n_blocks * self.D)
        self.dtype = Phi.dtype
        # the first block's coefficient of every row (1 off the general rows)
        self.c0 = np.ones(self.n)
        self.c0[self.rows] = self.coef[:, 0]

    @property
    def T(self):
        """The adjoint: ``F.T @ v`` is :meth:`rmatvec`."""
        return _Adjoint(self)

    def _block_out(self, P, W):
        """``P [W[:, :d]]' + const W[:, d]`` for rows P (float64)."""
        out = np.asarray(P @ W[:, :self.d].T.astype(P.dtype, copy=False), dtype=np.float64)
        if self.const:
            out += self.const * W[:, self.d]
        return out

    def __matmul__(self, w):
        W = np.asarray(w, dtype=np.float64).reshape(self.n_blocks, self.D)
        base = self._block_out(self.Phi, W[:1])[:, 0]
        out = base * self.c0
        if self.n_blocks > 1 and len(self.rows):
            rest = self._block_out(self.Phi_rows, W[1:])
            out[self.rows] += np.einsum("it,it->i", rest, self.coef[:, 1:])
        return out

    def rmatvec(self, v):
        """``F' v`` as a (T D,) float64 vector."""
        v = np.asarray(v, dtype=np.float64)
        W = np.zeros((self.n_blocks, self.D))
        u = v * self.c0
        W[0, :self.d] = np.asarray(self.Phi.T @ u.astype(self.dtype, copy=False), np.float64)
        if self.const:
            W[0, self.d] = self.const * u.sum()
        if self.n_blocks > 1 and len(self.rows):
            U = v[self.rows, None] * self.coef[:, 1:]  # (m, T - 1)
            W[1:, :self.d] = np.asarray(U.astype(self.dtype, copy=False).T @ self.Phi_rows,
                                        np.float64)
            if self.const:
                W[1:, self.d] = self.const * U.sum(axis=0)
        return W.ravel()

    def __getitem__(self, idx):
        """Dense rows ``idx`` (an index array), (len(idx), T D) in the features' dtype."""
        idx = np.asarray(idx)
        P = np.asarray(self.Phi[idx])
        if self.const:
            P = np.column_stack([P, np.full(len(idx), self.const, dtype=P.dtype)])
        C = np.zeros((len(idx), self.n_blocks))
        C[:, 0] = 1.0
        pos = np.searchsorted(self.rows, idx)
        hit = (pos < len(self.rows)) & (self.rows[np.minimum(pos, len(self.rows) - 1)] == idx) \
            if len(self.rows) else np.zeros(len(idx), bool)
        C[hit] = self.coef[pos[hit]]
        out = C.astype(P.dtype)[:, :, None] * P[:, None, :]
        return out.reshape(len(idx), self.n_blocks * self.D)

    def block_slices(self, size):
        """Index arrays of the Hessian's diagonal blocks: one per labelling, then the
        parameters after ``w`` (up to ``size``)."""
        D = self.D
        out = [np.arange(t * D, (t + 1) * D) for t in range(self.n_blocks)]
        if size > self.n_blocks * D:
            out.append(np.arange(self.n_blocks * D, size))
        return out

    def is_general(self, idx):
        """Which of the rows ``idx`` have all T blocks (the others only the first)."""
        if not len(self.rows):
            return np.zeros(len(idx), dtype=bool)
        pos = np.minimum(np.searchsorted(self.rows, idx), len(self.rows) - 1)
        return self.rows[pos] == idx

    def rows_hat(self, idx):
        """``[phi_i, const]`` of the rows ``idx`` (dense, the features' dtype)."""
        P = np.asarray(self.Phi[idx])
        if self.const:
            P = np.column_stack([P, np.full(len(idx), self.const, dtype=P.dtype)])
        return P

    def grams(self, prob, fam, idx, dtype, diag=False, chunk=8192, out=None, sign=1.0):
        """``sum_{i in idx} J_i' J_i`` (upper triangle, float64; ``diag``: its diagonal) of the
        constraint Jacobian rows of ``prob``'s family ``fam`` (``idx``: the family's rows).

        The rows with one block have Jacobian entries only in the first block of ``w`` and the
        parameters after ``w`` (bias, correcting function, margin): their Gram is formed on
        those ``D + extra`` columns (``n D^2`` rather than ``n (T D)^2``) and scattered; the
        general rows go through the full Jacobian (:func:`structured_grams`).
        """
        has_f = prob.jac_spec(fam)[3]
        idx = np.asarray(idx)
        glob = idx if fam.rows is None else fam.rows[idx]
        general = self.is_general(glob) if has_f else np.ones(len(idx), dtype=bool)
        first = np.arange(self.D)
        return structured_grams(prob, fam, idx, dtype, np.where(general, -1, 0),
                                lambda g: first, lambda g, rows: self.rows_hat(rows),
                                diag=diag, chunk=chunk, out=out, sign=sign)


class DaskStructuredRows:
    """Structured rows over row-chunked Dask rows ``Phi``: what
    :func:`~webly.solvers.primal.svmplus_primal` and
    :func:`~webly.solvers.primal.l2svmplus_primal` take as ``F`` on a Dask cluster, where every
    partition builds its own structured rows (:class:`DaskBlockRows`: MIL-CPB's label blocks;
    :class:`webly.multisource._mdahs_primal.DaskMDAHSRows`: MDA-HS's source and target rows).
    A subclass has ``Phi``, ``shape``, ``dtype``, ``_shared`` (a dict shared by the matrices
    of one fit) and ``cols(rows)``: the solver's ``F`` over the backend ``rows``
    (a :class:`webly.solvers._rows._StructuredCols`).

    The rows backend (the persisted ``[Phi | F_priv]``, checked once) is kept across the
    matrices made from one another (``_shared``), for the same ``y`` and ``F_priv`` objects:
    a cutting plane's solves persist the rows once, not once per solve.
    """

    def backend(self, y, F_priv, keep_float32=True):
        """The :class:`~webly.solvers._rows.DaskRows` of ``[Phi | F_priv]`` with labels ``y``,
        made once for the same ``y`` and ``F_priv`` objects."""
        from ._rows import DaskRows

        hit = self._shared.get("rows")
        if hit is None or hit[0] is not y or hit[1] is not F_priv or hit[2] != keep_float32:
            hit = (y, F_priv, keep_float32, DaskRows(self.Phi, y, F_priv,
                                                     keep_float32=keep_float32))
            self._shared["rows"] = hit
        return hit[3]


class DaskBlockRows(DaskStructuredRows):
    """:class:`BlockRows` over row-chunked Dask rows (MIL-CPB on a Dask cluster): what
    :func:`~webly.solvers.primal.svmplus_primal` and
    :func:`~webly.solvers.primal.l2svmplus_primal` take as ``F`` there.

    ``Phi`` (n, d) and the labellings ``labels`` ((n, T), chunked like ``Phi``'s rows) stay on
    the cluster; only the MKL weights ``weights`` (T,) travel with each task. Every partition
    builds its own :class:`BlockRows` from its rows: the general rows (all T blocks) are those
    whose label ``y`` is +1, with ``coef = (labels * sqrt(d)) @ H`` (``H`` =
    :func:`label_rotation` of ``d``), the others have the first block only, as in memory
    (:meth:`cols`).

    The rows backend is kept across the matrices made by :meth:`relabel` from one another
    (:meth:`DaskStructuredRows.backend`).
    """

    def __init__(self, Phi, labels, weights, const=0.0, _shared=None):
        self.Phi, self.labels = Phi, labels
        self.weights = np.asarray(weights, dtype=np.float64)
        self.const = float(const)
        n, d = Phi.shape
        if labels.shape != (n, len(self.weights)):
            raise ValueError(f"labels must be (n, T) = ({n}, {len(self.weights)}), got "
                             f"{labels.shape}")
        self.D = d + (1 if self.const else 0)
        self.n_blocks = len(self.weights)
        self.shape = (n, self.n_blocks * self.D)
        self.dtype = Phi.dtype
        self._shared = {} if _shared is None else _shared

    def relabel(self, labels, weights):
        """The matrix of other labellings and weights on the same rows (sharing the backend)."""
        return DaskBlockRows(self.Phi, labels, weights, self.const, self._shared)

    def cols(self, rows):
        """The solver's ``F`` over the backend ``rows`` whose ``F`` is ``Phi``
        (:class:`~webly.solvers._rows._BlockCols`)."""
        from ._rows import _BlockCols

        d = self.weights
        labels = self.labels.rechunk({0: rows.chunks, 1: -1})
        return _BlockCols(rows.R, 0, rows.d, labels, rows.y, np.sqrt(d), label_rotation(d),
                          self.const)


def structured_grams(prob, fam, idx, dtype, group, narrow_cols, narrow_rows, diag=False,
                     chunk=8192, out=None, sign=1.0):
    """``sum_{i in idx} J_i' J_i`` (upper triangle, float64; ``diag``: its diagonal) of the
    constraint Jacobian rows of ``prob``'s family ``fam`` whose feature rows are narrow.

    ``group[k]`` is -1 for a row ``idx[k]`` read whole (``prob.jac_rows``), or ``g >= 0`` for a
    row whose features live on the columns ``narrow_cols(g)`` of ``w`` only, with the values
    ``narrow_rows(g, rows)`` (rows: global indices): its Jacobian is formed on those columns and
    the parameters after ``w``, and its Gram matrix scattered (:class:`BlockRows`' one-block
    rows; MDA-HS's source rows, :class:`webly.multisource._mdahs_primal.MDAHSRows`). A family
    with a second correcting function (``prob.Fv``, ``prob.v_w``: the -DA term of
    MIL-CPB-PI-DA) has its columns on the narrow rows as well.

    ``out`` (a C-contiguous float64 (size, size) array, or an object with ``add_narrow(keep,
    G)`` that keeps the narrow blocks themselves; not with ``diag``): ``sign`` times the
    Gram matrix is added to its upper triangle in place and ``out`` returned (the Hessian's
    rank-k updates: no (size, size) temporary per update, which at 1,600 parameters cost more
    than the few rows' products).
    """
    from scipy.linalg import get_blas_funcs

    from ._rows import jac_block

    spec = prob.jac_spec(fam)
    size, d, dp, has_f, has_s, has_m = spec[:6]
    # a second correcting function on the family's rows (the -DA term: MIL-CPB-PI-DA's
    # instance features under its label blocks): its columns follow w and b as in the full row
    has_v = len(spec) > 6 and spec[8]
    # an implicitly kept Gram matrix (MDA-HS's _LabelGram): each narrow group's block is added
    implicit = out is not None and hasattr(out, "add_narrow")
    inplace = (out is not None and not implicit and not diag and dtype == np.float64
               and out.flags.c_contiguous)
    if out is not None and not inplace and not implicit:
        out += sign * structured_grams(prob, fam, idx, dtype, group, narrow_cols, narrow_rows,
                                       chunk=chunk)
        return out
    if out is None:
        out = np.zeros(size if diag else (size, size))
    syrk = get_blas_funcs("syrk", dtype=dtype)
    idx = np.asarray(idx)
    if not has_f:
        # no feature columns (the correcting function's own Gram, ``Psi'Psi``): every row is
        # narrow on no columns of w; formed on the parameters after w only (measured: 44 of the
        # 140 s of MDA-HS+ at 20,000 rows went to this Gram on the full width, once per solve)
        group = np.zeros(len(idx), dtype=np.intp)
        narrow_cols, narrow_rows = (lambda g: np.zeros(0, np.intp)), (lambda g, rows: None)
    for g in np.unique(group):
        rows = idx[group == g]
        cols = None if g < 0 else narrow_cols(g)
        keep = None if g < 0 else np.r_[cols, d:size]
        for lo in range(0, len(rows), chunk):
            k = rows[lo:lo + chunk]
            if keep is None:
                J = prob.jac_rows(fam, k, dtype)
            else:
                gl = k if fam.rows is None else fam.rows[k]
                narrow = (len(keep), len(cols), dp, has_f, has_s, has_m)
                Vr = vwr = None
                if has_v:
                    narrow += (len(cols) + spec[6] - d, spec[7], True)
                    Vr = prob.Fv[gl]
                    vwr = None if prob.v_w is None else prob.v_w[gl]
                J = jac_block(narrow, narrow_rows(g, gl), prob.Fp[k] if has_s else None,
                              fam.y[k] if has_f else None, len(k), dtype, Vr=Vr, vwr=vwr)
            if diag:
                val = np.einsum("ij,ij->j", J, J, dtype=np.float64)
                if keep is None:
                    out += val
                else:
                    out[keep] += val
            elif implicit:
                if keep is None:
                    raise ValueError("an implicitly kept Gram matrix takes narrow rows only")
                out.add_narrow(keep, syrk(sign, J.T, trans=0, lower=0))
            elif keep is None and inplace:
                # out' is Fortran-ordered: its lower triangle is out's upper one
                syrk(sign, J.T, beta=1.0, c=out.T, trans=0, lower=1, overwrite_c=1)
            else:
                G = syrk(sign, J.T, trans=0, lower=0)
                if keep is None:
                    out += G
                else:
                    out[np.ix_(keep, keep)] += G
    return out
