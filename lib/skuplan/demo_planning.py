"""Planning inputs of the demo data (:mod:`skuplan.demo_data`).

The planning fields of the item master, the inventory counts gone wrong, open purchase-order
lines, planner overrides and item-location master rows. Each function draws from a generator
of its own (the demo seed plus a fixed suffix), so the sales and the older master fields stay
the same whatever is added here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from skuplan import schemas


def add_planning_data(
    items: pd.DataFrame, inventory: pd.DataFrame, seed: int | list[int], run_date: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planning fields of the master (in place), open order lines and planner overrides.

    A generator of its own, so the sales and the older master fields stay as they were.
    """
    seed = np.atleast_1d(seed).tolist()
    rng = np.random.default_rng([*seed, 5])
    _add_planning_fields(rng, items, inventory)
    open_orders = _open_orders(rng, inventory, seed, run_date)
    return open_orders, _plan_overrides(rng, inventory, run_date)


def _add_planning_fields(
    rng: np.random.Generator, items: pd.DataFrame, inventory: pd.DataFrame
) -> None:
    """Policy, review period, stockout cost and fill-rate target of the items (in place),
    a few items without a supplier and a few negative on-hand counts."""
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


def _open_orders(
    rng: np.random.Generator, inventory: pd.DataFrame, seed: list[int], run_date: dt.date
) -> pd.DataFrame:
    """Open purchase-order lines: the snapshot's on-order, some split over two deliveries,
    placed a week before the run date (before its snapshot)."""
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
    lines["order_date"] = run_date - dt.timedelta(days=7)
    columns = ["sku", "location", "po_id", "qty", "expected_arrival", "order_date"]
    return lines[lines["qty"] > 0][columns]


def _plan_overrides(
    rng: np.random.Generator, inventory: pd.DataFrame, run_date: dt.date
) -> pd.DataFrame:
    """Planner overrides: a quantity, a service level and a lead time, one of them expired."""
    n = len(inventory)
    picked = inventory.iloc[rng.choice(n, min(4, n), replace=False)]
    day = dt.timedelta(days=1)
    return pd.DataFrame(
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
            "created_at": pd.Timestamp(run_date) - pd.Timedelta(hours=12),
        }
    )


def item_locations(
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


DCS = ("DC01", "DC02")


def network(
    locations: pd.DataFrame, inventory: pd.DataFrame, level: np.ndarray, seed: int | list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two distribution centres: the location master with the network's fields (every fifth
    store is supplied directly, the others by DC01 or DC02 over a lane of 1-2 days) and the
    DCs' inventory snapshot (30-120 days of their stores' demand; one SKU in ten short, under
    3 days, so that allocation shows).

    ``inventory`` holds the stores' snapshot rows in series order and ``level`` their mean
    daily demand.
    """
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 7])
    n = len(locations)
    direct = np.arange(n) % 5 == 3
    stores = locations.assign(
        location_type="store",
        supplied_by=np.where(direct, None, np.array(DCS)[np.arange(n) % len(DCS)]),
        lane_lead_time_days=np.where(direct, np.nan, rng.choice([1.0, 2.0], n)),
        lane_lead_time_std_days=np.where(direct, np.nan, rng.choice([0.3, 0.5], n)),
    )
    dcs = pd.DataFrame({"location": DCS, "region": "R1", "location_type": "dc"})
    master = pd.concat([stores, dcs], ignore_index=True)
    master = master.astype(object).where(master.notna(), None)
    source = dict(zip(stores["location"], stores["supplied_by"], strict=True))
    served = inventory.assign(dc=inventory["location"].map(source), level=level)
    demand = served[served["dc"].notna()].groupby(["sku", "dc"], as_index=False)["level"].sum()
    # Enough for a few of its stores' lots (a demo store's lot covers 40-500 days of its demand).
    n_dc = len(demand)
    days = np.where(rng.random(n_dc) < 0.1, rng.uniform(0, 3, n_dc), rng.uniform(30, 120, n_dc))
    dc_inventory = pd.DataFrame(
        {
            "sku": demand["sku"],
            "location": demand["dc"],
            "snapshot_date": inventory["snapshot_date"].iloc[0],
            "on_hand": np.round(demand["level"] * days),
            "on_order": 0.0,
            "on_order_arrival": None,
            "backorders": 0.0,
        }
    )
    return master, dc_inventory
