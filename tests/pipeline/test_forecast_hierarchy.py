"""Hierarchical forecasts through the forecast job (local Spark, Delta, the demo's inputs)."""

import numpy as np
import pytest

from skuplan import delta_io
from skuplan.pipeline import demo, forecast, forecast_hierarchy, validate

from conftest import conf_under

pytestmark = pytest.mark.slow

DEMO = ["demo.n_series=12", "demo.n_locations=2", "demo.history_days=240", "demo.dirty_share=0"]
LEVELS = "forecast.hierarchy.levels={location: [location], category_location: [category, location]}"


def _read(spark, conf, key):
    return delta_io.read_table(spark, conf.table(key)).toPandas()


def test_levels_are_forecast_reconciled_per_store_and_shipped(spark, tmp_path):
    conf = conf_under(
        tmp_path, *DEMO, LEVELS, "forecast.horizon=14", "forecast.hierarchy.ship_reconciled=true",
        "forecast.hierarchy.method=mint_shrink",
        "forecast.models=[seasonal_naive, moving_average]",
    )  # fmt: skip
    demo.run(spark, conf)
    validate.run(spark, conf)
    forecast.run(spark, conf)

    nodes = _read(spark, conf, "hierarchy_forecasts")
    assert set(nodes["level"]) == {"location", "category_location", "series"}
    assert set(nodes["method"]) == {"mint_shrink"}
    series = nodes[nodes["level"] == "series"].copy()
    series["location"] = series["node"].str.split("location=").str[1]
    stores = nodes[nodes["level"] == "location"].assign(location=lambda f: f["node"].str[9:])
    for column in ("yhat", "yhat_base"):
        summed = series.groupby(["location", "date"])[column].sum()
        own = stores.set_index(["location", "date"])[column].reindex(summed.index)
        if column == "yhat":  # reconciled: each store is the sum of its series
            np.testing.assert_allclose(own, summed, rtol=1e-6)
        else:  # the base forecasts were not
            assert np.abs(own - summed).max() > 1e-3

    # The job shipped the series' reconciled forecasts (never below zero).
    shipped = _read(spark, conf, "forecasts")
    shipped["node"] = "sku=" + shipped["sku"] + "/location=" + shipped["location"]
    joined = shipped.merge(series, on=["node", "date"], suffixes=("", "_rec"))
    assert len(joined) == len(series) > 0
    np.testing.assert_allclose(joined["yhat"], joined["yhat_rec"].clip(lower=0))
    np.testing.assert_allclose(joined["q90"], joined["q90_rec"].clip(lower=0))

    metrics = _read(spark, conf, "hierarchy_metrics")
    assert (
        set(metrics["tree"]) == {"location=L001", "location=L002"} or len(set(metrics["tree"])) == 2
    )
    assert set(metrics["level"]) == {"location", "category_location", "series"}
    assert (metrics["periods"] > 0).all() and metrics[["rmsse_base", "rmsse"]].notna().all().all()

    # A re-run of the date with the levels switched off leaves no hierarchy rows for it.
    off = conf_under(tmp_path, *DEMO, "forecast.horizon=14", "forecast.models=[seasonal_naive]")
    forecast.run(spark, off)
    for key in forecast_hierarchy.TABLES:
        assert _read(spark, off, key).empty, key


def test_a_short_series_folds_are_counted_from_the_newest_origin(spark):
    errors = spark.createDataFrame(
        [("a", "L1", 0), ("a", "L1", 1), ("a", "L1", 2), ("b", "L1", 0), ("b", "L1", 1)],
        "sku string, location string, fold int",
    )
    got = forecast_hierarchy.aligned_folds(errors, ["sku", "location"], 3).collect()
    assert sorted((r.sku, r.fold) for r in got) == [
        ("a", 0), ("a", 1), ("a", 2), ("b", 1), ("b", 2),
    ]  # fmt: skip


def test_every_level_sums_its_series_per_date(spark):
    history = spark.createDataFrame(
        [("a", "L1", "2026-01-01", 1.0), ("a", "L1", "2026-01-02", 2.0),
         ("b", "L1", "2026-01-01", 3.0), ("a", "L2", "2026-01-01", 5.0)],
        "sku string, location string, date string, qty double",
    )  # fmt: skip
    members = spark.createDataFrame(
        [("a", "L1", "food", "all"), ("b", "L1", "home", "all"), ("a", "L2", "food", "all")],
        f"sku string, location string, category string, {forecast_hierarchy.ONE_TREE} string",
    )
    levels = {"total": [], "location": ["location"], "category": ["category"]}
    got = forecast_hierarchy.aggregate_rows(
        history, members, levels, [forecast_hierarchy.ONE_TREE]
    ).collect()
    assert sorted((r.level, r.node, r.date, r.qty) for r in got) == [
        ("category", "category=food", "2026-01-01", 6.0),
        ("category", "category=food", "2026-01-02", 2.0),
        ("category", "category=home", "2026-01-01", 3.0),
        ("location", "location=L1", "2026-01-01", 4.0),
        ("location", "location=L1", "2026-01-02", 2.0),
        ("location", "location=L2", "2026-01-01", 5.0),
        ("total", "total", "2026-01-01", 9.0),
        ("total", "total", "2026-01-02", 2.0),
    ]
