"""Nothing stale or partial reaches the ERP: backfills, inventory snapshot history and
forecasts from runs that did not finish.

One small warehouse for the module, run in file order: forecast and plan D, then D+1 (with
a second inventory snapshot), re-plan D (a backfill), then plan D+1 on forecasts of an
unrecorded run, then on a recorded one. A stale snapshot is tested in
``tests/replenishment/test_inputs.py``.
"""

import datetime as dt

import pyspark.sql.functions as F
import pytest

from skuplan import cli, delta_io
from skuplan.errors import UnfinishedInputError
from skuplan.pipeline import demo, forecast, plan, run_all, validate

from conftest import ROOT, RUN_DATE, conf_under

pytestmark = pytest.mark.slow

D, NEXT = RUN_DATE, RUN_DATE + dt.timedelta(days=1)
SMALL = [
    "demo.n_series=20",
    "demo.n_locations=4",
    "demo.history_days=120",
    "demo.dirty_share=0",
    "forecast.horizon=14",
    "forecast.models=[seasonal_naive, moving_average]",
    "plan.simulation.enabled=false",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return tmp_path_factory.mktemp("plan_consistency")


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


def test_plans_use_the_latest_snapshot_on_or_before_their_date(spark, warehouse):
    conf_d, conf_next = _conf(warehouse, D), _conf(warehouse, NEXT)
    demo.run(spark, conf_d)
    validate.run(spark, conf_d)
    _forecast_and_plan(spark, conf_d)
    _snapshot_next_day(spark, conf_next)
    summary = _forecast_and_plan(spark, conf_next)

    plan_df = _read(spark, conf_next, "reorder_plan").filter(F.col("run_date") == NEXT)
    assert plan_df.count() == plan_df.select("sku", "location").distinct().count() == 20
    assert summary.lines == 20
    assert {r[0] for r in plan_df.select("inventory_snapshot_date").distinct().collect()} == {NEXT}
    stock = _read(spark, conf_next, "inventory").filter(F.col("snapshot_date") == NEXT)
    planned = plan_df.filter(F.col("exception_reason").isNull())
    joined = planned.alias("p").join(stock.alias("s"), ["sku", "location"])
    assert joined.count() == planned.count() > 0
    assert joined.filter(F.col("p.on_hand") != F.col("s.on_hand")).isEmpty()


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
    assert plan_df.count() == 20
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
