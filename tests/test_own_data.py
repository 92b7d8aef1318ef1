"""Bringing one's own data, as README's walk-through does: CSV files in a folder, loaded and
run with the `skuplan` command (in this process, on the shared session)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from skuplan import command, delta_io
from skuplan.conf import load_conf
from skuplan.quality import gates

from conftest import ROOT

pytestmark = pytest.mark.slow

RUN_DATE = dt.date(2026, 6, 30)
SHOP = "validation.sources.shop.columns={sku: Item, location: Store, date: Day, qty: Units}"


def _sales(path):
    rng = np.random.default_rng(3)
    days = pd.date_range(end=RUN_DATE - dt.timedelta(days=1), periods=150)
    rows = [
        (sku, store, day.date().isoformat(), int(rng.poisson(rate)))
        for sku, rate in (("A", 6), ("B", 2))
        for store in ("S1", "S2")
        for day in days
    ]
    pd.DataFrame(rows, columns=["Item", "Store", "Day", "Units"]).to_csv(path, index=False)


def test_sales_alone_forecast_then_masters_and_inventory_make_a_plan(tmp_path, capsys, caplog):
    warehouse = tmp_path / "warehouse"
    common = [
        "--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat(),
        "--set", f"warehouse={warehouse}", "--set", SHOP,
        "--set", "forecast.models=[seasonal_naive, moving_average]",
        "--set", "plan.simulation.enabled=false",
    ]  # fmt: skip

    def skuplan(*args, code=0):
        assert command.main([args[0], *common, *args[1:]]) == code
        return capsys.readouterr()

    _sales(tmp_path / "sales.csv")
    skuplan("ingest", "--file", str(tmp_path / "sales.csv"), "--source", "shop")
    validated = skuplan("validate")
    assert "no items or locations table: taken from the sales' keys" in validated.out
    # No inventory yet: a warning that says validation does not need it.
    assert f"gate schema_inventory failed (warning only): {gates.NO_INVENTORY}" in caplog.text
    assert "4 series forecast" in skuplan("forecast").out
    # Planning needs the masters: it refuses in one line, and nothing reaches the outbox.
    refused = skuplan("plan", code=6).err
    assert "plan_replenishment: error: item master not found" in refused
    conf = load_conf(ROOT / "conf", "local", RUN_DATE, [f"warehouse={warehouse}"])
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    assert not delta_io.table_exists(spark, conf.table("erp_outbox"))

    (tmp_path / "items.csv").write_text(
        "sku,category,supplier,unit_cost,order_cost,holding_cost_rate,lead_time_mean_days,"
        "service_level,pack_size,moq\nA,food,acme,2,10,0.2,3,0.95,1,0\nB,food,acme,5,10,0.2,3,0.9,1,0\n"
    )
    (tmp_path / "stock.csv").write_text(
        "Item,Store,Date,OnHand\nA,S1,2026-06-30,4\nA,S2,2026-06-30,30\n"
        "B,S1,2026-06-30,1\nB,S2,2026-06-30,10\n"
    )
    skuplan("ingest", "--table", "items", "--file", str(tmp_path / "items.csv"))
    renames = "validation.ingest.columns={sku: Item, location: Store, snapshot_date: Date, on_hand: OnHand}"
    skuplan(
        "ingest", "--table", "inventory", "--file", str(tmp_path / "stock.csv"), "--set", renames
    )
    assert "4 plan lines" in skuplan("plan").out
    plan = delta_io.read_table(spark, conf.table("reorder_plan"))
    lines = {(r.sku, r.location): r for r in plan.filter("run_date = DATE'2026-06-30'").collect()}
    assert all(r.plan_status != "not_planned" for r in lines.values())
    assert lines[("A", "S1")].order_qty > 0  # 4 on hand against ~6 a day over a 3-day lead time
