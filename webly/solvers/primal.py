"""Primal solvers of the SVM+ family on explicit features: the large-data path.

The kernel solvers (:mod:`webly.solvers`) need the (n, n) kernel matrices, which stops at a few
ten thousand rows. Here the model is linear in explicit features: the rows themselves (linear
kernel) or an approximate RBF feature map from scikit-learn (:class:`FeatureMap`: Nystroem, or
random Fourier features), on the main view and on the privileged view, and the *primal* is solved
in O(n (d + d~)) memory, never forming an (n, n) matrix.

SVM+ (hinge loss), with ``f_i = w'phi_i + b`` and the correcting function
``s_i = u'psi_i + c`` on the privileged features ``psi_i``::

    min_{w, b, u, c}  1/2 ||w||^2 + gamma/2 ||u||^2 + C sum_i s_i
    s.t.  y_i f_i >= 1 - s_i   (multiplier a_i),    s_i >= 0   (multiplier b_i).

This is exactly the problem whose dual :func:`webly.solvers.svmplus_qp` states (``w = sum a_i y_i
phi_i``, ``u = (1/gamma) sum (a_i + b_i - C) psi_i``), so with linear kernels both solvers give
the same optimum. The slack ``s_i`` is not a free variable, so the hinge-loss elimination of the
C-SVM is impossible. An exact L1 penalty ``C s_i + mu [max(0, 1 - y_i f_i - s_i) + max(0, -s_i)]``
is exact only for ``mu`` above the largest multiplier, which SVM+ does not bound (``a, b >= 0``
have no upper box; we see a_i of 100-300 at C = 1-10 on small problems, growing with n) and
is not differentiable; a smoothed or quadratic penalty is not exact at all. We therefore solve
the constrained primal itself by the **augmented Lagrangian method** (method of multipliers,
Hestenes-Powell-Rockafellar) for inequality constraints::

    L_rho(theta; a, b) = P(theta) + 1/(2 rho) sum_i [max(0, a_i + rho g_i)^2 - a_i^2]
                                  + 1/(2 rho) sum_i [max(0, b_i - rho s_i)^2 - b_i^2],
    g_i = 1 - y_i f_i - s_i,

minimised over ``theta = (w, b, u, c)``, then the multiplier step ``a <- max(0, a + rho g)``,
``b <- max(0, b - rho s)``; ``rho`` is multiplied by 10 whenever a round does not cut the
violation by 4. This converges to the *exact* constrained optimum with a finite ``rho`` (not
an approximation), and at every inner optimum ``w = sum_i a_i y_i phi_i`` and ``u = (1/gamma)
sum (a_i + b_i - C) psi_i`` hold exactly with the updated multipliers: the multipliers are the
SVM+ dual variables. A round's residual ``max |a_new - a| / rho`` is the largest violation of
a constraint or of complementary slackness, in units of the margin; the solve stops when it is
at most ``tol`` and the last inner step moved no decision value or slack by more than ``tol/10``
(a step the line search cut below half the Newton step counts only if the full Newton step was
that small too).

``L_rho`` is convex, continuously differentiable and piecewise quadratic in the few (d + d~ + 2)
parameters. Each subproblem is minimised by **Newton's method with the generalised Hessian**
(semismooth Newton) ``D + rho sum_{active i} dg_i dg_i'`` and an exact line search (the function
is piecewise quadratic along a line, so the step is found in O(n) without further passes over the
features). The Hessian is formed with BLAS ``syrk`` and kept up to date by rank-k updates over the
rows whose active state changed (while most rows change, in the first steps, it is estimated on a
fixed sample of 16,384 rows). Each step costs one product with the features and one with their
transpose. We first used L-BFGS (scipy's L-BFGS-B) on ``L_rho``: it needed thousands of
iterations per solve, because the large multipliers above make ``rho`` grow to 1e4-1e6 and
the subproblems that ill-conditioned; the Newton steps are invariant to that conditioning and
converge in 30-100 steps in all. With more than 2,048 parameters (large Nystroem maps, sparse
text) the Newton system is solved by Jacobi-preconditioned conjugate gradients instead.

Without privileged features the slack is free and is eliminated in closed form: the augmented
Lagrangian becomes a Huber-smoothed hinge with the multiplier update ``a <- clip(a + rho (1 - y f),
0, C)`` (the C-SVM box): the same method solves the exact C-SVM primal.

L2-loss SVM+ (Li et al. CVPR 2016; the problem of :mod:`webly.solvers.l2svmplus`)::

    min 1/2 (||w||^2 + b^2) - m + gamma/2 (||u||^2 + c^2) + C/2 sum_i s_i^2
    s.t. y_i f_i >= m - s_i,

is solved the same way (one multiplier family; ``sum a = 1`` and ``b = sum a_i y_i`` hold at the
optimum; tolerances are relative to the margin ``m``). Without privileged features the slack
``s_i = max(0, m - y_i f_i)`` is free and the objective is smooth: no multipliers are needed.

The MIL problems are the same SVM+ primal with per-row terms (:func:`svmplus_primal`'s
``margin``, an array ``C`` and ``priv_rows``): a margin ``p_i`` per row (sMIL's bag margins
``2/|B| - 1``, sMIL-PI's ``2 rho - 1``: the dual's linear term ``p``), a weight ``C_i`` per row,
and the correcting function only on the rows ``P`` (sMIL-PI's positive bags, mi-SVM-PI's
positive-bag instances) while the other rows keep an eliminated slack (a hinge family over
those rows, multipliers in ``[0, C_i]``). Each constraint family then runs over its own rows.
A solve can start from an earlier one's parameters and multipliers (``start``), as mi-SVM's
relabelling rounds do.

**The -DA correcting function** (sMIL-PI-DA, mi-SVM-PI-DA; the kernel form is
:func:`webly.solvers.add_domain_adaptation`: over ``v = a + z2``, ``+ v'K v / (2 gamma2) -
(C2 n / (gamma2 n_t)) v'(K_st 1)`` with ``lo <= sum(v) <= hi``). Its primal is a second
correcting function on the rows' own (visual) features, ``v_i = u2'phi_i + c2``, that enters
every margin constraint and must itself be nonnegative::

    + gamma2/2 ||u2||^2 + hi c2 + (hi - lo) max(0, -c2)
    s.t.  y_i f_i >= p_i - s_i - (v_i - q_i),   v_i >= q_i,
          q_i = C2 (n / gamma2) phi_i' mu,   mu = mean of phi over the target rows.

The Lagrangian's minimum over ``u2`` gives ``-||Phi'(a + z2)||^2 / (2 gamma2)`` (z2 the
multipliers of ``v >= q``), the constants ``q`` give the dual's target term (``Phi mu`` is
``K_st 1 / n_t`` on explicit features), and the offset's piecewise-linear cost is the conjugate
of KMM's interval ``lo <= sum(a + z2) <= hi`` (its kink is a hinge on one parameter: a
constraint family of no rows, :class:`_ParamHinge`, solved with the others). The primal value
is then exactly minus the dual's, with no constant. Per-unit ``C2`` (the authors' split) only
changes ``q`` and weighs the offset per row (``v_i = u2'phi_i + c2 / C2_i``). The rows enter
only through ``phi`` and the n-vector ``q``: X_target, of any size, only through ``mu``.

*Convergence at scale.* With many rows per feature the rows' weights can match the target mean
exactly (``Phi'(a + z2) = C2 n mu`` with ``a + z2 >= 0``), and then the optimum has ``v = q`` on
every row: every ``v >= q`` is active and ``z2`` is not unique. On the 19,820 crawl rows of
``benchmarks/da_primal_scale.py`` (C2 = gamma2 = 1000) ``|v - q| <= 1e-8`` on all rows, ``c2``
is ~1e-11, 19,769 ``z2`` are positive, and the objective is sMIL-PI's plus the constant
``(C2 n)^2 / (2 gamma2) ||mu||^2`` to 1e-12 (the decisions within 0.016 of sMIL-PI's at tol
1e-3): there the -DA term changes nothing. The degeneracy did not stall the solve by itself;
measured per Newton step, three things did (1,000 steps of length 0.01-0.2 in the first round,
violation 0.26): (1) one ``rho`` for all families at 10 max C2 = 1e4 made the margins' hinge
(multipliers in ``[0, C_i = 1]``) a Huber of width ``C_i / rho = 1e-4``, whose kinks the steps
crossed a few rows at a time (its active rows grew from 0 to 390 in 1,000 steps); (2) float32
rows: ``v ~ q`` reach 3e4 (2e5 at 10^5 rows) and the gradient's ``Phi'z2`` ~ ``C2 n mu``,
which float32 products carry with errors of ~1e-2 in ``v - q`` and ~30 in the gradient (where
its norm stalled), and the float32 Gram's ridge (1e-6 of the largest diagonal, ``rho n`` in the
``u2`` block) damps the ``w`` block; (3) the start at 0 sets ``v - q = -q``: the first step
moved ``f`` by 5e4. So each family's ``rho`` starts at 10 times its multipliers' scale (10 max
C for the margins, 10 max C2 for ``v >= q`` and the offset's hinge), the -DA solve computes
its rows' products in float64 (float32 rows are not copied: :class:`_Float64Rows` converts
them block by block), and it starts at ``v = q`` with ``z2 = C2`` (KMM's weights 1). Measured
at 300 Newton steps on those rows: float64 with the per-family ``rho`` converges (273 steps;
with the start 71, in 4 rounds); float64 and the start with one ``rho`` stops at violation
9e-3, float32 with the per-family ``rho`` and the start at 0.18; at 99,100 rows the fixes
without the start stop at 1,000 steps (violation 1.9), with it they converge in 15. The start
costs steps where the -DA term moves the solution: 358 against 198 from 0 on the benchmark's
2,000-row agreement problem (C2 = 0.01, gamma2 = 1). These change the path, not the problem
(the same optimum: ``tests/mil/test_da_primal.py``).

MIL-CPB-PI-DA's -DA function lives on the instances' visual features while its classifier
lives on label blocks: ``F_target`` gives ``v`` its own rows (``v_i = u2'F_target_i + c2``,
the dual's block on ``F_target F_target'``), and with ``fit_intercept=False`` the dual has no
``y'a = 0`` (the -DA block and KMM's interval come from ``u2`` and ``c2`` alone), which is
MIL-CPB's QP with its free unit.

MIL-CPB's label-kernel MKL (and MDA-HS's) is the same SVM / L2-SVM (+) on per-labelling feature
blocks: ``F`` may be a :class:`~webly.solvers.block_rows.BlockRows` (rows ``kron(c_i, phi_i)`` held
as the rows plus the block coefficients of the few rows with more than one block), with
``fit_intercept=False`` (the bias is a constant feature inside the blocks; the solver's ``b`` is
held at 0). Their Gram matrices are formed on each row's nonzero columns; their Newton Hessian is
kept up to ``BlockRows.hessian_max`` parameters (plain rows: 2,048), factorised up to
``_FACTOR_MAX`` (4,096: 8 labellings of 512 features) and above it solved by CG preconditioned
with its diagonal blocks (:func:`_block_pcg`). MDA-HS's rows keep it implicitly above
``_FACTOR_MAX`` (:class:`~webly.multisource._mdahs_primal._LabelGram`: per source a block, per
labelling pattern of the target rows their moments; its products cost no pass over the rows and
no ``(size, size)`` matrix is formed), solved by CG to a relative residual of 1e-2 (an inexact
Newton step). On Dask rows
``F`` is a :class:`~webly.solvers.block_rows.DaskBlockRows` (the rows and their labellings in
partitions; each partition builds its own ``BlockRows``, the row kernels below run on it
unchanged and its Gram matrices are formed on the full block width), or MDA-HS's
:class:`~webly.multisource._mdahs_primal.DaskMDAHSRows` (any
:class:`~webly.solvers.block_rows.DaskStructuredRows`: each partition its own ``MDAHSRows``).

All functions take plain arrays (dense float32/float64, or CSR) and return arrays plus an ``info``
dict with ``status``, ``n_iter``, ``objective``, ``kkt_violation``, like the kernel solvers; a
solve that does not converge warns (``ConvergenceWarning``).

**On a Dask cluster.** :func:`svmplus_primal` and :func:`l2svmplus_primal` also take the features
as row-chunked :class:`dask.array.Array` (``F`` and ``F_priv``; ``y``, per-row ``C`` and
``margin`` as numpy or Dask). The method is the same code: the per-row work of a Newton step is
written once as row kernels (:func:`_k_value_grad`, :func:`_k_line`, :func:`_k_slope`,
:func:`_k_advance`, :func:`_k_multipliers`, :func:`_k_hessian_vector`) that a *rows backend*
(:mod:`webly.solvers._rows`) runs on all rows in memory, or on every partition with the
partitions' sums added and maxima taken in one reduction task; the Hessian
``sum_p J_p' D_p J_p`` is a map over the partitions too. The small Newton system, the line
search's scalar iteration (:func:`_ls_advance`) and the multiplier schedule run on the client:
data-parallel full-batch Newton as in dask-glm. Per-row state (``f``, ``s``, the multipliers,
the active sets, the line search's pieces) stays on the cluster in the partitions, persisted
after each update: the client holds O(d^2), never an n-vector, so n is bounded by the
cluster's memory, not the client's. The Hessian's sample is drawn by global row index and its
rank-k updates run over the changed rows of each partition, so a Dask solve takes the same steps
as the in-memory one: on one partition it is bit-identical, on several the results differ by the
order of floating-point sums only (on float64 rows the objectives agree to ~1e-15 relative; on
float32 rows, whose partial sums the partitions add in float64, the two stop at slightly
different points within ``tol``). The -DA term (``target_mean``) runs there too: its per-row
constants ``q`` and offset weights are persisted Dask vectors, its start (``v = q``, ``z2 = C2``)
is built in the partitions, and the rows are held as float64 (the in-memory -DA solve computes in
float64 as well). :func:`l2svmplus_primal` takes one weight per row and ``priv_rows`` there as
well (families over all rows, switched off outside their rows, and the squared slack weighted
per row: ``_Primal``'s ``s_mask``), as MIL-CPB-PI's squared hinge needs. A Newton step costs about three round trips to the cluster
(value and gradient with the rank-k Hessian update, step and line-search setup with the first
trial, the remaining trials unrolled four per graph) plus one for a sampled or rebuilt Hessian,
so small problems are faster in memory.
"""

import logging
import time
from types import SimpleNamespace

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..base import check_pm1, check_row_features
from ..errors import DataError
from ..kernels import default_gamma
from ._rows import NUMPY, DaskRows, _mv, _rmv, gram_rows, is_dask, jac_block, select
from .block_rows import BlockRows, DaskBlockRows, DaskStructuredRows

logger = logging.getLogger(__name__)

__all__ = ["FeatureMap", "FEATURE_MAPS", "svmplus_primal", "l2svmplus_primal", "primal_objective",
           "blas_threads"]

#: explicit feature maps of the primal path
FEATURE_MAPS = ("linear", "nystroem", "rbf_sampler")


class FeatureMap:
    """Explicit features for a kernel: the identity (linear kernel) or an approximate RBF map.

    Parameters
    ----------
    kind : {"linear", "nystroem", "rbf_sampler"}
        ``linear``: the rows themselves (sparse rows stay sparse). ``nystroem``:
        :class:`sklearn.kernel_approximation.Nystroem` on ``n_components`` training rows drawn at
        random (``z(x)'z(x')`` approximates ``exp(-gamma ||x - x'||^2)``). ``rbf_sampler``:
        random Fourier features, :class:`sklearn.kernel_approximation.RBFSampler`.
    gamma : float or None
        RBF bandwidth; None applies webly's rule ``1 / mean squared distance`` of the training
        rows (:func:`webly.kernels.default_gamma`), as the kernel path does.
    n_components : int
        Number of features of the approximate maps (Nystroem uses at most n training rows).
    random_state : int, RandomState or None

    Notes
    -----
    On a row-chunked Dask array ``X``, ``fit`` computes the bandwidth rule's mean squared
    distance as a reduction over the partitions (the same formula), draws the Nystroem
    landmarks as scikit-learn's ``Nystroem.fit`` would from the rows in memory and fetches only
    those ``n_components`` rows to the client (an int ``random_state`` gives the same map as
    in memory); ``transform`` maps each partition where it lives (``map_blocks``) and returns
    a Dask array chunked like ``X``'s rows.
    """

    def __init__(self, kind="nystroem", gamma=None, n_components=512, random_state=None):
        if kind not in FEATURE_MAPS:
            raise DataError("features", f"unknown feature map {kind!r}; use one of "
                                        f"{', '.join(FEATURE_MAPS)}")
        self.kind = kind
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X):
        """Fit the map on training rows X (bandwidth rule, Nystroem landmarks)."""
        self.n_features_in_ = X.shape[1]
        if self.kind == "linear":
            self.gamma_, self.transformer_ = None, None
            self.n_features_out_ = X.shape[1]
            return self
        from sklearn.kernel_approximation import Nystroem, RBFSampler

        if self.gamma is not None:
            self.gamma_ = float(self.gamma)
        else:
            self.gamma_ = _dask_default_gamma(X) if is_dask(X) else default_gamma(X)
        if self.kind == "nystroem":
            m = int(min(self.n_components, X.shape[0]))
            tr = Nystroem(kernel="rbf", gamma=self.gamma_, n_components=m,
                          random_state=self.random_state)
            self.transformer_ = _nystroem_on_landmarks(tr, X) if is_dask(X) else tr.fit(X)
        else:
            m = int(self.n_components)
            tr = RBFSampler(gamma=self.gamma_, n_components=m, random_state=self.random_state)
            # the random features depend on the column count only
            self.transformer_ = tr.fit(X[:1].compute() if is_dask(X) else X)
        self.n_features_out_ = m
        return self

    def transform(self, X):
        """Features of rows X: (n, n_features_out_), dense (or X itself for ``linear``); a Dask
        ``X`` gives a Dask array with its row chunks."""
        if self.transformer_ is None:
            return X
        if is_dask(X):
            dtype = X.dtype if X.dtype == np.float32 else np.float64
            return X.rechunk({1: -1}).map_blocks(
                self.transform, dtype=dtype, chunks=(X.chunks[0], (self.n_features_out_,)),
                meta=np.empty((0, 0), dtype=dtype))
        Z = self.transformer_.transform(X)
        dtype = X.dtype if X.dtype == np.float32 else np.float64
        return np.ascontiguousarray(Z, dtype=dtype)

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def __repr__(self):
        return (f"FeatureMap({self.kind!r}, gamma={self.gamma!r}, "
                f"n_components={self.n_components!r})")


def _dask_default_gamma(X):
    """:func:`webly.kernels.default_gamma` of a Dask array: ``1 / mean squared distance`` from
    ``2 (mean ||x||^2 - ||mean x||^2)`` (:func:`webly.kernels.mean_squared_distance`'s formula),
    one reduction over the partitions."""
    import dask

    X64 = X.astype(np.float64)
    mean_sq, mu = dask.compute((X64 * X64).sum(axis=1).mean(), X64.mean(axis=0))
    msd = float(max(2.0 * (mean_sq - mu @ mu), 0.0))
    return 1.0 / msd if msd > 0 else 1.0


def _nystroem_on_landmarks(tr, X):
    """``tr`` (an unfitted :class:`~sklearn.kernel_approximation.Nystroem`) fitted on the rows of
    the Dask array X that ``tr.fit(X)`` would draw as landmarks (its random state's permutation
    of the rows), fetching only those rows. They are handed to ``fit`` in the order in which a
    fixed permutation puts them back, so the landmarks, their order and the map are those of the
    in-memory fit with the same int ``random_state`` (should scikit-learn draw them differently,
    they are still ``n_components`` random rows)."""
    from sklearn.utils import check_random_state

    n, m = X.shape[0], tr.n_components
    inds = check_random_state(tr.random_state).permutation(n)[:m]
    order = np.argsort(inds)
    B = np.empty((m, X.shape[1]), dtype=X.dtype)
    B[order] = X[inds[order]].compute()  # sorted indices: one slice per partition
    back = np.argsort(check_random_state(0).permutation(m))
    seed = tr.random_state
    tr.set_params(random_state=0).fit(B[back])
    tr.set_params(random_state=seed)
    return tr


# ----------------------------------------------------------------------------------------------
# the problems in one form
# ----------------------------------------------------------------------------------------------

def _per_row_value(v):
    """A number as a float, per-row values as a float64 array (a Dask array stays one)."""
    if np.ndim(v) == 0:
        return float(v)
    return v.astype(np.float64) if is_dask(v) else np.asarray(v, np.float64)


class _Family:
    """Constraints ``g_i = const_i + m [has_m] - y_i f_i [has_f] - s_i [has_s] - v_i [has_v]
    <= 0`` over the rows ``rows`` (None: all n rows; a family with ``has_s`` runs over the rows
    of ``s``, in their order; ``v``, the second correcting function, is indexed like ``f``).

    Their multipliers live in ``[0, upper_i]`` (``upper < inf`` when a free slack with a linear
    cost was eliminated); ``update=False`` keeps them at 0 with a fixed ``rho``, which is exact
    when the family stands for a free slack with a squared cost (the L2-loss SVM). ``const`` and
    ``upper`` are numbers or one value per row of the family (per-row margins and weights).
    """

    def __init__(self, const, has_f, has_s, has_m, upper=np.inf, update=True, rho=None,
                 rows=None, has_v=False, count=None):
        self.const, self.upper = _per_row_value(const), _per_row_value(upper)
        self.has_f, self.has_s, self.has_m = has_f, has_s, has_m
        self.has_v = has_v  # ``- v_i``: the second correcting function (on the rows of f)
        self.update, self.rho, self.rows = update, rho, rows
        # rows the family really constrains: a masked family (_masked_families) spans all n
        # rows on Dask but stands for ``count`` of them (the Hessian's floor counts those)
        self.count = count

    def spec(self):
        """What the row kernels read, as a plain namespace (its per-row values travel with the
        rows' partitions on Dask)."""
        return SimpleNamespace(const=self.const, upper=self.upper, y=self.y, rows=self.rows,
                               has_f=self.has_f, has_s=self.has_s, has_m=self.has_m,
                               has_v=self.has_v, update=self.update)


# --- row kernels: the per-row work of one step, on all rows in memory or on one partition ---
# Each returns (per-row outputs, sums, maxima); the rows backend runs it on the whole arrays
# (numpy) or on every partition, adding the sums and taking the maxima over partitions (Dask).

def _g(fam, f, s, m, v=None):
    """Constraint values ``c - y f - s - v`` of a family (term by term, as in place on a
    copy)."""
    g = fam.const + (m if fam.has_m else 0.0)
    if fam.has_f:
        g = g - fam.y * (f if fam.rows is None else f[fam.rows])
    if fam.has_s:
        g = g - s
    if fam.has_v:
        g = g - (v if fam.rows is None else v[fam.rows])
    return g


def _dg(fam, df, ds, dm, dv=None):
    """Directional change of a family's constraint values."""
    g = dm if fam.has_m else 0.0
    if fam.has_f:
        g = g - fam.y * (df if fam.rows is None else df[fam.rows])
    if fam.has_s:
        g = g - ds
    if fam.has_v:
        g = g - (dv if fam.rows is None else dv[fam.rows])
    return g


def _scatter_sub(out, rows, A):
    """``out[rows] -= A`` (all rows when ``rows`` is None)."""
    if rows is None:
        out -= A
    else:
        out[rows] -= A


def _v_out(Fv, vw, u, c):
    """The second correcting function ``Fv u + c vw`` (``vw`` None: ones) along ``(u, c)``."""
    return _mv(Fv, u) + (c if vw is None else c * vw)


def _v_sums(Fv, vw, r):
    """Adjoint of :func:`_v_out`: ``(Fv' r, vw' r)``."""
    return _rmv(Fv, r), (r.sum() if vw is None else vw @ r)


def _s_cost(s_lin, s):
    """``s_lin's``."""
    return s_lin * s.sum() if np.ndim(s_lin) == 0 else s_lin @ s


def _s_dot(s_quad, a, b):
    """``a'b``, weighted by ``s_quad`` when it is one weight per row (the squared slack of the
    privileged rows only, :class:`_Primal`'s ``s_mask``); a number ``s_quad`` is applied by the
    caller, as it always was."""
    return a @ b if np.ndim(s_quad) == 0 else (s_quad * a) @ b


def _k_value_grad(F, Fp, y, f, s, m, mults, fams, rhos, s_lin, s_quad, old, grams=None,
                  Fv=None, vw=None, v=None):
    """Augmented-Lagrangian value terms, gradient sums and active rows (masks); with ``old``
    masks also the counts of changed rows (for the Hessian updates), and with ``grams`` (each
    family's Jacobian layout and the Gram dtype) the Gram matrices of its activated and
    deactivated rows (the rank-k update, in the same pass)."""
    terms = []
    df = np.zeros(len(f))
    ds = None if s is None else s_lin + s_quad * s
    dv = None if v is None else np.zeros(len(v))
    dm = 0.0
    if s is not None:
        terms.append(_s_cost(s_lin, s) + (0.5 * s_quad * (s @ s) if np.ndim(s_quad) == 0
                                          else 0.5 * _s_dot(s_quad, s, s)))
    masks = []
    for fam, al, rho in zip(fams, mults, rhos):
        t = al + rho * _g(fam, f, s, m, v)
        A = np.clip(t, 0.0, fam.upper)
        masks.append((t > 0.0) & (t < fam.upper))
        terms.append((A @ (2.0 * t - A) - al @ al) / (2.0 * rho))
        if fam.has_f:
            if fam.rows is None:
                df -= A
            else:
                df[fam.rows] -= A
        if fam.has_s:
            ds = ds - A
        if fam.has_m:
            dm += A.sum()
        if fam.has_v:
            _scatter_sub(dv, fam.rows, A)
    df *= y
    sums = [terms, _rmv(F, df), df.sum(), None if s is None else _rmv(Fp, ds),
            None if s is None else ds.sum(), dm, None if v is None else _v_sums(Fv, vw, dv)]
    if old is not None:
        sums.append([[np.count_nonzero(new != was), np.count_nonzero(new & ~was),
                      np.count_nonzero(was & ~new), np.count_nonzero(new)]
                     for new, was in zip(masks, old)])
    if grams is not None:
        sums.append([[gram_rows(F, Fp, y, new & ~was, spec, dtype, Fv=Fv, vw=vw),
                      gram_rows(F, Fp, y, was & ~new, spec, dtype, Fv=Fv, vw=vw)]
                     for new, was, (spec, dtype) in zip(masks, old, grams)])
    return masks, sums, ()


def _k_line(F, Fp, f, s, m, mults, fams, rhos, s_lin, s_quad, vw, vb, vu, vc, dmv, Fv=None,
            v_w=None, v=None, vv=None, vcv=None):
    """The step's change of ``(f, s)`` and the line search's per-row pieces of each family
    (``T = a + rho g``, ``dT``, ``dg``), with the sums of the quadratic part, the slope terms
    at the full step ``t = 1`` (the search's first trial, so that it costs no further pass) and
    the largest change of a decision value or slack per unit step."""
    dfv = _mv(F, vw) + vb
    dsv = None if Fp is None else _mv(Fp, vu) + vc
    dvv = None if Fv is None else _v_out(Fv, v_w, vv, vcv)
    parts = []
    for fam, al, rho in zip(fams, mults, rhos):
        dg = _dg(fam, dfv, dsv, dmv, dvv)
        parts.append((al + rho * _g(fam, f, s, m, v), rho * dg, dg))
    sums = (None if s is None else (_s_cost(s_lin, dsv), _s_dot(s_quad, dsv, s),
                                    _s_dot(s_quad, dsv, dsv)),
            _k_slope(parts, [fam.upper for fam in fams], 1.0)[1])
    tops = (np.max(np.abs(dfv), initial=0.0),
            None if dsv is None else np.max(np.abs(dsv), initial=0.0),
            None if dvv is None else np.max(np.abs(dvv), initial=0.0))
    return (dfv, dsv, parts, dvv), sums, tops


def _k_slope(parts, uppers, t):
    """Each family's ``dg' clip(T + t dT)`` and curvature ``dT' dg`` over its quadratic rows."""
    terms = []
    for (T, dT, dg), U in zip(parts, uppers):
        tt = T + t * dT
        inside = (tt > 0.0) & (tt < U)
        terms.append((dg @ np.clip(tt, 0.0, U), dT[inside] @ dg[inside]))
    return (), terms, ()


def _k_hessian_vector(F, Fp, masks, fams, rhos, s_quad, vw, vb, vu, vc, dmv, Fv=None, v_w=None,
                      vv=None, vcv=None):
    """The generalised Hessian's constraint part times a direction: the change of ``(f, s, m)``
    along it, weighted by ``rho`` on the active rows, mapped back (sums of the adjoint)."""
    df = _mv(F, vw) + vb
    ds = None if Fp is None else _mv(Fp, vu) + vc
    dv = None if Fv is None else _v_out(Fv, v_w, vv, vcv)
    rf = np.zeros(len(df))
    rs = None if ds is None else s_quad * ds
    rv = None if dv is None else np.zeros(len(dv))
    rm = 0.0
    for fam, mask, rho in zip(fams, masks, rhos):
        a = rho * mask * _dg(fam, df, ds, dmv, dv)
        if fam.has_f:
            if fam.rows is None:
                rf -= fam.y * a
            else:
                rf[fam.rows] -= fam.y * a
        if fam.has_s:
            rs = rs - a
        if fam.has_m:
            rm += a.sum()
        if fam.has_v:
            _scatter_sub(rv, fam.rows, a)
    return (), [_rmv(F, rf), rf.sum(), None if rs is None else _rmv(Fp, rs),
                None if rs is None else rs.sum(), rm,
                None if rv is None else _v_sums(Fv, v_w, rv)], ()


def _k_advance(f, s, dfv, dsv, t, v=None, dvv=None):
    """Decision values and slacks (and the second correcting function) after a step ``t``."""
    return (f + t * dfv, None if s is None else s + t * dsv,
            None if v is None else v + t * dvv), None, None


def _k_slope_state(parts, uppers, state):
    """:func:`_k_slope` at the line search state's ``t`` (nothing once it is done)."""
    return (), (None if state[0] else _k_slope(parts, uppers, state[1])[1]), ()


def _ls_advance(state, terms, c0, c1, slope0):
    """One line-search iteration: the slope ``p`` and curvature at the state's ``t`` (the rows'
    ``terms`` of :func:`_k_slope` added to the quadratic part ``c0 + t c1``), then the stopping
    test or the next trial (safeguarded Newton on the slope, within the bracket ``[lo, hi]``).
    ``state = (done, t, lo, hi, evaluations)``; at most 60 evaluations."""
    done, t, lo, hi, k = state
    if done:
        return state
    p, curv = c0 + t * c1, c1
    for dval, dcurv in terms:
        p += dval
        curv += dcurv
    # a small slope ends the search, unless t lies past the minimiser by more than 1e-3 t:
    # where a steep linear piece (many rows on their hinge's linear part) ends at a kink, the
    # slope jumps from about slope0 to a value that can be small next to slope0 although t
    # overshoots the kink by orders of magnitude
    if abs(p) <= 1e-3 * abs(slope0) and (p <= 0 or p <= 1e-3 * t * curv):
        return True, t, lo, hi, k + 1
    if p < 0:
        lo = t
    else:
        hi = t
    t_new = t - p / curv if curv > 0 else np.inf
    if not (lo < t_new < hi):
        t_new = 0.5 * (lo + hi) if np.isfinite(hi) else 4.0 * max(t, lo)
    if hi - lo <= 1e-14 * max(hi, 1.0):
        return True, t_new, lo, hi, k + 1
    return k + 1 >= 60, t_new, lo, hi, k + 1


def _ls_advance_params(state, terms, c0, c1, slope0, pparts, puppers):
    """:func:`_ls_advance` with the client-side slope terms of the parameter hinges
    (:class:`_ParamHinge`) added at the state's ``t``."""
    if not state[0]:
        terms = list(terms) + _k_slope(pparts, puppers, state[1])[1]
    return _ls_advance(state, terms, c0, c1, slope0)


def _k_multipliers(f, s, m, mults, fams, rhos, v=None):
    """The multiplier step and each family's largest multiplier change."""
    out, moved = [], []
    for fam, al, rho in zip(fams, mults, rhos):
        new = np.clip(al + rho * _g(fam, f, s, m, v), 0.0, fam.upper) if fam.update else al
        out.append(new)
        moved.append(np.max(np.abs(new - al), initial=0.0))
    return out, (), moved


def _is_constraint(fam):
    """Whether a family constrains a correcting function (no eliminated slack)."""
    return fam.has_s or (fam.has_v and bool(np.all(np.isinf(fam.upper))))


class _ParamHinge:
    """A hinge ``upper * max(0, sign * theta_k)`` on one parameter, as a constraint family over
    no rows (``g = sign * theta_k <= 0``, multiplier in ``[0, upper]``: an eliminated slack with
    a linear cost), handled on the client. The -DA correcting function's offset needs it for
    KMM's interval ``lo <= sum b <= hi`` (see :func:`svmplus_primal`)."""

    update, rho = True, None

    def __init__(self, index, sign, upper):
        self.index, self.sign, self.upper = int(index), float(sign), float(upper)

    def g(self, th):
        return self.sign * th[self.index]


class _Primal:
    """``min 1/2 theta'D theta + e'theta + s_lin's + s_quad/2 ||s||^2`` s.t. the families.

    ``s_mask`` (a per-row mask of a Dask rows backend, with ``s`` over all n rows): the squared
    slack only on those rows (``s_quad/2 ||s_P||^2``: L2-SVM+'s privileged rows on Dask, the
    others switched off as in :func:`_masked_families`); the kernels then get ``s_quad`` as
    one weight per row (``s_quad_rows``).

    ``theta = [w, b, u, c, u2, c2, m]`` (``u, c`` only with privileged features, ``u2, c2``
    only with a second correcting function, ``m`` only for the margin variable of the L2-loss
    models); ``f = F w + b`` on the n rows, ``s = F_priv u + c`` on the rows of ``F_priv`` (all
    rows, or the privileged rows of the MIL-PI models, whose other rows have an eliminated
    slack: a hinge family over those rows), ``v = F_v u2 + c2 v_w`` on the n rows (the -DA
    correcting function; ``v_w`` per-row weights of its offset, None: ones). ``s_lin`` is a
    number or one weight per row of ``s``. ``params``: :class:`_ParamHinge` terms on single
    parameters; their multipliers and ``rho`` follow the row families' in the solver's lists.
    """

    def __init__(self, F, y, Fp, families, reg_b=0.0, reg_u=1.0, reg_c=0.0, has_m=False,
                 s_lin=0.0, s_quad=0.0, rows=NUMPY, Fv=None, reg_v=1.0, v_w=None, params=(),
                 fit_intercept=True, s_mask=None):
        self.F, self.y, self.Fp, self.families = F, y, Fp, families
        # fit_intercept=False: b is held at 0 (the Newton steps solve the system without it)
        self.fit_intercept = fit_intercept
        self.rows = rows  # the passes over the rows (webly.solvers._rows)
        self.n, self.d = F.shape
        self.dp = 0 if Fp is None else Fp.shape[1]
        self.n_s = 0 if Fp is None else Fp.shape[0]
        self.Fv, self.v_w = Fv, v_w
        self.dv = 0 if Fv is None else Fv.shape[1]
        self.params = list(params)
        self.param_active = [False] * len(self.params)
        self.has_m = has_m
        self.s_lin = _per_row_value(s_lin)
        self.s_quad = float(s_quad)
        self.s_mask = s_mask
        self.s_quad_rows = self.s_quad if s_mask is None else \
            rows.persist(_where(s_mask, self.s_quad, 0.0))
        for fam in families:  # labels and number of each family's rows
            if fam.rows is None:
                fam.y, fam.n = y, (self.n_s if fam.has_s else self.n)
            else:
                fam.y, fam.n = y[fam.rows], len(fam.rows)
        d, dp = self.d, self.dp
        self.ib = d
        self.iu = slice(d + 1, d + 1 + dp)
        self.ic = d + 1 + dp if Fp is not None else None
        base = d + 1 + (dp + 1 if Fp is not None else 0)
        self.iv = slice(base, base + self.dv)
        self.icv = base + self.dv if Fv is not None else None
        self.size = base + (self.dv + 1 if Fv is not None else 0) + (1 if has_m else 0)
        self.D = np.zeros(self.size)
        self.D[:d] = 1.0
        self.D[d] = reg_b
        self.e = np.zeros(self.size)
        if Fp is not None:
            self.D[self.iu] = reg_u
            self.D[self.ic] = reg_c
        if Fv is not None:
            self.D[self.iv] = reg_v
        if has_m:
            self.e[-1] = -1.0

    @property
    def all_families(self):
        """The row families, then the parameter terms (the order of multipliers and rhos)."""
        return list(self.families) + self.params

    # --- linear maps -------------------------------------------------------------------------
    def outputs(self, th):
        """``(f, s, m)`` at ``th`` (per-row vectors lazy on a Dask backend: persist them)."""
        f = self.rows.mv(self.F, th[:self.d]) + th[self.ib]
        s = None if self.Fp is None else self.rows.mv(self.Fp, th[self.iu]) + th[self.ic]
        return f, s, (th[-1] if self.has_m else 0.0)

    def v_values(self, th):
        """The second correcting function ``v`` at ``th`` (None without one)."""
        if self.Fv is None:
            return None
        u, c = th[self.iv], th[self.icv]
        return self.rows.mv(self.Fv, u) + (c if self.v_w is None else c * self.v_w)

    def v_args(self, v=None):
        """The second correcting function's arguments of the row kernels (none without it)."""
        return {} if self.Fv is None else {"Fv": self.Fv, "v": v}

    def v_step(self, step):
        """Its arguments along a direction ``step`` (of :func:`_k_line`,
        :func:`_k_hessian_vector`)."""
        if self.Fv is None:
            return {}
        return {"Fv": self.Fv, "v_w": self.v_w, "vv": step[self.iv], "vcv": step[self.icv]}

    def g(self, fam, f, s, m, v=None):
        return _g(fam, f, s, m, v)

    def dg(self, fam, df, ds, dm, dv=None):
        return _dg(fam, df, ds, dm, dv)

    def s_cost(self, s):
        """``s_lin's``."""
        return _s_cost(self.s_lin, s)

    def specs(self):
        return [fam.spec() for fam in self.families]

    # --- value and gradient of the augmented Lagrangian -------------------------------------
    def value_grad(self, th, f, s, m, mults, rhos, old=None, gram_dtype=None, v=None):
        """Value and gradient of the augmented Lagrangian and each family's active rows (the
        quadratic pieces: the generalised Hessian's rows), from one pass over the rows.

        With the ``old`` active rows the fourth result is a dict: ``counts`` of changed rows
        per family and, with ``gram_dtype``, ``grams``: each family's ``[[G, rows]
        activated, [G, rows] deactivated]`` (the Hessian's rank-k update, same pass). The
        parameter terms' quadratic pieces are kept in ``param_active``."""
        rows = self.rows
        grams = None if gram_dtype is None else [(self.jac_spec(fam), gram_dtype)
                                                 for fam in self.families]
        vargs = self.v_args(v)
        if vargs:
            vargs["vw"] = self.v_w
        masks, red = rows.run(_k_value_grad, F=self.F, Fp=self.Fp, y=self.y, f=f, s=s, m=m,
                              mults=mults, fams=self.specs(), rhos=rhos, s_lin=self.s_lin,
                              s_quad=self.s_quad_rows, old=old, grams=grams, **vargs)
        masks, (sums, _) = rows.evaluate(masks, red)
        terms, gF, sF, gP, sP, dm, gsV = sums[:7]
        val = 0.5 * th @ (self.D * th) + self.e @ th
        for term in terms:
            val += term
        grad = self.D * th + self.e
        grad[:self.d] += gF
        grad[self.ib] += sF
        if s is not None:
            grad[self.iu] += gP
            grad[self.ic] += sP
        if v is not None:
            grad[self.iv] += gsV[0]
            grad[self.icv] += gsV[1]
        if self.has_m:
            grad[-1] += dm
        nf = len(self.families)
        for k, (pf, al, rho) in enumerate(zip(self.params, mults[nf:], rhos[nf:])):
            t = al + rho * pf.g(th)
            A = min(max(t, 0.0), pf.upper)
            val += (A * (2.0 * t - A) - al * al) / (2.0 * rho)
            grad[pf.index] += pf.sign * A
            self.param_active[k] = 0.0 < t < pf.upper
        extra = None if old is None else {"counts": sums[7],
                                          "grams": None if grams is None else sums[8]}
        return val, grad, masks, extra

    def multipliers(self, f, s, m, mults, rhos, v=None, th=None):
        """The multiplier step; returns the new multipliers and each family's largest change."""
        new, red = self.rows.run(_k_multipliers, f=f, s=s, m=m, mults=mults, fams=self.specs(),
                                 rhos=rhos, **({} if v is None else {"v": v}))
        new, (_, moved) = self.rows.evaluate(new, red)
        nf = len(self.families)
        if self.params:
            new, moved = list(new), list(moved)
            for pf, al, rho in zip(self.params, mults[nf:], rhos[nf:]):
                a = min(max(al + rho * pf.g(th), 0.0), pf.upper)
                new.append(a)
                moved.append(abs(a - al))
        return new, moved

    def objective(self, th, f, s, v=None):
        """The primal objective (slacks eliminated in closed form where they are free)."""
        val = 0.5 * th @ (self.D * th) + self.e @ th
        for pf in self.params:
            val += pf.upper * max(0.0, pf.g(th))
        if s is not None:
            val = val + self.s_cost(s) + (0.5 * self.s_quad * (s @ s) if self.s_mask is None
                                          else 0.5 * _s_dot(self.s_quad_rows, s, s))
        m = th[-1] if self.has_m else 0.0
        for fam in self.families:
            if _is_constraint(fam):  # a constraint on a correcting function, not a loss
                continue
            # an eliminated slack: hinge (multipliers in [0, upper]) or squared hinge (no update)
            xi = np.maximum(0.0, self.g(fam, f, s, m, v))
            if not fam.update:
                val += 0.5 * fam.rho * (xi @ xi)
            elif np.ndim(fam.upper) == 0:
                val += fam.upper * xi.sum()
            else:
                val += fam.upper @ xi
        return self.rows.compute(val)

    def violation(self, f, s, m, v=None):
        """Largest violation of the constraints that involve a correcting function."""
        if s is None and v is None:
            return 0.0
        tops = self.rows.compute([self.g(fam, f, s, m, v).max() for fam in self.families
                                  if _is_constraint(fam)])
        return float(max(0.0, *tops))

    # --- line search: the augmented Lagrangian is piecewise quadratic along a line -----------
    def line_search(self, th, f, s, m, mults, rhos, step, slope0, v=None):
        """Exact line search along ``step``; returns ``t`` and the change of ``(f, s, m)`` along
        ``step`` (``dfv, dsv, dmv``, and ``dvv`` of ``v`` with a second correcting function)
        and its largest entries (``tops``), from one pass over the rows (the per-row pieces are
        kept where the rows are) and one reduction per slope."""
        rows = self.rows
        dmv = step[-1] if self.has_m else 0.0
        vargs = self.v_step(step)
        if vargs:
            vargs["v"] = v
        out, red = rows.run(
            _k_line, F=self.F, Fp=self.Fp, f=f, s=s, m=m, mults=mults, fams=self.specs(),
            rhos=rhos, s_lin=self.s_lin, s_quad=self.s_quad_rows, vw=step[:self.d],
            vb=step[self.ib], vu=None if self.Fp is None else step[self.iu],
            vc=None if self.Fp is None else step[self.ic], dmv=dmv, **vargs)
        (dfv, dsv, parts, dvv), ((sums, terms), tops) = rows.evaluate(out, red)
        c0 = step @ (self.D * th) + self.e @ step
        c1 = step @ (self.D * step)
        if s is not None:
            sq = self.s_quad if self.s_mask is None else 1.0  # else weighted in the kernel
            c0 += sums[0] + sq * sums[1]
            c1 += sq * sums[2]
        uppers = [fam.upper for fam in self.families]
        advance, args = _ls_advance, (c0, c1, slope0)
        if self.params:  # the parameter terms' pieces, on the client
            nf = len(self.families)
            pparts, puppers = [], []
            for pf, al, rho in zip(self.params, mults[nf:], rhos[nf:]):
                dg = np.array([pf.sign * step[pf.index]])
                pparts.append((np.array([al + rho * pf.g(th)]), rho * dg, dg))
                puppers.append(pf.upper)
            advance, args = _ls_advance_params, (c0, c1, slope0, pparts, puppers)
            terms = list(terms) + _k_slope(pparts, puppers, 1.0)[1]
        # (done, t, lo, hi, evaluations): the first trial t = 1 came with the pass above
        state = _ls_advance((False, 1.0, 0.0, np.inf, 0), terms, c0, c1, slope0)
        while not state[0]:
            state = rows.line_steps(_k_slope_state, advance, state, args,
                                    parts=parts, uppers=uppers)
        return state[1], (dfv, dsv, dmv) + (() if v is None else (dvv,)), tops

    # --- Jacobian of the constraints --------------------------------------------------------
    def floor(self, rhos):
        """Lower bounds of the Hessian diagonal at the unregularised biases ``b, c, c2, m``.

        Where no row lies in the quadratic piece of its constraint (e.g. the first step of the
        C-SVM, where every row starts beyond the Huber knee) the objective is linear in a bias
        and the exact Newton step is unbounded; a floor of 1e-3 of the curvature that all n
        rows would give keeps the step finite (the exact line search then finds the knee).
        """
        out = np.zeros(self.size)
        for fam, rho in zip(self.families, rhos):
            h = 1e-3 * (fam.n if fam.count is None else fam.count) * rho
            if fam.has_f:
                out[self.ib] = max(out[self.ib], h)
            if fam.has_s:
                out[self.ic] = max(out[self.ic], h)
            if fam.has_m:
                out[-1] = max(out[-1], h)
            if fam.has_v:
                out[self.icv] = max(out[self.icv], h)
        return out

    def param_hessian(self, rhos):
        """The parameter terms' part of the generalised Hessian's diagonal."""
        out = np.zeros(self.size)
        nf = len(self.families)
        for pf, rho, active in zip(self.params, rhos[nf:], self.param_active):
            if active:
                out[pf.index] += rho
        return out

    def jac_spec(self, fam):
        """The parameter layout and the family's terms (:func:`webly.solvers._rows.jac_block`)."""
        spec = (self.size, self.d, self.dp, fam.has_f, fam.has_s, fam.has_m)
        if self.Fv is None:
            return spec
        return spec + (self.iv.start, self.dv, fam.has_v)

    def jac_rows(self, fam, idx, dtype):
        """Rows ``+-dg_i/dtheta`` of the family's rows ``idx`` (the sign cancels in outer
        products), from rows in memory."""
        ridx = idx if fam.rows is None else fam.rows[idx]
        Fr = self.F[ridx] if fam.has_f else None
        Pr = self.Fp[idx] if fam.has_s else None
        yr = fam.y[idx] if fam.has_f else None
        if not fam.has_v:
            return jac_block(self.jac_spec(fam), Fr, Pr, yr, len(idx), dtype)
        return jac_block(self.jac_spec(fam), Fr, Pr, yr, len(idx), dtype, Vr=self.Fv[ridx],
                         vwr=None if self.v_w is None else self.v_w[ridx])


class _Hessian:
    """Generalised Hessian ``D + sum_k rho_k G_k (+ s_quad Psi'Psi)`` of the augmented
    Lagrangian, ``G_k = sum_{i active in k} dg_ki dg_ki'``.

    Exact ``G_k`` are kept up to date by rank-k updates over the rows whose active state changed.
    While many rows change at once (the first Newton steps), ``G_k`` is estimated from a fixed
    random sample of ``sample`` rows instead (an inexact Newton step; the exact line search
    keeps it a descent method), and rebuilt exactly once the active sets settle.

    Rows are selected by boolean masks over each family's rows, and every Gram matrix is one
    pass of the rows backend (``prob.rows.gram``): on Dask arrays a map over the partitions
    (each forms its selected rows' ``J_p' J_p``) and a tree sum, so the sampled estimates and
    the rank-k updates work there unchanged, with the sample drawn by global row index.
    """

    def __init__(self, prob, sample=16384, seed=0):
        self.prob = prob
        rows = prob.rows
        self.dtype = np.float32 if (not sp.issparse(prob.F) and prob.F.dtype == np.float32) \
            else np.float64
        # the Gram matrices kept implicitly (structured rows that can: MDA-HS's label blocks
        # above _FACTOR_MAX parameters), or dense
        zero = _implicit_gram(prob)
        self.implicit = zero is not None
        self.G = [zero.empty() if self.implicit else np.zeros((prob.size, prob.size))
                  for _ in prob.families]
        self.masks = [rows.zeros(fam.n, bool) for fam in prob.families]
        self.exact, self.started = True, False
        self.budget = max(sample, prob.n // 20)
        self.sample = sample
        # one fixed sample of each family's rows (the same draw for families of one size)
        drawn = {}
        for fam in prob.families:
            if sample < fam.n and fam.n not in drawn:
                rng = np.random.default_rng(seed)
                drawn[fam.n] = rows.index_mask(np.sort(rng.choice(fam.n, sample, replace=False)),
                                               fam.n)
        self.samples = [drawn.get(fam.n) for fam in prob.families]  # masks of the sampled rows
        self.n_rows = 0  # rows gathered so far (cost counter)
        # the last Cholesky factor (structured rows; see solve): its rhos and the rows whose
        # active state changed since (None: it no longer stands for a low-rank change)
        self.reuse = (not rows.lazy and hasattr(prob.F, "grams") and not prob.params
                      and prob.size <= _FACTOR_MAX)
        self.factor, self.factor_rhos, self.since = None, None, None
        self.changed = []  # (family, Jacobian rows, sign, factor^-1 J' or None) since then
        self.n_factor = self.n_reused = 0
        if self.implicit:
            self.base = zero
            self.base.add_diag(prob.D)
        else:
            self.base = np.diag(prob.D)
        if prob.s_quad and prob.Fp is not None:
            sfam = _Family(0.0, False, True, False)
            sfam.n = prob.n_s
            G = self._gram(sfam, prob.s_mask)
            self.base += prob.s_quad * (G if self.implicit else _sym(G))

    def _gram(self, fam, sel):
        return self._grams([(fam, sel)])[0]

    def _grams(self, requests):
        """Gram matrices of ``(family, row mask)`` requests, from one pass over the rows."""
        if self.implicit:
            out = []
            for fam, sel in requests:
                sel = select(sel)
                idx = np.arange(fam.n) if sel is None else np.flatnonzero(sel)
                out.append((self.prob.F.grams(self.prob, fam, idx, self.dtype,
                                              out=self.base.empty()), len(idx)))
        else:
            out = self.prob.rows.grams(self.prob, requests, self.dtype)
        self.n_rows += sum(count for _, count in out)
        return [G for G, _ in out]

    def prefetch(self):
        """The Gram dtype if the next update's rank-k Gram matrices (each family's activated
        and deactivated rows) should come with the pass that finds the new active rows: on a
        lazy rows backend (one round trip to the cluster less per Newton step), once the
        Hessian is exact (not the first step, not while it is sampled); else None."""
        if not (self.prob.rows.lazy and self.exact and self.started):
            return None
        return self.dtype

    def update(self, masks, counts, prefetched=None):
        """Bring ``G_k`` to the active rows ``masks``; ``counts[k]`` = numbers of rows changed,
        activated, deactivated and active (from :meth:`_Primal.value_grad`); ``prefetched``:
        the results of :meth:`prefetch`, used where the plan is the rank-k update."""
        self.started = True
        families = self.prob.families
        changed = sum(int(c[0]) for c in counts)
        plan = []  # (k, mask, how): "set" (with a scale), "add" or "sub"
        if changed > self.budget and any(smp is not None for smp in self.samples):
            for k, (new, smp) in enumerate(zip(masks, self.samples)):
                if smp is None:
                    plan.append((k, new, None))
                else:
                    plan.append((k, ("and", new, smp), families[k].n / self.sample))
            self.exact = False
        elif not self.exact:
            plan = [(k, new, None) for k, new in enumerate(masks)]
            self.exact = True
        else:
            for k, new in enumerate(masks):
                old = self.masks[k]
                _, n_add, n_rem, n_new = (int(c) for c in counts[k])
                if n_add + n_rem > n_new:
                    plan.append((k, new, None))
                else:
                    if n_add:
                        plan.append((k, ("andnot", new, old), "add"))
                    if n_rem:
                        plan.append((k, ("andnot", old, new), "sub"))
        if prefetched is not None and all(how in ("add", "sub") for _, _, how in plan):
            done = [prefetched[k][how == "sub"] for k, _, how in plan]
            grams = [G for G, _ in done]
            self.n_rows += sum(int(count) for _, count in done)
        else:
            if not self.prob.rows.lazy and hasattr(self.prob.F, "grams"):
                # structured rows in memory: the rank-k updates are added to G_k in place
                # (MDA-HS at 1,600 parameters: a (size, size) temporary per update cost more
                # than the few changed rows' products)
                rest = []
                for k, sel, how in plan:
                    if how not in ("add", "sub"):
                        rest.append((k, sel, how))
                        continue
                    idx = np.flatnonzero(select(sel))
                    self.prob.F.grams(self.prob, families[k], idx, self.dtype, out=self.G[k],
                                      sign=1.0 if how == "add" else -1.0)
                    self.n_rows += len(idx)
                    if self.since is not None and len(idx):
                        self.since += len(idx)
                        if self.since <= self.prob.size // 6:
                            self.changed.append((k, self.prob.jac_rows(
                                families[k], idx, np.float64), 1.0 if how == "add" else -1.0,
                                None))
                        else:
                            self.since = None
                plan = rest
            grams = self._grams([(families[k], sel) for k, sel, _ in plan])
        if plan:
            self.since = None  # a rebuilt, sampled or prefetched G_k: factorise afresh
        for (k, _, how), G in zip(plan, grams):
            if how is None:
                self.G[k] = G
            elif how == "add":
                self.G[k] += G
            elif how == "sub":
                self.G[k] -= G
            else:
                self.G[k] = how * G
        self.masks = list(masks)  # fresh arrays from value_grad, never changed in place

    def solve(self, rhos, g):
        if self.implicit:
            return self._solve_implicit(rhos, g)
        # the Cholesky factorisation below reads the upper triangle only (cho_factor,
        # lower=False), where the G_k live: no symmetric copy is needed
        if self.reuse:
            H = self.base.copy()
            axpy = sla.get_blas_funcs("axpy", (H,))
            for rho, G in zip(rhos, self.G):
                axpy(G.ravel(), H.ravel(), a=rho)  # in place: no (size, size) temporaries
        else:
            H = self.base + sum(rho * G for rho, G in zip(rhos, self.G))
        idx = np.diag_indices_from(H)
        if self.prob.params:
            H[idx] += self.prob.param_hessian(rhos)
        H[idx] = np.maximum(H[idx], self.prob.floor(rhos))
        if not self.prob.fit_intercept:  # the system without b: b's step is 0
            ib = self.prob.ib
            H[ib, :] = 0.0
            H[:, ib] = 0.0
            H[ib, ib] = 1.0
            g = g.copy()
            g[ib] = 0.0
        # float32 Gram updates are accurate to ~1e-7 relative: a matching ridge keeps H definite
        rel = 1e-6 if self.dtype == np.float32 else 1e-12
        ridge = rel * max(1.0, float(np.max(np.diag(H))))
        if len(g) > _FACTOR_MAX:  # structured rows: too large to factorise at every step
            H[idx] += ridge
            return _block_pcg(H, g, self.prob.F.block_slices(len(g)))
        H[idx] += ridge
        if self.reuse:
            x = self._reuse_factor(H, rhos, g)
            if x is not None:
                return x
        for _ in range(10):
            try:
                fac = sla.cho_factor(H)
                break
            except np.linalg.LinAlgError:
                H[idx] += 99.0 * ridge
                ridge *= 100.0
        else:
            self.factor = None
            return g / np.maximum(np.diag(H), ridge)
        self.n_factor += 1
        if self.reuse:
            self.factor, self.factor_rhos, self.since = fac, list(rhos), 0
            self.changed = []
        return sla.cho_solve(fac, g)

    def _solve_implicit(self, rhos, g):
        """:meth:`solve` on the implicitly kept Gram matrices: the same system (floors, ridge,
        no ``b`` without an intercept) by CG preconditioned with the diagonal blocks the kept
        matrices form
        (:meth:`~webly.multisource._mdahs_primal._LabelGram.blocks`)."""
        H = type(self.base).combine([1.0] + list(rhos), [self.base] + list(self.G))
        diag = H.diagonal()
        extra = np.zeros(len(g))
        if self.prob.params:
            extra += self.prob.param_hessian(rhos)
        extra += np.maximum(self.prob.floor(rhos) - (diag + extra), 0.0)
        extra += 1e-12 * max(1.0, float(np.max(diag + extra)))
        H.add_diag(extra)
        blocks = H.blocks()
        if self.prob.fit_intercept:
            matvec = H.matvec
        else:  # the system without b: b's step is 0
            ib = self.prob.ib
            g = g.copy()
            g[ib] = 0.0
            for b, Hb in blocks:
                at = np.flatnonzero(b == ib)
                if len(at):
                    Hb[at[0], :] = 0.0
                    Hb[:, at[0]] = 0.0
                    Hb[at[0], at[0]] = 1.0

            def matvec(v):
                v = v.copy()
                vb, v[ib] = v[ib], 0.0
                out = H.matvec(v)
                out[ib] = vb
                return out
        # an inexact Newton step (the exact line search keeps it a descent step), as
        # _block_pcg's
        return _pcg(matvec, _block_prec(blocks), g, 500, 1e-2)

    def _reuse_factor(self, H, rhos, g):
        """The Newton step ``H^{-1} g`` from the last Cholesky factor, when ``H`` differs from
        the factorised matrix only by the rows whose active state changed since (same
        ``rhos``, no rebuilt ``G_k``, at most ``size / 6`` rows): ``H = H_0 + U S U'`` with
        ``U`` their Jacobian rows scaled by ``sqrt(rho)`` and ``S`` the signs (added, removed),
        solved by the Woodbury identity (``H_0^{-1} U`` by triangular solves, kept for the
        rows of earlier steps: ``2 k size^2`` for ``k`` new rows, against a factorisation's
        ``size^3 / 3``). Accepted if the residual ``||g - H x||`` is at most 1e-9 ``||g||``,
        else None (factorise).

        For structured rows (MDA-HS, MIL-CPB): at 600-1,600 parameters the factorisations were
        the largest cost of MDA-HS+ (31 of 66 s at 20,000 rows), while most Newton steps change
        the active state of a few rows."""
        if self.factor is None or self.since is None or list(rhos) != self.factor_rhos:
            return None
        ib = None if self.prob.fit_intercept else self.prob.ib
        Us, Ys, signs = [], [], []
        for i, (k, J, sign, Y) in enumerate(self.changed):
            if Y is None:
                U = J.T * np.sqrt(rhos[k])
                if ib is not None:
                    U[ib] = 0.0  # the system without b
                Y = sla.cho_solve(self.factor, U, check_finite=False)
                self.changed[i] = (k, U, sign, Y)
            else:
                U = J
            Us.append(U)
            Ys.append(Y)
            signs.append(np.full(U.shape[1], sign))
        z = sla.cho_solve(self.factor, g, check_finite=False)
        if Us:
            U, Y = np.hstack(Us), np.hstack(Ys)
            cap = U.T @ Y
            cap[np.diag_indices_from(cap)] += np.concatenate(signs)  # S^{-1} = S
            try:
                x = z - Y @ np.linalg.solve(cap, U.T @ z)
            except np.linalg.LinAlgError:
                return None
        else:
            x = z
        symv = sla.get_blas_funcs("symv", (H,))
        r = g - symv(1.0, H.T, x, lower=1)  # H' is Fortran-ordered: its lower triangle is H's
        if not np.sqrt(r @ r) <= 1e-9 * np.sqrt(g @ g):
            return None
        self.n_reused += 1
        return x


def _pcg(matvec, prec, g, max_iter, rtol):
    """Preconditioned conjugate gradients for ``H x = g`` (``matvec(v) = H v``, ``prec(r)`` the
    preconditioner), stopped at relative residual ``rtol``, after ``max_iter`` products or when
    ``H`` shows no positive curvature along a direction; ``prec(g)`` when no step was taken."""
    x = np.zeros_like(g)
    r = g.copy()
    z = prec(r)
    p = z.copy()
    rz = r @ z
    g_norm = np.sqrt(g @ g)
    for _ in range(max_iter):
        Hp = matvec(p)
        pHp = p @ Hp
        if not (np.isfinite(pHp) and pHp > 0):
            break
        a = rz / pHp
        x += a * p
        r -= a * Hp
        if np.sqrt(r @ r) <= rtol * g_norm:
            break
        z = prec(r)
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x if x.any() else prec(g)


def _block_pcg(U, g, blocks, rtol=1e-2, max_iter=500):
    """Solve ``H x = g`` for the symmetric ``H`` given by its upper triangle ``U`` by conjugate
    gradients preconditioned with the inverses of its diagonal blocks ``blocks`` (index arrays
    covering every parameter once); an inexact Newton step (relative residual ``rtol``), which
    the exact line search keeps a descent step.

    For :class:`~webly.solvers.block_rows.BlockRows` with many labellings: its Hessian is kept
    exactly (rank-k updates, as for any rows) but is too large to factorise at every Newton
    step, while a product with it is cheap; the diagonal blocks (one per labelling) hold most
    of it, as only the general rows couple the blocks.

    The products read ``U``'s upper triangle (``symv``) and the blocks' factorisations theirs:
    no symmetric copy. ``rtol`` 1e-2 (an inexact Newton step: fewer CG products for a few more
    Newton steps): MIL-CPB-PI with 10 labellings at 10^6 rows took 883.3 s at 1e-2 and 990.6 s
    at 1e-6 (BENCHMARKS.md, milcpb_primal_scale.py, measured apart).
    """
    symv = sla.get_blas_funcs("symv", (U,))
    Ut = U.T  # Fortran-ordered: its lower triangle is U's upper one
    return _pcg(lambda v: symv(1.0, Ut, v, lower=1),
                _block_prec([(b, U[np.ix_(b, b)]) for b in blocks]), g, max_iter, rtol)


def _block_prec(blocks):
    """The preconditioner ``r -> blockdiag(H_b)^{-1} r`` of the diagonal blocks ``[(index,
    H_b)]`` (index arrays covering every parameter once; ``H_b``'s upper triangle is read; a
    block that is not positive definite: its diagonal). The blocks' Cholesky factors are kept,
    not their inverses (an inverse costs 3x the factorisation, while an inexact Newton step
    takes a few tens of products)."""
    facs = []
    for b, Hb in blocks:
        try:
            facs.append((b, sla.cho_factor(Hb, check_finite=False), None))
        except np.linalg.LinAlgError:
            facs.append((b, None, 1.0 / np.maximum(np.diag(Hb), 1e-300)))

    def prec(r):
        z = np.empty_like(r)
        for b, fac, dinv in facs:
            z[b] = (sla.cho_solve(fac, r[b], check_finite=False) if fac is not None
                    else dinv * r[b])
        return z

    return prec


def _implicit_gram(prob):
    """An empty implicitly kept Gram matrix of ``prob``'s Hessian where its rows can keep one
    (in memory, above ``_FACTOR_MAX`` parameters: MDA-HS's ``MDAHSRows.label_gram``), else
    None."""
    if prob.rows.lazy or prob.size <= _FACTOR_MAX or not hasattr(prob.F, "label_gram"):
        return None
    return prob.F.label_gram(prob)


_CONTROLLER = []


def blas_threads(n_threads):
    """Context manager limiting BLAS threads to ``n_threads`` (None: leave them alone).

    The primal solvers interleave BLAS calls (matrix-vector products, small factorisations) with
    element-wise numpy work. Threaded OpenBLAS busy-waits between calls, which slows a solve down
    badly on a machine whose cores are shared; matrix-vector products are memory-bound, so one
    thread loses little. The limit is process-wide: enter it
    once around concurrent solves (as the estimators do around their one-vs-rest problems), not
    in each thread.
    """
    import contextlib

    if n_threads is None:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=int(n_threads), user_api="blas")


def _sym(U):
    """Full symmetric matrix from an upper triangle."""
    return np.triu(U) + np.triu(U, 1).T


def _newton_cg(prob, masks, rhos, g, max_cg=100, rtol=0.1):
    """Solve ``H x = g`` approximately by Jacobi-preconditioned CG with Hessian-vector products
    (two passes over the features per product, in one pass over the rows); for many features."""
    rows = prob.rows
    diag = prob.D.copy()
    for fam, mask, rho in zip(prob.families, masks, rhos):
        diag = prob.rows.add_gram_diag(diag, rho, prob, fam, mask)
    if prob.s_quad and prob.Fp is not None:
        sfam = _Family(0.0, False, True, False)
        sfam.n = prob.n_s
        diag = prob.rows.add_gram_diag(diag, prob.s_quad, prob, sfam, prob.s_mask)
    if prob.params:
        diag = diag + prob.param_hessian(rhos)
    ridge = 1e-8 * max(1.0, float(diag.max()))
    floor = prob.floor(rhos)
    extra = ridge + np.maximum(floor - diag, 0.0)  # as in _Hessian.solve
    diag = diag + extra
    if not prob.fit_intercept:  # the system without b (CG then keeps b's component at 0)
        g = g.copy()
        g[prob.ib] = 0.0

    def hv(v):
        out = (prob.D + extra) * v
        if prob.params:
            out += prob.param_hessian(rhos) * v
        _, red = rows.run(_k_hessian_vector, F=prob.F, Fp=prob.Fp, masks=masks,
                          fams=prob.specs(), rhos=rhos, s_quad=prob.s_quad_rows,
                          vw=v[:prob.d],
                          vb=v[prob.ib], vu=None if prob.Fp is None else v[prob.iu],
                          vc=None if prob.Fp is None else v[prob.ic],
                          dmv=v[-1] if prob.has_m else 0.0, **prob.v_step(v))
        gF, sF, gP, sP, rm, gsV = rows.compute(red)[0]
        back = np.zeros(prob.size)  # the adjoint of (f, s, m) along v
        back[:prob.d] = gF
        back[prob.ib] = sF
        if prob.Fp is not None:
            back[prob.iu] = gP
            back[prob.ic] = sP
        if prob.has_m:
            back[-1] = rm
        if gsV is not None:
            back[prob.iv] = gsV[0]
            back[prob.icv] = gsV[1]
        out += back
        if not prob.fit_intercept:
            out[prob.ib] = 0.0
        return out

    return _pcg(hv, lambda r: r / diag, g, max_cg, rtol)


# ----------------------------------------------------------------------------------------------
# the method of multipliers with (semismooth) Newton inner solves
# ----------------------------------------------------------------------------------------------

_DIRECT_MAX = 2048   # most parameters for which the Hessian is formed and factorised
#: most parameters of a kept Hessian (structured rows: label blocks, up to their
#: ``hessian_max``) solved by a Cholesky factorisation (reused through Woodbury while few rows
#: change); above it, by block-preconditioned CG (:func:`_block_pcg`). Measured on MIL-CPB-PI at
#: 10^5 crawl rows (513 parameters a labelling, one thread, 2026-12-07): 6 labellings 87.5 s
#: factorised against 189.3 s by CG above 2,048 (the same labellings and Newton steps); 10
#: labellings 472 s factorised throughout, 456 s with CG above 4,096 (the Newton steps there
#: cost alike)
_FACTOR_MAX = 4096


def _alm(prob, rho0, tol, max_iter, name, start=None):
    """Minimise ``prob`` by the augmented Lagrangian method; returns (theta, mults, outputs, info).

    Each subproblem (a convex, continuously differentiable, piecewise quadratic function) is
    minimised by Newton's method with the generalised Hessian and an exact line search; rounds
    end with the multiplier step. ``max_iter`` bounds the total number of Newton steps.
    ``start``: ``(theta, multipliers, rhos)`` to start from (see :func:`_warm_start`).

    The parameters live on the client; per-row vectors (decision values, slacks, multipliers)
    are whatever ``prob.rows`` keeps them as, persisted after each update (on Dask: on the
    cluster, chunked like the rows).
    """
    t0 = time.perf_counter()
    rows = prob.rows
    if start is None:
        th = np.zeros(prob.size)
        mults = [rows.zeros(fam.n) for fam in prob.families] + [0.0 for _ in prob.params]
        rhos = [fam.rho if fam.rho is not None else rho0 for fam in prob.all_families]
    else:
        th, mults, rhos = start
    hess = _Hessian(prob) if (prob.size <= getattr(prob.F, "hessian_max", _DIRECT_MAX)
                              or _implicit_gram(prob) is not None) else None
    total, n_outer, resid, prev = 0, 0, np.inf, np.inf
    status = "max_iter"
    any_update = any(fam.update for fam in prob.all_families)
    for n_outer in range(1, 101):
        f, s, m = prob.outputs(th)  # fresh, without accumulated rounding
        f, s, v = rows.persist((f, s, prob.v_values(th)))
        inner_ok = False
        while total < max_iter:
            val, grad, masks, extra = prob.value_grad(
                th, f, s, m, mults, rhos, old=None if hess is None else hess.masks,
                gram_dtype=None if hess is None else hess.prefetch(), v=v)
            if hess is not None:
                hess.update(masks, extra["counts"], extra["grams"])
                step = -hess.solve(rhos, grad)
            else:
                step = -_newton_cg(prob, masks, rhos, grad)
            slope0 = grad @ step
            if not slope0 < 0:
                inner_ok = True  # zero gradient
                break
            t, deltas, (top_f, top_s, top_v) = prob.line_search(th, f, s, m, mults, rhos, step,
                                                                slope0, v=v)
            dfv, dsv, dmv = deltas[:3]
            dvv = deltas[3] if v is not None else None
            th = th + t * step
            (f, s, v), _ = rows.evaluate(rows.run(
                _k_advance, f=f, s=s, dfv=dfv, dsv=dsv, t=t,
                **({} if v is None else {"v": v, "dvv": dvv}))[0], None)
            m = m + t * dmv
            total += 1
            # converged when a step moves no decision value or slack by more than tol / 10
            scale = abs(m) if prob.has_m else 1.0
            change = abs(t) * max(top_f, 0.0 if dsv is None else top_s, abs(dmv),
                                  0.0 if dvv is None else top_v)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("  step %.3g, change %.3g (f %.3g, s %.3g, v %.3g), value %.10g, "
                             "|grad| %.3g, slope %.3g, active rows %s, params active %s, "
                             "Hessian %s", t, change, abs(t) * top_f,
                             abs(t) * (top_s or 0.0), abs(t) * (top_v or 0.0), val,
                             float(np.linalg.norm(grad)), slope0,
                             [int(k) for k in rows.compute([rows.array(mk).sum()
                                                            for mk in masks])],
                             prob.param_active, "none" if hess is None else
                             ("exact" if hess.exact else "sampled"))
            # a short step (the line search stopped at a kink the Newton model did not see)
            # counts only if the full Newton step is small too: a warm-started MDA-HS solve at
            # tol 0.1 stopped after one step of length 0.003 with its weights 3x from F'a
            full = max(top_f, 0.0 if dsv is None else top_s, abs(dmv),
                       0.0 if dvv is None else top_v)
            if change <= 0.1 * tol * max(scale, 1e-300) and (
                    abs(t) >= 0.5 or full <= 0.1 * tol * max(scale, 1e-300)):
                inner_ok = True
                break
        scale = abs(m) if prob.has_m else 1.0
        if any_update:
            new, moved = prob.multipliers(f, s, m, mults, rhos, v=v, th=th)
            resid = max(float(d) / rho for d, rho in zip(moved, rhos)) / max(scale, 1e-300)
            mults = new
        else:
            resid = 0.0
        logger.debug("%s: round %d, %d Newton steps, rho %.3g, multiplier change %.3g "
                     "(margin units), inner %s", name, n_outer, total, rhos[0], resid,
                     "converged" if inner_ok else "not converged")
        if inner_ok and resid <= tol:
            status = "converged"
            break
        if total >= max_iter:
            break
        if resid > 0.25 * prev:
            rhos = [min(r * 10.0, 1e10 * rho0) if fam.update else r
                    for r, fam in zip(rhos, prob.all_families)]
        prev = resid
    else:
        status = "stalled"
    f, s, m = prob.outputs(th)
    f, s, v = rows.persist((f, s, prob.v_values(th)))
    mults = [rows.array(al) for al in mults]
    info = {"status": status, "n_iter": int(total), "n_outer": int(n_outer), "rho": float(rhos[0]),
            "kkt_violation": float(resid), "seconds": time.perf_counter() - t0,
            "state": (th, mults, rhos)}
    if hess is not None:
        info["hessian_rows"] = hess.n_rows
        # Newton systems solved by a Cholesky factorisation / from the last factor (Woodbury)
        info["factorisations"], info["factor_reused"] = hess.n_factor, hess.n_reused
    return th, mults, (f, s, m, v), info


def _finish(info, name):
    logger.info("%s primal: %s in %d Newton steps (%d rounds), %.3fs, objective %.10g",
                name, info["status"], info["n_iter"], info["n_outer"], info["seconds"],
                info["objective"])


def _check_common(F, y, F_priv, C, gamma_plus, tol, n_priv=None, keep_float32=True):
    """Validated ``F, y, F_priv`` and their rows backend; ``F_priv`` has ``n_priv`` rows (None:
    one per row of F).

    Dask arrays (F or F_priv) give a :class:`~webly.solvers._rows.DaskRows` backend that holds
    the rows persisted on the cluster; ``F``, ``F_priv`` and ``y`` are then its views (y a Dask
    vector chunked like the rows; a numpy y is sent there)."""
    for key, val in (("C", C), ("gamma_plus", gamma_plus), ("tol", tol)):
        if not (np.isscalar(val) and np.isfinite(val) and val > 0):
            raise DataError(key, f"must be a positive number, got {val!r}")
    if _on_dask(F, F_priv):
        if n_priv is not None:
            raise DataError("priv_rows", "privileged rows (the MIL-PI problems) are not "
                                         "supported on Dask arrays yet; pass all rows' F_priv")
        if isinstance(F, DaskStructuredRows):  # label blocks / MDA-HS rows over Dask rows
            rows = F.backend(y, F_priv, keep_float32=keep_float32)
            return rows.blocks(F), rows.y, rows.F_priv, rows
        rows = DaskRows(F, y, F_priv, keep_float32=keep_float32)
        return rows.F, rows.y, rows.F_priv, rows
    # structured rows (BlockRows, MDA-HS's source/target rows: they have grams) pass as they are
    if not (isinstance(F, BlockRows) or hasattr(F, "grams")):
        F = check_row_features("F", F, keep_float32=True)
    y = check_pm1(y)
    n = F.shape[0]
    if y.shape[0] != n:
        raise DataError("y", f"has {y.shape[0]} labels for {n} rows")
    Fp = check_row_features("F_priv", F_priv, n if n_priv is None else n_priv,
                            keep_float32=True)
    return F, y, Fp, NUMPY


def _on_dask(F, F_priv):
    """Whether a solve runs on a Dask rows backend (a Dask ``F`` or ``F_priv``, or MIL-CPB's
    label blocks over Dask rows)."""
    return is_dask(F) or is_dask(F_priv) or isinstance(F, DaskStructuredRows)


def _per_row(name, value, n, positive, rows=NUMPY):
    """A number, or an (n,) float64 array of finite values (positive ones if ``positive``); on
    a Dask backend the array is a Dask vector chunked like the rows."""
    if is_dask(value) or (rows.lazy and np.ndim(value) == 1):
        v = rows.vector(value)
        if v.shape != (n,):
            raise DataError(name, f"must be a number or one value per row ({n}), got shape "
                                  f"{v.shape}")
        bad = rows.compute((~np.isfinite(v)).any() | ((v <= 0).any() if positive else False))
    else:
        v = np.asarray(value, dtype=np.float64)
        if v.ndim == 0:
            return float(v)
        if v.shape != (n,):
            raise DataError(name, f"must be a number or one value per row ({n}), got shape "
                                  f"{v.shape}")
        bad = not np.all(np.isfinite(v)) or (positive and not np.all(v > 0))
    if bad:
        raise DataError(name, f"must hold finite{' positive' if positive else ''} values")
    return v


def _take(v, idx):
    return v if np.ndim(v) == 0 else v[idx]


def _warm_start(prob, start, rho0):
    """``(theta, multipliers, rhos)`` from an earlier solve's ``info["state"]``: its parameters
    and multipliers (clipped to this problem's boxes), with the initial ``rho0``; a
    :class:`DataError` naming ``start`` if it does not fit.

    ``rho`` starts over rather than at the earlier solve's final value: once ``rho`` exceeds
    ``C / tol`` the multiplier test of a C-SVM is met by any step, and at a large ``rho`` the
    Newton steps after a relabelling shrink until the inner test stops them early (measured on
    a mi-SVM round, 30,000 rows: objective 2.0007 against 1.5732 at tol 1e-3). Measured
    (``make_web_crawl(20000, n_features=64, n_classes=5)``, class c0, 20 relabelling rounds,
    Newton steps in all): mi-SVM 970 warm vs 1,206 cold (C = 1), 331 vs 397 (C = 0.1);
    mi-SVM-PI 327 vs 569; keeping the final ``rho`` instead gave 2,966 / 533 / 206.
    """
    try:
        th, mults, _ = start["state"]
    except (TypeError, KeyError, ValueError):
        raise DataError("start", "must be the info dict of an earlier solve") from None
    if len(th) != prob.size or len(mults) != len(prob.all_families) or any(
            len(al) != fam.n for al, fam in zip(mults, prob.families)):
        raise DataError("start", "comes from a solve on other features or privileged rows; "
                                 "warm starts need the same F, F_priv and priv_rows")
    mults = [np.clip(al, 0.0, fam.upper) for al, fam in zip(mults, prob.all_families)]
    rhos = [fam.rho if fam.rho is not None else rho0 for fam in prob.all_families]
    return np.array(th, dtype=np.float64), mults, rhos


#: the constant of a masked constraint (:func:`_masked_families`): never active
_OFF = 1e30


def _where(mask, a, b):
    """``where(mask, a, b)`` of Dask vectors or numbers (lazy)."""
    import dask.array as da

    return da.where(mask, a, b)


def _masked_families(P, p, C, rows, has_v=False, n_priv=None):
    """The families of :func:`svmplus_primal` with ``priv_rows`` on Dask arrays, over all n rows.

    In memory each family runs over its own rows (index arrays ``P``, ``N``). On Dask every
    per-row vector is chunked like the rows, so instead each family spans all rows and a row
    outside it gets the constant ``-_OFF`` (``_OFF = 1e30``): its constraint ``-1e30 - y f - s
    <= 0`` is never active for finite ``f, s``, its multiplier stays 0 and it adds nothing to
    the value, gradient, Hessian, line search or objective (and ``s_lin`` is 0 off ``P``, so
    the correcting function's values there, on whatever ``F_priv`` holds for those rows, cost
    nothing). The problem is the in-memory one, and so is the Hessian's floor (``1e-3 n_k rho``
    of a family, for a bias no row is curved in) when ``n_priv`` (the number of rows in ``P``)
    is given: each family counts its own rows (``count``); only the Hessian's sample (above
    16,384 rows) is drawn over all n rows, so there the path can differ within ``tol``.
    ``P``: the (n,) Dask mask of the privileged rows; ``has_v``: the margins also carry the
    -DA correcting function (``- v_i``, :func:`_svmplus_da`; ``p`` is then ``p + q``).
    """
    on_p = rows.persist(_where(P, p, -_OFF))
    zero_p = rows.persist(_where(P, 0.0, -_OFF))
    off_p = rows.persist(_where(P, -_OFF, p))
    n_off = None if n_priv is None else rows.n - n_priv
    return [_Family(on_p, True, True, False, has_v=has_v, count=n_priv),  # p - y f - s (- v) <= 0
            _Family(zero_p, False, True, False, count=n_priv),            # -s <= 0 on P
            _Family(off_p, True, False, False, upper=C, has_v=has_v, count=n_off)]  # hinge off P


def _check_priv_rows(priv_rows, F_priv, y, plain):
    """``(priv_rows, n_priv)``: the checked boolean mask of privileged rows (None when it selects
    every row, or was None) and its count (None without a mask); ``plain`` names the model
    without privileged features, for the fix of an empty mask."""
    if priv_rows is None:
        return None, None
    if F_priv is None:
        raise DataError("priv_rows", "selects privileged rows but F_priv is None")
    priv_rows = np.asarray(priv_rows)
    if priv_rows.dtype != bool or priv_rows.shape != (np.shape(y)[0],):
        raise DataError("priv_rows", "must be a boolean mask with one flag per row")
    if not priv_rows.any():
        raise DataError("priv_rows", f"selects no row; pass F_priv=None for the {plain}")
    n_priv = int(priv_rows.sum())
    return (None if priv_rows.all() else priv_rows), n_priv


def svmplus_primal(F, y, F_priv=None, C=1.0, gamma_plus=1.0, tol=1e-3, max_iter=None, rho=None,
                   n_threads=1, *, margin=None, priv_rows=None, start=None, target_mean=None,
                   C2=1e3, gamma2=1e3, eps=0.0, B=None, fit_intercept=True, F_target=None):
    """Solve the SVM+ primal (hinge loss) on explicit features.

    With per-row weights ``C_i``, margins ``p_i`` and privileged rows ``P`` (all rows by
    default) the problem is::

        min 1/2 ||w||^2 + gamma_plus/2 ||u||^2 + sum_{i in P} C_i s_i
                                               + sum_{i not in P} C_i max(0, p_i - y_i f_i)
        s.t. y_i f_i >= p_i - s_i,  s_i >= 0  (i in P),   s_i = u'psi_i + c,

    whose dual is the :class:`~webly.solvers.KernelQP` with ``p``, the box ``a_i <= C_i`` off
    ``P`` and the privileged block over ``P`` with weights ``C_P``
    (:func:`~webly.solvers.privileged_block`): SVM+ (``svmplus_qp``), the C-SVM (no F_priv),
    sMIL (bag-mean rows, ``p = 2/|B| - 1``, ``C = C / #bags`` per side), sMIL-PI
    (``smil_pi_qp``: ``P`` the positive bags) and the rounds of mi-SVM-PI (``P`` the instances
    of positive bags).

    Parameters
    ----------
    F : (n, d) array, CSR matrix, Dask array, BlockRows or DaskBlockRows
        Features of the training rows (``phi``); float32 is kept (not copied), except with
        ``target_mean``, whose solve computes in float64 (see the module docstring); MIL-CPB's
        label blocks in memory or over Dask rows (:mod:`webly.solvers.block_rows`, with
        ``fit_intercept=False``). A row-chunked Dask array (or a Dask ``F_priv``) solves on its
        cluster: ``[F | F_priv]`` is persisted
        there in the rows' chunks (see the module docstring; as float64 with ``target_mean``,
        a float32 ``F`` then takes twice its memory there), and the per-row outputs of
        ``info`` are Dask arrays chunked like the rows.
    y : (n,) array of {-1, +1} (numpy or Dask)
    F_priv : (n, d~) or (|P|, d~) array, CSR matrix, Dask array or None
        Privileged features (``psi``) of the privileged rows, in row order; None gives the C-SVM.
        On Dask arrays ``F_priv`` has one row per row of ``F`` also with ``priv_rows`` (the
        rows outside ``priv_rows`` are not used: zeros will do), and the families run over all
        rows with the others switched off (:func:`_masked_families`); ``info``'s ``dual_priv``
        then has n entries, 0 outside ``priv_rows``.
    C : float or (n,) array
        Per-row weight: of the correcting function on the privileged rows, of the hinge (the
        bound ``a_i <= C_i``) elsewhere.
    gamma_plus : float
        As in :func:`webly.solvers.svmplus_qp`.
    tol : float
        Stopping tolerance in units of the margin: the largest constraint / complementarity
        violation (change of a multiplier over ``rho``), and the largest change of a decision
        value or slack in the last inner steps (``tol / 10``).
    max_iter : int or None
        Maximal total number of Newton steps (None: 1,000).
    rho : float or None
        Initial augmented-Lagrangian weight of every family (None: ``10 max C``, and with
        ``target_mean`` at least ``10 max C2`` for ``v >= q`` and the offset's hinge, the
        margins keeping ``10 max C``); multiplied by 10 whenever the violation falls by less
        than a factor 4 in a round.
    n_threads : int or None, default=1
        BLAS threads during the solve (see :func:`blas_threads`); None leaves them alone.
    margin : float, (n,) array or None
        Per-row margin ``p_i`` (the dual's linear term ``p``); None: 1.
    priv_rows : (n,) bool array or None
        The rows ``P`` whose slack is the correcting function (F_priv then has one row per
        row of ``P``); the other rows get a plain hinge. None: all rows (with F_priv).
    start : dict or None
        The ``info`` of an earlier solve on the same ``F``, ``F_priv`` and ``priv_rows`` (the
        labels, margins and weights may differ, as in mi-SVM's relabelling rounds): its
        parameters and multipliers (clipped to the new boxes) start this solve, with ``rho``
        at its initial value.
    target_mean : (d,) array or None
        The mean row of the target rows' features (same feature map as ``F``, or as
        ``F_target``): adds the -DA correcting function on ``F`` (on ``F_target`` when given;
        see the module docstring), the problem of :func:`webly.solvers.add_domain_adaptation`
        with ``K_st 1 = n_t F mu``. None: no -DA term. On Dask arrays too: ``q = C2 (n /
        gamma2) F mu`` and the offset weights are then Dask vectors chunked like the rows,
        computed where the partitions live, and the solve is the in-memory one on the rows
        backend.
    C2, gamma2, eps, B
        As :func:`webly.solvers.add_domain_adaptation` (``C2`` a number or one value per row,
        numpy or Dask), with ``target_mean`` only.
    fit_intercept : bool, default=True
        False holds ``b = 0`` (the bias then lives in the features, e.g. the constant feature
        of :class:`~webly.solvers.block_rows.BlockRows`, and the dual has no ``y'a = 0``).
        With ``target_mean`` too: the -DA term's dual (its block over ``v = a + z2`` and KMM's
        interval on ``sum(v)``, from the offset ``c2``) does not involve ``b``, so the dual is
        :func:`~webly.solvers.add_domain_adaptation` on the QP without ``y'a = 0`` (MIL-CPB's,
        whose free unit makes that constraint vacuous).
    F_target : (n, d_v) array, CSR matrix or None
        Rows of the -DA correcting function, one per row of ``F`` (``v_i = u2'F_target_i +
        c2``), with ``target_mean`` the mean of the target rows in the same features: the
        problem of :func:`~webly.solvers.add_domain_adaptation` with ``K_ss = F_target
        F_target'``. None: ``F`` itself (the -DA estimators' rows). MIL-CPB-PI-DA passes the
        instances' own features while ``F`` holds its label blocks
        (:class:`~webly.solvers.block_rows.BlockRows`, whose rows are then taken as they are:
        pass float64 blocks for the float64 -DA solve). On Dask only the label blocks' own rows:
        ``F`` a :class:`~webly.solvers.block_rows.DaskBlockRows` and ``F_target`` its ``Phi``
        (the same object), then a view of the solver's persisted rows.

    Returns
    -------
    coef, intercept, coef_priv, intercept_priv : array, float, array or None, float (NaN)
        ``f(x) = coef'phi(x) + intercept``; correcting function ``coef_priv'psi + intercept_priv``.
    info : dict
        ``status``, ``n_iter`` (Newton steps), ``n_outer`` (multiplier rounds),
        ``objective`` (the primal value), ``kkt_violation``, ``constraint_violation``,
        ``dual`` ((n,) the multipliers ``a``), ``dual_priv`` (``b`` on the privileged rows;
        None without F_priv), ``correcting_values`` ((n,) slacks: the correcting function on the
        privileged rows, ``max(0, p - y f)`` elsewhere), ``seconds``, ``state`` (for ``start``).
        With ``target_mean`` also ``dual_target`` (``z2``), ``target_values`` (the -DA
        correcting function on the rows, ``v - q``), ``coef_target`` and ``intercept_target``
        (``u2``, ``c2``).
    """
    priv_rows, n_priv = _check_priv_rows(priv_rows, F_priv, y, "C-SVM")
    F_in = F
    on_dask = _on_dask(F, F_priv)
    if on_dask and priv_rows is not None and F_priv.shape[0] != F.shape[0]:
        raise DataError("priv_rows", f"on Dask arrays F_priv has one row per row of F "
                                     f"({F.shape[0]}; rows outside priv_rows are not used), "
                                     f"got {F_priv.shape[0]}: pad it with zero rows")
    # the -DA solve computes in float64 (see the module docstring): on Dask its persisted rows
    # are float64 (in memory float32 rows are converted block by block, _Float64Rows)
    F, y, Fp, rows = _check_common(F, y, F_priv, C if np.ndim(C) == 0 else 1.0, gamma_plus, tol,
                                   None if on_dask else n_priv,
                                   keep_float32=target_mean is None)
    n = F.shape[0]
    C = _per_row("C", C, n, positive=True, rows=rows)
    p = 1.0 if margin is None else _per_row("margin", margin, n, positive=False, rows=rows)
    max_iter = 1000 if max_iter is None else int(max_iter)
    user_rho = rho
    rho = 10.0 * rows.compute(np.max(C)) if rho is None else float(rho)
    if F_target is not None:
        if target_mean is None:
            raise DataError("F_target", "is the -DA correcting function's rows: pass it with "
                                        "target_mean")
        if rows.lazy or is_dask(F_target):
            # on Dask: the label blocks' own rows, a view of the persisted rows
            if not (isinstance(F_in, DaskBlockRows) and F_target is F_in.Phi):
                raise DataError("F_target", "on Dask arrays the -DA correcting function's "
                                            "rows can only be the label blocks' own rows "
                                            "(F.Phi of a DaskBlockRows F)")
            F_target = rows.F
        else:
            F_target = check_row_features("F_target", F_target, n, keep_float32=True)
    if target_mean is not None:
        return _svmplus_da(F, y, Fp, C, p, gamma_plus, priv_rows, target_mean, C2, gamma2, eps,
                           B, tol, max_iter, rho, n_threads, start, user_rho, rows,
                           fit_intercept=fit_intercept, Fv=F_target)
    if Fp is None:
        prob = _Primal(F, y, None, [_Family(p, True, False, False, upper=C)], rows=rows,
                       fit_intercept=fit_intercept)
    elif priv_rows is None:
        margin = _Family(p, True, True, False)     # p - y f - s <= 0
        nonneg = _Family(0.0, False, True, False)  # -s <= 0
        prob = _Primal(F, y, Fp, [margin, nonneg], reg_u=gamma_plus, s_lin=C, rows=rows,
                       fit_intercept=fit_intercept)
    elif rows.lazy:
        P = rows.persist(rows.vector(priv_rows.astype(np.float64)) > 0)
        prob = _Primal(F, y, Fp, _masked_families(P, p, C, rows, n_priv=n_priv),
                       reg_u=gamma_plus,
                       s_lin=rows.persist(_where(P, C, 0.0)), rows=rows,
                       fit_intercept=fit_intercept)
    else:
        P, N = np.flatnonzero(priv_rows), np.flatnonzero(~priv_rows)
        families = [_Family(_take(p, P), True, True, False, rows=P),
                    _Family(0.0, False, True, False),
                    _Family(_take(p, N), True, False, False, upper=_take(C, N), rows=N)]
        prob = _Primal(F, y, Fp, families, reg_u=gamma_plus, s_lin=_take(C, P),
                       fit_intercept=fit_intercept)
    state = None if start is None else _warm_start(prob, start, float(rho))
    with blas_threads(n_threads):
        th, mults, (f, s, m, _), info = _alm(prob, float(rho), tol, max_iter, "SVM+", state)
    info["objective"] = float(prob.objective(th, f, s))
    info["constraint_violation"] = prob.violation(f, s, m)
    _finish(info, "SVM+")
    d = prob.d
    if Fp is None:
        info.update(dual=mults[0], dual_priv=None,
                    correcting_values=rows.persist(np.maximum(0.0, p - y * f)))
        return th[:d].copy(), float(th[d]), None, np.nan, info
    if priv_rows is None:
        info.update(dual=mults[0], dual_priv=mults[1], correcting_values=s)
    elif rows.lazy:
        info.update(dual=_where(P, mults[0], mults[2]), dual_priv=mults[1],
                    correcting_values=rows.persist(_where(P, s, np.maximum(0.0, p - y * f))))
    else:
        a, xi = np.empty(n), np.empty(n)
        a[P], a[N] = mults[0], mults[2]
        xi[P], xi[N] = s, np.maximum(0.0, _take(p, N) - y[N] * f[N])
        info.update(dual=a, dual_priv=mults[1], correcting_values=xi)
    return th[:d].copy(), float(th[d]), th[prob.iu].copy(), float(th[prob.ic]), info


def _da_terms(F, target_mean, C2, gamma2, eps, B, rows=NUMPY):
    """The -DA block's per-row terms on explicit features (see :func:`svmplus_primal`):
    ``q`` (the target-matching term, ``c2_i (n / gamma2) F_i' mu``), the offset weights ``1 /
    c2_i`` (None for one C2), and the bounds ``lo, hi`` of the weighted total, as
    :func:`webly.solvers.add_domain_adaptation` states them for the kernel dual. On a Dask
    rows backend ``q`` and the weights are Dask vectors chunked like the rows (persisted)."""
    n, d = F.shape
    mu = np.asarray(target_mean, dtype=np.float64)
    if mu.shape != (d,) or not np.all(np.isfinite(mu)):
        raise DataError("target_mean", f"must be {d} finite values (the mean feature row of "
                                       f"the target rows), got shape {mu.shape}")
    for key, val in (("gamma2", gamma2),):
        if not (np.isscalar(val) and np.isfinite(val) and val > 0):
            raise DataError(key, f"must be a positive number, got {val!r}")
    if not (np.isscalar(eps) and 0 <= eps < np.inf):
        raise DataError("eps", f"must be a number >= 0, got {eps!r}")
    if B is not None and not (np.isscalar(B) and np.isfinite(B) and B > 0):
        raise DataError("B", f"must be a positive number or None, got {B!r}")
    hi_w = 1.0 + eps if B is None else min(1.0 + eps, float(B))
    if hi_w < 1.0 - eps:
        raise DataError("B", f"B={B} leaves no feasible total weight with eps={eps}")
    c2 = _per_row("C2", C2, n, positive=True, rows=rows)
    q = (n / float(gamma2)) * rows.mv(F, mu)
    if np.ndim(c2) == 0:
        return rows.persist(c2 * q), None, c2 * n * max(1.0 - eps, 0.0), c2 * n * hi_w
    return (*rows.persist((c2 * q, 1.0 / c2)), n * max(1.0 - eps, 0.0), n * hi_w)


class _Float64Rows:
    """Dense float32 rows that compute in float64: products with a vector and row selections
    are those of the float64 rows (float32 values are exact in float64), formed block by block
    (:data:`_F64_BLOCK` rows at a time), so the float32 array is not copied. For the -DA solve
    (see the module docstring); what :class:`_Primal` and the numpy rows backend read."""

    def __init__(self, A, transposed=False):
        self.A, self.transposed = A, transposed
        self.dtype = np.dtype(np.float64)
        self.ndim = 2
        self.shape = A.shape[::-1] if transposed else A.shape

    @property
    def T(self):
        return _Float64Rows(self.A, not self.transposed)

    def __getitem__(self, idx):
        return np.asarray(self.A[idx], dtype=np.float64)

    def __matmul__(self, x):
        A, x = self.A, np.asarray(x, dtype=np.float64)
        n = A.shape[0]
        if self.transposed:  # A' x
            out = np.zeros(A.shape[1:2] + x.shape[1:])
            for lo in range(0, n, _F64_BLOCK):
                out += A[lo:lo + _F64_BLOCK].T.astype(np.float64) @ x[lo:lo + _F64_BLOCK]
            return out
        out = np.empty((n,) + x.shape[1:])
        for lo in range(0, n, _F64_BLOCK):
            out[lo:lo + _F64_BLOCK] = A[lo:lo + _F64_BLOCK].astype(np.float64) @ x
        return out


#: rows per block of :class:`_Float64Rows` (4,096 x 512 float64 values: 16 MB)
_F64_BLOCK = 4096


def _float64_rows(F):
    """``F`` computing in float64: as it is (float64), a float64 copy (CSR: its values only) or
    dense float32 rows wrapped in :class:`_Float64Rows` (no copy)."""
    if sp.issparse(F):
        return F if F.dtype == np.float64 else F.astype(np.float64)
    F = np.asarray(F)
    if F.dtype == np.float64:
        return F
    if F.dtype == np.float32 and F.ndim == 2:
        return _Float64Rows(F)
    return F.astype(np.float64)


def _svmplus_da(F, y, Fp, C, p, gamma_plus, priv_rows, target_mean, C2, gamma2, eps, B, tol,
                max_iter, rho, n_threads, start, user_rho, rows=NUMPY, fit_intercept=True,
                Fv=None):
    """:func:`svmplus_primal` with the -DA correcting function ``v`` on the rows' own features
    (the families of the problem without it, each margin with ``- v_i``, and ``v >= 0``), on
    the rows in memory or on a Dask rows backend (``rows``: the per-row vectors are then Dask
    vectors chunked like the rows, and ``priv_rows`` a mask over all rows,
    :func:`_masked_families`). ``Fv``: other rows of ``v`` (None: ``F``), e.g. MIL-CPB's
    instances under its label blocks ``F`` (on Dask the backend's view of them);
    ``fit_intercept=False`` holds ``b = 0``."""
    n = F.shape[0]
    # float64 products: v ~ q and the sums Phi'z2 are O(C2 n) while the margins need v - q and
    # the gradient to ~tol; float32 products lose that (see the module docstring). On Dask the
    # rows backend holds the rows as float64 already (svmplus_primal). Structured rows
    # (BlockRows) are taken as they are (MIL-CPB-PI-DA builds them on float64 rows)
    if not rows.lazy:
        if not hasattr(F, "grams"):
            F = _float64_rows(F)
        Fp = None if Fp is None else _float64_rows(Fp)
        Fv = F if Fv is None else _float64_rows(Fv)
    elif Fv is None:
        Fv = F
    q, v_w, lo, hi = _da_terms(Fv, target_mean, C2, gamma2, eps, B, rows)
    # each family starts at 10x its multipliers' scale: the margins' (hinge) families at 10
    # max C, the rows' v >= q and the offset's hinge at 10 max C2 (KMM weights near 1 make
    # z2 ~ C2); one rho at 10 max C2 makes the hinges' quadratic pieces C2 / C times narrower
    rho_v = rho if user_rho is not None else max(rho, 10.0 * float(np.max(C2)))
    pq = rows.persist(p + q)
    nonneg_v = _Family(q, False, False, False, has_v=True, rho=rho_v)  # -(v - q) <= 0
    if Fp is None:
        families = [_Family(pq, True, False, False, upper=C, has_v=True), nonneg_v]
    elif priv_rows is None:
        families = [_Family(pq, True, True, False, has_v=True), _Family(0.0, False, True, False),
                    nonneg_v]
    elif rows.lazy:
        P = rows.persist(rows.vector(priv_rows.astype(np.float64)) > 0)
        families = _masked_families(P, pq, C, rows, has_v=True,
                                    n_priv=int(priv_rows.sum())) + [nonneg_v]
    else:
        P, N = np.flatnonzero(priv_rows), np.flatnonzero(~priv_rows)
        families = [_Family(pq[P], True, True, False, rows=P, has_v=True),
                    _Family(0.0, False, True, False),
                    _Family(pq[N], True, False, False, upper=_take(C, N), rows=N, has_v=True),
                    nonneg_v]
    if priv_rows is None:
        s_lin = C
    else:
        s_lin = rows.persist(_where(P, C, 0.0)) if rows.lazy else _take(C, P)
    prob = _Primal(F, y, Fp, families, reg_u=gamma_plus, s_lin=s_lin, rows=rows, Fv=Fv,
                   reg_v=float(gamma2), v_w=v_w, fit_intercept=fit_intercept)
    # the offset's cost: hi c2 + (hi - lo) max(0, -c2), whose conjugate is lo <= sum(w v) <= hi
    prob.e[prob.icv] = hi
    if hi > lo:
        prob.params = [_ParamHinge(prob.icv, -1.0, hi - lo)]
        prob.params[0].rho = rho_v
        prob.param_active = [False]
    if start is not None:
        state = _warm_start(prob, start, float(rho))
    else:  # v = q (exactly for one C2) and z2 = C2: KMM's weights 1 (see the module docstring)
        th = np.zeros(prob.size)
        th[prob.iv] = (n / float(gamma2)) * float(np.mean(C2)) * np.asarray(target_mean,
                                                                            np.float64)
        mults = [rows.zeros(fam.n) for fam in prob.families] + [0.0 for _ in prob.params]
        # z2 = C2 on every row (built where the rows are: a Dask C2 stays there)
        z2 = (rows.zeros(n) + float(C2) if np.ndim(C2) == 0 else
              rows.vector(C2) if rows.lazy else np.array(C2, dtype=np.float64))
        mults[len(families) - 1] = rows.persist(z2)
        state = (th, mults, [fam.rho if fam.rho is not None else float(rho)
                             for fam in prob.all_families])
    with blas_threads(n_threads):
        th, mults, (f, s, m, v), info = _alm(prob, float(rho), tol, max_iter, "SVM+-DA", state)
    info["objective"] = float(prob.objective(th, f, s, v))
    info["constraint_violation"] = prob.violation(f, s, m, v)
    _finish(info, "SVM+-DA")
    d = prob.d
    corr = v - q  # the -DA correcting function on the rows
    if Fp is None:
        a, b_priv = mults[0], None
        xi = np.maximum(0.0, p - y * f - corr)
    elif priv_rows is None:
        a, b_priv, xi = mults[0], mults[1], s
    elif rows.lazy:
        a, b_priv = _where(P, mults[0], mults[2]), mults[1]
        xi = _where(P, s, np.maximum(0.0, p - y * f - corr))
    else:
        a, xi = np.empty(n), np.empty(n)
        a[P], a[N] = mults[0], mults[2]
        xi[P], xi[N] = s, np.maximum(0.0, _take(p, N) - y[N] * f[N] - corr[N])
        b_priv = mults[1]
    a, xi, corr = rows.persist((a, xi, corr))
    info.update(dual=a, dual_priv=b_priv, correcting_values=xi,
                dual_target=mults[len(families) - 1],
                target_values=corr, coef_target=th[prob.iv].copy(),
                intercept_target=float(th[prob.icv]))
    if Fp is None:
        return th[:d].copy(), float(th[d]), None, np.nan, info
    return th[:d].copy(), float(th[d]), th[prob.iu].copy(), float(th[prob.ic]), info


def l2svmplus_primal(F, y, F_priv=None, C=1.0, gamma_plus=1.0, tol=1e-3, max_iter=None,
                     rho=None, n_threads=1, *, priv_rows=None, start=None, fit_intercept=True):
    """Solve the L2-loss SVM+ primal (see the module docstring) on explicit features.

    Parameters and returns as :func:`svmplus_primal`; ``tol`` is relative to the margin ``m``.
    ``info`` also has ``margin`` (``m``, the dual's ``a'Qa``); ``objective`` is the primal value
    (minus the dual's ``1/2 a'Qa`` at the optimum) and ``dual`` the multipliers ``a``
    (``sum a = 1``). ``rho`` defaults to ``10 max C``.

    ``C`` may be one weight per row (the squared slack ``C_i/2 xi_i^2``); with ``priv_rows`` the
    rows ``P`` have the correcting function ``s = u'psi + c`` as their slack (one weight for
    all of them: ``C`` must be constant on ``P``) and the other rows a free squared slack
    ``max(0, m - y_i f_i)``, as the squared-hinge MIL-CPB-PI. ``start`` and ``fit_intercept`` as
    :func:`svmplus_primal` (``fit_intercept=False`` holds the regularised ``b`` at 0). On Dask
    arrays both work as in :func:`svmplus_primal` (``F_priv`` one row per row of ``F`` with
    ``priv_rows``; each free-slack family spans all rows, switched off outside its own, and
    the squared slack ``C/2 s_i^2`` counts on ``P`` only): the same steps and optimum.
    """
    priv_rows, n_priv = _check_priv_rows(priv_rows, F_priv, y, "L2-SVM")
    on_dask = _on_dask(F, F_priv)
    if on_dask and priv_rows is not None and F_priv.shape[0] != F.shape[0]:
        raise DataError("priv_rows", f"on Dask arrays F_priv has one row per row of F "
                                     f"({F.shape[0]}; rows outside priv_rows are not used), "
                                     f"got {F_priv.shape[0]}: pad it with zero rows")
    # the weights as given (numpy): their distinct values make the free slacks' families
    C_given = None if is_dask(C) or np.ndim(C) == 0 else np.asarray(C, dtype=np.float64)
    F, y, Fp, rows = _check_common(F, y, F_priv, C if np.ndim(C) == 0 else 1.0, gamma_plus, tol,
                                   None if on_dask else n_priv)
    n = F.shape[0]
    C = _per_row("C", C, n, positive=True, rows=rows)
    max_iter = 1000 if max_iter is None else int(max_iter)
    rho = 10.0 * float(rows.compute(np.max(C))) if rho is None else float(rho)
    # on Dask a family spans all rows, those outside it switched off (_masked_families)
    mask = None if not rows.lazy or priv_rows is None else \
        rows.persist(rows.vector(priv_rows.astype(np.float64)) > 0)

    def distinct(on_priv):
        """The distinct per-row weights (a Dask backend's ``C``) of all rows (None), the
        privileged rows (True) or the others (False)."""
        if C_given is not None:
            return np.unique(C_given if on_priv is None else
                             C_given[priv_rows if on_priv else ~priv_rows])
        import dask.array as da

        sel = C if on_priv is None else C[mask if on_priv else ~mask]
        return np.unique(rows.compute(da.unique(sel)))

    def free(idx):
        """Free squared slacks ``max(0, m - y f)`` of the rows ``idx`` (None: all), one family
        per distinct weight (their fixed ``rho``)."""
        if np.ndim(C) == 0 and not (rows.lazy and idx is not None):
            return [_Family(0.0, True, False, True, update=False, rho=C, rows=idx)]
        if rows.lazy:  # families over all rows, the others' constraints never active
            out = []
            for c in ([C] if np.ndim(C) == 0 else distinct(None if idx is None else False)):
                if np.ndim(C) == 0:
                    on = ~mask
                else:
                    on = (C == c) if idx is None else (C == c) & ~mask
                on = rows.persist(on)
                count = int(rows.compute(on.sum()))
                out.append(_Family(rows.persist(_where(on, 0.0, -_OFF)), True, False, True,
                                   update=False, rho=float(c), count=count))
            return out
        sub = C if idx is None else C[idx]
        out = []
        for c in np.unique(sub):
            sel = np.flatnonzero(sub == c)
            out.append(_Family(0.0, True, False, True, update=False, rho=float(c),
                               rows=sel if idx is None else idx[sel]))
        return out

    P = N = None
    if Fp is None:
        # the slack is free: xi = max(0, m - y f), an exact smooth penalty, no multipliers
        prob = _Primal(F, y, None, free(None), reg_b=1.0, has_m=True, rows=rows,
                       fit_intercept=fit_intercept)
    else:
        if priv_rows is not None:
            P, N = np.flatnonzero(priv_rows), np.flatnonzero(~priv_rows)
        if rows.lazy and np.ndim(C):
            cP = distinct(None if mask is None else True)
        else:
            cP = _take(C, P) if P is not None else C
        if np.ndim(cP) and not np.all(cP == cP[0]):
            raise DataError("C", "must be one value on the privileged rows (the weight of "
                                 "their correcting function)")
        cP = float(cP if np.ndim(cP) == 0 else cP[0])
        if mask is not None:
            families = [_Family(rows.persist(_where(mask, 0.0, -_OFF)), True, True, True,
                                count=n_priv)] + free(N)
        else:
            families = [_Family(0.0, True, True, True, rows=P)] + ([] if N is None else free(N))
        prob = _Primal(F, y, Fp, families, reg_b=1.0, reg_u=gamma_plus, reg_c=gamma_plus,
                       has_m=True, s_quad=cP, rows=rows, fit_intercept=fit_intercept,
                       s_mask=mask)
    state = None if start is None else _warm_start(prob, start, rho)
    with blas_threads(n_threads):
        th, mults, (f, s, m, _), info = _alm(prob, rho, tol, max_iter, "L2-SVM+", state)
    info["objective"] = float(prob.objective(th, f, s))
    info["constraint_violation"] = prob.violation(f, s, m)
    info["margin"] = float(m)
    _finish(info, "L2-SVM+")
    d = prob.d
    if Fp is None:
        xi = rows.persist(np.maximum(0.0, m - y * f))
        info.update(dual=C * xi, dual_priv=None, correcting_values=xi)
        return th[:d].copy(), float(th[d]), None, np.nan, info
    if P is None:
        info.update(dual=mults[0], dual_priv=None, correcting_values=s)
    elif rows.lazy:
        xi = rows.persist(_where(mask, s, np.maximum(0.0, m - y * f)))
        info.update(dual=rows.persist(_where(mask, mults[0], C * xi)), dual_priv=None,
                    correcting_values=xi)
    else:
        a, xi = np.empty(n), np.empty(n)
        xi[P], xi[N] = s, np.maximum(0.0, m - y[N] * f[N])
        a[P], a[N] = mults[0], _take(C, N) * xi[N]
        info.update(dual=a, dual_priv=None, correcting_values=xi)
    return th[:d].copy(), float(th[d]), th[prob.iu].copy(), float(th[prob.ic]), info


def primal_objective(F, y, coef, intercept, F_priv=None, coef_priv=None, intercept_priv=0.0,
                     C=1.0, gamma_plus=1.0):
    """SVM+ primal value and maximal constraint violation at given parameters (for checks)."""
    y = check_pm1(y)
    f = _mv(F, np.asarray(coef, float)) + intercept
    if F_priv is None:
        return 0.5 * coef @ coef + C * np.maximum(0, 1 - y * f).sum(), 0.0
    s = _mv(F_priv, np.asarray(coef_priv, float)) + intercept_priv
    val = 0.5 * coef @ coef + 0.5 * gamma_plus * coef_priv @ coef_priv + C * s.sum()
    return float(val), float(max(0.0, np.max(1 - y * f - s), np.max(-s)))
