"""The supplier demand signal: planned orders rolled over the horizon, weekly figures, and
the change-data-feed table that carries only what changed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyspark.sql.functions as F
import pytest
from scipy.stats import norm

from skuplan import erp
from skuplan.replenishment import policies, replay, signal
from skuplan.tableref import TableRef

RUN = dt.date(2026, 6, 30)  # a Tuesday: its week starts on Monday 2026-06-29
ANCHOR = dt.date(2024, 1, 2)  # 910 days before RUN: a 7-day review falls on RUN


def _series(days, yhat=10.0, **plan):
    base = dict(
        sku="A", location="L", policy="sQ", inventory_position=50.0, released_qty=0.0,
        daily_demand=yhat, reorder_point=40.0, order_up_to=70.0, eoq=30.0, pack=1.0,
        min_order=0.0, review_period=1.0, next_review_date=None, lead_time_days=3.0,
        override_qty=None, override_valid_to=None,
    )  # fmt: skip
    base.update(plan)
    dates = [RUN + dt.timedelta(days=i) for i in range(days)]
    return pd.DataFrame({"date": dates, "yhat": yhat, **base})


def _orders(pdf):
    out = signal.planned_orders(pdf, run_date=RUN, anchor_date=ANCHOR)
    return [(r.order_date, r.expected_arrival, r.order_qty) for r in out.itertuples()]


def test_continuous_review_orders_a_lot_each_time_the_position_reaches_the_reorder_point():
    # Position 50, 10 a day, s = 40, Q = 30: today 50 > 40 (no order); tomorrow the position
    # is 40 (order 30 -> 70), then 60, 50, 40 again on day 4: an order every third day.
    got = _orders(_series(14))
    days = [1, 4, 7, 10, 13]
    assert got == [(RUN + dt.timedelta(days=d), RUN + dt.timedelta(days=d + 3), 30.0) for d in days]


def test_todays_order_is_the_released_one_and_reviews_follow_the_anchor():
    # RS every 7 days from the anchor: today (released 20, as the plan shipped it) and 7 days
    # on, when the position is 100 + 20 - 7 * 10 = 50: up to 120 is 70, in packs of 5.
    pdf = _series(
        10, policy="RS", review_period=7.0, inventory_position=100.0, released_qty=20.0,
        order_up_to=120.0, reorder_point=120.0, pack=5.0, lead_time_days=2.5,
    )  # fmt: skip
    assert _orders(pdf) == [
        (RUN, RUN + dt.timedelta(days=3), 20.0),
        (RUN + dt.timedelta(days=7), RUN + dt.timedelta(days=10), 70.0),
    ]
    # A held line releases nothing today; the next review then sees 100 - 70 = 30.
    held = _orders(pdf.assign(released_qty=0.0))
    assert held == [(RUN + dt.timedelta(days=7), RUN + dt.timedelta(days=10), 90.0)]


def test_a_review_the_plan_kept_is_a_later_review_day():
    # RS every 4 days from the anchor (910 days before RUN: reviews on RUN+2, RUN+6, ...).
    # The plan kept the previous plan's review on RUN+1 (rules.kept_next_review): orders up
    # to 120 then (90 -> 30), on RUN+2 (110 -> 10) and on RUN+6 (80 -> 40).
    pdf = _series(
        8, policy="RS", review_period=4.0, inventory_position=100.0, order_up_to=120.0,
        reorder_point=120.0, pack=5.0, lead_time_days=2.5,
    )  # fmt: skip
    day = lambda d: RUN + dt.timedelta(days=d)  # noqa: E731
    kept = _orders(pdf.assign(next_review_date=day(1)))
    assert kept == [(day(1), day(4), 30.0), (day(2), day(5), 10.0), (day(6), day(9), 40.0)]
    # Without it, the anchor's days only: RUN+2 sees 80.
    assert _orders(pdf) == [(day(2), day(5), 40.0), (day(6), day(9), 40.0)]
    # The line's next review on the anchor's grid (no kept review) changes nothing.
    assert _orders(pdf.assign(next_review_date=day(2))) == _orders(pdf)


def test_a_planners_zero_holds_the_orders_it_covers():
    # The continuous-review series above orders 30 on days 1, 4 and 7; a store closing
    # (override 0) valid to day 5 holds days 1 and 4: the position is -10 on day 6, which
    # orders two lots (60 -> 50, then 40 after the day), and day 7 one more.
    closing = _series(10, override_qty=0.0, override_valid_to=RUN + dt.timedelta(days=5))
    day = lambda d: RUN + dt.timedelta(days=d)  # noqa: E731
    assert _orders(closing) == [(day(6), day(9), 60.0), (day(7), day(10), 30.0)]
    # Without an end it holds the whole horizon; a planner's quantity holds nothing later.
    assert _orders(_series(10, override_qty=0.0)) == []
    assert _orders(_series(14, override_qty=50.0)) == _orders(_series(14))


def test_no_demand_never_orders():
    assert _orders(_series(14, yhat=0.0, inventory_position=0.0)) == []


def test_the_rule_is_the_plans(spark):
    # The plan's column expressions and raw_order (rounded as the plan rounds) agree.
    rows, expected = [], []
    for policy in policies.POLICIES:
        for position in (-5.0, 0.0, 39.0, 40.0, 41.0, 69.0, 70.0, 75.0):
            rows.append((f"{policy}{position}", policy, position))
            raw = replay.raw_order(policy, position, 40.0, 70.0, 25.0)
            qty = float(signal.ss.round_order(raw, 6.0, 12.0))
            expected.append((f"{policy}{position}", qty))
    df = spark.createDataFrame(rows, "sku string, policy_name string, inventory_position double")
    levels = dict(daily_demand=10, reorder_point=40, order_up_to=70, eoq=25, pack=6, min_order=12)
    got = df.select(
        "*",
        *[F.lit(float(v)).alias(k) for k, v in levels.items()],
        F.lit(True).alias("is_review_day"),
    ).transform(policies.with_order)
    assert sorted((r.sku, r.order_qty) for r in got.collect()) == sorted(expected)


def test_weekly_signal_adds_up_days_by_calendar_week(spark):
    # Ten days from Tuesday: six in the run date's week, four in the next; the band's
    # spread is 2 standard deviations of 2 (so sigma = 2 a day).
    spread = policies.quantile_spread_sigma(0.1, 0.9)
    days = [RUN + dt.timedelta(days=i) for i in range(10)]
    forecasts = [
        (sku, "L", d, 10.0, 10.0 - spread, 10.0 + spread) for sku in ("A", "B", "C") for d in days
    ]
    forecasts_df = spark.createDataFrame(
        forecasts, "sku string, location string, date date, yhat double, q10 double, q90 double"
    )
    orders_df = spark.createDataFrame(
        [("A", "L", RUN + dt.timedelta(days=1), RUN + dt.timedelta(days=4), 30.0),
         ("A", "L", RUN + dt.timedelta(days=4), RUN + dt.timedelta(days=7), 30.0)],
        signal.PLANNED_ORDERS,
    )  # fmt: skip
    plan_df = spark.createDataFrame(
        [("A", "L", "S1", None), ("B", "L", None, None), ("C", "L", "S1", "stale_inventory")],
        "sku string, location string, supplier string, exception_reason string",
    )
    got = signal.weekly_signal(
        forecasts_df, orders_df, plan_df, run_date=RUN, weeks=4, q_lo="q10", q_hi="q90",
        spread_divisor=spread,
    ).collect()  # fmt: skip
    # Only A: B has no supplier, C is not planned.
    by_week = {r.week_start: r for r in got}
    assert {(r.supplier, r.sku) for r in got} == {("S1", "A")}
    first, second = by_week[dt.date(2026, 6, 29)], by_week[dt.date(2026, 7, 6)]
    z = norm.ppf(0.9)
    assert (first.days, first.forecast_p50) == (6, 60.0)
    assert first.forecast_p90 == pytest.approx(round(60 + z * (6 * 4) ** 0.5, 1))
    assert (first.planned_order_qty, first.planned_orders) == (60.0, 2)
    assert (second.days, second.forecast_p50, second.planned_order_qty) == (4, 40.0, 0.0)
    # One week only: the days after it are left out.
    one = signal.weekly_signal(
        forecasts_df, orders_df, plan_df, run_date=RUN, weeks=1, q_lo="q10", q_hi="q90",
        spread_divisor=spread,
    )  # fmt: skip
    assert [r.week_start for r in one.collect()] == [dt.date(2026, 6, 29)]


def _signal_rows(spark, rows):
    schema = (
        "supplier string, sku string, location string, week_start date, days int, "
        "forecast_p50 double, forecast_p90 double, planned_order_qty double, planned_orders int"
    )
    return spark.createDataFrame(rows, schema)


def test_the_signal_table_feeds_only_changed_rows(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "signal"))
    w1, w2 = dt.date(2026, 6, 29), dt.date(2026, 7, 6)
    rows = [
        ("S1", "A", "L", w1, 6, 60.0, 66.3, 30.0, 1),
        ("S1", "A", "L", w2, 7, 70.0, 76.8, 0.0, 0),
        ("S2", "B", "L", w1, 6, 12.0, 15.0, 0.0, 0),
    ]
    first = erp.merge_signal(spark, _signal_rows(spark, rows), ref, run_date=RUN, run_id="r1")
    assert erp.read_changes(spark, ref, first).count() == 3  # three inserts

    again = erp.merge_signal(spark, _signal_rows(spark, rows), ref, run_date=RUN, run_id="r2")
    if again is not None:
        assert erp.read_changes(spark, ref, again).count() == 0
    # The next day: A's second week moved, B left the signal, a new week came in.
    day2 = dt.date(2026, 7, 1)
    moved = [rows[0], ("S1", "A", "L", w2, 7, 71.0, 77.8, 0.0, 0), ("S1", "A", "L", dt.date(2026, 7, 13), 1, 10.0, 12.6, 0.0, 0)]  # fmt: skip
    third = erp.merge_signal(spark, _signal_rows(spark, moved), ref, run_date=day2, run_id="r3")
    changes = {
        (r._change_type, r.sku, r.week_start)
        for r in erp.read_changes(spark, ref, third).collect()
        if r._change_type != "update_preimage"
    }
    assert changes == {
        ("update_postimage", "A", w2),
        ("delete", "B", w1),
        ("insert", "A", dt.date(2026, 7, 13)),
    }
    table = {(r.sku, r.week_start): r for r in spark.read.format("delta").load(ref.path).collect()}
    assert table["A", w1].run_id == "r1"  # untouched since the first run
    assert (table["A", w2].run_id, table["A", w2].run_date) == ("r3", day2)


def test_a_series_not_planned_for_a_day_keeps_its_signal_rows(spark, tmp_path):
    """B's snapshot is late today: B is not planned and has no rows of its own, but the
    signal keeps the rows it had from this week on instead of deleting them for a day."""
    ref = TableRef(path=str(tmp_path / "signal"))
    last, w1, w2 = dt.date(2026, 6, 22), dt.date(2026, 6, 29), dt.date(2026, 7, 6)
    rows = [
        ("S1", "A", "L", w1, 6, 60.0, 66.3, 30.0, 1),
        ("S2", "B", "L", last, 7, 12.0, 15.0, 0.0, 0),  # a past week: goes as usual
        ("S2", "B", "L", w1, 6, 12.0, 15.0, 0.0, 0),
        ("S2", "B", "L", w2, 7, 14.0, 17.0, 10.0, 1),
    ]
    first = erp.merge_signal(spark, _signal_rows(spark, rows), ref, run_date=RUN, run_id="r1")
    assert first is not None
    not_planned = spark.createDataFrame([("B", "L")], "sku string, location string")
    kept = erp.kept_signal_rows(spark, ref, not_planned, RUN)
    today = _signal_rows(spark, rows[:1]).unionByName(kept)
    version = erp.merge_signal(spark, today, ref, run_date=RUN, run_id="r2")
    changes = erp.read_changes(spark, ref, version).collect()
    assert [(r._change_type, r.sku, r.week_start) for r in changes] == [("delete", "B", last)]
    assert (
        erp.kept_signal_rows(spark, TableRef(path=str(tmp_path / "none")), not_planned, RUN) is None
    )
