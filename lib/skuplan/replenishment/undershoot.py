"""The reorder point of a periodic (s, S) policy (``minmax``) from the undershoot at the review
that orders.

The textbook (s, S) reorder point covers demand over ``L + R`` from ``s``: the worst case,
where the last review without an order saw the position just above ``s``. On average that
position stood higher, and the policy over-serves its target (a 95% target replays at 98-100%
on stationary demand). Exactly: after an order the position is ``S = s + Q``; it orders again
at the first review where the demand since, summed over whole review periods, reaches ``Q``,
with the position at ``s - U`` (``U``, the undershoot). Everything ordered before has arrived
by the time that order does, so the cycle stocks out when the lead time's demand exceeds
``s - U``: ``s`` covers ``D(L) + U``.

``U`` depends only on the lot in review periods' demand (``q = Q / mu_R``) and the review
period demand's coefficient of variation (``c = sigma_R / mu_R``): ``U = mu_R * u(q, c)``.
:func:`undershoot_table` samples ``u`` once per process on a grid of ``(q, c)`` (review
periods' demand gamma distributed, seeded), keeping quantiles; a series takes the quantiles
interpolated at its ``(q, c)``. ``s`` then solves ``P(D(L) + U > s) = 1 - CSL`` (or the
fill rate's shortage per cycle) over those quantiles, ``D(L)`` normal or gamma as the
plan's safety-stock method says. For ``Q`` small against a period's demand every review orders
and the policy is ``RS`` with ``S = s + Q``; the same computation gives that.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from skuplan.replenishment import safety_stock as ss

# Lots in review periods' demand, and the review period demand's coefficient of variation.
# Past the last lot the undershoot has settled to its long-run (renewal) distribution.
Q_GRID = np.concatenate([np.arange(0.0, 4.0, 0.125), np.arange(4.0, 16.01, 0.5)])
C_GRID = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
N_QUANTILES = 200
N_PATHS = 4000
SEED = 20261205


@functools.cache
def undershoot_table() -> np.ndarray:
    """``u(q, c)``'s quantiles at ``(i + 0.5) / N_QUANTILES``: shape ``(len(Q_GRID),
    len(C_GRID), N_QUANTILES)``, from ``N_PATHS`` seeded cycles per grid point."""
    rng = np.random.default_rng(SEED)
    levels = (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES
    table = np.empty((len(Q_GRID), len(C_GRID), N_QUANTILES))
    for j, c in enumerate(C_GRID):
        for i, q in enumerate(Q_GRID):
            table[i, j] = np.quantile(_sample_undershoot(rng, q, c), levels)
    return table


def _sample_undershoot(rng: np.random.Generator, q: float, c: float) -> np.ndarray:
    """Undershoots of ``N_PATHS`` cycles: the first whole-period sum of gamma(mean 1, cv c)
    demands reaching ``q``, minus ``q``."""
    cumulative = np.zeros(N_PATHS)
    undershoot = np.full(N_PATHS, np.nan)
    open_ = np.arange(N_PATHS)
    while open_.size:
        step = np.ones(open_.size) if c == 0 else rng.gamma(1 / c**2, c**2, open_.size)
        cumulative[open_] += step
        crossed = cumulative[open_] >= q
        undershoot[open_[crossed]] = cumulative[open_[crossed]] - q
        open_ = open_[~crossed]
    return undershoot


def undershoot_quantiles(q, c) -> np.ndarray:
    """``u``'s quantiles at each ``(q, c)`` (arrays of one length ``n``): shape ``(n,
    N_QUANTILES)``, bilinear between the grid's quantile functions. ``c`` is clipped to the
    grid; a lot past the grid's last whole period is taken whole periods back into it,
    which keeps its fraction of a period (all that matters once the lot spans many)."""
    table = undershoot_table()
    q = np.maximum(np.asarray(q, dtype=float), 0.0)
    q = np.where(q > Q_GRID[-1], q - np.floor(q - Q_GRID[-1] + 1), q)
    c = np.clip(np.asarray(c, dtype=float), C_GRID[0], C_GRID[-1])
    i = np.clip(np.searchsorted(Q_GRID, q, side="right") - 1, 0, len(Q_GRID) - 2)
    j = np.clip(np.searchsorted(C_GRID, c, side="right") - 1, 0, len(C_GRID) - 2)
    wq = ((q - Q_GRID[i]) / (Q_GRID[i + 1] - Q_GRID[i]))[:, None]
    wc = ((c - C_GRID[j]) / (C_GRID[j + 1] - C_GRID[j]))[:, None]
    lower = (1 - wq) * table[i, j] + wq * table[i + 1, j]
    # Without variation the undershoot jumps at every whole period (a saw tooth the grid
    # cannot interpolate): it is exact there.
    exact = (np.maximum(np.ceil(q), 1.0) - q)[:, None]
    lower = np.where((j == 0)[:, None], exact, lower)
    return (1 - wc) * lower + wc * ((1 - wq) * table[i, j + 1] + wq * table[i + 1, j + 1])


def minmax_reorder_point(
    mean_lead, sigma_lead, mean_review, sigma_review, lot, target_type, target, method
) -> tuple[np.ndarray, np.ndarray]:
    """``s`` of a periodic (s, S = s + lot) policy for its target, and the mean undershoot,
    element-wise.

    Args:
        mean_lead, sigma_lead: demand over the lead time and its error (lead-time
            variability included).
        mean_review, sigma_review: demand over one review period and its error.
        lot: ``S - s``.
        target_type, target: ``csl`` (the chance a cycle does not stock out) or
            ``fill_rate`` (the share of demand served from stock; a cycle's demand is the
            order it brings, ``lot + U``).
        method: ``normal`` or ``gamma``: the lead time's demand distribution.

    Returns:
        ``s`` and ``E[U]``; both 0 where the review period sees no demand.
    """
    values = (mean_lead, sigma_lead, mean_review, sigma_review, lot, target)
    mean_lead, sigma_lead, mean_review, sigma_review, lot, target = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in values)
    )
    target_type, method = np.broadcast_to(target_type, target.shape), np.broadcast_to(method, target.shape)  # fmt: skip
    has_demand = mean_review > 0
    a = np.where(has_demand, mean_review, 1.0)
    u = a[:, None] * undershoot_quantiles(lot / a, sigma_review / a)
    is_fill = np.asarray(target_type == ss.TARGET_FILL_RATE)
    is_gamma = np.asarray(method == ss.METHOD_GAMMA) & (mean_lead > 0) & (sigma_lead > 0)
    mu = mean_lead[:, None]
    sd = np.maximum(sigma_lead, 1e-9 * np.maximum(mean_review, 1.0))[:, None]
    shape, scale = (mu / sd) ** 2, sd**2 / np.maximum(mu, 1e-12)
    gamma_rows = is_gamma[:, None]

    def shortfall(s):  # per row: P(stockout) - allowed, or expected shortage - allowed
        x = s[:, None] - u  # stock left for the lead time's demand
        if not is_fill.any():
            return _tail(x, mu, sd, shape, scale, gamma_rows).mean(axis=1) - (1 - target)
        loss = _loss(x, mu, sd, shape, scale, gamma_rows).mean(axis=1)
        allowed = (1 - target) * (lot + u.mean(axis=1))
        tail = _tail(x, mu, sd, shape, scale, gamma_rows).mean(axis=1) - (1 - target)
        return np.where(is_fill, loss - allowed, tail)

    # Bisection between bounds that surely bracket the answer (shortfall falls with s).
    lo = -u[:, -1] - 1.0
    hi = mean_lead + u[:, -1] + (ss.K_MAX + 1) * sd[:, 0] + 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        too_low = shortfall(mid) > 0
        lo, hi = np.where(too_low, mid, lo), np.where(too_low, hi, mid)
    return np.where(has_demand, hi, 0.0), np.where(has_demand, u.mean(axis=1), 0.0)


def _tail(x, mu, sd, shape, scale, gamma_rows) -> np.ndarray:
    """``P(D(L) > x)``."""
    normal = special.ndtr((mu - x) / sd)
    if not gamma_rows.any():
        return normal
    skewed = special.gammaincc(shape, np.maximum(x, 0.0) / scale)
    return np.where(gamma_rows, skewed, normal)


def _loss(x, mu, sd, shape, scale, gamma_rows) -> np.ndarray:
    """``E[(D(L) - x)+]``."""
    normal = sd * ss.normal_loss((x - mu) / sd)
    if not gamma_rows.any():
        return normal
    xp = np.maximum(x, 0.0)
    skewed = mu * special.gammaincc(shape + 1, xp / scale) - xp * special.gammaincc(
        shape, xp / scale
    )
    skewed = skewed + np.maximum(
        -x, 0.0
    )  # below zero stock every unit of D(L) is short, and -x more
    return np.where(gamma_rows, skewed, normal)


def minmax_levels(
    demand_over_lead_time, demand_over_review, sigma_protection, lead_time_days, review_period,
    daily_demand, lead_time_std, lot, target_type, target, method,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`minmax_reorder_point` from the plan's protection-period figures: the forecast
    error over ``P = L + R`` splits into the lead time's and the review period's in
    proportion to their days (independent daily errors), and lead-time variability
    (``d^2 * sigma_L^2``) goes to the lead time's."""
    L, R = (np.asarray(x, dtype=float) for x in (lead_time_days, review_period))
    var_p = np.asarray(sigma_protection, dtype=float) ** 2
    share_lead = L / np.maximum(L + R, 1e-9)
    sigma_lead = ss.sigma_over_protection(np.sqrt(var_p * share_lead), daily_demand, lead_time_std)
    sigma_review = np.sqrt(var_p * (1 - share_lead))
    return minmax_reorder_point(
        demand_over_lead_time, sigma_lead, demand_over_review, sigma_review, lot, target_type,
        target, method,
    )  # fmt: skip
