"""Plan-line rules: overrides, review holds, series that cannot be planned."""

import datetime as dt

from chispa import assert_df_equality

from skuplan.replenishment import rules
from skuplan.schemas import PLAN_OVERRIDES

RUN = dt.date(2026, 6, 30)


def test_latest_valid_override_wins(spark):
    rows = [
        ("A", "L", 10.0, None, None, "old", "p1", dt.date(2026, 6, 1), None, None),
        ("A", "L", 20.0, None, None, "new", "p2", dt.date(2026, 6, 20), dt.date(2026, 7, 5), None),
        (
            "B",
            "L",
            5.0,
            None,
            None,
            "expired",
            "p1",
            dt.date(2026, 5, 1),
            dt.date(2026, 5, 31),
            None,
        ),
        ("C", "L", None, 0.99, None, "future", "p1", dt.date(2026, 7, 1), None, None),
    ]
    df = spark.createDataFrame(rows, PLAN_OVERRIDES)
    expected = spark.createDataFrame(
        [("A", "L", 20.0, None, None, "new", "p2", None, dt.date(2026, 7, 5))],
        "sku string, location string, override_qty double, override_service_level double, "
        "override_lead_time_days double, override_reason string, override_author string, "
        "override_placed_on date, override_valid_to date",
    )
    assert_df_equality(rules.active_overrides(df, RUN), expected, ignore_nullable=True)


def test_overrides_from_one_day_resolve_by_when_they_were_written_then_by_value(spark):
    day, noon = dt.date(2026, 6, 20), dt.datetime(2026, 6, 20, 12)
    rows = [
        ("A", "L", 30.0, None, None, "later", "p2", day, None, noon + dt.timedelta(hours=1)),
        ("A", "L", 20.0, None, None, "earlier", "p1", day, None, noon),
        # No time written: the same one wins whatever the rows' order.
        ("B", "L", 7.0, None, None, "x", "p1", day, None, None),
        ("B", "L", 5.0, None, None, "y", "p2", day, None, None),
    ]
    expected = {("A", 30.0), ("B", 5.0)}
    for ordered in (rows, rows[::-1]):
        got = rules.active_overrides(spark.createDataFrame(ordered, PLAN_OVERRIDES), RUN)
        assert {(r.sku, r.override_qty) for r in got.collect()} == expected


def test_overrides_keep_both_values_and_unusual_lines_are_held(spark):
    schema = (
        "sku string, order_qty double, override_qty double, override_service_level double, "
        "override_lead_time_days double, daily_demand double, prev_order_qty double, "
        "prev_daily_demand double, plan_status string, override_placed_on date"
    )
    rows = [
        ("same", 100.0, None, None, None, 5.0, 90.0, 5.0, "planned", None),  # 10 <= 0.5*90
        ("jump_qty", 200.0, None, None, None, 5.0, 100.0, 5.0, "planned", None),  # 100 > 0.5*100
        ("jump_fc", 10.0, None, None, None, 9.0, None, 4.0, "planned", None),  # 5 > 2 and > 0.5
        ("tiny_fc", 10.0, None, None, None, 0.3, None, 0.1, "planned", None),  # 0.2/day: < 0.5
        # The override's order went out two days ago: today's order is the policy's.
        ("placed", 40.0, 150.0, None, None, 5.0, 40.0, 5.0, "planned", dt.date(2026, 6, 28)),
        (
            "overridden",
            200.0,
            150.0,
            None,
            None,
            5.0,
            50.0,
            5.0,
            "planned",
            None,
        ),  # reviewed by a planner
    ]
    got = (
        spark.createDataFrame(rows, schema)
        .transform(
            rules.with_overrides_and_review,
            max_order_change_share=0.5,
            jump_share=0.5,
            jump_min_units=0.5,
        )
        .select(
            "sku", "plan_status", "review_reasons", "computed_order_qty", "order_qty",
            "is_overridden",
        )
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("same", "planned", None, 100.0, 100.0, False),
            ("jump_qty", "needs_review", "order_change", 200.0, 200.0, False),
            ("jump_fc", "needs_review", "forecast_jump", 10.0, 10.0, False),
            ("tiny_fc", "planned", None, 10.0, 10.0, False),
            ("placed", "planned", None, 40.0, 40.0, False),
            # Both quantities kept; the change is noted but the line is not held.
            ("overridden", "planned", "order_change", 200.0, 150.0, True),
        ],
        "sku string, plan_status string, review_reasons string, computed_order_qty double, "
        "order_qty double, is_overridden boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_quantity_override_is_one_order_and_a_zero_holds_every_day(spark):
    """``placed_on``: the first earlier released line in the override's validity that ordered
    its quantity (same author and reason); none for 0, for a line before ``valid_from`` or
    for another planner's or quantity's line."""
    june = lambda d: dt.date(2026, 6, d)  # noqa: E731
    overrides = spark.createDataFrame(
        [
            ("A", "L", 500.0, None, None, "promo", "ana", june(25), june(30), None),
            ("B", "L", 0.0, None, None, "closing", "ana", june(25), june(30), None),
            ("C", "L", 80.0, None, None, "promo", "ana", june(28), None, None),
            ("D", "L", 60.0, None, None, None, None, None, None, None),
            ("E", "L", 70.0, None, None, "promo", "ana", june(20), None, None),
            # No valid_from: lines before the day it was written are another override's.
            ("F", "L", 90.0, None, None, "promo", "ana", None, None, dt.datetime(2026, 6, 28, 9)),
        ],
        PLAN_OVERRIDES,
    )
    released = spark.createDataFrame(
        [
            ("A", "L", june(26), 500.0, "ana", "promo"),
            ("A", "L", june(27), 500.0, "ana", "promo"),
            ("B", "L", june(26), 0.0, "ana", "closing"),  # 0 holds orders back every day
            ("C", "L", june(27), 80.0, "ana", "promo"),  # before valid_from: another override
            ("D", "L", june(29), 60.0, None, None),  # no author, no reason, no validity
            ("E", "L", june(29), 70.0, "bob", "promo"),  # another planner's
            ("E", "L", june(30), 70.0, "ana", "promo"),  # today's own line: a re-run
            ("F", "L", june(20), 90.0, "ana", "promo"),
        ],
        "sku string, location string, run_date date, override_qty double, "
        "override_author string, override_reason string",
    )
    got = rules.placed_overrides(overrides, released, RUN)
    assert got.count() == overrides.count()
    assert {r.sku: r.placed_on for r in got.collect()} == {
        "A": june(26), "B": None, "C": None, "D": june(29), "E": None, "F": None,
    }  # fmt: skip
    active = {r.sku: r.override_placed_on for r in rules.active_overrides(got, RUN).collect()}
    assert active == {"A": june(26), "B": None, "C": None, "D": june(29), "E": None, "F": None}


def test_exception_reasons(spark):
    schema = (
        "sku string, _has_item boolean, missing_master string, _has_inventory boolean, "
        "inventory_age_days int, on_hand double, on_order double, backorders double"
    )
    rows = [
        ("ok", True, None, True, 1, 5.0, 0.0, 0.0),
        ("no_item", False, None, True, 0, 5.0, 0.0, 0.0),
        ("no_supplier", True, "supplier", True, 0, 5.0, 0.0, 0.0),
        ("no_inventory", True, None, False, None, None, 0.0, None),
        ("stale", True, None, True, 2, 5.0, 0.0, 0.0),
        ("negative", True, None, True, 0, -3.0, 0.0, 0.0),
    ]
    got = (
        spark.createDataFrame(rows, schema)
        .transform(rules.with_exception_reason, inventory_max_age_days=1)
        .select("sku", "plan_status", "exception_reason")
    )
    expected = spark.createDataFrame(
        [
            ("ok", "planned", None),
            ("no_item", "not_planned", "missing_item_master"),
            ("no_supplier", "not_planned", "missing_master_data:supplier"),
            ("no_inventory", "not_planned", "missing_inventory"),
            ("stale", "not_planned", "stale_inventory"),
            ("negative", "quarantined", "negative_on_hand"),
        ],
        "sku string, plan_status string, exception_reason string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_review_the_previous_plan_scheduled_is_kept_after_a_change_of_period(spark):
    day = dt.timedelta(days=1)
    rows = [
        # A: yesterday's plan reviewed every 7 days, next on day RUN + 2; its period is now 21
        # (next on its own grid RUN + 15): reviewed on RUN + 2 all the same, not today.
        ("A", False, RUN - day, RUN + 2 * day, RUN + 15 * day),
        # B: the previous plan's next review (RUN - 1) came while the job did not run.
        ("B", False, RUN - 3 * day, RUN - day, RUN + 6 * day),
        # C: sQ (next review: its own run date) and D: no previous plan keep their own.
        ("C", True, RUN - day, RUN - day, RUN),
        ("D", False, None, None, RUN + 4 * day),
        # E: due today by the previous plan's schedule.
        ("E", False, RUN - day, RUN, RUN + 20 * day),
    ]
    df = spark.createDataFrame(
        rows,
        "sku string, is_review_day boolean, prev_run_date date, prev_next_review_date date, "
        "next_review_date date",
    )
    got = {
        r.sku: (r.is_review_day, r.next_review_date)
        for r in df.transform(rules.with_kept_review, RUN)
        .transform(rules.kept_next_review, RUN)
        .collect()
    }
    assert got == {
        "A": (False, RUN + 2 * day),
        "B": (True, RUN + 6 * day),
        "C": (True, RUN),
        "D": (False, RUN + 4 * day),
        "E": (True, RUN + 20 * day),
    }
    # The next day, A's plan of RUN is the previous one: the kept review comes due.
    after = spark.createDataFrame(
        [("A", False, RUN, RUN + 2 * day, RUN + 15 * day)], df.schema
    ).transform(rules.with_kept_review, RUN + 2 * day)
    assert after.first().is_review_day
