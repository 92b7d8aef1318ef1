"""Replenishment policies as Spark column expressions over all item-locations at once.

Three policies, chosen per item in the master (``policy``) or by ``plan.default_policy``:

- ``sQ``: continuous review (checked daily). Order when the inventory position is at or below
  the reorder point ``s``; order whole lots of ``Q = EOQ``.
- ``RS``: periodic review, order-up-to. Every ``R`` days order ``S - position``.
- ``minmax``: periodic review (s, S). Every ``R`` days, if the position is at or below ``s``,
  order ``S - position`` with ``S = s + EOQ``.

``s`` and ``S`` cover the forecast demand over the protection period ``P = L + R`` plus a
safety stock from the forecast error over ``P`` (see :mod:`skuplan.replenishment.safety_stock`);
``minmax``'s ``s`` covers the lead time's demand plus the undershoot below ``s`` at the review
that orders (:mod:`skuplan.replenishment.undershoot`: ``L + R`` over-serves the target).
Every order is rounded up to whole packs and to at least the MOQ; zero demand never orders.
"""

# No `from __future__ import annotations` here: pandas_udf infers its kind from real type hints.
import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType, StructField, StructType
from scipy.stats import norm

from skuplan.columns import KEYS
from skuplan.replenishment import safety_stock as ss
from skuplan.replenishment import undershoot

POLICY_SQ = "sQ"
POLICY_RS = "RS"
POLICY_MINMAX = "minmax"
POLICIES = (POLICY_SQ, POLICY_RS, POLICY_MINMAX)


@pandas_udf(DoubleType())
def _safety_factor_udf(
    target_type: pd.Series, target: pd.Series, cycle_qty: pd.Series, sigma: pd.Series
) -> pd.Series:
    return pd.Series(
        ss.safety_factor(target_type.to_numpy(object), target, cycle_qty.fillna(0.0), sigma)
    )


@pandas_udf(DoubleType())
def _safety_stock_udf(
    mean: pd.Series, sigma: pd.Series, k: pd.Series, method: pd.Series
) -> pd.Series:
    return pd.Series(ss.safety_stock(mean, sigma, k, method.to_numpy(object)))


@pandas_udf(
    StructType(
        [StructField("reorder_point", DoubleType()), StructField("undershoot", DoubleType())]
    )
)
def _minmax_udf(
    policy: pd.Series,
    demand_over_lead_time: pd.Series,
    demand_over_protection: pd.Series,
    sigma_protection: pd.Series,
    lead_time_days: pd.Series,
    review_period: pd.Series,
    daily_demand: pd.Series,
    lead_time_std: pd.Series,
    lot: pd.Series,
    target_type: pd.Series,
    target: pd.Series,
    method: pd.Series,
) -> pd.DataFrame:
    out = pd.DataFrame({"reorder_point": np.nan, "undershoot": np.nan}, index=policy.index)
    rows = (policy == POLICY_MINMAX).to_numpy()
    if rows.any():
        v = lambda x: x.to_numpy()[rows]  # noqa: E731
        out.loc[rows, "reorder_point"], out.loc[rows, "undershoot"] = undershoot.minmax_levels(
            v(demand_over_lead_time), v(demand_over_protection) - v(demand_over_lead_time),
            v(sigma_protection), v(lead_time_days), v(review_period), v(daily_demand),
            v(lead_time_std.fillna(0.0)), v(lot), v(target_type).astype(object), v(target),
            v(method).astype(object),
        )  # fmt: skip
    return out


def quantile_spread_sigma(q_lo: float, q_hi: float) -> float:
    """Divisor turning a ``q_hi - q_lo`` forecast spread into a normal standard deviation."""
    return float(norm.ppf(q_hi) - norm.ppf(q_lo))


def _protection_weight(days: Column) -> Column:
    # Fractional periods count the last day in part: P = 2.5 takes days 1, 2 and half of 3.
    return F.least(F.greatest(days - (F.col("step") - 1), F.lit(0.0)), F.lit(1.0))


def summarise_forecast(
    forecasts_df: DataFrame, params_df: DataFrame, *, q_lo: str, q_hi: str, spread_divisor: float
) -> DataFrame:
    """Per series: demand and forecast error over the lead time and the protection period.

    Input: ``forecasts_df`` with ``sku, location, step, yhat, q50, <q_lo>, <q_hi>``;
    ``params_df`` with ``sku, location, lead_time_days, review_period``.
    Output: ``params_df``'s rows (inner join) with ``daily_demand, sigma_daily,
    demand_over_lead_time, protection_days, demand_over_protection, sigma_protection,
    skew_ratio, horizon_days``.

    ``sigma_protection`` adds the per-day error variances (``sigma_day`` from the quantile
    spread), i.e. assumes independent daily errors; a protection period past the forecast
    horizon is extended at the horizon's mean rate. ``daily_demand`` is that mean rate: of
    ``yhat``, or of ``demand_rate`` where the frame has one (a DC's planned withdrawals are
    lumpier than the demand behind them, :mod:`.network`).
    """
    protection = F.col("lead_time_days") + F.col("review_period")
    sigma_day = (F.col(q_hi) - F.col(q_lo)) / F.lit(spread_divisor)
    has_rate = "demand_rate" in forecasts_df.columns
    rate = F.coalesce("demand_rate", "yhat") if has_rate else F.col("yhat")
    w_lead, w_prot = _protection_weight(F.col("lead_time_days")), _protection_weight(protection)
    upper, lower = F.col(q_hi) - F.col("q50"), F.col("q50") - F.col(q_lo)
    agg_df = (
        forecasts_df.join(params_df.select(*KEYS, "lead_time_days", "review_period"), [*KEYS])
        .groupBy(*KEYS)
        .agg(
            F.avg(rate).alias("daily_demand"),
            F.avg(sigma_day * sigma_day).alias("_var_day"),
            F.sum(F.col("yhat") * w_lead).alias("_lead_in_horizon"),
            F.sum(F.col("yhat") * w_prot).alias("_prot_in_horizon"),
            F.sum(sigma_day * sigma_day * w_prot).alias("_var_in_horizon"),
            (F.sum(upper) / F.greatest(F.sum(lower), F.lit(1e-9))).alias("skew_ratio"),
            F.max("step").alias("horizon_days"),
        )
    )
    beyond = lambda days: F.greatest(days - F.col("horizon_days"), F.lit(0.0))  # noqa: E731
    return params_df.join(agg_df, [*KEYS]).select(
        *params_df.columns,
        "daily_demand",
        F.sqrt("_var_day").alias("sigma_daily"),
        (F.col("_lead_in_horizon") + beyond(F.col("lead_time_days")) * F.col("daily_demand")).alias(
            "demand_over_lead_time"
        ),
        protection.alias("protection_days"),
        (F.col("_prot_in_horizon") + beyond(protection) * F.col("daily_demand")).alias(
            "demand_over_protection"
        ),
        F.sqrt(F.col("_var_in_horizon") + beyond(protection) * F.col("_var_day")).alias(
            "sigma_protection"
        ),
        "skew_ratio",
        "horizon_days",
    )


def with_safety_stock_method(
    df: DataFrame, *, method: str, skew_ratio: float, intermittent_classes=("intermittent", "lumpy")
) -> DataFrame:
    """``ss_method``: ``normal`` or ``gamma`` (skewed or intermittent demand, when ``auto``).

    Input: ``skew_ratio`` and optionally ``demand_class`` (from the model runs).
    """
    if method != "auto":
        return df.withColumn("ss_method", F.lit(method))
    is_intermittent = (
        F.coalesce(F.col("demand_class").isin(*intermittent_classes), F.lit(False))
        if "demand_class" in df.columns
        else F.lit(False)
    )
    is_skewed = F.col("skew_ratio") > F.lit(skew_ratio)
    return df.withColumn(
        "ss_method",
        F.when(is_intermittent | is_skewed, F.lit(ss.METHOD_GAMMA)).otherwise(
            F.lit(ss.METHOD_NORMAL)
        ),
    )


def _ceil_to_multiple(x: Column, multiple: Column) -> Column:
    """``x`` rounded up to a whole number of ``multiple``, without floating-point residue
    (3 packs of 1.1 are 3.3, not 3.3000000000000003): pack sizes have at most 6 decimals."""
    return F.round(F.ceil(x / multiple - F.lit(1e-9)) * multiple, 6)


def with_position_and_lot(df: DataFrame, *, is_review_day: Column | None = None) -> DataFrame:
    """Inventory position, the lead-time demand's spread, the lot size (EOQ, at least a
    pack) and whether today is a review day (default: every day).

    Input: ``daily_demand, sigma_protection, lead_time_std, holding_cost_rate, unit_cost,
    order_cost, pack, on_hand, on_order, backorders``. Output adds ``inventory_position,
    sigma_lead_time_demand, eoq, is_review_day``.
    """
    d = F.col("daily_demand")
    sigma_dl = F.sqrt(F.pow("sigma_protection", 2) + F.pow(d, 2) * F.pow("lead_time_std", 2))
    holding_per_unit = F.col("holding_cost_rate") * F.col("unit_cost")
    annual_demand = d * 365.0
    eoq = F.when(
        (annual_demand > 0) & (holding_per_unit > 0),
        F.sqrt(2 * annual_demand * F.col("order_cost") / holding_per_unit),
    ).otherwise(F.lit(0.0))
    position = (
        F.coalesce("on_hand", F.lit(0.0))
        + F.coalesce("on_order", F.lit(0.0))
        - F.coalesce("backorders", F.lit(0.0))
    )
    return df.select(
        "*",
        position.alias("inventory_position"),
        sigma_dl.alias("sigma_lead_time_demand"),
        F.greatest(eoq, F.col("pack")).alias("eoq"),
        (F.lit(True) if is_review_day is None else is_review_day).alias("is_review_day"),
    )


def with_safety_stock(df: DataFrame) -> DataFrame:
    """Safety factor and safety stock for the service target, the reorder point ``s`` and
    the order-up-to level ``S`` (for ``RS`` they are equal: any shortfall at a review
    orders).

    Input: :func:`with_position_and_lot`'s output plus ``policy_name, review_period,
    lead_time_days, target_type, target_service_level, demand_over_lead_time,
    demand_over_protection, ss_method``. Output adds ``cycle_qty, safety_factor,
    safety_stock, reorder_point, order_up_to``; ``minmax``'s safety stock is its ``s`` less
    the lead time's demand and the mean undershoot.
    """
    d, policy = F.col("daily_demand"), F.col("policy_name")
    # The quantity one cycle brings: what the fill-rate target's shortage allowance scales with.
    cycle_qty = F.when(policy == POLICY_RS, d * F.col("review_period")).otherwise(F.col("eoq"))
    df = df.withColumn("cycle_qty", cycle_qty)
    df = df.withColumn(
        "safety_factor",
        _safety_factor_udf(
            "target_type", "target_service_level", "cycle_qty", "sigma_lead_time_demand"
        ),
    )
    df = df.withColumn(
        "safety_stock",
        F.when(
            d > 0,
            _safety_stock_udf(
                "demand_over_protection", "sigma_lead_time_demand", "safety_factor", "ss_method"
            ),
        ).otherwise(F.lit(0.0)),
    )
    minmax = _minmax_udf(
        "policy_name", "demand_over_lead_time", "demand_over_protection", "sigma_protection",
        "lead_time_days", "review_period", "daily_demand", "lead_time_std", "eoq",
        "target_type", "target_service_level", "ss_method",
    )  # fmt: skip
    is_minmax = (policy == POLICY_MINMAX) & (d > 0)
    # minmax: the stock beyond the lead time's demand and the undershoot (module docstring).
    df = df.withColumn("_minmax", F.when(is_minmax, minmax)).withColumn(
        "safety_stock",
        F.when(
            is_minmax,
            F.col("_minmax.reorder_point")
            - F.col("demand_over_lead_time")
            - F.col("_minmax.undershoot"),
        ).otherwise(F.col("safety_stock")),
    )
    s = F.when(is_minmax, F.col("_minmax.reorder_point")).otherwise(
        F.col("demand_over_protection") + F.col("safety_stock")
    )
    return (
        df.withColumn("reorder_point", s)
        .withColumn("order_up_to", F.when(policy == POLICY_RS, s).otherwise(s + F.col("eoq")))
        .drop("_minmax")
    )


def with_order(df: DataFrame) -> DataFrame:
    """Each policy's order on a review day, rounded up to whole packs and at least the MOQ;
        zero demand never orders (:func:`skuplan.replenishment.replay.raw_order` is the same rule
    for code that steps through days).

        Input: :func:`with_safety_stock`'s output plus ``min_order``. Output adds
        ``raw_order_qty, order_qty``.
    """
    d, policy = F.col("daily_demand"), F.col("policy_name")
    ip, rop, up_to = F.col("inventory_position"), F.col("reorder_point"), F.col("order_up_to")
    lots = F.floor((rop - ip) / F.col("eoq")) + 1
    raw_qty = (
        F.when(~F.col("is_review_day") | (d <= 0), F.lit(0.0))
        .when((policy == POLICY_SQ) & (ip <= rop), lots * F.col("eoq"))
        .when((policy == POLICY_RS) & (ip < up_to), up_to - ip)
        .when((policy == POLICY_MINMAX) & (ip <= rop), up_to - ip)
        .otherwise(F.lit(0.0))
    )
    rounded = _ceil_to_multiple(F.greatest(raw_qty, F.col("min_order")), F.col("pack"))
    return df.select(
        "*",
        raw_qty.alias("raw_order_qty"),
        F.when(raw_qty > 0, rounded).otherwise(F.lit(0.0)).alias("order_qty"),
    )


def with_reorder_decision(plan_df: DataFrame, *, is_review_day: Column | None = None) -> DataFrame:
    """Safety stock, reorder point, order-up-to level and the order of each series' policy:
    :func:`with_position_and_lot`, :func:`with_safety_stock`, :func:`with_order`.

    Input columns: ``policy_name, daily_demand, lead_time_std, protection_days,
    demand_over_protection, sigma_protection, ss_method, target_type, target_service_level,
    order_cost, holding_cost_rate, unit_cost, pack, min_order, review_period, on_hand,
    on_order, backorders``; ``is_review_day`` is a boolean column (default: every day).
    Output adds: ``inventory_position, sigma_lead_time_demand, eoq, is_review_day,
    cycle_qty, safety_factor, safety_stock, reorder_point, order_up_to, raw_order_qty,
    order_qty``.
    """
    return (
        plan_df.transform(with_position_and_lot, is_review_day=is_review_day)
        .transform(with_safety_stock)
        .transform(with_order)
    )


def with_order_details(df: DataFrame, *, run_date, anchor_date) -> DataFrame:
    """Order date, expected arrival (run date + the lead time, rounded up), the next review
    day, the order's value, and the expected yearly cost of running the policy (orders of
    EOQ, an average stock of Q/2 + the safety stock).

    Input: :func:`with_reorder_decision`'s output (``order_qty`` as released).
    """
    has_order = F.col("order_qty") > 0
    arrival = F.date_add(F.lit(run_date), F.ceil("lead_time_days").cast("int"))
    ordering = F.col("daily_demand") * 365 / F.col("eoq") * F.col("order_cost")
    stock = F.col("eoq") / 2 + F.col("safety_stock")
    return df.select(
        "*",
        F.when(has_order, F.lit(run_date)).alias("order_date"),
        F.when(has_order, arrival).alias("expected_arrival"),
        next_review_date(run_date, anchor_date).alias("next_review_date"),
        (F.col("order_qty") * F.col("unit_cost")).alias("order_value"),
        F.when(F.col("eoq") > 0, ordering).alias("annual_ordering_cost"),
        (stock * F.col("holding_cost_rate") * F.col("unit_cost")).alias("annual_holding_cost"),
    )


def is_review_day(run_date, anchor_date) -> Column:
    """True for ``sQ`` (checked daily) and on every ``review_period``-th day from the anchor."""
    days = (run_date - anchor_date).days
    return (F.col("policy_name") == POLICY_SQ) | (
        F.pmod(F.lit(days), F.col("review_period").cast("int")) == 0
    )


def next_review_date(run_date, anchor_date) -> Column:
    """The first review day on or after ``run_date`` (for ``sQ``: the run date)."""
    days = (run_date - anchor_date).days
    r = F.col("review_period").cast("int")
    wait = F.pmod(r - F.pmod(F.lit(days), r), r)
    return F.when(F.col("policy_name") == POLICY_SQ, F.lit(run_date)).otherwise(
        F.date_add(F.lit(run_date), wait)
    )
