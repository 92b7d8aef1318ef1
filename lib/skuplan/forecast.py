"""The per-series forecast: backtest the competing models, pick one, forecast with quantiles.

:func:`forecast_series` is a plain pandas function over one series' history, tested without
Spark. It returns four frames (forecasts, backtest metrics, a model-run record, the
forecasts' explanations); the Spark job fans it out with one ``groupBy(*KEYS).applyInPandas``
over :func:`series_records`, which stacks the frames into one (a ``record`` column says
which) so the models are fitted once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from skuplan import backtest, explain
from skuplan.columns import CONTRIBUTION_COLUMNS, KEYS, metric_names, quantile_column
from skuplan.conf import ForecastSettings
from skuplan.models import conformal, intermittent, registry
from skuplan.models.registry import SeriesData
from skuplan.schemas import (
    EXPLANATION_SERIES,
    MODEL_RUN,
    backtest_metrics_schema,
    forecast_series_schema,
    global_forecasts_schema,
)

STATUS_OK = "ok"
STATUS_FALLBACK = "fallback"
STATUS_FAILED = "failed"  # not even a last-resort model could forecast: no forecast rows
RECORD_FORECAST, RECORD_METRIC, RECORD_RUN = "forecast", "metric", "run"
RECORD_EXPLANATION = "explanation"


@dataclass(frozen=True)
class SeriesResult:
    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    run: pd.DataFrame
    explanations: pd.DataFrame


def daily_history(history_pdf: pd.DataFrame, end_date: dt.date, freq: str = "D") -> pd.DataFrame:
    """One row per period (``freq``: ``D`` days, ``W-FRI`` weeks, ``MS`` months...) from the
    first sale to ``end_date``; periods without a sale count as zero.

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
    index = pd.date_range(daily.index.min(), pd.Timestamp(end_date), freq=freq, name="ds")
    daily = daily.reindex(index)
    daily["y"] = daily["y"].fillna(0.0).astype(float)
    daily["price"] = daily["price"].ffill().bfill() if "price" in daily else np.nan
    for col in ("promo", "is_stockout"):
        daily[col] = daily[col].astype(float).fillna(0.0) if col in daily else 0.0
    return daily.reset_index()


def last_period(run_date: dt.date, freq: str) -> dt.date:
    """The last period before ``run_date`` (the day before, for daily data)."""
    return (pd.Timestamp(run_date) - pd.tseries.frequencies.to_offset(freq)).date()


def future_frame(
    history: pd.DataFrame, run_date: dt.date, horizon: int, freq: str = "D"
) -> pd.DataFrame:
    """The periods to forecast, with no promotion planned and the last regular price."""
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
            "ds": pd.date_range(pd.Timestamp(run_date), periods=horizon, freq=freq),
            "price": price,
            "promo": 0.0,
        }
    )


def _eligible(settings: ForecastSettings, n: int, demand_class: str) -> list[str]:
    names = []
    for name in settings.models:
        if name in registry.GLOBAL_MODELS:
            continue
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
    data: SeriesData, order: list[str], ensemble_of: list[str], specs: dict[str, registry.ModelSpec]
) -> tuple[str, pd.DataFrame, list[str]]:
    """Fit the models in ``order`` on the whole history until one succeeds.

    Returns the model used, its output and the errors of those that failed before it.
    """
    errors = []
    for name in order:
        try:
            if name == "ensemble":
                outs = [specs[m].fn(data) for m in ensemble_of]
                out = outs[0][["ds"]].assign(
                    yhat=np.mean([o["yhat"].to_numpy(float) for o in outs], axis=0)
                )
                out = out.join(explain.ensemble_contributions(outs))
            else:
                out = specs[name].fn(data)
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
        # Backtests may score fewer steps than the horizon: later steps borrow (pooled).
        residuals = np.full((bt.residuals.shape[0], data.horizon), np.nan)
        width = min(data.horizon, bt.residuals.shape[1])
        residuals[:, :width] = bt.residuals[:, :width]
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
    external: pd.DataFrame | None = None,
) -> SeriesResult:
    """Backtest the configured models on one series, choose the best, forecast from ``run_date``.

    Args:
        history_pdf: one series' clean sales before ``run_date``: ``sku, location, date, qty``
            and optionally ``price, promo, is_stockout``.
        run_date: the first forecast day.
        settings: models, horizon, quantiles, backtest and selection settings.
        holidays: Prophet-style events (``holiday, ds``) for models that use them.
        external: forecasts of global models for this series (see :func:`global_group_forecasts`),
            which compete like the others.

    Returns:
        ``forecasts``: one row per horizon day: ``sku, location, date, step, model, yhat``, a
        column per quantile, ``status`` (``ok``, or ``fallback`` when the chosen model failed
        and a later one was used) and ``error``.
        ``metrics``: one row per candidate model: backtest metrics, ``is_selected``, ``error``.
        ``run``: one row: ``chosen_model, demand_class, candidates, status, error,
        training_rows, fit_seconds, params``.
        ``explanations``: what drove each forecast day when the chosen model explains
        itself (see :mod:`skuplan.explain`): ``sku, location, date, model, driver,
        contribution``, one row per day and driver, adding up to the day's ``yhat`` before
        clipping at zero; no rows for models that do not.
    """
    started = time.perf_counter()
    keys = {k: history_pdf[k].iloc[0] for k in KEYS}
    history = daily_history(history_pdf, last_period(run_date, settings.freq), settings.freq)
    data = SeriesData(
        history=history,
        future=future_frame(history, run_date, settings.horizon, settings.freq),
        season_length=settings.season_length,
        quantiles=settings.quantiles,
        holidays=holidays,
        native_quantiles=settings.quantile_method == "model",
        freq=settings.freq,
        explain=True,  # backtest folds switch it off: only the final forecast is explained
    )
    n = len(history)
    demand_class = intermittent.classify_demand(data.y)
    candidates = _eligible(settings, n, demand_class) if n >= settings.min_history else []
    specs = {name: registry.get(name) for name in (*candidates, *registry.FALLBACKS)}
    if external is not None and len(external) and n >= settings.min_history:
        for name in dict.fromkeys(external["model"]):
            specs[name] = registry.precomputed(name, external, min_history=settings.min_history)
            candidates.append(name)
    bt_settings = settings.backtest
    bt_horizon = bt_settings.horizon or settings.horizon
    min_train = max(
        [registry.get(c).min_history for c in candidates if c in registry.MODELS]
        + [settings.min_history]
    )
    origins = backtest.rolling_origins(
        n, horizon=bt_horizon, folds=bt_settings.folds, step=bt_settings.step, min_train=min_train
    )
    insample = data.y[: origins[0]] if origins else data.y

    results = (
        [backtest.run_backtest(c, specs[c], data, origins, bt_horizon) for c in candidates]
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
    chosen, out, errors = _final_forecast(data, order, ensemble_of, specs)
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
    explanations = explain.explanation_rows(out, keys=keys, dates=forecasts["date"], model=chosen)
    return SeriesResult(
        forecasts=forecasts, metrics=metrics_pdf, run=run, explanations=explanations
    )


def series_records_schema(quantiles) -> T.StructType:
    """The grouped-UDF output: forecast, metric, run and explanation rows stacked, told apart
    by ``record``.

    Every column is nullable: each record kind fills only its own columns.
    """
    quantiles = list(quantiles)
    fields: dict[str, T.DataType] = {
        "sku": T.StringType(),
        "location": T.StringType(),
        "record": T.StringType(),
    }
    for schema in (
        forecast_series_schema(quantiles),
        backtest_metrics_schema(quantiles),
        MODEL_RUN,
        EXPLANATION_SERIES,
    ):
        for f in schema.fields:
            fields.setdefault(f.name, f.dataType)
    return T.StructType(
        [T.StructField(name, dtype, nullable=True) for name, dtype in fields.items()]
    )


def series_records(
    history_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    settings: ForecastSettings,
    holidays: pd.DataFrame | None = None,
    external: pd.DataFrame | None = None,
    models: dict[str, registry.ModelSpec] | None = None,
) -> pd.DataFrame:
    """:func:`forecast_series` stacked into one frame with a ``record`` column, for Spark.

    Args:
        models: the driver's registry (``registry.MODELS``), shipped with the function so that
            models registered at run time (tests, plugins) exist in the Python workers too.
    """
    if models:
        registry.MODELS.update(models)
    result = forecast_series(
        history_pdf, run_date=run_date, settings=settings, holidays=holidays, external=external
    )
    return _stacked(result, settings)


def _stacked(result: SeriesResult, settings: ForecastSettings) -> pd.DataFrame:
    frames = [
        result.forecasts.assign(record=RECORD_FORECAST),
        result.metrics.assign(record=RECORD_METRIC),
        result.run.assign(record=RECORD_RUN),
        result.explanations.assign(record=RECORD_EXPLANATION),
    ]
    schema = series_records_schema(settings.quantiles)
    records = pd.concat([f for f in frames if len(f)], ignore_index=True).reindex(
        columns=schema.fieldNames()
    )
    # A string column of a record kind this series lacks (no explanations) comes out as
    # float NaN, which Arrow refuses; as objects they are plain nulls.
    text = [f.name for f in schema.fields if f.dataType.typeName() == "string"]
    return records.astype({c: object for c in text if records[c].dtype != object})


def fallback_records(
    history_pdf: pd.DataFrame,
    error: str,
    *,
    run_date: dt.date,
    settings: ForecastSettings,
    holidays: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Records of a series whose forecast failed outright, like :func:`series_records`.

    For the fan-out's ``on_error``: :func:`forecast_series` raised, or the Python process
    fitting the series died. Only the last-resort models (:data:`registry.FALLBACKS`) run:
    status ``fallback`` and ``error`` say what happened. When even they fail, the series gets
    one run record, status ``failed``, and no forecast.
    """
    last_resort = settings.model_copy(update={"models": (), "ensemble_size": 0})
    try:
        result = forecast_series(
            history_pdf, run_date=run_date, settings=last_resort, holidays=holidays
        )
        error = f"{error}; fell back to {result.run['chosen_model'].iloc[0]}"
        failed = {"status": STATUS_FALLBACK, "error": error}
        return _stacked(
            SeriesResult(
                result.forecasts.assign(**failed),
                result.metrics,
                result.run.assign(**failed),
                result.explanations,
            ),
            settings,
        )
    except Exception as exc:
        run = pd.DataFrame(
            [
                {
                    **{k: history_pdf[k].iloc[0] for k in KEYS},
                    "chosen_model": "none",
                    "candidates": "",
                    "status": STATUS_FAILED,
                    "error": f"{error}; {backtest.error_text(exc)}"[:1000],
                    "training_rows": len(history_pdf),
                    "backtest_folds": 0,
                    "fit_seconds": 0.0,
                    "params": "{}",
                }
            ]
        )
        empty = pd.DataFrame()
        return _stacked(SeriesResult(empty, empty, run, empty), settings)


def global_group_forecasts(
    group_pdf: pd.DataFrame, *, run_date: dt.date, settings: ForecastSettings
) -> pd.DataFrame:
    """Train one LightGBM on a group of series at each backtest origin and at the run date.

    The origins are the same days the per-series backtests use (``run_date - horizon -
    k * step``), so each series can score these forecasts next to its own models.

    Args:
        group_pdf: clean sales of every series in the group: ``sku, location, date, qty``
            and optionally ``price, promo, is_stockout``.

    Returns:
        ``sku, location, model, origin, ds, yhat``, a column per quantile, ``error`` and the
        driver columns (:data:`skuplan.columns.CONTRIBUTION_COLUMNS`, filled on the final
        forecast's rows only): one row per series, origin and forecast day; a single error
        row per series when the group's model failed.
    """
    from skuplan.models.lgbm import lgbm_global_forecast

    name = registry.GLOBAL_MODELS[0]
    end = last_period(run_date, settings.freq)
    offset = pd.tseries.frequencies.to_offset(settings.freq)
    daily = []
    for keys, pdf in group_pdf.groupby(list(KEYS), sort=True):
        one = daily_history(pdf, end, settings.freq)
        if len(one) >= settings.min_history:
            daily.append(one.assign(**dict(zip(KEYS, keys, strict=True))))
    columns = [
        *KEYS,
        "model",
        "origin",
        "ds",
        "yhat",
        *[quantile_column(q) for q in settings.quantiles],
        "error",
        *CONTRIBUTION_COLUMNS,
    ]
    if not daily:
        return pd.DataFrame(columns=columns)
    history = pd.concat(daily, ignore_index=True)[[*KEYS, "ds", "y", "price", "promo"]]
    bt_horizon = settings.backtest.horizon or settings.horizon
    origins = [
        pd.Timestamp(run_date) - (bt_horizon + k * settings.backtest.step) * offset
        for k in range(settings.backtest.folds)
    ]
    method = "objective" if settings.quantile_method == "model" else "none"
    outputs = []
    try:
        for origin in [*origins, pd.Timestamp(run_date)]:
            train = history[history["ds"] < origin]
            counts = train.groupby(list(KEYS))["ds"].transform("size")
            train = train[counts >= settings.min_history]
            if train.empty:
                continue
            if origin == pd.Timestamp(run_date):
                future = pd.concat(
                    [future_frame(h, run_date, settings.horizon, settings.freq).assign(**dict(zip(KEYS, k, strict=True)))
                     for k, h in train.groupby(list(KEYS), sort=True)],
                    ignore_index=True,
                )  # fmt: skip
            else:
                window = (history["ds"] >= origin) & (history["ds"] < origin + bt_horizon * offset)
                future = (
                    history[window]
                    .drop(columns="y")
                    .merge(train[list(KEYS)].drop_duplicates(), on=list(KEYS))
                )
            out = lgbm_global_forecast(
                train,
                future,
                keys=KEYS,
                quantiles=settings.quantiles,
                quantile_method=method,
                # Only the final forecast is explained, not the backtest origins.
                contributions=origin == pd.Timestamp(run_date),
            )
            outputs.append(out.assign(model=name, origin=origin, error=None))
    except Exception as exc:  # the group's model failed: each series records why and moves on
        return global_group_failed(history, backtest.error_text(exc), settings=settings)
    result = pd.concat(outputs, ignore_index=True) if outputs else pd.DataFrame(columns=columns)
    result = result.reindex(columns=columns)
    for col in ("origin", "ds"):
        result[col] = pd.to_datetime(result[col]).dt.date
    return result


def global_group_failed(
    group_pdf: pd.DataFrame, error: str, *, settings: ForecastSettings
) -> pd.DataFrame:
    """The output of a group whose global model failed: one error row per series.

    Each series then records the global model as a candidate that failed and moves on (also
    the fan-out's ``on_error`` for a group whose Python process died).
    """
    name = registry.GLOBAL_MODELS[0]
    columns = [f.name for f in global_forecasts_schema(settings.quantiles).fields]
    return (
        group_pdf[list(KEYS)]
        .drop_duplicates()
        .assign(model=name, origin=pd.NaT, ds=pd.NaT, yhat=np.nan, error=f"{name}: {error}")
        .reindex(columns=columns)
    )
