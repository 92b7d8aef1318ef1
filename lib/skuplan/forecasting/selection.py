"""Scores of the cross-validated models and the choice among them.

:func:`evaluate` turns :func:`~skuplan.forecasting.cross_validation.cross_validate`'s frame
into one row of accuracy metrics per model; :func:`select` ranks them; :func:`combine` adds
the mean of the best models as one more candidate.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from skuplan.columns import metric_names, quantile_column
from skuplan.forecasting import conformal, metrics
from skuplan.forecasting.cross_validation import BASE_COLUMNS, fold_matrices, fold_matrix

ENSEMBLE = "ensemble"


def score_columns(quantiles: tuple[float, ...]) -> list[str]:
    """The columns of :func:`evaluate`'s frame."""
    return ["model", "folds", *metric_names(quantiles), "fit_seconds", "error"]


def fold_bands(
    actual: np.ndarray, forecast: np.ndarray, native: dict[float, np.ndarray] | None,
    quantiles: tuple[float, ...],
) -> dict[float, np.ndarray]:  # fmt: skip
    """Quantile forecasts for each fold, calibrated without looking at that fold.

    Native model quantiles are used as they are. Otherwise each fold's band comes from the
    residuals of the other folds (leave-one-fold-out conformal), so interval metrics are
    honest; a single fold is calibrated on its own residuals.
    """
    if native is not None:
        return native
    residuals = actual - forecast
    n_folds = forecast.shape[0]
    bands = {q: np.empty_like(forecast) for q in quantiles}
    for k in range(n_folds):
        others = [j for j in range(n_folds) if j != k] or [k]
        offsets = conformal.residual_quantiles(residuals[others], quantiles)
        for q, values in conformal.apply_quantiles(forecast[k], offsets).items():
            bands[q][k] = values
    return bands


def _model_scores(
    cv_model: pd.DataFrame, insample: np.ndarray, season_length: int, quantiles: tuple[float, ...]
) -> dict[str, float]:
    matrices = fold_matrices(cv_model, ["y", "yhat", *[quantile_column(q) for q in quantiles]])
    actual, forecast = matrices["y"], matrices["yhat"]
    native = {q: matrices[quantile_column(q)] for q in quantiles}
    if not all(np.isfinite(v).all() for v in native.values()):
        native = None
    result = metrics.point_metrics(actual.ravel(), forecast.ravel(), insample, season_length)
    bands = fold_bands(actual, forecast, native, quantiles)
    for q in quantiles:
        result[f"pinball_{quantile_column(q)}"] = metrics.pinball(
            actual.ravel(), bands[q].ravel(), q
        )
    lo, hi = min(quantiles), max(quantiles)
    result["coverage"] = metrics.coverage(actual.ravel(), bands[lo].ravel(), bands[hi].ravel())
    result = {k: (float(v) if v is not None else math.nan) for k, v in result.items()}
    return {"folds": actual.shape[0], **result}


def evaluate(
    cv: pd.DataFrame, *, insample: np.ndarray, season_length: int, quantiles: tuple[float, ...]
) -> pd.DataFrame:
    """One row per model of ``cv``, in its order: folds, point metrics over all folds, pinball
    loss per quantile, the outer band's coverage, ``fit_seconds`` and ``error``.

    Args:
        cv: :func:`~skuplan.forecasting.cross_validation.cross_validate`'s frame.
        insample: the history before the first fold (scales MASE).
    """
    rows = []
    for model, cv_model in cv.groupby("model", sort=False):
        error = cv_model["error"].dropna()
        row = {"model": model, "fit_seconds": float(cv_model["fit_seconds"].iloc[0])}
        if len(error):
            rows.append({**row, "folds": 0, "error": error.iloc[0]})
        else:
            rows.append(
                {
                    **row,
                    **_model_scores(cv_model, insample, season_length, quantiles),
                    "error": None,
                }
            )
    return pd.DataFrame(rows, columns=score_columns(quantiles))


def select(scores: pd.DataFrame, metric: str) -> list[str]:
    """The models that scored, best first by ``metric`` (``bias``: by its absolute value),
    then WAPE; an undefined value ranks last and ties keep the order of ``scores``. MASE is
    undefined when seasonal naive is perfect in-sample."""

    def key(row) -> tuple[float, ...]:
        values = [getattr(row, metric), row.wape]
        values = [abs(v) if metric == "bias" else v for v in values]
        return tuple(math.inf if math.isnan(v) else v for v in values)

    scored = [row for row in scores.itertuples(index=False) if pd.isna(row.error)]
    return [row.model for row in sorted(scored, key=key)]


def combine(cv: pd.DataFrame, members: list[str]) -> pd.DataFrame:
    """Cross-validation rows of the mean of ``members``' forecasts, as model ``ensemble``
    (no quantiles of its own; ``fit_seconds`` is the members' sum)."""
    first = cv[(cv["model"] == members[0]) & cv["error"].isna()]
    first = first.sort_values(["cutoff", "step"], kind="mergesort")
    mean = np.mean([fold_matrix(cv[cv["model"] == m], "yhat") for m in members], axis=0)
    seconds = sum(float(cv.loc[cv["model"] == m, "fit_seconds"].iloc[0]) for m in members)
    qcols = [c for c in cv.columns if c not in (*BASE_COLUMNS, "fit_seconds", "error")]
    return first.assign(
        model=ENSEMBLE, yhat=mean.ravel(), fit_seconds=seconds, **dict.fromkeys(qcols, np.nan)
    )
