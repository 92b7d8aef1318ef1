"""The supply network: distribution centres (DCs) supplying stores, planned as a second echelon.

The location master says who supplies whom, in optional columns (a master without them plans
every location on its own, as before):

- ``location_type``: ``store`` (null counts as a store) or ``dc``;
- ``supplied_by``: the DC a store orders from (null: the item's supplier delivers directly);
- ``lane_lead_time_days``, ``lane_lead_time_std_days``: the DC -> store lane's lead time
  (the item's supplier -> DC lead time stays in the item master; an item-location row's lead
  time still overrides both for its own item and location).

Two echelons: a DC is supplied by the item's supplier, never by another DC. The plan runs
the stores first; a DC's demand is then the orders its stores are planned to place over the
forecast horizon (dependent demand: today's order as requested, later ones rolled forward by
:func:`skuplan.replenishment.signal.planned_orders`), plus the DC's own forecast if it sells
too (:func:`dependent_demand`: its daily rate is its stores' forecasts, its error theirs plus
the lumpiness of their orders week by week). The DC is then planned by the same policy
functions as a store, against the supplier's lead time.

Allocation (fair share): when a DC's stock on hand (less its backorders) cannot cover the
orders its stores release today, every store receives the same share of its order, rounded
down to whole packs, the packs left over by largest remainder (:func:`allocate`);
``requested_qty`` keeps what the store asked for. A DC that is not planned does not cut its
stores' orders.
"""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Window

from skuplan.columns import KEYS, PLAN_PLANNED
from skuplan.errors import InputError

TYPE_STORE, TYPE_DC = "store", "dc"
NETWORK_COLUMNS = ("location_type", "supplied_by", "lane_lead_time_days", "lane_lead_time_std_days")
ECHELON_STORE, ECHELON_DC = TYPE_STORE, TYPE_DC


def lanes(locations_df: DataFrame | None) -> DataFrame | None:
    """Every store supplied by a DC: ``location, source_location`` (the DC) and the lane's
    ``lane_lead_time_days, lane_lead_time_std_days``; None when the master names no DC.

    The master is small (one row per location) and is checked on the driver.

    Raises:
        InputError: a location on two rows, an unknown ``location_type``, a ``supplied_by``
            that is not a DC of the master, or a DC supplied by another location.
    """
    if locations_df is None or "location_type" not in locations_df.columns:
        return None
    present = [c for c in NETWORK_COLUMNS if c in locations_df.columns]
    pdf = locations_df.select("location", *present).toPandas()
    for c in NETWORK_COLUMNS:
        if c not in pdf.columns:
            pdf[c] = None
    kind = pdf["location_type"].fillna(TYPE_STORE)
    if not (kind == TYPE_DC).any():
        return None
    _check(pdf, kind)
    stores = pdf[(kind == TYPE_STORE) & pdf["supplied_by"].notna()]
    rows = [
        (
            r.location,
            r.supplied_by,
            _number(r.lane_lead_time_days),
            _number(r.lane_lead_time_std_days),
        )
        for r in stores.itertuples()
    ]
    return locations_df.sparkSession.createDataFrame(
        rows,
        "location string, source_location string, lane_lead_time_days double, "
        "lane_lead_time_std_days double",
    )


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)


def _check(pdf, kind) -> None:
    twice = sorted(set(pdf.loc[pdf["location"].duplicated(), "location"]))
    if twice:
        raise InputError(f"location master: one row per location; more than one for {_few(twice)}")
    bad_kind = pdf.loc[~kind.isin([TYPE_STORE, TYPE_DC]), "location"].tolist()
    if bad_kind:
        raise InputError(
            f"location master: location_type must be {TYPE_STORE} or {TYPE_DC}; "
            f"not so for {_few(bad_kind)}"
        )
    dcs = set(pdf.loc[kind == TYPE_DC, "location"])
    supplied = pdf["supplied_by"].notna()
    unknown = pdf.loc[supplied & ~pdf["supplied_by"].isin(dcs), "location"].tolist()
    if unknown:
        raise InputError(
            f"location master: supplied_by must name a location of type {TYPE_DC}; "
            f"not so for {_few(unknown)}"
        )
    chained = pdf.loc[supplied & (kind == TYPE_DC), "location"].tolist()
    if chained:
        raise InputError(
            "location master: a DC is supplied by the item's supplier, not by another "
            f"location (two echelons); supplied_by is set for DC {_few(chained)}"
        )


def _few(names: list[str]) -> str:
    return ", ".join(map(str, names[:3])) + (
        f" and {len(names) - 3} more" if len(names) > 3 else ""
    )


def dc_locations(locations_df: DataFrame | None) -> DataFrame | None:
    """``location`` of every DC in the master (None without a ``location_type`` column)."""
    if locations_df is None or "location_type" not in locations_df.columns:
        return None
    return locations_df.filter(F.col("location_type") == TYPE_DC).select("location")


def without_dcs(df: DataFrame, locations_df: DataFrame | None) -> DataFrame:
    """``df``'s rows at locations that are not DCs (DCs have no demand of their own to model
    from stock alone: what they hold serves their stores)."""
    dcs = dc_locations(locations_df)
    return df if dcs is None else df.join(dcs, "location", "left_anti").select(*df.columns)


def with_sources(keys_df: DataFrame, lanes_df: DataFrame | None = None) -> DataFrame:
    """``keys_df`` (``sku, location``) with each store's ``source_location`` and lane lead
    times (null for stores supplied directly, and for all without ``lanes_df``) and
    ``echelon`` ``store``."""
    if lanes_df is None:
        return keys_df.withColumn("source_location", F.lit(None).cast("string")).withColumn(
            "echelon", F.lit(ECHELON_STORE)
        )
    return keys_df.join(lanes_df, "location", "left").withColumn("echelon", F.lit(ECHELON_STORE))


def unallocated(store_df: DataFrame) -> DataFrame:
    """``store_df`` with an empty ``requested_qty``: nothing was cut (no DC supplies them)."""
    return store_df.withColumn("requested_qty", F.lit(None).cast("double"))


def dependent_demand(
    orders_df: DataFrame,
    store_forecasts_df: DataFrame,
    dc_forecasts_df: DataFrame,
    lanes_df: DataFrame,
    *,
    q_lo: str,
    q_hi: str,
    spread_divisor: float,
) -> DataFrame:
    """The DCs' daily demand over the horizon, shaped like a forecast for the policy functions.

    Input: ``orders_df``, the stores' planned orders (``sku, location, order_date,
    order_qty``); ``store_forecasts_df``, the stores' daily forecasts (``sku, location, date,
    step, yhat, <q_lo>, <q_hi>``); ``dc_forecasts_df``, the DCs' own forecasts, if any (the
    same columns); ``lanes_df`` (:func:`lanes`).

    Output: ``sku, location`` (the DC), ``date, step, yhat, q50, <q_lo>, <q_hi>,
    demand_rate``:

    - ``yhat``: what leaves the DC that day: its stores' planned orders (time-phased, as
      distribution requirements planning takes them) plus its own forecast;
    - ``demand_rate``: the rate behind them, its stores' forecasts plus its own: the policy's
      daily demand (lot sizes, a protection period past the horizon) takes it, not the lumpy
      orders' average over a short horizon;
    - the band, normal around ``yhat``, with a daily variance of the stores' and the DC's
      forecast variances plus the orders' lumpiness: the variance of their 7-day sums over the
      horizon, per day (0 with a horizon under a week).
    """
    sigma = (F.col(q_hi) - F.col(q_lo)) / F.lit(spread_divisor)
    dependent = _stores_at_dcs(orders_df, store_forecasts_df, lanes_df, sigma)
    own = dc_forecasts_df.select(
        *KEYS, "date", "step", "yhat", F.col("yhat").alias("demand_rate"), (sigma * sigma).alias("_var")
    )  # fmt: skip
    half = F.sqrt("_var") * F.lit(spread_divisor / 2)
    return (
        dependent.unionByName(own)
        .groupBy(*KEYS, "date", "step")
        .agg(*[F.sum(c).alias(c) for c in ("yhat", "demand_rate", "_var")])
        .select(
            *KEYS, "date", "step", "yhat", F.col("yhat").alias("q50"),
            (F.col("yhat") - half).alias(q_lo), (F.col("yhat") + half).alias(q_hi), "demand_rate",
        )
    )  # fmt: skip


def _stores_at_dcs(orders_df, store_forecasts_df, lanes_df, sigma) -> DataFrame:
    """Per DC and day: its stores' orders (``yhat``), forecasts (``demand_rate``) and the
    daily variance (``_var``) of :func:`dependent_demand`."""
    to_dc = lanes_df.select("location", "source_location")
    at_dc = lambda df: df.join(to_dc, "location").withColumn("location", F.col("source_location"))  # noqa: E731
    stores_df = (
        store_forecasts_df.transform(at_dc)
        .groupBy(*KEYS, "date", "step")
        .agg(F.sum("yhat").alias("demand_rate"), F.sum(sigma * sigma).alias("_var"))
    )
    per_day = (
        orders_df.transform(at_dc)
        .groupBy(*KEYS, F.col("order_date").alias("date"))
        .agg(F.sum("order_qty").alias("yhat"))
    )
    week = Window.partitionBy(*KEYS).orderBy("step").rowsBetween(0, 6)
    weekly = F.when(F.count("yhat").over(week) == 7, F.sum("yhat").over(week))
    lumpy = F.coalesce(F.var_pop("_week").over(Window.partitionBy(*KEYS)) / 7, F.lit(0.0))
    return (
        stores_df.join(per_day, [*KEYS, "date"], "left")
        .fillna({"yhat": 0.0})
        .withColumn("_week", weekly)
        .select(*KEYS, "date", "step", "yhat", "demand_rate", (F.col("_var") + lumpy).alias("_var"))
    )


def signal_lines(plan_df: DataFrame) -> DataFrame:
    """The plan lines whose demand the supplier signal carries: the DCs', the stores supplied
    directly, and the stores of a DC that is not planned (under the item's supplier, as the
    DC's line names it), whose demand would otherwise reach no supplier. The stores of a
    planned DC are left out: its line carries their orders.

    Input: ``reorder_plan`` rows (``sku, location, echelon, source_location, supplier,
    exception_reason``).
    """
    dc_df = plan_df.filter(F.col("echelon") == ECHELON_DC).select(
        "sku",
        F.col("location").alias("source_location"),
        F.col("exception_reason").isNull().alias("_dc_planned"),
        F.col("supplier").alias("_dc_supplier"),
    )
    via_dc = F.col("source_location").isNotNull()
    return (
        plan_df.join(dc_df, ["sku", "source_location"], "left")
        .filter(~F.coalesce("_dc_planned", F.lit(False)))
        .withColumn("supplier", F.when(via_dc, F.col("_dc_supplier")).otherwise(F.col("supplier")))
        .drop("_dc_planned", "_dc_supplier")
    )


def kept_in_signal(plan_df: DataFrame) -> DataFrame:
    """The series not planned today whose supplier-signal rows stay as they are
    (:func:`skuplan.erp.kept_signal_rows`), as their outbox lines do, instead of leaving the
    signal for a day (a late snapshot, a master field missing): not a DC (its stores take its
    place that day, :func:`signal_lines`) nor a series gone from the item master (delisted).

    Input: :func:`signal_lines`' rows (``sku, location, echelon, exception_reason``).
    """
    is_dc = F.coalesce(F.col("echelon") == F.lit(ECHELON_DC), F.lit(False))
    delisted = F.col("exception_reason") == F.lit("missing_item_master")
    return plan_df.filter(F.col("exception_reason").isNotNull() & ~is_dc & ~delisted).select(*KEYS)


def allocate(store_df: DataFrame, dc_series_df: DataFrame) -> DataFrame:
    """Cut today's store orders to what their DC holds, in equal shares (fair share).

    Input: ``store_df``, the stores' decided lines (``sku, location, source_location,
    plan_status, order_qty, pack``); ``dc_series_df``, the DCs' planning inputs (``sku,
    location, on_hand, backorders, exception_reason``).

    Output: ``store_df`` with ``order_qty`` allocated and ``requested_qty`` (the order before
    the cut; null where nothing was cut). Each store gets its share of the DC's stock rounded
    down to whole packs; the packs left over go one each to the stores with the largest
    fractions cut off (largest remainder), while they fit. Only released lines (``planned``,
    ordering) count toward and receive the DC's stock; a DC that is not planned (no snapshot,
    a stale or negative one, no master) cuts nothing.
    """
    releases = (F.col("plan_status") == PLAN_PLANNED) & (F.col("order_qty") > 0)
    dc = ["sku", "source_location"]
    stock_df = dc_series_df.filter(F.col("exception_reason").isNull()).select(
        "sku",
        F.col("location").alias("source_location"),
        F.greatest(
            F.coalesce("on_hand", F.lit(0.0)) - F.coalesce("backorders", F.lit(0.0)), F.lit(0.0)
        ).alias("_available"),
    )
    served = Window.partitionBy(*dc)
    packs = F.col("order_qty") * F.col("_available") / F.col("_requested") / F.col("pack")
    whole = F.floor(packs + 1e-9)
    cut_df = (
        store_df.filter(releases & F.col("source_location").isNotNull())
        .select(*KEYS, "source_location", "order_qty", "pack")
        .withColumn("_requested", F.sum("order_qty").over(served))
        .join(stock_df, dc)
        .filter(F.col("_available") < F.col("_requested"))
        .withColumn("_remainder", packs - whole)
        .withColumn("_qty", whole * F.col("pack"))
        .withColumn("_left", F.col("_available") - F.sum("_qty").over(served))
    )
    by_remainder = served.orderBy(F.desc("_remainder"), *KEYS).rowsBetween(Window.unboundedPreceding, 0)  # fmt: skip
    extra = (F.col("_remainder") > 1e-9) & (
        F.sum("pack").over(by_remainder) <= F.col("_left") + 1e-9
    )
    allocated = F.least(
        F.col("_qty") + F.when(extra, F.col("pack")).otherwise(0.0), F.col("order_qty")
    )
    cut_df = cut_df.select(*KEYS, F.round(allocated, 6).alias("_allocated"))
    return (
        store_df.join(cut_df, [*KEYS], "left")
        .withColumn("requested_qty", F.when(F.col("_allocated").isNotNull(), F.col("order_qty")))
        .withColumn("order_qty", F.coalesce("_allocated", "order_qty"))
        .drop("_allocated")
    )
