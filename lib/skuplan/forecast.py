"""The per-series forecast: backtest the competing models, pick one, forecast with quantiles.

:func:`forecast_series` is a plain pandas function over one series' history, tested without
Spark. It returns three frames (forecasts, backtest metrics, a model-run record); the Spark
job fans it out with one ``groupBy(*KEYS).applyInPandas`` over :func:`series_records`, which
stacks the three frames into one (a ``record`` column says which) so the models are fitted
once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan import backtest
from skuplan.conf import ForecastSettings
from skuplan.models import conformal, intermittent, registry
from skuplan.models.registry import SeriesData
from skuplan.schemas import KEYS, metric_names, quantile_column, series_records_schema

STATUS_OK = "ok"
STATUS_FALLBACK = "fallback"
RECORD_FORECAST, RECORD_METRIC, RECORD_RUN = "forecast", "metric", "run"


@dataclass(frozen=True)
class SeriesResult:
    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    run: pd.DataFrame


def daily_history(history_pdf: pd.DataFrame, end_date: dt.date) -> pd.DataFrame:
    """Daily rows from the first sale to ``end_date``; days without a sale count as zero.

    Input columns: ``date, qty`` and optionally ``price, promo, is_stockout``.
    Output columns: ``ds, y, price, promo, is_stockout`` (price carried forward).
    """
    pdf = history_pdf.assign(ds=pd.to_datetime(history_pdf["date"]))
    agg = {"y": ("qty", "sum")}
    for col, how in (("price", "mean"), ("promo", "max"), ("is_stockout", "max")):
        if col in pdf:
            agg[col] = (col, how)
    daily = pdf.groupby("ds").agg(**agg)
    if daily.empty:
        return pd.DataFrame(columns=["ds", "y", "price", "promo", "is_stockout"])
    index = pd.date_range(daily.index.min(), pd.Timestamp(end_date), freq="D", name="ds")
    daily = daily.reindex(index)
    daily["y"] = daily["y"].fillna(0.0).astype(float)
    daily["price"] = daily["price"].ffill().bfill() if "price" in daily else np.nan
    for col in ("promo", "is_stockout"):
        daily[col] = daily[col].astype(float).fillna(0.0) if col in daily else 0.0
    return daily.reset_index()


def future_frame(history: pd.DataFrame, run_date: dt.date, horizon: int) -> pd.DataFrame:
    """The days to forecast, with no promotion planned and the last regular price."""
    regular = history.loc[history["promo"] == 0, "price"].dropna()
    price = (
        regular.iloc[-1]
        if len(regular)
        else history["price"].dropna().iloc[-1]
        if history["price"].notna().any()
        else np.nan
    )
    return pd.DataFrame(
        {
            "ds": pd.date_range(pd.Timestamp(run_date), periods=horizon, freq="D"),
            "price": price,
            "promo": 0.0,
        }
    )


def _eligible(settings: ForecastSettings, n: int, demand_class: str) -> list[str]:
    names = []
    for name in settings.models:
        spec = registry.get(name)
        if n < spec.min_history:
            continue
        if spec.intermittent_only and demand_class not in intermittent.INTERMITTENT_CLASSES:
            continue
        if spec.smooth_only and demand_class in intermittent.INTERMITTENT_CLASSES:
            continue
        names.append(name)
    return names


def _rank(results: list[backtest.ModelBacktest], metric: str) -> list[backtest.ModelBacktest]:
    """Best first by ``metric``, then WAPE (an undefined value ranks last); ties keep the
    configured model order. MASE is undefined when seasonal naive is perfect in-sample."""

    def key(bt: backtest.ModelBacktest) -> tuple[float, float]:
        values = [bt.metrics.get(metric, math.nan), bt.metrics.get("wape", math.nan)]
        values = [abs(v) if metric == "bias" else v for v in values]
        return tuple(math.inf if math.isnan(v) else v for v in values)

    return sorted((bt for bt in results if bt.ok), key=key)


def _ensemble(best: list[backtest.ModelBacktest], members: int) -> backtest.ModelBacktest:
    chosen = best[:members]
    return backtest.ModelBacktest(
        model="ensemble",
        actual=chosen[0].actual,
        forecast=np.mean([bt.forecast for bt in chosen], axis=0),
        fit_seconds=sum(bt.fit_seconds for bt in chosen),
    )


def _final_forecast(
    data: SeriesData, order: list[str], ensemble_of: list[str]
) -> tuple[str, pd.DataFrame, list[str]]:
    """Fit the models in ``order`` on the whole history until one succeeds.

    Returns the model used, its output and the errors of those that failed before it.
    """
    errors = []
    for name in order:
        try:
            if name == "ensemble":
                outs = [registry.get(m).fn(data) for m in ensemble_of]
                out = outs[0][["ds"]].assign(
                    yhat=np.mean([o["yhat"].to_numpy(float) for o in outs], axis=0)
                )
            else:
                out = registry.get(name).fn(data)
            if len(out) != data.horizon or not np.isfinite(out["yhat"].to_numpy(float)).all():
                raise ValueError(f"{name} returned {len(out)} rows or non-finite values")
            return name, out, errors
        except Exception as exc:  # fall through to the next model
            errors.append(f"{name}: {backtest.error_text(exc)}")
    raise RuntimeError("; ".join(errors))


def _band(
    point: np.ndarray,
    out: pd.DataFrame,
    bt: backtest.ModelBacktest | None,
    data: SeriesData,
    method: str,
) -> dict[float, np.ndarray]:
    cols = [quantile_column(q) for q in data.quantiles]
    if method == "model" and all(
        c in out and np.isfinite(out[c].to_numpy(float)).all() for c in cols
    ):
        native = {q: out[quantile_column(q)].to_numpy(float) for q in data.quantiles}
        return conformal.apply_quantiles(point, {q: native[q] - point for q in data.quantiles})
    if bt is not None and bt.ok and bt.actual.size:
        residuals = bt.residuals
    else:
        # No backtest: in-sample errors of seasonal naive (an m-step-ahead error, so they sit
        # at step m and scale with sqrt(step) from there), or spread around the mean.
        y = data.y[-366:]
        m = min(data.season_length, data.horizon)
        errors = y[m:] - y[:-m] if len(y) > 2 * m else y - (y.mean() if len(y) else 0.0)
        residuals = np.full((max(len(errors), 1), data.horizon), np.nan)
        residuals[: len(errors), m - 1] = errors
    return conformal.apply_quantiles(point, conformal.residual_quantiles(residuals, data.quantiles))


def forecast_series(
    history_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    settings: ForecastSettings,
    holidays: pd.DataFrame | None = None,
) -> SeriesResult:
    """Backtest the configured models on one series, choose the best, forecast from ``run_date``.

    Args:
        history_pdf: one series' clean sales before ``run_date``: ``sku, location, date, qty``
            and optionally ``price, promo, is_stockout``.
        run_date: the first forecast day.
        settings: models, horizon, quantiles, backtest and selection settings.
        holidays: Prophet-style events (``holiday, ds``) for models that use them.

    Returns:
        ``forecasts``: one row per horizon day: ``sku, location, date, step, model, yhat``, a
        column per quantile, ``status`` (``ok``, or ``fallback`` when the chosen model failed
        and a later one was used) and ``error``.
        ``metrics``: one row per candidate model: backtest metrics, ``is_selected``, ``error``.
        ``run``: one row: ``chosen_model, demand_class, candidates, status, error,
        training_rows, fit_seconds, params``.
    """
    started = time.perf_counter()
    keys = {k: history_pdf[k].iloc[0] for k in KEYS}
    history = daily_history(history_pdf, run_date - dt.timedelta(days=1))
    data = SeriesData(
        history=history,
        future=future_frame(history, run_date, settings.horizon),
        season_length=settings.season_length,
        quantiles=settings.quantiles,
        holidays=holidays,
    )
    n = len(history)
    demand_class = intermittent.classify_demand(data.y)
    candidates = _eligible(settings, n, demand_class) if n >= settings.min_history else []
    bt_settings = settings.backtest
    bt_horizon = bt_settings.horizon or settings.horizon
    min_train = max([registry.get(c).min_history for c in candidates] + [settings.min_history])
    origins = backtest.rolling_origins(
        n, horizon=bt_horizon, folds=bt_settings.folds, step=bt_settings.step, min_train=min_train
    )
    insample = data.y[: origins[0]] if origins else data.y

    results = (
        [backtest.run_backtest(c, registry.get(c), data, origins, bt_horizon) for c in candidates]
        if origins
        else []
    )
    for bt in results:
        if bt.ok:
            bt.metrics = backtest.score(bt, insample, settings.season_length, settings.quantiles)
    ranked = _rank(results, settings.selection_metric)
    ensemble_of: list[str] = []
    if settings.ensemble_size > 1 and len(ranked) >= settings.ensemble_size:
        ens = _ensemble(ranked, settings.ensemble_size)
        ens.metrics = backtest.score(ens, insample, settings.season_length, settings.quantiles)
        ensemble_of = [bt.model for bt in ranked[: settings.ensemble_size]]
        results.append(ens)
        ranked = _rank(results, settings.selection_metric)

    # Best backtested model first, then the last resorts (all a too-short series gets).
    order = [bt.model for bt in ranked]
    order += [m for m in registry.FALLBACKS if m not in order and n >= registry.get(m).min_history]
    order = order or ["historic_mean"]
    chosen, out, errors = _final_forecast(data, order, ensemble_of)
    status = (
        STATUS_OK if not errors and (not ranked or chosen == ranked[0].model) else STATUS_FALLBACK
    )
    error = "; ".join(errors) or None

    point = np.maximum(out["yhat"].to_numpy(float), 0.0)
    chosen_bt = next((bt for bt in results if bt.model == chosen and bt.ok), None)
    band = _band(point, out, chosen_bt, data, settings.quantile_method)
    forecasts = pd.DataFrame(
        {
            **keys,
            "date": data.future["ds"].dt.date.to_numpy(),
            "step": np.arange(1, settings.horizon + 1, dtype="int32"),
            "model": chosen,
            "yhat": point,
            **{quantile_column(q): band[q] for q in settings.quantiles},
            "status": status,
            "error": error,
        }
    )
    metric_rows = [
        {
            **keys,
            "model": bt.model,
            "folds": int(bt.actual.shape[0]),
            **{m: bt.metrics.get(m, math.nan) for m in metric_names(settings.quantiles)},
            "is_selected": bt.model == chosen,
            "fit_seconds": bt.fit_seconds,
            "error": bt.error,
        }
        for bt in results
    ]
    metrics_pdf = pd.DataFrame(
        metric_rows,
        columns=[
            *KEYS,
            "model",
            "folds",
            *metric_names(settings.quantiles),
            "is_selected",
            "fit_seconds",
            "error",
        ],
    )
    run = pd.DataFrame(
        [
            {
                **keys,
                "chosen_model": chosen,
                "demand_class": demand_class,
                "candidates": ",".join(candidates),
                "status": status,
                "error": error,
                "training_rows": n,
                "backtest_folds": len(origins),
                "fit_seconds": time.perf_counter() - started,
                "params": json.dumps(
                    {
                        "selection_metric": settings.selection_metric,
                        "ensemble_of": ensemble_of if chosen == "ensemble" else [],
                    }
                ),
            }
        ]
    )
    return SeriesResult(forecasts=forecasts, metrics=metrics_pdf, run=run)


def series_records(
    history_pdf: pd.DataFrame, *, run_date: dt.date, settings: ForecastSettings
) -> pd.DataFrame:
    """:func:`forecast_series` stacked into one frame with a ``record`` column, for Spark."""
    result = forecast_series(history_pdf, run_date=run_date, settings=settings)
    frames = [
        result.forecasts.assign(record=RECORD_FORECAST),
        result.metrics.assign(record=RECORD_METRIC),
        result.run.assign(record=RECORD_RUN),
    ]
    columns = [f.name for f in series_records_schema(settings.quantiles).fields]
    return pd.concat([f for f in frames if len(f)], ignore_index=True).reindex(columns=columns)
