"""Stage 2: clean sales -> per-series cross-validation, combination and quantile forecasts.

The history and horizon rows, with drivers and attributes (:mod:`.forecast_inputs`), go to
one ``groupBy("sku", "location").applyInPandas`` that runs the forecast engine
(:func:`skuplan.forecasting.series.forecast_series`) once per series, the global models'
forecasts cogrouped in; its stacked output is split into the forecasts, backtest-metrics,
model-runs and explanations tables, and with ``forecast.combination: weights`` the
candidates are combined across series (:mod:`.forecast_combination`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import StructType

from skuplan import fanout, logs
from skuplan.columns import FORECAST_OK, KEYS, quantile_columns
from skuplan.conf import Conf, ForecastSettings
from skuplan.errors import InputError, ModelFailureError
from skuplan.forecasting import closures, cold_start, transport
from skuplan.forecasting.spec import ForecastSpec
from skuplan.models import registry
from skuplan.pipeline import (
    forecast_accuracy,
    forecast_combination,
    forecast_global,
    forecast_inputs,
    forecast_state,
)
from skuplan.pipeline.forecast_hierarchy import with_hierarchy
from skuplan.pipeline.io import StageTables
from skuplan.replenishment import network
from skuplan.schemas import forecast_series_schema

log = logging.getLogger(__name__)

OUTPUTS = {  # table key -> record kind of the fan-out's output
    "forecasts": transport.RECORD_FORECAST,
    "backtest_metrics": transport.RECORD_METRIC,
    "model_runs": transport.RECORD_RUN,
    "explanations": transport.RECORD_EXPLANATION,
}
# Outputs that also feed the model state and the summary: kept once computed (on a small run
# each write recomputed them, a dozen Spark jobs apiece), released when the run ends.
SHARED_OUTPUTS = ("model_runs", "backtest_metrics")


@dataclass(frozen=True)
class ForecastSummary:
    run_id: str
    series: int
    failed_series: int
    models: dict[str, int]
    median_mase: float | None
    median_mase_seasonal_naive: float | None
    coverage: float | None = None  # of the shipped forecasts' band, in cross-validation
    realised: dict | None = None  # earlier forecasts against sales (forecast_accuracy)

    def metrics(self) -> dict[str, float | None]:
        """The figures a tracking server gets (see :mod:`skuplan.tracking`)."""
        realised = self.realised or {}
        return {
            "series": self.series,
            "fallback_share": self.failed_series / self.series if self.series else None,
            "median_mase": self.median_mase,
            "median_mase_seasonal_naive": self.median_mase_seasonal_naive,
            "band_coverage": self.coverage,
            "realised_wape": realised.get("wape"),
            "realised_band_coverage": realised.get("coverage"),
        }

    def __str__(self) -> str:
        models = ", ".join(f"{k}={v}" for k, v in sorted(self.models.items()))

        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        realised = self.realised or {}
        text = (
            f"train_forecast: {self.series} series forecast ({models}); {self.failed_series} "
            f"fell back; median backtest MASE {fmt(self.median_mase)} "
            f"(seasonal naive {fmt(self.median_mase_seasonal_naive)})"
        )
        if realised.get("periods"):
            text += (
                f"; earlier forecasts against sales: WAPE {fmt(realised['wape'])} over "
                f"{realised['periods']:,} periods"
            )
        return text


def engine_spec(settings: ForecastSettings) -> ForecastSpec:
    """The engine's settings from the ``forecast`` config section."""
    shared = [f.name for f in dataclasses.fields(ForecastSpec) if hasattr(settings, f.name)]
    shared = [name for name in shared if name != "drivers"]
    backtest = settings.backtest
    return ForecastSpec(
        **{name: getattr(settings, name) for name in shared},
        drivers=tuple(settings.drivers.items()),
        folds=backtest.folds,
        step=backtest.step,
        cv_horizon=backtest.horizon,
    )


def series_weight() -> Column:
    """What ranks a series' cost in the fan-out: its days with demand.

    Smooth series (demand most days) run the costly models, Prophet and LightGBM, and
    intermittent ones only the cheap ones; in the demo a smooth three-year series costs
    about 0.35 s, an intermittent one 0.02 s, and both have the same number of rows.
    """
    return F.count_if(F.col("qty") > 0)


def forecast_records(
    tables: StageTables,
    history_df: DataFrame,
    spec: ForecastSpec,
    holidays,
    global_df: DataFrame | None,
    progress: logs.Progress,
) -> DataFrame:
    """The engine once per series (the global models' forecasts cogrouped in), stacked records."""
    run_date, settings = tables.run_date, tables.conf.forecast
    fn = partial(
        transport.series_records,
        run_date=run_date,
        spec=spec,
        holidays=holidays,
        models=dict(registry.MODELS),
    )
    fanout_args = {
        "schema": transport.series_records_schema(spec.quantiles),
        "partitions": forecast_global.fanout_partitions(tables.spark, settings),
        # A series whose fit raises or kills its Python worker gets the last-resort models.
        "on_error": partial(
            transport.fallback_records, run_date=run_date, spec=spec, holidays=holidays
        ),
        "weight": series_weight(),
        "progress": progress,
    }
    if global_df is None:
        return fanout.apply_per_series(history_df, fn, **fanout_args)
    return fanout.apply_per_series_with(
        history_df, global_df, lambda h, g: fn(h, external=g if len(g) else None), **fanout_args
    )


def records_of(records_df: DataFrame, record: str, struct: StructType) -> DataFrame:
    """One record kind of the stacked output, in its table's columns and types."""
    return records_df.filter(F.col("record") == record).select(
        "run_date", "run_id", *[F.col(f.name).cast(f.dataType) for f in struct.fields]
    )


def check_failures(runs_df: DataFrame, settings: ForecastSettings, tables: StageTables):
    """Series and fallbacks per chosen model; refuses a run with too many fallbacks.

    Raises:
        InputError: no series at all (no clean sales before the run date).
        ModelFailureError: more series fell back than ``forecast.max_failure_share``.
    """
    failed_col = (F.col("status") != FORECAST_OK).alias("is_failed")
    per_model = runs_df.groupBy("chosen_model", failed_col).count().collect()
    series = sum(r["count"] for r in per_model)
    if series == 0:
        raise InputError(f"no clean sales before {tables.run_date} in {tables.ref('clean_sales')}")
    failed = sum(r["count"] for r in per_model if r["is_failed"])
    if failed / series > settings.max_failure_share:
        raise ModelFailureError(
            f"{failed} of {series} series ({failed / series:.1%}) fell back to a simpler model, "
            f"limit {settings.max_failure_share:.1%}; nothing written"
        )
    if failed:  # which ones, and why: model_runs has them all
        shown = (
            runs_df.filter(F.col("status") != FORECAST_OK).select(*KEYS, "error").limit(3).collect()
        )
        log.warning(
            "%d series fell back to a simpler model (model_runs.error), e.g. %s", failed,
            "; ".join(f"{r.sku} at {r.location}: {r.error}" for r in shown),
        )  # fmt: skip
    models: dict[str, int] = {}
    for r in per_model:
        models[r["chosen_model"]] = models.get(r["chosen_model"], 0) + r["count"]
    return series, failed, models


def backtest_scores(metrics_df: DataFrame) -> tuple[float | None, float | None, float | None]:
    """Median cross-validation MASE of the chosen models and of seasonal naive, and the mean
    band coverage of the chosen models."""
    naive = F.when(F.col("model") == "seasonal_naive", F.col("mase"))
    chosen = F.col("is_selected")
    row = metrics_df.agg(
        F.percentile_approx(F.when(chosen, F.col("mase")), 0.5).alias("chosen"),
        F.percentile_approx(naive, 0.5).alias("naive"),
        F.avg(F.when(chosen, F.col("coverage"))).alias("coverage"),
    ).first()
    return row["chosen"], row["naive"], row["coverage"]


def new_series(tables: StageTables, history_df: DataFrame, spec: ForecastSpec):
    """Forecasts and model-run rows of stocked series without any sales yet (daily data);
    None without an inventory table (nothing says what is stocked)."""
    if not tables.exists("inventory"):
        return None
    forecasts_df = cold_start.forecast_new_series(
        history_df,
        # A DC's stock serves its stores (planned as an echelon), not sales of its own.
        network.without_dcs(
            tables.read("inventory", required=KEYS),
            tables.optional("locations", required=["location"], what="location master"),
        ),
        tables.master("items", history_df, required=["sku", "category"], what="item master"),
        run_date=tables.run_date,
        horizon=spec.horizon,
        quantiles=spec.quantiles,
    )
    columns = forecast_series_schema(spec.quantiles).fieldNames()
    runs_df = forecasts_df.transform(cold_start.model_runs)
    return tables.stamp(forecasts_df.select(*columns)), tables.stamp(runs_df)


def run(spark, conf: Conf) -> ForecastSummary:
    """Forecast every series in the clean sales from ``conf.run_date`` on.

    Raises:
        ConfigError: monthly data on a run date that is not the 1st.
        InputError: no clean sales before the run date, or none in its last periods
            (``forecast.unloaded_periods``).
        ModelFailureError: more series fell back than ``forecast.max_failure_share`` allows;
            nothing is written.
    """
    tables, settings = StageTables(spark, conf, "train_forecast"), conf.forecast
    forecast_inputs.check_run_date(conf.run_date, settings.freq)
    spec = engine_spec(settings)
    closed = tables.closed_days() if settings.freq == "D" else []
    history_df = forecast_inputs.read_history(tables, settings, closed)  # kept until the end
    scored_df = paths_df = global_df = records_df = None
    outputs: dict[str, DataFrame] = {}
    try:
        scored_df = forecast_accuracy.scored(tables, history_df, settings)
        paths_df, paths = forecast_state.decide(tables, history_df, settings.recalibration, scored_df, spec)  # fmt: skip
        rows_df = forecast_inputs.series_rows(tables, history_df, settings)
        full = bool(paths.get(forecast_state.FULL))  # else the global models skip backtests
        global_df = forecast_global.global_forecasts(tables, rows_df, spec, cross_validate=full)
        external_df, models_df = forecast_global.split(tables, global_df)
        progress = logs.Progress(spark, f"{tables.job}: per series", "series")
        first = forecast_inputs.horizon_dates(tables.run_date, 1, spec.freq)[0]
        series_df = forecast_state.with_state(rows_df, paths_df, paths, first)
        holidays = forecast_inputs.read_holidays(tables)  # a small table, once per run
        records_df = forecast_records(tables, series_df, spec, holidays, external_df, progress)
        records_df = tables.stamp(records_df).persist(StorageLevel.MEMORY_AND_DISK)
        structs = transport.record_schemas(spec.quantiles)
        outputs = {
            key: records_of(records_df, kind, structs[kind]) for key, kind in OUTPUTS.items()
        }
        tables.describe("backtest and forecast per series")
        with progress:  # the first action on the records runs the fan-out
            series, failed, models = check_failures(outputs["model_runs"], settings, tables)
        if spec.combination == "weights":
            outputs = combined(tables, records_df, outputs, spec)
            models = chosen_models(outputs["model_runs"])
        outputs = completed(tables, outputs, history_df, paths_df, spec, paths)
        outputs = with_hierarchy(tables, outputs, records_df, history_df, spec, holidays)
        outputs = with_closures(outputs, closed, spec, tables.run_date)
        if models_df is not None:
            outputs[forecast_global.TABLE] = models_df
        scores = backtest_scores(outputs["backtest_metrics"])
        realised = None
        if scored_df is not None:
            realised = forecast_accuracy.write(tables, scored_df, settings)
        write(tables, outputs)
    finally:
        kept = [outputs.get(key) for key in SHARED_OUTPUTS]
        for cached in (*kept, records_df, global_df, paths_df, scored_df, history_df):
            if cached is not None:
                cached.unpersist()
    summary = ForecastSummary(tables.run_id, series, failed, models, *scores, realised)
    log.info("%s", summary)
    return summary


def write(tables: StageTables, outputs: dict[str, DataFrame]) -> None:
    """Each output's rows of the run date, replaced; then the model files of the global
    models' rows this replaced are deleted, and those past the retention window."""
    tables.describe("write forecasts")
    for key, df in outputs.items():
        tables.replace(df, key)
    if forecast_global.TABLE in outputs:
        forecast_global.prune(tables)
    forecast_global.expire(tables)


def with_closures(outputs: dict, closed: list, spec: ForecastSpec, run_date: dt.date) -> dict:
    """The outputs with the shipped forecasts and bands zero on closed days (daily data),
    explained by the ``holiday`` driver (:mod:`skuplan.forecasting.closures`)."""
    horizon = set(forecast_inputs.horizon_dates(run_date, spec.horizon, spec.freq))
    closed = [d for d in closed if d in horizon]
    if not closed:
        return outputs
    columns = ["yhat", *quantile_columns(spec.quantiles)]
    return {
        **outputs,
        "forecasts": outputs["forecasts"].transform(
            closures.with_closed_days_zeroed, closed, columns
        ),
        "explanations": outputs["explanations"].transform(closures.with_closures_explained, closed),
    }


def combined(tables: StageTables, records_df: DataFrame, outputs: dict, spec: ForecastSpec):
    """The outputs with every series' candidates combined by weights learned across series
    (:mod:`.forecast_combination`)."""
    structs = transport.record_schemas(spec.quantiles)
    tables.describe("combine candidates")
    candidates_df, residuals_df = (
        records_of(records_df, kind, structs[kind])
        for kind in (transport.RECORD_CANDIDATE, transport.RECORD_RESIDUAL)
    )
    return forecast_combination.combined_outputs(tables, outputs, candidates_df, residuals_df, spec)


def completed(tables, outputs, history_df, paths_df, spec: ForecastSpec, paths: dict) -> dict:
    """The outputs with the new series' forecasts, each series' path, the backtest metrics
    behind the incremental series' selections, and the state the next runs read."""
    new = new_series(tables, history_df, spec) if spec.freq == "D" else None
    if new is not None:  # new series get a category mean: nothing to explain
        new_forecasts_df, new_runs_df = new
        outputs["forecasts"] = outputs["forecasts"].unionByName(new_forecasts_df)
        outputs["model_runs"] = outputs["model_runs"].unionByName(
            new_runs_df, allowMissingColumns=True
        )
    runs_df = forecast_state.with_paths(outputs["model_runs"], paths_df, tables.run_date)
    runs_df = runs_df.persist(StorageLevel.MEMORY_AND_DISK)
    metrics_df = outputs["backtest_metrics"]
    carried_df = (
        forecast_state.carried_metrics(tables, paths_df)
        if paths.get(forecast_state.INCREMENTAL)
        else None
    )
    if carried_df is not None:
        metrics_df = metrics_df.unionByName(carried_df.select(*metrics_df.columns))
    metrics_df = metrics_df.persist(StorageLevel.MEMORY_AND_DISK)
    return {
        **outputs,
        "model_runs": runs_df,
        "backtest_metrics": metrics_df,
        forecast_state.TABLE: forecast_state.state_rows(runs_df, metrics_df, paths_df, spec),
    }


def chosen_models(runs_df: DataFrame) -> dict[str, int]:
    """Series per chosen model (``combined`` for the combined ones)."""
    return {
        r["chosen_model"]: r["count"] for r in runs_df.groupBy("chosen_model").count().collect()
    }
