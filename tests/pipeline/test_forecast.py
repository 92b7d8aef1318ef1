"""The forecast stage's Spark side: history window, latest loads, global-model groups, tasks."""

import datetime as dt

import chispa
import pytest

from skuplan.conf import load_conf
from skuplan.errors import ConfigError
from skuplan.pipeline.forecast import engine_spec
from skuplan.pipeline.forecast_global import capped_groups, fanout_partitions
from skuplan.pipeline.forecast_inputs import filter_history_window, latest_loaded

from conftest import ROOT

CLEAN_DDL = (
    "sku string, location string, date date, qty double, price double, promo boolean, "
    "is_stockout boolean, load_date date"
)


def test_overlapping_loads_keep_the_latest_row_per_day(spark):
    d1, d2 = dt.date(2026, 6, 1), dt.date(2026, 6, 2)
    clean = spark.createDataFrame(
        [
            ("A", "L1", d1, 5.0, 2.0, False, False, dt.date(2026, 6, 2)),
            ("A", "L1", d1, 7.0, 2.0, True, False, dt.date(2026, 6, 3)),  # corrected later
            ("A", "L1", d2, 1.0, 2.0, False, False, dt.date(2026, 6, 3)),
        ],
        CLEAN_DDL,
    )
    expected = spark.createDataFrame(
        [("A", "L1", d1, 7.0, 2.0, True, False), ("A", "L1", d2, 1.0, 2.0, False, False)],
        CLEAN_DDL.rsplit(",", 1)[0],
    )
    chispa.assert_df_equality(
        latest_loaded(clean), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_history_window_ends_before_the_run_date_and_is_capped(spark):
    days = [dt.date(2026, 6, d) for d in (1, 20, 29, 30)]
    df = spark.createDataFrame([("A", d) for d in days], "sku string, date date")
    kept = filter_history_window(df, dt.date(2026, 6, 30), 15)
    assert sorted(r.date for r in kept.collect()) == days[1:3]
    assert filter_history_window(df, dt.date(2026, 6, 30), None).count() == 3


def test_global_model_groups_are_capped_by_series_count(spark):
    days = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    rows = [(f"S{i}", "L1", d) for i in range(25) for d in days]
    rows += [(f"S{i}", "L2", days[0]) for i in range(5)]
    df = spark.createDataFrame(rows, "sku string, location string, date date")

    capped, group_cols = capped_groups(df, "location", 10)
    pdf = capped.toPandas()
    assert group_cols == ["location", "_buckets", "_bucket"] and len(pdf) == len(rows)
    assert (pdf.groupby(["sku", "location"])["_bucket"].nunique() == 1).all()
    series = pdf.drop_duplicates(["sku", "location"])
    assert series.groupby("location")["_bucket"].nunique().to_dict() == {"L1": 3, "L2": 1}
    assert capped_groups(df, "location", None) == (df, ["location"])


def test_fan_out_tasks_follow_the_cores_unless_set(spark, tmp_path):
    cores = spark.sparkContext.defaultParallelism
    local = load_conf(ROOT / "conf", "local").forecast
    assert fanout_partitions(spark, local) == cores
    assert load_conf(ROOT / "conf", "cluster").forecast.tasks_per_core == 4
    four = load_conf(ROOT / "conf", "local", overrides=["forecast.tasks_per_core=4"]).forecast
    assert fanout_partitions(spark, four) == 4 * cores
    fixed = load_conf(ROOT / "conf", "local", overrides=["forecast.partitions=3"]).forecast
    assert fanout_partitions(spark, fixed) == 3


def test_engine_spec_carries_the_forecast_settings():
    settings = load_conf(
        ROOT / "conf", "local", overrides=["forecast.backtest.horizon=7", "forecast.freq=W-FRI"]
    ).forecast
    spec = engine_spec(settings)
    assert (spec.freq, spec.h, spec.folds, spec.models) == ("W-FRI", 7, 3, settings.models)


def test_unknown_model_in_config_is_refused():
    with pytest.raises(ConfigError, match="unknown model"):
        load_conf(ROOT / "conf", "local", overrides=["forecast.models=[seasonal_naive, nope]"])
