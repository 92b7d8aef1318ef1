"""The global model's panel: the whole group on one grid, as each series' own regular
history and horizon would give it."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from skuplan.models import panel
from skuplan.models.data import future_frame, regular_history

RUN = dt.date(2025, 6, 2)


def _reference(group_pdf, run_date, freq, horizon, drivers, attributes, min_history):
    """The panel one series at a time, from the per-series engine's own functions."""
    fills, names = dict(drivers), [name for name, _ in drivers]
    end = (pd.Timestamp(run_date) - pd.tseries.frequencies.to_offset(freq)).date()
    out = {}
    for keys, pdf in group_pdf.groupby(["sku", "location"], sort=True):
        past = pdf[pd.to_datetime(pdf["date"]) < pd.Timestamp(run_date)]
        history = regular_history(past, end, freq, names, fills)
        if len(history) < min_history:
            continue
        planned = pdf[pd.to_datetime(pdf["date"]) >= pd.Timestamp(run_date)]
        future, _ = future_frame(
            history, run_date, horizon, freq, planned=planned, drivers=names, fills=fills
        )
        rows = pd.concat([history, future], ignore_index=True).set_index("ds")
        out[keys] = (rows, {a: pdf.iloc[0].get(a) for a in attributes})
    return out


def _group(freq: str, periods: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-05", periods=periods, freq=freq)
    run = pd.Timestamp(RUN)
    p = int((dates < run).sum())  # periods before the run date
    frames = []
    for i, (start, keep) in enumerate([(0, 1.0), (9, 0.7), (p - 15, 0.9), (p - 5, 1.0)]):
        days = dates[start:]
        frame = pd.DataFrame({
            "sku": f"S{i % 2}", "location": f"L{i}", "date": days.date,
            "qty": rng.poisson(4, len(days)).astype(float),
            "price": np.where(rng.random(len(days)) < 0.8, 10.0 + i, np.nan),
            "promo": (rng.random(len(days)) < 0.2).astype(float),
            "is_stockout": (rng.random(len(days)) < 0.1).astype(float),
            "category": f"C{i}",
        })  # fmt: skip
        frame.loc[frame["promo"] == 1, "price"] = 7.0 + i  # promoted at a lower price
        frame = frame[(rng.random(len(frame)) < keep) | (pd.to_datetime(frame["date"]) >= run)]
        frame.loc[pd.to_datetime(frame["date"]) >= run, "qty"] = np.nan
        # Planned drivers for part of the horizon only.
        horizon_rows = pd.to_datetime(frame["date"]) >= run
        frame.loc[horizon_rows & (rng.random(len(frame)) < 0.5), ["price", "promo"]] = np.nan
        frames.append(frame)
    group = pd.concat(frames, ignore_index=True)
    twice = group.iloc[[5, 6]].assign(promo=lambda f: 1 - f["promo"], price=99.0)
    twice["is_stockout"] = 1 - twice["is_stockout"]  # days sent twice, the flags differing
    return pd.concat([group, twice], ignore_index=True)


@pytest.mark.parametrize("freq, periods", [("D", 560), ("W-FRI", 90), ("MS", 24)])
def test_the_panel_holds_each_series_regular_history_and_horizon(freq, periods):
    group = _group(freq, periods)
    drivers = [("price", "last"), ("promo", "zero"), ("event", "zero"), ("level", "last"),
               ("is_stockout", "zero")]  # fmt: skip
    args = {"run_date": RUN, "freq": freq, "horizon": 6, "drivers": drivers,
            "attributes": ("category", "location", "missing_attribute"), "min_history": 6}  # fmt: skip
    grid = panel.build_panel(group, **args)
    expected = _reference(group, RUN, freq, 6, drivers, args["attributes"], 6)
    keys = list(zip(grid.keys["sku"], grid.keys["location"], strict=True))
    assert keys == list(expected) and len(keys) == 3  # the youngest series is too short
    assert grid.dates[grid.run_index] == pd.date_range(pd.Timestamp(RUN), periods=1, freq=freq)[0]
    for row, key in enumerate(keys):
        rows, attributes = expected[key]
        y = rows["y"].reindex(grid.dates).to_numpy(float)
        y[grid.run_index :] = np.nan
        np.testing.assert_allclose(grid.y[row], y, equal_nan=True)
        for name, _ in drivers:
            want = rows[name].reindex(grid.dates).to_numpy(float)
            np.testing.assert_allclose(grid.drivers[name][row], want, equal_nan=True)
        assert grid.keys.iloc[row]["category"] == attributes["category"]
        assert grid.keys.iloc[row]["location"] == key[1]  # a key named as an attribute
        assert grid.keys.iloc[row]["missing_attribute"] is None
    assert list(grid.drivers) == [name for name, _ in drivers]
    assert set(grid.flags) == {"promo", "is_stockout"}


def test_a_group_without_history_long_enough_has_no_panel():
    group = _group("D", 560)
    assert panel.build_panel(group, run_date=RUN, freq="D", horizon=6, drivers=[],
                             attributes=(), min_history=1000) is None  # fmt: skip
    assert panel.build_panel(group, run_date=dt.date(2023, 1, 1), freq="D", horizon=6,
                             drivers=[], attributes=(), min_history=1) is None  # fmt: skip
