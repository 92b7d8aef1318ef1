"""The forecast stage's hierarchy step (``forecast.hierarchy``).

Each level sums the series' history by its columns (series keys and item or location
attributes); the aggregates go through the same per-series engine as the series (their
own candidates, without the global models, which learn from series). The series' final
forecasts and the aggregates' are then reconciled per tree, the series that share the keys
every level has (e.g. one location; all series when a level has no keys), in one grouped
pandas UDF (:func:`skuplan.forecasting.hierarchy.reconcile_group`). The weights come from
the nodes' backtest errors: the series' are their combination's (or chosen model's) scaled
cross-validation errors times their scale, the aggregates' their chosen model's.

Outputs: ``hierarchy_forecasts`` (every node's base and reconciled forecast) and
``hierarchy_metrics`` (per level, the backtest error before and after reconciliation);
with ``ship_reconciled`` the forecasts table takes the series' reconciled forecasts.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from skuplan import fanout
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import HierarchySettings
from skuplan.forecasting import hierarchy, transport
from skuplan.forecasting.combination import COMBINED
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import registry
from skuplan.pipeline import forecast_inputs
from skuplan.pipeline.io import StageTables
from skuplan.schemas import schema

log = logging.getLogger(__name__)

TABLES = ("hierarchy_forecasts", "hierarchy_metrics")
ONE_TREE = "_tree"  # the group column when the levels share no key


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
    and the tree's keys."""
    joined = history_df.select(*KEYS, "date", "qty").join(members_df, list(KEYS))
    frames = [
        joined.groupBy(*dict.fromkeys([*keys, *trees]), "date")
        .agg(F.sum("qty").alias("qty"))
        .select(label(keys).alias("node"), F.lit(level).alias("level"), "date", "qty", *trees)
        for level, keys in levels.items()
    ]
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def aggregate_spec(spec: ForecastSpec) -> ForecastSpec:
    """The engine's settings for aggregates: the per-series candidates, no drivers (they are
    the series'), errors kept (``weights``) for the reconciliation."""
    models = tuple(m for m in spec.models if m not in registry.GLOBAL_MODELS)
    return dataclasses.replace(
        spec, models=models or ("seasonal_naive",), drivers=(), attributes=(), combination="weights"
    )


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


def _reconcile(pdf: pd.DataFrame, *, levels, trees, method, quantile_columns, columns):
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
    )
    frame = pd.concat(
        [out.assign(record="forecast"), scores.assign(record="score", tree=tree)],
        ignore_index=True,
    )
    return frame.reindex(columns=columns)


def _output_schema(quantiles):
    qs = " ".join(f"{quantile_column(q)}:d" for q in quantiles)
    return schema(
        "record:s level:s node:s date:date step:i yhat_base:d yhat:d", qs,
        "method:s tree:s nodes:i rmsse_base:d rmsse:d periods:i",
    )  # fmt: skip


def with_hierarchy(
    tables: StageTables,
    outputs: dict,
    records_df: DataFrame,
    history_df: DataFrame,
    spec: ForecastSpec,
    settings: HierarchySettings,
    holidays,
) -> dict:
    """``outputs`` with the hierarchy's two tables (and, with ``ship_reconciled``, the
    series' reconciled forecasts).

    Args:
        records_df: the per-series fan-out's stacked records (for the candidates' errors).
        history_df: the series' history (``sku, location, date, qty``).
    """
    levels = {name: list(keys) for name, keys in settings.levels.items()}
    trees = tree_keys(levels)
    quantile_columns = [quantile_column(q) for q in spec.quantiles]
    members_df = members(tables, history_df, levels).persist()
    aggregates_df = aggregate_rows(history_df, members_df, levels, trees)
    nodes_df = aggregates_df.select("node", *trees).distinct()
    dates = forecast_inputs.horizon_dates(tables.run_date, spec.horizon, spec.freq)
    engine = {"run_date": tables.run_date, "spec": aggregate_spec(spec), "holidays": holidays}
    tables.describe("forecast the hierarchy's aggregates")
    agg_rows_df = aggregates_df.select(
        F.col("node").alias("sku"), F.col("level").alias("location"), "date", "qty"
    ).transform(forecast_inputs.with_horizon, dates)
    agg_df = fanout.apply_per_series(
        agg_rows_df,
        partial(transport.series_records, **engine, models=dict(registry.MODELS)),
        transport.series_records_schema(spec.quantiles),
        on_error=partial(transport.fallback_records, **engine),
    ).persist()
    agg_runs = agg_df.filter(F.col("record") == transport.RECORD_RUN).select(
        F.col("sku").alias("node"), "chosen_model", "scale"
    )
    series_node = label(KEYS).alias("node")
    runs_df = outputs["model_runs"].join(members_df.select(*KEYS), list(KEYS), "left_semi")
    parts = [
        members_df.select(F.lit("member").alias("kind"), *members_df.columns),
        outputs["forecasts"].join(members_df, list(KEYS)).select(
            *trees, F.lit("forecast").alias("kind"), series_node, "date", "step", "yhat",
            *quantile_columns),
        agg_df.filter(F.col("record") == transport.RECORD_FORECAST).select(
            F.col("sku").alias("node"), "date", "step", "yhat", *quantile_columns
        ).join(nodes_df, "node").withColumn("kind", F.lit("forecast")),
        series_errors(records_df, runs_df).join(members_df, list(KEYS)).select(
            *trees, F.lit("error").alias("kind"), series_node, "fold", "step", "error"),
        agg_df.filter(F.col("record") == transport.RECORD_RESIDUAL)
        .select(F.col("sku").alias("node"), "model", "fold", "step", "residual")
        .join(agg_runs.withColumnRenamed("chosen_model", "model"), ["node", "model"])
        .select("node", "fold", "step", (F.col("residual") * F.col("scale")).alias("error"))
        .join(nodes_df, "node").withColumn("kind", F.lit("error")),
        runs_df.join(members_df, list(KEYS)).select(
            *trees, F.lit("scale").alias("kind"), series_node, "scale"),
        agg_runs.join(nodes_df, "node").select(*trees, F.lit("scale").alias("kind"), "node", "scale"),
    ]  # fmt: skip
    stacked_df = parts[0]
    for part in parts[1:]:
        stacked_df = stacked_df.unionByName(part, allowMissingColumns=True)
    struct = _output_schema(spec.quantiles)
    fn = partial(_reconcile, levels=levels, trees=trees, method=settings.method,
                 quantile_columns=quantile_columns, columns=struct.fieldNames())  # fmt: skip
    tables.describe("reconcile the hierarchy")
    out_df = fanout.apply_per_group(stacked_df, fn, struct, trees).persist()
    try:
        forecasts_df = out_df.filter(F.col("record") == "forecast").select(
            "level", "node", "date", "step", "yhat_base", "yhat", *quantile_columns, "method"
        )
        metrics_df = out_df.filter(F.col("record") == "score").select(
            "level", "tree", "method", "nodes", "rmsse_base", "rmsse", "periods"
        )
        result = {
            **outputs,
            "hierarchy_forecasts": tables.stamp(forecasts_df).localCheckpoint(),
            "hierarchy_metrics": tables.stamp(metrics_df).localCheckpoint(),
        }
    finally:
        for cached in (out_df, agg_df, members_df):
            cached.unpersist()
    for row in result["hierarchy_metrics"].groupBy("level").agg(
        F.sum("nodes").alias("nodes"), F.avg("rmsse_base").alias("base"), F.avg("rmsse").alias("rec")
    ).collect():  # fmt: skip
        log.info("hierarchy level %s: %d nodes, backtest RMSSE %.3f -> %.3f reconciled",
                 row["level"], row["nodes"], row["base"], row["rec"])  # fmt: skip
    if settings.ship_reconciled:
        result["forecasts"] = shipped(
            outputs["forecasts"], result["hierarchy_forecasts"], quantile_columns
        )
    return result


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
