"""The incremental forecast of one series: its last selection refitted on today's history,
without cross-validation.

A full run (:func:`skuplan.forecasting.series.forecast_series`) cross-validates every
candidate, about four fits each; the days after it reuse what it chose (the recipe: models
and weights) and its band (offsets per step in units of the series' scale,
:mod:`skuplan.forecasting.state`): each model of the recipe is fitted once on the whole
history, the forecasts are weighted, and the band is the stored offsets times the series'
current scale. The stage decides which series take which path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from skuplan.columns import FORECAST_FALLBACK, FORECAST_OK, KEYS
from skuplan.forecasting import conformal, final, state
from skuplan.forecasting.combination import COMBINED
from skuplan.forecasting.series import (
    SeriesResult,
    filled_text,
    forecast_rows,
    mase_scale,
    series_data,
    series_scale,
)
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import explain, intermittent, registry
from skuplan.models.registry import ModelSpec

PATH = "incremental"


def _models(spec: ForecastSpec, models: Mapping[str, ModelSpec], external) -> dict:
    available = dict(models)
    if external is not None and len(external):
        for name in dict.fromkeys(external["model"]):
            available[name] = registry.precomputed(name, external, min_history=spec.min_history)
    return available


def _fit(data, weights: dict[str, float], available: Mapping[str, ModelSpec]):
    """Each model of the recipe fitted on the whole history: outputs by name, and the
    errors of those that could not forecast.

    Raises:
        RuntimeError: none could.
    """
    outs, errors = {}, []
    for name in weights:
        if name not in available or len(data.history) < available[name].min_history:
            errors.append(f"{name}: not available")
            continue
        try:
            outs[name] = final.forecast(data, [name], available)[1]
        except RuntimeError as exc:
            errors.append(str(exc))
    if not outs:
        raise RuntimeError("; ".join(errors))
    return outs, errors


def recalibrate_series(
    history_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    spec: ForecastSpec,
    chosen_model: str,
    recipe: str,
    band_offsets: str,
    holidays: pd.DataFrame | None = None,
    external: pd.DataFrame | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> SeriesResult:
    """Forecast one series from ``run_date`` by its stored recipe and band.

    Args:
        history_pdf: as for :func:`~skuplan.forecasting.series.forecast_series`.
        chosen_model: what the full run named the forecast (a model, ``ensemble``, ``combined``).
        recipe, band_offsets: the state's text (:mod:`skuplan.forecasting.state`).

    Raises:
        RuntimeError: no model of the recipe could forecast (the fan-out then falls back).
    """
    started = time.perf_counter()
    keys = {k: history_pdf[k].iloc[0] for k in KEYS}
    data, filled = series_data(history_pdf, run_date, spec, holidays)
    weights = state.parse_recipe(recipe)
    outs, errors = _fit(data, weights, _models(spec, models or registry.MODELS, external))
    used = np.array([weights[m] for m in outs]) / sum(weights[m] for m in outs)
    yhats = np.stack([o["yhat"].to_numpy(float) for o in outs.values()])
    # As the full path: a combination weights clipped forecasts, an ensemble clips its mean.
    is_combined = chosen_model == COMBINED
    point = np.maximum(used @ (np.maximum(yhats, 0.0) if is_combined else yhats), 0.0)
    scale = series_scale(data.y)
    bands = conformal.apply_quantiles(point, state.parse_offsets(band_offsets, scale, data.horizon))
    run = {
        "chosen_model": chosen_model,
        "demand_class": intermittent.classify_demand(data.y),
        "candidates": ",".join(outs),
        "status": FORECAST_FALLBACK if errors else FORECAST_OK,
        "error": "; ".join(errors) or None,
        "training_rows": len(data.history),
        "backtest_folds": 0,
        "params": json.dumps({"path": PATH}),
        "drivers_filled": filled_text(filled, spec),
        "scale": scale,
        "mase_scale": mase_scale(data.y, spec.season_length),
        "weights": recipe if is_combined else None,
        "recipe": recipe,
        "band_offsets": band_offsets,
    }
    forecasts = forecast_rows(keys, data, chosen_model, point, bands, run)
    drivers = explain.ensemble_contributions(list(outs.values()), list(used))
    return SeriesResult(
        forecasts=forecasts,
        metrics=pd.DataFrame(),
        run=pd.DataFrame([{**keys, **run, "fit_seconds": time.perf_counter() - started}]),
        explanations=explain.explanation_rows(
            drivers, keys=keys, dates=forecasts["date"], model=chosen_model
        ),
    )
