"""Stage 3: forecasts + item master + inventory -> reorder plan, ERP outbox, supplier files
and the supplier demand signal.

Reads the run date's forecasts (refused unless a successful forecast run wrote them), the
item master, each series' latest inventory snapshot on or before the run date and, when they
exist, open purchase-order lines, planner overrides, the model runs (demand class) and the
previous plan. Writes, each idempotent for the run date: ``reorder_plan`` and
``inventory_projection`` (replaceWhere), ``erp_outbox`` (MERGE, change data feed), the
supplier export folder (overwritten), ``supplier_signal`` (MERGE, change data feed) with its
folder of files, and ``policy_simulation`` (replaceWhere). A backfill (a later run date has
a plan already) leaves the outbox, the signal and the supplier files to the later plan. The
planning rules live in :mod:`skuplan.replenishment`; the cost-optimised levels and the
policy replay's glue in :mod:`.plan_policy`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from skuplan import erp
from skuplan.columns import (
    KEYS,
    PLAN_NEEDS_REVIEW,
    PLAN_NOT_PLANNED,
    PLAN_PLANNED,
    PLAN_QUARANTINED,
    quantile_column,
)
from skuplan.conf import Conf
from skuplan.pipeline import plan_network, plan_policy
from skuplan.pipeline.io import StageTables
from skuplan.pipeline.plan_inputs import newer_plan_date, read_inputs
from skuplan.replenishment import inputs, network, policies, projection, reasons, rules, signal
from skuplan.schemas import (
    INVENTORY_PROJECTION,
    REORDER_PLAN,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanSummary:
    run_id: str
    lines: int
    order_lines: int
    units: float
    needs_review: int = 0
    not_planned: int = 0
    outbox_changes: int = 0
    signal_changes: int = 0
    simulated_csl: float | None = None
    target_csl: float | None = None
    cost_ratio: float | None = None  # the cost-optimised levels' replayed cost / the formula's
    newer_plan: dt.date | None = None
    dc_lines: int = 0  # lines of distribution centres (the second echelon)
    allocated_lines: int = 0  # store orders a short DC cut
    dc_simulated_csl: float | None = None  # the DCs' replay on their stores' orders
    dc_target_csl: float | None = None
    dc_cost_ratio: float | None = None

    def metrics(self) -> dict[str, float | None]:
        """The figures a tracking server gets (see :mod:`skuplan.tracking`)."""
        return {
            "plan_lines": self.lines,
            "order_lines": self.order_lines,
            "order_units": self.units,
            "needs_review": self.needs_review,
            "not_planned": self.not_planned,
            "outbox_changes": self.outbox_changes,
            "supplier_signal_changes": self.signal_changes,
            "simulated_service_level": self.simulated_csl,
            "target_service_level": self.target_csl,
            "cost_policy_cost_ratio": self.cost_ratio,
            "dc_simulated_service_level": self.dc_simulated_csl,
            "dc_target_service_level": self.dc_target_csl,
            "dc_cost_policy_cost_ratio": self.dc_cost_ratio,
            "dc_lines": self.dc_lines,
            "allocated_lines": self.allocated_lines,
        }

    def _echelons(self) -> str:
        if not self.dc_lines:
            return ""
        return f" ({self.dc_lines} at DCs; {self.allocated_lines} store orders cut by a short DC)"

    def __str__(self) -> str:
        text = (
            f"plan_replenishment: {self.lines} plan lines{self._echelons()}, {self.order_lines} order lines, "
            f"{self.units:.0f} units; {self.needs_review} need review, {self.not_planned} not planned; "
            f"{self.outbox_changes} outbox changes, {self.signal_changes} supplier-signal changes"
        )
        if self.newer_plan is not None:
            text += (
                f" (backfill: the outbox and supplier files keep the newer plan of "
                f"{self.newer_plan})"
            )
        return text + self._replay()

    def _replay(self) -> str:
        """The replay's figures: stores, then DCs."""
        parts = []
        if self.simulated_csl is not None and self.target_csl is not None:
            parts.append(f"simulated cycle service level {self.simulated_csl:.1%} (target {self.target_csl:.1%})")  # fmt: skip
        if self.dc_simulated_csl is not None and self.dc_target_csl is not None:
            parts.append(f"at DCs {self.dc_simulated_csl:.1%} (target {self.dc_target_csl:.1%})")
        text = "; " + ", ".join(parts) if parts else ""
        if self.cost_ratio is not None:
            text += f"; cost-optimised levels: {self.cost_ratio - 1:+.1%} replayed cost"
            if self.dc_cost_ratio is not None:
                text += f" ({self.dc_cost_ratio - 1:+.1%} at DCs)"
        return text


def decide(forecasts_df: DataFrame, series_df: DataFrame, conf: Conf) -> DataFrame:
    """The policy's decision per plannable series: demand and error over the protection
    period, safety stock, reorder point (the formula's, or the cost-optimised choice's),
    order, overrides and review holds (the order's details come after the DCs' allocation,
    :func:`order_details`)."""
    settings, run_date, quantiles = conf.plan, conf.run_date, conf.forecast.quantiles
    q_lo, q_hi = min(quantiles), max(quantiles)
    return (
        forecasts_df.transform(
            policies.summarise_forecast,
            series_df.filter(F.col("exception_reason").isNull()),
            q_lo=quantile_column(q_lo),
            q_hi=quantile_column(q_hi),
            spread_divisor=policies.quantile_spread_sigma(q_lo, q_hi),
        )
        .transform(
            policies.with_safety_stock_method,
            method=settings.safety_stock_method,
            skew_ratio=settings.skew_ratio,
        )
        .transform(
            policies.with_position_and_lot,
            is_review_day=policies.is_review_day(run_date, settings.review_anchor_date),
        )
        .transform(policies.with_safety_stock)
        .transform(plan_policy.with_levels, settings, run_date)
        .transform(rules.with_kept_review, run_date)
        .transform(policies.with_order)
        .transform(
            rules.with_overrides_and_review,
            max_order_change_share=settings.review.max_order_change_share,
            jump_share=settings.review.forecast_jump_share,
            jump_min_units=settings.review.forecast_jump_min_units,
        )
    )


def order_details(decided_df: DataFrame, conf: Conf) -> DataFrame:
    """Order date, arrival, next review, order value and yearly costs of the decided lines."""
    return decided_df.transform(
        policies.with_order_details,
        run_date=conf.run_date,
        anchor_date=conf.plan.review_anchor_date,
    ).transform(rules.kept_next_review, conf.run_date)


def plan_lines(
    decided_df: DataFrame,
    series_df: DataFrame,
    projection_df: DataFrame,
    tables: StageTables,
    forecast_run: str,
) -> DataFrame:
    """Every series' plan line: planned ones with their projected stockout dates, the others
    with their exception, each with its reason; the ``reorder_plan`` columns, with the
    inventory snapshot and the forecast run (``forecast_run``) planned on."""
    exceptions_df = series_df.filter(F.col("exception_reason").isNotNull())
    lines_df = decided_df.join(
        projection.stockout_dates(projection_df), [*KEYS], "left"
    ).unionByName(exceptions_df, allowMissingColumns=True)
    lines_df = (
        lines_df.transform(reasons.with_reason)
        .drop("policy")
        .withColumnRenamed("policy_name", "policy")
        # A store supplied by a DC orders from it: the DC is its line's supplier.
        .withColumn("supplier", F.coalesce("source_location", "supplier"))
        .withColumnRenamed("snapshot_date", "inventory_snapshot_date")
        .withColumn("forecast_run_id", F.lit(forecast_run))
    )
    return tables.stamp(lines_df, REORDER_PLAN)


def hand_over(tables: StageTables, plan_df: DataFrame) -> int:
    """MERGE the plan into the ERP outbox and write the supplier files; returns outbox changes.

    Raises:
        erp.Superseded: a later run date has a plan (checked before each MERGE attempt).
    """
    lines_df = plan_df.withColumn("is_held", F.col("plan_status") != F.lit(PLAN_PLANNED))
    tables.describe("ERP outbox")
    ref = tables.ref("erp_outbox")
    version = erp.merge_outbox(
        tables.spark, lines_df, ref, run_date=tables.run_date, run_id=tables.run_id,
        newer_plan=lambda: newer_plan_date(tables),
    )  # fmt: skip
    changes = 0 if version is None else erp.read_outbox_changes(tables.spark, ref, version).count()
    order_lines_df = lines_df.filter(~F.col("is_held") & (F.col("order_qty") > 0))
    erp.write_supplier_exports(order_lines_df, tables.ref("supplier_exports"), tables.run_date)
    return changes


def supplier_signal(tables: StageTables, forecasts_df: DataFrame, plan_df: DataFrame) -> int:
    """Roll each planned series' policy over its horizon, add demand and planned orders up by
    supplier and week (:mod:`skuplan.replenishment.signal`), MERGE them into
    ``supplier_signal`` and write them as files per supplier; returns the signal's changed rows.
    Stores supplied by a planned DC are left out: its lines carry their demand
    (:func:`network.signal_lines`). Raises ``erp.Superseded`` as :func:`hand_over` does.
    """
    conf, run_date = tables.conf, tables.run_date
    quantiles = conf.forecast.quantiles
    q_lo, q_hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    plan_df = network.signal_lines(plan_df)
    tables.describe("supplier signal")
    orders_df = plan_network.planned_orders(conf, forecasts_df, plan_df)
    signal_df = signal.weekly_signal(
        forecasts_df, orders_df, plan_df, run_date=run_date,
        weeks=conf.plan.supplier_signal.weeks, q_lo=q_lo, q_hi=q_hi,
        spread_divisor=policies.quantile_spread_sigma(min(quantiles), max(quantiles)),
    )  # fmt: skip
    ref = tables.ref("supplier_signal")
    kept_rows_df = erp.kept_signal_rows(
        tables.spark, ref, network.kept_in_signal(plan_df), run_date
    )
    if kept_rows_df is not None:
        signal_df = signal_df.unionByName(kept_rows_df)
    signal_df = signal_df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        version = erp.merge_signal(
            tables.spark, signal_df, ref, run_date=run_date, run_id=tables.run_id,
            newer_plan=lambda: newer_plan_date(tables),
        )  # fmt: skip
        erp.write_supplier_exports(
            tables.stamp(signal_df), tables.ref("supplier_signal_exports"), run_date,
            erp.SIGNAL_FILE_COLUMNS,
        )  # fmt: skip
    finally:
        signal_df.unpersist()
    if version is None:
        return 0
    changes_df = erp.read_changes(tables.spark, ref, version)
    return changes_df.filter(F.col("_change_type") != "update_preimage").count()


def summarise(
    tables: StageTables,
    plan_df: DataFrame,
    changes: tuple[int, int],
    sim: plan_policy.Replayed | None,
    newer: dt.date | None,
) -> PlanSummary:
    """The run's figures; ``changes`` are the outbox's and the supplier signal's changed rows."""
    not_planned = F.col("plan_status").isin(PLAN_NOT_PLANNED, PLAN_QUARANTINED)
    stats = plan_df.agg(
        F.count(F.lit(1)).alias("lines"),
        F.count_if(F.col("order_qty") > 0).alias("orders"),
        F.sum("order_qty").alias("units"),
        F.count_if(F.col("plan_status") == PLAN_NEEDS_REVIEW).alias("review"),
        F.count_if(not_planned).alias("np"),
        F.count_if(F.col("echelon") == network.ECHELON_DC).alias("dc"),
        F.count_if(F.col("requested_qty").isNotNull()).alias("cut"),
    ).first()
    return PlanSummary(
        tables.run_id,
        stats["lines"],
        stats["orders"] or 0,
        stats["units"] or 0.0,
        stats["review"] or 0,
        stats["np"] or 0,
        *changes,
        sim and sim.csl,
        sim and sim.target,
        sim and sim.cost_ratio,
        newer,
        stats["dc"] or 0,
        stats["cut"] or 0,
        sim and sim.dc_csl,
        sim and sim.dc_target,
        sim and sim.dc_cost_ratio,
    )


def write_plan(
    tables: StageTables, planned: plan_network.Planned, receipts_df: DataFrame, forecast_run: str
) -> DataFrame:
    """Write the run date's ``reorder_plan`` and ``inventory_projection``; returns the plan
    as written."""
    series_df = planned.series_df.persist(StorageLevel.MEMORY_AND_DISK)
    decided_df = planned.decided_df.transform(order_details, tables.conf)
    decided_df = decided_df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        tables.describe("write plan")
        # Checkpointed: both writes read it (the plan lines for their stockout dates); computed
        # twice, it cost a warm plan run on 6 series about 3 s of 38 (2026-12-07).
        projection_df = planned.forecasts_df.transform(
            projection.project_inventory,
            decided_df.select(*KEYS, "on_hand", "backorders"),
            receipts_df,
            decided_df.select(*KEYS, "expected_arrival", "order_qty"),
        ).localCheckpoint()
        lines_df = plan_lines(decided_df, series_df, projection_df, tables, forecast_run)
        tables.replace(lines_df, "reorder_plan")
        tables.replace(tables.stamp(projection_df, INVENTORY_PROJECTION), "inventory_projection")
    finally:
        series_df.unpersist()
        decided_df.unpersist()
    return tables.read("reorder_plan").transform(tables.of_run_date)


def run(spark, conf: Conf) -> PlanSummary:
    """Plan orders for every series forecast on ``conf.run_date``.

    Raises:
        InputError: no forecasts for the run date, or a missing input table.
        UnfinishedInputError: the forecasts do not come from a successful forecast run.
    """
    tables, settings = StageTables(spark, conf, "plan_replenishment"), conf.plan
    given = read_inputs(tables)
    receipts_df = inputs.receipts(
        given.open_orders_df, given.inventory_df, conf.run_date, given.released_df,
        snapshot_time=settings.inventory_snapshot_time,
    )  # fmt: skip
    defaults = {
        "default_lead_time_days": settings.default_lead_time_days,
        "default_service_level": settings.default_service_level,
        "default_policy": settings.default_policy,
        "default_review_period_days": settings.default_review_period_days,
    }

    def plan_series(forecasts_df: DataFrame, keys_df: DataFrame):
        series_df = inputs.series_inputs(
            keys_df, items_df=given.items_df, item_locations_df=given.item_locations_df,
            inventory_df=given.inventory_df, receipts_df=receipts_df, runs_df=given.runs_df,
            overrides_df=given.overrides_df, previous_df=given.previous_df,
            run_date=conf.run_date, defaults=defaults,
            inventory_max_age_days=settings.inventory_max_age_days,
        )  # fmt: skip
        return series_df, decide(forecasts_df, series_df, conf)

    tables.describe("decide stores and DCs")
    planned = plan_network.plan(conf, given.forecasts_df, given.locations_df, plan_series)
    try:
        written_df = write_plan(tables, planned, receipts_df, given.forecast_run_id)
        # The outbox holds the latest plan: a backfill must not roll it back, nor a backfill
        # whose MERGE retries after the daily run of a later date merged (each attempt asks).
        changes = signal_changes = 0
        newer = None
        try:
            changes = hand_over(tables, written_df)
            if settings.supplier_signal.enabled:
                signal_changes = supplier_signal(tables, planned.forecasts_df, written_df)
        except erp.Superseded as exc:
            newer = exc.newer
            log.warning(
                "backfill of %s: the outbox and the supplier signal keep the newer plan of %s",
                conf.run_date, newer,
            )  # fmt: skip
    finally:
        planned.unpersist()
    sim = plan_policy.simulate(tables, written_df) if settings.simulation.enabled else None
    summary = summarise(tables, written_df, (changes, signal_changes), sim, newer)
    log.info("%s", summary)
    return summary
