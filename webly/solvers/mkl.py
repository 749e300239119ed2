"""The closed-form group-weight update of the multiple-kernel learning in MDA-HS and MIL-CPB.

Weights ``mu`` (base kernels x labellings) live in ``{mu >= 0 : sum_t ||mu_{.,t}||_2 <= 1}``
(``"l21"``) or the elastic-net-like ``{(1 - eta) sum_t ||mu_{.,t}||_2 + eta ||mu||_2^2 <= 1}``
(``"elastic-net"``); given ``q = ||w||^2`` per group, :func:`update_group_weights` gives the
minimiser of ``sum q / mu`` over that set (Chen, Duan, Xu CVPR 2013).
"""

import math

import numpy as np

from ..errors import DataError

__all__ = ["update_group_weights", "scale_to_constraint"]


def _constraint(mu, norm, l2_ratio):
    r = np.sqrt((mu ** 2).sum(axis=0))
    if norm == "l21":
        return float(r.sum())
    return float((1.0 - l2_ratio) * r.sum() + l2_ratio * (r ** 2).sum())


def scale_to_constraint(mu, norm="l21", l2_ratio=0.5):
    """Scale ``mu >= 0`` (not all zero) onto the boundary of the weight constraint."""
    mu = np.asarray(mu, dtype=np.float64)
    r = np.sqrt((mu ** 2).sum(axis=0))
    lin = r.sum()
    if lin <= 0:
        raise DataError("mu", "all weights are zero")
    if norm == "l21" or l2_ratio == 0:
        return mu / lin
    # (1-eta) c lin + eta c^2 quad = 1
    quad = (r ** 2).sum()
    A, B = l2_ratio * quad, (1.0 - l2_ratio) * lin
    c = (-B + math.sqrt(B * B + 4 * A)) / (2 * A)
    return mu * c


def update_group_weights(q, norm="l21", l2_ratio=0.5):
    """Closed-form ``argmin_mu sum_{k,t} q_{k,t} / mu_{k,t}`` over the weight constraint.

    Parameters
    ----------
    q : (n_kernels, T) array >= 0
        ``||w_{k,t}||^2``; column t is labelling t (a group), row k a base kernel.
    norm : {"l21", "elastic-net"}
        ``l21``: ``sum_t ||mu_{.,t}||_2 <= 1``, solved by
        ``mu_{k,t} = q_{k,t}^{1/3} s_t^{1/2} / sum_u s_u^{3/2}`` with
        ``s_t = (sum_k q_{k,t}^{2/3})^{1/2}`` (stationarity of the Lagrangian).
        ``elastic-net``: ``(1 - eta) sum_t ||mu_{.,t}||_2 + eta ||mu||_2^2 <= 1``: stationarity
        gives ``mu_{k,t} = q_{k,t}^{1/3} r_t / s_t`` where the group norm ``r_t`` solves
        ``lambda ((1 - eta) r^2 + 2 eta r^3) = s_t^3``; the multiplier ``lambda`` is found by
        bisection so that the constraint is active.
    l2_ratio : float in [0, 1]
        ``eta`` of the elastic-net-like constraint.

    Returns
    -------
    mu : (n_kernels, T) array
    """
    q = np.maximum(np.asarray(q, dtype=np.float64), 0.0)
    if not np.any(q > 0):
        return scale_to_constraint(np.ones_like(q), norm, l2_ratio)
    q13 = np.cbrt(q)
    s = np.sqrt((q13 ** 2).sum(axis=0))
    if norm == "l21" or l2_ratio == 0:
        return q13 * np.sqrt(s) / np.sum(s ** 1.5)
    eta = float(l2_ratio)
    live = s > 0
    s3 = s[live] ** 3

    def radii(lam):
        # lam((1-eta) r^2 + 2 eta r^3) = s^3, increasing in r: vectorised bisection in r
        hi = np.full(s3.shape, np.inf)
        if eta < 1:
            hi = np.sqrt(s3 / (lam * (1 - eta)))
        hi = np.minimum(hi, np.cbrt(s3 / (2 * lam * eta)))
        lo = np.zeros_like(hi)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            big = lam * ((1 - eta) * mid ** 2 + 2 * eta * mid ** 3) > s3
            hi = np.where(big, mid, hi)
            lo = np.where(big, lo, mid)
        return 0.5 * (lo + hi)

    def h(log_lam):
        r = radii(math.exp(log_lam))
        return (1 - eta) * r.sum() + eta * (r ** 2).sum() - 1.0

    lo, hi = -1.0, 1.0
    while h(lo) < 0:
        lo -= 4.0
    while h(hi) > 0:
        hi += 4.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if h(mid) > 0:
            lo = mid
        else:
            hi = mid
    r = radii(math.exp(0.5 * (lo + hi)))
    mu = np.zeros_like(q)
    mu[:, live] = q13[:, live] * (r / s[live])
    return mu
