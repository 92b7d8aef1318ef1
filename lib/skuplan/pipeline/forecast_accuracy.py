"""The forecast stage's realised accuracy: earlier run dates' forecasts scored against the
sales known on this run date, kept in ``forecast_accuracy``.

One row per forecast run date, series and period, MERGEd on those keys: a run date scores
the periods of its last ``forecast.accuracy_days`` days that have sales, so a late or
corrected load is scored again by the next run, and re-running a run date (or an older one)
never duplicates a row nor replaces a newer run date's score.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from skuplan import delta_io
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import ForecastSettings
from skuplan.forecasting import realised
from skuplan.pipeline.io import StageTables

log = logging.getLogger(__name__)

TABLE = "forecast_accuracy"
ROW_KEYS = ["forecast_run_date", *KEYS, "date"]


def score_earlier_forecasts(
    tables: StageTables, history_df: DataFrame, settings: ForecastSettings
) -> dict | None:
    """Score the earlier forecasts of the last ``accuracy_days`` days against ``history_df``
    (the sales as known on the run date) into ``forecast_accuracy``; their WAPE, bias and
    band coverage, or None before any forecast was written."""
    forecasts_df = tables.optional("forecasts")
    if forecasts_df is None or TABLE not in tables.conf.tables:
        return None
    since = tables.run_date - dt.timedelta(days=settings.accuracy_days)
    low, high = (quantile_column(q) for q in (min(settings.quantiles), max(settings.quantiles)))
    has_band = low != high and {low, high} <= set(forecasts_df.columns)
    tables.describe("score earlier forecasts")
    rows_df = realised.realised_rows(
        forecasts_df,
        history_df,
        since=since,
        until=tables.run_date,
        band=(low, high) if has_band else None,
    )
    rows_df = tables.stamp(rows_df).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary = realised.realised_summary(rows_df)
        if summary["periods"]:
            delta_io.upsert(
                rows_df,
                tables.ref(TABLE),
                ROW_KEYS,
                scope=f"t.date >= DATE'{since.isoformat()}'",  # older files are skipped
                newer="run_date",
            )
    finally:
        rows_df.unpersist()
    log.info(
        "%s: %d earlier forecast periods since %s scored against sales",
        tables.job, summary["periods"], since,
    )  # fmt: skip
    return summary
