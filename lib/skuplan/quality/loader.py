"""Raw files (CSV, zipped CSV, Parquet) -> ``raw_sales`` rows, every value as text; and the
file reading that typed tables share (:mod:`skuplan.quality.typed_files`).

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
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from skuplan.errors import InputError
from skuplan.schemas import RAW_SALES

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


def read_file(
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
    df = read_file(spark, path, staging_dir, fmt)
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
