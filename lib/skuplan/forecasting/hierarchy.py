"""Hierarchical forecasts: aggregate levels over the series, and their reconciliation.

A level sums the series by some of their keys and attributes (``location``; ``category,
location``; none: the total). Each aggregate is forecast like a series; the base forecasts
of all nodes (aggregates and series) are then made coherent, ``y~ = S P y^``, with ``S`` the
summing matrix (node x series) and ``P`` (series x node) one of:

- ``bottom_up``: the series' own forecasts, summed up;
- ``wls``: weighted least squares with each node's backtest error variance;
- ``mint_shrink``: MinT (Wickramasuriya, Athanasopoulos and Hyndman, 2019) with the nodes'
  backtest error covariance shrunk toward its diagonal (Schäfer and Strimmer, 2005).

``wls`` and ``mint_shrink`` need each node's errors on common backtest periods; where there
are too few, the structural weights (``W = diag(S 1)``, no errors needed) stand in and the
output says so. Only the point forecast is reconciled: each node's quantiles are scaled by the
ratio of its reconciled to its own point forecast where that is positive (so that a lower
quantile at zero stays at zero for low, discrete counts), and moved by the same amount
otherwise.

Everything here is pandas and numpy over one reconciliation group (the series that share
the keys every level has, e.g. one location), so it runs inside a grouped pandas UDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from skuplan.columns import KEYS

METHODS = ("bottom_up", "wls", "mint_shrink")
SERIES_LEVEL = "series"
STRUCTURAL = "structural"  # the weights used when the errors are too few
# Backtest periods every node needs before its errors weigh the reconciliation.
MIN_ERROR_PERIODS = 8


def node_label(keys: Sequence[str], values: Sequence) -> str:
    """``category=FOODS/location=CA_1``; ``total`` for a level without keys."""
    return "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) or "total"


def group_keys(levels: Mapping[str, Sequence[str]]) -> list[str]:
    """The keys every level has: the hierarchy splits into independent trees by them."""
    shared = None
    for keys in levels.values():
        shared = set(keys) if shared is None else shared & set(keys)
    return sorted(shared or ())


def structure(
    members_pdf: pd.DataFrame, levels: Mapping[str, Sequence[str]]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The nodes and the summing matrix of one group.

    Args:
        members_pdf: one row per series: ``sku, location`` and every level's columns.
        levels: level name -> the columns it sums by.

    Returns:
        ``nodes`` (``level, node``; the aggregates first, then the series in
        ``members_pdf``'s order, level ``series``) and ``S`` (nodes x series, 0/1).
    """
    members = members_pdf.reset_index(drop=True)
    rows, labels = [], []
    for level, keys in levels.items():
        keys = list(keys)
        groups = members.groupby(keys, sort=True).indices if keys else {(): members.index}
        for values, index in groups.items():
            values = values if isinstance(values, tuple) else (values,)
            row = np.zeros(len(members))
            row[index] = 1.0
            rows.append(row)
            labels.append((level, node_label(keys, values)))
    rows.extend(np.eye(len(members)))
    labels += [
        (SERIES_LEVEL, node_label(KEYS, values))
        for values in members[list(KEYS)].itertuples(index=False)
    ]
    nodes = pd.DataFrame(labels, columns=["level", "node"])
    return nodes, np.vstack(rows) if rows else np.zeros((0, len(members)))


def shrunk_covariance(errors: np.ndarray) -> np.ndarray:
    """The errors' covariance (uncentred, periods x nodes), its off-diagonal shrunk toward
    zero by the Schäfer-Strimmer intensity estimated from the errors themselves."""
    n = errors.shape[0]
    cov = errors.T @ errors / n
    sd = np.sqrt(np.diag(cov))
    safe = np.where(sd > 0, sd, 1.0)
    std = errors / safe
    corr = cov / np.outer(safe, safe)
    # The variance of each sample correlation, from the products of the standardised errors.
    var = ((std**2).T @ (std**2) - (std.T @ std) ** 2 / n) / (n * (n - 1))
    np.fill_diagonal(var, 0.0)
    off = corr**2
    np.fill_diagonal(off, 0.0)
    intensity = float(np.clip(var.sum() / off.sum(), 0.0, 1.0)) if off.sum() > 0 else 1.0
    shrunk = (1 - intensity) * cov
    shrunk[np.diag_indices_from(shrunk)] = np.diag(cov)
    return shrunk


def weights_matrix(
    S: np.ndarray, errors: np.ndarray | None, method: str
) -> tuple[np.ndarray | None, str]:
    """``W`` for ``method`` from the errors (periods x nodes, a node without errors all NaN),
    and the method it is: the structural weights when the errors are too few; None for
    ``bottom_up``, whose projection needs none.

    A node without errors (a series on its incremental path, or too short to backtest) gets
    no covariance and the variance its size would give it at the median variance per series
    of the nodes with errors.
    """
    if method == "bottom_up":
        return None, method
    size = S.sum(axis=1)
    known = None if errors is None else ~np.isnan(errors).all(axis=0)
    if known is None or not known.any() or errors.shape[0] < MIN_ERROR_PERIODS:
        method = STRUCTURAL
    if method in ("mint_shrink", "wls"):
        sub = errors[:, known]
        own = (
            shrunk_covariance(sub) if method == "mint_shrink" else np.diag(np.mean(sub**2, axis=0))
        )
        W = np.diag(size * np.median(np.diag(own) / size[known]))
        W[np.ix_(known, known)] = own
    else:
        W = np.diag(size)
    # A node that never erred (all zeros) would make W singular; a floor keeps it the most
    # trusted node instead.
    diag = np.diag(W)
    floor = 1e-6 * (diag[diag > 0].mean() if (diag > 0).any() else 1.0)
    return W + np.eye(len(W)) * floor, method


def projection(S: np.ndarray, W: np.ndarray | None, method: str) -> np.ndarray:
    """``P`` (series x nodes): bottom-up, or ``(S' W^-1 S)^-1 S' W^-1``."""
    m = S.shape[1]
    if method == "bottom_up":
        return np.hstack([np.zeros((m, S.shape[0] - m)), np.eye(m)])
    A = np.linalg.solve(W, S)  # W^-1 S, nodes x series
    return np.linalg.solve(S.T @ A, A.T)


def reconciled(
    S: np.ndarray, base: np.ndarray, errors: np.ndarray | None, method: str
) -> tuple[np.ndarray, str]:
    """Coherent forecasts (nodes x periods) from the base ones, and the method used."""
    W, used = weights_matrix(S, errors, method)
    return S @ projection(S, W, used) @ base, used


def backtest_errors(
    S: np.ndarray, errors: pd.DataFrame, method: str, spacing: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Base and reconciled backtest errors (periods x nodes) on the periods every node has,
    each fold reconciled with weights learned only from the other folds' periods that it
    does not forecast itself (folds ``spacing`` periods apart overlap: the same period's
    errors, shared shocks and all, would otherwise be in both); None with fewer than two
    folds.

    Args:
        errors: ``fold, step`` rows (fold 0 the oldest origin), a column per node, no
            missing values.
    """
    folds = sorted(errors["fold"].unique())
    if len(folds) < 2:
        return None
    values = errors.drop(columns=["fold", "step"]).to_numpy(dtype=float)
    fold_of = errors["fold"].to_numpy()
    period = fold_of * spacing + errors["step"].to_numpy()  # periods after the oldest origin
    out = np.empty_like(values)
    for fold in folds:
        held = fold_of == fold
        train = ~held & ~np.isin(period, period[held])
        W, used = weights_matrix(S, values[train], method)
        out[held] = values[held] @ (S @ projection(S, W, used)).T
    return values, out


def common_errors(errors_pdf: pd.DataFrame, nodes: Sequence[str]) -> pd.DataFrame | None:
    """``fold, step`` and a column per node: the backtest periods every node with errors has
    an error for (a node without any is all NaN); None without errors."""
    if errors_pdf.empty:
        return None
    wide = errors_pdf.pivot_table(index=["fold", "step"], columns="node", values="error")
    wide = wide.reindex(columns=list(nodes))
    known = wide.notna().any(axis=0)
    wide = wide[wide.loc[:, known].notna().all(axis=1)]
    return wide.reset_index() if len(wide) else None


def level_scores(
    nodes: pd.DataFrame, scales: np.ndarray, base: np.ndarray, rec: np.ndarray
) -> pd.DataFrame:
    """Per level: nodes, and the mean over its nodes of the root mean squared backtest error
    divided by the node's scale, before and after reconciliation."""
    safe = np.where(scales > 0, scales, np.nan)
    frame = nodes.assign(
        base=np.sqrt(np.mean(base**2, axis=0)) / safe,
        reconciled=np.sqrt(np.mean(rec**2, axis=0)) / safe,
    )
    return (
        frame.groupby("level", sort=False)
        .agg(nodes=("node", "size"), rmsse_base=("base", "mean"), rmsse=("reconciled", "mean"))
        .reset_index()
        .assign(periods=len(base))
    )


def unreconciled(forecasts_pdf: pd.DataFrame, error: str, quantile_columns) -> pd.DataFrame:
    """The base forecasts as they are (``yhat_base = yhat``), for a group whose
    reconciliation failed; ``method`` carries the error.

    Input: ``level, node, date, step, yhat`` and the quantile columns.
    """
    out = forecasts_pdf.assign(yhat_base=forecasts_pdf["yhat"], method=f"failed: {error}")
    return out[["level", "node", "date", "step", "yhat_base", "yhat", *quantile_columns, "method"]]


SCORE_COLUMNS = pd.DataFrame(
    columns=["level", "nodes", "rmsse_base", "rmsse", "periods", "method", "is_selected"]
)


def moved_bands(out: pd.DataFrame, quantile_columns) -> pd.DataFrame:
    """``yhat_base`` (the own forecast), ``yhat`` moved by ``_shift``, and the quantiles with
    it: demand is not negative and low counts are discrete, so a band scales with its point
    where that is positive (a lower quantile at 0 stays at 0) and moves with it otherwise."""
    base = out["yhat"].to_numpy(float)
    shift = out["_shift"].to_numpy(float)
    point = base + shift
    positive = base > 0
    ratio = np.where(positive, np.maximum(point, 0.0) / np.where(positive, base, 1.0), 1.0)
    out = out.assign(yhat_base=base, yhat=point)
    for column in quantile_columns:
        own = out[column].to_numpy(float)
        out[column] = np.where(positive, own * ratio, own + shift)
    return out


def method_scores(S, nodes, common, scale, method: str, spacing: int) -> pd.DataFrame:
    """Every method's backtest scores per level (see :func:`level_scores`), so that the
    choice can be made on them; ``is_selected`` marks ``method``."""
    frames = []
    for candidate in METHODS:
        pair = backtest_errors(S, common, candidate, spacing)
        if pair is not None:
            frames.append(level_scores(nodes, scale, *pair).assign(
                method=candidate, is_selected=candidate == method))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else SCORE_COLUMNS


def reconcile_group(
    members_pdf: pd.DataFrame,
    forecasts_pdf: pd.DataFrame,
    errors_pdf: pd.DataFrame,
    scales_pdf: pd.DataFrame,
    *,
    levels: Mapping[str, Sequence[str]],
    method: str,
    quantile_columns: Sequence[str],
    spacing: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One group's coherent forecasts and the backtest accuracy per level.

    Args:
        members_pdf: the group's series (``sku, location`` and the levels' columns).
        forecasts_pdf: base forecasts of every node: ``node, date, step, yhat`` and the
            quantile columns. A node without forecasts is left out of the hierarchy only if
            it is an aggregate (its level is then not coherent for that node: it gets none).
        errors_pdf: backtest errors in units: ``node, fold, step, error``, fold 0 the
            oldest origin of every node.
        scales_pdf: ``node, scale`` (the scale backtest errors are divided by).
        levels, method: see the module.
        spacing: periods between backtest origins (for :func:`backtest_errors`).

    Returns:
        ``forecasts`` (``level, node, date, step, yhat_base, yhat``, the reconciled quantile
        columns, ``method``) and ``scores`` (``level, nodes, rmsse_base, rmsse, periods,
        method, is_selected``: a row per level and method, ``is_selected`` for ``method``;
        empty without errors on two folds for every node).
    """
    nodes, S = structure(members_pdf, levels)
    forecasts_pdf = forecasts_pdf.drop(columns="level", errors="ignore")
    base_wide = forecasts_pdf.pivot_table(index=["date", "step"], columns="node", values="yhat")
    missing = [n for n in nodes["node"] if n not in base_wide.columns]
    if missing:  # an aggregate whose forecast failed: its row of S is dropped
        keep = ~nodes["node"].isin(missing).to_numpy()
        nodes, S = nodes[keep].reset_index(drop=True), S[keep]
    base_wide = base_wide[list(nodes["node"])].fillna(0.0)
    common = common_errors(errors_pdf, nodes["node"])
    values = None if common is None else common.drop(columns=["fold", "step"]).to_numpy(float)
    rec, used = reconciled(S, base_wide.to_numpy(float).T, values, method)
    shift = pd.DataFrame(rec.T - base_wide.to_numpy(float), index=base_wide.index,
                         columns=pd.Index(nodes["node"], name="node"))  # fmt: skip
    moved = shift.stack().rename("_shift").reset_index()
    out = forecasts_pdf.merge(moved, on=["date", "step", "node"]).merge(nodes, on="node")
    out = moved_bands(out, quantile_columns).assign(method=used)
    out = out[["level", "node", "date", "step", "yhat_base", "yhat", *quantile_columns, "method"]]
    scores = SCORE_COLUMNS
    if values is not None and not np.isnan(values).any():  # scored where every node has errors
        scale = scales_pdf.set_index("node")["scale"].reindex(nodes["node"]).to_numpy(float)
        scores = method_scores(S, nodes, common, scale, method, spacing)
    return out, scores
