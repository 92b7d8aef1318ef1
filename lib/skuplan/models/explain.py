"""Forecast explanations: what drove each forecast, in planner terms.

A model that can explain its forecasts returns, next to ``yhat``, one column per driver
(:func:`skuplan.columns.contribution_column`: ``contrib_promotion``...) in demand units,
which add up to the point forecast before it is clipped at zero. The drivers are
:data:`skuplan.columns.DRIVERS`:

- LightGBM (per series and global): SHAP values (``pred_contrib``) of the point model on
  the forecast rows, summed per feature group (:func:`feature_driver`). ``baseline`` is the
  model's expected value (the mean demand it was trained on); for a global model ``other``
  is the item/location identity (the series' usual level against the group's). Forecasts
  are recursive, so from the shortest lag on ``recent level`` and ``trend`` carry the
  model's own earlier predictions, promotions included.
- Prophet: the model's own additive decomposition of each forecast day
  (:data:`PROPHET_DRIVERS`), taken from the frame it already predicts: ``trend`` is
  Prophet's trend (the level, growth included), ``weekday`` and ``season`` its weekly and
  yearly seasonality, ``holiday`` the calendar events, ``promotion`` and ``price`` its
  regressors. Multiplicative terms are converted to demand units (term x trend).
- An ensemble (the mean of N models): each member's contributions weighted 1/N; a member
  that cannot explain itself adds its share of the forecast to ``other``. At least one
  member must explain itself, else the ensemble has no explanation.

Baselines and the intermittent-demand models do not explain themselves: their forecast is
a recent mean or a smoothed rate, nothing to decompose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from skuplan.columns import DRIVERS, KEYS, contribution_column
from skuplan.models import features as fx

BASELINE, OTHER = "baseline", "other"

# Each group of skuplan.models.features, as a driver; a feature outside them counts as "other".
FEATURE_GROUP_DRIVERS = {
    fx.GROUP_PROMOTION: "promotion",
    fx.GROUP_PRICE: "price",
    fx.GROUP_WEEKDAY: "weekday",
    fx.GROUP_SEASON: "season",
    fx.GROUP_RECENT_LEVEL: "recent level",
    fx.GROUP_TREND: "trend",
    fx.GROUP_SERIES: OTHER,
}

# Prophet's components (columns of skuplan.models.prophet_model.prophet_forecast) as drivers.
PROPHET_DRIVERS = {
    "trend": "trend",
    "weekly": "weekday",
    "yearly": "season",
    "holidays": "holiday",
    "promo_effect": "promotion",
    "price_effect": "price",
}

# The registry's models that explain their forecasts (and "ensemble", when a member does).
EXPLAINED_MODELS = ("lightgbm", "lightgbm_global", "prophet")

PREFIX = contribution_column("")


def feature_driver(name: str) -> str:
    """The driver of a model feature (any lag or window length): ``promo`` -> ``promotion``."""
    try:
        return FEATURE_GROUP_DRIVERS[fx.feature_group(name)]
    except KeyError:
        return OTHER


def contribution_columns(out: pd.DataFrame) -> list[str]:
    """The driver columns of a model output that hold values (a global model's frame carries
    every driver's column, empty where the model has no such driver)."""
    return [c for c in out.columns if c.startswith(PREFIX) and out[c].notna().any()]


def prophet_contributions(out: pd.DataFrame) -> pd.DataFrame:
    """Prophet's component columns renamed to driver columns (the components stay)."""
    return out.assign(
        **{contribution_column(d): out[c] for c, d in PROPHET_DRIVERS.items() if c in out}
    )


def ensemble_contributions(
    outs: Sequence[pd.DataFrame], weights: Sequence[float] | None = None
) -> pd.DataFrame:
    """Driver columns of the weighted mean of ``outs`` (model outputs of the same rows;
    equal weights by default).

    A member without contributions adds its ``yhat`` share to ``other``; with no member
    explained the result has no columns.
    """
    index = outs[0].index
    if not any(contribution_columns(o) for o in outs):
        return pd.DataFrame(index=index)
    weights = [1.0 / len(outs)] * len(outs) if weights is None else weights
    total: dict[str, np.ndarray] = {}
    for o, weight in zip(outs, weights, strict=True):
        parts = {c: o[c] for c in contribution_columns(o)} or {
            contribution_column(OTHER): o["yhat"]
        }
        for col, values in parts.items():
            total[col] = total.get(col, 0.0) + weight * values.to_numpy(dtype=float)
    ordered = [c for c in map(contribution_column, DRIVERS) if c in total]
    return pd.DataFrame({c: total[c] for c in ordered}, index=index)


def explanation_rows(
    out: pd.DataFrame, *, keys: dict[str, str], dates: Sequence, model: str
) -> pd.DataFrame:
    """One series' forecast contributions in long format.

    Args:
        out: a model's output, one row per forecast day, with driver columns (none: the
            model does not explain itself).
        keys: the series keys (``sku``, ``location``).
        dates: the forecast day of each row of ``out``.
        model: the model named in the forecasts.

    Returns:
        ``sku, location, date, model, driver, contribution``: one row per day and driver the
        model has, days in order, drivers in :data:`DRIVERS` order; no rows without drivers.
    """
    columns = [*KEYS, "date", "model", "driver", "contribution"]
    by_column = {contribution_column(d): d for d in DRIVERS}
    present = [c for c in by_column if c in contribution_columns(out)]
    if not present:
        return pd.DataFrame(columns=columns)
    values = out[present].to_numpy(dtype=float)  # days x drivers
    n_days, n_drivers = values.shape
    return pd.DataFrame(
        {
            **{k: keys[k] for k in KEYS},
            "date": np.repeat(np.asarray(dates), n_drivers),
            "model": model,
            "driver": np.tile([by_column[c] for c in present], n_days),
            "contribution": values.ravel(),
        },
        columns=columns,
    )
