"""The plan's policy checks: the cost-optimised choice of each series' levels and the replay
of the policies over recent clean sales (``policy_simulation``)."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan import fanout
from skuplan.columns import KEYS, PLAN_PLANNED
from skuplan.conf import PlanSettings
from skuplan.pipeline.io import StageTables
from skuplan.pipeline.plan_inputs import read_master
from skuplan.replenishment import cost_policy, inputs, policies, simulation
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
    formula's replay) and its cost-optimised choice (``simulation.COST_COLUMNS``); with the
    lines earlier plans shipped for the replayed days (:func:`shipped_lines`) of the series
    with sales."""
    sim, run_date = tables.conf.plan.simulation, tables.run_date
    start = run_date - dt.timedelta(days=sim.weeks * 7 + sim.warmup_days)
    params_df = plan_df.filter(F.col("exception_reason").isNull()).select(
        *KEYS,
        F.col("policy").alias("policy_name"),
        "lead_time_days", "lead_time_std", "review_period", "target_type", "target_service_level",
        "pack", "min_order", "unit_cost", "order_cost", "holding_cost_rate", "policy_parameters",
        *simulation.COST_COLUMNS,
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
    history_df = (
        tables.read("clean_sales", required=[*KEYS, "date", "qty"], what="clean sales")
        .filter((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(run_date)))
        .select(*KEYS, "date", "qty")
    )
    shipped_df = shipped_lines(tables, run_date - dt.timedelta(days=sim.weeks * 7))
    if shipped_df is not None:  # of series with sales (as without earlier plans)
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


def simulate(tables: StageTables, plan_df: DataFrame) -> tuple[float | None, ...] | None:
    """Replay every planned series' policy over recent clean sales (the formula's levels,
    and the cost-optimised ones when the plan chose some); write policy_simulation.

    Returns the shipped variant's overall achieved cycle service level and its
    cycle-weighted target, and the cost-optimised variant's total cost relative to the
    formula's (None without it); None when nothing was replayed.
    """
    conf, run_date = tables.conf, tables.run_date
    sim = conf.plan.simulation
    fn = partial(
        simulation.simulate_series,
        run_date=run_date,
        weeks=sim.weeks,
        warmup_days=sim.warmup_days,
        window=sim.forecast_window_days,
        seed=sim.seed,
        anchor_date=conf.plan.review_anchor_date,
        method=conf.plan.safety_stock_method,
        shipped_base=shipped_variant(conf.plan),
    )

    def per_series(pdf):
        return fn(pdf)

    tables.describe("policy simulation")
    series_df = (
        fanout.grouped_in_tasks(simulation_inputs(tables, plan_df), KEYS)
        .applyInPandas(per_series, schema=POLICY_SIMULATION_SERIES)
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
        .select("variant", "target_type", "achieved_csl", "target", "total_cost")
        .collect()
    )
    csl = [r for r in overall if r["target_type"] == "csl" and r["variant"] == shipped_variant(tables.conf.plan)]  # fmt: skip
    if not csl or csl[0]["achieved_csl"] is None:
        return None
    totals = {v: sum(r["total_cost"] or 0.0 for r in overall if r["variant"] == v) for v in (simulation.VARIANT_FORMULA, simulation.VARIANT_COST)}  # fmt: skip
    formula, cost = totals[simulation.VARIANT_FORMULA], totals[simulation.VARIANT_COST]
    ratio = cost / formula if cost and formula else None
    return csl[0]["achieved_csl"], csl[0]["target"], ratio
