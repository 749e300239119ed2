"""The SVM+ family of kernel QPs as one problem description, and builders for each member.

Every dual solved in webly's MIL-PI family (SVM, SVM+, sMIL, sMIL-PI, mi-SVM-PI rounds, the -DA
variants, L2-loss SVM+) is an instance of :class:`KernelQP`:

.. math::

    \\min_{a, z_1, .., z_J}\\; \\tfrac12 a^\\top (K \\circ y y^\\top) a - p^\\top a
        + \\sum_{j=1}^{J} \\Big[ \\tfrac{1}{2\\gamma_j} v_j^\\top G_j v_j - q_j^\\top v_j \\Big]
        + \\text{constant},
    \\qquad v_j = a[S_j] + z_j,

subject to

* ``y'a = y_total`` (the bias of the decision function),
* ``0 <= a <= upper`` (``upper`` may be ``inf``),
* ``z_j >= 0``,
* ``lo_j <= sum(v_j) <= hi_j`` (the bias of correcting function j; an equality when ``lo_j == hi_j``).

``a`` (n,) are the SVM dual variables of the n *units* (instances, or bags for sMIL), ``K`` the
(n, n) kernel between units and ``y`` in {-1, +1}. Each *correcting block* j adds a second dual
vector ``z_j`` over a subset ``S_j`` of the units with its own kernel ``G_j`` (m_j, m_j) on those
units (privileged features for SVM+/sMIL-PI, visual features for the domain-adaptation block).
With ``J = 0`` this is the usual SVM dual. The Hessian over ``x = [a; z_1; ..; z_J]`` is never
formed: the solvers combine rows of ``K`` and ``G_j`` on the fly.

The multipliers of the equality constraints at the optimum are the biases: ``nu_0`` (of ``y'a``)
is the intercept ``b`` of ``f(x) = sum_i a_i y_i k(x_i, x) + b``; ``nu_j`` that of correcting
function j, whose value on unit ``S_j[l]`` is ``(G_j v_j)_l / gamma_j - q_{j,l} + nu_j``.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from ..base import check_pm1
from ..errors import DataError

__all__ = [
    "CorrectingBlock", "KernelQP", "svm_qp", "svmplus_qp", "smil_pi_qp", "add_domain_adaptation",
    "split_solution", "qp_objective", "correcting_values", "KERNEL_DTYPES", "check_kernel_dtype",
    "kernel_matvec",
]

#: precisions in which the solvers may store the kernel matrices (the name of the parameter that
#: chooses one, on :func:`~webly.solvers.smo_solve`, :meth:`KernelQP.validate` and
#: :class:`~webly.SVMPlusClassifier`, is ``kernel_dtype``)
KERNEL_DTYPES = ("float64", "float32")
#: entries of the float64 row blocks :func:`kernel_matvec` converts a float32 kernel into (8 MB)
_MATVEC_BLOCK = 1 << 20


def check_kernel_dtype(value, name="kernel_dtype"):
    """The numpy dtype of a ``kernel_dtype`` parameter: ``"float64"`` or ``"float32"`` (or those
    numpy types); anything else raises a :class:`~webly.errors.DataError` naming ``name``.

    The kernel matrices are *stored* in this precision; the solvers' gradients, dual variables and
    every accumulation stay float64 (a float32 kernel entry is widened before it is multiplied).
    """
    try:
        dt = np.dtype(value) if value is not None else None
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.name not in KERNEL_DTYPES or isinstance(value, bool):
        raise DataError(name, f"must be 'float64' or 'float32' (the precision the kernel matrices "
                              f"are stored in), got {value!r}")
    return dt


def kernel_matvec(M, v):
    """``M @ v`` in float64 for a float64 or float32 kernel ``M``, without a float64 copy of M.

    A float32 ``M`` is widened row block by row block (``_MATVEC_BLOCK`` entries at a time), so
    the products and sums are float64 arithmetic on the stored float32 entries; any other ``M``
    is plain ``M @ v``.
    """
    if getattr(M, "dtype", None) != np.float32:
        return M @ v
    v = np.asarray(v, dtype=np.float64)
    out = np.empty(M.shape[0])
    step = max(1, _MATVEC_BLOCK // max(M.shape[1], 1))
    for i in range(0, M.shape[0], step):
        out[i:i + step] = M[i:i + step].astype(np.float64) @ v
    return out



@dataclass(frozen=True)
class CorrectingBlock:
    """One correcting-function block of a :class:`KernelQP`.

    Parameters
    ----------
    index : (m,) int array
        Units whose ``a`` enter the block (``S_j``), distinct, in ``0..n-1``.
    kernel : (m, m) array
        Kernel ``G_j`` of the correcting function between those units (positive semi-definite).
    gamma : float
        Trade-off; the block's quadratic term is ``v' G v / (2 gamma)``.
    linear : (m,) array
        ``q_j``: the block contributes ``- q_j' v``.
    lo, hi : float
        Bounds of ``sum(v)``; ``lo == hi`` makes it an equality.
    weights : (m,) array or None
        Positive weights ``w`` of the sum constraint, which becomes ``lo <= sum(w * v) <= hi``
        (the correcting function's bias then enters unit l as ``nu_j w_l``). None (all ones) is
        the form :func:`~webly.solvers.smo.smo_solve` solves, and equal weights are rescaled to
        it by :meth:`KernelQP.validate`; unequal weights (sMIL-PI-DA's ``C2_per_unit``) only
        :func:`~webly.solvers.reference.reference_solve` solves.
    factor : (m, r) array or None
        A factor of the kernel, ``kernel = factor @ factor.T`` (a linear kernel on r privileged
        features: the features). With it :func:`~webly.solvers.smo.smo_solve` starts from the
        primal-dual active-set solution (:mod:`webly.solvers.pdas`), exact in a few Cholesky
        factorisations where the decomposition alone takes many moves.
    """

    index: np.ndarray
    kernel: np.ndarray
    gamma: float
    linear: np.ndarray
    lo: float
    hi: float
    weights: np.ndarray = None
    factor: np.ndarray = None


@dataclass(frozen=True)
class KernelQP:
    """A QP of the SVM+ family (see the module docstring for the exact objective).

    Parameters
    ----------
    K : (n, n) array
        Kernel between the units (C-contiguous in the solver's ``kernel_dtype``, float64 by
        default or float32: used in place, never copied).
    y : (n,) array of {-1, +1}
    p : (n,) array
        Linear reward on ``a`` (1 for an SVM; bag margins for sMIL).
    upper : (n,) array
        Upper bounds of ``a`` (``np.inf`` for none).
    blocks : tuple of CorrectingBlock
        Zero, one or two correcting blocks.
    y_total : float
        Right-hand side of ``y'a = y_total`` (0 for SVMs).
    constant : float
        Added to the reported objective (e.g. ``c'K~c / (2 gamma)`` of SVM+).
    """

    K: np.ndarray
    y: np.ndarray
    p: np.ndarray
    upper: np.ndarray
    blocks: tuple = field(default_factory=tuple)
    y_total: float = 0.0
    constant: float = 0.0

    @property
    def n(self):
        return self.K.shape[0]

    @property
    def n_variables(self):
        return self.n + sum(len(b.index) for b in self.blocks)

    def validate(self, kernel_dtype="float64"):
        """Check shapes and values; return a problem with canonical array types.

        ``kernel_dtype`` (see :func:`check_kernel_dtype`): the precision of the kernel matrices
        of the returned problem. A kernel already C-contiguous in it is kept (the same object);
        any other is converted once (a copy: pass float32 kernels to solve in float32 without
        one). Every vector is float64.
        """
        dtype = check_kernel_dtype(kernel_dtype)
        K = _square("K", self.K, dtype)
        n = K.shape[0]
        y = np.asarray(self.y, dtype=np.float64).ravel()
        if y.shape != (n,) or not np.all(np.abs(y) == 1):
            raise DataError("y", f"must hold n={n} values in {{-1, +1}}")
        p = _vector("p", self.p, n)
        upper = _vector("upper", self.upper, n, allow_inf=True)
        if np.any(upper < 0):
            raise DataError("upper", "bounds of a must be >= 0")
        if len(self.blocks) > 2:
            raise DataError("blocks", f"at most 2 correcting blocks are supported, got {len(self.blocks)}")
        blocks = []
        for j, b in enumerate(self.blocks):
            idx = np.asarray(b.index, dtype=np.int64).ravel()
            if idx.size == 0 or idx.min() < 0 or idx.max() >= n or np.unique(idx).size != idx.size:
                raise DataError(f"blocks[{j}].index", f"must be distinct unit indices in 0..{n - 1}")
            G = _square(f"blocks[{j}].kernel", b.kernel, dtype)
            if G.shape[0] != idx.size:
                raise DataError(f"blocks[{j}].kernel", f"is {G.shape} but the block has {idx.size} units")
            if not (np.isfinite(b.gamma) and b.gamma > 0):
                raise DataError(f"blocks[{j}].gamma", f"must be a positive number, got {b.gamma!r}")
            q = _vector(f"blocks[{j}].linear", b.linear, idx.size)
            lo, hi = float(b.lo), float(b.hi)
            if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo <= hi):
                raise DataError(f"blocks[{j}]", f"needs finite 0 <= lo <= hi, got lo={lo}, hi={hi}")
            w = None
            if b.weights is not None:
                w = _vector(f"blocks[{j}].weights", b.weights, idx.size)
                if not np.all(w > 0):
                    raise DataError(f"blocks[{j}].weights", "must be positive")
                if np.all(w == w[0]):  # equal weights: the unweighted sum with rescaled bounds
                    lo, hi, w = lo / w[0], hi / w[0], None
            Z = None if b.factor is None else _factor(f"blocks[{j}].factor", b.factor, G)
            blocks.append(CorrectingBlock(idx, G, float(b.gamma), q, lo, hi, w, Z))
        return replace(self, K=K, y=y, p=p, upper=upper, blocks=tuple(blocks),
                       y_total=float(self.y_total), constant=float(self.constant))


def _square(name, M, dtype=np.float64):
    """A square, finite, C-contiguous kernel in ``dtype`` (M itself where it already is one);
    ``dtype=None`` keeps a float32 or float64 M in its precision (other types become float64)."""
    M = np.asarray(M)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise DataError(name, f"must be a square matrix, got shape {M.shape}")
    if M.dtype.kind not in "fiub":
        raise DataError(name, f"must hold real numbers, got dtype {M.dtype}")
    if dtype is None:
        dtype = M.dtype if M.dtype in (np.float32, np.float64) else np.float64
    if M.dtype != dtype or not M.flags.c_contiguous:
        M = np.ascontiguousarray(M, dtype=dtype)
    if not _all_finite(M):
        raise DataError(name, "contains NaN or inf")
    return M


def _factor(name, Z, G):
    """A finite float64 (m, r) factor of the (m, m) kernel ``G`` (``G = Z Z'``; the diagonals
    are compared, a cheap check that catches a factor of another kernel)."""
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] != G.shape[0]:
        raise DataError(name, f"must have one row per block unit ({G.shape[0]}), got shape "
                              f"{Z.shape}")
    if not np.isfinite(Z).all():
        raise DataError(name, "contains NaN or inf")
    d = np.einsum("ij,ij->i", Z, Z)
    if not np.allclose(d, np.diag(G), rtol=1e-5, atol=1e-8 * max(1.0, float(d.max(initial=0)))):
        raise DataError(name, "is not a factor of the block's kernel (kernel = factor @ "
                              "factor.T); pass the features of its linear kernel")
    return Z


def _all_finite(M):
    """Whether every entry is finite, without an (n, n) boolean temporary: one sum (NaN and inf
    propagate), then, only if that sum is not finite (NaN/inf, or an overflow of huge entries),
    the exact check row block by row block."""
    if np.isfinite(M.sum()):
        return True
    step = max(1, (1 << 22) // max(M.shape[1], 1))
    return all(np.isfinite(M[i:i + step]).all() for i in range(0, M.shape[0], step))


def _vector(name, v, n, allow_inf=False):
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        v = np.full(n, float(v))
    v = v.ravel()
    if v.shape != (n,):
        raise DataError(name, f"must have {n} entries, got {v.shape[0]}")
    bad = np.isnan(v) if allow_inf else ~np.isfinite(v)
    if bad.any():
        raise DataError(name, "contains NaN" + ("" if allow_inf else " or inf"))
    return v


# ----------------------------------------------------------------------------------------------
# builders
# ----------------------------------------------------------------------------------------------

def svm_qp(K, y, C=1.0, p=None):
    """C-SVM dual: ``min 1/2 a'(K∘yy')a - p'a`` s.t. ``y'a = 0``, ``0 <= a <= C``.

    ``p`` defaults to ones (hinge loss with margin 1); ``C`` may be a per-unit array. sMIL is this
    problem on the mean-embedding kernel with ``p = 2/|B| - 1`` for positive bags.
    """
    y = check_pm1(y)
    n = y.shape[0]
    p = np.ones(n) if p is None else p
    return KernelQP(K=K, y=y, p=p, upper=np.broadcast_to(np.asarray(C, float), (n,)).copy())


def privileged_block(index, K_priv, c, gamma_plus, factor=None):
    """The SVM+ correcting (privileged) block over the units ``index``: the one builder every
    SVM+-style dual uses (SVM+, sMIL-PI, mi-SVM-PI, MIL-CPB-PI).

    With weights ``c`` of the units, the block adds ``1/(2 gamma)(a_S + z)'K~(a_S + z) -
    (1/gamma)(a_S + z)'K~c`` with ``sum(a_S + z) = sum(c)``, i.e. the correcting function
    ``xi = K~(a_S + z - c)/gamma + b*`` of the slacks (Vapnik & Vashist 2009).

    Returns
    -------
    block : CorrectingBlock
    constant : float
        ``c'K~c / (2 gamma)``: added to a QP's ``constant``, the reported objective is exactly
        minus the SVM+ dual.

    ``factor`` (optional): privileged features with ``K_priv = factor @ factor.T`` (a linear
    privileged kernel); see :class:`CorrectingBlock`.
    """
    c = np.asarray(c, dtype=np.float64)
    Kc = kernel_matvec(K_priv, c)
    block = CorrectingBlock(np.asarray(index), K_priv, float(gamma_plus), Kc / gamma_plus,
                            float(c.sum()), float(c.sum()), factor=factor)
    return block, float(c @ Kc) / (2.0 * gamma_plus)


def svmplus_qp(K, y, K_priv, C=1.0, gamma_plus=1.0, factor=None):
    """SVM+ dual (Vapnik & Vashist 2009) as a :class:`KernelQP` with one correcting block.

    ``max_{a, b >= 0} sum a - 1/2 (a∘y)'K(a∘y) - 1/(2 gamma)(a+b-C)'K~(a+b-C)``
    s.t. ``y'a = 0``, ``sum(a + b - C) = 0``; here ``z = b``, ``c = C 1``, ``q = K~c / gamma``,
    ``lo = hi = n C`` and the constant ``c'K~c / (2 gamma)`` so that the reported objective is
    exactly minus the dual above. The correcting (slack) function on the training rows is
    ``xi = K~(a + b - C)/gamma + b*`` with ``b*`` the block multiplier. ``factor``: the
    privileged features when ``K_priv`` is their linear kernel (``K_priv = factor @ factor.T``),
    for :func:`~webly.solvers.smo_solve`'s active-set start.
    """
    y = check_pm1(y)
    n = y.shape[0]
    K_priv = _square("K_priv", K_priv, None)
    if K_priv.shape[0] != n:
        raise DataError("K_priv", f"has {K_priv.shape[0]} rows but there are {n} training rows")
    block, constant = privileged_block(np.arange(n), K_priv, np.full(n, float(C)), gamma_plus,
                                       factor=factor)
    return KernelQP(K=K, y=y, p=np.ones(n), upper=np.full(n, np.inf), blocks=(block,),
                    constant=constant)


def smil_pi_qp(K, y, positive, K_priv, C=100.0, gamma_plus=100.0, rho=0.6, C_neg=1.0,
               factor=None):
    """sMIL-PI dual (Li, Niu, Xu, ECCV 2014) over units = positive bags and negative instances.

    ``min 1/2 a'(K∘yy')a - p'a + 1/(2 gamma)(a_P+z)'K~(a_P+z) - (1/gamma)(a_P+z)'K~c``
    s.t. ``y'a = 0``; ``sum(a_P + z) = sum(c)``; ``a, z >= 0``; ``a_i <= C_neg`` for negatives.

    Parameters
    ----------
    K : (n, n) array
        Kernel between units (bag-mean kernel for positive bags, see
        :func:`webly.kernels.bag_mean_kernel`).
    y : (n,) array of {-1, +1}
    positive : (n,) bool array
        Explicit indicator of the positive-bag units (P); they get ``p = 2 rho - 1``, no upper
        bound, and the correcting block. Negatives get ``p = 1`` and ``a <= C_neg``.
    K_priv : (|P|, |P|) array
        Kernel of the bags' mean privileged features, in the order of ``np.flatnonzero(positive)``.
    C, gamma_plus, rho, C_neg : float
        ``c_I = C / |P|``; authors' defaults C = 100, gamma = 100, rho = 0.6, C* = 1.
    factor : (|P|, r) array or None
        The bags' mean privileged features when ``K_priv`` is their linear kernel (see
        :class:`CorrectingBlock`).
    """
    y = check_pm1(y)
    n = y.shape[0]
    positive = np.asarray(positive, dtype=bool).ravel()
    if positive.shape != (n,) or not positive.any():
        raise DataError("positive", "needs one flag per unit and at least one positive bag")
    P = np.flatnonzero(positive)
    K_priv = _square("K_priv", K_priv, None)
    if K_priv.shape[0] != P.size:
        raise DataError("K_priv", f"is {K_priv.shape} but there are {P.size} positive bags")
    p = np.where(positive, 2.0 * rho - 1.0, 1.0)
    upper = np.where(positive, np.inf, float(C_neg))
    block, constant = privileged_block(P, K_priv, np.full(P.size, float(C) / P.size), gamma_plus,
                                       factor=factor)
    return KernelQP(K=K, y=y, p=p, upper=upper, blocks=(block,), constant=constant)


def add_domain_adaptation(qp, K_ss, k_target, n_target, C2=1e3, gamma2=1e3, eps=0.0, B=None):
    """Add the -DA correcting block (a correcting function on the visual features).

    Adds, over all n units, ``v = a + z2`` (``b = v / C2`` are KMM importance weights)::

        + 1/(2 gamma2) v'K_ss v - (1/gamma2)(n_s/n_t) C2 v'(K_st 1)
        s.t. n_s (1 - eps) <= sum(v)/C2 <= n_s min(1 + eps, B),  z2 >= 0,

    i.e. ``C2^2 n_s^2 / (2 gamma2)`` times KMM's empirical MMD between the ``b``-weighted
    training units and the target mean, up to a constant (Huang et al. 2007). With ``eps = 0``
    the total is an equality. KMM's per-weight bound ``b_i <= B`` is not imposed (only the
    total ``sum b <= B n_s``, as in the design).

    Parameters
    ----------
    qp : KernelQP
    K_ss : (n, n) array
        Visual kernel between the training units (usually the same matrix as ``qp.K``).
    k_target : (n,) array
        ``K_st 1``: each unit's kernel summed over the ``n_target`` unlabelled target rows.
    n_target : int
    C2 : float or (n,) array
        Scale of the importance weights; per unit (``b_u = v_u / C2_u``, the sum constraint then
        weighted by ``1 / C2``: only :func:`~webly.solvers.reference.reference_solve` solves it)
        as the authors' sMIL-PI-DA splits it (see ``SMILPIDAClassifier(C2_per_unit=True)``).
    gamma2, eps : float
    B : float or None
        Upper bound of the mean weight; None for no bound beyond ``1 + eps``.
    """
    n = qp.n
    k_target = _vector("k_target", k_target, n)
    if not n_target > 0:
        raise DataError("n_target", "needs at least one target row")
    ratio = n / float(n_target)
    hi_w = 1.0 + eps if B is None else min(1.0 + eps, float(B))
    if hi_w < 1.0 - eps:
        raise DataError("B", f"B={B} leaves no feasible total weight with eps={eps}")
    if np.ndim(C2) == 0:
        block = CorrectingBlock(np.arange(n), K_ss, float(gamma2),
                                (C2 * ratio / gamma2) * k_target,
                                C2 * n * max(1.0 - eps, 0.0), C2 * n * hi_w)
    else:  # per-unit c2: b_u = v_u / c2_u, so the total is a weighted sum
        c2 = _vector("C2", C2, n)
        if not np.all(c2 > 0):
            raise DataError("C2", "per-unit weights must be positive")
        block = CorrectingBlock(np.arange(n), K_ss, float(gamma2), (ratio / gamma2) * c2 * k_target,
                                n * max(1.0 - eps, 0.0), n * hi_w, weights=1.0 / c2)
    return replace(qp, blocks=tuple(qp.blocks) + (block,))


# ----------------------------------------------------------------------------------------------
# evaluation helpers (plain numpy; used by both solvers and by tests)
# ----------------------------------------------------------------------------------------------

def split_solution(qp, x):
    """Split a flat solution ``x = [a; z_1; ..; z_J]`` into ``(a, [z_1, .., z_J])``."""
    x = np.asarray(x, dtype=np.float64)
    n = qp.n
    out, start = [], n
    for b in qp.blocks:
        m = len(b.index)
        out.append(x[start:start + m])
        start += m
    return x[:n], out


def qp_objective(qp, x):
    """Objective of :class:`KernelQP` at ``x`` (constant included)."""
    a, zs = split_solution(qp, x)
    ya = qp.y * a
    val = 0.5 * ya @ kernel_matvec(qp.K, ya) - qp.p @ a
    for b, z in zip(qp.blocks, zs):
        v = a[b.index] + z
        val += 0.5 / b.gamma * v @ kernel_matvec(b.kernel, v) - b.linear @ v
    return float(val + qp.constant)


def correcting_values(qp, x, multipliers):
    """Value of each correcting function on its block's units: ``G v / gamma - q + nu_j w``
    (``w`` the block's sum weights, ones by default), for the validated problem ``qp``."""
    a, zs = split_solution(qp, x)
    out = []
    for j, (b, z) in enumerate(zip(qp.blocks, zs)):
        v = a[b.index] + z
        w = 1.0 if b.weights is None else b.weights
        out.append(kernel_matvec(b.kernel, v) / b.gamma - b.linear + multipliers[1 + j] * w)
    return out
