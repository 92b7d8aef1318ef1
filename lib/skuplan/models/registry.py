"""One small interface over every model family, and the registry of competing models.

A model is a function ``SeriesData -> pd.DataFrame`` returning one row per row of
``data.future`` with a ``yhat`` column and, when the model has its own uncertainty, one
column per quantile (``q10``...). Models without quantiles are calibrated later from their
backtest errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from skuplan.models import baseline, intermittent

REGRESSORS = ("price", "promo")


@dataclass(frozen=True)
class SeriesData:
    """One series, ready for a model.

    Attributes:
        history: daily rows, oldest first, no gaps: ``ds`` (datetime64), ``y`` and the
            optional regressors ``price``, ``promo``.
        future: the days to forecast: ``ds`` and the same regressors, as known in advance.
        season_length: the seasonal period in days.
        quantiles: the quantile levels wanted.
        holidays: Prophet-style events (``holiday``, ``ds``), or None.
    """

    history: pd.DataFrame
    future: pd.DataFrame
    season_length: int
    quantiles: tuple[float, ...]
    holidays: pd.DataFrame | None = None

    @property
    def y(self) -> np.ndarray:
        return self.history["y"].to_numpy(dtype=float)

    @property
    def horizon(self) -> int:
        return len(self.future)

    def backtest_fold(self, n_train: int, horizon: int) -> tuple[SeriesData, np.ndarray]:
        """The first ``n_train`` days as history and the next ``horizon`` as a future to predict."""
        test = self.history.iloc[n_train : n_train + horizon]
        future_cols = ["ds", *[c for c in REGRESSORS if c in self.history]]
        fold = replace(
            self,
            history=self.history.iloc[:n_train],
            future=test[future_cols].reset_index(drop=True),
        )
        return fold, test["y"].to_numpy(dtype=float)


ModelFn = Callable[[SeriesData], pd.DataFrame]


@dataclass(frozen=True)
class ModelSpec:
    """A competing model: its function, the history it needs, and which demand it suits."""

    fn: ModelFn
    min_history: int
    intermittent_only: bool = False
    smooth_only: bool = False


def _point(data: SeriesData, yhat: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ds": data.future["ds"].to_numpy(), "yhat": np.asarray(yhat, dtype=float)})


def _seasonal_naive(data: SeriesData) -> pd.DataFrame:
    return _point(data, baseline.seasonal_naive(data.y, data.horizon, data.season_length))


def _historic_mean(data: SeriesData) -> pd.DataFrame:
    return _point(data, baseline.historic_mean(data.y, data.horizon))


def _moving_average(data: SeriesData) -> pd.DataFrame:
    return _point(data, baseline.moving_average(data.y, data.horizon, window=28))


def _intermittent(method: Callable[..., np.ndarray]) -> ModelFn:
    def fn(data: SeriesData) -> pd.DataFrame:
        return _point(data, method(data.y, data.horizon))

    return fn


MODELS: dict[str, ModelSpec] = {
    "seasonal_naive": ModelSpec(_seasonal_naive, min_history=7),
    "moving_average": ModelSpec(_moving_average, min_history=7),
    "historic_mean": ModelSpec(_historic_mean, min_history=1),
    "croston": ModelSpec(
        _intermittent(intermittent.croston), min_history=14, intermittent_only=True
    ),
    "sba": ModelSpec(_intermittent(intermittent.sba), min_history=14, intermittent_only=True),
    "tsb": ModelSpec(_intermittent(intermittent.tsb), min_history=14, intermittent_only=True),
}

# The last resorts, in order, when every competing model fails on a series.
FALLBACKS = ("seasonal_naive", "historic_mean")


def get(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
