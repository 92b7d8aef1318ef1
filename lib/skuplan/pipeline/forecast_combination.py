"""The forecast stage's combination step (``forecast.combination: weights``).

The fan-out gives every candidate's forecast and scaled cross-validation errors per series;
here the weights are learned per demand class
(:func:`skuplan.forecasting.combination.class_weights`), every series with weighted
candidates gets the combined forecast, its pooled band, its explanation, a ``combined``
metrics row (selected) and its weights in ``model_runs``. Series without weighted
candidates keep the forecast of their own best candidate.
"""

from __future__ import annotations

import logging

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan.columns import CONTRIBUTION_COLUMNS, DRIVERS, KEYS, metric_names, quantile_column
from skuplan.forecasting import combination
from skuplan.forecasting.combination import COMBINED
from skuplan.forecasting.spec import ForecastSpec
from skuplan.pipeline.io import StageTables
from skuplan.schemas import backtest_metrics_schema, forecast_series_schema, with_run

log = logging.getLogger(__name__)


def _replace(df: DataFrame, keys_df: DataFrame, new_df: DataFrame) -> DataFrame:
    """``df`` with the rows of the series in ``keys_df`` replaced by ``new_df``."""
    return df.join(keys_df, [*KEYS], "left_anti").unionByName(new_df.select(*df.columns))


def _explanations(combined_df: DataFrame) -> DataFrame:
    """The combined forecasts' drivers in long format (``sku, location, date, model, driver,
    contribution``), for the days that have them."""
    pairs = F.array(
        *[F.struct(F.lit(d).alias("driver"), F.col(c).alias("contribution"))
          for d, c in zip(DRIVERS, CONTRIBUTION_COLUMNS, strict=True)]
    )  # fmt: skip
    return (
        combined_df.select(*KEYS, "date", F.explode(pairs).alias("p"))
        .filter(F.col("p.contribution").isNotNull())
        .select(*KEYS, "date", F.lit(COMBINED).alias("model"), "p.driver", "p.contribution")
    )


def _weights_text(weights_df: DataFrame) -> DataFrame:
    """``sku, location, weights``: ``lightgbm_global=0.62,moving_average=0.38``."""
    item = F.concat(F.col("model"), F.lit("="), F.format_number("weight", 3))
    return weights_df.groupBy(*KEYS).agg(
        F.concat_ws(",", F.array_sort(F.collect_list(item))).alias("weights")
    )


def _metrics(
    tables: StageTables, scores_df: DataFrame, metrics_df: DataFrame, spec: ForecastSpec
) -> DataFrame:
    """The combination's metrics row per series (selected), the candidates' rows no longer
    selected."""
    struct = with_run(backtest_metrics_schema(spec.quantiles))
    missing = [m for m in metric_names(spec.quantiles) if m not in scores_df.columns]
    combined_df = scores_df.select(
        "*",
        F.lit(COMBINED).alias("model"),
        *[F.lit(None).cast("double").alias(m) for m in missing],
        F.lit(True).alias("is_selected"),
        F.lit(None).cast("double").alias("fit_seconds"),
        F.lit(None).cast("string").alias("error"),
    )
    keys_df = scores_df.select(*KEYS)
    unselected = metrics_df.join(keys_df, [*KEYS], "left_semi").withColumn(
        "is_selected", F.lit(False)
    )
    kept = metrics_df.join(keys_df, [*KEYS], "left_anti")
    return kept.unionByName(unselected).unionByName(tables.stamp(combined_df, struct))


def combined_outputs(
    tables: StageTables, outputs: dict, candidates_df: DataFrame, residuals_df: DataFrame,
    spec: ForecastSpec,
) -> dict:  # fmt: skip
    """``outputs`` (table key -> stamped frame) with every series that has weighted candidates
    forecast by their combination."""
    runs_df = outputs["model_runs"]
    weights_pdf = combination.class_weights(residuals_df, runs_df)
    if weights_pdf.empty:
        log.info("no cross-validated candidates to combine: each series keeps its best")
        return outputs
    shown = weights_pdf[weights_pdf["weight"] > 0]
    log.info("combination weights per demand class:\n%s", shown.to_string(index=False))
    spark = tables.spark
    weights_df = combination.series_weights(
        candidates_df, runs_df, spark.createDataFrame(weights_pdf)
    ).persist()
    keys_df = weights_df.select(*KEYS).distinct()
    combined_residuals_df = combination.combined_residuals(residuals_df, weights_df)
    # Collected (one row per series, as the errors are for the offsets): the spread as a
    # leaf keeps the plans of the four frames that join it small.
    spread_pdf = combination.series_spread(combined_residuals_df, runs_df).toPandas()
    spread_df = spark.createDataFrame(spread_pdf, "sku string, location string, spread double")
    spread_runs_df = runs_df.join(spread_df, [*KEYS]).select(*runs_df.columns, "spread")
    offsets_pdf = combination.pooled_offsets(
        combined_residuals_df, spread_runs_df, spec.quantiles, spec.horizon
    )
    offsets_df = spark.createDataFrame(offsets_pdf, schema=_offsets_ddl(spec.quantiles))
    combined_df = combination.combined_forecasts(candidates_df, weights_df)
    banded_df = combination.with_bands(combined_df, spread_runs_df, offsets_df, spec.quantiles)
    status = runs_df.select(*KEYS, "status", "error")
    forecasts_df = banded_df.join(status, [*KEYS]).withColumn("model", F.lit(COMBINED))
    struct = with_run(forecast_series_schema(spec.quantiles))
    bands_df = _class_bands(spark, offsets_pdf, spec.quantiles)
    runs = _combined_runs(spread_runs_df, weights_df, bands_df, spec.quantiles)
    scores_df = combination.combined_metrics(
        combined_residuals_df, spread_runs_df, offsets_df, spec.quantiles
    )
    return {
        **outputs,
        "forecasts": _replace(outputs["forecasts"], keys_df, tables.stamp(forecasts_df, struct)),
        "model_runs": runs,
        "explanations": _replace(
            outputs["explanations"], keys_df, tables.stamp(_explanations(combined_df))
        ),
        "backtest_metrics": _metrics(tables, scores_df, outputs["backtest_metrics"], spec),
        "candidate_forecasts": tables.stamp(
            candidates_df.join(weights_df, [*KEYS, "model"], "left").select(
                *KEYS,
                "model",
                "date",
                "step",
                "yhat",
                F.coalesce("weight", F.lit(0.0)).alias("weight"),
            )
        ),
    }


def _class_bands(spark, offsets_pdf, quantiles) -> DataFrame:
    """``demand_class`` and one array of offsets per quantile (``_band_<q>``, by step, in
    units of a series' scale times its spread)."""
    columns = [quantile_column(q) for q in quantiles]
    rows = [
        (demand_class, *[rows[c].astype(float).tolist() for c in columns])
        for demand_class, rows in offsets_pdf.sort_values("step").groupby("demand_class")
    ]
    arrays = ", ".join(f"_band_{c} array<double>" for c in columns)
    return spark.createDataFrame(rows, f"demand_class string, {arrays}")


def _combined_runs(
    runs_df: DataFrame, weights_df: DataFrame, bands_df: DataFrame, quantiles
) -> DataFrame:
    """The runs with the combined series' weights, ``chosen_model = combined``, and the
    recipe and band the next runs reuse (the class' offsets times the series' spread, in
    the JSON :func:`skuplan.forecasting.state.parse_offsets` reads); series this step did
    not combine (incremental ones included) keep theirs.

    Input: ``runs_df`` with ``spread``; ``bands_df`` from :func:`_class_bands`.
    """
    runs = runs_df.withColumnRenamed("weights", "_own").join(
        _weights_text(weights_df), [*KEYS], "left"
    )
    is_combined = F.col("weights").isNotNull()
    arrays = {q: F.col(f"_band_{quantile_column(q)}") for q in quantiles}
    band = F.when(  # a class without offsets leaves the band empty (the next run is full)
        arrays[quantiles[0]].isNotNull(),
        F.to_json(F.struct(*[
            F.transform(a, lambda x: F.round(F.nanvl(x, F.lit(0.0)) * F.col("spread"), 4))
            .alias(f"{q:g}")
            for q, a in arrays.items()
        ])),
    )  # fmt: skip
    runs = runs.join(F.broadcast(bands_df), ["demand_class"], "left").withColumns(
        {
            "chosen_model": F.when(is_combined, F.lit(COMBINED)).otherwise(F.col("chosen_model")),
            "recipe": F.when(is_combined, F.col("weights")).otherwise(F.col("recipe")),
            "band_offsets": F.when(is_combined, band).otherwise(F.col("band_offsets")),
            "weights": F.coalesce(F.col("weights"), F.col("_own")),
        }
    )
    return runs.select(*[c for c in runs_df.columns if c != "spread"])


def _offsets_ddl(quantiles) -> str:
    return ", ".join(
        ["demand_class string", "step int", *[f"{quantile_column(q)} double" for q in quantiles]]
    )
