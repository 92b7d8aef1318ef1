"""Each gate, fed figures that pass and figures that break it (no Spark needed)."""

import datetime as dt
import re

import pytest
from pyspark.sql import types as T

from skuplan.quality import gates
from skuplan.quality.suites import ExpectationOutcome
from skuplan.schemas import RAW_SALES

RUN_DATE = dt.date(2026, 6, 30)


def test_schema_gate_passes_on_the_contract_and_extra_columns():
    extra = T.StructType([*RAW_SALES.fields, T.StructField("note", T.StringType())])
    assert gates.schema_gate("raw_sales", extra, RAW_SALES).success


def test_schema_gate_names_missing_columns_and_wrong_types():
    fields = [f for f in RAW_SALES.fields if f.name != "date"]
    fields = [T.StructField("qty", T.DoubleType()) if f.name == "qty" else f for f in fields]
    outcome = gates.schema_gate("raw_sales", T.StructType(fields), RAW_SALES)
    assert not outcome.success and outcome.observed == "2"
    assert outcome.message == "missing column(s) date; qty is double, expected string"


def test_schema_gate_accepts_integers_where_doubles_are_expected():
    contract = T.StructType([T.StructField("moq", T.DoubleType())])
    actual = T.StructType([T.StructField("moq", T.LongType())])
    assert gates.schema_gate("items", actual, contract).success


@pytest.mark.parametrize(("quarantined", "ok"), [(25, True), (26, False)])
def test_quarantine_share_gate(quarantined, ok):
    outcome = gates.quarantine_share_gate(quarantined, 100, 0.25)
    assert outcome.success is ok
    assert outcome.observed == f"{quarantined / 100:.6f}"


@pytest.mark.parametrize(
    ("load", "previous", "ok"),
    [((150, 150), (100, 100), True), ((151, 151), (100, 100), False),
     ((49, 49), (100, 100), False),
     # A day's load after the whole history's: their busiest days compare.
     ((187, 187), (202_650, 190), True), ((90, 90), (202_650, 190), False),
     # A day's rows with corrections of four older days beside them.
     ((1_010, 1_000), (1_000, 1_000), True)],
)  # fmt: skip
def test_row_count_change_gate(load, previous, ok):
    outcome = gates.row_count_change_gate(load, previous, 0.5)
    assert outcome.success is ok


def test_row_count_change_gate_passes_on_a_first_load():
    outcome = gates.row_count_change_gate((10, 2), None, 0.5)
    assert outcome.success and outcome.observed is None


@pytest.mark.parametrize(
    ("latest", "ok"), [(dt.date(2026, 6, 23), True), (dt.date(2026, 6, 22), False)]
)
def test_freshness_gate(latest, ok):
    outcome = gates.freshness_gate(latest, RUN_DATE, 7)
    assert outcome.success is ok
    assert outcome.observed == str((RUN_DATE - latest).days)


def test_freshness_gate_fails_without_any_date():
    assert not gates.freshness_gate(None, RUN_DATE, 7).success


@pytest.mark.parametrize(("known", "ok"), [(95, True), (94, False)])
def test_master_coverage_gate(known, ok):
    assert gates.master_coverage_gate(known, 100, 0.95).success is ok


FRI, SAT = 6, 7  # Spark's dayofweek


@pytest.mark.parametrize(
    ("freq", "dates", "weekdays", "monthdays", "problem"),
    [
        ("D", 30, [1, 2, 3, 4, 5, 6, 7], range(1, 31), None),  # daily
        (
            "D",
            12,
            [FRI],
            [3, 10, 17, 24],
            "all 12 sale dates fall on a FRI: weekly data\\? .*: W-FRI",
        ),
        ("D", 7, [FRI], [3, 10, 17, 24], None),  # too few dates to tell
        (
            "D",
            24,
            [1, 3, 4, 6],
            [1],
            "all 24 sale dates are the 1st of a month: monthly data\\? .*: MS",
        ),
        ("W-FRI", 52, [FRI], range(1, 31), None),
        (
            "W-FRI",
            52,
            [SAT],
            range(1, 31),
            "sale dates fall on SAT, not on forecast.freq W-FRI's day",
        ),
        ("MS", 24, [1, 3, 4, 6], [1], None),
        ("MS", 24, [1, 3, 4, 6], [1, 31], "not all the 1st of a month"),
        ("D", 0, [], [], None),  # no clean rows: other gates say so
    ],
)
def test_frequency_gate_refuses_dates_that_do_not_fit_the_configured_frequency(
    freq, dates, weekdays, monthdays, problem
):
    outcome = gates.frequency_gate(freq, dates, weekdays, monthdays)
    assert outcome.success is (problem is None)
    if problem:
        assert re.search(problem, outcome.message), outcome.message
        assert "set forecast.freq" in outcome.message


def test_suite_gate_names_the_first_failed_expectation():
    outcomes = [
        ExpectationOutcome("expect_column_values_to_not_be_null", "sku", True, None, 0, 0.0),
        ExpectationOutcome("expect_column_values_to_be_unique", "sku", False, None, 2, 50.0),
    ]
    outcome = gates.suite_gate("items", outcomes)
    assert not outcome.success and outcome.name == "suite_items"
    assert outcome.message == (
        "1 of 2 expectation(s) failed: first expect_column_values_to_be_unique(sku), "
        "2 unexpected rows"
    )


def test_warning_gates_do_not_block_and_the_message_names_the_first_critical_failure():
    outcomes = gates.with_severity(
        [
            gates.freshness_gate(dt.date(2026, 6, 1), RUN_DATE, 7),
            gates.master_coverage_gate(50, 100, 0.95),
            gates.quarantine_share_gate(90, 100, 0.25),
        ],
        warning_gates=["freshness"],
    )
    assert [o.severity for o in outcomes] == ["warning", "critical", "critical"]
    assert gates.blocking_message(outcomes) == (
        "gate master_coverage failed: 50.00% of keyed rows have a known sku and location "
        "(50 of 100 unknown), minimum 95.00% (also failed: quarantine_share)"
    )
    assert gates.blocking_message(outcomes[:1]) is None
