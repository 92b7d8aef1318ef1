"""The report's data: Spark aggregations of the run date's tables, then small, bounded collects.

Every function but :func:`collect` is ``DataFrame -> DataFrame``. The per-series part is
built in Spark as one compact JSON document per series (``payload``), so the driver only
joins strings; its size is bounded by ``report.max_series`` and ``report.history_days``.

Payload keys (short: 1,000 of them are embedded in the page): ``s`` sku, ``l`` location,
``m`` model, ``c`` demand class, ``e`` backtest MASE of the chosen model, ``n`` MASE of
seasonal naive, ``p`` plan line (``status, qty, supplier, reason, stockout, stockout_plan``),
``h`` history (``t`` days from the run date, ``y`` qty, ``so`` stockout days), ``f`` forecast
(``t``, ``y`` point, ``lo``/``mid``/``hi`` quantiles) and ``d`` drivers (``n`` name, ``t``,
``c`` contribution), largest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from skuplan import delta_io
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import Conf
from skuplan.errors import InputError

NAIVE = "seasonal_naive"
CHOSEN = "chosen per series"
MASE_BIN_WIDTH = 0.1
MASE_BINS = 30  # the last bin holds everything from 3.0 up
# The drivers past report.max_drivers, summed; not "other", which the forecast stage uses
# for a driver of its own (a global model's item/location identity).
SMALLER_DRIVERS = "smaller drivers"


@dataclass(frozen=True)
class PlanTables:
    """The plan summary: small tables, each already bounded."""

    status: pd.DataFrame  # plan_status, lines, order_lines, units, value
    suppliers: pd.DataFrame  # supplier, order_lines, units, value, released_lines, held_lines
    review: pd.DataFrame  # lines needing review (first max_table_rows)
    review_total: int
    stockouts: pd.DataFrame  # lines with a projected stockout (first max_table_rows)
    stockouts_total: int
    exceptions: pd.DataFrame  # plan_status, cause, lines


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML needs, already small (pandas and JSON text)."""

    run_date: dt.date
    band: tuple[str, str]  # the outer quantile columns, e.g. ("q10", "q90")
    nominal_coverage: float  # the outer band's nominal coverage, e.g. 0.8
    accuracy: pd.DataFrame  # one row per model (see accuracy_by_model), CHOSEN first
    mase_hist: pd.DataFrame  # kind (chosen | seasonal naive), bin, series
    series: list[str]  # JSON payloads
    series_total: int
    plan: PlanTables | None
    has_explanations: bool
    run_ids: dict[str, str] = field(default_factory=dict)


def accuracy_by_model(metrics_df: DataFrame) -> DataFrame:
    """Backtest accuracy per candidate model and for the chosen model of each series.

    Input: ``sku, location, model, mase, wape, coverage, is_selected``. Output:
    ``model, series_chosen, series_scored, median_mase, median_mase_naive`` (seasonal naive
    on the same series), ``share_beating_naive, median_wape, mean_coverage``; the row
    ``model = CHOSEN`` scores each series' selected model.
    """
    naive_df = metrics_df.filter(F.col("model") == NAIVE).select(
        *KEYS, F.col("mase").alias("naive_mase")
    )
    scored_df = metrics_df.join(naive_df, [*KEYS], "left")
    both = F.col("mase").isNotNull() & F.col("naive_mase").isNotNull()

    def summary(df: DataFrame) -> DataFrame:
        return df.groupBy("model").agg(
            F.sum(F.coalesce(F.col("is_selected").cast("int"), F.lit(0))).alias("series_chosen"),
            F.count("mase").alias("series_scored"),
            F.median("mase").alias("median_mase"),
            F.median(F.when(both, F.col("naive_mase"))).alias("median_mase_naive"),
            F.avg(F.when(both, (F.col("mase") < F.col("naive_mase")).cast("double"))).alias(
                "share_beating_naive"
            ),
            F.median("wape").alias("median_wape"),
            F.avg("coverage").alias("mean_coverage"),
        )

    chosen_df = scored_df.filter(F.col("is_selected")).withColumn("model", F.lit(CHOSEN))
    return summary(chosen_df).unionByName(summary(scored_df))


def mase_histogram(metrics_df: DataFrame) -> DataFrame:
    """Series per MASE bin, for the chosen models and for seasonal naive.

    Input: ``sku, location, model, mase, is_selected``. Output: ``kind, bin, series`` with
    ``bin`` the lower edge's index (``MASE_BIN_WIDTH`` wide, the last bin open-ended).
    """
    chosen = F.when(F.col("is_selected"), F.lit("chosen"))
    naive = F.when(F.col("model") == NAIVE, F.lit("seasonal naive"))
    # A series whose chosen model is seasonal naive counts in both histograms.
    rows_df = metrics_df.filter(F.col("mase").isNotNull()).select(
        F.explode(F.array_compact(F.array(chosen, naive))).alias("kind"),
        F.least(F.floor(F.col("mase") / MASE_BIN_WIDTH), F.lit(MASE_BINS)).cast("int").alias("bin"),
    )
    return rows_df.groupBy("kind", "bin").agg(F.count(F.lit(1)).alias("series"))


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
    ``SMALLER_DRIVERS``, listed last. A null contribution counts as 0. Two shuffles: per driver, then per series; the rest is array functions.
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
            (F.col("plan_status") == "needs_review").alias("_held"),
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


def orders_by_supplier(plan_df: DataFrame) -> DataFrame:
    """Order lines per supplier: ``supplier, order_lines, units, value, released_lines,
    held_lines`` (held: needing review), largest value first.

    Input: ``supplier, order_qty, order_value, plan_status``.
    """
    is_order = F.col("order_qty") > 0
    return (
        plan_df.filter(is_order)
        .groupBy(F.coalesce("supplier", F.lit("(none)")).alias("supplier"))
        .agg(
            F.count(F.lit(1)).alias("order_lines"),
            F.sum("order_qty").alias("units"),
            F.sum("order_value").alias("value"),
            F.sum((F.col("plan_status") == "planned").cast("int")).alias("released_lines"),
            F.sum((F.col("plan_status") == "needs_review").cast("int")).alias("held_lines"),
        )
        .orderBy(F.desc("value"), "supplier")
    )


def status_counts(plan_df: DataFrame) -> DataFrame:
    """Lines per ``plan_status``: ``plan_status, lines, order_lines, units, value``."""
    return (
        plan_df.groupBy("plan_status")
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.sum((F.col("order_qty") > 0).cast("int")).alias("order_lines"),
            F.sum("order_qty").alias("units"),
            F.sum("order_value").alias("value"),
        )
        .orderBy("plan_status")
    )


def exception_counts(plan_df: DataFrame) -> DataFrame:
    """Lines not planned or quarantined, per cause: ``plan_status, cause, lines``."""
    return (
        plan_df.filter(F.col("exception_reason").isNotNull())
        .groupBy("plan_status", F.col("exception_reason").alias("cause"))
        .agg(F.count(F.lit(1)).alias("lines"))
        .orderBy(F.desc("lines"), "cause")
    )


REVIEW_COLUMNS = [
    *KEYS, "supplier", "order_qty", "prev_order_qty", "daily_demand", "prev_daily_demand",
    "review_reasons", "reason",
]  # fmt: skip
STOCKOUT_COLUMNS = [
    *KEYS, "supplier", "plan_status", "on_hand", "inventory_position", "daily_demand",
    "order_qty", "expected_arrival", "projected_stockout_date", "projected_stockout_date_with_plan",
]  # fmt: skip


def lines_needing_review(plan_df: DataFrame) -> DataFrame:
    """Held lines (``REVIEW_COLUMNS``), the largest order change first."""
    change = F.abs(F.col("order_qty") - F.coalesce("prev_order_qty", F.lit(0.0)))
    return (
        plan_df.filter(F.col("plan_status") == "needs_review")
        .select(*REVIEW_COLUMNS)
        .orderBy(F.desc(change), *KEYS)
    )


def projected_stockouts(plan_df: DataFrame) -> DataFrame:
    """Lines (``STOCKOUT_COLUMNS``) whose projected stock without the new order goes below
    zero within the horizon: those still short with it first, then the earliest."""
    return (
        plan_df.filter(F.col("projected_stockout_date").isNotNull())
        .select(*STOCKOUT_COLUMNS)
        .orderBy(
            F.col("projected_stockout_date_with_plan").asc_nulls_last(),
            "projected_stockout_date",
            *KEYS,
        )
    )


def _optional(spark: SparkSession, conf: Conf, key: str) -> DataFrame | None:
    if key not in conf.tables or not delta_io.table_exists(spark, conf.table(key)):
        return None
    return delta_io.read_table(spark, conf.table(key), what=key.replace("_", " "))


def _of_run_date(df: DataFrame | None, run_date: dt.date) -> DataFrame | None:
    if df is None or "run_date" not in df.columns:
        return df
    return df.filter(F.col("run_date") == F.lit(run_date))


def collect(spark: SparkSession, conf: Conf) -> ReportData:
    """Read the run date's outputs, aggregate in Spark and bring the small results to the driver.

    Raises:
        InputError: no forecasts for the run date, or a required table is missing.
    """
    run_date = conf.run_date
    quantiles = conf.forecast.quantiles
    band = (quantile_column(min(quantiles)), quantile_column(max(quantiles)))
    forecasts_df = delta_io.read_table(
        spark,
        conf.table("forecasts"),
        required=["run_date", "run_id", *KEYS, "date", "model", "yhat", "q50", *band],
        what="forecasts",
    ).filter(F.col("run_date") == F.lit(run_date))
    clean_df = delta_io.read_table(
        spark,
        conf.table("clean_sales"),
        required=[*KEYS, "date", "qty", "is_stockout", "load_date"],
        what="clean sales",
    )
    inputs = _Inputs(
        forecasts_df,
        clean_df,
        *[
            _of_run_date(_optional(spark, conf, key), run_date)
            for key in ("backtest_metrics", "model_runs", "reorder_plan", "explanations")
        ],
    )
    # Each of these feeds several small queries: read once.
    cached = [
        df.persist() for df in (inputs.forecasts, inputs.metrics, inputs.plan) if df is not None
    ]
    try:
        return _collect(spark, conf, band, inputs)
    finally:
        for df in cached:
            df.unpersist()


class _Inputs(NamedTuple):
    forecasts: DataFrame
    clean: DataFrame
    metrics: DataFrame | None
    runs: DataFrame | None
    plan: DataFrame | None
    explanations: DataFrame | None


def _collect(spark: SparkSession, conf: Conf, band: tuple[str, str], inputs: _Inputs) -> ReportData:
    run_date, settings = conf.run_date, conf.report
    forecasts_df, clean_df, metrics_df, runs_df, plan_df, explanations_df = inputs
    set_description = spark.sparkContext.setJobDescription
    set_description(f"report {run_date}: series")
    totals = forecasts_df.agg(
        F.count_distinct(*KEYS).alias("series"), F.max("run_id").alias("run_id")
    ).first()
    if not totals["series"]:
        raise InputError(f"no forecasts for {run_date} in {conf.table('forecasts')}")
    # Past report.max_series, only the listed series are assembled and collected.
    listed_df = first_series(forecasts_df.select(*KEYS).distinct(), plan_df, settings.max_series)
    fc_df = forecast_arrays(forecasts_df.join(listed_df, [*KEYS], "left_semi"), run_date, band)
    drivers_df = (
        driver_arrays(
            explanations_df,
            fc_df.select(*KEYS, F.col("m").alias("model")),
            run_date,
            settings.max_drivers,
        )
        if explanations_df is not None
        else None
    )
    payloads_df = series_payloads(
        fc_df,
        history_arrays(clean_df, run_date, settings.history_days),
        metrics_df,
        runs_df,
        plan_df,
        drivers_df,
    )
    rows = payloads_df.collect()
    series = [r["payload"] for r in sorted(rows, key=lambda r: (r["sku"], r["location"]))]

    set_description(f"report {run_date}: accuracy")
    if metrics_df is not None:
        accuracy = accuracy_by_model(metrics_df).toPandas()
        mase_hist = mase_histogram(metrics_df).toPandas()
    else:
        accuracy, mase_hist = pd.DataFrame(), pd.DataFrame(columns=["kind", "bin", "series"])

    plan, plan_run_id = None, None
    if plan_df is not None:
        set_description(f"report {run_date}: plan summary")
        counts = plan_df.agg(
            F.count(F.lit(1)).alias("lines"),
            F.count_if(F.col("plan_status") == "needs_review").alias("review"),
            F.count_if(F.col("projected_stockout_date").isNotNull()).alias("stockouts"),
            F.max("run_id").alias("run_id"),
        ).first()
        limit, plan_run_id = settings.max_table_rows, counts["run_id"]
        if counts["lines"]:
            plan = PlanTables(
                status=status_counts(plan_df).toPandas(),
                suppliers=orders_by_supplier(plan_df).toPandas(),
                review=lines_needing_review(plan_df).limit(limit).toPandas(),
                review_total=counts["review"],
                stockouts=projected_stockouts(plan_df).limit(limit).toPandas(),
                stockouts_total=counts["stockouts"],
                exceptions=exception_counts(plan_df).toPandas(),
            )
    set_description(None)
    run_ids = {"forecast": totals["run_id"], "plan": plan_run_id}
    return ReportData(
        run_date=run_date,
        band=band,
        nominal_coverage=max(conf.forecast.quantiles) - min(conf.forecast.quantiles),
        accuracy=accuracy,
        mase_hist=mase_hist,
        series=series,
        series_total=totals["series"],
        plan=plan,
        has_explanations=explanations_df is not None,
        run_ids={k: v for k, v in run_ids.items() if v},
    )
