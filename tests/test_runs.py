"""The runs table: one row per job run, whatever its outcome, enough to reproduce it."""

import datetime as dt
import json

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from skuplan import cli, delta_io, runs
from skuplan.errors import DataQualityError
from skuplan.tableref import TableRef

from conftest import ROOT, RUN_DATE

SCHEMA = StructType([StructField("n", LongType())])


def test_overrides_are_redacted_and_errors_are_one_line():
    assert runs.redact_overrides(["forecast.horizon=7", "db.password=hunter2", "x"]) == [
        "forecast.horizon=7",
        "db.password=***",
        "x",
    ]
    assert runs.one_line("\n  first line\nsecond") == "first line"
    assert len(runs.one_line("x" * 900)) == 500


def test_write_run_never_duplicates_a_run_id(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "runs"))
    now = dt.datetime(2026, 6, 30, 6, tzinfo=dt.UTC)
    first = runs.Run("job_a", RUN_DATE)
    second = runs.Run("job_a", RUN_DATE)
    row = first.row(status=runs.STATUS_SUCCESS, exit_code=0, error=None, ended_at=now)
    delta_io.write_run(spark, ref, row)
    delta_io.write_run(spark, ref, row)  # a retried write
    delta_io.write_run(
        spark, ref, second.row(status=runs.STATUS_FAILED, exit_code=4, error="x", ended_at=now)
    )
    got = {r["run_id"]: r["exit_code"] for r in delta_io.read_table(spark, ref).collect()}
    assert got == {first.run_id: 0, second.run_id: 4}


def test_write_run_to_a_catalog_table(spark):
    ref = TableRef(name="default.runs")
    run = runs.Run("job_b", RUN_DATE)
    now = dt.datetime(2026, 6, 30, 6, tzinfo=dt.UTC)
    delta_io.write_run(spark, ref, run.row(status="success", exit_code=0, error=None, ended_at=now))
    try:
        assert [r.run_id for r in spark.table("`default`.`runs`").collect()] == [run.run_id]
    finally:
        spark.sql("DROP TABLE `default`.`runs`")


@pytest.fixture
def job_env(spark, tmp_path, monkeypatch):
    """cli.main in this process on the shared test session, tables under tmp_path."""
    import skuplan.session

    monkeypatch.setattr(skuplan.session, "get_session", lambda conf: spark)
    conf_args = ["--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat()]
    return [*conf_args, "--set", f"warehouse={tmp_path}"], tmp_path


def _runs(spark, warehouse):
    ref = TableRef(path=str(warehouse / "meta" / "runs"))
    return {r["run_id"]: r for r in delta_io.read_table(spark, ref).collect()}


def test_a_successful_run_records_versions_and_rows_and_can_be_reproduced(spark, job_env, caplog):
    args, warehouse = job_env
    source = TableRef(path=str(warehouse / "raw" / "items"))
    delta_io.overwrite_table(spark.createDataFrame([(1,), (2,)], SCHEMA), source)

    def copy_job(spark, conf):
        df = delta_io.read_table(spark, conf.table("items"))
        delta_io.overwrite_table(df, conf.table("model_runs"))

    caplog.set_level("INFO", logger="skuplan.stage")
    assert cli.main("copy_job", copy_job, args) == 0
    # The source changes after the run: time travel still gives what the run read.
    delta_io.overwrite_table(spark.createDataFrame([(9,)], SCHEMA), source)

    (row,) = _runs(spark, warehouse).values()
    assert (row["job"], row["run_date"], row["status"], row["exit_code"], row["error"]) == (
        "copy_job", RUN_DATE, "success", 0, None,
    )  # fmt: skip
    assert row["started_at"] <= row["ended_at"] and row["seconds"] >= 0
    assert [(i["key"], i["version"]) for i in row["inputs"]] == [("items", 0)]
    assert [(o["key"], o["version"], o["num_rows"]) for o in row["outputs"]] == [
        ("model_runs", 0, 2)
    ]
    read_again = (
        spark.read.format("delta")
        .option("versionAsOf", row["inputs"][0]["version"])
        .load(row["inputs"][0]["address"])
    )
    assert sorted(r.n for r in read_again.collect()) == [1, 2]

    (stage,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "skuplan.stage"]
    assert stage["stage"] == "copy_job" and stage["run_id"] == row["run_id"]
    assert stage["rows"] == 2 and stage["tables"] == {"model_runs": 2}


def test_failed_runs_are_recorded_with_exit_code_and_one_line_error(spark, job_env, capsys):
    args, warehouse = job_env

    def gate_fails(spark, conf):
        raise DataQualityError("gate quarantine_share failed: 30% of rows\nmore detail")

    def bug(spark, conf):
        raise ZeroDivisionError("division by zero")

    assert cli.main("gated", gate_fails, [*args, "--set", "forecast.horizon=7"]) == 4
    assert "gated: error: gate quarantine_share failed" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):
        cli.main("buggy", bug, args)

    recorded = {r["job"]: r for r in _runs(spark, warehouse).values()}
    gated, buggy = recorded["gated"], recorded["buggy"]
    assert (gated["status"], gated["exit_code"]) == ("failed", 4)
    assert gated["error"] == "gate quarantine_share failed: 30% of rows"
    assert "forecast.horizon=7" in gated["overrides"]
    assert (buggy["status"], buggy["exit_code"], buggy["error"]) == (
        "failed", 1, "ZeroDivisionError: division by zero",
    )  # fmt: skip


def test_stage_run_ids_are_the_job_run_id(job_env):
    from skuplan.pipeline.io import new_run_id

    run = runs.Run("run_pipeline", RUN_DATE)
    with runs.activate(run):
        assert new_run_id("validate_sales", RUN_DATE) == run.run_id
    assert new_run_id("validate_sales", RUN_DATE).startswith("validate_sales-20260630-")
