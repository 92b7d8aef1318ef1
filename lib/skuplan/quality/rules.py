"""Row rules for raw sales, evaluated as Spark column expressions in one pass.

Each rule adds its reason code to the row's ``reasons`` array; a row with no reason is
clean. Codes are stable strings that planners and dashboards can group on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

NULL_KEY = "null_key"
BAD_DATE = "bad_date"
FUTURE_DATE = "future_date"
NON_NUMERIC_QTY = "non_numeric_qty"
NEGATIVE_QTY = "negative_qty"
BAD_PRICE = "bad_price"
UNKNOWN_SKU = "unknown_sku"
UNKNOWN_LOCATION = "unknown_location"
DUPLICATE = "duplicate"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
REASONS = (
    NULL_KEY,
    BAD_DATE,
    FUTURE_DATE,
    NON_NUMERIC_QTY,
    NEGATIVE_QTY,
    BAD_PRICE,
    UNKNOWN_SKU,
    UNKNOWN_LOCATION,
    DUPLICATE,
    CONFLICTING_DUPLICATE,
)

# The raw text columns the rules read.
RAW_TEXT_COLUMNS = ("sku", "location", "date", "qty", "price", "promo", "is_stockout")
_TRUE_STRINGS = ("1", "true", "t", "yes", "y")


def _blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def _not_finite(col: Column) -> Column:
    """NaN or infinite: Spark parses "NaN", "Infinity", "inf" and "1e309" as doubles."""
    return F.isnan(col) | (F.abs(col) == F.lit(float("inf")))


def _flag(col: Column) -> Column:
    return F.coalesce(F.lower(F.trim(col)).isin(*_TRUE_STRINGS), F.lit(False))


# A date, or a date and time as ISO 8601 writes them (``T`` or a space; seconds, a fraction
# and a zone optional), as exports and Parquet timestamps cast to text give them. The sale's
# day is the date as written: the local day where a zone is given.
_DATE_OR_TIME = (
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?$"
)


def with_parsed_sales(raw_df: DataFrame) -> DataFrame:
    """Add typed ``p_*`` columns parsed from raw text; unparseable values become null.

    Input columns: ``sku, location, date, qty, price, promo, is_stockout``.
    Output adds: ``p_sku, p_location`` (trimmed), ``p_date`` (date; see ``_DATE_OR_TIME``),
    ``p_qty, p_price`` (double), ``p_promo, p_is_stockout`` (boolean).
    """
    date = F.trim("date")
    return raw_df.select(
        "*",
        F.trim("sku").alias("p_sku"),
        F.trim("location").alias("p_location"),
        F.when(
            date.rlike(_DATE_OR_TIME), F.try_to_date(F.substring(date, 1, 10), "yyyy-MM-dd")
        ).alias("p_date"),
        F.trim("qty").try_cast("double").alias("p_qty"),
        F.trim("price").try_cast("double").alias("p_price"),
        _flag(F.col("promo")).alias("p_promo"),
        _flag(F.col("is_stockout")).alias("p_is_stockout"),
    )


def key_hash() -> Column:
    """A 64-bit hash of a parsed row's key (``p_sku, p_location, p_date``)."""
    return F.xxhash64("p_sku", "p_location", "p_date")


def shared_key_hashes(parsed_df: DataFrame) -> DataFrame:
    """``_key_hash`` of every key that more than one row has: the only possible duplicates.

    One aggregation over three parsed columns. A hash collision adds a key that is not
    shared, which costs a little time and nothing else: the duplicate rule still compares
    the keys themselves.
    """
    return (
        parsed_df.groupBy(key_hash().alias("_key_hash"))
        .count()
        .filter(F.col("count") > 1)
        .select("_key_hash")
    )


def _codes(*codes: Column) -> Column:
    """The array of the non-null ``codes`` (``array_except`` is compiled; a lambda is not)."""
    return F.array_except(F.array(*codes), F.array(F.lit(None).cast("string")))


def with_quarantine_reasons(
    parsed_df: DataFrame,
    *,
    run_date: dt.date,
    allow_returns: bool,
    known_skus_df: DataFrame,
    known_locations_df: DataFrame,
    shared_hashes: Sequence[int] | None = None,
) -> DataFrame:
    """Add ``reasons`` (array of rule codes, empty when the row is clean).

    Input: the output of :func:`with_parsed_sales`. ``known_skus_df`` has a ``sku`` column and
    ``known_locations_df`` a ``location`` column (the master data).

    Duplicates are judged among rows that break no other rule: of the rows sharing
    ``sku, location, date``, the one with the highest quantity (then price, promo, stockout
    flag) is kept; the others are ``duplicate`` when identical to it and
    ``conflicting_duplicate`` when not. Judging them takes a window over the rows, a shuffle
    and a sort of every row it covers. ``shared_hashes``, the values of
    :func:`shared_key_hashes`, confines it to the rows that can be duplicates (none, on a
    clean load); None sends every row through it.
    """
    skus = known_skus_df.select(
        F.col("sku").alias("_m_sku"), F.lit(True).alias("_has_sku")
    ).distinct()
    locs = known_locations_df.select(
        F.col("location").alias("_m_location"), F.lit(True).alias("_has_location")
    ).distinct()
    df = parsed_df.join(F.broadcast(skus), F.col("p_sku") == F.col("_m_sku"), "left").join(
        F.broadcast(locs), F.col("p_location") == F.col("_m_location"), "left"
    )
    key_missing = _blank(F.col("sku")) | _blank(F.col("location"))
    checks = [
        (key_missing, NULL_KEY),
        (F.col("p_date").isNull(), BAD_DATE),
        (F.col("p_date") > F.lit(run_date), FUTURE_DATE),
        (F.col("p_qty").isNull() | _not_finite(F.col("p_qty")), NON_NUMERIC_QTY),
        ((F.col("p_price") <= 0) | _not_finite(F.col("p_price")), BAD_PRICE),
        (~key_missing & F.col("_has_sku").isNull(), UNKNOWN_SKU),
        (~key_missing & F.col("_has_location").isNull(), UNKNOWN_LOCATION),
    ]
    if not allow_returns:
        checks.append((F.col("p_qty") < 0, NEGATIVE_QTY))
    base_reasons = _codes(*[F.when(cond, F.lit(code)) for cond, code in checks])
    df = df.withColumn("_base", base_reasons).drop(
        "_m_sku", "_has_sku", "_m_location", "_has_location"
    )
    if shared_hashes is None:
        return _with_duplicate_reasons(df)
    if not shared_hashes:
        return df.withColumnRenamed("_base", "reasons")
    hashes = F.broadcast(
        df.sparkSession.createDataFrame([(h,) for h in shared_hashes], "_key_hash long")
    )
    keyed = df.withColumn("_key_hash", key_hash())
    single = keyed.join(hashes, "_key_hash", "left_anti").withColumnRenamed("_base", "reasons")
    shared = _with_duplicate_reasons(keyed.join(hashes, "_key_hash", "left_semi"))
    return single.unionByName(shared).drop("_key_hash")


def _with_duplicate_reasons(df: DataFrame) -> DataFrame:
    """``reasons``: ``_base`` plus the duplicate rule, judged by a window over ``df``."""
    # Rows with another problem form their own partitions so they never shadow a good row.
    # Rows tied on the parsed values are ordered by their raw text too, so which one is kept
    # (and which raw row lands in quarantine) never depends on the order rows arrive in.
    order = [F.col(c).desc_nulls_last() for c in ("p_qty", "p_price", "p_promo", "p_is_stockout")]
    raw = [c for c in (*RAW_TEXT_COLUMNS, "source") if c in df.columns]
    order += [F.col(c).asc_nulls_last() for c in raw]
    by_key = Window.partitionBy(F.size("_base") > 0, "p_sku", "p_location", "p_date")
    rank = F.row_number().over(by_key.orderBy(*order))
    first_of = {
        c: F.first(c).over(by_key.orderBy(*order))
        for c in ("p_qty", "p_price", "p_promo", "p_is_stockout")
    }
    is_same_as_kept = F.lit(True)
    for c, kept in first_of.items():
        is_same_as_kept = is_same_as_kept & F.col(c).eqNullSafe(kept)
    dup_reason = (
        F.when((F.size("_base") > 0) | (rank == 1), F.lit(None))
        .when(is_same_as_kept, F.lit(DUPLICATE))
        .otherwise(F.lit(CONFLICTING_DUPLICATE))
    )
    reasons = F.concat("_base", _codes(dup_reason))
    return df.withColumn("reasons", reasons).drop("_base")


def filter_clean(flagged_df: DataFrame) -> DataFrame:
    """Rows that broke no rule."""
    return flagged_df.filter(F.size("reasons") == 0)


def filter_quarantined(flagged_df: DataFrame) -> DataFrame:
    """Rows that broke at least one rule."""
    return flagged_df.filter(F.size("reasons") > 0)
