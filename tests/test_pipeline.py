"""End to end: demo data -> validate -> forecast -> plan, on local Spark and Delta."""

import re

import pyspark.sql.functions as F
import pytest

from skuplan import delta_io, erp
from skuplan.columns import DRIVERS
from skuplan.models import explain
from skuplan.pipeline import demo, run_all

pytestmark = pytest.mark.slow

SMALL = [
    "demo.n_series=24",
    "demo.n_locations=4",
    "demo.history_days=120",
    "demo.dirty_share=0.02",
    "forecast.horizon=14",
    "plan.simulation.weeks=4",
    "plan.simulation.warmup_days=56",
]


REASON_NUMBERS = {
    "position": "inventory_position",
    "forecast demand": "demand_over_protection",
    "safety stock": "safety_stock",
    "; order": "computed_order_qty",  # the policy's order; an override quotes its own first
}


def _assert_reason_quotes(line):
    """The numbers after each label in ``line.reason`` are the line's columns (1 decimal)."""
    for label, column in REASON_NUMBERS.items():
        found = re.findall(rf"{label} (-?[0-9.]+)", line.reason)
        assert found, (label, line.reason)
        assert float(found[-1]) == pytest.approx(line[column], abs=0.051), (label, line.reason)
    threshold = re.search(r"(reorder point|order-up-to level|min) (-?[0-9.]+)", line.reason)
    column = "order_up_to" if threshold[1] == "order-up-to level" else "reorder_point"
    assert float(threshold[2]) == pytest.approx(line[column], abs=0.051), line.reason
    service = re.search(r"for ([0-9.]+)% (cycle service|fill rate)", line.reason)
    assert float(service[1]) == pytest.approx(100 * line.target_service_level, abs=0.051)
    assert service[2] == ("fill rate" if line.target_type == "fill_rate" else "cycle service")


def _counts(spark, conf):
    return {
        key: delta_io.read_table(spark, conf.table(key)).count() for key in run_all.OUTPUT_TABLES
    }


# Every model family that explains its forecasts competes (the local overlay leaves Prophet out).
EXPLAINED = "forecast.models=[seasonal_naive, moving_average, croston, sba, tsb, lightgbm_global, lightgbm, prophet]"


def _explanation_totals(spark, conf):
    """Forecasts of the models that explain themselves, with the sum and count of their drivers."""
    keys = ["run_date", "run_id", "sku", "location", "date", "model"]
    totals = (
        delta_io.read_table(spark, conf.table("explanations"))
        .groupBy(*keys)
        .agg(F.sum("contribution").alias("total"), F.count("*").alias("drivers"))
    )
    forecasts = delta_io.read_table(spark, conf.table("forecasts"))
    explained = forecasts.filter(F.col("model").isin(*explain.EXPLAINED_MODELS, "ensemble"))
    return explained.join(totals, keys, "full_outer")


def test_pipeline_end_to_end_and_idempotent(spark, make_conf):
    conf = make_conf(*SMALL, EXPLAINED)
    generated = demo.run(spark, conf)
    summary = run_all.run(spark, conf)

    # Nothing is lost: every raw row is either clean or quarantined.
    raw = delta_io.read_table(spark, conf.table("raw_sales")).count()
    clean_df = delta_io.read_table(spark, conf.table("clean_sales"))
    clean = clean_df.filter(~F.col("is_imputed")).count()
    quarantined_df = delta_io.read_table(spark, conf.table("quarantine"))
    assert raw == generated["raw_sales"] == clean + quarantined_df.count()
    assert (
        summary.validation.rows_in == raw
        and summary.validation.quarantined == quarantined_df.count() > 0
    )
    assert quarantined_df.filter(F.size("reasons") == 0).count() == 0

    # Exactly one forecast row per series per horizon day.
    # Every stocked series is forecast, new items without history too.
    with_history = delta_io.read_table(spark, conf.table("clean_sales")).select("sku", "location")
    stocked = delta_io.read_table(spark, conf.table("inventory")).select("sku", "location")
    series = with_history.union(stocked).distinct().count()
    forecasts = delta_io.read_table(spark, conf.table("forecasts"))
    assert forecasts.count() == series * 14
    assert forecasts.groupBy("sku", "location", "step").count().filter("count > 1").count() == 0
    assert (
        forecasts.filter((F.col("q10") > F.col("q50")) | (F.col("q50") > F.col("q90"))).count() == 0
    )

    # Every forecast of LightGBM (per series, global) and Prophet is explained, in planner
    # terms, and its drivers add up to it (before the forecast is clipped at zero); no other
    # model's forecasts are.
    explained = _explanation_totals(spark, conf)
    chosen = {r.model for r in explained.select("model").distinct().collect()}
    assert chosen == set(explain.EXPLAINED_MODELS)
    assert explained.filter("yhat IS NULL OR total IS NULL").count() == 0
    assert explained.filter("abs(greatest(total, 0) - yhat) > 1e-6 * (1 + yhat)").count() == 0
    explanations = delta_io.read_table(spark, conf.table("explanations"))
    assert {r.driver for r in explanations.select("driver").distinct().collect()} <= set(DRIVERS)
    per_driver = explanations.groupBy("sku", "location", "date", "driver").count()
    assert per_driver.filter("count > 1").count() == 0

    # One model run per series; at most one selected model per series in the backtest metrics.
    runs = delta_io.read_table(spark, conf.table("model_runs"))
    assert runs.count() == series and runs.filter(F.col("status") != "ok").count() == 0
    metrics = delta_io.read_table(spark, conf.table("backtest_metrics"))
    assert (
        metrics.filter("is_selected").groupBy("sku", "location").count().filter("count > 1").count()
        == 0
    )
    assert metrics.filter("is_selected").count() > 0

    # One plan line per series; lines not planned say why; orders in whole packs, >= MOQ.
    plan = delta_io.read_table(spark, conf.table("reorder_plan"))
    assert plan.count() == series == plan.select("sku", "location").distinct().count()
    assert plan.filter("order_qty > 0").count() > 0
    assert plan.filter(F.col("order_qty") > 0).filter(F.col("order_date").isNull()).count() == 0
    planned = plan.filter("plan_status IN ('planned', 'needs_review')")
    assert planned.filter("exception_reason IS NOT NULL").count() == 0
    not_planned = plan.filter("plan_status IN ('not_planned', 'quarantined')")
    assert not_planned.filter("exception_reason IS NULL").count() == 0
    computed = planned.filter("computed_order_qty > 0")
    assert (
        computed.filter("computed_order_qty % pack != 0 OR computed_order_qty < min_order").count()
        == 0
    )
    assert planned.filter("daily_demand = 0 AND computed_order_qty > 0").count() == 0
    assert (
        planned.filter("safety_stock < 0 OR reorder_point < demand_over_protection - 1e-9").count()
        == 0
    )
    assert planned.filter("is_default_lead_time AND lead_time_days != 7").count() == 0
    # A lead time in the item-location master wins over the item's for that location.
    local_lead = delta_io.read_table(spark, conf.table("item_locations")).filter(
        "lead_time_mean_days IS NOT NULL"
    )
    with_local = planned.filter("NOT is_overridden").join(
        local_lead.select("sku", "location", "lead_time_mean_days"), ["sku", "location"]
    )
    assert with_local.count() > 0
    assert with_local.filter("lead_time_days != lead_time_mean_days").count() == 0

    # Every line says why; an order line's reason quotes that line's own numbers.
    assert plan.filter(F.coalesce(F.length("reason"), F.lit(0)) == 0).count() == 0
    order_lines = planned.filter("computed_order_qty > 0 AND is_review_day").collect()
    assert order_lines
    for line in order_lines:
        _assert_reason_quotes(line)

    # Projection: one row per planned series and horizon day.
    projection = delta_io.read_table(spark, conf.table("inventory_projection"))
    assert projection.count() == planned.count() * 14

    # The ERP outbox holds exactly the released order lines, with the change feed on.
    released = plan.filter("plan_status = 'planned' AND order_qty > 0")
    outbox_path = conf.table("erp_outbox").path
    outbox = delta_io.read_table(spark, conf.table("erp_outbox"))
    assert outbox.filter("change_type = 'new'").count() == released.count() == outbox.count()
    props = spark.sql(f"DESCRIBE DETAIL delta.`{outbox_path}`").first()["properties"]
    assert props.get("delta.enableChangeDataFeed") == "true"
    version = spark.sql(f"DESCRIBE HISTORY delta.`{outbox_path}` LIMIT 1").first()["version"]
    exports = erp.local_export_files(
        erp.export_folder(conf.table("supplier_exports"), conf.run_date)
    )
    assert sum(len(p.read_text().splitlines()) - 1 for p in exports) == released.count()

    # Policy simulation: per-series rows and an overall row per target type.
    sim = delta_io.read_table(spark, conf.table("policy_simulation"))
    # Every planned series with sales history is replayed (new items have none to replay).
    replayable = planned.join(with_history.distinct(), ["sku", "location"])
    assert sim.filter("level = 'series'").count() == replayable.count()
    assert sim.filter("level = 'overall' AND target_type = 'csl'").count() == 1
    assert sim.filter("status = 'failed'").count() == 0

    # Re-running the same run date replaces its rows: same counts, latest run id only.
    before = _counts(spark, conf)
    again = run_all.run(spark, conf)
    assert _counts(spark, conf) == before
    for key in ("forecasts", "explanations"):
        run_ids = delta_io.read_table(spark, conf.table(key)).select("run_id").distinct().collect()
        assert [r.run_id for r in run_ids] == [again.forecast.run_id]
    # Still one explanation per forecast and driver (joined on the new run id too).
    assert _explanation_totals(spark, conf).filter("yhat IS NULL OR total IS NULL").count() == 0
    # The unchanged plan adds nothing to the ERP change feed.
    assert again.plan.outbox_changes == 0
    assert erp.read_outbox_changes(spark, conf.table("erp_outbox"), version + 1).count() == 0
