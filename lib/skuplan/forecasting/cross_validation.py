"""Rolling-origin cross-validation of competing models on one series.

:func:`cross_validate` fits every model at each origin and forecasts the next ``h`` periods,
and returns one long frame, as forecasting libraries shape it: one row per model, cutoff and
forecast period, with the actual value beside the forecast.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from skuplan.columns import quantile_column
from skuplan.models.data import SeriesData
from skuplan.models.registry import ModelSpec

BASE_COLUMNS = ["model", "cutoff", "ds", "step", "y", "yhat"]


def cv_columns(quantiles: tuple[float, ...]) -> list[str]:
    """The columns of :func:`cross_validate`'s frame."""
    return [*BASE_COLUMNS, *[quantile_column(q) for q in quantiles], "fit_seconds", "error"]


def rolling_origins(n: int, *, horizon: int, folds: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the folds, oldest first.

    Fold ``k`` trains on the first ``n - horizon - k * step`` periods and is scored on the
    ``horizon`` periods after them; folds that would train on fewer than ``min_train``
    periods are dropped.
    """
    lengths = [n - horizon - k * step for k in range(folds)]
    return sorted(length for length in lengths if length >= min_train)


def origin_dates(run_date, *, freq: str, horizon: int, folds: int, step: int) -> list[pd.Timestamp]:
    """The first forecast period of each fold as dates (``run_date - horizon - k * step``
    periods), for models that forecast many series at once and are scored on the same
    folds as the per-series ones."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return [pd.Timestamp(run_date) - (horizon + k * step) * offset for k in range(folds)]


def error_text(exc: BaseException) -> str:
    """One line naming the exception, short enough for a table cell."""
    return "".join(traceback.format_exception_only(exc)).strip().replace("\n", " ")[:500]


def cross_validate(
    data: SeriesData, models: Mapping[str, ModelSpec], *, origins: list[int], h: int
) -> pd.DataFrame:
    """Fit each model of ``models`` at each origin and forecast the next ``h`` periods.

    Returns:
        :func:`cv_columns`: ``model, cutoff`` (the last training period), ``ds, step``
        (1..h), ``y`` (actual), ``yhat`` (clipped at 0), one column per quantile (the
        model's own, NaN unless it gave finite ones on every fold), ``fit_seconds`` (the
        model's total) and ``error``. A model that raised on any fold is recorded with one
        row holding its ``error`` and no forecasts: one model must not sink the series.
    """
    frames = [_model_folds(name, spec, data, origins, h) for name, spec in models.items()]
    columns = cv_columns(data.quantiles)
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _model_folds(
    name: str, spec: ModelSpec, data: SeriesData, origins: list[int], h: int
) -> pd.DataFrame:
    qcols = [quantile_column(q) for q in data.quantiles]
    folds, started = [], time.perf_counter()
    try:
        for n_train in origins:
            fold, actual = data.backtest_fold(n_train, h)
            out = spec.fn(fold)
            if len(out) != h:
                raise ValueError(f"{name} returned {len(out)} rows for {h} periods")
            native = {c: out[c].to_numpy(float) if c in out else np.full(h, np.nan) for c in qcols}
            folds.append(
                pd.DataFrame(
                    {
                        "cutoff": fold.history["ds"].iloc[-1],
                        "ds": fold.future["ds"].to_numpy(),
                        "step": np.arange(1, h + 1),
                        "y": actual,
                        "yhat": np.maximum(out["yhat"].to_numpy(dtype=float), 0.0),
                        **native,
                    }
                )
            )
    except Exception as exc:  # recorded, not raised
        seconds = time.perf_counter() - started
        return pd.DataFrame({"model": [name], "fit_seconds": seconds, "error": error_text(exc)})
    frame = pd.concat(folds, ignore_index=True)
    if not np.isfinite(frame[qcols].to_numpy(float)).all():
        frame[qcols] = np.nan  # native quantiles only when every fold has them
    return frame.assign(model=name, fit_seconds=time.perf_counter() - started, error=None)


def fold_matrix(cv_model: pd.DataFrame, column: str) -> np.ndarray:
    """One model's ``column`` as a ``folds x steps`` array (rows ordered by cutoff, step)."""
    return fold_matrices(cv_model, [column])[column]


def fold_matrices(cv_model: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """One model's ``columns``, each as a ``folds x steps`` array (rows ordered by cutoff,
    step; failed rows left out), the rows ordered once for all of them.

    In arrays, not a sorted copy of the frame: it runs a dozen times per series."""
    ok = cv_model["error"].isna().to_numpy()
    step = cv_model["step"].to_numpy()[ok]
    steps = int(step.max()) if len(step) else 0
    if not steps:
        return {c: np.empty((0, 0)) for c in columns}
    cutoff = pd.DatetimeIndex(cv_model["cutoff"].to_numpy()[ok]).asi8
    order = np.lexsort((step, cutoff))  # by cutoff, then step; stable
    return {c: cv_model[c].to_numpy(dtype=float)[ok][order].reshape(-1, steps) for c in columns}
