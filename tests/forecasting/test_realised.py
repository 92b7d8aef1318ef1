"""Realised accuracy: earlier forecasts joined to what sold, scored by hand."""

import datetime as dt

import pytest

from skuplan.forecasting.realised import realised_rows, realised_summary

D = [dt.date(2026, 7, d) for d in range(1, 6)]
FORECASTS = "run_date date, sku string, location string, date date, step int, model string, yhat double, q10 double, q90 double"


def _frames(spark):
    forecasts = spark.createDataFrame(
        [
            (D[0], "A", "L1", D[1], 2, "moving_average", 10.0, 6.0, 14.0),
            (D[0], "A", "L1", D[2], 3, "moving_average", 10.0, 6.0, 14.0),
            (D[1], "A", "L1", D[2], 1, "combined", 8.0, 5.0, 9.0),
            (D[0], "A", "L1", D[4], 5, "moving_average", 10.0, 6.0, 14.0),  # not sold yet
            (D[0], "B", "L1", D[0], 1, "croston", 2.0, 0.0, 3.0),  # before the window
            (D[3], "B", "L1", D[3], 1, "croston", 2.0, 0.0, 3.0),  # made on the run date
            (D[0], "B", "L1", D[1], 2, "croston", 2.0, 0.0, 3.0),  # no sale on a loaded day
            (D[0], "B", "L1", D[2], 3, "croston", 2.0, 0.0, 3.0),  # a stockout: not demand
        ],
        FORECASTS,
    )
    actuals = spark.createDataFrame(
        [("A", "L1", D[1], 12.0, False), ("A", "L1", D[2], 5.0, False),
         ("B", "L1", D[0], 1.0, False), ("B", "L1", D[3], 1.0, False),
         ("B", "L1", D[2], 0.0, True)],
        "sku string, location string, date date, qty double, is_stockout boolean",
    )  # fmt: skip
    return forecasts, actuals


def test_each_sold_period_of_an_earlier_forecast_is_scored(spark):
    forecasts, actuals = _frames(spark)
    rows = realised_rows(forecasts, actuals, since=D[1], until=D[3], band=("q10", "q90"))
    got = sorted(
        (r.forecast_run_date, r.sku, r.date, r.step, r.model, r.actual, r.abs_error, r.is_in_band)
        for r in rows.collect()
    )
    assert got == [
        (D[0], "A", D[1], 2, "moving_average", 12.0, 2.0, True),
        (D[0], "A", D[2], 3, "moving_average", 5.0, 5.0, False),
        (D[0], "B", D[1], 2, "croston", 0.0, 2.0, True),
        (D[1], "A", D[2], 1, "combined", 5.0, 3.0, True),
    ]
    summary = realised_summary(rows)
    # |10-12| + |10-5| + |2-0| + |8-5| = 12 over 12 + 5 + 0 + 5 = 22 sold;
    # (-2 + 5 + 2 + 3) / 22 bias.
    assert summary["periods"] == 4
    assert summary["wape"] == pytest.approx(12 / 22)
    assert summary["bias"] == pytest.approx(8 / 22)
    assert summary["coverage"] == pytest.approx(3 / 4)


def test_without_a_band_or_sales_nothing_is_made_up(spark):
    forecasts, actuals = _frames(spark)
    rows = realised_rows(forecasts, actuals, since=D[1], until=D[3], band=None)
    assert {r.is_in_band for r in rows.collect()} == {None}
    empty = realised_rows(forecasts, actuals.limit(0), since=D[1], until=D[3], band=None)
    assert realised_summary(empty) == {"periods": 0, "wape": None, "bias": None, "coverage": None}
