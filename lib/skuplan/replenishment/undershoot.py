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
periods' demand gamma distributed, or for ``c`` above ``LOT_CV`` a lot in some periods and
nothing in the others: :func:`_period_demand`; seeded), keeping quantiles; a series takes
the quantiles interpolated at its ``(q, c)``. ``s`` then solves ``P(D(L) + U > s) = 1 -
CSL`` (or the fill rate's shortage per cycle) over those quantiles, ``D(L)`` normal or gamma
as the plan's safety-stock method says. For ``Q`` small against a period's demand every
review orders and the policy is ``RS`` with ``S = s + Q``; the same computation gives that.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from skuplan.replenishment import safety_stock as ss

# Lots in review periods' demand, and the review period demand's coefficient of variation
# (up to a lot about every 30 periods: a weekly DC whose stores order a few times a year).
# Past the last lot the undershoot has settled to its long-run (renewal) distribution.
Q_GRID = np.concatenate([np.arange(0.0, 4.0, 0.125), np.arange(4.0, 16.01, 0.5)])
C_GRID = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
N_QUANTILES = 200
N_PATHS = 8000
SEED = 20261205
# Above this coefficient of variation a review period's demand is a lot or nothing (a DC's
# stores' orders, a slow item's sales), the lot's own variation this. A gamma varying as
# much as a DC's stores' orders (about 2: shape 0.25) has a tail no lot stream has, and
# over-served them (98.6% for 95%).
LOT_CV = 0.5


@functools.cache
def undershoot_table() -> np.ndarray:
    """``u(q, c)``'s quantiles at ``(i + 0.5) / N_QUANTILES``: shape ``(len(Q_GRID),
    len(C_GRID), N_QUANTILES)``, from ``N_PATHS`` seeded cycles per ``c``. Every ``q`` of a
    ``c`` reads the same paths, so the quantiles move smoothly along ``q`` (independent
    samples per grid point made a series' reorder point jitter as its forecast moved)."""
    levels = (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES
    table = np.empty((len(Q_GRID), len(C_GRID), N_QUANTILES))
    for j, c in enumerate(C_GRID):
        cumulative = _demand_paths(np.random.default_rng([SEED, j]), c)
        rows = np.arange(N_PATHS)
        for i, q in enumerate(Q_GRID):
            first = np.argmax(cumulative >= q, axis=1)  # the review that orders
            table[i, j] = np.quantile(cumulative[rows, first] - q, levels)
    return table


def _demand_paths(rng: np.random.Generator, c: float) -> np.ndarray:
    """``(N_PATHS, periods)`` cumulative demand over whole review periods (mean 1,
    coefficient of variation ``c``: :func:`_period_demand`), long enough for every path to
    pass the grid's last lot."""
    cumulative = np.zeros((N_PATHS, 0))
    while not cumulative.size or cumulative[:, -1].min() < Q_GRID[-1]:
        steps = _period_demand(rng, c, (N_PATHS, 32))
        start = cumulative[:, -1:] if cumulative.size else 0.0
        cumulative = np.hstack([cumulative, start + np.cumsum(steps, axis=1)])
    return cumulative


def _period_demand(rng: np.random.Generator, c: float, size) -> np.ndarray:
    """Review periods' demand, mean 1 and coefficient of variation ``c``: gamma up to
    ``LOT_CV``; above it, a lot in a share ``(1 + LOT_CV^2) / (1 + c^2)`` of the periods
    (none in the others), gamma with coefficient of variation ``LOT_CV``."""
    if c == 0:
        return np.ones(size)
    if c <= LOT_CV:
        return rng.gamma(1 / c**2, c**2, size)
    share = (1 + LOT_CV**2) / (1 + c**2)
    lots = rng.gamma(1 / LOT_CV**2, LOT_CV**2 / share, size)
    return np.where(rng.random(size) < share, lots, 0.0)


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
    sd = np.maximum(sigma_lead, 1e-9 * np.maximum(mean_review, 1.0))
    is_fill = np.asarray(target_type == ss.TARGET_FILL_RATE)
    is_gamma = np.asarray(method == ss.METHOD_GAMMA) & (mean_lead > 0) & (sigma_lead > 0)
    # Allowed per cycle: the chance of a stockout, or the shortage (a cycle's demand is the
    # order it brings, lot + U).
    allowed = np.where(is_fill, (1 - target) * (lot + u.mean(axis=1)), 1 - target)
    s = np.zeros(len(target))
    for fill in (False, True):
        for skewed in (False, True):
            rows = (is_fill == fill) & (is_gamma == skewed)
            if rows.any():
                demand = _LeadTimeDemand(mean_lead[rows], sd[rows], skewed)
                s[rows] = _smallest_level(demand, fill, u[rows], allowed[rows])
    return np.where(has_demand, s, 0.0), np.where(has_demand, u.mean(axis=1), 0.0)


def _smallest_level(demand, fill: bool, u: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Per row, the smallest ``s`` whose stockout chance (or shortage, ``fill``) over the
    undershoot quantiles ``u``, ``mean_j measure(s - u_j)``, is at most ``allowed``: by
    bisection between bounds that surely bracket it (the measure falls as ``s`` rises)."""
    measure = demand.loss if fill else demand.tail
    lo = -u[:, -1] - 1.0
    hi = np.maximum(demand.upper_bound(), 0.0) + u[:, -1] + 1.0
    for _ in range(32):  # the bracket / 2^32: far below a unit for any level below 10^6
        mid = (lo + hi) / 2
        too_low = measure(mid[:, None] - u).mean(axis=1) > allowed
        lo, hi = np.where(too_low, mid, lo), np.where(too_low, hi, mid)
    return hi


class _LeadTimeDemand:
    """The lead time's demand ``D``, normal or gamma with mean ``mu`` and deviation ``sd``
    (one per row); ``x`` is ``(rows, quantiles)``."""

    def __init__(self, mu: np.ndarray, sd: np.ndarray, skewed: bool):
        self.mu, self.sd, self.skewed = mu[:, None], sd[:, None], skewed
        self.shape = (self.mu / self.sd) ** 2
        self.scale = self.sd**2 / np.maximum(self.mu, 1e-12)

    def upper_bound(self) -> np.ndarray:
        """A level ``D`` stays below but with negligible chance."""
        return (self.mu + (ss.K_MAX + 4) * self.sd)[:, 0]

    def tail(self, x: np.ndarray) -> np.ndarray:
        """``P(D > x)``."""
        if self.skewed:
            return special.gammaincc(self.shape, np.maximum(x, 0.0) / self.scale)
        return special.ndtr((self.mu - x) / self.sd)

    def loss(self, x: np.ndarray) -> np.ndarray:
        """``E[(D - x)+]``."""
        if self.skewed:
            xp = np.maximum(x, 0.0)
            above = self.mu * special.gammaincc(self.shape + 1, xp / self.scale)
            # Below zero stock every unit of D is short, and -x more.
            return above - xp * special.gammaincc(self.shape, xp / self.scale) + (xp - x)
        z = (x - self.mu) / self.sd
        return self.sd * (np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) - z * special.ndtr(-z))


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


def reorder_points_along(
    daily_demand, lead_time_days, review_period, sigma_protection, lead_time_std, lot_of,
    target_type, target, method,
) -> np.ndarray:  # fmt: skip
    """:func:`minmax_levels`' ``s`` for each day of a daily forecast (one series: the other
    inputs are numbers; ``lot_of`` gives the lot of a daily demand), 0 on days without
    demand. ``s`` moves smoothly with the forecast: it is solved at 17 quantiles of the
    forecast and 16 evenly spaced values over its range and interpolated (solved per day it
    cost 30-250 ms for a half-year replay)."""
    f = np.asarray(daily_demand, dtype=float)
    positive = f[f > 0]
    if not positive.size:
        return np.zeros_like(f)
    at = np.unique(
        np.concatenate(
            [
                np.quantile(positive, np.linspace(0, 1, 17)),
                np.linspace(positive.min(), positive.max(), 16),
            ]
        )
    )
    s, _ = minmax_levels(
        at * lead_time_days, at * review_period, sigma_protection, lead_time_days,
        review_period, at, lead_time_std, lot_of(at), target_type, target, method,
    )  # fmt: skip
    return np.where(f > 0, np.interp(f, at, s), 0.0)
