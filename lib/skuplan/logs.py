"""Structured stage logs and Spark job descriptions.

Each stage of a run ends with one log line on the ``skuplan.stage`` logger whose message is a
JSON object (``job, run_id, run_date, stage, status, seconds, rows, tables``), so log
collectors can parse it without knowing the text format around it. While a stage runs, its
name is the Spark job description, so the Spark UI shows which stage each Spark job serves
(stages may set finer descriptions of their own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator

from skuplan import runs

log = logging.getLogger("skuplan.stage")


def set_job_description(spark, text: str | None) -> None:
    """Label the Spark jobs started from now on in the Spark UI (no-op without a SparkContext,
    e.g. on Spark Connect)."""
    with contextlib.suppress(Exception):  # Spark Connect sessions have no SparkContext
        spark.sparkContext.setJobDescription(text)


@contextlib.contextmanager
def stage(spark, name: str, *, run_date: dt.date | None = None) -> Iterator[dict]:
    """Time a stage, label its Spark jobs, and log one JSON line when it ends.

    Rows and tables come from the writes the active run (:mod:`skuplan.runs`) records during
    the stage. The yielded dict takes extra fields for the line (e.g. ``series``).
    """
    run = runs.active()
    job = run.job if run else name
    run_date = run_date or (run.run_date if run else None)
    written_before = len(run.outputs) if run else 0
    set_job_description(spark, f"{job} {run_date}: {name}" if run_date else f"{job}: {name}")
    extra: dict = {}
    started = time.perf_counter()
    status = "ok"
    try:
        yield extra
    except BaseException:
        status = "failed"
        raise
    finally:
        writes = run.outputs[written_before:] if run else []
        tables: dict[str, int | None] = {}
        for w in writes:
            tables[w.key] = w.num_rows
        record = {
            "job": job,
            "run_id": run.run_id if run else None,
            "run_date": run_date.isoformat() if run_date else None,
            "stage": name,
            "status": status,
            "seconds": round(time.perf_counter() - started, 3),
            "rows": sum(n for n in tables.values() if n is not None),
            "tables": tables,
            **extra,
        }
        log.info("%s", json.dumps(record, default=str))
        set_job_description(spark, None)


def parse_stage_lines(text: str) -> list[dict]:
    """The stage records in log output (lines from the ``skuplan.stage`` logger)."""
    marker = "skuplan.stage: "
    return [json.loads(line.split(marker, 1)[1]) for line in text.splitlines() if marker in line]
