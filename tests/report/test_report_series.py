"""The series explorer's Spark aggregations, on tiny hand-made tables."""

import datetime as dt
import json

import pyspark.sql.functions as F
from chispa import assert_df_equality

from skuplan.report import series

RUN = dt.date(2026, 6, 30)


def test_series_totals_count_distinct_series_of_the_forecast_run(spark):
    forecasts = spark.createDataFrame(
        [("A", "L1", "r1"), ("A", "L1", "r1"), ("A", "L2", "r1"), ("B", "L1", "r1")],
        "sku string, location string, run_id string",
    )
    expected = spark.createDataFrame([(3, "r1")], "series bigint, run_id string")
    assert_df_equality(series.series_totals(forecasts), expected, ignore_nullable=True)


def test_history_keeps_the_latest_load_of_each_day_inside_the_window(spark):
    d = lambda n: RUN - dt.timedelta(days=n)  # noqa: E731
    rows = [
        ("A", "L", d(1), 5.0, False, d(1)),
        ("A", "L", d(1), 7.0, True, RUN),  # re-sent later: replaces the first
        ("A", "L", d(3), 2.0, False, d(2)),
        ("A", "L", d(3), 1.0, True, d(3)),  # an earlier load of the same day
        ("A", "L", d(4), 9.0, False, d(2)),  # outside a 3-day window
        ("A", "L", RUN, 1.0, False, RUN),  # the run date itself is not history
        ("B", "L", d(2), 3.333, False, d(2)),
    ]
    clean = spark.createDataFrame(
        rows,
        "sku string, location string, date date, qty double, is_stockout boolean, load_date date",
    )
    got = {r.sku: r.h for r in series.history_arrays(clean, RUN, 3).collect()}
    assert (got["A"].t, got["A"].y, got["A"].so) == ([-3, -1], [2.0, 7.0], [-1])
    assert (got["B"].t, got["B"].y, got["B"].so) == ([-2], [3.33], [])


def _forecasts(spark):
    rows = [
        (sku, "L", RUN + dt.timedelta(days=t), model, 10.0 + t, 6.0, 10.0, 14.123)
        for sku, model in (("A", "lightgbm"), ("B", "seasonal_naive"))
        for t in (1, 0)
    ]
    return spark.createDataFrame(
        rows,
        "sku string, location string, date date, model string, yhat double, q10 double, "
        "q50 double, q90 double",
    )


def test_drivers_of_the_chosen_model_largest_first_and_the_rest_as_other(spark):
    fc = series.forecast_arrays(_forecasts(spark), RUN, ("q10", "q90"))
    rows = [
        ("A", "L", RUN + dt.timedelta(days=t), model, driver, c)
        for model in ("lightgbm", "prophet")  # prophet was not chosen for A: left out
        for t, contributions in ((0, (3.0, -1.0, 0.5, 0.25)), (1, (2.0, 1.5, -0.5, 0.25)))
        for driver, c in zip(("promotion", "price", "weekday", "trend"), contributions, strict=True)
    ]
    explanations = spark.createDataFrame(
        rows,
        "sku string, location string, date date, model string, driver string, contribution double",
    )
    models = fc.select("sku", "location", F.col("m").alias("model"))
    (a,) = series.driver_arrays(explanations, models, RUN, max_drivers=2).collect()
    # |promotion| 5, |price| 2.5, |weekday| 1, |trend| 0.5: the last two summed.
    assert [(d.n, d.t, d.c) for d in a.d] == [
        ("promotion", [0, 1], [3.0, 2.0]),
        ("price", [0, 1], [-1.0, 1.5]),
        (series.SMALLER_DRIVERS, [0, 1], [0.75, -0.25]),
    ]


def test_series_payload_is_compact_json_with_plan_and_history(spark):
    fc = series.forecast_arrays(_forecasts(spark), RUN, ("q10", "q90"))
    history = spark.createDataFrame(
        [("A", "L", RUN - dt.timedelta(days=1), 4.0, True, RUN)],
        "sku string, location string, date date, qty double, is_stockout boolean, load_date date",
    )
    plan = spark.createDataFrame(
        [("A", "L", "needs_review", 12.0, "S1", "held for review: ...", RUN, None, 120.0)],
        "sku string, location string, plan_status string, order_qty double, supplier string, "
        "reason string, projected_stockout_date date, projected_stockout_date_with_plan date, "
        "order_value double",
    )
    metrics = spark.createDataFrame(
        [
            ("A", "L", "seasonal_naive", 1.0, False),
            ("A", "L", "lightgbm", 0.5, True),
            ("B", "L", "seasonal_naive", 2.0, True),
        ],
        "sku string, location string, model string, mase double, is_selected boolean",
    )
    got = {
        r.sku: r
        for r in series.series_payloads(
            fc, series.history_arrays(history, RUN, 7), metrics, None, plan, None
        ).collect()
    }
    a, b = json.loads(got["A"].payload), json.loads(got["B"].payload)
    assert a == {
        "s": "A",
        "l": "L",
        "m": "lightgbm",
        "e": 0.5,
        "n": 1.0,
        "p": {
            "status": "needs_review",
            "qty": 12.0,
            "supplier": "S1",
            "reason": "held for review: ...",
            "stockout": "2026-06-30",
        },
        "h": {"t": [-1], "y": [4.0], "so": [-1]},
        "f": {
            "t": [0, 1],
            "y": [10.0, 11.0],
            "lo": [6.0, 6.0],
            "mid": [10.0, 10.0],
            "hi": [14.12, 14.12],
        },
    }
    assert set(b) == {"s", "l", "m", "e", "n", "f"}  # no history, no plan line: keys left out


def test_past_the_cap_the_list_keeps_held_lines_stockouts_and_large_orders(spark):
    keys = spark.createDataFrame([(k, "L") for k in "ABCDE"], "sku string, location string")
    plan = spark.createDataFrame(
        [
            ("A", "L", "planned", None, 500.0),
            ("B", "L", "planned", RUN, 10.0),
            ("C", "L", "needs_review", None, 1.0),
            ("D", "L", "planned", None, 900.0),
            ("E", "L", "not_planned", None, None),
        ],
        "sku string, location string, plan_status string, projected_stockout_date date, "
        "order_value double",
    )
    got = [r.sku for r in series.first_series(keys, plan, 3).collect()]
    assert got == ["C", "B", "D"]
    assert [r.sku for r in series.first_series(keys, None, 2).collect()] == ["A", "B"]
