import numpy as np
import pytest

from skuplan.models import baseline


def test_seasonal_naive_repeats_the_last_season():
    y = np.array([9, 9, 1, 2, 3], dtype=float)
    assert baseline.seasonal_naive(y, horizon=7, season_length=3).tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_seasonal_naive_needs_one_season():
    with pytest.raises(ValueError, match="needs 7 observations"):
        baseline.seasonal_naive(np.ones(6), horizon=3, season_length=7)


def test_seasonal_naive_residuals():
    y = np.array([1, 2, 3, 2, 2, 5], dtype=float)
    assert baseline.seasonal_naive_residuals(y, 3).tolist() == [1, 0, 2]


def test_historic_mean():
    assert baseline.historic_mean(np.array([1.0, 2.0, 6.0]), 2).tolist() == [3.0, 3.0]
    assert baseline.historic_mean(np.array([]), 2).tolist() == [0.0, 0.0]


def test_moving_average_of_the_last_window():
    y = np.array([1.0, 2.0, 3.0, 10.0])
    # (3 + 10) / 2 = 6.5
    assert baseline.moving_average(y, horizon=3, window=2).tolist() == [6.5, 6.5, 6.5]


def test_moving_average_with_a_short_history_uses_what_exists():
    y = np.array([1.0, 2.0, 3.0, 10.0])
    # window 10 > 4 values: (1 + 2 + 3 + 10) / 4 = 4
    assert baseline.moving_average(y, horizon=2, window=10).tolist() == [4.0, 4.0]


def test_moving_average_of_an_empty_history_is_zero():
    assert baseline.moving_average(np.array([]), horizon=2, window=7).tolist() == [0.0, 0.0]


def test_moving_average_needs_a_positive_window():
    with pytest.raises(ValueError, match="at least 1"):
        baseline.moving_average(np.ones(3), horizon=2, window=0)
