"""The plan's policy checks: the cost-optimised choice of each series' levels and the replay
of the policies over recent clean sales (``policy_simulation``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan import fanout
from skuplan.columns import KEYS, PLAN_PLANNED
from skuplan.conf import PlanSettings
from skuplan.pipeline.io import StageTables
from skuplan.pipeline.plan_inputs import daily_sales, read_master
from skuplan.replenishment import cost_policy, inputs, network, policies, simulation
from skuplan.schemas import POLICY_SIMULATION, POLICY_SIMULATION_SERIES


def with_levels(levels_df: DataFrame, settings: PlanSettings, run_date: dt.date) -> DataFrame:
    """The formula's levels with the cost-optimised choice beside them (or in their place,
    ``plan.cost_policy.ship``: then today is a review day or not by the chosen review
    period); unchanged but for empty choice columns when it is off."""
    cost = settings.cost_policy
    if not cost.enabled:
        return levels_df.transform(cost_policy.with_formula_only)
    return levels_df.transform(
        cost_policy.with_cost_choice,
        seed=settings.simulation.seed,
        ship=cost.ship,
        is_review_day=policies.is_review_day(run_date, settings.review_anchor_date),
    )


def shipped_variant(settings: PlanSettings) -> str:
    """The replay's variant of the levels the plan ships."""
    cost = settings.cost_policy
    return simulation.VARIANT_COST if cost.enabled and cost.ship else simulation.VARIANT_FORMULA


def simulation_inputs(tables: StageTables, plan_df: DataFrame) -> DataFrame:
    """Clean sales of the replayed weeks and their warm-up, joined with each planned
    series' parameters (``simulation.PARAM_COLUMNS``; the review period the master's, for the
    formula's replay), its cost-optimised choice (``simulation.COST_COLUMNS``), its
    ``echelon`` and its ``simulation.NETWORK`` (a store supplied by a planned DC: the DC);
    with the lines earlier plans shipped for the replayed days (:func:`shipped_lines`) of the
    series with sales and of the DCs. A DC without sales of its own has one zero-demand row
    (its demand is its stores' replayed orders)."""
    sim, run_date = tables.conf.plan.simulation, tables.run_date
    start = run_date - dt.timedelta(days=sim.weeks * 7 + sim.warmup_days)
    params_df = plan_df.filter(F.col("exception_reason").isNull()).select(
        *KEYS,
        F.col("policy").alias("policy_name"),
        "lead_time_days", "lead_time_std", "review_period", "target_type", "target_service_level",
        "pack", "min_order", "unit_cost", "order_cost", "holding_cost_rate", "policy_parameters",
        *simulation.COST_COLUMNS, "echelon", "source_location",
    )  # fmt: skip
    master_df = inputs.item_location_master(params_df, *read_master(tables))
    shortage = F.coalesce("stockout_cost", F.lit(0.0)).alias("shortage_cost")
    master = inputs.master_review_period(tables.conf.plan.default_review_period_days)
    params_df = params_df.join(
        master_df.select(*KEYS, shortage, master.alias("_master_review")), [*KEYS], "left"
    )
    # A line ordering with the cost-optimised levels may review on the chosen period: the
    # formula's replay keeps the master's.
    shipped = F.col("policy_parameters") == F.lit(cost_policy.PARAMETERS_COST)
    params_df = params_df.withColumn(
        "review_period", F.when(shipped, F.col("_master_review")).otherwise(F.col("review_period"))
    ).drop("_master_review", "policy_parameters")
    is_dc = F.col("echelon") == F.lit(network.ECHELON_DC)
    dcs_df = params_df.filter(is_dc).select(*KEYS)
    planned_dcs_df = dcs_df.select(
        "sku", F.col("location").alias("source_location"), F.lit(True).alias("_dc")
    )
    params_df = (
        params_df.join(planned_dcs_df, ["sku", "source_location"], "left")
        .withColumn(
            simulation.NETWORK,
            F.when(is_dc | F.col("_dc").isNull(), F.col("location")).otherwise(
                F.col("source_location")
            ),
        )
        .drop("_dc", "source_location")
    )
    history_df = daily_sales(tables, start)
    anchors_df = dcs_df.select(
        *KEYS, F.lit(run_date - dt.timedelta(days=1)).alias("date"), F.lit(0.0).alias("qty")
    )
    history_df = history_df.unionByName(anchors_df)
    shipped_df = shipped_lines(tables, run_date - dt.timedelta(days=sim.weeks * 7))
    if shipped_df is not None:  # of series with sales and of DCs (as without earlier plans)
        shipped_df = shipped_df.join(history_df.select(*KEYS).distinct(), [*KEYS], "left_semi")
        history_df = history_df.unionByName(shipped_df, allowMissingColumns=True)
    return history_df.join(params_df, [*KEYS])


def shipped_lines(tables: StageTables, start: dt.date) -> DataFrame | None:
    """The plan lines earlier runs released for the replayed days (``start`` to the day
    before the run date: planned, not held for review nor an exception) as zero-demand rows
    dated by their run date, with ``simulation.SHIPPED_COLUMNS``; None before the first plan."""
    plan_df = tables.optional("reorder_plan")
    if plan_df is None:
        return None
    columns = ("policy", "reorder_point", "order_up_to", "eoq", "is_review_day", "daily_demand")
    return plan_df.filter(
        (F.col("run_date") >= F.lit(start))
        & (F.col("run_date") < F.lit(tables.run_date))
        & (F.col("plan_status") == F.lit(PLAN_PLANNED))
    ).select(
        *KEYS,
        F.col("run_date").alias("date"),
        F.lit(0.0).alias("qty"),
        *[F.col(c).alias(n) for c, n in zip(columns, simulation.SHIPPED_COLUMNS, strict=True)],
    )


@dataclass(frozen=True)
class Replayed:
    """The replay's headline figures per echelon (stores; DCs on their stores' orders): the
    cycle service the variant the plan ships achieved over the CSL-target series and its
    cycle-weighted target (None without cycles), and the cost-optimised variant's total cost
    relative to the formula's (None without it)."""

    csl: float | None
    target: float | None
    cost_ratio: float | None
    dc_csl: float | None = None
    dc_target: float | None = None
    dc_cost_ratio: float | None = None


def simulate(tables: StageTables, plan_df: DataFrame) -> Replayed | None:
    """Replay every planned series' policy over recent clean sales, and every planned DC's on
    its stores' replayed orders (the formula's levels, and the cost-optimised ones when the
    plan chose some); write policy_simulation. None when no cycle was replayed."""
    conf, run_date = tables.conf, tables.run_date
    sim = conf.plan.simulation
    fn = partial(
        simulation.simulate_network,
        run_date=run_date,
        weeks=sim.weeks,
        warmup_days=sim.warmup_days,
        window=sim.forecast_window_days,
        seed=sim.seed,
        anchor_date=conf.plan.review_anchor_date,
        method=conf.plan.safety_stock_method,
        shipped_base=shipped_variant(conf.plan),
    )

    def per_network(pdf):
        return fn(pdf)

    tables.describe("policy simulation")
    series_df = (
        fanout.grouped_in_tasks(simulation_inputs(tables, plan_df), ["sku", simulation.NETWORK])
        .applyInPandas(per_network, schema=POLICY_SIMULATION_SERIES)
        .select(F.lit("series").alias("level"), "*")
        # Computed once here: the write reads it twice (the series' rows and the overall
        # ones), and a merely cached frame was computed by both reads at once.
        .localCheckpoint()
    )
    out_df = series_df.unionByName(simulation.overall_simulation(series_df))
    tables.replace(tables.stamp(out_df, POLICY_SIMULATION), "policy_simulation")
    overall = (
        tables.read("policy_simulation")
        .transform(tables.of_run_date)
        .filter(F.col("level") == "overall")
        .select("variant", "target_type", "echelon", "achieved_csl", "target", "total_cost")
        .collect()
    )
    shipped = shipped_variant(tables.conf.plan)
    csl = {
        r["echelon"]: r
        for r in overall
        if r["target_type"] == "csl" and r["variant"] == shipped and r["achieved_csl"] is not None
    }
    if not csl:
        return None
    store, dc = csl.get(network.ECHELON_STORE), csl.get(network.ECHELON_DC)
    return Replayed(
        store and store["achieved_csl"],
        store and store["target"],
        _cost_ratio(overall, network.ECHELON_STORE),
        dc and dc["achieved_csl"],
        dc and dc["target"],
        _cost_ratio(overall, network.ECHELON_DC),
    )


def _cost_ratio(overall: list, echelon: str) -> float | None:
    """The cost-optimised variant's total cost over the formula's, at ``echelon``."""
    formula, cost = (
        sum(
            r["total_cost"] or 0.0 for r in overall if r["variant"] == v and r["echelon"] == echelon
        )
        for v in (simulation.VARIANT_FORMULA, simulation.VARIANT_COST)
    )
    return cost / formula if cost and formula else None
