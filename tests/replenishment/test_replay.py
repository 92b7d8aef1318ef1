"""The vectorised inventory replay against the day timeline of its docstring, stepped one run
and one day at a time with plain numbers."""

import math

import numpy as np
import pytest

from skuplan.replenishment import replay


def _one_run(policy, demand, can_order, review, rop, up_to, lot, pack, moq, leads):
    """One run stepped by hand: receipts at the day's start, then the review, then demand."""
    days = len(demand)
    arrivals = [0.0] * (days + max(leads) + 1)
    net, on_order, seen = float(up_to[0]), 0.0, False
    cycles = stockouts = orders = 0
    filled = backordered = on_hand = 0.0
    for t in range(days):
        if arrivals[t] > 0:
            if seen:
                cycles += 1
                stockouts += net < 0
            seen = True
            net += arrivals[t]
            on_order -= arrivals[t]
        position = net + on_order
        qty = 0.0
        if review[t] and can_order[t]:
            if policy == "sQ" and position <= rop[t]:
                qty = (math.floor((rop[t] - position) / lot[t]) + 1) * lot[t]
            elif position < up_to[t] if policy == "RS" else position <= rop[t]:  # RS, minmax
                qty = up_to[t] - position
        if qty > 0:
            qty = math.ceil(max(qty, moq) / pack - 1e-9) * pack
            arrivals[t + leads[t]] += qty
            on_order += qty
            orders += 1
        served = min(demand[t], max(net, 0.0))
        filled += served
        backordered += demand[t] - served
        net -= demand[t]
        on_hand += max(net, 0.0)
    return cycles, stockouts, orders, filled, backordered, on_hand


@pytest.mark.parametrize("policy", ["sQ", "RS", "minmax"])
@pytest.mark.parametrize("day_major", [False, True])
def test_every_run_follows_the_day_timeline(policy, day_major):
    rng = np.random.default_rng(3)
    runs, days = 24, 60
    demand = np.rint(rng.gamma(0.7, 4.0, (runs, days))) * (rng.random((runs, days)) > 0.3)
    leads = rng.integers(1, 9, (runs, days))
    rop = (rng.integers(0, 40, (runs, 1)) + np.arange(days) // 12).astype(
        float
    )  # levels move by day
    up_to = rop + rng.integers(1, 30, (runs, 1))
    lot = np.broadcast_to(rng.uniform(2.0, 20.0, (runs, 1)), (runs, days))
    review = np.arange(days) % rng.integers(1, 8, (runs, 1)) == 0  # one schedule per run
    can_order = rng.random((runs, days)) > 0.1
    if day_major:  # the layout callers may build for speed: the same results
        demand, leads = np.asfortranarray(demand), np.asfortranarray(leads)
    levels = replay.Levels(rop, up_to, lot, 3.0, 5.0)

    got = replay.replay(policy, demand, can_order, review, levels, leads)

    for i in range(runs):
        want = _one_run(policy, demand[i], can_order[i], review[i], rop[i], up_to[i], lot[i],
                        3.0, 5.0, leads[i])  # fmt: skip
        have = (got.cycles[i], got.stockout_cycles[i], got.orders[i], got.filled[i],
                got.backordered[i], got.on_hand_days[i])  # fmt: skip
        assert have[:3] == want[:3], i
        assert have[3:] == pytest.approx(want[3:], rel=1e-12, abs=1e-9), i
    assert got.orders.sum() > 0 and got.stockout_cycles.sum() > 0 and got.cycles.sum() > 0
