"""What a model sees: regular history, the horizon, and folds."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from skuplan.models.data import SeriesData, future_frame, last_period, regular_history


def test_regular_history_fills_gaps_with_zero_and_carries_price():
    pdf = pd.DataFrame(
        {
            "date": [dt.date(2026, 1, 1), dt.date(2026, 1, 3)],
            "qty": [2.0, 5.0],
            "price": [1.5, 1.0],
            "promo": [False, True],
            "is_stockout": [False, False],
        }
    )
    out = regular_history(pdf, dt.date(2026, 1, 4))
    assert out["y"].tolist() == [2.0, 0.0, 5.0, 0.0]
    assert out["price"].tolist() == [1.5, 1.5, 1.0, 1.0]
    assert out["promo"].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_weekly_history_and_its_last_period():
    pdf = pd.DataFrame({"date": [dt.date(2026, 1, 2), dt.date(2026, 1, 16)], "qty": [3.0, 4.0]})
    end = last_period(dt.date(2026, 1, 30), "W-FRI")
    assert end == dt.date(2026, 1, 23)
    assert regular_history(pdf, end, "W-FRI")["y"].tolist() == [3.0, 0.0, 4.0, 0.0]


def test_the_future_has_no_promotion_and_the_last_regular_price():
    history = pd.DataFrame(
        {"ds": pd.date_range("2026-01-01", periods=3), "y": 1.0, "price": [2.0, 2.5, 1.0], "promo": [0.0, 0.0, 1.0]}
    )  # fmt: skip
    future, filled = future_frame(history, dt.date(2026, 1, 4), 2)
    assert future["price"].tolist() == [2.5, 2.5] and future["promo"].tolist() == [0.0, 0.0]
    assert filled == {"price": 2, "promo": 2}


def test_planned_drivers_fill_the_horizon_and_gaps_follow_the_rule():
    history = pd.DataFrame(
        {"ds": pd.date_range("2026-01-01", periods=3), "y": 1.0, "price": 2.0, "promo": 0.0}
    )
    planned = pd.DataFrame(
        {"date": [dt.date(2026, 1, 4), dt.date(2026, 1, 9)], "price": [1.5, 9.0], "promo": [1, 1]}
    )
    future, filled = future_frame(history, dt.date(2026, 1, 4), 3, planned=planned)
    # The planned day takes its values, the days without a plan their fill rule; the row
    # past the horizon is ignored.
    assert future["price"].tolist() == [1.5, 2.0, 2.0]
    assert future["promo"].tolist() == [1.0, 0.0, 0.0]
    assert filled == {"price": 2, "promo": 2}


def test_series_data_backtest_fold():
    history = pd.DataFrame(
        {"ds": pd.date_range("2026-01-01", periods=10), "y": np.arange(10.0), "price": 1.0}
    )
    data = SeriesData(history, history.iloc[:0], 7, (0.1, 0.5, 0.9))
    fold, actual = data.backtest_fold(6, 3)
    assert fold.y.tolist() == [0, 1, 2, 3, 4, 5] and actual.tolist() == [6, 7, 8]
    assert list(fold.future.columns) == ["ds", "price"] and fold.horizon == 3
    assert replace(data, season_length=1).season_length == 1
