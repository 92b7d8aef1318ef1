"""The engine inside Spark: stacked records, fallbacks, and agreement with the pandas call."""

import datetime as dt
from functools import partial

import chispa
import numpy as np
import pandas as pd
import pyspark.sql.functions as F

from skuplan import fanout
from skuplan.columns import FORECAST_FALLBACK
from skuplan.forecasting.spec import ForecastSpec
from skuplan.forecasting.transport import (
    RECORD_FORECAST,
    RECORD_RUN,
    fallback_records,
    series_records,
    series_records_schema,
)

RUN_DATE = dt.date(2026, 3, 1)
SPEC = ForecastSpec(
    horizon=14, models=("seasonal_naive", "moving_average", "croston", "sba", "tsb")
)
HISTORY_DDL = (
    "sku string, location string, date date, qty double, price double, promo boolean, "
    "is_stockout boolean"
)


def _history(values, sku="A", location="L1"):
    dates = pd.date_range(end=pd.Timestamp(RUN_DATE - dt.timedelta(days=1)), periods=len(values))
    return pd.DataFrame(
        {"sku": sku, "location": location, "date": dates.date, "qty": np.asarray(values, float),
         "price": 2.0, "promo": False, "is_stockout": False}
    )  # fmt: skip


def test_spark_fan_out_equals_the_direct_pandas_call(spark):
    rng = np.random.default_rng(1)
    histories = [
        _history(rng.poisson(3.0, 90), sku="A"),
        _history(np.where(rng.random(120) < 0.1, 2, 0), sku="B", location="L2"),
        _history([1, 2, 3], sku="C"),
    ]
    fn = partial(series_records, run_date=RUN_DATE, spec=SPEC)
    schema = series_records_schema(SPEC.quantiles)
    history_df = spark.createDataFrame(pd.concat(histories), HISTORY_DDL)
    fanned = fanout.apply_per_series(history_df, fn, schema, partitions=3)
    # As many tasks as asked for: adaptive execution must not merge the small input into one.
    assert fanned.rdd.getNumPartitions() == 3
    actual = fanned.drop("fit_seconds")
    expected = spark.createDataFrame(pd.concat([fn(h) for h in histories]), schema)
    chispa.assert_approx_df_equality(
        actual,
        expected.drop("fit_seconds"),
        precision=1e-9,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert actual.filter(F.col("record") == RECORD_FORECAST).count() == 3 * 14


def test_a_series_whose_engine_failed_gets_the_last_resort_with_the_error():
    records = fallback_records(
        _history(np.arange(60.0) % 7), "worker died", run_date=RUN_DATE, spec=SPEC
    )
    run = records[records["record"] == RECORD_RUN].iloc[0]
    assert run["status"] == FORECAST_FALLBACK and run["chosen_model"] == "seasonal_naive"
    assert run["error"] == "worker died; fell back to seasonal_naive"
    forecasts = records[records["record"] == RECORD_FORECAST]
    assert len(forecasts) == 14 and set(forecasts["status"]) == {FORECAST_FALLBACK}


def test_a_global_group_saves_the_models_it_trained_only(tmp_path):
    from skuplan.forecasting import model_files
    from skuplan.forecasting.transport import global_group_forecasts

    rng = np.random.default_rng(3)
    group = pd.concat(
        [_history(rng.poisson(5 + i, 200), sku=f"S{i}").assign(all="all") for i in range(4)]
    )
    spec = ForecastSpec(horizon=7, models=("lightgbm_global",), folds=2)
    folder = model_files.run_folder(str(tmp_path), RUN_DATE, "run-1")
    first = global_group_forecasts(
        group, run_date=RUN_DATE, spec=spec, group_cols=["all"], model_folder=folder
    )
    models = first[first["group_key"].notna()].set_index("fit")
    assert sorted(models.index) == [0, 1, 2] and set(models["group_key"]) == {'["all"]'}
    assert set(models["trained_on"]) == {RUN_DATE} and first["sku"].notna().sum() == 4 * 3 * 7
    paths = models["model_path"]
    assert all(p.startswith(f"{tmp_path}/run_date=2026-03-01/run_id=run-1/") for p in paths)
    assert model_files.load(models.loc[0, "model_path"]).startswith("tree\n")
    # The next day without backtests: the final model predicts, untrained; no model is
    # returned (each stays with the run that trained it).
    kept = {'["all"]': {f: (RUN_DATE, path) for f, path in models["model_path"].items()}}
    day_after = RUN_DATE + dt.timedelta(days=1)
    no_folds = ForecastSpec(horizon=7, models=("lightgbm_global",), folds=0)
    second = global_group_forecasts(
        group, run_date=day_after, spec=no_folds, group_cols=["all"], kept=kept,
        model_folder=folder,
    )  # fmt: skip
    assert second["group_key"].isna().all() and second["sku"].notna().sum() == 4 * 7
    assert set(second["origin"].dropna()) == {day_after}
    # A kept model whose file is gone is retrained (and saved), not an error.
    gone = {'["all"]': {0: (RUN_DATE, str(tmp_path / "gone.txt.gz"))}}
    third = global_group_forecasts(
        group, run_date=day_after, spec=no_folds, group_cols=["all"], kept=gone,
        model_folder=folder,
    )  # fmt: skip
    assert third["error"].isna().all() and list(third["fit"].dropna()) == [0]
    assert third["sku"].notna().sum() == 4 * 7
