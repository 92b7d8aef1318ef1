"""The forecast of one series: cross-validate the competing models, select, forecast.

:func:`forecast_series` is a plain pandas function over one series' history, tested without
Spark; it chains :func:`~skuplan.forecasting.cross_validation.cross_validate`,
:func:`~skuplan.forecasting.selection.select` and :func:`~skuplan.forecasting.final.forecast`
and returns four frames (forecasts, cross-validation scores, a model-run record, the
forecast's explanations). :mod:`skuplan.forecasting.transport` runs it inside Spark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan.columns import FORECAST_FALLBACK, FORECAST_OK, KEYS, metric_names, quantile_column
from skuplan.forecasting import conformal, final, state
from skuplan.forecasting.cross_validation import (
    cross_validate,
    cv_columns,
    fold_matrices,
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
        candidates: with ``combination = weights``, every candidate's own forecast
            (``sku, location, model, date, step, yhat`` and its driver columns), for the
            weighted combination across series; else empty.
        residuals: with ``combination = weights``, every candidate's cross-validation
            errors divided by the series' scale and the actual values (``sku, location,
            model, fold, step, residual, actual``); else empty.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    run: pd.DataFrame
    explanations: pd.DataFrame
    candidates: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    residuals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def series_data(
    history_pdf: pd.DataFrame, run_date: dt.date, spec: ForecastSpec, holidays=None
) -> tuple[SeriesData, dict[str, int]]:
    """The series as models see it: regular periods up to the run date and the horizon with
    its drivers, and how many horizon periods of each driver had to be filled.

    Rows of ``history_pdf`` on or after the run date carry planned drivers (no demand).
    """
    dates = pd.to_datetime(history_pdf["date"])
    past = history_pdf[dates < pd.Timestamp(run_date)]
    planned = history_pdf[dates >= pd.Timestamp(run_date)]
    end = last_period(run_date, spec.freq)
    history = regular_history(past, end, spec.freq, spec.driver_names, spec.fills)
    future, filled = future_frame(
        history, run_date, spec.horizon, spec.freq,
        planned=planned, drivers=spec.driver_names, fills=spec.fills,
    )  # fmt: skip
    data = SeriesData(
        history=history,
        future=future,
        season_length=spec.season_length,
        quantiles=spec.quantiles,
        holidays=holidays,
        native_quantiles=spec.quantile_method == "model",
        freq=spec.freq,
        explain=True,  # folds switch it off: only the final forecast is explained
        drivers=spec.driver_names,
    )
    return data, filled


def filled_text(filled: dict[str, int], spec: ForecastSpec) -> str | None:
    """``price 28 (last value), promo 28 (zero)``: horizon periods without a planned driver."""
    rules = {"last": "last value", "zero": "zero"}
    parts = [
        f"{name} {n} ({rules.get(spec.fills.get(name, 'zero'), 'zero')})"
        for name, n in filled.items()
    ]
    return ", ".join(parts) or None


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
    """Cross-validate the competing models on one series, choose, forecast from ``run_date``
    (with ``combination = weights``, also every candidate's forecast and errors, which the
    stage combines across series).

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
    data, filled = series_data(history_pdf, run_date, spec, holidays)
    n, demand_class = len(data.history), intermittent.classify_demand(data.y)
    candidates = competitors(spec, n, demand_class, models, external)
    origins = _origins(spec, n, candidates, models)
    cv, scores, ranked, members = cross_validate_and_select(data, candidates, spec, origins)
    # Best first, then the last resorts (all a too-short series gets).
    order = ranked + [
        m for m in registry.FALLBACKS if m not in ranked and n >= models[m].min_history
    ]
    fitted = {**{m: models[m] for m in registry.FALLBACKS}, **candidates}
    chosen, out, errors = final.forecast(data, order or ["historic_mean"], fitted, members)
    point = np.maximum(out["yhat"].to_numpy(float), 0.0)
    ensemble_of = members if chosen == ENSEMBLE else []
    offsets = final.band_offsets(point, out, _residuals(cv, chosen), data, spec.quantile_method)
    run = {"chosen_model": chosen, "demand_class": demand_class, "candidates": ",".join(candidates),
           "status": FORECAST_OK if not errors and (not ranked or chosen == ranked[0]) else FORECAST_FALLBACK,
           "error": "; ".join(errors) or None, "training_rows": n, "backtest_folds": len(origins),
           "params": json.dumps({"selection_metric": spec.selection_metric, "ensemble_of": ensemble_of}),
           "drivers_filled": filled_text(filled, spec), "scale": (scale := series_scale(data.y)),
           "mase_scale": mase_scale(data.y[: origins[0]] if origins else data.y, spec.season_length),
           "recipe": state.recipe_of(chosen, ensemble_of), "band_offsets": state.offsets_text(offsets, scale)}  # fmt: skip
    bands = conformal.apply_quantiles(point, offsets)
    forecasts = forecast_rows(keys, data, chosen, point, bands, run)
    combined = {}
    if spec.combination == "weights":
        outs = candidate_outputs(data, [m for m in ranked if m != ENSEMBLE], fitted, chosen, out)
        combined = {"candidates": candidate_rows(keys, data, outs),
                    "residuals": residual_rows(keys, cv, list(outs), run["scale"])}  # fmt: skip
    return SeriesResult(
        forecasts=forecasts,
        metrics=metric_rows(keys, scores, chosen, spec.quantiles),
        run=pd.DataFrame([{**keys, **run, "fit_seconds": time.perf_counter() - started}]),
        explanations=explain.explanation_rows(out, keys=keys, dates=forecasts["date"], model=chosen),
        **combined,
    )  # fmt: skip


def _origins(spec: ForecastSpec, n: int, candidates: dict, models: Mapping) -> list[int]:
    """The cross-validation origins of a series of ``n`` periods: every fold leaves each
    candidate its minimum history."""
    min_train = max(
        [m.min_history for c, m in candidates.items() if c in models] + [spec.min_history]
    )
    return rolling_origins(n, horizon=spec.h, folds=spec.folds, step=spec.step, min_train=min_train)


def _residuals(cv: pd.DataFrame, model: str) -> np.ndarray | None:
    """A model's cross-validation errors (``folds x steps``), or None when it has none."""
    rows = cv[(cv["model"] == model) & cv["error"].isna()]
    return _fold_errors(rows)[1] if len(rows) else None


def _fold_errors(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One model's actuals and errors (actual minus forecast), each ``folds x steps``."""
    matrices = fold_matrices(rows, ["y", "yhat"])
    return matrices["y"], matrices["y"] - matrices["yhat"]


def series_scale(y: np.ndarray) -> float:
    """The RMSSE scale of a series: the root mean squared change from one period to the next,
    from its first sale on (1 when it never changes); pooled errors are divided by it."""
    sold = np.flatnonzero(y > 0)
    changes = np.diff(y[sold[0] :]) if len(sold) else np.array([])
    scale = float(np.sqrt(np.mean(changes**2))) if len(changes) else 0.0
    return scale if scale > 0 else 1.0


def mase_scale(insample: np.ndarray, season_length: int) -> float | None:
    """The in-sample MAE of seasonal naive (MASE's divisor), or None when undefined."""
    changes = insample[season_length:] - insample[:-season_length]
    scale = float(np.mean(np.abs(changes))) if len(changes) else 0.0
    return scale if scale > 0 else None


def candidate_outputs(
    data: SeriesData, names: list[str], models: Mapping[str, ModelSpec], chosen: str, out
) -> dict[str, pd.DataFrame]:
    """Each cross-validated candidate refitted on the whole history (the chosen one's output
    reused); a candidate that fails here drops out of the combination."""
    outs = {}
    for name in names:
        if name == chosen:
            outs[name] = out
            continue
        try:
            outs[name] = final.forecast(data, [name], models)[1]
        except RuntimeError:
            continue
    return outs


def candidate_rows(keys: dict, data: SeriesData, outs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every candidate's forecast with its driver columns, one row per model and period."""
    frames = [
        out[[c for c in out.columns if c.startswith(explain.PREFIX)]].assign(
            **keys,
            model=name,
            date=data.future["ds"].dt.date.to_numpy(),
            step=np.arange(1, data.horizon + 1, dtype="int32"),
            yhat=np.maximum(out["yhat"].to_numpy(float), 0.0),
        )
        for name, out in outs.items()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def residual_rows(keys: dict, cv: pd.DataFrame, names: list[str], scale: float) -> pd.DataFrame:
    """Every candidate's cross-validation errors divided by ``scale``, one row per model,
    fold and step."""
    frames = []
    for name in names:
        rows = cv[(cv["model"] == name) & cv["error"].isna()]
        if rows.empty:
            continue
        actual, residuals = _fold_errors(rows)
        folds, steps = residuals.shape
        frames.append(
            pd.DataFrame(
                {
                    **keys,
                    "model": name,
                    "fold": np.repeat(np.arange(folds, dtype="int32"), steps),
                    "step": np.tile(np.arange(1, steps + 1, dtype="int32"), folds),
                    "residual": residuals.ravel() / scale,
                    "actual": actual.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
