"""Replay of a series' replenishment policy over its recent sales (one series per call), and
of a distribution centre's on the orders its stores placed in their replays.

:func:`simulate_series` is a plain pandas function; the plan runs :func:`simulate_network`
(one item's DC and the stores it supplies, or one series alone) with
``groupBy("sku", NETWORK).applyInPandas``. The formula's levels (and the cost-optimised
ones) are replayed on a stand-in that is honest about what the policy knew: it forecasts
with a trailing mean of the demand before that day (over a longer window where that is
higher, for demand sparser than its window: :func:`.stand_in.sparse_aware_forecast`), and
its safety stock comes from the
errors of that same forecast over protection-period windows in the warm-up history before
the replay (backtest residuals), combined with lead-time variability as the plan does. When
earlier runs planned the series on replayed days, variant ``shipped`` replays what their
plan lines released (levels and review day, from the project's own forecasts) on those days
and the stand-in of the variant the plan ships on the others. Lead times are drawn (seeded
per series) from the master's mean and standard deviation, so orders may cross. The days are stepped
by :func:`skuplan.replenishment.replay.replay` (its docstring has the day's timeline and
how cycles and fill rate are counted).

A DC's demand is the orders its stores' replays placed, day by day, with the levels the plan
ships (variant ``shipped`` where it has lines, else the shipped base), plus the DC's own
sales: the stores' replays run first, then the DC's over the second half of the days its
stores replayed (the longest store replay's: stores with less history than the replay and its
warm-up replay fewer days), the first half being its warm-up (the trailing mean and its
errors need history; days before any store replays would be demand the DC never saw). The DC is
assumed to fill every store order (the echelons are replayed one after the other, not
coupled: a DC's stockout does not delay its stores here); stores without a replay
(``short_history``, ``failed``) add no orders.

:func:`overall_simulation` pools the series rows per echelon and target type (a Spark aggregation).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from skuplan.replenishment import replay, stand_in
from skuplan.replenishment.network import ECHELON_DC, ECHELON_STORE
from skuplan.replenishment.policies import POLICY_SQ
from skuplan.schemas import POLICY_SIMULATION_SERIES

PARAM_COLUMNS = (
    "policy_name", "lead_time_days", "lead_time_std", "review_period", "target_type",
    "target_service_level", "pack", "min_order", "unit_cost", "order_cost", "holding_cost_rate",
    "shortage_cost",
)  # fmt: skip
# The cost-optimised choice (:mod:`.cost_policy`), when the plan made one: replayed beside the
# formula as variant ``cost``.
COST_COLUMNS = (
    "cost_safety_factor",
    "cost_lot_multiplier",
    "cost_review_period",
    "cost_is_formula",
)
VARIANT_FORMULA, VARIANT_COST, VARIANT_SHIPPED = "formula", "cost", "shipped"
MIN_REPLAY_DAYS = 28  # fewer days after a series' warm-up: ``short_history``
# The input column that groups an item's DC with its stores (:func:`simulate_network`): the
# DC's location on the DC's rows and on those of the stores it supplies, else the series' own.
NETWORK = "network"
# Earlier plans' released lines (``reorder_plan``), on zero-demand rows dated by their run date.
SHIPPED_COLUMNS = (
    "shipped_policy", "shipped_reorder_point", "shipped_order_up_to", "shipped_lot",
    "shipped_is_review_day", "shipped_daily_demand",
)  # fmt: skip


def _empty_result(sku, location, p, status: str, error: str | None = None) -> pd.DataFrame:
    row = dict.fromkeys(f.name for f in POLICY_SIMULATION_SERIES.fields)
    row.update(
        sku=sku,
        location=location,
        policy=p["policy_name"],
        variant=VARIANT_FORMULA,
        target_type=p["target_type"],
        target=float(p["target_service_level"]),
        status=status,
        error=error,
        echelon=_echelon(p),
    )
    return pd.DataFrame([row])


def _echelon(p) -> str:
    echelon = p.get("echelon")
    return ECHELON_STORE if echelon is None or pd.isna(echelon) else str(echelon)


def simulate_series(
    pdf: pd.DataFrame,
    *,
    run_date: dt.date,
    weeks: int,
    warmup_days: int,
    window: int,
    seed: int,
    anchor_date: dt.date,
    method: str = "auto",
    shipped_base: str = VARIANT_FORMULA,
) -> pd.DataFrame:
    """Replay one series' policy over the ``weeks`` weeks before ``run_date``.

    Args:
        pdf: one series: ``sku, location, date, qty`` (days without a row count as zero
            demand) and the constant policy parameters in ``PARAM_COLUMNS`` on every row;
            with the ``COST_COLUMNS`` set, the cost-optimised levels are replayed too, on the
            same demand and lead times (``safety_factor`` times the day's sigma over the
            protection period, lots of ``lot_multiplier`` EOQs, reviews every
            ``cost_review_period`` days); rows with ``SHIPPED_COLUMNS`` set (zero ``qty``)
            are earlier plans' released lines, dated by their run date; ``echelon``, when
            present, is copied to the result (``store`` when absent).
        run_date: the replay ends the day before.
        weeks: length of the replay (shorter for a series whose rows start later than
            ``warmup_days`` before it).
        warmup_days: history before the replay, for the forecast-error sample.
        window: trailing-mean forecast window (days).
        seed: base seed of the lead-time draws.
        anchor_date: periodic reviews fall every ``review_period`` days from this date.
        method: ``normal``, ``gamma`` or ``auto`` (gamma for intermittent demand).
        shipped_base: the variant whose levels ``shipped`` takes on days without a line.

    Returns:
        Rows in ``POLICY_SIMULATION_SERIES``, one per ``variant`` (``formula``, ``cost``
        when replayed, ``shipped`` with earlier plans' lines of the same policy); ``status``
        is ``ok``, ``no_demand`` or ``short_history`` (fewer than ``MIN_REPLAY_DAYS`` after
        the series' first row and ``warmup_days``, or too few error windows), or ``failed``
        with the ``error`` (then the formula's row only).
    """
    settings = _Settings(
        run_date, weeks, warmup_days, window, seed, anchor_date, method, shipped_base
    )  # fmt: skip
    return _series(pdf, settings)[0]


@dataclass(frozen=True)
class _Settings:
    """:func:`simulate_series`' settings (one per replay)."""

    run_date: dt.date
    weeks: int
    warmup_days: int
    window: int
    seed: int
    anchor_date: dt.date
    method: str = "auto"
    shipped_base: str = VARIANT_FORMULA
    phased: bool = False  # expect demand per day of the review cycle (a DC's stores' orders)


def simulate_network(pdf: pd.DataFrame, **settings) -> pd.DataFrame:
    """One item's replays: a DC and the stores it supplies (``NETWORK`` is the DC's location
    on all their rows), or one series alone; ``settings`` as :func:`simulate_series`'.

    Rows with ``echelon`` = ``dc`` are the DC's (its parameters, its own sales if it sells,
    its earlier plan lines); the others are its stores', each replayed by
    :func:`simulate_series`. The DC's demand is the orders the stores' replays placed with
    the levels the plan ships, plus its own sales; it is replayed over the second half of
    the stores' days, the first half its warm-up (module docstring).

    Returns:
        The stores' rows, then the DC's (``echelon`` says which), in ``POLICY_SIMULATION_SERIES``.
    """
    st = _Settings(**settings)
    is_dc = pdf["echelon"].eq(ECHELON_DC) if "echelon" in pdf else pd.Series(False, pdf.index)
    dc_rows = pdf[is_dc]
    frames, orders, span, stores = [], np.zeros(st.weeks * 7), 0, pdf[~is_dc]
    for _, rows in stores.groupby("location", sort=True):
        frame, placed = _series(rows, st)
        frames.append(frame)
        if placed is not None:  # a store with a shorter history replays the last days only
            orders[len(orders) - len(placed) :] += placed
            span = max(span, len(placed))
    if not dc_rows.empty:
        spanned = orders[len(orders) - (span or len(orders)) :]
        cost = st.shipped_base == VARIANT_COST
        phased = stand_in.orders_on_review_days(stores, dc_rows.iloc[0], cost_shipped=cost)
        frames.append(_dc_series(dc_rows, spanned, dataclasses.replace(st, phased=phased)))
    # From the rows (concatenating frames whose `error` is all-NA warns).
    return pd.DataFrame([row for frame in frames for row in frame.to_dict("records")])


def _dc_series(dc_rows: pd.DataFrame, orders: np.ndarray, st: _Settings) -> pd.DataFrame:
    """The DC's replay on its stores' ``orders`` (one value per day their replays span, up to
    the run date) and its own rows: the whole weeks of the second half replayed, the rest
    its warm-up."""
    weeks = len(orders) // 14
    if weeks == 0:
        p = dc_rows.iloc[0]
        return _empty_result(p["sku"], p["location"], p, "short_history")
    days = pd.date_range(end=pd.Timestamp(st.run_date) - pd.Timedelta(days=1), periods=len(orders))
    constant = [c for c in dc_rows.columns if c not in ("date", "qty", *SHIPPED_COLUMNS)]
    demand = pd.DataFrame({"date": days.date, "qty": orders}).assign(
        **{c: dc_rows[c].iloc[0] for c in constant}
    )
    pdf = pd.concat([dc_rows, demand], ignore_index=True)
    warmup = len(orders) - weeks * 7
    return _series(pdf, dataclasses.replace(st, weeks=weeks, warmup_days=warmup))[0]


def _history_start(pdf: pd.DataFrame, days: pd.DatetimeIndex) -> int:
    """The position in ``days`` of the series' first sales row (earlier plans' lines aside),
    0 when its history starts before them. The replay starts ``warmup_days`` after it: a
    series with less history than the replay and its warm-up replays fewer days, not days
    whose warm-up had no history."""
    sales = pdf[pdf["shipped_policy"].isna()] if "shipped_policy" in pdf else pdf
    first = pd.to_datetime(sales["date"]).min()
    return 0 if pd.isna(first) else int(days.searchsorted(first))


def _series(pdf, st: _Settings):
    """:func:`simulate_series`' rows, and the orders the variant the plan ships placed each
    replayed day (None where the series was not replayed)."""
    sku, location = pdf["sku"].iloc[0], pdf["location"].iloc[0]
    p = pdf.iloc[0]
    try:
        return _simulate(pdf, p, sku, location, st)
    except Exception as exc:  # failures are data: one bad series must not stop the replay
        return _empty_result(sku, location, p, "failed", f"{type(exc).__name__}: {exc}"), None


def _simulate(pdf, p, sku, location, st: _Settings):
    days, demand = stand_in.daily_demand(pdf, st.run_date, st.weeks * 7 + st.warmup_days)
    first_sale = int(np.argmax(demand > 0)) if (demand > 0).any() else len(demand)
    sim0 = _history_start(pdf, days) + st.warmup_days
    n_sim = len(days) - sim0
    if n_sim < MIN_REPLAY_DAYS:
        return _empty_result(sku, location, p, "short_history"), None
    if demand[sim0:].sum() <= 0:
        return _empty_result(sku, location, p, "no_demand"), None

    L_mean, L_std = float(p["lead_time_days"]), float(p["lead_time_std"])
    R = round(float(p["review_period"]))
    policy, P = p["policy_name"], L_mean + R

    forecast, csum = stand_in.sparse_aware_forecast(demand, st.window, first_sale, sim0)
    # A DC whose stores order on its review days: expected per day of the review cycle.
    offset0 = (days[0].date() - st.anchor_date).days
    protection = partial(
        stand_in.protection_error, demand, forecast, csum, window=st.window,
        first_sale=first_sale, sim0=sim0, cycle=R if st.phased else 1,
        review=_review_days(policy, R, offset0, len(days)) if st.phased else None,
        quantile=float(p["target_service_level"]),
    )  # fmt: skip
    expected, sigma_p = protection(P)
    if sigma_p is None:
        return _empty_result(sku, location, p, "short_history"), None
    ss_method = stand_in.safety_stock_method(demand[first_sale:sim0], st.method)

    f = forecast[sim0:]
    levels = stand_in.policy_levels(p, f, sigma_p, L_std, R, P, ss_method, expected[sim0:])
    offset = offset0 + sim0

    rng = replay.series_rng(st.seed, sku, location)
    lead_draws = replay.lead_times(rng, L_mean, L_std, n_sim)
    d = demand[sim0:]
    variants = {VARIANT_FORMULA: (levels, R)}
    if all(c in p.index for c in COST_COLUMNS) and pd.notna(p["cost_safety_factor"]):
        variants[VARIANT_COST] = stand_in.cost_levels(p, levels, f, sim0, sigma_p, protection)
    at, lines = _shipped_lines(pdf, days[sim0:], policy)
    if len(at):
        variants[VARIANT_SHIPPED] = variants.get(st.shipped_base, variants[VARIANT_FORMULA])
    arrays = [np.stack([getattr(v, c) for v, _ in variants.values()]) for c in ("reorder_point", "order_up_to", "eoq")]  # fmt: skip
    reviews = np.stack([_review_days(policy, r, offset, n_sim) for _, r in variants.values()])
    n = len(variants)
    can_order = np.tile(f > 0, (n, 1))
    if len(at):  # the last run: what shipped on the lines' days
        for values, column in zip((*arrays, reviews), SHIPPED_COLUMNS[1:5], strict=True):
            values[-1, at] = lines[column].to_numpy(values.dtype)
        can_order[-1, at] = lines["shipped_daily_demand"].to_numpy(float) > 0
    runs = replay.Levels(*arrays, levels.pack, levels.moq)
    totals = replay.replay(policy, np.tile(d, (n, 1)), can_order, reviews, runs, np.tile(lead_draws, (n, 1)), keep_orders=True)  # fmt: skip
    # One frame from the rows (concatenating one-row frames whose `error` is all-NA warns).
    frame = pd.DataFrame(
        [
            _result(sku, location, p, ss_method, sigma_p, n_sim, float(d.sum()), levels, totals, i, name, r, len(at) if name == VARIANT_SHIPPED else 0)
            for i, (name, (_, r)) in enumerate(variants.items())
        ]
    )  # fmt: skip
    ships = next(v for v in (VARIANT_SHIPPED, st.shipped_base, VARIANT_FORMULA) if v in variants)
    return frame, totals.placed[list(variants).index(ships)]


def _shipped_lines(pdf, days, policy) -> tuple[np.ndarray, pd.DataFrame]:
    """The earlier plans' lines of ``policy`` with every ``SHIPPED_COLUMNS`` value, on the
    replay's ``days``: their day positions and rows."""
    if SHIPPED_COLUMNS[0] not in pdf:
        return np.array([], int), pdf.iloc[:0]
    lines = pdf.dropna(subset=list(SHIPPED_COLUMNS))
    lines = lines[lines["shipped_policy"] == policy]
    at = pd.DatetimeIndex(days).get_indexer(pd.to_datetime(lines["date"]))
    return at[at >= 0], lines[at >= 0]


def _review_days(policy: str, review_period: int, offset: int, n_days: int) -> np.ndarray:
    """The replay's review days: every day for ``sQ``, else every ``review_period``-th day
    from the anchor (``offset``: the replay's first day's distance from it)."""
    if policy == POLICY_SQ:
        return np.ones(n_days, bool)
    return (offset + np.arange(n_days)) % max(review_period, 1) == 0


def _result(
    sku, location, p, ss_method, sigma_p, n_sim, total_demand, levels, totals: replay.Totals,
    i: int, variant: str, review_period: int, plan_days: int,
) -> dict:  # fmt: skip
    """A row of ``POLICY_SIMULATION_SERIES``: service achieved and costs of run ``i``
    (reviewing every ``review_period`` days; ``plan_days`` of them on stored plan lines)."""
    holding_cost = float(totals.on_hand_days[i]) * levels.holding / 365.0
    orders = int(totals.orders[i])
    ordering_cost = orders * float(p["order_cost"])
    backordered, filled = float(totals.backordered[i]), float(totals.filled[i])
    shortage_cost = backordered * float(p["shortage_cost"])
    cycles, stockout_cycles = int(totals.cycles[i]), int(totals.stockout_cycles[i])
    row = {
        "sku": sku,
        "location": location,
        "policy": p["policy_name"],
        "variant": variant,
        "target_type": p["target_type"],
        "target": float(p["target_service_level"]),
        "ss_method": ss_method,
        "sigma_protection": sigma_p,
        "review_period": float(review_period),
        "sim_days": n_sim,
        "plan_days": plan_days,
        "cycles": cycles,
        "stockout_cycles": int(stockout_cycles),
        "achieved_csl": 1 - stockout_cycles / cycles if cycles else None,
        "demand": total_demand,
        "filled": filled,
        "achieved_fill_rate": filled / total_demand,
        "avg_on_hand": float(totals.on_hand_days[i]) / n_sim,
        "orders": orders,
        "holding_cost": holding_cost,
        "ordering_cost": ordering_cost,
        "shortage_cost": shortage_cost,
        "total_cost": holding_cost + ordering_cost + shortage_cost,
        "status": "ok",
        "error": None,
        "echelon": _echelon(p),
    }
    return row


# Series columns that add up in the overall rows.
SUMMED = (
    "plan_days", "cycles", "stockout_cycles", "demand", "filled", "avg_on_hand", "orders",
    "holding_cost", "ordering_cost", "shortage_cost", "total_cost",
)  # fmt: skip


def overall_simulation(series_df: DataFrame) -> DataFrame:
    """Aggregate the series rows per variant, echelon and target type (``level = overall``, no
    keys).

    Divisions are ``try_divide``: a group without cycles (short replays) has no CSL, not an
    error. CSL is pooled over cycles (stocked-out cycles / cycles) against the cycle-weighted mean
    target; fill rate over demand against the demand-weighted mean target. Only ``ok``
    series count.

    Args:
        series_df: rows of :func:`simulate_series` (the ``POLICY_SIMULATION_SERIES`` columns).

    Returns:
        One row per variant, echelon and target type: ``level`` and the
        ``POLICY_SIMULATION_SERIES`` columns.
    """
    ok = series_df.filter(F.col("status") == "ok")
    return (
        ok.groupBy("variant", "target_type", "echelon")
        .agg(
            F.lit("overall").alias("level"),
            F.lit(None).cast("string").alias("sku"),
            F.lit(None).cast("string").alias("location"),
            F.lit("all").alias("policy"),
            F.when(
                F.first("target_type") == "csl",
                F.try_divide(F.sum(F.col("target") * F.col("cycles")), F.sum("cycles")),
            )
            .otherwise(F.try_divide(F.sum(F.col("target") * F.col("demand")), F.sum("demand")))
            .alias("target"),
            F.lit(None).cast("string").alias("ss_method"),
            F.lit(None).cast("double").alias("sigma_protection"),
            F.lit(None).cast("double").alias("review_period"),
            F.max("sim_days").alias("sim_days"),
            *[F.sum(c).alias(c) for c in SUMMED],
            (1 - F.try_divide(F.sum("stockout_cycles"), F.sum("cycles"))).alias("achieved_csl"),
            F.try_divide(F.sum("filled"), F.sum("demand")).alias("achieved_fill_rate"),
            F.lit("ok").alias("status"),
            F.lit(None).cast("string").alias("error"),
        )
        .select("level", *[f.name for f in POLICY_SIMULATION_SERIES.fields])
    )
