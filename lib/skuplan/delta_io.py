"""Reads and idempotent writes of Delta tables addressed by path or by catalog name.

Every output is written for one run date (or load date) with ``replaceWhere`` on that
partition: re-running a date replaces its rows in one atomic commit, never appends twice.

Every read is pinned to the table version current when it is made (``versionAsOf``), so a
job sees one consistent snapshot however often it evaluates the DataFrame; the version, and
the version and row count of every commit, are reported to the active run
(:mod:`skuplan.runs`) for its record in the ``runs`` table.

Catalog names are validated in config (plain identifiers, up to three parts) and quoted with
backticks here, in the one place they reach Spark.

Two runs writing the same table at once make Delta refuse the later commit (a
``ConcurrentAppendException`` or another of ``delta.exceptions``). The writes here replace a
whole partition or table, so they are safe to repeat: :func:`retry_on_conflict` retries them
with a jittered exponential backoff and, past ``WRITE_ATTEMPTS``, raises
:class:`~skuplan.errors.ConcurrentWriteError` (exit code 8).

The writes call the test-only fault injection of :mod:`skuplan.fault_hooks`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, NumericType, StructType

from skuplan import delta_log, fault_hooks, runs
from skuplan.errors import ConcurrentWriteError, InputError, is_write_conflict, one_line
from skuplan.tableref import TableRef

log = logging.getLogger(__name__)

T = TypeVar("T")

# Attempts per write when other runs keep committing first, and the first backoff (doubling).
WRITE_ATTEMPTS = 4
BACKOFF_SECONDS = 1.0

# Every commit of a job run carries the run's id as its user metadata (``DESCRIBE HISTORY``'s
# ``userMetadata``): a run records the versions it wrote by that tag, never another's.
COMMIT_TAG = "spark.databricks.delta.commitInfo.userMetadata"
HISTORY_SCAN = 100  # commits searched for a run's own, newest first


def quoted_name(name: str) -> str:
    """``catalog.schema.table`` -> ``\\`catalog\\`.\\`schema\\`.\\`table\\``` (each part quoted)."""
    return ".".join(f"`{part.replace('`', '``')}`" for part in name.split("."))


def table_exists(spark: SparkSession, ref: TableRef) -> bool:
    if ref.name is not None:
        return spark.catalog.tableExists(quoted_name(ref.name))
    return DeltaTable.isDeltaTable(spark, ref.path)


def _delta_table(spark: SparkSession, ref: TableRef) -> DeltaTable:
    if ref.name is not None:
        return DeltaTable.forName(spark, quoted_name(ref.name))
    return DeltaTable.forPath(spark, ref.path)


@contextlib.contextmanager
def tagged_commits(spark: SparkSession, tag: str) -> Iterator[None]:
    """Tag every Delta commit made inside with ``tag`` (a run id), then restore the setting."""
    before = spark.conf.get(COMMIT_TAG, None)
    spark.conf.set(COMMIT_TAG, tag)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(COMMIT_TAG)
        else:
            spark.conf.set(COMMIT_TAG, before)


def commit_tags(spark: SparkSession, ref: TableRef) -> list[str | None]:
    """The user metadata of every commit of a Delta table, oldest first."""
    rows = _delta_table(spark, ref).history().select("version", "userMetadata").collect()
    return [r["userMetadata"] for r in sorted(rows, key=lambda r: r["version"])]


def own_commit_after(spark: SparkSession, ref: TableRef, version: int) -> int | None:
    """The version of this run's latest commit after ``version`` (commits tagged with the
    run's id, see :func:`tagged_commits`; untagged: the latest commit), or None."""
    latest = last_commit(spark, ref, spark.conf.get(COMMIT_TAG, None) or None)
    return latest[0] if latest is not None and latest[0] > version else None


def last_commit(
    spark: SparkSession, ref: TableRef, tag: str | None = None
) -> tuple[int, str, dict[str, str]] | None:
    """The latest commit of a Delta table: version, operation and operation metrics. With
    ``tag``, the latest carrying that user metadata among the last ``HISTORY_SCAN`` commits
    (None if there is none), so a concurrent run's later commit is never taken for it."""
    commits = delta_log.newest_commits(spark, ref, HISTORY_SCAN if tag else 1)
    if commits is not None:  # a path table's log files, read up to the first match (no job)
        v, c = next(((v, c) for v, c in commits if tag in (None, c.get("userMetadata"))), (None, {}))  # fmt: skip
        return None if v is None else (v, c.get("operation"), dict(c.get("operationMetrics") or {}))  # fmt: skip
    history = _delta_table(spark, ref).history(HISTORY_SCAN if tag else 1)
    if tag:
        history = history.filter(F.col("userMetadata") == tag)
    first = (
        history.orderBy(F.col("version").desc())
        .select("version", "operation", "operationMetrics")
        .first()
    )
    if first is None:
        return None
    return int(first["version"]), first["operation"], dict(first["operationMetrics"] or {})


def read_table(
    spark: SparkSession,
    ref: TableRef,
    *,
    required: Iterable[str] = (),
    what: str = "table",
    types: StructType | None = None,
) -> DataFrame:
    """Read a Delta table, pinned to its current version, and check the ``required`` columns.

    Args:
        types: expected types of some columns (which are then required too); any numeric
            type stands for any other, so a source's ``int`` quantities pass as ``double``.

    Raises:
        InputError: the table is missing, unreadable, lacks a required column or has one of
            another type.
    """
    if not table_exists(spark, ref):
        raise InputError(f"{what} not found: {ref} is not a Delta table")
    try:
        version, _, _ = last_commit(spark, ref)
        reader = spark.read.format("delta").option("versionAsOf", version)
        df = reader.table(quoted_name(ref.name)) if ref.name is not None else reader.load(ref.path)
    except AnalysisException as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise InputError(f"cannot read {what} {ref}: {first_line}") from None
    required = [*required, *(types.fieldNames() if types is not None else [])]
    missing = [c for c in dict.fromkeys(required) if c not in df.columns]
    if missing:
        raise InputError(f"{what} {ref} lacks column(s) {', '.join(missing)}")
    for expected in types.fields if types is not None else []:
        actual = df.schema[expected.name].dataType
        if not _same_kind(actual, expected.dataType):
            raise InputError(
                f"{what} {ref}: column {expected.name} is {actual.simpleString()}, "
                f"expected {expected.dataType.simpleString()}"
            )
    if (run := runs.active()) is not None:
        run.record_read(str(ref), version)
    return df


def _same_kind(actual: DataType, expected: DataType) -> bool:
    if isinstance(expected, NumericType):
        return isinstance(actual, NumericType)
    return actual.simpleString() == expected.simpleString()


def retry_on_conflict(write: Callable[[], T], what: str, *, attempts: int | None = None) -> T:
    """Run an idempotent ``write``, again when a concurrent commit makes Delta refuse it.

    Each retry starts from the table's new version, so replacing a partition or merging on
    keys ends as if the runs had taken turns. Waits 1, 2, 4... s (times 0.5-1.5) between tries.

    Raises:
        ConcurrentWriteError: still conflicting after ``attempts`` tries (``WRITE_ATTEMPTS``).
    """
    attempts = WRITE_ATTEMPTS if attempts is None else attempts
    for attempt in range(1, attempts + 1):
        try:
            result = write()
        except Exception as exc:
            if not (is_write_conflict(exc) or _lost_create_race(exc)):
                raise
            if attempt >= attempts:
                raise ConcurrentWriteError(
                    f"{what}: another run kept committing first ({type(exc).__name__}, "
                    f"{attempts} attempt(s)): {one_line(str(exc), 200)}"
                ) from None
            delay = BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning(
                "%s: a concurrent commit came first (%s); retry %d of %d in %.1f s",
                what, type(exc).__name__, attempt, attempts - 1, delay,
            )  # fmt: skip
            time.sleep(delay)
        else:
            fault_hooks.after_commit(what)
            return result
    raise AssertionError("unreachable")


def _lost_create_race(exc: Exception) -> bool:
    """Another run created the catalog table between our existence check and our create."""
    condition = getattr(exc, "getCondition", None)
    return callable(condition) and condition() == "TABLE_OR_VIEW_ALREADY_EXISTS"


def _before_write(ref: TableRef) -> float:
    """The tests' hold (:mod:`.fault_hooks`); returns when the write starts (epoch seconds)."""
    fault_hooks.hold_first_write(ref)
    return time.time()


def _report_write(spark: SparkSession, ref: TableRef, started: float) -> None:
    """Record the run's commit to ``ref`` in its run (the write began at ``started``)."""
    run = runs.active()
    if run is not None:
        commit = last_commit(spark, ref, spark.conf.get(COMMIT_TAG, None))
        if commit is None:
            # Delta commits nothing for a write that changes nothing (say, no rows replacing
            # an empty partition): not a lost commit.
            if _untouched_since(spark, ref, started):
                log.info("nothing committed to %s: the write changed nothing", ref)
            else:
                log.warning("committed %s: this run's commit not found in its history", ref)
            run.record_write(str(ref), None, None, None)
            return
        version, operation, metrics = commit
        rows = metrics.get("numOutputRows")
        log.info("committed %s: version %d, %s, %s row(s)", ref, version, operation, rows)
        run.record_write(str(ref), version, operation, int(rows) if rows is not None else None)


def _untouched_since(spark: SparkSession, ref: TableRef, started: float) -> bool:
    """Whether the table's newest commit, anyone's, is older than ``started``."""
    commits = delta_log.newest_commits(spark, ref, 1)
    if commits is not None:
        stamp = next(commits, (None, {}))[1].get("timestamp")
        return stamp is not None and stamp / 1000 < started
    row = _delta_table(spark, ref).history(1).select("timestamp").first()
    return row is not None and row["timestamp"].timestamp() < started


def replace_partition(df: DataFrame, ref: TableRef, column: str, value: dt.date) -> None:
    """Replace the rows of ``ref`` where ``column == value`` with ``df`` (one atomic commit).

    The table is partitioned by ``column`` and created on first write. Every row of ``df``
    must carry ``value`` in ``column``; Delta refuses the write otherwise. A commit conflict
    with another run is retried (:func:`retry_on_conflict`).
    """
    started = _before_write(ref)

    def write() -> None:
        if ref.name is not None:
            # Catalog tables go through the V2 writer: saveAsTable with replaceWhere fails on
            # an existing partitioned table in Spark 4.1 ("corrupted table metadata").
            name = quoted_name(ref.name)
            if table_exists(df.sparkSession, ref):
                # New columns (a newer release adds some) join the table, as below.
                writer = df.writeTo(name).option("mergeSchema", "true")
                writer.overwrite(F.col(column) == F.lit(value))
            else:
                df.writeTo(name).using("delta").partitionedBy(F.col(column)).create()
            return
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"`{column}` = DATE'{value.isoformat()}'")
            # New columns (a newer release adds some) join the table; none is dropped.
            .option("mergeSchema", "true")
            .partitionBy(column)
            .save(ref.path)
        )

    retry_on_conflict(write, f"write {ref} ({column} = {value})")
    _report_write(df.sparkSession, ref, started)


def delete_partitions(spark: SparkSession, ref: TableRef, column: str, values: list) -> None:
    """Delete ``ref``'s rows whose ``column`` is one of the dates ``values`` (one commit)."""
    dates = ", ".join(f"DATE'{v.isoformat()}'" for v in values)
    started = time.time()
    delete = lambda: _delta_table(spark, ref).delete(f"`{column}` IN ({dates})")  # noqa: E731
    retry_on_conflict(delete, f"delete from {ref} ({len(values)} {column} values)")
    _report_write(spark, ref, started)


def overwrite_table(df: DataFrame, ref: TableRef, partition_by: str | None = None) -> None:
    """Replace a whole table, schema included (master data snapshots, generated inputs)."""
    started = _before_write(ref)

    def write() -> None:
        if ref.name is not None:
            writer = df.writeTo(quoted_name(ref.name)).using("delta")
            if partition_by is not None:
                writer = writer.partitionedBy(F.col(partition_by))
            writer.createOrReplace()
        else:
            writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
            if partition_by is not None:
                writer = writer.partitionBy(partition_by)
            writer.save(ref.path)

    retry_on_conflict(write, f"write {ref}")
    _report_write(df.sparkSession, ref, started)


def upsert(
    df: DataFrame,
    ref: TableRef,
    keys: Iterable[str],
    *,
    scope: str | None = None,
    newer: str | None = None,
    changed: Iterable[str] = (),
) -> None:
    """Write ``df``'s rows into ``ref``, each replacing the row with the same ``keys`` (one
    MERGE; new columns join the table); creates the table on first write. ``df`` must not
    repeat a key.

    Args:
        scope: a condition on the table's rows (``t.``) that holds for every key of ``df``,
            so that Delta skips the files outside it.
        newer: a column: a row replaces its match only when its value there is not older.
        changed: columns: a row replaces its match only when one of them differs (the
            others are not rewritten).
    """
    spark = df.sparkSession
    started = _before_write(ref)
    match = [f"t.`{k}` <=> s.`{k}`" for k in keys]
    update = [f"s.`{newer}` >= t.`{newer}`"] if newer else []
    if changed:
        update.append("NOT (" + " AND ".join(f"s.`{c}` <=> t.`{c}`" for c in changed) + ")")

    def write() -> None:
        if not table_exists(spark, ref):
            if ref.name is not None:
                df.writeTo(quoted_name(ref.name)).using("delta").create()
            else:
                df.write.format("delta").save(ref.path)
            return
        (
            _delta_table(spark, ref)
            .alias("t")
            .merge(df.alias("s"), " AND ".join([*match, *([scope] if scope else [])]))
            .withSchemaEvolution()
            .whenMatchedUpdateAll(" AND ".join(update) or None)
            .whenNotMatchedInsertAll()
            .execute()
        )

    retry_on_conflict(write, f"upsert into {ref}")
    _report_write(spark, ref, started)


def append_table(df: DataFrame, ref: TableRef) -> None:
    """Append ``df`` to an existing table (inputs generated in chunks)."""
    started = _before_write(ref)

    def write() -> None:
        if ref.name is not None:
            return df.writeTo(quoted_name(ref.name)).append()
        df.write.format("delta").mode("append").save(ref.path)

    retry_on_conflict(write, f"append to {ref}")
    _report_write(df.sparkSession, ref, started)


def write_run(spark: SparkSession, ref: TableRef, row: dict) -> None:
    """Insert ``row`` into the ``runs`` table at ``ref`` (created on first use) unless its
    ``run_id`` is already there: a MERGE, so retrying the write never duplicates a run."""

    def merge() -> None:
        create = DeltaTable.createIfNotExists(spark)
        create = create.tableName(quoted_name(ref.name)) if ref.name else create.location(ref.path)
        table = create.addColumns(runs.schema()).execute()
        source_df = spark.createDataFrame([row], schema=runs.schema())
        (
            table.alias("t")
            .merge(source_df.alias("s"), "t.run_id = s.run_id")
            .whenNotMatchedInsertAll()
            .execute()
        )

    # Runs of other jobs finish at the same time: their MERGEs conflict, and each is retried.
    retry_on_conflict(merge, f"record run {row['run_id']} in {ref}")
