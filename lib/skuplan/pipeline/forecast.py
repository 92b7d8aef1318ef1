"""Stage 2: clean sales -> quantile forecasts per SKU-location, fanned out with applyInPandas."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import SparkSession

from skuplan import delta_io, fanout
from skuplan.conf import Conf
from skuplan.errors import InputError, ModelFailureError
from skuplan.forecast import STATUS_OK, forecast_series
from skuplan.pipeline import new_run_id
from skuplan.schemas import KEYS, forecast_series_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastSummary:
    run_id: str
    series: int
    rows: int
    failed_series: int
    models: dict[str, int]

    def __str__(self) -> str:
        models = ", ".join(f"{k}={v}" for k, v in sorted(self.models.items()))
        return (
            f"train_forecast: {self.series} series forecast ({models}), {self.rows} rows, "
            f"{self.failed_series} series fell back"
        )


def run(spark: SparkSession, conf: Conf) -> ForecastSummary:
    """Forecast every series in the clean sales from ``conf.run_date`` on.

    Raises:
        InputError: no clean sales before the run date.
        ModelFailureError: more series fell back than ``forecast.max_failure_share`` allows.
    """
    run_id = new_run_id("train_forecast", conf.run_date)
    settings = conf.forecast
    history_df = (
        delta_io.read_table(
            spark, conf.table("clean_sales"), required=[*KEYS, "date", "qty"], what="clean sales"
        )
        .filter(F.col("date") < F.lit(conf.run_date))
        .select(*KEYS, "date", "qty")
    )
    fn = partial(
        forecast_series,
        run_date=conf.run_date,
        horizon=settings.horizon,
        season_length=settings.season_length,
        quantiles=settings.quantiles,
        min_history=settings.min_history,
    )
    spark.sparkContext.setJobDescription(f"train_forecast {conf.run_date}: fan-out per series")
    forecasts_df = (
        fanout.apply_per_series(history_df, fn, forecast_series_schema(settings.quantiles))
        .select(F.lit(conf.run_date).alias("run_date"), F.lit(run_id).alias("run_id"), "*")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        per_series = (
            forecasts_df.filter(F.col("step") == 1)
            .groupBy("model", (F.col("status") != STATUS_OK).alias("is_failed"))
            .count()
            .collect()
        )
        series = sum(r["count"] for r in per_series)
        if series == 0:
            raise InputError(
                f"no clean sales before {conf.run_date} in {conf.table('clean_sales')}"
            )
        failed = sum(r["count"] for r in per_series if r["is_failed"])
        if failed / series > settings.max_failure_share:
            raise ModelFailureError(
                f"{failed} of {series} series ({failed / series:.1%}) fell back to a simpler model, "
                f"limit {settings.max_failure_share:.1%}; nothing written"
            )
        models: dict[str, int] = {}
        for r in per_series:
            models[r["model"]] = models.get(r["model"], 0) + r["count"]
        spark.sparkContext.setJobDescription(f"train_forecast {conf.run_date}: write forecasts")
        delta_io.replace_partition(forecasts_df, conf.table("forecasts"), "run_date", conf.run_date)
    finally:
        forecasts_df.unpersist()
    summary = ForecastSummary(run_id, series, series * settings.horizon, failed, models)
    log.info("%s", summary)
    return summary
