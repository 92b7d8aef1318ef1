"""Planning inputs: which inventory snapshot a series is planned on."""

import datetime as dt

from chispa import assert_df_equality

from skuplan.replenishment import inputs

RUN = dt.date(2026, 6, 30)
DAY = dt.timedelta(days=1)
SNAPSHOT = "sku string, location string, snapshot_date date, on_hand double, on_order double"


def test_the_latest_snapshot_on_or_before_the_run_date_wins(spark):
    rows = [
        ("A", "L1", RUN - 2 * DAY, 5.0, 0.0),
        ("A", "L1", RUN - DAY, 7.0, 1.0),  # latest on or before the run date
        ("A", "L1", RUN + DAY, 9.0, 0.0),  # after it: a backfill must not see it
        ("B", "L1", RUN - 5 * DAY, 3.0, 0.0),  # only an old one: kept, 5 days old
        ("C", "L1", RUN, 4.0, 2.0),  # a double load of one date resolves by its values
        ("C", "L1", RUN, 4.0, 0.0),
        ("D", "L1", RUN + DAY, 1.0, 0.0),  # only later ones: none
    ]
    got = inputs.latest_snapshots(spark.createDataFrame(rows, SNAPSHOT), RUN)
    expected = spark.createDataFrame(
        [
            ("A", "L1", RUN - DAY, 7.0, 1.0, 1),
            ("B", "L1", RUN - 5 * DAY, 3.0, 0.0, 5),
            ("C", "L1", RUN, 4.0, 0.0, 0),
        ],
        f"{SNAPSHOT}, inventory_age_days int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_snapshot_stamped_with_a_time_counts_as_its_day(spark):
    import pyspark.sql.functions as F

    rows = [("A", "L1", RUN - DAY, 7.0, 0.0), ("A", "L1", RUN, 4.0, 0.0)]
    stamped = spark.createDataFrame(rows, SNAPSHOT).withColumn(
        "snapshot_date",
        F.to_timestamp(F.concat(F.col("snapshot_date").cast("string"), F.lit(" 08:30"))),
    )
    (got,) = inputs.latest_snapshots(stamped, RUN).collect()
    assert (got.snapshot_date, got.on_hand, got.inventory_age_days) == (RUN, 4.0, 0)
