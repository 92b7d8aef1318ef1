import datetime as dt
import math

import numpy as np
import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from skuplan.replenishment import inputs, policies

DECISION_SCHEMA = (
    "sku string, location string, policy_name string, daily_demand double, lead_time_std double, "
    "review_period double, lead_time_days double, protection_days double, "
    "demand_over_lead_time double, demand_over_protection double, "
    "sigma_protection double, ss_method string, target_type string, target_service_level double, "
    "order_cost double, holding_cost_rate double, unit_cost double, pack double, min_order double, "
    "on_hand double, on_order double, backorders double"
)


def _row(sku, **kw):
    base = dict(
        policy_name="sQ", daily_demand=10.0, lead_time_std=1.0, review_period=1.0,
        lead_time_days=4.0, protection_days=5.0, demand_over_lead_time=40.0,
        demand_over_protection=50.0, sigma_protection=math.sqrt(45.0),
        ss_method="normal", target_type="csl", target_service_level=0.95, order_cost=50.0,
        holding_cost_rate=0.25, unit_cost=10.0, pack=12.0, min_order=24.0,
        on_hand=20.0, on_order=10.0, backorders=0.0,
    )  # fmt: skip
    base.update(kw)
    return (sku, "L", *[base[c.split()[0]] for c in DECISION_SCHEMA.split(", ")[2:]])


def _decide(spark, rows, is_review_day=None):
    df = spark.createDataFrame(rows, DECISION_SCHEMA).transform(
        policies.with_reorder_decision, is_review_day=is_review_day
    )
    return {r["sku"]: r for r in df.collect()}


def test_sq_safety_stock_reorder_point_and_order_by_hand(spark):
    got = _decide(spark, [_row("A")])["A"]
    # L = 4, R = 1, sigma_d = 3: sigma_P^2 = 5 * 9 = 45; d = 10, sigma_L = 1: + 100 -> sqrt(145) = 12.04
    sigma_dl = math.sqrt(145.0)
    assert got["sigma_lead_time_demand"] == pytest.approx(sigma_dl)
    assert got["safety_stock"] == pytest.approx(norm.ppf(0.95) * sigma_dl)  # 1.645 * 12.04 = 19.81
    assert got["reorder_point"] == pytest.approx(50 + norm.ppf(0.95) * sigma_dl)  # 69.81
    assert got["eoq"] == pytest.approx(math.sqrt(2 * 3650 * 50 / 2.5))  # 382.1
    assert got["inventory_position"] == 30.0
    # 30 <= 69.81: one lot of 382.1, rounded up to packs of 12 -> 384.
    assert got["order_qty"] == 384.0
    assert got["order_up_to"] == pytest.approx(got["reorder_point"] + got["eoq"])


def test_order_up_to_policy_orders_the_gap_on_review_days_only(spark):
    rows = [
        _row("RS", policy_name="RS", review_period=7.0, sigma_protection=0.0, lead_time_std=0.0,
             demand_over_protection=110.0, pack=6.0, min_order=0.0),
    ]  # fmt: skip
    got = _decide(spark, rows)["RS"]
    # No uncertainty: S = 110; position 30 -> 80, rounded to packs of 6 -> 84.
    assert (got["order_up_to"], got["raw_order_qty"], got["order_qty"]) == (110.0, 80.0, 84.0)
    assert _decide(spark, rows, F.lit(False))["RS"]["order_qty"] == 0.0


def test_min_max_reorder_point_covers_the_lead_time_and_the_undershoot(spark):
    # Demand exactly 10 a day, L = 4, R = 16 (160 a period), lots of 400 (packs of 400 lift
    # the EOQ of 382.1). After an order the position is S = s + 400; the next review sees
    # s + 240 (no order), the one after s + 80 (no order), then s - 80: it orders 80 below
    # s, and that order must cover the lead time's 40: s = 120, not the 200 of L + R.
    common = dict(
        policy_name="minmax", sigma_protection=0.0, lead_time_std=0.0, review_period=16.0,
        protection_days=20.0, demand_over_protection=200.0, pack=400.0, min_order=0.0,
    )  # fmt: skip
    got = _decide(spark, [_row("below", on_hand=100.0, **common), _row("above", on_hand=130.0, **common)])  # fmt: skip
    assert got["below"]["reorder_point"] == pytest.approx(120.0)
    assert got["below"]["order_up_to"] == pytest.approx(520.0)
    # The safety stock: what is left beyond the lead time's demand and the undershoot.
    assert got["below"]["safety_stock"] == pytest.approx(0.0, abs=1e-6)
    # Position 100 + on order 10 = 110 <= s: up to 520 -> 410, two packs; 140 > s: none.
    assert got["below"]["order_qty"] == 800.0
    assert got["above"]["order_qty"] == 0.0


def test_moq_applies_and_is_rounded_to_the_pack(spark):
    # d = 1: EOQ = sqrt(2 * 365 * 50 / 2.5) = 120.8; MOQ 500 -> 504 in packs of 12.
    got = _decide(spark, [_row("B", daily_demand=1.0, min_order=500.0, on_hand=0.0, on_order=0.0)])
    assert got["B"]["order_qty"] == 504.0


def test_fractional_packs_give_exact_quantities(spark):
    # 66 packs of 1.1 are 72.6, where floating point gives 72.60000000000001: the outbox
    # would read that as a change from a plan that said 72.6.
    row = _row("F", daily_demand=0.01, pack=1.1, min_order=3.2, on_hand=0.0, on_order=0.0)
    assert _decide(spark, [row])["F"]["order_qty"] == 72.6


def test_fill_rate_target_solves_the_loss_function(spark):
    row = _row(
        "F",
        target_type="fill_rate",
        target_service_level=0.99,
        lead_time_std=0.0,
        sigma_protection=20.0,
    )
    got = _decide(spark, [row])["F"]
    # EOQ 382.1, sigma 20: G(k) = 0.01 * 382.1 / 20 = 0.191 -> k = 0.5 (G(0.5) = 0.1978, G(0.52) = 0.1917).
    assert 20 * (
        norm.pdf(got["safety_factor"]) - got["safety_factor"] * norm.sf(got["safety_factor"])
    ) == (pytest.approx(0.01 * got["eoq"], rel=1e-6))
    assert got["safety_stock"] == pytest.approx(20 * got["safety_factor"])


@pytest.mark.parametrize(
    ("sku", "kw"),
    [
        (
            "zero_demand",
            dict(daily_demand=0.0, demand_over_protection=0.0, on_hand=0.0, on_order=0.0),
        ),
        ("above_reorder_point", dict(on_hand=500.0)),
    ],
)
def test_no_order(spark, sku, kw):
    assert _decide(spark, [_row(sku, **kw)])[sku]["order_qty"] == 0.0


def test_backorders_lower_the_position(spark):
    got = _decide(spark, [_row("C", on_hand=14.0, on_order=0.0, backorders=3.0)])["C"]
    assert got["inventory_position"] == 11.0


@given(seed=st.integers(0, 10_000))
@settings(max_examples=5, deadline=None)
def test_spark_orders_are_whole_packs_at_least_moq_and_none_without_demand(spark, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        pack = float(rng.choice([1, 6, 12, 24]))
        d = float(rng.choice([0.0, rng.uniform(0.1, 50)]))
        rows.append(
            _row(
                f"S{i}", policy_name=str(rng.choice(policies.POLICIES)), daily_demand=d,
                demand_over_lead_time=d * 4, demand_over_protection=d * 8, sigma_protection=float(rng.uniform(0, 20)),
                pack=pack, min_order=pack * int(rng.integers(0, 5)),
                on_hand=float(rng.uniform(0, 300)), on_order=0.0,
            )
        )  # fmt: skip
    for r in _decide(spark, rows).values():
        if r["daily_demand"] == 0:
            assert r["order_qty"] == 0.0
        if r["order_qty"] > 0:
            assert r["order_qty"] % r["pack"] == 0 and r["order_qty"] >= r["min_order"]
            assert r["order_qty"] >= r["raw_order_qty"]


def test_item_defaults_are_filled_and_flagged(spark):
    items = spark.createDataFrame(
        [
            ("A", "S", 1.0, 1.0, 0.2, None, None, None, None, None, None, None, None, None),
            ("B", "S", 1.0, 1.0, 0.2, 3.0, 0.5, 4.0, 2.0, 0.9, 7.0, 5.0, 0.98, "RS"),
            ("C", None, 1.0, None, 0.2, 0.0, 1.0, 1.0, 1.0, 0.9, None, None, None, "bogus"),
        ],
        "sku string, supplier string, unit_cost double, order_cost double, holding_cost_rate double, "
        "lead_time_mean_days double, lead_time_std_days double, moq double, pack_size double, "
        "service_level double, review_period_days double, stockout_cost double, "
        "fill_rate_target double, policy string",
    )
    got = items.transform(
        inputs.with_item_parameters,
        default_lead_time_days=7.0,
        default_service_level=0.95,
        default_policy="sQ",
        default_review_period_days=1,
    ).select(
        "sku", "lead_time_days", "lead_time_std", "is_default_lead_time", "lead_time_issue",
        "target_type", "target_service_level", "policy_name", "review_period", "pack",
        "min_order", "shortage_cost", "missing_master",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # Nothing but costs: every default, flagged.
            ("A", 7.0, 0.0, True, "missing", "csl", 0.95, "sQ", 1.0, 1.0, 0.0, 0.0, None),
            # Everything given: a fill-rate target wins over the service level.
            ("B", 3.0, 0.5, False, None, "fill_rate", 0.98, "RS", 7.0, 2.0, 4.0, 5.0, None),
            # A lead time of 0 is not one; an unknown policy falls back to the default.
            ("C", 7.0, 0.0, True, "not_positive", "csl", 0.9, "sQ", 1.0, 1.0, 1.0, 0.0,
             "supplier,order_cost"),
        ],
        "sku string, lead_time_days double, lead_time_std double, is_default_lead_time boolean, "
        "lead_time_issue string, target_type string, target_service_level double, "
        "policy_name string, review_period double, pack double, min_order double, "
        "shortage_cost double, missing_master string",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_older_item_master_without_planning_fields(spark):
    items = spark.createDataFrame([("A",)], "sku string")
    df = inputs.with_master_fields(items)
    assert df.columns == ["sku", *[f.name for f in inputs.MASTER_FIELDS]]
    assert dict(df.dtypes)["review_period_days"] == "double"


def test_forecast_over_lead_time_and_protection_with_sigma_from_quantiles(spark):
    z = norm.ppf(0.9)
    # yhat = step, q10/q90 = yhat -/+ 2z, so sigma_day = 4z / (2z) = 2 every day.
    forecasts = spark.createDataFrame(
        [
            ("A", "L", s, float(s), float(s - 2 * z), float(s), float(s + 2 * z))
            for s in range(1, 6)
        ],
        "sku string, location string, step int, yhat double, q10 double, q50 double, q90 double",
    )
    params = spark.createDataFrame(
        [("A", "L", 2.5, 4.0)],
        "sku string, location string, lead_time_days double, review_period double",
    )
    [row] = policies.summarise_forecast(
        forecasts,
        params,
        q_lo="q10",
        q_hi="q90",
        spread_divisor=policies.quantile_spread_sigma(0.1, 0.9),
    ).collect()
    assert row["demand_over_lead_time"] == pytest.approx(1 + 2 + 0.5 * 3)
    assert row["daily_demand"] == pytest.approx(3.0) and row["sigma_daily"] == pytest.approx(2.0)
    # P = 6.5 days, horizon 5: 1+2+3+4+5 = 15 in the horizon + 1.5 days at the mean rate 3 -> 19.5.
    assert row["protection_days"] == 6.5
    assert row["demand_over_protection"] == pytest.approx(19.5)
    # Variance: 5 days * 4 + 1.5 days * 4 = 26.
    assert row["sigma_protection"] == pytest.approx(math.sqrt(26.0))
    assert row["skew_ratio"] == pytest.approx(1.0)


def test_review_days_and_next_review(spark):
    anchor = dt.date(2024, 1, 2)
    df = spark.createDataFrame(
        [("sQ", 1.0), ("RS", 7.0), ("RS", 14.0)], "policy_name string, review_period double"
    )
    # 2024-01-09 is 7 days after the anchor: a weekly review day, not a fortnightly one.
    day = dt.date(2024, 1, 9)
    got = df.select(
        "*",
        policies.is_review_day(day, anchor).alias("is_review_day"),
        policies.next_review_date(day, anchor).alias("next_review_date"),
    )
    expected = spark.createDataFrame(
        [("sQ", 1.0, True, day), ("RS", 7.0, True, day), ("RS", 14.0, False, dt.date(2024, 1, 16))],
        "policy_name string, review_period double, is_review_day boolean, next_review_date date",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_gamma_method_for_intermittent_or_skewed(spark):
    df = spark.createDataFrame(
        [("a", 1.0, "smooth"), ("b", 3.0, "smooth"), ("c", 1.0, "lumpy"), ("d", 1.0, None)],
        "sku string, skew_ratio double, demand_class string",
    )
    got = df.transform(policies.with_safety_stock_method, method="auto", skew_ratio=1.5)
    expected = spark.createDataFrame(
        [
            ("a", 1.0, "smooth", "normal"),
            ("b", 3.0, "smooth", "gamma"),  # skewed
            ("c", 1.0, "lumpy", "gamma"),  # intermittent
            ("d", 1.0, None, "normal"),
        ],
        "sku string, skew_ratio double, demand_class string, ss_method string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_item_location_values_override_the_item_master_field_by_field(spark):
    from skuplan.schemas import ITEMS

    blank = {f.name: None for f in ITEMS.fields}
    items = spark.createDataFrame(
        [
            {
                **blank,
                "sku": "A",
                "supplier": "S1",
                "lead_time_mean_days": 5.0,
                "service_level": 0.95,
                "pack_size": 6.0,
            },
        ],
        ITEMS,
    )
    # Only some fields given: the rest of an item-location row comes from the item.
    local = spark.createDataFrame(
        [("A", "L2", 9.0, None), ("B", "L1", 4.0, 0.9)],
        "sku string, location string, lead_time_mean_days double, service_level double",
    )
    keys = spark.createDataFrame(
        [("A", "L1"), ("A", "L2"), ("B", "L1"), ("C", "L1")], "sku string, location string"
    )
    got = inputs.item_location_master(keys, items, local).select(
        "sku", "location", "supplier", "lead_time_mean_days", "service_level", "pack_size",
        "_has_item",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("A", "L1", "S1", 5.0, 0.95, 6.0, True),
            ("A", "L2", "S1", 9.0, 0.95, 6.0, True),
            # A row in the item-location master alone counts as master data (then checked
            # field by field).
            ("B", "L1", None, 4.0, 0.9, None, True),
            ("C", "L1", None, None, None, None, False),
        ],
        "sku string, location string, supplier string, lead_time_mean_days double, "
        "service_level double, pack_size double, _has_item boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    without = inputs.item_location_master(keys, items).filter("sku = 'A'").collect()
    assert {r.lead_time_mean_days for r in without} == {5.0}
