"""The plan's policy replay inputs: what the formula's replay reviews on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pyspark.sql.functions as F
import pytest

from skuplan.columns import KEYS
from skuplan.pipeline import plan, plan_policy
from skuplan.pipeline.io import StageTables
from skuplan.replenishment import inputs

RUN = dt.date(2026, 6, 30)
PLAN_LINE = (
    "sku string, location string, exception_reason string, policy string, "
    "lead_time_days double, lead_time_std double, review_period double, target_type string, "
    "target_service_level double, pack double, min_order double, unit_cost double, "
    "order_cost double, holding_cost_rate double, policy_parameters string, "
    "cost_safety_factor double, cost_lot_multiplier double, cost_review_period double, "
    "cost_is_formula boolean, echelon string, source_location string"
)
STORE = ("store", None)


def test_the_formula_replay_reviews_on_the_master_period_when_the_plan_ships_another(
    spark, make_conf
):
    conf = make_conf()
    items = spark.createDataFrame(
        [("A", 14.0), ("B", None), ("C", None)], "sku string, review_period_days double"
    ).transform(inputs.with_master_fields)
    items.write.format("delta").save(conf.table("items").path)
    sales = spark.createDataFrame(
        [(s, "L1", RUN - dt.timedelta(days=d), 3.0) for s in "ABC" for d in (1, 2)],
        "sku string, location string, date date, qty double",
    )
    sales.withColumn("load_date", F.lit(RUN)).write.format("delta").save(
        conf.table("clean_sales").path
    )
    line = ("csl", 0.95, 1.0, 0.0, 10.0, 50.0, 0.25)
    plan_df = spark.createDataFrame(
        [
            # A and C order with the cost-optimised levels, reviewing every 28 days.
            ("A", "L1", None, "RS", 5.0, 1.0, 28.0, *line, "cost", 1.5, 1.0, 28.0, False, *STORE),
            ("B", "L1", None, "RS", 5.0, 1.0, 7.0, *line, "formula", 1.5, 1.0, 21.0, False, *STORE),
            ("C", "L1", None, "RS", 5.0, 1.0, 28.0, *line, "cost", 1.5, 1.0, 28.0, False, *STORE),
        ],
        PLAN_LINE,
    )
    got = plan_policy.simulation_inputs(StageTables(spark, conf, "plan_replenishment"), plan_df)
    periods = {r.sku: (r.review_period, r.cost_review_period) for r in got.distinct().collect()}
    default = float(conf.plan.default_review_period_days)
    # The formula's replay: the master's period (A's own, C's the default); the cost variant's
    # the chosen one. A line ordering with the formula already carries the master's (B).
    assert periods == {"A": (14.0, 28.0), "B": (7.0, 21.0), "C": (default, 28.0)}
    assert got.count() == 6 and "policy_parameters" not in got.columns


def test_the_replay_reads_the_lines_earlier_plans_shipped_in_its_window(spark, make_conf):
    conf = make_conf()
    replayed = conf.plan.simulation.weeks * 7  # the replay runs from RUN minus these days
    items = spark.createDataFrame([("A", 7.0)], "sku string, review_period_days double")
    items.transform(inputs.with_master_fields).write.format("delta").save(conf.table("items").path)
    sales = spark.createDataFrame(
        [("A", "L1", RUN - dt.timedelta(days=1), 3.0)],
        "sku string, location string, date date, qty double",
    )
    sales.withColumn("load_date", F.lit(RUN)).write.format("delta").save(
        conf.table("clean_sales").path
    )
    day = lambda d: RUN - dt.timedelta(days=d)  # noqa: E731
    stored = spark.createDataFrame(
        [
            (day(1), "A", "L1", "planned", "RS", 10.0, 30.0, 5.0, True, 2.0),
            (day(2), "A", "L1", "planned", "RS", 11.0, 31.0, 5.0, False, 2.0),
            (day(3), "A", "L1", "not_planned", None, None, None, None, None, None),
            (day(4), "A", "L1", "needs_review", "RS", 9.0, 29.0, 5.0, True, 2.0),  # held
            (day(replayed + 1), "A", "L1", "planned", "RS", 12.0, 32.0, 5.0, True, 2.0),  # before
            (RUN, "A", "L1", "planned", "RS", 13.0, 33.0, 5.0, True, 2.0),  # this run's
            (day(1), "B", "L1", "planned", "RS", 10.0, 30.0, 5.0, True, 2.0),  # no sales
        ],
        "run_date date, sku string, location string, plan_status string, policy string, "
        "reorder_point double, order_up_to double, eoq double, is_review_day boolean, "
        "daily_demand double",
    )
    stored.write.format("delta").save(conf.table("reorder_plan").path)
    line = ("csl", 0.95, 1.0, 0.0, 10.0, 50.0, 0.25)
    plan_df = spark.createDataFrame(
        [
            (sku, "L1", None, "RS", 5.0, 1.0, 7.0, *line, "formula", 1.5, 1.0, 7.0, True, *STORE)
            for sku in "AB"
        ],
        PLAN_LINE,
    )
    got = plan_policy.simulation_inputs(StageTables(spark, conf, "plan_replenishment"), plan_df)
    rows = sorted(got.collect(), key=lambda r: r.date)
    # The sale, and the two lines released in the window as zero-demand rows of their date
    # (B, without sales in the window, is not replayed, as on a first run).
    assert [(r.date, r.qty, r.shipped_policy) for r in rows] == [
        (day(2), 0.0, "RS"), (day(1), 0.0, "RS"), (day(1), 3.0, None)
    ]  # fmt: skip
    first = rows[0]
    assert (first.shipped_reorder_point, first.shipped_order_up_to) == (11.0, 31.0)
    assert (first.shipped_lot, first.shipped_is_review_day, first.shipped_daily_demand) == (5.0, False, 2.0)  # fmt: skip
    assert rows[0].review_period == 7.0  # the plan's parameters on every row


def test_a_dc_is_grouped_with_the_stores_it_supplies_and_has_a_row_without_sales(spark, make_conf):
    conf = make_conf()
    spark.createDataFrame([("A", None), ("B", None)], "sku string, review_period_days double").transform(inputs.with_master_fields).write.format("delta").save(conf.table("items").path)  # fmt: skip
    sales = spark.createDataFrame(
        [(s, loc, RUN - dt.timedelta(days=1), 3.0) for s in "AB" for loc in ("L1", "L2")],
        "sku string, location string, date date, qty double",
    )
    sales.withColumn("load_date", F.lit(RUN)).write.format("delta").save(
        conf.table("clean_sales").path
    )
    line = (5.0, 1.0, 7.0, "csl", 0.95, 1.0, 0.0, 10.0, 50.0, 0.25, "formula", 1.5, 1.0, 7.0, True)
    plan_df = spark.createDataFrame(
        [
            ("A", "L1", None, "RS", *line, "store", "D1"),
            ("A", "L2", None, "RS", *line, "store", None),  # supplied directly
            ("A", "D1", None, "RS", *line, "dc", None),
            ("B", "L1", None, "RS", *line, "store", "D1"),  # D1 does not plan B
            ("B", "L2", None, "RS", *line, "store", "D2"),  # D2's B line is an exception
            ("B", "D2", "no_inventory", "RS", *line, "dc", None),  # not replayed
        ],
        PLAN_LINE,
    )
    got = plan_policy.simulation_inputs(StageTables(spark, conf, "plan_replenishment"), plan_df)
    rows = {(r.sku, r.location): r for r in got.collect()}
    assert set(rows) == {("A", "L1"), ("A", "L2"), ("A", "D1"), ("B", "L1"), ("B", "L2")}
    network = {k: (r.network, r.echelon) for k, r in rows.items()}
    assert network == {
        ("A", "L1"): ("D1", "store"), ("A", "L2"): ("L2", "store"), ("A", "D1"): ("D1", "dc"),
        ("B", "L1"): ("L1", "store"), ("B", "L2"): ("L2", "store"),
    }  # fmt: skip
    # The DC's own row: no sales, one zero-demand day (its demand is its stores' orders).
    dc = rows[("A", "D1")]
    assert (dc.date, dc.qty, dc.lead_time_days) == (RUN - dt.timedelta(days=1), 0.0, 5.0)


def test_the_summary_gives_the_dcs_replay_apart_from_the_stores():
    base = plan.PlanSummary("r1", lines=10, order_lines=3, units=42.0)
    sim = plan_policy.Replayed(0.963, 0.953, 0.627, 0.902, 0.951, 0.887)
    both = dataclasses.replace(base, simulated_csl=sim.csl, target_csl=sim.target, cost_ratio=sim.cost_ratio, dc_simulated_csl=sim.dc_csl, dc_target_csl=sim.dc_target, dc_cost_ratio=sim.dc_cost_ratio)  # fmt: skip
    assert str(both).endswith(
        "; simulated cycle service level 96.3% (target 95.3%), at DCs 90.2% (target 95.1%);"
        " cost-optimised levels: -37.3% replayed cost (-11.3% at DCs)"
    )
    metrics = both.metrics()
    assert (metrics["cost_policy_cost_ratio"], metrics["dc_cost_policy_cost_ratio"]) == (0.627, 0.887)  # fmt: skip
    assert (metrics["dc_simulated_service_level"], metrics["dc_target_service_level"]) == (0.902, 0.951)  # fmt: skip
    # DCs without a replayed cycle: the stores' figures alone; no replay at all: nothing.
    stores = dataclasses.replace(both, dc_simulated_csl=None, dc_cost_ratio=None)
    assert "at DCs" not in str(stores) and str(stores).endswith("-37.3% replayed cost")
    assert "simulated" not in str(base) and "replayed" not in str(base)


def test_a_line_held_for_review_is_held_again_until_a_planner_overrides_it(spark, make_conf):
    from skuplan.columns import PLAN_NEEDS_REVIEW, PLAN_PLANNED
    from skuplan.pipeline.plan_inputs import read_previous_plan
    from skuplan.replenishment import rules

    conf = make_conf()
    yesterday = RUN - dt.timedelta(days=1)
    # Yesterday H's order jumped from 50 (released the day before) to 192 and was held; P's
    # went from 50 to 60 and was released.
    spark.createDataFrame(
        [
            (yesterday, "H", "L1", PLAN_NEEDS_REVIEW, 192.0, 9.0, 50.0, 2.0),
            (yesterday, "P", "L1", PLAN_PLANNED, 60.0, 2.2, 50.0, 2.0),
        ],
        "run_date date, sku string, location string, plan_status string, order_qty double, "
        "daily_demand double, prev_order_qty double, prev_daily_demand double",
    ).withColumn("next_review_date", F.lit(None).cast("date")).write.format("delta").save(
        conf.table("reorder_plan").path
    )
    previous = read_previous_plan(StageTables(spark, conf, "plan_replenishment"))
    got = {r.sku: (r.prev_order_qty, r.prev_daily_demand) for r in previous.collect()}
    assert got == {"H": (50.0, 2.0), "P": (60.0, 2.2)}
    # Today both compute yesterday's order and demand again: H, never released, is still a
    # jump from what the ERP last got; P is no change.
    today = spark.createDataFrame(
        [("H", "L1", 192.0, 9.0, None), ("P", "L1", 60.0, 2.2, None)],
        "sku string, location string, order_qty double, daily_demand double, override_qty double",
    ).withColumns({"plan_status": F.lit(PLAN_PLANNED), "override_service_level": F.lit(None).cast("double"),
                   "override_lead_time_days": F.lit(None).cast("double"),
                   "override_placed_on": F.lit(None).cast("date")})  # fmt: skip
    decided = today.join(previous, [*KEYS]).transform(
        rules.with_overrides_and_review,
        max_order_change_share=0.5, jump_share=0.5, jump_min_units=1.0,
    )  # fmt: skip
    statuses = {r.sku: (r.plan_status, r.review_reasons) for r in decided.collect()}
    assert statuses == {
        "H": (PLAN_NEEDS_REVIEW, "order_change,forecast_jump"),
        "P": (PLAN_PLANNED, None),
    }


def test_a_quantity_override_goes_out_once_and_the_policy_orders_after_it(spark, make_conf):
    """Yesterday a planner's 500 went out instead of the computed 40. Today, the override
    still valid, the line orders what the policy computes, compared with yesterday's 40
    (not the planner's 500, which would hold it for review)."""
    from skuplan.columns import PLAN_PLANNED
    from skuplan.pipeline.plan_inputs import read_overrides, read_previous_plan
    from skuplan.replenishment import rules
    from skuplan.schemas import PLAN_OVERRIDES

    conf = make_conf()
    yesterday = RUN - dt.timedelta(days=1)
    spark.createDataFrame(
        [
            (
                "A",
                "L1",
                500.0,
                None,
                None,
                "promo",
                "ana",
                yesterday,
                RUN + dt.timedelta(days=7),
                None,
            )
        ],
        PLAN_OVERRIDES,
    ).write.format("delta").save(conf.table("plan_overrides").path)
    spark.createDataFrame(
        [(yesterday, "A", "L1", PLAN_PLANNED, True, 500.0, "ana", "promo", 40.0, 500.0, 2.0)],
        "run_date date, sku string, location string, plan_status string, is_overridden boolean, "
        "override_qty double, override_author string, override_reason string, "
        "computed_order_qty double, order_qty double, daily_demand double",
    ).withColumn("next_review_date", F.lit(None).cast("date")).write.format("delta").save(
        conf.table("reorder_plan").path
    )
    tables = StageTables(spark, conf, "plan_replenishment")
    previous = read_previous_plan(tables)
    assert [(r.prev_order_qty, r.prev_daily_demand) for r in previous.collect()] == [(40.0, 2.0)]
    today = spark.createDataFrame(
        [("A", "L1", 35.0, 2.1, 0.95, 7.0, PLAN_PLANNED)],
        "sku string, location string, order_qty double, daily_demand double, "
        "target_service_level double, lead_time_days double, plan_status string",
    )
    decided = (
        today.transform(rules.with_overrides, read_overrides(tables), RUN)
        .join(previous, [*KEYS])
        .transform(
            rules.with_overrides_and_review,
            max_order_change_share=0.5, jump_share=0.5, jump_min_units=1.0,
        )
    ).first()  # fmt: skip
    assert decided.override_placed_on == yesterday and decided.override_qty == 500.0
    assert (decided.order_qty, decided.is_overridden, decided.plan_status) == (
        35.0,
        False,
        PLAN_PLANNED,
    )
    # On the override's first day (a re-run of yesterday), it is the order.
    again = StageTables(spark, make_conf(run_date=yesterday), "plan_replenishment")
    first = rules.with_overrides(today, read_overrides(again), yesterday).first()
    assert first.override_qty == 500.0 and first.override_placed_on is None


def test_the_plan_takes_the_model_runs_of_the_run_that_wrote_its_forecasts(spark, make_conf):
    from skuplan.pipeline.plan_inputs import read_model_runs

    conf = make_conf()
    spark.createDataFrame(
        [(RUN, "ok-run", "A", "L1", "smooth"), (RUN, "re-run", "A", "L1", "lumpy")],
        "run_date date, run_id string, sku string, location string, demand_class string",
    ).write.format("delta").save(conf.table("model_runs").path)
    got = read_model_runs(StageTables(spark, conf, "plan_replenishment"), "ok-run").collect()
    assert [(r.run_id, r.demand_class) for r in got] == [("ok-run", "smooth")]


def test_a_store_order_its_dc_cut_is_compared_as_asked_the_next_day(spark, make_conf):
    from skuplan.pipeline.plan_inputs import read_previous_plan

    conf = make_conf()
    yesterday = RUN - dt.timedelta(days=1)
    spark.createDataFrame(
        [
            (yesterday, "A", "L1", 40.0, 100.0, 3.0, RUN + dt.timedelta(days=3)),
            (yesterday, "B", "L1", 20.0, None, 2.0, None),
        ],
        "run_date date, sku string, location string, order_qty double, requested_qty double, "
        "daily_demand double, next_review_date date",
    ).write.format("delta").save(conf.table("reorder_plan").path)
    got = read_previous_plan(StageTables(spark, conf, "plan_replenishment")).collect()
    # A asked for 100 and got 40: asking for 100 again is no change to review.
    assert {r.sku: r.prev_order_qty for r in got} == {"A": 100.0, "B": 20.0}
    # Its date and next review, for the review it scheduled (rules.with_kept_review).
    assert {r.sku: (r.prev_run_date, r.prev_next_review_date) for r in got} == {
        "A": (yesterday, RUN + dt.timedelta(days=3)),
        "B": (yesterday, None),
    }


def _hand_over(spark, conf, run_date, lines) -> None:
    """A plan of ``run_date`` handed to the ERP outbox as the plan stage does (``lines``:
    ``sku, location, supplier, order_qty, is_held``; series left out are cancelled)."""
    from skuplan import erp

    lines_df = spark.createDataFrame(
        lines, "sku string, location string, supplier string, order_qty double, is_held boolean"
    ).withColumns(
        {
            "policy": F.lit("sQ"),
            "order_date": F.when(F.col("order_qty") > 0, F.lit(run_date)),
            "expected_arrival": F.lit(run_date + dt.timedelta(days=3)),
            "unit_cost": F.lit(1.0),
            "order_value": F.col("order_qty"),
        }
    )
    ref = conf.table("erp_outbox")
    erp.merge_outbox(spark, lines_df, ref, run_date=run_date, run_id=f"plan-{run_date}")


def test_a_plan_on_yesterdays_snapshot_counts_the_order_the_erp_got_yesterday(spark, make_conf):
    """The snapshot of yesterday was taken before yesterday's plan: the order the outbox
    handed over yesterday is on order today, as a re-run of yesterday left it (35, not the
    first run's 30); a held line (never handed over), an older plan's order and this date's
    own are not added. ``reorder_plan`` is not read: a backfill rewriting yesterday's lines
    does not change what the ERP got."""
    from skuplan.pipeline.plan_inputs import read_released_orders

    conf = make_conf()
    day = dt.timedelta(days=1)
    _hand_over(spark, conf, RUN - 2 * day, [("A", "L1", "S", 70.0, False)])
    _hand_over(spark, conf, RUN - day, [("A", "L1", "S", 30.0, False), ("B", "L1", "S", 90.0, True),
                                        ("C", "L1", "S", 0.0, False)])  # fmt: skip
    _hand_over(spark, conf, RUN - day, [("A", "L1", "S", 35.0, False)])  # a re-run of it
    _hand_over(spark, conf, RUN, [("A", "L1", "S", 55.0, False)])  # this date's own
    released = read_released_orders(StageTables(spark, conf, "plan_replenishment"), 1, None)
    snapshot = spark.createDataFrame(
        [(s, "L1", RUN - day, 5.0, 0.0, 0.0, None) for s in "ABC"],
        "sku string, location string, snapshot_date date, on_hand double, on_order double, "
        "backorders double, on_order_arrival date",
    ).transform(inputs.latest_snapshots, RUN)
    receipts = inputs.receipts(None, snapshot, RUN, released, snapshot_time="start_of_day")
    assert [tuple(r) for r in receipts.collect()] == [("A", "L1", RUN + 2 * day, 35.0)]
    # Two days back, the feed is read further back: yesterday's 35 and the day before's 70.
    released = read_released_orders(StageTables(spark, conf, "plan_replenishment"), 2, None)
    assert sorted((r.run_date, r.order_qty) for r in released.collect()) == [
        (RUN - 2 * day, 70.0), (RUN - day, 35.0),
    ]  # fmt: skip


def test_a_backfill_whose_outbox_feed_is_gone_reads_its_days_released_plan_lines(spark, make_conf):
    """Yesterday's outbox changes are gone (vacuumed): today's plan, the one the ERP gets,
    stops in one line; as a backfill (a later date has a plan), it reads what yesterday's
    plan released from ``reorder_plan``."""
    from skuplan.columns import PLAN_PLANNED
    from skuplan.errors import InputError
    from skuplan.pipeline.plan_inputs import read_released_orders

    conf, day = make_conf(), dt.timedelta(days=1)
    _hand_over(spark, conf, RUN - day, [("A", "L1", "S", 30.0, False)])
    _hand_over(spark, conf, RUN - day, [("A", "L1", "S", 35.0, False)])  # its change file
    shutil.rmtree(Path(conf.table("erp_outbox").path) / "_change_data")
    tables = StageTables(spark, conf, "plan_replenishment")
    with pytest.raises(InputError, match="change feed"):
        read_released_orders(tables, 1, None)
    spark.createDataFrame(
        [(RUN - day, PLAN_PLANNED, 33.0), (RUN + day, PLAN_PLANNED, 12.0)],
        "run_date date, plan_status string, order_qty double",
    ).withColumns(
        {"sku": F.lit("A"), "location": F.lit("L1"), "supplier": F.lit("S"),
         "expected_arrival": F.lit(RUN + day)}
    ).write.format("delta").save(conf.table("reorder_plan").path)  # fmt: skip
    released = read_released_orders(tables, 1, None)
    assert [(r.run_date, r.order_qty) for r in released.collect()] == [(RUN - day, 33.0)]


def test_the_plan_reads_the_days_sales_as_loaded_by_its_date(spark, make_conf):
    """Yesterday's sales, the latest load of it on or before the run date: a correction
    loaded today counts, one loaded tomorrow (a later run's) and older days do not."""
    from skuplan.pipeline.plan_inputs import read_recent_sales

    conf, day = make_conf(), dt.timedelta(days=1)
    spark.createDataFrame(
        [("A", "L1", RUN - day, 4.0, RUN - day), ("A", "L1", RUN - day, 6.0, RUN),
         ("A", "L1", RUN - day, 9.0, RUN + day), ("A", "L1", RUN - 2 * day, 3.0, RUN - day)],
        "sku string, location string, date date, qty double, load_date date",
    ).write.format("delta").save(conf.table("clean_sales").path)  # fmt: skip
    tables = StageTables(spark, conf, "plan_replenishment")
    assert [tuple(r) for r in read_recent_sales(tables, 1, "D").collect()] == [
        ("A", "L1", RUN - day, 6.0)
    ]
    assert read_recent_sales(tables, 1, "W-SUN") is None  # weeks' rows are not days


def test_a_dcs_stock_gives_up_what_its_stores_ordered_since_its_snapshot(spark, make_conf):
    """Yesterday two stores of DC1 ordered 30 and 20 from it (a store of no DC, 40 from its
    supplier): DC1's start-of-day snapshot of yesterday still holds the 50 it shipped."""
    from skuplan.pipeline.plan_inputs import dc_shipments, read_released_orders

    conf, day = make_conf(), dt.timedelta(days=1)
    _hand_over(spark, conf, RUN - day, [("A", "S1", "DC1", 30.0, False), ("A", "S2", "DC1", 20.0, False),
                                        ("A", "S3", "SUP", 40.0, False)])  # fmt: skip
    dcs = spark.createDataFrame([("DC1",), ("DC2",)], "location string")
    released = read_released_orders(StageTables(spark, conf, "plan_replenishment"), 1, dcs)
    shipped = dc_shipments(released)
    assert [tuple(r) for r in shipped.collect()] == [("A", "DC1", RUN - day, 50.0)]
    snapshot = spark.createDataFrame(
        [("A", "DC1", RUN - day, 500.0, 0.0, 0.0, None)],
        "sku string, location string, snapshot_date date, on_hand double, on_order double, "
        "backorders double, on_order_arrival date",
    )
    after = inputs.after_sales_since_snapshot(snapshot, shipped, snapshot_time="start_of_day")
    assert after.first().on_hand == 450.0
