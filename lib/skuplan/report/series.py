"""The series explorer's data: one compact JSON document per series, built in Spark.

Every function is ``DataFrame -> DataFrame``. Each series' document (``payload``) is
assembled in Spark, so the driver only joins strings; how many there are is bounded by
``report.max_series`` (see :func:`first_series`) and their length by ``report.history_days``.

Payload keys (short: 1,000 of them are embedded in the page): ``s`` sku, ``l`` location,
``m`` model, ``c`` demand class, ``e`` backtest MASE of the chosen model, ``n`` MASE of
seasonal naive, ``p`` plan line (``status, qty, supplier, reason, stockout, stockout_plan``),
``h`` history (``t`` days from the run date, ``y`` qty, ``so`` stockout days), ``f`` forecast
(``t``, ``y`` point, ``lo``/``mid``/``hi`` quantiles) and ``d`` drivers (``n`` name, ``t``,
``c`` contribution), largest first.
"""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan.columns import KEYS, PLAN_NEEDS_REVIEW
from skuplan.report.data import NAIVE

# The drivers past report.max_drivers, summed; not "other", which the forecast stage uses
# for a driver of its own (a global model's item/location identity).
SMALLER_DRIVERS = "smaller drivers"


def series_totals(forecasts_df: DataFrame) -> DataFrame:
    """One row: ``series`` (distinct ``sku, location``) and the forecasts' ``run_id``."""
    return forecasts_df.agg(
        F.count_distinct(*KEYS).alias("series"), F.max("run_id").alias("run_id")
    )


def history_arrays(clean_df: DataFrame, run_date: dt.date, days: int) -> DataFrame:
    """``sku, location, h``: the ``days`` days of sales before ``run_date`` as ``{t, y, so}``
    (days from the run date, negative; qty; the stockout days).

    As in forecasting, a day re-sent in a later load replaces the earlier one. One shuffle:
    the rows of a series are gathered, then deduplicated with array functions.
    Input: ``sku, location, date, qty, is_stockout, load_date``.
    """
    start = run_date - dt.timedelta(days=days)
    # Sorted by day, then the latest load first (``age`` counts days back from the run date).
    rows = F.array_sort(
        F.collect_list(
            F.struct(
                F.datediff("date", F.lit(run_date)).alias("t"),
                F.datediff(F.lit(run_date), "load_date").alias("age"),
                F.round("qty", 2).alias("y"),
                F.col("is_stockout").alias("so"),
            )
        )
    )
    latest = F.filter("_rows", lambda r, i: (i == 0) | (F.col("_rows")[i - 1]["t"] != r["t"]))
    return (
        clean_df.filter((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(run_date)))
        .groupBy(*KEYS)
        .agg(rows.alias("_rows"))
        .select(*KEYS, latest.alias("_rows"))
        .select(
            *KEYS,
            F.struct(
                F.col("_rows")["t"].alias("t"),
                F.col("_rows")["y"].alias("y"),
                F.filter("_rows", lambda r: r["so"])["t"].alias("so"),
            ).alias("h"),
        )
    )


def forecast_arrays(forecasts_df: DataFrame, run_date: dt.date, band: tuple[str, str]) -> DataFrame:
    """``sku, location, m, f``: the chosen model and the forecast as ``{t, y, lo, mid, hi}``.

    Input: ``sku, location, date, model, yhat, q50`` and the ``band`` quantile columns.
    """
    lo, hi = band
    points = F.array_sort(
        F.collect_list(
            F.struct(
                F.datediff("date", F.lit(run_date)).alias("t"),
                F.round("yhat", 2).alias("y"),
                F.round(lo, 2).alias("lo"),
                F.round("q50", 2).alias("mid"),
                F.round(hi, 2).alias("hi"),
            )
        )
    )
    # A field of an array of structs is the array of that field.
    arrays = [F.col("_points")[k].alias(k) for k in ("t", "y", "lo", "mid", "hi")]
    return (
        forecasts_df.groupBy(*KEYS)
        .agg(points.alias("_points"), F.max("model").alias("m"))
        .select(*KEYS, "m", F.struct(*arrays).alias("f"))
    )


def driver_arrays(
    explanations_df: DataFrame, models_df: DataFrame, run_date: dt.date, max_drivers: int
) -> DataFrame:
    """``sku, location, d``: the chosen model's drivers per forecast day, largest first.

    Input: ``explanations_df`` (``sku, location, date, model, driver, contribution``) of one
    run date; ``models_df`` (``sku, location, model``: the chosen model). Drivers past the
    ``max_drivers`` largest (by total absolute contribution) are summed per day as
    ``SMALLER_DRIVERS``, listed last. A null contribution counts as 0. Two shuffles: per
    driver, then per series; the rest is array functions.
    """
    points = F.array_sort(
        F.collect_list(
            F.struct(
                F.datediff("date", F.lit(run_date)).alias("t"),
                F.coalesce("contribution", F.lit(0.0)).alias("c"),
            )
        )
    )
    per_driver_df = (
        explanations_df.join(F.broadcast(models_df.select(*KEYS, "model")), [*KEYS, "model"])
        .groupBy(*KEYS, "driver")
        .agg(points.alias("pts"), F.sum(F.abs("contribution")).alias("weight"))
    )
    ranked = F.array_sort(
        F.collect_list(
            F.struct((-F.col("weight")).alias("o"), F.col("driver").alias("n"), F.col("pts"))
        )
    )
    top = F.slice("ds", 1, max_drivers)
    rest = F.slice("ds", max_drivers + 1, F.greatest(F.size("ds") - max_drivers, F.lit(0)))
    rounded = lambda values: F.transform(values, lambda v: F.round(v, 3))  # noqa: E731
    days = F.array_sort(F.array_distinct(F.flatten(F.transform(rest, lambda d: d["pts"]["t"]))))
    other_c = F.transform(
        days,
        lambda t: F.aggregate(
            F.flatten(F.transform(rest, lambda d: F.filter(d["pts"], lambda p: p["t"] == t)["c"])),
            F.lit(0.0),
            lambda acc, c: acc + c,
        ),
    )
    other = F.struct(
        F.lit(SMALLER_DRIVERS).alias("n"), days.alias("t"), rounded(other_c).alias("c")
    )
    drivers = F.concat(
        F.transform(
            top,
            lambda d: F.struct(
                d["n"].alias("n"), d["pts"]["t"].alias("t"), rounded(d["pts"]["c"]).alias("c")
            ),
        ),
        F.slice(F.array(other), 1, F.least(F.size(rest), F.lit(1))),  # [] when nothing is left
    )
    return per_driver_df.groupBy(*KEYS).agg(ranked.alias("ds")).select(*KEYS, drivers.alias("d"))


def series_payloads(
    forecast_df: DataFrame,
    history_df: DataFrame,
    metrics_df: DataFrame | None,
    runs_df: DataFrame | None,
    plan_df: DataFrame | None,
    drivers_df: DataFrame | None,
) -> DataFrame:
    """One row per forecast series: ``sku, location, payload`` (JSON text).

    Inputs are the outputs of :func:`forecast_arrays`, :func:`history_arrays`,
    :func:`driver_arrays`, and the run date's backtest metrics, model runs and plan lines.
    """
    df = forecast_df.join(history_df, [*KEYS], "left")
    if metrics_df is not None:
        df = df.join(
            metrics_df.groupBy(*KEYS).agg(
                F.max(F.when(F.col("is_selected"), F.col("mase"))).alias("e"),
                F.max(F.when(F.col("model") == NAIVE, F.col("mase"))).alias("n"),
            ),
            [*KEYS],
            "left",
        )
    if runs_df is not None:
        df = df.join(runs_df.select(*KEYS, F.col("demand_class").alias("c")), [*KEYS], "left")
    if plan_df is not None:
        line = F.struct(
            F.col("plan_status").alias("status"),
            F.col("order_qty").alias("qty"),
            "supplier",
            "reason",
            F.col("projected_stockout_date").cast("string").alias("stockout"),
            F.col("projected_stockout_date_with_plan").cast("string").alias("stockout_plan"),
        )
        df = df.join(plan_df.select(*KEYS, line.alias("p")), [*KEYS], "left")
    if drivers_df is not None:
        df = df.join(drivers_df, [*KEYS], "left")
    fields = [c for c in ("m", "c", "e", "n", "p", "h", "f", "d") if c in df.columns]
    payload = F.to_json(F.struct(F.col("sku").alias("s"), F.col("location").alias("l"), *fields))
    return df.select(*KEYS, payload.alias("payload"))


def first_series(keys_df: DataFrame, plan_df: DataFrame | None, limit: int) -> DataFrame:
    """The ``limit`` series the report lists when there are more: lines needing review, then
    projected stockouts, then the largest order values (then by key, so the choice is stable).

    Input: ``keys_df`` (``sku, location``), ``plan_df`` (``plan_status,
    projected_stockout_date, order_value``). Output: ``sku, location``.
    """
    if plan_df is None:
        return keys_df.orderBy(*KEYS).limit(limit)
    ranked_df = keys_df.join(
        plan_df.select(
            *KEYS,
            (F.col("plan_status") == PLAN_NEEDS_REVIEW).alias("_held"),
            F.col("projected_stockout_date").isNotNull().alias("_stockout"),
            F.col("order_value").alias("_value"),
        ),
        [*KEYS],
        "left",
    )
    return (
        ranked_df.orderBy(
            F.col("_held").desc_nulls_last(),
            F.col("_stockout").desc_nulls_last(),
            F.col("_value").desc_nulls_last(),
            *KEYS,
        )
        .limit(limit)
        .select(*KEYS)
    )
