"""Planning inputs: which inventory snapshot a series is planned on, periods as days."""

import datetime as dt

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from skuplan.replenishment import inputs, rules

RUN = dt.date(2026, 6, 30)
DAY = dt.timedelta(days=1)
SNAPSHOT = "sku string, location string, snapshot_date date, on_hand double, on_order double"


def test_the_latest_snapshot_on_or_before_the_run_date_wins(spark):
    rows = [
        ("A", "L1", RUN - 2 * DAY, 5.0, 0.0),
        ("A", "L1", RUN - DAY, 7.0, 1.0),  # latest on or before the run date
        ("A", "L1", RUN + DAY, 9.0, 0.0),  # after it: a backfill must not see it
        ("B", "L1", RUN - 5 * DAY, 3.0, 0.0),  # only an old one: kept, 5 days old
        ("C", "L1", RUN, 4.0, 2.0),  # a double load of one date resolves by its values
        ("C", "L1", RUN, 4.0, 0.0),
        ("D", "L1", RUN + DAY, 1.0, 0.0),  # only later ones: none
    ]
    got = inputs.latest_snapshots(spark.createDataFrame(rows, SNAPSHOT), RUN)
    expected = spark.createDataFrame(
        [
            ("A", "L1", RUN - DAY, 7.0, 1.0, 1),
            ("B", "L1", RUN - 5 * DAY, 3.0, 0.0, 5),
            ("C", "L1", RUN, 4.0, 0.0, 0),
        ],
        f"{SNAPSHOT}, inventory_age_days int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_snapshot_stamped_with_a_time_counts_as_its_day(spark):
    import pyspark.sql.functions as F

    rows = [("A", "L1", RUN - DAY, 7.0, 0.0), ("A", "L1", RUN, 4.0, 0.0)]
    stamped = spark.createDataFrame(rows, SNAPSHOT).withColumn(
        "snapshot_date",
        F.to_timestamp(F.concat(F.col("snapshot_date").cast("string"), F.lit(" 08:30"))),
    )
    (got,) = inputs.latest_snapshots(stamped, RUN).collect()
    assert (got.snapshot_date, got.on_hand, got.inventory_age_days) == (RUN, 4.0, 0)


def test_weeks_and_months_are_spread_over_their_days_with_the_periods_spread(spark):
    """A week ending Sunday 5 July (7 units, P10 0, P90 20) planned on Wednesday 1 July: its
    five days left, a unit each, and a daily P10-P90 spread that adds back up (over
    independent days) to the week's 20, the P10 below 0 kept; July's 31 days share a month."""
    forecasts = spark.createDataFrame(
        [("A", "L1", dt.date(2026, 7, 5), 1, 7.0, 0.0, 6.0, 20.0)],
        "sku string, location string, date date, step int, yhat double, q10 double, "
        "q50 double, q90 double",
    )
    run = dt.date(2026, 7, 1)
    got = (
        inputs.daily_forecasts(
            forecasts, freq="W-SUN", run_date=run, quantile_columns=["q10", "q50", "q90"]
        )
        .orderBy("step")
        .collect()
    )
    assert [(r.date, r.step) for r in got] == [(run + d * DAY, d + 1) for d in range(5)]
    day = got[0]
    assert day.yhat == pytest.approx(1.0) and day.q10 == pytest.approx(1 - 7 / 7**0.5)
    assert (day.q90 - day.q10) * 7**0.5 == pytest.approx(20.0)
    month = forecasts.withColumn("date", F.lit(run))
    days = inputs.daily_forecasts(month, freq="MS", run_date=run, quantile_columns=["q90"])
    assert days.count() == 31 and days.agg(F.sum("yhat")).first()[0] == pytest.approx(7.0)


def test_a_negative_on_order_in_the_snapshot_is_not_planned_as_nothing_on_order(spark):
    from skuplan.replenishment import projection

    snapshot = spark.createDataFrame(
        [("A", "L1", RUN, 5.0, -200.0, 0.0, None), ("B", "L1", RUN, 5.0, 30.0, 0.0, None)],
        "sku string, location string, snapshot_date date, on_hand double, on_order double, "
        "backorders double, on_order_arrival date",
    ).transform(inputs.latest_snapshots, RUN)
    keys = snapshot.select("sku", "location")
    stock = inputs.with_stock(keys, snapshot, projection.receipts_from_inventory(snapshot, RUN))
    assert {r.sku: r.on_order for r in stock.collect()} == {"A": -200.0, "B": 30.0}
    checked = stock.withColumns(
        {"_has_item": F.lit(True), "missing_master": F.lit(None).cast("string")}
    ).transform(rules.with_exception_reason, inventory_max_age_days=1)
    assert {r.sku: r.exception_reason for r in checked.collect()} == {
        "A": "negative_on_order_or_backorders", "B": None,
    }  # fmt: skip


def _on_order(spark, released, *, snapshot_time, open_orders=None):
    """``sku -> on order`` on RUN for three series whose snapshots are one day old (A, C) or
    of the run date (B), with ``released`` lines of earlier plans."""
    yesterday = RUN - DAY
    snapshot = spark.createDataFrame(
        [("A", "L1", yesterday, 5.0, 10.0, 0.0, None), ("B", "L1", RUN, 5.0, 0.0, 0.0, None),
         ("C", "L1", yesterday, 5.0, -3.0, 0.0, None)],
        "sku string, location string, snapshot_date date, on_hand double, on_order double, "
        "backorders double, on_order_arrival date",
    ).transform(inputs.latest_snapshots, RUN)  # fmt: skip
    released_df = spark.createDataFrame(
        released, "run_date date, sku string, location string, order_qty double, "
        "expected_arrival date",
    )  # fmt: skip
    receipts_df = inputs.receipts(
        open_orders, snapshot, RUN, released_df, snapshot_time=snapshot_time
    )
    stock = inputs.with_stock(snapshot.select("sku", "location"), snapshot, receipts_df)
    return {r.sku: r.on_order for r in stock.collect()}


@pytest.mark.parametrize(
    ("snapshot_time", "expected"),
    [("start_of_day", {"A": 10.0 + 40.0, "B": 0.0, "C": -3.0}),
     ("end_of_day", {"A": 10.0, "B": 0.0, "C": -3.0})],
)  # fmt: skip
def test_orders_released_after_the_snapshot_was_taken_count_as_on_order(
    spark, snapshot_time, expected
):
    yesterday, before = RUN - DAY, RUN - 2 * DAY
    arrival = RUN + 3 * DAY
    released = [
        (yesterday, "A", "L1", 40.0, arrival),  # after a start-of-day snapshot of yesterday
        (before, "A", "L1", 25.0, arrival),  # before the snapshot: in its on order already
        (yesterday, "B", "L1", 15.0, arrival),  # B's snapshot is of the run date: in it
        (yesterday, "C", "L1", 8.0, arrival),  # a negative on order stays negative
    ]
    assert _on_order(spark, released, snapshot_time=snapshot_time) == expected


def test_released_orders_add_to_the_erps_order_lines_too(spark):
    open_orders = spark.createDataFrame(
        [("A", "L1", 12.0, RUN + DAY), ("C", "L1", 4.0, None)],
        "sku string, location string, qty double, expected_arrival date",
    )
    released = [(RUN - DAY, "A", "L1", 40.0, RUN - DAY), (RUN - DAY, "C", "L1", 8.0, RUN)]
    # With order lines the snapshot's on order is not read, so C's -3 does not stop its 8.
    assert _on_order(spark, released, snapshot_time="start_of_day", open_orders=open_orders) == {
        "A": 52.0, "B": 0.0, "C": 12.0,
    }  # fmt: skip


def test_a_release_the_erps_dated_order_lines_hold_is_not_added_again(spark):
    """Order lines fresher than the snapshot: A's release of yesterday is among them (a line
    of A dated yesterday, at the quantity the ERP placed); C's line of yesterday is at
    another location, so C's release is not placed yet and still counts."""
    yesterday = RUN - DAY
    open_orders = spark.createDataFrame(
        [("A", "L1", 12.0, RUN + DAY, RUN - 5 * DAY), ("A", "L1", 38.0, RUN + 3 * DAY, yesterday),
         ("C", "L1", 4.0, None, None), ("C", "L2", 6.0, RUN, yesterday)],
        "sku string, location string, qty double, expected_arrival date, order_date date",
    )  # fmt: skip
    released = [(yesterday, "A", "L1", 40.0, RUN + 3 * DAY), (yesterday, "C", "L1", 8.0, RUN)]
    assert _on_order(spark, released, snapshot_time="start_of_day", open_orders=open_orders) == {
        "A": 12.0 + 38.0, "B": 0.0, "C": 4.0 + 8.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("snapshot_time", "expected"),
    [("start_of_day", {"A": (6.0, 0.0), "B": (9.0, 0.0), "C": (0.0, 3.0), "D": (-2.0, 0.0)}),
     ("end_of_day", {"A": (10.0, 0.0), "B": (9.0, 0.0), "C": (3.0, 1.0), "D": (-2.0, 0.0)})],
)  # fmt: skip
def test_what_sold_since_the_snapshot_comes_off_its_stock(spark, snapshot_time, expected):
    """A (C, D) snapshot of yesterday, B's of today; C sold past its stock (a receipt came
    in and sold): the rest is a backorder; D's negative on hand is left for the rules."""
    yesterday = RUN - DAY
    snapshot = spark.createDataFrame(
        [("A", "L1", yesterday, 10.0, 0.0, 0.0, None), ("B", "L1", RUN, 9.0, 0.0, 0.0, None),
         ("C", "L1", yesterday, 3.0, 0.0, 1.0, None), ("D", "L1", yesterday, -2.0, 0.0, 0.0, None)],
        "sku string, location string, snapshot_date date, on_hand double, on_order double, "
        "backorders double, on_order_arrival date",
    ).transform(inputs.latest_snapshots, RUN)  # fmt: skip
    sales = spark.createDataFrame(
        [("A", "L1", yesterday, 4.0), ("A", "L1", RUN - 2 * DAY, 7.0), ("B", "L1", yesterday, 5.0),
         ("C", "L1", yesterday, 5.0), ("D", "L1", yesterday, 1.0)],
        "sku string, location string, date date, qty double",
    )  # fmt: skip
    got = inputs.after_sales_since_snapshot(snapshot, sales, snapshot_time=snapshot_time)
    assert {r.sku: (r.on_hand, r.backorders) for r in got.collect()} == expected
