"""Stage 3: forecasts + item master + inventory -> reorder plan, ERP outbox, supplier files.

Reads the run date's forecasts, the item master, the inventory snapshot and, when they
exist, open purchase-order lines, planner overrides, the model runs (demand class) and the
previous plan. Writes, each idempotent for the run date: ``reorder_plan`` and
``inventory_projection`` (replaceWhere), ``erp_outbox`` (MERGE, change data feed), the
supplier export folder (overwritten) and ``policy_simulation`` (replaceWhere).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql.types import DoubleType, StructField, StructType

from skuplan import delta_io, erp
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import Conf
from skuplan.errors import InputError
from skuplan.pipeline.io import new_run_id
from skuplan.replenishment import policies, projection, simulation
from skuplan.schemas import (
    INVENTORY_PROJECTION,
    PLAN_OVERRIDES,
    POLICY_SIMULATION,
    POLICY_SIMULATION_SERIES,
    REORDER_PLAN,
)

log = logging.getLogger(__name__)

ITEM_COLUMNS = [
    "sku", "supplier", "unit_cost", "order_cost", "holding_cost_rate",
    "lead_time_mean_days", "lead_time_std_days", "moq", "pack_size", "service_level",
]  # fmt: skip

STATUS_PLANNED = "planned"
STATUS_NEEDS_REVIEW = "needs_review"
STATUS_NOT_PLANNED = "not_planned"
STATUS_QUARANTINED = "quarantined"


@dataclass(frozen=True)
class PlanSummary:
    run_id: str
    lines: int
    order_lines: int
    units: float
    needs_review: int = 0
    not_planned: int = 0
    outbox_changes: int = 0
    simulated_csl: float | None = None
    target_csl: float | None = None

    def __str__(self) -> str:
        text = (
            f"plan_replenishment: {self.lines} plan lines, {self.order_lines} order lines, "
            f"{self.units:.0f} units; {self.needs_review} need review, {self.not_planned} not planned; "
            f"{self.outbox_changes} outbox changes"
        )
        if self.simulated_csl is not None and self.target_csl is not None:
            text += f"; simulated cycle service level {self.simulated_csl:.1%} (target {self.target_csl:.1%})"
        return text


def _optional(
    spark: SparkSession, conf: Conf, key: str, required: list[str], what: str
) -> DataFrame | None:
    if key not in conf.tables or not delta_io.table_exists(spark, conf.table(key)):
        return None
    return delta_io.read_table(spark, conf.table(key), required=required, what=what)


def active_overrides(overrides_df: DataFrame, run_date: dt.date) -> DataFrame:
    """Overrides valid on ``run_date``, the latest ``valid_from`` per series.

    Input: ``PLAN_OVERRIDES`` columns. Output: ``sku, location, override_qty,
    override_service_level, override_lead_time_days, override_reason, override_author``.
    """
    day = F.lit(run_date)
    valid = (F.coalesce("valid_from", day) <= day) & (F.coalesce("valid_to", day) >= day)
    w = Window.partitionBy(*KEYS).orderBy(F.col("valid_from").desc_nulls_last())
    return (
        overrides_df.filter(valid)
        .withColumn("_rank", F.row_number().over(w))
        .filter("_rank = 1")
        .select(
            *KEYS,
            "override_qty",
            "override_service_level",
            "override_lead_time_days",
            F.col("reason").alias("override_reason"),
            F.col("author").alias("override_author"),
        )
    )


def with_exception_reason(df: DataFrame) -> DataFrame:
    """``exception_reason`` and ``plan_status`` for series that cannot be planned.

    Input: ``_has_item, missing_master, _has_inventory, on_hand, on_order, backorders``.
    Negative on-hand is bad data, quarantined; missing master or inventory is not planned.
    """
    reason = (
        F.when(~F.col("_has_item"), F.lit("missing_item_master"))
        .when(
            F.col("missing_master").isNotNull(),
            F.concat(F.lit("missing_master_data:"), "missing_master"),
        )
        .when(~F.col("_has_inventory"), F.lit("missing_inventory"))
        .when(F.col("on_hand") < 0, F.lit("negative_on_hand"))
        .when(
            (F.col("on_order") < 0) | (F.col("backorders") < 0),
            F.lit("negative_on_order_or_backorders"),
        )
    )
    return df.withColumn("exception_reason", reason).withColumn(
        "plan_status",
        F.when(F.col("exception_reason") == "negative_on_hand", F.lit(STATUS_QUARANTINED))
        .when(F.col("exception_reason").isNotNull(), F.lit(STATUS_NOT_PLANNED))
        .otherwise(F.lit(STATUS_PLANNED)),
    )


def with_overrides_and_review(
    df: DataFrame, *, max_order_change_share, jump_share, jump_min_units
) -> DataFrame:
    """Apply quantity overrides (both values kept) and hold unusual lines for review.

    Input: ``order_qty`` (computed), ``override_qty``, ``daily_demand``, ``prev_order_qty``,
    ``prev_daily_demand``. Output: ``computed_order_qty``, ``order_qty`` (the override when
    given, taken as the planner wrote it), ``is_overridden``, ``review_reasons`` and
    ``plan_status`` = ``needs_review`` for held lines. An overridden line has been reviewed.
    """
    qty, prev = F.coalesce("override_qty", "order_qty"), F.col("prev_order_qty")
    order_jump = (prev > 0) & (qty > 0) & (F.abs(qty - prev) > F.lit(max_order_change_share) * prev)
    change = F.abs(F.col("daily_demand") - F.col("prev_daily_demand"))
    forecast_jump = (change > F.lit(jump_share) * F.col("prev_daily_demand")) & (
        change > F.lit(jump_min_units)
    )
    is_overridden = (
        F.col("override_qty").isNotNull()
        | F.col("override_service_level").isNotNull()
        | F.col("override_lead_time_days").isNotNull()
    )
    reasons = F.concat_ws(
        ",",
        F.when(F.coalesce(order_jump, F.lit(False)), F.lit("order_change")),
        F.when(F.coalesce(forecast_jump, F.lit(False)), F.lit("forecast_jump")),
    )
    held = (reasons != "") & ~is_overridden
    return df.select(
        *[c for c in df.columns if c not in ("order_qty", "plan_status")],
        F.col("order_qty").alias("computed_order_qty"),
        qty.alias("order_qty"),
        is_overridden.alias("is_overridden"),
        F.when(reasons != "", reasons).alias("review_reasons"),
        F.when(held, F.lit(STATUS_NEEDS_REVIEW))
        .otherwise(F.col("plan_status"))
        .alias("plan_status"),
    )


def _num(col: str | Column) -> Column:
    """A number as a planner reads it: at most one decimal, no trailing ``.0`` (40, 2.5)."""
    # + 0.0 turns a rounded -0.0 into 0.0.
    text = F.format_string("%.1f", F.round(F.col(col) if isinstance(col, str) else col, 1) + 0.0)
    return F.regexp_replace(text, r"\.0$", "")


def _pct(col: str) -> Column:
    return _text(_num(F.col(col) * 100), "%")


def _text(*parts: str | Column) -> Column:
    """Concatenate literal text and columns (null if any column is null)."""
    return F.concat(*[F.lit(p) if isinstance(p, str) else p for p in parts])


def _exception_text() -> Column:
    """Why a line is not planned or quarantined, from ``exception_reason``."""
    reason = F.col("exception_reason")
    fields = F.regexp_replace(F.substring_index(reason, ":", -1), ",", ", ")
    return (
        F.when(reason == "missing_item_master", F.lit("not planned: SKU not in the item master"))
        .when(
            reason.startswith("missing_master_data:"),
            _text("not planned: item master lacks ", fields),
        )
        .when(
            reason == "missing_inventory",
            F.lit("not planned: no inventory snapshot for this SKU-location"),
        )
        .when(
            reason == "negative_on_hand",
            _text("quarantined: on hand ", _num("on_hand"), " is negative"),
        )
        .when(
            reason == "negative_on_order_or_backorders",
            _text(
                "not planned: negative on order ",
                _num("on_order"),
                " or backorders ",
                _num("backorders"),
            ),
        )
        .otherwise(_text("not planned: ", reason))
    )


def _decision_text() -> Column:
    """The policy's arithmetic: position against the reorder point, and what it orders."""
    policy, ip = F.col("policy_name"), F.col("inventory_position")
    rop, up_to = F.col("reorder_point"), F.col("order_up_to")
    raw = F.col("raw_order_qty")
    position, s, big_s = _text("position ", _num(ip)), _num(rop), _num(up_to)
    service = F.when(F.col("target_type") == "fill_rate", F.lit(" fill rate")).otherwise(
        F.lit(" cycle service")
    )
    cover = _text(
        ": forecast demand ", _num("demand_over_protection"),
        " over ", _num("protection_days"),
        " days (lead time ", _num("lead_time_days"), " + review ", _num("review_period"),
        ") + safety stock ", _num("safety_stock"),
        " for ", _pct("target_service_level"), service,
    )  # fmt: skip
    rounding = F.concat_ws(
        ", ",
        F.when(raw < F.col("min_order"), _text("MOQ ", _num("min_order"))),
        F.when(F.col("pack") > 1, _text("packs of ", _num("pack"))),
    )
    order = _text(
        "; order ",
        _num("computed_order_qty"),
        F.when(
            (F.abs(F.col("computed_order_qty") - raw) > 1e-6) & (rounding != ""),
            _text(" (", _num(raw), " rounded up to ", rounding, ")"),
        ).otherwise(F.lit("")),
    )
    at_or_below = F.when(ip < rop, F.lit(" below ")).otherwise(F.lit(" at "))
    return (
        F.when(
            ~F.col("is_review_day"),
            _text(
                "not a review day (every ",
                _num("review_period"),
                " days, next ",
                F.col("next_review_date").cast("string"),
                "): no order; ",
                position,
                ", reorder point ",
                s,
            ),
        )
        .when(F.col("daily_demand") <= 0, F.lit("no forecast demand: no order"))
        .when(
            (policy == policies.POLICY_RS) & (ip < up_to),
            _text("review day: ", position, " below order-up-to level ", big_s, cover, order),
        )
        .when(
            policy == policies.POLICY_RS,
            _text("review day: ", position, " at or above order-up-to level ", big_s, ": no order"),
        )
        .when(
            (policy == policies.POLICY_MINMAX) & (ip <= rop),
            _text(
                "review day: ", position, at_or_below, "min ", s, cover, order, " up to max ", big_s
            ),
        )
        .when(
            policy == policies.POLICY_MINMAX,
            _text("review day: ", position, " above min ", s, ": no order"),
        )
        .when(ip <= rop, _text(position, at_or_below, "reorder point ", s, cover, order))
        .otherwise(_text(position, " above reorder point ", s, ": no order"))
    )


def _override_text() -> Column:
    """Who overrode what, on lines with any planner override."""
    changes = F.concat_ws(
        ", ",
        F.when(
            F.col("override_qty").isNotNull(),
            _text("order ", _num("order_qty"), " instead of computed ", _num("computed_order_qty")),
        ),
        F.when(
            F.col("override_service_level").isNotNull(),
            _text("service level ", _pct("override_service_level")),
        ),
        F.when(
            F.col("override_lead_time_days").isNotNull(),
            _text("lead time ", _num("override_lead_time_days"), " days"),
        ),
    )
    why = F.when(
        F.col("override_reason").isNotNull(), _text(" (", F.col("override_reason"), ")")
    ).otherwise(F.lit(""))
    author = F.coalesce(F.col("override_author"), F.lit("unknown"))
    return F.when(F.col("is_overridden"), _text("overridden by ", author, why, ": ", changes))


def _review_text() -> Column:
    """Why a line is held for a planner, with the numbers compared."""
    reasons = F.coalesce(F.col("review_reasons"), F.lit(""))
    details = F.concat_ws(
        ", ",
        F.when(
            reasons.contains("order_change"),
            _text(
                "order ",
                _num("order_qty"),
                " vs ",
                _num("prev_order_qty"),
                " in the previous plan",
            ),
        ),
        F.when(
            reasons.contains("forecast_jump"),
            _text(
                "daily demand ",
                _num("daily_demand"),
                " vs ",
                _num("prev_daily_demand"),
                " in the previous plan",
            ),
        ),
    )
    return F.when(F.col("plan_status") == STATUS_NEEDS_REVIEW, _text("held for review: ", details))


def with_reason(df: DataFrame) -> DataFrame:
    """``reason``: one short sentence per plan line saying why it orders, or why not.

    Input: the plan line's columns (``plan_status, exception_reason, policy_name,
    inventory_position, reorder_point, order_up_to, demand_over_protection, protection_days,
    lead_time_days, review_period, safety_stock, target_type, target_service_level,
    raw_order_qty, computed_order_qty, order_qty, pack, min_order, is_review_day,
    next_review_date, daily_demand, review_reasons, prev_order_qty, prev_daily_demand,
    is_overridden, override_qty, override_service_level, override_lead_time_days,
    override_reason, override_author, is_default_lead_time, lead_time_issue``); lines with an
    ``exception_reason`` need only it and ``on_hand, on_order, backorders``.
    Output adds ``reason``. Numbers are the line's columns rounded to one decimal.
    """
    default_lead_time = F.when(
        F.coalesce(F.col("is_default_lead_time"), F.lit(False)),
        _text(
            "lead time ", _num("lead_time_days"), " days is the default (item master: ",
            F.coalesce(F.col("lead_time_issue"), F.lit("missing")), ")",
        ),
    )  # fmt: skip
    planned = F.concat_ws(
        "; ", _review_text(), _override_text(), _decision_text(), default_lead_time
    )
    return df.withColumn(
        "reason",
        F.when(F.col("exception_reason").isNotNull(), _exception_text()).otherwise(planned),
    )


def _as_table(df: DataFrame, schema, run_date, run_id: str) -> DataFrame:
    """``df`` in ``schema``'s column order and types, stamped with this run."""
    stamps = {"run_date": F.lit(run_date), "run_id": F.lit(run_id)}
    return df.select(
        *[stamps.get(f.name, F.col(f.name)).cast(f.dataType).alias(f.name) for f in schema.fields]
    )


def run(spark: SparkSession, conf: Conf) -> PlanSummary:
    """Plan orders for every series forecast on ``conf.run_date``.

    Raises:
        InputError: no forecasts for the run date, or a missing input table.
    """
    run_id = new_run_id("plan_replenishment", conf.run_date)
    settings, run_date = conf.plan, conf.run_date
    quantiles = conf.forecast.quantiles
    q_lo, q_hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    forecasts_df = delta_io.read_table(
        spark,
        conf.table("forecasts"),
        required=["run_date", *KEYS, "date", "step"],
        types=StructType([StructField(c, DoubleType()) for c in ("yhat", q_lo, "q50", q_hi)]),
        what="forecasts",
    ).filter(F.col("run_date") == F.lit(run_date))
    if forecasts_df.isEmpty():
        raise InputError(f"no forecasts for {run_date} in {conf.table('forecasts')}")
    items_df, item_locations_df = _read_master(spark, conf)
    inventory_df = delta_io.read_table(
        spark,
        conf.table("inventory"),
        required=[*KEYS, "on_hand", "on_order", "backorders"],
        what="inventory",
    )
    if "on_order_arrival" not in inventory_df.columns:
        inventory_df = inventory_df.withColumn("on_order_arrival", F.lit(None).cast("date"))
    open_orders_df = _optional(
        spark, conf, "open_orders", [*KEYS, "qty", "expected_arrival"], "open orders"
    )
    overrides_df = _optional(
        spark, conf, "plan_overrides", [f.name for f in PLAN_OVERRIDES], "plan overrides"
    )
    runs_df = _optional(
        spark, conf, "model_runs", ["run_date", *KEYS, "demand_class"], "model runs"
    )
    previous_df = _previous_plan(spark, conf)

    # Receipts: order lines when the ERP gives them, else the snapshot's single on-order.
    receipts_df = (
        projection.receipts_from_open_orders(open_orders_df, run_date)
        if open_orders_df is not None
        else projection.receipts_from_inventory(inventory_df, run_date)
    )
    on_order_df = receipts_df.groupBy(*KEYS).agg(F.sum("receipt_qty").alias("on_order"))

    params_df = policies.item_location_master(
        forecasts_df.select(*KEYS).distinct(), items_df, item_locations_df
    ).transform(
        policies.with_item_parameters,
        default_lead_time_days=settings.default_lead_time_days,
        default_service_level=settings.default_service_level,
        default_policy=settings.default_policy,
        default_review_period_days=settings.default_review_period_days,
    )
    series_df = (
        params_df
        .join(
            inventory_df.select(*KEYS, "on_hand", "backorders", F.lit(True).alias("_has_inventory")),
            [*KEYS],
            "left",
        )
        .join(on_order_df, [*KEYS], "left")
        .fillna({"_has_inventory": False, "on_order": 0.0})
    )  # fmt: skip
    if runs_df is not None:
        series_df = series_df.join(
            runs_df.filter(F.col("run_date") == F.lit(run_date)).select(*KEYS, "demand_class"),
            [*KEYS],
            "left",
        )
    else:
        series_df = series_df.withColumn("demand_class", F.lit(None).cast("string"))
    if overrides_df is not None:
        series_df = series_df.join(active_overrides(overrides_df, run_date), [*KEYS], "left")
    else:
        series_df = series_df.select(
            "*",
            *[
                F.lit(None).cast("double").alias(c)
                for c in ("override_qty", "override_service_level", "override_lead_time_days")
            ],
            *[F.lit(None).cast("string").alias(c) for c in ("override_reason", "override_author")],
        )
    # Parameter overrides act before the policy math; the master's values stay in the items table.
    series_df = series_df.withColumns(
        {
            "target_service_level": F.coalesce("override_service_level", "target_service_level"),
            "lead_time_days": F.coalesce("override_lead_time_days", "lead_time_days"),
        }
    ).transform(with_exception_reason)
    series_df = series_df.join(previous_df, [*KEYS], "left").persist(StorageLevel.MEMORY_AND_DISK)

    decided_df = None
    try:
        plannable_df = series_df.filter(F.col("exception_reason").isNull())
        decided_df = (
            forecasts_df.transform(
                policies.summarise_forecast,
                plannable_df,
                q_lo=q_lo,
                q_hi=q_hi,
                spread_divisor=policies.quantile_spread_sigma(min(quantiles), max(quantiles)),
            )
            .transform(
                policies.with_safety_stock_method,
                method=settings.safety_stock_method,
                skew_ratio=settings.skew_ratio,
            )
            .transform(
                policies.with_reorder_decision,
                is_review_day=policies.is_review_day(run_date, settings.review_anchor_date),
            )
            .transform(
                with_overrides_and_review,
                max_order_change_share=settings.review.max_order_change_share,
                jump_share=settings.review.forecast_jump_share,
                jump_min_units=settings.review.forecast_jump_min_units,
            )
        )
        has_order = F.col("order_qty") > 0
        decided_df = decided_df.select(
            "*",
            F.when(has_order, F.lit(run_date)).alias("order_date"),
            F.when(
                has_order, F.date_add(F.lit(run_date), F.ceil("lead_time_days").cast("int"))
            ).alias("expected_arrival"),
            policies.next_review_date(run_date, settings.review_anchor_date).alias(
                "next_review_date"
            ),
            (F.col("order_qty") * F.col("unit_cost")).alias("order_value"),
            # Expected yearly cost of running the policy: orders of EOQ, average stock Q/2 + SS.
            F.when(
                F.col("eoq") > 0, F.col("daily_demand") * 365 / F.col("eoq") * F.col("order_cost")
            ).alias("annual_ordering_cost"),
            (
                (F.col("eoq") / 2 + F.col("safety_stock"))
                * F.col("holding_cost_rate")
                * F.col("unit_cost")
            ).alias("annual_holding_cost"),
        ).persist(StorageLevel.MEMORY_AND_DISK)

        projection_df = forecasts_df.transform(
            projection.project_inventory,
            decided_df.select(*KEYS, "on_hand", "backorders"),
            receipts_df,
            decided_df.select(*KEYS, "expected_arrival", "order_qty"),
        )
        plan_df = (
            decided_df.join(projection.stockout_dates(projection_df), [*KEYS], "left")
            .unionByName(
                series_df.filter(F.col("exception_reason").isNotNull()), allowMissingColumns=True
            )
            .transform(with_reason)
            .select(
                *[
                    (
                        F.lit(run_date)
                        if f.name == "run_date"
                        else F.lit(run_id)
                        if f.name == "run_id"
                        else F.col("policy_name" if f.name == "policy" else f.name)
                    )
                    .cast(f.dataType)
                    .alias(f.name)
                    for f in REORDER_PLAN.fields
                ]
            )
        )
        spark.sparkContext.setJobDescription(f"plan_replenishment {run_date}: write plan")
        delta_io.replace_partition(plan_df, conf.table("reorder_plan"), "run_date", run_date)
        delta_io.replace_partition(
            _as_table(projection_df, INVENTORY_PROJECTION, run_date, run_id),
            conf.table("inventory_projection"),
            "run_date",
            run_date,
        )
    finally:
        series_df.unpersist()
        if decided_df is not None:
            decided_df.unpersist()

    written_df = delta_io.read_table(spark, conf.table("reorder_plan")).filter(
        F.col("run_date") == F.lit(run_date)
    )
    outbox_changes = _hand_over(spark, conf, written_df, run_id)
    sim = _simulate(spark, conf, run_id, written_df) if settings.simulation.enabled else None

    stats = written_df.agg(
        F.count(F.lit(1)).alias("lines"),
        F.sum(F.when(F.col("order_qty") > 0, 1).otherwise(0)).alias("orders"),
        F.sum("order_qty").alias("units"),
        F.sum(F.when(F.col("plan_status") == STATUS_NEEDS_REVIEW, 1).otherwise(0)).alias("review"),
        F.sum(
            F.when(F.col("plan_status").isin(STATUS_NOT_PLANNED, STATUS_QUARANTINED), 1).otherwise(
                0
            )
        ).alias("np"),
    ).first()
    summary = PlanSummary(
        run_id,
        stats["lines"],
        stats["orders"] or 0,
        stats["units"] or 0.0,
        stats["review"] or 0,
        stats["np"] or 0,
        outbox_changes,
        *(sim or (None, None)),
    )
    log.info("%s", summary)
    return summary


def _read_master(spark: SparkSession, conf: Conf) -> tuple[DataFrame, DataFrame | None]:
    """The item master and, when the table exists, the item-location master."""
    items_df = delta_io.read_table(
        spark, conf.table("items"), required=ITEM_COLUMNS, what="item master"
    )
    return items_df, _optional(spark, conf, "item_locations", [*KEYS], "item-location master")


def _previous_plan(spark: SparkSession, conf: Conf) -> DataFrame:
    """The latest earlier plan's order and demand per series (empty when there is none)."""
    empty = spark.createDataFrame(
        [], "sku string, location string, prev_order_qty double, prev_daily_demand double"
    )
    ref = conf.table("reorder_plan")
    if not delta_io.table_exists(spark, ref):
        return empty
    earlier_df = delta_io.read_table(spark, ref).filter(F.col("run_date") < F.lit(conf.run_date))
    latest = earlier_df.agg(F.max("run_date")).first()[0]
    if latest is None:
        return empty
    return earlier_df.filter(F.col("run_date") == F.lit(latest)).select(
        *KEYS,
        F.col("order_qty").alias("prev_order_qty"),
        F.col("daily_demand").alias("prev_daily_demand"),
    )


def _hand_over(spark: SparkSession, conf: Conf, plan_df: DataFrame, run_id: str) -> int:
    """MERGE the plan into the ERP outbox and write the supplier files; returns outbox changes."""
    lines_df = plan_df.withColumn("is_held", F.col("plan_status") != F.lit(STATUS_PLANNED))
    spark.sparkContext.setJobDescription(f"plan_replenishment {conf.run_date}: ERP outbox")
    ref = conf.table("erp_outbox")
    version = erp.merge_outbox(spark, lines_df, ref, run_date=conf.run_date, run_id=run_id)
    changes = erp.read_outbox_changes(spark, ref, version).count() if version is not None else 0
    order_lines_df = lines_df.filter(~F.col("is_held") & (F.col("order_qty") > 0))
    erp.write_supplier_exports(order_lines_df, conf.table("supplier_exports"), conf.run_date)
    return changes


def _simulate(
    spark: SparkSession, conf: Conf, run_id: str, plan_df: DataFrame
) -> tuple[float, float] | None:
    """Replay every planned series' policy over recent clean sales; write policy_simulation.

    Returns the overall achieved cycle service level and its cycle-weighted target.
    """
    sim = conf.plan.simulation
    run_date = conf.run_date
    start = run_date - dt.timedelta(days=sim.weeks * 7 + sim.warmup_days)
    params_df = plan_df.filter(F.col("exception_reason").isNull()).select(
        *KEYS,
        F.col("policy").alias("policy_name"),
        "lead_time_days", "lead_time_std", "review_period", "target_type", "target_service_level",
        "pack", "min_order", "unit_cost", "order_cost", "holding_cost_rate",
    )  # fmt: skip
    master_df = policies.item_location_master(params_df, *_read_master(spark, conf))
    params_df = params_df.join(
        master_df.select(*KEYS, F.coalesce("stockout_cost", F.lit(0.0)).alias("shortage_cost")),
        [*KEYS],
        "left",
    )
    history_df = (
        delta_io.read_table(
            spark, conf.table("clean_sales"), required=[*KEYS, "date", "qty"], what="clean sales"
        )
        .filter((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(run_date)))
        .select(*KEYS, "date", "qty")
    )
    fn = partial(
        simulation.simulate_series,
        run_date=run_date,
        weeks=sim.weeks,
        warmup_days=sim.warmup_days,
        window=sim.forecast_window_days,
        seed=sim.seed,
        anchor_date=conf.plan.review_anchor_date,
        method=conf.plan.safety_stock_method,
    )

    def per_series(pdf):
        return fn(pdf)

    spark.sparkContext.setJobDescription(f"plan_replenishment {run_date}: policy simulation")
    series_out_df = (
        history_df.join(params_df, [*KEYS])
        .groupBy(*KEYS)
        .applyInPandas(per_series, schema=POLICY_SIMULATION_SERIES)
        .select(F.lit("series").alias("level"), "*")
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        overall_df = simulation.overall_simulation(series_out_df)
        out_df = _as_table(
            series_out_df.unionByName(overall_df), POLICY_SIMULATION, run_date, run_id
        )
        delta_io.replace_partition(out_df, conf.table("policy_simulation"), "run_date", run_date)
    finally:
        series_out_df.unpersist()
    row = (
        delta_io.read_table(spark, conf.table("policy_simulation"))
        .filter(
            (F.col("run_date") == F.lit(run_date))
            & (F.col("level") == "overall")
            & (F.col("target_type") == "csl")
        )
        .first()
    )
    return (
        (row["achieved_csl"], row["target"])
        if row is not None and row["achieved_csl"] is not None
        else None
    )
