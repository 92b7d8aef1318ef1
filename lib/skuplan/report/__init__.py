"""Stage 4: the run date's forecasts, backtests, explanations and plan -> one static HTML file.

:mod:`skuplan.report.data` aggregates in Spark and collects small, bounded results;
:mod:`skuplan.report.page` turns them into HTML (plotly, no server needed). The file is
replaced for its run date: ``<report.dir>/skuplan-report-<run date>.html``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from skuplan.conf import Conf
from skuplan.report.data import ReportData, collect
from skuplan.report.page import render

__all__ = ["ReportData", "ReportSummary", "collect", "render", "report_path", "run", "write"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    series: int
    series_total: int
    bytes: int

    def __str__(self) -> str:
        shown = (
            f"{self.series} series"
            if self.series == self.series_total
            else f"{self.series} of {self.series_total} series"
        )
        return f"report: {self.path} ({shown}, {self.bytes / 1e6:.1f} MB)"


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
    data = collect(spark, conf)
    generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = report_path(conf)
    size = write(render(data, generated_at=generated_at), path)
    summary = ReportSummary(path, len(data.series), data.series_total, size)
    log.info("%s", summary)
    return summary
