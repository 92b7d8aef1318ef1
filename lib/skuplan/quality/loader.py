"""Raw files (CSV, zipped CSV, Parquet) -> ``raw_sales`` rows, every value as text, or a
table of known-ahead drivers (typed, refused whole on a malformed value).

Exports arrive messy: CR-only (old Mac) or CRLF line endings, a byte-order mark, UTF-16 or
Latin-1 text, semicolons for commas, quoted fields with commas, numbers where text is
expected. Spark's CSV reader does not split CR-only lines, so CSV bytes are first streamed
through a normaliser (decoded by their byte-order mark or the source's ``encoding``,
``\\r\\n`` and lone ``\\r`` turned into ``\\n``) into a UTF-8 staging file, which Spark then
reads with every column as a string. The source's column names map onto the contract
through config (``validation.sources.<name>``: ``columns``, contract name -> source name;
``delimiter``; ``encoding``). A file that is empty, has no rows, is not text in its encoding
or has a row whose fields do not match the header's is refused whole, in one line.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import errno
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from skuplan.errors import InputError
from skuplan.schemas import RAW_SALES

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

_CHUNK = 1 << 20
_REQUIRED = ("sku", "location", "date", "qty")
# A byte-order mark decides the encoding whatever the source's setting.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CORRUPT = "_corrupt_record"


@dataclass(frozen=True)
class CsvFormat:
    """How a source writes its CSV files (``validation.sources.<name>``)."""

    delimiter: str = ","
    encoding: str = "utf-8"  # used when the file has no byte-order mark
    setting: str = "the file's encoding"  # where to change it, for the error message


def normalise_csv(src: io.BufferedIOBase, dst: io.BufferedIOBase, encoding: str = "utf-8") -> None:
    """Copy CSV text as UTF-8 without a byte-order mark and with every line ending ``\\n``.

    A UTF-8 or UTF-16 byte-order mark decides the encoding; else ``encoding``. Streams in
    chunks; a ``\\r`` at the end of a chunk waits for the next one so that a CRLF split across
    chunks stays one line break.

    Raises:
        UnicodeDecodeError: the bytes are not text in that encoding (``start`` is the offset
            in the whole stream).
        ValueError: NUL bytes without a byte-order mark (UTF-16 without its mark).
    """
    chunk = src.read(_CHUNK)
    bom = next((name for mark, name in _BOMS if chunk.startswith(mark)), None)
    if bom is None and b"\x00" in chunk and not encoding.lower().startswith("utf-16"):
        raise ValueError("it holds NUL bytes: UTF-16 without a byte-order mark?")
    decoder = codecs.getincrementaldecoder(bom or encoding)("strict")
    offset, pending_cr = 0, False
    while True:
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(
                exc.encoding, exc.object, offset + exc.start, offset + exc.end, exc.reason
            ) from None
        offset += len(chunk)
        if pending_cr:
            text, pending_cr = "\r" + text, False
        if text.endswith("\r") and not final:
            text, pending_cr = text[:-1], True
        dst.write(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"))
        if final:
            return
        chunk = src.read(_CHUNK)


def _open_csv(path: Path):
    if path.suffix.lower() != ".zip":
        return path.open("rb")
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if not n.endswith("/")]
    if len(members) != 1:
        raise InputError(f"cannot read {path}: expected one file in the zip, found {len(members)}")
    return archive.open(members[0])


def _stage_csv(path: Path, staging_dir: Path, fmt: CsvFormat) -> Path:
    staging_dir.mkdir(parents=True, exist_ok=True)
    staged = staging_dir / (path.name.removesuffix(".zip") + ".normalised.csv")
    try:
        with _open_csv(path) as src, staged.open("wb") as dst:
            normalise_csv(src, dst, fmt.encoding)
    except FileNotFoundError:
        raise InputError(f"raw file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read {path}: not {fmt.encoding} text (byte {exc.start}: {exc.reason}); "
            f"set {fmt.setting} (e.g. latin-1, cp1252, utf-16)"
        ) from None
    except ValueError as exc:
        raise InputError(f"cannot read {path}: {exc} Set {fmt.setting}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise  # writing the staged copy: reported as a full disk (exit 11)
        raise InputError(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from None
    return staged


def _header(staged: Path, path: Path, delimiter: str) -> list[str]:
    """The CSV header's column names, trimmed (blank ones named ``_c<i>`` as Spark does)."""
    with staged.open(encoding="utf-8", newline="") as f:
        names = next(csv.reader(f, delimiter=delimiter), [])
    if not names:
        raise InputError(f"{path} is empty (no header)")
    names = [n.strip() or f"_c{i}" for i, n in enumerate(names)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: the header repeats column(s) {', '.join(repeated)}")
    return names


def _read_csv(spark: SparkSession, path: Path, staging_dir: Path, fmt: CsvFormat) -> DataFrame:
    """A CSV file (normalised first) as text columns; refused when it has no rows or a row
    whose fields do not match the header's (a ragged row could shift values into the wrong
    columns)."""
    staged = _stage_csv(path, staging_dir, fmt)
    names = _header(staged, path, fmt.delimiter)
    schema = StructType([StructField(n, StringType()) for n in [*names, _CORRUPT]])
    df = (
        spark.read.schema(schema)
        .option("header", True)
        .option("sep", fmt.delimiter)
        .option("multiLine", True)  # quoted fields may hold line breaks
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .csv(str(staged))
    )
    found = df.agg(
        F.count(F.lit(1)).alias("rows"),
        # Spark refuses a query of a raw CSV file that reads its corrupt-record column only.
        F.count(F.col(f"`{names[0]}`")).alias("_first"),
        F.count(_CORRUPT).alias("ragged"),
        F.first(_CORRUPT, ignorenulls=True).alias("example"),
    ).first()
    if found["ragged"]:
        example = found["example"].strip()[:80]
        raise InputError(
            f"{path}: {found['ragged']} row(s) do not have the header's {len(names)} "
            f"fields (delimiter {fmt.delimiter!r}), e.g. {example!r}"
        )
    if not found["rows"]:
        raise InputError(f"{path} has a header but no rows")
    return df.drop(_CORRUPT)


def _read_file(
    spark: SparkSession, path: Path, staging_dir: Path, fmt: CsvFormat = CsvFormat()
) -> DataFrame:
    """The file as Spark reads it: Parquet as is, CSV (normalised first) as text columns.

    Raises:
        InputError: the file is missing, empty or unreadable, has no rows, or (CSV) has a
            ragged row or is not text in its encoding.
    """
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    try:
        if path.suffix.lower() != ".parquet":
            return _read_csv(spark, path, staging_dir, fmt)
        df = spark.read.parquet(str(path))
        if df.isEmpty():
            raise InputError(f"{path} has no rows")
        return df
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
    fmt: CsvFormat = CsvFormat(),
) -> DataFrame:
    """Read a CSV (``.csv``, ``.csv.zip``) or Parquet (``.parquet``) file as raw sales.

    Args:
        columns: contract column -> source column; optional contract columns that are not
            mapped, or mapped but absent from the file, load as null.
        source: recorded in the ``source`` column.
        load_date: recorded in the ``load_date`` column.
        staging_dir: where a normalised copy of a CSV file is written for Spark to read.
        fmt: the CSV delimiter and encoding.

    Returns:
        A DataFrame with schema :data:`skuplan.schemas.RAW_SALES` (all measures as text).

    Raises:
        InputError: the file is missing, empty or unreadable, lacks a mapped column, or
            (CSV) has a ragged row or is not text in its encoding.
    """
    path = Path(path)
    df = _read_file(spark, path, staging_dir, fmt)
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
    df = _read_file(spark, path, staging_dir)
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
    used = set(source.values())
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
    return df.select(
        *[
            (typed[f.name] if f in present else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema
        ],
        *[F.col(f"`{c}`").cast("string").alias(c) for c in extra],
    )
