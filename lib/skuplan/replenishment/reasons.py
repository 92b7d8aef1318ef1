"""Why each plan line orders, or why not: one sentence per line, built from its own columns.

Spark column expressions; numbers are the line's columns rounded to one decimal, so the
reason never disagrees with the figures beside it.
"""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from skuplan.columns import PLAN_NEEDS_REVIEW
from skuplan.replenishment.cost_policy import PARAMETERS_FORMULA
from skuplan.replenishment.network import ECHELON_DC
from skuplan.replenishment.policies import POLICY_MINMAX, POLICY_RS


def _num(col: str | Column) -> Column:
    """A number as a planner reads it: at most one decimal, no trailing ``.0`` (40, 2.5)."""
    # + 0.0 turns a rounded -0.0 into 0.0.
    text = F.format_string("%.1f", F.round(F.col(col) if isinstance(col, str) else col, 1) + 0.0)
    return F.regexp_replace(text, r"\.0$", "")


def _pct(col: str) -> Column:
    return _text(_num(F.col(col) * 100), "%")


def _text(*parts: str | Column) -> Column:
    """Concatenate literal text and columns (null if any column is null)."""
    return F.concat(*[F.lit(p) if isinstance(p, str) else p for p in parts])


def _exception_text() -> Column:
    """Why a line is not planned or quarantined, from ``exception_reason``."""
    reason = F.col("exception_reason")
    fields = F.regexp_replace(F.substring_index(reason, ":", -1), ",", ", ")
    return (
        F.when(reason == "missing_item_master", F.lit("not planned: SKU not in the item master"))
        .when(
            reason.startswith("missing_master_data:"),
            _text("not planned: item master lacks ", fields),
        )
        .when(
            reason == "missing_inventory",
            F.lit("not planned: no inventory snapshot for this SKU-location"),
        )
        .when(
            reason == "stale_inventory",
            _text(
                "not planned: the latest inventory snapshot is ",
                F.col("inventory_age_days").cast("string"),
                " days old",
            ),
        )
        .when(
            reason == "negative_on_hand",
            _text("quarantined: on hand ", _num("on_hand"), " is negative"),
        )
        .when(
            reason == "negative_on_order_or_backorders",
            _text(
                "not planned: negative on order ",
                _num("on_order"),
                " or backorders ",
                _num("backorders"),
            ),
        )
        .otherwise(_text("not planned: ", reason))
    )


def _cover_text() -> Column:
    """What the reorder point covers: forecast demand over the protection period and the
    safety stock for the service target; for the formula's ``minmax``, the lead time's
    demand, the expected undershoot below ``s`` at the review that orders
    (:mod:`.undershoot`) and the safety stock."""
    service = F.when(F.col("target_type") == "fill_rate", F.lit(" fill rate")).otherwise(
        F.lit(" cycle service")
    )
    target = _text(" + safety stock ", _num("safety_stock"), " for ", _pct("target_service_level"), service)  # fmt: skip
    is_undershoot = (F.col("policy_name") == POLICY_MINMAX) & (
        F.col("policy_parameters") == PARAMETERS_FORMULA
    )
    undershoot = F.col("reorder_point") - F.col("demand_over_lead_time") - F.col("safety_stock")
    return F.when(
        is_undershoot,
        _text(
            ": forecast demand ", _num("demand_over_lead_time"), " over the lead time ",
            _num("lead_time_days"), " days + expected undershoot ", _num(undershoot),
            " below min at the ordering review (every ", _num("review_period"), " days)",
            target,
        ),
    ).otherwise(
        _text(
            ": forecast demand ", _num("demand_over_protection"),
            " over ", _num("protection_days"),
            " days (lead time ", _num("lead_time_days"), " + review ", _num("review_period"),
            ")", target,
        )
    )  # fmt: skip


def _order_text() -> Column:
    """The policy's order, and how rounding to packs and the MOQ changed it."""
    raw = F.col("raw_order_qty")
    rounding = F.concat_ws(
        ", ",
        F.when(raw < F.col("min_order"), _text("MOQ ", _num("min_order"))),
        F.when(F.col("pack") > 1, _text("packs of ", _num("pack"))),
    )
    return _text(
        "; order ",
        _num("computed_order_qty"),
        F.when(
            (F.abs(F.col("computed_order_qty") - raw) > 1e-6) & (rounding != ""),
            _text(" (", _num(raw), " rounded up to ", rounding, ")"),
        ).otherwise(F.lit("")),
    )


def _decision_text() -> Column:
    """The policy's arithmetic: position against the reorder point, and what it orders."""
    policy, ip = F.col("policy_name"), F.col("inventory_position")
    rop, up_to = F.col("reorder_point"), F.col("order_up_to")
    position, s, big_s = _text("position ", _num(ip)), _num(rop), _num(up_to)
    cover, order = _cover_text(), _order_text()
    at_or_below = F.when(ip < rop, F.lit(" below ")).otherwise(F.lit(" at "))
    return (
        F.when(
            ~F.col("is_review_day"),
            _text(
                "not a review day (every ",
                _num("review_period"),
                " days, next ",
                F.col("next_review_date").cast("string"),
                "): no order; ",
                position,
                ", reorder point ",
                s,
            ),
        )
        .when(F.col("daily_demand") <= 0, F.lit("no forecast demand: no order"))
        .when(
            (policy == POLICY_RS) & (ip < up_to),
            _text("review day: ", position, " below order-up-to level ", big_s, cover, order),
        )
        .when(
            policy == POLICY_RS,
            _text("review day: ", position, " at or above order-up-to level ", big_s, ": no order"),
        )
        .when(
            (policy == POLICY_MINMAX) & (ip <= rop),
            _text(
                "review day: ", position, at_or_below, "min ", s, cover, order, " up to max ", big_s
            ),
        )
        .when(
            policy == POLICY_MINMAX,
            _text("review day: ", position, " above min ", s, ": no order"),
        )
        .when(ip <= rop, _text(position, at_or_below, "reorder point ", s, cover, order))
        .otherwise(_text(position, " above reorder point ", s, ": no order"))
    )


def _override_text() -> Column:
    """Who overrode what, on lines with any planner override; a quantity override whose
    order went out on an earlier day says so (:func:`skuplan.replenishment.rules.placed_overrides`)."""
    changes = F.concat_ws(
        ", ",
        F.when(
            F.col("override_qty").isNotNull() & F.col("override_placed_on").isNull(),
            _text("order ", _num("order_qty"), " instead of computed ", _num("computed_order_qty")),
        ),
        F.when(
            F.col("override_service_level").isNotNull(),
            _text("service level ", _pct("override_service_level")),
        ),
        F.when(
            F.col("override_lead_time_days").isNotNull(),
            _text("lead time ", _num("override_lead_time_days"), " days"),
        ),
    )
    why = F.when(
        F.col("override_reason").isNotNull(), _text(" (", F.col("override_reason"), ")")
    ).otherwise(F.lit(""))
    author = F.coalesce(F.col("override_author"), F.lit("unknown"))
    placed = F.col("override_placed_on")
    text = F.concat_ws(
        "; ",
        F.when(F.col("is_overridden"), _text("overridden by ", author, why, ": ", changes)),
        F.when(
            placed.isNotNull(),
            _text("override order ", _num("override_qty"), " by ", author, why,
                  " went out on ", placed.cast("string"), ": computed order applies"),
        ),
    )  # fmt: skip
    return F.when(text != "", text)


def _review_text() -> Column:
    """Why a line is held for a planner, with the numbers compared."""
    reasons = F.coalesce(F.col("review_reasons"), F.lit(""))
    details = F.concat_ws(
        ", ",
        F.when(
            reasons.contains("order_change"),
            _text(
                "order ",
                _num("order_qty"),
                " vs ",
                _num("prev_order_qty"),
                " in the last released plan",
            ),
        ),
        F.when(
            reasons.contains("forecast_jump"),
            _text(
                "daily demand ",
                _num("daily_demand"),
                " vs ",
                _num("prev_daily_demand"),
                " in the last released plan",
            ),
        ),
    )
    return F.when(F.col("plan_status") == PLAN_NEEDS_REVIEW, _text("held for review: ", details))


def _network_text() -> Column:
    """Where a DC's demand comes from, and a store order its DC could not fill (null when
    neither)."""
    text = F.concat_ws(
        "; ",
        F.when(
            F.col("echelon") == F.lit(ECHELON_DC),
            F.lit("DC: its demand is the orders its stores plan"),
        ),
        F.when(
            F.col("requested_qty").isNotNull(),
            _text(
                "allocated ", _num("order_qty"), " of ", _num("requested_qty"), " requested: ",
                F.col("source_location"), " is short (fair share)",
            ),
        ),
    )  # fmt: skip
    return F.when(text != "", text)


def with_reason(df: DataFrame) -> DataFrame:
    """``reason``: one short sentence per plan line saying why it orders, or why not.

    Input: the plan line's columns (``plan_status, exception_reason, policy_name,
    inventory_position, reorder_point, order_up_to, demand_over_protection, protection_days,
    demand_over_lead_time, policy_parameters, lead_time_days, review_period, safety_stock, target_type, target_service_level,
    raw_order_qty, computed_order_qty, order_qty, pack, min_order, is_review_day,
    next_review_date, daily_demand, review_reasons, prev_order_qty, prev_daily_demand,
    is_overridden, override_qty, override_service_level, override_lead_time_days,
    override_reason, override_author, override_placed_on, is_default_lead_time,
    lead_time_issue, echelon, requested_qty, source_location``); lines with an
    ``exception_reason`` need only it and ``on_hand, on_order, backorders,
    inventory_age_days``.
    Output adds ``reason``. Numbers are the line's columns rounded to one decimal.
    """
    default_lead_time = F.when(
        F.coalesce(F.col("is_default_lead_time"), F.lit(False)),
        _text(
            "lead time ", _num("lead_time_days"), " days is the default (item master: ",
            F.coalesce(F.col("lead_time_issue"), F.lit("missing")), ")",
        ),
    )  # fmt: skip
    planned = F.concat_ws(
        "; ", _network_text(), _review_text(), _override_text(), _decision_text(), default_lead_time
    )
    return df.withColumn(
        "reason",
        F.when(F.col("exception_reason").isNotNull(), _exception_text()).otherwise(planned),
    )
