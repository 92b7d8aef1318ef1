"""Seeded demo data: raw sales, item and location master, and an inventory snapshot.

Demand per series is Poisson around a level with weekly and yearly seasonality, a trend,
promotions (a price discount with a lift), holidays, stockout spells that censor sales,
slow movers, new items with a short history and discontinued items. A configurable share of
raw rows is made dirty on purpose (null keys, bad numbers and dates, future dates, unknown
SKUs, duplicates) so validation has work to do. Everything is vectorised numpy: a thousand
series over three years take about a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from skuplan import delta_io, schemas
from skuplan.conf import Conf, DemoSettings

CATEGORIES = ("grocery", "household", "beverages", "personal_care", "hardware")
SUPPLIERS = tuple(f"SUP{i:02d}" for i in range(1, 9))
# (month, day) -> (event name, demand multiplier); 0 means stores are closed.
HOLIDAYS = {
    (1, 1): ("new_year", 0.4),
    (7, 4): ("independence_day", 1.6),
    (11, 28): ("black_friday", 2.0),
    (12, 24): ("christmas_eve", 1.8),
    (12, 25): ("christmas", 0.0),
    (12, 31): ("new_years_eve", 1.4),
}
DIRTY_KINDS = (
    "null_sku",
    "empty_location",
    "negative_qty",
    "non_numeric_qty",
    "bad_date",
    "future_date",
    "unknown_sku",
    "duplicate",
)


@dataclass(frozen=True)
class DemoData:
    raw_sales: pd.DataFrame
    items: pd.DataFrame
    locations: pd.DataFrame
    inventory: pd.DataFrame
    item_locations: pd.DataFrame
    calendar: pd.DataFrame
    open_orders: pd.DataFrame
    plan_overrides: pd.DataFrame


def _spells(
    rng: np.random.Generator, shape: tuple[int, int], rate: float, length: int
) -> np.ndarray:
    """Boolean (series, day) mask of spells of ``length`` days starting at ``rate`` per day."""
    starts = rng.random(shape) < rate
    counts = np.cumsum(starts, axis=1)
    shifted = np.zeros_like(counts)
    shifted[:, length:] = counts[:, :-length]
    return (counts - shifted) > 0


def generate(settings: DemoSettings, run_date: dt.date, first_sku: int = 0) -> DemoData:
    """Generate demo inputs whose history ends the day before ``run_date``.

    ``first_sku`` numbers the SKUs of a later chunk (:func:`run`); each chunk draws from a
    generator of its own, and the first is the same whatever the number of chunks.
    """
    seed = settings.seed if first_sku == 0 else [settings.seed, first_sku]
    rng = np.random.default_rng(seed)
    n, n_loc, n_days = settings.n_series, settings.n_locations, settings.history_days
    n_sku = -(-n // n_loc)
    skus = np.array([f"SKU{i:05d}" for i in range(first_sku, first_sku + n_sku)])
    locations = np.array([f"LOC{j:03d}" for j in range(n_loc)])
    series_sku = np.arange(n) // n_loc
    series_loc = np.arange(n) % n_loc
    dates = pd.date_range(
        end=pd.Timestamp(run_date) - pd.Timedelta(days=1), periods=n_days, freq="D"
    )

    # Per-item and per-series parameters.
    sku_category = rng.integers(0, len(CATEGORIES), n_sku)
    sku_price = np.round(rng.lognormal(1.8, 0.7, n_sku), 2)
    is_slow = rng.random(n) < 0.15
    level = np.where(is_slow, rng.uniform(0.05, 0.5, n), rng.lognormal(1.6, 0.8, n))
    weekday_profile = 1 + rng.uniform(-0.25, 0.45, (len(CATEGORIES), 7))
    weekday_profile[:, 5:] += 0.2  # weekends sell more in every category
    yearly_amp = rng.uniform(0.0, 0.35, n)
    yearly_phase = rng.uniform(0, 2 * np.pi, n)
    trend_per_year = rng.uniform(-0.15, 0.3, n)
    elasticity = rng.uniform(1.0, 3.0, n)

    t_years = (np.arange(n_days) / 365.25)[None, :]
    day_of_year = dates.dayofyear.to_numpy()[None, :]
    weekday = dates.dayofweek.to_numpy()
    seasonal = weekday_profile[sku_category[series_sku]][:, weekday]
    seasonal = seasonal * (
        1 + yearly_amp[:, None] * np.sin(2 * np.pi * day_of_year / 365.25 + yearly_phase[:, None])
    )
    trend = np.clip(1 + trend_per_year[:, None] * (t_years - t_years[0, -1]), 0.2, None)
    holiday = np.array([HOLIDAYS.get((d.month, d.day), ("", 1.0))[1] for d in dates])[None, :]

    promo = _spells(rng, (n, n_days), 1 / 45, 7)
    discount = np.where(promo, rng.choice([0.1, 0.2, 0.3], (n, n_days)), 0.0)
    lift = (1 - discount) ** (-elasticity[:, None])
    mean = level[:, None] * seasonal * trend * holiday * lift
    qty = rng.poisson(mean).astype(float)

    stockout = _spells(rng, (n, n_days), 1 / 150, 4) & (mean > 0.5)
    qty = np.where(stockout, np.floor(qty * rng.uniform(0, 0.3, (n, n_days))), qty)

    # New items start late; discontinued items stop early; the rest span the whole history.
    first = np.zeros(n, dtype=int)
    last = np.full(n, n_days - 1)
    kind = rng.random(n)
    is_new, is_discontinued = kind < 0.05, (kind >= 0.05) & (kind < 0.10)
    first[is_new] = rng.integers(n_days - 120, n_days - 30, is_new.sum())
    # Items stocked for a launch that have not sold yet: no history at all.
    first[(kind >= 0.10) & (kind < 0.12)] = n_days
    last[is_discontinued] = rng.integers(n_days - 240, n_days - 60, is_discontinued.sum())
    day_idx = np.arange(n_days)[None, :]
    active = (day_idx >= first[:, None]) & (day_idx <= last[:, None])

    rows_series, rows_day = np.nonzero(active)
    price = sku_price[series_sku][rows_series] * (1 - discount[rows_series, rows_day])
    raw = pd.DataFrame(
        {
            "sku": skus[series_sku[rows_series]],
            "location": locations[series_loc[rows_series]],
            "date": dates[rows_day].strftime("%Y-%m-%d"),
            "qty": qty[rows_series, rows_day].astype(int).astype(str),
            "price": np.round(price, 2).astype(str),
            "promo": np.where(promo[rows_series, rows_day], "1", "0"),
            "is_stockout": np.where(stockout[rows_series, rows_day], "1", "0"),
        }
    )
    raw = _make_dirty(raw, rng, settings.dirty_share, run_date).astype(object)
    raw = raw.where(raw.notna(), None)

    items = pd.DataFrame(
        {
            "sku": skus,
            "category": np.array(CATEGORIES)[sku_category],
            "supplier": rng.choice(SUPPLIERS, n_sku),
            "unit_cost": np.round(sku_price * rng.uniform(0.45, 0.75, n_sku), 2),
            "order_cost": rng.choice([25.0, 50.0, 80.0], n_sku),
            "holding_cost_rate": 0.25,
            "lead_time_mean_days": rng.choice([2.0, 3.0, 5.0, 7.0, 10.0, 14.0], n_sku),
            "lead_time_std_days": 0.0,
            "moq": 0.0,
            "pack_size": rng.choice([1.0, 6.0, 12.0, 24.0], n_sku, p=[0.4, 0.3, 0.2, 0.1]),
            "service_level": rng.choice([0.90, 0.95, 0.98], n_sku),
        }
    )
    items["lead_time_std_days"] = np.round(
        items["lead_time_mean_days"] * rng.uniform(0.1, 0.3, n_sku), 2
    )
    items["moq"] = items["pack_size"] * rng.integers(1, 4, n_sku)
    # A few items have no lead time on record: planning uses the configured default.
    items.loc[rng.random(n_sku) < 0.03, ["lead_time_mean_days", "lead_time_std_days"]] = np.nan

    loc_table = pd.DataFrame(
        {"location": locations, "region": [f"R{j % 3 + 1}" for j in range(n_loc)]}
    )

    live = last == n_days - 1
    has_order = rng.random(n) < 0.3
    inventory = pd.DataFrame(
        {
            "sku": skus[series_sku],
            "location": locations[series_loc],
            "snapshot_date": run_date,
            "on_hand": np.where(live, rng.poisson(level * rng.uniform(2, 25, n)), 0).astype(float),
            "on_order": np.where(has_order & live, np.ceil(level * rng.uniform(5, 15, n)), 0.0),
            "on_order_arrival": [
                run_date + dt.timedelta(days=int(d)) if o else None
                for d, o in zip(rng.integers(1, 10, n), has_order & live, strict=True)
            ],
            "backorders": np.where(rng.random(n) < 0.02, rng.integers(1, 5, n), 0).astype(float),
        }
    )
    # Events over the history and a year ahead, so forecasts see the coming holidays too.
    all_days = pd.date_range(dates[0], pd.Timestamp(run_date) + pd.Timedelta(days=365), freq="D")
    calendar = pd.DataFrame(
        [
            (d.date(), HOLIDAYS[(d.month, d.day)][0])
            for d in all_days
            if (d.month, d.day) in HOLIDAYS
        ],
        columns=["date", "event"],
    )
    open_orders, overrides = _add_planning_data(items, inventory, seed, run_date)
    return DemoData(
        raw_sales=raw,
        items=items,
        item_locations=_item_locations(items, inventory, seed),
        locations=loc_table,
        inventory=inventory,
        open_orders=open_orders,
        plan_overrides=overrides,
        calendar=calendar,
    )


def _add_planning_data(
    items: pd.DataFrame, inventory: pd.DataFrame, seed: int | list[int], run_date: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planning fields of the master (in place), open order lines and planner overrides.

    A generator of its own, so the sales and the older master fields stay as they were.
    """
    seed = np.atleast_1d(seed).tolist()
    rng = np.random.default_rng([*seed, 5])
    n_sku, n = len(items), len(inventory)
    policy = rng.choice(["sQ", "RS", "minmax"], n_sku, p=[0.5, 0.3, 0.2])
    items["review_period_days"] = np.where(
        policy == "sQ", 1.0, rng.choice([7.0, 14.0], n_sku, p=[0.8, 0.2])
    )
    items["stockout_cost"] = np.round(items["unit_cost"] * rng.uniform(0.5, 2.0, n_sku), 2)
    items["fill_rate_target"] = np.where(
        rng.random(n_sku) < 0.2, rng.choice([0.95, 0.98], n_sku), np.nan
    )
    items["policy"] = policy
    # A few items lack master data planning needs: they are reported, not planned.
    items.loc[rng.random(n_sku) < 0.01, "supplier"] = None
    # A few counts went wrong in the store system: negative on hand, quarantined by planning.
    bad_count = rng.random(n) < 0.005
    inventory.loc[bad_count, "on_hand"] = -rng.integers(1, 10, bad_count.sum()).astype(float)

    # Open purchase-order lines: the snapshot's on-order, some of it split over two deliveries.
    has_order = inventory["on_order"].to_numpy() > 0
    rows = inventory.loc[
        has_order, ["sku", "location", "on_order", "on_order_arrival"]
    ].reset_index(drop=True)
    split = rng.random(len(rows)) < 0.4
    first_qty = np.where(split, np.ceil(rows["on_order"] / 2), rows["on_order"])
    later = [
        a + dt.timedelta(days=int(k))
        for a, k in zip(rows["on_order_arrival"], rng.integers(3, 10, len(rows)), strict=True)
    ]
    later = pd.Series(later, dtype=object)
    lines = pd.concat(
        [
            rows.assign(qty=first_qty, expected_arrival=rows["on_order_arrival"]),
            rows[split].assign(
                qty=(rows["on_order"] - first_qty)[split], expected_arrival=later[split]
            ),
        ],
        ignore_index=True,
    )
    prefix = "PO" + "-".join(f"{s:02d}" for s in seed)
    lines["po_id"] = [f"{prefix}{i:06d}" for i in range(len(lines))]
    open_orders = lines[lines["qty"] > 0][["sku", "location", "po_id", "qty", "expected_arrival"]]

    # Planner overrides: a quantity, a service level and a lead time, one of them expired.
    picked = inventory.iloc[rng.choice(n, min(4, n), replace=False)]
    day = dt.timedelta(days=1)
    overrides = pd.DataFrame(
        {
            "sku": picked["sku"].to_numpy(),
            "location": picked["location"].to_numpy(),
            "override_qty": [120.0, None, None, 999.0][: len(picked)],
            "override_service_level": [None, 0.99, None, None][: len(picked)],
            "override_lead_time_days": [None, None, 21.0, None][: len(picked)],
            "reason": ["promotion next month", "key customer", "supplier strike", "old campaign"][
                : len(picked)
            ],
            "author": ["planner.a", "planner.b", "planner.a", "planner.c"][: len(picked)],
            "valid_from": [run_date - 3 * day, run_date - 10 * day, run_date, run_date - 60 * day][
                : len(picked)
            ],
            "valid_to": [run_date + 14 * day, None, run_date + 30 * day, run_date - 30 * day][
                : len(picked)
            ],
        }
    )
    return open_orders, overrides


def _item_locations(
    items: pd.DataFrame, inventory: pd.DataFrame, seed: int | list[int]
) -> pd.DataFrame:
    """Per item-location master rows for a fifth of the item-locations (nulls elsewhere).

    Stores far from the supplier wait longer (lead time x 1.3-2); some stores plan to a
    higher service level than the item's default. Fields left null take the item's value.
    """
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 6])
    picked = inventory.loc[rng.random(len(inventory)) < 0.2, ["sku", "location"]]
    merged = picked.merge(items[["sku", "lead_time_mean_days", "lead_time_std_days"]], on="sku")
    factor = rng.uniform(1.3, 2.0, len(merged))
    farther = rng.random(len(merged)) < 0.7
    local = pd.DataFrame(
        {f.name: None for f in schemas.ITEM_LOCATIONS.fields}, index=merged.index, dtype=object
    )
    local["sku"], local["location"] = merged["sku"], merged["location"]
    lead = np.round(merged["lead_time_mean_days"] * factor)
    std = np.round(merged["lead_time_std_days"] * factor, 2)
    local["lead_time_mean_days"] = lead.where(farther & lead.notna()).astype(object)
    local["lead_time_std_days"] = std.where(farther & std.notna()).astype(object)
    local["service_level"] = pd.Series(np.where(farther, np.nan, 0.98), index=merged.index).astype(
        object
    )
    return local.where(local.notna(), None).reset_index(drop=True)


def _make_dirty(
    raw: pd.DataFrame, rng: np.random.Generator, share: float, run_date: dt.date
) -> pd.DataFrame:
    """Corrupt ``share`` of the rows, an equal part of each kind in ``DIRTY_KINDS``."""
    n_bad = round(len(raw) * share)
    if n_bad == 0:
        return raw
    raw = raw.copy()
    picked = rng.choice(len(raw), n_bad, replace=False)
    groups = np.array_split(picked, len(DIRTY_KINDS))
    by_kind = dict(zip(DIRTY_KINDS, groups, strict=True))
    col = raw.columns.get_loc
    raw.iloc[by_kind["null_sku"], col("sku")] = None
    raw.iloc[by_kind["empty_location"], col("location")] = " "
    raw.iloc[by_kind["negative_qty"], col("qty")] = "-" + raw.iloc[
        by_kind["negative_qty"], col("qty")
    ].replace("0", "1")
    raw.iloc[by_kind["non_numeric_qty"], col("qty")] = "n/a"
    raw.iloc[by_kind["bad_date"], col("date")] = "2021-13-45"
    future = (run_date + dt.timedelta(days=30)).isoformat()
    raw.iloc[by_kind["future_date"], col("date")] = future
    raw.iloc[by_kind["unknown_sku"], col("sku")] = "SKU-UNKNOWN"
    duplicates = raw.iloc[by_kind["duplicate"]]
    return pd.concat([raw, duplicates], ignore_index=True)


# Series generated and written at a time: a catalogue of any size is generated with bounded
# driver memory (2,000 series of five years are about 3.7M raw rows).
CHUNK_SERIES = 2000
# Tables that do not depend on the series: written with the first chunk only.
SHARED_TABLES = ("locations", "calendar")


def run(spark: SparkSession, conf: Conf) -> dict[str, int]:
    """Generate the demo inputs for ``conf.run_date`` and overwrite the raw tables.

    Large catalogues are generated and appended in chunks of about ``CHUNK_SERIES`` series.
    """
    settings, n_loc = conf.demo, conf.demo.n_locations
    step = max(CHUNK_SERIES // n_loc, 1) * n_loc
    rows: dict[str, int] = {}
    for start in range(0, settings.n_series, step):
        chunk = settings.model_copy(update={"n_series": min(step, settings.n_series - start)})
        data = generate(chunk, conf.run_date, first_sku=start // n_loc)
        for key, count in _write(spark, conf, data, first=start == 0).items():
            rows[key] = rows.get(key, 0) + count
    return rows


def _write(spark: SparkSession, conf: Conf, data: DemoData, first: bool) -> dict[str, int]:
    no_load_cols = [f for f in schemas.RAW_SALES.fields if f.name not in ("source", "load_date")]
    raw_df = spark.createDataFrame(
        data.raw_sales, schema=schemas.T.StructType(no_load_cols)
    ).select(
        *[f.name for f in no_load_cols],
        F.lit("demo").alias("source"),
        F.lit(conf.run_date).alias("load_date"),
    )
    outputs = {"raw_sales": (raw_df, len(data.raw_sales))}
    for key, pdf, schema in (
        ("items", data.items, schemas.ITEMS),
        ("item_locations", data.item_locations, schemas.ITEM_LOCATIONS),
        ("locations", data.locations, schemas.LOCATIONS),
        ("inventory", data.inventory, schemas.INVENTORY),
        ("calendar", data.calendar, schemas.CALENDAR),
        ("open_orders", data.open_orders, schemas.OPEN_ORDERS),
        # Optional fields are None, not NaN, for Spark.
        (
            "plan_overrides",
            data.plan_overrides.astype(object).where(data.plan_overrides.notna(), None),
            schemas.PLAN_OVERRIDES,
        ),
    ):
        if first or key not in SHARED_TABLES:
            outputs[key] = (spark.createDataFrame(pdf, schema=schema), len(pdf))
    for key, (df, _) in outputs.items():
        if not first:
            delta_io.append_table(df, conf.table(key))
        else:
            # Raw sales are partitioned by load date, as later daily loads (ingest_files) add them.
            partition = "load_date" if key == "raw_sales" else None
            delta_io.overwrite_table(df, conf.table(key), partition)
    return {key: rows for key, (_, rows) in outputs.items()}
