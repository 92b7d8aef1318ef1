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

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession, Window

from skuplan import delta_io
from skuplan.conf import Conf
from skuplan.errors import InputError
from skuplan.schemas import KEYS, quantile_column

NAIVE = "seasonal_naive"
CHOSEN = "chosen per series"
MASE_BIN_WIDTH = 0.1
MASE_BINS = 30  # the last bin holds everything from 3.0 up
OTHER_DRIVERS = "other"


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


def latest_history(clean_df: DataFrame, run_date: dt.date, days: int) -> DataFrame:
    """Daily sales of the ``days`` days before ``run_date``, the latest load of each day.

    As in forecasting, a day re-sent in a later load replaces the earlier one.
    Input: ``sku, location, date, qty, is_stockout, load_date``.
    Output: ``sku, location, t`` (days from the run date, negative), ``qty, is_stockout``.
    """
    start = run_date - dt.timedelta(days=days)
    latest = F.max_by(F.struct("qty", "is_stockout"), "load_date")
    return (
        clean_df.filter((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(run_date)))
        .groupBy(*KEYS, "date")
        .agg(latest.alias("latest"))
        .select(
            *KEYS,
            F.datediff("date", F.lit(run_date)).alias("t"),
            F.col("latest.qty").alias("qty"),
            F.col("latest.is_stockout").alias("is_stockout"),
        )
    )


def _series_arrays(df: DataFrame, values: dict[str, F.Column], extra_keys=()) -> DataFrame:
    """One row per series (and ``extra_keys``): arrays of ``values`` ordered by ``t``."""
    points = F.array_sort(F.collect_list(F.struct("t", *[v.alias(k) for k, v in values.items()])))
    return (
        df.groupBy(*KEYS, *extra_keys)
        .agg(points.alias("_points"))
        .select(
            *KEYS,
            *extra_keys,
            # A field of an array of structs is the array of that field.
            F.col("_points").getField("t").alias("t"),
            *[F.col("_points").getField(k).alias(k) for k in values],
        )
    )


def history_arrays(history_df: DataFrame) -> DataFrame:
    """``sku, location, h``: the history as ``{t, y, so}`` (see :func:`latest_history`)."""
    arrays_df = _series_arrays(history_df, {"y": F.round("qty", 2)})
    stockouts_df = (
        history_df.filter(F.col("is_stockout"))
        .groupBy(*KEYS)
        .agg(F.array_sort(F.collect_list("t")).alias("so"))
    )
    return arrays_df.join(stockouts_df, [*KEYS], "left").select(
        *KEYS, F.struct("t", "y", "so").alias("h")
    )


def forecast_arrays(forecasts_df: DataFrame, run_date: dt.date, band: tuple[str, str]) -> DataFrame:
    """``sku, location, m, f``: the chosen model and the forecast as ``{t, y, lo, mid, hi}``.

    Input: ``sku, location, date, model, yhat, q50`` and the ``band`` quantile columns.
    """
    lo, hi = band
    df = forecasts_df.withColumn("t", F.datediff("date", F.lit(run_date)))
    values = {
        "y": F.round("yhat", 2),
        "lo": F.round(lo, 2),
        "mid": F.round("q50", 2),
        "hi": F.round(hi, 2),
    }
    models_df = forecasts_df.groupBy(*KEYS).agg(F.max("model").alias("m"))
    return (
        _series_arrays(df, values)
        .join(models_df, [*KEYS])
        .select(*KEYS, "m", F.struct("t", *values).alias("f"))
    )


def driver_arrays(
    explanations_df: DataFrame, models_df: DataFrame, run_date: dt.date, max_drivers: int
) -> DataFrame:
    """``sku, location, d``: the chosen model's drivers per forecast day, largest first.

    Input: ``explanations_df`` (``sku, location, date, model, driver, contribution``) of one
    run date; ``models_df`` (``sku, location, m``, the chosen model). Drivers past the
    ``max_drivers`` largest (by total absolute contribution) are summed as ``other``.
    """
    df = explanations_df.join(
        models_df.select(*KEYS, F.col("m").alias("model")), [*KEYS, "model"]
    ).withColumn("t", F.datediff("date", F.lit(run_date)))
    weight = df.groupBy(*KEYS, "driver").agg(F.sum(F.abs("contribution")).alias("_weight"))
    rank = F.row_number().over(
        Window.partitionBy(*KEYS).orderBy(F.desc("_weight"), F.col("driver"))
    )
    named_df = (
        df.join(weight.withColumn("_rank", rank), [*KEYS, "driver"])
        .withColumn(
            "n", F.when(F.col("_rank") <= max_drivers, F.col("driver")).otherwise(OTHER_DRIVERS)
        )
        .groupBy(*KEYS, "n", "t")
        .agg(F.sum("contribution").alias("c"), F.sum(F.abs("contribution")).alias("_abs"))
    )
    per_driver_df = _series_arrays(named_df, {"c": F.round("c", 3)}, extra_keys=("n",)).join(
        named_df.groupBy(*KEYS, "n").agg(F.sum("_abs").alias("_weight")), [*KEYS, "n"]
    )
    drivers = F.array_sort(
        F.collect_list(F.struct((-F.col("_weight")).alias("_order"), "n", "t", "c"))
    )
    return per_driver_df.groupBy(*KEYS).agg(
        F.transform(drivers, lambda d: d.dropFields("_order")).alias("d")
    )


def series_payloads(
    forecast_df: DataFrame,
    history_df: DataFrame,
    metrics_df: DataFrame | None,
    runs_df: DataFrame | None,
    plan_df: DataFrame | None,
    drivers_df: DataFrame | None,
) -> DataFrame:
    """One row per forecast series: ``sku, location, payload`` (JSON text) and the columns
    that rank series for the cap: ``is_held, has_stockout, order_value``.

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
        df = df.join(
            plan_df.select(
                *KEYS,
                line.alias("p"),
                (F.col("plan_status") == "needs_review").alias("is_held"),
                F.col("projected_stockout_date").isNotNull().alias("has_stockout"),
                "order_value",
            ),
            [*KEYS],
            "left",
        )
    else:
        df = df.select(
            "*",
            F.lit(False).alias("is_held"),
            F.lit(False).alias("has_stockout"),
            F.lit(None).cast("double").alias("order_value"),
        )
    if drivers_df is not None:
        df = df.join(drivers_df, [*KEYS], "left")
    fields = [c for c in ("m", "c", "e", "n", "p", "h", "f", "d") if c in df.columns]
    payload = F.to_json(F.struct(F.col("sku").alias("s"), F.col("location").alias("l"), *fields))
    return df.select(*KEYS, "is_held", "has_stockout", "order_value", payload.alias("payload"))


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


def _run_id(df: DataFrame | None) -> str | None:
    if df is None or "run_id" not in df.columns:
        return None
    row = df.select("run_id").limit(1).first()
    return row["run_id"] if row else None


def collect(spark: SparkSession, conf: Conf) -> ReportData:
    """Read the run date's outputs, aggregate in Spark and bring the small results to the driver.

    Raises:
        InputError: no forecasts for the run date, or a required table is missing.
    """
    run_date, settings = conf.run_date, conf.report
    quantiles = conf.forecast.quantiles
    band = (quantile_column(min(quantiles)), quantile_column(max(quantiles)))
    forecasts_df = delta_io.read_table(
        spark,
        conf.table("forecasts"),
        required=["run_date", *KEYS, "date", "model", "yhat", "q50", *band],
        what="forecasts",
    ).filter(F.col("run_date") == F.lit(run_date))
    if forecasts_df.isEmpty():
        raise InputError(f"no forecasts for {run_date} in {conf.table('forecasts')}")
    clean_df = delta_io.read_table(
        spark,
        conf.table("clean_sales"),
        required=[*KEYS, "date", "qty", "is_stockout", "load_date"],
        what="clean sales",
    )
    metrics_df = _of_run_date(_optional(spark, conf, "backtest_metrics"), run_date)
    runs_df = _of_run_date(_optional(spark, conf, "model_runs"), run_date)
    plan_df = _of_run_date(_optional(spark, conf, "reorder_plan"), run_date)
    explanations_df = _of_run_date(_optional(spark, conf, "explanations"), run_date)

    fc_df = forecast_arrays(forecasts_df, run_date, band)
    drivers_df = (
        driver_arrays(explanations_df, fc_df, run_date, settings.max_drivers)
        if explanations_df is not None
        else None
    )
    payloads_df = series_payloads(
        fc_df,
        history_arrays(latest_history(clean_df, run_date, settings.history_days)),
        metrics_df,
        runs_df,
        plan_df,
        drivers_df,
    )
    spark.sparkContext.setJobDescription(f"report {run_date}: series")
    series_total = fc_df.count()
    rows = (
        payloads_df.orderBy(
            F.col("is_held").desc_nulls_last(),
            F.col("has_stockout").desc_nulls_last(),
            F.col("order_value").desc_nulls_last(),
            *KEYS,
        )
        .limit(settings.max_series)
        .select(*KEYS, "payload")
        .collect()
    )
    series = [r["payload"] for r in sorted(rows, key=lambda r: (r["sku"], r["location"]))]

    spark.sparkContext.setJobDescription(f"report {run_date}: accuracy")
    if metrics_df is not None:
        accuracy = accuracy_by_model(metrics_df).toPandas()
        mase_hist = mase_histogram(metrics_df).toPandas()
    else:
        accuracy, mase_hist = pd.DataFrame(), pd.DataFrame(columns=["kind", "bin", "series"])

    plan = None
    if plan_df is not None and not plan_df.isEmpty():
        spark.sparkContext.setJobDescription(f"report {run_date}: plan summary")
        limit = settings.max_table_rows
        review_df, stockouts_df = lines_needing_review(plan_df), projected_stockouts(plan_df)
        plan = PlanTables(
            status=status_counts(plan_df).toPandas(),
            suppliers=orders_by_supplier(plan_df).toPandas(),
            review=review_df.limit(limit).toPandas(),
            review_total=review_df.count(),
            stockouts=stockouts_df.limit(limit).toPandas(),
            stockouts_total=stockouts_df.count(),
            exceptions=exception_counts(plan_df).toPandas(),
        )
    spark.sparkContext.setJobDescription(None)
    run_ids = {
        "forecast": _run_id(forecasts_df),
        "plan": _run_id(plan_df),
    }
    return ReportData(
        run_date=run_date,
        band=band,
        nominal_coverage=max(quantiles) - min(quantiles),
        accuracy=accuracy,
        mase_hist=mase_hist,
        series=series,
        series_total=series_total,
        plan=plan,
        has_explanations=explanations_df is not None,
        run_ids={k: v for k, v in run_ids.items() if v},
    )
