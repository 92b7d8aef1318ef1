"""The supplier demand signal (vendor-managed inventory): per supplier, the expected demand
for their items at each location, week by week, and the orders the plan expects to place.

Suppliers plan production on it; it is not an order. Two parts:

- :func:`planned_orders` (plain pandas, one series per call) rolls the series' policy
  forward over the forecast horizon: today's order is the plan's released one; on each later
  review day (the plan line's next review, which may be one the previous plan scheduled
  before the review period changed, and every review period's day from the anchor: the days
  the plans of those dates will review) the inventory position, lowered by the forecast
  demand and raised by the orders already planned, meets the policy's order rule
  (:func:`.replay.raw_order`, the rule the plan and the policy simulation apply) with today's
  reorder point, order-up-to level and lot. The position does not depend on when receipts
  arrive, so open orders count from the start.
- :func:`weekly_signal` (Spark) adds up, per calendar week (Monday to Sunday; the run date's
  week counts from the run date), the forecast demand (P50 and P90) and the planned orders
  by order date. The week's P50 is the sum of its days' point forecasts; its P90 treats the
  days' forecast errors as independent and normal, as the plan's safety stock does: ``P50 + z(0.9) * sqrt(sum of the days' variances)``, each
  day's standard deviation from its forecast band.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame
from scipy.stats import norm

from skuplan.columns import KEYS, PLAN_PLANNED
from skuplan.replenishment import safety_stock as ss
from skuplan.replenishment.policies import POLICY_SQ
from skuplan.replenishment.replay import raw_order

# Constant per series (the plan line's values) in planned_orders' input.
PLAN_COLUMNS = (
    "policy",
    "inventory_position",
    "released_qty",
    "daily_demand",
    "reorder_point",
    "order_up_to",
    "eoq",
    "pack",
    "min_order",
    "review_period",
    "next_review_date",
    "lead_time_days",
    "override_qty",  # a planner's 0 holds every order through its override_valid_to
    "override_valid_to",
)
PLANNED_ORDERS = (
    "sku string, location string, order_date date, expected_arrival date, order_qty double"
)
SIGNAL_QUANTILE = 0.9
# Figures are rounded so that a forecast moving by a hair does not make a change row.
DECIMALS = 1


def planned_orders(pdf: pd.DataFrame, *, run_date: dt.date, anchor_date: dt.date) -> pd.DataFrame:
    """One series' orders over its forecast horizon, today's included.

    Args:
        pdf: one series, one row per forecast day: ``sku, location, date, yhat`` and the
            ``PLAN_COLUMNS`` (the same on every row); ``released_qty`` is today's order as
            it reaches the ERP (0 when the line is held or orders nothing);
            ``next_review_date`` the plan line's (null: the anchor's days only); an
            ``override_qty`` of 0 orders nothing up to ``override_valid_to`` (null: ever).
        run_date: the plan's date (today: its order is the released one).
        anchor_date: periodic reviews fall every ``review_period`` days from this date.

    Returns:
        ``sku, location, order_date, expected_arrival, order_qty`` (``PLANNED_ORDERS``),
        one row per planned order; arrivals are the order date plus the lead time rounded up.
    """
    pdf = pdf.sort_values("date")
    p = pdf.iloc[0]
    policy, review = p["policy"], max(int(float(p["review_period"])), 1)  # as the plan
    lead = dt.timedelta(days=math.ceil(float(p["lead_time_days"])))
    levels = (float(p["reorder_point"]), float(p["order_up_to"]), float(p["eoq"]))
    next_review = p["next_review_date"]
    next_review = pd.Timestamp(next_review).date() if pd.notna(next_review) else None
    held_until = None  # a planner's override of 0 orders nothing while it is valid
    if pd.notna(p["override_qty"]) and float(p["override_qty"]) == 0:
        until = p["override_valid_to"]
        held_until = pd.Timestamp(until).date() if pd.notna(until) else dt.date.max
    position, rows = float(p["inventory_position"]), []
    for day, demand in zip(
        pd.to_datetime(pdf["date"]).dt.date, pdf["yhat"].to_numpy(float), strict=True
    ):
        if day == run_date:
            qty = float(p["released_qty"])
        elif held_until is not None and day <= held_until:
            qty = 0.0
        elif float(p["daily_demand"]) > 0 and (
            policy == POLICY_SQ or (day - anchor_date).days % review == 0 or day == next_review
        ):
            raw = raw_order(policy, position, *levels)
            qty = float(ss.round_order(raw, p["pack"], p["min_order"]))
        else:
            qty = 0.0
        if qty > 0:
            rows.append((p["sku"], p["location"], day, day + lead, qty))
            position += qty
        position -= demand
    columns = ["sku", "location", "order_date", "expected_arrival", "order_qty"]
    return pd.DataFrame(rows, columns=columns)


def with_plan_columns(forecasts_df: DataFrame, plan_df: DataFrame) -> DataFrame:
    """:func:`planned_orders`' input: each planned series' forecast days with its plan line.

    Input: ``forecasts_df`` (``sku, location, date, yhat``); ``plan_df``, the run date's
    ``reorder_plan`` rows. Series not planned (an exception) are left out.
    """
    released = F.when(F.col("plan_status") == PLAN_PLANNED, F.col("order_qty")).otherwise(0.0)
    lines_df = plan_df.filter(F.col("exception_reason").isNull()).select(
        *KEYS,
        *[released.alias(c) if c == "released_qty" else F.col(c) for c in PLAN_COLUMNS],
    )
    return forecasts_df.select(*KEYS, "date", "yhat").join(lines_df, [*KEYS])


def weekly_signal(
    forecasts_df: DataFrame,
    orders_df: DataFrame,
    plan_df: DataFrame,
    *,
    run_date: dt.date,
    weeks: int,
    q_lo: str,
    q_hi: str,
    spread_divisor: float,
) -> DataFrame:
    """The signal's rows: one per supplier, planned series and week with forecast days.

    Input: ``forecasts_df`` (``sku, location, date, yhat, <q_lo>, <q_hi>``, daily);
    ``orders_df`` (:func:`planned_orders`' rows); ``plan_df`` (``sku, location, supplier,
    exception_reason``). ``weeks`` calendar weeks from the run date's week on, within the
    forecast horizon.

    Output: ``supplier, sku, location, week_start, days, forecast_p50, forecast_p90,
    planned_order_qty, planned_orders``: ``days`` is how many days of the week the forecast
    covers (fewer in the run date's week and at the horizon's end).
    """
    first_week = run_date - dt.timedelta(days=run_date.weekday())
    end = first_week + dt.timedelta(days=7 * weeks)
    week_of = lambda c: F.date_trunc("week", F.col(c)).cast("date")  # noqa: E731
    sigma = (F.col(q_hi) - F.col(q_lo)) / F.lit(spread_divisor)
    demand_df = (
        forecasts_df.filter((F.col("date") >= F.lit(run_date)) & (F.col("date") < F.lit(end)))
        .groupBy(*KEYS, week_of("date").alias("week_start"))
        .agg(
            F.count(F.lit(1)).cast("int").alias("days"),
            F.sum("yhat").alias("_mean"),
            F.sum(sigma * sigma).alias("_var"),
        )
    )
    z = float(norm.ppf(SIGNAL_QUANTILE))
    planned_df = orders_df.groupBy(*KEYS, week_of("order_date").alias("week_start")).agg(
        F.sum("order_qty").alias("planned_order_qty"),
        F.count(F.lit(1)).cast("int").alias("planned_orders"),
    )
    suppliers_df = plan_df.filter(
        F.col("exception_reason").isNull() & F.col("supplier").isNotNull()
    ).select(*KEYS, "supplier")
    return (
        demand_df.join(suppliers_df, [*KEYS])
        .join(planned_df, [*KEYS, "week_start"], "left")
        .select(
            "supplier",
            *KEYS,
            "week_start",
            "days",
            F.round("_mean", DECIMALS).alias("forecast_p50"),
            F.round(F.col("_mean") + z * F.sqrt("_var"), DECIMALS).alias("forecast_p90"),
            F.coalesce("planned_order_qty", F.lit(0.0)).alias("planned_order_qty"),
            F.coalesce("planned_orders", F.lit(0)).alias("planned_orders"),
        )
    )
