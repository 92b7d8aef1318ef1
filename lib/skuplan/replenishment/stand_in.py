"""The replay's stand-in for the plan's forecast: what a policy knew on each replayed day.

The stand-in forecasts a day with the trailing mean of the demand before it (for demand
sparser than the window, the higher of that and a longer window's mean:
:func:`sparse_aware_forecast`), and takes its error from that same forecast's errors over
protection-period windows in the warm-up before the replay (backtest residuals, widened for
the sample's size at the series' target); the policy's levels then come from the plan's
own safety-stock, EOQ and undershoot functions (:func:`policy_levels`), or from the
cost-optimised choice applied to the same days (:func:`cost_levels`). Used by
:mod:`.simulation`.

A distribution centre's demand is its stores' orders, which fall on its review days when
they all review on its cycle (:func:`orders_on_review_days`): the plan takes them
time-phased (the stores' planned orders day by day), so the stand-in then expects each day
of the review cycle's own trailing mean over the protection period
(:func:`protection_demand` with the cycle's length), where a flat rate would spread a week's
orders evenly and under-protect the windows that hold two review days.
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
DEMANDS_PER_WINDOW = 4  # demand days a sparse series' longer window holds on average


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


def sparse_aware_forecast(
    demand: np.ndarray, window: int, first_sale: int, sim0: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`trailing_mean_forecast` over ``window`` days, or over a longer window where
    that is higher, when the warm-up's demand days (``first_sale`` to ``sim0``) are sparser
    than ``DEMANDS_PER_WINDOW`` per ``window``: long enough to hold that many on average.

    A DC whose stores order a few big lots a quarter can go 28 days without an order; the
    28-day mean then expects nothing and its levels drop to one pack just before the next
    lot, a forecast the plan (which knows the stores' planned orders) never makes. The
    longer mean keeps the rate of those lots; the 28-day one still follows a rise."""
    forecast, csum = trailing_mean_forecast(demand, window, first_sale)
    seen = int((demand[first_sale:sim0] > 0).sum())
    longer = int(np.ceil(DEMANDS_PER_WINDOW * (sim0 - first_sale) / seen)) if seen else 0
    if longer > window:
        forecast = np.maximum(forecast, trailing_mean_forecast(demand, longer, first_sale)[0])
    return forecast, csum


def orders_on_review_days(stores: pd.DataFrame, dc, *, cost_shipped: bool) -> bool:
    """Whether an ``RS`` DC's stores (their replay inputs) all order on its review days:
    ``RS`` stores reviewing every ``review_period`` days of the DC's (``cost_shipped``: the
    chosen period where the cost-optimised levels are not the formula's); one anchor date
    for all. Their orders are then expected per day of the cycle (:func:`protection_demand`)."""
    if stores.empty or dc["policy_name"] != POLICY_RS:
        return False
    period = stores["review_period"]
    if cost_shipped and "cost_review_period" in stores:
        chosen = ~stores["cost_is_formula"].fillna(True).astype(bool)
        period = period.where(~chosen, stores["cost_review_period"])
    same = period.round().eq(round(float(dc["review_period"])))
    return bool(stores["policy_name"].eq(POLICY_RS).all() and same.all())


def protection_demand(
    demand: np.ndarray, forecast: np.ndarray, P: float, *, window: int, first_sale: int,
    cycle: int = 1,
) -> np.ndarray:  # fmt: skip
    """Each day's expected demand over the ``P`` days from it: ``P * forecast`` when
    ``cycle`` is 1; else each day of the ``cycle``-day review cycle gets the trailing mean
    of its own days over the ``window`` (whole cycles, at least one), the flat ``forecast``
    while a day of the cycle has no history yet. Days are placed in the cycle by their
    position in ``demand``: where the cycle starts does not change the sums."""
    if cycle <= 1:
        return P * forecast
    n, P_int = len(demand), max(round(P), 1)
    phase = np.arange(n) % cycle
    span = max(window // cycle, 1) * cycle
    lo = np.maximum(np.arange(n) - span, first_sale)
    means = np.empty((n, cycle))
    for k in range(cycle):  # the trailing mean of the cycle's k-th day, as of each day
        on = (phase == k).astype(float)
        total = np.concatenate([[0.0], np.cumsum(demand * on)])
        count = np.concatenate([[0.0], np.cumsum(on)])
        seen = count[np.arange(n)] - count[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, k] = np.where(seen > 0, (total[np.arange(n)] - total[lo]) / seen, forecast)
    # Day j of the window is the cycle's (phase + j) % cycle-th; each comes ceil((P - j) / cycle) times.
    days = np.maximum(-(-(P_int - np.arange(cycle)) // cycle), 0)
    which = (phase[:, None] + np.arange(cycle)) % cycle
    return (means[np.arange(n)[:, None], which] * days).sum(axis=1) * (P / P_int)


def protection_error_std(
    csum: np.ndarray, expected: np.ndarray, first_sale: int, window: int, sim0: int, P: float,
    review: np.ndarray | None = None, quantile: float | None = None,
) -> float | None:  # fmt: skip
    """Standard deviation of the backtest residuals: the demand over protection-period
    (``P`` days) windows in the warm-up against its ``expected`` value
    (:func:`protection_demand`); with ``review`` (a day mask), only the windows that start
    on a review day, when there are ``MIN_ERROR_WINDOWS`` of them; None with fewer windows.
    With a ``quantile``, widened by the small-sample prediction factor at it
    (:func:`~skuplan.replenishment.safety_stock.predictive_sigma_factor`): a phased DC's 13-26
    review-day windows under-cover a new window at the normal quantile."""
    P_int = max(round(P), 1)
    origins = np.arange(max(first_sale + min(window, 7), 0), sim0 - P_int + 1)
    if review is not None and review[origins].sum() >= MIN_ERROR_WINDOWS:
        origins = origins[review[origins]]
    if len(origins) < MIN_ERROR_WINDOWS:
        return None
    errors = (csum[origins + P_int] - csum[origins]) - expected[origins]
    factor = 1.0 if quantile is None else ss.predictive_sigma_factor(len(origins), quantile)
    return float(np.std(errors, ddof=1)) * factor


def protection_error(
    demand: np.ndarray, forecast: np.ndarray, csum: np.ndarray, P: float, *, window: int,
    first_sale: int, sim0: int, cycle: int = 1, review: np.ndarray | None = None,
    quantile: float | None = None,
) -> tuple[np.ndarray, float | None]:  # fmt: skip
    """Every day's expected demand over the protection period ``P``
    (:func:`protection_demand`) and the warm-up's error sigma (:func:`protection_error_std`).
    Phased (``cycle`` > 1, with ``review`` its review days), the sigma is that of the
    windows from the review days: an ``RS`` DC is exposed from them, and the windows from
    other days hold other numbers of its stores' order days."""
    expected = protection_demand(
        demand, forecast, P, window=window, first_sale=first_sale, cycle=cycle
    )
    return expected, protection_error_std(
        csum, expected, first_sale, window, sim0, P, review, quantile
    )


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
    p, formula: PolicyLevels, f: np.ndarray, sim0: int, sigma_p: float, protection
) -> tuple[PolicyLevels, int]:
    """The cost-optimised choice applied to the replayed days (``f``: their forecast, from
    day ``sim0`` of the history) and its review period: the formula's levels when it kept
    them, else the demand expected over the chosen review period's protection period plus
    ``k`` times its sigma, and lots of ``m`` EOQs. ``protection`` gives a protection
    period's expected demand per day and the warm-up's error sigma (:func:`protection_error`;
    without enough windows of the longer period, ``sigma_p``, the formula's, scaled)."""
    L_mean, L_std = float(p["lead_time_days"]), float(p["lead_time_std"])
    R = round(float(p["review_period"]))
    if bool(p["cost_is_formula"]):
        return formula, R
    R_cost = round(float(p["cost_review_period"]))
    expected, sigma = protection(L_mean + R_cost)
    if sigma is None:
        sigma = sigma_p * float(np.sqrt((L_mean + R_cost) / (L_mean + R)))
    sigma_dl = ss.sigma_over_protection(sigma, f, L_std)
    k, m = float(p["cost_safety_factor"]), float(p["cost_lot_multiplier"])
    lot = np.maximum(m * formula.eoq, formula.pack)
    reorder_point = np.where(f > 0, expected[sim0:] + k * sigma_dl, 0.0)
    order_up_to = reorder_point if p["policy_name"] == POLICY_RS else reorder_point + lot
    levels = dataclasses.replace(
        formula, eoq=lot, reorder_point=reorder_point, order_up_to=order_up_to, sigma_dl=sigma_dl
    )
    return levels, R_cost


def policy_levels(p, f, sigma_p, L_std, R, P, ss_method, demand_p) -> PolicyLevels:
    """Order quantity, reorder point and order-up-to level per day of forecast ``f``,
    vectorised, with the plan's safety stock; ``demand_p``, each day's demand expected over
    the protection period (:func:`protection_demand`; a ``minmax`` reorder point takes
    ``f``)."""
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
    safety = np.where(f > 0, ss.safety_stock(demand_p, sigma_dl, k, ss_method), 0.0)
    reorder_point = demand_p + safety
    if policy == POLICY_MINMAX:
        reorder_point = undershoot.reorder_points_along(
            f, P - R, R, sigma_p, L_std, eoq_of, p["target_type"],
            float(p["target_service_level"]), ss_method,
        )  # fmt: skip
    order_up_to = reorder_point if policy == POLICY_RS else reorder_point + eoq
    return PolicyLevels(pack, moq, holding, eoq, reorder_point, order_up_to, sigma_dl)
