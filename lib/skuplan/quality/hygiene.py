"""Series hygiene on clean sales: flag outliers, fill missing days. Nothing is dropped.

Both are window functions over the same ``partitionBy(sku, location).orderBy(date)``, so
Spark shuffles and sorts the clean rows once for the two of them (before, the medians' window
had no order and the rows were sorted twice).
"""

from __future__ import annotations

from collections.abc import Callable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

# MAD * 1.4826 estimates the standard deviation of normal data.
_MAD_TO_SIGMA = 1.4826


def _series_window() -> Window:
    return Window.partitionBy("sku", "location").orderBy("date")


def with_outlier_flag(
    clean_df: DataFrame, *, k: float, min_scale: float, min_points: int
) -> DataFrame:
    """Add ``is_outlier``: qty above the series' median + k · max(1.4826 · MAD, min_scale).

    Only high quantities are flagged (a demand spike or a keying error); a series with fewer
    than ``min_points`` rows is never judged. ``min_scale`` keeps intermittent series, whose
    MAD is often 0, from flagging every sale.

    Input columns: ``sku, location, date, qty``. Output adds ``is_outlier`` (boolean).
    """
    # The whole series, in the order of the gap filling's window: Spark then sorts the rows
    # once for both. ``percentile`` (exact, interpolated like ``median``) takes an ordered
    # frame; ``median`` does not.
    whole = _series_window().rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    df = clean_df.withColumn("_median", F.percentile("qty", 0.5).over(whole)).withColumn(
        "_n", F.count(F.lit(1)).over(whole)
    )
    df = df.withColumn(
        "_mad", F.percentile(F.abs(F.col("qty") - F.col("_median")), 0.5).over(whole)
    )
    scale = F.greatest(F.col("_mad") * _MAD_TO_SIGMA, F.lit(float(min_scale)))
    is_outlier = (F.col("_n") >= min_points) & (F.col("qty") > F.col("_median") + k * scale)
    return df.withColumn("is_outlier", F.coalesce(is_outlier, F.lit(False))).drop(
        "_median", "_n", "_mad"
    )


def period_step(freq: str) -> tuple[Callable[[Column], Column], Callable[[Column], Column], Column]:
    """For a pandas frequency (``D``, ``W-FRI``, ``MS``...): the next period's date, the
    previous period's date, and the step as a Spark interval."""
    import pandas as pd

    code = pd.tseries.frequencies.to_offset(freq).name
    if code.startswith(("M", "Q")):
        months = 3 if code.startswith("Q") else 1
        return (
            lambda d: F.add_months(d, months),
            lambda d: F.add_months(d, -months),
            F.expr(f"INTERVAL {months} MONTHS"),
        )
    days = 7 if code.startswith("W") else 1
    return (
        lambda d: F.date_add(d, days),
        lambda d: F.date_sub(d, days),
        F.expr(f"INTERVAL {days} DAYS"),
    )


def with_filled_dates(clean_df: DataFrame, freq: str = "D") -> DataFrame:
    """Add a row with qty 0 for every period (``freq``: days, weeks, months) missing between
    a series' first and last sale.

    A filled day has ``is_imputed`` true, no price, no promo, not an outlier, and carries the
    ``is_stockout`` flag of the last observed day before it: a gap inside a stockout spell is
    censored demand, not a true zero. Days are not filled outside the rows given (filling
    within one load is enough: each load is validated on its own).

    Input columns: ``sku, location, date, qty, price, promo, is_stockout, is_outlier`` and any
    others, which imputed rows copy from the day before. Output adds ``is_imputed`` (boolean).
    """
    following, preceding, step = period_step(freq)
    next_date = F.lead("date").over(_series_window())
    gap = F.when(
        next_date > following(F.col("date")),
        F.sequence(following(F.col("date")), preceding(next_date), step),
    ).otherwise(F.array().cast("array<date>"))
    others = [
        c for c in clean_df.columns if c not in ("date", "qty", "price", "promo", "is_outlier")
    ]

    def row(date, qty, price, promo, is_outlier, is_imputed):
        return F.struct(
            date.alias("date"),
            qty.cast("double").alias("qty"),
            price.cast("double").alias("price"),
            promo.alias("promo"),
            is_outlier.alias("is_outlier"),
            is_imputed.alias("is_imputed"),
        )

    observed = row(
        F.col("date"),
        F.col("qty"),
        F.col("price"),
        F.col("promo"),
        F.col("is_outlier"),
        F.lit(False),
    )
    filled = F.transform(
        gap,
        lambda d: row(d, F.lit(0.0), F.lit(None), F.lit(False), F.lit(False), F.lit(True)),
    )
    return (
        clean_df.withColumn("_rows", F.concat(F.array(observed), filled))
        .select(*others, F.explode("_rows").alias("_r"))
        .select(*others, "_r.*")
        .select(*clean_df.columns, "is_imputed")
    )
