"""Combination of the candidates' forecasts with weights learned across series, and quantile
bands pooled across series.

Per-series selection among models whose cross-validation errors differ by noise is itself
noisy. Instead, for each demand class, one set of weights is learned from the
cross-validation errors of every series of that class (each series' errors divided by its
scale, so that each counts alike): the weights ``w >= 0, sum(w) = 1`` minimise the mean over
the series of the weighted forecast's scaled RMSE, ``mean_s sqrt(w' G_s w)`` with ``G_s``
series ``s``' mean error cross-products (M5's RMSSE, averaged over series). Pooling squared
errors instead (``w' mean_s(G_s) w``) lets the few series with the largest scaled errors
decide the weights of all: on the car parts' validation window (``bench/accuracy.py
--validation``) pooling gave the global model 0.41-0.80 of a class' weight and scored 0.623
mean RMSSE, the series' mean 0.53-0.82 and 0.613 (the global model alone: 0.608). A
series' forecast is its candidates' forecasts weighted so (renormalised over the
candidates it has).

Bands come from the combination's own cross-validation errors, pooled over the series of
the class (a series has only a few folds): per step, the finite-sample conformal quantiles
of the scaled errors (:func:`skuplan.forecasting.conformal.residual_quantiles`), times the
series' scale, around its point forecast. Series of one class are not alike in how well
they are forecast, so each error is first divided by its series' spread
(:func:`series_spread`: the root mean squared scaled error of the series, shrunk toward the
class' typical one) and the band is multiplied by it again (normalised conformal
prediction): a series the combination forecasts well gets a narrower band, one it forecasts
badly a wider one. The class' quantiles are then those of the normalised errors: on the
backtests the class covers as before, but the spread is fitted on the same errors, so the
split-conformal guarantee holds only approximately (BENCHMARKS.md has the held-out
coverage).

Spark DataFrame -> DataFrame functions, and :func:`optimal_weights` in numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Window
from scipy.optimize import minimize

from skuplan.columns import CONTRIBUTION_COLUMNS, KEYS, quantile_column
from skuplan.forecasting import conformal

COMBINED = "combined"
MIN_WEIGHT = 0.01  # smaller weights are dropped (and the rest renormalised)
MAX_OBSERVATIONS = 100_000  # per class: errors sampled (by a hash of the keys) past this
MAX_SERIES = 50_000  # series whose errors set the weights (sampled by a hash of the keys)
SPREAD_PRIOR = 20  # errors' worth of the class' median spread a series' own is shrunk toward


def optimal_weights(grams: np.ndarray) -> np.ndarray:
    """Weights ``w >= 0`` summing to 1 that minimise ``mean_s sqrt(w' G_s w)``, the mean
    RMSE of the weighted forecast over series (``grams``: one ``m x m`` error cross-product
    matrix per series, shape ``(series, m, m)``; a single matrix is one series, whose
    RMSE and MSE have the same minimum)."""
    grams = np.asarray(grams, float)
    grams = grams[None] if grams.ndim == 2 else grams
    m = grams.shape[-1]
    if m == 1:
        return np.ones(1)
    grams = np.nan_to_num((grams + grams.transpose(0, 2, 1)) / 2)

    def rmse(w):
        return np.sqrt(np.maximum(np.einsum("i,sij,j->s", w, grams, w), 1e-12))

    result = minimize(
        lambda w: rmse(w).mean(),
        np.full(m, 1.0 / m),
        jac=lambda w: (grams @ w / rmse(w)[:, None]).mean(axis=0),
        bounds=[(0.0, 1.0)] * m,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        method="SLSQP",
    )
    w = np.where(result.x < MIN_WEIGHT, 0.0, np.clip(result.x, 0.0, None))
    return w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)


def _grams(rows: pd.DataFrame, models: list[str]) -> np.ndarray:
    """The series' error cross-products over ``models`` (``(series, m, m)``); a pair never
    scored on the same fold gets the series' largest one (the model is penalised)."""
    grams = np.stack(
        [
            np.stack([rows[f"{min(a, b)}|{max(a, b)}"].to_numpy(float) for b in models], -1)
            for a in models
        ],
        axis=1,
    )
    grams = grams[np.isfinite(grams).any(axis=(1, 2))]
    largest = np.nanmax(np.abs(grams), axis=(1, 2), keepdims=True)
    return np.where(np.isnan(grams), largest, grams)


def class_weights(residuals_df: DataFrame, runs_df: DataFrame) -> pd.DataFrame:
    """One weight per demand class and model (``demand_class, model, weight``), from at
    most :data:`MAX_SERIES` series.

    Input: ``residuals_df`` (``sku, location, model, fold, step, residual``, scaled);
    ``runs_df`` (``sku, location, demand_class``).
    """
    models = sorted(r["model"] for r in residuals_df.select("model").distinct().collect())
    if not models:  # nothing cross-validated (every series reused its selection)
        return pd.DataFrame(columns=["demand_class", "model", "weight"])
    every = -(-runs_df.count() // MAX_SERIES)
    sampled = runs_df.filter(F.abs(F.xxhash64(*KEYS)) % every == 0) if every > 1 else runs_df
    wide = (
        residuals_df.join(sampled.select(*KEYS, "demand_class"), [*KEYS])
        .groupBy(*KEYS, "demand_class", "fold", "step")
        .pivot("model", models)
        .agg(F.first("residual"))
    )
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i:]]
    sums = [F.avg(F.col(a) * F.col(b)).alias(f"{a}|{b}") for a, b in pairs]
    per_series = wide.groupBy(*KEYS, "demand_class").agg(*sums).drop(*KEYS).toPandas()
    out = []
    for demand_class, rows in per_series.groupby("demand_class"):
        present = [m for m in models if rows[f"{m}|{m}"].notna().any()]
        for model, w in zip(present, optimal_weights(_grams(rows, present)), strict=True):
            out.append({"demand_class": demand_class, "model": model, "weight": float(w)})
    return pd.DataFrame(out, columns=["demand_class", "model", "weight"])


def series_weights(
    candidates_df: DataFrame, runs_df: DataFrame, weights_df: DataFrame
) -> DataFrame:
    """Each series' weight per candidate: its class' weight, renormalised over the candidates
    the series has; series whose candidates all have zero weight are left out.

    Output: ``sku, location, model, weight`` (weights of a series add up to 1).
    """
    has = candidates_df.select(*KEYS, "model").distinct()
    joined = has.join(runs_df.select(*KEYS, "demand_class"), [*KEYS]).join(
        weights_df, ["demand_class", "model"]
    )
    total = F.sum("weight").over(Window.partitionBy(*KEYS))
    return joined.select(*KEYS, "model", (F.col("weight") / total).alias("weight")).filter(
        F.col("weight") > 0
    )


def combined_forecasts(candidates_df: DataFrame, weights_df: DataFrame) -> DataFrame:
    """The weighted forecast of every series with weights, and its drivers.

    A member that explains itself adds its weighted driver contributions (and any clipping
    to ``other``); one that does not adds its weighted forecast to ``other``, so a day's
    contributions add up to its forecast. Without an explaining member there are none.

    Output: ``sku, location, date, step, yhat`` and the driver columns.
    """
    explained = F.greatest(*[F.col(c).isNotNull() for c in CONTRIBUTION_COLUMNS])
    total = F.aggregate(
        F.array(*[F.coalesce(F.col(c), F.lit(0.0)) for c in CONTRIBUTION_COLUMNS]),
        F.lit(0.0),
        lambda acc, x: acc + x,
    )
    other = CONTRIBUTION_COLUMNS[-1]
    weighted = candidates_df.join(weights_df, [*KEYS, "model"]).select(
        *KEYS, "date", "step", "weight",
        (F.col("weight") * F.col("yhat")).alias("yhat"),
        explained.alias("_explained"),
        *[
            (F.col("weight") * (
                F.when(explained, F.coalesce(F.col(c), F.lit(0.0)) + (F.col("yhat") - total if c == other else F.lit(0.0)))
                .otherwise(F.col("yhat") if c == other else F.lit(0.0))
            )).alias(c)
            for c in CONTRIBUTION_COLUMNS
        ],
    )  # fmt: skip
    any_explained = F.max(F.col("_explained").cast("int")) > 0
    return weighted.groupBy(*KEYS, "date", "step").agg(
        F.sum("yhat").alias("yhat"),
        *[F.when(any_explained, F.sum(c)).alias(c) for c in CONTRIBUTION_COLUMNS],
    )


def combined_residuals(residuals_df: DataFrame, weights_df: DataFrame) -> DataFrame:
    """The combination's scaled cross-validation errors (``sku, location, fold, step,
    residual, actual``), where every weighted member has one."""
    members = weights_df.groupBy(*KEYS).agg(F.count(F.lit(1)).alias("_members"))
    return (
        residuals_df.join(weights_df, [*KEYS, "model"])
        .groupBy(*KEYS, "fold", "step")
        .agg(
            F.sum(F.col("weight") * F.col("residual")).alias("residual"),
            F.first("actual").alias("actual"),
            F.count(F.lit(1)).alias("_n"),
        )
        .join(members, [*KEYS])
        .filter(F.col("_n") == F.col("_members"))
        .select(*KEYS, "fold", "step", "residual", "actual")
    )


def series_spread(residuals_df: DataFrame, runs_df: DataFrame) -> DataFrame:
    """Every series' spread (``sku, location, spread``): its ``n`` cross-validation errors'
    sum of squares ``ss`` (scaled), shrunk toward its class' median mean square ``m`` (over
    the series with errors) as ``sqrt((ss + SPREAD_PRIOR * m) / (n + SPREAD_PRIOR))``, so a
    series without errors gets ``sqrt(m)``. Where that is 0 (the series never erred, nor did
    most of its class) the class' root mean square over all its errors stands in, and 1
    where the class never erred at all.

    Input: :func:`combined_residuals`' output; ``runs_df`` (``sku, location,
    demand_class``).
    """
    sums = residuals_df.groupBy(*KEYS).agg(
        F.sum(F.col("residual") ** 2).alias("_ss"), F.count("residual").alias("_n")
    )
    own = runs_df.select(*KEYS, "demand_class").join(sums, [*KEYS], "left").fillna(0, ["_ss", "_n"])
    typical = (
        own.filter(F.col("_n") > 0)
        .groupBy("demand_class")
        .agg(
            F.median(F.col("_ss") / F.col("_n")).alias("_class_ms"),
            (F.sum("_ss") / F.sum("_n")).alias("_class_all"),
        )
    )
    spread = F.sqrt(
        (F.col("_ss") + SPREAD_PRIOR * F.col("_class_ms")) / (F.col("_n") + SPREAD_PRIOR)
    )
    fallback = F.sqrt(F.col("_class_all"))
    return own.join(typical, ["demand_class"], "left").select(
        *KEYS,
        F.when(spread > 0, spread)
        .when(fallback > 0, fallback)
        .otherwise(F.lit(1.0))
        .alias("spread"),
    )


def pooled_offsets(
    residuals_df: DataFrame, runs_df: DataFrame, quantiles: tuple[float, ...], horizon: int
) -> pd.DataFrame:
    """Quantile offsets per demand class and step (``demand_class, step`` and one column per
    quantile), in units of a series' scale times its spread, from the combination's errors
    of every series of the class.

    Input: :func:`combined_residuals`' output; ``runs_df`` (``sku, location,
    demand_class, spread``).
    """
    by_class = residuals_df.join(runs_df.select(*KEYS, "demand_class", "spread"), [*KEYS])
    pdf = by_class.select(
        "demand_class",
        *KEYS,
        "fold",
        "step",
        (F.col("residual") / F.col("spread")).alias("residual"),
    ).toPandas()
    out = []
    for demand_class, rows in pdf.groupby("demand_class"):
        matrix = rows.pivot_table(index=[*KEYS, "fold"], columns="step", values="residual")
        matrix = matrix.reindex(columns=range(1, horizon + 1)).to_numpy(float)
        if len(matrix) > MAX_OBSERVATIONS:
            matrix = matrix[
                np.random.default_rng(0).choice(len(matrix), MAX_OBSERVATIONS, replace=False)
            ]
        offsets = conformal.residual_quantiles(matrix, quantiles)
        frame = pd.DataFrame(
            {"demand_class": demand_class, "step": np.arange(1, horizon + 1, dtype="int32")}
        )
        out.append(frame.assign(**{quantile_column(q): offsets[q] for q in quantiles}))
    columns = ["demand_class", "step", *[quantile_column(q) for q in quantiles]]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def with_bands(
    forecasts_df: DataFrame, runs_df: DataFrame, offsets_df: DataFrame, quantiles: tuple[float, ...]
) -> DataFrame:
    """Quantile columns around ``yhat``: the class' offsets times the series' scale and
    spread, never negative, never crossing.

    Input: ``forecasts_df`` (``sku, location, step, yhat``); ``runs_df`` (``sku,
    location, demand_class, scale, spread``); ``offsets_df`` (:func:`pooled_offsets`).
    """
    cols = [quantile_column(q) for q in quantiles]
    units = (F.col("scale") * F.col("spread")).alias("_units")
    joined = forecasts_df.join(runs_df.select(*KEYS, "demand_class", units), [*KEYS]).join(
        offsets_df.withColumnsRenamed({c: f"_o_{c}" for c in cols}),
        ["demand_class", "step"],
        "left",
    )
    raw = [
        F.greatest(
            F.col("yhat") + F.coalesce(F.col(f"_o_{c}"), F.lit(0.0)) * F.col("_units"), F.lit(0.0)
        )
        for c in cols
    ]
    ordered = F.array_sort(F.array(*raw))
    return joined.select(*forecasts_df.columns, *[ordered[i].alias(c) for i, c in enumerate(cols)])


def combined_metrics(
    residuals_df: DataFrame, runs_df: DataFrame, offsets_df: DataFrame, quantiles: tuple[float, ...]
) -> DataFrame:
    """The combination's cross-validation metrics per series: ``sku, location, folds, mae,
    rmse, wape, mase, bias, coverage`` (of the outer pooled band).

    Input: :func:`combined_residuals`' output; ``runs_df`` with ``scale, mase_scale,
    demand_class, spread``; :func:`pooled_offsets`' output.
    """
    lo, hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    columns = [*KEYS, "demand_class", "scale", "mase_scale", "spread"]
    rows = residuals_df.join(runs_df.select(*columns), [*KEYS])
    rows = rows.join(
        offsets_df.select("demand_class", "step", lo, hi), ["demand_class", "step"], "left"
    )
    error = F.col("residual") * F.col("scale")  # actual - forecast
    standardised = F.col("residual") / F.col("spread")
    inside = (standardised >= F.col(lo)) & (standardised <= F.col(hi))
    mae = F.avg(F.abs(error))
    return rows.groupBy(*KEYS).agg(
        F.countDistinct("fold").cast("int").alias("folds"),
        mae.alias("mae"),
        F.sqrt(F.avg(error * error)).alias("rmse"),
        F.try_divide(F.sum(F.abs(error)), F.sum(F.abs("actual"))).alias("wape"),
        F.try_divide(mae, F.first("mase_scale")).alias("mase"),
        F.avg(-error).alias("bias"),
        F.avg(inside.cast("double")).alias("coverage"),
    )
