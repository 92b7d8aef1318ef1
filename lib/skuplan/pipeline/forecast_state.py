"""The forecast stage's paths and state (``forecast.recalibration``).

Each series takes the full path (cross-validate, select, fit: :mod:`skuplan.forecasting.
series`) or the incremental one (its last selection refitted: :mod:`skuplan.forecasting.
recalibrate`). The choice reads ``model_state`` as it stood before the run date, so that
re-running an old date decides as it did, and the realised accuracy of the forecasts made
since the series' selection (``forecast_accuracy``). Every run writes each series' state
(the model runs' recipe, band and path) for the run dates after it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from skuplan.columns import FORECAST_OK, KEYS
from skuplan.conf import RecalibrationSettings
from skuplan.forecasting.spec import ForecastSpec
from skuplan.forecasting.transport import STATE_COLUMNS
from skuplan.pipeline.io import StageTables

log = logging.getLogger(__name__)

FULL, INCREMENTAL = "full", "incremental"
TABLE = "model_state"
STATE = ["selected_on", "chosen_model", "recipe", "band_offsets", "status", "demand_class",
         "mase_scale", "backtest_mase", "settings", "path", "path_reason"]  # fmt: skip
STATE_TYPES = {"selected_on": "date", "mase_scale": "double", "backtest_mase": "double"}


def latest_state(tables: StageTables) -> DataFrame | None:
    """The state the newest run before the run date wrote (every series it forecast), or
    None before any."""
    state_df = tables.newest_before(TABLE)
    return None if state_df is None else state_df.select(*KEYS, *STATE)


def realised_mase(scored_df: DataFrame, state_df: DataFrame) -> DataFrame:
    """``sku, location, periods, realised_mase``: the mean absolute error of the forecasts
    made since each series' selection (of those ``scored_df`` scored this run), over its
    MASE scale."""
    since = state_df.select(*KEYS, "selected_on", "mase_scale")
    rows = scored_df.join(since, [*KEYS]).filter(F.col("forecast_run_date") >= F.col("selected_on"))
    return rows.groupBy(*KEYS).agg(
        F.count_distinct("date").alias("periods"),
        F.try_divide(F.avg("abs_error"), F.first("mase_scale")).alias("realised_mase"),
    )


def fingerprint(spec: ForecastSpec) -> str:
    """The engine settings a selection depends on: a state made under others is not reused
    (its recipe may name models no longer configured, its band other quantiles)."""
    settings = [spec.freq, spec.horizon, list(spec.quantiles), list(spec.models),
                spec.combination, spec.quantile_method, spec.ensemble_size, spec.selection_metric]  # fmt: skip
    return json.dumps(settings)


def _reason(
    settings: RecalibrationSettings, run_date: dt.date, spec: ForecastSpec
) -> tuple[Column, Column]:
    """The path and why, for a row of keys joined to its state and realised MASE."""
    age = F.datediff(F.lit(run_date), F.col("selected_on"))
    drifted = (F.col("periods") >= settings.min_drift_periods) & (
        F.col("realised_mase") > settings.drift_ratio * F.col("backtest_mase")
    )
    drift_text = F.format_string(
        "drift: realised MASE %.2f against %.2f in backtests", "realised_mase", "backtest_mase"
    )
    reused = F.concat(F.lit("selection of "), F.col("selected_on").cast("string"), F.lit(" reused"))
    auto = settings.mode == "auto"
    cases = [
        (F.col("selected_on").isNull(), F.lit("new series")),
        (F.col("recipe").isNull() | F.col("band_offsets").isNull(), F.lit("no usable selection")),
        (F.col("status") != FORECAST_OK, F.lit("fell back last run")),
        (~F.col("settings").eqNullSafe(fingerprint(spec)), F.lit("settings changed")),
        # A series too short to cross-validate got a last resort: retry once it is longer.
        (F.col("backtest_mase").isNull() | F.isnan("backtest_mase"), F.lit("no backtest yet")),
        (F.lit(auto) & (age >= settings.full_every_days),
         F.format_string("selection %d days old", age)),
        (F.lit(auto) & F.coalesce(drifted, F.lit(False)), drift_text),
    ]  # fmt: skip
    reason = F.when(cases[0][0], cases[0][1])
    for condition, text in cases[1:]:
        reason = reason.when(condition, text)
    reason = reason.otherwise(reused)
    is_full = F.col("recipe").isNull() | ~reason.endswith(" reused")
    return F.when(is_full, F.lit(FULL)).otherwise(F.lit(INCREMENTAL)), reason


def decide_paths(
    tables: StageTables,
    keys_df: DataFrame,
    settings: RecalibrationSettings,
    scored_df: DataFrame | None,
    spec: ForecastSpec,
) -> DataFrame:
    """``sku, location, path, path_reason`` and the series' state (null for new series);
    ``scored_df``: this run's scores of earlier forecasts (see
    :func:`skuplan.pipeline.forecast_accuracy.scored`)."""
    state_df = None if settings.mode == FULL else latest_state(tables)
    if state_df is None:
        reason = "mode full" if settings.mode == FULL else "new series"
        return keys_df.select(
            *KEYS,
            *[F.lit(None).cast(STATE_TYPES.get(c, "string")).alias(c) for c in STATE[:-2]],
            F.lit(FULL).alias("path"),
            F.lit(reason).alias("path_reason"),
        )
    joined = keys_df.join(state_df, [*KEYS], "left")
    if scored_df is not None:
        joined = joined.join(realised_mase(scored_df, state_df), [*KEYS], "left")
    else:
        joined = joined.withColumns({"periods": F.lit(0), "realised_mase": F.lit(None)})
    path, reason = _reason(settings, tables.run_date, spec)
    return joined.select(*KEYS, *STATE[:-2], path.alias("path"), reason.alias("path_reason"))


def decide(
    tables: StageTables,
    history_df: DataFrame,
    settings: RecalibrationSettings,
    scored_df: DataFrame | None,
    spec: ForecastSpec,
) -> tuple[DataFrame, dict[str, int]]:
    """Each series' path (:func:`decide_paths`, kept: the caller unpersists it) and the
    series per path; logs the count and the commonest reasons."""
    tables.describe("choose each series' path")
    keys_df = history_df.select(*KEYS).distinct()
    paths_df = decide_paths(tables, keys_df, settings, scored_df, spec).persist()
    counts = paths_df.groupBy("path", "path_reason").count().collect()
    paths: dict[str, int] = {}
    for r in counts:
        paths[r["path"]] = paths.get(r["path"], 0) + r["count"]
    reasons = sorted(counts, key=lambda r: -r["count"])[:4]
    log.info(
        "%s: %d series on the full path, %d incremental (%s)",
        tables.job, paths.get(FULL, 0), paths.get(INCREMENTAL, 0),
        "; ".join(f"{r['path_reason']}: {r['count']}" for r in reasons),
    )  # fmt: skip
    return paths_df, paths


def with_state(
    rows_df: DataFrame, paths_df: DataFrame, paths: dict[str, int], first_date: dt.date
) -> DataFrame:
    """``rows_df`` with the state columns the engine reads (:data:`STATE_COLUMNS`) on the
    first horizon row of each incremental series (null elsewhere); as it is without any."""
    if not paths.get(INCREMENTAL):
        return rows_df
    incremental = paths_df.filter(F.col("path") == INCREMENTAL)
    names = dict(zip(STATE_COLUMNS.values(), STATE_COLUMNS, strict=True))
    state_df = incremental.select(
        *KEYS, F.lit(first_date).alias("date"), *[F.col(c).alias(n) for c, n in names.items()]
    )
    # A row per series (about 1 KB each): broadcast rather than shuffle every history row.
    return rows_df.join(F.broadcast(state_df), [*KEYS, "date"], "left")


def with_paths(runs_df: DataFrame, paths_df: DataFrame, run_date: dt.date) -> DataFrame:
    """The model runs with each series' path, why, and the date of its selection (a stocked
    series without sales, forecast by its category's mean, is on the full path)."""
    paths = paths_df.select(
        *KEYS, F.col("path").alias("_path"), F.col("path_reason").alias("_reason"),
        F.when(F.col("path") == FULL, F.lit(run_date)).otherwise(F.col("selected_on")).alias("_on"),
    )  # fmt: skip
    joined = runs_df.join(paths, [*KEYS], "left").withColumns(
        {
            "path": F.coalesce("_path", F.lit(FULL)),
            "path_reason": F.coalesce("_reason", F.lit("no sales yet")),
            "selected_on": F.coalesce("_on", F.lit(run_date)),
        }
    )
    return joined.select(*runs_df.columns)


def state_rows(
    runs_df: DataFrame, metrics_df: DataFrame, paths_df: DataFrame, spec: ForecastSpec
) -> DataFrame:
    """What the next run dates read (:data:`STATE`): the model runs, and the backtest MASE
    and MASE scale of the selection (this run's on the full path, the state's on the
    incremental one, so that drift is judged against the selection's own figures)."""
    chosen = metrics_df.filter(F.col("is_selected")).select(*KEYS, F.col("mase").alias("_mase"))
    kept = paths_df.select(
        *KEYS, F.col("backtest_mase").alias("_kept_mase"), F.col("mase_scale").alias("_kept_scale")
    )
    is_full = F.col("path") == FULL
    return (
        runs_df.join(chosen, [*KEYS], "left")
        .join(kept, [*KEYS], "left")
        .withColumns(
            {
                "backtest_mase": F.when(is_full, F.col("_mase")).otherwise(F.col("_kept_mase")),
                "mase_scale": F.when(is_full, F.col("mase_scale")).otherwise(F.col("_kept_scale")),
                "settings": F.lit(fingerprint(spec)),
            }
        )
        .select("run_date", "run_id", *KEYS, *STATE)
    )


def carried_metrics(tables: StageTables, paths_df: DataFrame) -> DataFrame | None:
    """The backtest metrics behind each incremental series' selection (the rows its
    selecting run wrote), for this run date; None without any."""
    metrics_df = tables.optional("backtest_metrics")
    if metrics_df is None:
        return None
    selected = paths_df.filter(F.col("path") == INCREMENTAL).select(
        *KEYS, F.col("selected_on").alias("run_date")
    )
    return tables.stamp(metrics_df.join(selected, [*KEYS, "run_date"]).drop("run_date", "run_id"))
