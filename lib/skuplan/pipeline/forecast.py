"""Stage 2: clean sales -> per-series backtests, model choice and quantile forecasts.

One ``groupBy("sku", "location").applyInPandas`` fits every competing model once per series;
its stacked output is split into the forecasts, backtest-metrics and model-runs tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from skuplan import delta_io, fanout
from skuplan.conf import Conf
from skuplan.errors import InputError, ModelFailureError
from skuplan.forecast import RECORD_FORECAST, RECORD_METRIC, RECORD_RUN, STATUS_OK, series_records
from skuplan.pipeline import new_run_id
from skuplan.schemas import (
    KEYS,
    MODEL_RUN,
    backtest_metrics_schema,
    forecast_series_schema,
    series_records_schema,
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


def run(spark: SparkSession, conf: Conf) -> ForecastSummary:
    """Forecast every series in the clean sales from ``conf.run_date`` on.

    Raises:
        InputError: no clean sales before the run date.
        ModelFailureError: more series fell back than ``forecast.max_failure_share`` allows;
            nothing is written.
    """
    run_id = new_run_id("train_forecast", conf.run_date)
    settings = conf.forecast
    history_df = (
        delta_io.read_table(
            spark, conf.table("clean_sales"), required=HISTORY_COLUMNS, what="clean sales"
        )
        .filter(F.col("date") < F.lit(conf.run_date))
        .select(*HISTORY_COLUMNS)
    )
    fn = partial(series_records, run_date=conf.run_date, settings=settings)
    spark.sparkContext.setJobDescription(
        f"train_forecast {conf.run_date}: backtest and forecast per series"
    )
    records_df = (
        fanout.apply_per_series(history_df, fn, series_records_schema(settings.quantiles))
        .select(F.lit(conf.run_date).alias("run_date"), F.lit(run_id).alias("run_id"), "*")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
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
        }
        for key, df in outputs.items():
            delta_io.replace_partition(df, conf.table(key), "run_date", conf.run_date)
    finally:
        records_df.unpersist()
    summary = ForecastSummary(run_id, series, failed, models, mase["chosen"], mase["naive"])
    log.info("%s", summary)
    return summary
