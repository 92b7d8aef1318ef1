"""Raw files (CSV, zipped CSV, Parquet) -> ``raw_sales`` rows, every value as text, or a
table of known-ahead drivers (typed, refused whole on a malformed value).

Exports arrive messy: CR-only (old Mac) or CRLF line endings, a UTF-8 byte-order mark,
quoted fields with commas, numbers where text is expected. Spark's CSV reader does not
split CR-only lines, so CSV bytes are first streamed through a normaliser (BOM dropped,
``\\r\\n`` and lone ``\\r`` turned into ``\\n``) into a staging file, which Spark then reads
with every column as a string. The source's column names map onto the contract through
config (``validation.sources.<name>.columns``: contract name -> source name).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from skuplan.errors import InputError
from skuplan.schemas import RAW_SALES

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_REQUIRED = ("sku", "location", "date", "qty")


def normalise_csv(src: io.BufferedIOBase, dst: io.BufferedIOBase) -> None:
    """Copy CSV bytes with the BOM removed and every line ending turned into ``\\n``.

    Streams in chunks; a ``\\r`` at the end of a chunk waits for the next byte so that a
    CRLF split across chunks stays one line break.
    """
    first = True
    pending_cr = False
    while chunk := src.read(_CHUNK):
        if first:
            chunk = chunk.removeprefix(_BOM)
            first = False
        if pending_cr:
            chunk = b"\r" + chunk
            pending_cr = False
        if chunk.endswith(b"\r"):
            chunk, pending_cr = chunk[:-1], True
        dst.write(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    if pending_cr:
        dst.write(b"\n")


def _open_csv(path: Path):
    if path.suffix.lower() != ".zip":
        return path.open("rb")
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if not n.endswith("/")]
    if len(members) != 1:
        raise InputError(f"cannot read {path}: expected one file in the zip, found {len(members)}")
    return archive.open(members[0])


def _stage_csv(path: Path, staging_dir: Path) -> Path:
    staging_dir.mkdir(parents=True, exist_ok=True)
    staged = staging_dir / (path.name.removesuffix(".zip") + ".normalised.csv")
    try:
        with _open_csv(path) as src, staged.open("wb") as dst:
            normalise_csv(src, dst)
    except FileNotFoundError:
        raise InputError(f"raw file not found: {path}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from None
    return staged


def _read_file(spark: SparkSession, path: Path, staging_dir: Path) -> DataFrame:
    """The file as Spark reads it: Parquet as is, CSV (normalised first) as text columns."""
    try:
        if path.suffix.lower() == ".parquet":
            return spark.read.parquet(str(path))
        staged = _stage_csv(path, staging_dir)
        return (
            spark.read.option("header", True)
            .option("inferSchema", False)
            .option("multiLine", True)  # quoted fields may hold line breaks
            .option("quote", '"')
            .option("escape", '"')
            .option("mode", "PERMISSIVE")
            .csv(str(staged))
        )
    except AnalysisException as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise InputError(f"cannot read {path}: {first_line}") from None


def read_raw_file(
    spark: SparkSession,
    path: str | Path,
    *,
    columns: Mapping[str, str],
    source: str,
    load_date: dt.date,
    staging_dir: Path,
) -> DataFrame:
    """Read a CSV (``.csv``, ``.csv.zip``) or Parquet (``.parquet``) file as raw sales.

    Args:
        columns: contract column -> source column; optional contract columns that are not
            mapped, or mapped but absent from the file, load as null.
        source: recorded in the ``source`` column.
        load_date: recorded in the ``load_date`` column.
        staging_dir: where a normalised copy of a CSV file is written for Spark to read.

    Returns:
        A DataFrame with schema :data:`skuplan.schemas.RAW_SALES` (all measures as text).

    Raises:
        InputError: the file is missing or unreadable, or lacks a mapped column.
    """
    path = Path(path)
    df = _read_file(spark, path, staging_dir)
    # Header names are trimmed: exports often pad them.
    df = df.toDF(*[c.strip() for c in df.columns])
    # The keys, date and quantity must be there; a missing optional column loads as null.
    missing = sorted(
        {src for c, src in columns.items() if c in _REQUIRED and src not in df.columns}
    )
    if missing:
        raise InputError(
            f"{path} lacks mapped column(s) {', '.join(missing)} (has {', '.join(df.columns)})"
        )
    contract = [f.name for f in RAW_SALES.fields if f.name not in ("source", "load_date")]
    return df.select(
        *[
            F.col(f"`{columns[c]}`").cast("string").alias(c)
            if c in columns and columns[c] in df.columns
            else F.lit(None).cast("string").alias(c)
            for c in contract
        ],
        F.lit(source).alias("source"),
        F.lit(load_date).alias("load_date"),
    )


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
    df = _read_file(spark, path, staging_dir)
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
    _refuse_malformed(df, path, text, typed, source)
    return df.select(
        *[F.col(f"`{source[k]}`").cast("string").alias(k) for k in keys],
        typed["date"].alias("date"),
        *[typed[c].alias(c) for c in present],
    )


def _refuse_malformed(df: DataFrame, path: Path, text: dict, typed: dict, source: dict) -> None:
    """Raise InputError on the first column with a value that did not parse: a driver may
    be empty (filled by its rule later), a date may not."""
    malformed = {
        c: typed[c].isNull()
        & (F.lit(True) if c == "date" else F.coalesce(text[c], F.lit("")) != "")
        for c in typed
    }
    bad = df.select(
        *[F.count_if(malformed[c]).alias(c) for c in typed],
        *[F.first(F.when(malformed[c], F.coalesce(text[c], F.lit(""))), True).alias(f"_e_{c}")
          for c in typed],
    ).first()  # fmt: skip
    for c in typed:
        if bad[c]:
            kind = "a date (yyyy-MM-dd)" if c == "date" else "a number"
            raise InputError(
                f"{path}: {bad[c]} value(s) of {source[c]} are not {kind}, e.g. {bad[f'_e_{c}']!r}"
            )
