"""The DC network on small frames: the master's lanes, a DC's dependent demand, the fair-share
allocation and a lane's lead time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from skuplan.errors import InputError
from skuplan.replenishment import inputs, network, policies

RUN = dt.date(2026, 6, 30)
LOCATIONS = (
    "location string, region string, location_type string, supplied_by string, "
    "lane_lead_time_days double, lane_lead_time_std_days double"
)


def _locations(spark, rows):
    return spark.createDataFrame(rows, LOCATIONS)


def test_lanes_list_the_stores_a_dc_supplies(spark):
    rows = [
        ("S1", "R1", "store", "DC1", 2.0, 0.5),
        ("S2", "R1", None, "DC1", None, None),  # a null type is a store
        ("S3", "R1", "store", None, None, None),  # supplied directly
        ("DC1", "R1", "dc", None, None, None),
    ]
    got = network.lanes(_locations(spark, rows)).orderBy("location").collect()
    assert [tuple(r) for r in got] == [("S1", "DC1", 2.0, 0.5), ("S2", "DC1", None, None)]


def test_a_master_without_dcs_plans_every_location_on_its_own(spark):
    assert network.lanes(None) is None
    assert (
        network.lanes(spark.createDataFrame([("S1", "R1")], "location string, region string"))
        is None
    )
    assert network.lanes(_locations(spark, [("S1", "R1", "store", None, None, None)])) is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [("S1", "R1", "shop", None, None, None)],
            "location_type must be store or dc; not so for S1",
        ),
        (
            [("S1", "R1", "store", "S2", None, None), ("S2", "R1", "store", None, None, None)],
            "supplied_by must name a location of type dc; not so for S1",
        ),
        ([("S1", "R1", "store", "DC9", None, None)], "not so for S1"),
        ([("DC2", "R1", "dc", "DC1", None, None)], "supplied_by is set for DC DC2"),
        (
            [("S1", "R1", "store", "DC1", 1.0, None), ("S1", "R1", "store", None, None, None)],
            "one row per location; more than one for S1",
        ),
    ],
)
def test_a_network_the_plan_cannot_follow_is_refused_in_one_line(spark, rows, message):
    rows = [*rows, ("DC1", "R1", "dc", None, None, None)]
    with pytest.raises(InputError, match=message):
        network.lanes(_locations(spark, rows))


FORECAST = "sku string, location string, date date, step int, yhat double, q10 double, q90 double"
SPREAD = policies.quantile_spread_sigma(0.1, 0.9)


def _day(step):
    return RUN + dt.timedelta(days=step - 1)


def test_a_dcs_demand_is_its_stores_planned_orders_at_their_forecast_rate(spark):
    lanes_df = network.lanes(
        _locations(
            spark,
            [("A", "R", "store", "DC", 1.0, 0.0), ("B", "R", "store", "DC", 2.0, 0.0),
             ("C", "R", "store", None, None, None), ("DC", "R", "dc", None, None, None)],
        )
    )  # fmt: skip
    # A sells 2 a day (sigma 1), B 3 (sigma 2), over 8 days; C is supplied directly.
    sigma_a, sigma_b = 1.0, 2.0
    forecasts = [
        (s, loc, _day(t), t, rate, rate - sig * SPREAD / 2, rate + sig * SPREAD / 2)
        for t in range(1, 9)
        for s, loc, rate, sig in (
            ("X", "A", 2.0, sigma_a),
            ("X", "B", 3.0, sigma_b),
            ("X", "C", 9.0, 1.0),
        )
    ]
    forecasts_df = spark.createDataFrame(forecasts, FORECAST)
    orders_df = spark.createDataFrame(
        [
            ("X", "A", _day(1), 10.0),
            ("X", "B", _day(3), 20.0),
            ("X", "A", _day(8), 10.0),
            ("X", "C", _day(2), 99.0),
        ],
        "sku string, location string, order_date date, order_qty double",
    )
    own_df = spark.createDataFrame([], FORECAST)
    got = (
        network.dependent_demand(
            orders_df, forecasts_df, own_df, lanes_df, q_lo="q10", q_hi="q90", spread_divisor=SPREAD
        )
        .orderBy("step")
        .toPandas()
    )

    assert set(got["location"]) == {"DC"} and list(got["step"]) == list(range(1, 9))
    assert list(got["yhat"]) == [10.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0, 10.0]
    assert list(got["q50"]) == list(got["yhat"])
    assert np.allclose(got["demand_rate"], 5.0)
    # Variance per day: the stores' (1 + 4) plus the lumpiness of the orders' 7-day sums
    # (days 1-7: 30, days 2-8: 30: none here).
    sigma = (got["q90"] - got["q10"]) / SPREAD
    assert np.allclose(sigma, np.sqrt(sigma_a**2 + sigma_b**2))

    # Orders lumpier week to week: days 1-7 hold 10, days 2-8 hold 40.
    lumpy_df = orders_df.union(spark.createDataFrame([("X", "B", _day(8), 30.0)], orders_df.schema))
    got = (
        network.dependent_demand(
            lumpy_df, forecasts_df, own_df, lanes_df, q_lo="q10", q_hi="q90", spread_divisor=SPREAD
        )
        .orderBy("step")
        .toPandas()
    )
    sigma = (got["q90"] - got["q10"]) / SPREAD
    assert np.allclose(sigma, np.sqrt(5.0 + np.var([30.0, 60.0]) / 7))


def test_a_dcs_own_forecast_adds_to_its_stores_orders(spark):
    lanes_df = network.lanes(
        _locations(
            spark, [("A", "R", "store", "DC", 1.0, 0.0), ("DC", "R", "dc", None, None, None)]
        )
    )
    store = [("X", "A", _day(t), t, 2.0, 2.0, 2.0) for t in (1, 2)]
    own = [("X", "DC", _day(t), t, 4.0, 4.0 - SPREAD / 2, 4.0 + SPREAD / 2) for t in (1, 2)]
    orders_df = spark.createDataFrame(
        [("X", "A", _day(2), 6.0)], "sku string, location string, order_date date, order_qty double"
    )
    got = network.dependent_demand(
        orders_df, spark.createDataFrame(store, FORECAST), spark.createDataFrame(own, FORECAST),
        lanes_df, q_lo="q10", q_hi="q90", spread_divisor=SPREAD,
    ).orderBy("step").toPandas()  # fmt: skip
    assert list(got["yhat"]) == [4.0, 10.0] and list(got["demand_rate"]) == [6.0, 6.0]
    assert np.allclose((got["q90"] - got["q10"]) / SPREAD, 1.0)


STORE_LINES = (
    "sku string, location string, source_location string, plan_status string, "
    "order_qty double, pack double"
)


def test_a_short_dc_gives_each_store_the_same_share_in_whole_packs(spark):
    stores_df = spark.createDataFrame(
        [
            ("X", "A", "DC", "planned", 8.0, 1.0),
            ("X", "B", "DC", "planned", 12.0, 4.0),
            ("X", "C", "DC", "needs_review", 30.0, 1.0),  # held: neither counts nor receives
            ("X", "D", None, "planned", 50.0, 1.0),  # supplied directly
            ("Y", "A", "DC", "planned", 5.0, 1.0),  # the DC holds enough
            ("Z", "A", "DC2", "planned", 5.0, 1.0),  # DC2 is not planned: nothing is cut
            # 11 for two orders of 12 in packs of 6: 5.5 each rounds down to none; the
            # whole pack left goes to one of them (equal remainders: the first by key).
            ("W", "A", "DC", "planned", 12.0, 6.0),
            ("W", "B", "DC", "planned", 12.0, 6.0),
            # 1 for orders of 0.7 and 0.7 in packs of 0.1: 0.5 each, no float residue.
            ("V", "A", "DC", "planned", 0.7, 0.1),
            ("V", "B", "DC", "planned", 0.7, 0.1),
        ],
        STORE_LINES,
    )
    dc_df = spark.createDataFrame(
        [
            ("X", "DC", 12.0, 2.0, None),
            ("Y", "DC", 9.0, 0.0, None),
            ("Z", "DC2", 1.0, 0.0, "stale_inventory"),
            ("W", "DC", 11.0, 0.0, None),
            ("V", "DC", 1.0, 0.0, None),
        ],
        "sku string, location string, on_hand double, backorders double, exception_reason string",
    )
    got = {
        (r.sku, r.location): (r.order_qty, r.requested_qty)
        for r in network.allocate(stores_df, dc_df).collect()
    }
    # 10 available for 20 requested: half each, B's 6 rounded down to its packs of 4 (the
    # 2 units left are less than B's pack).
    assert got == {
        ("X", "A"): (4.0, 8.0),
        ("X", "B"): (4.0, 12.0),
        ("X", "C"): (30.0, None),
        ("X", "D"): (50.0, None),
        ("Y", "A"): (5.0, None),
        ("Z", "A"): (5.0, None),
        ("W", "A"): (6.0, 12.0),
        ("W", "B"): (0.0, 12.0),
        ("V", "A"): (0.5, 0.7),
        ("V", "B"): (0.5, 0.7),
    }


def test_a_lane_sets_a_stores_lead_time_unless_its_item_location_row_does(spark):
    keys_df = spark.createDataFrame(
        [("X", "A", 2.0, None), ("X", "B", 2.0, 0.5), ("X", "C", None, None)],
        "sku string, location string, lane_lead_time_days double, lane_lead_time_std_days double",
    )
    items_df = spark.createDataFrame(
        [("X", 10.0, 3.0)], "sku string, lead_time_mean_days double, lead_time_std_days double"
    )
    local_df = spark.createDataFrame(
        [("X", "B", 5.0, None)],
        "sku string, location string, lead_time_mean_days double, lead_time_std_days double",
    )
    got = {
        r.location: (r.lead_time_mean_days, r.lead_time_std_days)
        for r in inputs.item_location_master(keys_df, items_df, local_df).collect()
    }
    # A: the lane's (no std given: 0, not the supplier's 3); B: its own row's mean, the
    # lane's std; C: supplied directly, the item's.
    assert got == {"A": (2.0, 0.0), "B": (5.0, 0.5), "C": (10.0, 3.0)}


def test_without_dcs_drops_the_dcs_rows_and_keeps_the_columns_in_order(spark):
    locations = _locations(spark, [("S1", "R", "store", "DC1", 1.0, 0.0), ("DC1", "R", "dc", None, None, None)])  # fmt: skip
    stock_df = spark.createDataFrame([("X", "S1", 1.0), ("X", "DC1", 9.0)], "sku string, location string, on_hand double")  # fmt: skip
    got = network.without_dcs(stock_df, locations)
    assert got.columns == ["sku", "location", "on_hand"] and [tuple(r) for r in got.collect()] == [("X", "S1", 1.0)]  # fmt: skip
    assert network.without_dcs(stock_df, None) is stock_df


def test_the_signal_carries_a_planned_dcs_orders_instead_of_its_stores(spark):
    plan_df = spark.createDataFrame(
        [
            ("X", "DC1", "dc", None, "SUP1", None),
            ("X", "A", "store", "DC1", "DC1", None),  # its DC's line carries it
            ("X", "B", "store", None, "SUP1", None),  # supplied directly
            ("Y", "DC2", "dc", None, "SUP2", "stale_inventory"),
            ("Y", "C", "store", "DC2", "DC2", None),  # DC2 not planned: under the supplier
        ],
        "sku string, location string, echelon string, source_location string, supplier string, "
        "exception_reason string",
    )
    got = {(r.sku, r.location): r.supplier for r in network.signal_lines(plan_df).collect()}
    assert got == {("X", "DC1"): "SUP1", ("X", "B"): "SUP1", ("Y", "DC2"): "SUP2", ("Y", "C"): "SUP2"}  # fmt: skip


def test_a_store_not_planned_for_a_day_keeps_its_signal_rows_but_not_a_dc_or_a_delisted_one(spark):
    lines = spark.createDataFrame(
        [
            ("A", "L1", "store", None),  # planned: its own rows
            ("B", "L1", "store", "stale_inventory"),
            ("C", "L1", None, "missing_master_data:supplier"),
            ("D", "DC01", "dc", "stale_inventory"),  # its stores stand in
            ("E", "L1", "store", "missing_item_master"),  # delisted
        ],
        "sku string, location string, echelon string, exception_reason string",
    )
    assert sorted(r.sku for r in network.kept_in_signal(lines).collect()) == ["B", "C"]
