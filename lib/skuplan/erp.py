"""Hand-over to the ERP and to suppliers: a change-data-feed outbox, per-supplier order
files, and the supplier demand signal (a change-data-feed table and per-supplier files).

The outbox holds one row per series, the order the plan currently recommends. It is kept
with a Delta MERGE against each new plan, and Change Data Feed is on, so an ERP sync reads
only what changed since the version it last read::

    spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", last_version + 1).load(path)

Each changed row carries ``change_type``: ``new`` (no open recommendation before, or the
previous one was cancelled), ``changed`` (quantity, supplier or order date differ: the same
quantity ordered on a later day is that day's order, as that day's supplier file lists it) or
``cancelled`` (no longer recommended, or the series left the plan). A re-run of a date
touches nothing the ERP has. Lines held for review (or not planned) leave the outbox as it
was.

The supplier signal (``supplier_signal``) is kept the same way, one row per supplier, series
and week: a row whose figures moved is updated, a row that left the signal (its week passed,
or the series left the plan) is deleted, an unchanged row is not touched; a series not
planned for a day keeps its rows (:func:`kept_signal_rows`). Its change feed therefore holds
only what changed for the supplier since they last read it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window

from skuplan import runs
from skuplan.columns import KEYS
from skuplan.delta_io import (
    last_commit,
    own_commit_after,
    read_table,
    retry_on_conflict,
    table_exists,
)
from skuplan.errors import ConcurrentWriteError, ConfigError, InputError, one_line
from skuplan.fault_hooks import pause_point
from skuplan.schemas import ERP_OUTBOX, SUPPLIER_SIGNAL
from skuplan.tableref import TableRef

CHANGE_NEW, CHANGE_CHANGED, CHANGE_CANCELLED = "new", "changed", "cancelled"
CDF_PROPERTY = "delta.enableChangeDataFeed"

SIGNAL_KEYS = ["supplier", *KEYS, "week_start"]
SIGNAL_VALUES = ["days", "forecast_p50", "forecast_p90", "planned_order_qty", "planned_orders"]
ORDER_FILE_COLUMNS = [
    "supplier", *KEYS, "order_qty", "order_date", "expected_arrival", "unit_cost",
    "order_value", "run_id",
]  # fmt: skip
SIGNAL_FILE_COLUMNS = [*SIGNAL_KEYS, *SIGNAL_VALUES, "run_id"]

SOURCE_COLUMNS = [
    *KEYS, "supplier", "policy", "order_qty", "order_date", "expected_arrival",
    "unit_cost", "order_value", "is_held",
]  # fmt: skip


class Superseded(Exception):
    """A later run date's plan appeared before this plan's MERGE (a backfill racing the newer
    run): the hand-over is left to it. ``newer``: that plan's run date."""

    def __init__(self, newer: dt.date):
        super().__init__(f"a plan of {newer} came first")
        self.newer = newer


def _guarded(write: Callable[[], int | None], newer_plan: Callable[[], dt.date | None] | None):
    """``write`` preceded, at each attempt, by the check for a later run date's plan."""

    def attempt() -> int | None:
        newer = newer_plan() if newer_plan is not None else None
        if newer is not None:
            raise Superseded(newer)
        return write()

    return attempt


def _feed_table(spark: SparkSession, ref: TableRef, schema) -> DeltaTable:
    """The MERGE-maintained table at ``ref``, created with Change Data Feed on if missing."""
    builder = DeltaTable.createIfNotExists(spark)
    builder = builder.tableName(ref.name) if ref.name is not None else builder.location(ref.path)
    return builder.addColumns(schema).property(CDF_PROPERTY, "true").execute()


def merge_outbox(
    spark: SparkSession,
    lines_df: DataFrame,
    ref: TableRef,
    *,
    run_date: dt.date,
    run_id: str,
    newer_plan: Callable[[], dt.date | None] | None = None,
) -> int | None:
    """MERGE this plan's lines into the outbox; returns the version it wrote (None: no commit).

    Args:
        lines_df: one row per planned series with ``SOURCE_COLUMNS``; ``is_held`` true for
            lines that must not reach the ERP (needs review, not planned).
        ref: the outbox table (created with Change Data Feed on if missing).
        newer_plan: the run date of a later plan, if any, asked before each attempt.

    Raises:
        Superseded: ``newer_plan`` gave a date: nothing was merged.
    """
    # A concurrent run's MERGE makes Delta refuse this one: it is retried against the new
    # version, where an unchanged plan finds nothing to change, unless that run planned a
    # later date (a backfill racing the daily run), whose plan the outbox then keeps.
    write = partial(_merge_outbox, spark, lines_df, ref, run_date=run_date, run_id=run_id)
    return retry_on_conflict(_guarded(write, newer_plan), f"merge into {ref}")


def _merge_outbox(
    spark: SparkSession, lines_df: DataFrame, ref: TableRef, *, run_date: dt.date, run_id: str
) -> int | None:
    table = _feed_table(spark, ref, ERP_OUTBOX)
    before = _version(table)
    src = lines_df.select(*SOURCE_COLUMNS)
    stamp = {"run_date": F.lit(run_date), "run_id": F.lit(run_id)}
    values = {c: F.col(f"s.{c}") for c in SOURCE_COLUMNS if c != "is_held"}
    is_open = "NOT s.is_held AND s.order_qty > 0"
    # A later day's order is that day's, even of the same quantity: once the ERP placed
    # yesterday's it is on order, so the same quantity today is a new need.
    differs = (
        "(t.change_type = 'cancelled' OR NOT (t.order_qty <=> s.order_qty) "
        "OR NOT (t.supplier <=> s.supplier) OR NOT (t.order_date <=> s.order_date))"
    )
    (
        table.alias("t")
        .merge(src.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in KEYS))
        .whenMatchedUpdate(
            condition=f"{is_open} AND {differs}",
            set={
                **values,
                **stamp,
                "change_type": F.when(
                    F.col("t.change_type") == CHANGE_CANCELLED, F.lit(CHANGE_NEW)
                ).otherwise(F.lit(CHANGE_CHANGED)),
            },
        )
        .whenMatchedUpdate(
            condition=f"NOT s.is_held AND s.order_qty <= 0 AND t.change_type <> '{CHANGE_CANCELLED}'",
            set={**stamp, "change_type": F.lit(CHANGE_CANCELLED)},
        )
        .whenNotMatchedInsert(
            condition=is_open, values={**values, **stamp, "change_type": F.lit(CHANGE_NEW)}
        )
        .whenNotMatchedBySourceUpdate(
            condition=f"t.change_type <> '{CHANGE_CANCELLED}'",
            set={**stamp, "change_type": F.lit(CHANGE_CANCELLED)},
        )
        .execute()
    )
    return own_commit_after(spark, ref, before)


def merge_signal(
    spark: SparkSession,
    signal_df: DataFrame,
    ref: TableRef,
    *,
    run_date: dt.date,
    run_id: str,
    newer_plan: Callable[[], dt.date | None] | None = None,
) -> int | None:
    """MERGE this plan's supplier signal into ``ref``; returns the version it wrote (None:
    no commit). Rows are keyed by ``SIGNAL_KEYS``; changed ones take this run's date and id.

    Args:
        signal_df: ``SIGNAL_KEYS`` and ``SIGNAL_VALUES`` (:func:`skuplan.replenishment.signal.weekly_signal`).
        ref: the signal table (created with Change Data Feed on if missing).
        newer_plan: as for :func:`merge_outbox` (raises :class:`Superseded`).
    """
    write = partial(_merge_signal, spark, signal_df, ref, run_date=run_date, run_id=run_id)
    return retry_on_conflict(_guarded(write, newer_plan), f"merge into {ref}")


def _merge_signal(spark, signal_df, ref, *, run_date, run_id) -> int | None:
    table = _feed_table(spark, ref, SUPPLIER_SIGNAL)
    before = _version(table)
    values = {c: F.col(f"s.{c}") for c in [*SIGNAL_KEYS, *SIGNAL_VALUES]}
    stamp = {"run_date": F.lit(run_date), "run_id": F.lit(run_id)}
    differs = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in SIGNAL_VALUES)
    (
        table.alias("t")
        .merge(
            signal_df.select(*SIGNAL_KEYS, *SIGNAL_VALUES).alias("s"),
            " AND ".join(f"t.{k} = s.{k}" for k in SIGNAL_KEYS),
        )
        .whenMatchedUpdate(condition=differs, set={**values, **stamp})
        .whenNotMatchedInsert(values={**values, **stamp})
        .whenNotMatchedBySourceDelete()
        .execute()
    )
    return own_commit_after(spark, ref, before)


def kept_signal_rows(
    spark: SparkSession, ref: TableRef, kept_df: DataFrame, run_date: dt.date
) -> DataFrame | None:
    """The signal's rows (``SIGNAL_KEYS``, ``SIGNAL_VALUES``) of ``kept_df``'s series
    (``sku, location``) from the run date's week on, as the table holds them (None: no
    table yet). Merged again with today's rows, they stay as they are."""
    if not table_exists(spark, ref):
        return None
    this_week = run_date - dt.timedelta(days=run_date.weekday())
    return (
        read_table(spark, ref)
        .filter(F.col("week_start") >= F.lit(this_week))
        .join(kept_df.select(*KEYS).distinct(), [*KEYS], "left_semi")
        .select(*SIGNAL_KEYS, *SIGNAL_VALUES)
    )


def read_changes(spark: SparkSession, ref: TableRef, starting_version: int) -> DataFrame:
    """Every change row of a change-data-feed table since ``starting_version``, with Delta's
    ``_change_type`` (``insert``, ``update_preimage``, ``update_postimage``, ``delete``),
    ``_commit_version`` and ``_commit_timestamp``."""
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", starting_version)
    )
    return reader.table(ref.name) if ref.name is not None else reader.load(ref.path)


def _version(table: DeltaTable) -> int:
    return int(table.history(1).select("version").first()["version"])


def read_outbox_changes(spark: SparkSession, ref: TableRef, starting_version: int) -> DataFrame:
    """Change rows since ``starting_version`` (inserts and update post-images only).

    Output: the outbox columns plus Delta's ``_change_type, _commit_version, _commit_timestamp``.
    """
    changes_df = read_changes(spark, ref, starting_version)
    return changes_df.filter(F.col("_change_type").isin("insert", "update_postimage"))


def orders_handed_over(
    spark: SparkSession, ref: TableRef, first: dt.date, last: dt.date
) -> DataFrame:
    """The orders the ERP got from the plans dated ``first`` .. ``last``: per series and plan
    date, the outbox row that date's plans left last in the change feed, when it orders
    (``new`` or ``changed``, above 0). This is what the ERP read, whatever ``reorder_plan``
    holds now (a backfill rewrites an old date's plan lines, never the outbox); a run that
    died before its MERGE handed nothing over, one that died after it did.

    The outbox's commits come in run-date order (a plan of an older date leaves it to the
    newer plan: :class:`Superseded`, checked before each MERGE attempt), so the feed is read
    back from the latest version, twice as far each time, until a commit of a date before
    ``first`` (or the table's first version). A backfill racing the newer date's run can
    still commit after it, in the instant between its check and its MERGE; a later read
    that stops at that commit misses the newer date's orders before it.
    Output: ``run_date, sku, location, order_qty, expected_arrival, supplier``.

    Raises:
        InputError: the feed of those commits is gone (their files vacuumed).
    """
    latest = last_commit(spark, ref)[0]
    start = max(0, latest - 1)  # the latest commit and the one before (yesterday's plan)
    while True:
        changes_df = _read_feed(spark, ref, start)
        of_start = changes_df.filter(F.col("_commit_version") == start)
        oldest = of_start.agg(F.min("run_date")).first()[0]  # None: no change rows
        if start == 0 or (oldest is not None and oldest < first):
            break
        start = max(0, 2 * start - latest - 1)
    if (run := runs.active()) is not None:
        run.record_read(str(ref), latest)
    latest_row = Window.partitionBy(*KEYS, "run_date").orderBy(F.col("_commit_version").desc())
    return (
        changes_df.filter(F.col("run_date").between(F.lit(first), F.lit(last)))
        .withColumn("_n", F.row_number().over(latest_row))
        .filter(
            (F.col("_n") == 1)
            & F.col("change_type").isin(CHANGE_NEW, CHANGE_CHANGED)
            & (F.col("order_qty") > 0)
        )
        .select("run_date", *KEYS, "order_qty", "expected_arrival", "supplier")
    )


def _read_feed(spark: SparkSession, ref: TableRef, start: int) -> DataFrame:
    """The outbox's change rows from version ``start``, read once (local checkpoint: the
    walk back and the plan's two uses then read no file again).

    Raises:
        InputError: the feed cannot be read (its files vacuumed, most often).
    """
    try:
        return read_outbox_changes(spark, ref, start).localCheckpoint()
    except Exception as exc:  # Delta's missing-file errors have no common type
        raise feed_error(ref, start, str(exc)) from exc


def feed_error(ref: TableRef, start: int, cause: str) -> InputError:
    """The one-line refusal of an unreadable change feed, blaming VACUUM for missing files."""
    message = (
        f"the change feed of {ref} from version {start} cannot be read "
        f"({one_line(cause, 200)}): the plan cannot tell which orders the ERP got"
    )
    missing = ("FILE_NOT_EXIST", "FileNotFound", "FILE_NOT_FOUND", "does not exist")
    if any(mark in cause for mark in missing):
        message += " (VACUUM must keep the outbox's files longer than plan.inventory_max_age_days)"
    return InputError(message)


def export_folder(ref: TableRef, run_date: dt.date) -> str:
    """The supplier-export folder of one run date (the config entry must be a ``path``)."""
    if ref.path is None:
        raise ConfigError(
            f"supplier files go to a folder: {ref} must be a path, not a catalog name"
        )
    sep = "" if ref.path.endswith("/") else "/"
    return f"{ref.path}{sep}run_date={run_date.isoformat()}"


def write_supplier_exports(
    lines_df: DataFrame, ref: TableRef, run_date: dt.date, columns: list[str] = ORDER_FILE_COLUMNS
) -> str:
    """Write this run's rows as CSV, one sub-folder per supplier; returns the folder.

    Input columns: ``columns`` (``supplier`` first; the order lines' by default, the
    signal's ``SIGNAL_FILE_COLUMNS`` for its files). The files are written to ``_staging/`` under the
    export root, which readers skip, and the finished folder then takes the run date's
    place by two renames: a failed write leaves the previous export as it was. (On a
    Spark Connect session, which has no file-system access, the folder is overwritten in
    place.)

    Raises:
        ConcurrentWriteError: another run put its export in place meanwhile.
    """
    folder = export_folder(ref, run_date)
    spark = lines_df.sparkSession
    lines_df = lines_df.select(*columns)
    try:
        fs, path = _file_system(spark, folder)
    except AttributeError:  # Spark Connect: no JVM on this side
        _write_csv(lines_df, folder)
        return folder
    staging = f"{ref.path.rstrip('/')}/_staging/{uuid.uuid4().hex}"
    try:
        _write_csv(lines_df, staging)
    except BaseException:
        fs.delete(path(staging), True)
        raise
    _swap_folder(fs, path, staging, folder)
    return folder


def _file_system(spark: SparkSession, folder: str):
    """Hadoop's file system of ``folder`` and its ``Path`` class (local, HDFS, object stores)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path
    return path(folder).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def _swap_folder(fs, path, staging: str, folder: str) -> None:
    """Put ``staging`` in the place of ``folder``: the old one aside, the new one in, the old
    one deleted. A rename onto an existing folder would nest the new one inside it, so a
    folder that reappears in between (another run's) stops this one."""
    old = path(f"{staging}.old")
    had_old = fs.exists(path(folder))
    if had_old and not fs.rename(path(folder), old):
        raise OSError(f"could not move the previous export {folder} aside")
    pause_point("export moved aside")
    if fs.exists(path(folder)) or not fs.rename(path(staging), path(folder)):
        if had_old and not fs.exists(path(folder)):
            fs.rename(old, path(folder))
        fs.delete(path(staging), True)
        raise ConcurrentWriteError(f"another run replaced the supplier export {folder} meanwhile")
    if had_old:
        fs.delete(old, True)


def _write_csv(lines_df: DataFrame, folder: str) -> None:
    (
        lines_df.repartition("supplier")
        .sortWithinPartitions(*[c for c in lines_df.columns if c != "supplier"])
        .write.mode("overwrite")
        .partitionBy("supplier")
        .option("header", "true")
        .csv(folder)
    )


def local_export_files(folder: str) -> list[Path]:
    """The CSV part files under a local export folder (tests and the demo summary)."""
    return sorted(Path(folder.removeprefix("file:")).glob("supplier=*/*.csv"))
