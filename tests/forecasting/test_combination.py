"""Combination weights learned across series, the weighted forecast, pooled bands."""

import datetime as dt

import chispa
import numpy as np
import pandas as pd
import pyspark.sql.functions as F
import pytest

from skuplan.forecasting import combination

D1 = dt.date(2026, 7, 1)


def test_optimal_weights_minimise_the_combined_squared_error():
    # Two unbiased models with independent errors of variance 1 and 4: 0.8 / 0.2.
    w = combination.optimal_weights(np.array([[1.0, 0.0], [0.0, 4.0]]))
    np.testing.assert_allclose(w, [0.8, 0.2], atol=1e-6)
    # A dominated model (always worse, perfectly correlated) gets nothing.
    w = combination.optimal_weights(np.array([[1.0, 2.0], [2.0, 4.0]]))
    np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-6)
    assert combination.optimal_weights(np.array([[3.0]])).tolist() == [1.0]


def test_one_series_with_huge_errors_does_not_decide_the_weights_of_all():
    # Twenty series where model a's errors have variance 1 and b's 1.44; one where a's have
    # 100. Pooling the squared errors gives a only 0.20; the mean of the series' RMSEs,
    # which is what the forecasts are judged on, is lowest at 0.43.
    grams = np.array([np.diag([1.0, 1.44])] * 20 + [np.diag([100.0, 1.0])])
    w = combination.optimal_weights(grams)
    np.testing.assert_allclose(w, [0.428, 0.572], atol=0.005)
    rmse = lambda w: np.sqrt(np.einsum("i,sij,j->s", w, grams, w)).mean()  # noqa: E731
    assert rmse(w) < rmse(combination.optimal_weights(grams.mean(axis=0))) - 0.05


def _residuals(spark, rows):
    return spark.createDataFrame(
        rows,
        "sku string, location string, model string, fold int, step int, residual double, actual double",
    )


def test_class_weights_pool_the_errors_of_every_series_of_a_class(spark, monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    for s in range(20):
        for fold in range(3):
            for step in (1, 2):
                a, b = rng.normal(0, 1), rng.normal(0, 3)
                rows += [
                    (f"S{s}", "L", "a", fold, step, a, 1.0),
                    (f"S{s}", "L", "b", fold, step, b, 1.0),
                ]
    runs = spark.createDataFrame(
        [(f"S{s}", "L", "smooth") for s in range(20)],
        "sku string, location string, demand_class string",
    )
    weights = combination.class_weights(_residuals(spark, rows), runs).set_index("model")["weight"]
    # Error variances 1 and 9: weights near 0.9 / 0.1.
    assert weights["a"] == pytest.approx(0.9, abs=0.08) and weights["b"] == pytest.approx(
        0.1, abs=0.08
    )
    # Past MAX_SERIES, a sample of the series (by a hash of the keys) sets the weights.
    monkeypatch.setattr(combination, "MAX_SERIES", 10)
    sampled = combination.class_weights(_residuals(spark, rows), runs)
    a = sampled.set_index("model")["weight"]["a"]
    assert sampled["weight"].sum() == pytest.approx(1.0) and a == pytest.approx(0.9, abs=0.15)
    assert a != weights["a"]


def test_combined_forecast_and_its_drivers_add_up(spark):
    candidates = spark.createDataFrame(
        [
            ("A", "L", "lightgbm_global", D1, 1, 10.0, 4.0, 6.0),
            ("A", "L", "moving_average", D1, 1, 6.0, None, None),
        ],
        "sku string, location string, model string, date date, step int, yhat double, "
        "contrib_baseline double, contrib_price double",
    )
    for c in combination.CONTRIBUTION_COLUMNS:
        if c not in candidates.columns:
            candidates = candidates.withColumn(c, combination.F.lit(None).cast("double"))
    weights = spark.createDataFrame(
        [("A", "L", "lightgbm_global", 0.75), ("A", "L", "moving_average", 0.25)],
        "sku string, location string, model string, weight double",
    )
    out = combination.combined_forecasts(candidates, weights).first()
    assert out.yhat == pytest.approx(0.75 * 10 + 0.25 * 6)
    assert out.contrib_baseline == pytest.approx(3.0) and out.contrib_price == pytest.approx(4.5)
    assert out.contrib_other == pytest.approx(1.5)  # the moving average explains nothing
    total = sum(out[c] or 0.0 for c in combination.CONTRIBUTION_COLUMNS)
    assert total == pytest.approx(out.yhat)


def test_series_weights_renormalise_over_the_candidates_a_series_has(spark):
    candidates = spark.createDataFrame(
        [("A", "L", "a"), ("A", "L", "b"), ("B", "L", "a")],
        "sku string, location string, model string",
    )
    runs = spark.createDataFrame(
        [("A", "L", "smooth"), ("B", "L", "smooth")],
        "sku string, location string, demand_class string",
    )
    class_w = spark.createDataFrame(
        [("smooth", "a", 0.6), ("smooth", "b", 0.4)],
        "demand_class string, model string, weight double",
    )
    expected = spark.createDataFrame(
        [("A", "L", "a", 0.6), ("A", "L", "b", 0.4), ("B", "L", "a", 1.0)],
        "sku string, location string, model string, weight double",
    )
    chispa.assert_approx_df_equality(
        combination.series_weights(candidates, runs, class_w),
        expected,
        1e-9,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_bands_scale_the_pooled_offsets_by_each_series_scale_and_spread_and_never_cross(spark):
    forecasts = spark.createDataFrame(
        [("A", "L", 1, 10.0), ("B", "L", 1, 1.0)],
        "sku string, location string, step int, yhat double",
    )
    runs = spark.createDataFrame(
        [("A", "L", "smooth", 1.0, 1.0), ("B", "L", "smooth", 2.0, 0.25)],
        "sku string, location string, demand_class string, scale double, spread double",
    )
    offsets = spark.createDataFrame(
        [("smooth", 1, -3.0, 0.0, 4.0)],
        "demand_class string, step int, q10 double, q50 double, q90 double",
    )
    rows = {
        r.sku: r
        for r in combination.with_bands(forecasts, runs, offsets, (0.1, 0.5, 0.9)).collect()
    }
    assert (rows["A"].q10, rows["A"].q50, rows["A"].q90) == (7.0, 10.0, 14.0)
    assert (rows["B"].q10, rows["B"].q50, rows["B"].q90) == (0.0, 1.0, 3.0)  # clipped at zero


def test_spread_shrinks_each_series_errors_toward_its_class(spark, monkeypatch):
    monkeypatch.setattr(combination, "SPREAD_PRIOR", 4)
    rows = [  # scaled errors: A's mean square 4, B's 1, C's 0.25 (each over 4 errors)
        (s, "L", 1, h, r, 1.0)
        for s, r in (("A", 2.0), ("B", -1.0), ("C", 0.5))
        for h in (1, 2, 3, 4)
    ]
    rows += [  # class "lumpy": only E ever erred, F and G never did, H has no errors
        (s, "L", 1, h, r, 1.0) for s, r in (("E", 3.0), ("F", 0.0), ("G", 0.0)) for h in (1, 2)
    ]
    residuals = spark.createDataFrame(
        rows, "sku string, location string, fold int, step int, residual double, actual double"
    )
    runs = spark.createDataFrame(
        [(s, "L", "smooth") for s in "ABCD"] + [(s, "L", "lumpy") for s in "EFGH"] + [("I", "L", "new")],
        "sku string, location string, demand_class string",
    )  # fmt: skip
    got = {r.sku: r.spread for r in combination.series_spread(residuals, runs).collect()}
    assert got == pytest.approx(
        {
            # the class' median mean square is B's, 1: sqrt((4 * own + 4 * 1) / (4 + 4))
            "A": np.sqrt(2.5), "B": 1.0, "C": np.sqrt(0.625),
            "D": 1.0,  # no errors of its own: the class' median, sqrt(1)
            # lumpy's median mean square is 0: E keeps sqrt(2 * 9 / 6); F, G and H the
            # class' root mean square over its 6 errors, sqrt(18 / 6)
            "E": np.sqrt(3.0), "F": np.sqrt(3.0), "G": np.sqrt(3.0), "H": np.sqrt(3.0),
            "I": 1.0,  # a class without errors
        }
    )  # fmt: skip


def test_the_band_kept_for_the_next_runs_is_the_class_offsets_times_the_series_spread(spark):
    from skuplan.forecasting import state
    from skuplan.pipeline import forecast_combination

    runs = spark.createDataFrame(
        [("A", "L", "smooth", "ma", "ma=1", "{}", 1.0), ("B", "L", "smooth", "ma", "ma=1", "{}", 2.0)],
        "sku string, location string, demand_class string, chosen_model string, recipe string,"
        " band_offsets string, spread double",
    )  # fmt: skip
    runs = runs.withColumn("weights", F.lit(None).cast("string"))
    weights = spark.createDataFrame(
        [("A", "L", "ma", 1.0), ("B", "L", "ma", 1.0)],
        "sku string, location string, model string, weight double",
    )
    offsets = pd.DataFrame(
        {"demand_class": "smooth", "step": [2, 1], "q10": [-2.0, -1.0], "q90": [3.0, 1.5]}
    )
    bands = forecast_combination._class_bands(spark, offsets, (0.1, 0.9))
    got = {
        r.sku: state.parse_offsets(r.band_offsets, 10.0, 2)
        for r in forecast_combination._combined_runs(runs, weights, bands, (0.1, 0.9)).collect()
    }
    assert (
        "spread"
        not in forecast_combination._combined_runs(runs, weights, bands, (0.1, 0.9)).columns
    )
    assert got["A"][0.1].tolist() == [-10.0, -20.0] and got["A"][0.9].tolist() == [15.0, 30.0]
    assert got["B"][0.1].tolist() == [-20.0, -40.0] and got["B"][0.9].tolist() == [30.0, 60.0]


def test_pooled_bands_are_wider_for_the_series_with_wider_errors(spark):
    """Two series of one class, one with errors four times the other's: the pooled band
    of each covers its own errors (without the spread, the pooled band would be too wide
    for one and too narrow for the other)."""
    rng = np.random.default_rng(0)
    rows = [
        (s, "L", f, 1, float(w * rng.normal()), 1.0)
        for s, w in (("A", 1.0), ("B", 4.0))
        for f in range(200)
    ]
    residuals = spark.createDataFrame(
        rows, "sku string, location string, fold int, step int, residual double, actual double"
    )
    runs = spark.createDataFrame(
        [("A", "L", "smooth", 1.0, 1.0), ("B", "L", "smooth", 1.0, 1.0)],
        "sku string, location string, demand_class string, scale double, mase_scale double",
    )
    spread_runs = runs.join(combination.series_spread(residuals, runs), ["sku", "location"])
    offsets = combination.pooled_offsets(residuals, spread_runs, (0.1, 0.9), 1)
    offsets_df = spark.createDataFrame(offsets)
    coverage = {
        r.sku: r.coverage
        for r in combination.combined_metrics(
            residuals, spread_runs, offsets_df, (0.1, 0.9)
        ).collect()
    }
    assert coverage["A"] == pytest.approx(0.8, abs=0.06)
    assert coverage["B"] == pytest.approx(0.8, abs=0.06)
    forecasts = spark.createDataFrame(
        [("A", "L", 1, 100.0), ("B", "L", 1, 100.0)],
        "sku string, location string, step int, yhat double",
    )
    bands = {
        r.sku: r.q90 - r.q10
        for r in combination.with_bands(forecasts, spread_runs, offsets_df, (0.1, 0.9)).collect()
    }
    spread = {r.sku: r.spread for r in spread_runs.collect()}
    assert bands["B"] / bands["A"] == pytest.approx(spread["B"] / spread["A"])
    assert 2.5 < spread["B"] / spread["A"] < 4.0  # 4 shrunk toward the class' median
