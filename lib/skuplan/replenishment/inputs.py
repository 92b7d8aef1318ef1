"""The per-series planning inputs: master parameters, stock, demand class, overrides.

DataFrame -> DataFrame over all item-locations. Optional inputs come as None when their
table does not exist, and their columns are then null.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

from skuplan.columns import KEYS
from skuplan.replenishment import policies, projection, rules
from skuplan.replenishment import safety_stock as ss
from skuplan.schemas import ITEM_LOCATIONS

# Master-data fields without which a series is not planned.
REQUIRED_MASTER = ("supplier", "unit_cost", "order_cost", "holding_cost_rate")
# Planning fields of the item master, each of which an item-location row may override.
MASTER_FIELDS = [f for f in ITEM_LOCATIONS.fields if f.name not in KEYS]


def with_master_fields(df: DataFrame) -> DataFrame:
    """Add the master fields ``df`` lacks (older masters, partial item-location rows) as nulls."""
    return df.select(
        "*",
        *[
            F.lit(None).cast(f.dataType).alias(f.name)
            for f in MASTER_FIELDS
            if f.name not in df.columns
        ],
    )


def item_location_master(
    keys_df: DataFrame, items_df: DataFrame, item_locations_df: DataFrame | None = None
) -> DataFrame:
    """Master fields per item-location: the item-location value where set, else the item's.

    Input: ``keys_df`` with ``sku, location`` and other columns, carried through (but master
    fields); a lane's lead time among them (``lane_lead_time_days``, ``..._std_days``,
    :mod:`.network`) replaces the item's, not an item-location value; ``items_df`` (``ITEMS``);
    optionally ``item_locations_df`` (``ITEM_LOCATIONS``, any subset of its fields).
    Output: ``keys_df``'s columns, ``MASTER_FIELDS`` and ``_has_item`` (a row in either master).
    """
    names = [f.name for f in MASTER_FIELDS]
    carried = [c for c in keys_df.columns if c not in (*KEYS, *names)]
    if item_locations_df is None:
        item_locations_df = keys_df.sparkSession.createDataFrame([], "sku string, location string")
    items = items_df.transform(with_master_fields).select("sku", *names, F.lit(True).alias("_item_row"))  # fmt: skip
    local = item_locations_df.transform(with_master_fields).select(
        *KEYS, *[F.col(c).alias(f"_il_{c}") for c in names], F.lit(True).alias("_il_row")
    )
    df = keys_df.select(*KEYS, *carried).join(items, "sku", "left").join(local, [*KEYS], "left")
    values = {c: F.coalesce(f"_il_{c}", c) for c in names}
    if "lane_lead_time_days" in carried:
        lane = F.col("lane_lead_time_days")
        lane_std = F.when(lane.isNotNull(), F.coalesce("lane_lead_time_std_days", F.lit(0.0)))
        for c, lane_value in (("lead_time_mean_days", lane), ("lead_time_std_days", lane_std)):
            values[c] = F.coalesce(f"_il_{c}", lane_value, c)
    has_item = F.col("_item_row").isNotNull() | F.col("_il_row").isNotNull()
    return df.select(
        *KEYS, *carried, *[v.alias(c) for c, v in values.items()], has_item.alias("_has_item")
    )


def master_review_period(default_days: int) -> Column:
    """The master's review period (``review_period_days``, else ``default_days``), at least a
    day."""
    return F.greatest(
        F.coalesce(F.col("review_period_days"), F.lit(float(default_days))), F.lit(1.0)
    )


def with_item_parameters(
    items_df: DataFrame,
    *,
    default_lead_time_days: float,
    default_service_level: float,
    default_policy: str,
    default_review_period_days: int,
) -> DataFrame:
    """Fill planning parameters the item master lacks with configured defaults, flagged.

    Input columns: ``sku, supplier, unit_cost, order_cost, holding_cost_rate,
    lead_time_mean_days, lead_time_std_days, moq, pack_size, service_level`` and optionally
    ``review_period_days, stockout_cost, fill_rate_target, policy``.
    Output adds: ``lead_time_days, lead_time_std, is_default_lead_time, lead_time_issue``
    (``missing`` or ``not_positive``), ``target_type`` (``csl`` or ``fill_rate``),
    ``target_service_level, policy_name, review_period, pack, min_order, shortage_cost,
    missing_master`` (comma-separated names of required fields that are null, or null).
    """
    lt = F.col("lead_time_mean_days")
    lead_time_issue = F.when(lt.isNull(), F.lit("missing")).when(lt <= 0, F.lit("not_positive"))
    lead_time_known = lead_time_issue.isNull()
    has_fill_rate = F.col("fill_rate_target").isNotNull()
    known_policy = F.col("policy").isin(*policies.POLICIES)
    missing = F.concat_ws(",", *[F.when(F.col(c).isNull(), F.lit(c)) for c in REQUIRED_MASTER])
    return items_df.transform(with_master_fields).select(
        "*",
        F.when(lead_time_known, lt)
        .otherwise(F.lit(float(default_lead_time_days)))
        .alias("lead_time_days"),
        F.when(
            lead_time_known, F.greatest(F.coalesce("lead_time_std_days", F.lit(0.0)), F.lit(0.0))
        )
        .otherwise(F.lit(0.0))
        .alias("lead_time_std"),
        (~lead_time_known).alias("is_default_lead_time"),
        lead_time_issue.alias("lead_time_issue"),
        F.when(has_fill_rate, F.lit(ss.TARGET_FILL_RATE))
        .otherwise(F.lit(ss.TARGET_CSL))
        .alias("target_type"),
        F.coalesce("fill_rate_target", "service_level", F.lit(default_service_level)).alias(
            "target_service_level"
        ),
        F.when(known_policy, F.col("policy")).otherwise(F.lit(default_policy)).alias("policy_name"),
        master_review_period(default_review_period_days).alias("review_period"),
        F.greatest(F.coalesce("pack_size", F.lit(1.0)), F.lit(1.0)).alias("pack"),
        F.greatest(F.coalesce("moq", F.lit(0.0)), F.lit(0.0)).alias("min_order"),
        F.coalesce("stockout_cost", F.lit(0.0)).alias("shortage_cost"),
        F.when(missing != "", missing).alias("missing_master"),
    )


def receipts(
    open_orders_df: DataFrame | None,
    inventory_df: DataFrame,
    run_date: dt.date,
    released_df: DataFrame | None = None,
    *,
    snapshot_time: str = "start_of_day",
) -> DataFrame:
    """Expected receipts per day (``sku, location, date, receipt_qty``): the order lines when
    the ERP gives them, else the snapshot's single on-order, and the orders earlier plans
    released after the snapshot was taken (``released_df``,
    :func:`projection.receipts_since_snapshot`) that the order lines do not hold already
    (:func:`projection.not_in_order_lines`). A series whose snapshot has a negative on
    order gets none of the latter, so the bad value is not hidden by the sum."""
    if open_orders_df is not None:
        given = projection.receipts_from_open_orders(open_orders_df, run_date)
        if released_df is not None:
            released_df = projection.not_in_order_lines(released_df, open_orders_df)
    else:
        given = projection.receipts_from_inventory(inventory_df, run_date)
        inventory_df = inventory_df.filter(F.coalesce("on_order", F.lit(0.0)) >= 0)
    if released_df is None:
        return given
    since = projection.receipts_since_snapshot(
        released_df, inventory_df, run_date, snapshot_time=snapshot_time
    )
    return given.unionByName(since)


def after_sales_since_snapshot(
    inventory_df: DataFrame, sales_df: DataFrame | None, *, snapshot_time: str = "start_of_day"
) -> DataFrame:
    """Snapshots with the daily sales made since they were taken taken off their stock.

    A snapshot dated D (``start_of_day``: before D's sales; ``end_of_day``: after them)
    planned on a later day still holds what sold in between. What sold comes off on hand;
    past on hand (a receipt arrived and sold, which the receipts still count) it is a
    backorder, so net stock is right. A negative on hand is bad data and stays as it is.
    Input: ``inventory_df`` (one snapshot per series); ``sales_df`` (``sku, location, date,
    qty``: one row per series and day, days before the run date; None: nothing to take).
    """
    if sales_df is None:
        return inventory_df
    after = projection.since_snapshot(F.col("s.date"), F.col("i.snapshot_date"), snapshot_time)
    sold = (
        sales_df.alias("s")
        .join(inventory_df.select(*KEYS, "snapshot_date").alias("i"), [*KEYS])
        .filter(after)
        .groupBy(*KEYS)
        .agg(F.sum(F.greatest("s.qty", F.lit(0.0))).alias("_sold"))
    )
    on_hand, backorders = (F.coalesce(c, F.lit(0.0)) for c in ("on_hand", "backorders"))
    adjust = (F.col("_sold") > 0) & (on_hand >= 0) & (backorders >= 0)
    return (
        inventory_df.join(sold, [*KEYS], "left")
        .withColumns(
            {
                "on_hand": F.when(
                    adjust, F.greatest(on_hand - F.col("_sold"), F.lit(0.0))
                ).otherwise(F.col("on_hand")),
                "backorders": F.when(
                    adjust, backorders + F.greatest(F.col("_sold") - on_hand, F.lit(0.0))
                ).otherwise(F.col("backorders")),
            }
        )
        .drop("_sold")
    )


def latest_snapshots(inventory_df: DataFrame, run_date: dt.date) -> DataFrame:
    """Each series' latest inventory snapshot dated on or before ``run_date``, with
    ``inventory_age_days`` (days from the snapshot to the run date).

    Later snapshots are ignored, so a re-run of an earlier date plans on what was known then.
    Two rows of one series and date (a double load) resolve by their values, the same way on
    every run. A ``snapshot_date`` given as a timestamp (an extract's) counts as its day:
    compared with the run date's midnight, today's 08:30 snapshot would be ignored.
    """
    inventory_df = inventory_df.withColumn("snapshot_date", F.to_date("snapshot_date"))
    order = [F.col("snapshot_date").desc(), *[F.col(c).asc_nulls_last() for c in inventory_df.columns
                                              if c not in (*KEYS, "snapshot_date")]]  # fmt: skip
    latest = Window.partitionBy(*KEYS).orderBy(*order)
    return (
        inventory_df.filter(F.col("snapshot_date") <= F.lit(run_date))
        .withColumn("_n", F.row_number().over(latest))
        .filter(F.col("_n") == 1)
        .drop("_n")
        .withColumn("inventory_age_days", F.datediff(F.lit(run_date), "snapshot_date"))
    )


def with_stock(params_df: DataFrame, inventory_df: DataFrame, receipts_df: DataFrame) -> DataFrame:
    """``on_hand, backorders, snapshot_date, inventory_age_days`` from the series' snapshot
    (see :func:`latest_snapshots`), ``on_order`` from the receipts, and ``_has_inventory`` (a
    snapshot row exists)."""
    stock = inventory_df.select(
        *KEYS, "on_hand", "backorders", "snapshot_date", "inventory_age_days",
        F.lit(True).alias("_has_inventory"),
    )  # fmt: skip
    on_order = receipts_df.groupBy(*KEYS).agg(F.sum("receipt_qty").alias("on_order"))
    return (
        params_df.join(stock, [*KEYS], "left")
        .join(on_order, [*KEYS], "left")
        .fillna({"_has_inventory": False, "on_order": 0.0})
    )


def with_demand_class(df: DataFrame, runs_df: DataFrame | None, run_date: dt.date) -> DataFrame:
    """``demand_class`` from the run date's model runs (null without them)."""
    if runs_df is None:
        return df.withColumn("demand_class", F.lit(None).cast("string"))
    of_run = runs_df.filter(F.col("run_date") == F.lit(run_date)).select(*KEYS, "demand_class")
    return df.join(of_run, [*KEYS], "left")


def series_inputs(
    keys_df: DataFrame,
    *,
    items_df: DataFrame,
    item_locations_df: DataFrame | None,
    inventory_df: DataFrame,
    receipts_df: DataFrame,
    runs_df: DataFrame | None,
    overrides_df: DataFrame | None,
    previous_df: DataFrame,
    run_date: dt.date,
    defaults: dict,
    inventory_max_age_days: int,
) -> DataFrame:
    """One row per series to plan with everything the policy needs but the forecast, and
    ``exception_reason`` / ``plan_status`` for series that cannot be planned.

    Args:
        keys_df: the series (``sku, location``).
        previous_df: the previous plan's ``sku, location, prev_order_qty, prev_daily_demand,
            prev_run_date, prev_next_review_date`` (:func:`rules.with_kept_review`).
        inventory_df: one snapshot per series (:func:`latest_snapshots`).
        defaults: :func:`with_item_parameters`' defaults.
        inventory_max_age_days: an older snapshot is stale: the series is not planned.
    """
    return (
        item_location_master(keys_df, items_df, item_locations_df)
        .transform(with_item_parameters, **defaults)
        .transform(with_stock, inventory_df, receipts_df)
        .transform(with_demand_class, runs_df, run_date)
        .transform(rules.with_overrides, overrides_df, run_date)
        .transform(rules.with_exception_reason, inventory_max_age_days=inventory_max_age_days)
        .join(previous_df, [*KEYS], "left")
    )


def daily_forecasts(
    forecasts_df: DataFrame, *, freq: str, run_date: dt.date, quantile_columns: list[str]
) -> DataFrame:
    """Forecasts of weeks or months spread over their days, for the daily policy math.

    A period's demand is shared equally among its days (a week labelled by its last day,
    ``W-*``, covers the 7 days up to it; a month, ``MS``, its calendar days) and each
    quantile's distance from the point forecast shrinks by ``sqrt(days)`` (independent days),
    so the days' spread adds back up to the period's. A day's lower quantile can so fall
    below 0: it is kept, as the policies read only spreads (clipped, a week with a P10 of 0
    would lose a fifth of its P10-P90 spread, and its safety stock with it). Days before the
    run date are dropped; ``step`` counts days from the run date (1 = the run date). Daily
    forecasts are returned as they are.

    Input: ``sku, location, date, step, yhat`` and the quantile columns.
    """
    code = pd.tseries.frequencies.to_offset(freq).name
    if code == "D":
        return forecasts_df
    if code.startswith("W"):
        first, last = F.date_sub("date", 6), F.col("date")
    else:
        first, last = F.col("date"), F.date_sub(F.add_months("date", 1), 1)
    days = F.datediff(last, first) + 1
    daily_cols = {
        "yhat": F.col("yhat") / days,
        **{c: F.col("yhat") / days + (F.col(c) - F.col("yhat")) / F.sqrt(days)
           for c in quantile_columns},
    }  # fmt: skip
    spread = forecasts_df.select(
        *[c for c in forecasts_df.columns if c not in ("date", "step", *daily_cols)],
        *[v.alias(k) for k, v in daily_cols.items()],
        F.explode(F.sequence(first, last)).alias("date"),
    )
    return spread.filter(F.col("date") >= F.lit(run_date)).withColumn(
        "step", (F.datediff("date", F.lit(run_date)) + 1).cast("int")
    )
