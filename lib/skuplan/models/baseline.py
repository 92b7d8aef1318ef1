"""Baseline models: seasonal naive and the historic mean."""

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
