"""Reads and idempotent writes of Delta tables addressed by path or by catalog name.

Every output is written for one run date (or load date) with ``replaceWhere`` on that
partition: re-running a date replaces its rows in one atomic commit, never appends twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from skuplan.conf import TableRef
from skuplan.errors import InputError


def table_exists(spark: SparkSession, ref: TableRef) -> bool:
    if ref.name is not None:
        return spark.catalog.tableExists(ref.name)
    return DeltaTable.isDeltaTable(spark, ref.path)


def read_table(
    spark: SparkSession, ref: TableRef, *, required: Iterable[str] = (), what: str = "table"
) -> DataFrame:
    """Read a Delta table and check it has the ``required`` columns.

    Raises:
        InputError: the table is missing, unreadable, or lacks a required column.
    """
    if not table_exists(spark, ref):
        raise InputError(f"{what} not found: {ref} is not a Delta table")
    try:
        df = (
            spark.table(ref.name)
            if ref.name is not None
            else spark.read.format("delta").load(ref.path)
        )
    except AnalysisException as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise InputError(f"cannot read {what} {ref}: {first_line}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{what} {ref} lacks column(s) {', '.join(missing)}")
    return df


def _save(writer, ref: TableRef) -> None:
    if ref.name is not None:
        writer.saveAsTable(ref.name)
    else:
        writer.save(ref.path)


def replace_partition(df: DataFrame, ref: TableRef, column: str, value: dt.date) -> None:
    """Replace the rows of ``ref`` where ``column == value`` with ``df`` (one atomic commit).

    The table is partitioned by ``column`` and created on first write. Every row of ``df``
    must carry ``value`` in ``column``; Delta refuses the write otherwise.
    """
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{column} = DATE'{value.isoformat()}'")
        .partitionBy(column)
    )
    _save(writer, ref)


def overwrite_table(df: DataFrame, ref: TableRef, partition_by: str | None = None) -> None:
    """Replace a whole table, schema included (master data snapshots, generated inputs)."""
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if partition_by is not None:
        writer = writer.partitionBy(partition_by)
    _save(writer, ref)
