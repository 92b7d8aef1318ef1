"""The forecast stage's realised accuracy: earlier run dates' forecasts scored against the
sales known on this run date, kept in ``forecast_accuracy``.

One row per forecast run date, series and period, MERGEd on those keys: a run date scores
the periods of its last ``forecast.accuracy_days`` days that have been loaded, so a late or
corrected load is scored again by the next run; a row is rewritten only when its actual or
forecast changed (``run_date`` is the run that scored its values), and re-running a run
date (or an older one) never duplicates a row nor replaces a newer run date's score.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pyspark.sql.functions as F
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


def scored(
    tables: StageTables, history_df: DataFrame, settings: ForecastSettings
) -> DataFrame | None:
    """The earlier forecasts of the last ``accuracy_days`` days scored against
    ``history_df`` (the sales as known on the run date), stamped and kept (the caller
    unpersists them); None before any forecast was written."""
    forecasts_df = tables.optional("forecasts")
    if forecasts_df is None or TABLE not in tables.conf.tables:
        return None
    low, high = (quantile_column(q) for q in (min(settings.quantiles), max(settings.quantiles)))
    has_band = low != high and {low, high} <= set(forecasts_df.columns)
    # Only forecasts whose horizon reaches the window (partitions by run date are skipped).
    reach = settings.horizon * pd.tseries.frequencies.to_offset(settings.freq)
    oldest = (pd.Timestamp(since(tables, settings)) - reach).date()
    rows_df = realised.realised_rows(
        forecasts_df.filter(F.col("run_date") >= F.lit(oldest)),
        history_df,
        since=since(tables, settings),
        until=tables.run_date,
        band=(low, high) if has_band else None,
    )
    return tables.stamp(rows_df).persist(StorageLevel.MEMORY_AND_DISK)


def since(tables: StageTables, settings: ForecastSettings) -> dt.date:
    return tables.run_date - dt.timedelta(days=settings.accuracy_days)


def write(tables: StageTables, rows_df: DataFrame, settings: ForecastSettings) -> dict:
    """MERGE :func:`scored`'s rows into ``forecast_accuracy``; their WAPE, bias and band
    coverage."""
    tables.describe("score earlier forecasts")
    summary = realised.realised_summary(rows_df)
    start = since(tables, settings)
    if summary["periods"]:
        delta_io.upsert(
            rows_df,
            tables.ref(TABLE),
            ROW_KEYS,
            scope=f"t.date >= DATE'{start.isoformat()}'",  # older files are skipped
            newer="run_date",
            changed=["actual", "yhat", "is_in_band"],
        )
    log.info(
        "%s: %d earlier forecast periods since %s scored against sales",
        tables.job, summary["periods"], start,
    )  # fmt: skip
    return summary
