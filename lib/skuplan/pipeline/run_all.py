"""All stages in order: validate -> forecast -> plan (the demo and local development)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from skuplan.conf import Conf
from skuplan.pipeline import forecast, plan, validate

OUTPUT_TABLES = (
    "clean_sales",
    "quarantine",
    "dq_results",
    "forecasts",
    "backtest_metrics",
    "model_runs",
    "reorder_plan",
    "inventory_projection",
    "erp_outbox",
    "policy_simulation",
)


@dataclass(frozen=True)
class PipelineSummary:
    validation: validate.ValidationSummary
    forecast: forecast.ForecastSummary
    plan: plan.PlanSummary
    tables: dict[str, str]

    def __str__(self) -> str:
        lines = [str(self.validation), str(self.forecast), str(self.plan), "output tables:"]
        lines += [f"  {key:<17} {where}" for key, where in self.tables.items()]
        return "\n".join(lines)


def run(spark: SparkSession, conf: Conf) -> PipelineSummary:
    return PipelineSummary(
        validation=validate.run(spark, conf),
        forecast=forecast.run(spark, conf),
        plan=plan.run(spark, conf),
        tables={key: str(conf.table(key)) for key in OUTPUT_TABLES},
    )
