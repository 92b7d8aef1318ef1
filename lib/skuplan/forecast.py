"""The per-series forecast: one series' history in, one row per horizon day out.

A plain pandas function, tested without Spark; the Spark job fans it out with
``groupBy(*KEYS).applyInPandas`` (see :mod:`skuplan.fanout`).
"""

from __future__ import annotations

import datetime as dt
import traceback

import numpy as np
import pandas as pd

from skuplan.models import baseline
from skuplan.schemas import KEYS, quantile_column

STATUS_OK = "ok"
STATUS_FALLBACK = "fallback"


def daily_history(history_pdf: pd.DataFrame, end_date: dt.date) -> pd.Series:
    """Daily demand from the first sale to ``end_date``; days without a sale count as zero.

    Input columns: ``date, qty``.
    """
    qty = history_pdf.groupby(pd.to_datetime(history_pdf["date"]))["qty"].sum()
    if qty.empty:
        return qty
    index = pd.date_range(qty.index.min(), pd.Timestamp(end_date), freq="D")
    return qty.reindex(index, fill_value=0.0)


def _quantile_band(
    yhat: np.ndarray, residuals: np.ndarray, quantiles: tuple[float, ...], season_length: int
) -> dict[float, np.ndarray]:
    """Quantiles from empirical residual quantiles, widened as ``sqrt`` of seasons ahead."""
    if len(residuals) == 0:
        residuals = np.zeros(1)
    seasons_ahead = np.ceil(np.arange(1, len(yhat) + 1) / season_length)
    scale = np.sqrt(seasons_ahead)
    return {q: np.maximum(yhat + np.quantile(residuals, q) * scale, 0.0) for q in quantiles}


def forecast_series(
    history_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    horizon: int,
    season_length: int,
    quantiles: tuple[float, ...],
    min_history: int,
) -> pd.DataFrame:
    """Forecast one series from ``run_date`` on.

    Args:
        history_pdf: one series' sales before ``run_date``; columns ``sku, location, date, qty``.
        run_date: the first forecast day.
        horizon: days to forecast.
        season_length: seasonal period in days.
        quantiles: quantile levels to output (must include 0.5).
        min_history: days of history below which a flat historic mean is used.

    Returns:
        One row per horizon day: ``sku, location, date, step, model, yhat``, one column per
        quantile (``q10``...), ``status`` (``ok`` or ``fallback``) and ``error``.
    """
    keys = {k: history_pdf[k].iloc[0] for k in KEYS}
    y = daily_history(history_pdf, run_date - dt.timedelta(days=1)).to_numpy(dtype=float)
    status, error = STATUS_OK, None
    try:
        if len(y) < max(min_history, season_length):
            model, yhat = "historic_mean", baseline.historic_mean(y, horizon)
            residuals = y - yhat[0] if len(y) else np.zeros(1)
        else:
            model, yhat = "seasonal_naive", baseline.seasonal_naive(y, horizon, season_length)
            residuals = baseline.seasonal_naive_residuals(y[-366:], season_length)
    except Exception as exc:  # a failing model must not fail the job: fall back and record
        status, error = (
            STATUS_FALLBACK,
            "".join(traceback.format_exception_only(exc)).strip()[:1000],
        )
        model, yhat = "historic_mean", baseline.historic_mean(y, horizon)
        residuals = y - yhat[0] if len(y) else np.zeros(1)

    yhat = np.maximum(yhat, 0.0)
    band = _quantile_band(yhat, residuals, quantiles, season_length)
    out = pd.DataFrame(
        {
            **keys,
            "date": pd.date_range(pd.Timestamp(run_date), periods=horizon, freq="D").date,
            "step": np.arange(1, horizon + 1, dtype="int32"),
            "model": model,
            "yhat": yhat,
            **{quantile_column(q): band[q] for q in quantiles},
            "status": status,
            "error": error,
        }
    )
    return out
