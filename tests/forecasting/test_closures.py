"""Closed days: zero forecasts explained by the holiday driver, and no load expected."""

import datetime as dt

import pytest

from skuplan import delta_io
from skuplan.errors import InputError
from skuplan.forecasting import closures
from skuplan.pipeline.forecast_inputs import check_loaded_through
from skuplan.pipeline.io import StageTables

D = dt.date(2026, 12, 24)
DAY = dt.timedelta(days=1)
CHRISTMAS, BOXING_DAY = D + DAY, D + 2 * DAY


def test_the_last_open_day_steps_back_over_closed_ones():
    assert closures.last_open_day(BOXING_DAY, {CHRISTMAS, BOXING_DAY}) == D
    assert closures.last_open_day(BOXING_DAY, {CHRISTMAS}) == BOXING_DAY
    assert closures.last_open_day(D, set()) == D


def test_closed_days_are_forecast_zero_and_the_holiday_driver_explains_the_drop(spark):
    forecasts_df = spark.createDataFrame(
        [("A", "L1", d, 5.0, 3.0, 8.0) for d in (D, CHRISTMAS)],
        "sku string, location string, date date, yhat double, q10 double, q90 double",
    )
    got = forecasts_df.transform(
        closures.with_closed_days_zeroed, [CHRISTMAS], ["yhat", "q10", "q90"]
    )
    assert {r.date: (r.yhat, r.q10, r.q90) for r in got.collect()} == {
        D: (5.0, 3.0, 8.0),
        CHRISTMAS: (0.0, 0.0, 0.0),
    }

    explanations_df = spark.createDataFrame(
        [
            ("A", "L1", D, "m", "baseline", 4.0),
            ("A", "L1", D, "m", "holiday", 1.0),
            ("A", "L1", CHRISTMAS, "m", "baseline", 4.0),
            ("A", "L1", CHRISTMAS, "m", "holiday", 1.5),  # the model's own holiday effect
            ("A", "L1", CHRISTMAS, "m", "weekday", -0.5),
            ("B", "L1", CHRISTMAS, "m", "baseline", 2.0),  # no holiday row of its own
        ],
        "sku string, location string, date date, model string, driver string, contribution double",
    )
    got = explanations_df.transform(closures.with_closures_explained, [CHRISTMAS])
    rows = {(r.sku, r.date, r.driver): r.contribution for r in got.collect()}
    assert rows == {
        ("A", D, "baseline"): 4.0,
        ("A", D, "holiday"): 1.0,  # an open day keeps its drivers
        ("A", CHRISTMAS, "baseline"): 4.0,
        ("A", CHRISTMAS, "weekday"): -0.5,
        ("A", CHRISTMAS, "holiday"): -3.5,  # the day's contributions add up to zero
        ("B", CHRISTMAS, "baseline"): 2.0,
        ("B", CHRISTMAS, "holiday"): -2.0,
    }
    assert explanations_df.transform(closures.with_closures_explained, []) is explanations_df


def test_sales_need_not_reach_a_closed_day(spark, make_conf):
    settings = make_conf().forecast
    history_df = spark.createDataFrame([("A", "L1", D, 3.0)], "sku string, location string, date date, qty double")  # fmt: skip
    check_loaded_through(history_df, BOXING_DAY, settings, [CHRISTMAS])
    with pytest.raises(InputError, match=f"clean sales end on {D}, but forecasts from"):
        check_loaded_through(history_df, BOXING_DAY + DAY, settings, [CHRISTMAS])
    with pytest.raises(InputError, match=f"need them through {CHRISTMAS}"):
        check_loaded_through(history_df, BOXING_DAY, settings)


def test_closed_days_are_read_from_a_calendar_written_by_hand(spark, make_conf):
    conf = make_conf()
    tables = StageTables(spark, conf, "train_forecast")
    assert tables.closed_days() == []  # no calendar
    rows = [("2026-12-25 00:00:00", "christmas", "TRUE"), ("2026-12-26", "boxing day", "1"),
            ("2026-12-27", "sunday", "x"), ("2026-12-28", "stock-take", "false"),
            ("not a date", "typo", "true")]  # fmt: skip
    calendar_df = spark.createDataFrame(rows, "date string, event string, closed string")
    delta_io.overwrite_table(calendar_df, conf.table("calendar"))
    assert tables.closed_days() == [CHRISTMAS, BOXING_DAY]
