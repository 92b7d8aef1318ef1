"""Stage 3: forecasts + item master + inventory snapshot -> reorder plan."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from skuplan import delta_io
from skuplan.conf import Conf
from skuplan.errors import InputError
from skuplan.pipeline import new_run_id
from skuplan.replenishment import policy
from skuplan.schemas import KEYS, quantile_column

log = logging.getLogger(__name__)

ITEM_COLUMNS = [
    "sku", "supplier", "unit_cost", "order_cost", "holding_cost_rate",
    "lead_time_mean_days", "lead_time_std_days", "moq", "pack_size", "service_level",
]  # fmt: skip


@dataclass(frozen=True)
class PlanSummary:
    run_id: str
    lines: int
    order_lines: int
    units: float

    def __str__(self) -> str:
        return f"plan_replenishment: {self.lines} plan lines, {self.order_lines} order lines, {self.units:.0f} units"


def run(spark: SparkSession, conf: Conf) -> PlanSummary:
    """Plan orders for every series forecast on ``conf.run_date``.

    Raises:
        InputError: no forecasts for the run date, or a missing input table.
    """
    run_id = new_run_id("plan_replenishment", conf.run_date)
    quantiles = conf.forecast.quantiles
    q_lo, q_hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    forecasts_df = delta_io.read_table(
        spark,
        conf.table("forecasts"),
        required=["run_date", *KEYS, "step", "yhat", q_lo, q_hi],
        what="forecasts",
    ).filter(F.col("run_date") == F.lit(conf.run_date))
    if forecasts_df.isEmpty():
        raise InputError(f"no forecasts for {conf.run_date} in {conf.table('forecasts')}")
    items_df = delta_io.read_table(
        spark, conf.table("items"), required=ITEM_COLUMNS, what="item master"
    )
    inventory_df = delta_io.read_table(
        spark,
        conf.table("inventory"),
        required=[*KEYS, "on_hand", "on_order", "backorders"],
        what="inventory",
    ).select(*KEYS, "on_hand", "on_order", "on_order_arrival", "backorders")

    params_df = items_df.select(*ITEM_COLUMNS).transform(
        policy.with_item_parameters,
        default_lead_time_days=conf.plan.default_lead_time_days,
        default_service_level=conf.plan.default_service_level,
    )
    plan_df = (
        forecasts_df.transform(
            policy.summarise_forecast_over_lead_time,
            params_df,
            q_lo=q_lo,
            q_hi=q_hi,
            spread_divisor=policy.quantile_spread_sigma(min(quantiles), max(quantiles)),
        )
        .join(inventory_df, list(KEYS), "left")
        .transform(policy.with_reorder_decision)
    )
    has_order = F.col("order_qty") > 0
    out_df = plan_df.select(
        F.lit(conf.run_date).alias("run_date"),
        F.lit(run_id).alias("run_id"),
        *KEYS,
        "supplier",
        F.lit(policy.POLICY_SQ).alias("policy"),
        "on_hand", "on_order", "backorders", "inventory_position",
        "lead_time_days", "lead_time_std", "is_default_lead_time", "target_service_level",
        "daily_demand", "sigma_daily", "demand_over_lead_time", "sigma_lead_time_demand",
        "safety_stock", "reorder_point", "eoq", "order_up_to", "order_qty",
        F.when(has_order, F.lit(conf.run_date)).alias("order_date"),
        F.when(has_order, F.date_add(F.lit(conf.run_date), F.ceil("lead_time_days").cast("int"))).alias(
            "expected_arrival"
        ),
    )  # fmt: skip
    spark.sparkContext.setJobDescription(f"plan_replenishment {conf.run_date}: write plan")
    delta_io.replace_partition(out_df, conf.table("reorder_plan"), "run_date", conf.run_date)

    written = (
        delta_io.read_table(spark, conf.table("reorder_plan"))
        .filter(F.col("run_date") == F.lit(conf.run_date))
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.sum(F.when(has_order, 1).otherwise(0)).alias("orders"),
            F.sum("order_qty").alias("units"),
        )
        .first()
    )
    summary = PlanSummary(run_id, written["lines"], written["orders"] or 0, written["units"] or 0.0)
    log.info("%s", summary)
    return summary
