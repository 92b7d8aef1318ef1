"""Point and probabilistic forecast accuracy metrics on numpy arrays.

Conventions shared by every metric:

- ``actual`` and the forecast arrays are 1-d and of equal length (``ValueError`` if not);
  ``e = actual - forecast``.
- Missing values: a position where any of the compared arrays is ``nan`` is left out
  (a missing actual, e.g. a stockout day blanked upstream, says nothing about accuracy).
  A caller who wants to penalise a missing forecast must fill it before calling.
- A metric over no usable position (empty input, or all ``nan``) is ``nan``, never 0,
  so an absent measurement cannot pass for a perfect one.
"""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def _aligned(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays as floats with every position where any of them is ``nan`` removed."""
    values = [np.asarray(a, dtype=float) for a in arrays]
    shapes = {v.shape for v in values}
    if len(shapes) != 1 or values[0].ndim != 1:
        raise ValueError(f"metrics need 1-d arrays of equal length, got shapes {sorted(shapes)}")
    keep = np.ones(values[0].shape, dtype=bool)
    for v in values:
        keep &= ~np.isnan(v)
    return tuple(v[keep] for v in values)


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error: ``mean(|a - f|)``."""
    a, f = _aligned(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else NAN


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error: ``sqrt(mean((a - f)²))``."""
    a, f = _aligned(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2))) if a.size else NAN


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: ``sum(|a - f|) / sum(|a|)``.

    A ratio, not a percentage (0.25 means 25%). ``nan`` when ``sum(|a|) == 0``: with no
    actual demand there is nothing to weight the errors by.
    """
    a, f = _aligned(actual, forecast)
    scale = float(np.sum(np.abs(a)))
    if scale == 0.0:
        return NAN
    return float(np.sum(np.abs(a - f))) / scale


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE: ``mean(2 |a - f| / (|a| + |f|))``, in ``[0, 2]``.

    A position with ``a == f == 0`` counts as 0 (a perfect forecast of no demand) instead
    of the undefined ``0 / 0``.
    """
    a, f = _aligned(actual, forecast)
    if not a.size:
        return NAN
    denominator = np.abs(a) + np.abs(f)
    numerator = 2.0 * np.abs(a - f)
    ratio = np.divide(numerator, denominator, out=np.zeros_like(a), where=denominator > 0)
    return float(np.mean(ratio))


def mase(
    actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, season_length: int
) -> float:
    """Mean absolute scaled error: ``MAE / mean(|y[t] - y[t - m]|)`` over the history.

    The scale is the in-sample MAE of the one-season-ahead seasonal naive forecast on
    ``insample`` with period ``m = season_length`` (``m = 1`` gives the naive forecast).
    Differences involving a ``nan`` in ``insample`` are left out.

    Returns:
        The MASE, or ``nan`` when the scale is not computable (``insample`` not longer than
        ``m``, or every difference ``nan``) or is 0 (a constant history).

    Raises:
        ValueError: ``season_length`` below 1.
    """
    if season_length < 1:
        raise ValueError(f"season_length must be at least 1, got {season_length}")
    history = np.asarray(insample, dtype=float)
    if history.ndim != 1:
        raise ValueError(f"insample must be 1-d, got shape {history.shape}")
    differences = history[season_length:] - history[:-season_length]
    differences = differences[~np.isnan(differences)]
    if not differences.size:
        return NAN
    scale = float(np.mean(np.abs(differences)))
    if scale == 0.0:
        return NAN
    return mae(actual, forecast) / scale


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean error of the forecast: ``mean(f - a)``; positive means over-forecasting."""
    a, f = _aligned(actual, forecast)
    return float(np.mean(f - a)) if a.size else NAN


def pinball(actual: np.ndarray, q_forecast: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of the level-``q`` quantile forecast.

    ``mean(max(q * (a - f), (q - 1) * (a - f)))``: under-forecasts cost ``q`` per unit,
    over-forecasts ``1 - q``. At ``q = 0.5`` it is half the MAE.

    Raises:
        ValueError: ``q`` outside ``(0, 1)``.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    a, f = _aligned(actual, q_forecast)
    if not a.size:
        return NAN
    e = a - f
    return float(np.mean(np.maximum(q * e, (q - 1.0) * e)))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside the closed interval: ``mean(lower <= a <= upper)``."""
    a, lo, hi = _aligned(actual, lower, upper)
    if not a.size:
        return NAN
    return float(np.mean((lo <= a) & (a <= hi)))


def point_metrics(
    actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, season_length: int
) -> dict[str, float]:
    """Every point metric at once.

    Returns:
        ``{"mae", "rmse", "wape", "smape", "mase", "bias"}`` mapped to floats (``nan`` where
        the metric is undefined, as documented on each function).
    """
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "wape": wape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mase(actual, forecast, insample, season_length),
        "bias": bias(actual, forecast),
    }
