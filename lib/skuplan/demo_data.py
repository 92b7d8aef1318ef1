"""Seeded demo data: raw sales, item and location master, and an inventory snapshot.

Demand per series is Poisson around a level with weekly and yearly seasonality, a trend,
promotions (a price discount with a lift), holidays, stockout spells that censor sales,
slow movers, new items with a short history and discontinued items. A configurable share of
raw rows is made dirty on purpose (null keys, bad numbers and dates, future dates, unknown
SKUs, duplicates) so validation has work to do. Everything is vectorised numpy: a thousand
series over three years take about a second.

Pure pandas: the planning inputs come from :mod:`skuplan.demo_planning`, and
:mod:`skuplan.pipeline.demo` writes the frames to the raw Delta tables. The helpers below
share one generator and :func:`generate` calls them in a fixed order: reordering the calls
changes the data a seed gives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan import demo_planning

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


def generate(
    run_date: dt.date,
    *,
    n_series: int,
    n_locations: int,
    history_days: int,
    seed: int,
    dirty_share: float,
    first_sku: int = 0,
) -> DemoData:
    """Generate demo inputs whose history ends the day before ``run_date``.

    Args:
        run_date: the day after the last day of history (and the inventory snapshot date).
        n_series: item-locations; the SKUs are ``ceil(n_series / n_locations)``.
        n_locations: locations; SKU ``i`` is stocked at every one of them.
        history_days: days of sales history.
        seed: seed of the random generators.
        dirty_share: share of the raw sales rows corrupted on purpose.
        first_sku: number of the first SKU, for a later chunk of a large catalogue
            (:func:`skuplan.pipeline.demo.run`); each chunk draws from a generator of its
            own, and the first is the same whatever the number of chunks.

    Returns:
        The raw sales (all strings, as loaded), master tables, inventory snapshot, calendar,
        open order lines and planner overrides.
    """
    seed_key = seed if first_sku == 0 else [seed, first_sku]
    rng = np.random.default_rng(seed_key)
    layout = _layout(n_series, n_locations, history_days, run_date, first_sku)
    params = _series_parameters(rng, layout.n_sku, n_series)
    sales = _daily_sales(rng, layout, params)
    first, last = _lifespans(rng, n_series, history_days)
    raw = _raw_sales(layout, params.sku_price, sales, first, last)
    raw = _make_dirty(raw, rng, dirty_share, run_date).astype(object)
    raw = raw.where(raw.notna(), None)
    items = _items(rng, layout.skus, params.sku_category, params.sku_price)
    live = last == history_days - 1
    inventory = _inventory(rng, layout, params.level, live, run_date)
    open_orders, overrides = demo_planning.add_planning_data(items, inventory, seed_key, run_date)
    item_locations = demo_planning.item_locations(items, inventory, seed_key)
    locations, dc_inventory = demo_planning.network(
        _locations(layout.locations), inventory, params.level, seed_key
    )
    # A store supplied by a DC waits for the lane, not for the supplier.
    via_dc = item_locations["location"].isin(locations.loc[locations["supplied_by"].notna(), "location"])  # fmt: skip
    item_locations.loc[via_dc, ["lead_time_mean_days", "lead_time_std_days"]] = None
    return DemoData(
        raw_sales=raw,
        items=items,
        item_locations=item_locations,
        locations=locations,
        inventory=pd.concat([inventory, dc_inventory], ignore_index=True),
        open_orders=open_orders,
        plan_overrides=overrides,
        calendar=_calendar(layout.dates, run_date),
    )


@dataclass(frozen=True)
class _Layout:
    """Who and when: SKUs, locations, the SKU and location of each series, the days."""

    skus: np.ndarray
    locations: np.ndarray
    series_sku: np.ndarray  # index into ``skus`` per series
    series_loc: np.ndarray  # index into ``locations`` per series
    dates: pd.DatetimeIndex

    @property
    def n_sku(self) -> int:
        return len(self.skus)

    @property
    def n_series(self) -> int:
        return len(self.series_sku)

    @property
    def n_days(self) -> int:
        return len(self.dates)


def _layout(
    n_series: int, n_locations: int, history_days: int, run_date: dt.date, first_sku: int
) -> _Layout:
    n_sku = -(-n_series // n_locations)
    dates = pd.date_range(
        end=pd.Timestamp(run_date) - pd.Timedelta(days=1), periods=history_days, freq="D"
    )
    return _Layout(
        skus=np.array([f"SKU{i:05d}" for i in range(first_sku, first_sku + n_sku)]),
        locations=np.array([f"LOC{j:03d}" for j in range(n_locations)]),
        series_sku=np.arange(n_series) // n_locations,
        series_loc=np.arange(n_series) % n_locations,
        dates=dates,
    )


@dataclass(frozen=True)
class _SeriesParameters:
    """Per-item (``sku_*``, ``weekday_profile`` per category) and per-series parameters."""

    sku_category: np.ndarray
    sku_price: np.ndarray
    level: np.ndarray
    weekday_profile: np.ndarray  # (category, weekday) multipliers
    yearly_amp: np.ndarray
    yearly_phase: np.ndarray
    trend_per_year: np.ndarray
    elasticity: np.ndarray


def _series_parameters(rng: np.random.Generator, n_sku: int, n: int) -> _SeriesParameters:
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
    return _SeriesParameters(
        sku_category, sku_price, level, weekday_profile, yearly_amp, yearly_phase,
        trend_per_year, elasticity,
    )  # fmt: skip


def _seasonality(
    layout: _Layout, params: _SeriesParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series, day) weekly x yearly seasonality, trend, and the (1, day) holiday multiplier."""
    dates = layout.dates
    t_years = (np.arange(layout.n_days) / 365.25)[None, :]
    day_of_year = dates.dayofyear.to_numpy()[None, :]
    weekday = dates.dayofweek.to_numpy()
    seasonal = params.weekday_profile[params.sku_category[layout.series_sku]][:, weekday]
    seasonal = seasonal * (
        1
        + params.yearly_amp[:, None]
        * np.sin(2 * np.pi * day_of_year / 365.25 + params.yearly_phase[:, None])
    )
    trend = np.clip(1 + params.trend_per_year[:, None] * (t_years - t_years[0, -1]), 0.2, None)
    holiday = np.array([HOLIDAYS.get((d.month, d.day), ("", 1.0))[1] for d in dates])[None, :]
    return seasonal, trend, holiday


@dataclass(frozen=True)
class _DailySales:
    """(series, day) arrays: units sold, promotion days, their discount, stockout days."""

    qty: np.ndarray
    promo: np.ndarray
    discount: np.ndarray
    stockout: np.ndarray


def _daily_sales(
    rng: np.random.Generator, layout: _Layout, params: _SeriesParameters
) -> _DailySales:
    """Poisson sales around the seasonal mean, lifted by promotions, censored by stockouts."""
    shape = (layout.n_series, layout.n_days)
    seasonal, trend, holiday = _seasonality(layout, params)
    promo = _spells(rng, shape, 1 / 45, 7)
    discount = np.where(promo, rng.choice([0.1, 0.2, 0.3], shape), 0.0)
    lift = (1 - discount) ** (-params.elasticity[:, None])
    mean = params.level[:, None] * seasonal * trend * holiday * lift
    qty = rng.poisson(mean).astype(float)

    stockout = _spells(rng, shape, 1 / 150, 4) & (mean > 0.5)
    qty = np.where(stockout, np.floor(qty * rng.uniform(0, 0.3, shape)), qty)
    return _DailySales(qty=qty, promo=promo, discount=discount, stockout=stockout)


def _lifespans(rng: np.random.Generator, n: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last day index of each series' sales.

    New items start late; discontinued items stop early; the rest span the whole history.
    """
    first = np.zeros(n, dtype=int)
    last = np.full(n, n_days - 1)
    kind = rng.random(n)
    is_new, is_discontinued = kind < 0.05, (kind >= 0.05) & (kind < 0.10)
    first[is_new] = rng.integers(n_days - 120, n_days - 30, is_new.sum())
    # Items stocked for a launch that have not sold yet: no history at all.
    first[(kind >= 0.10) & (kind < 0.12)] = n_days
    last[is_discontinued] = rng.integers(n_days - 240, n_days - 60, is_discontinued.sum())
    return first, last


def _raw_sales(
    layout: _Layout,
    sku_price: np.ndarray,
    sales: _DailySales,
    first: np.ndarray,
    last: np.ndarray,
) -> pd.DataFrame:
    """One row of strings per series and active day, as a point-of-sale export has them."""
    day_idx = np.arange(layout.n_days)[None, :]
    active = (day_idx >= first[:, None]) & (day_idx <= last[:, None])
    rows_series, rows_day = np.nonzero(active)
    price = sku_price[layout.series_sku][rows_series] * (1 - sales.discount[rows_series, rows_day])
    return pd.DataFrame(
        {
            "sku": layout.skus[layout.series_sku[rows_series]],
            "location": layout.locations[layout.series_loc[rows_series]],
            "date": layout.dates[rows_day].strftime("%Y-%m-%d"),
            "qty": sales.qty[rows_series, rows_day].astype(int).astype(str),
            "price": np.round(price, 2).astype(str),
            "promo": np.where(sales.promo[rows_series, rows_day], "1", "0"),
            "is_stockout": np.where(sales.stockout[rows_series, rows_day], "1", "0"),
        }
    )


def _items(
    rng: np.random.Generator, skus: np.ndarray, sku_category: np.ndarray, sku_price: np.ndarray
) -> pd.DataFrame:
    """The item master: category, supplier, costs, lead time, order sizes, service level."""
    n_sku = len(skus)
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
    return items


def _locations(locations: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"location": locations, "region": [f"R{j % 3 + 1}" for j in range(len(locations))]}
    )


def _inventory(
    rng: np.random.Generator,
    layout: _Layout,
    level: np.ndarray,
    live: np.ndarray,
    run_date: dt.date,
) -> pd.DataFrame:
    """The snapshot on ``run_date``: stock and orders for the series still selling (``live``)."""
    n = layout.n_series
    has_order = rng.random(n) < 0.3
    return pd.DataFrame(
        {
            "sku": layout.skus[layout.series_sku],
            "location": layout.locations[layout.series_loc],
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


def _calendar(dates: pd.DatetimeIndex, run_date: dt.date) -> pd.DataFrame:
    """Events over the history and a year ahead, so forecasts see the coming holidays too;
    the stores are closed on a holiday whose demand multiplier is 0 (Christmas)."""
    all_days = pd.date_range(dates[0], pd.Timestamp(run_date) + pd.Timedelta(days=365), freq="D")
    events = [
        (d.date(), HOLIDAYS[(d.month, d.day)]) for d in all_days if (d.month, d.day) in HOLIDAYS
    ]
    return pd.DataFrame(
        [(day, name, multiplier == 0) for day, (name, multiplier) in events],
        columns=["date", "event", "closed"],
    )


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
