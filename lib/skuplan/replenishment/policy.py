"""Continuous-review (s, Q) policy as Spark column expressions over all item-locations.

Safety stock comes from forecast uncertainty (the spread of the forecast quantiles), not
from the spread of raw demand, combined with lead-time variability:
``sigma_DL = sqrt(L * sigma_d^2 + d^2 * sigma_L^2)`` and ``SS = z(service level) * sigma_DL``.
"""

# No `from __future__ import annotations` here: pandas_udf infers its kind from real type hints.
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType
from scipy.stats import norm

from skuplan.schemas import KEYS

POLICY_SQ = "continuous_sQ"


@pandas_udf(DoubleType())
def normal_quantile(p: pd.Series) -> pd.Series:
    """Standard normal inverse CDF (the safety factor ``z`` of a cycle service level)."""
    return pd.Series(norm.ppf(p.astype(float)))


def quantile_spread_sigma(q_lo: float, q_hi: float) -> float:
    """Divisor turning a ``q_hi - q_lo`` forecast spread into a normal standard deviation."""
    return float(norm.ppf(q_hi) - norm.ppf(q_lo))


def with_item_parameters(
    items_df: DataFrame, *, default_lead_time_days: float, default_service_level: float
) -> DataFrame:
    """Fill planning parameters the item master lacks with configured defaults, flagged.

    Input columns: ``sku, supplier, unit_cost, order_cost, holding_cost_rate,
    lead_time_mean_days, lead_time_std_days, moq, pack_size, service_level``.
    Output adds: ``lead_time_days, lead_time_std, is_default_lead_time, target_service_level,
    pack, min_order``.
    """
    lead_time_known = F.col("lead_time_mean_days").isNotNull() & (F.col("lead_time_mean_days") > 0)
    return items_df.select(
        "*",
        F.when(lead_time_known, F.col("lead_time_mean_days"))
        .otherwise(F.lit(default_lead_time_days))
        .alias("lead_time_days"),
        F.when(lead_time_known, F.coalesce("lead_time_std_days", F.lit(0.0)))
        .otherwise(F.lit(0.0))
        .alias("lead_time_std"),
        (~lead_time_known).alias("is_default_lead_time"),
        F.coalesce("service_level", F.lit(default_service_level)).alias("target_service_level"),
        F.greatest(F.coalesce("pack_size", F.lit(1.0)), F.lit(1.0)).alias("pack"),
        F.coalesce("moq", F.lit(0.0)).alias("min_order"),
    )


def summarise_forecast_over_lead_time(
    forecasts_df: DataFrame, params_df: DataFrame, *, q_lo: str, q_hi: str, spread_divisor: float
) -> DataFrame:
    """Per series: mean daily demand, its uncertainty and the demand over the lead time.

    Input: ``forecasts_df`` with ``sku, location, step, yhat, <q_lo>, <q_hi>``; ``params_df``
    from :func:`with_item_parameters`.
    Output: one row per series with the item parameters and ``daily_demand, sigma_daily,
    demand_over_lead_time``.
    """
    # Fractional lead times count the last day in part: L = 2.5 takes days 1, 2 and half of 3.
    day_weight = F.least(
        F.greatest(F.col("lead_time_days") - (F.col("step") - 1), F.lit(0.0)), F.lit(1.0)
    )
    sigma_day = (F.col(q_hi) - F.col(q_lo)) / F.lit(spread_divisor)
    return (
        forecasts_df.join(params_df, "sku")
        .groupBy(*KEYS, *[c for c in params_df.columns if c != "sku"])
        .agg(
            F.avg("yhat").alias("daily_demand"),
            F.sqrt(F.avg(sigma_day * sigma_day)).alias("sigma_daily"),
            F.sum(F.col("yhat") * day_weight).alias("demand_over_lead_time"),
            F.max("step").alias("horizon_days"),
        )
    )


def _ceil_to_multiple(x: Column, multiple: Column) -> Column:
    return F.ceil(x / multiple - F.lit(1e-9)) * multiple


def with_reorder_decision(plan_df: DataFrame) -> DataFrame:
    """Safety stock, reorder point, EOQ and the order quantity of an (s, Q) policy.

    Input: the output of :func:`summarise_forecast_over_lead_time` joined with inventory
    (``on_hand, on_order, backorders``).
    Output adds: ``inventory_position, sigma_lead_time_demand, safety_stock, reorder_point,
    eoq, order_up_to, order_qty``. An order is placed when the position is at or below the
    reorder point: the smallest multiple of Q that lifts it above, rounded up to the pack
    size and to at least the MOQ. Zero demand never orders.
    """
    d, L = F.col("daily_demand"), F.col("lead_time_days")
    sigma_dl = F.sqrt(L * F.pow("sigma_daily", 2) + F.pow(d, 2) * F.pow("lead_time_std", 2))
    annual_demand = d * 365.0
    holding_per_unit = F.col("holding_cost_rate") * F.col("unit_cost")
    eoq = F.when(
        (annual_demand > 0) & (holding_per_unit > 0),
        F.sqrt(2 * annual_demand * F.col("order_cost") / holding_per_unit),
    ).otherwise(F.lit(0.0))
    df = plan_df.select(
        "*",
        (
            F.coalesce("on_hand", F.lit(0.0))
            + F.coalesce("on_order", F.lit(0.0))
            - F.coalesce("backorders", F.lit(0.0))
        ).alias("inventory_position"),
        sigma_dl.alias("sigma_lead_time_demand"),
        F.greatest(normal_quantile("target_service_level") * sigma_dl, F.lit(0.0)).alias(
            "safety_stock"
        ),
        F.greatest(eoq, F.col("pack")).alias("eoq"),
    )
    df = df.withColumn("reorder_point", F.col("demand_over_lead_time") + F.col("safety_stock"))
    needs_order = (d > 0) & (F.col("inventory_position") <= F.col("reorder_point"))
    lots = F.floor((F.col("reorder_point") - F.col("inventory_position")) / F.col("eoq")) + 1
    raw_qty = F.greatest(lots * F.col("eoq"), F.col("min_order"))
    return df.select(
        "*",
        (F.col("reorder_point") + F.col("eoq")).alias("order_up_to"),
        F.when(needs_order, _ceil_to_multiple(raw_qty, F.col("pack")))
        .otherwise(F.lit(0.0))
        .alias("order_qty"),
    )
