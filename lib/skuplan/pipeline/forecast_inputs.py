"""What the forecast stage feeds the engine: each series' history and horizon rows, with
their known-ahead drivers and the item and location attributes.

The history is the clean sales before the run date as loaded on or before it (the latest
load of each day, so that re-running an old date reproduces its forecasts); the
horizon is one row per series and period from the run date on, without demand. Driver
tables (``forecast.driver_tables``) are joined onto both by date and their keys: the series
keys, an attribute such as ``region``, or none. A driver a table gives wins over the value
the sales carry (price, promo); a driver no table gives for a horizon period is filled by its
rule in the engine, which records it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

import pandas as pd
import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from skuplan.columns import KEYS
from skuplan.conf import ForecastSettings
from skuplan.errors import ConfigError, InputError
from skuplan.forecasting import closures
from skuplan.models.data import last_period
from skuplan.pipeline.io import StageTables
from skuplan.schemas import CLEAN_SALES

log = logging.getLogger(__name__)

HISTORY_COLUMNS = [*KEYS, "date", "qty", "price", "promo", "is_stockout"]
ALL = "all"  # global_group_by: one group (capped) of every series


def latest_loaded(clean_df: DataFrame) -> DataFrame:
    """One row per series and day: the one from the latest load, when loads overlap.

    A day re-sent in a later load (a correction, or a full reload) replaces the earlier one
    instead of adding to it.

    Input columns: ``HISTORY_COLUMNS`` and ``load_date``. Output: ``HISTORY_COLUMNS``.
    """
    measures = [c for c in HISTORY_COLUMNS if c not in (*KEYS, "date")]
    latest = F.max_by(F.struct(*measures), "load_date").alias("latest")
    return clean_df.groupBy(*KEYS, "date").agg(latest).select(*KEYS, "date", "latest.*")


def filter_history_window(
    df: DataFrame, run_date: dt.date, max_history_days: int | None
) -> DataFrame:
    """Rows before ``run_date`` and, with ``max_history_days``, not older than that: a
    series is held whole in one Python worker, so this bounds its memory and fitting time."""
    in_window = F.col("date") < F.lit(run_date)
    if max_history_days is not None:
        in_window &= F.col("date") >= F.lit(run_date - dt.timedelta(days=max_history_days))
    return df.filter(in_window)


def filter_loaded_by(df: DataFrame, run_date: dt.date) -> DataFrame:
    """Rows loaded on or before ``run_date``: what was known that day. A later load (a
    correction, a backfill) does not change an earlier run date's history."""
    return df.filter(F.col("load_date") <= F.lit(run_date))


def read_history(
    tables: StageTables, settings: ForecastSettings, closed: Collection[dt.date] = ()
) -> DataFrame:
    """Clean sales of the history window as known on the run date, the latest load of each
    day (``HISTORY_COLUMNS``), persisted: every step of the stage reads it (scores, paths,
    both fan-outs, their task plans). Refused when not loaded through the last period
    before the run date that is not a ``closed`` day (:func:`check_loaded_through`)."""
    types = StructType([CLEAN_SALES[c] for c in (*HISTORY_COLUMNS, "load_date")])
    history_df = (
        tables.read("clean_sales", types=types)
        .transform(filter_loaded_by, tables.run_date)
        .transform(filter_history_window, tables.run_date, settings.max_history_days)
        .transform(latest_loaded)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        check_loaded_through(history_df, tables.run_date, settings, closed)
    except InputError:
        history_df.unpersist()
        raise
    return history_df


def check_run_date(run_date: dt.date, freq: str) -> None:
    """Monthly data (``MS``) is forecast on the 1st: the months before are the history and
    the run date's month the first forecast. Another day would count its month's first days
    as a whole month of history and leave the rest of it without a forecast.

    Raises:
        ConfigError: a monthly run date that is not the 1st.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if offset.name == "MS" and not offset.is_on_offset(pd.Timestamp(run_date)):
        raise ConfigError(
            f"forecast.freq is MS (months) but run date {run_date} is not the 1st of a month: "
            f"run monthly forecasts on the 1st ({run_date.replace(day=1)} for this month)"
        )


def check_loaded_through(
    history_df: DataFrame,
    run_date: dt.date,
    settings: ForecastSettings,
    closed: Collection[dt.date] = (),
) -> None:
    """Refuse a history that ends before the last period before the run date in every
    series (a load not made yet): the models would read the periods between as periods
    without sales, and a series whose last days are zeros is forecast low. Daily data need
    not reach ``closed`` days (nothing sells then, so no load brings them).

    Raises:
        InputError: with ``forecast.unloaded_periods`` ``refuse``, the latest clean sale of
            all series is older than the last period before the run date.
    """
    if settings.unloaded_periods != "refuse":
        return
    needed = last_period(run_date, settings.freq)
    if settings.freq == "D":
        needed = closures.last_open_day(needed, closed)
    latest = history_df.agg(F.max("date")).first()[0]
    if latest is not None and latest < needed:
        raise InputError(
            f"clean sales end on {latest}, but forecasts from {run_date} need them through "
            f"{needed}: no series has a row after {latest}, and counting those periods as "
            f"without sales would forecast low; validate their sales first, or set "
            f"forecast.unloaded_periods=no_sales"
        )


def horizon_dates(run_date: dt.date, horizon: int, freq: str) -> list[dt.date]:
    """The periods forecast: ``horizon`` periods of ``freq`` from the run date."""
    return [d.date() for d in pd.date_range(pd.Timestamp(run_date), periods=horizon, freq=freq)]


def with_horizon(history_df: DataFrame, dates: list[dt.date]) -> DataFrame:
    """History rows and one row per series and horizon period (``qty`` and the other
    measures null)."""
    dates_df = history_df.sparkSession.createDataFrame([(d,) for d in dates], "date date")
    future_df = history_df.select(*KEYS).distinct().crossJoin(F.broadcast(dates_df))
    return history_df.unionByName(future_df, allowMissingColumns=True)


def read_attributes(tables: StageTables, names: list[str]) -> tuple[DataFrame, DataFrame]:
    """The wanted item attributes (by ``sku``) and location attributes (by ``location``).

    Raises:
        InputError: an attribute neither master has.
    """
    items_df = tables.read("items", required=["sku"], what="item master")
    locations_df = tables.optional("locations", required=["location"], what="location master")
    location_columns = locations_df.columns if locations_df is not None else ["location"]
    missing = [a for a in names if a not in items_df.columns and a not in location_columns]
    if missing:
        raise InputError(
            f"attribute(s) {', '.join(missing)} in neither the item nor the location master"
        )
    item_attrs = [a for a in names if a in items_df.columns and a not in KEYS]
    location_attrs = [a for a in names if a not in item_attrs and a not in KEYS]
    items = items_df.select("sku", *[F.col(a).cast("string") for a in item_attrs])
    locations = (
        locations_df.select("location", *[F.col(a).cast("string") for a in location_attrs])
        if locations_df is not None
        else tables.spark.createDataFrame([], "location string")
    )
    return items.dropDuplicates(["sku"]), locations.dropDuplicates(["location"])


def with_attributes(rows_df: DataFrame, tables: StageTables, names: list[str]) -> DataFrame:
    """``rows_df`` with the attribute columns (``unknown`` where a master lacks the row)."""
    if not names:
        return rows_df
    items_df, locations_df = read_attributes(tables, names)
    joined = rows_df.join(F.broadcast(items_df), "sku", "left").join(
        F.broadcast(locations_df), "location", "left"
    )
    return joined.fillna("unknown", subset=[a for a in names if a not in KEYS])


def with_drivers(rows_df: DataFrame, tables: StageTables, settings: ForecastSettings) -> DataFrame:
    """``rows_df`` with every configured driver: the first driver table that has a value for
    the row's date and keys, else the sales' own value (price, promo), else null.

    Input: rows with ``date``, the series keys and the attributes the tables are keyed by.
    """
    values: dict[str, list] = {name: [] for name in settings.drivers}
    for i, spec in enumerate(settings.driver_tables):
        table_df = tables.read(spec.table, required=[*spec.keys, "date"], what="driver table")
        columns = [c for c in settings.drivers if c in table_df.columns]
        if not columns:
            log.warning("driver table %s has none of %s", spec.table, ", ".join(settings.drivers))
            continue
        renamed = table_df.select(
            *spec.keys, "date", *[F.col(c).cast("double").alias(f"_d{i}_{c}") for c in columns]
        ).dropDuplicates([*spec.keys, "date"])
        rows_df = rows_df.join(renamed, [*spec.keys, "date"], "left")
        for c in columns:
            values[c].append(F.col(f"_d{i}_{c}"))
    own = {c: F.col(c).cast("double") for c in settings.drivers if c in rows_df.columns}
    chosen = {
        name: F.coalesce(*found, *([own[name]] if name in own else []), F.lit(None).cast("double"))
        for name, found in values.items()
    }
    dropped = [c for c in rows_df.columns if c.startswith("_d")]
    return rows_df.withColumns(chosen).drop(*dropped)


def series_rows(tables: StageTables, history_df: DataFrame, settings: ForecastSettings):
    """History and horizon rows of every series, with drivers and attributes: the fan-out's
    input."""
    keyed_by = {k for spec in settings.driver_tables for k in spec.keys} - set(KEYS)
    group = settings.global_group_by
    attributes = list(dict.fromkeys([*settings.attributes, *keyed_by,
                                     *([group] if group not in (*KEYS, ALL) else [])]))  # fmt: skip
    dates = horizon_dates(tables.run_date, settings.horizon, settings.freq)
    return (
        history_df.transform(with_horizon, dates)
        .transform(with_attributes, tables, attributes)
        .transform(with_drivers, tables, settings)
    )


def read_holidays(tables: StageTables) -> pd.DataFrame | None:
    """Events from the optional calendar table in Prophet's format (``holiday, ds``).

    The calendar is small (one row per event day), so it travels to the workers with the
    per-series function instead of being joined to every series.
    """
    calendar_df = tables.optional("calendar", required=["date", "event"])
    if calendar_df is None:
        log.info("no calendar table at %s: forecasting without events", tables.ref("calendar"))
        return None
    pdf = calendar_df.toPandas()
    return pd.DataFrame({"holiday": pdf["event"].astype(str), "ds": pd.to_datetime(pdf["date"])})
