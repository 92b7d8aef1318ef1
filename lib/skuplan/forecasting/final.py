"""The final forecast of one series: the chosen model refitted on the whole history, and its
quantile band.

:func:`forecast` walks the models best first until one succeeds (the fallback chain);
:func:`band_offsets` gives the quantiles' offsets from the point forecast, from the model
itself or from its cross-validation errors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from skuplan.columns import quantile_column
from skuplan.forecasting import conformal
from skuplan.forecasting.cross_validation import error_text
from skuplan.forecasting.selection import ENSEMBLE
from skuplan.models import explain
from skuplan.models.data import SeriesData
from skuplan.models.registry import ModelSpec


def _fit(
    data: SeriesData, name: str, models: Mapping[str, ModelSpec], ensemble_of: list[str]
) -> pd.DataFrame:
    if name != ENSEMBLE:
        return models[name].fn(data)
    outs = [models[m].fn(data) for m in ensemble_of]
    out = outs[0][["ds"]].assign(yhat=np.mean([o["yhat"].to_numpy(float) for o in outs], axis=0))
    return out.join(explain.ensemble_contributions(outs))


def forecast(
    data: SeriesData,
    order: list[str],
    models: Mapping[str, ModelSpec],
    ensemble_of: list[str] = (),
) -> tuple[str, pd.DataFrame, list[str]]:
    """Fit the models in ``order`` on the whole history until one succeeds.

    Args:
        order: model names, best first (``ensemble``: the mean of ``ensemble_of``).

    Returns:
        The model used, its output (``ds, yhat``, maybe quantile and driver columns) and the
        errors of those that failed before it.

    Raises:
        RuntimeError: every model failed (the message joins their errors).
    """
    errors = []
    for name in order:
        try:
            out = _fit(data, name, models, list(ensemble_of))
            if len(out) != data.horizon or not np.isfinite(out["yhat"].to_numpy(float)).all():
                raise ValueError(f"{name} returned {len(out)} rows or non-finite values")
            return name, out, errors
        except Exception as exc:  # fall through to the next model
            errors.append(f"{name}: {error_text(exc)}")
    raise RuntimeError("; ".join(errors))


def _in_sample_residuals(data: SeriesData) -> np.ndarray:
    """Errors of seasonal naive in-sample (an m-step-ahead error, so they sit at step m and
    scale with sqrt(step) from there), or the spread around the mean: for series without
    cross-validation errors."""
    y = data.y[-366:]
    m = min(data.season_length, data.horizon)
    errors = y[m:] - y[:-m] if len(y) > 2 * m else y - (y.mean() if len(y) else 0.0)
    residuals = np.full((max(len(errors), 1), data.horizon), np.nan)
    residuals[: len(errors), m - 1] = errors
    return residuals


def band_offsets(
    point: np.ndarray,
    out: pd.DataFrame,
    cv_residuals: np.ndarray | None,
    data: SeriesData,
    method: str,
) -> dict[float, np.ndarray]:
    """Each quantile's offset from ``point`` per step.

    Args:
        out: the chosen model's output; with ``method="model"`` its own quantile columns are
            used when all are finite.
        cv_residuals: the chosen model's cross-validation errors (``folds x steps``), or
            None; steps past the cross-validated ones borrow from them (pooled).
    """
    cols = [quantile_column(q) for q in data.quantiles]
    if method == "model" and all(
        c in out and np.isfinite(out[c].to_numpy(float)).all() for c in cols
    ):
        return {q: out[quantile_column(q)].to_numpy(float) - point for q in data.quantiles}
    if cv_residuals is not None and cv_residuals.size:
        residuals = np.full((cv_residuals.shape[0], data.horizon), np.nan)
        width = min(data.horizon, cv_residuals.shape[1])
        residuals[:, :width] = cv_residuals[:, :width]
    else:
        residuals = _in_sample_residuals(data)
    return conformal.residual_quantiles(residuals, data.quantiles)
