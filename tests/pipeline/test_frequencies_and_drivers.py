"""The forecast stage on planned drivers and on weekly data, through the real jobs.

Both tests start from the demo inputs (local Spark, Delta): one plans promotions in a
``drivers`` table and checks that the forecast rises on those days; the other turns the demo's
daily sales into weekly ones and runs the whole pipeline at that frequency.
"""

import datetime as dt
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from pyspark.sql import Window

from skuplan import delta_io
from skuplan.errors import DataQualityError
from skuplan.pipeline import demo, forecast, run_all, validate

from conftest import conf_under

pytestmark = pytest.mark.slow

DEMO = ["demo.n_series=16", "demo.n_locations=2", "demo.history_days=420", "demo.dirty_share=0"]
MODELS = "forecast.models=[seasonal_naive, moving_average, lightgbm_global]"
PROMO_DAYS = range(7, 14)  # the horizon's second week is promoted (0-based days)
DISCOUNT = 0.3
CLOSED_STEP = 3  # the horizon's fourth day is a closed day


def _read(spark, conf, key):
    return delta_io.read_table(spark, conf.table(key))


def _planned_promotions(spark, conf):
    """A drivers table promoting every series in the horizon's second week at 30% off its
    last regular price; the first week has no rows (its drivers are filled by rule)."""
    raw = _read(spark, conf, "raw_sales").filter("promo = '0' AND price IS NOT NULL")
    last = Window.partitionBy("sku", "location").orderBy(F.col("date").desc())
    prices = raw.withColumn("_n", F.row_number().over(last)).filter("_n = 1")
    days = [conf.run_date + dt.timedelta(days=d) for d in PROMO_DAYS]
    days_df = spark.createDataFrame([(d,) for d in days], "date date")
    return prices.crossJoin(days_df).select(
        "sku", "location", days_df["date"],
        (F.col("price").cast("double") * (1 - DISCOUNT)).alias("price"), F.lit(True).alias("promo"),
    )  # fmt: skip


def _close(spark, conf, day):
    """The calendar with ``day`` closed (the demo's stores are open every day)."""
    calendar_df = _read(spark, conf, "calendar").filter(F.col("date") != day)
    closed_df = spark.createDataFrame([(day, "closed", True)], calendar_df.schema)
    delta_io.overwrite_table(calendar_df.unionByName(closed_df), conf.table("calendar"))


def test_a_planned_promotion_raises_the_forecast_through_the_job(spark, tmp_path):
    conf = conf_under(
        tmp_path, *DEMO, MODELS, "forecast.horizon=14",
        "forecast.driver_tables=[{table: drivers, keys: [sku, location]}]",
    )  # fmt: skip
    demo.run(spark, conf)
    delta_io.overwrite_table(_planned_promotions(spark, conf), conf.table("drivers"))
    closed = conf.run_date + dt.timedelta(days=CLOSED_STEP)
    _close(spark, conf, closed)
    validate.run(spark, conf)
    forecast.run(spark, conf)

    step = F.datediff("date", F.lit(conf.run_date))
    forecasts_df = _read(spark, conf, "forecasts")
    # The closed day is forecast zero, its drop explained as the holiday's.
    on_closed = forecasts_df.filter(F.col("date") == closed).collect()
    assert len(on_closed) == 16 and all(r.yhat == r.q10 == r.q90 == 0 for r in on_closed)
    holiday = F.sum(F.when(F.col("driver") == "holiday", F.col("contribution")))
    explained = (
        _read(spark, conf, "explanations")
        .groupBy("sku", "location", "date")
        .agg(F.sum("contribution").alias("total"), holiday.alias("holiday"))
        .join(forecasts_df, ["sku", "location", "date"])
    )
    assert explained.filter(F.abs(F.col("total") - F.col("yhat")) > 1e-6).isEmpty()
    assert explained.filter((F.col("date") == closed) & (F.col("holiday") < -0.5)).count() > 8
    # The weeks compare the same weekdays: the closed one is left out of both.
    weeks = (
        forecasts_df.filter(F.pmod(step, F.lit(7)) != CLOSED_STEP)
        .groupBy("sku", "location")
        .agg(
            F.sum(F.when(step < 7, F.col("yhat"))).alias("plain"),
            F.sum(F.when(step >= 7, F.col("yhat"))).alias("promoted"),
        )
        .filter("plain > 1")
        .toPandas()
    )
    # The same weekdays a week apart: the promoted week is forecast clearly higher.
    lift = weeks["promoted"].sum() / weeks["plain"].sum()
    assert lift > 1.15, lift
    assert (weeks["promoted"] > weeks["plain"]).mean() > 0.8
    # The first week had no planned drivers: model_runs says they were filled, and how.
    filled = {r.drivers_filled for r in _read(spark, conf, "model_runs").collect()}
    assert filled <= {"price 7 (last value), promo 7 (zero)", None}
    assert "price 7 (last value), promo 7 (zero)" in filled


WEEKLY = [
    "forecast.freq=W-FRI", "forecast.horizon=8", "forecast.season_length=52",
    "forecast.min_history=8", "forecast.backtest.step=4", "forecast.backtest.horizon=4",
    "plan.simulation.weeks=4", "plan.simulation.warmup_days=56",
]  # fmt: skip


def _weekly(raw_df):
    """Daily raw sales summed into weeks ending on Friday (dated by that Friday)."""
    week = F.next_day(F.date_sub(F.to_date("date"), 1), "Fri")
    return raw_df.groupBy("sku", "location", week.alias("_week"), "source", "load_date").agg(
        F.sum(F.col("qty").cast("double")).cast("string").alias("qty"),
        F.avg(F.col("price").cast("double")).cast("string").alias("price"),
        F.max("promo").alias("promo"),
        F.max("is_stockout").alias("is_stockout"),
    ).select(
        "sku", "location", F.col("_week").cast("string").alias("date"), "qty", "price",
        "promo", "is_stockout", "source", "load_date",
    )  # fmt: skip


def test_weekly_sales_run_end_to_end(spark, tmp_path):
    run_date = dt.date(2026, 6, 27)  # a Saturday: the last full week ends the day before
    conf = conf_under(tmp_path, *DEMO, MODELS, *WEEKLY, run_date=run_date)
    demo.run(spark, conf)
    daily = _read(spark, conf, "raw_sales").filter(F.to_date("date") < F.lit(run_date))
    weekly = _weekly(daily).persist()
    # A missing week inside one series' history: validation fills the week, not 7 days.
    gap = F.col("sku").eqNullSafe(weekly.first()["sku"]) & (F.col("date") == "2026-03-06")
    weekly = weekly.filter(~gap)
    delta_io.overwrite_table(weekly, conf.table("raw_sales"))
    rows = weekly.count()
    # Read as days (the default forecast.freq D), the load is refused instead of getting six
    # zero days imputed a week; nothing reaches the clean table.
    as_days = conf_under(tmp_path, *DEMO, MODELS, run_date=run_date)
    with pytest.raises(DataQualityError, match=r"all \d+ sale dates fall on a FRI: weekly data\? .*: W-FRI"):  # fmt: skip
        validate.run(spark, as_days)
    assert not delta_io.table_exists(spark, conf.table("clean_sales"))

    summary = run_all.run(spark, conf)
    clean = _read(spark, conf, "clean_sales")
    assert summary.validation.rows_in == rows
    imputed = clean.filter("is_imputed")
    assert imputed.count() >= 1 and imputed.filter(F.dayofweek("date") != 6).count() == 0
    assert clean.filter(F.dayofweek("date") != 6).count() == 0  # every row is a Friday

    forecasts = _read(spark, conf, "forecasts")
    fridays = [run_date + dt.timedelta(days=6 + 7 * k) for k in range(8)]
    assert sorted({r.date for r in forecasts.select("date").distinct().collect()}) == fridays
    # Planning works in days: a week's forecast is spread over its 7 days.
    plan = _read(spark, conf, "reorder_plan").filter("plan_status IN ('planned', 'needs_review')")
    assert plan.count() > 0
    weekly_mean = forecasts.groupBy("sku", "location").agg(F.avg("yhat").alias("week"))
    checked = plan.join(weekly_mean, ["sku", "location"]).filter("week > 1")
    assert checked.count() > 0
    assert checked.filter("abs(daily_demand - week / 7) > 0.35 * week / 7").count() == 0


def test_monthly_forecasts_run_on_the_first_of_a_month():
    """A monthly run on the 17th would count the month's first 16 days as a whole month of
    history and forecast from the next month on: refused in one line (exit 3)."""
    from skuplan.errors import ConfigError
    from skuplan.pipeline.forecast_inputs import check_run_date

    for ok, freq in ((dt.date(2026, 6, 1), "MS"), (dt.date(2026, 6, 17), "W-SUN"),
                     (dt.date(2026, 6, 17), "D")):  # fmt: skip
        check_run_date(ok, freq)
    with pytest.raises(ConfigError, match=r"run date 2026-06-17 is not the 1st of a month: .*2026-06-01") as info:  # fmt: skip
        check_run_date(dt.date(2026, 6, 17), "MS")
    assert info.value.exit_code == 3 and "\n" not in str(info.value)


def test_a_monthly_pipeline_run_off_the_first_is_refused_before_it_validates(spark, make_conf):
    from skuplan.errors import ConfigError

    conf = make_conf("forecast.freq=MS", run_date=dt.date(2026, 6, 17))
    with pytest.raises(ConfigError, match="not the 1st of a month"):
        run_all.run(spark, conf)
    assert not Path(conf.table("clean_sales").path).exists()
