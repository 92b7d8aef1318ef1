import datetime as dt

import pytest

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
    out = cold_start.forecast_new_series(
        history, stocked, items, run_date=RUN_DATE, horizon=3, quantiles=(0.1, 0.5, 0.9)
    ).collect()
    by_key = {(r["sku"], r["location"], r["step"]): r for r in out}
    assert sorted({k[:2] for k in by_key}) == [("N", "L1"), ("N", "L3")]  # A has history
    first = by_key[("N", "L1", 1)]
    assert first["date"] == RUN_DATE and first["model"] == "category_mean"
    assert first["yhat"] == pytest.approx(1.5) and first["q50"] == pytest.approx(1.5)
    assert first["q90"] == pytest.approx(1.5 + 1.2815515655 * 1.5**0.5)
    assert first["q10"] == pytest.approx(max(1.5 - 1.2815515655 * 1.5**0.5, 0.0))
    assert by_key[("N", "L1", 3)]["date"] == RUN_DATE + dt.timedelta(days=2)
    # Nothing of the category sold at L3: a zero forecast, not a missing one.
    assert by_key[("N", "L3", 1)]["yhat"] == 0.0 and by_key[("N", "L3", 2)]["q90"] == 0.0
