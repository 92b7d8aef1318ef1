import datetime as dt

import numpy as np
import pandas as pd
import pytest

from skuplan.replenishment import simulation

RUN_DATE = dt.date(2026, 6, 30)
ANCHOR = dt.date(2024, 1, 2)
PARAMS = dict(
    policy_name="sQ", lead_time_days=3.0, lead_time_std=0.0, review_period=1.0, target_type="csl",
    target_service_level=0.95, pack=1.0, min_order=0.0, unit_cost=10.0, order_cost=50.0,
    holding_cost_rate=0.25, shortage_cost=5.0,
)  # fmt: skip


def _series(qty, **params):
    days = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=len(qty))
    return pd.DataFrame(
        {"sku": "A", "location": "L", "date": days.date, "qty": qty, **{**PARAMS, **params}}
    )


def _sim(pdf, **kw):
    args = dict(run_date=RUN_DATE, weeks=8, warmup_days=84, window=28, seed=1, anchor_date=ANCHOR)
    return simulation.simulate_series(pdf, **{**args, **kw}).iloc[0]


def test_constant_demand_never_stocks_out_and_costs_add_up():
    got = _sim(_series(np.full(140, 5.0)))
    # No forecast error: sigma 0, s = 5 * (3 + 1) = 20, EOQ = sqrt(2 * 1825 * 50 / 2.5) = 270.2.
    assert got["status"] == "ok" and got["sigma_protection"] == 0.0
    assert got["achieved_fill_rate"] == 1.0 and got["stockout_cycles"] == 0
    assert got["demand"] == 56 * 5.0
    assert got["total_cost"] == pytest.approx(
        got["holding_cost"] + got["ordering_cost"] + got["shortage_cost"]
    )
    assert got["ordering_cost"] == got["orders"] * 50.0


def test_zero_demand_places_no_order():
    got = _sim(_series(np.zeros(140)))
    assert got["status"] == "no_demand" and pd.isna(got["orders"])


def test_short_history_is_reported_not_simulated():
    assert _sim(_series(np.full(60, 3.0)))["status"] == "short_history"


def test_seeded_and_near_target_on_poisson_demand():
    rng = np.random.default_rng(3)
    pdf = _series(
        rng.poisson(20, 600).astype(float), policy_name="RS", review_period=7.0, lead_time_std=1.0
    )
    a = _sim(pdf, weeks=52, warmup_days=180)
    b = _sim(pdf, weeks=52, warmup_days=180)
    assert a.equals(b)
    # 52 weekly cycles on stationary demand: the achieved CSL is near 95% (binomial sd ~3 pp).
    assert a["cycles"] >= 45
    assert 0.85 <= a["achieved_csl"] <= 1.0


def test_a_failing_series_is_reported_with_its_error():
    got = _sim(_series(np.full(140, 5.0), policy_name="sQ", pack=None))
    assert got["status"] == "failed" and "TypeError" in got["error"]
