"""The plan's second echelon: distribution centres planned on their stores' planned orders,
and today's store orders allocated from the DCs' stock. The rules are in
:mod:`skuplan.replenishment.network`; the plan stage (:mod:`.plan`) plans every series
through :func:`plan`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from skuplan import fanout
from skuplan.columns import KEYS, quantile_column
from skuplan.conf import Conf
from skuplan.replenishment import network, policies, rules, signal

# (forecasts, series keys) -> (series inputs, decided lines): the plan's own steps.
PlanSeries = Callable[[DataFrame, DataFrame], tuple[DataFrame, DataFrame]]


@dataclass(frozen=True)
class Planned:
    """Both echelons' daily forecasts (the DCs' being their dependent demand), planning
    inputs and decided lines (before the order details)."""

    forecasts_df: DataFrame
    series_df: DataFrame
    decided_df: DataFrame
    cached: tuple[DataFrame, ...] = ()  # held for the stage, released by unpersist()

    def unpersist(self) -> None:
        for df in self.cached:
            df.unpersist()


def planned_orders(conf: Conf, forecasts_df: DataFrame, lines_df: DataFrame) -> DataFrame:
    """Each planned line's orders over its horizon (``signal.PLANNED_ORDERS``): today's
    released order and the later ones its policy places on the forecast."""
    fn = partial(
        signal.planned_orders, run_date=conf.run_date, anchor_date=conf.plan.review_anchor_date
    )

    def per_series(pdf):
        return fn(pdf)

    return fanout.grouped_in_tasks(
        signal.with_plan_columns(forecasts_df, lines_df), KEYS
    ).applyInPandas(per_series, schema=signal.PLANNED_ORDERS)


def plan(
    conf: Conf, forecasts_df: DataFrame, locations_df: DataFrame | None, plan_series: PlanSeries
) -> Planned:
    """Plan every series: the stores, then (when the master names DCs) the DCs on their
    stores' planned orders, and the stores' released orders allocated from the DCs' stock."""
    keys_df = forecasts_df.select(*KEYS).distinct()
    lanes_df = network.lanes(locations_df)
    if lanes_df is None:
        series_df, decided_df = plan_series(forecasts_df, keys_df.transform(network.with_sources))
        return Planned(forecasts_df, series_df, decided_df.transform(network.unallocated))
    store_forecasts_df = network.without_dcs(forecasts_df, locations_df)
    store_keys_df = network.without_dcs(keys_df, locations_df).transform(
        network.with_sources, lanes_df
    )
    store_series_df, store_df = plan_series(store_forecasts_df, store_keys_df)
    store_series_df = store_series_df.persist(StorageLevel.MEMORY_AND_DISK)
    # Checkpointed, not only cached: the DCs' plan and both echelons' outputs build on the
    # stores' decisions, and every cached copy of a plan repeats it in full in the query plans
    # that read it (tens of MB of plan text for a few rows).
    store_df = store_df.localCheckpoint()
    dc_own_df = forecasts_df.join(network.dc_locations(locations_df), "location")
    dc_forecasts_df = _dc_demand(conf, dc_own_df, store_forecasts_df, store_df, lanes_df)
    dc_forecasts_df = dc_forecasts_df.localCheckpoint()
    dc_keys_df = (
        store_keys_df.filter(F.col("source_location").isNotNull())
        .select("sku", F.col("source_location").alias("location"))
        .unionByName(dc_forecasts_df.select(*KEYS))
        .distinct()
        .withColumn("echelon", F.lit(network.ECHELON_DC))
    )
    dc_series_df, dc_df = plan_series(dc_forecasts_df, dc_keys_df)
    dc_series_df = dc_series_df.persist(StorageLevel.MEMORY_AND_DISK)
    both = partial(DataFrame.unionByName, allowMissingColumns=True)
    return Planned(
        both(store_forecasts_df, dc_forecasts_df),
        both(store_series_df, dc_series_df),
        both(network.allocate(store_df, dc_series_df), dc_df),
        (store_series_df, store_df, dc_forecasts_df, dc_series_df),
    )


def _dc_demand(conf, dc_own_df, store_forecasts_df, store_df, lanes_df) -> DataFrame:
    """The DCs' demand (:func:`network.dependent_demand`): their stores' planned orders and
    their own forecasts (``dc_own_df``)."""
    quantiles = conf.forecast.quantiles
    q_lo, q_hi = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    # Only stores a DC supplies: the others' orders go to suppliers (the signal rolls them).
    lines_df = store_df.filter(F.col("source_location").isNotNull())
    lines_df = (
        lines_df.withColumn(  # the line's next review, as order_details gives it to the plan
            "next_review_date",
            policies.next_review_date(conf.run_date, conf.plan.review_anchor_date),
        )
        .transform(rules.kept_next_review, conf.run_date)
        .drop("policy")
        .withColumnRenamed("policy_name", "policy")
    )
    orders_df = planned_orders(conf, store_forecasts_df, lines_df)
    return network.dependent_demand(
        orders_df, store_forecasts_df, dc_own_df, lanes_df,
        q_lo=q_lo, q_hi=q_hi,
        spread_divisor=policies.quantile_spread_sigma(min(quantiles), max(quantiles)),
    )  # fmt: skip
