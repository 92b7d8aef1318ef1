"""Stage 4: the run date's forecasts, backtests, explanations and plan -> one static HTML file.

Reads through :class:`~skuplan.pipeline.io.StageTables`, chains the aggregations of
:mod:`skuplan.report.series` and :mod:`skuplan.report.data` in Spark, brings their small,
bounded results to the driver, renders them with :mod:`skuplan.report.page` (plotly, no
server needed) and replaces the run date's file: ``<report.dir>/skuplan-report-<run date>.html``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from skuplan.columns import KEYS, quantile_column
from skuplan.conf import Conf, ReportSettings
from skuplan.errors import InputError
from skuplan.pipeline.io import StageTables
from skuplan.report.data import (
    PlanTables,
    ReportData,
    accuracy_by_model,
    exception_counts,
    hierarchy_levels,
    lines_needing_review,
    mase_histogram,
    orders_by_supplier,
    plan_totals,
    policy_replay,
    projected_stockouts,
    realised_by_model,
    status_counts,
)
from skuplan.report.page import render
from skuplan.report.series import (
    driver_arrays,
    first_series,
    forecast_arrays,
    history_arrays,
    series_payloads,
    series_totals,
)

log = logging.getLogger(__name__)

JOB = "report"
# Read when there: without them the report says so instead of drawing the section.
OPTIONAL_TABLES = ("backtest_metrics", "model_runs", "reorder_plan", "explanations")


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    series: int
    series_total: int
    bytes: int

    def metrics(self) -> dict[str, float | None]:
        return {"report_series": self.series, "report_bytes": self.bytes}

    def artifacts(self) -> list[Path]:
        """Files a tracking server keeps (see :mod:`skuplan.tracking`)."""
        return [self.path]

    def __str__(self) -> str:
        shown = (
            f"{self.series} series"
            if self.series == self.series_total
            else f"{self.series} of {self.series_total} series"
        )
        return f"report: {self.path} ({shown}, {self.bytes / 1e6:.1f} MB)"


class _Inputs(NamedTuple):
    forecasts: DataFrame
    clean: DataFrame
    metrics: DataFrame | None
    runs: DataFrame | None
    plan: DataFrame | None
    explanations: DataFrame | None


def report_path(conf: Conf) -> Path:
    return conf.report_dir() / f"skuplan-report-{conf.run_date.isoformat()}.html"


def write(text: str, path: Path) -> int:
    """Write ``text`` to ``path`` atomically (a reader never sees half a report); returns bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = text.encode("utf-8")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


def run(spark: SparkSession, conf: Conf) -> ReportSummary:
    """Build the report of ``conf.run_date`` and write it under ``report.dir``.

    Raises:
        InputError: no forecasts for the run date, or a required table is missing.
    """
    data = collect(StageTables(spark, conf, JOB))
    generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = report_path(conf)
    size = write(render(data, generated_at=generated_at), path)
    summary = ReportSummary(path, len(data.series), data.series_total, size)
    log.info("%s", summary)
    return summary


def collect(tables: StageTables) -> ReportData:
    """Read the run date's outputs, aggregate in Spark and bring the small results to the driver.

    Raises:
        InputError: no forecasts for the run date, or a required table is missing.
    """
    quantiles = tables.conf.forecast.quantiles
    band = (quantile_column(min(quantiles)), quantile_column(max(quantiles)))
    inputs = _read(tables, band)
    # Each of these feeds several small queries: read once.
    cached = [
        df.persist() for df in (inputs.forecasts, inputs.metrics, inputs.plan) if df is not None
    ]
    try:
        return _collect(tables, band, inputs)
    finally:
        for df in cached:
            df.unpersist()


def _read(tables: StageTables, band: tuple[str, str]) -> _Inputs:
    forecasts_df = tables.read(
        "forecasts", required=["run_date", "run_id", *KEYS, "date", "model", "yhat", "q50", *band]
    )
    clean_df = tables.read(
        "clean_sales", required=[*KEYS, "date", "qty", "is_stockout", "load_date"]
    )
    optional = [_of_run_date(tables, tables.optional(key)) for key in OPTIONAL_TABLES]
    return _Inputs(tables.of_run_date(forecasts_df), clean_df, *optional)


def _of_run_date(tables: StageTables, df: DataFrame | None) -> DataFrame | None:
    """The run date's rows of an optional table; one without ``run_date`` is taken whole."""
    if df is None or "run_date" not in df.columns:
        return df
    return tables.of_run_date(df)


def _collect(tables: StageTables, band: tuple[str, str], inputs: _Inputs) -> ReportData:
    quantiles, settings = tables.conf.forecast.quantiles, tables.conf.report
    tables.describe("series")
    series, series_total, forecast_run_id = _series(tables, band, inputs, settings)
    tables.describe("accuracy")
    accuracy, mase_hist = _accuracy(inputs.metrics)
    plan, plan_run_id = _plan(tables, inputs.plan, max_table_rows=settings.max_table_rows)
    realised, days = _realised(tables)
    hierarchy = _hierarchy(tables)
    tables.describe(None)
    run_ids = {"forecast": forecast_run_id, "plan": plan_run_id}
    return ReportData(
        run_date=tables.run_date,
        band=band,
        nominal_coverage=max(quantiles) - min(quantiles),
        accuracy=accuracy,
        mase_hist=mase_hist,
        series=series,
        series_total=series_total,
        plan=plan,
        has_explanations=inputs.explanations is not None,
        run_ids={k: v for k, v in run_ids.items() if v},
        realised=realised,
        realised_days=days,
        hierarchy=hierarchy,
    )


def _hierarchy(tables: StageTables) -> pd.DataFrame:
    """The run date's backtest error per hierarchy level (empty without levels)."""
    metrics_df = _of_run_date(tables, tables.optional("hierarchy_metrics"))
    if metrics_df is None:
        return pd.DataFrame()
    tables.describe("hierarchy")
    return hierarchy_levels(metrics_df).toPandas()


def _realised(tables: StageTables) -> tuple[pd.DataFrame, int]:
    """How earlier forecasts of the last ``forecast.accuracy_days`` days did, as scored by
    this run date's forecast stage (empty before any was scored)."""
    days = tables.conf.forecast.accuracy_days
    accuracy_df = tables.optional("forecast_accuracy")
    if accuracy_df is None:
        return pd.DataFrame(), days
    since, until = tables.run_date - dt.timedelta(days=days), F.lit(tables.run_date)
    window = (F.col("date") >= F.lit(since)) & (F.col("date") < until)
    window &= F.col("forecast_run_date") < until  # actuals as scored since, if corrected
    tables.describe("realised accuracy")
    return realised_by_model(accuracy_df.filter(window)).toPandas(), days


def _series(
    tables: StageTables, band: tuple[str, str], inputs: _Inputs, settings: ReportSettings
) -> tuple[list[str], int, str]:
    """The listed series' payloads by key, how many series were forecast, and by which run.

    Raises:
        InputError: no forecasts for the run date.
    """
    totals = series_totals(inputs.forecasts).first()
    if not totals["series"]:
        raise InputError(f"no forecasts for {tables.run_date} in {tables.ref('forecasts')}")
    payloads_df = _payloads(
        inputs,
        run_date=tables.run_date,
        band=band,
        max_series=settings.max_series,
        history_days=settings.history_days,
        max_drivers=settings.max_drivers,
    )
    rows = payloads_df.collect()
    series = [r["payload"] for r in sorted(rows, key=lambda r: (r["sku"], r["location"]))]
    return series, totals["series"], totals["run_id"]


def _payloads(
    inputs: _Inputs,
    *,
    run_date: dt.date,
    band: tuple[str, str],
    max_series: int,
    history_days: int,
    max_drivers: int,
) -> DataFrame:
    """``sku, location, payload`` of the series the report lists (see ``first_series``)."""
    # Past report.max_series, only the listed series are assembled and collected.
    listed_df = first_series(inputs.forecasts.select(*KEYS).distinct(), inputs.plan, max_series)
    fc_df = forecast_arrays(inputs.forecasts.join(listed_df, [*KEYS], "left_semi"), run_date, band)
    drivers_df = (
        driver_arrays(
            inputs.explanations,
            fc_df.select(*KEYS, F.col("m").alias("model")),
            run_date,
            max_drivers,
        )
        if inputs.explanations is not None
        else None
    )
    return series_payloads(
        fc_df,
        history_arrays(inputs.clean, run_date, history_days),
        inputs.metrics,
        inputs.runs,
        inputs.plan,
        drivers_df,
    )


def _accuracy(metrics_df: DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy per model and the MASE histogram; empty without backtest metrics."""
    if metrics_df is None:
        return pd.DataFrame(), pd.DataFrame(columns=["kind", "bin", "series"])
    return accuracy_by_model(metrics_df).toPandas(), mase_histogram(metrics_df).toPandas()


def _replay(tables: StageTables) -> pd.DataFrame:
    """The run date's policy replay by variant and policy (empty without one)."""
    sim_df = tables.optional("policy_simulation")
    if sim_df is None:
        return pd.DataFrame()
    tables.describe("policy replay")
    return policy_replay(tables.of_run_date(sim_df)).toPandas()


def _plan(
    tables: StageTables, plan_df: DataFrame | None, *, max_table_rows: int
) -> tuple[PlanTables | None, str | None]:
    """The plan summary (None without plan lines) and the plan's run id (None without a plan)."""
    if plan_df is None:
        return None, None
    tables.describe("plan summary")
    totals = plan_totals(plan_df).first()
    if not totals["lines"]:
        return None, totals["run_id"]
    plan = PlanTables(
        status=status_counts(plan_df).toPandas(),
        suppliers=orders_by_supplier(plan_df).toPandas(),
        review=lines_needing_review(plan_df).limit(max_table_rows).toPandas(),
        review_total=totals["review"],
        stockouts=projected_stockouts(plan_df).limit(max_table_rows).toPandas(),
        stockouts_total=totals["stockouts"],
        exceptions=exception_counts(plan_df).toPandas(),
        at_risk_total=totals["at_risk"],
        replay=_replay(tables),
    )
    return plan, totals["run_id"]
