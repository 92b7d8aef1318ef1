"""Reads pinned to a version, writes reported to the active run, catalog names quoted."""

import datetime as dt
import logging

import pyspark.sql.functions as F
import pytest
from pyspark.sql.types import DateType, LongType, StructField, StructType

from skuplan import delta_io, runs
from skuplan.errors import InputError
from skuplan.tableref import TableRef

SCHEMA = StructType([StructField("run_date", DateType()), StructField("n", LongType())])
DAY = dt.date(2026, 6, 30)


def _df(spark, n_rows, day=DAY):
    return spark.createDataFrame([(day, i) for i in range(n_rows)], SCHEMA)


def test_quoted_name():
    assert delta_io.quoted_name("cat.sch.tbl") == "`cat`.`sch`.`tbl`"
    assert delta_io.quoted_name("order") == "`order`"


def test_read_is_pinned_to_the_version_current_when_read(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "t"))
    delta_io.overwrite_table(_df(spark, 3), ref)
    pinned_df = delta_io.read_table(spark, ref)
    delta_io.overwrite_table(_df(spark, 5), ref)
    assert pinned_df.count() == 3
    assert delta_io.read_table(spark, ref).count() == 5


def test_reads_and_writes_are_reported_to_the_active_run(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "t"))
    source = TableRef(path=str(tmp_path / "source"))
    delta_io.overwrite_table(_df(spark, 1), source)
    delta_io.overwrite_table(_df(spark, 1), source)
    run = runs.Run("test_job", DAY, table_keys={ref.path: "things"})
    with runs.activate(run):
        delta_io.read_table(spark, source)
        delta_io.read_table(spark, source)  # the same version is recorded once
        delta_io.replace_partition(_df(spark, 4), ref, "run_date", DAY)
        delta_io.replace_partition(
            _df(spark, 2, DAY + dt.timedelta(1)), ref, "run_date", DAY + dt.timedelta(1)
        )
        delta_io.read_table(spark, ref)
    assert [(w.key, w.version, w.operation, w.num_rows) for w in run.outputs] == [
        ("things", 0, "WRITE", 4),
        ("things", 1, "WRITE", 2),
    ]
    # A table the run wrote itself is not an input.
    assert [(r.key, r.version) for r in run.inputs] == [(source.path, 1)]
    # Outside a run nothing is recorded.
    delta_io.read_table(spark, ref)
    assert len(run.inputs) == 1


def test_catalog_names_are_quoted(spark):
    # `order` is a reserved word: it only works quoted.
    ref = TableRef(name="default.order")
    delta_io.replace_partition(_df(spark, 2), ref, "run_date", DAY)
    delta_io.replace_partition(_df(spark, 3), ref, "run_date", DAY)
    assert delta_io.table_exists(spark, ref)
    pinned_df = delta_io.read_table(spark, ref)
    delta_io.replace_partition(_df(spark, 4), ref, "run_date", DAY)
    assert pinned_df.count() == 3
    assert delta_io.read_table(spark, ref).count() == 4
    # A newer release's extra column joins an existing catalog table.
    delta_io.replace_partition(_df(spark, 2).withColumn("extra", F.lit("x")), ref, "run_date", DAY)
    assert "extra" in delta_io.read_table(spark, ref).columns
    delta_io.overwrite_table(_df(spark, 1), ref)
    assert delta_io.read_table(spark, ref).count() == 1
    spark.sql("DROP TABLE `default`.`order`")


def test_missing_table_is_an_input_error(spark, tmp_path):
    with pytest.raises(InputError, match="sales not found"):
        delta_io.read_table(spark, TableRef(path=str(tmp_path / "nope")), what="sales")
    with pytest.raises(InputError, match="lacks column"):
        ref = TableRef(path=str(tmp_path / "t"))
        delta_io.overwrite_table(_df(spark, 1), ref)
        delta_io.read_table(spark, ref, required=["qty"])


def test_table_paths_are_normalised(make_conf, tmp_path):
    from skuplan.tableref import normalise_path

    assert normalise_path("/data//lake/./gold/../silver/") == "/data/lake/silver"
    assert normalise_path("s3a://bucket//lake/./gold/") == "s3a://bucket/lake/gold"
    conf = make_conf("warehouse=s3a://bucket/skuplan/", "tables.forecasts.path=/abs//x/../gold")
    assert conf.table("clean_sales").path == "s3a://bucket/skuplan/silver/sales"
    assert conf.table("forecasts").path == "/abs/gold"
    local = make_conf(f"warehouse={tmp_path}/a/../wh")
    assert local.table("runs").path == f"{tmp_path}/wh/meta/runs"


def test_the_last_commit_read_from_the_log_files_is_the_one_in_delta_s_history(spark, tmp_path):
    from delta.tables import DeltaTable

    ref = TableRef(path=str(tmp_path / "t"))
    for i in range(12):  # past a checkpoint (Delta writes one every 10 commits)
        with delta_io.tagged_commits(spark, f"run-{i % 3}"):
            delta_io.append_table(_df(spark, i + 1), ref)
    assert (tmp_path / "t" / "_delta_log" / "_last_checkpoint").exists()
    history = DeltaTable.forPath(spark, ref.path).history().collect()
    newest = max(history, key=lambda r: r.version)
    got = delta_io.last_commit(spark, ref)
    assert (
        got == (11, newest.operation, dict(newest.operationMetrics))
        and got[2]["numOutputRows"] == "12"
    )
    for tag in ("run-0", "run-1", "run-2"):
        want = max(r.version for r in history if r.userMetadata == tag)
        assert delta_io.last_commit(spark, ref, tag)[0] == want
    assert delta_io.last_commit(spark, ref, "a-run-that-wrote-nothing") is None
    # Older commit files cleaned up: the scan stops at the oldest left.
    for version in range(0, 9):
        (tmp_path / "t" / "_delta_log" / f"{version:020d}.json").unlink()
    assert delta_io.last_commit(spark, ref, "run-0")[0] == 9
    assert delta_io.last_commit(spark, ref, "run-1")[0] == 10
    assert delta_io.last_commit(spark, ref, "a-run-that-wrote-nothing") is None


def test_a_run_records_the_version_of_its_own_commit_not_a_later_one_of_another_run(
    spark, tmp_path
):
    ref = TableRef(path=str(tmp_path / "t"))
    mine = runs.Run("job", DAY)
    with runs.activate(mine), delta_io.tagged_commits(spark, mine.run_id):
        delta_io.overwrite_table(_df(spark, 3), ref)  # version 0
        with delta_io.tagged_commits(spark, "another-run"):
            delta_io.append_table(_df(spark, 2), ref)  # version 1, another run's
        assert delta_io.last_commit(spark, ref, mine.run_id)[0] == 0
        assert delta_io.own_commit_after(spark, ref, -1) == 0
        assert delta_io.own_commit_after(spark, ref, 0) is None
        assert delta_io.last_commit(spark, ref, "a-run-that-wrote-nothing") is None
    assert mine.outputs[0].version == 0
    assert delta_io.commit_tags(spark, ref) == [mine.run_id, "another-run"]
    assert spark.conf.get(delta_io.COMMIT_TAG, None) is None  # restored after the run


def test_a_write_that_changes_nothing_is_logged_as_such_not_as_a_lost_commit(
    spark, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger=delta_io.__name__)
    ref = TableRef(path=str(tmp_path / "t"))
    delta_io.replace_partition(_df(spark, 3), ref, "run_date", DAY)
    later = DAY + dt.timedelta(1)
    run = runs.Run("job", later)
    with runs.activate(run), delta_io.tagged_commits(spark, run.run_id):
        # Nothing to delete and no rows to replace an empty partition with: Delta commits
        # nothing, and the run says so instead of warning that its commit is missing.
        delta_io.delete_partitions(spark, ref, "run_date", [later])
        delta_io.replace_partition(_df(spark, 0, later), ref, "run_date", later)
    assert delta_io.last_commit(spark, ref)[0] == 0
    assert caplog.text.count(f"nothing committed to {ref}: the write changed nothing") == 2
    assert "not found in its history" not in caplog.text
    assert [(w.version, w.operation) for w in run.outputs] == [(None, None), (None, None)]
