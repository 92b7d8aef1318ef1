"""Plan-line rules: overrides, review holds, series that cannot be planned."""

import datetime as dt

from skuplan.replenishment import rules
from skuplan.schemas import PLAN_OVERRIDES

RUN = dt.date(2026, 6, 30)


def test_latest_valid_override_wins(spark):
    rows = [
        ("A", "L", 10.0, None, None, "old", "p1", dt.date(2026, 6, 1), None),
        ("A", "L", 20.0, None, None, "new", "p2", dt.date(2026, 6, 20), dt.date(2026, 7, 5)),
        ("B", "L", 5.0, None, None, "expired", "p1", dt.date(2026, 5, 1), dt.date(2026, 5, 31)),
        ("C", "L", None, 0.99, None, "future", "p1", dt.date(2026, 7, 1), None),
    ]
    df = spark.createDataFrame(rows, PLAN_OVERRIDES)
    got = {
        r.sku: (r.override_qty, r.override_reason)
        for r in rules.active_overrides(df, RUN).collect()
    }
    assert got == {"A": (20.0, "new")}


def test_overrides_keep_both_values_and_unusual_lines_are_held(spark):
    schema = (
        "sku string, order_qty double, override_qty double, override_service_level double, "
        "override_lead_time_days double, daily_demand double, prev_order_qty double, "
        "prev_daily_demand double, plan_status string"
    )
    rows = [
        ("same", 100.0, None, None, None, 5.0, 90.0, 5.0, "planned"),  # |100-90| = 10 <= 0.5*90
        ("jump_qty", 200.0, None, None, None, 5.0, 100.0, 5.0, "planned"),  # 100 > 0.5*100
        ("jump_fc", 10.0, None, None, None, 9.0, None, 4.0, "planned"),  # |9-4| = 5 > 2 and > 0.5
        ("tiny_fc", 10.0, None, None, None, 0.3, None, 0.1, "planned"),  # 0.2 units/day: < 0.5
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
        ),  # reviewed by a planner
    ]
    got = {
        r.sku: r
        for r in spark.createDataFrame(rows, schema)
        .transform(
            rules.with_overrides_and_review,
            max_order_change_share=0.5,
            jump_share=0.5,
            jump_min_units=0.5,
        )
        .collect()
    }
    assert [got[s].plan_status for s in ("same", "jump_qty", "jump_fc", "tiny_fc", "overridden")] == [
        "planned", "needs_review", "needs_review", "planned", "planned",
    ]  # fmt: skip
    assert (got["jump_qty"].review_reasons, got["jump_fc"].review_reasons) == (
        "order_change",
        "forecast_jump",
    )
    o = got["overridden"]
    assert (o.computed_order_qty, o.order_qty, o.is_overridden, o.review_reasons) == (
        200.0,
        150.0,
        True,
        "order_change",
    )


def test_exception_reasons(spark):
    schema = (
        "sku string, _has_item boolean, missing_master string, _has_inventory boolean, "
        "on_hand double, on_order double, backorders double"
    )
    rows = [
        ("ok", True, None, True, 5.0, 0.0, 0.0),
        ("no_item", False, None, True, 5.0, 0.0, 0.0),
        ("no_supplier", True, "supplier", True, 5.0, 0.0, 0.0),
        ("no_inventory", True, None, False, None, 0.0, None),
        ("negative", True, None, True, -3.0, 0.0, 0.0),
    ]
    got = {
        r.sku: (r.plan_status, r.exception_reason)
        for r in spark.createDataFrame(rows, schema)
        .transform(rules.with_exception_reason)
        .collect()
    }
    assert got == {
        "ok": ("planned", None),
        "no_item": ("not_planned", "missing_item_master"),
        "no_supplier": ("not_planned", "missing_master_data:supplier"),
        "no_inventory": ("not_planned", "missing_inventory"),
        "negative": ("quarantined", "negative_on_hand"),
    }
