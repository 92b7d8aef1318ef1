"""Files of typed tables, read by column name: known-ahead drivers, and the input tables
(masters, inventory, calendar, open orders, overrides) in their contract's types.

Unlike raw sales (:mod:`skuplan.quality.loader`, every value kept as text for validation to
quarantine), a value here that does not parse refuses the whole file in one line: these
tables are small, replaced whole and read by every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from skuplan.errors import InputError
from skuplan.quality.loader import read_file

DATE, NUMBER = "a date (yyyy-MM-dd)", "a number"
_KINDS = {  # how a text value becomes a contract column's type, and what it must look like
    "date": (lambda t: F.try_to_date(t, "yyyy-MM-dd"), DATE),
    "timestamp": (F.try_to_timestamp, "a timestamp (yyyy-MM-dd HH:mm:ss)"),
    "double": (lambda t: t.try_cast("double"), NUMBER),
    "int": (lambda t: t.try_cast("int"), "a whole number"),
    "boolean": (
        lambda t: F.when(F.lower(t).isin("true", "1"), True).when(
            F.lower(t).isin("false", "0"), False
        ),
        "true/false or 1/0",
    ),
}


def read_driver_file(
    spark: SparkSession,
    path: str | Path,
    *,
    keys: Sequence[str],
    drivers: Sequence[str],
    renames: Mapping[str, str],
    staging_dir: Path,
) -> DataFrame:
    """Read a file of known-ahead drivers: ``date`` (``yyyy-MM-dd``), the ``keys`` as text,
    and each of ``drivers`` the file has as a number (``true``/``false`` count as 1/0).

    Args:
        renames: table column -> file column, for files that name them differently.

    Raises:
        InputError: the file is unreadable, lacks the date, a key or every driver, or has a
            value that is not a date or a number (one line: the column, count, an example).
    """
    path = Path(path)
    df = read_file(spark, path, staging_dir)
    df = df.toDF(*[c.strip() for c in df.columns])
    source = {c: renames.get(c, c) for c in ("date", *keys, *drivers)}
    missing = [source[c] for c in ("date", *keys) if source[c] not in df.columns]
    present = [d for d in drivers if source[d] in df.columns]
    if missing or not present:
        wanted = ", ".join(missing) if missing else f"any of {', '.join(drivers)}"
        raise InputError(f"{path} lacks {wanted} (has {', '.join(df.columns)})")
    text = {c: F.trim(F.col(f"`{source[c]}`").cast("string")) for c in ("date", *present)}
    lowered = {c: F.lower(text[c]) for c in present}
    typed = {
        "date": F.try_to_date(text["date"], "yyyy-MM-dd"),
        **{
            c: F.when(lowered[c] == "true", 1.0)
            .when(lowered[c] == "false", 0.0)
            .otherwise(text[c].try_cast("double"))
            for c in present
        },
    }
    kinds = {c: DATE if c == "date" else NUMBER for c in typed}
    _refuse_malformed(df, path, text, typed, source, kinds)
    return df.select(
        *[F.col(f"`{source[k]}`").cast("string").alias(k) for k in keys],
        typed["date"].alias("date"),
        *[typed[c].alias(c) for c in present],
    )


def _refuse_malformed(
    df: DataFrame,
    path: Path,
    text: dict,
    typed: dict,
    source: dict,
    kinds: Mapping[str, str],
    required: Sequence[str] = ("date",),
) -> None:
    """Raise InputError on the first column with a value that did not parse as its kind
    (``kinds``: column -> "a number", ...): an optional column may be empty (filled later),
    a ``required`` one may not."""
    malformed = {
        c: typed[c].isNull()
        & (F.lit(True) if c in required else F.coalesce(text[c], F.lit("")) != "")
        for c in typed
    }
    bad = df.select(
        *[F.count_if(malformed[c]).alias(c) for c in typed],
        *[F.first(F.when(malformed[c], F.coalesce(text[c], F.lit(""))), True).alias(f"_e_{c}")
          for c in typed],
    ).first()  # fmt: skip
    for c in typed:
        if bad[c]:
            raise InputError(
                f"{path}: {bad[c]} value(s) of {source[c]} are not {kinds[c]}, e.g. {bad[f'_e_{c}']!r}"
            )


def read_table_file(
    spark: SparkSession,
    path: str | Path,
    *,
    schema: StructType,
    renames: Mapping[str, str],
    staging_dir: Path,
) -> DataFrame:
    """Read a file of an input table (a master, inventory, open orders, overrides, calendar)
    in its contract ``schema``: columns by name (``renames``: table column -> file column),
    each typed; contract columns the file lacks are null, other columns are kept as text
    (attributes such as a department).

    Raises:
        InputError: the file is unreadable, lacks a required (non-null) column, leaves one
            empty, or has a value that does not parse (one line: the column, count, an example).
    """
    path = Path(path)
    df = read_file(spark, path, staging_dir)
    df = df.toDF(*[c.strip() for c in df.columns])
    source = {f.name: renames.get(f.name, f.name) for f in schema}
    required = [f.name for f in schema if not f.nullable]
    missing = [source[c] for c in required if source[c] not in df.columns]
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)} (has {', '.join(df.columns)})")
    present = [f for f in schema if source[f.name] in df.columns]
    text = {f.name: F.trim(F.col(f"`{source[f.name]}`").cast("string")) for f in present}
    text = {c: F.when(t != "", t) for c, t in text.items()}
    typed, kinds = {}, {}
    for f in present:
        kind = f.dataType.simpleString()
        if kind == "string":
            typed[f.name] = text[f.name]
            continue
        parse, kinds[f.name] = _KINDS[kind]
        typed[f.name] = parse(text[f.name])
    checked = {c: typed[c] for c in kinds}
    _refuse_malformed(df, path, text, checked, source, kinds, required)
    plain = [c for c in required if c not in kinds]  # required text columns
    empty = (
        df.select(*[F.count_if(text[c].isNull()).alias(c) for c in plain]).first() if plain else {}
    )
    for c in plain:
        if empty[c]:
            raise InputError(f"{path}: {empty[c]} row(s) leave {source[c]} empty")
    extra = _extra_columns(df, path, schema, set(source.values()))
    return df.select(
        *[
            (typed[f.name] if f in present else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema
        ],
        *[F.col(f"`{c}`").cast("string").alias(c) for c in extra],
    )


def _extra_columns(df: DataFrame, path: Path, schema: StructType, used: set[str]) -> list[str]:
    """The file's columns beyond the contract's, checked so that a Delta table takes them.

    Raises:
        InputError: a name with a character Delta refuses, or one that differs from a
            contract column only in case.
    """
    extra = [c for c in df.columns if c not in used]
    refused = [c for c in extra if re.search(r"[ ,;{}()\n\t=]", c)]
    if refused:
        raise InputError(
            f"{path}: column name(s) {', '.join(map(repr, refused))} hold a character Delta "
            "refuses (space , ; { } ( ) = tab newline): rename or drop them"
        )
    clash = [c for c in extra if c.lower() in {f.name.lower() for f in schema}]
    if clash:
        raise InputError(
            f"{path}: column(s) {', '.join(clash)} differ from contract columns only in case"
        )
    return extra
