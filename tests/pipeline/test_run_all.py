"""End to end: demo data -> validate -> forecast -> plan -> report, on local Spark and Delta.

The tests read a copy of the session's end-to-end run (the ``pipeline`` fixture, from
``conftest.end_to_end``); each checks one stage's outputs of that run. The last test re-runs
the same run date in the copy: it stays last in the file.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyspark.sql.functions as F
import pytest
from pyspark.sql import DataFrame

from skuplan import delta_io, erp
from skuplan.columns import DRIVERS
from skuplan.conf import Conf
from skuplan.forecasting.combination import COMBINED
from skuplan.models import explain
from skuplan.pipeline import run_all
from skuplan.replenishment import network

from conftest import END_TO_END_HORIZON as HORIZON

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    conf: Conf
    generated: dict[str, int]
    summary: run_all.PipelineSummary
    outbox_version: int  # the ERP outbox's version after this run


@pytest.fixture(scope="module")
def pipeline(end_to_end, tmp_path_factory) -> Run:
    """The session's end-to-end run (demo inputs and one run of every stage), copied for the
    tests of this module: the last one re-runs it."""
    conf = end_to_end.copy_to(tmp_path_factory.mktemp("run_all"))
    return Run(conf, end_to_end.generated, end_to_end.summary, end_to_end.outbox_version)


Read = Callable[[str], DataFrame]


@pytest.fixture(scope="module")
def tables(spark, pipeline) -> Read:
    """The first run's tables by key, each read once: a read stays pinned to the version it
    found, so the re-run at the end reads afresh."""
    cache: dict[str, DataFrame] = {}

    def read(key: str) -> DataFrame:
        if key not in cache:
            cache[key] = delta_io.read_table(spark, pipeline.conf.table(key))
        return cache[key]

    return read


def _with_history(read: Read) -> DataFrame:
    return read("clean_sales").select("sku", "location")


@pytest.fixture(scope="module")
def series(tables) -> int:
    """How many series are forecast and planned as stores: every stocked series, new items
    too (the DCs' stock is planned on their stores' orders, not forecast)."""
    stocked = network.without_dcs(
        tables("inventory").select("sku", "location"), tables("locations")
    )
    return _with_history(tables).union(stocked).distinct().count()


def _planned(plan: DataFrame) -> DataFrame:
    """The plan lines that are planned (released or held for review)."""
    return plan.filter("plan_status IN ('planned', 'needs_review')")


def test_every_raw_row_is_clean_or_quarantined_with_a_reason(pipeline, tables):
    raw = tables("raw_sales").count()
    clean = tables("clean_sales").filter(~F.col("is_imputed")).count()
    quarantined_df = tables("quarantine")
    assert raw == pipeline.generated["raw_sales"] == clean + quarantined_df.count()
    validation = pipeline.summary.validation
    assert validation.rows_in == raw and validation.quarantined == quarantined_df.count() > 0
    assert quarantined_df.filter(F.size("reasons") == 0).count() == 0


def test_one_forecast_per_series_and_day_with_ordered_quantiles(tables, series):
    forecasts = tables("forecasts")
    assert forecasts.count() == series * HORIZON
    assert forecasts.groupBy("sku", "location", "step").count().filter("count > 1").count() == 0
    assert (
        forecasts.filter((F.col("q10") > F.col("q50")) | (F.col("q50") > F.col("q90"))).count() == 0
    )


def _explanation_totals(read: Read) -> DataFrame:
    """Forecasts of the models that explain themselves, with the sum and count of their drivers."""
    keys = ["run_date", "run_id", "sku", "location", "date", "model"]
    totals = (
        read("explanations")
        .groupBy(*keys)
        .agg(F.sum("contribution").alias("total"), F.count("*").alias("drivers"))
    )
    forecasts = read("forecasts")
    explained = forecasts.filter(
        F.col("model").isin(*explain.EXPLAINED_MODELS, "ensemble", COMBINED)
    )
    return explained.join(totals, keys, "full_outer")


def test_explained_forecasts_are_the_sum_of_their_drivers(tables):
    # Every forecast of LightGBM (per series, global) and Prophet is explained, in planner
    # terms, and so is a combination with such a member; the drivers add up to the forecast
    # (before it is clipped at zero); no other model's forecasts are.
    explained = _explanation_totals(tables)
    chosen = {r.model for r in explained.select("model").distinct().collect()}
    assert COMBINED in chosen and chosen <= {*explain.EXPLAINED_MODELS, COMBINED}
    assert explained.filter("yhat IS NULL").count() == 0
    assert explained.filter(f"total IS NULL AND model != '{COMBINED}'").count() == 0
    assert explained.filter("total IS NOT NULL").count() > 0
    mismatch = "total IS NOT NULL AND abs(greatest(total, 0) - yhat) > 1e-6 * (1 + yhat)"
    assert explained.filter(mismatch).count() == 0
    explanations = tables("explanations")
    assert {r.driver for r in explanations.select("driver").distinct().collect()} <= set(DRIVERS)
    per_driver = explanations.groupBy("sku", "location", "date", "driver").count()
    assert per_driver.filter("count > 1").count() == 0


def test_a_combined_forecast_is_its_candidates_weighted(tables):
    # Every candidate's forecast is kept with its weight; a combined series' weights add up
    # to 1 and its forecast is their weighted sum, which model_runs spells out.
    candidates = tables("candidate_forecasts")
    keys = ["sku", "location", "date"]
    weighted = candidates.groupBy(*keys).agg(
        F.sum("weight").alias("weights"), F.sum(F.col("weight") * F.col("yhat")).alias("sum")
    )
    combined = tables("forecasts").filter(F.col("model") == COMBINED).join(weighted, keys)
    assert combined.count() == tables("forecasts").filter(F.col("model") == COMBINED).count() > 0
    assert (
        combined.filter("abs(weights - 1) > 1e-9 OR abs(sum - yhat) > 1e-6 * (1 + yhat)").count()
        == 0
    )
    runs = tables("model_runs").filter(F.col("chosen_model") == COMBINED)
    assert runs.filter("weights IS NULL OR weights NOT LIKE '%=%'").count() == 0


def test_one_model_run_per_series_and_at_most_one_selected_model(tables, series):
    runs = tables("model_runs")
    assert runs.count() == series and runs.filter(F.col("status") != "ok").count() == 0
    selected = tables("backtest_metrics").filter("is_selected")
    assert selected.groupBy("sku", "location").count().filter("count > 1").count() == 0
    assert selected.count() > 0


def test_one_plan_line_per_series_orders_in_whole_packs_at_least_moq(tables, series):
    plan = tables("reorder_plan")
    planned = _planned(plan)
    assert plan.filter("echelon = 'store'").count() == series
    assert plan.count() == plan.select("sku", "location").distinct().count() > series
    assert plan.filter("order_qty > 0").count() > 0
    assert plan.filter(F.col("order_qty") > 0).filter(F.col("order_date").isNull()).count() == 0
    # Lines not planned say why; planned lines have no exception.
    assert planned.filter("exception_reason IS NOT NULL").count() == 0
    not_planned = plan.filter("plan_status IN ('not_planned', 'quarantined')")
    assert not_planned.filter("exception_reason IS NULL").count() == 0
    computed = planned.filter("computed_order_qty > 0")
    assert (
        computed.filter("computed_order_qty % pack != 0 OR computed_order_qty < min_order").count()
        == 0
    )
    assert planned.filter("daily_demand = 0 AND computed_order_qty > 0").count() == 0
    # The formula's minmax covers the lead time and the undershoot, less than L + R.
    is_undershoot = "policy = 'minmax' AND policy_parameters = 'formula'"
    assert (
        planned.filter(f"NOT ({is_undershoot})")
        .filter("safety_stock < 0 OR reorder_point < demand_over_protection - 1e-9")
        .count()
        == 0
    )
    undershoot = planned.filter(is_undershoot).filter("target_type = 'csl' AND daily_demand > 0")
    assert undershoot.filter("reorder_point < demand_over_lead_time - 1e-9").count() == 0
    assert undershoot.filter("reorder_point > demand_over_protection + 1e-9").count() == 0
    assert planned.filter("is_default_lead_time AND lead_time_days != 7").count() == 0


def test_an_item_location_lead_time_wins_over_the_items(tables):
    local_lead = tables("item_locations").filter("lead_time_mean_days IS NOT NULL")
    with_local = (
        _planned(tables("reorder_plan"))
        .filter("NOT is_overridden")
        .join(local_lead.select("sku", "location", "lead_time_mean_days"), ["sku", "location"])
    )
    assert with_local.count() > 0
    assert with_local.filter("lead_time_days != lead_time_mean_days").count() == 0


REASON_NUMBERS = {
    "position": "inventory_position",
    "forecast demand": "demand_over_protection",
    "safety stock": "safety_stock",
    "; order": "computed_order_qty",  # the policy's order; an override quotes its own first
}


def _assert_reason_quotes(line):
    """The numbers after each label in ``line.reason`` are the line's columns (1 decimal)."""
    for label, column in REASON_NUMBERS.items():
        if column == "demand_over_protection" and "over the lead time" in line.reason:
            column = "demand_over_lead_time"  # the formula's minmax (policies.with_safety_stock)
        found = re.findall(rf"{label} (-?[0-9.]+)", line.reason)
        assert found, (label, line.reason)
        assert float(found[-1]) == pytest.approx(line[column], abs=0.051), (label, line.reason)
    threshold = re.search(r"(reorder point|order-up-to level|min) (-?[0-9.]+)", line.reason)
    column = "order_up_to" if threshold[1] == "order-up-to level" else "reorder_point"
    assert float(threshold[2]) == pytest.approx(line[column], abs=0.051), line.reason
    service = re.search(r"for ([0-9.]+)% (cycle service|fill rate)", line.reason)
    assert float(service[1]) == pytest.approx(100 * line.target_service_level, abs=0.051)
    assert service[2] == ("fill rate" if line.target_type == "fill_rate" else "cycle service")


def test_every_plan_line_says_why_and_an_order_quotes_its_own_numbers(tables):
    plan = tables("reorder_plan")
    assert plan.filter(F.coalesce(F.length("reason"), F.lit(0)) == 0).count() == 0
    order_lines = _planned(plan).filter("computed_order_qty > 0 AND is_review_day").collect()
    assert order_lines
    for line in order_lines:
        _assert_reason_quotes(line)


def test_projection_has_one_row_per_planned_series_and_day(tables):
    projection = tables("inventory_projection")
    assert projection.count() == _planned(tables("reorder_plan")).count() * HORIZON


def test_erp_outbox_and_supplier_files_hold_the_released_lines(spark, pipeline, tables):
    # The ERP outbox holds exactly the released order lines, with the change feed on.
    released = tables("reorder_plan").filter("plan_status = 'planned' AND order_qty > 0")
    outbox = tables("erp_outbox")
    assert outbox.filter("change_type = 'new'").count() == released.count() == outbox.count()
    outbox_path = pipeline.conf.table("erp_outbox").path
    props = spark.sql(f"DESCRIBE DETAIL delta.`{outbox_path}`").first()["properties"]
    assert props.get("delta.enableChangeDataFeed") == "true"
    exports = erp.local_export_files(
        erp.export_folder(pipeline.conf.table("supplier_exports"), pipeline.conf.run_date)
    )
    assert sum(len(p.read_text().splitlines()) - 1 for p in exports) == released.count()
    # The run's summary says where the files are (of the shared run this one copied).
    text = str(pipeline.summary)
    assert "\nsupplier files (CSV, a folder per run date and supplier):\n" in text
    assert re.search(r"^  supplier_exports +/\S+/exports/supplier_orders$", text, re.M), text


def test_supplier_signal_holds_each_suppliers_weeks_and_the_released_orders(pipeline, tables):
    # Stores a DC supplies are not in it: their DC's lines carry their demand.
    plan = tables("reorder_plan").filter(
        "exception_reason IS NULL AND supplier IS NOT NULL AND source_location IS NULL"
    )
    sig = tables("supplier_signal")
    weeks = sig.groupBy("sku", "location").agg(F.count(F.lit(1)).alias("n"), F.sum("days").alias("days"))  # fmt: skip
    # Every planned series of a supplier with its weeks: the horizon's 14 days from Tuesday
    # 2026-06-30 fall in three calendar weeks (6, 7 and 1 days).
    assert weeks.count() == plan.count()
    assert weeks.filter(f"n != 3 OR days != {HORIZON}").count() == 0
    first_week = sig.filter(F.col("week_start") == F.date_trunc("week", F.lit(pipeline.conf.run_date)).cast("date"))  # fmt: skip
    # The run date's orders are the ones released to the ERP, in the run date's week.
    released = plan.filter("plan_status = 'planned' AND order_qty > 0")
    joined = first_week.join(released.select("sku", "location", "order_qty"), ["sku", "location"])
    assert joined.filter("planned_order_qty < order_qty OR planned_orders < 1").count() == 0
    assert joined.count() == released.count()
    assert sig.filter("forecast_p90 < forecast_p50 OR forecast_p50 < 0").count() == 0
    files = erp.local_export_files(
        erp.export_folder(pipeline.conf.table("supplier_signal_exports"), pipeline.conf.run_date)
    )
    assert sum(len(p.read_text().splitlines()) - 1 for p in files) == sig.count()
    assert {p.parent.name for p in files} == {
        f"supplier={r.supplier}" for r in sig.select("supplier").distinct().collect()
    }


def test_policy_simulation_replays_every_planned_series_with_history(tables):
    # Per-series rows and an overall row per echelon and target type.
    sim = tables("policy_simulation")
    # Every planned store with sales history is replayed (new items have none to replay),
    # with the formula's levels and with the cost-optimised choice.
    planned = _planned(tables("reorder_plan"))
    is_dc = F.col("echelon") == network.ECHELON_DC
    stores = planned.filter(~is_dc).join(_with_history(tables).distinct(), ["sku", "location"])
    for variant in ("formula", "cost"):
        of_variant = sim.filter(f"variant = '{variant}'")
        assert of_variant.filter("level = 'series'").filter(~is_dc).count() == stores.count()
        overall = of_variant.filter("level = 'overall' AND target_type = 'csl'")
        assert overall.filter("echelon = 'store'").count() == 1
    # Every planned DC has its row, replayed on its stores' orders where their four weeks'
    # second half gives it enough history (here: too short, a formula row saying so).
    dcs = planned.filter(is_dc).select("sku", "location")
    dc_rows = sim.filter("level = 'series' AND variant = 'formula'").filter(is_dc)
    assert dc_rows.join(dcs, ["sku", "location"]).count() == dcs.count() == dc_rows.count() > 0
    assert sim.filter("status = 'failed'").count() == 0


def test_every_planned_line_records_its_cost_optimised_choice(tables):
    planned = _planned(tables("reorder_plan"))
    assert planned.filter("cost_status IS NULL OR cost_is_formula IS NULL").count() == 0
    # The plan ships the formula's levels (plan.cost_policy.ship is off by default).
    assert planned.filter("policy_parameters != 'formula'").count() == 0
    # The review period searched is a multiple of the master's (sQ reviews daily: its own).
    odd_review = (
        "cost_review_period IS NULL OR cost_review_period % review_period != 0"
        " OR (policy = 'sQ' AND cost_review_period != review_period)"
    )
    assert planned.filter(odd_review).count() == 0
    # A chosen candidate is not the formula (it may cost more when the formula misses the
    # target in the simulation); the formula's own choice costs what the formula costs.
    assert planned.filter("cost_status = 'chosen' AND cost_is_formula").count() == 0
    kept = planned.filter("cost_status = 'formula_cheapest'")
    assert (
        kept.filter("NOT cost_is_formula OR simulated_cost != simulated_formula_cost").count() == 0
    )


# --- keep last: this test re-runs the pipeline, so the tables then hold a second run ---------


def test_a_rerun_of_the_run_date_replaces_its_rows(spark, pipeline, tables):
    # Re-running the same run date replaces its rows: same counts, latest run id only.
    before = {key: tables(key).count() for key in run_all.OUTPUT_TABLES}
    again = run_all.run(spark, pipeline.conf)

    def fresh(key: str) -> DataFrame:
        return delta_io.read_table(spark, pipeline.conf.table(key))

    assert {key: fresh(key).count() for key in run_all.OUTPUT_TABLES} == before
    for key in ("forecasts", "explanations"):
        run_ids = fresh(key).select("run_id").distinct().collect()
        assert [r.run_id for r in run_ids] == [again.forecast.run_id]
    # Still one explanation per forecast and driver (joined on the new run id too).
    unexplained = f"yhat IS NULL OR (total IS NULL AND model != '{COMBINED}')"
    assert _explanation_totals(fresh).filter(unexplained).count() == 0
    # The unchanged plan adds nothing to the ERP change feed.
    assert again.plan.outbox_changes == 0 and again.plan.signal_changes == 0
    changes = erp.read_outbox_changes(
        spark, pipeline.conf.table("erp_outbox"), pipeline.outbox_version + 1
    )
    assert changes.count() == 0
