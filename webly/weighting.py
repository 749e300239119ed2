"""Importance weighting of source rows towards a target set: kernel mean matching (KMM).

KMM (Huang et al. 2007) finds weights ``beta`` of the n_s source rows whose weighted mean in the
kernel feature space matches the target mean:

    min_beta  1/2 beta' K beta - kappa' beta
    s.t.      0 <= beta <= B,   |sum(beta) - n_s| <= n_s eps,

with ``K`` the source kernel and ``kappa_i = (n_s / n_t) sum_j k(x_i, x^t_j)``. It is a convex
QP, solved with cvxpy (the modelling tool the project uses for such problems) while its kernel
fits in memory.

**On explicit features** (``solver="primal"``, :func:`kmm_weights_primal`): with features ``F``
of the source rows and ``G`` of the target rows (the rows themselves for a linear kernel, an
approximate RBF map otherwise: :class:`webly.solvers.primal.FeatureMap`), ``K = F F'`` and
``kappa = F c`` with ``c = (n_s / n_t) sum_j G_j = n_s mean(G)``, so the objective is

    1/2 ||F' beta||^2 - c' F' beta  =  1/2 ||F' beta - c||^2 - 1/2 ||c||^2,

a bounded least-squares problem that needs only ``F' beta`` and ``F r`` (O(n_s d) per
evaluation, no (n_s, n_s) matrix). scipy's L-BFGS-B solves it on the box ``0 <= beta <= B``, the
two-sided mean constraint by the augmented Lagrangian method (method of multipliers) on top, and
the solve stops on a certificate: the Frank-Wolfe duality gap of a feasible point, which bounds
its distance to the optimal objective.

**On a Dask cluster**: the source rows (and the target rows) may be row-chunked
:class:`dask.array.Array` s. The feature map is fitted as in memory (the bandwidth rule as a
reduction, the Nystroem landmarks fetched: :class:`webly.solvers.primal.FeatureMap`); each
L-BFGS-B iteration computes ``F' beta`` as a map-reduce over the partitions and ``F r`` as a map
(the rows stay where they live), while the weights, the gradient and L-BFGS-B's memory are
n-vectors on the client (80 MB each at 10^7 rows). Each iteration costs two round trips to the
cluster, so the explicit path's iteration count (tens to thousands, depending on how far the
target lies from the source) sets the time.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError
from .kernels import Kernel, choose_solver, dask_solver

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

log = logging.getLogger("webly")

#: (n_s, n_s) float64 arrays the kernel path (cvxpy and Clarabel) holds at its peak: measured
#: 14.3 with tracemalloc and 16-18 as peak resident memory (Clarabel's own allocations are not
#: traced) at n_s = 1,500 and 3,000, n_t = n_s / 3 and n_s
KMM_KERNEL_ARRAYS = 18.0


#: (n_s, n_s) float64 arrays ``solver="kernel"`` (the augmented Lagrangian method on the kernel
#: matrix, :func:`_kmm_kernel`) holds at its peak: the kernel and its computation's temporaries
#: (``benchmarks/kernel_memory.py``)
KMM_ALM_ARRAYS = 1.5


def kmm_weights(X_source: ArrayLike, X_target: ArrayLike, *, kernel: str = "rbf",
                gamma: float | None = None, B: float = 1000.0, eps: float | None = None,
                solver: str = "auto", features: str = "nystroem", n_components: int = 512,
                random_state: int | np.random.RandomState | None = None,
                memory_limit: float | str | None = None, tol: float = 1e-6,
                max_iter: int | None = None) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """KMM importance weights of the source rows.

    Parameters
    ----------
    X_source : (n_s, d) array
        Or a row-chunked Dask array: then the explicit path is taken (see the module docstring).
    X_target : (n_t, d) array
        Or a Dask array (only its mean features are used).
    kernel : {"rbf", "linear"}
    gamma : float or None
        RBF bandwidth; None applies the mean-squared-distance rule to the source rows.
    B : float
        Upper bound of a weight.
    eps : float or None
        Tolerance of the mean constraint; None uses Huang et al.'s ``(sqrt(n_s) - 1)/sqrt(n_s)``.
    solver : "auto", "kernel", "primal" or a cvxpy solver name, default="auto"
        ``"auto"``: ``"kernel"`` while its peak memory, about :data:`KMM_ALM_ARRAYS` (n_s, n_s)
        float64 arrays, fits in ``memory_limit``, and the explicit-feature path above it, said
        in a WARNING log line (:func:`webly.kernels.choose_solver`). ``"kernel"``: the QP on
        the kernel matrix by the method of :func:`kmm_weights_primal` (augmented Lagrangian,
        L-BFGS-B, stopped on a certified duality gap ``tol``), with ``K beta`` in place of
        ``F (F' beta)``: no array besides the kernel. ``"primal"``: explicit features
        (:func:`kmm_weights_primal`). A cvxpy solver name (``"CLARABEL"``, ``"OSQP"``, ...):
        the same kernel QP in cvxpy, refused above its limit (:data:`KMM_KERNEL_ARRAYS`
        arrays; ``"auto"``'s choice, while it fitted, in webly 0.1). ``"kernel"`` reaches
        cvxpy's objective (``tests/test_weighting_primal.py`` checks it against Clarabel's) in
        a fraction of its time; the weights themselves can differ where the QP is flat, and
        where Clarabel's interior point leaves weights near 0 (1e-9) ``"kernel"`` puts them at
        0. With Dask rows ``"auto"`` is ``"primal"``, and a kernel solver is refused.
    features : {"nystroem", "rbf_sampler"}, default="nystroem"
        The approximate RBF map of the primal path, fitted on the source rows at the kernel
        path's bandwidth (a linear kernel uses the rows themselves).
    n_components : int, default=512
        Features of that map.
    random_state : int, RandomState or None
        Seed of the map.
    memory_limit : int, str or None
        Bytes (or ``"8G"``-style) the kernel path may take; None: the memory available now (or
        ``WEBLY_MEMORY_LIMIT``).
    tol, max_iter
        Of the ``"kernel"`` and ``"primal"`` paths: as :func:`kmm_weights_primal`.

    Returns
    -------
    beta : (n_s,) array of weights in [0, B]
    info : dict
        ``status`` (cvxpy's on the kernel path), ``objective`` and ``mmd2`` (the squared MMD of
        the weighted source mean to the target mean, up to the constant target term),
        ``solver`` (the cvxpy solver or ``"primal"``); on the primal path also what
        :func:`kmm_weights_primal` reports and ``feature_map`` (the fitted
        :class:`~webly.solvers.primal.FeatureMap`).

    References
    ----------
    J. Huang, A. Smola, A. Gretton, K. Borgwardt, B. Schölkopf. Correcting sample selection bias
    by unlabeled data. NIPS 2007.
    """
    from .solvers._rows import is_dask

    what = ("the rows themselves (linear kernel)" if kernel == "linear" else
            f"explicit features ({features}, {n_components} components)")
    on_dask = is_dask(X_source) or is_dask(X_target)
    if on_dask:  # rows on a cluster: only the explicit path
        solver = dask_solver("kmm_weights", solver, "X_source or X_target")
    else:
        solver = _kmm_route(solver, memory_limit, np.shape(X_source)[0], what)
    if solver == "primal":
        from sklearn.utils import check_random_state

        from .base import check_row_features
        from .solvers._rows import DaskRows
        from .solvers.primal import FeatureMap

        def rows(name, X):
            if is_dask(X):
                return DaskRows._check(name, X, True, None).rechunk({1: -1})
            return check_row_features(name, X, allow_sparse=False, keep_float32=True)

        Xs, Xt = rows("X_source", X_source), rows("X_target", X_target)
        _check_kmm(Xs, Xt, B)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        # on Dask, FeatureMap applies the same bandwidth rule as a reduction over the partitions
        fmap = FeatureMap("linear" if kernel == "linear" else features,
                          gamma=gamma if is_dask(Xs) else Kernel(kernel, gamma).fit(Xs).gamma_,
                          n_components=n_components, random_state=seed).fit(Xs)
        beta, info = kmm_weights_primal(fmap.transform(Xs), fmap.transform(Xt), B=B, eps=eps,
                                        tol=tol, max_iter=max_iter)
        info.update(solver="primal", feature_map=fmap)
        return beta, info
    if solver == "kernel":
        beta, info = _kmm_kernel(X_source, X_target, kernel, gamma, B, eps, tol, max_iter)
    else:
        beta, info = _kmm_qp(X_source, X_target, kernel, gamma, B, eps, solver)
    info["solver"] = solver
    return beta, info


def _check_kmm(Xs, Xt, B):
    if Xs.ndim != 2 or Xt.ndim != 2 or Xs.shape[1] != Xt.shape[1]:
        raise DataError("X_target", f"must have the source's {Xs.shape[-1]} features, got shape "
                                    f"{Xt.shape}")
    if len(Xt) == 0:
        raise DataError("X_target", "is empty; KMM needs unlabelled target rows")
    if not B > 0:
        raise DataError("B", f"must be positive, got {B}")


def _kmm_route(solver, memory_limit, n_rows, what):
    """``"primal"``, ``"kernel"`` or the cvxpy solver of the kernel path:
    :func:`webly.kernels.choose_solver` on :data:`KMM_ALM_ARRAYS` (``"kernel"``, and
    ``"auto"``: ``"kernel"`` while it fits, else ``"primal"``) or :data:`KMM_KERNEL_ARRAYS` (a
    cvxpy solver named); its log lines name ``kmm_weights``."""
    def call(name):
        return type("kmm_weights", (), {"solver": name, "memory_limit": memory_limit})()

    if solver == "auto":
        return choose_solver(call("auto"), n_rows, KMM_ALM_ARRAYS, what=what).replace(
            "smo", "kernel")
    chosen = choose_solver(call(solver), n_rows,
                           KMM_ALM_ARRAYS if solver == "kernel" else KMM_KERNEL_ARRAYS, what=what)
    return solver if chosen == "smo" else chosen


def _kmm_kernel(X_source, X_target, kernel, gamma, B, eps, tol, max_iter):
    """``solver="kernel"``: the KMM QP on the kernel matrix by :func:`_kmm_solve` (``K beta``
    for ``F (F' beta)``; ``kappa`` and the constant ``1/2 ||c||^2`` by blocks of target rows)."""
    t0 = time.perf_counter()
    Xs, Xt = np.asarray(X_source, dtype=float), np.asarray(X_target, dtype=float)
    _check_kmm(Xs, Xt, B)
    ns, nt = len(Xs), len(Xt)
    eps = (np.sqrt(ns) - 1) / np.sqrt(ns) if eps is None else float(eps)
    lo, hi = ns * (1.0 - eps), ns * (1.0 + eps)
    if ns * B < lo:
        raise DataError("B", f"{B} is below 1 - eps = {1 - eps:.6g}: no weights in [0, B] can "
                             "meet the mean constraint; raise B or eps")
    k = Kernel(kernel, gamma).fit(Xs)
    K = np.ascontiguousarray(k(Xs, fit_arrays=KMM_ALM_ARRAYS))
    kappa, ktt = np.zeros(ns), 0.0
    step = max(1, ns // 64)  # a block's (n_s, step) kernel: 1/64 of K
    for i in range(0, nt, step):
        kappa += k(Xs, Xt[i:i + step]).sum(axis=1)
        ktt += float(k(Xt[i:i + step], Xt).sum())
    kappa *= ns / nt
    const = 0.5 * (ns / nt) ** 2 * ktt  # 1/2 ||c||^2: the objective + const is >= 0

    def evaluate(beta):
        Kb = K @ beta
        return 0.5 * float(beta @ Kb) - float(kappa @ beta) + const, Kb - kappa, None

    max_iter = 10_000 if max_iter is None else int(max_iter)
    beta, info = _kmm_solve(evaluate, ns, B, lo, hi, eps, const, tol, max_iter)
    info.pop("extra")
    info["seconds"] = time.perf_counter() - t0
    return beta, info


def _kmm_qp(X_source, X_target, kernel, gamma, B, eps, solver):
    """The kernel path: the KMM QP in cvxpy."""
    import cvxpy as cp

    Xs, Xt = np.asarray(X_source, dtype=float), np.asarray(X_target, dtype=float)
    _check_kmm(Xs, Xt, B)
    ns, nt = len(Xs), len(Xt)
    eps = (np.sqrt(ns) - 1) / np.sqrt(ns) if eps is None else float(eps)
    k = Kernel(kernel, gamma).fit(Xs)
    K = k(Xs)
    kappa = (ns / nt) * k(Xs, Xt).sum(axis=1)
    beta = cp.Variable(ns)
    # a kernel matrix is PSD by construction; psd_wrap skips cvxpy's eigenvalue check
    objective = 0.5 * cp.quad_form(beta, cp.psd_wrap((K + K.T) / 2)) - kappa @ beta
    cons = [beta >= 0, beta <= B, cp.abs(cp.sum(beta) - ns) <= ns * eps]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(solver=solver)
    if prob.status not in ("optimal", "optimal_inaccurate") or beta.value is None:
        raise RuntimeError(f"KMM QP failed with status {prob.status!r}")
    b = np.clip(beta.value, 0, B)
    return b, {"status": prob.status, "objective": float(prob.value),
               "mmd2": float(b @ K @ b / ns**2 - 2 * kappa @ b / (ns**2))}


def _lowest_point(g, B, lo, hi):
    """``argmin g' b`` over ``0 <= b <= B``, ``lo <= sum(b) <= hi`` (a fractional knapsack):
    mass ``B`` on the most negative ``g`` up to ``hi`` in all, then up to ``lo`` on the
    smallest others."""
    order = np.argsort(g, kind="stable")
    b = np.zeros_like(g)
    n_neg = int(np.searchsorted(g[order], 0.0))
    fill = np.minimum(B, np.maximum(0.0, hi - B * np.arange(n_neg)))
    b[order[:n_neg]] = fill
    short = lo - fill.sum()
    if short > 0:
        rest = order[n_neg:]
        more = np.minimum(B, np.maximum(0.0, short - B * np.arange(len(rest))))
        b[rest] = more
    return b


def _project(beta, B, lo, hi):
    """Euclidean projection onto ``0 <= b <= B``, ``lo <= sum(b) <= hi``: ``clip(beta - t)``
    with the shift ``t`` found by bisection (0 when the sum is already inside)."""
    b = np.clip(beta, 0.0, B)
    total = b.sum()
    if lo <= total <= hi:
        return b
    target = hi if total > hi else lo
    t_lo, t_hi = beta.min() - B, beta.max()  # sums n B and 0 at the ends
    for _ in range(200):
        t = 0.5 * (t_lo + t_hi)
        if np.clip(beta - t, 0.0, B).sum() > target:
            t_lo = t
        else:
            t_hi = t
    return np.clip(beta - 0.5 * (t_lo + t_hi), 0.0, B)


def _centred_rmv(Fb, bb, shift):
    """``(F_b - shift)' beta_b`` of one partition, as a (1, d) float64 row (products in the
    rows' precision, as in memory)."""
    Fc = Fb - shift if shift.any() else Fb
    return np.asarray(Fc.T @ bb.astype(Fb.dtype), dtype=np.float64)[None, :]


def _centred_mv(Fb, r, shift):
    """``F_b r`` of one partition in float64 (through the centred rows, as in memory)."""
    Fc = Fb - shift if shift.any() else Fb
    return (np.asarray(Fc @ r.astype(Fb.dtype), dtype=np.float64)
            + shift.astype(np.float64) @ r)


def kmm_weights_primal(F_source, F_target, *, B=1000.0, eps=None, tol=1e-6, max_iter=None):
    """KMM weights from explicit features of the source and target rows (no kernel matrix).

    Solves the KMM QP with ``K = F_source F_source'`` and ``kappa = (n_s / n_t) F_source
    sum_j F_target[j]`` (see the module docstring) in O(n_s d) memory. Each round of the
    augmented Lagrangian method minimises, by L-BFGS-B (scipy) on the box ``0 <= beta <= B``,

        1/2 ||F' beta - c||^2 / S + rho/2 dist(h + lam/rho, [-eps, eps])^2,
        h = sum(beta)/n_s - 1,

    (``S`` the starting residual; the first round from ``beta = 1`` clipped to the box, the
    next ones from the last ``beta``), then takes the multiplier step ``lam <- rho (z -
    proj(z))``, ``z = h + lam/rho``; ``rho`` grows tenfold when a round does not cut ``|h -
    proj(z)|`` by 4. Every 10 iterations the iterate is projected onto the feasible set (box and
    ``|sum(beta) - n_s| <= n_s eps``) and its Frank-Wolfe duality gap ``g'(beta - b*)``, ``b*``
    the feasible point lowest along the gradient ``g``, is computed: the objective there is at
    most the gap above the optimum, and the solve stops once the gap is at most ``tol`` times
    ``|objective|``, returning that feasible point.

    Float32 features are used as they are (products in float32), after subtracting the target
    mean (a centred copy of ``F_source``): ``F' beta`` then holds the residual itself, not the
    large mean it is the difference of, so float32 resolves it.

    Parameters
    ----------
    F_source : (n_s, d) float64 or float32 array, or a row-chunked Dask array of them
        On Dask, ``F' beta`` is a map-reduce over the partitions and ``F r`` a map; the float32
        centring is done in each partition. The returned weights are a numpy array.
    F_target : (n_t, d) array or Dask array
        Only its column means are used.
    B, eps
        As :func:`kmm_weights`.
    tol : float, default=1e-6
        Certified relative accuracy of the objective: the returned weights' objective is within
        ``tol |objective|`` of the optimum (the duality gap above).
    max_iter : int or None
        L-BFGS-B iterations of all rounds together (None: 10,000).

    Returns
    -------
    beta : (n_s,) float64 array, feasible: in [0, B], ``|sum(beta) - n_s| <= n_s eps`` (to
        rounding)
    info : dict
        ``status`` (``"optimal"``: the gap met ``tol``; ``"max_iter"`` when the iterations ran
        out; ``"inaccurate"`` when 30 rounds ended above ``tol``), ``objective`` (``1/2 beta' K
        beta - kappa' beta``), ``mmd2`` (as :func:`kmm_weights`), ``residual`` (``1/2 ||F' beta
        - c||^2``, the objective less its constant ``-1/2 ||c||^2``), ``gap`` (the duality gap,
        relative to ``|objective|``), ``multiplier`` (of the mean constraint, in the scaled
        units above), ``n_iter`` (L-BFGS-B iterations), ``n_outer`` (rounds), ``seconds``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> F = rng.normal(size=(200, 3))
    >>> beta, info = kmm_weights_primal(F, rng.normal(0.5, 1.0, size=(50, 3)), B=10)
    >>> info["status"], bool(beta[F[:, 0] > 1].mean() > beta[F[:, 0] < 0].mean())
    ('optimal', True)
    """
    from .solvers._rows import is_dask

    t0 = time.perf_counter()
    on_dask = is_dask(F_source)
    if on_dask:
        from .solvers._rows import DaskRows

        F = DaskRows._check("F_source", F_source, True, None).rechunk({1: -1})
    else:
        F = np.asarray(F_source)
        if F.dtype not in (np.float32, np.float64):
            F = F.astype(np.float64)
    G = F_target if is_dask(F_target) else np.asarray(F_target)
    _check_kmm(F, G, B)
    n = F.shape[0]
    eps = (np.sqrt(n) - 1) / np.sqrt(n) if eps is None else float(eps)
    lo, hi = n * (1.0 - eps), n * (1.0 + eps)
    if n * B < lo:
        raise DataError("B", f"{B} is below 1 - eps = {1 - eps:.6g}: no weights in [0, B] can "
                             "meet the mean constraint; raise B or eps")
    max_iter = 10_000 if max_iter is None else int(max_iter)
    mu = G.mean(axis=0, dtype=np.float64)
    if is_dask(mu):
        mu = mu.compute()
    if not np.all(np.isfinite(mu)):
        raise DataError("F_target", "contains NaN or infinite values; impute or drop those rows")
    c = n * mu
    # float32 rows are centred on the target mean (see above); float64 rows are used as they are
    shift = mu.astype(F.dtype) if F.dtype == np.float32 else np.zeros_like(mu)
    half_cc = 0.5 * float(c @ c)
    if on_dask:
        import dask

        F = dask.persist(F)[0]  # read twice per L-BFGS-B iteration
        chunks = F.chunks[0]

        def residual_grad(beta):
            """As below, one map-reduce over the partitions for ``F' beta`` and one map for
            ``F r`` (the weights and the gradient are n-vectors on the client)."""
            import dask.array as da

            b = da.from_array(beta, chunks=(chunks,))
            parts = da.blockwise(_centred_rmv, "ij", F, "ij", b, "i", shift=shift,
                                 adjust_chunks={"i": 1}, dtype=np.float64)
            r = parts.sum(axis=0).compute() + shift.astype(np.float64) * beta.sum() - c
            if not np.all(np.isfinite(r)):
                raise DataError("F_source", "contains NaN or infinite values; impute or drop "
                                            "those rows")
            grad = F.map_blocks(_centred_mv, r, shift, drop_axis=1, dtype=np.float64)
            return r, grad.compute()
    else:
        Fc = F - shift if F.dtype == np.float32 else F  # F' beta = Fc' beta + shift sum(beta)
        shift = shift.astype(np.float64)

        def residual_grad(beta):
            """``F' beta - c`` and ``F (F' beta - c)`` in float64."""
            r = np.asarray(Fc.T @ beta.astype(Fc.dtype, copy=False), dtype=np.float64)
            r += shift * beta.sum() - c
            return r, np.asarray(Fc @ r.astype(Fc.dtype), dtype=np.float64) + shift @ r

    def evaluate(beta):
        r, grad = residual_grad(beta)
        return 0.5 * float(r @ r), grad, r

    beta, info = _kmm_solve(evaluate, n, B, lo, hi, eps, half_cc, tol, max_iter)
    r = info.pop("extra")
    info.update(residual=0.5 * float(r @ r), seconds=time.perf_counter() - t0)
    return beta, info


def _kmm_solve(evaluate, n, B, lo, hi, eps, const, tol, max_iter):
    """The KMM QP by the augmented Lagrangian method of :func:`kmm_weights_primal` (see there),
    for both paths: ``evaluate(beta)`` gives ``(value, grad, extra)``, ``value`` the objective
    plus ``const`` (``1/2 ||F' beta - c||^2``, >= 0), ``grad`` its gradient in beta and
    ``extra`` whatever the caller wants back for the returned weights (``info["extra"]``).
    Returns ``(beta, info)``: the feasible weights of the smallest certified gap, ``status``,
    ``objective``, ``mmd2``, ``gap``, ``multiplier``, ``n_iter``, ``n_outer``."""
    from scipy.optimize import Bounds, minimize

    def certificate(beta, got=None):
        """The feasible point nearest ``beta``, its objective, duality gap and extra."""
        b = _project(beta, B, lo, hi)
        if got is None or b is not beta and not np.array_equal(b, beta):
            got = evaluate(b)
        value, grad, extra = got
        objective = value - const
        gap = float(grad @ b - grad @ _lowest_point(grad, B, lo, hi))
        return b, objective, gap / max(abs(objective), np.finfo(float).tiny), extra

    beta = np.full(n, min(1.0, float(B)))
    first = evaluate(beta)
    scale = max(first[0], np.finfo(float).tiny)
    lam, rho = 0.0, 10.0
    last = {}

    def value_grad(x):
        value, grad, extra = evaluate(x)
        last.update(x=x, got=(value, grad, extra))
        z = (x.sum() / n - 1.0) + lam / rho
        p = z - np.clip(z, -eps, eps)
        return value / scale + 0.5 * rho * p * p, grad / scale + (rho * p / n)

    best = certificate(beta, first)
    counter = [0]

    def check(x):
        nonlocal best
        counter[0] += 1
        if counter[0] % 10:
            return
        same = last.get("x") is not None and np.array_equal(last["x"], x)
        cand = certificate(x, last["got"] if same else None)
        if cand[2] < best[2]:
            best = cand
        if cand[2] <= tol:
            raise StopIteration

    status, n_iter, prev, n_outer = "inaccurate", 0, np.inf, 0
    if best[2] > tol:
        for n_outer in range(1, 31):
            counter[0] = 0
            res = minimize(value_grad, beta, jac=True, method="L-BFGS-B", bounds=Bounds(0.0, B),
                           callback=check, options={"maxiter": max_iter - n_iter, "ftol": 0.0,
                                                    "gtol": 0.0, "maxcor": 10})
            beta = np.clip(res.x, 0.0, B)
            n_iter += int(res.nit)
            cand = certificate(beta)
            if cand[2] < best[2]:
                best = cand
            h = beta.sum() / n - 1.0
            z = h + lam / rho
            change = float(abs(h - np.clip(z, -eps, eps)))
            lam = rho * (z - np.clip(z, -eps, eps))
            log.debug("KMM: round %d, %d L-BFGS-B iterations (%s), rho %.3g, multiplier change "
                      "%.3g, relative gap %.3g", n_outer, res.nit, res.message, rho, change,
                      best[2])
            if best[2] <= tol:
                break
            if n_iter >= max_iter:
                status = "max_iter"
                break
            if change > 0.25 * prev:
                rho *= 10.0
            prev = change
    if best[2] <= tol:
        status = "optimal"
    beta, objective, gap, extra = best
    return beta, {"status": status, "objective": objective, "mmd2": 2 * objective / n**2,
                  "gap": gap, "multiplier": float(lam), "n_iter": n_iter, "n_outer": n_outer,
                  "extra": extra}
