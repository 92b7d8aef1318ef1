"""Policy levels chosen by simulated cost at the service target."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from scipy.stats import norm

from skuplan.replenishment import cost_policy, policies
from skuplan.replenishment import safety_stock as ss


def _line(sku="A", policy="RS", d=20.0, sd=6.0, target=0.95, shortage=0.0, **kw):
    """A plan line as the formula computes it (normal safety stock, EOQ lots)."""
    L, L_std, R = (
        kw.pop("L", 5.0),
        kw.pop("L_std", 1.0),
        kw.pop("R", 7.0 if policy != "sQ" else 1.0),
    )
    P = L + R
    sigma_p = sd * math.sqrt(P)
    sigma_dl = math.sqrt(sigma_p * sigma_p + d * d * L_std * L_std)
    eoq = max(float(ss.eoq(d * 365, 50.0, 2.5)), 1.0)
    k = float(norm.ppf(target))
    rop = d * P + k * sigma_dl
    line = dict(
        sku=sku, location="L", policy_name=policy, daily_demand=d, sigma_daily=sd,
        lead_time_days=L, lead_time_std=L_std, review_period=R, target_type="csl",
        target_service_level=target, protection_days=P, demand_over_protection=d * P,
        sigma_protection=sigma_p, sigma_lead_time_demand=sigma_dl, is_review_day=True,
        cycle_qty=d * R if policy == "RS" else eoq, safety_factor=k, safety_stock=k * sigma_dl, reorder_point=rop,
        order_up_to=rop if policy == "RS" else rop + eoq, eoq=eoq, pack=1.0, min_order=0.0,
        unit_cost=10.0, holding_cost_rate=0.25, order_cost=50.0, shortage_cost=shortage,
    )  # fmt: skip
    line.update(kw)
    return pd.DataFrame([line])


def _choose(pdf):
    return cost_policy.optimise_series(pdf, seed=7).iloc[0]


def test_without_uncertainty_the_eoq_lot_is_cheapest():
    # No forecast error, fixed lead times: every safety factor gives the same levels, and of
    # the lots 0.5 to 2 x EOQ the EOQ itself costs least: the formula stays.
    got = _choose(_line(policy="sQ", sd=0.0, L_std=0.0))
    assert got["status"] == "formula_cheapest" and got["is_formula"]
    assert got["service"] == 1.0 and got["cost"] == got["formula_cost"]


def test_a_dear_shortage_buys_more_safety_stock_than_the_target_needs():
    # 80% cycle service asked, but a unit short costs as much as the unit: stocking more is
    # cheaper than running short, so the choice holds more than the formula's k = 0.84.
    pdf = _line(target=0.80, shortage=10.0)
    got = _choose(pdf)
    assert got["status"] == "chosen" and not got["is_formula"]
    assert got["safety_factor"] > pdf["safety_factor"].iloc[0]
    assert got["cost"] < got["formula_cost"]
    assert got["service"] >= 0.80 and got["service"] > got["formula_service"]
    # Its levels are the grid's: s = demand over P + k sigma, P of the chosen review period;
    # RS orders up to s.
    P = 5.0 + got["review_period"]
    assert got["review_period"] in (7.0, 14.0, 21.0, 28.0)
    assert got["demand_over_protection"] == pytest.approx(20.0 * P)
    assert got["sigma_lead_time_demand"] == pytest.approx(math.sqrt(36.0 * P + 400.0))
    s = got["demand_over_protection"] + got["safety_factor"] * got["sigma_lead_time_demand"]
    assert got["reorder_point"] == pytest.approx(s) == got["order_up_to"]


def test_dear_orders_review_less_often_and_cheap_ones_keep_the_master_period():
    # Ordering at 500 a time, RS reviewing weekly orders 52 times a year: reviewing every 2-4
    # weeks saves more in orders than the extra cycle and safety stock costs in holding.
    dear = _choose(_line(policy="RS", order_cost=500.0))
    assert dear["status"] == "chosen" and dear["review_period"] > 7.0
    assert dear["cost"] < dear["formula_cost"] and dear["service"] >= 0.95
    # At 1 an order, every extra day of cover held costs more than the orders it saves.
    cheap = _choose(_line(policy="RS", order_cost=1.0))
    assert cheap["review_period"] == 7.0
    # sQ reviews daily: no other period is tried.
    assert cost_policy.review_periods(_line(policy="sQ").iloc[0]) == [1.0]
    assert cost_policy.review_periods(_line(policy="minmax", R=10.0).iloc[0]) == [10.0, 20.0]


def test_the_choice_meets_the_target_at_no_more_cost_than_the_formula():
    for policy in ("sQ", "RS", "minmax"):
        got = _choose(_line(sku=policy, policy=policy, shortage=2.0))
        if got["status"] in ("chosen", "formula_cheapest"):
            assert got["service"] >= 0.95
            assert got["cost"] <= got["formula_cost"]


def test_no_demand_or_too_few_cycles_keep_the_formula():
    assert _choose(_line(d=0.0, sd=0.0))["status"] == "no_demand"
    # Half a unit a week in lots of about 38 weeks: a handful of cycles in half a year.
    slow = _choose(_line(policy="sQ", d=0.07, sd=0.3))
    assert slow["status"] == "few_cycles" and slow["is_formula"]
    assert slow["reorder_point"] == pytest.approx(
        _line(policy="sQ", d=0.07, sd=0.3)["reorder_point"].iloc[0]
    )


def test_spark_and_pandas_agree_and_only_ship_replaces_the_levels(spark):
    pdf = pd.concat([
        _line("A", target=0.80, shortage=10.0),
        _line("B", policy="sQ", sd=0.0, L_std=0.0),
        _line("C", order_cost=500.0),
    ])  # fmt: skip
    df = spark.createDataFrame(pdf)
    # A week after the anchor: a weekly review is due today, a longer one is not.
    review_day = policies.is_review_day(dt.date(2026, 6, 8), dt.date(2026, 6, 1))

    def choose(ship):
        out = df.transform(cost_policy.with_cost_choice, seed=7, ship=ship, is_review_day=review_day)  # fmt: skip
        return {r.sku: r for r in out.collect()}

    kept, shipped = choose(False), choose(True)
    direct = {sku: _choose(pdf[pdf["sku"] == sku]) for sku in "ABC"}
    for sku in "ABC":
        assert kept[sku].cost_status == direct[sku]["status"]
        assert kept[sku].cost_safety_factor == pytest.approx(direct[sku]["safety_factor"])
        assert kept[sku].cost_review_period == direct[sku]["review_period"]
        assert kept[sku].simulated_cost == pytest.approx(direct[sku]["cost"])
        assert kept[sku].policy_parameters == "formula"
        assert kept[sku].reorder_point == pytest.approx(pdf[pdf["sku"] == sku]["reorder_point"].iloc[0])  # fmt: skip
        assert kept[sku].review_period == pdf[pdf["sku"] == sku]["review_period"].iloc[0]
        assert kept[sku].is_review_day
    assert shipped["A"].policy_parameters == "cost"
    assert shipped["A"].reorder_point == pytest.approx(direct["A"]["reorder_point"])
    assert shipped["A"].safety_stock == pytest.approx(
        direct["A"]["reorder_point"] - shipped["A"].demand_over_protection
    )
    # B's choice is the formula: shipping changes nothing.
    assert shipped["B"].policy_parameters == "formula"
    assert shipped["B"].reorder_point == kept["B"].reorder_point
    # C ships a longer review period: its protection period follows, and today is no longer
    # a review day.
    c = shipped["C"]
    assert c.policy_parameters == "cost" and c.review_period == direct["C"]["review_period"] > 7
    assert c.protection_days == 5.0 + c.review_period
    assert c.demand_over_protection == pytest.approx(20.0 * c.protection_days)
    assert c.sigma_protection == pytest.approx(6.0 * math.sqrt(c.protection_days))
    assert c.cycle_qty == pytest.approx(20.0 * c.review_period)
    assert not c.is_review_day
