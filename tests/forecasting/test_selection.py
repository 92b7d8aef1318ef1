"""Scores per model, the ranking, and the ensemble candidate."""

import numpy as np
import pandas as pd
import pytest

from skuplan.forecasting.selection import ENSEMBLE, combine, evaluate, select

QUANTILES = (0.1, 0.5, 0.9)


def _cv(model, actual, forecast, error=None):
    actual, forecast = np.atleast_2d(actual), np.atleast_2d(forecast)
    folds, h = actual.shape
    return pd.DataFrame(
        {
            "model": model,
            "cutoff": np.repeat(pd.date_range("2026-01-01", periods=folds), h),
            "ds": pd.Timestamp("2026-02-01"),
            "step": np.tile(np.arange(1, h + 1), folds),
            "y": actual.ravel(),
            "yhat": forecast.ravel(),
            "q10": np.nan,
            "q50": np.nan,
            "q90": np.nan,
            "fit_seconds": 0.5,
            "error": error,
        }
    )


def test_evaluate_scores_each_model_over_all_folds():
    cv = pd.concat(
        [
            _cv("a", [[2, 4], [6, 8]], [[3, 4], [6, 6]]),
            _cv("b", [[2, 4], [6, 8]], [[2, 4], [6, 8]]),
        ]
    )
    scores = evaluate(cv, insample=np.array([1.0, 2.0, 3.0]), season_length=1, quantiles=QUANTILES)
    row = scores.set_index("model").loc["a"]
    assert row["folds"] == 2 and row["mae"] == pytest.approx(0.75)
    assert row["wape"] == pytest.approx(3 / 20) and row["bias"] == pytest.approx(-0.25)
    # MASE scales by the in-sample naive error (1.0 here).
    assert row["mase"] == pytest.approx(0.75)
    assert scores.set_index("model").loc["b", "mae"] == 0


def test_a_failed_model_scores_nothing_and_ranks_nowhere():
    failed = pd.DataFrame({"model": ["x"], "fit_seconds": [0.1], "error": ["ValueError: no"]})
    cv = pd.concat([_cv("a", [[1, 2]], [[1, 1]]), failed])
    scores = evaluate(cv, insample=np.ones(3), season_length=1, quantiles=QUANTILES)
    assert scores.set_index("model").loc["x", "folds"] == 0
    assert np.isnan(scores.set_index("model").loc["x", "mae"])
    assert select(scores, "mae") == ["a"]


def test_select_ranks_by_the_metric_then_wape_and_keeps_order_on_ties():
    scores = pd.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "mase": [1.0, np.nan, 0.5, 1.0],
            "wape": [0.3, 0.1, 0.4, 0.3],
            "bias": [0.0, 0.0, 0.0, 0.0],
            "error": [None, None, None, None],
        }
    )
    assert select(scores, "mase") == ["c", "a", "d", "b"]  # undefined MASE ranks last
    by_bias = scores.assign(bias=[-0.5, 0.1, 0.3, -0.05])
    assert select(by_bias, "bias") == ["d", "b", "c", "a"]  # by absolute bias


def test_combine_is_the_mean_of_the_members():
    cv = pd.concat([_cv("a", [[2, 4]], [[1, 3]]), _cv("b", [[2, 4]], [[3, 7]])])
    ens = combine(cv, ["a", "b"])
    assert set(ens["model"]) == {ENSEMBLE}
    assert ens["yhat"].tolist() == [2.0, 5.0] and ens["y"].tolist() == [2.0, 4.0]
    assert ens["fit_seconds"].iloc[0] == 1.0
