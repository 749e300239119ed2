"""Passes over the rows for the primal solvers: in memory, or over the partitions of a Dask array.

The method of :mod:`webly.solvers.primal` touches its n rows only through *row kernels*: plain
numpy functions of the rows' features and per-row vectors that return per-row outputs, sums
(gradient ``F' v``, value terms, counts) and maxima (the kernels ``_k_*`` of
:mod:`webly.solvers.primal`), and Gram matrices ``sum_i J_i' J_i`` of the constraint Jacobian
over a selection of rows (the Newton Hessian). A *rows backend* runs them:

- :class:`NumpyRows`: dense numpy arrays or CSR matrices in this process; a kernel runs once on
  all rows (``compute``, ``persist`` and ``evaluate`` return their argument), so the in-memory
  solve is the code as written.
- :class:`DaskRows`: a row-chunked :class:`dask.array.Array`. A kernel runs on every partition
  (one task each, where the partition lives) and one task adds the partitions' sums and takes
  their maxima; the Gram matrices are such a map too. Only ``(d + d~ + 2)``-sized results reach
  the client, which solves the small Newton system there: dask-glm's data-parallel full-batch
  Newton. Per-row state (decision values, slacks, multipliers, active sets, the line search's
  pieces) stays on the cluster inside the partitions' results (:class:`_Part`), persisted after
  each update, so the client never holds an n-vector: a fit needs the cluster's memory for the
  rows, not the client's. A few once-per-solve steps (decision values at the start of a round,
  the objective) use ordinary Dask array arithmetic.

Nothing here imports Dask unless a Dask array is passed.
"""

import sys
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_blas_funcs

from ..base import check_feature_scale, check_pm1, check_row_features, max_feature_scale
from ..errors import DataError

#: rows per Jacobian block of the Hessian passes (bounds their temporary memory)
CHUNK = 8192


def is_dask(x):
    """Whether ``x`` is a Dask array (without importing Dask when nobody has)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def _mv(F, w):
    """``F @ w`` as float64 without upcasting a float32 F (that would copy it)."""
    return np.asarray(F @ w.astype(F.dtype, copy=False), dtype=np.float64).ravel()


def _rmv(F, v):
    """``F.T @ v`` as float64."""
    return np.asarray(F.T @ v.astype(F.dtype, copy=False), dtype=np.float64).ravel()


def jac_block(spec, Fr, Pr, yr, n_rows, dtype, Vr=None, vwr=None):
    """Rows ``+-dg_i/dtheta`` of a constraint family (the sign cancels in outer products).

    ``spec = (size, d, dp, has_f, has_s, has_m)`` is the parameter layout ``[w, b, u, c, m]``
    and the terms of the family; ``Fr``, ``Pr`` and ``yr`` are the rows' features, privileged
    features and labels (only those the family uses are read). With a second correcting
    function (``[w, b, u, c, u2, c2, m]``) ``spec`` goes on with ``(start of u2, its size,
    has_v)``, and ``Vr``, ``vwr`` are its rows' features and offset weights (None: ones).
    """
    size, d, dp, has_f, has_s, has_m = spec[:6]
    J = np.zeros((n_rows, size), dtype=dtype)
    if has_f:
        Fr = Fr.toarray() if sp.issparse(Fr) else Fr
        yk = yr.astype(dtype)
        J[:, :d] = Fr * yk[:, None]
        J[:, d] = yk
    if has_s:
        J[:, d + 1:d + 1 + dp] = Pr.toarray() if sp.issparse(Pr) else Pr
        J[:, d + 1 + dp] = 1.0
    if has_m:
        J[:, -1] = -1.0
    if len(spec) > 6 and spec[8]:
        iv, dv = spec[6], spec[7]
        J[:, iv:iv + dv] = Vr.toarray() if sp.issparse(Vr) else Vr
        J[:, iv + dv] = 1.0 if vwr is None else vwr
    return J


def select(sel):
    """The row mask of a selection: None (all rows), a mask, or ``("and", a, b)`` /
    ``("andnot", a, b)`` (``a & b``, ``a & ~b``) of two masks."""
    if sel is None or not isinstance(sel, tuple):
        return sel
    op, a, b = sel
    return a & b if op == "and" else a & ~b


class NumpyRows:
    """The rows in this process (dense arrays or CSR matrices): every operation runs at once."""

    lazy = False

    def zeros(self, n, dtype=np.float64):
        return np.zeros(n, dtype=dtype)

    def vector(self, v):
        return np.asarray(v, dtype=np.float64)

    def array(self, x):
        return x

    def mv(self, F, w):
        return _mv(F, w)

    def compute(self, x):
        return x

    def persist(self, x):
        return x

    def evaluate(self, keep, values):
        """``(keep, values)``: per-row results to keep (persisted where the rows are) and
        reductions to bring to the client, from one evaluation."""
        return keep, values

    def index_mask(self, idx, n):
        """(n,) boolean mask of the sorted row indices ``idx``."""
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return mask

    def run(self, kernel, **args):
        """``(per-row outputs, (sums, maxima))`` of a row kernel on all rows."""
        rows, sums, tops = kernel(**args)
        return rows, (sums, tops)

    def line_steps(self, kernel, advance, state, args, **rows):
        """The next iteration of an iterative search over the rows: ``kernel(**rows,
        state=state)`` gives the rows' sums, ``advance(state, sums, *args)`` the next state."""
        return advance(state, kernel(state=state, **rows)[1], *args)

    def grams(self, prob, requests, dtype):
        """``[(sum_{i in sel} J_i' J_i`` (upper triangle, float64), number of rows)]`` for each
        ``(family, sel)`` request (``sel``: see :func:`select`)."""
        syrk = get_blas_funcs("syrk", dtype=dtype)
        out = []
        for fam, sel in requests:
            sel = select(sel)
            idx = np.arange(fam.n) if sel is None else np.flatnonzero(sel)
            if hasattr(prob.F, "grams"):  # structured rows (webly.solvers.block_rows)
                out.append((prob.F.grams(prob, fam, idx, dtype), len(idx)))
                continue
            G = np.zeros((prob.size, prob.size))
            for lo in range(0, len(idx), CHUNK):
                J = prob.jac_rows(fam, idx[lo:lo + CHUNK], dtype)
                G += syrk(1.0, J.T, trans=0, lower=0)
            out.append((G, len(idx)))
        return out

    def add_gram_diag(self, out, scale, prob, fam, sel):
        """``out += scale * diag(sum_{i in sel} J_i' J_i)`` (float64, block by block)."""
        sel = select(sel)
        idx = np.arange(fam.n) if sel is None else np.flatnonzero(sel)
        if hasattr(prob.F, "grams"):  # structured rows (webly.solvers.block_rows)
            return out + scale * prob.F.grams(prob, fam, idx, np.float64, diag=True)
        for lo in range(0, len(idx), CHUNK):
            J = prob.jac_rows(fam, idx[lo:lo + CHUNK], np.float64)
            out += scale * np.einsum("ij,ij->j", J, J)
        return out


NUMPY = NumpyRows()


# ----------------------------------------------------------------------------------------------
# Dask: map over the row partitions, reduce their sums and maxima
# ----------------------------------------------------------------------------------------------

class _Cols:
    """Columns ``lo:hi`` of the persisted rows ``R`` (the solver's ``F`` or ``F_priv``)."""

    def __init__(self, R, lo, hi):
        self.R, self.lo, self.hi = R, lo, hi
        self.shape = (R.shape[0], hi - lo)
        self.dtype = R.dtype


class _StructuredCols:
    """Structured feature rows over the persisted rows ``R``: the solver's ``F`` of a
    :class:`~webly.solvers.block_rows.DaskStructuredRows` (MIL-CPB's label blocks, MDA-HS's
    source and target rows on Dask). Each partition builds its own structured rows (an object
    with ``@``, ``.T @``, ``[idx]`` and ``grams``, as in memory) by ``build(*blocks, *params)``
    from its blocks of the Dask arrays ``inputs`` (chunked like the rows; ``R`` first) and the
    small ``params`` sent with the task. ``width`` is the number of parameters of ``w``,
    ``blocks`` the (start, stop) column ranges of its Hessian's diagonal blocks."""

    def __init__(self, R, inputs, build, params, width, blocks, hessian_max):
        self.R, self.inputs, self.build, self._params = R, tuple(inputs), build, tuple(params)
        self.shape = (R.shape[0], int(width))
        self.dtype = R.dtype
        self.blocks = blocks
        self.hessian_max = hessian_max

    def block_slices(self, size):
        """As :meth:`webly.solvers.block_rows.BlockRows.block_slices`."""
        out = [np.arange(lo, hi) for lo, hi in self.blocks]
        if size > self.shape[1]:
            out.append(np.arange(self.shape[1], size))
        return out

    def params(self):
        return self._params

    def empty(self):
        """The structured rows of an empty partition (the kernels' output layout)."""
        return self.build(*[np.empty((0,) + x.shape[1:], x.dtype) for x in self.inputs],
                          *self._params)


class _BlockCols(_StructuredCols):
    """Per-labelling feature blocks over the persisted rows: the solver's ``F`` of a
    :class:`~webly.solvers.block_rows.DaskBlockRows` (MIL-CPB on Dask). Each partition builds
    its own :class:`~webly.solvers.block_rows.BlockRows` from its rows (columns ``lo:hi`` of
    ``R``), its rows' labellings (``labels``, (n, T) chunked like the rows) and labels ``y``
    (the general rows, with all T blocks, are those with ``y = +1``) and the small rotation
    ``(sqrt(d), H)`` sent with the task: ``coef = (labels[gen] * sqrt(d)) @ H``, as the
    in-memory matrix."""

    def __init__(self, R, lo, hi, labels, y, sqrt_d, H, const):
        from .block_rows import BlockRows

        self.lo, self.hi = lo, hi
        self.labels, self.y = labels, y
        self.sqrt_d, self.H, self.const = sqrt_d, H, float(const)
        self.n_blocks = len(sqrt_d)
        self.D = hi - lo + (1 if self.const else 0)
        D = self.D
        super().__init__(R, (R, labels, y), _block_rows, (lo, hi, sqrt_d, H, self.const),
                         self.n_blocks * D, [(t * D, (t + 1) * D) for t in range(self.n_blocks)],
                         BlockRows.hessian_max)


def _block_rows(Rb, Lb, yb, lo, hi, sqrt_d, H, const):
    """One partition's :class:`~webly.solvers.block_rows.BlockRows` (see :class:`_BlockCols`)."""
    from .block_rows import BlockRows

    gen = np.flatnonzero(yb > 0)
    coef = (np.asarray(Lb[gen], dtype=np.float64) * sqrt_d) @ H
    return BlockRows(Rb[:, lo:hi], coef, gen, const=const)


def _k_mv(F, w):
    """``F @ w`` as a row kernel (for structured ``F``)."""
    return (_mv(F, w),), None, None


class _Part:
    """Per-row output ``j`` of a kernel run on Dask: the ``j``-th row array of each partition's
    result in ``packed`` (a Dask array of one object per partition). Later kernels read it in
    place, so a run costs one task per partition, not one per output."""

    def __init__(self, packed, j, dtype):
        self.packed, self.j, self.dtype = packed, j, dtype


def _leaf(v):
    return isinstance(v, (_Part, _Cols, _StructuredCols)) or is_dask(v) or _is_delayed(v)


def _is_delayed(v):
    delayed = sys.modules.get("dask.delayed")
    return delayed is not None and isinstance(v, delayed.Delayed)


def _advance_reduced(state, reduced, advance, args):
    return advance(state, reduced[0], *args)


def _flatten(x, is_leaf):
    """``(leaves, template)``: the leaves of a structure of lists, tuples, dicts and
    namespaces, and the structure with ``_Slot(k)`` in their place."""
    leaves = []

    def walk(v):
        if isinstance(v, (list, tuple)):
            return type(v)(walk(u) for u in v)
        if isinstance(v, dict):
            return {key: walk(u) for key, u in v.items()}
        if isinstance(v, SimpleNamespace):
            return SimpleNamespace(**{key: walk(u) for key, u in vars(v).items()})
        if is_leaf(v):
            leaves.append(v)
            return _Slot(len(leaves) - 1)
        return v

    return leaves, walk(x)


class _Slot:
    def __init__(self, k):
        self.k = k


def _fill(template, values):
    """The structure ``template`` with its slots replaced by ``values``."""
    if isinstance(template, _Slot):
        return values[template.k]
    if isinstance(template, (list, tuple)):
        return type(template)(_fill(u, values) for u in template)
    if isinstance(template, dict):
        return {key: _fill(u, values) for key, u in template.items()}
    if isinstance(template, SimpleNamespace):
        return SimpleNamespace(**{key: _fill(u, values) for key, u in vars(template).items()})
    return template


def _is_array(v):
    return isinstance(v, np.ndarray)


def _apply_kernel(*blocks, kernel, template, getters):
    """One partition: the kernel on its blocks; returns its per-row outputs, sums and maxima
    packed in a one-element object array."""
    leaves = []
    for kind, k, a, b in getters:
        if kind == "part":
            leaves.append(blocks[k][0][0][a])
        elif kind == "cols":
            leaves.append(blocks[k][:, a:b])
        elif kind == "block":  # structured rows (_StructuredCols): a = (build, params)
            leaves.append(a[0](*[blocks[j] for j in k], *a[1]))
        else:
            leaves.append(blocks[k])
    rows, sums, tops = kernel(**_fill(template, leaves))
    out = np.empty(1, dtype=object)
    out[0] = (_flatten(rows, _is_array)[0], sums, tops)
    return out


def _pick_rows(packed, j):
    return packed[0][0][j]


def _cols_mv(Rb, w, lo, hi):
    return _mv(Rb[:, lo:hi], w)


def _merge(a, b, op):
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, (list, tuple)):
        return type(a)(_merge(u, v, op) for u, v in zip(a, b))
    return op(a, b)


def _combine(*packed):
    """Sums and maxima over the partitions' kernel results."""
    sums, tops = packed[0][0][1], packed[0][0][2]
    for part in packed[1:]:
        sums = _merge(sums, part[0][1], np.add)
        tops = _merge(tops, part[0][2], np.maximum)
    return sums, tops


def _block_mask(yb, idx, block_info=None):
    lo, hi = block_info[0]["array-location"][0]
    mask = np.zeros(hi - lo, dtype=bool)
    mask[idx[(idx >= lo) & (idx < hi)] - lo] = True
    return mask


def gram_rows(F, Fp, y, sel, spec, jac_dtype, diag=False, Fv=None, vw=None):
    """``[sum_{i in sel} J_i' J_i`` (upper triangle, float64; ``diag``: its diagonal, from
    float64 rows), number of rows]`` over the rows of one partition (or all rows) selected by
    the mask ``sel`` (None: all), in blocks of :data:`CHUNK` rows; None for the sum of no rows
    (a partition's partial sums travel to the client: an empty one costs nothing). ``Fv``,
    ``vw``: the second correcting function's features and offset weights (None: ones), read
    when ``spec`` says the family has it (:func:`jac_block`)."""
    idx = np.arange(len(y)) if sel is None else np.flatnonzero(sel)
    if not len(idx):
        return [None, 0]
    has_v = len(spec) > 6 and spec[8]
    if hasattr(F, "grams"):
        # one partition's structured rows (BlockRows, MDAHSRows): the narrow rows are formed on
        # their columns and scattered, as in memory (BlockRows.grams; with the -DA columns
        # of MIL-CPB-PI-DA's correcting function when the family has it)
        def jac_rows(fam, k, dt):
            return jac_block(spec, F[k], None if Fp is None else Fp[k], y[k], len(k), dt,
                             Vr=Fv[k] if has_v else None,
                             vwr=vw[k] if has_v and vw is not None else None)

        prob = SimpleNamespace(Fp=Fp, Fv=Fv, v_w=vw, jac_spec=lambda fam: spec,
                               jac_rows=jac_rows)
        return [F.grams(prob, SimpleNamespace(rows=None, y=y), idx, jac_dtype, diag=diag,
                        chunk=CHUNK), len(idx)]
    size = spec[0]
    out = np.zeros(size if diag else (size, size))
    syrk = get_blas_funcs("syrk", dtype=jac_dtype)
    for lo in range(0, len(idx), CHUNK):
        k = idx[lo:lo + CHUNK]
        J = jac_block(spec, None if F is None else F[k], None if Fp is None else Fp[k], y[k],
                      len(k), jac_dtype, Vr=Fv[k] if has_v else None,
                      vwr=vw[k] if has_v and vw is not None else None)
        out += np.einsum("ij,ij->j", J, J) if diag else syrk(1.0, J.T, trans=0, lower=0)
    return [out, len(idx)]


def _k_gram(F, Fp, y, sel, spec, jac_dtype, diag, Fv=None, vw=None):
    """:func:`gram_rows` of a selection (:func:`select`) as a row kernel."""
    return (), gram_rows(F, Fp, y, select(sel), spec, jac_dtype, diag, Fv=Fv, vw=vw), ()


class DaskRows:
    """The rows as one persisted, row-chunked Dask array ``R = [F | F_priv]``.

    ``F`` and ``F_priv`` are concatenated column-wise (in their common dtype: float32 stays
    float32 when both are) so that each partition's rows of both views live on one worker: the
    Hessian of the SVM+ margin constraints couples them (``F_p' Psi_p``), and separately placed
    partitions would travel between workers at every Newton step. ``R`` is rechunked to a single
    column chunk and persisted once (an iterative solver reads it a few hundred times); the
    solver's ``F`` and ``F_priv`` are column ranges of it. A numpy ``F`` or ``F_priv`` next to a
    Dask one is sent in the other's row chunks.
    """

    lazy = True

    def __init__(self, F, y, F_priv=None, keep_float32=True):
        import dask
        import dask.array as da

        chunks = (F if is_dask(F) else F_priv).chunks[0]
        F = self._check("F", F, keep_float32, chunks)
        n = F.shape[0]
        if F_priv is not None:
            F_priv = self._check("F_priv", F_priv, keep_float32, chunks)
            if F_priv.shape[0] != n:
                raise DataError("F_priv", f"has {F_priv.shape[0]} rows but F has {n}; give "
                                          "one row per row of F")
        dtype = F.dtype if F_priv is None else np.result_type(F.dtype, F_priv.dtype)
        R = F.astype(dtype) if F_priv is None else da.concatenate(
            [F.astype(dtype), F_priv.astype(dtype).rechunk({0: F.chunks[0]})], axis=1)
        R = R.rechunk({1: -1})
        self.chunks = R.chunks[0]
        if is_dask(y):
            if y.ndim != 1 or y.shape[0] != n:
                raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
            y = y.astype(np.float64).rechunk((self.chunks,))
            bad_y = ((y != 1) & (y != -1)).any()
        else:
            y = check_pm1(y)
            if y.shape[0] != n:
                raise DataError("y", f"has {y.shape[0]} labels for {n} rows")
            y = da.from_array(y, chunks=(self.chunks,))
            bad_y = False
        R, y = dask.persist(R, y)
        d = F.shape[1]
        views = [("F", R[:, :d])] + ([] if F_priv is None else [("F_priv", R[:, d:])])
        # one pass over the rows: finite entries (a finite sum), magnitudes, labels
        stats = dask.compute([(V.sum(dtype=np.float64), V.max(), V.min()) for _, V in views],
                             bad_y)
        for (name, V), (total, top, bottom) in zip(views, stats[0]):
            if not np.isfinite(total):
                raise DataError(name, "contains NaN or infinite values; impute or drop those rows")
            if max(float(top), -float(bottom)) > max_feature_scale(V.shape[1]):
                # the in-memory check's message, on one row of the offending magnitude
                check_feature_scale(name, np.full((1, V.shape[1]), max(top, -bottom), float))
        if stats[1]:
            raise DataError("y", "binary labels must be -1 or +1")
        self.R, self.y, self.d, self.n = R, y, d, n
        self.F = _Cols(R, 0, d)
        self.F_priv = None if F_priv is None else _Cols(R, d, R.shape[1])

    def blocks(self, spec):
        """The solver's ``F`` of a :class:`~webly.solvers.block_rows.DaskStructuredRows` whose
        rows are this backend's ``F`` (a :class:`_StructuredCols`)."""
        return spec.cols(self)

    @staticmethod
    def _check(name, X, keep_float32, chunks):
        import dask.array as da

        if not is_dask(X):
            X = check_row_features(name, X, keep_float32=keep_float32, allow_sparse=False)
            return da.from_array(X, chunks=(chunks, -1))
        if X.ndim != 2:
            raise DataError(name, f"must be 2-D (rows x features), got shape {X.shape}")
        if any(np.isnan(c) for c in X.shape):
            raise DataError(name, "has unknown chunk sizes; call compute_chunk_sizes() first")
        if X.shape[1] == 0:
            raise DataError(name, "has no feature columns")
        if not isinstance(getattr(X, "_meta", None), np.ndarray):
            raise DataError(name, "Dask arrays of sparse blocks are not supported; use dense "
                                  "blocks")
        if X.dtype.kind not in "fiub":
            raise DataError(name, f"must be numeric, got dtype {X.dtype}")
        keep = (np.float32, np.float64) if keep_float32 else (np.float64,)
        return X if X.dtype in keep else X.astype(np.float64)

    # --- the primitives -----------------------------------------------------------------------
    def zeros(self, n, dtype=np.float64):
        import dask.array as da

        return da.zeros(n, dtype=dtype, chunks=(self.chunks,))

    def vector(self, v):
        """A per-row vector as float64 Dask, chunked like the rows (a numpy one is sent)."""
        import dask.array as da

        if is_dask(v):
            return v.astype(np.float64).rechunk((self.chunks,)) if v.ndim == 1 else v
        v = np.asarray(v, dtype=np.float64)
        return da.from_array(v, chunks=(self.chunks,)) if v.shape == (self.n,) else v

    def array(self, x):
        """A kernel's per-row output as a Dask array chunked like the rows (lazy)."""
        if not isinstance(x, _Part):
            return x
        return x.packed.map_blocks(_pick_rows, x.j, chunks=(self.chunks,), dtype=x.dtype,
                                   meta=np.empty((0,), dtype=x.dtype))

    def mv(self, F, w):
        """``F @ w`` as a float64 Dask vector (lazy)."""
        if isinstance(F, _StructuredCols):
            return self.array(self.run(_k_mv, rows_meta=(np.empty(0),), F=F, w=w)[0][0])
        return F.R.map_blocks(_cols_mv, w, F.lo, F.hi, chunks=(self.chunks,), drop_axis=1,
                              dtype=np.float64)

    def compute(self, x):
        """``x`` with its Dask collections computed, in one call.

        The collections are handed to ``dask.compute`` grouped by type: with Dask 2026.8,
        ``dask.compute`` returns the results of interleaved arrays and delayed objects in the
        order of their types, not in the order given (``dask.compute(d1, a, d2, b)`` gives
        ``d1, d2, a, b``); grouped, both orders are the same."""
        import dask

        leaves, template = _flatten(x, dask.is_dask_collection)
        order = sorted(range(len(leaves)), key=lambda k: type(leaves[k]).__name__)
        values = [None] * len(leaves)
        for k, value in zip(order, dask.compute(*[leaves[k] for k in order])):
            values[k] = value
        return _fill(template, values)

    def persist(self, x):
        return self.evaluate(x, None)[0]

    def evaluate(self, keep, values):
        """Persist the Dask arrays and kernel outputs of ``keep`` and compute ``values``, in one
        graph."""
        import dask

        leaves, template = _flatten(keep, lambda v: isinstance(v, _Part) or is_dask(v))
        packed = {}
        for v in leaves:
            if isinstance(v, _Part):
                packed.setdefault(v.packed.name, v.packed)
        arrays = [v for v in leaves if not isinstance(v, _Part)]
        names = list(packed)
        done, arrays, values = dask.persist([packed[k] for k in names], arrays, values)
        done = dict(zip(names, done))
        it = iter(arrays)
        kept = [_Part(done[v.packed.name], v.j, v.dtype) if isinstance(v, _Part) else next(it)
                for v in leaves]
        return _fill(template, kept), (None if values is None else self.compute(values))

    def index_mask(self, idx, n):
        return self.y.map_blocks(_block_mask, np.asarray(idx), dtype=bool)

    def run(self, kernel, rows_meta=None, **args):
        """A row kernel on every partition (one task each): its per-row outputs (kept in the
        partitions' results, see :class:`_Part`; :meth:`array` makes Dask arrays of them) and a
        delayed ``(sums, maxima)`` over the partitions (one task).

        The Dask leaves of ``args`` (arrays chunked like the rows, kernel outputs, column
        ranges of the rows; nested in lists, tuples, dicts and namespaces) are passed block by
        block, delayed objects whole, everything else as it is. The outputs' structure and
        dtypes come from the kernel run on empty blocks, or ``rows_meta`` (e.g. ``()``: none)."""
        import uuid

        import dask
        import dask.array as da

        leaves, template = _flatten(args, _leaf)
        inputs, getters, index = [], [], {}

        def source(src):
            name = src.key if _is_delayed(src) else src.name
            if name not in index:
                index[name] = len(inputs)
                inputs.append(src)
            return index[name]

        for v in leaves:
            if isinstance(v, _StructuredCols):
                getters.append(("block", [source(x) for x in v.inputs], (v.build, v.params()),
                                None))
                continue
            k = source(v.packed if isinstance(v, _Part) else v.R if isinstance(v, _Cols) else v)
            if isinstance(v, _Part):
                getters.append(("part", k, v.j, None))
            elif isinstance(v, _Cols):
                getters.append(("cols", k, v.lo, v.hi))
            else:
                getters.append(("array", k, None, None))
        if rows_meta is None:
            empty = [v.empty() if isinstance(v, _StructuredCols) else
                     np.empty((0,) + ((v.hi - v.lo,) if isinstance(v, _Cols) else
                                      () if isinstance(v, _Part) else v.shape[1:]),
                              dtype=v.dtype) for v in leaves]
            rows_meta = kernel(**_fill(template, empty))[0]
        row_leaves, row_template = _flatten(rows_meta, _is_array)
        pairs = []
        for k, src in enumerate(inputs):
            pairs += [src, None if _is_delayed(src) else "i" if src.ndim == 1 else
                      "i" + _LETTERS[k]]
        name = f"webly-{kernel.__name__.strip('_')}-{uuid.uuid4().hex}"
        packed = da.blockwise(_apply_kernel, "i", *pairs, kernel=kernel, template=template,
                              getters=getters, name=name, dtype=object,
                              meta=np.empty((0,), dtype=object), adjust_chunks={"i": 1},
                              concatenate=True, align_arrays=False)
        outs = [_Part(packed, j, a.dtype) for j, a in enumerate(row_leaves)]
        reduced = dask.delayed(_combine, pure=False)(
            *packed.to_delayed(optimize_graph=False).ravel())
        return _fill(row_template, outs), reduced

    #: iterations of a search (:meth:`line_steps`) per round trip to the cluster
    STAGES = 4

    def line_steps(self, kernel, advance, state, args, **rows):
        """:meth:`NumpyRows.line_steps` unrolled: :attr:`STAGES` iterations in one graph, each
        stage's partition tasks taking the state that the previous stage's reduction computed
        (a done state passes through), so that a line search costs about one round trip to the
        cluster instead of one per trial step; the iterations and their results are those of
        the one-by-one loop."""
        import dask

        for _ in range(self.STAGES):
            _, red = self.run(kernel, rows_meta=(), state=state, **rows)
            state = dask.delayed(_advance_reduced, pure=False)(state, red, advance, args)
        return self.compute(state)

    def gram_runs(self, prob, requests, dtype, diag=False):
        """Lazy ``(sums, maxima)`` of each gram request: ``sums = [G, number of rows]``."""
        for fam, _ in requests:
            if fam.rows is not None:
                raise DataError("priv_rows", "privileged rows are not supported on Dask arrays")
        return [self.run(_k_gram, F=prob.F if fam.has_f else None,
                         Fp=prob.Fp if fam.has_s else None, y=self.y, sel=sel,
                         spec=prob.jac_spec(fam), jac_dtype=dtype, diag=diag,
                         Fv=prob.Fv if fam.has_v else None,
                         vw=prob.v_w if fam.has_v else None)[1]
                for fam, sel in requests]

    def grams(self, prob, requests, dtype):
        """As :meth:`NumpyRows.grams`: maps over the partitions, one evaluation."""
        totals = self.compute(self.gram_runs(prob, requests, dtype))
        zero = np.zeros((prob.size, prob.size))
        return [(zero.copy() if sums[0] is None else sums[0], int(sums[1]))
                for sums, _ in totals]

    def add_gram_diag(self, out, scale, prob, fam, sel):
        (sums, _), = self.compute(self.gram_runs(prob, [(fam, sel)], np.float64, diag=True))
        if sums[0] is not None:
            out += scale * sums[0]
        return out


_LETTERS = "jklmnopqrstuvwxyzabcdefgh"


__all__ = ["is_dask", "select", "NumpyRows", "DaskRows", "NUMPY", "jac_block", "CHUNK"]
