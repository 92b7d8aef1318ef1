"""One small interface over every model family, and the registry of competing models.

A model is a function ``SeriesData -> pd.DataFrame`` returning one row per row of
``data.future`` with a ``yhat`` column and, when the model has its own uncertainty, one
column per quantile (``q10``...). Models without quantiles are calibrated later from their
backtest errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan.models import baseline, explain, intermittent
from skuplan.models.data import REGRESSORS, SeriesData

PROPHET_SAMPLES = 200  # Prophet's predictive draws, for its native quantiles


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


def _regressors(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["ds", *[c for c in ("y", *REGRESSORS) if c in frame]]]


def _prophet(data: SeriesData) -> pd.DataFrame:
    from skuplan.models.prophet_model import prophet_forecast  # heavy import, only when used

    out = prophet_forecast(
        _regressors(data.history),
        _regressors(data.future),
        quantiles=data.quantiles,
        holidays=data.holidays,
        weekly=data.freq == "D",  # a weekly cycle only exists in daily data
        # Predictive draws only when Prophet's own quantiles are used: conformal bands come
        # from backtest errors (and without draws the backtest scores the band delivered).
        uncertainty_samples=PROPHET_SAMPLES if data.native_quantiles else 0,
    )
    # The components come with every forecast (they are computed anyway); as drivers only
    # when asked, so backtest folds carry no explanation.
    return explain.prophet_contributions(out) if data.explain else out


def _lightgbm(data: SeriesData) -> pd.DataFrame:
    from skuplan.models.lgbm import lgbm_forecast

    method = "objective" if data.native_quantiles else "none"
    return lgbm_forecast(
        _regressors(data.history),
        _regressors(data.future),
        quantiles=data.quantiles,
        quantile_method=method,
        contributions=data.explain,
    )


MODELS: dict[str, ModelSpec] = {
    "seasonal_naive": ModelSpec(_seasonal_naive, min_history=7),
    "moving_average": ModelSpec(_moving_average, min_history=7),
    "historic_mean": ModelSpec(_historic_mean, min_history=1),
    "croston": ModelSpec(
        _intermittent(intermittent.croston), min_history=14, intermittent_only=True
    ),
    "sba": ModelSpec(_intermittent(intermittent.sba), min_history=14, intermittent_only=True),
    "tsb": ModelSpec(_intermittent(intermittent.tsb), min_history=14, intermittent_only=True),
    # Prophet and LightGBM need a few seasons to learn from and are wasted on sparse demand.
    "prophet": ModelSpec(_prophet, min_history=56, smooth_only=True),
    "lightgbm": ModelSpec(_lightgbm, min_history=90, smooth_only=True),
}

# Models trained on a group of series at once (one applyInPandas group per store or
# category); each series then sees their forecasts as one more candidate.
GLOBAL_MODELS = ("lightgbm_global",)

# The last resorts, in order, when every competing model fails on a series.
FALLBACKS = ("seasonal_naive", "historic_mean")


def get(name: str, models: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """The model ``name`` of ``models`` (default: :data:`MODELS`)."""
    models = MODELS if models is None else models
    try:
        return models[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(models))}") from None


def precomputed(name: str, forecasts: pd.DataFrame, min_history: int) -> ModelSpec:
    """A model whose forecasts were computed elsewhere (a global model), looked up by origin.

    ``forecasts`` has ``model, origin, ds, yhat`` (and optionally quantile columns and
    ``error``); ``origin`` is the first forecast day of a backtest fold or of the final
    forecast. A fold that was not computed, or a recorded error, raises like a failing fit.
    """
    rows = forecasts[forecasts["model"] == name]

    def fn(data: SeriesData) -> pd.DataFrame:
        errors = rows["error"].dropna() if "error" in rows else pd.Series(dtype=str)
        if len(errors):
            raise RuntimeError(errors.iloc[0])
        origin = pd.Timestamp(data.future["ds"].iloc[0])
        found = rows[pd.to_datetime(rows["origin"]) == origin].sort_values("ds")
        if len(found) != data.horizon:
            raise ValueError(f"{name} has {len(found)} of {data.horizon} days from {origin.date()}")
        return found.drop(columns=["model", "origin"]).reset_index(drop=True)

    return ModelSpec(fn, min_history=min_history)
