"""The forecast of one series: cross-validate the competing models, select, forecast.

:func:`forecast_series` is a plain pandas function over one series' history, tested without
Spark; it chains :func:`~skuplan.forecasting.cross_validation.cross_validate`,
:func:`~skuplan.forecasting.selection.select` and :func:`~skuplan.forecasting.final.forecast`
and returns four frames (forecasts, cross-validation scores, a model-run record, the
forecast's explanations). :mod:`skuplan.forecasting.transport` runs it inside Spark.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan.columns import FORECAST_FALLBACK, FORECAST_OK, KEYS, metric_names, quantile_column
from skuplan.forecasting import final
from skuplan.forecasting.cross_validation import (
    cross_validate,
    cv_columns,
    fold_matrix,
    rolling_origins,
)
from skuplan.forecasting.selection import ENSEMBLE, combine, evaluate, score_columns, select
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import explain, intermittent, registry
from skuplan.models.data import SeriesData, future_frame, last_period, regular_history
from skuplan.models.registry import ModelSpec

METRIC_COLUMNS = [*KEYS, "model", "folds"]  # then the metrics, is_selected, fit_seconds, error


@dataclass(frozen=True)
class SeriesResult:
    """What :func:`forecast_series` returns for one series.

    Attributes:
        forecasts: one row per horizon period: ``sku, location, date, step, model, yhat``, a
            column per quantile, ``status`` (``ok``, or ``fallback`` when the chosen model
            failed and a later one was used) and ``error``.
        metrics: one row per candidate: cross-validation metrics, ``is_selected``,
            ``fit_seconds``, ``error``.
        run: one row: ``chosen_model, demand_class, candidates, status, error,
            training_rows, backtest_folds, fit_seconds, params``.
        explanations: what drove each forecast period when the chosen model explains itself
            (see :mod:`skuplan.models.explain`): one row per period and driver.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    run: pd.DataFrame
    explanations: pd.DataFrame


def series_data(
    history_pdf: pd.DataFrame, run_date: dt.date, spec: ForecastSpec, holidays=None
) -> SeriesData:
    """The series as models see it: regular periods up to the run date, and the horizon."""
    history = regular_history(history_pdf, last_period(run_date, spec.freq), spec.freq)
    return SeriesData(
        history=history,
        future=future_frame(history, run_date, spec.horizon, spec.freq),
        season_length=spec.season_length,
        quantiles=spec.quantiles,
        holidays=holidays,
        native_quantiles=spec.quantile_method == "model",
        freq=spec.freq,
        explain=True,  # folds switch it off: only the final forecast is explained
    )


def competitors(
    spec: ForecastSpec,
    n: int,
    demand_class: str,
    models: Mapping[str, ModelSpec],
    external: pd.DataFrame | None = None,
) -> dict[str, ModelSpec]:
    """The configured models that suit a series of ``n`` periods and ``demand_class``, in
    configured order, then the global models' forecasts in ``external``."""
    if n < spec.min_history:
        return {}
    chosen = {}
    for name in spec.models:
        if name in registry.GLOBAL_MODELS:
            continue
        model = registry.get(name, models)
        is_intermittent = demand_class in intermittent.INTERMITTENT_CLASSES
        if n < model.min_history or (model.intermittent_only and not is_intermittent):
            continue
        if not (model.smooth_only and is_intermittent):
            chosen[name] = model
    if external is not None and len(external):
        for name in dict.fromkeys(external["model"]):
            chosen[name] = registry.precomputed(name, external, min_history=spec.min_history)
    return chosen


def cross_validate_and_select(
    data: SeriesData, candidates: Mapping[str, ModelSpec], spec: ForecastSpec, origins: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Cross-validation, scores, the ranking (best first) and the ensemble's members."""
    if not origins:
        empty_cv = pd.DataFrame(columns=cv_columns(spec.quantiles))
        return empty_cv, pd.DataFrame(columns=score_columns(spec.quantiles)), [], []
    score = {
        "insample": data.y[: origins[0]],
        "season_length": spec.season_length,
        "quantiles": spec.quantiles,
    }
    cv = cross_validate(data, candidates, origins=origins, h=spec.h)
    scores = evaluate(cv, **score)
    ranked = select(scores, spec.selection_metric)
    members = ranked[: spec.ensemble_size]
    if spec.ensemble_size <= 1 or len(ranked) < spec.ensemble_size:
        return cv, scores, ranked, []
    ensemble_cv = combine(cv, members)
    scores = pd.concat([scores, evaluate(ensemble_cv, **score)], ignore_index=True)
    cv = pd.concat([cv, ensemble_cv], ignore_index=True)
    return cv, scores, select(scores, spec.selection_metric), members


def forecast_series(
    history_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    spec: ForecastSpec,
    holidays: pd.DataFrame | None = None,
    external: pd.DataFrame | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> SeriesResult:
    """Cross-validate the competing models on one series, choose, forecast from ``run_date``.

    Args:
        history_pdf: one series' clean sales before ``run_date``: ``sku, location, date, qty``
            and optionally ``price, promo, is_stockout``.
        spec: horizon, quantiles, models, cross-validation and selection settings.
        holidays: Prophet-style events (``holiday, ds``) for models that use them.
        external: global models' forecasts of this series, which compete like the others
            (see :func:`skuplan.forecasting.transport.global_group_forecasts`).
        models: the model registry (default :data:`skuplan.models.registry.MODELS`).
    """
    started = time.perf_counter()
    models = registry.MODELS if models is None else models
    keys = {k: history_pdf[k].iloc[0] for k in KEYS}
    data = series_data(history_pdf, run_date, spec, holidays)
    n, demand_class = len(data.history), intermittent.classify_demand(data.y)
    candidates = competitors(spec, n, demand_class, models, external)
    min_train = max(
        [m.min_history for c, m in candidates.items() if c in models] + [spec.min_history]
    )
    origins = rolling_origins(
        n, horizon=spec.h, folds=spec.folds, step=spec.step, min_train=min_train
    )
    cv, scores, ranked, members = cross_validate_and_select(data, candidates, spec, origins)
    # Best first, then the last resorts (all a too-short series gets).
    order = ranked + [
        m for m in registry.FALLBACKS if m not in ranked and n >= models[m].min_history
    ]
    fitted = {**{m: models[m] for m in registry.FALLBACKS}, **candidates}
    chosen, out, errors = final.forecast(data, order or ["historic_mean"], fitted, members)
    chosen_cv = cv[(cv["model"] == chosen) & cv["error"].isna()]
    residuals = (
        fold_matrix(chosen_cv, "y") - fold_matrix(chosen_cv, "yhat") if len(chosen_cv) else None
    )
    point = np.maximum(out["yhat"].to_numpy(float), 0.0)
    bands = final.band(point, out, residuals, data, spec.quantile_method)
    run = {"chosen_model": chosen, "demand_class": demand_class, "candidates": ",".join(candidates),
           "status": FORECAST_OK if not errors and (not ranked or chosen == ranked[0]) else FORECAST_FALLBACK,
           "error": "; ".join(errors) or None, "training_rows": n, "backtest_folds": len(origins),
           "params": json.dumps({"selection_metric": spec.selection_metric,
                                 "ensemble_of": members if chosen == ENSEMBLE else []})}  # fmt: skip
    forecasts = forecast_rows(keys, data, chosen, point, bands, run)
    return SeriesResult(
        forecasts=forecasts,
        metrics=metric_rows(keys, scores, chosen, spec.quantiles),
        run=pd.DataFrame([{**keys, **run, "fit_seconds": time.perf_counter() - started}]),
        explanations=explain.explanation_rows(
            out, keys=keys, dates=forecasts["date"], model=chosen
        ),
    )


def forecast_rows(
    keys: dict, data: SeriesData, model: str, point, bands, run: dict
) -> pd.DataFrame:
    """One row per horizon period (see :func:`forecast_series`)."""
    return pd.DataFrame(
        {
            **keys,
            "date": data.future["ds"].dt.date.to_numpy(),
            "step": np.arange(1, data.horizon + 1, dtype="int32"),
            "model": model,
            "yhat": point,
            **{quantile_column(q): bands[q] for q in data.quantiles},
            "status": run["status"],
            "error": run["error"],
        }
    )


def metric_rows(keys: dict, scores: pd.DataFrame, chosen: str, quantiles) -> pd.DataFrame:
    """One row per candidate's scores (see :func:`forecast_series`)."""
    columns = [*METRIC_COLUMNS, *metric_names(quantiles), "is_selected", "fit_seconds", "error"]
    return scores.assign(**keys, is_selected=scores["model"] == chosen).reindex(columns=columns)
