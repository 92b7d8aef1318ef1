"""Table-level gates: plain functions from measured figures to a pass/fail outcome.

The figures (row counts, dates, coverage) are measured by the job in few Spark passes; the
gates themselves never touch Spark, so each is tested with numbers. A gate is ``critical``
(a failure stops the run: exit code 4, nothing written to the clean table) unless config
lists it in ``validation.warning_gates``; every outcome is recorded in dq_results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import types as T

from skuplan.quality.suites import ExpectationOutcome

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class GateOutcome:
    name: str
    table: str
    success: bool
    observed: str | None
    threshold: str | None
    message: str
    severity: str = CRITICAL

    @property
    def is_blocking(self) -> bool:
        return not self.success and self.severity == CRITICAL


def _type_ok(actual: T.DataType, expected: T.DataType) -> bool:
    # A numeric master column may arrive as an integer type: planning casts it anyway.
    if isinstance(expected, T.DoubleType):
        return isinstance(actual, T.NumericType)
    return actual == expected


NO_INVENTORY = "no inventory table: validation goes on without it, planning needs it"


def inventory_schema_gate(actual: T.StructType | None, contract: T.StructType) -> GateOutcome:
    """The inventory's :func:`schema_gate`; a missing table fails it (validation does not need
    it: a warning gate by default)."""
    if actual is None:
        return GateOutcome("schema_inventory", "inventory", False, None, None, NO_INVENTORY)
    return schema_gate("inventory", actual, contract)


def closed_day_gate(day: dt.date) -> GateOutcome:
    """The passed gate of an empty load after the closed ``day``: nothing sold."""
    return GateOutcome("closed_day", "raw_sales", True, "0", "0", f"no rows: {day} is a closed day (calendar)")  # fmt: skip


def schema_gate(table: str, actual: T.StructType, contract: T.StructType) -> GateOutcome:
    """Every contract column is present with a compatible type (extra columns are fine)."""
    by_name = {f.name: f.dataType for f in actual.fields}
    missing = [f.name for f in contract.fields if f.name not in by_name]
    wrong = [
        f"{f.name} is {by_name[f.name].simpleString()}, expected {f.dataType.simpleString()}"
        for f in contract.fields
        if f.name in by_name and not _type_ok(by_name[f.name], f.dataType)
    ]
    problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + wrong
    return GateOutcome(
        name=f"schema_{table}",
        table=table,
        success=not problems,
        observed=str(len(missing) + len(wrong)),
        threshold="0",
        message="; ".join(problems) or f"{len(contract.fields)} contract columns present",
    )


def quarantine_share_gate(quarantined: int, rows_in: int, max_share: float) -> GateOutcome:
    share = quarantined / rows_in if rows_in else 0.0
    return GateOutcome(
        name="quarantine_share",
        table="raw_sales",
        success=share <= max_share,
        observed=f"{share:.6f}",
        threshold=f"{max_share}",
        message=f"{share:.2%} of rows quarantined ({quarantined} of {rows_in}), "
        f"limit {max_share:.2%}",
    )


def row_count_change_gate(
    load: tuple[int, int], previous: tuple[int, int] | None, max_change: float
) -> GateOutcome:
    """Rows on the busiest sale date of this load against the previous load's (``(rows,
    rows on the busiest date)`` each): a daily load after a load of the whole history
    compares a full day with a full day, and a few corrections of older days beside a day's
    rows change nothing; a load missing stores or items shows on its busiest day. Passes
    when there is no previous load."""
    rows_in, peak = load
    if not previous or not previous[1]:
        return GateOutcome(
            "row_count_change",
            "raw_sales",
            True,
            None,
            f"{max_change}",
            f"{rows_in} rows, no previous load to compare with",
        )
    change = (peak - previous[1]) / previous[1]
    return GateOutcome(
        name="row_count_change",
        table="raw_sales",
        success=abs(change) <= max_change,
        observed=f"{change:.6f}",
        threshold=f"{max_change}",
        message=f"{rows_in} rows, {peak} on the busiest sale date, against {previous[1]} "
        f"on the previous load's ({previous[0]} rows) ({change:+.1%}), limit ±{max_change:.0%}",
    )


def freshness_gate(latest: dt.date | None, run_date: dt.date, max_days: int) -> GateOutcome:
    """The latest clean sale date is at most ``max_days`` before the run date."""
    if latest is None:
        return GateOutcome(
            "freshness", "clean_sales", False, None, str(max_days), "no clean sale dates at all"
        )
    lag = (run_date - latest).days
    return GateOutcome(
        name="freshness",
        table="clean_sales",
        success=lag <= max_days,
        observed=str(lag),
        threshold=str(max_days),
        message=f"latest clean sale {latest} is {lag} day(s) before run date {run_date}, "
        f"limit {max_days}",
    )


WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Spark's dayofweek 1..7


def frequency_gate(
    freq: str, dates: int, weekdays: Iterable[int], monthdays: Iterable[int]
) -> GateOutcome:
    """The clean sales' dates fit ``forecast.freq``. Read as days, weekly or monthly data
    would get zero days imputed between its periods and daily forecasts: dates (at least 8,
    or 6 for months) that all fall on one weekday or on the 1st are refused under ``D``, and
    under ``W-XXX`` or ``MS`` every date must be on its weekday or the 1st. ``weekdays``:
    Spark's ``dayofweek`` values (1 Sunday .. 7 Saturday) of the dates; ``monthdays``: their
    days of the month."""
    days, code, first = sorted(set(weekdays)), freq.upper(), set(monthdays) == {1}
    names = ", ".join(WEEKDAYS[d - 1] for d in days)
    fix = "set forecast.freq (and season_length and horizon in its periods) for every stage"
    if code == "D" and dates >= 6 and first:
        problem = f"all {dates} sale dates are the 1st of a month: monthly data? {fix}: MS"
    elif code == "D" and dates >= 8 and len(days) == 1:
        problem = f"all {dates} sale dates fall on a {names}: weekly data? {fix}: W-{names}"
    elif code.startswith("W-") and days and days != [WEEKDAYS.index(code[2:5]) + 1]:
        problem = f"sale dates fall on {names}, not on forecast.freq {freq}'s day: {fix}"
    elif code == "MS" and monthdays and not first:
        problem = f"sale dates are not all the 1st of a month, as forecast.freq MS has them: {fix}"
    else:
        problem = None
    return GateOutcome(
        "frequency", "clean_sales", problem is None, f"{dates} dates on {names or 'no day'}",
        freq, problem or f"the {dates} sale date(s) fit forecast.freq {freq}",
    )  # fmt: skip


def master_coverage_gate(known: int, keyed: int, min_coverage: float) -> GateOutcome:
    """Share of rows with keys whose SKU and location are both in the master data."""
    coverage = known / keyed if keyed else 1.0
    return GateOutcome(
        name="master_coverage",
        table="raw_sales",
        success=coverage >= min_coverage,
        observed=f"{coverage:.6f}",
        threshold=f"{min_coverage}",
        message=f"{coverage:.2%} of keyed rows have a known sku and location "
        f"({keyed - known} of {keyed} unknown), minimum {min_coverage:.2%}",
    )


def suite_gate(table: str, outcomes: Sequence[ExpectationOutcome]) -> GateOutcome:
    """A suite passes when every expectation does; the message names the first failure."""
    failed = [o for o in outcomes if not o.success]
    first = ""
    if failed:
        o = failed[0]
        where = f"({o.column})" if o.column else ""
        count = (
            f"{o.unexpected_count} unexpected rows"
            if o.unexpected_count is not None
            else f"observed {o.observed_value}"
        )
        first = f": first {o.expectation}{where}, {count}"
    return GateOutcome(
        name=f"suite_{table}",
        table=table,
        success=not failed,
        observed=str(len(failed)),
        threshold="0",
        message=f"{len(failed)} of {len(outcomes)} expectation(s) failed{first}",
    )


def with_severity(
    outcomes: Iterable[GateOutcome], warning_gates: Iterable[str]
) -> list[GateOutcome]:
    """Mark the gates named in ``warning_gates`` as warnings, the rest as critical."""
    warn = set(warning_gates)
    return [
        dataclasses.replace(o, severity=WARNING if o.name in warn else CRITICAL) for o in outcomes
    ]


def blocking_message(outcomes: Sequence[GateOutcome]) -> str | None:
    """One line naming the first failed critical gate and by how much, or None if none failed."""
    blocking = [o for o in outcomes if o.is_blocking]
    if not blocking:
        return None
    first = blocking[0]
    more = f" (also failed: {', '.join(o.name for o in blocking[1:])})" if len(blocking) > 1 else ""
    return f"gate {first.name} failed: {first.message}{more}"
