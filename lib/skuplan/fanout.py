"""Spark fan-out of a per-series pandas function: one ``groupBy(...).applyInPandas``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from skuplan.schemas import KEYS


def apply_per_series(
    history_df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    keys: Sequence[str] = KEYS,
) -> DataFrame:
    """Run ``fn`` once per series (one group of rows sharing ``keys``) on the executors.

    Each Python worker holds one group at a time, so memory is bounded by the longest series.
    """

    def per_series(pdf: pd.DataFrame) -> pd.DataFrame:
        # A plain function, so Spark does not try (and warn about failing) to read the type
        # hints of a functools.partial.
        return fn(pdf)

    return history_df.groupBy(*keys).applyInPandas(per_series, schema=schema)
