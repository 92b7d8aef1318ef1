"""The replay's stand-in for the plan's forecast: what a policy knew on each replayed day.

The stand-in forecasts a day with the trailing mean of the demand before it, and takes its
error from that same forecast's errors over protection-period windows in the warm-up before
the replay (backtest residuals); the policy's levels then come from the plan's own
safety-stock, EOQ and undershoot functions (:func:`policy_levels`), or from the
cost-optimised choice applied to the same days (:func:`cost_levels`). Used by
:mod:`.simulation`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skuplan.replenishment import safety_stock as ss
from skuplan.replenishment import undershoot
from skuplan.replenishment.policies import POLICY_MINMAX, POLICY_RS

ADI_CUTOFF = 1.32  # Syntetos-Boylan: a mean inter-demand interval above this is intermittent
MIN_ERROR_WINDOWS = 8


def daily_demand(pdf: pd.DataFrame, run_date: dt.date, n_days: int):
    """The ``n_days`` days before ``run_date`` and their demand (zero on days without a row)."""
    end = pd.Timestamp(run_date) - pd.Timedelta(days=1)
    days = pd.date_range(end=end, periods=n_days, freq="D")
    demand = (
        pdf.assign(date=pd.to_datetime(pdf["date"]))
        .groupby("date")["qty"]
        .sum()
        .reindex(days, fill_value=0.0)
        .to_numpy(dtype=float)
    )
    return days, demand


def trailing_mean_forecast(
    demand: np.ndarray, window: int, first_sale: int
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast of each day: the mean of the ``window`` days before it (from the first sale
    on), and the cumulative demand ``csum`` (``csum[i]`` = demand of the days before ``i``)."""
    csum = np.concatenate([[0.0], np.cumsum(demand)])
    idx = np.arange(len(demand))
    lo = np.maximum(idx - window, first_sale)
    n_obs = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        forecast = np.where(n_obs > 0, (csum[idx] - csum[lo]) / n_obs, 0.0)
    return forecast, csum


def protection_error_std(
    csum: np.ndarray, forecast: np.ndarray, first_sale: int, window: int, sim0: int, P: float
) -> float | None:
    """Standard deviation of the backtest residuals: forecast errors over protection-period
    (``P`` days) windows in the warm-up; None with fewer than ``MIN_ERROR_WINDOWS``."""
    P_int = max(round(P), 1)
    origins = np.arange(max(first_sale + min(window, 7), 0), sim0 - P_int + 1)
    if len(origins) < MIN_ERROR_WINDOWS:
        return None
    errors = (csum[origins + P_int] - csum[origins]) - P * forecast[origins]
    return float(np.std(errors, ddof=1))


def safety_stock_method(warmup_demand: np.ndarray, method: str) -> str:
    """``method``, or for ``auto`` gamma when the warm-up demand is intermittent, else normal."""
    nonzero_share = float((warmup_demand > 0).mean())
    is_intermittent = nonzero_share < 1 / ADI_CUTOFF
    return (
        method if method != "auto" else (ss.METHOD_GAMMA if is_intermittent else ss.METHOD_NORMAL)
    )


@dataclass(frozen=True)
class PolicyLevels:
    """The policy's order sizes and levels on every replay day (they move with the forecast)."""

    pack: float
    moq: float
    holding: float  # holding cost per unit and year
    eoq: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    sigma_dl: np.ndarray  # the forecast error over the protection period, lead times included


def cost_levels(
    p, formula: PolicyLevels, f: np.ndarray, P: float, sigma_dl: np.ndarray
) -> PolicyLevels:
    """The cost-optimised choice applied to the replay's days: the formula's levels when it
    kept them, else ``f * P + k * sigma_dl`` (``P`` and ``sigma_dl`` of the chosen review
    period) and lots of ``m`` EOQs."""
    if bool(p["cost_is_formula"]):
        return formula
    k, m = float(p["cost_safety_factor"]), float(p["cost_lot_multiplier"])
    lot = np.maximum(m * formula.eoq, formula.pack)
    reorder_point = np.where(f > 0, f * P + k * sigma_dl, 0.0)
    order_up_to = reorder_point if p["policy_name"] == POLICY_RS else reorder_point + lot
    return dataclasses.replace(
        formula, eoq=lot, reorder_point=reorder_point, order_up_to=order_up_to, sigma_dl=sigma_dl
    )


def policy_levels(p, f, sigma_p, L_std, R, P, ss_method) -> PolicyLevels:
    """Order quantity, reorder point and order-up-to level per day of forecast ``f``,
    vectorised, with the plan's safety stock."""
    policy = p["policy_name"]
    pack, moq = max(float(p["pack"]), 1.0), float(p["min_order"])
    holding = float(p["holding_cost_rate"]) * float(p["unit_cost"])
    eoq_of = lambda daily: np.maximum(ss.eoq(daily * 365.0, float(p["order_cost"]), holding), pack)  # noqa: E731
    eoq = eoq_of(f)
    sigma_dl = ss.sigma_over_protection(sigma_p, f, L_std)
    cycle_qty = f * R if policy == POLICY_RS else eoq
    k = ss.safety_factor(
        np.full(len(f), p["target_type"], dtype=object),
        float(p["target_service_level"]),
        cycle_qty,
        sigma_dl,
    )
    safety = np.where(f > 0, ss.safety_stock(f * P, sigma_dl, k, ss_method), 0.0)
    reorder_point = f * P + safety
    if policy == POLICY_MINMAX:
        reorder_point = undershoot.reorder_points_along(
            f, P - R, R, sigma_p, L_std, eoq_of, p["target_type"],
            float(p["target_service_level"]), ss_method,
        )  # fmt: skip
    order_up_to = reorder_point if policy == POLICY_RS else reorder_point + eoq
    return PolicyLevels(pack, moq, holding, eoq, reorder_point, order_up_to, sigma_dl)
