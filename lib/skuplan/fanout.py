"""Spark fan-out of a per-series pandas function: one ``groupBy(...).applyInPandas``.

``partitions`` hash-partitions the input by the group keys first, into that many tasks.
The work is CPU per group, not bytes, so the number of tasks should follow the cores:
left to adaptive execution, a few megabytes of history are coalesced into one or two
tasks and cores sit idle (or one long task holds the stage).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from skuplan.schemas import KEYS


def _partitioned(df: DataFrame, keys: Sequence[str], partitions: int | None) -> DataFrame:
    return df if partitions is None else df.repartition(partitions, *keys)


def apply_per_series(
    history_df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    keys: Sequence[str] = KEYS,
    partitions: int | None = None,
) -> DataFrame:
    """Run ``fn`` once per series (one group of rows sharing ``keys``) on the executors.

    Each Python worker holds one group at a time, so memory is bounded by the longest series.
    """

    def per_series(pdf: pd.DataFrame) -> pd.DataFrame:
        # A plain function, so Spark does not try (and warn about failing) to read the type
        # hints of a functools.partial.
        return fn(pdf)

    return (
        _partitioned(history_df, keys, partitions)
        .groupBy(*keys)
        .applyInPandas(per_series, schema=schema)
    )


def apply_per_series_with(
    history_df: DataFrame,
    extra_df: DataFrame,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: StructType,
    keys: Sequence[str] = KEYS,
    partitions: int | None = None,
) -> DataFrame:
    """Like :func:`apply_per_series`, with each series' rows of ``extra_df`` as a second frame.

    One ``cogroup(...).applyInPandas``: a series without rows in ``extra_df`` gets an empty
    frame; a group with no history rows is skipped.
    """

    def per_series(history_pdf: pd.DataFrame, extra_pdf: pd.DataFrame) -> pd.DataFrame:
        if history_pdf.empty:
            return pd.DataFrame(columns=schema.fieldNames())
        return fn(history_pdf, extra_pdf)

    return (
        _partitioned(history_df, keys, partitions)
        .groupBy(*keys)
        .cogroup(_partitioned(extra_df, keys, partitions).groupBy(*keys))
        .applyInPandas(per_series, schema=schema)
    )


def apply_per_group(
    df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    group_by: Sequence[str],
    partitions: int | None = None,
) -> DataFrame:
    """Run ``fn`` once per group of series (e.g. all series of a store) on the executors."""

    def per_group(pdf: pd.DataFrame) -> pd.DataFrame:
        return fn(pdf)

    return (
        _partitioned(df, group_by, partitions)
        .groupBy(*group_by)
        .applyInPandas(per_group, schema=schema)
    )
