"""Closed days: dates on which the whole business is closed (the calendar's ``closed`` rows).

Nothing sells on a closed day, so its shipped forecast and band are zero whatever the
models made of it, and the drop is explained by the ``holiday`` driver (the closure is a
calendar event). A closed day sends no sales either: the day after it finds no new sales,
which is the calendar's doing, not a late load (:func:`last_open_day`). The models read a
closed day's zero as sales: an estimate of the demand in its place forecast the weeks after
Christmas worse on M5 (BENCHMARKS.md, "Closed days").

DataFrame -> DataFrame functions, and :func:`last_open_day` on plain dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

HOLIDAY = "holiday"


def last_open_day(day: dt.date, closed: Collection[dt.date]) -> dt.date:
    """``day``, or the last day before it that is not closed."""
    while day in closed:
        day -= dt.timedelta(days=1)
    return day


def with_closed_days_zeroed(
    forecasts_df: DataFrame, closed: Iterable[dt.date], columns: Iterable[str]
) -> DataFrame:
    """``columns`` (the point forecast and its quantiles) set to zero on closed dates.

    Input columns: ``date`` and ``columns``.
    """
    closed = sorted(closed)
    if not closed:
        return forecasts_df
    on_closed = F.col("date").isin(closed)
    return forecasts_df.withColumns(
        {c: F.when(on_closed, F.lit(0.0)).otherwise(F.col(c)) for c in columns}
    )


def with_closures_explained(explanations_df: DataFrame, closed: Iterable[dt.date]) -> DataFrame:
    """On closed dates, the ``holiday`` driver takes minus the other drivers' sum, so that a
    forecast's contributions still add up to it (zero); other dates are left as they are.

    Input columns: ``date``, ``driver``, ``contribution`` and the columns that identify one
    forecast (series keys, model, run stamps), which group its drivers.
    """
    closed = sorted(closed)
    if not closed:
        return explanations_df
    on_closed = F.col("date").isin(closed)
    forecast_columns = [c for c in explanations_df.columns if c not in ("driver", "contribution")]
    other = F.when(F.col("driver") != HOLIDAY, F.col("contribution")).otherwise(0.0)
    closure_df = (
        explanations_df.filter(on_closed)
        .groupBy(*forecast_columns)
        .agg((-F.sum(other)).alias("contribution"))
        .withColumn("driver", F.lit(HOLIDAY))
    )
    kept_df = explanations_df.filter(~on_closed | (F.col("driver") != HOLIDAY))
    return kept_df.unionByName(closure_df.select(*explanations_df.columns))
