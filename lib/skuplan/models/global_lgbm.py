"""One LightGBM per group of series (a store, a category), at each fold's origin and at the
run date, so that every series of the group can score its forecasts beside its own models.

Plain pandas, run once per group by the fan-out (see :mod:`skuplan.forecasting.transport`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from skuplan.columns import CONTRIBUTION_COLUMNS, KEYS, quantile_column
from skuplan.models.data import future_frame, last_period, regular_history

NAME = "lightgbm_global"


def output_columns(quantiles: Sequence[float]) -> list[str]:
    return [
        *KEYS,
        "model",
        "origin",
        "ds",
        "yhat",
        *[quantile_column(q) for q in quantiles],
        "error",
        *CONTRIBUTION_COLUMNS,
    ]


def group_history(group_pdf: pd.DataFrame, end: dt.date, freq: str, min_history: int):
    """Each series of the group with at least ``min_history`` regular periods, stacked:
    ``sku, location, ds, y, price, promo``, or None when no series has enough."""
    series = []
    for keys, pdf in group_pdf.groupby(list(KEYS), sort=True):
        one = regular_history(pdf, end, freq)
        if len(one) >= min_history:
            series.append(one.assign(**dict(zip(KEYS, keys, strict=True))))
    if not series:
        return None
    return pd.concat(series, ignore_index=True)[[*KEYS, "ds", "y", "price", "promo"]]


def _future_rows(history, train, origin, *, run_date, horizon, cv_horizon, freq):
    """The rows to forecast from ``origin``: the horizon after the run date (no promotion,
    last regular price), or a fold's periods with their actual regressors."""
    if origin == pd.Timestamp(run_date):
        return pd.concat(
            [
                future_frame(h, run_date, horizon, freq).assign(**dict(zip(KEYS, k, strict=True)))
                for k, h in train.groupby(list(KEYS), sort=True)
            ],
            ignore_index=True,
        )
    offset = pd.tseries.frequencies.to_offset(freq)
    window = (history["ds"] >= origin) & (history["ds"] < origin + cv_horizon * offset)
    keys = train[list(KEYS)].drop_duplicates()
    return history[window].drop(columns="y").merge(keys, on=list(KEYS))


def forecast_group(
    group_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    origins: Sequence[pd.Timestamp],
    freq: str,
    horizon: int,
    cv_horizon: int,
    quantiles: tuple[float, ...],
    min_history: int,
    native_quantiles: bool,
) -> pd.DataFrame:
    """Train one LightGBM on the group at each origin and at the run date, and forecast.

    Args:
        group_pdf: clean sales of every series in the group: ``sku, location, date, qty``
            and optionally ``price, promo, is_stockout``.
        origins: the folds' first forecast periods (the run date is added).

    Returns:
        :func:`output_columns`: one row per series, origin and forecast period; the driver
        columns are filled on the final forecast's rows only.

    Raises:
        Exception: whatever the training raised (see :func:`failed_group`).
    """
    from skuplan.models.lgbm import lgbm_global_forecast

    history = group_history(group_pdf, last_period(run_date, freq), freq, min_history)
    if history is None:
        return pd.DataFrame(columns=output_columns(quantiles))
    rows = {"run_date": run_date, "horizon": horizon, "cv_horizon": cv_horizon, "freq": freq}
    outputs = []
    for origin in [*origins, pd.Timestamp(run_date)]:
        train = history[history["ds"] < origin]
        train = train[train.groupby(list(KEYS))["ds"].transform("size") >= min_history]
        if train.empty:
            continue
        out = lgbm_global_forecast(
            train,
            _future_rows(history, train, origin, **rows),
            keys=KEYS,
            quantiles=quantiles,
            quantile_method="objective" if native_quantiles else "none",
            # Only the final forecast is explained, not the folds.
            contributions=origin == pd.Timestamp(run_date),
        )
        outputs.append(out.assign(model=NAME, origin=origin, error=None))
    result = pd.concat(outputs, ignore_index=True) if outputs else None
    result = pd.DataFrame(columns=output_columns(quantiles)) if result is None else result
    result = result.reindex(columns=output_columns(quantiles))
    for col in ("origin", "ds"):
        result[col] = pd.to_datetime(result[col]).dt.date
    return result


def failed_group(group_pdf: pd.DataFrame, error: str, *, quantiles) -> pd.DataFrame:
    """The output of a group whose model failed: one error row per series, so that each
    series records the global model as a candidate that failed and moves on."""
    return (
        group_pdf[list(KEYS)]
        .drop_duplicates()
        .assign(model=NAME, origin=pd.NaT, ds=pd.NaT, yhat=np.nan, error=f"{NAME}: {error}")
        .reindex(columns=output_columns(quantiles))
    )
