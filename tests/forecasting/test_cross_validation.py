"""Rolling-origin cross-validation: one long frame per series (plain pandas)."""

import datetime as dt

import numpy as np
import pandas as pd

from skuplan.forecasting.cross_validation import (
    cross_validate,
    cv_columns,
    fold_matrices,
    fold_matrix,
    origin_dates,
    rolling_origins,
)
from skuplan.models import registry
from skuplan.models.data import SeriesData

QUANTILES = (0.1, 0.5, 0.9)


def _data(values) -> SeriesData:
    history = pd.DataFrame(
        {"ds": pd.date_range("2026-01-01", periods=len(values)), "y": np.asarray(values, float)}
    )
    return SeriesData(history, history.iloc[:0], 7, QUANTILES)


def test_rolling_origins():
    assert rolling_origins(100, horizon=14, folds=3, step=7, min_train=14) == [72, 79, 86]
    assert rolling_origins(40, horizon=14, folds=3, step=7, min_train=14) == [19, 26]
    assert rolling_origins(20, horizon=14, folds=3, step=7, min_train=14) == []


def test_origin_dates_are_the_first_forecast_day_of_each_fold():
    dates = origin_dates(dt.date(2026, 3, 1), freq="D", horizon=14, folds=2, step=7)
    assert dates == [pd.Timestamp("2026-02-15"), pd.Timestamp("2026-02-08")]
    weekly = origin_dates(dt.date(2026, 3, 6), freq="W-FRI", horizon=2, folds=1, step=1)
    assert weekly == [pd.Timestamp("2026-02-20")]


def test_one_row_per_model_cutoff_and_step_with_actuals():
    data = _data(np.arange(30.0))
    models = {m: registry.MODELS[m] for m in ("seasonal_naive", "historic_mean")}
    cv = cross_validate(data, models, origins=[20, 23], h=5)
    assert list(cv.columns) == cv_columns(QUANTILES)
    assert len(cv) == 2 * 2 * 5 and cv["error"].isna().all()
    naive = cv[cv["model"] == "seasonal_naive"]
    assert naive["cutoff"].unique().tolist() == [
        pd.Timestamp("2026-01-20"),
        pd.Timestamp("2026-01-23"),
    ]
    assert naive["step"].tolist() == [1, 2, 3, 4, 5] * 2
    np.testing.assert_array_equal(
        fold_matrix(naive, "y"), [[20, 21, 22, 23, 24], [23, 24, 25, 26, 27]]
    )
    # Seasonal naive repeats the last week: day 13..19 for the first fold.
    np.testing.assert_array_equal(fold_matrix(naive, "yhat")[0], [13, 14, 15, 16, 17])
    assert cv[["q10", "q90"]].isna().all().all()  # no model quantiles: calibrated later


def test_a_model_that_raises_is_one_error_row_and_the_others_still_score():
    def broken(data):
        raise ValueError("bad input")

    models = {
        "broken": registry.ModelSpec(broken, 1),
        "seasonal_naive": registry.MODELS["seasonal_naive"],
    }
    cv = cross_validate(_data(np.arange(30.0)), models, origins=[20], h=5)
    failed = cv[cv["model"] == "broken"]
    assert len(failed) == 1 and failed["error"].iloc[0] == "ValueError: bad input"
    assert failed["yhat"].isna().all()
    assert cv.loc[cv["model"] == "seasonal_naive", "error"].isna().all()


def test_forecasts_are_clipped_at_zero():
    def negative(data):
        return pd.DataFrame({"ds": data.future["ds"], "yhat": -1.0})

    cv = cross_validate(
        _data(np.ones(20)), {"neg": registry.ModelSpec(negative, 1)}, origins=[10], h=3
    )
    assert cv["yhat"].tolist() == [0.0, 0.0, 0.0]


def test_fold_matrix_orders_rows_by_cutoff_then_step_and_skips_failed_rows():
    day = pd.Timestamp("2026-01-10")
    cv = pd.DataFrame(
        {
            "cutoff": [day, day - pd.Timedelta(days=7), day, pd.NaT, day - pd.Timedelta(days=7)],
            "step": [2, 2, 1, np.nan, 1],
            "y": [4.0, 2.0, 3.0, np.nan, 1.0],
            "yhat": [40.0, 20.0, 30.0, np.nan, 10.0],
            "error": [None, None, None, "ValueError: boom", None],
        }
    )
    np.testing.assert_array_equal(fold_matrix(cv, "y"), [[1.0, 2.0], [3.0, 4.0]])
    assert fold_matrix(cv.iloc[[3]], "y").shape == (0, 0)
    both = fold_matrices(cv, ["y", "yhat"])  # one order for every column
    np.testing.assert_array_equal(both["y"], fold_matrix(cv, "y"))
    np.testing.assert_array_equal(both["yhat"], [[10.0, 20.0], [30.0, 40.0]])
    assert {c: m.shape for c, m in fold_matrices(cv.iloc[[3]], ["y", "yhat"]).items()} == {
        "y": (0, 0),
        "yhat": (0, 0),
    }
