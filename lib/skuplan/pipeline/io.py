"""The tables of one stage run: reads, optional inputs, run stamps and idempotent writes.

A stage builds one :class:`StageTables` and goes through it for every table it touches, so
the table keys of ``conf.tables``, the run's id and the Delta calls live in one place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from skuplan import delta_io, logs, runs
from skuplan.conf import Conf
from skuplan.schemas import ITEMS, LOCATIONS
from skuplan.tableref import TableRef

log = logging.getLogger(__name__)

# Masters a run can do without: their rows come from the sales' keys (see StageTables.master).
DERIVABLE_MASTERS = {"items": ("sku", ITEMS), "locations": ("location", LOCATIONS)}


def new_run_id(job: str, run_date: dt.date) -> str:
    """A unique id for one execution of ``job`` for ``run_date`` (re-runs get new ids).

    Inside a job run (``skuplan.cli.main``) it is that run's id, so output rows join to their
    record in the ``runs`` table.
    """
    active = runs.active()
    return active.run_id if active is not None else runs.new_run_id(job, run_date)


class StageTables:
    """Reads and writes of one stage run for ``conf.run_date``.

    Attributes:
        run_id: stamped on every row written (see :func:`new_run_id`).
        missing: the masters this run took from the sales' keys (see :meth:`master`), for its
            summary.
    """

    def __init__(self, spark: SparkSession, conf: Conf, job: str) -> None:
        self.spark, self.conf, self.job = spark, conf, job
        self.run_date = conf.run_date
        self.run_id = new_run_id(job, conf.run_date)
        self.missing: list[str] = []

    def ref(self, key: str) -> TableRef:
        return self.conf.table(key)

    def exists(self, key: str) -> bool:
        return key in self.conf.tables and delta_io.table_exists(self.spark, self.ref(key))

    def read(
        self,
        key: str,
        *,
        required: Iterable[str] = (),
        types: StructType | None = None,
        what: str | None = None,
    ) -> DataFrame:
        """Table ``key``, pinned to its current version (see :func:`delta_io.read_table`).

        Raises:
            InputError: missing, unreadable, or lacking a required column.
        """
        return delta_io.read_table(
            self.spark, self.ref(key), required=required, types=types, what=what or _what(key)
        )

    def optional(
        self, key: str, *, required: Iterable[str] = (), what: str | None = None
    ) -> DataFrame | None:
        """Table ``key``, or None when it is not configured or not there yet."""
        return self.read(key, required=required, what=what) if self.exists(key) else None

    def master(
        self, key: str, keys_df: DataFrame, *, required: Iterable[str] = (), what: str
    ) -> DataFrame:
        """Master ``key`` (``items`` or ``locations``); without that table, one row per value
        of its key column in ``keys_df`` and every other contract column empty, so that a
        load of sales alone still validates and forecasts (planning reads the real tables and
        refuses without them). The run logs it and lists the table in ``missing``.
        """
        if self.exists(key):
            return self.read(key, required=required, what=what)
        column, schema = DERIVABLE_MASTERS[key]
        log.warning(
            "%s: no %s at %s: one row per %s of the sales, with default values",
            self.job, what, self.ref(key), column,
        )  # fmt: skip
        if key not in self.missing:
            self.missing.append(key)
        values = keys_df.select(column).where(F.col(column).isNotNull()).distinct()
        return values.select(
            *[
                F.col(f.name) if f.name == column else F.lit(None).cast(f.dataType).alias(f.name)
                for f in schema
            ]
        )

    def closed_days(self) -> list[dt.date]:
        """Dates the whole business is closed: the calendar's rows with ``closed`` true (none
        without a calendar or without that column). A table written by hand may hold the
        date as a timestamp or text and the flag as text (``true``/``1``, as ingest reads
        it); a value that is neither counts as open."""
        calendar_df = self.optional("calendar", required=["date"])
        if calendar_df is None or "closed" not in calendar_df.columns:
            return []
        is_closed = F.lower(F.trim(F.col("closed").cast("string"))).isin("true", "1")
        day = F.try_to_date(F.col("date").cast("string")).alias("day")
        rows = calendar_df.filter(is_closed).select(day).distinct().collect()
        return sorted(r["day"] for r in rows if r["day"] is not None)

    def newest_before(self, key: str) -> DataFrame | None:
        """The rows of table ``key`` that the newest run before this run date wrote (by
        ``run_date``), or None without any."""
        df = self.optional(key)
        if df is None:
            return None
        earlier_df = df.filter(F.col("run_date") < F.lit(self.run_date))
        newest = earlier_df.agg(F.max("run_date")).first()[0]
        if newest is None:
            return None
        return earlier_df.filter(F.col("run_date") == F.lit(newest))

    def of_run_date(self, df: DataFrame) -> DataFrame:
        """The rows of ``df`` written for this run date."""
        return df.filter(F.col("run_date") == F.lit(self.run_date))

    def stamp(self, df: DataFrame, schema: StructType | None = None) -> DataFrame:
        """``df`` behind this run's ``run_date, run_id`` columns; with ``schema``, in its
        column order and types (its ``run_date, run_id`` taken from this run)."""
        stamps = {"run_date": F.lit(self.run_date), "run_id": F.lit(self.run_id)}
        if schema is None:
            return df.select(*[v.alias(k) for k, v in stamps.items()], "*")

        def column(f: StructField) -> Column:
            if f.name in stamps:
                return stamps[f.name].cast(f.dataType).alias(f.name)
            same = df.schema[f.name].dataType.simpleString() == f.dataType.simpleString()
            return (F.col(f.name) if same else F.col(f.name).cast(f.dataType)).alias(f.name)

        return df.select(*[column(f) for f in schema])

    def replace(self, df: DataFrame, key: str, column: str = "run_date") -> None:
        """Replace this run date's partition (``column`` = the run date) of ``key`` with ``df``."""
        delta_io.replace_partition(df, self.ref(key), column, self.run_date)

    def delete_run_dates(self, key: str, dates: list) -> None:
        """Delete the rows of ``key`` of earlier ``dates`` (a retention window)."""
        delta_io.delete_partitions(self.spark, self.ref(key), "run_date", dates)

    def describe(self, what: str | None) -> None:
        """Label the Spark jobs that follow: ``<job> <run date>: <what>`` (None clears it)."""
        text = None if what is None else f"{self.job} {self.run_date}: {what}"
        logs.set_job_description(self.spark, text)


def _what(key: str) -> str:
    return key.replace("_", " ")
