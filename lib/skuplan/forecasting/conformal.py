"""Quantile forecasts from backtest errors (split-conformal style, per horizon step).

A backtest gives, for each fold and each horizon step, the error ``actual - forecast``.
The empirical quantiles of those errors at each step are offsets which, added to a new
point forecast, give its quantile forecasts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MIN_RESIDUALS_PER_STEP = 5


def residual_quantiles(
    residuals_by_step: np.ndarray,
    quantiles: Iterable[float],
    *,
    min_residuals: int = MIN_RESIDUALS_PER_STEP,
) -> dict[float, np.ndarray]:
    """Per-step empirical quantiles of backtest errors.

    For step ``h`` (1-based) with at least ``min_residuals`` non-``nan`` errors, the offset
    is ``np.quantile`` (linear interpolation, numpy's default) of that step's errors, at the
    level widened for a finite sample (:func:`finite_sample_level`): with few errors the
    plain empirical quantiles cover too little of the next, unseen error.

    A step with fewer errors borrows from every step, assuming the error spread grows like
    the square root of the step (a random walk): each error ``r`` observed at step ``s`` is
    rescaled to ``r / sqrt(s)``, the quantile of all rescaled errors is taken and multiplied
    by ``sqrt(h)``. With no error at all the offsets are 0 (the band collapses onto the
    point forecast, which is visible downstream rather than invented).

    Args:
        residuals_by_step: array ``(n_folds, horizon)`` of ``actual - forecast``; ``nan``
            where a fold has no error for a step (e.g. it ran past the data).
        quantiles: quantile levels in ``[0, 1]``.
        min_residuals: errors a step needs to use only its own.

    Returns:
        ``{q: offsets}`` with one array of shape ``(horizon,)`` per level.

    Raises:
        ValueError: ``residuals_by_step`` not 2-d, or a level outside ``[0, 1]``.
    """
    residuals = np.asarray(residuals_by_step, dtype=float)
    if residuals.ndim != 2:
        raise ValueError(f"residuals_by_step must be (n_folds, horizon), got {residuals.shape}")
    levels = [float(q) for q in quantiles]
    if any(not 0.0 <= q <= 1.0 for q in levels):
        raise ValueError(f"quantile levels must be in [0, 1], got {levels}")
    horizon = residuals.shape[1]
    if not levels:
        return {}

    is_known = ~np.isnan(residuals)
    if not is_known.any():
        return {q: np.zeros(horizon) for q in levels}

    step_sqrt = np.sqrt(np.arange(1, horizon + 1, dtype=float))
    pooled = (residuals / step_sqrt)[is_known]
    pooled_quantiles = np.quantile(pooled, [finite_sample_level(q, pooled.size) for q in levels])
    offsets = np.outer(pooled_quantiles, step_sqrt)  # (n_levels, horizon)

    counts = is_known.sum(axis=0)
    for h in np.flatnonzero(counts >= min_residuals):
        own = residuals[is_known[:, h], h]
        offsets[:, h] = np.quantile(own, [finite_sample_level(q, own.size) for q in levels])
    return {q: offsets[i] for i, q in enumerate(levels)}


def finite_sample_level(q: float, n: int) -> float:
    """The empirical quantile level to use for level ``q`` with ``n`` errors.

    Split conformal prediction takes the ``(n + 1) q / n`` empirical quantile for an upper
    bound, so that a new error falls below it with probability at least ``q``; lower levels
    mirror it (``q - (1 - q) / n``) and the median stays put. Clipped to ``[0, 1]``.
    """
    if n <= 0 or q == 0.5:
        return q
    widened = q + q / n if q > 0.5 else q - (1 - q) / n
    return min(max(widened, 0.0), 1.0)


def apply_quantiles(point: np.ndarray, offsets: dict[float, np.ndarray]) -> dict[float, np.ndarray]:
    """Quantile forecasts ``point + offset``, non-negative and non-crossing.

    Each level is clipped at 0 (demand cannot be negative), then the values are sorted
    across levels at every step, so a higher level is never below a lower one even when
    per-step empirical quantiles happen to cross.

    Args:
        point: point forecast, shape ``(horizon,)``.
        offsets: ``{q: offsets}`` as returned by :func:`residual_quantiles`.

    Returns:
        ``{q: values}`` with arrays of shape ``(horizon,)``, keys in increasing order.

    Raises:
        ValueError: an offsets array whose shape differs from ``point``'s.
    """
    point = np.asarray(point, dtype=float)
    levels = sorted(offsets)
    if not levels:
        return {}
    stacked = np.stack([np.asarray(offsets[q], dtype=float) for q in levels])
    if stacked.shape[1:] != point.shape:
        raise ValueError(f"offsets shape {stacked.shape[1:]} differs from point {point.shape}")
    values = np.sort(np.maximum(point + stacked, 0.0), axis=0)
    return {q: values[i] for i, q in enumerate(levels)}
