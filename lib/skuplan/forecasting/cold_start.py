"""Forecasts for new items: series stocked at a location but with no sales history yet.

They get the recent mean daily demand of their category at that location (per selling
series), with a Poisson-like band: ``rate + z_q * sqrt(rate)``, never negative.
"""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import DataFrame
from scipy.stats import norm

from skuplan.columns import FORECAST_OK, KEYS, quantile_column

MODEL = "category_mean"


def forecast_new_series(
    history_df: DataFrame,
    stocked_df: DataFrame,
    items_df: DataFrame,
    *,
    run_date: dt.date,
    horizon: int,
    quantiles: tuple[float, ...],
    window_days: int = 28,
) -> DataFrame:
    """One forecast row per horizon day for every stocked series without history.

    Args:
        history_df: clean sales: ``sku, location, date, qty``.
        stocked_df: the series that should be forecast: ``sku, location``.
        items_df: item master: ``sku, category``.

    Returns:
        The forecast columns ``sku, location, date, step, model, yhat, q.., status, error``.
        Series whose category sold nothing at the location recently get a zero forecast.
    """
    categories = items_df.select("sku", "category")
    since = run_date - dt.timedelta(days=window_days)
    recent = history_df.filter((F.col("date") >= F.lit(since)) & (F.col("date") < F.lit(run_date)))
    rates = (
        recent.join(categories, "sku")
        .groupBy("category", "location")
        .agg((F.sum("qty") / (F.countDistinct("sku") * F.lit(window_days))).alias("rate"))
    )
    new_series = (
        stocked_df.select(*KEYS)
        .distinct()
        .join(history_df.select(*KEYS).distinct(), list(KEYS), "left_anti")
    )
    rate = F.greatest(F.coalesce(F.col("rate"), F.lit(0.0)), F.lit(0.0))
    return (
        new_series.join(categories, "sku", "left")
        .join(rates, ["category", "location"], "left")
        .select(
            *KEYS,
            rate.alias("rate"),
            F.posexplode(F.sequence(F.lit(run_date), F.date_add(F.lit(run_date), horizon - 1))),
        )
        .select(
            *KEYS,
            F.col("col").alias("date"),
            (F.col("pos") + 1).cast("int").alias("step"),
            F.lit(MODEL).alias("model"),
            F.col("rate").alias("yhat"),
            *[
                F.greatest(F.col("rate") + float(norm.ppf(q)) * F.sqrt("rate"), F.lit(0.0)).alias(
                    quantile_column(q)
                )
                for q in quantiles
            ],
            F.lit(FORECAST_OK).alias("status"),
            F.lit(None).cast("string").alias("error"),
        )
    )


def model_runs(forecasts_df: DataFrame) -> DataFrame:
    """One model-run row per new series, from its :func:`forecast_new_series` rows.

    Output: the ``model_runs`` columns (``demand_class`` is ``new``; nothing was fitted).
    """
    return forecasts_df.filter(F.col("step") == 1).select(
        *KEYS,
        F.col("model").alias("chosen_model"),
        F.lit("new").alias("demand_class"),
        F.lit(MODEL).alias("candidates"),
        "status",
        "error",
        F.lit(0).alias("training_rows"),
        F.lit(0).alias("backtest_folds"),
        F.lit(0.0).alias("fit_seconds"),
        F.lit("{}").alias("params"),
    )
