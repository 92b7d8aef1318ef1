"""All stages in order: validate -> forecast -> plan -> report (the demo and local development)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from skuplan import delta_io, logs, runs
from skuplan.conf import Conf
from skuplan.pipeline import forecast, forecast_inputs, plan, report, validate

OUTPUT_TABLES = (
    "clean_sales",
    "quarantine",
    "dq_results",
    "forecasts",
    "backtest_metrics",
    "model_runs",
    "candidate_forecasts",
    "explanations",
    "reorder_plan",
    "inventory_projection",
    "erp_outbox",
    "supplier_signal",
    "policy_simulation",
)
# Folders of CSV files for suppliers, one sub-folder per run date and supplier.
OUTPUT_FOLDERS = ("supplier_exports", "supplier_signal_exports")


@dataclass(frozen=True)
class PipelineSummary:
    validation: validate.ValidationSummary
    forecast: forecast.ForecastSummary
    plan: plan.PlanSummary
    report: report.ReportSummary
    tables: dict[str, str]
    folders: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> dict[str, float | None]:
        stages = (self.validation, self.forecast, self.plan, self.report)
        return {k: v for stage in stages for k, v in stage.metrics().items()}

    def artifacts(self) -> list:
        return self.report.artifacts()

    def __str__(self) -> str:
        lines = [str(self.validation), str(self.forecast), str(self.plan), "output tables:"]
        width = max((len(key) for key in [*self.tables, *self.folders]), default=0)
        lines += [f"  {key:<{width}}  {where}" for key, where in self.tables.items()]
        if self.folders:
            lines.append("supplier files (CSV, a folder per run date and supplier):")
            lines += [f"  {key:<{width}}  {where}" for key, where in self.folders.items()]
        # The report's path last: the line to open after a demo.
        return "\n".join([*lines, str(self.report)])


@contextlib.contextmanager
def pipeline_run(spark: SparkSession, conf: Conf) -> Iterator[runs.Run]:
    """Stages run inside are one run (``run_pipeline``) unless a run is active already: their
    rows carry one run id, their commits its tag, and planning knows that the forecasts it
    reads were finished by this run. The ``runs`` table records a run only through the
    command line (:func:`skuplan.cli.main`)."""
    active = runs.active()
    if active is not None:
        yield active
        return
    run = runs.Run("run_pipeline", conf.run_date, env=conf.env)
    with runs.activate(run), delta_io.tagged_commits(spark, run.run_id):
        yield run


def run(spark: SparkSession, conf: Conf) -> PipelineSummary:
    """Every stage in order, as one run (see :func:`pipeline_run`)."""
    with pipeline_run(spark, conf):
        return _run_stages(spark, conf)


def _run_stages(spark: SparkSession, conf: Conf) -> PipelineSummary:
    # The forecast stage's refusal, before validation spends its time on a run that stops.
    forecast_inputs.check_run_date(conf.run_date, conf.forecast.freq)
    with logs.stage(spark, "validate_sales", run_date=conf.run_date):
        validation = validate.run(spark, conf)
    with logs.stage(spark, "train_forecast", run_date=conf.run_date):
        forecasts = forecast.run(spark, conf)
    with logs.stage(spark, "plan_replenishment", run_date=conf.run_date):
        planned = plan.run(spark, conf)
    with logs.stage(spark, "report", run_date=conf.run_date):
        reported = report.run(spark, conf)
    return PipelineSummary(
        validation=validation,
        forecast=forecasts,
        plan=planned,
        report=reported,
        tables={key: str(conf.table(key)) for key in OUTPUT_TABLES},
        folders={key: str(conf.table(key)) for key in OUTPUT_FOLDERS},
    )
