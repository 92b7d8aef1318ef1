"""Plan-line reasons: one sentence per line, quoting its own numbers."""

import datetime as dt

from chispa import assert_df_equality

from skuplan.replenishment import reasons

RUN = dt.date(2026, 6, 30)


REASON_SCHEMA = (
    "sku string, plan_status string, exception_reason string, policy_name string, "
    "on_hand double, on_order double, backorders double, inventory_position double, "
    "reorder_point double, order_up_to double, demand_over_protection double, "
    "protection_days double, lead_time_days double, review_period double, safety_stock double, "
    "target_type string, target_service_level double, raw_order_qty double, "
    "computed_order_qty double, order_qty double, pack double, min_order double, "
    "is_review_day boolean, next_review_date date, daily_demand double, review_reasons string, "
    "prev_order_qty double, prev_daily_demand double, is_overridden boolean, "
    "override_qty double, override_service_level double, override_lead_time_days double, "
    "override_reason string, override_author string, override_placed_on date, "
    "is_default_lead_time boolean, "
    "lead_time_issue string, inventory_age_days int, echelon string, source_location string, "
    "requested_qty double, demand_over_lead_time double, policy_parameters string"
)


def _line(sku, **kw):
    base = dict(
        plan_status="planned", exception_reason=None, policy_name="sQ", on_hand=30.0,
        on_order=10.0, backorders=0.0, inventory_position=40.0, reorder_point=55.0,
        order_up_to=247.0, demand_over_protection=30.0, protection_days=8.0, lead_time_days=7.0,
        review_period=1.0, safety_stock=25.0, target_type="csl", target_service_level=0.95,
        raw_order_qty=192.0, computed_order_qty=192.0, order_qty=192.0, pack=1.0, min_order=0.0,
        is_review_day=True, next_review_date=RUN, daily_demand=3.75, review_reasons=None,
        prev_order_qty=None, prev_daily_demand=None, is_overridden=False, override_qty=None,
        override_service_level=None, override_lead_time_days=None, override_reason=None,
        override_author=None, override_placed_on=None, is_default_lead_time=False, lead_time_issue=None,
        inventory_age_days=0, echelon="store", source_location=None, requested_qty=None,
        demand_over_lead_time=26.25, policy_parameters="formula",
    )  # fmt: skip
    base.update(kw)
    return (sku, *[base[c.split()[0]] for c in REASON_SCHEMA.split(", ")[1:]])


NOT_PLANNED = dict.fromkeys(
    ["policy_name", "inventory_position", "reorder_point", "is_review_day", "is_overridden"]
)

REASON_CASES = {
    "allocated": (
        {"source_location": "DC01", "requested_qty": 192.0, "order_qty": 60.0},
        "allocated 60 of 192 requested: DC01 is short (fair share); position 40 below reorder "
        "point 55: forecast demand 30 over 8 days (lead time 7 + review 1) + safety stock 25 "
        "for 95% cycle service; order 192",
    ),
    "dc": (
        {"echelon": "dc"},
        "DC: its demand is the orders its stores plan; position 40 below reorder point 55: "
        "forecast demand 30 over 8 days (lead time 7 + review 1) + safety stock 25 for 95% "
        "cycle service; order 192",
    ),
    "sq_order": (
        {},
        "position 40 below reorder point 55: forecast demand 30 over 8 days (lead time 7 + "
        "review 1) + safety stock 25 for 95% cycle service; order 192",
    ),
    "sq_no_order": ({"inventory_position": 80.0}, "position 80 above reorder point 55: no order"),
    "sq_rounded": (
        {
            "inventory_position": 55.0,
            "raw_order_qty": 12.34,
            "computed_order_qty": 24.0,
            "order_qty": 24.0,
            "pack": 6.0,
            "min_order": 20.0,
            "target_type": "fill_rate",
            "target_service_level": 0.975,
            "safety_stock": 24.96,
        },
        "position 55 at reorder point 55: forecast demand 30 over 8 days (lead time 7 + "
        "review 1) + safety stock 25 for 97.5% fill rate; order 24 (12.3 rounded up to MOQ 20, "
        "packs of 6)",
    ),
    "rs_order": (
        {
            "policy_name": "RS",
            "reorder_point": 110.0,
            "order_up_to": 110.0,
            "raw_order_qty": 70.0,
            "computed_order_qty": 70.0,
            "order_qty": 70.0,
            "review_period": 7.0,
            "protection_days": 14.0,
            "demand_over_protection": 80.0,
            "safety_stock": 30.0,
        },
        "review day: position 40 below order-up-to level 110: forecast demand 80 over 14 days "
        "(lead time 7 + review 7) + safety stock 30 for 95% cycle service; order 70",
    ),
    "rs_not_review_day": (
        {
            "policy_name": "RS",
            "is_review_day": False,
            "review_period": 7.0,
            "next_review_date": dt.date(2026, 7, 3),
            "computed_order_qty": 0.0,
            "order_qty": 0.0,
        },
        "not a review day (every 7 days, next 2026-07-03): no order; position 40, reorder point 55",
    ),
    "minmax": (
        {
            "policy_name": "minmax",
            "review_period": 7.0,
            "reorder_point": 50.0,
            "safety_stock": 12.0,
        },
        "review day: position 40 below min 50: forecast demand 26.3 over the lead time 7 days + "
        "expected undershoot 11.8 below min at the ordering review (every 7 days) + safety stock "
        "12 for 95% cycle service; order 192 up to max 247",
    ),
    "minmax_cost_levels": (
        {"policy_name": "minmax", "policy_parameters": "cost"},
        "review day: position 40 below min 55: forecast demand 30 over 8 days (lead time 7 + "
        "review 1) + safety stock 25 for 95% cycle service; order 192 up to max 247",
    ),
    "minmax_no_order": (
        {"policy_name": "minmax", "inventory_position": 60.0, "computed_order_qty": 0.0},
        "review day: position 60 above min 55: no order",
    ),
    "no_demand": (
        {"daily_demand": 0.0, "computed_order_qty": 0.0, "order_qty": 0.0},
        "no forecast demand: no order",
    ),
    "held": (
        {
            "plan_status": "needs_review",
            "review_reasons": "order_change,forecast_jump",
            "prev_order_qty": 50.0,
            "prev_daily_demand": 1.25,
        },
        "held for review: order 192 vs 50 in the last released plan, daily demand 3.8 vs 1.3 in "
        "the last released plan; position 40 below reorder point 55: forecast demand 30 over 8 "
        "days (lead time 7 + review 1) + safety stock 25 for 95% cycle service; order 192",
    ),
    "overridden": (
        {
            "is_overridden": True,
            "override_qty": 0.0,
            "order_qty": 0.0,
            "override_author": "ana",
            "override_reason": "store closing",
            "inventory_position": 80.0,
            "computed_order_qty": 0.0,
            "review_reasons": "order_change",
        },
        "overridden by ana (store closing): order 0 instead of computed 0; "
        "position 80 above reorder point 55: no order",
    ),
    "override_placed": (
        {
            "override_qty": 500.0,
            "override_author": "ana",
            "override_reason": "promotion",
            "override_placed_on": dt.date(2026, 6, 28),
        },
        "override order 500 by ana (promotion) went out on 2026-06-28: computed order applies; "
        "position 40 below reorder point 55: forecast demand 30 over 8 days (lead time 7 + "
        "review 1) + safety stock 25 for 95% cycle service; order 192",
    ),
    "default_lead_time": (
        {"is_default_lead_time": True, "lead_time_issue": "missing", "inventory_position": 80.0},
        "position 80 above reorder point 55: no order; lead time 7 days is the default "
        "(item master: missing)",
    ),
    "no_item": (
        {**NOT_PLANNED, "plan_status": "not_planned", "exception_reason": "missing_item_master"},
        "not planned: SKU not in the item master",
    ),
    "no_supplier": (
        {
            **NOT_PLANNED,
            "plan_status": "not_planned",
            "exception_reason": "missing_master_data:supplier,unit_cost",
        },
        "not planned: item master lacks supplier, unit_cost",
    ),
    "no_inventory": (
        {**NOT_PLANNED, "plan_status": "not_planned", "exception_reason": "missing_inventory"},
        "not planned: no inventory snapshot for this SKU-location",
    ),
    "stale_inventory": (
        {
            **NOT_PLANNED,
            "plan_status": "not_planned",
            "exception_reason": "stale_inventory",
            "inventory_age_days": 3,
        },
        "not planned: the latest inventory snapshot is 3 days old",
    ),
    "negative": (
        {
            **NOT_PLANNED,
            "plan_status": "quarantined",
            "exception_reason": "negative_on_hand",
            "on_hand": -3.0,
        },
        "quarantined: on hand -3 is negative",
    ),
}


def test_every_line_says_why_with_its_own_numbers(spark):
    rows = [_line(sku, **kw) for sku, (kw, _) in REASON_CASES.items()]
    got = spark.createDataFrame(rows, REASON_SCHEMA).transform(reasons.with_reason)
    expected = spark.createDataFrame(
        [(sku, text) for sku, (_, text) in REASON_CASES.items()], "sku string, reason string"
    )
    assert_df_equality(
        got.select("sku", "reason"), expected, ignore_row_order=True, ignore_nullable=True
    )
