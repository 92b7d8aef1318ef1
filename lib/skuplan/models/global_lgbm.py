"""One LightGBM for a group of series (a store, a category, or all), forecasting every step of
the horizon directly from what is known at the forecast origin.

Each training row is (series, origin, step): features describe the series' history up to the
origin and the target period (:mod:`skuplan.models.panel`); the target is the demand
``step`` periods after the origin. Origins are taken every ``origin_every`` periods back
from the training cutoff, so one model serves every step without recursion: an error at
step 1 never feeds step 2.

Levels stay in demand units (dividing them by each series' mean was worse on the M5 subset:
the Tweedie objective's log link already makes effects multiplicative); the Tweedie
objective (default; plain L2 when the group has negative demand, returns) suits counts with
many zeros.

Plain pandas/numpy, run once per group by the fan-out (see
:mod:`skuplan.forecasting.transport`), at each cross-validation origin and at the run date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from skuplan.columns import CONTRIBUTION_COLUMNS, KEYS, contribution_column, quantile_column
from skuplan.models.panel import PERIODS, Panel, build_panel, kind_of, origin_features

NAME = "lightgbm_global"

PARAMS = {
    "learning_rate": 0.03,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    # Validation windows of the M5 subset (three 28-day windows before its held-out tail):
    # 1.5 scored 0.7594 RMSSE / seasonal naive against 1.2's 0.7613 and 1.1's 0.7635 (before
    # the event, cross-location and eight-week features, which brought it to 0.7560).
    "tweedie_variance_power": 1.5,
    "verbose": -1,
    "num_threads": 1,
    "seed": 0,
    "deterministic": True,
}
ROUNDS = 500
MAX_TRAIN_ROWS = 400_000  # bounds a group's memory and time: fewer origins for big groups
MAX_ORIGINS = 60
# Backtest fits only score the model against its competitors: half the rounds at twice the
# rate on fewer rows, about 2.3x cheaper. On the M5 subset's validation window the light
# fit scores 0.775 RMSSE / seasonal naive against the full fit's 0.767, so the backtests
# judge the global model slightly pessimistically.
BACKTEST = {"rounds": 250, "learning_rate": 0.06, "max_rows": 150_000}
# Models are kept between run dates (skuplan.pipeline.forecast_global): a change to what a
# feature means, under the same name, must bump this so that kept models are retrained.
FEATURES_VERSION = 1
EXPLAIN_ROUNDS = 100  # trees whose SHAP values share the forecast out among its drivers

# Feature name -> planner driver (see skuplan.models.explain); drivers and attributes are
# mapped by name at run time.
FEATURE_DRIVERS = {
    "step": "other",
    "dow": "weekday",
    "dom": "season",
    "month": "season",
    "woy": "season",
    "profile": "weekday",
    "profile_8w": "weekday",
    "profile_8w_ratio": "weekday",
    "last_year": "season",
    "series": "other",
}


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


def _design(frame: pd.DataFrame, attributes: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The feature matrix (attributes as pandas categories) and the categorical names."""
    features = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    categorical = [c for c in (*attributes, "series") if c in features]
    for col in categorical:
        features[col] = features[col].astype(str).astype("category")
    return features, categorical


def training_origins(
    cutoff: int, n_series: int, steps: int, kind: str, first: int, max_rows: int = MAX_TRAIN_ROWS
) -> list[int]:
    """Origins before ``cutoff``, newest first, as many as ``max_rows`` and ``MAX_ORIGINS``
    allow: every season's length apart for daily data, every period otherwise, or further
    apart where so few origins' targets would not span a year. A model that never saw a
    month's targets cannot know its season: on store-item's validation window, 33 weekly
    origins of 90-day targets (eight months of them, the backtests' budget) scored 1.02
    scaled RMSE in the backtests against the full fit's 0.65 on the window itself, and the
    combination gave the global model no weight."""
    every = 7 if kind == "D" else 1
    budget = min(max(max_rows // max(n_series * steps, 1), 4), MAX_ORIGINS)
    span = min(PERIODS[kind]["year"] - steps, cutoff - first)  # what the origins should cover
    spread = max(-(-span // (budget * every)), 1)
    origins = range(cutoff - every, first, -every * spread)
    return list(origins)[:budget]


def fit(
    panel: Panel,
    cutoff: int,
    *,
    steps: int,
    kind: str,
    attributes: Sequence[str],
    light: bool,
    threads: int = 1,
):
    """Train on targets before period ``cutoff`` (``light``: the backtest settings,
    :data:`BACKTEST`) on ``threads`` cores; returns the booster, or None without rows."""
    masked = dataclasses.replace(panel, y=panel.y.copy())
    masked.y[:, cutoff:] = np.nan
    first = max(PERIODS[kind]["windows"][1], 1)
    max_rows = BACKTEST["max_rows"] if light else MAX_TRAIN_ROWS
    origins = training_origins(cutoff, len(panel.keys), steps, kind, first, max_rows)
    frames = [origin_features(masked, o, steps, kind) for o in origins]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty or rows["_y"].notna().sum() == 0:
        return None
    rows = rows[rows["_y"].notna()]
    features, categorical = _design(rows, attributes)
    label = rows["_y"].to_numpy(float)
    objective = "tweedie" if (label >= 0).all() else "regression"
    data = lgb.Dataset(features, label, categorical_feature=categorical, free_raw_data=True)
    params = {**PARAMS, "objective": objective, "num_threads": threads, **_histograms(threads)}
    if light:
        params["learning_rate"] = BACKTEST["learning_rate"]
    return lgb.train(params, data, num_boost_round=BACKTEST["rounds"] if light else ROUNDS)


def _histograms(threads: int) -> dict[str, bool]:
    """How LightGBM builds its histograms. On one thread, row by row: the same sums in the
    same order as column by column, so the same model, and 15-30% faster on the M5 subset's
    and store-item's groups. On more threads, column by column: each feature's sums then run
    over all rows in order on one thread, so the model does not depend on the thread count
    (row by row, each thread sums a block of rows and the last bits of the sums do)."""
    return {"force_row_wise": True} if threads == 1 else {"force_col_wise": True}


def predict(
    booster,
    panel: Panel,
    origin: int,
    *,
    steps: int,
    kind: str,
    attributes,
    explain: bool,
    threads: int = 1,
):
    """Forecasts of every series from ``origin``: ``sku, location, ds, yhat`` and, with
    ``explain``, the driver columns (adding up to ``yhat``)."""
    rows = origin_features(panel, origin, steps, kind)
    features, _ = _design(rows, attributes)
    yhat = np.maximum(booster.predict(features, num_threads=threads), 0.0)
    out = pd.DataFrame(
        {
            **{k: rows[f"_{k}"].to_numpy() for k in KEYS},
            "ds": panel.dates[rows["_t"].to_numpy()],
            "yhat": yhat,
        }
    )
    if explain:
        out = out.join(_contributions(booster, features, yhat, panel, attributes, threads))
    return out


def _driver_of(name: str, drivers: Sequence[str], attributes: Sequence[str]) -> str:
    base = name.split("_vs_")[0].removesuffix("_until").removesuffix("_since")
    if name in FEATURE_DRIVERS:
        return FEATURE_DRIVERS[name]
    if base in drivers:
        lowered = base.lower()
        if "price" in lowered:
            return "price"
        if "promo" in lowered or "markdown" in lowered:
            return "promotion"
        if "event" in lowered or "holiday" in lowered:
            return "holiday"
        return "other"
    if name in attributes:
        return "other"
    return "recent level"  # levels, last periods, spread, zeros, periods since a sale


def _contributions(booster, features, yhat, panel: Panel, attributes, threads) -> pd.DataFrame:
    """SHAP values per driver in demand units, adding up to ``yhat``. Tree SHAP over all the
    trees took two thirds of the model's time: the shares come from the first
    :data:`EXPLAIN_ROUNDS`. The baseline is the expected value's level (Tweedie works in log
    space); the rest is shared out in proportion to each driver's contribution."""
    rounds = min(EXPLAIN_ROUNDS, booster.current_iteration())
    shap = booster.predict(features, pred_contrib=True, num_iteration=rounds, num_threads=threads)
    is_log = booster.params.get("objective") == "tweedie"
    names = list(features.columns)
    drivers = [_driver_of(n, list(panel.drivers), attributes) for n in names]
    raw = shap[:, :-1]
    baseline, total = (np.exp(shap[:, -1]) if is_log else shap[:, -1]), raw.sum(axis=1)
    share = np.divide(yhat - baseline, total, out=np.zeros_like(total), where=np.abs(total) > 1e-9)
    parts = raw * share[:, None]
    baseline = np.where(np.abs(total) > 1e-9, baseline, yhat)
    out = {contribution_column("baseline"): baseline}
    for driver in dict.fromkeys(drivers):
        cols = [i for i, d in enumerate(drivers) if d == driver]
        out[contribution_column(driver)] = parts[:, cols].sum(axis=1)
    return pd.DataFrame(out)


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
    drivers: Sequence[tuple[str, str]] = (("price", "last"), ("promo", "zero")),
    attributes: Sequence[str] = (),
    threads: int = 1,
    boosters: Mapping[int, str] | None = None,
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Train one model on the group at each cross-validation origin and at the run date, and
    forecast every series from each, on ``threads`` cores (``deterministic``: the same
    forecasts whatever their number). ``boosters``: models of an earlier run date (text by
    fit: 0 the final one, k the k-th of ``origins``; each saw targets before its origin
    only) predict on today's features, untrained.

    Args:
        group_pdf: clean sales of every series in the group (``sku, location, date, qty``),
            the drivers (history and planned horizon rows, ``qty`` null on the latter) and
            the attribute columns.
        origins: the folds' first forecast periods (the run date is added).

    Returns:
        :func:`output_columns`: one row per series, origin and forecast period; the driver
        columns are filled on the final forecast's rows only; quantiles are left to the
        caller (NaN). And the text of each fit trained here (not kept), numbered like
        ``boosters``.
    """
    kind = kind_of(freq)
    panel = build_panel(group_pdf, run_date=run_date, freq=freq, horizon=horizon,
                        drivers=drivers, attributes=attributes, min_history=min_history)  # fmt: skip
    if panel is None:
        return pd.DataFrame(columns=output_columns(quantiles)), {}
    outputs, trained, kept = [], {}, boosters or {}
    # The final origin: the first period from the run date (weekly: the week ending on or after).
    final = pd.date_range(pd.Timestamp(run_date), periods=1, freq=freq)[0]
    for number, origin in [*enumerate(origins, start=1), (0, final)]:
        if origin not in panel.dates:
            continue
        at, is_final = int(panel.dates.get_loc(origin)), origin == final
        steps = horizon if is_final else cv_horizon
        shape = {"steps": steps, "kind": kind, "attributes": attributes, "threads": threads}
        model = _kept(kept.get(number), panel, at, kind, attributes)
        if model is None:
            model = fit(panel, at, light=not is_final, **shape)
            if model is None:
                continue
            trained[number] = model.model_to_string()
        out = predict(model, panel, at, explain=is_final, **shape)
        outputs.append(out.assign(model=NAME, origin=origin.date(), error=None))
    result = pd.concat(outputs, ignore_index=True) if outputs else pd.DataFrame()
    result = result.reindex(columns=output_columns(quantiles))
    result["ds"] = pd.to_datetime(result["ds"]).dt.date
    return result, trained


def _kept(text: str | None, panel: Panel, origin: int, kind: str, attributes) -> lgb.Booster | None:
    """The kept model of ``text`` if it reads today's features (the same names in the same
    order: a driver's flag features come and go with its values, a release may change
    them), else None (it is retrained)."""
    if not text:
        return None
    try:
        model = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError:
        return None
    features, _ = _design(origin_features(panel, origin, 1, kind), attributes)
    return model if model.feature_name() == list(features.columns) else None


def failed_group(group_pdf: pd.DataFrame, error: str, *, quantiles) -> pd.DataFrame:
    """The output of a group whose model failed: one error row per series, so that each
    series records the global model as a candidate that failed and moves on."""
    return (
        group_pdf[list(KEYS)]
        .drop_duplicates()
        .assign(model=NAME, origin=pd.NaT, ds=pd.NaT, yhat=np.nan, error=f"{NAME}: {error}")
        .reindex(columns=output_columns(quantiles))
    )
