"""Reads and idempotent writes of Delta tables addressed by path or by catalog name.

Every output is written for one run date (or load date) with ``replaceWhere`` on that
partition: re-running a date replaces its rows in one atomic commit, never appends twice.

Every read is pinned to the table version current when it is made (``versionAsOf``), so a
job sees one consistent snapshot however often it evaluates the DataFrame; the version, and
the version and row count of every commit, are reported to the active run
(:mod:`skuplan.runs`) for its record in the ``runs`` table.

Catalog names are validated in config (plain identifiers, up to three parts) and quoted with
backticks here, in the one place they reach Spark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from skuplan import runs
from skuplan.conf import TableRef
from skuplan.errors import InputError


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


def last_commit(spark: SparkSession, ref: TableRef) -> tuple[int, str, dict[str, str]]:
    """The latest commit of a Delta table: version, operation and operation metrics."""
    row = _delta_table(spark, ref).history(1).select("version", "operation", "operationMetrics")
    first = row.first()
    return int(first["version"]), first["operation"], dict(first["operationMetrics"] or {})


def read_table(
    spark: SparkSession, ref: TableRef, *, required: Iterable[str] = (), what: str = "table"
) -> DataFrame:
    """Read a Delta table, pinned to its current version, and check the ``required`` columns.

    Raises:
        InputError: the table is missing, unreadable, or lacks a required column.
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
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{what} {ref} lacks column(s) {', '.join(missing)}")
    run = runs.active()
    if run is not None:
        run.record_read(str(ref), version)
    return df


def _report_write(spark: SparkSession | None, ref: TableRef) -> None:
    run = runs.active()
    if run is None:
        return
    spark = spark or SparkSession.getActiveSession()
    version, operation, metrics = last_commit(spark, ref)
    rows = metrics.get("numOutputRows")
    run.record_write(str(ref), version, operation, int(rows) if rows is not None else None)


def replace_partition(df: DataFrame, ref: TableRef, column: str, value: dt.date) -> None:
    """Replace the rows of ``ref`` where ``column == value`` with ``df`` (one atomic commit).

    The table is partitioned by ``column`` and created on first write. Every row of ``df``
    must carry ``value`` in ``column``; Delta refuses the write otherwise.
    """
    if ref.name is not None:
        # Catalog tables go through the V2 writer: saveAsTable with replaceWhere fails on an
        # existing partitioned table in Spark 4.1 ("corrupted table metadata").
        name = quoted_name(ref.name)
        if table_exists(spark := df.sparkSession, ref):
            df.writeTo(name).overwrite(F.col(column) == F.lit(value))
        else:
            df.writeTo(name).using("delta").partitionedBy(F.col(column)).create()
        _report_write(spark, ref)
        return
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"`{column}` = DATE'{value.isoformat()}'")
        .partitionBy(column)
        .save(ref.path)
    )
    _report_write(df.sparkSession, ref)


def overwrite_table(df: DataFrame, ref: TableRef, partition_by: str | None = None) -> None:
    """Replace a whole table, schema included (master data snapshots, generated inputs)."""
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
    _report_write(df.sparkSession, ref)
