"""What a model sees of one series: its regular history and the periods to forecast.

Pure pandas. Sales become one row per period (``freq``: ``D`` days, ``W-FRI`` weeks, ``MS``
months) from the first sale up to the last period before the run date; a model gets a
:class:`SeriesData` holding that history and the future periods with their regressors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

REGRESSORS = ("price", "promo")
FILL_LAST, FILL_ZERO = "last", "zero"
DEFAULT_FILLS = {"price": FILL_LAST, "promo": FILL_ZERO}


def fill_rule(name: str, fills: Mapping[str, str] | None = None) -> str:
    """How a missing value of driver ``name`` is filled: ``last`` (the last known value; for
    a price the last regular one) or ``zero`` (no promotion, no event)."""
    return {**DEFAULT_FILLS, **(fills or {})}.get(name, FILL_ZERO)


def regular_history(
    history_pdf: pd.DataFrame,
    end_date: dt.date,
    freq: str = "D",
    drivers: Sequence[str] = REGRESSORS,
    fills: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per period from the first sale to ``end_date``; periods without a sale count
    as zero.

    Input columns: ``date, qty`` and optionally ``is_stockout`` and the ``drivers``.
    Output columns: ``ds, y, is_stockout`` and each driver (a missing value filled by its
    rule, see :func:`fill_rule`). Within a period demand adds up, a promotion or stockout
    counts if any day has one, and other drivers are averaged.
    """
    period = _per_period(history_pdf, ("qty", "is_stockout", *drivers)).rename(columns={"qty": "y"})
    columns = ["ds", "y", *dict.fromkeys(["is_stockout", *drivers])]
    if period.empty:
        return pd.DataFrame(columns=columns)
    index = pd.date_range(period.index.min(), pd.Timestamp(end_date), freq=freq, name="ds")
    period = period.reindex(index)
    period["y"] = period["y"].fillna(0.0).astype(float)
    period["is_stockout"] = _filled(period, "is_stockout", FILL_ZERO)
    for col in drivers:
        period[col] = _filled(period, col, fill_rule(col, fills))
    return period.reset_index()[columns]


def per_period_how(column: str) -> str:
    """How a column's values within one period combine: demand adds up, a promotion or
    stockout counts if any day has one, other drivers are averaged."""
    return {"qty": "sum", "promo": "max", "is_stockout": "max"}.get(column, "mean")


def _per_period(pdf: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The present ``columns`` per period (``ds``): demand adds up, a promotion or stockout
    counts if any day has one, other drivers are averaged; missing values stay missing."""
    agg = {col: (col, per_period_how(col)) for col in dict.fromkeys(columns) if col in pdf}
    ds = pd.to_datetime(pdf["date"])
    if ds.is_unique and ds.notna().all():  # the usual case: nothing to add up (5x faster)
        order = np.argsort(ds.to_numpy(), kind="stable")
        frame = pdf.iloc[order][list(agg)]
        return frame.set_axis(pd.DatetimeIndex(ds.to_numpy()[order], name="ds"))
    return pdf.assign(ds=ds).groupby("ds").agg(**agg)


def _filled(frame: pd.DataFrame, col: str, rule: str) -> pd.Series | float:
    if col not in frame:
        return np.nan if rule == FILL_LAST else 0.0
    values = pd.to_numeric(frame[col].astype(float), errors="coerce")
    return values.ffill().bfill() if rule == FILL_LAST else values.fillna(0.0)


def last_period(run_date: dt.date, freq: str) -> dt.date:
    """The last period before ``run_date`` (the day before, for daily data)."""
    return (pd.Timestamp(run_date) - pd.tseries.frequencies.to_offset(freq)).date()


def _last_value(history: pd.DataFrame, col: str) -> float:
    """A driver's last known value; for the price, the last regular (not promoted) one."""
    known = history[col].dropna() if col in history else pd.Series(dtype=float)
    if col == "price" and "promo" in history:
        regular = history.loc[history["promo"] == 0, col].dropna()
        known = regular if len(regular) else known
    return float(known.iloc[-1]) if len(known) else np.nan


def future_frame(
    history: pd.DataFrame,
    run_date: dt.date,
    horizon: int,
    freq: str = "D",
    *,
    planned: pd.DataFrame | None = None,
    drivers: Sequence[str] = REGRESSORS,
    fills: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The periods to forecast with their drivers, and how many periods of each were filled.

    Args:
        history: :func:`regular_history`'s output.
        planned: known-ahead values for the horizon (``date`` and driver columns; rows
            past the horizon are ignored), e.g. planned prices and promotions.

    Returns:
        ``ds`` and each driver, one row per period: the planned value, else its fill rule's
        (the last known value, or 0); and ``{driver: periods filled}`` for drivers that
        lacked a planned value in some period.
    """
    dates = pd.date_range(pd.Timestamp(run_date), periods=horizon, freq=freq, name="ds")
    plan = None
    if planned is not None and len(planned):
        plan = _per_period(planned, drivers).reindex(dates)
    future, filled = pd.DataFrame({"ds": dates}), {}
    for col in drivers:
        values = (
            plan[col].to_numpy(float)
            if plan is not None and col in plan
            else np.full(horizon, np.nan)
        )
        missing = np.isnan(values)
        if missing.any():
            filled[col] = int(missing.sum())
            fill = _last_value(history, col) if fill_rule(col, fills) == FILL_LAST else 0.0
            values = np.where(missing, fill, values)
        future[col] = values
    return future, filled


@dataclass(frozen=True)
class SeriesData:
    """One series, ready for a model.

    Attributes:
        history: one row per period, oldest first, no gaps: ``ds`` (datetime64), ``y`` and
            the optional regressors ``price``, ``promo``.
        future: the periods to forecast: ``ds`` and the same regressors, as known in advance.
        season_length: the seasonal period in periods.
        quantiles: the quantile levels wanted.
        holidays: Prophet-style events (``holiday``, ``ds``), or None.
        native_quantiles: ask models that can for their own quantiles (otherwise they are
            calibrated from backtest errors and models may skip computing them).
        freq: the period (a pandas frequency).
        drivers: the known-ahead columns of ``history`` and ``future`` (regressors).
        explain: ask models that can for their driver contributions (``contrib_<driver>``
            columns, see :mod:`skuplan.models.explain`); set for the final forecast only,
            never on backtest folds.
    """

    history: pd.DataFrame
    future: pd.DataFrame
    season_length: int
    quantiles: tuple[float, ...]
    holidays: pd.DataFrame | None = None
    native_quantiles: bool = False
    freq: str = "D"
    explain: bool = False
    drivers: tuple[str, ...] = REGRESSORS

    @property
    def y(self) -> np.ndarray:
        return self.history["y"].to_numpy(dtype=float)

    @property
    def horizon(self) -> int:
        return len(self.future)

    def backtest_fold(self, n_train: int, horizon: int) -> tuple[SeriesData, np.ndarray]:
        """The first ``n_train`` periods as history and the next ``horizon`` as a future to
        predict, with the actual values of those periods."""
        test = self.history.iloc[n_train : n_train + horizon]
        future_cols = ["ds", *[c for c in self.drivers if c in self.history]]
        fold = replace(
            self,
            history=self.history.iloc[:n_train],
            future=test[future_cols].reset_index(drop=True),
            explain=False,
        )
        return fold, test["y"].to_numpy(dtype=float)
