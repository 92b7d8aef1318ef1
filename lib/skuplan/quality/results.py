"""The dq_results table: one row per expectation and per gate of a validation run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession

from skuplan.quality.gates import CRITICAL, WARNING, GateOutcome
from skuplan.quality.suites import ExpectationOutcome
from skuplan.schemas import DQ_RESULTS


def results_df(
    spark: SparkSession,
    *,
    run_date: dt.date,
    run_id: str,
    expectations: Mapping[str, Sequence[ExpectationOutcome]],
    gates: Sequence[GateOutcome],
) -> DataFrame:
    """Build the dq_results rows (schema :data:`skuplan.schemas.DQ_RESULTS`).

    ``expectations`` maps a table to its suite's outcomes; an expectation takes the severity
    of its suite's gate (``suite_<table>``).
    """
    severity = {g.name: g.severity for g in gates}
    rows = [
        (
            run_date,
            run_id,
            "expectation",
            table,
            o.expectation,
            o.column,
            severity.get(f"suite_{table}", CRITICAL),
            o.success,
            o.observed_value,
            None if o.unexpected_count is None else int(o.unexpected_count),
            None if o.unexpected_percent is None else float(o.unexpected_percent),
            None,
            None,
        )
        for table, outcomes in expectations.items()
        for o in outcomes
    ]
    rows += [
        (
            run_date,
            run_id,
            "gate",
            g.table,
            g.name,
            None,
            g.severity if g.severity in (CRITICAL, WARNING) else CRITICAL,
            g.success,
            g.observed,
            None,
            None,
            g.threshold,
            g.message,
        )
        for g in gates
    ]
    return spark.createDataFrame(rows, DQ_RESULTS)
