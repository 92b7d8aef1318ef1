"""Policy parameters chosen by cost: per series, the safety stock, lot size and review period
that minimise the expected holding + ordering + shortage cost while meeting the service target.

The formula policy (:mod:`.policies`) sets the safety stock from a normal or gamma quantile
and the lot from the EOQ, each on its own, and reviews on the master's period. Here every
candidate is simulated instead: the reorder point ``s = demand over the protection period +
k * sigma`` for a grid of safety factors ``k`` (sigma: the plan's ``sigma_lead_time_demand``)
and, for ``sQ`` and ``minmax``, lots of ``m * EOQ`` for a grid of multipliers ``m`` (``RS``
orders up to ``s``). ``RS`` and ``minmax`` also try reviewing every 2, 3 or 4 master periods
(up to ``MAX_REVIEW_DAYS``): fewer orders, a longer protection period whose demand and sigma
are extended as the plan extends them (the forecast's mean rate and daily variance, days
independent). The formula's own levels are a candidate too. Each is replayed
(:func:`.replay.replay`) on the same ``PATHS`` demand paths of ``DAYS`` days, sampled from
the series' forecast (gamma days with the forecast's daily mean and standard deviation, lead
times drawn from the master's mean and standard deviation, seeded per series). The cheapest
candidate whose pooled service (cycle service level or fill rate, as the series' target says)
reaches the target wins; when none does, or the paths hold too few cycles to tell a cycle
service level (slow movers get up to ``MAX_PATHS`` paths first), the formula stays.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from skuplan import fanout
from skuplan.columns import KEYS
from skuplan.replenishment import replay
from skuplan.replenishment.policies import POLICY_RS, POLICY_SQ

SAFETY_FACTORS = np.round(np.arange(-0.5, 3.51, 0.25), 2)
LOT_MULTIPLIERS = (0.5, 0.75, 1.0, 1.5, 2.0)
REVIEW_MULTIPLIERS = (1, 2, 3, 4)  # of the master's review period (RS, minmax)
MAX_REVIEW_DAYS = 28  # longer reviews are left to the master data
PATHS = 40
MAX_PATHS = 160  # for cycle service targets of slow movers (see MIN_CYCLES)
DAYS = 182
MIN_CYCLES = 40  # pooled over the paths: fewer cannot tell a 95% from a 90% service level

COST_POLICY = (
    "sku string, location string, safety_factor double, lot_multiplier double, "
    "review_period double, demand_over_protection double, sigma_protection double, "
    "sigma_lead_time_demand double, "
    "reorder_point double, order_up_to double, lot double, is_formula boolean, "
    "formula_cost double, cost double, formula_service double, service double, status string"
)
STATUS_CHOSEN, STATUS_FORMULA_CHEAPEST = "chosen", "formula_cheapest"
STATUS_NO_DEMAND, STATUS_FEW_CYCLES, STATUS_TARGET_MISSED = (
    "no_demand",
    "few_cycles",
    "target_missed",
)


def _demand_paths(rng, mean: float, sigma: float, shape) -> np.ndarray:
    """Gamma days with the forecast's mean and standard deviation (constant without spread)."""
    if sigma <= 0:
        return np.full(shape, mean)
    return rng.gamma((mean / sigma) ** 2, sigma**2 / mean, shape)


def review_periods(p) -> list[float]:
    """The review periods tried: the master's, and for ``RS`` and ``minmax`` its multiples up
    to ``MAX_REVIEW_DAYS`` (``sQ`` reviews daily)."""
    r = float(p["review_period"])
    if p["policy_name"] == POLICY_SQ or r < 1:
        return [r]
    return [r * m for m in REVIEW_MULTIPLIERS if m == 1 or r * m <= MAX_REVIEW_DAYS]


def protection(p, review_period):
    """Demand over the protection period, its forecast sigma and that sigma with lead-time
    variability when reviewing every ``review_period`` days: the plan's figures, the extra
    days at the forecast's mean rate and daily variance (days independent)."""
    extra = np.asarray(review_period, float) - float(p["review_period"])
    d, sd, l_std = (float(p[c] or 0.0) for c in ("daily_demand", "sigma_daily", "lead_time_std"))
    mean_p = float(p["demand_over_protection"]) + extra * d
    var_p = np.maximum(float(p["sigma_protection"]) ** 2 + extra * sd * sd, 0.0)
    return mean_p, np.sqrt(var_p), np.sqrt(var_p + d * d * l_std * l_std)


def _candidates(p) -> pd.DataFrame:
    """One row per candidate: ``safety_factor, lot_multiplier, review_period,
    demand_over_protection, sigma_lead_time_demand, reorder_point, order_up_to, lot,
    is_formula``; the formula's levels first."""
    eoq, pack = float(p["eoq"]), max(float(p["pack"]), 1.0)
    multipliers = (1.0,) if p["policy_name"] == POLICY_RS else LOT_MULTIPLIERS
    k, m, r = (a.ravel() for a in np.meshgrid(SAFETY_FACTORS, multipliers, review_periods(p), indexing="ij"))  # fmt: skip
    mean_p, sigma_p, sigma = protection(p, r)
    rop = mean_p + k * sigma
    lot = np.maximum(m * eoq, pack)
    up_to = rop if p["policy_name"] == POLICY_RS else rop + lot
    formula = pd.DataFrame(
        {"safety_factor": [float(p["safety_factor"])], "lot_multiplier": [1.0],
         "review_period": [float(p["review_period"])],
         "demand_over_protection": [float(p["demand_over_protection"])],
         "sigma_protection": [float(p["sigma_protection"])],
         "sigma_lead_time_demand": [float(p["sigma_lead_time_demand"])],
         "reorder_point": [float(p["reorder_point"])], "order_up_to": [float(p["order_up_to"])],
         "lot": [eoq], "is_formula": [True]}
    )  # fmt: skip
    grid = pd.DataFrame(
        {"safety_factor": k, "lot_multiplier": m, "review_period": r,
         "demand_over_protection": mean_p, "sigma_protection": sigma_p,
         "sigma_lead_time_demand": sigma,
         "reorder_point": rop, "order_up_to": up_to, "lot": lot, "is_formula": False}
    )  # fmt: skip
    return pd.concat([formula, grid], ignore_index=True)


def evaluate(p, candidates: pd.DataFrame, *, seed: int, paths: int = PATHS, days: int = DAYS):
    """Every candidate's simulated yearly cost, pooled service and cycles, on common paths.

    Returns ``candidates`` with ``cost, service, cycles`` added.
    """
    rng = replay.series_rng(seed, "cost", p["sku"], p["location"])
    demand = _demand_paths(rng, float(p["daily_demand"]), float(p["sigma_daily"]), (paths, days))
    L, L_std = float(p["lead_time_days"]), float(p["lead_time_std"] or 0.0)
    leads = replay.lead_times(rng, L, L_std, (paths, days))
    n = len(candidates)
    column = lambda c: np.repeat(candidates[c].to_numpy(float), paths)[:, None]  # noqa: E731
    if p["policy_name"] == POLICY_SQ:
        review = np.ones(days, bool)
    else:
        periods = np.maximum(np.rint(column("review_period")), 1).astype(int).T
        review = (np.arange(days)[:, None] % periods == 0).T  # stored day-major, as below
    levels = replay.Levels(
        column("reorder_point"), column("order_up_to"), column("lot"),
        max(float(p["pack"]), 1.0), float(p["min_order"] or 0.0),
    )  # fmt: skip
    # Every candidate on the same paths, built day-major (the replay's layout: no copy there).
    tiled = lambda a: np.tile(a.T, (1, n)).T  # noqa: E731
    totals = replay.replay(p["policy_name"], tiled(demand), True, review, levels, tiled(leads))
    per = lambda a: np.asarray(a, float).reshape(n, paths)  # noqa: E731
    holding = float(p["holding_cost_rate"]) * float(p["unit_cost"]) / 365.0
    yearly = (
        per(totals.on_hand_days) * holding
        + per(totals.orders) * float(p["order_cost"])
        + per(totals.backordered) * float(p["shortage_cost"] or 0.0)
    ).mean(axis=1) * (365.0 / days)
    cycles, stockouts = per(totals.cycles).sum(axis=1), per(totals.stockout_cycles).sum(axis=1)
    if p["target_type"] == "csl":
        with np.errstate(invalid="ignore", divide="ignore"):
            service = 1.0 - stockouts / cycles
    else:
        service = per(totals.filled).sum(axis=1) / max(float(demand.sum()), 1e-9)
    return candidates.assign(cost=yearly, service=service, cycles=cycles)


def optimise_series(pdf: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """The cost-optimised levels of one series (see the module docstring).

    Args:
        pdf: one row, the series' plan line: ``sku, location, policy_name, daily_demand,
            sigma_daily, lead_time_days, lead_time_std, review_period, target_type,
            target_service_level, demand_over_protection, sigma_protection,
            sigma_lead_time_demand, safety_factor, reorder_point, order_up_to, eoq, pack,
            min_order, unit_cost, holding_cost_rate, order_cost, shortage_cost``.
        seed: base seed of the sampled paths.

    Returns:
        One row in ``COST_POLICY``: the chosen ``safety_factor, lot_multiplier`` and levels,
        whether they are the formula's, both candidates' simulated yearly cost and service,
        and ``status`` (``chosen``, ``formula_cheapest``; the formula kept: ``no_demand``,
        ``few_cycles``, ``target_missed``).
    """
    p = pdf.iloc[0]
    out = {"sku": p["sku"], "location": p["location"]}
    if not float(p["daily_demand"]) > 0:
        return _formula_row(out, p, STATUS_NO_DEMAND)
    candidates, is_csl = _candidates(p), p["target_type"] == "csl"
    scored = evaluate(p, candidates, seed=seed)
    formula = scored.iloc[0]
    if is_csl and 0 < formula["cycles"] < MIN_CYCLES:
        # Slow movers in big lots: more paths, up to MAX_PATHS, to count enough cycles.
        paths = min(math.ceil(PATHS * MIN_CYCLES / formula["cycles"]), MAX_PATHS)
        scored = evaluate(p, candidates, seed=seed, paths=paths)
        formula = scored.iloc[0]
    if is_csl and formula["cycles"] < MIN_CYCLES:
        return _formula_row(out, p, STATUS_FEW_CYCLES, formula)
    # A cycle service level needs cycles to be told; a fill rate counts every unit.
    measured = scored["cycles"] >= MIN_CYCLES if is_csl else True
    feasible = scored[measured & (scored["service"] >= float(p["target_service_level"]))]
    if feasible.empty:
        return _formula_row(out, p, STATUS_TARGET_MISSED, formula)
    best = feasible.loc[feasible["cost"].idxmin()]
    status = STATUS_FORMULA_CHEAPEST if best["is_formula"] else STATUS_CHOSEN
    row = {
        **out,
        **{c: best[c] for c in LEVEL_COLUMNS},
        "is_formula": bool(best["is_formula"]),
        "formula_cost": formula["cost"], "cost": best["cost"],
        "formula_service": formula["service"], "service": best["service"], "status": status,
    }  # fmt: skip
    return pd.DataFrame([row])


LEVEL_COLUMNS = (
    "safety_factor", "lot_multiplier", "review_period", "demand_over_protection",
    "sigma_protection", "sigma_lead_time_demand", "reorder_point", "order_up_to", "lot",
)  # fmt: skip


def _formula_row(out: dict, p, status: str, formula=None) -> pd.DataFrame:
    """The formula's levels kept (with its simulated figures when they were computed)."""
    cost = None if formula is None else float(formula["cost"])
    service = None if formula is None else float(formula["service"])
    row = {
        **out,
        "safety_factor": float(p["safety_factor"]), "lot_multiplier": 1.0,
        "review_period": float(p["review_period"]),
        "demand_over_protection": float(p["demand_over_protection"]),
        "sigma_protection": float(p["sigma_protection"]),
        "sigma_lead_time_demand": float(p["sigma_lead_time_demand"]),
        "reorder_point": float(p["reorder_point"]), "order_up_to": float(p["order_up_to"]),
        "lot": float(p["eoq"]), "is_formula": True, "formula_cost": cost, "cost": cost,
        "formula_service": service, "service": service, "status": status,
    }  # fmt: skip
    return pd.DataFrame([row])


# The plan line's columns the optimisation reads.
INPUT_COLUMNS = (
    "policy_name", "daily_demand", "sigma_daily", "lead_time_days", "lead_time_std",
    "review_period", "target_type", "target_service_level", "demand_over_protection",
    "sigma_protection", "sigma_lead_time_demand", "safety_factor", "reorder_point",
    "order_up_to", "eoq", "pack", "min_order", "unit_cost", "holding_cost_rate", "order_cost",
    "shortage_cost",
)  # fmt: skip
# What a plan line records of the choice (null when the optimisation is off).
CHOICE_COLUMNS = {
    "cost_status": "string", "cost_safety_factor": "double", "cost_lot_multiplier": "double",
    "cost_review_period": "double", "cost_is_formula": "boolean", "simulated_cost": "double",
    "simulated_formula_cost": "double",
}  # fmt: skip
PARAMETERS_FORMULA, PARAMETERS_COST = "formula", "cost"
# The plan line's columns a shipped choice replaces (besides ``protection_days``,
# ``cycle_qty`` and ``is_review_day``, which follow from them).
SHIPPED = (
    "reorder_point", "order_up_to", "eoq", "safety_factor", "safety_stock", "review_period",
    "demand_over_protection", "sigma_protection", "sigma_lead_time_demand",
)  # fmt: skip


def with_cost_choice(
    df: DataFrame, *, seed: int, ship: bool, is_review_day: Column | None = None
) -> DataFrame:
    """Each series' cost-optimised choice (one :func:`optimise_series` per series, grouped by
    ``sku, location``) beside its formula levels; with ``ship``, the chosen levels replace
    the formula's before the order is computed.

    Input: ``sku, location, safety_stock, protection_days, cycle_qty, is_review_day`` and
    ``INPUT_COLUMNS`` (``policies.with_safety_stock``'s output).
    Output adds ``CHOICE_COLUMNS`` and ``policy_parameters`` (``formula`` or ``cost``: the
    levels the line orders with); with ``ship``, ``SHIPPED`` are the chosen ones where the
    choice is not the formula, ``is_review_day`` re-evaluated (``is_review_day``, a column
    of ``policy_name, review_period``) on the chosen review period.
    """
    fn = partial(optimise_series, seed=seed)

    def per_series(pdf):
        return fn(pdf)

    choice_df = (
        fanout.grouped_in_tasks(df.select(*KEYS, *INPUT_COLUMNS), KEYS)
        .applyInPandas(per_series, schema=COST_POLICY)
        .select(
            *KEYS,
            F.col("status").alias("cost_status"),
            F.col("safety_factor").alias("cost_safety_factor"),
            F.col("lot_multiplier").alias("cost_lot_multiplier"),
            F.col("review_period").alias("cost_review_period"),
            F.col("is_formula").alias("cost_is_formula"),
            F.col("cost").alias("simulated_cost"),
            F.col("formula_cost").alias("simulated_formula_cost"),
            *[F.col(c).alias(f"_{c}") for c in LEVEL_COLUMNS],
        )
    )
    joined = df.join(choice_df, [*KEYS], "left")
    switch = F.lit(ship) & ~F.coalesce(F.col("cost_is_formula"), F.lit(True))
    shipped = joined.withColumns({c: F.when(switch, v).otherwise(F.col(c)) for c, v in _chosen().items()})  # fmt: skip
    if is_review_day is not None:
        shipped = shipped.withColumn(
            "is_review_day", F.when(switch, is_review_day).otherwise(F.col("is_review_day"))
        )
    return shipped.select(
        *df.columns,
        *CHOICE_COLUMNS,
        F.when(switch, F.lit(PARAMETERS_COST))
        .otherwise(F.lit(PARAMETERS_FORMULA))
        .alias("policy_parameters"),
    )


def _chosen() -> dict[str, Column]:
    """The plan line's columns as the choice (joined in as ``_<LEVEL_COLUMNS>``) sets them:
    ``SHIPPED`` and what follows from them."""
    chosen = {c: F.col(f"_{c}") for c in SHIPPED if c not in ("eoq", "safety_stock")}
    return chosen | {
        "eoq": F.col("_lot"),
        "safety_stock": F.col("_reorder_point") - F.col("_demand_over_protection"),
        "protection_days": F.col("lead_time_days") + F.col("_review_period"),
        "cycle_qty": F.when(
            F.col("policy_name") == POLICY_RS, F.col("daily_demand") * F.col("_review_period")
        ).otherwise(F.col("_lot")),
    }


def with_formula_only(df: DataFrame) -> DataFrame:
    """The plan line's choice columns when the optimisation is off: the formula, no choice."""
    return df.select(
        "*",
        *[F.lit(None).cast(t).alias(c) for c, t in CHOICE_COLUMNS.items()],
        F.lit(PARAMETERS_FORMULA).alias("policy_parameters"),
    )
