import math

import pytest
from scipy.stats import norm

from skuplan.replenishment import policy

DECISION_SCHEMA = (
    "sku string, location string, daily_demand double, sigma_daily double, lead_time_days double, "
    "lead_time_std double, demand_over_lead_time double, target_service_level double, "
    "order_cost double, holding_cost_rate double, unit_cost double, pack double, min_order double, "
    "on_hand double, on_order double, backorders double"
)


def _decide(spark, rows):
    df = spark.createDataFrame(rows, DECISION_SCHEMA).transform(policy.with_reorder_decision)
    return {r["sku"]: r for r in df.collect()}


def test_safety_stock_reorder_point_and_order_quantity_by_hand(spark):
    got = _decide(
        spark,
        [
            (
                "A",
                "L",
                10.0,
                3.0,
                4.0,
                1.0,
                40.0,
                0.95,
                50.0,
                0.25,
                10.0,
                12.0,
                24.0,
                20.0,
                10.0,
                0.0,
            )
        ],
    )["A"]
    sigma_dl = math.sqrt(4 * 3**2 + 10**2 * 1**2)
    assert got["sigma_lead_time_demand"] == pytest.approx(sigma_dl)
    assert got["safety_stock"] == pytest.approx(norm.ppf(0.95) * sigma_dl)  # 1.645 * 11.66 = 19.18
    assert got["reorder_point"] == pytest.approx(40 + norm.ppf(0.95) * sigma_dl)
    assert got["eoq"] == pytest.approx(math.sqrt(2 * 3650 * 50 / (0.25 * 10)))  # 382.1
    assert got["inventory_position"] == 30.0
    assert got["order_qty"] == 384.0  # one lot of 382.1, rounded up to packs of 12


def test_moq_applies_and_is_rounded_to_the_pack(spark):
    got = _decide(
        spark,
        [("B", "L", 1.0, 0.0, 2.0, 0.0, 2.0, 0.9, 50.0, 0.25, 10.0, 12.0, 500.0, 0.0, 0.0, 0.0)],
    )["B"]
    assert got["order_qty"] == 504.0


@pytest.mark.parametrize(
    ("sku", "row"),
    [
        ("zero_demand", (0.0, 0.0, 5.0, 1.0, 0.0, 0.95, 50.0, 0.25, 10.0, 6.0, 6.0, 0.0, 0.0, 0.0)),
        (
            "above_reorder_point",
            (2.0, 1.0, 5.0, 0.0, 10.0, 0.95, 50.0, 0.25, 10.0, 6.0, 6.0, 100.0, 0.0, 0.0),
        ),
    ],
)
def test_no_order(spark, sku, row):
    assert _decide(spark, [(sku, "L", *row)])[sku]["order_qty"] == 0.0


def test_backorders_lower_the_position_and_trigger_an_order(spark):
    row = ("C", "L", 2.0, 1.0, 5.0, 0.0, 10.0, 0.95, 50.0, 0.25, 10.0, 1.0, 0.0, 14.0, 0.0, 3.0)
    got = _decide(spark, [row])["C"]
    assert got["inventory_position"] == 11.0
    assert got["order_qty"] > 0


def test_safety_stock_rises_with_service_level(spark):
    rows = [
        (f"S{sl}", "L", 5.0, 2.0, 7.0, 1.0, 35.0, sl, 50.0, 0.25, 10.0, 1.0, 0.0, 0.0, 0.0, 0.0)
        for sl in (0.8, 0.9, 0.95, 0.99)
    ]
    got = _decide(spark, rows)
    ss = [got[f"S{sl}"]["safety_stock"] for sl in (0.8, 0.9, 0.95, 0.99)]
    assert ss == sorted(ss) and ss[0] > 0


def test_item_defaults_are_filled_and_flagged(spark):
    items = spark.createDataFrame(
        [
            ("A", "S", 1.0, 1.0, 0.2, None, None, None, None, None),
            ("B", "S", 1.0, 1.0, 0.2, 3.0, 0.5, 4.0, 2.0, 0.9),
        ],
        "sku string, supplier string, unit_cost double, order_cost double, holding_cost_rate double, "
        "lead_time_mean_days double, lead_time_std_days double, moq double, pack_size double, service_level double",
    )
    got = {
        r["sku"]: r
        for r in policy.with_item_parameters(
            items, default_lead_time_days=7.0, default_service_level=0.95
        ).collect()
    }
    assert (
        got["A"]["lead_time_days"],
        got["A"]["is_default_lead_time"],
        got["A"]["target_service_level"],
    ) == (7.0, True, 0.95)
    assert (got["A"]["pack"], got["A"]["min_order"]) == (1.0, 0.0)
    assert (
        got["B"]["lead_time_days"],
        got["B"]["lead_time_std"],
        got["B"]["is_default_lead_time"],
    ) == (3.0, 0.5, False)


def test_demand_over_a_fractional_lead_time_and_sigma_from_quantiles(spark):
    z = norm.ppf(0.9)
    forecasts = spark.createDataFrame(
        [("A", "L", s, float(s), float(s - 2 * z), float(s + 2 * z)) for s in range(1, 6)],
        "sku string, location string, step int, yhat double, q10 double, q90 double",
    )
    params = spark.createDataFrame([("A", 2.5)], "sku string, lead_time_days double")
    [row] = policy.summarise_forecast_over_lead_time(
        forecasts,
        params,
        q_lo="q10",
        q_hi="q90",
        spread_divisor=policy.quantile_spread_sigma(0.1, 0.9),
    ).collect()
    assert row["demand_over_lead_time"] == pytest.approx(1 + 2 + 0.5 * 3)
    assert row["daily_demand"] == pytest.approx(3.0)
    assert row["sigma_daily"] == pytest.approx(2.0)
