import datetime as dt

import numpy as np
import pandas as pd

from skuplan import demo_planning

RUN_DATE = dt.date(2026, 6, 30)


def _master(n_sku=50, n_loc=4):
    items = pd.DataFrame(
        {
            "sku": [f"S{i}" for i in range(n_sku)],
            "supplier": "SUP01",
            "unit_cost": 2.0,
            "lead_time_mean_days": 5.0,
            "lead_time_std_days": 1.0,
        }
    )
    arrival = RUN_DATE + dt.timedelta(days=2)
    inventory = pd.DataFrame(
        [
            (f"S{i}", f"L{j}", 10.0, 7.0 if (i + j) % 2 else 0.0, arrival if (i + j) % 2 else None)
            for i in range(n_sku)
            for j in range(n_loc)
        ],
        columns=["sku", "location", "on_hand", "on_order", "on_order_arrival"],
    )
    return items, inventory


def test_open_orders_deliver_exactly_the_snapshot_on_order():
    items, inventory = _master()
    open_orders, _ = demo_planning.add_planning_data(items, inventory, 3, RUN_DATE)
    delivered = open_orders.groupby(["sku", "location"])["qty"].sum()
    on_order = inventory.set_index(["sku", "location"])["on_order"]
    pd.testing.assert_series_equal(
        delivered, on_order[on_order > 0].sort_index(), check_names=False
    )
    assert (open_orders["expected_arrival"] >= RUN_DATE + dt.timedelta(days=2)).all()
    assert open_orders["po_id"].is_unique and open_orders["po_id"].str.startswith("PO03").all()
    # Split lines deliver 4 + 3 of the 7 units, the later part 3 to 9 days after the first.
    assert set(open_orders["qty"]) <= {7.0, 4.0, 3.0}


def test_planning_fields_and_overrides():
    items, inventory = _master()
    _, overrides = demo_planning.add_planning_data(items, inventory, 3, RUN_DATE)
    assert set(items["policy"]) <= {"sQ", "RS", "minmax"}
    assert (items.loc[items["policy"] == "sQ", "review_period_days"] == 1.0).all()
    assert items["stockout_cost"].between(1.0, 4.0).all()  # unit cost 2 x 0.5 to 2
    assert len(overrides) == 4 and not overrides.duplicated(["sku", "location"]).any()
    expired = overrides["valid_to"].notna() & (overrides["valid_to"] < RUN_DATE)
    assert expired.sum() == 1


def test_item_locations_lengthen_lead_times_or_raise_service_level():
    items, inventory = _master()
    local = demo_planning.item_locations(items, inventory, 3)
    assert 0 < len(local) < len(inventory)
    lead = local["lead_time_mean_days"].astype(float)
    farther = lead.notna()
    assert lead[farther].between(np.round(5 * 1.3), np.round(5 * 2.0)).all()
    assert (local.loc[~farther, "service_level"] == 0.98).all()
    assert local.loc[farther, "service_level"].isna().all()
