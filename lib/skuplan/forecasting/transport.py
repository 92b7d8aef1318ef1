"""The functions the Spark fan-out runs per group, and the schemas of what they return.

A grouped pandas UDF returns one frame, so :func:`series_records` stacks the four frames of
:func:`~skuplan.forecasting.series.forecast_series` into one, told apart by a ``record``
column; the stage splits them again. :func:`global_group_forecasts` runs a global model on
one group of series; its output is cogrouped with each series' history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from skuplan.columns import FORECAST_FAILED, FORECAST_FALLBACK, KEYS
from skuplan.forecasting import model_files
from skuplan.forecasting.cross_validation import error_text, origin_dates
from skuplan.forecasting.recalibrate import recalibrate_series
from skuplan.forecasting.series import SeriesResult, forecast_series
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import global_lgbm
from skuplan.schemas import (
    EXPLANATION_SERIES,
    MODEL_RUN,
    RESIDUAL,
    backtest_metrics_schema,
    candidate_schema,
    forecast_series_schema,
    nullable,
    schema,
)

RECORD_FORECAST, RECORD_METRIC, RECORD_RUN = "forecast", "metric", "run"
RECORD_EXPLANATION, RECORD_CANDIDATE, RECORD_RESIDUAL = "explanation", "candidate", "residual"
# A series' stored state on one of its rows -> recalibrate_series' argument.
STATE_COLUMNS = {
    "_state_chosen": "chosen_model",
    "_state_recipe": "recipe",
    "_state_offsets": "band_offsets",
}
# The rows of a global model's group output that hold its models, one per fit (keys null).
GLOBAL_MODEL_COLUMNS = ["group_key", "fit", "trained_on", "model_path"]
RECORDS = {
    RECORD_FORECAST: "forecasts",
    RECORD_METRIC: "metrics",
    RECORD_RUN: "run",
    RECORD_EXPLANATION: "explanations",
    RECORD_CANDIDATE: "candidates",
    RECORD_RESIDUAL: "residuals",
}


def record_schemas(quantiles) -> dict[str, T.StructType]:
    """The schema of each record kind (the columns of its table, without the run stamps)."""
    return {
        RECORD_FORECAST: forecast_series_schema(quantiles),
        RECORD_METRIC: backtest_metrics_schema(quantiles),
        RECORD_RUN: MODEL_RUN,
        RECORD_EXPLANATION: EXPLANATION_SERIES,
        RECORD_CANDIDATE: candidate_schema(),
        RECORD_RESIDUAL: RESIDUAL,
    }


def series_records_schema(quantiles) -> T.StructType:
    """The grouped-UDF output: every record kind's columns (each once, all nullable: each
    kind fills only its own) behind the keys and ``record``."""
    return _records_schema(tuple(quantiles))


@functools.lru_cache(maxsize=8)
def _records_schema(quantiles: tuple) -> T.StructType:  # built once, not once per series
    by_name = {"sku": None, "location": None, "record": T.StringType()}
    fields = schema("sku:s location:s record:s").fields
    for struct in record_schemas(list(quantiles)).values():
        for f in struct.fields:
            if f.name not in by_name:
                by_name[f.name] = f.dataType
                fields.append(f)
    return nullable(T.StructType(fields))


def stacked(result: SeriesResult, quantiles) -> pd.DataFrame:
    """The four frames of ``result`` in one, with a ``record`` column."""
    frames = [getattr(result, attr).assign(record=kind) for kind, attr in RECORDS.items()]
    names, text = _stacked_columns(tuple(quantiles))
    records = pd.concat([f for f in frames if len(f)], ignore_index=True)
    # A string or date column of a record kind this series lacks (no explanations) would
    # come out as float NaN, which Arrow refuses; as objects they are plain nulls.
    n = len(records)

    def column(name: str):
        if name not in records:
            return np.full(n, None, dtype=object) if name in text else np.full(n, np.nan)
        values = records[name]
        return values.astype(object) if name in text and values.dtype != object else values

    return pd.DataFrame({name: column(name) for name in names})


@functools.lru_cache(maxsize=8)
def _stacked_columns(quantiles: tuple) -> tuple[list[str], frozenset[str]]:
    """The output's column names, and those of its string and date columns."""
    struct = _records_schema(quantiles)
    text = [f.name for f in struct.fields if f.dataType.typeName() in ("string", "date")]
    return struct.fieldNames(), frozenset(text)


def split_state(history_pdf: pd.DataFrame) -> tuple[pd.DataFrame, dict | None]:
    """The series' rows without the state columns, and its state when it has one: the
    stage puts ``STATE_COLUMNS`` on one horizon row of each series that takes the
    incremental path."""
    present = [c for c in STATE_COLUMNS if c in history_pdf]
    if not present:
        return history_pdf, None
    rows = history_pdf[history_pdf[present[0]].notna()]
    saved = {arg: rows[c].iloc[0] for c, arg in STATE_COLUMNS.items()} if len(rows) else None
    return history_pdf.drop(columns=present), saved


def series_records(history_pdf: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """:func:`~skuplan.forecasting.series.forecast_series` (same keyword arguments), or
    with a stored state :func:`~skuplan.forecasting.recalibrate.recalibrate_series`,
    stacked (see :func:`stacked`), for Spark.

    The driver passes its model registry as ``models``, so that models registered at run
    time (tests, plugins) exist in the Python workers too.
    """
    history_pdf, saved = split_state(history_pdf)
    if saved is None:
        result = forecast_series(history_pdf, **kwargs)
    else:
        result = recalibrate_series(history_pdf, **kwargs, **saved)
    return stacked(result, kwargs["spec"].quantiles)


def fallback_records(
    history_pdf: pd.DataFrame,
    error: str,
    *,
    run_date: dt.date,
    spec: ForecastSpec,
    holidays: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Records of a series whose forecast failed outright, like :func:`series_records`.

    For the fan-out's ``on_error``: :func:`forecast_series` raised, or the Python process
    fitting the series died. Only the last-resort models run: status ``fallback`` and
    ``error`` say what happened. When even they fail, the series gets one run record,
    status ``failed``, and no forecast.
    """
    last_resort = dataclasses.replace(spec, models=(), ensemble_size=0)
    history_pdf = split_state(history_pdf)[0]
    try:
        result = forecast_series(
            history_pdf, run_date=run_date, spec=last_resort, holidays=holidays
        )
    except Exception as exc:
        return stacked(_failed(history_pdf, f"{error}; {error_text(exc)}"), spec.quantiles)
    error = f"{error}; fell back to {result.run['chosen_model'].iloc[0]}"
    failed = {"status": FORECAST_FALLBACK, "error": error}
    result = dataclasses.replace(
        result, forecasts=result.forecasts.assign(**failed), run=result.run.assign(**failed)
    )
    return stacked(result, spec.quantiles)


def _failed(history_pdf: pd.DataFrame, error: str) -> SeriesResult:
    run = {
        **{k: history_pdf[k].iloc[0] for k in KEYS},
        "chosen_model": "none",
        "candidates": "",
        "status": FORECAST_FAILED,
        "error": error[:1000],
        "training_rows": len(history_pdf),
        "backtest_folds": 0,
        "fit_seconds": 0.0,
        "params": "{}",
    }
    empty = pd.DataFrame()
    return SeriesResult(empty, empty, pd.DataFrame([run]), empty)


def global_group_forecasts(
    group_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    spec: ForecastSpec,
    group_cols: Sequence[str] = (),
    kept: Mapping[str, Mapping[int, tuple[dt.date, str]]] | None = None,
    model_folder: str | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """The global model on one group of series, at the same folds as the per-series
    cross-validation (see :func:`skuplan.models.global_lgbm.forecast_group`), on ``threads``
    cores; a group whose model fails gets one error row per series.

    ``kept``: per group key (:func:`group_key` of ``group_cols``) and fit (0 the final one,
    k the k-th backtest origin), the date a model was trained and the path of its text (see
    :mod:`~skuplan.forecasting.model_files`), to predict from instead of training. Each fit
    trained here is saved under ``model_folder`` (not saved without it), and the output ends
    with a row per such fit (keys null) holding the group's key and the model's path (see
    :data:`GLOBAL_MODEL_COLUMNS`); a kept model stays with the run that trained it.
    """
    origins = origin_dates(
        run_date, freq=spec.freq, horizon=spec.h, folds=spec.folds, step=spec.step
    )
    key = group_key(group_pdf, group_cols)
    try:
        texts = _kept_texts((kept or {}).get(key, {}))
        forecasts, trained = global_lgbm.forecast_group(
            group_pdf,
            run_date=run_date,
            origins=origins,
            freq=spec.freq,
            horizon=spec.horizon,
            cv_horizon=spec.h,
            quantiles=spec.quantiles,
            min_history=spec.min_history,
            drivers=spec.drivers,
            attributes=spec.attributes,
            threads=threads,
            boosters=texts,
        )
        models = [
            {"group_key": key, "fit": fit, "trained_on": run_date,
             "model_path": model_files.save(model_folder, key, fit, text)}
            for fit, text in trained.items()
            if model_folder is not None
        ]  # fmt: skip
    except Exception as exc:  # each series records why and moves on
        return global_group_failed(group_pdf, error_text(exc), spec=spec)
    return _global_output(pd.concat([forecasts, pd.DataFrame(models)], ignore_index=True))


def _kept_texts(kept: Mapping[int, tuple[dt.date, str]]) -> dict[int, str]:
    """The texts of a group's kept models by fit; one whose file is gone is retrained."""
    texts = {}
    for fit, (_, path) in kept.items():
        try:
            texts[fit] = model_files.load(path)
        except FileNotFoundError:
            continue
    return texts


def group_key(group_pdf: pd.DataFrame, group_cols: Sequence[str]) -> str:
    """The name a global model's group is kept under: its grouping columns' values."""
    return json.dumps([str(group_pdf[c].iloc[0]) for c in group_cols])


def _global_output(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the model rows' columns (null where it has none: Arrow takes a column
    of objects, not all-NaN floats, as null strings and dates)."""
    out = frame.assign(**{c: frame.get(c) for c in GLOBAL_MODEL_COLUMNS})
    return out.astype(
        {"group_key": object, "fit": "Int32", "trained_on": object, "model_path": object}
    )


def global_group_failed(group_pdf: pd.DataFrame, error: str, *, spec: ForecastSpec) -> pd.DataFrame:
    """The output of a group whose global model failed (also the fan-out's ``on_error`` for
    a group whose Python process died)."""
    return _global_output(global_lgbm.failed_group(group_pdf, error, quantiles=spec.quantiles))
