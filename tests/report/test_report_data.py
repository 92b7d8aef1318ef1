"""The report's accuracy and plan summaries, on tiny hand-made tables."""

import datetime as dt

import pyspark.sql.functions as F
import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from skuplan.report import data

RUN = dt.date(2026, 6, 30)
METRICS = "sku string, location string, model string, mase double, wape double, coverage double, is_selected boolean"


def _metrics(spark):
    rows = [
        ("A", "L", "seasonal_naive", 1.0, 0.5, 0.6, False),
        ("A", "L", "lightgbm", 0.5, 0.2, 0.8, True),
        ("B", "L", "seasonal_naive", 2.0, 0.6, 0.7, True),
        ("B", "L", "lightgbm", 3.0, 0.9, 0.9, False),
        ("C", "L", "seasonal_naive", 1.0, 0.4, 0.8, False),
        ("C", "L", "lightgbm", 0.9, 0.3, 1.0, True),
        ("C", "L", "croston", None, None, None, False),  # failed in the backtest
    ]
    return spark.createDataFrame(rows, METRICS)


ACCURACY = (
    "model string, series_chosen bigint, series_scored bigint, median_mase double, "
    "median_mase_naive double, share_beating_naive double, median_wape double, "
    "mean_coverage double"
)


def test_accuracy_by_model_and_against_seasonal_naive_on_the_same_series(spark):
    # Chosen: A lightgbm 0.5, B naive 2.0, C lightgbm 0.9; naive on them: 1.0, 2.0, 1.0.
    expected = spark.createDataFrame(
        [
            # A and C beat naive; B ties.
            (data.CHOSEN, 3, 3, 0.9, 1.0, 2 / 3, 0.3, (0.8 + 0.7 + 1.0) / 3),
            ("lightgbm", 2, 3, 0.9, 1.0, 2 / 3, 0.3, (0.8 + 0.9 + 1.0) / 3),
            ("seasonal_naive", 1, 3, 1.0, 1.0, 0.0, 0.5, (0.6 + 0.7 + 0.8) / 3),
            # Failed in the backtest: nothing scored.
            ("croston", 0, 0, None, None, None, None, None),
        ],
        ACCURACY,
    )
    assert_approx_df_equality(
        data.accuracy_by_model(_metrics(spark)),
        expected,
        precision=1e-9,
        ignore_row_order=True,
        ignore_nullable=True,
    )


HISTOGRAM = "kind string, bin int, series bigint"


def test_mase_histogram_bins_and_caps(spark):
    # Chosen 0.5, 2.0, 0.9 -> bins 5, 20, 9; naive 1.0, 2.0, 1.0 -> bins 10, 20, 10.
    expected = spark.createDataFrame(
        [
            ("chosen", 5, 1),
            ("chosen", 20, 1),
            ("chosen", 9, 1),
            ("seasonal naive", 10, 2),
            ("seasonal naive", 20, 1),
        ],
        HISTOGRAM,
    )
    got = data.mase_histogram(_metrics(spark))
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # A MASE of 7.5 lands in the last, open-ended bin.
    far = spark.createDataFrame([("D", "L", "lightgbm", 7.5, 1.0, 0.5, True)], METRICS)
    expected = spark.createDataFrame([("chosen", data.MASE_BINS, 1)], HISTOGRAM)
    assert_df_equality(data.mase_histogram(far), expected, ignore_nullable=True)


PLAN = (
    "sku string, location string, supplier string, plan_status string, order_qty double, "
    "order_value double, projected_stockout_date date, run_id string"
)
DAY = dt.timedelta(days=1)


def _plan(spark):
    rows = [
        ("A", "L", "S1", "planned", 10.0, 100.0, None, "p1"),
        ("B", "L", "S1", "needs_review", 5.0, 50.0, RUN, "p1"),
        ("C", "L", "S2", "planned", 2.0, 40.0, RUN + 3 * DAY, "p1"),
        ("D", "L", None, "planned", 1.0, 5.0, None, "p1"),
        ("E", "L", "S2", "planned", 0.0, 0.0, None, "p1"),  # no order
        ("F", "L", None, "not_planned", None, None, None, "p1"),
    ]
    # Reviewed today, every 7 days, with 2 days' lead time: the next review's order arrives
    # at the start of day 9. B is short before it; C, with this plan's order, on day 9 only.
    timing = {"B": (RUN, RUN, 7.0, 2.0), "C": (RUN + 9 * DAY, RUN, 7.0, 2.0)}
    extra = spark.createDataFrame(
        [(k, *v) for k, v in timing.items()],
        "sku string, projected_stockout_date_with_plan date, next_review_date date, "
        "review_period double, lead_time_days double",
    )
    return (
        spark.createDataFrame(rows, PLAN)
        .join(extra, "sku", "left")
        .withColumn("run_date", F.lit(RUN))
        .withColumn("on_hand", F.lit(0.0))
        .withColumn("inventory_position", F.lit(0.0))
        .withColumn("daily_demand", F.lit(1.0))
        .withColumn("expected_arrival", F.lit(None).cast("date"))
    )


def test_orders_by_supplier_count_released_and_held_lines(spark):
    expected = spark.createDataFrame(
        [("S1", 2, 15.0, 150.0, 1, 1), ("S2", 1, 2.0, 40.0, 1, 0), ("(none)", 1, 1.0, 5.0, 1, 0)],
        "supplier string, order_lines bigint, units double, value double, "
        "released_lines bigint, held_lines bigint",
    )
    got = data.orders_by_supplier(_plan(spark))
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_lines_are_counted_per_echelon_and_status(spark):
    plan = _plan(spark).withColumn(
        "echelon", F.when(F.col("sku") == "C", "dc").when(F.col("sku") != "D", "store")
    )  # D: a line of a plan older than the DC network
    got = {tuple(r[:4]) for r in data.status_counts(plan).collect()}
    assert got == {
        ("store", "planned", 3, 2),
        ("store", "needs_review", 1, 1),
        ("store", "not_planned", 1, None),
        ("dc", "planned", 1, 1),
    }
    # A plan table without the column at all: every line is a store's.
    assert {r.echelon for r in data.status_counts(_plan(spark)).collect()} == {"store"}


def test_plan_totals_count_lines_needing_review_and_stockouts(spark):
    expected = spark.createDataFrame(
        [(6, 1, 2, 1, "p1")],
        "lines bigint, review bigint, stockouts bigint, at_risk bigint, run_id string",
    )
    assert_df_equality(data.plan_totals(_plan(spark)), expected, ignore_nullable=True)


def test_stockouts_short_before_a_later_order_could_arrive_come_first(spark):
    got = data.projected_stockouts(_plan(spark)).collect()
    # B's next review after today is day 7, its order arrives on day 9: B is short before.
    assert [(r.sku, r.later_receipt) for r in got] == [("B", RUN + 9 * DAY), ("C", RUN + 9 * DAY)]
    # A review later than today counts as it is: reviewed on day 3, the order arrives on day 5.
    plan = _plan(spark).withColumn("next_review_date", F.lit(RUN + 3 * DAY))
    assert {r.sku: r.later_receipt for r in data.projected_stockouts(plan).collect()} == {
        "B": RUN + 5 * DAY, "C": RUN + 5 * DAY
    }  # fmt: skip


def test_realised_accuracy_per_model_and_over_all(spark):
    rows = spark.createDataFrame(
        [
            ("A", "L", "combined", 10.0, 12.0, 2.0, True),
            ("A", "L", "combined", 10.0, 5.0, 5.0, False),
            ("B", "L", "croston", 1.0, 0.0, 1.0, True),
        ],
        "sku string, location string, model string, yhat double, actual double, "
        "abs_error double, is_in_band boolean",
    )
    got = {r.model: r for r in data.realised_by_model(rows).collect()}
    assert set(got) == {data.ALL, "combined", "croston"}
    overall, croston = got[data.ALL], got["croston"]
    assert (overall.series_scored, overall.periods) == (2, 3)
    assert overall.wape == 8 / 17 and overall.bias == 4 / 17 and overall.coverage == 2 / 3
    assert croston.wape is None and croston.bias is None  # nothing sold: no ratio


def test_policy_replay_per_variant_and_policy_then_over_all(spark):
    rows = spark.createDataFrame(
        [
            # level, variant, policy, target_type, target, cycles, stockouts, demand, filled,
            # cost, replayed days, days on stored plan lines, status
            ("series", "formula", "RS", "csl", 0.90, 10, 2, 100.0, 90.0, 50.0, 56, 14, "ok"),
            ("series", "formula", "sQ", "csl", 0.95, 30, 0, 300.0, 300.0, 70.0, 56, 0, "ok"),
            ("series", "formula", "sQ", "fill_rate", 0.98, 5, 5, 100.0, 80.0, 30.0, 56, 28, "ok"),
            ("series", "cost", "RS", "csl", 0.90, 4, 0, 100.0, 100.0, 20.0, 56, 0, "ok"),
            ("series", "formula", "RS", "csl", 0.90, 99, 99, 1e6, 0.0, 1e6, 56, 56, "failed"),
            ("overall", "formula", "all", "csl", 0.94, 40, 2, 400.0, 390.0, 120.0, 168, 42, "ok"),
        ],
        "level string, variant string, policy string, target_type string, target double, "
        "cycles int, stockout_cycles int, demand double, filled double, total_cost double, "
        "sim_days int, plan_days int, status string",
    )
    got = {(r.variant, r.policy): r for r in data.policy_replay(rows).collect()}
    assert list(got) == [("cost", "RS"), ("cost", "all"), ("formula", "RS"), ("formula", "sQ"), ("formula", "all")]  # fmt: skip
    every = got[("formula", "all")]
    # Cycle service over the two CSL-target series only: 2 stocked-out cycles of 40, target
    # (0.9 * 10 + 0.95 * 30) / 40; fill rate over all demand; the failed series left out.
    assert (every.series, every.cycles) == (3, 40)
    assert every.target_csl == pytest.approx(0.9375) and every.achieved_csl == pytest.approx(0.95)
    assert every.fill_rate == pytest.approx(470 / 500) and every.total_cost == 150.0
    assert got[("formula", "sQ")].achieved_csl == 1.0 and got[("cost", "RS")].total_cost == 20.0
    # Days on stored plan lines: 42 of the ok series' 168 (the failed one left out).
    assert every.plan_share == pytest.approx(42 / 168) and got[("cost", "all")].plan_share == 0.0
    # A table written before plan_days: no share, the rest as before.
    older = data.policy_replay(rows.drop("plan_days")).collect()
    assert {r.plan_share for r in older} == {None} and len(older) == 5


def test_policy_replay_keeps_the_dcs_apart_from_the_stores(spark):
    rows = spark.createDataFrame(
        [
            ("series", "formula", "sQ", "csl", 0.95, 20, 1, 100.0, 99.0, 10.0, "ok", "store"),
            ("series", "formula", "RS", "csl", 0.90, 10, 2, 500.0, 450.0, 30.0, "ok", "dc"),
            ("series", "formula", "sQ", "csl", 0.95, 20, 0, 200.0, 200.0, 20.0, "ok", None),
        ],
        "level string, variant string, policy string, target_type string, target double, "
        "cycles int, stockout_cycles int, demand double, filled double, total_cost double, "
        "status string, echelon string",
    )
    got = [
        (r.echelon, r.policy, r.cycles, r.achieved_csl) for r in data.policy_replay(rows).collect()
    ]
    # Stores first (a row without an echelon is a store's: written before DCs were replayed).
    assert got == [("store", "sQ", 40, 39 / 40), ("store", "all", 40, 39 / 40), ("dc", "RS", 10, 0.8), ("dc", "all", 10, 0.8)]  # fmt: skip


def test_hierarchy_levels_are_weighted_over_trees_with_the_series_last(spark):
    rows = spark.createDataFrame(
        [
            ("series", "location=A", "mint_shrink", True, 3, 1.0, 0.9, 84),
            ("series", "location=B", "mint_shrink", True, 1, 2.0, 1.8, 84),
            ("series", "location=A", "bottom_up", False, 3, 1.0, 1.0, 84),
            ("series", "location=B", "bottom_up", False, 1, 2.0, 2.0, 84),
            ("location", "location=A", "mint_shrink", True, 1, 0.5, 0.4, 84),
            ("location", "location=B", "mint_shrink", True, 1, 0.7, 0.6, 84),
        ],
        "level string, tree string, method string, is_selected boolean, nodes int, "
        "rmsse_base double, rmsse double, periods int",
    )
    got = data.hierarchy_levels(rows).toPandas()
    assert list(zip(got["level"], got["method"], strict=True)) == [
        ("location", "mint_shrink"), ("series", "bottom_up"), ("series", "mint_shrink"),
    ]  # fmt: skip
    series = got.iloc[2]
    assert series["nodes"] == 4 and series["is_selected"]
    assert series["rmsse_base"] == pytest.approx((3 * 1.0 + 2.0) / 4)
    assert series["rmsse"] == pytest.approx((3 * 0.9 + 1.8) / 4)
