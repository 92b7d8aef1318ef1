"""Each series' path and why, from a hand-made model_state table."""

import dataclasses
import datetime as dt
from pathlib import Path

import pyspark.sql.functions as F

from skuplan import delta_io
from skuplan.forecasting import model_files
from skuplan.pipeline import forecast_global
from skuplan.pipeline.forecast import engine_spec
from skuplan.pipeline.forecast_state import decide_paths, fingerprint
from skuplan.pipeline.io import StageTables

RUN = dt.date(2026, 6, 30)
STATE = (
    "run_date date, run_id string, sku string, location string, selected_on date, "
    "chosen_model string, recipe string, band_offsets string, status string, "
    "demand_class string, mase_scale double, backtest_mase double, settings string, "
    "path string, path_reason string"
)


def test_paths_follow_state_age_drift_and_settings(spark, make_conf):
    conf = make_conf(
        "forecast.recalibration.mode=auto", "forecast.recalibration.min_drift_periods=2"
    )
    spec, settings = engine_spec(conf.forecast), conf.forecast.recalibration
    fp, band, day = fingerprint(spec), '{"0.1": [-1.0]}', dt.timedelta(days=1)
    rows = {  # series -> (selected_on, recipe, status, backtest MASE, settings)
        "REUSED": (RUN - 3 * day, "ma=1", "ok", 0.8, fp),
        "OLD": (RUN - 7 * day, "ma=1", "ok", 0.8, fp),
        "DRIFT": (RUN - 3 * day, "ma=1", "ok", 0.8, fp),
        "FELL": (RUN - 3 * day, "ma=1", "fallback", 0.8, fp),
        "SHORT": (RUN - 3 * day, "historic_mean=1", "ok", None, fp),
        "CHANGED": (RUN - 3 * day, "ma=1", "ok", 0.8, fingerprint(dataclasses.replace(spec, horizon=7))),
    }  # fmt: skip
    state = [
        (RUN - day, "r", sku, "L1", on, "ma", recipe, band, status, "smooth", 2.0, mase, s, "full", "")
        for sku, (on, recipe, status, mase, s) in rows.items()
    ]  # fmt: skip
    # A newer state (the run date's own) is not read: point in time.
    newer = [(RUN, "r", "REUSED", "L1", RUN - 30 * day, "ma", "ma=1", band, "ok", "smooth",
              2.0, 0.8, fp, "full", "")]  # fmt: skip
    for rows_, when in ((state, RUN - day), (newer, RUN)):
        df = spark.createDataFrame(rows_, STATE)
        delta_io.replace_partition(df, conf.table("model_state"), "run_date", when)
    keys = spark.createDataFrame([(s, "L1") for s in [*rows, "NEW"]], "sku string, location string")
    scored = spark.createDataFrame(
        [(RUN - 2 * day, s, "L1", RUN - day * d, e) for s, e in (("DRIFT", 5.0), ("REUSED", 1.0))
         for d in (1, 2)],
        "forecast_run_date date, sku string, location string, date date, abs_error double",
    )  # fmt: skip
    tables = StageTables(spark, conf, "train_forecast")
    got = {r.sku: (r.path, r.path_reason) for r in decide_paths(tables, keys, settings, scored, spec).collect()}  # fmt: skip
    assert got == {
        "REUSED": ("incremental", f"selection of {RUN - 3 * day} reused"),
        "OLD": ("full", "selection 7 days old"),
        "DRIFT": ("full", "drift: realised MASE 2.50 against 0.80 in backtests"),
        "FELL": ("full", "fell back last run"),
        "SHORT": ("full", "no backtest yet"),
        "CHANGED": ("full", "settings changed"),
        "NEW": ("full", "new series"),
    }
    # The same state in incremental mode: neither age nor drift count.
    incremental = settings.model_copy(update={"mode": "incremental"})
    paths = {r.sku: r.path for r in decide_paths(tables, keys, incremental, scored, spec).collect()}
    assert paths["OLD"] == paths["DRIFT"] == "incremental"


def test_global_models_are_kept_until_their_retrain_under_the_same_settings(spark, make_conf):
    conf = make_conf("forecast.recalibration.mode=auto")  # full_every_days: 7
    day, fp = dt.timedelta(days=1), forecast_global.fingerprint(conf.forecast)
    other = forecast_global.fingerprint(conf.forecast.model_copy(update={"horizon": 7}))
    rows = [  # group, fit, trained on, settings
        ('["all"]', 0, RUN - 6 * day, fp),
        ('["all"]', 1, RUN - 7 * day, fp),  # due for its retrain
        ('["other"]', 0, RUN - 2 * day, other),  # made under another horizon
    ]
    models = spark.createDataFrame(
        [(RUN - day, "r", g, f, on, f"text {g} {f}", s) for g, f, on, s in rows],
        "run_date date, run_id string, group_key string, fit int, trained_on date, "
        "model_path string, settings string",
    )
    delta_io.replace_partition(models, conf.table("global_models"), "run_date", RUN - day)
    newer = models.limit(1).withColumn("run_date", F.lit(RUN)).withColumn("model_path", F.lit("x"))
    delta_io.replace_partition(newer, conf.table("global_models"), "run_date", RUN)
    # An older run's fits: its final fit is superseded by the newer run's, its second
    # backtest origin's is the newest there is of that fit.
    older = spark.createDataFrame(
        [(RUN - 3 * day, "r0", '["all"]', f, RUN - 3 * day, f"old {f}", fp) for f in (0, 2)],
        models.schema,
    )
    delta_io.replace_partition(older, conf.table("global_models"), "run_date", RUN - 3 * day)

    kept = forecast_global.kept_models(StageTables(spark, conf, "train_forecast"))
    assert kept == {'["all"]': {0: (RUN - 6 * day, 'text ["all"] 0'), 2: (RUN - 3 * day, "old 2")}}
    full = make_conf("forecast.recalibration.mode=full")
    assert forecast_global.kept_models(StageTables(spark, full, "train_forecast")) == {}
    # Incremental mode keeps whatever age, not what other settings made.
    incremental = make_conf("forecast.recalibration.mode=incremental")
    got = forecast_global.kept_models(StageTables(spark, incremental, "train_forecast"))
    assert {g: sorted(f) for g, f in got.items()} == {'["all"]': [0, 1, 2]}


def test_models_of_a_table_of_texts_are_not_kept(spark, make_conf):
    # global_models as written before models were files: texts, no paths; retrained.
    conf = make_conf("forecast.recalibration.mode=incremental")
    fp = forecast_global.fingerprint(conf.forecast)
    texts = spark.createDataFrame(
        [(RUN - dt.timedelta(days=1), "r", '["all"]', 0, RUN, "text", fp)],
        "run_date date, run_id string, group_key string, fit int, trained_on date, "
        "booster string, settings string",
    )
    delta_io.replace_partition(texts, conf.table("global_models"), "run_date", RUN)
    assert forecast_global.kept_models(StageTables(spark, conf, "train_forecast")) == {}


def test_global_models_past_the_window_go_with_their_folders_but_the_newest_of_each_fit(
    spark, make_conf
):
    conf = make_conf("forecast.global_models_keep_days=14")
    tables = StageTables(spark, conf, "train_forecast")
    root, fp = forecast_global.models_root(tables), forecast_global.fingerprint(conf.forecast)
    days = {n: RUN - dt.timedelta(days=n) for n in (40, 30, 20, 10, 0)}
    fits = {30: [("A", 0), ("A", 1)], 20: [("A", 0), ("A", 1)], 10: [("B", 0)], 0: [("A", 0)]}
    schema = (
        "run_date date, run_id string, group_key string, fit int, trained_on date, "
        "model_path string, settings string"
    )
    for n, keys in fits.items():
        folder = model_files.run_folder(root, days[n], f"r{n}")
        rows = [(days[n], f"r{n}", g, f, days[n], model_files.save(folder, g, f, "t"), fp) for g, f in keys]  # fmt: skip
        delta_io.replace_partition(spark.createDataFrame(rows, schema), conf.table("global_models"), "run_date", days[n])  # fmt: skip
    model_files.save(model_files.run_folder(root, days[40], "gone"), "A", 0, "t")  # no rows
    (Path(root) / "notes").mkdir()  # not a run date's folder

    forecast_global.expire(tables)
    # Before RUN - 14: day 30 is superseded by day 20 for both fits (deleted); day 20 holds
    # each fit's newest before the window (kept, as is all inside it); day 40 has no rows.
    left = {r.run_date for r in tables.read("global_models").select("run_date").collect()}
    assert left == {days[20], days[10], days[0]}
    folders = {p.name for p in Path(root).iterdir()}
    assert folders == {"notes", *(f"run_date={days[n].isoformat()}" for n in (20, 10, 0))}
    forecast_global.expire(tables)  # again: nothing more to delete
    assert tables.read("global_models").count() == 4
    # Without a window nothing goes.
    forecast_global.expire(StageTables(spark, make_conf(), "train_forecast"))
    assert tables.read("global_models").count() == 4
