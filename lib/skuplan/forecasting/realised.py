"""Realised accuracy: earlier runs' forecasts next to what then sold.

Backtests say how a model would have done; these rows say how the shipped forecasts did.
The forecast stage scores, on each run date, the forecasts of earlier run dates whose
periods have since been sold (:func:`realised_rows`); :func:`realised_summary` sums them up.
"""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan.columns import KEYS


def realised_rows(
    forecasts_df: DataFrame,
    actuals_df: DataFrame,
    *,
    since: dt.date,
    until: dt.date,
    band: tuple[str, str] | None,
) -> DataFrame:
    """Each earlier forecast of a period in ``[since, until)`` that has an actual, with it.

    Args:
        forecasts_df: the forecasts table: ``run_date, sku, location, date, step, model,
            yhat`` and the band's quantile columns.
        actuals_df: sales as known now, one row per series and period: ``sku, location,
            date, qty`` and optionally ``is_stockout``. A period no series has a row for
            has not been loaded yet and is not scored; a series without a row for a loaded
            period sold nothing then (as the models read it); a stockout period's sales are
            not its demand and are not scored.
        band: the lower and upper quantile columns of the band, or None.

    Returns:
        ``forecast_run_date, sku, location, date, step, model, yhat, actual, abs_error``
        and ``is_in_band`` (null without a band).
    """
    period = (F.col("date") >= F.lit(since)) & (F.col("date") < F.lit(until))
    earlier = forecasts_df.filter(period & (F.col("run_date") < F.lit(until)))
    sold_df = actuals_df.filter(period)
    loaded_df = sold_df.select("date").distinct()
    stockout = F.col("is_stockout") if "is_stockout" in actuals_df.columns else F.lit(False)
    actuals = sold_df.select(
        *KEYS, "date", F.col("qty").alias("actual"), stockout.alias("_stockout")
    )
    earlier = (
        earlier.join(F.broadcast(loaded_df), "date")
        .join(actuals, [*KEYS, "date"], "left")
        .filter(~F.coalesce(F.col("_stockout"), F.lit(False)))
        .withColumn("actual", F.coalesce(F.col("actual"), F.lit(0.0)))
    )
    in_band = (
        F.col("actual").between(F.col(band[0]), F.col(band[1]))
        if band is not None
        else F.lit(None).cast("boolean")
    )
    return earlier.select(
        F.col("run_date").alias("forecast_run_date"),
        *KEYS,
        "date",
        F.col("step").cast("int").alias("step"),
        "model",
        F.col("yhat").cast("double").alias("yhat"),
        F.col("actual").cast("double").alias("actual"),
        F.abs(F.col("yhat") - F.col("actual")).cast("double").alias("abs_error"),
        in_band.alias("is_in_band"),
    )


def realised_summary(rows_df: DataFrame) -> dict[str, float | int | None]:
    """WAPE, bias (forecast minus actual over actual) and band coverage of ``rows_df``
    (see :func:`realised_rows`), and how many forecast periods they cover."""
    row = rows_df.agg(
        F.count(F.lit(1)).alias("periods"),
        F.sum("abs_error").alias("abs_error"),
        F.sum(F.col("yhat") - F.col("actual")).alias("error"),
        F.sum("actual").alias("actual"),
        F.avg(F.col("is_in_band").cast("double")).alias("coverage"),
    ).first()
    sold = row["actual"] or 0.0
    return {
        "periods": row["periods"],
        "wape": row["abs_error"] / sold if sold > 0 else None,
        "bias": row["error"] / sold if sold > 0 else None,
        "coverage": row["coverage"],
    }
