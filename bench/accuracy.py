"""Held-out accuracy on real data: the selected forecasts against seasonal naive and Prophet alone.

Runs the real jobs (validate_sales, train_forecast) on local Spark over public datasets in
``../shared/data`` (skipped with a message when absent) and scores the forecasts on the
held-out tail:

- store_item: Kaggle store-item demand, 500 daily series, the last 90 days of 2017 held out;
- walmart: Kaggle Walmart store x department weekly sales, the last 13 weeks held out
  (a seeded sample of series, ``--walmart-series``);
- carparts: monthly car-parts demand (intermittent), the last 12 months held out;
- m5: 280 M5 item x store series (daily), the last 28 days held out, with the sell price,
  food-stamp days per state and event types as drivers and department, category and state
  as attributes of one global model.

Each dataset reports the final forecast, every single candidate (from the
``candidate_forecasts`` table: its forecast refitted on the whole history), a moving
average (28 days, 13 weeks or 12 months), the last value (naive) and seasonal naive: RMSSE
(M5's scaling) as a ratio to seasonal naive's, WAPE, MASE and the P10-P90 coverage of the
final forecast.

With ``--peer`` (store_item only), the same run also times the widely copied pattern
"Prophet per store-item via applyInPandas" (multiplicative weekly and yearly seasonality, a
95% interval, the 90-day horizon, predicting the history as well, 1,000 uncertainty samples)
on the same clean sales, read from and written to Delta as the job does.

With ``--hierarchy LEVELS`` (the ``forecast.hierarchy.levels`` mapping in YAML, e.g.
``"{store: [location], dept_store: [department, location]}"``) the final run also forecasts
and reconciles those levels (``--hierarchy-method``, by default the job's), and each level
is scored on the held-out tail, its own forecasts against the reconciled ones (mean RMSSE
over its nodes); the series' reconciled forecasts are scored as ``final, reconciled``.

Usage (from the project root)::

    .venv/bin/python bench/accuracy.py [--datasets store_item,walmart,carparts] [--peer]
        [--no-prophet-alone] [--out FILE] [--validation] [--hierarchy LEVELS]

Prints a table; ``--out`` also writes it as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "lib"))

from skuplan import delta_io  # noqa: E402
from skuplan.conf import load_conf  # noqa: E402
from skuplan.forecasting.hierarchy import node_label  # noqa: E402
from skuplan.models import baseline  # noqa: E402
from skuplan.pipeline import forecast, validate  # noqa: E402
from skuplan.report.data import hierarchy_levels  # noqa: E402
from skuplan.session import get_session  # noqa: E402


def load_store_item(max_items: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Kaggle store-item demand; ``max_items`` keeps items 1..N of every store (smoke runs)."""
    with zipfile.ZipFile(DATA / "store_item_demand" / "demand-forecasting-kernels-only.zip") as z:
        raw = pd.read_csv(z.open("train.csv"), parse_dates=["date"])
    if max_items is not None:
        raw = raw[raw["item"] <= max_items]
    sales = pd.DataFrame(
        {"sku": "item" + raw["item"].astype(str), "location": "store" + raw["store"].astype(str),
         "date": raw["date"], "qty": raw["sales"].astype(float)}
    )  # fmt: skip
    run_date = dt.date(2017, 12, 31) - dt.timedelta(days=89)
    return sales, {"run_date": run_date, "freq": "D", "horizon": 90, "season_length": 7}


def load_walmart(n_series: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    with zipfile.ZipFile(DATA / "walmart_recruiting" / "train.csv.zip") as z:
        raw = pd.read_csv(z.open("train.csv"), parse_dates=["Date"])
    sales = pd.DataFrame(
        {"sku": "dept" + raw["Dept"].astype(str), "location": "store" + raw["Store"].astype(str),
         "date": raw["Date"], "qty": raw["Weekly_Sales"].astype(float)}
    )  # fmt: skip
    dates = np.sort(sales["date"].unique())
    run_date = pd.Timestamp(dates[-13]).date()
    # Series with sales in every held-out week, so every model is scored on the same weeks.
    full = sales[sales["date"] >= pd.Timestamp(run_date)].groupby(["sku", "location"]).size()
    keys = full[full == 13].index.to_frame(index=False).sample(n=n_series, random_state=seed)
    sales = sales.merge(keys, on=["sku", "location"])
    # The stores' weekly markdowns and holiday weeks are known ahead (the competition gave them
    # for its test weeks too): a driver table keyed by store, the store type an attribute.
    features = pd.read_csv(DATA / "walmart_recruiting" / "features.csv", parse_dates=["Date"])
    markdowns = [f"MarkDown{i}" for i in range(1, 6)]
    week_drivers = pd.DataFrame(
        {"location": "store" + features["Store"].astype(str), "date": features["Date"],
         **{m.lower(): features[m].fillna(0.0) for m in markdowns},
         "holiday": features["IsHoliday"].astype(float)}
    )  # fmt: skip
    stores = pd.read_csv(DATA / "walmart_recruiting" / "stores.csv", lineterminator="\r")
    tables = {
        "locations": pd.DataFrame(
            {"location": "store" + stores["Store"].astype(str), "store_type": stores["Type"]}
        ),
        "store_weeks": week_drivers,
    }
    drivers = {"price": "last", "promo": "zero", "holiday": "zero",
               **{m.lower(): "zero" for m in markdowns}}  # fmt: skip
    overrides = [
        "forecast.drivers=" + json.dumps(drivers),
        "forecast.driver_tables=[{table: store_weeks, keys: [location]}]",
        "tables.store_weeks={path: raw/store_weeks}",
        "forecast.attributes=[store_type]", "forecast.global_group_by=all",
    ]  # fmt: skip
    # Eight origins four weeks apart: 3 folds of a 13-week horizon give 39 errors per series,
    # too few for a band that holds over a quarter of weekly retail sales.
    return sales, {"run_date": run_date, "freq": "W-FRI", "horizon": 13, "season_length": 52,
                   "folds": 8, "tables": tables, "overrides": overrides}  # fmt: skip


def load_carparts() -> tuple[pd.DataFrame, dict]:
    wide = pd.read_csv(DATA / "carparts" / "carparts_wide.csv")
    long = wide.melt(id_vars="month", var_name="sku", value_name="qty").dropna(subset=["qty"])
    sales = pd.DataFrame(
        {"sku": "part" + long["sku"].astype(str), "location": "all",
         "date": pd.to_datetime(long["month"] + "-01"), "qty": long["qty"].astype(float)}
    )  # fmt: skip
    run_date = (pd.Timestamp(sales["date"].max()) - pd.DateOffset(months=11)).date()
    return sales, {"run_date": run_date, "freq": "MS", "horizon": 12, "season_length": 12}


M5_EVENTS = ("Sporting", "Cultural", "National", "Religious")


def load_m5() -> tuple[pd.DataFrame, dict]:
    """The M5 subset with its drivers (price with the sales; food-stamp days per state and
    event types as driver tables) and its attributes, the last 28 days held out."""
    raw = pd.read_csv(DATA / "m5_subset" / "m5_subset.csv.gz", parse_dates=["date"])
    sales = pd.DataFrame(
        {"sku": raw["item_id"], "location": raw["store_id"], "date": raw["date"],
         "qty": raw["sales"].astype(float), "price": raw["sell_price"]}
    )  # fmt: skip
    run_date = (raw["date"].max() - pd.Timedelta(days=27)).date()
    days = raw.drop_duplicates(["state_id", "date"])
    events = days.drop_duplicates("date")[["date"]].assign(
        **{f"event_{e.lower()}": ((days.drop_duplicates("date")[["event_type_1", "event_type_2"]] == e).any(axis=1)).astype(float)
           for e in M5_EVENTS}
    )  # fmt: skip
    drivers = {"price": "last", "promo": "zero", "snap": "zero",
               **{f"event_{e.lower()}": "zero" for e in M5_EVENTS}}  # fmt: skip
    tables = {
        "items": raw.drop_duplicates("item_id")[["item_id", "cat_id", "dept_id"]].set_axis(
            ["sku", "category", "department"], axis=1
        ),
        "locations": raw.drop_duplicates("store_id")[["store_id", "state_id"]].set_axis(
            ["location", "region"], axis=1
        ),
        "state_days": days[["state_id", "date", "snap"]].set_axis(
            ["region", "date", "snap"], axis=1
        ),
        "events": events,
        # The stores are closed on Christmas (the subset sells 1-8 units a day then).
        "calendar": raw.loc[raw["date"].dt.strftime("%m-%d") == "12-25", ["date"]]
        .drop_duplicates()
        .assign(event="Christmas", closed=True),
    }
    overrides = [
        "forecast.drivers=" + json.dumps(drivers),
        "forecast.driver_tables=[{table: state_days, keys: [region]}, {table: events, keys: []}]",
        "tables.state_days={path: raw/state_days}", "tables.events={path: raw/events}",
        "forecast.attributes=[department, category, region]", "forecast.global_group_by=all",
    ]  # fmt: skip
    return sales, {"run_date": run_date, "freq": "D", "horizon": 28, "season_length": 7,
                   "tables": tables, "overrides": overrides}  # fmt: skip


DATASETS = {
    "store_item": (load_store_item, "seasonal_naive,moving_average,lightgbm_global,prophet"),
    "walmart": (None, "seasonal_naive,moving_average,lightgbm_global,prophet"),
    "carparts": (load_carparts, "seasonal_naive,moving_average,croston,sba,tsb,lightgbm_global"),
    "m5": (load_m5, "seasonal_naive,moving_average,croston,sba,tsb,lightgbm_global"),
}


def write_inputs(spark, conf, train: pd.DataFrame, tables: dict | None = None) -> None:
    price = (
        train["price"].map(repr).where(train["price"].notna(), None) if "price" in train else None
    )
    raw = train.assign(
        date=train["date"].dt.strftime("%Y-%m-%d"),
        qty=train["qty"].map(repr),
        price=price,
        promo="0",
        is_stockout="0",
    )
    from skuplan import schemas

    cols = [f.name for f in schemas.RAW_SALES.fields if f.name not in ("source", "load_date")]
    import pyspark.sql.functions as F

    raw_df = spark.createDataFrame(raw[cols].astype(object).where(raw[cols].notna(), None), schemas.T.StructType(
        [f for f in schemas.RAW_SALES.fields if f.name in cols]
    )).select(*cols, F.lit("bench").alias("source"), F.lit(conf.run_date).alias("load_date"))  # fmt: skip
    delta_io.overwrite_table(raw_df, conf.table("raw_sales"))
    keys = train[["sku", "location"]].drop_duplicates()
    masters = {
        "items": (pd.DataFrame({"sku": keys["sku"].unique(), "category": "all"}), schemas.ITEMS),
        "locations": (keys[["location"]].drop_duplicates(), schemas.LOCATIONS),
        "inventory": (
            keys.assign(snapshot_date=conf.run_date, on_hand=0.0, on_order=0.0, backorders=0.0),
            schemas.INVENTORY,
        ),
    }
    for key, (pdf, schema) in masters.items():
        full = pdf.reindex(columns=schema.fieldNames()).astype(object)
        full = full.where(full.notna(), None)
        df = spark.createDataFrame(full, schema)
        extra = (tables or {}).get(key)
        if extra is not None:  # master attributes beyond the contract's
            df = df.drop(*[c for c in extra.columns if c not in ("sku", "location")]).join(
                spark.createDataFrame(extra), [c for c in ("sku", "location") if c in extra], "left"
            )
        delta_io.overwrite_table(df, conf.table(key))
    for key, pdf in (tables or {}).items():  # driver tables
        if key not in masters:
            df = spark.createDataFrame(pdf.assign(date=pd.to_datetime(pdf["date"]).dt.date))
            delta_io.overwrite_table(df, conf.table(key))


def score(fc: pd.DataFrame, actual: pd.DataFrame, train: pd.DataFrame, m: int) -> dict[str, float]:
    """WAPE over all series-periods, mean and median per-series MASE, mean per-series RMSSE
    (M5's scaling: squared one-period changes from the first sale on), P10-P90 coverage and
    the share of actuals below the P10 and above the P90."""
    joined = fc.merge(actual, on=["sku", "location", "date"], how="inner")
    err = (joined["qty"] - joined["yhat"]).abs()

    def rmsse_scale(q: pd.Series) -> float:
        y = q.to_numpy()
        sold = np.flatnonzero(y > 0)
        return float(np.mean(np.diff(y[sold[0] :]) ** 2)) if len(sold) > 1 else np.nan

    def seasonal_naive_mae(q: pd.Series) -> float:
        y = q.to_numpy()
        return float(np.mean(np.abs(y[m:] - y[:-m]))) if len(y) > m else np.nan

    scale = train.sort_values("date").groupby(["sku", "location"])["qty"].apply(seasonal_naive_mae)
    per_series = joined.assign(err=err).groupby(["sku", "location"])["err"].mean() / scale
    per_series = per_series.replace([np.inf, -np.inf], np.nan)
    squared = train.sort_values("date").groupby(["sku", "location"])["qty"]
    scale_rmsse = squared.apply(rmsse_scale)
    mse = joined.assign(e2=err**2).groupby(["sku", "location"])["e2"].mean()
    rmsse = np.sqrt(mse / scale_rmsse).replace([np.inf, -np.inf], np.nan)
    result = {
        "rmsse": float(rmsse.mean()),
        "wape": float(err.sum() / joined["qty"].abs().sum()),
        "mase_mean": float(per_series.mean()),
        "mase_median": float(per_series.median()),
        "rows": len(joined),
    }
    if "q10" in joined:
        below, above = joined["qty"] < joined["q10"], joined["qty"] > joined["q90"]
        result["coverage_p10_p90"] = float((~below & ~above).mean())
        # Each side's misses (10% each for a calibrated band of continuous demand) and the
        # rows inside only because both the actual and the P10 are 0: with counts, a band
        # whose P10 is 0 (more than 10% chance of no sale) covers every zero, so a calibrated
        # band of intermittent demand covers more than 80%.
        result["below_p10"], result["above_p90"] = float(below.mean()), float(above.mean())
        result["zero_at_p10"] = float(((joined["qty"] == 0) & (joined["q10"] <= 0)).mean())
    return result


def seasonal_naive_forecasts(
    train: pd.DataFrame, horizon: int, m: int, dates: pd.DatetimeIndex
) -> pd.DataFrame:
    rows = []
    for (sku, loc), g in train.sort_values("date").groupby(["sku", "location"]):
        y = g["qty"].to_numpy()
        yhat = (
            baseline.seasonal_naive(y, horizon, m)
            if len(y) >= m
            else baseline.historic_mean(y, horizon)
        )
        rows.append(pd.DataFrame({"sku": sku, "location": loc, "date": dates, "yhat": yhat}))
    return pd.concat(rows, ignore_index=True)


PEER = "peer: Prophet per series"


def peer_prophet(history: pd.DataFrame) -> pd.DataFrame:
    """The peer pattern's per-series function, as it is usually written."""
    from prophet import Prophet

    model = Prophet(
        interval_width=0.95,
        growth="linear",
        daily_seasonality=False,
        weekly_seasonality=True,
        yearly_seasonality=True,
        seasonality_mode="multiplicative",
    )
    model.fit(history.rename(columns={"date": "ds", "qty": "y"})[["ds", "y"]])
    future = model.make_future_dataframe(periods=90, freq="d", include_history=True)
    fc = model.predict(future)[["ds", "yhat", "yhat_lower", "yhat_upper"]]
    return fc.assign(sku=history["sku"].iloc[0], location=history["location"].iloc[0])


def run_peer(spark, conf, out: Path) -> tuple[pd.DataFrame, float]:
    """Peer pattern over the clean sales: repartition by series, applyInPandas, Delta out.

    Returns the held-out forecasts and the seconds of the job itself (reading its output
    back for scoring is left out, as it is for the forecast job).
    """
    started = time.perf_counter()
    history = delta_io.read_table(spark, conf.table("clean_sales"))
    history = history.filter(history.date < conf.run_date).select("sku", "location", "date", "qty")
    schema = "ds timestamp, yhat double, yhat_lower double, yhat_upper double, sku string, location string"
    parallelism = spark.sparkContext.defaultParallelism
    result = history.repartition(parallelism, "sku", "location").groupBy("sku", "location")
    result.applyInPandas(peer_prophet, schema).write.format("delta").save(str(out))
    seconds = time.perf_counter() - started
    fc = spark.read.format("delta").load(str(out)).toPandas()
    fc = fc[fc["ds"] >= pd.Timestamp(conf.run_date)]
    return fc.assign(date=fc["ds"].dt.date)[["sku", "location", "date", "yhat"]], seconds


def run_dataset(
    name: str,
    sales: pd.DataFrame,
    spec: dict,
    models: str,
    work: Path,
    prophet_alone: bool = True,
    peer: bool = False,
    hierarchy: tuple[str, str] | None = None,
    sets: list[str] = (),
) -> list[dict]:
    run_date, freq = spec["run_date"], spec["freq"]
    train = sales[sales["date"] < pd.Timestamp(run_date)]
    actual = sales[sales["date"] >= pd.Timestamp(run_date)].assign(date=lambda d: d["date"].dt.date)
    dates = pd.date_range(pd.Timestamp(run_date), periods=spec["horizon"], freq=freq)
    rows = []
    runs = (("final", models, spec.get("folds", 3)), ("prophet alone", "prophet", 1))
    for label, model_list, folds in runs:
        if label == "prophet alone" and ("prophet" not in models or not prophet_alone):
            continue
        overrides = [
            f"warehouse={work / name / label.replace(' ', '_')}", "spark.master=local[2]",
            "spark.options.spark.sql.shuffle.partitions=8",
            # The raw tables are written from pandas through the driver: 1 GB is too little
            # for store-item's 900,000 rows.
            "spark.options.spark.driver.memory=6g",
            f"forecast.freq={freq}", f"forecast.horizon={spec['horizon']}",
            f"forecast.season_length={spec['season_length']}", f"forecast.models=[{model_list}]",
            f"forecast.backtest.folds={folds}", "forecast.backtest.step=" + ("7" if freq == "D" else "4" if freq.startswith("W") else "3"),
            "forecast.min_history=" + ("28" if freq == "D" else "14" if freq.startswith("W") else "12"),
            "forecast.max_failure_share=1.0", "forecast.global_group_by=location",
            "validation.allow_returns=true", "validation.max_quarantine_share=1.0",
            # Gap filling is daily and the freshness gate counts days: fit both to the data.
            "validation.impute_missing_dates=false", "validation.max_staleness_days=62",
            *spec.get("overrides", []),
            *sets,
        ]  # fmt: skip
        if hierarchy and label == "final":
            overrides.append(f"forecast.hierarchy.levels={hierarchy[0]}")
            if hierarchy[1]:
                overrides.append(f"forecast.hierarchy.method={hierarchy[1]}")
        conf = load_conf(ROOT / "conf", "local", run_date, overrides)
        spark = get_session(conf)
        write_inputs(spark, conf, train, spec.get("tables"))
        started = time.perf_counter()
        validate.run(spark, conf)
        validated = time.perf_counter()
        summary = forecast.run(spark, conf)
        seconds = time.perf_counter() - validated
        fc = (
            delta_io.read_table(spark, conf.table("forecasts"))
            .select("sku", "location", "date", "yhat", "q10", "q90")
            .toPandas()
        )
        rows.append({"dataset": name, "forecast": label, **score(fc, actual, train, spec["season_length"]),
                     "validate_s": round(validated - started, 1), "seconds": round(seconds, 1),
                     "models_chosen": summary.models})  # fmt: skip
        if label == "final":
            rows += candidate_rows(spark, conf, name, actual, train, spec["season_length"])
        if hierarchy and label == "final":
            rows += hierarchy_rows(spark, conf, name, sales, run_date, spec)
        if peer and label == "final":
            fc, seconds = run_peer(spark, conf, work / name / "peer")
            rows.append({"dataset": name, "forecast": PEER, **score(fc, actual, train, spec["season_length"]),
                         "seconds": round(seconds, 1)})  # fmt: skip
    rows += baseline_rows(name, train, actual, spec, dates)
    naive = next(r["rmsse"] for r in rows if r["forecast"] == "seasonal naive")
    return [{**r, "rmsse_ratio": r["rmsse"] / naive} if "rmsse" in r else r for r in rows]


def baseline_rows(name, train, actual, spec, dates) -> list[dict]:
    """Seasonal naive, a moving average (28 days, 13 weeks or 12 months) and the last value
    (naive), scored like the job's forecasts."""
    window = {"D": 28, "W": 13}.get(spec["freq"][0], 12)
    baselines = {
        "seasonal naive": seasonal_naive_forecasts(train, spec["horizon"], spec["season_length"], dates),
        f"moving average ({window})": moving_average_forecasts(train, window, dates),
        "naive (last value)": moving_average_forecasts(train, 1, dates),
    }  # fmt: skip
    rows = []
    for label, fc in baselines.items():
        fc["date"] = fc["date"].dt.date
        rows.append(
            {"dataset": name, "forecast": label, **score(fc, actual, train, spec["season_length"])}
        )
    return rows


def candidate_rows(spark, conf, name, actual, train, m) -> list[dict]:
    """Every single candidate's score (its forecast refitted on the whole history)."""
    ref = conf.table("candidate_forecasts")
    if not delta_io.table_exists(spark, ref):
        return []
    candidates = delta_io.read_table(spark, ref).select("sku", "location", "model", "date", "yhat")
    pdf = candidates.toPandas()
    return [
        {"dataset": name, "forecast": f"candidate: {model}", **score(fc, actual, train, m)}
        for model, fc in pdf.groupby("model")
    ]


def hierarchy_rows(spark, conf, name, sales, run_date, spec) -> list[dict]:
    """Each level's own, bottom-up and reconciled forecasts on the held-out tail (mean RMSSE
    over its nodes, M5's scaling), and the series' reconciled forecasts scored like the
    others (the final row is their own)."""
    nodes = delta_io.read_table(spark, conf.table("hierarchy_forecasts")).toPandas()
    nodes["date"] = pd.to_datetime(nodes["date"])
    tables = spec.get("tables") or {}
    attributed = sales
    for key, table in (("sku", tables.get("items")), ("location", tables.get("locations"))):
        if table is not None:
            attributed = attributed.merge(table, on=key, how="left")
    series = nodes[nodes["level"] == "series"]
    parts = series["node"].str.extract(r"^sku=(?P<sku>.*)/location=(?P<location>.*)$")
    rec = pd.concat([parts, series[["date", "yhat", "yhat_base", "q10", "q90"]]], axis=1)
    members = attributed.drop_duplicates(["sku", "location"]).drop(columns=["date", "qty"])
    bottom = rec.merge(members, on=["sku", "location"])
    rows = []
    for level, keys in conf.forecast.hierarchy.levels.items():
        keys = list(keys)
        by = [*keys, "date"]
        summed = attributed.groupby(by)["qty"].sum().reset_index()
        summed["node"] = _labels(summed, keys)
        up = bottom.groupby(by)["yhat_base"].sum().rename("yhat_bottom_up").reset_index()
        up["node"] = _labels(up, keys)
        level_fc = nodes[nodes["level"] == level].merge(up[["node", "date", "yhat_bottom_up"]])
        rows.append({"dataset": name, "forecast": f"level {level}",
                     **_level_scores(level_fc, summed, run_date)})  # fmt: skip
    backtest = hierarchy_levels(delta_io.read_table(spark, conf.table("hierarchy_metrics")))
    for r in backtest.collect():
        rows.append({"dataset": name, "forecast": f"backtest {r['level']}, {r['method']}",
                     "nodes": r["nodes"], "rmsse_own": r["rmsse_base"],
                     "rmsse_reconciled": r["rmsse"]})  # fmt: skip
    rec["date"] = rec["date"].dt.date
    train = sales[sales["date"] < pd.Timestamp(run_date)]
    actual = sales[sales["date"] >= pd.Timestamp(run_date)].assign(date=lambda d: d["date"].dt.date)
    rows.append({"dataset": name, "forecast": "final, reconciled",
                 **score(rec, actual, train, spec["season_length"])})  # fmt: skip
    return rows


def _labels(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Each row's node name (as the job writes it) from its ``keys`` columns."""
    if not keys:  # the total: a frame without columns has no rows to iterate
        return [node_label([], [])] * len(frame)
    return [node_label(keys, values) for values in frame[keys].itertuples(index=False)]


def _level_scores(forecasts: pd.DataFrame, summed: pd.DataFrame, run_date) -> dict:
    """Mean RMSSE over the level's nodes of its own (``yhat_base``), bottom-up and reconciled
    forecasts."""
    start = pd.Timestamp(run_date)
    history = summed[summed["date"] < start].sort_values("date")
    scale = history.groupby("node")["qty"].apply(
        lambda q: float(np.mean(np.diff(q.to_numpy()) ** 2))
    )
    joined = forecasts.merge(summed[summed["date"] >= start], on=["node", "date"])
    out = {"nodes": int(joined["node"].nunique())}
    columns = {"yhat_base": "rmsse_own", "yhat_bottom_up": "rmsse_bottom_up",
               "yhat": "rmsse_reconciled"}  # fmt: skip
    for column, key in columns.items():
        mse = joined.assign(e2=(joined["qty"] - joined[column]) ** 2).groupby("node")["e2"].mean()
        out[key] = float(np.sqrt(mse / scale.reindex(mse.index)).mean())
    return out


def moving_average_forecasts(train: pd.DataFrame, window: int, dates) -> pd.DataFrame:
    """The mean of each series' last ``window`` rows of sales."""
    rows = []
    for (sku, loc), g in train.sort_values("date").groupby(["sku", "location"]):
        yhat = baseline.moving_average(g["qty"].to_numpy(), len(dates), window)
        rows.append(pd.DataFrame({"sku": sku, "location": loc, "date": dates, "yhat": yhat}))
    return pd.concat(rows, ignore_index=True)


def window_at(sales: pd.DataFrame, spec: dict, run_date: dt.date) -> tuple[pd.DataFrame, dict]:
    """The horizon from ``run_date`` held out, the sales after it dropped (a run date before
    the held-out tail's keeps it honest)."""
    end = pd.date_range(pd.Timestamp(run_date), periods=spec["horizon"] + 1, freq=spec["freq"])[-1]
    return sales[sales["date"] < end], {**spec, "run_date": run_date}


def validation_window(sales: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, dict]:
    """The held-out tail dropped and the horizon before it held out instead: settings are
    tuned on this window so that the held-out figures stay honest."""
    held_out = pd.Timestamp(spec["run_date"])
    run_date = pd.date_range(end=held_out, periods=spec["horizon"] + 1, freq=spec["freq"])[0]
    return sales[sales["date"] < held_out], {**spec, "run_date": run_date.date()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="store_item,walmart,carparts")
    parser.add_argument("--walmart-series", type=int, default=300)
    parser.add_argument("--peer", action="store_true", help="time the peer pattern (store_item)")
    parser.add_argument("--no-prophet-alone", action="store_true")
    parser.add_argument("--models", help="models that compete (default: per dataset)")
    parser.add_argument("--max-items", type=int, help="store_item: items 1..N only (smoke runs)")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="score the window before the held-out tail instead (the tail is dropped): for tuning",
    )
    parser.add_argument("--run-date", type=dt.date.fromisoformat,
                        help="score the horizon from this date instead (later sales dropped): for tuning")  # fmt: skip
    parser.add_argument("--no-closed-days", action="store_true",
                        help="leave the dataset's closed days (m5: Christmas) out of the calendar")  # fmt: skip
    parser.add_argument("--hierarchy", help="forecast.hierarchy.levels (YAML) for the final run")
    parser.add_argument("--hierarchy-method", help="forecast.hierarchy.method (default: the job's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for the job runs, after the benchmark's own")  # fmt: skip
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(
            f"skipped: the public datasets are not at {DATA} (they sit beside the project in shared/data)"
        )
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="skuplan-accuracy-") as tmp:
        for name in args.datasets.split(","):
            loader, models = DATASETS[name]
            if name == "walmart":
                sales, spec = load_walmart(args.walmart_series)
            elif name == "store_item":
                sales, spec = load_store_item(args.max_items)
            else:
                sales, spec = loader()
            if args.validation:
                sales, spec = validation_window(sales, spec)
            if args.run_date:
                sales, spec = window_at(sales, spec, args.run_date)
            if args.no_closed_days:
                spec = {**spec, "tables": {k: v for k, v in spec.get("tables", {}).items() if k != "calendar"}}  # fmt: skip
            models = args.models or models
            print(
                f"{name}: {sales.groupby(['sku', 'location']).ngroups} series, run date {spec['run_date']}",
                flush=True,
            )
            rows = run_dataset(
                name, sales, spec, models, Path(tmp), not args.no_prophet_alone,
                args.peer and name == "store_item",
                (args.hierarchy, args.hierarchy_method) if args.hierarchy else None,
                args.set,
            )  # fmt: skip
            print(pd.DataFrame(rows).to_string(index=False), flush=True)
            results += rows
    table = pd.DataFrame(results)
    print(table.to_string(index=False))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
