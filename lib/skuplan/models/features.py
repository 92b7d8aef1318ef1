"""Features for the tree models, computed from the past only.

Every feature at day ``t`` uses demand up to day ``t - 1`` at most (lags and rolling
windows are shifted), so the same function builds training rows and, step by step, the
rows of a recursive forecast. Calendar, price and promo describe day ``t`` itself: they are
known in advance for the forecast days.

Each feature belongs to a group a planner recognises (promotion, price, weekday, season,
recent level, trend, item/location); :data:`FEATURE_GROUPS` and :func:`feature_group` map
feature names to groups so that SHAP contributions can be reported per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_LAGS = (7, 14, 28)
DEFAULT_WINDOWS = (7, 28)
SERIES_ID = "series_id"

GROUP_PROMOTION = "promotion"
GROUP_PRICE = "price"
GROUP_WEEKDAY = "weekday"
GROUP_SEASON = "season"
GROUP_RECENT_LEVEL = "recent level"
GROUP_TREND = "trend"
GROUP_SERIES = "item/location"

CALENDAR_FEATURES = {
    "dow": GROUP_WEEKDAY,  # day of week, 0 = Monday: the weekly shopping pattern
    "dom": GROUP_SEASON,  # day of month: paydays, month-end
    "woy": GROUP_SEASON,  # ISO week of year: the annual season
    "month": GROUP_SEASON,  # month of year: the annual season
}
_PREFIX_GROUPS = (
    # lag_k: demand k days ago (k a multiple of 7 is the same weekday): the recent level
    ("lag_", GROUP_RECENT_LEVEL),
    # roll_mean_w / roll_std_w: mean and spread of the last w days (excluding today)
    ("roll_mean_", GROUP_RECENT_LEVEL),
    ("roll_std_", GROUP_RECENT_LEVEL),
    # trend_s_l: short-window mean minus long-window mean: is demand rising or falling
    ("trend_", GROUP_TREND),
    # price_rel: today's price over the mean price of the last days: a discount or a rise
    ("price_rel", GROUP_PRICE),
)
_EXACT_GROUPS = {
    **CALENDAR_FEATURES,
    "price": GROUP_PRICE,  # today's shelf price
    "promo": GROUP_PROMOTION,  # 1 on promotion days
    SERIES_ID: GROUP_SERIES,  # which item at which location (global models)
}


def feature_group(name: str) -> str:
    """The planner-facing group of feature ``name`` (any lag or window length).

    Raises:
        KeyError: not a feature made here.
    """
    if name in _EXACT_GROUPS:
        return _EXACT_GROUPS[name]
    for prefix, group in _PREFIX_GROUPS:
        if name.startswith(prefix):
            return group
    raise KeyError(name)


def feature_names(
    *,
    lags: Sequence[int] = DEFAULT_LAGS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    has_price: bool = True,
    has_promo: bool = True,
) -> list[str]:
    """The feature columns :func:`make_features` adds, in order."""
    names = [*target_feature_names(lags, windows), *CALENDAR_FEATURES]
    if has_price:
        names += ["price", "price_rel"]
    if has_promo:
        names.append("promo")
    return names


def target_feature_names(lags: Sequence[int], windows: Sequence[int]) -> list[str]:
    """The columns that depend on past demand (recomputed at each recursive step)."""
    names = [f"lag_{k}" for k in lags]
    for w in windows:
        names += [f"roll_mean_{w}", f"roll_std_{w}"]
    if len(windows) >= 2:
        names.append(f"trend_{min(windows)}_{max(windows)}")
    return names


FEATURE_GROUPS: dict[str, str] = {
    name: feature_group(name) for name in [*feature_names(), SERIES_ID]
}
"""Group of every feature made with the default lags and windows; see :func:`feature_group`."""


def series_positions(frame: pd.DataFrame, keys: Sequence[str] = ()) -> np.ndarray:
    """Day number of each row within its series (0 for the first day).

    ``frame`` must already be sorted by ``keys`` and ``ds``.
    """
    if keys:
        return frame.groupby(list(keys), sort=False, observed=True).cumcount().to_numpy()
    return np.arange(len(frame))


def _past_windows(values: np.ndarray, rows: np.ndarray, w: int) -> np.ndarray:
    """``values[t - w : t]`` for each ``t`` in ``rows`` (rows x w), indices clamped at 0."""
    offsets = np.arange(-w, 0)
    return values[np.maximum(rows[:, None] + offsets, 0)]


def _rolling_past(
    values: np.ndarray, pos: np.ndarray, rows: np.ndarray, w: int, *, with_std: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and sample std of the ``w`` values before each row; NaN without ``w`` of them."""
    mean = np.full(len(rows), np.nan)
    std = np.full(len(rows), np.nan) if with_std else None
    # Chunks keep the (rows x w) gather small for long multi-series frames.
    chunk = max(1, 2**21 // w)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        window = _past_windows(values, part, w)
        mean[start : start + chunk] = window.mean(axis=1)
        if std is not None:
            std[start : start + chunk] = window.std(axis=1, ddof=1) if w > 1 else 0.0
    enough = pos[rows] >= w
    mean[~enough] = np.nan
    if std is not None:
        std[~enough] = np.nan
    return mean, std


def target_features(
    y: np.ndarray,
    pos: np.ndarray,
    rows: np.ndarray,
    *,
    lags: Sequence[int] = DEFAULT_LAGS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
) -> dict[str, np.ndarray]:
    """The demand-history features of ``rows``, from ``y`` before each row only.

    Args:
        y: demand of all rows, series after series, each in date order, no gaps.
        pos: day number of each row within its series (:func:`series_positions`).
        rows: indices of the rows to compute.
        lags: lag lengths in days.
        windows: rolling window lengths in days.

    Returns:
        ``{name: values for rows}`` for :func:`target_feature_names`; NaN where the
        series is too short.
    """
    rows = np.asarray(rows, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for k in lags:
        lag = y[np.maximum(rows - k, 0)].astype(float)
        lag[pos[rows] < k] = np.nan
        out[f"lag_{k}"] = lag
    for w in windows:
        out[f"roll_mean_{w}"], out[f"roll_std_{w}"] = _rolling_past(y, pos, rows, w)
    if len(windows) >= 2:
        short, long = min(windows), max(windows)
        out[f"trend_{short}_{long}"] = out[f"roll_mean_{short}"] - out[f"roll_mean_{long}"]
    return out


def make_features(
    frame: pd.DataFrame,
    *,
    lags: Sequence[int] = DEFAULT_LAGS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    keys: Sequence[str] = (),
) -> pd.DataFrame:
    """Add lag, rolling, trend, calendar, price and promo features.

    Args:
        frame: columns ``ds`` (datetime64), ``y`` (float; NaN for days to forecast);
            optional ``price``, ``promo`` and the series ``keys``. One row per series and
            day, no gaps (fill days without sales with 0 first).
        lags: ``lag_k`` = ``y`` k days before.
        windows: ``roll_mean_w`` / ``roll_std_w`` = mean / sample std of ``y`` over the
            ``w`` days before (today excluded); with two or more windows,
            ``trend_s_l`` = ``roll_mean_s - roll_mean_l``.
        keys: series key columns when ``frame`` holds several series.

    Returns:
        ``frame`` sorted by ``keys`` and ``ds`` (fresh index) with the feature columns
        :func:`feature_names`: the above plus ``dow`` (0 = Monday), ``dom``, ``woy`` (ISO
        week), ``month``; ``price`` and ``price_rel`` (price over its mean of the longest
        window before) when ``price`` is present; ``promo`` (0/1) when present.

    Raises:
        ValueError: a series skips or repeats a period.
    """
    keys = list(keys)
    out = frame.sort_values([*keys, "ds"], kind="mergesort").reset_index(drop=True)
    out["ds"] = pd.to_datetime(out["ds"])
    pos = series_positions(out, keys)
    step = out["ds"].diff().to_numpy()
    # Rows are periods of one regular grid (days, weeks or months), filled by the caller:
    # every step equals the first one, or all are calendar months (28 to 31 days).
    days = step[pos > 0] / np.timedelta64(1, "D")
    monthly = bool(days.size) and bool(((days >= 28) & (days <= 31)).all())
    irregular = bool(days.size) and not monthly and bool((days != days[0]).any())
    if irregular or (days <= 0).any():
        raise ValueError("each series needs one row per period (day, week or month), without gaps")

    y = out["y"].to_numpy(dtype=float)
    rows = np.arange(len(out))
    for name, values in target_features(y, pos, rows, lags=lags, windows=windows).items():
        out[name] = values

    ds = out["ds"].dt
    out["dow"] = ds.dayofweek.astype("int16")
    out["dom"] = ds.day.astype("int16")
    out["woy"] = ds.isocalendar().week.to_numpy().astype("int16")
    out["month"] = ds.month.astype("int16")
    if "price" in out:
        price = pd.to_numeric(out["price"], errors="coerce").to_numpy(dtype=float)
        usual, _ = _rolling_past(price, pos, rows, max(windows, default=7), with_std=False)
        out["price"] = price
        with np.errstate(divide="ignore", invalid="ignore"):
            out["price_rel"] = np.where(usual > 0, price / usual, np.nan)
    if "promo" in out:
        out["promo"] = pd.to_numeric(out["promo"].astype(float), errors="coerce").fillna(0.0)
    return out
