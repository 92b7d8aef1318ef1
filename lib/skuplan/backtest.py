"""Rolling-origin backtests of competing models on one series, and their accuracy metrics."""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from skuplan import metrics
from skuplan.columns import quantile_column
from skuplan.models import conformal
from skuplan.models.registry import ModelSpec, SeriesData


def rolling_origins(n: int, *, horizon: int, folds: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the backtest folds, oldest first.

    Fold ``k`` trains on the first ``n - horizon - k * step`` days and is scored on the
    ``horizon`` days after them; folds that would train on fewer than ``min_train`` days
    are dropped.
    """
    lengths = [n - horizon - k * step for k in range(folds)]
    return sorted(length for length in lengths if length >= min_train)


def error_text(exc: BaseException) -> str:
    """One line naming the exception, short enough for a table cell."""
    return "".join(traceback.format_exception_only(exc)).strip().replace("\n", " ")[:500]


@dataclass
class ModelBacktest:
    """A model's forecasts over every fold (``folds x horizon`` arrays)."""

    model: str
    actual: np.ndarray
    forecast: np.ndarray
    native_quantiles: dict[float, np.ndarray] | None = None
    fit_seconds: float = 0.0
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def residuals(self) -> np.ndarray:
        return self.actual - self.forecast

    @property
    def ok(self) -> bool:
        return self.error is None


def run_backtest(
    name: str, spec: ModelSpec, data: SeriesData, origins: list[int], horizon: int
) -> ModelBacktest:
    """Fit ``spec`` at each origin and forecast the next ``horizon`` days.

    A model that throws on any fold is recorded with its error and no metrics.
    """
    actuals, forecasts, native = [], [], {q: [] for q in data.quantiles}
    started = time.perf_counter()
    try:
        for n_train in origins:
            fold, actual = data.backtest_fold(n_train, horizon)
            out = spec.fn(fold)
            actuals.append(actual)
            forecasts.append(out["yhat"].to_numpy(dtype=float))
            for q in data.quantiles:
                col = quantile_column(q)
                native[q].append(
                    out[col].to_numpy(dtype=float) if col in out else np.full(horizon, np.nan)
                )
    except Exception as exc:  # recorded, not raised: one model must not sink the series
        empty = np.empty((0, horizon))
        return ModelBacktest(
            name, empty, empty, fit_seconds=time.perf_counter() - started, error=error_text(exc)
        )
    stacked = {q: np.vstack(v) for q, v in native.items()}
    has_native = all(np.isfinite(v).all() for v in stacked.values())
    return ModelBacktest(
        name,
        np.vstack(actuals),
        np.maximum(np.vstack(forecasts), 0.0),
        native_quantiles=stacked if has_native else None,
        fit_seconds=time.perf_counter() - started,
    )


def fold_quantiles(bt: ModelBacktest, quantiles: tuple[float, ...]) -> dict[float, np.ndarray]:
    """Quantile forecasts for each fold, calibrated without looking at that fold.

    Native model quantiles are used as they are. Otherwise each fold's band comes from the
    residuals of the other folds (leave-one-fold-out conformal), so interval metrics are
    honest; a single fold is calibrated on its own residuals.
    """
    if bt.native_quantiles is not None:
        return bt.native_quantiles
    n_folds = bt.forecast.shape[0]
    bands = {q: np.empty_like(bt.forecast) for q in quantiles}
    for k in range(n_folds):
        others = [j for j in range(n_folds) if j != k] or [k]
        offsets = conformal.residual_quantiles(bt.residuals[others], quantiles)
        for q, values in conformal.apply_quantiles(bt.forecast[k], offsets).items():
            bands[q][k] = values
    return bands


def score(
    bt: ModelBacktest, insample: np.ndarray, season_length: int, quantiles: tuple[float, ...]
) -> dict[str, float]:
    """Point metrics over all folds, pinball loss per quantile and the outer band's coverage."""
    actual, forecast = bt.actual.ravel(), bt.forecast.ravel()
    result = metrics.point_metrics(actual, forecast, insample, season_length)
    bands = fold_quantiles(bt, quantiles)
    for q in quantiles:
        result[f"pinball_{quantile_column(q)}"] = metrics.pinball(actual, bands[q].ravel(), q)
    lo, hi = min(quantiles), max(quantiles)
    result["coverage"] = metrics.coverage(actual, bands[lo].ravel(), bands[hi].ravel())
    return {k: (float(v) if v is not None else math.nan) for k, v in result.items()}
