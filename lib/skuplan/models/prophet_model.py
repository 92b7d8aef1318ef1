"""Prophet for one series: fit on the history, sample the future rows only.

Runs inside an ``applyInPandas`` worker thousands of times, one core each, so the cost
per series is what matters. Measured with ``bench/bench_models.py`` (prophet 1.5.0,
cmdstan 2.37, one 5-year daily series of Poisson counts around weekly + yearly
seasonality, 28-day horizon, weekly + yearly on, no regressors; core-seconds = user +
system CPU of this process and of the cmdstan child process, median of 5 runs, on a
2-core machine; the first and last rows measured again on 2026-11-26, the others before
the JSON writer below, which saves about 0.03 core-s from each fit):

======================================================  =======
setting                                                  core-s
======================================================  =======
``prophet_forecast``, no draws (the job's default)       0.114
``prophet_forecast`` (LBFGS, 200 samples, future only)   0.161
``prophet_forecast`` with 1,000 samples                  0.169
``Prophet.fit`` alone, LBFGS (Prophet's default here)    0.141
``Prophet.fit`` alone, ``algorithm="Newton"``            2.50
fit + ``predict()`` of history + future, 1,000 samples   0.314
======================================================  =======

So one forecast is within the 0.2 core-second target; the job's rolling-origin selection
fits once more per backtest fold (see BENCHMARKS.md). What the knobs do:

- ``algorithm="Newton"`` is ~18x slower on 1,800 rows (Stan's Newton builds a Hessian
  from ~60 parameters each iteration); Prophet only picks it below 100 rows. Keep LBFGS.
- Never call ``predict()``: it predicts the history when given none, and with a future
  frame it draws the samples once for its intervals while we would draw them again for
  the quantiles. We compute trend and components (deterministic, cheap) and draw the
  predictive samples once, on the future rows.
- ``uncertainty_samples`` matters little on 28 rows (vectorised sampling); 200 draws
  place q10/q90 within about +-2 percentile points (one standard error), well inside the
  error of the model itself.
- About a third of ``fit`` was Python writing the 1,800 x 26 feature matrix as JSON for the
  cmdstan process: ``stanio`` streams it through the pure-Python JSON encoder.
  :func:`_fast_stan_json` writes the same file with the C encoder (``json.dumps``): the
  same fitted parameters, 0.166 -> 0.133 core-s per fit. The optimiser itself is ~0.05 s;
  looser tolerances save ~0.01 s and are not worth the risk.
- With conformal bands (the default) the job asks for no predictive draws at all
  (``uncertainty_samples=0``, see ``models/registry.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from skuplan.columns import quantile_column


def _write_stan_json(path: Path, values: dict[str, Any]) -> str:
    path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in values.items()}))
    return str(path)


def _fast_stan_json(model: Prophet) -> Prophet:
    """Let ``model``'s cmdstan optimiser read data and inits written by the C JSON encoder.

    Prophet hands cmdstanpy dicts of numpy arrays, which ``stanio`` writes element by
    element through the pure-Python encoder; cmdstanpy also accepts file paths, so the
    files are written here in one ``json.dumps`` each. Only this model's backend is wrapped.
    """
    stan_model = model.stan_backend.model
    optimize = stan_model.optimize

    def optimize_from_files(*, data: dict, inits: dict, **kwargs: Any) -> Any:
        with tempfile.TemporaryDirectory(prefix="skuplan-stan-") as tmp:
            return optimize(
                data=_write_stan_json(Path(tmp, "data.json"), data),
                inits=_write_stan_json(Path(tmp, "inits.json"), inits),
                **kwargs,
            )

    stan_model.optimize = optimize_from_files
    return model


def _quiet_prophet_logging() -> None:
    """Keep cmdstanpy/prophet INFO chatter out of the worker logs.

    cmdstanpy installs its own handler (level DEBUG) on first use unless a handler
    exists, so the handler is installed first and the level lowered after.
    """
    import cmdstanpy

    cmdstanpy.utils.get_logger()
    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # prophet logs "Importing plotly failed" at ERROR on import; plots are never used here.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


_quiet_prophet_logging()

from prophet import Prophet  # noqa: E402  (imported after silencing its import-time log)

REGRESSORS = ("price", "promo")
COMPONENTS = ("trend", "weekly", "yearly", "holidays", "extra_regressors")
# extra_regressors split per regressor (they add up to it): promo_effect, price_effect.
REGRESSOR_COMPONENTS = tuple(f"{name}_effect" for name in REGRESSORS)
MIN_YEARS_FOR_YEARLY = 2


@contextlib.contextmanager
def _seeded_global_rng(seed: int | None) -> Iterator[None]:
    """Prophet samples from ``np.random``'s global state: seed it, then restore it."""
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _usable_regressors(history: pd.DataFrame, future: pd.DataFrame) -> list[str]:
    """Regressors present in both frames and not constant in the history."""
    return [
        name
        for name in REGRESSORS
        if name in history
        and name in future
        and pd.to_numeric(history[name], errors="coerce").nunique(dropna=True) > 1
    ]


def _fill_regressor(values: pd.Series, name: str, last_known: float | None = None) -> pd.Series:
    """Prophet rejects NaN regressors: no promo means 0, a missing price the last price."""
    values = pd.to_numeric(values.astype(float), errors="coerce")
    if name == "promo":
        return values.fillna(0.0)
    values = values.ffill()
    if last_known is not None:
        values = values.fillna(last_known)
    return values.bfill()


def non_crossing_quantiles(
    samples: np.ndarray, quantiles: Sequence[float]
) -> dict[float, np.ndarray]:
    """Quantiles of ``samples`` (rows x draws), clipped at 0 and increasing in ``q``."""
    levels = sorted(quantiles)
    values = np.quantile(samples, levels, axis=1) if len(levels) else np.empty((0, len(samples)))
    values = np.maximum.accumulate(np.maximum(values, 0.0), axis=0)
    return dict(zip(levels, values, strict=True))


def _history_frame(history: pd.DataFrame, regressors: Sequence[str]) -> pd.DataFrame:
    """The history rows with a target, sorted by day, regressors filled."""
    hist = history.loc[history["y"].notna(), ["ds", "y", *regressors]].copy()
    hist["ds"] = pd.to_datetime(hist["ds"])
    hist = hist.sort_values("ds", kind="mergesort")
    for name in regressors:
        hist[name] = _fill_regressor(hist[name], name)
    return hist


def _sorted_future(
    future: pd.DataFrame, regressors: Sequence[str], hist: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """``future`` sorted by day with regressors filled, and the order that sorted it.

    Prophet sorts by ``ds``; sorting here and undoing it at the end keeps the forecast
    aligned with ``future``. A missing future price takes the last price of ``hist``.
    """
    fut = future[["ds", *regressors]].reset_index(drop=True)
    fut["ds"] = pd.to_datetime(fut["ds"])
    order = np.argsort(fut["ds"].to_numpy(), kind="stable")
    fut = fut.iloc[order].reset_index(drop=True)
    for name in regressors:
        last = float(hist[name].iloc[-1]) if len(hist) else None
        fut[name] = _fill_regressor(fut[name], name, last_known=last)
    return fut, order


def _spans_yearly(hist: pd.DataFrame) -> bool:
    """Whether ``hist`` covers enough years to fit yearly seasonality."""
    span = hist["ds"].max() - hist["ds"].min() if len(hist) else pd.Timedelta(0)
    return span >= pd.Timedelta(days=365 * MIN_YEARS_FOR_YEARLY)


def _new_model(
    regressors: Sequence[str],
    *,
    holidays: pd.DataFrame | None,
    weekly: bool,
    yearly: bool,
    uncertainty_samples: int,
    seasonality_mode: str,
) -> Prophet:
    """An unfitted Prophet with the fast JSON writer and ``regressors`` added."""
    model = _fast_stan_json(
        Prophet(
            weekly_seasonality=weekly,
            yearly_seasonality=yearly,
            daily_seasonality=False,
            holidays=holidays if holidays is not None and len(holidays) else None,
            seasonality_mode=seasonality_mode,
            uncertainty_samples=uncertainty_samples,
        )
    )
    for name in regressors:
        model.add_regressor(name)
    return model


class _Prediction(NamedTuple):
    """Prophet's parts of the forecast for the sorted future rows."""

    frame: pd.DataFrame  # the future as Prophet set it up (scaled columns, ``trend``)
    trend: np.ndarray
    seasonal: pd.DataFrame  # predict_seasonal_components: the terms in model units
    draws: np.ndarray | None  # predictive draws (rows x draws), None without sampling


def _fit_and_predict(
    model: Prophet, hist: pd.DataFrame, fut: pd.DataFrame, *, sample: bool
) -> _Prediction:
    """Fit ``model`` on ``hist`` and predict the ``fut`` rows only.

    ``predict()`` would also draw interval samples; the future is set up once, the
    deterministic parts are taken directly and the predictive samples drawn once.
    """
    model.fit(hist)
    frame = model.setup_dataframe(fut.copy())
    trend = np.asarray(model.predict_trend(frame), dtype=float)
    frame["trend"] = trend
    seasonal = model.predict_seasonal_components(frame)
    draws = model.sample_posterior_predictive(frame, vectorized=True)["yhat"] if sample else None
    return _Prediction(frame, trend, seasonal, draws)


def _components_in_units(model: Prophet, prediction: _Prediction) -> dict[str, np.ndarray]:
    """The components in demand units (0 where absent); they add up to ``yhat``."""
    _, trend, seasonal, _ = prediction
    multiplicative = (
        set(model.component_modes["multiplicative"]) if model.component_modes else set()
    )

    def in_units(name: str) -> np.ndarray:
        if name not in seasonal:
            return np.zeros(len(trend))
        values = seasonal[name].to_numpy(dtype=float)
        return trend * values if name in multiplicative else values

    return {
        "trend": trend,
        "weekly": in_units("weekly"),
        "yearly": in_units("yearly"),
        "holidays": in_units("holidays"),
        "extra_regressors": in_units("extra_regressors_additive")
        + in_units("extra_regressors_multiplicative"),
        # Prophet predicts each regressor's term too (named after it), unused ones are 0.
        **{f"{name}_effect": in_units(name) for name in REGRESSORS},
    }


def _forecast_frame(
    model: Prophet, prediction: _Prediction, quantiles: Sequence[float]
) -> pd.DataFrame:
    """``ds``, ``yhat``, the quantile columns and the components, one row per future row."""
    frame, trend, seasonal, draws = prediction
    components = _components_in_units(model, prediction)
    yhat = trend * (1 + seasonal["multiplicative_terms"].to_numpy(dtype=float)) + seasonal[
        "additive_terms"
    ].to_numpy(dtype=float)

    out = {"ds": frame["ds"].to_numpy(), "yhat": np.maximum(yhat, 0.0)}
    if draws is not None:
        bands = non_crossing_quantiles(draws, quantiles)
        out.update({quantile_column(q): bands[q] for q in quantiles})
    else:
        out.update({quantile_column(q): np.full(len(frame), np.nan) for q in quantiles})
    out.update(components)
    return pd.DataFrame(out)


def prophet_forecast(
    history: pd.DataFrame,
    future: pd.DataFrame,
    *,
    quantiles: Sequence[float],
    holidays: pd.DataFrame | None = None,
    weekly: bool = True,
    yearly: bool | None = None,
    uncertainty_samples: int = 200,
    seasonality_mode: str = "additive",
    seed: int | None = 0,
) -> pd.DataFrame:
    """Fit Prophet on one series' history and forecast the ``future`` rows.

    Args:
        history: columns ``ds`` (datetime64), ``y`` (float); optional ``price``,
            ``promo``. Each optional column becomes an extra regressor when it is not
            constant in ``history`` and is present in ``future``.
        future: the days to forecast: ``ds`` plus the same regressor columns.
        quantiles: quantile levels, e.g. ``(0.1, 0.5, 0.9)``.
        holidays: Prophet's holidays frame (``holiday``, ``ds``, optional
            ``lower_window``, ``upper_window``, ``prior_scale``), e.g. from the events table.
        weekly: fit weekly seasonality.
        yearly: fit yearly seasonality; ``None`` turns it on only with at least two years
            of history.
        uncertainty_samples: predictive draws used for the quantiles.
        seasonality_mode: ``"additive"`` or ``"multiplicative"``.
        seed: seed for Prophet's draws (the same input gives the same quantiles);
            ``None`` leaves numpy's global state alone.

    Returns:
        One row per ``future`` row, in the same order: ``ds``, ``yhat``, one column per
        quantile (``quantile_column(q)``: ``q10``, ``q50``...) from the predictive draws,
        clipped at 0 and non-crossing; and the components in demand units, ``trend``,
        ``weekly``, ``yearly``, ``holidays``, ``extra_regressors`` (0 where absent),
        which add up to ``yhat`` before clipping, and ``extra_regressors`` per regressor:
        ``promo_effect``, ``price_effect``.

    Raises:
        ValueError: history with fewer than 2 non-NaN ``y``, or an empty ``future``.
    """
    if len(future) == 0:
        raise ValueError("future has no rows")
    regressors = _usable_regressors(history, future)
    hist = _history_frame(history, regressors)
    fut, order = _sorted_future(future, regressors, hist)
    model = _new_model(
        regressors,
        holidays=holidays,
        weekly=weekly,
        yearly=_spans_yearly(hist) if yearly is None else yearly,
        uncertainty_samples=uncertainty_samples,
        seasonality_mode=seasonality_mode,
    )
    with _seeded_global_rng(seed):
        prediction = _fit_and_predict(model, hist, fut, sample=uncertainty_samples > 0)
    result = _forecast_frame(model, prediction, quantiles)
    result.index = order
    return result.sort_index()
