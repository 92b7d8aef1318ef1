"""The global models' part of the forecast stage: one ``applyInPandas`` group per value of
``forecast.global_group_by`` (capped in size), and its models kept for later runs.

A run saves the LightGBMs it trains (the final fit's and each backtest origin's, per group)
as text files under ``forecast.global_models_dir``, in a folder of its run date and run id
(see :mod:`skuplan.forecasting.model_files`), and their paths to ``global_models``. A run
in ``incremental`` mode, or in ``auto`` mode within ``full_every_days`` of a model's
training, predicts from the newest one written before its run date, on today's features,
instead of training: the scheduled retrain comes with the series' scheduled reselection,
and the series reselected in between (new, drifted) are still judged on the global model's
backtests. A fit without a kept model (or whose file is gone), or kept under other
settings, trains as in ``full`` mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from skuplan import fanout, logs
from skuplan.columns import KEYS
from skuplan.conf import ForecastSettings
from skuplan.forecasting import model_files, transport
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import global_lgbm, registry
from skuplan.pipeline import forecast_inputs
from skuplan.pipeline.io import StageTables
from skuplan.schemas import global_forecasts_schema

log = logging.getLogger(__name__)

TABLE = "global_models"


def capped_groups(
    history_df: DataFrame, group_by: str, max_series: int | None
) -> tuple[DataFrame, list[str]]:
    """Split each global-model group into hash buckets of at most about ``max_series`` series.

    A group is one pandas frame in one Python worker, so its size bounds the worker's
    memory; a store of 3,000 five-year series would be 5.5M rows. Buckets are by a hash of
    the series keys, so the same data always gives the same split; a group's key names its
    bucket and the number of buckets (a kept model belongs to that split only).
    """
    if max_series is None:
        return history_df, [group_by]
    sizes = (
        history_df.select(group_by, *KEYS)
        .distinct()
        .groupBy(group_by)
        .agg(F.ceil(F.count(F.lit(1)) / max_series).alias("_buckets"))
    )
    bucket = F.pmod(F.xxhash64(*KEYS), F.col("_buckets")).alias("_bucket")
    capped = history_df.join(F.broadcast(sizes), group_by).select(
        *history_df.columns, "_buckets", bucket
    )
    return capped, [group_by, "_buckets", "_bucket"]


def fanout_partitions(spark, settings: ForecastSettings) -> int:
    """Tasks for a per-series fan-out: ``forecast.partitions``, else
    ``forecast.tasks_per_core`` per core."""
    return settings.partitions or settings.tasks_per_core * spark.sparkContext.defaultParallelism


def fingerprint(settings: ForecastSettings) -> str:
    """What a kept model depends on: its features, its targets (the horizon and backtest
    folds) and its group's series."""
    shape = [settings.freq, settings.horizon, settings.drivers, list(settings.attributes)]
    backtest = settings.backtest
    folds = [backtest.folds, backtest.step, backtest.horizon]
    grouping = [settings.global_group_by, settings.global_max_series]
    return json.dumps([global_lgbm.FEATURES_VERSION, *shape, *folds, *grouping])


def kept_models(tables: StageTables) -> dict[str, dict[int, tuple]]:
    """Group key -> fit (0 the final one, k the k-th backtest origin) -> (trained on, path
    of its text) of the models this run predicts from instead of training (see the
    module's text): per group and fit, the newest written before the run date under
    today's settings; empty in ``full`` mode (and for a table of model texts, as written
    before models were files)."""
    settings = tables.conf.forecast
    recalibration = settings.recalibration
    models_df = None if recalibration.mode == "full" else tables.optional(TABLE)
    if models_df is None or "model_path" not in models_df.columns:
        return {}
    models_df = models_df.filter(
        (F.col("run_date") < F.lit(tables.run_date))
        & (F.col("settings") == fingerprint(settings))
        & F.col("model_path").isNotNull()
    )
    if recalibration.mode == "auto":
        age = F.datediff(F.lit(tables.run_date), F.col("trained_on"))
        models_df = models_df.filter(age < recalibration.full_every_days)
    fit_keys = ["group_key", "fit", "run_date"]
    newest = models_df.groupBy("group_key", "fit").agg(F.max("run_date").alias("run_date"))
    rows = (
        models_df.join(F.broadcast(newest), fit_keys)
        .select("group_key", "fit", "trained_on", "model_path")
        .collect()
    )
    kept: dict[str, dict[int, tuple]] = {}
    for r in rows:
        kept.setdefault(r["group_key"], {})[r["fit"]] = (r["trained_on"], r["model_path"])
    if rows:
        log.info(
            "%s: %d global model fit(s) of %d group(s) kept from %s, not retrained",
            tables.job, len(rows), len(kept),
            ", ".join(sorted({str(r["trained_on"]) for r in rows})),
        )  # fmt: skip
    return kept


def global_forecasts(
    tables: StageTables, history_df: DataFrame, spec: ForecastSpec, *, cross_validate: bool
) -> DataFrame | None:
    """The global models' output (kept: the caller unpersists it; :func:`split` parts it
    into forecasts and models), or None when none is configured. Without
    ``cross_validate`` (no series on the full path) only the final origin is forecast.

    Computed here, in an action of their own whose progress is logged: the per-series
    fan-out reads it once.
    """
    if not any(m in registry.GLOBAL_MODELS for m in spec.models):
        return None
    spec = spec if cross_validate else dataclasses.replace(spec, folds=0)
    settings = tables.conf.forecast
    group_by = settings.global_group_by
    if group_by == forecast_inputs.ALL:
        history_df = history_df.withColumn(group_by, F.lit(group_by))
    grouped_df, group_cols = capped_groups(history_df, group_by, settings.global_max_series)
    kept = kept_models(tables)
    folder = model_files.run_folder(models_root(tables), tables.run_date, tables.run_id)
    run_date = tables.run_date  # the function travels to the workers: no session in it

    def per_group(group_pdf, threads: int = 1):
        return transport.global_group_forecasts(
            group_pdf, run_date=run_date, spec=spec, group_cols=group_cols, kept=kept,
            model_folder=folder, threads=threads,
        )  # fmt: skip

    progress = logs.Progress(tables.spark, f"{tables.job}: global models", "groups")
    global_df = fanout.apply_per_group(
        grouped_df,
        per_group,
        global_forecasts_schema(spec.quantiles),
        group_cols,
        fanout_partitions(tables.spark, settings),
        on_error=partial(transport.global_group_failed, spec=spec),
        progress=progress,
        threaded=True,  # a store or all series per group: often fewer groups than cores
    ).persist(StorageLevel.MEMORY_AND_DISK)
    tables.describe("global models")
    try:
        with progress:
            global_df.count()
    except BaseException:
        global_df.unpersist()
        raise
    return global_df


def models_root(tables: StageTables) -> str:
    """Where the global models' files go (``forecast.global_models_dir``)."""
    return tables.conf.location(tables.conf.forecast.global_models_dir)


def prune(tables: StageTables) -> None:
    """Delete the model files of this run date's other runs: call once this run's
    ``global_models`` rows are committed (they replaced the others')."""
    stale = model_files.prune(models_root(tables), tables.run_date, tables.run_id)
    if stale:
        log.info("%s: deleted %d replaced run folder(s) of global models", tables.job, len(stale))


def expire(tables: StageTables) -> None:
    """Delete the ``global_models`` rows and model folders of run dates more than
    ``forecast.global_models_keep_days`` before the run date, but the run dates of each
    group and fit's newest row among them (the model a later run keeps predicting from, and
    what re-runs inside the window read); call once this run's rows are committed."""
    keep = tables.conf.forecast.global_models_keep_days
    models_df = None if keep is None else tables.optional(TABLE)
    if models_df is None:
        return
    before = tables.run_date - dt.timedelta(days=keep)
    fit_keys = [c for c in ("group_key", "fit", "settings") if c in models_df.columns]
    old = (  # a few rows per run date: one small collect
        models_df.filter(F.col("run_date") < F.lit(before))
        .select(*fit_keys, "run_date")
        .distinct()
        .collect()
    )
    newest: dict[tuple, dt.date] = {}
    for r in old:
        fit = tuple(r[c] for c in fit_keys)
        newest[fit] = max(newest.get(fit, r["run_date"]), r["run_date"])
    needed = set(newest.values())
    dates = {r["run_date"] for r in old} - needed
    if dates:
        tables.delete_run_dates(TABLE, sorted(dates))
    folders = model_files.expire(models_root(tables), before, needed)
    if dates or folders:
        log.info(
            "%s: global models older than %s: deleted %d run date(s) of rows, %d folder(s)",
            tables.job, before, len(dates), len(folders),
        )  # fmt: skip


def split(tables: StageTables, global_df: DataFrame | None) -> tuple:
    """The global models' forecasts, and the models this run trained as its
    ``global_models`` rows (both None without ``global_df``): a kept model stays in the
    rows of the run that trained it."""
    if global_df is None:
        return None, None
    is_model = F.col("group_key").isNotNull()
    settings = fingerprint(tables.conf.forecast)
    models_df = global_df.filter(is_model).select(
        *transport.GLOBAL_MODEL_COLUMNS, F.lit(settings).alias("settings")
    )
    forecasts_df = global_df.filter(~is_model).drop(*transport.GLOBAL_MODEL_COLUMNS)
    return forecasts_df, tables.stamp(models_df)
