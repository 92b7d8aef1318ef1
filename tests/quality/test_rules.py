import datetime as dt

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from skuplan.quality import rules
from skuplan.schemas import RAW_SALES

RUN_DATE = dt.date(2026, 6, 30)
LOAD = dt.date(2026, 6, 30)


def _raw(spark, rows):
    full = [(*r, "test", LOAD) for r in rows]
    return spark.createDataFrame(full, RAW_SALES)


@pytest.fixture(params=["window over every row", "shared keys only"])
def duplicate_path(request):
    """The duplicate tests run both ways of judging duplicates; they must agree."""
    return request.param


def _flag(spark, rows, *, allow_returns=False, duplicate_path="window over every row"):
    items = spark.createDataFrame([("A",), ("B",)], "sku string")
    locations = spark.createDataFrame([("L1",)], "location string")
    parsed = _raw(spark, rows).transform(rules.with_parsed_sales)
    shared = None
    if duplicate_path == "shared keys only":
        shared = [r[0] for r in rules.shared_key_hashes(parsed).collect()]
    return parsed.transform(
        rules.with_quarantine_reasons,
        run_date=RUN_DATE,
        allow_returns=allow_returns,
        known_skus_df=items,
        known_locations_df=locations,
        shared_hashes=shared,
    )


FLAGGED = "sku string, location string, date string, qty string, reasons array<string>"


def _flagged(spark, rows, *, duplicate_path="window over every row"):
    """The raw columns and the sorted reasons of each row, to compare with a FLAGGED frame."""
    return _flag(spark, rows, duplicate_path=duplicate_path).select(
        "sku", "location", "date", "qty", F.array_sort("reasons").alias("reasons")
    )


def _reasons(spark, rows, *, allow_returns=False):
    flagged = _flag(spark, rows, allow_returns=allow_returns)
    return sorted(
        (r["sku"], r["location"], r["date"], r["qty"], tuple(sorted(r["reasons"])))
        for r in flagged.select("sku", "location", "date", "qty", "reasons").collect()
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("A", "L1", "2026-06-01", "3", "2.5", "0", "0"), ()),
        ((None, "L1", "2026-06-01", "3", "2.5", "0", "0"), ("null_key",)),
        (("A", "  ", "2026-06-01", "3", "2.5", "0", "0"), ("null_key",)),
        (("A", "L1", "2026-02-30", "3", "2.5", "0", "0"), ("bad_date",)),
        (("A", "L1", None, "3", "2.5", "0", "0"), ("bad_date",)),
        (("A", "L1", "2026-07-01", "3", "2.5", "0", "0"), ("future_date",)),
        (("A", "L1", "2026-06-01", "n/a", "2.5", "0", "0"), ("non_numeric_qty",)),
        (("A", "L1", "2026-06-01", None, "2.5", "0", "0"), ("non_numeric_qty",)),
        (("A", "L1", "2026-06-01", "-2", "2.5", "0", "0"), ("negative_qty",)),
        (("A", "L1", "2026-06-01", "3", "0", "0", "0"), ("bad_price",)),
        (("Z", "L1", "2026-06-01", "3", "2.5", "0", "0"), ("unknown_sku",)),
        (("A", "L9", "2026-06-01", "3", "2.5", "0", "0"), ("unknown_location",)),
        (
            ("Z", "L1", "2026-07-01", "x", "2.5", "0", "0"),
            ("future_date", "non_numeric_qty", "unknown_sku"),
        ),
    ],
)
def test_each_row_rule_gives_its_reason(spark, row, expected):
    [(*_, reasons)] = _reasons(spark, [row])
    assert reasons == expected


# Dates with a time and a zone (exports, Parquet timestamps cast to text): the day as
# written, whatever the zone. Anything else that is not a plain date is a bad date.
DATE_FORMS = {
    "2026-06-01": dt.date(2026, 6, 1),
    " 2026-06-01 ": dt.date(2026, 6, 1),
    "2026-06-01 00:00:00": dt.date(2026, 6, 1),
    "2026-06-01T23:30": dt.date(2026, 6, 1),
    "2026-06-01T23:30:59.123456Z": dt.date(2026, 6, 1),
    "2026-06-01T23:30:00-05:00": dt.date(2026, 6, 1),
    "2026-06-01T00:30:00+0200": dt.date(2026, 6, 1),
    "2026-06-01 08:00:00+02": dt.date(2026, 6, 1),
    "2026-02-30T10:00:00Z": None,
    "2026-06-01T24:00": None,
    "2026-06-01T10:00 UTC": None,
    "2026-06-01garbage": None,
    "2026-6-1": None,
    "01/06/2026": None,
    "20260601": None,
}


def test_dates_with_a_time_and_zone_give_the_day_as_written(spark):
    rows = [("A", "L1", text, "1", None, None, None) for text in DATE_FORMS]
    parsed = _raw(spark, rows).transform(rules.with_parsed_sales)
    got = {r["date"]: r["p_date"] for r in parsed.select("date", "p_date").collect()}
    assert got == DATE_FORMS


def test_returns_pass_when_allowed(spark):
    [(*_, reasons)] = _reasons(
        spark, [("A", "L1", "2026-06-01", "-2", "2.5", "0", "0")], allow_returns=True
    )
    assert reasons == ()


def test_keys_are_trimmed_before_master_data_lookup(spark):
    [(*_, reasons)] = _reasons(spark, [(" A ", "L1 ", "2026-06-01", "1", None, None, None)])
    assert reasons == ()


def test_exact_duplicates_keep_one_row(spark, duplicate_path):
    row = ("A", "L1", "2026-06-01", "3", "2.5", "0", "0")
    got = _flagged(spark, [row, row, row], duplicate_path=duplicate_path)
    expected = spark.createDataFrame(
        [
            ("A", "L1", "2026-06-01", "3", []),
            ("A", "L1", "2026-06-01", "3", ["duplicate"]),
            ("A", "L1", "2026-06-01", "3", ["duplicate"]),
        ],
        FLAGGED,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_conflicting_duplicates_keep_the_highest_quantity(spark, duplicate_path):
    rows = [("A", "L1", "2026-06-01", q, "2.5", "0", "0") for q in ("3", "5", "4")]
    got = _flagged(spark, rows, duplicate_path=duplicate_path)
    expected = spark.createDataFrame(
        [
            ("A", "L1", "2026-06-01", "5", []),
            ("A", "L1", "2026-06-01", "3", ["conflicting_duplicate"]),
            ("A", "L1", "2026-06-01", "4", ["conflicting_duplicate"]),
        ],
        FLAGGED,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_invalid_row_never_shadows_a_valid_duplicate(spark, duplicate_path):
    good = ("A", "L1", "2026-06-01", "3", "2.5", "0", "0")
    bad = ("A", "L1", "2026-06-01", "3", "-1", "0", "0")  # same key, bad price
    got = _flag(spark, [good, bad], duplicate_path=duplicate_path).select("price", "reasons")
    expected = spark.createDataFrame(
        [("2.5", []), ("-1", ["bad_price"])], "price string, reasons array<string>"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_parsing_types_flags_and_numbers(spark):
    parsed = _raw(spark, [("A", "L1", " 2026-06-01 ", " 3.5 ", "2", "TRUE", "yes")]).transform(
        rules.with_parsed_sales
    )
    got = parsed.select("p_sku", "p_date", "p_qty", "p_price", "p_promo", "p_is_stockout")
    expected = spark.createDataFrame(
        [("A", dt.date(2026, 6, 1), 3.5, 2.0, True, True)],
        "p_sku string, p_date date, p_qty double, p_price double, p_promo boolean, "
        "p_is_stockout boolean",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_clean_and_quarantined_partition_the_rows(spark):
    items = spark.createDataFrame([("A",)], "sku string")
    locations = spark.createDataFrame([("L1",)], "location string")
    rows = [("A", "L1", f"2026-06-{d:02d}", str(d - 3), "1", "0", "0") for d in range(1, 8)]
    flagged = (
        _raw(spark, rows)
        .transform(rules.with_parsed_sales)
        .transform(rules.with_quarantine_reasons, run_date=RUN_DATE, allow_returns=False,
                   known_skus_df=items, known_locations_df=locations)
    )  # fmt: skip
    clean, quarantined = (
        rules.filter_clean(flagged).count(),
        rules.filter_quarantined(flagged).count(),
    )
    assert (clean, quarantined) == (5, 2)
    assert (
        flagged.filter(F.size("reasons") > 0).select(F.explode("reasons")).distinct().first()[0]
        == "negative_qty"
    )


def test_shared_key_hashes_are_the_keys_of_more_than_one_row(spark):
    rows = [
        ("A", "L1", "2026-06-01", "3", "2.5", "0", "0"),
        (" A", "L1", "2026-06-01", "4", "2.5", "0", "0"),  # the same key once trimmed
        ("A", "L1", "2026-06-02", "3", "2.5", "0", "0"),
        ("B", "L1", "2026-06-01", "3", "2.5", "0", "0"),
    ]
    parsed = _raw(spark, rows).transform(rules.with_parsed_sales)
    shared = [r[0] for r in rules.shared_key_hashes(parsed).collect()]
    expected = parsed.filter(F.col("date") == "2026-06-01").filter(F.col("p_sku") == "A")
    assert shared == [expected.select(rules.key_hash()).first()[0]]


def test_both_duplicate_paths_flag_a_mixed_load_alike(spark):
    """Duplicates, conflicts, bad rows sharing a key and unique rows, judged both ways."""
    rows = [
        ("A", "L1", "2026-06-01", "3", "2.5", "0", "0"),
        ("A", "L1", "2026-06-01", "3", "2.5", "0", "0"),
        ("A", "L1", "2026-06-01", "5", "2.5", "1", "0"),
        ("A", "L1", "2026-06-02", "2", "-1", "0", "0"),
        ("A", "L1", "2026-06-02", "2", "2.0", "0", "0"),
        ("B", "L1", "2026-06-01", "x", "2.0", "0", "0"),
        ("B", "L1", "2026-06-03", "1", "2.0", "0", "0"),
        ("Z", "L1", "2026-06-03", "1", "2.0", "0", "0"),
    ]
    # Kept: the highest quantity of a key among rows without another problem.
    expected = spark.createDataFrame(
        [
            ("A", "L1", "2026-06-01", "3", ["conflicting_duplicate"]),
            ("A", "L1", "2026-06-01", "3", ["conflicting_duplicate"]),
            ("A", "L1", "2026-06-01", "5", []),
            ("A", "L1", "2026-06-02", "2", ["bad_price"]),
            ("A", "L1", "2026-06-02", "2", []),
            ("B", "L1", "2026-06-01", "x", ["non_numeric_qty"]),
            ("B", "L1", "2026-06-03", "1", []),
            ("Z", "L1", "2026-06-03", "1", ["unknown_sku"]),
        ],
        FLAGGED,
    )
    for path in ("window over every row", "shared keys only"):
        got = _flagged(spark, rows, duplicate_path=path)
        assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_rows_tied_on_the_kept_values_resolve_by_their_raw_text(spark, duplicate_path):
    # The same parsed values written two ways: which raw row is kept must not depend on the
    # order the rows arrive in.
    rows = [("A", "L1", "2026-06-01", q, "2.5", "0", "0") for q in (" 3 ", "3", "3.0")]
    for ordered in (rows, rows[::-1]):
        got = _flagged(spark, ordered, duplicate_path=duplicate_path).filter(F.size("reasons") == 0)
        assert [r["qty"] for r in got.collect()] == [" 3 "]
