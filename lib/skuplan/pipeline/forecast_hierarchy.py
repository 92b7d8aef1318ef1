"""The forecast stage's hierarchy step (``forecast.hierarchy``).

Each level sums the series' history by its columns (series keys and item or location
attributes); the aggregates go through the same per-series engine as the series (the
per-series candidates, the per-series LightGBM in place of the global models, which learn
across series). The series' final forecasts and the aggregates' are then reconciled per
tree, the series that share the keys every level has (e.g. one location; all series when a
level has no keys), in one grouped pandas UDF
(:func:`skuplan.forecasting.hierarchy.reconcile_group`). The weights come from the nodes'
backtest errors: the series' are their combination's (or chosen model's) scaled
cross-validation errors times their scale, the aggregates' their chosen model's.

Outputs: ``hierarchy_forecasts`` (every node's own and reconciled forecast) and
``hierarchy_metrics`` (per level, tree and method, the backtest error own and reconciled);
with ``ship_reconciled`` the forecasts table takes the series' reconciled forecasts.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

from skuplan import fanout
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import HierarchySettings
from skuplan.forecasting import hierarchy, transport
from skuplan.forecasting.combination import COMBINED
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import registry
from skuplan.pipeline import forecast_inputs
from skuplan.pipeline.io import StageTables
from skuplan.report.data import hierarchy_levels
from skuplan.schemas import schema

log = logging.getLogger(__name__)

ONE_TREE = "_tree"  # the group column when the levels share no key
TABLES = ("hierarchy_forecasts", "hierarchy_metrics")


def label(keys) -> Column:
    """A node's name from its columns (see :func:`skuplan.forecasting.hierarchy.node_label`)."""
    parts = [F.concat(F.lit(f"{k}="), F.col(k).cast("string")) for k in keys]
    return F.concat_ws("/", *parts) if parts else F.lit("total")


def tree_keys(levels) -> list[str]:
    return hierarchy.group_keys(levels) or [ONE_TREE]


def members(tables: StageTables, history_df: DataFrame, levels) -> DataFrame:
    """One row per series: its keys, the levels' columns and its tree's keys."""
    columns = sorted({c for keys in levels.values() for c in keys} - set(KEYS))
    return (
        history_df.select(*KEYS)
        .distinct()
        .transform(forecast_inputs.with_attributes, tables, columns)
        .withColumn(ONE_TREE, F.lit("all"))
    )


def aggregate_rows(history_df: DataFrame, members_df: DataFrame, levels, trees) -> DataFrame:
    """Each level's history: ``node``, ``level``, ``date``, ``qty`` summed over its series,
    and the tree's keys. One aggregation for all levels: each series' row is counted once
    per level, under that level's node."""
    at_levels = F.array(*[
        F.struct(F.lit(level).alias("level"), label(keys).alias("node"))
        for level, keys in levels.items()
    ])  # fmt: skip
    return (
        history_df.select(*KEYS, "date", "qty")
        .join(members_df, list(KEYS))
        .select(F.inline(at_levels), *trees, "date", "qty")
        .groupBy("node", "level", "date", *trees)
        .agg(F.sum("qty").alias("qty"))
        .select("node", "level", "date", "qty", *trees)
    )


def aggregate_spec(spec: ForecastSpec, models: tuple[str, ...] | None) -> ForecastSpec:
    """The engine's settings for aggregates: ``models`` (None: the series' per-series
    candidates, the per-series LightGBM standing in for the global models, which learn
    across series), no drivers (they are the series'), errors kept (``weights``) for the
    reconciliation."""
    if models is None:
        has_global = any(m in registry.GLOBAL_MODELS for m in spec.models)
        own = [m for m in spec.models if m not in registry.GLOBAL_MODELS]
        models = tuple(dict.fromkeys([*own, *(["lightgbm"] if has_global else [])]))
    return dataclasses.replace(
        spec, models=models or ("seasonal_naive",), drivers=(), attributes=(), combination="weights"
    )


def aligned_folds(errors_df: DataFrame, keys, folds: int) -> DataFrame:
    """``fold`` counted so that ``folds - 1`` is the newest origin for every node: a short
    series without the oldest origins numbers its folds from 0 (see
    :func:`skuplan.forecasting.cross_validation.rolling_origins`)."""
    newest = F.max("fold").over(Window.partitionBy(*keys))
    return errors_df.withColumn("fold", F.col("fold") + F.lit(folds - 1) - newest)


def series_errors(records_df: DataFrame, runs_df: DataFrame) -> DataFrame:
    """The series' backtest errors in units (``sku, location, fold, step, error``): their
    combination's weights, or their chosen model alone, over the candidates' scaled errors."""
    combined = runs_df.filter(F.col("chosen_model") == COMBINED).select(
        *KEYS, "scale", F.explode(F.split("weights", ",")).alias("_pair")
    )
    pair = F.split("_pair", "=")
    weights = combined.select(
        *KEYS, "scale", pair[0].alias("model"), pair[1].cast("double").alias("weight")
    )
    single = runs_df.filter(F.col("chosen_model") != COMBINED).select(
        *KEYS, "scale", F.col("chosen_model").alias("model"), F.lit(1.0).alias("weight")
    )
    return (
        records_df.filter(F.col("record") == transport.RECORD_RESIDUAL)
        .select(*KEYS, "model", "fold", "step", "residual")
        .join(weights.unionByName(single), [*KEYS, "model"])
        .groupBy(*KEYS, "fold", "step")
        .agg(F.sum(F.col("weight") * F.col("residual") * F.col("scale")).alias("error"))
    )


def _reconcile(pdf: pd.DataFrame, *, levels, trees, method, quantile_columns, columns, spacing):
    kind = pdf["kind"]
    first = pdf.iloc[0]
    tree = "all" if trees == [ONE_TREE] else hierarchy.node_label(trees, [first[k] for k in trees])
    out, scores = hierarchy.reconcile_group(
        pdf[kind == "member"],
        pdf[kind == "forecast"],
        pdf[kind == "error"],
        pdf[kind == "scale"],
        levels=levels,
        method=method,
        quantile_columns=quantile_columns,
        spacing=spacing,
    )
    frame = pd.concat(
        [out.assign(record="forecast"), scores.assign(record="score", tree=tree)],
        ignore_index=True,
    )
    return frame.reindex(columns=columns)


def _unreconciled(pdf: pd.DataFrame, error: str, *, quantile_columns, columns) -> pd.DataFrame:
    """A tree whose reconciliation failed keeps its base forecasts (and says why)."""
    forecasts = pdf[pdf["kind"] == "forecast"]
    out = hierarchy.unreconciled(forecasts, error, quantile_columns)
    return out.assign(record="forecast").reindex(columns=columns)


def _output_schema(quantiles):
    qs = " ".join(f"{quantile_column(q)}:d" for q in quantiles)
    return schema(
        "record:s level:s node:s date:date step:i yhat_base:d yhat:d", qs,
        "method:s tree:s nodes:i rmsse_base:d rmsse:d periods:i is_selected:b",
    )  # fmt: skip


def with_hierarchy(
    tables: StageTables,
    outputs: dict,
    records_df: DataFrame,
    history_df: DataFrame,
    spec: ForecastSpec,
    holidays,
) -> dict:
    """``outputs`` with the hierarchy's two tables (and, with ``ship_reconciled``, the
    series' reconciled forecasts). Without ``forecast.hierarchy.levels``, the tables that
    exist get no rows for the run date: a re-run with the levels switched off clears what an
    earlier run of the date wrote.

    Args:
        records_df: the per-series fan-out's stacked records (for the candidates' errors).
        history_df: the series' history (``sku, location, date, qty``).
    """
    settings: HierarchySettings = tables.conf.forecast.hierarchy
    if not settings.levels:
        cleared = {key: tables.read(key).limit(0) for key in TABLES if tables.exists(key)}
        return {**outputs, **cleared}
    levels = {name: list(keys) for name, keys in settings.levels.items()}
    trees = tree_keys(levels)
    quantile_columns = [quantile_column(q) for q in spec.quantiles]
    members_df = members(tables, history_df, levels).persist()
    agg_df = None
    try:
        aggregates_df = aggregate_rows(history_df, members_df, levels, trees)
        agg_spec = aggregate_spec(spec, settings.models)
        agg_df = aggregate_records(tables, aggregates_df, agg_spec, holidays).persist()
        stacked_df = stacked_inputs(
            outputs, records_df, members_df, aggregates_df.select("node", *trees).distinct(),
            agg_df, trees, quantile_columns, spec.folds,
        )  # fmt: skip
        tables.describe("reconcile the hierarchy")
        out_df = reconciled_trees(stacked_df, levels, trees, settings.method, spec)
    finally:
        for cached in (agg_df, members_df):
            if cached is not None:
                cached.unpersist()
    forecasts_df = out_df.filter(F.col("record") == "forecast").select(
        "level", "node", "date", "step", "yhat_base", "yhat", *quantile_columns, "method"
    )
    metrics_df = out_df.filter(F.col("record") == "score").select(
        "level", "tree", "method", "is_selected", "nodes", "rmsse_base", "rmsse", "periods"
    )
    result = {
        **outputs,
        "hierarchy_forecasts": tables.stamp(forecasts_df),
        "hierarchy_metrics": tables.stamp(metrics_df),
    }
    _log_levels(metrics_df)
    if settings.ship_reconciled:
        result["forecasts"] = shipped(outputs["forecasts"], forecasts_df, quantile_columns)
    return result


def reconciled_trees(stacked_df: DataFrame, levels, trees, method: str, spec: ForecastSpec):
    """Every tree reconciled in one grouped pandas UDF (a failed tree keeps its base
    forecasts); checkpointed: both tables and the log read the reconciliation once."""
    quantile_columns = [quantile_column(q) for q in spec.quantiles]
    struct = _output_schema(spec.quantiles)
    fn = partial(_reconcile, levels=levels, trees=trees, method=method,
                 quantile_columns=quantile_columns, columns=struct.fieldNames(),
                 spacing=spec.step)  # fmt: skip
    on_error = partial(_unreconciled, quantile_columns=quantile_columns,
                       columns=struct.fieldNames())  # fmt: skip
    out_df = fanout.apply_per_group(stacked_df, fn, struct, trees, on_error=on_error)
    return out_df.localCheckpoint()


def _log_levels(metrics_df: DataFrame) -> None:
    for row in hierarchy_levels(metrics_df).collect():
        log.info(
            "hierarchy level %s: backtest RMSSE over %d scored nodes %.3f own, %.3f %s%s",
            row["level"], row["nodes"], row["rmsse_base"], row["rmsse"], row["method"],
            " (in use)" if row["is_selected"] else "",
        )  # fmt: skip


def aggregate_records(tables: StageTables, aggregates_df, spec: ForecastSpec, holidays):
    """The per-series engine's stacked records for every aggregate (``sku`` its node,
    ``location`` its level), with the aggregates' ``spec``."""
    engine = {"run_date": tables.run_date, "spec": spec, "holidays": holidays}
    dates = forecast_inputs.horizon_dates(tables.run_date, spec.horizon, spec.freq)
    rows_df = aggregates_df.select(
        F.col("node").alias("sku"), F.col("level").alias("location"), "date", "qty"
    ).transform(forecast_inputs.with_horizon, dates)
    tables.describe("forecast the hierarchy's aggregates")
    return fanout.apply_per_series(
        rows_df,
        partial(transport.series_records, **engine, models=dict(registry.MODELS)),
        transport.series_records_schema(spec.quantiles),
        on_error=partial(transport.fallback_records, **engine),
    )


def stacked_inputs(
    outputs, records_df, members_df, nodes_df, agg_df, trees, quantile_columns, folds: int
):
    """What each tree's reconciliation reads, stacked and told apart by ``kind``: its series
    (``member``), every node's base forecast (``forecast``), backtest errors in units
    (``error``) and scale (``scale``), with the tree's keys."""
    agg_runs = agg_df.filter(F.col("record") == transport.RECORD_RUN).select(
        F.col("sku").alias("node"), "chosen_model", "scale"
    )
    series_node = label(KEYS).alias("node")
    runs_df = outputs["model_runs"].join(members_df.select(*KEYS), list(KEYS), "left_semi")
    parts = [
        members_df.select(F.lit("member").alias("kind"), *members_df.columns),
        outputs["forecasts"].join(members_df, list(KEYS)).select(
            *trees, F.lit("forecast").alias("kind"), F.lit(hierarchy.SERIES_LEVEL).alias("level"),
            series_node, "date", "step", "yhat", *quantile_columns),
        agg_df.filter(F.col("record") == transport.RECORD_FORECAST).select(
            F.col("location").alias("level"), F.col("sku").alias("node"), "date", "step", "yhat",
            *quantile_columns,
        ).join(nodes_df, "node").withColumn("kind", F.lit("forecast")),
        aligned_folds(series_errors(records_df, runs_df), KEYS, folds)
        .join(members_df, list(KEYS)).select(
            *trees, F.lit("error").alias("kind"), series_node, "fold", "step", "error"),
        agg_df.filter(F.col("record") == transport.RECORD_RESIDUAL)
        .select(F.col("sku").alias("node"), "model", "fold", "step", "residual")
        .join(agg_runs.withColumnRenamed("chosen_model", "model"), ["node", "model"])
        .select("node", "fold", "step", (F.col("residual") * F.col("scale")).alias("error"))
        .transform(aligned_folds, ["node"], folds)
        .join(nodes_df, "node").withColumn("kind", F.lit("error")),
        runs_df.join(members_df, list(KEYS)).select(
            *trees, F.lit("scale").alias("kind"), series_node, "scale"),
        agg_runs.join(nodes_df, "node").select(*trees, F.lit("scale").alias("kind"), "node", "scale"),
    ]  # fmt: skip
    stacked_df = parts[0]
    for part in parts[1:]:
        stacked_df = stacked_df.unionByName(part, allowMissingColumns=True)
    return stacked_df


def shipped(forecasts_df: DataFrame, reconciled_df: DataFrame, quantile_columns) -> DataFrame:
    """The forecasts with each reconciled series' point and quantiles (never below 0)."""
    rec = reconciled_df.filter(F.col("level") == hierarchy.SERIES_LEVEL).select(
        "node", "date", *[F.col(c).alias(f"_r_{c}") for c in ("yhat", *quantile_columns)]
    )
    joined = forecasts_df.withColumn("node", label(KEYS)).join(rec, ["node", "date"], "left")
    return joined.select(*[
        F.greatest(F.coalesce(F.col(f"_r_{c}"), F.col(c)), F.lit(0.0)).alias(c)
        if c in ("yhat", *quantile_columns) else F.col(c)
        for c in forecasts_df.columns
    ])  # fmt: skip
