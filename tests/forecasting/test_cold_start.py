import datetime as dt

from chispa import assert_approx_df_equality

from skuplan.forecasting import cold_start

RUN_DATE = dt.date(2026, 6, 30)


def test_new_series_get_their_category_rate_at_the_location(spark):
    history = spark.createDataFrame(
        [
            # Two selling grocery items at L1 sold 28 + 56 units in the last 28 days -> 1.5/day each.
            ("A", "L1", dt.date(2026, 6, 29), 28.0),
            ("B", "L1", dt.date(2026, 6, 10), 56.0),
            ("A", "L1", dt.date(2026, 5, 1), 1000.0),  # outside the window
            ("A", "L2", dt.date(2026, 6, 29), 5.0),
        ],
        "sku string, location string, date date, qty double",
    )
    stocked = spark.createDataFrame(
        [("A", "L1"), ("N", "L1"), ("N", "L3")], "sku string, location string"
    )
    items = spark.createDataFrame(
        [("A", "grocery"), ("B", "grocery"), ("N", "grocery")], "sku string, category string"
    )
    got = cold_start.forecast_new_series(
        history, stocked, items, run_date=RUN_DATE, horizon=3, quantiles=(0.1, 0.5, 0.9)
    )
    # A has history, so only N is forecast: at L1 at the category's 1.5 a day with a
    # Poisson-like band 1.5 -/+ z_0.9 * sqrt(1.5), never below zero.
    band = 1.2815515655 * 1.5**0.5
    at_l1 = (1.5, max(1.5 - band, 0.0), 1.5, 1.5 + band)
    # Nothing of the category sold at L3: a zero forecast, not a missing one.
    at_l3 = (0.0, 0.0, 0.0, 0.0)
    expected = spark.createDataFrame(
        [
            ("N", location, RUN_DATE + dt.timedelta(days=step - 1), step, "category_mean",
             *values, "ok", None)
            for location, values in (("L1", at_l1), ("L3", at_l3))
            for step in (1, 2, 3)
        ],
        "sku string, location string, date date, step int, model string, yhat double, "
        "q10 double, q50 double, q90 double, status string, error string",
    )  # fmt: skip
    assert_approx_df_equality(
        got, expected, precision=1e-6, ignore_row_order=True, ignore_nullable=True
    )
