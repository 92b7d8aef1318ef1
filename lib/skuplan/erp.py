"""Hand-over to the ERP: a change-data-feed outbox and per-supplier order files.

The outbox holds one row per series, the order the plan currently recommends. It is kept
with a Delta MERGE against each new plan, and Change Data Feed is on, so an ERP sync reads
only what changed since the version it last read::

    spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", last_version + 1).load(path)

Each changed row carries ``change_type``: ``new`` (no open recommendation before, or the
previous one was cancelled), ``changed`` (quantity or supplier differ) or ``cancelled`` (no
longer recommended, or the series left the plan). An unchanged recommendation is not
touched, so it produces no change rows; its dates stay those of its first recommendation.
Lines held for review (or not planned) leave the outbox as it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from skuplan.columns import KEYS
from skuplan.delta_io import own_commit_after, pause_point, retry_on_conflict
from skuplan.errors import ConcurrentWriteError, ConfigError
from skuplan.schemas import ERP_OUTBOX
from skuplan.tableref import TableRef

CHANGE_NEW, CHANGE_CHANGED, CHANGE_CANCELLED = "new", "changed", "cancelled"
CDF_PROPERTY = "delta.enableChangeDataFeed"

SOURCE_COLUMNS = [
    *KEYS, "supplier", "policy", "order_qty", "order_date", "expected_arrival",
    "unit_cost", "order_value", "is_held",
]  # fmt: skip


def _outbox_table(spark: SparkSession, ref: TableRef) -> DeltaTable:
    builder = DeltaTable.createIfNotExists(spark)
    builder = builder.tableName(ref.name) if ref.name is not None else builder.location(ref.path)
    return builder.addColumns(ERP_OUTBOX).property(CDF_PROPERTY, "true").execute()


def merge_outbox(
    spark: SparkSession, lines_df: DataFrame, ref: TableRef, *, run_date: dt.date, run_id: str
) -> int | None:
    """MERGE this plan's lines into the outbox; returns the version it wrote (None: no commit).

    Args:
        lines_df: one row per planned series with ``SOURCE_COLUMNS``; ``is_held`` true for
            lines that must not reach the ERP (needs review, not planned).
        ref: the outbox table (created with Change Data Feed on if missing).
    """
    # A concurrent run's MERGE makes Delta refuse this one: it is retried against the new
    # version, where an unchanged plan finds nothing to change.
    return retry_on_conflict(
        lambda: _merge_outbox(spark, lines_df, ref, run_date=run_date, run_id=run_id),
        f"merge into {ref}",
    )


def _merge_outbox(
    spark: SparkSession, lines_df: DataFrame, ref: TableRef, *, run_date: dt.date, run_id: str
) -> int | None:
    table = _outbox_table(spark, ref)
    before = _version(table)
    src = lines_df.select(*SOURCE_COLUMNS)
    stamp = {"run_date": F.lit(run_date), "run_id": F.lit(run_id)}
    values = {c: F.col(f"s.{c}") for c in SOURCE_COLUMNS if c != "is_held"}
    is_open = "NOT s.is_held AND s.order_qty > 0"
    differs = "(t.change_type = 'cancelled' OR NOT (t.order_qty <=> s.order_qty) OR NOT (t.supplier <=> s.supplier))"
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


def _version(table: DeltaTable) -> int:
    return int(table.history(1).select("version").first()["version"])


def read_outbox_changes(spark: SparkSession, ref: TableRef, starting_version: int) -> DataFrame:
    """Change rows since ``starting_version`` (inserts and update post-images only).

    Output: the outbox columns plus Delta's ``_change_type, _commit_version, _commit_timestamp``.
    """
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", starting_version)
    )
    df = reader.table(ref.name) if ref.name is not None else reader.load(ref.path)
    return df.filter(F.col("_change_type").isin("insert", "update_postimage"))


def export_folder(ref: TableRef, run_date: dt.date) -> str:
    """The supplier-export folder of one run date (the config entry must be a ``path``)."""
    if ref.path is None:
        raise ConfigError("tables.supplier_exports must be a path (a folder), not a catalog name")
    sep = "" if ref.path.endswith("/") else "/"
    return f"{ref.path}{sep}run_date={run_date.isoformat()}"


def write_supplier_exports(lines_df: DataFrame, ref: TableRef, run_date: dt.date) -> str:
    """Write this run's order lines as CSV, one sub-folder per supplier; returns the folder.

    Input columns: ``supplier, sku, location, order_qty, order_date, expected_arrival,
    unit_cost, order_value, run_id``. The files are written to ``_staging/`` under the
    export root, which readers skip, and the finished folder then takes the run date's
    place by two renames: a failed write leaves the previous export as it was. (On a
    Spark Connect session, which has no file-system access, the folder is overwritten in
    place.)

    Raises:
        ConcurrentWriteError: another run put its export in place meanwhile.
    """
    folder = export_folder(ref, run_date)
    spark = lines_df.sparkSession
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
        lines_df.select(
            "supplier",
            *KEYS,
            "order_qty",
            "order_date",
            "expected_arrival",
            "unit_cost",
            "order_value",
            "run_id",
        )
        .repartition("supplier")
        .sortWithinPartitions(*KEYS)
        .write.mode("overwrite")
        .partitionBy("supplier")
        .option("header", "true")
        .csv(folder)
    )


def local_export_files(folder: str) -> list[Path]:
    """The CSV part files under a local export folder (tests and the demo summary)."""
    return sorted(Path(folder.removeprefix("file:")).glob("supplier=*/*.csv"))
