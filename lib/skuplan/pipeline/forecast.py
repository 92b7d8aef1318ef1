"""Stage 2: clean sales -> per-series backtests, model choice and quantile forecasts.

One ``groupBy("sku", "location").applyInPandas`` fits every competing model once per series;
its stacked output is split into the forecasts, backtest-metrics, model-runs and explanations
tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

import pandas as pd
import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from skuplan import cold_start, delta_io, fanout
from skuplan.columns import KEYS
from skuplan.conf import Conf
from skuplan.errors import InputError, ModelFailureError
from skuplan.forecast import (
    RECORD_EXPLANATION,
    RECORD_FORECAST,
    RECORD_METRIC,
    RECORD_RUN,
    STATUS_OK,
    fallback_records,
    global_group_failed,
    global_group_forecasts,
    series_records,
    series_records_schema,
)
from skuplan.models import registry
from skuplan.pipeline.io import new_run_id
from skuplan.schemas import (
    CLEAN_SALES,
    EXPLANATION_SERIES,
    MODEL_RUN,
    backtest_metrics_schema,
    forecast_series_schema,
    global_forecasts_schema,
)

log = logging.getLogger(__name__)

HISTORY_COLUMNS = [*KEYS, "date", "qty", "price", "promo", "is_stockout"]


@dataclass(frozen=True)
class ForecastSummary:
    run_id: str
    series: int
    failed_series: int
    models: dict[str, int]
    median_mase: float | None
    median_mase_seasonal_naive: float | None

    def __str__(self) -> str:
        models = ", ".join(f"{k}={v}" for k, v in sorted(self.models.items()))
        mase = "n/a" if self.median_mase is None else f"{self.median_mase:.3f}"
        naive = (
            "n/a"
            if self.median_mase_seasonal_naive is None
            else f"{self.median_mase_seasonal_naive:.3f}"
        )
        return (
            f"train_forecast: {self.series} series forecast ({models}); {self.failed_series} fell back; "
            f"median backtest MASE {mase} (seasonal naive {naive})"
        )


def _records_to(records_df: DataFrame, record: str, schema) -> DataFrame:
    return records_df.filter(F.col("record") == record).select(
        "run_date", "run_id", *[F.col(f.name).cast(f.dataType) for f in schema.fields]
    )


def latest_loaded(clean_df: DataFrame) -> DataFrame:
    """One row per series and day: the one from the latest load, when loads overlap.

    A day re-sent in a later load (a correction, or a full reload) replaces the earlier one
    instead of adding to it.

    Input columns: ``HISTORY_COLUMNS`` and ``load_date``. Output: ``HISTORY_COLUMNS``.
    """
    measures = [c for c in HISTORY_COLUMNS if c not in (*KEYS, "date")]
    latest = F.max_by(F.struct(*measures), "load_date").alias("latest")
    return clean_df.groupBy(*KEYS, "date").agg(latest).select(*KEYS, "date", "latest.*")


def _holidays(spark: SparkSession, conf: Conf) -> pd.DataFrame | None:
    """Events from the optional calendar table in Prophet's format (``holiday, ds``).

    The calendar is small (one row per event day), so it travels to the workers with the
    per-series function instead of being joined to every series.
    """
    ref = conf.table("calendar")
    if not delta_io.table_exists(spark, ref):
        log.info("no calendar table at %s: forecasting without events", ref)
        return None
    pdf = delta_io.read_table(spark, ref, required=["date", "event"], what="calendar").toPandas()
    return pd.DataFrame({"holiday": pdf["event"].astype(str), "ds": pd.to_datetime(pdf["date"])})


def _global_forecasts(spark: SparkSession, conf: Conf, history_df: DataFrame) -> DataFrame:
    """Forecasts of the global models, one ``applyInPandas`` group per store or category."""
    group_by = conf.forecast.global_group_by
    if group_by == "category":
        items_df = delta_io.read_table(
            spark, conf.table("items"), required=["sku", "category"], what="item master"
        )
        history_df = history_df.join(items_df.select("sku", "category"), "sku", "left").fillna(
            {"category": "unknown"}
        )
    history_df, group_cols = _capped_groups(history_df, group_by, conf.forecast.global_max_series)
    fn = partial(global_group_forecasts, run_date=conf.run_date, settings=conf.forecast)
    return fanout.apply_per_group(
        history_df,
        fn,
        global_forecasts_schema(conf.forecast.quantiles),
        group_cols,
        fanout_partitions(spark, conf),
        on_error=partial(global_group_failed, settings=conf.forecast),
    )


def _capped_groups(
    history_df: DataFrame, group_by: str, max_series: int | None
) -> tuple[DataFrame, list[str]]:
    """Split each global-model group into hash buckets of at most about ``max_series`` series.

    A group is one pandas frame in one Python worker, so its size bounds the worker's
    memory; a store of 3,000 five-year series would be 5.5M rows. Buckets are by a hash of
    the series keys, so the same data always gives the same split.
    """
    if max_series is None:
        return history_df, [group_by]
    sizes = (
        history_df.select(group_by, *KEYS)
        .distinct()
        .groupBy(group_by)
        .agg(F.ceil(F.count(F.lit(1)) / max_series).alias("_buckets"))
    )
    bucket = F.pmod(F.xxhash64(*KEYS), F.col("_buckets")).alias("_bucket")
    capped = history_df.join(F.broadcast(sizes), group_by).select(*history_df.columns, bucket)
    return capped, [group_by, "_bucket"]


def fanout_partitions(spark: SparkSession, conf: Conf) -> int:
    """Tasks for a per-series fan-out: ``forecast.partitions``, else
    ``forecast.tasks_per_core`` per core."""
    settings = conf.forecast
    return settings.partitions or settings.tasks_per_core * spark.sparkContext.defaultParallelism


def series_weight() -> Column:
    """What ranks a series' cost in the fan-out: its days with demand.

    Smooth series (demand most days) run the costly models, Prophet and LightGBM, and
    intermittent ones only the cheap ones; in the demo a smooth three-year series costs
    about 0.35 s, an intermittent one 0.02 s, and both have the same number of rows.
    """
    return F.count_if(F.col("qty") > 0)


def _new_series(
    spark: SparkSession, conf: Conf, history_df: DataFrame, run_id: str
) -> tuple[DataFrame, DataFrame]:
    """Forecasts and model-run rows for stocked series without any sales yet (daily data)."""
    settings = conf.forecast
    forecast_cols = [f.name for f in forecast_series_schema(settings.quantiles).fields]
    forecasts_df = cold_start.forecast_new_series(
        history_df,
        delta_io.read_table(spark, conf.table("inventory"), required=KEYS, what="inventory"),
        delta_io.read_table(
            spark, conf.table("items"), required=["sku", "category"], what="item master"
        ),
        run_date=conf.run_date,
        horizon=settings.horizon,
        quantiles=settings.quantiles,
    ).select(F.lit(conf.run_date).alias("run_date"), F.lit(run_id).alias("run_id"), *forecast_cols)
    runs_df = forecasts_df.filter(F.col("step") == 1).select(
        "run_date", "run_id", *KEYS,
        F.col("model").alias("chosen_model"), F.lit("new").alias("demand_class"),
        F.lit(cold_start.MODEL).alias("candidates"), "status", "error",
        F.lit(0).alias("training_rows"), F.lit(0).alias("backtest_folds"),
        F.lit(0.0).alias("fit_seconds"), F.lit("{}").alias("params"),
    )  # fmt: skip
    return forecasts_df, runs_df


def run(spark: SparkSession, conf: Conf) -> ForecastSummary:
    """Forecast every series in the clean sales from ``conf.run_date`` on.

    Raises:
        InputError: no clean sales before the run date.
        ModelFailureError: more series fell back than ``forecast.max_failure_share`` allows;
            nothing is written.
    """
    run_id = new_run_id("train_forecast", conf.run_date)
    settings = conf.forecast
    in_window = F.col("date") < F.lit(conf.run_date)
    if settings.max_history_days is not None:
        # Bounds each series' group (held whole in one Python worker) and its fitting time.
        start = conf.run_date - dt.timedelta(days=settings.max_history_days)
        in_window &= F.col("date") >= F.lit(start)
    history_df = latest_loaded(
        delta_io.read_table(
            spark,
            conf.table("clean_sales"),
            what="clean sales",
            types=StructType([CLEAN_SALES[c] for c in (*HISTORY_COLUMNS, "load_date")]),
        ).filter(in_window)
    )
    holidays = _holidays(spark, conf)
    fn = partial(
        series_records,
        run_date=conf.run_date,
        settings=settings,
        holidays=holidays,
        models=dict(registry.MODELS),
    )
    # A series whose fit raises or kills its Python worker gets the last-resort models.
    on_error = partial(
        fallback_records, run_date=conf.run_date, settings=settings, holidays=holidays
    )
    records_schema = series_records_schema(settings.quantiles)
    spark.sparkContext.setJobDescription(
        f"train_forecast {conf.run_date}: backtest and forecast per series"
    )
    if any(m in registry.GLOBAL_MODELS for m in settings.models):
        global_df = _global_forecasts(spark, conf, history_df)
        records_df = fanout.apply_per_series_with(
            history_df,
            global_df,
            lambda h, g: fn(h, external=g if len(g) else None),
            records_schema,
            partitions=fanout_partitions(spark, conf),
            on_error=on_error,
            weight=series_weight(),
        )
    else:
        records_df = fanout.apply_per_series(
            history_df,
            fn,
            records_schema,
            partitions=fanout_partitions(spark, conf),
            on_error=on_error,
            weight=series_weight(),
        )
    records_df = records_df.select(
        F.lit(conf.run_date).alias("run_date"), F.lit(run_id).alias("run_id"), "*"
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        runs_df = _records_to(records_df, RECORD_RUN, MODEL_RUN)
        per_model = (
            runs_df.groupBy("chosen_model", (F.col("status") != STATUS_OK).alias("is_failed"))
            .count()
            .collect()
        )
        series = sum(r["count"] for r in per_model)
        if series == 0:
            raise InputError(
                f"no clean sales before {conf.run_date} in {conf.table('clean_sales')}"
            )
        failed = sum(r["count"] for r in per_model if r["is_failed"])
        if failed / series > settings.max_failure_share:
            raise ModelFailureError(
                f"{failed} of {series} series ({failed / series:.1%}) fell back to a simpler model, "
                f"limit {settings.max_failure_share:.1%}; nothing written"
            )
        models: dict[str, int] = {}
        for r in per_model:
            models[r["chosen_model"]] = models.get(r["chosen_model"], 0) + r["count"]
        metrics_df = _records_to(
            records_df, RECORD_METRIC, backtest_metrics_schema(settings.quantiles)
        )
        mase = (
            metrics_df.groupBy()
            .agg(
                F.percentile_approx(F.when(F.col("is_selected"), F.col("mase")), 0.5).alias(
                    "chosen"
                ),
                F.percentile_approx(
                    F.when(F.col("model") == "seasonal_naive", F.col("mase")), 0.5
                ).alias("naive"),
            )
            .first()
        )
        spark.sparkContext.setJobDescription(f"train_forecast {conf.run_date}: write forecasts")
        outputs = {
            "forecasts": _records_to(
                records_df, RECORD_FORECAST, forecast_series_schema(settings.quantiles)
            ),
            "backtest_metrics": metrics_df,
            "model_runs": runs_df,
            # New series get a category mean below: nothing to explain.
            "explanations": _records_to(records_df, RECORD_EXPLANATION, EXPLANATION_SERIES),
        }
        if settings.freq == "D":
            new_forecasts_df, new_runs_df = _new_series(spark, conf, history_df, run_id)
            outputs["forecasts"] = outputs["forecasts"].unionByName(new_forecasts_df)
            outputs["model_runs"] = outputs["model_runs"].unionByName(new_runs_df)
        for key, df in outputs.items():
            delta_io.replace_partition(df, conf.table(key), "run_date", conf.run_date)
    finally:
        records_df.unpersist()
    summary = ForecastSummary(run_id, series, failed, models, mase["chosen"], mase["naive"])
    log.info("%s", summary)
    return summary
