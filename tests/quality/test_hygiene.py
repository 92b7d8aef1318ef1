"""Outlier flags and gap filling on tiny clean-sales frames."""

import datetime as dt

from chispa import assert_df_equality

from skuplan.quality import hygiene

D = dt.date(2026, 6, 1)
SCHEMA = (
    "sku string, location string, date date, qty double, price double, promo boolean, "
    "is_stockout boolean"
)


def _day(i):
    return D + dt.timedelta(days=i)


def test_a_spike_far_above_the_series_median_is_flagged_not_dropped(spark):
    # 14 days around 10 (MAD 1) and one spike of 40: threshold 10 + 6 * 1.4826 = 18.9.
    qtys = [9, 10, 11, 10, 9, 10, 11, 10, 9, 10, 11, 10, 9, 40, 18]
    rows = [("A", "L1", _day(i), float(q), 1.0, False, False) for i, q in enumerate(qtys)]
    df = spark.createDataFrame(rows, SCHEMA)
    got = df.transform(hygiene.with_outlier_flag, k=6.0, min_scale=1.0, min_points=14)
    # Every row stays; only the 40 is flagged (18 is just under the threshold).
    expected = spark.createDataFrame(
        [(*row, row[3] == 40.0) for row in rows], SCHEMA + ", is_outlier boolean"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_short_series_and_intermittent_series_are_not_flagged_by_zero_mad(spark):
    short = [("S", "L1", _day(i), float(q), None, False, False) for i, q in enumerate([1, 1, 50])]
    # Mostly zeros: MAD is 0, min_scale 1 keeps a sale of 3 from counting as an outlier.
    sparse = [
        ("Z", "L1", _day(i), 3.0 if i % 5 == 0 else 0.0, None, False, False) for i in range(20)
    ]
    df = spark.createDataFrame(short + sparse, SCHEMA)
    got = df.transform(hygiene.with_outlier_flag, k=6.0, min_scale=1.0, min_points=14)
    assert got.filter("is_outlier").count() == 0


def test_missing_days_are_filled_with_zero_and_carry_the_stockout_flag(spark):
    rows = [
        ("A", "L1", _day(0), 5.0, 2.0, True, False, False),
        ("A", "L1", _day(1), 0.0, 2.0, False, True, False),  # stockout, then two missing days
        ("A", "L1", _day(4), 4.0, 2.0, False, False, True),
        ("B", "L1", _day(2), 1.0, None, False, False, False),  # one day: nothing to fill
    ]
    schema = SCHEMA + ", is_outlier boolean"
    got = spark.createDataFrame(rows, schema).transform(hygiene.with_filled_dates)
    expected = spark.createDataFrame(
        [
            (*rows[0], False),
            (*rows[1], False),
            ("A", "L1", _day(2), 0.0, None, False, True, False, True),
            ("A", "L1", _day(3), 0.0, None, False, True, False, True),
            (*rows[2], False),
            (*rows[3], False),
        ],
        schema + ", is_imputed boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_filling_keeps_other_columns_of_the_day_before(spark):
    rows = [("A", "L1", _day(0), 1.0, None, False, False, False, "r1"),
            ("A", "L1", _day(2), 1.0, None, False, False, False, "r1")]  # fmt: skip
    df = spark.createDataFrame(rows, SCHEMA + ", is_outlier boolean, run_id string")
    got = df.transform(hygiene.with_filled_dates)
    expected = spark.createDataFrame(
        [
            (*rows[0], False),
            ("A", "L1", _day(1), 0.0, None, False, False, False, "r1", True),
            (*rows[1], False),
        ],
        SCHEMA + ", is_outlier boolean, run_id string, is_imputed boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
