"""The planning stage's inputs: the run date's forecasts (only from a finished forecast run),
master data, each series' inventory snapshot, optional tables and the previous plan."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import reduce

import pyspark.sql.functions as F
from pyspark.sql import DataFrame
from pyspark.sql.types import DoubleType, StructField, StructType

from skuplan import erp, runs
from skuplan.columns import KEYS, PLAN_NEEDS_REVIEW, PLAN_PLANNED, quantile_column
from skuplan.errors import InputError, UnfinishedInputError
from skuplan.pipeline.io import StageTables
from skuplan.replenishment import inputs, network, rules
from skuplan.schemas import PLAN_OVERRIDES

log = logging.getLogger(__name__)

# Jobs whose successful run completes the forecast stage.
FORECAST_JOBS = ("train_forecast", "run_pipeline")

ITEM_COLUMNS = [
    "sku", "supplier", "unit_cost", "order_cost", "holding_cost_rate",
    "lead_time_mean_days", "lead_time_std_days", "moq", "pack_size", "service_level",
]  # fmt: skip


@dataclass(frozen=True)
class PlanInputs:
    forecasts_df: DataFrame
    forecast_run_id: str
    items_df: DataFrame
    item_locations_df: DataFrame | None
    locations_df: DataFrame | None  # the location master, for the DC network
    inventory_df: DataFrame
    open_orders_df: DataFrame | None
    released_df: DataFrame | None  # orders the ERP got from recent plans (receipts_since_snapshot)
    overrides_df: DataFrame | None
    runs_df: DataFrame | None
    previous_df: DataFrame


def read_forecasts(tables: StageTables, quantiles: tuple[float, ...]) -> DataFrame:
    """The run date's forecasts (point and outer quantiles).

    Raises:
        InputError: no forecasts for the run date.
    """
    q_lo, q_hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    types = StructType([StructField(c, DoubleType()) for c in ("yhat", q_lo, "q50", q_hi)])
    forecasts_df = tables.read(
        "forecasts", required=["run_date", *KEYS, "date", "step"], types=types
    ).transform(tables.of_run_date)
    # Weekly or monthly forecasts are planned day by day.
    return forecasts_df.transform(
        inputs.daily_forecasts,
        freq=tables.conf.forecast.freq,
        run_date=tables.run_date,
        quantile_columns=[quantile_column(q) for q in quantiles],
    )


def forecast_run_id(tables: StageTables, forecasts_df: DataFrame) -> str:
    """The id of the run that wrote the run date's forecasts, once it is known to have
    finished: this very run (``run_pipeline``), or a run recorded successful in ``runs``.

    Raises:
        InputError: no forecasts for the run date.
        UnfinishedInputError: the forecasts come from a run that failed, is still going or
            was killed (nothing recorded), so they may be partial.
    """
    ids = [row[0] for row in forecasts_df.select("run_id").distinct().limit(2).collect()]
    if not ids:
        raise InputError(f"no forecasts for {tables.run_date} in {tables.ref('forecasts')}")
    if len(ids) > 1:
        raise UnfinishedInputError(
            f"the forecasts for {tables.run_date} mix runs {', '.join(sorted(ids))}: re-run train_forecast"
        )
    run_id, active = ids[0], runs.active()
    if active is not None and active.run_id == run_id:
        return run_id
    runs_df = tables.optional("runs", required=["run_id", "job", "status"])
    succeeded = (
        runs_df is not None
        and not runs_df.filter(
            (F.col("run_id") == run_id)
            & (F.col("status") == runs.STATUS_SUCCESS)
            & F.col("job").isin(*FORECAST_JOBS)
        ).isEmpty()
    )
    if not succeeded:
        raise UnfinishedInputError(
            f"the forecasts for {tables.run_date} come from run {run_id}, which is not recorded "
            f"as a successful train_forecast run in {tables.ref('runs')}: re-run train_forecast"
        )
    return run_id


def newer_plan_date(tables: StageTables) -> dt.date | None:
    """The latest run date after this one with a plan in ``reorder_plan`` (None: none)."""
    plan_df = tables.optional("reorder_plan")
    if plan_df is None:
        return None
    return (
        plan_df.filter(F.col("run_date") > F.lit(tables.run_date)).agg(F.max("run_date")).first()[0]
    )


def read_previous_plan(tables: StageTables) -> DataFrame:
    """The latest earlier plan's order (as asked, before a DC's allocation), demand, run date
    and next review per series (empty when there is none).

    The order and demand are what today's line is compared with for review holds
    (:func:`skuplan.replenishment.rules.with_overrides_and_review`): those of the last line
    released to the ERP. A line the previous plan held for review and nobody overrode never
    reached the ERP, so its own baseline carries forward; otherwise a held order would pass
    unreviewed the next day, compared with itself."""
    empty = tables.spark.createDataFrame(
        [],
        "sku string, location string, prev_order_qty double, prev_daily_demand double, "
        "prev_run_date date, prev_next_review_date date",
    )
    plan_df = tables.newest_before("reorder_plan")
    if plan_df is None:
        return empty
    # A store order its DC cut: the order it asked for is what today's compares with.
    asked = "requested_qty" in plan_df.columns
    order = F.coalesce("requested_qty", "order_qty") if asked else F.col("order_qty")
    demand = F.col("daily_demand")
    if {"is_overridden", "override_qty", "computed_order_qty"} <= set(plan_df.columns):
        # A planner's quantity is not the policy's: the policy's own order is the baseline.
        by_planner = F.col("is_overridden") & F.col("override_qty").isNotNull()
        if "override_placed_on" in plan_df.columns:
            by_planner = by_planner & F.col("override_placed_on").isNull()
        order = F.when(by_planner, F.col("computed_order_qty")).otherwise(order)
    if {"plan_status", "prev_order_qty", "prev_daily_demand"} <= set(plan_df.columns):
        held = F.col("plan_status") == F.lit(PLAN_NEEDS_REVIEW)
        order = F.when(held, F.col("prev_order_qty")).otherwise(order)
        demand = F.when(held, F.col("prev_daily_demand")).otherwise(demand)
    return plan_df.select(
        *KEYS,
        order.alias("prev_order_qty"),
        demand.alias("prev_daily_demand"),
        F.col("run_date").alias("prev_run_date"),
        F.col("next_review_date").alias("prev_next_review_date"),
    )


def read_master(tables: StageTables) -> tuple[DataFrame, DataFrame | None]:
    """The item master and, when the table exists, the item-location master."""
    items_df = tables.read("items", required=ITEM_COLUMNS, what="item master")
    return items_df, tables.optional("item_locations", required=KEYS, what="item-location master")


def read_inventory(tables: StageTables) -> DataFrame:
    """Each series' latest snapshot on or before the run date (see ``inputs.latest_snapshots``)."""
    inventory_df = tables.read(
        "inventory", required=[*KEYS, "snapshot_date", "on_hand", "on_order", "backorders"]
    )
    if "on_order_arrival" not in inventory_df.columns:
        inventory_df = inventory_df.withColumn("on_order_arrival", F.lit(None).cast("date"))
    return inventory_df.transform(inputs.latest_snapshots, tables.run_date)


def read_overrides(tables: StageTables) -> DataFrame | None:
    """Planner overrides, when the table exists (``created_at`` null in tables without it),
    with the day each quantity's order went out (``placed_on``, :func:`rules.placed_overrides`)."""
    required = [c for c in PLAN_OVERRIDES.fieldNames() if c != "created_at"]
    overrides_df = tables.optional("plan_overrides", required=required)
    if overrides_df is None:
        return None
    if "created_at" not in overrides_df.columns:
        overrides_df = overrides_df.withColumn("created_at", F.lit(None).cast("timestamp"))
    released_df = read_released_overrides(tables)
    if released_df is None:
        return overrides_df
    return rules.placed_overrides(overrides_df, released_df, tables.run_date)


def read_released_overrides(tables: StageTables) -> DataFrame | None:
    """Earlier plan lines released with a planner's quantity as their order: ``run_date,
    sku, location, override_qty, override_author, override_reason`` (None: no plan yet)."""
    columns = ["run_date", *KEYS, "plan_status", "order_qty", "is_overridden", "override_qty",
               "override_author", "override_reason"]  # fmt: skip
    plan_df = tables.optional("reorder_plan")
    if plan_df is None or not set(columns) <= set(plan_df.columns):
        return None
    ordered = (
        (F.col("run_date") < F.lit(tables.run_date))
        & F.col("is_overridden")
        & (F.col("override_qty") > 0)
        & (F.col("plan_status") == F.lit(PLAN_PLANNED))
        & (F.col("order_qty") > 0)  # not all cut away by a short DC
    )
    if "override_placed_on" in plan_df.columns:  # absent in plans written before it existed
        ordered = ordered & F.col("override_placed_on").isNull()
    return plan_df.filter(ordered).select(
        "run_date", *KEYS, "override_qty", "override_author", "override_reason"
    )


def read_released_orders(
    tables: StageTables, max_age_days: int, dcs_df: DataFrame | None
) -> DataFrame | None:
    """The orders the ERP got from the plans of the ``max_age_days`` days before the run date
    (an older snapshot is stale anyway), from the outbox's change feed
    (:func:`erp.orders_handed_over`): ``run_date, sku, location, order_qty, expected_arrival,
    source_location`` (the DC a store ordered from: its line's supplier when that is a DC of
    ``dcs_df``, :func:`network.dc_locations`; else null). None: no outbox yet.

    A backfill (a later date has a plan) whose days' feed is gone reads the lines its days'
    plans released from ``reorder_plan`` instead: its own plan never reaches the ERP.

    Raises:
        InputError: the feed is gone and this is not a backfill.
    """
    if max_age_days < 1 or not tables.exists("erp_outbox"):
        return None
    last = tables.run_date - dt.timedelta(days=1)
    first = tables.run_date - dt.timedelta(days=max_age_days)
    try:
        orders_df = erp.orders_handed_over(tables.spark, tables.ref("erp_outbox"), first, last)
    except InputError as exc:
        if newer_plan_date(tables) is None:
            raise
        log.warning("backfill of %s: released orders from reorder_plan (%s)", tables.run_date, exc)
        orders_df = _released_plan_lines(tables, first, last)
    if dcs_df is None:
        return orders_df.withColumn("source_location", F.lit(None).cast("string")).drop("supplier")
    # A store supplied by a DC orders from it: its line names the DC as its supplier.
    dcs = dcs_df.select(F.col("location").alias("_dc"))
    return (
        orders_df.join(F.broadcast(dcs), F.col("supplier") == F.col("_dc"), "left")
        .withColumn("source_location", F.col("_dc"))
        .drop("_dc", "supplier")
    )


def _released_plan_lines(tables: StageTables, first: dt.date, last: dt.date) -> DataFrame:
    """The lines the plans of ``first`` .. ``last`` released (planned, order above 0), as
    ``reorder_plan`` holds them: ``run_date, sku, location, order_qty, expected_arrival,
    supplier``."""
    released = (
        F.col("run_date").between(F.lit(first), F.lit(last))
        & (F.col("plan_status") == F.lit(PLAN_PLANNED))
        & (F.col("order_qty") > 0)
    )
    return (
        tables.read("reorder_plan")
        .filter(released)
        .select("run_date", *KEYS, "order_qty", "expected_arrival", "supplier")
    )


def dc_shipments(released_df: DataFrame | None) -> DataFrame | None:
    """What the DCs shipped to their stores on the days of ``released_df``'s plans (a store's
    released order leaves its DC that day), as the DCs' sales: ``sku, location, date, qty``."""
    if released_df is None:
        return None
    return (
        released_df.filter(F.col("source_location").isNotNull())
        .groupBy("sku", F.col("source_location").alias("location"), F.col("run_date").alias("date"))
        .agg(F.sum("order_qty").alias("qty"))
    )


def daily_sales(tables: StageTables, first: dt.date, required: bool = True) -> DataFrame | None:
    """Clean sales from ``first`` to the day before the run date as loaded by the run date,
    the latest load of each day (a correction loaded later replaces the day, once):
    ``sku, location, date, qty`` (None: no table, when not ``required``)."""
    columns = [*KEYS, "date", "qty", "load_date"]
    if required:
        sales_df = tables.read("clean_sales", required=columns, what="clean sales")
    else:
        sales_df = tables.optional("clean_sales", required=columns)
    if sales_df is None:
        return None
    last = tables.run_date - dt.timedelta(days=1)
    return (
        sales_df.filter(
            (F.col("load_date") <= F.lit(tables.run_date))
            & F.col("date").between(F.lit(first), F.lit(last))
        )
        .groupBy(*KEYS, "date")
        .agg(F.max_by("qty", "load_date").alias("qty"))
    )


def read_recent_sales(tables: StageTables, max_age_days: int, freq: str) -> DataFrame | None:
    """Daily sales of the ``max_age_days`` days before the run date (:func:`daily_sales`;
    None: not daily data, whose periods are not days, or no clean sales)."""
    if freq != "D" or max_age_days == 0:
        return None
    first = tables.run_date - dt.timedelta(days=max_age_days)
    return daily_sales(tables, first, required=False)


def read_model_runs(tables: StageTables, forecast_run: str) -> DataFrame | None:
    """The model runs of the run that wrote the forecasts (a re-run of the date writing its
    own meanwhile does not mix in), when the table exists."""
    runs_df = tables.optional("model_runs", required=["run_date", "run_id", *KEYS, "demand_class"])
    return None if runs_df is None else runs_df.filter(F.col("run_id") == F.lit(forecast_run))


def read_inputs(tables: StageTables) -> PlanInputs:
    """Everything the plan reads; a snapshot taken before a day's sales (a DC's: its stores'
    released orders) or orders is brought to the run date by them
    (``plan.inventory_snapshot_time``)."""
    forecast, settings = tables.conf.forecast, tables.conf.plan
    max_age = settings.inventory_max_age_days
    forecasts_df = read_forecasts(tables, forecast.quantiles)
    run_id = forecast_run_id(tables, forecasts_df)
    items_df, item_locations_df = read_master(tables)
    locations_df = tables.optional("locations", required=["location"], what="location master")
    released_df = read_released_orders(tables, max_age, network.dc_locations(locations_df))
    taken = [read_recent_sales(tables, max_age, forecast.freq), dc_shipments(released_df)]
    taken = [df for df in taken if df is not None]
    inventory_df = inputs.after_sales_since_snapshot(
        read_inventory(tables),
        reduce(DataFrame.unionByName, taken) if taken else None,
        snapshot_time=settings.inventory_snapshot_time,
    )
    return PlanInputs(
        forecasts_df=forecasts_df,
        forecast_run_id=run_id,
        items_df=items_df,
        item_locations_df=item_locations_df,
        locations_df=locations_df,
        inventory_df=inventory_df,
        open_orders_df=tables.optional("open_orders", required=[*KEYS, "qty", "expected_arrival"]),
        released_df=released_df,
        overrides_df=read_overrides(tables),
        runs_df=read_model_runs(tables, run_id),
        previous_df=read_previous_plan(tables),
    )
