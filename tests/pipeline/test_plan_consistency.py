"""Nothing stale or partial reaches the ERP: backfills, inventory snapshot history and
forecasts from runs that did not finish.

One small warehouse for the module, run in file order: a copy of the session's end-to-end
run of D (``conftest.END_TO_END``), then forecast D+1 before D's sales are loaded (refused),
forecast and plan D+1 (with D's sales and a second inventory snapshot), re-plan D (a
backfill), then plan D+1 on forecasts of an unrecorded run, then on a recorded one. A stale
snapshot is tested in ``tests/replenishment/test_inputs.py``.
"""

import datetime as dt

import numpy as np
import pyspark.sql.functions as F
import pytest
from delta.tables import DeltaTable

from skuplan import cli, delta_io, schemas
from skuplan.errors import InputError, UnfinishedInputError
from skuplan.pipeline import forecast, plan, run_all
from skuplan.replenishment import network

from conftest import END_TO_END, ROOT, RUN_DATE, conf_under

pytestmark = pytest.mark.slow

D, NEXT = RUN_DATE, RUN_DATE + dt.timedelta(days=1)
# The runs after the session's: two quick models, no replay.
SMALL = [
    *END_TO_END,
    "forecast.models=[seasonal_naive, moving_average]",
    "plan.simulation.enabled=false",
]


@pytest.fixture(scope="module")
def warehouse(end_to_end, tmp_path_factory):
    """A copy of the session's end-to-end run of D."""
    folder = tmp_path_factory.mktemp("plan_consistency")
    end_to_end.copy_to(folder)
    return folder


def _conf(warehouse, run_date):
    return conf_under(warehouse, *SMALL, run_date=run_date)


def _read(spark, conf, key):
    return delta_io.read_table(spark, conf.table(key))


def _outbox_version(spark, conf) -> int:
    path = conf.table("erp_outbox").path
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"]


def _append(df, conf, key) -> None:
    df.write.format("delta").mode("append").save(conf.table(key).path)


def _forecast_and_plan(spark, conf) -> plan.PlanSummary:
    """Forecast and plan as one run (as ``run_pipeline`` does, without validation)."""
    with run_all.pipeline_run(spark, conf):
        forecast.run(spark, conf)
        return plan.run(spark, conf)


def _snapshot_next_day(spark, conf_next) -> None:
    """D+1's inventory snapshot, beside D's: on-hand stock doubled plus one."""
    inventory_df = _read(spark, conf_next, "inventory").filter(F.col("snapshot_date") == D)
    later_df = inventory_df.withColumn("snapshot_date", F.lit(NEXT)).withColumn(
        "on_hand", F.col("on_hand") * 2 + 1
    )
    _append(later_df, conf_next, "inventory")


def _sales_of_d(spark, conf_next) -> None:
    """D's sales, loaded on D+1 (a week earlier's, moved on by seven days)."""
    week_before = D - dt.timedelta(days=7)
    sales_df = _read(spark, conf_next, "clean_sales").filter(F.col("date") == week_before)
    moved = {"date": F.lit(D), "load_date": F.lit(NEXT)}
    _append(sales_df.withColumns(moved), conf_next, "clean_sales")


def test_a_forecast_before_the_days_sales_are_loaded_is_refused(spark, warehouse):
    """D+1's forecast with sales only through D-1: every series would count D as a day
    without sales."""
    conf_next = _conf(warehouse, NEXT)
    before = _read(spark, conf_next, "forecasts").count()
    with pytest.raises(InputError, match=f"clean sales end on {D - dt.timedelta(days=1)}"):
        forecast.run(spark, conf_next)
    assert _read(spark, conf_next, "forecasts").count() == before


def test_plans_use_the_latest_snapshot_on_or_before_their_date(spark, warehouse):
    conf_d, conf_next = _conf(warehouse, D), _conf(warehouse, NEXT)
    _sales_of_d(spark, conf_next)
    _snapshot_next_day(spark, conf_next)
    due, kept = _schedule_reviews_off_the_grid(spark, conf_d)
    summary = _forecast_and_plan(spark, conf_next)

    plan_df = _read(spark, conf_next, "reorder_plan").filter(F.col("run_date") == NEXT)
    # 24 store lines and the two DCs' lines for the 6 SKUs of their stores.
    assert plan_df.count() == plan_df.select("sku", "location").distinct().count() == 36
    assert plan_df.filter(F.col("echelon") == "store").count() == 24
    assert summary.lines == 36
    assert {r[0] for r in plan_df.select("inventory_snapshot_date").distinct().collect()} == {NEXT}
    stock = _read(spark, conf_next, "inventory").filter(F.col("snapshot_date") == NEXT)
    planned = plan_df.filter(F.col("exception_reason").isNull())
    joined = planned.alias("p").join(stock.alias("s"), ["sku", "location"])
    assert joined.count() == planned.count() > 0
    assert joined.filter(F.col("p.on_hand") != F.col("s.on_hand")).isEmpty()
    # The reviews D's plan scheduled are kept (as after a change of review period).
    lines = {(r.sku, r.location): r for r in planned.collect()}
    assert lines[due].is_review_day
    assert lines[kept].next_review_date == NEXT + dt.timedelta(days=1)


def _schedule_reviews_off_the_grid(spark, conf_d):
    """Give two periodic store lines of D's plan a next review their period's days would not
    give: one on D+1, one on D+2 (as a previous, shorter period would have). Returns their
    keys."""
    path = conf_d.table("reorder_plan").path
    grid_day = (NEXT - conf_d.plan.review_anchor_date).days
    off_grid = (
        F.col("exception_reason").isNull()
        & (F.col("policy") != "sQ")
        & (F.col("echelon") == "store")
        & (F.col("review_period") > 2)
        & (F.pmod(F.lit(grid_day), F.col("review_period").cast("int")) != 0)
        & (F.pmod(F.lit(grid_day + 1), F.col("review_period").cast("int")) != 0)
    )
    lines = _read(spark, conf_d, "reorder_plan").filter(off_grid).orderBy("sku", "location")
    due, kept = [(r.sku, r.location) for r in lines.limit(2).collect()]
    table = DeltaTable.forPath(spark, path)
    for (sku, location), day in ((due, NEXT), (kept, NEXT + dt.timedelta(days=1))):
        table.update(
            (F.col("sku") == sku) & (F.col("location") == location) & (F.col("run_date") == D),
            {"next_review_date": F.lit(day)},
        )
    return due, kept


def test_a_backfill_plans_its_date_but_leaves_the_outbox_to_the_newer_plan(spark, warehouse):
    conf_d = _conf(warehouse, D)
    version = _outbox_version(spark, conf_d)
    outbox_before = _read(spark, conf_d, "erp_outbox").collect()

    summary = _forecast_and_plan(spark, conf_d)

    assert summary.newer_plan == NEXT
    assert "backfill" in str(summary)
    assert _outbox_version(spark, conf_d) == version
    assert sorted(_read(spark, conf_d, "erp_outbox").collect()) == sorted(outbox_before)
    # The re-planned date uses the snapshot it had, not the later one, and its own forecasts.
    plan_df = _read(spark, conf_d, "reorder_plan").filter(F.col("run_date") == D)
    assert plan_df.count() == 36
    assert {r[0] for r in plan_df.select("inventory_snapshot_date").distinct().collect()} == {D}
    forecast_ids = _read(spark, conf_d, "forecasts").filter(F.col("run_date") == D)
    assert {r[0] for r in plan_df.select("forecast_run_id").distinct().collect()} == {
        r[0] for r in forecast_ids.select("run_id").distinct().collect()
    }


def _argv(conf, folder) -> list[str]:
    sets = [*SMALL, f"warehouse={folder / 'warehouse'}"]
    argv = ["--conf", str(ROOT / "conf"), "--run-date", conf.run_date.isoformat()]
    return argv + [a for s in sets for a in ("--set", s)]


def test_forecasts_of_an_unrecorded_run_are_refused_and_a_successful_run_is_planned(
    spark, warehouse, capsys, monkeypatch
):
    import skuplan.session

    # The jobs' command line in this process, on the shared session (not a new local one).
    monkeypatch.setattr(skuplan.session, "get_session", lambda conf: spark)
    conf = _conf(warehouse, NEXT)
    forecast.run(spark, conf)  # no run record: as if killed before its end
    with pytest.raises(UnfinishedInputError, match="not recorded as a successful train_forecast"):
        plan.run(spark, conf)
    version = _outbox_version(spark, conf)
    assert cli.main("plan_replenishment", plan.run, _argv(conf, warehouse)) == 10
    assert "plan_replenishment: error: the forecasts for" in capsys.readouterr().err
    assert _outbox_version(spark, conf) == version

    assert cli.main("train_forecast", forecast.run, _argv(conf, warehouse)) == 0
    assert cli.main("plan_replenishment", plan.run, _argv(conf, warehouse)) == 0
    runs_df = _read(spark, conf, "runs")
    forecast_run = (
        runs_df.filter((F.col("job") == "train_forecast") & (F.col("status") == "success"))
        .orderBy(F.col("ended_at").desc())
        .first()["run_id"]
    )
    plan_df = _read(spark, conf, "reorder_plan").filter(F.col("run_date") == NEXT)
    assert {r[0] for r in plan_df.select("forecast_run_id").distinct().collect()} == {forecast_run}
    failed = runs_df.filter((F.col("job") == "plan_replenishment") & (F.col("exit_code") == 10))
    assert failed.count() == 1


def test_dcs_are_planned_on_their_stores_orders_and_a_short_dc_allocates(spark, warehouse):
    """The demo's stores order from DC01 and DC02 (``demo_planning.network``). DC01's stock of
    SKU00000 is cut to 30 and a planner orders 50 at LOC000 (supplied by DC01): the released
    orders it serves share the 30."""
    conf = _conf(warehouse, NEXT)
    stock = DeltaTable.forPath(spark, conf.table("inventory").path)
    at_dc01 = "sku = 'SKU00000' AND location = 'DC01' AND snapshot_date = DATE'2026-07-01'"
    stock.update(at_dc01, {"on_hand": F.lit(30.0), "backorders": F.lit(0.0)})
    override = spark.createDataFrame(
        [("SKU00000", "LOC000", 50.0, None, None, "store event", "planner.t", NEXT, None, None)],
        schemas.PLAN_OVERRIDES,
    )
    _append(override, conf, "plan_overrides")
    with run_all.pipeline_run(spark, conf):
        plan.run(spark, conf)

    lines = _read(spark, conf, "reorder_plan").filter(F.col("run_date") == NEXT).toPandas()
    lanes = network.lanes(_read(spark, conf, "locations")).toPandas().set_index("location")
    all_stores = lines[lines["echelon"] == "store"].set_index(["sku", "location"])
    stores = all_stores[all_stores["source_location"].notna()]  # supplied by a DC
    dcs = lines[lines["echelon"] == "dc"].set_index(["sku", "location"])
    # Every DC line is a SKU of the stores it supplies; a store line names its DC as supplier.
    assert set(stores.index.get_level_values("location")) == set(lanes.index)
    served = {(sku, lanes.loc[loc, "source_location"]) for sku, loc in stores.index}
    assert set(dcs.index) == served and set(dcs["supplier"]) <= {f"SUP{i:02d}" for i in range(20)}
    assert (stores["supplier"] == stores["source_location"]).all()
    assert (stores["source_location"] == [lanes.loc[loc, "source_location"] for _, loc in stores.index]).all()  # fmt: skip
    own_lead = stores["is_overridden"]
    assert (stores.loc[~own_lead, "lead_time_days"] == [lanes.loc[loc, "lane_lead_time_days"] for _, loc in stores[~own_lead].index]).all()  # fmt: skip

    # DC01 shares its 30 units of SKU00000 among the released orders it serves.
    released = stores[(stores["plan_status"] == "planned") & (stores["source_location"] == "DC01")]
    released = released.loc["SKU00000"]
    requested = released["requested_qty"].fillna(released["order_qty"])
    assert requested.loc["LOC000"] == 50.0 and released["order_qty"].sum() <= 30.0
    # Each its share in whole packs; the packs left go one each to the largest remainders.
    packs = requested * (30.0 / requested.sum()) / released["pack"]
    whole = np.floor(packs + 1e-9)
    remainder = (packs - whole).sort_index().sort_values(ascending=False, kind="stable")
    left = 30.0 - (whole * released["pack"]).sum()
    fits = released["pack"][remainder.index].cumsum() <= left + 1e-9
    whole += ((remainder > 1e-9) & fits).reindex(whole.index).astype(float)
    expected = np.minimum(whole * released["pack"], requested)
    assert np.allclose(released["order_qty"], expected)
    assert "allocated" in released.loc["LOC000", "reason"] and "DC01 is short" in released.loc["LOC000", "reason"]  # fmt: skip

    # A DC's first day of demand is what its stores order today, before allocation.
    projection = (
        _read(spark, conf, "inventory_projection")
        .filter((F.col("run_date") == NEXT) & (F.col("step") == 1))
        .toPandas()
        .set_index(["sku", "location"])
    )
    today = stores[stores["plan_status"] == "planned"]
    asked = today["requested_qty"].fillna(today["order_qty"])
    by_dc = asked.groupby([today.index.get_level_values("sku"), today["source_location"]]).sum()
    for key in dcs.index:
        assert projection.loc[key, "demand"] == pytest.approx(by_dc.get(key, 0.0))

    # Suppliers see the DCs' demand, not the stores the DCs serve; the ERP gets both.
    signal_df = _read(spark, conf, "supplier_signal").toPandas()
    direct = set(all_stores.index.get_level_values("location")) - set(lanes.index)
    assert direct and set(signal_df["location"]) == {"DC01", "DC02"} | direct
    outbox = _read(spark, conf, "erp_outbox").filter(F.col("run_date") == NEXT).toPandas()
    outbox = outbox.set_index(["sku", "location"])
    assert (outbox.loc[outbox.index.isin(stores.index), "supplier"].str.startswith("DC")).all()
    assert forecast_locations(spark, conf) == {"LOC000", "LOC001", "LOC002", "LOC003"}


def forecast_locations(spark, conf) -> set[str]:
    forecasts_df = _read(spark, conf, "forecasts").filter(F.col("run_date") == NEXT)
    return {r[0] for r in forecasts_df.select("location").distinct().collect()}
