"""Baseline models: seasonal naive, the historic mean and a moving average."""

from __future__ import annotations

import numpy as np


def seasonal_naive(y: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """Repeat the last full season: ``yhat[h] = y[n - m + (h mod m)]``.

    Raises:
        ValueError: fewer than ``season_length`` observations.
    """
    if len(y) < season_length:
        raise ValueError(f"seasonal naive needs {season_length} observations, got {len(y)}")
    last_season = y[-season_length:]
    return np.resize(last_season, horizon).astype(float)


def seasonal_naive_residuals(y: np.ndarray, season_length: int) -> np.ndarray:
    """In-sample one-season-ahead errors ``y[t] - y[t - m]``."""
    return (y[season_length:] - y[:-season_length]).astype(float)


def historic_mean(y: np.ndarray, horizon: int) -> np.ndarray:
    """The mean of the history, flat over the horizon (0 for an empty history)."""
    level = float(np.mean(y)) if len(y) else 0.0
    return np.full(horizon, level)


def moving_average(y: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """The mean of the last ``window`` values, flat over the horizon.

    With fewer than ``window`` values the mean of all of them is used; an empty history
    forecasts 0.

    Args:
        y: demand history, oldest first.
        horizon: number of steps to forecast.
        window: number of most recent values to average (at least 1).

    Returns:
        Array of shape ``(horizon,)``.

    Raises:
        ValueError: ``window`` below 1.
    """
    if window < 1:
        raise ValueError(f"moving average window must be at least 1, got {window}")
    tail = np.asarray(y, dtype=float)[-window:]
    level = float(tail.mean()) if tail.size else 0.0
    return np.full(horizon, level)
