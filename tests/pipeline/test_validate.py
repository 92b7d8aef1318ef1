"""The validation stage on tiny Delta tables: outputs, gates, dq results, Data Docs, loads."""

import datetime as dt
import json
import logging

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from skuplan import cli, delta_io
from skuplan.errors import DataQualityError, InputError
from skuplan.pipeline import validate
from skuplan.schemas import CALENDAR, INVENTORY, ITEMS, LOCATIONS, RAW_SALES

from conftest import ROOT, RUN_DATE

pytestmark = pytest.mark.slow


def _day(i, end=RUN_DATE):
    return (end - dt.timedelta(days=i)).isoformat()


def _sales(load_date=RUN_DATE, n_days=10, skus=("A", "B"), skip=()):
    """Clean rows for the ``n_days`` before ``load_date`` (minus ``skip``), as raw text."""
    return [
        (sku, "L1", _day(i, load_date), str(i % 4), "2.5", "0", "0")
        for sku in skus
        for i in range(1, n_days + 1)
        if (sku, i) not in skip
    ]


def _write(spark, conf, raw_rows, *, load_date=RUN_DATE, items=None, locations=None,
           inventory=None, raw_schema=RAW_SALES):  # fmt: skip
    raw = [(*r, "test", load_date) for r in raw_rows]
    delta_io.replace_partition(
        spark.createDataFrame(raw, raw_schema), conf.table("raw_sales"), "load_date", load_date
    )
    n_items = len(ITEMS.fields) - 1
    items = items if items is not None else [(s, *[None] * n_items) for s in ("A", "B")]
    locations = locations if locations is not None else [("L1", "R1")]
    inventory = inventory if inventory is not None else [("A", "L1", RUN_DATE, 3.0, 0.0, None, 0.0)]
    for key, rows, schema in (
        ("items", items, ITEMS), ("locations", locations, LOCATIONS),
        ("inventory", inventory, INVENTORY),
    ):  # fmt: skip
        delta_io.overwrite_table(spark.createDataFrame(rows, schema), conf.table(key))


def _read(spark, conf, key):
    return delta_io.read_table(spark, conf.table(key))


SUITE_TABLES = ("clean_sales", "items", "locations", "inventory")
# The tests of loads, duplicates and table gates leave the Great Expectations suites out
# (seconds per suite and run, and beside their point); the first test runs every suite.
NO_SUITES = [f"validation.suites.{t}=null" for t in SUITE_TABLES]


def test_validation_writes_clean_quarantine_results_and_docs(spark, make_conf, caplog):
    conf = make_conf()
    raw = [*_sales(skip={("B", 5)}), ("A", "L1", _day(3), "-4", "2.5", "0", "0")]
    _write(spark, conf, raw)
    with caplog.at_level(logging.INFO, logger="skuplan"):
        summary = validate.run(spark, conf)

    # The negative row shares its key with a clean row: it is quarantined for its sign only.
    assert (summary.rows_in, summary.clean, summary.quarantined) == (20, 19, 1)
    assert summary.by_reason == {"negative_qty": 1}
    clean_df = _read(spark, conf, "clean_sales")
    quarantine_df = _read(spark, conf, "quarantine")
    observed = clean_df.filter(~F.col("is_imputed")).count()
    assert observed + quarantine_df.count() == len(raw)
    # B's missing day 5 is filled inside its range, flagged, with qty 0.
    imputed = clean_df.filter("is_imputed").collect()
    assert [(r.sku, r.date.isoformat(), r.qty) for r in imputed] == [("B", _day(5), 0.0)]
    assert summary.imputed == 1
    assert quarantine_df.first()["qty"] == "-4" and quarantine_df.first()["reasons"] == [
        "negative_qty"
    ]

    dq = _read(spark, conf, "dq_results")
    gates = {r.name: r for r in dq.filter("kind = 'gate'").collect()}
    assert set(gates) == {
        "schema_raw_sales", "schema_items", "schema_locations", "schema_inventory",
        "quarantine_share", "row_count_change", "freshness", "master_coverage", "frequency",
        "suite_clean_sales", "suite_items", "suite_locations", "suite_inventory",
    }  # fmt: skip
    assert all(g.success for g in gates.values())
    assert gates["freshness"].observed_value == "1"
    expectations = dq.filter("kind = 'expectation'")
    suite_sizes = {
        t: len(json.loads((ROOT / "expectations" / f).read_text())["expectations"])
        for t, f in (("clean_sales", "sales.json"), ("items", "items.json"),
                     ("locations", "locations.json"), ("inventory", "inventory.json"))
    }  # fmt: skip
    assert {r.table: r["count"] for r in expectations.groupBy("table").count().collect()} == (
        suite_sizes
    )
    assert dq.select("run_id").distinct().collect()[0].run_id == summary.run_id

    docs = conf.data_docs_dir()
    index = (docs / "index.html").read_text()
    for suite in ("sales", "items", "locations", "inventory"):
        assert (docs / "expectations" / f"{suite}.html").is_file()
        assert suite in index
    assert caplog.records[-1].getMessage() == str(summary)
    assert str(summary).startswith("validate_sales: rows in 20, clean 19, quarantined 1")
    assert "(negative_qty=1; returns are kept with validation.allow_returns=true)" in str(summary)


def _suite_file(tmp_path):
    path = tmp_path / "strict_sales.json"
    path.write_text(json.dumps({"name": "strict_sales", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "qty", "max_value": 2}}
    ]}))  # fmt: skip
    return path


CASES = {
    "schema_raw_sales": dict(raw_schema=RAW_SALES, drop_raw_column="price"),
    "quarantine_share": dict(raw=[(s, "L1", _day(i), "x", "1", "0", "0") for s in "AB"
                                  for i in range(1, 4)] + _sales(n_days=2)),
    "freshness": dict(raw=_sales(load_date=RUN_DATE - dt.timedelta(days=20))),
    "master_coverage": dict(raw=_sales() + [("Z", "L1", _day(1), "1", "1", "0", "0")] * 2),
    "schema_items": dict(items_schema_drop="pack_size"),
    "suite_items": dict(items=[(sku, *[None] * (len(ITEMS.fields) - 1)) for sku in ("A", "A", "B")]),
    "suite_locations": dict(locations=[("L1", "R1"), ("L1", "R2")]),
    "suite_clean_sales": dict(strict_suite=True),
}  # fmt: skip


@pytest.mark.parametrize("gate", sorted(CASES))
def test_a_failing_critical_gate_exits_4_and_writes_no_clean_rows(
    spark, make_conf, tmp_path, capsys, gate
):
    case = CASES[gate]
    # Only the suite under test runs (Great Expectations costs seconds per suite).
    suites = {gate.removeprefix("suite_"): f"expectations/{gate.removeprefix('suite_')}.json"}
    if case.get("strict_suite"):
        suites = {"clean_sales": str(_suite_file(tmp_path))}
    suites = suites if gate.startswith("suite_") else {}
    sets = [f"warehouse={tmp_path / 'warehouse'}"] + [
        f"validation.suites.{t}={suites.get(t, 'null')}" for t in SUITE_TABLES
    ]
    conf = make_conf(*sets[1:])
    _write(spark, conf, case.get("raw", _sales()), items=case.get("items"),
           locations=case.get("locations"))  # fmt: skip
    if "drop_raw_column" in case:
        df = _read(spark, conf, "raw_sales").drop(case["drop_raw_column"])
        delta_io.overwrite_table(df, conf.table("raw_sales"))
    if "items_schema_drop" in case:
        df = _read(spark, conf, "items").drop(case["items_schema_drop"])
        delta_io.overwrite_table(df, conf.table("items"))

    argv = ["--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat()]
    argv += [a for s in sets for a in ("--set", s)]
    code = cli.main("validate_sales", validate.run, argv)

    err = capsys.readouterr().err.strip().splitlines()
    assert code == DataQualityError.exit_code == 4
    assert err[-1].startswith(f"validate_sales: error: gate {gate} failed: "), err
    assert not delta_io.table_exists(spark, conf.table("clean_sales"))
    failed = _read(spark, conf, "dq_results").filter("kind = 'gate' AND NOT success")
    assert gate in {r.name for r in failed.collect()}


def test_row_count_change_against_the_previous_load(spark, make_conf):
    """Rows on the busiest sale date: a day of both series after their week passes, two
    days of one series (half the rows on any date) fail."""
    conf = make_conf(*NO_SUITES, "validation.max_row_count_change=0.4")
    previous = RUN_DATE - dt.timedelta(days=7)
    _write(spark, conf, _sales(load_date=previous, n_days=7), load_date=previous)
    _write(spark, conf, _sales(n_days=1))  # 2 rows on its date after 2 on each of 7: +0%
    validate.run(spark, conf)
    _write(spark, conf, _sales(n_days=2, skus=("A",)))  # 1 row on each of 2 dates: -50%
    match = r"gate row_count_change failed: 2 rows, 1 on the busiest sale date, against 2 "
    with pytest.raises(DataQualityError, match=match):
        validate.run(spark, conf)


def test_a_warning_gate_is_recorded_but_the_run_succeeds(spark, make_conf):
    conf = make_conf(*NO_SUITES[:-1])  # the inventory suite only
    _write(spark, conf, _sales(), inventory=[("A", "L1", RUN_DATE, -3.0, 0.0, None, 0.0)])
    summary = validate.run(spark, conf)
    assert summary.warnings == ("suite_inventory",)
    row = _read(spark, conf, "dq_results").filter("name = 'suite_inventory'").first()
    assert (row.success, row.severity) == (False, "warning")
    assert _read(spark, conf, "clean_sales").count() == 20


def test_a_new_load_keeps_earlier_loads_and_a_rerun_replaces_its_own(spark, make_conf):
    first, second = RUN_DATE - dt.timedelta(days=1), RUN_DATE
    conf1 = make_conf(*NO_SUITES, run_date=first)
    conf2 = make_conf(*NO_SUITES, run_date=second)
    _write(spark, conf1, _sales(load_date=first, n_days=5), load_date=first)
    validate.run(spark, conf1)
    first_load_df = _read(spark, conf1, "clean_sales")
    first_rows = first_load_df.collect()

    _write(spark, conf2, _sales(load_date=second, n_days=5), load_date=second)
    validate.run(spark, conf2)
    _write(spark, conf2, _sales(load_date=second, n_days=4), load_date=second)  # re-delivered
    again = validate.run(spark, conf2)

    clean_df = _read(spark, conf2, "clean_sales")
    assert_df_equality(
        clean_df.filter(F.col("load_date") == first),
        spark.createDataFrame(first_rows, first_load_df.schema),
        ignore_row_order=True,
    )
    latest = clean_df.filter(F.col("load_date") == second)
    assert latest.count() == 8 and {r.run_id for r in latest.collect()} == {again.run_id}
    dq_runs = (
        _read(spark, conf2, "dq_results")
        .groupBy("run_date")
        .agg(F.countDistinct("run_id").alias("runs"))
    )
    assert {r.run_date: r.runs for r in dq_runs.collect()} == {first: 1, second: 1}


def test_an_empty_load_after_a_closed_day_passes_and_after_an_open_one_is_refused(spark, make_conf):
    closed = RUN_DATE - dt.timedelta(days=1)
    conf1, conf2 = make_conf(*NO_SUITES, run_date=closed), make_conf(*NO_SUITES)
    _write(spark, conf1, _sales(load_date=closed, n_days=5), load_date=closed)
    validate.run(spark, conf1)
    _write(spark, conf2, [])  # the morning after the closed day: nothing was sold
    with pytest.raises(
        InputError,
        match=f"no raw sales loaded on {RUN_DATE} .* closed on {closed}, give that day closed=true",
    ):
        validate.run(spark, conf2)

    calendar = [(closed, "christmas", True), (RUN_DATE, "boxing day", False)]
    delta_io.overwrite_table(spark.createDataFrame(calendar, CALENDAR), conf2.table("calendar"))
    summary = validate.run(spark, conf2)
    assert (summary.rows_in, summary.clean, summary.quarantined) == (0, 0, 0)
    gates = _read(spark, conf2, "dq_results").filter(F.col("run_date") == RUN_DATE).collect()
    assert ("closed_day", True) in [(g.name, g.success) for g in gates]
    assert _read(spark, conf2, "clean_sales").filter(F.col("load_date") == RUN_DATE).isEmpty()
    # Only the day before counts: an empty load two days after the closure is refused.
    with pytest.raises(InputError, match="no raw sales loaded"):
        validate.run(spark, make_conf(*NO_SUITES, run_date=RUN_DATE + dt.timedelta(days=1)))


@pytest.mark.parametrize("max_shared_keys", [validate.MAX_SHARED_KEYS, 0])
def test_duplicates_are_quarantined_with_few_or_many_shared_keys(
    spark, make_conf, monkeypatch, max_shared_keys
):
    """Few shared keys: only their rows are judged; more than the limit: every row is."""
    monkeypatch.setattr(validate, "MAX_SHARED_KEYS", max_shared_keys)
    conf = make_conf(*NO_SUITES)
    twice = ("A", "L1", _day(2), "3", "2.5", "0", "0")
    raw = [*_sales(skip={("A", 2)}), twice, twice, ("A", "L1", _day(2), "1", "2.5", "0", "0")]
    _write(spark, conf, raw)
    summary = validate.run(spark, conf)
    assert (summary.rows_in, summary.clean) == (len(raw), len(raw) - 2)
    assert summary.by_reason == {"duplicate": 1, "conflicting_duplicate": 1}
    kept = _read(spark, conf, "clean_sales").filter(F.col("date") == _day(2))
    assert [(r["sku"], r["qty"]) for r in kept.orderBy("sku").collect()] == [("A", 3.0), ("B", 2.0)]
