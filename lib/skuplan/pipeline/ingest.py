"""Stage 0: a raw sales file (CSV, zipped CSV or Parquet) -> ``raw_sales`` for the run date,
or a file of known-ahead drivers -> its driver table.

Sales: the file's columns map onto the contract through
``validation.sources.<source>.columns``; every value lands as text, so that a malformed one
is quarantined by validation, not a failed load. Re-running the same date replaces that load
(``replaceWhere`` on ``load_date``).

Drivers (``validation.ingest.table``: a table of ``forecast.driver_tables``): the file is the
whole table (past values as they happened and the current plan) and replaces it; a value
that is not a date or a number refuses the file.

The other input tables (``validation.ingest.table``: items, item_locations, locations,
calendar, open_orders, plan_overrides, inventory): columns by name (``columns`` renames),
typed by the table's contract, extra columns kept as text (attributes). A file replaces its
table, except inventory: its snapshots replace those with the same series and
``snapshot_date``, so the history that backfills plan on stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from skuplan import delta_io, schemas
from skuplan.columns import KEYS
from skuplan.conf import Conf
from skuplan.errors import ConfigError, InputError
from skuplan.pipeline.io import StageTables
from skuplan.quality.loader import CsvFormat, read_raw_file
from skuplan.quality.typed_files import read_driver_file, read_table_file

# Input tables a file can load, their contract, and the key a file's rows replace rows by
# (None: the file replaces the whole table).
INPUT_TABLES = {
    "items": (schemas.ITEMS, None),
    "item_locations": (schemas.ITEM_LOCATIONS, None),
    "locations": (schemas.LOCATION_MASTER, None),
    "calendar": (schemas.CALENDAR, None),
    "open_orders": (schemas.OPEN_ORDERS, None),
    "plan_overrides": (schemas.PLAN_OVERRIDES, None),
    "inventory": (schemas.INVENTORY, (*KEYS, "snapshot_date")),
}


def run(spark: SparkSession, conf: Conf) -> str:
    """Load ``validation.ingest.file`` into raw_sales as the load of ``conf.run_date``.

    Re-running the same date replaces that load (``replaceWhere`` on ``load_date``).

    Raises:
        ConfigError: no file was given.
        InputError: the file cannot be read or lacks a mapped column.
    """
    ingest = conf.validation.ingest
    if ingest.file is None:
        raise ConfigError("no file to load: pass --set validation.ingest.file=PATH")
    tables = StageTables(spark, conf, "ingest_files")
    # The file's normalised copy lives only as long as the load: Spark reads it lazily, so it
    # goes once the table is written (or the load failed).
    staging = conf.resolve(conf.warehouse) / "_staging" / conf.run_date.isoformat()
    try:
        if ingest.table == "raw_sales":
            return _ingest_sales(spark, conf, tables, staging)
        if ingest.table in INPUT_TABLES:
            return _ingest_table(conf, tables, staging)
        return _ingest_drivers(spark, conf, tables, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ingest_sales(spark: SparkSession, conf: Conf, tables: StageTables, staging: Path) -> str:
    ingest = conf.validation.ingest
    source = conf.validation.sources[ingest.source]
    raw_df = read_raw_file(
        spark,
        conf.resolve(ingest.file),
        columns=source.columns,
        source=ingest.source,
        load_date=conf.run_date,
        staging_dir=staging,
        fmt=CsvFormat(
            source.delimiter, source.encoding, f"validation.sources.{ingest.source}.encoding"
        ),
    )
    tables.replace(raw_df, "raw_sales", "load_date")
    return (
        f"ingest_files: {ingest.file} ({ingest.source}) loaded into raw_sales for {conf.run_date}"
    )


def _ingest_drivers(spark: SparkSession, conf: Conf, tables: StageTables, staging: Path) -> str:
    ingest = conf.validation.ingest
    spec = next((t for t in conf.forecast.driver_tables if t.table == ingest.table), None)
    if spec is None:
        known = ", ".join(t.table for t in conf.forecast.driver_tables) or "none configured"
        raise ConfigError(
            f"validation.ingest.table={ingest.table} is neither raw_sales, an input table "
            f"({', '.join(INPUT_TABLES)}) nor a table of forecast.driver_tables ({known})"
        )
    df = read_driver_file(
        spark,
        conf.resolve(ingest.file),
        keys=spec.keys,
        drivers=list(conf.forecast.drivers),
        renames=ingest.columns,
        staging_dir=staging,
    ).persist()
    rows = df.count()
    delta_io.overwrite_table(df, tables.ref(ingest.table))
    df.unpersist()
    drivers = [c for c in df.columns if c not in ("date", *spec.keys)]
    return (
        f"ingest_files: {ingest.file} loaded into {ingest.table} ({rows} rows; "
        f"drivers {', '.join(drivers)} by date{''.join(', ' + k for k in spec.keys)})"
    )


def _ingest_table(conf: Conf, tables: StageTables, staging: Path) -> str:
    ingest = conf.validation.ingest
    schema, keys = INPUT_TABLES[ingest.table]
    df = read_table_file(
        tables.spark,
        conf.resolve(ingest.file),
        schema=schema,
        renames=ingest.columns,
        staging_dir=staging,
    ).persist()
    try:
        rows = df.count()
        if keys is None:
            delta_io.overwrite_table(df, tables.ref(ingest.table))
        else:
            repeated = df.groupBy(*keys).count().filter(F.col("count") > 1).first()
            if repeated is not None:
                example = ", ".join(f"{k}={repeated[k]}" for k in keys)
                raise InputError(f"{ingest.file}: more than one row for {example}")
            delta_io.upsert(df, tables.ref(ingest.table), keys)
    finally:
        df.unpersist()
    how = "replaced" if keys is None else f"rows by {', '.join(keys)} replaced or added"
    return f"ingest_files: {ingest.file} loaded into {ingest.table} ({rows} rows; {how})"
