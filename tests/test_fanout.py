"""The fan-out's placement of groups into tasks (``skuplan.fanout``)."""

import pandas as pd
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from skuplan import fanout


def _groups(spark, sizes: dict[str, int], location="L1"):
    rows = [(sku, location, i) for sku, n in sizes.items() for i in range(n)]
    return spark.createDataFrame(rows, "sku string, location string, i int")


def test_groups_are_dealt_so_tasks_get_equal_rows(spark):
    # Largest first, dealt 0, 1, 1, 0, 0, 1, 1, 0: each task gets 8+5+4+1 = 7+6+3+2 = 18 rows.
    df = _groups(spark, {s: n for s, n in zip("ABCDEFGH", range(8, 0, -1), strict=True)})
    placed = fanout.in_tasks(
        df, fanout.balanced_tasks(df, ["sku", "location"], 2)[0], ["sku", "location"], 2
    )
    per_task = (
        placed.withColumn("p", F.spark_partition_id())
        .groupBy(fanout.TASK)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sort_array(F.collect_set("sku")).alias("skus"),
            F.collect_set("p").alias("partitions"),
        )
    )
    # Each task is one partition of its own.
    expected = spark.createDataFrame(
        [(0, 18, ["A", "D", "E", "H"], [0]), (1, 18, ["B", "C", "F", "G"], [1])],
        f"{fanout.TASK} int, rows bigint, skus array<string>, partitions array<int>",
    )
    assert_df_equality(per_task, expected, ignore_row_order=True, ignore_nullable=True)


def test_equal_groups_fill_every_task_alike(spark):
    # Hashed, 12 groups into 4 tasks can land unevenly; dealt, each task gets exactly 3.
    df = _groups(spark, {f"S{i:02d}": 5 for i in range(12)})
    placed = fanout.in_tasks(
        df, fanout.balanced_tasks(df, ["sku", "location"], 4)[0], ["sku", "location"], 4
    )
    counts = (
        placed.withColumn("p", F.spark_partition_id())
        .groupBy("p")
        .agg(F.countDistinct("sku").alias("groups"))
    )
    assert sorted(r["groups"] for r in counts.collect()) == [3, 3, 3, 3]


def test_the_task_table_is_broadcast_not_the_rows(spark, tmp_path):
    # Left to itself, Spark broadcasts these rows (a small Delta table), not the task table.
    spark.range(20_000).select(
        (F.col("id") % 50).cast("string").alias("sku"), F.lit("L1").alias("location"), "id"
    ).write.format("delta").save(str(tmp_path / "rows"))
    df = spark.read.format("delta").load(str(tmp_path / "rows"))
    keys = ["sku", "location"]
    placed = fanout.in_tasks(df, fanout.balanced_tasks(df, keys, 2)[0], keys, 2)
    counted = placed.groupBy(fanout.TASK).count()
    counted.collect()  # run, so that the plan is the one adaptive execution settled on
    plan = counted._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastHashJoin" in plan and "BuildRight" in plan, plan


def test_every_group_is_run_once_in_tasks_even_with_a_null_key(spark):
    df = _groups(spark, {"A": 3, "B": 2}).unionByName(_groups(spark, {"C": 4}, location=None))

    def summary(pdf: pd.DataFrame) -> pd.DataFrame:
        # The task column is the fan-out's own: the group function never sees it.
        assert list(pdf.columns) == ["sku", "location", "i"]
        return pd.DataFrame({"sku": [pdf["sku"].iloc[0]], "rows": [len(pdf)]})

    out = fanout.apply_per_series(df, summary, "sku string, rows long", partitions=3)
    expected = spark.createDataFrame([("A", 3), ("B", 2), ("C", 4)], "sku string, rows long")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_fewer_groups_than_cores_share_the_cores_out(spark):
    assert spark.sparkContext.defaultParallelism == 2  # local[2]
    assert [fanout.task_threads(spark, n) for n in (None, 1, 2, 5)] == [1, 2, 1, 1]
    df = _groups(spark, {"A": 3, "B": 2})

    def threads_seen(pdf: pd.DataFrame, threads: int) -> pd.DataFrame:
        return pd.DataFrame({"sku": [pdf["sku"].iloc[0]], "threads": [threads]})

    schema = "sku string, threads long"
    # Two groups in two tasks: one core each; with one task allowed, both run in it on two.
    for partitions, expected in ((4, 1), (1, 2)):
        out = fanout.apply_per_group(
            df, threads_seen, schema, ["sku"], partitions=partitions, threaded=True
        )
        assert {r.threads for r in out.collect()} == {expected}


def test_retried_attempts_run_on_one_thread(monkeypatch):
    # They run in a forked child, where more OpenMP threads than one would hang.
    def threads_seen(pdf, threads):
        return threads

    for attempt, expected in ((0, 2), (1, 1)):
        monkeypatch.setattr(fanout, "_task_attempt", lambda attempt=attempt: attempt)
        assert fanout._with_threads(threads_seen, 2, pd.DataFrame()) == expected


def test_cogrouped_series_meet_their_extra_rows_in_tasks(spark):
    history = _groups(spark, {"A": 3, "B": 2, "C": 1})
    extra = spark.createDataFrame(
        [("A", "L1", 10), ("A", "L1", 11), ("C", "L1", 12), ("Z", "L1", 13)],
        "sku string, location string, x int",
    )

    def pair(h: pd.DataFrame, e: pd.DataFrame) -> pd.DataFrame:
        assert fanout.TASK not in h.columns and fanout.TASK not in e.columns
        return pd.DataFrame({"sku": [h["sku"].iloc[0]], "rows": [len(h)], "extra": [len(e)]})

    schema = StructType.fromDDL("sku string, rows long, extra long")
    spread = fanout.apply_per_series_with(history, extra, pair, schema, partitions=2)
    # Z has no history, so it is skipped, as without tasks.
    expected = spark.createDataFrame([("A", 3, 2), ("B", 2, 0), ("C", 1, 1)], schema)
    assert_df_equality(spread, expected, ignore_row_order=True, ignore_nullable=True)
    unplaced = fanout.apply_per_series_with(history, extra, pair, schema)
    assert_df_equality(unplaced, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_fan_out_logs_its_progress_while_it_runs(spark, caplog):
    import time

    from skuplan.logs import Progress

    def slow(pdf: pd.DataFrame) -> pd.DataFrame:
        time.sleep(0.5)
        return pdf.head(1)

    df = _groups(spark, {f"S{i:02d}": 3 for i in range(16)})
    progress = Progress(spark, "test fan-out", "series", every=0.25)
    out = fanout.apply_per_series(df, slow, df.schema, partitions=8, progress=progress)
    assert (progress.groups, progress.tasks) == (16, 8)
    caplog.set_level("INFO", logger="skuplan.progress")
    with progress:
        assert out.count() == 16
    lines = [r.getMessage() for r in caplog.records if r.name == "skuplan.progress"]
    done = [line for line in lines if "tasks done" in line]
    assert done, lines
    assert all(line.startswith("test fan-out: ") and "/16 series" in line for line in done)
    assert any("series/min" in line and "min left" in line for line in done), done


def test_progress_counts_the_series_of_the_tasks_done():
    from pyspark.status import SparkStageInfo

    from skuplan.logs import Progress

    progress = Progress(None, "forecast", "series")
    progress.expect(984, 8)
    progress._started = 0.0
    shuffle = SparkStageInfo(3, 0, "read", 4, 1, 3, 0)
    assert progress.line([shuffle], now=30.0) == ("forecast: 0.5 min, preparing (stage 3 3/4)")
    fan = SparkStageInfo(5, 0, "fan-out", 8, 2, 0, 0)
    assert progress.line([fan], now=60.0).endswith(
        "0/8 tasks done (~0/984 series, 2 running), no estimate before a task ends"
    )
    fan = SparkStageInfo(5, 0, "fan-out", 8, 2, 2, 0)
    assert progress.line([fan], now=180.0) == (
        "forecast: 3.0 min, 2/8 tasks done (~246/984 series, 2 running), 82 series/min, "
        "~9.0 min left"
    )


def test_a_grouped_pandas_function_over_a_tiny_frame_runs_in_tasks_per_core(spark):
    # Adaptive execution merges the shuffle of a few rows into one task; asked for 3 tasks a
    # core (6 on local[2]), the groups are hashed into 6 partitions and stay there.
    df = _groups(spark, {f"S{i:02d}": 3 for i in range(12)})

    def where(pdf: pd.DataFrame) -> pd.DataFrame:
        from pyspark import TaskContext

        part = TaskContext.get().partitionId()
        return pd.DataFrame({"sku": [pdf["sku"].iloc[0]], "rows": [len(pdf)], "p": [part]})

    out = (
        fanout.grouped_in_tasks(df, ["sku", "location"], tasks_per_core=3)
        .applyInPandas(where, schema="sku string, rows long, p int")
        .collect()
    )
    assert sorted(r["sku"] for r in out) == [f"S{i:02d}" for i in range(12)]
    assert {r["rows"] for r in out} == {3}
    assert max(r["p"] for r in out) >= 2 and len({r["p"] for r in out}) >= 3
