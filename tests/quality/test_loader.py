"""Raw file loading: line endings, encodings, delimiters, quotes, wrong types, mapping, files
refused whole (empty, header-only, ragged), unreadable files."""

import codecs
import datetime as dt
import io

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from skuplan.errors import InputError
from skuplan.quality import loader

from conftest import ROOT

LOAD = dt.date(2026, 6, 30)
MAPPING = {"sku": "Item", "location": "Store", "date": "Day", "qty": "Units", "price": "Price"}
ROWS = [
    b"Item,Store,Day,Units,Price",
    b'"A, large",S1,2026-06-01,3,2.5',
    b'B,S1,2026-06-02,n/a,"1,5"',
    b"C,S2,2026-06-03,-1,",
]
SHARED = ROOT.parent / "shared" / "data" / "walmart_recruiting"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\r\nb\r\n", b"a\nb\n"),
        (b"a\rb\r", b"a\nb\n"),
        (b"\xef\xbb\xbfa\nb", b"a\nb"),
        (b'"x\r\ny",1\r', b'"x\ny",1\n'),
    ],
)
def test_normalise_csv(data, expected):
    out = io.BytesIO()
    loader.normalise_csv(io.BytesIO(data), out)
    assert out.getvalue() == expected


def test_a_crlf_split_across_chunks_stays_one_line_break(monkeypatch):
    monkeypatch.setattr(loader, "_CHUNK", 2)
    out = io.BytesIO()
    loader.normalise_csv(io.BytesIO(b"a\r\nb\rc\r\n"), out)
    assert out.getvalue() == b"a\nb\nc\n"


def test_a_decoding_error_gives_its_offset_in_the_whole_file(monkeypatch):
    monkeypatch.setattr(loader, "_CHUNK", 4)
    with pytest.raises(UnicodeDecodeError) as caught:
        loader.normalise_csv(io.BytesIO(b"a\r\nbcdefg\xe9\n"), io.BytesIO())
    assert caught.value.start == 9
    # A character split across chunks decodes whole; a CR at a chunk's end waits for its LF.
    out = io.BytesIO()
    loader.normalise_csv(io.BytesIO("abc\r\né\r\n".encode()), out)
    assert out.getvalue() == "abc\né\n".encode()


def _load(spark, tmp_path, content, name="sales.csv", **kwargs):
    path = tmp_path / name
    path.write_bytes(content)
    return loader.read_raw_file(
        spark, path, columns=kwargs.get("columns", MAPPING), source="erp", load_date=LOAD,
        staging_dir=tmp_path / "staging", fmt=kwargs.get("fmt", loader.CsvFormat()),
    )  # fmt: skip


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
def test_every_line_ending_and_a_bom_give_the_same_rows(spark, tmp_path, ending, bom):
    df = _load(spark, tmp_path, bom + ending.join(ROWS) + ending)
    # Every value as text, as written; the unmapped promo and stockout flags are null.
    expected = spark.createDataFrame(
        [
            ("A, large", "S1", "2026-06-01", "3", "2.5", None, None, "erp", LOAD),
            ("B", "S1", "2026-06-02", "n/a", "1,5", None, None, "erp", LOAD),
            ("C", "S2", "2026-06-03", "-1", None, None, None, "erp", LOAD),
        ],
        "sku string, location string, date string, qty string, price string, promo string, "
        "is_stockout string, source string, load_date date",
    )
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def _expected(spark, rows):
    return spark.createDataFrame(
        [(*r, None, None, None, "erp", LOAD) for r in rows],
        "sku string, location string, date string, qty string, price string, promo string, "
        "is_stockout string, source string, load_date date",
    )


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("latin-1", b""), ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)],
)
def test_latin_1_and_utf_16_files_with_semicolons_load(spark, tmp_path, encoding, bom):
    text = "Item;Store;Day;Units\r\nCafé crème;Zürich;2026-06-01;3\r\n"
    setting = "latin-1" if encoding == "latin-1" else "utf-8"  # UTF-16 is told by its mark
    df = _load(spark, tmp_path, bom + text.encode(encoding),
               fmt=loader.CsvFormat(";", setting))  # fmt: skip
    expected = _expected(spark, [("Café crème", "Zürich", "2026-06-01", "3")])
    assert_df_equality(df, expected, ignore_nullable=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"sales\.csv is empty \(0 bytes\)$"),
        (codecs.BOM_UTF8, r"sales\.csv is empty \(no header\)$"),
        (b"Item,Store,Day,Units\r\n", r"sales\.csv has a header but no rows$"),
        (
            b"Item,Store,Day,Units\nA,S1,2026-06-01,3\nB,S1,2026-06-02\nC,S1,2026-06-03,1,9\n",
            r"sales\.csv: 2 row\(s\) do not have the header's 4 fields \(delimiter ','\), "
            r"e\.g\. 'B,S1,2026-06-02'$",
        ),
        (
            "Item,Store,Day,Units\nCafé,S1,2026-06-01,3\n".encode("latin-1"),
            r"sales\.csv: not utf-8 text \(byte 24: invalid continuation byte\); set "
            r"validation\.sources\.erp\.encoding \(e\.g\. latin-1, cp1252, utf-16\)$",
        ),
        (
            "Item,Store\nA,S1\n".encode("utf-16-le"),
            r"it holds NUL bytes: UTF-16 without a byte-order mark\? Set "
            r"validation\.sources\.erp\.encoding$",
        ),
        (b"Item,Store,Item,Units\nA,S1,B,3\n", r"sales\.csv: the header repeats column\(s\) Item$"),
    ],
    ids=[
        "zero-byte",
        "bom-only",
        "header-only",
        "ragged",
        "latin-1-as-utf-8",
        "utf-16-without-bom",
        "repeated",
    ],
)
def test_files_that_cannot_load_whole_are_one_line_errors(spark, tmp_path, content, message):
    fmt = loader.CsvFormat(setting="validation.sources.erp.encoding")
    with pytest.raises(InputError, match=message) as caught:
        _load(spark, tmp_path, content, fmt=fmt)
    assert "\n" not in str(caught.value)


def test_parquet_timestamps_load_as_text_that_validation_reads_as_dates(spark, tmp_path):
    from skuplan.quality import rules

    path = tmp_path / "sales.parquet"
    spark.createDataFrame(
        [("A", "S1", dt.datetime(2026, 6, 1, 13, 45), 3)],
        "Item string, Store string, Day timestamp, Units int",
    ).write.parquet(str(path))
    df = loader.read_raw_file(
        spark, path, columns=MAPPING, source="erp", load_date=LOAD, staging_dir=tmp_path
    ).transform(rules.with_parsed_sales)
    assert df.select("p_date").first()[0] == dt.date(2026, 6, 1)


def test_an_empty_parquet_file_is_refused(spark, tmp_path):
    path = tmp_path / "sales.parquet"
    spark.createDataFrame([], "Item string, Store string, Day date, Units int").write.parquet(
        str(path)
    )
    with pytest.raises(InputError, match=r"sales\.parquet has no rows$"):
        loader.read_raw_file(spark, path, columns=MAPPING, source="erp", load_date=LOAD,
                             staging_dir=tmp_path)  # fmt: skip


def test_parquet_with_typed_columns_lands_as_text(spark, tmp_path):
    path = tmp_path / "sales.parquet"
    spark.createDataFrame(
        [("A", "S1", dt.date(2026, 6, 1), 3, 2.5)],
        "Item string, Store string, Day date, Units int, Price double",
    ).write.parquet(str(path))
    df = loader.read_raw_file(
        spark, path, columns=MAPPING, source="erp", load_date=LOAD, staging_dir=tmp_path
    )
    assert tuple(df.select("date", "qty", "price").first()) == ("2026-06-01", "3", "2.5")


def test_unreadable_files_are_one_line_input_errors(spark, tmp_path):
    with pytest.raises(InputError, match=r"^raw file not found: .*missing\.csv$"):
        loader.read_raw_file(spark, tmp_path / "missing.csv", columns=MAPPING, source="x",
                             load_date=LOAD, staging_dir=tmp_path)  # fmt: skip
    with pytest.raises(InputError, match=r"cannot read .*bad\.csv\.zip: BadZipFile"):
        _load(spark, tmp_path, b"not a zip", name="bad.csv.zip")
    with pytest.raises(
        InputError, match=r"lacks mapped column\(s\) Units \(has Item, Store, Day\)"
    ):
        _load(spark, tmp_path, b"Item,Store,Day\nA,S1,2026-06-01\n")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared Walmart data not found at {SHARED}")
def test_walmart_files_load(spark, make_conf, tmp_path):
    # stores.csv ships with CR-only line endings.
    stores = loader.read_raw_file(
        spark, SHARED / "stores.csv", columns={"sku": "Type", "location": "Store", "date": "Size",
                                               "qty": "Size"},
        source="walmart", load_date=LOAD, staging_dir=tmp_path,
    )  # fmt: skip
    assert stores.count() == 45
    assert stores.filter("location = '1'").first().sku == "A"

    walmart = make_conf().validation.sources["walmart"].columns
    train = loader.read_raw_file(spark, SHARED / "train.csv.zip", columns=walmart,
                                 source="walmart", load_date=LOAD, staging_dir=tmp_path)  # fmt: skip
    counts = train.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if(F.col("qty").try_cast("double") < 0).alias("returns"),
        F.countDistinct("sku", "location").alias("series"),
    ).first()
    assert (counts.rows, counts.series) == (421570, 3331)
    assert counts.returns > 0
