"""Plan-line rules: which series cannot be planned, planner overrides, review holds, and the
reviews a previous plan scheduled (kept across a change of review period).

Spark column expressions over all item-locations. Statuses are
:data:`skuplan.columns.PLAN_STATUSES`, shared with the outbox and the report.
"""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Window

from skuplan.columns import (
    KEYS,
    PLAN_NEEDS_REVIEW,
    PLAN_NOT_PLANNED,
    PLAN_PLANNED,
    PLAN_QUARANTINED,
)

OVERRIDE_COLUMNS = {
    "override_qty": "double",
    "override_service_level": "double",
    "override_lead_time_days": "double",
    "override_reason": "string",
    "override_author": "string",
    "override_placed_on": "date",
    "override_valid_to": "date",
}


def placed_overrides(
    overrides_df: DataFrame, released_df: DataFrame, run_date: dt.date
) -> DataFrame:
    """``placed_on`` for each override: the first earlier run date in its validity whose
    released plan line (:func:`skuplan.pipeline.plan_inputs.read_released_overrides`)
    ordered its quantity, null when none did or the quantity is not above 0.

    A quantity above 0 is one order: once it went out, the days after in its validity order
    what the policy computes (the override's order counts through ``open_orders``), or each
    day's supplier file would repeat it. An override of 0 holds orders back on every day.
    A line matches an override of its series by quantity, author and reason (what a plan line
    keeps of it), on or after the override's ``valid_from`` (without one, the day it was
    written, ``created_at``).

    Input: ``PLAN_OVERRIDES`` columns; ``released_df``: ``sku, location, run_date,
    override_qty, override_author, override_reason``. Output: the overrides and ``placed_on``.
    """
    r = released_df.select(*[F.col(c).alias(f"_r_{c}") for c in released_df.columns])
    matched = (
        (F.col("sku") == F.col("_r_sku")) & (F.col("location") == F.col("_r_location"))
        & (F.col("override_qty") > 0) & (F.col("override_qty") == F.col("_r_override_qty"))
        & F.col("author").eqNullSafe(F.col("_r_override_author"))
        & F.col("reason").eqNullSafe(F.col("_r_override_reason"))
        & (F.col("_r_run_date") >= F.coalesce("valid_from", F.to_date("created_at"),
                                              F.col("_r_run_date")))
        & (F.col("_r_run_date") < F.lit(run_date))
    )  # fmt: skip
    return (
        overrides_df.join(r, matched, "left")
        .groupBy(*overrides_df.columns)
        .agg(F.min("_r_run_date").alias("placed_on"))
    )


def active_overrides(overrides_df: DataFrame, run_date: dt.date) -> DataFrame:
    """Overrides valid on ``run_date``, one per series: the latest ``valid_from``, then the
    latest ``created_at`` (when the planner wrote it); rows equal on both resolve by their
    values, so every run keeps the same one.

    Input: ``PLAN_OVERRIDES`` columns, and ``placed_on`` (:func:`placed_overrides`) when
    known. Output: ``sku, location`` and ``OVERRIDE_COLUMNS``.
    """
    day = F.lit(run_date)
    valid = (F.coalesce("valid_from", day) <= day) & (F.coalesce("valid_to", day) >= day)
    if "placed_on" not in overrides_df.columns:
        overrides_df = overrides_df.withColumn("placed_on", F.lit(None).cast("date"))
    rest = [F.col(c).asc_nulls_last() for c in overrides_df.columns
            if c not in (*KEYS, "valid_from", "created_at", "placed_on")]  # fmt: skip
    w = Window.partitionBy(*KEYS).orderBy(
        F.col("valid_from").desc_nulls_last(), F.col("created_at").desc_nulls_last(), *rest
    )
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
            F.col("placed_on").alias("override_placed_on"),
            F.col("valid_to").alias("override_valid_to"),
        )
    )


def with_exception_reason(df: DataFrame, *, inventory_max_age_days: int) -> DataFrame:
    """``exception_reason`` and ``plan_status`` for series that cannot be planned.

    Input: ``_has_item, missing_master, _has_inventory, inventory_age_days, on_hand,
    on_order, backorders``. Negative on-hand is bad data, quarantined; missing master data,
    a missing inventory snapshot or one older than ``inventory_max_age_days`` is not planned.
    """
    reason = (
        F.when(~F.col("_has_item"), F.lit("missing_item_master"))
        .when(
            F.col("missing_master").isNotNull(),
            F.concat(F.lit("missing_master_data:"), "missing_master"),
        )
        .when(~F.col("_has_inventory"), F.lit("missing_inventory"))
        .when(F.col("inventory_age_days") > F.lit(inventory_max_age_days), F.lit("stale_inventory"))
        .when(F.col("on_hand") < 0, F.lit("negative_on_hand"))
        .when(
            (F.col("on_order") < 0) | (F.col("backorders") < 0),
            F.lit("negative_on_order_or_backorders"),
        )
    )
    return df.withColumn("exception_reason", reason).withColumn(
        "plan_status",
        F.when(F.col("exception_reason") == "negative_on_hand", F.lit(PLAN_QUARANTINED))
        .when(F.col("exception_reason").isNotNull(), F.lit(PLAN_NOT_PLANNED))
        .otherwise(F.lit(PLAN_PLANNED)),
    )


def with_overrides_and_review(
    df: DataFrame, *, max_order_change_share, jump_share, jump_min_units
) -> DataFrame:
    """Apply quantity overrides (both values kept) and hold unusual lines for review.

    Input: ``order_qty`` (computed), ``OVERRIDE_COLUMNS``, ``daily_demand``,
    ``prev_order_qty``, ``prev_daily_demand``. Output: ``computed_order_qty``, ``order_qty``
    (the override when given and not placed yet (:func:`placed_overrides`), taken as the
    planner wrote it), ``is_overridden``, ``review_reasons`` and ``plan_status`` =
    ``needs_review`` for held lines. An overridden line has been reviewed.
    """
    override = F.when(F.col("override_placed_on").isNull(), F.col("override_qty"))
    qty, prev = F.coalesce(override, "order_qty"), F.col("prev_order_qty")
    order_jump = (prev > 0) & (qty > 0) & (F.abs(qty - prev) > F.lit(max_order_change_share) * prev)
    change = F.abs(F.col("daily_demand") - F.col("prev_daily_demand"))
    forecast_jump = (change > F.lit(jump_share) * F.col("prev_daily_demand")) & (
        change > F.lit(jump_min_units)
    )
    is_overridden = (
        override.isNotNull()
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
        F.when(held, F.lit(PLAN_NEEDS_REVIEW)).otherwise(F.col("plan_status")).alias("plan_status"),
    )


def with_kept_review(df: DataFrame, run_date: dt.date) -> DataFrame:
    """Keep the review the previous plan scheduled: today is a review day also when the
    previous plan's next review fell after its own run date and on or before today.

    Without it, a series whose review period grows (a master edit, or cost-optimised levels
    shipped on a longer period) waits for the new period's first review day, up to a whole
    new period, however low its stock; a run date the job missed is caught up the same way.

    Input: ``is_review_day``, ``prev_run_date``, ``prev_next_review_date`` (null without a
    previous plan). Output: ``is_review_day`` updated.
    """
    due = (F.col("prev_next_review_date") > F.col("prev_run_date")) & (
        F.col("prev_next_review_date") <= F.lit(run_date)
    )
    return df.withColumn("is_review_day", F.col("is_review_day") | F.coalesce(due, F.lit(False)))


def kept_next_review(df: DataFrame, run_date: dt.date) -> DataFrame:
    """``next_review_date`` no later than the previous plan's next review while that one is
    still ahead, so that a review scheduled before a change of period is kept
    (:func:`with_kept_review`) on its day.

    Input: ``next_review_date``, ``prev_next_review_date``.
    """
    ahead = F.when(F.col("prev_next_review_date") > F.lit(run_date), F.col("prev_next_review_date"))
    return df.withColumn("next_review_date", F.least("next_review_date", ahead))


def with_overrides(df: DataFrame, overrides_df: DataFrame | None, run_date: dt.date) -> DataFrame:
    """The series' active override (:func:`active_overrides`; null columns without any), and
    its service level and lead time applied before the policy math (the master's values stay
    in the items table).

    Input: ``sku, location, target_service_level, lead_time_days``. Output adds
    ``OVERRIDE_COLUMNS``.
    """
    if overrides_df is not None:
        df = df.join(active_overrides(overrides_df, run_date), [*KEYS], "left")
    else:
        df = df.select("*", *[F.lit(None).cast(t).alias(c) for c, t in OVERRIDE_COLUMNS.items()])
    return df.withColumns(
        {
            "target_service_level": F.coalesce("override_service_level", "target_service_level"),
            "lead_time_days": F.coalesce("override_lead_time_days", "lead_time_days"),
        }
    )
