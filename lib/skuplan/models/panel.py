"""The global model's view of a group of series: one grid of periods (:class:`Panel`) and the
features of each (series, origin, step) row (:func:`origin_features`).

Features describe the series' history up to the origin (recent means over several windows,
the last periods, spread, zero share, periods since the last sale, its seasonal profile over
the last year and the last eight weeks, the same period a year before, the recent level of
the same item across locations and of the location across items) and the target period
(step, calendar, the known-ahead drivers and their change against the origin, periods until
and since the nearest event or promotion, item and location attributes). Columns starting
with ``_`` are not features: the keys, the target period ``_t`` and the target ``_y``.

Plain pandas/numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan.columns import KEYS
from skuplan.models.data import FILL_LAST, fill_rule, last_period, per_period_how

# Per kind of period: the windows of the level features, how many last periods are features,
# the periods in a year, and how many training origins at most.
PERIODS = {
    "D": {"windows": (7, 14, 28, 56, 112, 364), "lags": 7, "year": 364},
    "W": {"windows": (4, 8, 13, 26, 52), "lags": 4, "year": 52},
    "M": {"windows": (3, 6, 12, 24), "lags": 3, "year": 12},
}


def kind_of(freq: str) -> str:
    """``D``, ``W`` or ``M`` for a pandas frequency."""
    code = pd.tseries.frequencies.to_offset(freq).name
    return "W" if code.startswith("W") else "M" if code.startswith(("M", "Q")) else "D"


@dataclass(frozen=True)
class Panel:
    """A group of series on one grid of periods (series x periods arrays).

    ``y`` is NaN before a series' first sale and from the run date on; ``drivers`` hold the
    known-ahead values, the horizon's included.
    """

    keys: pd.DataFrame  # sku, location and the attribute columns, one row per series
    dates: pd.DatetimeIndex
    y: np.ndarray
    drivers: dict[str, np.ndarray]
    run_index: int  # the run date's position in ``dates``
    # Per on/off driver (events, promotions: values 0 or 1), the position of the nearest
    # period with the flag on at or after, and at or before, each period (-1: none).
    flags: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)


def build_panel(
    group_pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    freq: str,
    horizon: int,
    drivers: Sequence[tuple[str, str]],
    attributes: Sequence[str],
    min_history: int,
) -> Panel | None:
    """The group's series with at least ``min_history`` periods on one grid, or None.

    ``drivers``: ``(name, fill rule)`` pairs (see :func:`skuplan.models.data.fill_rule`).
    Each series' row holds what :func:`~skuplan.models.data.regular_history` and
    :func:`~skuplan.models.data.future_frame` make of it, built for the whole group at
    once (one pass of a series at a time took most of an untrained day's global model).
    """
    fills, names = dict(drivers), [name for name, _ in drivers]
    end = pd.Timestamp(last_period(run_date, freq))
    future_dates = pd.date_range(pd.Timestamp(run_date), periods=horizon, freq=freq)
    frame = group_pdf.assign(_ds=pd.to_datetime(group_pdf["date"]))
    past = frame[frame["_ds"] < pd.Timestamp(run_date)]
    if past.empty:
        return None
    # Each series' regular history runs from the first period on the grid at or after its
    # first row to the last period before the run date.
    firsts = past.groupby(list(KEYS), sort=True)["_ds"].min()
    offset = pd.tseries.frequencies.to_offset(freq)
    starts = pd.DatetimeIndex([offset.rollforward(d) for d in firsts.to_numpy()])
    own = pd.DataFrame({"start": starts}, index=firsts.index)
    own = own[own["start"] <= end]
    if own.empty:
        return None
    dates = pd.date_range(own["start"].min(), future_dates[-1], freq=freq)
    run_index = int(dates.get_loc(future_dates[0]))
    first = dates.get_indexer(own["start"])
    keep = run_index - first >= min_history
    own, first = own[keep], first[keep]
    if own.empty:
        return None
    n, width = len(own), len(dates)
    in_history = (np.arange(width) >= first[:, None]) & (np.arange(width) < run_index)
    rows, cols = _positions(frame, own.index, dates)
    is_past = (cols >= 0) & (cols < run_index)
    is_planned = (cols >= run_index) & (cols < run_index + horizon)
    y = _per_cell(frame["qty"], rows, cols, is_past & in_history[rows, cols], (n, width), "sum")
    y = np.where(in_history & np.isnan(y), 0.0, np.where(in_history, y, np.nan))
    values = {}
    for name in sorted(names, key=lambda d: d != "promo"):  # a price's fill reads the promo
        how = per_period_how(name)
        column = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        known = _per_cell(column, rows, cols, is_past | is_planned, (n, width), how)
        values[name] = _filled_grid(known, in_history, run_index, horizon, name, fills, values)
    values = {name: values[name] for name in names}
    flags = {d: _nearest_on(v) for d, v in values.items() if _is_flag(v)}
    return Panel(_series_keys(group_pdf, own.index, attributes), dates, y, values, run_index, flags)


def _series_keys(group_pdf: pd.DataFrame, series: pd.MultiIndex, attributes) -> pd.DataFrame:
    """The keys of ``series`` and each one's attributes: its first row's values (a key named
    as an attribute is itself; None for an attribute the frame lacks)."""
    first_rows = group_pdf.drop_duplicates(subset=list(KEYS), keep="first")
    at = pd.MultiIndex.from_frame(first_rows[list(KEYS)]).get_indexer(series)
    keys = series.to_frame(index=False)
    for a in attributes:
        keys[a] = first_rows[a].to_numpy()[at] if a in first_rows else None
    return keys


def _positions(frame: pd.DataFrame, series: pd.MultiIndex, dates: pd.DatetimeIndex):
    """Each row's series (row of the panel) and period (column), -1 where it has none."""
    rows = series.get_indexer(pd.MultiIndex.from_frame(frame[list(KEYS)]))
    cols = dates.get_indexer(frame["_ds"])
    off = rows < 0
    return np.where(off, 0, rows), np.where(off, -1, cols)


def _per_cell(values: pd.Series, rows, cols, use, shape, how: str) -> np.ndarray:
    """``values`` of the rows ``use`` marks, aggregated per (series, period) cell by ``how``
    (missing values skipped); NaN in cells without any."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    cell = rows[use] * shape[1] + cols[use]
    agg = pd.Series(numbers[use]).groupby(cell).agg(how)
    grid = np.full(shape[0] * shape[1], np.nan)
    grid[agg.index.to_numpy()] = agg.to_numpy()
    return grid.reshape(shape)


def _filled_grid(known, in_history, run_index, horizon, name, fills, values) -> np.ndarray:
    """A driver on the grid: history gaps and horizon gaps filled by its rule as
    :func:`~skuplan.models.data.regular_history` and :func:`~skuplan.models.data.future_frame`
    fill them, NaN outside the series' periods."""
    history = np.where(in_history, known, np.nan)
    if fill_rule(name, fills) != FILL_LAST:  # zero: no promotion, no event
        history = np.where(in_history & np.isnan(history), 0.0, history)
        fill = np.zeros(len(known))
    else:  # within the series' history forward, then backward for its first periods; the
        # horizon takes the last known value, for a price the last regular (not promoted) one
        history = pd.DataFrame(history.T).ffill().bfill().to_numpy().T
        history = np.where(in_history, history, np.nan)
        fill = _last_along(history)
        promo = values.get("promo")
        if name == "price" and promo is not None:
            regular = _last_along(np.where(promo == 0, history, np.nan))
            fill = np.where(np.isnan(regular), fill, regular)
    out = history.copy()
    span = slice(run_index, run_index + horizon)
    out[:, span] = np.where(np.isnan(known[:, span]), fill[:, None], known[:, span])
    return out


def _last_along(grid: np.ndarray) -> np.ndarray:
    """Each row's last non-NaN value (NaN for a row without any)."""
    seen = ~np.isnan(grid)
    last = grid.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    return np.where(seen.any(axis=1), grid[np.arange(len(grid)), last], np.nan)


def _is_flag(values: np.ndarray) -> bool:
    """An on/off driver that is on somewhere: every known value is 0 or 1."""
    known = values[~np.isnan(values)]
    return bool(known.size and np.isin(known, (0.0, 1.0)).all() and known.any())


def _nearest_on(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per series and period, the position of the nearest ``on`` period at or after it and
    at or before it (-1 where there is none)."""
    on = np.nan_to_num(values) > 0
    n = on.shape[1]
    before = np.maximum.accumulate(np.where(on, np.arange(n), -1), axis=1)
    after = np.minimum.accumulate(np.where(on, np.arange(n), n)[:, ::-1], axis=1)[:, ::-1]
    return np.where(after == n, -1, after), before


@contextlib.contextmanager
def _quiet():
    """Statistics over windows a young series has not filled yet are NaN, by design: without
    numpy's warnings about empty slices and invalid values."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def origin_features(panel: Panel, origin: int, steps: int, kind: str) -> pd.DataFrame:
    """One row per series and step for forecasts made at period ``origin`` (the first
    forecast period); ``_y`` is the target (NaN where unknown). Rows run step by step, the
    series in panel order within each step."""
    period = PERIODS[kind]
    hist = panel.y[:, :origin]
    base = {}
    with _quiet():
        for w in period["windows"]:
            base[f"mean_{w}"] = np.nanmean(hist[:, -w:], axis=1)
        short = period["windows"][2]
        base[f"std_{short}"] = np.nanstd(hist[:, -short:], axis=1)
        base[f"zeros_{short}"] = np.nanmean(hist[:, -short:] == 0, axis=1)
        for k in range(1, period["lags"] + 1):
            base[f"last_{k}"] = hist[:, -k]
        seen = np.nan_to_num(hist) > 0
        base["since_sale"] = np.where(seen.any(axis=1), np.argmax(seen[:, ::-1], axis=1), origin)
        # The same item across the group's locations, the location across its items: a
        # series' own recent level is noisy, its neighbours' is not.
        for key, name in (("sku", "item"), ("location", "location")):
            for w in (period["windows"][0], short):
                level = pd.Series(base[f"mean_{w}"]).groupby(panel.keys[key].to_numpy())
                base[f"{name}_mean_{w}"] = level.transform("mean").to_numpy()
    profiles = _weekday_profiles(panel, hist, period["year"]) if kind == "D" else {}
    # Columns are built as arrays and framed once: a frame per step filled column by column
    # took 24 s of a 58 s fit for one store-item store (50 series, 60 origins of 90 steps).
    per_step = [
        _step_columns(panel, base, origin + step - 1, origin, step, kind, profiles)
        for step in range(1, steps + 1)
        if origin + step - 1 < len(panel.dates)
    ]
    keys = panel.keys
    named = {col if col not in KEYS else f"_{col}": keys[col].to_numpy() for col in keys.columns}
    # By name, not position: a model kept for later run dates meets added and dropped series.
    named["series"] = (keys["sku"].astype(str) + "|" + keys["location"].astype(str)).to_numpy()
    n, times = len(keys), len(per_step)
    stacked = {
        name: np.concatenate([np.broadcast_to(np.asarray(cols[name]), (n,)) for cols in per_step])
        for name in (per_step[0] if per_step else {})
    }
    target = {name: stacked.pop(name) for name in ("_t", "_y") if name in stacked}
    return pd.DataFrame(
        {
            **{name: np.tile(values, times) for name, values in base.items()},
            **stacked,
            **{name: np.tile(values, times) for name, values in named.items()},
            **target,
        }
    )


def _weekday_profiles(panel: Panel, hist: np.ndarray, year: int) -> dict[int, dict]:
    """Per weekday, each series' mean demand on that weekday over the last year and over the
    last eight weeks."""
    weekdays = panel.dates[: hist.shape[1]].dayofweek
    out = {}
    with _quiet():
        for day in range(7):
            same = hist[:, -year:][:, weekdays[-year:] == day]
            recent = hist[:, -56:][:, weekdays[-56:] == day]
            out[day] = {
                "profile": np.nanmean(same, axis=1),
                "profile_8w": np.nanmean(recent, axis=1),
            }
    return out


def _step_columns(panel, base, t, origin, step, kind, profiles) -> dict:
    """The columns of one step's rows that change with the step (the series' keys and the
    origin's ``base`` columns do not): arrays over the series, or one value for all."""
    year = PERIODS[kind]["year"]
    date = panel.dates[t]
    cols: dict = {"step": step}
    if kind == "D":
        cols["dow"], cols["dom"] = date.dayofweek, date.day
    if kind == "W":
        cols["woy"] = int(date.isocalendar().week)
    cols["month"] = date.month
    with _quiet():
        # Same position in the seasonal cycle: the same weekday over the last year (daily), or
        # the same period a year before (weekly, monthly).
        if kind == "D":
            cols["profile"] = profiles[date.dayofweek]["profile"]
            cols["profile_8w"] = profiles[date.dayofweek]["profile_8w"]
            level = base["mean_56"]
            cols["profile_8w_ratio"] = cols["profile_8w"] / np.where(level > 0, level, np.nan)
        back = t - year
        cols["last_year"] = panel.y[:, back] if 0 <= back < origin else np.nan
        for name, values in panel.drivers.items():
            now = values[:, origin - 1]
            cols[name] = values[:, t]
            cols[f"{name}_vs_origin"] = (
                values[:, t] / now if name == "price" else values[:, t] - now
            )
            if name == "price":
                cols["price_vs_max"] = values[:, t] / np.nanmax(values[:, :origin], axis=1)
        # Demand moves before and after an event or promotion, not only on its days.
        cap = PERIODS[kind]["windows"][2]
        for name, (after, before) in panel.flags.items():
            cols[f"{name}_until"] = np.where(after[:, t] >= 0, after[:, t] - t, cap).clip(max=cap)
            cols[f"{name}_since"] = np.where(before[:, t] >= 0, t - before[:, t], cap).clip(max=cap)
    cols["_t"] = t
    cols["_y"] = panel.y[:, t] if t < panel.run_index else np.nan
    return cols
