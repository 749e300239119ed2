"""numba kernels of the decomposition solver (see :mod:`webly.solvers.smo` for the method).

Real variables are one flat vector ``x = [a (n); z_1 (m1); z_2 (m2); s_1; s_2]`` (N entries) where
``s_j`` is the slack of block j's sum constraint (upper bound ``hi_j - lo_j``; 0 for an
equality). ``p1[u]`` (``p2[u]``) is the position of real variable u in block 1 (2) or -1, so::

    H[u, v] = [u, v < n] y_u y_v K[u, v] + [p1 >= 0] G1[p1[u], p1[v]] / gamma_1 + (same for 2).

*Compound* variables (indices N.., one per unit that belongs to a block) move ``a_u`` together
with ``-z_{j,u}`` in every block j of unit u: the block sums ``v_j`` do not change, so their
Hessian is ``y_u y_w K[u, w]``, their gradient ``(K∘yy' a - p)_u`` and they can grow while all
``z_{j,u} > 0``. They form, with the units outside every block, the plain SVM group: for fixed
``v`` the ``a``-problem is an SVM with box ``a_u <= v_u`` and these moves solve it as libsvm
would, without fighting the (often ill-conditioned, low-rank) correcting-function terms.

One move loop, :func:`_moves`, holds the selection rules and the choice of the move, in two
variants that numba compiles apart: :func:`smo_loop` runs it on all variables, reading rows of
the kernels (the gradient ``grad = H x + lin`` is maintained; a move reads one row of K per
changed ``a`` and one row of ``G_j`` per unit whose ``v_j`` changed), and :func:`smo_dense` on a
working set whose Hessian is held densely (a move reads one row of that small matrix per
changed variable). :func:`refresh_hessian` builds that matrix and :func:`add_hess_columns`
carries a working set's step back into the full gradient.

Where the variants differ, the code branches on ``kern is not None`` (the kernels, for
:func:`smo_loop`) and ``H is not None`` (the dense Hessian, for :func:`smo_dense`): one of the two
arguments is None, and numba prunes the branches on an argument that is None when it compiles,
so each variant holds only its own code. The loops over variables call no helper that takes
arrays: numba reference-counts array arguments, which made such helpers many times slower.
"""

import numpy as np
from numba import njit

TAU = 1e-12  # curvature floor (as libsvm's TAU)
VFRAC = 0.1  # violation fraction of the choice of the move (see :func:`_moves`)


@njit(nogil=True, inline="always")
def _hess(u, v, n, y, K, p1, p2, G1, G2, ig1, ig2):
    """Hessian entry between two real variables."""
    h = 0.0
    if u < n and v < n:
        h = y[u] * y[v] * K[u, v]
    pu = p1[u]
    pv = p1[v]
    if pu >= 0 and pv >= 0:
        h += G1[pu, pv] * ig1
    pu = p2[u]
    pv = p2[v]
    if pu >= 0 and pv >= 0:
        h += G2[pu, pv] * ig2
    return h


@njit(nogil=True)
def _expand(idx, coef, ln, N, unit, vz1, vz2, ridx, rcoef):
    """Write the direction over real variables (compounds expanded, duplicates merged)."""
    rl = 0
    for k in range(ln):
        w = idx[k]
        c = coef[k]
        if w < N:
            parts = 1
        else:
            parts = 3
        for part in range(parts):
            if part == 0:
                r = w if w < N else unit[w]
                cr = c
            elif part == 1:
                r = vz1[w]
                cr = -c
            else:
                r = vz2[w]
                cr = -c
            if r < 0:
                continue
            found = False
            for q in range(rl):
                if ridx[q] == r:
                    rcoef[q] += cr
                    found = True
                    break
            if not found:
                ridx[rl] = r
                rcoef[rl] = cr
                rl += 1
    return rl


@njit(nogil=True)
def _group_bounds(x, grad, upper, sgn, unit, vz1, vz2, N, gptr, gidx, L, U, Li, Ui, vlow):
    """Per group: L = max over movable-up of -s g, U = min over movable-down of -s g.

    ``vlow[w]``: ``-s g`` of each member w that can move down, +inf for the others.
    """
    ng = gptr.shape[0] - 1
    for g in range(ng):
        lv = -np.inf
        uv = np.inf
        li = -1
        ui = -1
        for k in range(gptr[g], gptr[g + 1]):
            w = gidx[k]
            s = sgn[w]
            # gradient and rooms, inlined by hand (a helper taking arrays is much slower here)
            if w < N:
                gw = grad[w]
                rp = upper[w] - x[w]
                rm = x[w]
            else:
                u = unit[w]
                gw = grad[u]
                rp = upper[u] - x[u]
                rm = x[u]
                z = vz1[w]
                if z >= 0:
                    gw -= grad[z]
                    if x[z] < rp:
                        rp = x[z]
                z = vz2[w]
                if z >= 0:
                    gw -= grad[z]
                    if x[z] < rp:
                        rp = x[z]
            v = -s * gw
            if s > 0:
                up = rp > 0.0
                low = rm > 0.0
            else:
                up = rm > 0.0
                low = rp > 0.0
            if up and v > lv:
                lv = v
                li = w
            if low and v < uv:
                uv = v
                ui = w
            vlow[w] = v if low else np.inf
        L[g] = lv
        U[g] = uv
        Li[g] = li
        Ui[g] = ui


@njit(nogil=True)
def _line(ridx, rcoef, rl, x, grad, upper, kern, H):
    """Exact (clipped) minimisation along a real direction: return (t, gain, k_lim)."""
    gd = 0.0
    for k in range(rl):
        gd += rcoef[k] * grad[ridx[k]]
    if gd >= 0.0:
        return 0.0, 0.0, -1
    dhd = 0.0
    if kern is not None:
        n, m1, y, K, p1, p2, S1, S2, G1, G2, ig1, ig2 = kern
        for k in range(rl):
            if rcoef[k] == 0.0:
                continue
            for l in range(rl):
                if rcoef[l] != 0.0:
                    dhd += rcoef[k] * rcoef[l] * _hess(ridx[k], ridx[l], n, y, K, p1, p2, G1,
                                                       G2, ig1, ig2)
    if H is not None:
        for k in range(rl):
            ck = rcoef[k]
            if ck == 0.0:
                continue
            Hk = H[ridx[k]]
            for l in range(rl):
                dhd += ck * rcoef[l] * Hk[ridx[l]]
    tmax = np.inf
    klim = -1
    for k in range(rl):
        u = ridx[k]
        if rcoef[k] > 0:
            room = (upper[u] - x[u]) / rcoef[k]
        elif rcoef[k] < 0:
            room = x[u] / (-rcoef[k])
        else:
            continue
        if room < tmax:
            tmax = room
            klim = k
    if dhd <= TAU:
        dhd = TAU
    t = -gd / dhd
    if t >= tmax:
        t = tmax
    else:
        klim = -1
    if not (t > 0.0) or not np.isfinite(t):
        return 0.0, 0.0, -1
    gain = -(t * gd + 0.5 * t * t * dhd)
    return t, gain, klim


@njit(nogil=True)
def _apply(ridx, rcoef, rl, t, klim, x, grad, upper, kern, H, bj, bp, bd, babs):
    """Take the step. With ``H``: one row of it per changed variable; with ``kern``: K rows for
    changed a's, G_j rows only where a block sum v_j changed (collected in ``bj``, ``bp``,
    ``bd``, ``babs``)."""
    if kern is not None:
        n, m1, y, K, p1, p2, S1, S2, G1, G2, ig1, ig2 = kern
    nb = 0
    for k in range(rl):
        u = ridx[k]
        if rcoef[k] == 0.0:
            continue
        old = x[u]
        if k == klim:
            new = upper[u] if rcoef[k] > 0 else 0.0
        else:
            new = old + t * rcoef[k]
            if new < 0.0:
                new = 0.0
            elif new > upper[u]:
                new = upper[u]
        x[u] = new
        delta = new - old
        if delta == 0.0:
            continue
        if H is not None:
            Hu = H[u]
            for q in range(x.shape[0]):
                grad[q] += delta * Hu[q]
        if kern is not None:
            if u < n:
                c = delta * y[u]
                Ku = K[u]
                for q in range(n):
                    grad[q] += c * y[q] * Ku[q]
            for j in range(2):
                pos = p1[u] if j == 0 else p2[u]
                if pos < 0:
                    continue
                found = False
                for q in range(nb):
                    if bj[q] == j and bp[q] == pos:
                        bd[q] += delta
                        babs[q] += abs(delta)
                        found = True
                        break
                if not found:
                    bj[nb] = j
                    bp[nb] = pos
                    bd[nb] = delta
                    babs[nb] = abs(delta)
                    nb += 1
    if kern is not None:
        for q in range(nb):
            d = bd[q]
            if abs(d) <= 1e-13 * babs[q]:
                continue  # a compound move: v_j unchanged up to rounding
            if bj[q] == 0:
                c = d * ig1
                row = G1[bp[q]]
                for l in range(S1.shape[0]):
                    w = c * row[l]
                    grad[S1[l]] += w
                    grad[n + l] += w
            else:
                c = d * ig2
                row = G2[bp[q]]
                off = n + m1
                for l in range(S2.shape[0]):
                    w = c * row[l]
                    grad[S2[l]] += w
                    grad[off + l] += w


@njit(nogil=True)
def _copy_direction(idx, coef, ln, to_idx, to_coef):
    """Copy the first ``ln`` entries of a direction."""
    for k in range(ln):
        to_idx[k] = idx[k]
        to_coef[k] = coef[k]


@njit(nogil=True)
def _moves(x, grad, upper, sgn, hdiag, unit, vz1, vz2, gptr, gidx, circ_g, circ_c, kern, H, tol,
           max_iter):
    """The move loop of :func:`smo_loop` (the Hessian read from the kernels ``kern = (n, m1, y,
    K, p1, p2, S1, S2, G1, G2, ig1, ig2)``, ``H`` None) and :func:`smo_dense` (read from the
    dense ``H``, ``kern`` None); returns ``(n_moves, code)`` as :func:`smo_loop`.

    Each move evaluates the candidates: the best pair inside each group (second-order
    working-set selection) and both orientations of each circuit across groups, each with its
    exact (clipped) line search. A move is normally the candidate with the largest decrease of
    the objective; when that move's violation is below ``VFRAC`` times the largest violation
    among the candidates, the most violating candidate is taken instead (its step may be
    clipped short by a variable close to its bound; without this rule such a candidate is never
    taken and SMO stalls on the remaining, ever smaller, gains).
    """
    N = x.shape[0]
    ng = gptr.shape[0] - 1
    nc = circ_g.shape[0]
    L = np.empty(ng)
    U = np.empty(ng)
    Li = np.empty(ng, dtype=np.int64)
    Ui = np.empty(ng, dtype=np.int64)
    vlow = np.empty(unit.shape[0])
    # circuit c in orientation o (row 2 c + o): its direction (cln entries of cidx, ccoef; cln 0
    # where a group cannot move that way), cV = sum_G c_G (L_G or U_G) and ctot = sum_G |c_G|
    cln = np.empty(2 * nc, dtype=np.int64)
    cV = np.empty(2 * nc)
    ctot = np.empty(2 * nc)
    cidx = np.empty((2 * nc, 4), dtype=np.int64)
    ccoef = np.empty((2 * nc, 4))
    idx = np.empty(4, dtype=np.int64)
    coef = np.empty(4)
    ridx = np.empty(12, dtype=np.int64)
    rcoef = np.empty(12)
    bidx = np.empty(12, dtype=np.int64)
    bcoef = np.empty(12)
    vidx = np.empty(12, dtype=np.int64)
    vcoef = np.empty(12)
    bj = np.empty(24, dtype=np.int64)  # the block sums a step changes (for the kernels)
    bp = np.empty(24, dtype=np.int64)
    bd = np.empty(24)
    babs = np.empty(24)
    if kern is not None:
        n, m1, y, K, p1, p2, S1, S2, G1, G2, ig1, ig2 = kern
        empty = np.zeros(0)
    if H is not None:
        hrow = np.empty(N)
    it = 0
    while it < max_iter:
        _group_bounds(x, grad, upper, sgn, unit, vz1, vz2, N, gptr, gidx, L, U, Li, Ui, vlow)
        # the inner violation, a cheap upper bound of the KKT violation: pair gaps / 2 and
        # circuit violations / sum|c| (the circuits' directions are kept for their moves)
        viol = 0.0
        for g in range(ng):
            if Li[g] >= 0 and Ui[g] >= 0:
                v = 0.5 * (L[g] - U[g])
                if v > viol:
                    viol = v
        for co in range(2 * nc):
            c = co // 2
            sign = 1.0 if co % 2 == 0 else -1.0
            ln = 0
            V = 0.0
            tot_c = 0.0
            ok = True
            for k in range(4):
                g = circ_g[c, k]
                if g < 0:
                    break
                cc = sign * circ_c[c, k]
                tot_c += abs(cc)
                if cc > 0:
                    w = Li[g]
                    V += cc * L[g]
                else:
                    w = Ui[g]
                    V += cc * U[g]
                if w < 0:
                    ok = False
                    break
                cidx[co, ln] = w
                ccoef[co, ln] = cc * sgn[w]
                ln += 1
            cln[co] = ln if ok else 0
            cV[co] = V
            ctot[co] = tot_c
            if ok and V / tot_c > viol:
                viol = V / tot_c
        if viol <= tol:
            return it, 0
        best_gain = 0.0
        best_t = 0.0
        # np.int64, not the literals 0 and -1: numba would also compile _apply and
        # _copy_direction for the literal types (compile time only; the same values)
        best_len = np.int64(0)
        best_lim = np.int64(-1)
        best_v = 0.0
        vmax_v = 0.0
        vmax_t = 0.0
        vmax_len = np.int64(0)
        vmax_lim = np.int64(-1)
        # candidates 0..ng-1: the pair of each group; then each circuit, both orientations
        for cand in range(ng + 2 * nc):
            if cand < ng:
                # 1) a pair inside a group: second-order selection (Fan, Chen, Lin 2005)
                g = cand
                i = Li[g]
                if i < 0 or Ui[g] < 0 or L[g] - U[g] <= 0.0:
                    continue
                si = sgn[i]
                hii = hdiag[i]
                # row i of the Hessian, read through views (no per-entry function calls)
                if kern is not None:
                    ui_ = unit[i]
                    ia = ui_ >= 0
                    Ki = K[ui_] if ia else K[0]
                    yi = y[ui_] if ia else 0.0
                    pi1 = p1[i]
                    pi2 = p2[i]
                    G1i = G1[pi1] if pi1 >= 0 else empty
                    G2i = G2[pi2] if pi2 >= 0 else empty
                if H is not None:
                    if i < N:
                        Hi = H[i]
                    else:  # the Hessian row of a compound direction
                        Hi = hrow
                        Ha = H[unit[i]]
                        for q in range(N):
                            hrow[q] = Ha[q]
                        z = vz1[i]
                        if z >= 0:
                            Hz = H[z]
                            for q in range(N):
                                hrow[q] -= Hz[q]
                        z = vz2[i]
                        if z >= 0:
                            Hz = H[z]
                            for q in range(N):
                                hrow[q] -= Hz[q]
                jbest = -1
                obj_min = np.inf
                Lg = L[g]
                for k in range(gptr[g], gptr[g + 1]):
                    t = gidx[k]
                    b = Lg - vlow[t]  # Lg + s_t g_t where t can move down, else -inf
                    if b <= 0.0:
                        continue
                    st = sgn[t]
                    ut = unit[t]
                    if kern is not None:
                        hit = 0.0
                        if ia and ut >= 0:
                            hit = yi * y[ut] * Ki[ut]
                        if pi1 >= 0:
                            q = p1[t]
                            if q >= 0:
                                hit += G1i[q] * ig1
                        if pi2 >= 0:
                            q = p2[t]
                            if q >= 0:
                                hit += G2i[q] * ig2
                    if H is not None:
                        if t < N:
                            hit = Hi[t]
                        else:
                            hit = Hi[ut]
                            z = vz1[t]
                            if z >= 0:
                                hit -= Hi[z]
                            z = vz2[t]
                            if z >= 0:
                                hit -= Hi[z]
                    a = hii + hdiag[t] - 2.0 * si * st * hit
                    if a <= TAU:
                        a = TAU
                    val = -(b * b) / a
                    if val < obj_min:
                        obj_min = val
                        jbest = t
                if jbest < 0:
                    continue
                idx[0] = i
                coef[0] = si
                idx[1] = jbest
                coef[1] = -sgn[jbest]
                ln = 2
                vv = 0.5 * (L[g] - U[g])
            else:
                # 2) a circuit across groups (e.g. opposite-label a's balanced by z's: caSMO)
                co = cand - ng
                ln = cln[co]
                if ln == 0 or cV[co] <= 0.0:
                    continue
                _copy_direction(cidx[co], ccoef[co], ln, idx, coef)
                vv = cV[co] / ctot[co]
            rl = _expand(idx, coef, ln, N, unit, vz1, vz2, ridx, rcoef)
            t, gain, klim = _line(ridx, rcoef, rl, x, grad, upper, kern, H)
            if gain > best_gain:
                best_gain, best_v, best_t, best_len, best_lim = gain, vv, t, rl, klim
                _copy_direction(ridx, rcoef, rl, bidx, bcoef)
            if gain > 0.0 and vv > vmax_v:
                vmax_v, vmax_t, vmax_len, vmax_lim = vv, t, rl, klim
                _copy_direction(ridx, rcoef, rl, vidx, vcoef)
        if vmax_len > 0 and best_v < VFRAC * vmax_v:  # the most violating candidate instead
            best_t, best_len, best_lim = vmax_t, vmax_len, vmax_lim
            _copy_direction(vidx, vcoef, vmax_len, bidx, bcoef)
        if best_len == 0:
            return it, 2
        _apply(bidx, bcoef, best_len, best_t, best_lim, x, grad, upper, kern, H, bj, bp, bd, babs)
        it += 1
    return it, 1


@njit(nogil=True)
def smo_loop(x, grad, upper, sgn, hdiag, unit, vz1, vz2, gptr, gidx, circ_g, circ_c, n, m1, y,
             K, p1, p2, S1, S2, G1, G2, ig1, ig2, tol, max_iter):
    """Run moves until the inner violation is <= tol or ``max_iter`` moves were made.

    ``sgn``, ``hdiag`` (Hessian diagonal; reading K's diagonal in the selection loop would miss
    the cache on every entry), ``unit``, ``vz1``, ``vz2``, ``p1``, ``p2`` cover real and compound
    variables. Returns ``(n_moves, code)`` with code 0 (inner tolerance met), 1 (max_iter), 2 (no
    move with positive gain although the inner violation exceeds tol: numerically stalled). The
    choice of the move is described in :func:`_moves`.
    """
    kern = (n, m1, y, K, p1, p2, S1, S2, G1, G2, ig1, ig2)
    return _moves(x, grad, upper, sgn, hdiag, unit, vz1, vz2, gptr, gidx, circ_g, circ_c, kern,
                  None, tol, max_iter)


@njit(nogil=True)
def smo_dense(x, grad, upper, sgn, hdiag, unit, vz1, vz2, gptr, gidx, circ_g, circ_c, H, tol,
              max_iter):
    """SMO moves on a working set with dense Hessian ``H`` over its R real variables.

    Same moves and selection as :func:`smo_loop` (both run :func:`_moves`): real variables are
    ``0..R-1``; compound variables (``R..``) move ``unit[w]`` together with ``-vz1[w]``,
    ``-vz2[w]`` (local indices, -1 for none). Every move reads one row of ``H`` per changed real
    variable.

    Returns ``(n_moves, code)`` as :func:`smo_loop`.
    """
    return _moves(x, grad, upper, sgn, hdiag, unit, vz1, vz2, gptr, gidx, circ_g, circ_c, None, H,
                  tol, max_iter)


# ----------------------------------------------------------------------------------------------
# helpers of the driver
# ----------------------------------------------------------------------------------------------

@njit(nogil=True)
def add_hess_columns(F, d, grad, n, m1, y, K, p1, p2, S1, S2, G1, G2, ig1, ig2):
    """``grad += H[:, F] d`` (one row of K per changed a, one of G_j per changed v_j)."""
    acc = np.zeros(n)
    m1_ = S1.shape[0]
    m2_ = S2.shape[0]
    dv1 = np.zeros(m1_)
    dv2 = np.zeros(m2_)
    any_a = False
    for k in range(F.shape[0]):
        u = F[k]
        dk = d[k]
        if dk == 0.0:
            continue
        if u < n:
            any_a = True
            c = dk * y[u]
            Ku = K[u]
            for q in range(n):
                acc[q] += c * Ku[q]
        if p1[u] >= 0:
            dv1[p1[u]] += dk
        if p2[u] >= 0:
            dv2[p2[u]] += dk
    if any_a:
        for q in range(n):
            grad[q] += y[q] * acc[q]
    for j in range(2):
        mj = m1_ if j == 0 else m2_
        if mj == 0:
            continue
        h = np.zeros(mj)
        for p in range(mj):
            c = dv1[p] if j == 0 else dv2[p]
            if c == 0.0:
                continue
            row = G1[p] if j == 0 else G2[p]
            for l in range(mj):
                h[l] += c * row[l]
        ig = ig1 if j == 0 else ig2
        S = S1 if j == 0 else S2
        off = n if j == 0 else n + m1
        for l in range(mj):
            w = h[l] * ig
            grad[S[l]] += w
            grad[off + l] += w



@njit(nogil=True)
def refresh_hessian(H, F, slots, n, y, K, p1, p2, G1, G2, ig1, ig2):
    """Recompute rows and columns ``slots`` of ``H = H[F][:, F]`` in place (new variables)."""
    m = F.shape[0]
    for s in range(slots.shape[0]):
        k = slots[s]
        u = F[k]
        pu1 = p1[u]
        pu2 = p2[u]
        Hk = H[k]
        for l in range(m):
            w = F[l]
            h = 0.0
            if u < n and w < n:
                h = y[u] * y[w] * K[u, w]
            if pu1 >= 0:
                q = p1[w]
                if q >= 0:
                    h += G1[pu1, q] * ig1
            if pu2 >= 0:
                q = p2[w]
                if q >= 0:
                    h += G2[pu2, q] * ig2
            Hk[l] = h
    if slots.shape[0] == m:
        return
    for l in range(m):  # the columns, written row by row
        Hl = H[l]
        for s in range(slots.shape[0]):
            k = slots[s]
            Hl[k] = H[k, l]


# ----------------------------------------------------------------------------------------------
# where the compiled kernels are cached
# ----------------------------------------------------------------------------------------------

def _cache_outside_the_package(dispatchers):
    """Cache the compiled kernels on disk (numba's ``cache=True``) outside the installed package.

    ``cache=True`` writes next to the source file (``webly/solvers/__pycache__``, inside
    site-packages for an installed webly) when that folder is writable: a run would change the
    installed package, and ``pip uninstall`` would leave those files behind. Here the cache goes
    to ``NUMBA_CACHE_DIR`` when it is set, else to numba's user-wide cache folder
    (``~/.cache/numba`` on Linux), one subfolder per source folder; numba checks each entry
    against its source file (and the machine) before using it. Compiling the kernels that an
    sMIL-PI fit runs takes 5-6 s of CPU (AMD EPYC, numba 0.68), loading them about 0.3 s.
    Without a writable folder the kernels are compiled once per process. A numba whose cache
    classes differ from these gets its own ``cache=True`` behaviour.
    """
    try:
        from numba.core import caching

        def locator(name):  # public names in numba 0.68, underscored in 0.59
            return getattr(caching, name, None) or getattr(caching, "_" + name)

        class _Impl(caching.CompileResultCacheImpl):
            _locator_classes = [locator("UserProvidedCacheLocator"),
                                locator("UserWideCacheLocator")]

        class _Cache(caching.FunctionCache):
            _impl_class = _Impl
    except (ImportError, AttributeError):
        for d in dispatchers:
            d.enable_caching()
        return
    for d in dispatchers:
        try:
            d._cache = _Cache(d.py_func)
        except RuntimeError:  # no writable cache folder: compiled in each process
            pass


_cache_outside_the_package([_expand, _group_bounds, _line, _apply, _copy_direction, _moves,
                            smo_loop, smo_dense, add_hess_columns, refresh_hessian])
