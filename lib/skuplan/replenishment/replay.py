"""The day-by-day inventory replay behind every policy check: many independent runs at once,
one per row, each with its own demand, lead times and policy levels.

The policy simulation replays one series' shipped policy on its recent sales (one run per
variant of the policy); the cost optimisation replays every candidate on demand paths sampled
from the forecast (one run per candidate and path). Both step through the same day:

Day timeline (the plan's convention): receipts due on day t arrive at its start, the policy
reviews the position (inventory position = net stock + on order) with the plan's own order
rule (:func:`raw_order`, rounded to packs and MOQ), then day t's demand is served
from stock or backordered. An order placed on day t with lead time L arrives at the start of
day t + L, so L days of demand are exposed. Runs start with net stock at the first day's
order-up-to level and nothing on order.

Achieved cycle service level: a cycle runs from one receipt to the next; it stocked out if
net inventory was below zero just before the next receipt. The first cycle (which starts
from the initial stock, not from a receipt) is not counted. Fill rate: the share of demand
served from stock on the day it occurs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from skuplan.replenishment import safety_stock as ss
from skuplan.replenishment.policies import POLICY_MINMAX, POLICY_RS, POLICY_SQ


def series_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the names (e.g. a series' sku and location): the
    same draws in every process (crc32, not hash(): Python salts str hashes per process, and
    executors are processes)."""
    return np.random.default_rng(seed * 1_000_003 + zlib.crc32("|".join(names).encode()))


def lead_times(rng: np.random.Generator, mean: float, std: float, shape) -> np.ndarray:
    """Whole lead times drawn from N(mean, std), rounded, at least one day."""
    return np.maximum(np.rint(rng.normal(mean, std, shape)), 1).astype(int)


def raw_order(policy: str, position, reorder_point, order_up_to, lot) -> np.ndarray:
    """A review's order before rounding to packs (numbers or arrays, broadcast): the rule
    :func:`.policies.with_order` applies to every series at once, for code that steps through days
    (the inventory replay, the supplier signal's planned orders).

    ``sQ`` orders whole lots of ``lot`` (EOQ) once the position is at or below the reorder
    point, enough to lift it above; ``RS`` orders up to ``order_up_to`` when below it;
    ``minmax`` orders up to ``order_up_to`` once at or below the reorder point.
    """
    position, reorder_point, order_up_to = (np.asarray(x, dtype=float) for x in (position, reorder_point, order_up_to))  # fmt: skip
    due = orders_due(policy, position, reorder_point, order_up_to)
    if policy == POLICY_SQ:
        return np.where(due, (np.floor((reorder_point - position) / lot) + 1) * lot, 0.0)
    return np.where(due, order_up_to - position, 0.0)


def orders_due(policy: str, position, reorder_point, order_up_to) -> np.ndarray:
    """Where a review orders (:func:`raw_order`'s condition): ``RS`` below the order-up-to
    level, ``sQ`` and ``minmax`` at or below the reorder point."""
    if policy == POLICY_RS:
        return position < order_up_to
    if policy in (POLICY_SQ, POLICY_MINMAX):
        return position <= reorder_point
    raise ValueError(f"unknown policy {policy!r}")


@dataclass(frozen=True)
class Levels:
    """A policy's levels per run and day (arrays broadcastable to ``(runs, days)``)."""

    reorder_point: np.ndarray
    order_up_to: np.ndarray
    lot: np.ndarray  # the lot sQ orders in multiples of (EOQ)
    pack: float
    moq: float


@dataclass(frozen=True)
class Totals:
    """Per run (arrays of shape ``(runs,)``)."""

    cycles: np.ndarray
    stockout_cycles: np.ndarray
    orders: np.ndarray
    filled: np.ndarray
    backordered: np.ndarray
    on_hand_days: np.ndarray  # on-hand units summed over the days
    placed: np.ndarray | None = None  # (runs, days): units ordered each day, on request


def replay(
    policy: str,
    demand: np.ndarray,
    can_order: np.ndarray,
    review: np.ndarray,
    levels: Levels,
    leads: np.ndarray,
    *,
    keep_orders: bool = False,
) -> Totals:
    """Step every run through its days (see the module docstring).

    Args:
        policy: ``sQ``, ``RS`` or ``minmax`` (one for all runs).
        demand: ``(runs, days)`` demand per day (laid out day-major, the transpose of a
            C-ordered ``(days, runs)``, it is read without a copy; so are ``leads``).
        can_order: broadcastable to ``(runs, days)``: false where the policy sees no forecast
            demand (it never orders then).
        review: broadcastable to ``(runs, days)``: the review days (one schedule for all
            runs, or one per run).
        levels: the levels the reviews apply.
        leads: ``(runs, days)`` whole lead times (>= 1) of an order placed that day.
        keep_orders: also keep each day's orders (``Totals.placed``: what a DC's stores ask
            of it); off for the cost search's thousands of runs.
    """
    runs, days = demand.shape
    # Day-major views and copies: each day's values of all runs are contiguous in memory. The
    # day's receipts and orders touch few runs: they are computed on those runs only.
    by_day = lambda x: np.broadcast_to(x, (runs, days)).T  # noqa: E731
    rop, up_to, lot = (by_day(x) for x in (levels.reorder_point, levels.order_up_to, levels.lot))
    can_order, review = by_day(can_order), by_day(review)
    demand, leads = np.ascontiguousarray(demand.T, float), np.ascontiguousarray(leads.T)
    arrivals = np.zeros((days + int(leads.max()) + 1, runs))
    net = up_to[0].astype(float)
    on_order, seen = np.zeros(runs), np.zeros(runs, bool)
    cycles, stockouts, orders = (np.zeros(runs, int) for _ in range(3))
    filled, backordered, on_hand_days, buf = (np.zeros(runs) for _ in range(4))
    placed = np.zeros((days, runs)).T if keep_orders else None  # day-major, like demand
    for t in range(days):
        _receive(arrivals[t], net, on_order, seen, cycles, stockouts)
        if review[t].any():
            position = net + on_order
            due = np.flatnonzero(review[t] & can_order[t] & orders_due(policy, position, rop[t], up_to[t]))  # fmt: skip
            if due.size:
                raw = raw_order(policy, position[due], rop[t, due], up_to[t, due], lot[t, due])
                qty = ss.round_order(raw, levels.pack, levels.moq)
                arrivals[t + leads[t, due], due] += qty
                on_order[due] += qty
                orders[due] += qty > 0
                if placed is not None:
                    placed[due, t] = qty
        day = demand[t]
        np.minimum(day, np.maximum(net, 0.0, out=buf), out=buf)  # served
        filled += buf
        backordered += np.subtract(day, buf, out=buf)
        net -= day
        on_hand_days += np.maximum(net, 0.0, out=buf)
    return Totals(cycles, stockouts, orders, filled, backordered, on_hand_days, placed)


def _receive(arriving_today, net, on_order, seen, cycles, stockouts) -> None:
    """The day's receipts, in place: each ends a cycle (counted from the second receipt on,
    stocked out if net stock was below zero just before) and joins net stock."""
    got = np.flatnonzero(arriving_today > 0)
    if got.size:
        arriving, was = arriving_today[got], seen[got]
        cycles[got] += was
        stockouts[got] += was & (net[got] < 0)
        seen[got] = True
        net[got] += arriving
        on_order[got] -= arriving
