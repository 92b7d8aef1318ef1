"""The pooled global LightGBM: one model per group of series, direct over the horizon."""

import datetime as dt

import lightgbm as lgb
import numpy as np
import pandas as pd

from skuplan.models import global_lgbm, panel

RUN = dt.date(2026, 6, 30)
QUANTILES = (0.1, 0.5, 0.9)


def _sales(sku: str, start: str, seed: int) -> pd.DataFrame:
    dates = pd.date_range(start, pd.Timestamp(RUN) - pd.Timedelta(days=1), freq="D")
    rng = np.random.default_rng(seed)
    weekly = np.array([3, 4, 5, 6, 9, 12, 5.0])[dates.dayofweek]
    return pd.DataFrame(
        {"sku": sku, "location": "L1", "date": dates.date, "qty": rng.poisson(weekly),
         "price": 1.0, "promo": 0}
    )  # fmt: skip


def test_series_starting_on_a_shared_date_that_is_also_an_origin_are_all_forecast():
    # Three series start on one date, which is also a cross-validation origin: the panel
    # must hold each date once (a repeated date made the origin's position a slice).
    origin = pd.Timestamp(RUN) - pd.Timedelta(days=28)
    late = origin.date().isoformat()
    group = pd.concat(
        [_sales("old", "2025-06-01", 0)] + [_sales(f"new{i}", late, i + 1) for i in range(3)]
    )
    out, _ = global_lgbm.forecast_group(
        group, run_date=RUN, origins=[origin, origin + pd.Timedelta(days=7)], freq="D",
        horizon=14, cv_horizon=7, quantiles=QUANTILES, min_history=14,
    )  # fmt: skip
    assert out["error"].isna().all(), out["error"].dropna().unique()
    final = out[out["origin"] == RUN]
    assert final.groupby("sku").size().to_dict() == {"old": 14, "new0": 14, "new1": 14, "new2": 14}
    assert np.isfinite(final["yhat"]).all()


def _event_group(n_locations: int = 6) -> pd.DataFrame:
    """Daily series whose demand triples on the day before each event (a stock-up), with
    the events planned over the horizon too."""
    dates = pd.date_range("2025-01-01", pd.Timestamp(RUN) + pd.Timedelta(days=13), freq="D")
    event = (np.arange(len(dates)) % 10 == 9).astype(float)
    eve = np.roll(event, -1)
    frames = []
    for i in range(n_locations):
        rng = np.random.default_rng(i)
        qty = rng.poisson(5 + 10 * eve).astype(float)
        qty[dates >= pd.Timestamp(RUN)] = np.nan
        frames.append(pd.DataFrame({"sku": "A", "location": f"L{i}", "date": dates.date,
                                    "qty": qty, "event": event}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_features_count_the_periods_to_and_from_an_event_and_pool_an_item_across_locations():
    group = _event_group(2)
    group.loc[group["location"] == "L1", "qty"] *= 3
    grid = panel.build_panel(
        group, run_date=RUN, freq="D", horizon=14, drivers=[("event", "zero")],
        attributes=(), min_history=28,
    )  # fmt: skip
    rows = panel.origin_features(grid, grid.run_index, 14, "D")
    event_days = np.flatnonzero(grid.drivers["event"][0] > 0)
    for _, row in rows[rows["_location"] == "L0"].iterrows():
        t = row["_t"]
        nxt, prev = event_days[event_days >= t], event_days[event_days <= t]
        assert row["event_until"] == min(nxt[0] - t if len(nxt) else 28, 28)
        assert row["event_since"] == min(t - prev[-1] if len(prev) else 28, 28)
    first = rows[rows["step"] == 1].set_index("_location")
    assert np.isclose(first.loc["L0", "item_mean_28"], first[["mean_28"]].mean().iloc[0])
    assert first.loc["L0", "item_mean_28"] == first.loc["L1", "item_mean_28"]


def test_each_feature_row_holds_its_own_series_step_and_target():
    group = _event_group(3)
    grid = panel.build_panel(
        group, run_date=RUN, freq="D", horizon=14, drivers=[("event", "zero")],
        attributes=(), min_history=28,
    )  # fmt: skip
    origin = grid.run_index - 20  # steps past the run date have no target
    rows = panel.origin_features(grid, origin, 30, "D")
    assert len(rows) == 30 * 3
    index = {loc: i for i, loc in enumerate(grid.keys["location"])}
    for _, row in rows.iterrows():
        i, t = index[row["_location"]], row["_t"]
        assert t == origin + row["step"] - 1 and row["series"] == f"A|{row['_location']}"
        assert row["dow"] == grid.dates[t].dayofweek and row["event"] == grid.drivers["event"][i, t]
        assert row["last_1"] == grid.y[i, origin - 1]
        assert np.isnan(row["_y"]) if t >= grid.run_index else row["_y"] == grid.y[i, t]


def test_a_planned_event_raises_the_forecast_of_the_day_before_it():
    # The stock-up day before an event is learnt from the periods until the event, so a
    # planned event in the horizon lifts its eve, not only the event day.
    group = _event_group()
    out, _ = global_lgbm.forecast_group(
        group, run_date=RUN, origins=[], freq="D", horizon=14, cv_horizon=14,
        quantiles=QUANTILES, min_history=28, drivers=[("event", "zero")],
    )  # fmt: skip
    one = group[group["location"] == "L0"]
    eves = one["date"][np.roll(one["event"].to_numpy(), -1) > 0]
    out["eve"] = out["ds"].isin(set(eves))
    assert out["eve"].any() and (~out["eve"]).any()
    mean = out.groupby("eve")["yhat"].mean()
    assert mean[True] > 2 * mean[False], mean


def test_training_origins_spread_out_until_their_targets_span_a_year():
    from skuplan.models.global_lgbm import training_origins

    # Budget 150,000 rows / (50 series x 90 steps) = 33 origins: weekly they would cover 231
    # days of origins, 321 of targets; two weeks apart, a year.
    origins = training_origins(1800, 50, 90, "D", 14, max_rows=150_000)
    assert len(origins) == 33 and origins[0] == 1793 and set(np.diff(origins)) == {-14}
    # Enough origins for a year weekly: unchanged.
    origins = training_origins(1800, 50, 90, "D", 14, max_rows=400_000)
    assert len(origins) == 60 and set(np.diff(origins)) == {-7}
    # A short history keeps every weekly origin it has.
    assert training_origins(200, 50, 90, "D", 14, max_rows=150_000) == list(range(193, 14, -7))


def test_more_threads_give_the_same_forecasts():
    # A group alone on the cluster gets every core (fanout.task_threads); the forecasts must
    # not depend on how many (one thread builds its histograms row by row, more column by
    # column: the same sums in the same order).
    group = pd.concat([_sales(f"s{i}", "2025-01-01", i) for i in range(6)])
    origins = [pd.Timestamp(RUN) - pd.Timedelta(days=14)]
    shape = {"freq": "D", "horizon": 14, "cv_horizon": 7, "quantiles": QUANTILES}
    runs = [
        global_lgbm.forecast_group(
            group, run_date=RUN, origins=origins, min_history=14, threads=threads, **shape
        )[0]
        for threads in (1, 2)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


def test_a_kept_model_predicts_without_training_and_knows_its_series_by_name():
    group = pd.concat([_sales(f"s{i}", "2025-01-01", i) for i in range(1, 6)])
    shape = {"freq": "D", "horizon": 14, "cv_horizon": 7, "quantiles": QUANTILES}
    origins = [pd.Timestamp(RUN) - pd.Timedelta(days=14)]
    trained, texts = global_lgbm.forecast_group(
        group, run_date=RUN, origins=origins, min_history=14, **shape
    )
    assert set(texts) == {0, 1} and all("tree" in t for t in texts.values())
    # A series added elsewhere (its key sorts first: the others' positions shift; other
    # item, other location: their neighbours' levels do not move).
    later = pd.concat([_sales("s0", "2025-03-01", 9).assign(location="L2"), group])
    # The next day: the backtest origin moves a day too; kept models predict from it.
    day_after = RUN + dt.timedelta(days=1)
    kept, same = global_lgbm.forecast_group(
        later, run_date=day_after, origins=[origins[0] + pd.Timedelta(days=1)], min_history=14,
        boosters=texts, **shape,
    )  # fmt: skip
    assert same == {}  # nothing trained
    assert kept["sku"].nunique() == 6 and kept["yhat"].notna().all()
    assert len(kept) == 6 * (14 + 7)
    # The same model on the same origin: the same forecasts, whatever series were added.
    kept, _ = global_lgbm.forecast_group(
        later, run_date=RUN, origins=origins, min_history=14, boosters=texts, **shape
    )
    both = trained.merge(kept, on=["sku", "ds", "origin"], suffixes=("", "_kept"))
    assert len(both) == 5 * (14 + 7)
    # A first promotion brings the promo flag's features: the kept models do not read
    # them, so each fit is retrained.
    promoted = later.assign(promo=(pd.to_datetime(later["date"]).dt.day == 1).astype(int))
    _, retrained = global_lgbm.forecast_group(
        promoted, run_date=RUN, origins=origins, min_history=14, boosters=texts, **shape
    )
    assert set(retrained) == {0, 1} and all(retrained[f] != texts[f] for f in texts)
    assert "promo_until" in lgb.Booster(model_str=retrained[0]).feature_name()
    assert np.allclose(both["yhat"], both["yhat_kept"])
