"""Expected receipts and the projected inventory per day over the forecast horizon."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

from skuplan.columns import KEYS

SHORT_UNITS = 0.5  # a projected shortfall that rounds to a whole unit


def receipts_from_open_orders(open_orders_df: DataFrame, run_date: dt.date) -> DataFrame:
    """Open purchase-order lines -> ``sku, location, date, receipt_qty`` (one row per day).

    Input columns: ``sku, location, qty, expected_arrival``. Overdue lines (arrival before
    the run date) or lines without a date are expected on the run date: they are on order,
    so they will arrive, and planning on their earliest possible arrival is conservative
    about nothing but the stockout date.
    """
    return (
        open_orders_df.filter(F.col("qty") > 0)
        .groupBy(*KEYS, _arrival("expected_arrival", run_date).alias("date"))
        .agg(F.sum("qty").alias("receipt_qty"))
    )


def receipts_from_inventory(inventory_df: DataFrame, run_date: dt.date) -> DataFrame:
    """The snapshot's single ``on_order`` / ``on_order_arrival`` as receipts (no order lines).
    A negative ``on_order`` is kept: bad data, it keeps the series from being planned
    (``negative_on_order_or_backorders``) instead of counting as nothing on order."""
    return inventory_df.filter(F.col("on_order") != 0).select(
        *KEYS,
        _arrival("on_order_arrival", run_date).alias("date"),
        F.col("on_order").alias("receipt_qty"),
    )


def not_in_order_lines(released_df: DataFrame, open_orders_df: DataFrame) -> DataFrame:
    """The released lines (``run_date, sku, location, ...``) that the ERP's order lines do not
    hold yet. Order lines dated (an optional ``order_date``) show which releases the ERP has
    placed: a line of the series dated a release's run date is that order, with the quantity
    the ERP placed, so the release is not added again, however fresh the lines are against
    the snapshot. Lines without a date leave every release in (the snapshot's date rules)."""
    if "order_date" not in open_orders_df.columns:
        return released_df
    placed = (
        open_orders_df.filter(F.col("order_date").isNotNull())
        .select(*KEYS, F.col("order_date").alias("run_date"))
        .distinct()
    )
    return released_df.join(placed, [*KEYS, "run_date"], "left_anti")


def receipts_since_snapshot(
    released_df: DataFrame, inventory_df: DataFrame, run_date: dt.date, *, snapshot_time: str
) -> DataFrame:
    """Orders earlier plans released after each series' snapshot was taken, as receipts.

    The snapshot's on order (or the ERP's order lines) cannot hold an order placed after it
    was taken: without these, a plan on yesterday's start-of-day snapshot would order
    yesterday's order again. Input: ``released_df`` (``run_date, sku, location, order_qty,
    expected_arrival``: released lines of plans dated before ``run_date``); ``inventory_df``
    (one snapshot per series, ``snapshot_date``). ``snapshot_time``: ``start_of_day`` (a
    snapshot dated D lacks the orders of D's plan) or ``end_of_day`` (it holds them).
    """
    after = since_snapshot(F.col("r.run_date"), F.col("i.snapshot_date"), snapshot_time)
    return (
        released_df.alias("r")
        .join(inventory_df.alias("i"), [*KEYS])
        .filter(after & (F.col("r.run_date") < F.lit(run_date)) & (F.col("r.order_qty") > 0))
        .select(
            *KEYS,
            _arrival("r.expected_arrival", run_date).alias("date"),
            F.col("r.order_qty").alias("receipt_qty"),
        )
    )


def since_snapshot(day: Column, snapshot_date: Column, snapshot_time: str) -> Column:
    """``day`` is after the snapshot was taken: on or after its date when it is taken at the
    start of the day, after its date when at the end."""
    return day > snapshot_date if snapshot_time == "end_of_day" else day >= snapshot_date


def _arrival(column: str, run_date: dt.date):
    return F.greatest(F.coalesce(column, F.lit(run_date)), F.lit(run_date))


def project_inventory(
    forecasts_df: DataFrame, start_df: DataFrame, receipts_df: DataFrame, planned_df: DataFrame
) -> DataFrame:
    """Projected net inventory at the end of each forecast day, without and with the plan.

    Input: ``forecasts_df`` (``sku, location, date, step, yhat``); ``start_df`` (``sku,
    location, on_hand, backorders``); ``receipts_df`` (``sku, location, date,
    receipt_qty``); ``planned_df`` (``sku, location, expected_arrival, order_qty``), the
    orders this plan recommends.
    Output: ``sku, location, date, step, demand, receipts, planned_receipts,
    projected_on_hand, projected_with_plan``. Net inventory may go negative (backorders).
    """
    w = Window.partitionBy(*KEYS).orderBy("step").rowsBetween(Window.unboundedPreceding, 0)
    planned = planned_df.filter(F.col("order_qty") > 0).select(
        *KEYS, F.col("expected_arrival").alias("date"), F.col("order_qty").alias("planned_receipts")
    )
    # Receipts past the horizon cannot matter to it; receipts before it were moved onto day 1.
    start = F.coalesce("on_hand", F.lit(0.0)) - F.coalesce("backorders", F.lit(0.0))
    df = (
        forecasts_df.select(*KEYS, "date", "step", F.col("yhat").alias("demand"))
        .join(start_df.select(*KEYS, start.alias("start")), [*KEYS])
        .join(receipts_df.withColumnRenamed("receipt_qty", "receipts"), [*KEYS, "date"], "left")
        .join(planned, [*KEYS, "date"], "left")
        .fillna(0.0, subset=["receipts", "planned_receipts"])
    )
    level = F.col("start") + F.sum(F.col("receipts") - F.col("demand")).over(w)
    return df.select(
        *KEYS,
        "date",
        "step",
        "demand",
        "receipts",
        "planned_receipts",
        level.alias("projected_on_hand"),
        (level + F.sum("planned_receipts").over(w)).alias("projected_with_plan"),
    )


def stockout_dates(projection_df: DataFrame) -> DataFrame:
    """First day each series' projection (without new orders; with this plan's) is short by
    at least ``SHORT_UNITS``, or null. The projection is of expected demand: a series without
    stock whose demand is a few thousandths of a unit a day is not short tomorrow.

    Output: ``sku, location, projected_stockout_date, projected_stockout_date_with_plan``.
    """
    return projection_df.groupBy(*KEYS).agg(
        F.min(F.when(F.col("projected_on_hand") < -SHORT_UNITS, F.col("date"))).alias(
            "projected_stockout_date"
        ),
        F.min(F.when(F.col("projected_with_plan") < -SHORT_UNITS, F.col("date"))).alias(
            "projected_stockout_date_with_plan"
        ),
    )
