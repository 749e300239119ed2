"""Passes over the rows for the primal solvers: in memory, or over the partitions of a Dask array.

The method of :mod:`webly.solvers.primal` touches its n rows only through a few operations: the
decision values ``F @ w`` (one row-wise product), the gradient ``F' v`` (a sum over rows), the
Newton Hessian ``sum_i J_i' J_i`` over a selection of rows (a sum over rows of the constraint
Jacobian), and element-wise work on per-row vectors followed by sums and maxima. A *rows
backend* implements those operations, and the solver runs unchanged on either:

- :class:`NumpyRows`: dense numpy arrays or CSR matrices in this process; every operation is
  evaluated at once (``compute`` and ``persist`` return their argument).
- :class:`DaskRows`: a row-chunked :class:`dask.array.Array`. Every pass is a map over the row
  partitions and, for sums, a tree reduction of the partitions' partial results (the Hessian's
  ``sum_p J_p' J_p``, the gradient's ``sum_p F_p' v_p``), as dask-glm's data-parallel
  full-batch Newton; only the ``(d + d~ + 2)``-sized results reach the client, which solves the
  small Newton system there. Per-row state (decision values, slacks, multipliers, active sets)
  stays on the cluster as Dask arrays chunked like the rows and persisted after each update, so
  the client never holds an n-vector: a fit needs the cluster's memory for the rows, not the
  client's. The element-wise work is ordinary Dask array arithmetic (numpy functions dispatch to
  Dask); ``compute`` evaluates the reductions one step needs in one call.

Nothing here imports Dask unless a Dask array is passed.
"""

import sys
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_blas_funcs

from ..base import check_feature_scale, check_pm1, max_feature_scale
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


def jac_block(spec, Fr, Pr, yr, n_rows, dtype):
    """Rows ``+-dg_i/dtheta`` of a constraint family (the sign cancels in outer products).

    ``spec = (size, d, dp, has_f, has_s, has_m)`` is the parameter layout ``[w, b, u, c, m]``
    and the terms of the family; ``Fr``, ``Pr`` and ``yr`` are the rows' features, privileged
    features and labels (only those the family uses are read).
    """
    size, d, dp, has_f, has_s, has_m = spec
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
    return J


class NumpyRows:
    """The rows in this process (dense arrays or CSR matrices): every operation runs at once."""

    lazy = False

    def zeros(self, n, dtype=np.float64):
        return np.zeros(n, dtype=dtype)

    def mv(self, F, w):
        return _mv(F, w)

    def rmv(self, F, v):
        return _rmv(F, v)

    def compute(self, x):
        return x

    def vector(self, v):
        return np.asarray(v, dtype=np.float64)

    def persist(self, x):
        return x

    def evaluate(self, keep, values):
        """``(keep, values)``: per-row arrays to keep (persisted) and reductions to bring to the
        client, from one evaluation."""
        return keep, values

    def masked_dot(self, mask, a, b):
        """``a[mask] @ b[mask]``."""
        return a[mask] @ b[mask]

    def index_mask(self, idx, n):
        """(n,) boolean mask of the sorted row indices ``idx``."""
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return mask

    def run(self, kernel, **args):
        """``(per-row outputs, (sums, maxima))`` of a row kernel on all rows."""
        rows, sums, tops = kernel(**args)
        return rows, (sums, tops)

    def grams(self, prob, requests, dtype):
        """``[(sum_{i in sel} J_i' J_i`` (upper triangle, float64), number of rows)]`` for each
        ``(family, sel)`` request: the family's rows selected by the mask ``sel`` (None: all)."""
        syrk = get_blas_funcs("syrk", dtype=dtype)
        out = []
        for fam, sel in requests:
            idx = np.arange(fam.n) if sel is None else np.flatnonzero(sel)
            G = np.zeros((prob.size, prob.size))
            for lo in range(0, len(idx), CHUNK):
                J = prob.jac_rows(fam, idx[lo:lo + CHUNK], dtype)
                G += syrk(1.0, J.T, trans=0, lower=0)
            out.append((G, len(idx)))
        return out

    def add_gram_diag(self, out, scale, prob, fam, sel):
        """``out += scale * diag(sum_{i in sel} J_i' J_i)`` (float64, block by block)."""
        idx = np.arange(fam.n) if sel is None else np.flatnonzero(sel)
        for lo in range(0, len(idx), CHUNK):
            J = prob.jac_rows(fam, idx[lo:lo + CHUNK], np.float64)
            out += scale * np.einsum("ij,ij->j", J, J)
        return out


NUMPY = NumpyRows()


# ----------------------------------------------------------------------------------------------
# Dask: map over row partitions, tree-reduce the partial sums
# ----------------------------------------------------------------------------------------------

def _block_rmv(Rb, vb, lo, hi):
    """One partition's ``F_p' v_p`` (F the columns ``lo:hi`` of the rows), as float64."""
    Fb = Rb[:, lo:hi]
    return np.asarray(Fb.T @ vb.astype(Fb.dtype, copy=False), dtype=np.float64)[None, :]


def _block_gram(Rb, yb, *sb, spec, d, jac_dtype, chunk, diag):
    """One partition's ``sum J_i' J_i`` (upper triangle; ``diag``: only the diagonal) over its
    selected rows, flattened, with the number of rows appended."""
    idx = np.arange(Rb.shape[0]) if not sb else np.flatnonzero(sb[0])
    size = spec[0]
    if diag:
        out = np.zeros(size)
    else:
        out = np.zeros((size, size))
        syrk = get_blas_funcs("syrk", dtype=jac_dtype)
    for lo in range(0, len(idx), chunk):
        k = idx[lo:lo + chunk]
        J = jac_block(spec, Rb[k, :d], Rb[k, d:], yb[k], len(k), jac_dtype)
        if diag:
            out += np.einsum("ij,ij->j", J, J)
        else:
            out += syrk(1.0, J.T, trans=0, lower=0)
    res = np.empty(out.size + 1)
    res[:-1] = out.ravel()
    res[-1] = len(idx)
    return res[None, :]


_LETTERS = "jklmnopqrstuvwxyzabcdefgh"


def _flatten(x, kind=None):
    """``(leaves, template)``: the leaves of type ``kind`` (None: Dask arrays) of a structure of
    lists, tuples, dicts and namespaces, and the structure with ``_Slot(k)`` in their place."""
    leaves = []

    def walk(v):
        if isinstance(v, (list, tuple)):
            return type(v)(walk(u) for u in v)
        if isinstance(v, dict):
            return {key: walk(u) for key, u in v.items()}
        if isinstance(v, SimpleNamespace):
            return SimpleNamespace(**{key: walk(u) for key, u in vars(v).items()})
        if (is_dask(v) if kind is None else isinstance(v, kind)):
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


def _apply_kernel(*blocks, kernel, template):
    rows, sums, tops = kernel(**_fill(template, blocks))
    out = np.empty(1, dtype=object)
    out[0] = (_flatten(rows, kind=np.ndarray)[0], sums, tops)
    return out


def _pick_rows(packed, j):
    return packed[0][0][j]


def _merge(a, b, op):
    if a is None:
        return b
    if isinstance(a, (list, tuple)):
        return type(a)(_merge(u, v, op) for u, v in zip(a, b))
    return op(a, b)


def _combine(parts):
    """Sums and maxima of the partitions' kernel results."""
    sums, tops = parts[0][0][1], parts[0][0][2]
    for part in parts[1:]:
        sums = _merge(sums, part[0][1], np.add)
        tops = _merge(tops, part[0][2], np.maximum)
    return sums, tops


def _block_mask(yb, idx, block_info=None):
    lo, hi = block_info[0]["array-location"][0]
    mask = np.zeros(hi - lo, dtype=bool)
    mask[idx[(idx >= lo) & (idx < hi)] - lo] = True
    return mask


class DaskRows:
    """The rows as one persisted, row-chunked Dask array ``R = [F | F_priv]``.

    ``F`` and ``F_priv`` are concatenated column-wise (in their common dtype: float32 stays
    float32 when both are) so that each partition's rows of both views live on one worker: the
    Hessian of the SVM+ margin constraints couples them (``F_p' Psi_p``), and separately placed
    partitions would travel between workers at every Newton step. ``R`` is rechunked to a single
    column chunk and persisted once (an iterative solver reads it some hundred times); inputs
    that are already persisted and concatenated identically share its keys. The solver's
    ``F`` and ``F_priv`` are column views of ``R``.
    """

    lazy = True

    def __init__(self, F, y, F_priv=None, keep_float32=True):
        import dask
        import dask.array as da

        F = self._check("F", F, keep_float32)
        n = F.shape[0]
        if F_priv is not None:
            F_priv = self._check("F_priv", F_priv, keep_float32)
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
            limit = max_feature_scale(V.shape[1])
            if max(float(top), -float(bottom)) > limit:
                # the message of the in-memory check, on one row of the offending magnitude
                check_feature_scale(name, np.full((1, V.shape[1]), max(top, -bottom), float))
        if stats[1]:
            raise DataError("y", "binary labels must be -1 or +1")
        self.R, self.y, self.d, self.n = R, y, d, n
        self.F = views[0][1]
        self.F_priv = None if F_priv is None else views[1][1]

    @staticmethod
    def _check(name, X, keep_float32):
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

    def mv(self, F, w):
        return (F @ w.astype(F.dtype, copy=False)).astype(np.float64)

    def _columns(self, F):
        return (0, self.d) if F is self.F else (self.d, self.R.shape[1])

    def rmv(self, F, v):
        """``F' v`` as a tree sum of the partitions' float64 partial products (lazy)."""
        import dask.array as da

        lo, hi = self._columns(F)
        parts = da.blockwise(_block_rmv, "ik", self.R, "ij", v, "i", lo=lo, hi=hi,
                             new_axes={"k": hi - lo}, adjust_chunks={"i": 1},
                             concatenate=True, dtype=np.float64)
        return parts.sum(axis=0)

    def compute(self, x):
        import dask

        return dask.compute(x)[0]

    def vector(self, v):
        """A per-row vector as float64 Dask, chunked like the rows (a numpy one is sent)."""
        import dask.array as da

        if is_dask(v):
            return v.astype(np.float64).rechunk((self.chunks,)) if v.ndim == 1 else v
        v = np.asarray(v, dtype=np.float64)
        return da.from_array(v, chunks=(self.chunks,)) if v.shape == (self.n,) else v

    def persist(self, x):
        import dask

        return dask.persist(x)[0]

    def evaluate(self, keep, values):
        import dask

        keep, values = dask.persist(keep, values)
        return keep, dask.compute(values)[0]

    def masked_dot(self, mask, a, b):
        import dask.array as da

        return da.where(mask, a * b, 0.0).sum()

    def index_mask(self, idx, n):
        return self.y.map_blocks(_block_mask, np.asarray(idx), dtype=bool)

    def _gram_parts(self, prob, fam, sel, dtype, diag):
        import dask.array as da

        if fam.rows is not None:
            raise DataError("priv_rows", "privileged rows are not supported on Dask arrays yet")
        spec = prob.jac_spec(fam)
        size = spec[0] if diag else spec[0] * spec[0]
        args = [self.R, "ij", self.y, "i"] + ([] if sel is None else [sel, "i"])
        parts = da.blockwise(_block_gram, "ik", *args, spec=spec, d=self.d, jac_dtype=dtype,
                             chunk=CHUNK, diag=diag, new_axes={"k": size + 1},
                             adjust_chunks={"i": 1}, concatenate=True, dtype=np.float64)
        return parts.sum(axis=0)

    def grams(self, prob, requests, dtype):
        """As :meth:`NumpyRows.grams`: maps over the partitions and tree sums, one evaluation."""
        totals = self.compute([self._gram_parts(prob, fam, sel, dtype, diag=False)
                               for fam, sel in requests])
        return [(t[:-1].reshape(prob.size, prob.size), int(t[-1])) for t in totals]

    def run(self, kernel, **args):
        """A row kernel on every partition: its per-row outputs as Dask arrays chunked like the
        rows (lazy), and a delayed ``(sums, maxima)`` over the partitions.

        Dask-array leaves of ``args`` (nested in lists, tuples, dicts and namespaces) are
        passed block by block, everything else as it is. The outputs' structure and dtypes come
        from the kernel run on empty blocks."""
        import dask
        import dask.array as da

        leaves, template = _flatten(args)
        rows_meta, _, _ = kernel(**_fill(template, [
            np.empty((0,) + a.shape[1:], dtype=a.dtype) for a in leaves]))
        row_leaves, row_template = _flatten(rows_meta, kind=np.ndarray)
        pairs = []
        for k, a in enumerate(leaves):
            pairs += [a, "i" if a.ndim == 1 else "i" + _LETTERS[k]]
        packed = da.blockwise(_apply_kernel, "i", *pairs, kernel=kernel, template=template,
                              dtype=object, meta=np.empty((0,), dtype=object),
                              adjust_chunks={"i": 1}, concatenate=True)
        outs = [packed.map_blocks(_pick_rows, j, chunks=(self.chunks,), dtype=a.dtype,
                                  meta=np.empty((0,), dtype=a.dtype))
                for j, a in enumerate(row_leaves)]
        reduced = dask.delayed(_combine)(packed.to_delayed(optimize_graph=False).ravel().tolist())
        return _fill(row_template, outs), reduced

    def add_gram_diag(self, out, scale, prob, fam, sel):
        total = self.compute(self._gram_parts(prob, fam, sel, np.float64, diag=True))
        out += scale * total[:-1]
        return out


__all__ = ["is_dask", "NumpyRows", "DaskRows", "NUMPY", "jac_block", "CHUNK"]
