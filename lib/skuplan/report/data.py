"""The report's summaries: backtest accuracy and the plan, as Spark aggregations; and the
small, bounded results the page is rendered from (:class:`ReportData`).

Every function is ``DataFrame -> DataFrame``; the report stage (:mod:`skuplan.pipeline.report`)
reads the tables, chains these and brings their small results to the driver. The per-series
documents of the explorer are built in :mod:`skuplan.report.series`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from skuplan.columns import KEYS, PLAN_NEEDS_REVIEW, PLAN_PLANNED
from skuplan.replenishment.network import ECHELON_STORE

NAIVE = "seasonal_naive"
CHOSEN = "chosen per series"
ALL = "all shipped forecasts"
MASE_BIN_WIDTH = 0.1
MASE_BINS = 30  # the last bin holds everything from 3.0 up


@dataclass(frozen=True)
class PlanTables:
    """The plan summary: small tables, each already bounded."""

    status: pd.DataFrame  # plan_status, lines, order_lines, units, value
    suppliers: pd.DataFrame  # supplier, order_lines, units, value, released_lines, held_lines
    review: pd.DataFrame  # lines needing review (first max_table_rows)
    review_total: int
    stockouts: pd.DataFrame  # lines with a projected stockout (first max_table_rows)
    stockouts_total: int
    exceptions: pd.DataFrame  # plan_status, cause, lines
    # Of the stockouts, those short before a later order could arrive.
    at_risk_total: int = 0
    # The policy replay by policy and variant (see policy_replay); empty without one.
    replay: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML needs, already small (pandas and JSON text)."""

    run_date: dt.date
    band: tuple[str, str]  # the outer quantile columns, e.g. ("q10", "q90")
    nominal_coverage: float  # the outer band's nominal coverage, e.g. 0.8
    accuracy: pd.DataFrame  # one row per model (see accuracy_by_model), CHOSEN first
    mase_hist: pd.DataFrame  # kind (chosen | seasonal naive), bin, series
    series: list[str]  # JSON payloads
    series_total: int
    plan: PlanTables | None
    has_explanations: bool
    run_ids: dict[str, str] = field(default_factory=dict)
    # Earlier forecasts against sales (see realised_by_model), ALL first; the days it covers.
    realised: pd.DataFrame = field(default_factory=pd.DataFrame)
    realised_days: int = 0
    # Backtest error per hierarchy level before and after reconciliation (see hierarchy_levels).
    hierarchy: pd.DataFrame = field(default_factory=pd.DataFrame)


def accuracy_by_model(metrics_df: DataFrame) -> DataFrame:
    """Backtest accuracy per candidate model and for the chosen model of each series.

    Input: ``sku, location, model, mase, wape, coverage, is_selected``. Output:
    ``model, series_chosen, series_scored, median_mase, median_mase_naive`` (seasonal naive
    on the same series), ``share_beating_naive, median_wape, mean_coverage``; the row
    ``model = CHOSEN`` scores each series' selected model.
    """
    naive_df = metrics_df.filter(F.col("model") == NAIVE).select(
        *KEYS, F.col("mase").alias("naive_mase")
    )
    scored_df = metrics_df.join(naive_df, [*KEYS], "left")
    both = F.col("mase").isNotNull() & F.col("naive_mase").isNotNull()

    def summary(df: DataFrame) -> DataFrame:
        return df.groupBy("model").agg(
            F.sum(F.coalesce(F.col("is_selected").cast("int"), F.lit(0))).alias("series_chosen"),
            F.count("mase").alias("series_scored"),
            F.median("mase").alias("median_mase"),
            F.median(F.when(both, F.col("naive_mase"))).alias("median_mase_naive"),
            F.avg(F.when(both, (F.col("mase") < F.col("naive_mase")).cast("double"))).alias(
                "share_beating_naive"
            ),
            F.median("wape").alias("median_wape"),
            F.avg("coverage").alias("mean_coverage"),
        )

    chosen_df = scored_df.filter(F.col("is_selected")).withColumn("model", F.lit(CHOSEN))
    return summary(chosen_df).unionByName(summary(scored_df))


def realised_by_model(accuracy_df: DataFrame) -> DataFrame:
    """How the shipped forecasts did, per model they came from and over all of them.

    Input: ``forecast_accuracy`` rows (``sku, location, model, yhat, actual, abs_error,
    is_in_band``). Output: ``model, series_scored, periods, wape, bias, coverage``; the row
    ``model = ALL`` covers every row.
    """

    def summary(df: DataFrame) -> DataFrame:
        sold = F.sum("actual")
        return df.groupBy("model").agg(
            F.count_distinct(*KEYS).alias("series_scored"),
            F.count(F.lit(1)).alias("periods"),
            (F.sum("abs_error") / F.when(sold > 0, sold)).alias("wape"),
            (F.sum(F.col("yhat") - F.col("actual")) / F.when(sold > 0, sold)).alias("bias"),
            F.avg(F.col("is_in_band").cast("double")).alias("coverage"),
        )

    return summary(accuracy_df.withColumn("model", F.lit(ALL))).unionByName(summary(accuracy_df))


def hierarchy_levels(metrics_df: DataFrame) -> DataFrame:
    """Per hierarchy level and reconciliation method, over its trees: ``level, method,
    is_selected, nodes, periods, rmsse_base, rmsse`` (the mean over nodes of the scaled root
    mean squared backtest error, own and reconciled), the levels by size, series last.

    Input: ``hierarchy_metrics`` rows of one run date.
    """
    nodes = F.col("nodes")
    return (
        metrics_df.groupBy("level", "method")
        .agg(
            F.max("is_selected").alias("is_selected"),
            F.sum(nodes).alias("nodes"),
            F.max("periods").alias("periods"),
            (F.sum(F.col("rmsse_base") * nodes) / F.sum(nodes)).alias("rmsse_base"),
            (F.sum(F.col("rmsse") * nodes) / F.sum(nodes)).alias("rmsse"),
        )
        .orderBy((F.col("level") == "series").cast("int"), nodes, "level", "method")
    )


def mase_histogram(metrics_df: DataFrame) -> DataFrame:
    """Series per MASE bin, for the chosen models and for seasonal naive.

    Input: ``sku, location, model, mase, is_selected``. Output: ``kind, bin, series`` with
    ``bin`` the lower edge's index (``MASE_BIN_WIDTH`` wide, the last bin open-ended).
    """
    chosen = F.when(F.col("is_selected"), F.lit("chosen"))
    naive = F.when(F.col("model") == NAIVE, F.lit("seasonal naive"))
    # A series whose chosen model is seasonal naive counts in both histograms.
    rows_df = metrics_df.filter(F.col("mase").isNotNull()).select(
        F.explode(F.array_compact(F.array(chosen, naive))).alias("kind"),
        F.least(F.floor(F.col("mase") / MASE_BIN_WIDTH), F.lit(MASE_BINS)).cast("int").alias("bin"),
    )
    return rows_df.groupBy("kind", "bin").agg(F.count(F.lit(1)).alias("series"))


def orders_by_supplier(plan_df: DataFrame) -> DataFrame:
    """Order lines per supplier: ``supplier, order_lines, units, value, released_lines,
    held_lines`` (held: needing review), largest value first.

    Input: ``supplier, order_qty, order_value, plan_status``.
    """
    is_order = F.col("order_qty") > 0
    return (
        plan_df.filter(is_order)
        .groupBy(F.coalesce("supplier", F.lit("(none)")).alias("supplier"))
        .agg(
            F.count(F.lit(1)).alias("order_lines"),
            F.sum("order_qty").alias("units"),
            F.sum("order_value").alias("value"),
            F.sum((F.col("plan_status") == PLAN_PLANNED).cast("int")).alias("released_lines"),
            F.sum((F.col("plan_status") == PLAN_NEEDS_REVIEW).cast("int")).alias("held_lines"),
        )
        .orderBy(F.desc("value"), "supplier")
    )


def status_counts(plan_df: DataFrame) -> DataFrame:
    """Lines per echelon (``store``, ``dc``; plans older than the DC network are stores) and
    ``plan_status``: ``echelon, plan_status, lines, order_lines, units, value``."""
    echelon = (
        F.coalesce("echelon", F.lit("store")) if "echelon" in plan_df.columns else F.lit("store")
    )
    return (
        plan_df.groupBy(echelon.alias("echelon"), "plan_status")
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.sum((F.col("order_qty") > 0).cast("int")).alias("order_lines"),
            F.sum("order_qty").alias("units"),
            F.sum("order_value").alias("value"),
        )
        .orderBy(F.desc("echelon"), "plan_status")
    )


def exception_counts(plan_df: DataFrame) -> DataFrame:
    """Lines not planned or quarantined, per cause: ``plan_status, cause, lines``."""
    return (
        plan_df.filter(F.col("exception_reason").isNotNull())
        .groupBy("plan_status", F.col("exception_reason").alias("cause"))
        .agg(F.count(F.lit(1)).alias("lines"))
        .orderBy(F.desc("lines"), "cause")
    )


REVIEW_COLUMNS = [
    *KEYS, "supplier", "order_qty", "prev_order_qty", "daily_demand", "prev_daily_demand",
    "review_reasons", "reason",
]  # fmt: skip
STOCKOUT_COLUMNS = [
    *KEYS, "supplier", "plan_status", "on_hand", "inventory_position", "daily_demand",
    "order_qty", "expected_arrival", "projected_stockout_date", "projected_stockout_date_with_plan",
]  # fmt: skip


def lines_needing_review(plan_df: DataFrame) -> DataFrame:
    """Held lines (``REVIEW_COLUMNS``), the largest order change first."""
    change = F.abs(F.col("order_qty") - F.coalesce("prev_order_qty", F.lit(0.0)))
    return (
        plan_df.filter(F.col("plan_status") == PLAN_NEEDS_REVIEW)
        .select(*REVIEW_COLUMNS)
        .orderBy(F.desc(change), *KEYS)
    )


def later_receipt() -> Column:
    """The earliest day an order placed after the run date could arrive: the next review
    after it plus the lead time (null on lines without them)."""
    next_review = F.when(F.col("next_review_date") > F.col("run_date"), F.col("next_review_date"))
    after = F.coalesce(
        next_review,
        F.date_add("run_date", F.greatest(F.ceil("review_period"), F.lit(1)).cast("int")),
    )
    return F.date_add(after, F.ceil("lead_time_days").cast("int"))


def short_before_later_receipt() -> Column:
    """Short even with this plan's order before a later order could arrive: the stockouts
    the plan's next reviews cannot prevent (the others are what those reviews order for)."""
    return F.coalesce(F.col("projected_stockout_date_with_plan") < later_receipt(), F.lit(False))


def projected_stockouts(plan_df: DataFrame) -> DataFrame:
    """Lines (``STOCKOUT_COLUMNS`` and ``later_receipt``) whose projected stock without new
    orders runs short within the horizon: those short before a later order could arrive
    first, then those still short with this plan's order, then the earliest."""
    return (
        plan_df.filter(F.col("projected_stockout_date").isNotNull())
        .select(
            *STOCKOUT_COLUMNS,
            later_receipt().alias("later_receipt"),
            short_before_later_receipt().alias("_risk"),
        )
        .orderBy(
            F.col("_risk").desc(),
            F.col("projected_stockout_date_with_plan").asc_nulls_last(),
            "projected_stockout_date",
            *KEYS,
        )
        .drop("_risk")
    )


def plan_totals(plan_df: DataFrame) -> DataFrame:
    """One row: ``lines, review`` (lines needing review), ``stockouts`` (lines with a projected
    stockout without new orders), ``at_risk`` (those short before a later order could
    arrive, :func:`short_before_later_receipt`) and the plan's ``run_id``.

    Input: ``plan_status, projected_stockout_date, projected_stockout_date_with_plan,
    run_date, next_review_date, review_period, lead_time_days, run_id``.
    """
    return plan_df.agg(
        F.count(F.lit(1)).alias("lines"),
        F.count_if(F.col("plan_status") == PLAN_NEEDS_REVIEW).alias("review"),
        F.count_if(F.col("projected_stockout_date").isNotNull()).alias("stockouts"),
        F.count_if(short_before_later_receipt()).alias("at_risk"),
        F.max("run_id").alias("run_id"),
    )


def policy_replay(sim_df: DataFrame) -> DataFrame:
    """The replay of the plan's policies (``policy_simulation``'s ``ok`` series rows) per
    variant (the formula's levels, the cost-optimised ones), echelon (stores, then DCs
    replayed on their stores' orders) and policy, then per variant and echelon over all
    policies (``policy`` = ``all``): ``series, cycles, target_csl`` (cycle-weighted),
    ``achieved_csl`` (both over cycle-service series), ``fill_rate`` (over all demand) and
    ``total_cost`` (holding + ordering + shortage), and ``plan_share``: the share of the
    replayed days on levels an earlier plan released (variant ``shipped``; null for a table
    written before ``plan_days`` existed). A table written before ``echelon`` existed holds
    stores only.
    """
    ok = sim_df.filter((F.col("level") == "series") & (F.col("status") == "ok"))
    echelon = F.col("echelon") if "echelon" in sim_df.columns else F.lit(None).cast("string")
    ok = ok.withColumn("echelon", F.coalesce(echelon, F.lit(ECHELON_STORE)))
    csl = F.col("target_type") == "csl"
    cycles = F.sum(F.when(csl, F.col("cycles")))
    plan_share = (
        F.try_divide(F.sum("plan_days"), F.sum("sim_days"))
        if "plan_days" in sim_df.columns
        else F.lit(None).cast("double")
    )
    return (
        ok.rollup("variant", "echelon", "policy")
        .agg(
            F.count(F.lit(1)).alias("series"),
            cycles.alias("cycles"),
            F.try_divide(F.sum(F.when(csl, F.col("target") * F.col("cycles"))), cycles).alias(
                "target_csl"
            ),
            (1 - F.try_divide(F.sum(F.when(csl, F.col("stockout_cycles"))), cycles)).alias(
                "achieved_csl"
            ),
            F.try_divide(F.sum("filled"), F.sum("demand")).alias("fill_rate"),
            F.sum("total_cost").alias("total_cost"),
            plan_share.alias("plan_share"),
        )
        .filter(F.col("variant").isNotNull() & F.col("echelon").isNotNull())
        .withColumn("policy", F.coalesce("policy", F.lit("all")))
        .orderBy(
            "variant",
            F.col("echelon") != ECHELON_STORE,
            "echelon",
            F.col("policy") == "all",
            "policy",
        )
    )
