import datetime as dt

import numpy as np
import pandas as pd
import pytest

from skuplan.replenishment import replay, simulation, stand_in
from skuplan.replenishment import safety_stock as ss

RUN_DATE = dt.date(2026, 6, 30)
ANCHOR = dt.date(2024, 1, 2)
PARAMS = dict(
    policy_name="sQ", lead_time_days=3.0, lead_time_std=0.0, review_period=1.0, target_type="csl",
    target_service_level=0.95, pack=1.0, min_order=0.0, unit_cost=10.0, order_cost=50.0,
    holding_cost_rate=0.25, shortage_cost=5.0,
)  # fmt: skip


def _series(qty, **params):
    days = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=len(qty))
    return pd.DataFrame(
        {"sku": "A", "location": "L", "date": days.date, "qty": qty, **{**PARAMS, **params}}
    )


def _sim(pdf, **kw):
    args = dict(run_date=RUN_DATE, weeks=8, warmup_days=84, window=28, seed=1, anchor_date=ANCHOR)
    return simulation.simulate_series(pdf, **{**args, **kw}).iloc[0]


def test_constant_demand_never_stocks_out_and_costs_add_up():
    got = _sim(_series(np.full(140, 5.0)))
    # No forecast error: sigma 0, s = 5 * (3 + 1) = 20, EOQ = sqrt(2 * 1825 * 50 / 2.5) = 270.2.
    assert got["status"] == "ok" and got["sigma_protection"] == 0.0
    assert got["achieved_fill_rate"] == 1.0 and got["stockout_cycles"] == 0
    assert got["demand"] == 56 * 5.0
    assert got["total_cost"] == pytest.approx(
        got["holding_cost"] + got["ordering_cost"] + got["shortage_cost"]
    )
    assert got["ordering_cost"] == got["orders"] * 50.0


def test_zero_demand_places_no_order():
    got = _sim(_series(np.zeros(140)))
    assert got["status"] == "no_demand" and pd.isna(got["orders"])


def test_short_history_is_reported_not_simulated():
    assert _sim(_series(np.full(60, 3.0)))["status"] == "short_history"


def test_a_series_with_less_history_replays_the_days_after_its_own_warm_up():
    # 8 weeks and 84 days of warm-up want 140 days; 120 days replay the last 36 after 84.
    got = _sim(_series(np.full(120, 5.0)))
    assert got["status"] == "ok" and got["sim_days"] == 36 and got["demand"] == 36 * 5.0
    assert got["sigma_protection"] == 0.0  # its warm-up held its sales only, no empty days
    assert got["stockout_cycles"] == 0
    # Fewer than MIN_REPLAY_DAYS after the warm-up: not replayed.
    days = 84 + simulation.MIN_REPLAY_DAYS - 1
    assert _sim(_series(np.full(days, 5.0)))["status"] == "short_history"
    assert _sim(_series(np.full(days + 1, 5.0)))["sim_days"] == simulation.MIN_REPLAY_DAYS


def test_seeded_and_near_target_on_poisson_demand():
    rng = np.random.default_rng(3)
    pdf = _series(
        rng.poisson(20, 600).astype(float), policy_name="RS", review_period=7.0, lead_time_std=1.0
    )
    a = _sim(pdf, weeks=52, warmup_days=180)
    b = _sim(pdf, weeks=52, warmup_days=180)
    assert a.equals(b)
    # 52 weekly cycles on stationary demand: the achieved CSL is near 95% (binomial sd ~3 pp).
    assert a["cycles"] >= 45
    assert 0.85 <= a["achieved_csl"] <= 1.0


def test_the_cost_choice_is_replayed_beside_the_formula_on_the_same_days():
    rng = np.random.default_rng(3)
    pdf = _series(rng.poisson(20, 600).astype(float), policy_name="RS", review_period=7.0, lead_time_std=1.0)  # fmt: skip
    args = dict(run_date=RUN_DATE, weeks=52, warmup_days=180, window=28, seed=1, anchor_date=ANCHOR)
    alone = simulation.simulate_series(pdf, **args)
    same = simulation.simulate_series(
        pdf.assign(cost_safety_factor=1.0, cost_lot_multiplier=1.0, cost_review_period=7.0, cost_is_formula=True), **args
    )  # fmt: skip
    more = simulation.simulate_series(
        pdf.assign(cost_safety_factor=3.0, cost_lot_multiplier=1.0, cost_review_period=7.0, cost_is_formula=False), **args
    )  # fmt: skip
    assert list(alone["variant"]) == ["formula"]
    assert list(same["variant"]) == list(more["variant"]) == ["formula", "cost"]
    # The formula's row is the same with or without a cost choice beside it.
    pd.testing.assert_frame_equal(more.iloc[[0]], alone)
    # A cost choice that kept the formula replays exactly as the formula.
    figures = ["cycles", "stockout_cycles", "filled", "avg_on_hand", "orders", "total_cost"]
    assert same[figures].iloc[0].equals(same[figures].iloc[1])
    # k = 3 holds more stock than the 95% formula (k = 1.64) and stocks out no more often.
    formula, cost = more.iloc[0], more.iloc[1]
    assert cost["avg_on_hand"] > formula["avg_on_hand"]
    assert cost["stockout_cycles"] <= formula["stockout_cycles"]
    # Reviewing every 28 days orders once per review, a quarter as often, over longer cycles
    # protected by a longer period's demand: more stock on hand.
    monthly = simulation.simulate_series(
        pdf.assign(cost_safety_factor=1.64, cost_lot_multiplier=1.0, cost_review_period=28.0, cost_is_formula=False), **args
    ).iloc[1]  # fmt: skip
    assert monthly["review_period"] == 28.0 and formula["review_period"] == 7.0
    assert monthly["orders"] == 13 and formula["orders"] >= 3 * monthly["orders"]
    assert monthly["cycles"] < formula["cycles"]
    assert monthly["avg_on_hand"] > 2 * formula["avg_on_hand"]


def _shipped(pdf, days, **line):
    """Released plan lines (``simulation.SHIPPED_COLUMNS``) on the replay's last ``days``
    days, as zero-demand rows (the pipeline's ``plan_policy.shipped_lines``)."""
    dates = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=days).date
    base = dict(
        shipped_policy="sQ", shipped_reorder_point=100.0, shipped_order_up_to=150.0,
        shipped_lot=50.0, shipped_is_review_day=True, shipped_daily_demand=5.0,
    )  # fmt: skip
    lines = pdf.iloc[:days].assign(date=dates, qty=0.0, **{**base, **line})
    return pd.concat([pdf, lines], ignore_index=True)


def _variants(pdf, **kw):
    args = dict(run_date=RUN_DATE, weeks=8, warmup_days=84, window=28, seed=1, anchor_date=ANCHOR)
    return simulation.simulate_series(pdf, **{**args, **kw}).set_index("variant")


def test_what_earlier_plans_released_is_replayed_as_variant_shipped():
    pdf = _series(np.full(140, 5.0))
    own = _variants(pdf)
    got = _variants(_shipped(pdf, 56))
    assert list(own.index) == ["formula"] and list(got.index) == ["formula", "shipped"]
    # The formula's stand-in is replayed as before; the lines add no demand.
    pd.testing.assert_series_equal(got.loc["formula"], own.loc["formula"])
    shipped = got.loc["shipped"]
    assert (shipped["plan_days"], got.loc["formula", "plan_days"]) == (56, 0)
    assert shipped["demand"] == 56 * 5.0
    # Every replayed day on the lines: the replay of s = 100, lots of 50 (from 150).
    want = replay.replay(
        "sQ", np.full((1, 56), 5.0), np.ones((1, 56), bool), np.ones((1, 56), bool),
        replay.Levels(np.full((1, 56), 100.0), np.full((1, 56), 150.0), np.full((1, 56), 50.0), 1.0, 0.0),
        np.full((1, 56), 3),
    )  # fmt: skip
    assert shipped["orders"] == want.orders[0] and shipped["cycles"] == want.cycles[0]
    assert shipped["avg_on_hand"] == pytest.approx(want.on_hand_days[0] / 56)
    assert shipped["orders"] > own.loc["formula", "orders"]  # lots of 50, not the EOQ of 270
    # Only complete lines of the series' policy count; none: no shipped row.
    gap = _shipped(pdf, 56)
    gap.loc[140, "shipped_lot"] = None  # the first line (row 140) lacks its lot
    assert _variants(gap).loc["shipped", "plan_days"] == 55
    assert list(_variants(_shipped(pdf, 56, shipped_policy="RS")).index) == ["formula"]


def test_days_without_a_line_take_the_levels_the_plan_ships():
    pdf = _series(np.full(140, 5.0)).assign(
        cost_safety_factor=3.0, cost_lot_multiplier=0.5, cost_review_period=1.0, cost_is_formula=False
    )  # fmt: skip
    half = _shipped(pdf, 28)
    formula, cost = (_variants(half, shipped_base=b) for b in ("formula", "cost"))
    assert list(cost.index) == ["formula", "cost", "shipped"]
    assert formula.loc["shipped", "plan_days"] == cost.loc["shipped", "plan_days"] == 28
    # The first 28 days: the formula's or the cost choice's stand-in levels.
    assert cost.loc["shipped", "avg_on_hand"] != formula.loc["shipped", "avg_on_hand"]
    everyday = _shipped(pdf, 56)
    same = [_variants(everyday, shipped_base=b).loc["shipped"] for b in ("formula", "cost")]
    pd.testing.assert_series_equal(same[0], same[1])


def _network(*stores, dc_sales=None, weeks=8, **dc_params):
    """Stores' series (``sku`` A, each its own location) and their DC ``D`` (a zero-demand
    row, or its own sales), grouped as the plan's ``simulation_inputs`` groups them."""
    rows = [pdf.assign(location=f"L{i}", echelon="store") for i, pdf in enumerate(stores)]
    own = _series(dc_sales) if dc_sales is not None else _series(np.zeros(1))
    dc = own.assign(
        location="D", echelon="dc", **{**dict(policy_name="RS", review_period=7.0), **dc_params}
    )
    pdf = pd.concat([*rows, dc], ignore_index=True).assign(**{simulation.NETWORK: "D"})
    args = dict(run_date=RUN_DATE, weeks=weeks, warmup_days=84, window=28, seed=1, anchor_date=ANCHOR)  # fmt: skip
    return pdf, args


def _orders(pdf, args):
    """The days' orders of a store's replay (the variant the plan ships)."""
    return simulation._series(pdf, simulation._Settings(**args))[1]


def _dc_demand(rows):
    return rows[(rows["location"] == "D") & (rows["variant"] == "formula")].iloc[0]["demand"]


def test_a_dc_is_replayed_on_the_orders_its_stores_placed_in_their_replay():
    rng = np.random.default_rng(4)
    stores = [
        _series(rng.poisson(m, 200).astype(float), lead_time_std=0.5, order_cost=10.0)
        for m in (20, 8)
    ]
    pdf, args = _network(*stores, weeks=16, lead_time_days=5.0)
    got = simulation.simulate_network(pdf, **args)
    assert list(got["location"]) == ["L0", "L1", "D"]
    assert list(got["echelon"]) == ["store", "store", "dc"]
    # The stores' rows are their own replays, as without a DC.
    for i, store in enumerate(stores):
        alone = simulation.simulate_series(store.assign(location=f"L{i}"), **args)
        want = alone.assign(echelon="store")
        pd.testing.assert_frame_equal(got.iloc[[i]].reset_index(drop=True), want, check_dtype=False)
    # The DC's demand: what the stores ordered over the second half of their 112 days (the
    # first half is its warm-up), every week or two as their lots ran down.
    orders = sum(_orders(store.assign(location=f"L{i}"), args) for i, store in enumerate(stores))
    dc = got.iloc[2]
    assert dc["status"] == "ok" and dc["sim_days"] == 56
    assert dc["demand"] == orders[56:].sum() > 0 and (orders[56:] > 0).sum() >= 5
    assert dc["policy"] == "RS" and dc["cycles"] >= 5
    # A store with a shorter history orders on its replay's last days only.
    short = stores[1].iloc[50:].assign(location="L1")
    pdf, args = _network(stores[0], short, weeks=16, lead_time_days=5.0)
    got = simulation.simulate_network(pdf, **args)
    placed = _orders(short, args)
    assert got.iloc[1]["sim_days"] == len(placed) == 200 - 50 - 84
    assert got.iloc[2]["demand"] == (_orders(stores[0].assign(location="L0"), args) + np.pad(placed, (112 - len(placed), 0)))[56:].sum()  # fmt: skip
    # A DC that sells too adds its own sales on those days.
    pdf, args = _network(*stores, dc_sales=np.full(200, 2.0), weeks=16, lead_time_days=5.0)
    assert simulation.simulate_network(pdf, **args).iloc[2]["demand"] == orders[56:].sum() + 112
    # The lines the plan shipped for the DC on its replayed days: variant `shipped`.
    pdf, args = _network(*stores, weeks=16, lead_time_days=5.0)
    dc = pd.concat([pdf[pdf["location"] == "D"]] * 28, ignore_index=True)
    lines = _shipped(dc, 28, shipped_policy="RS", shipped_order_up_to=400.0).iloc[28:]
    got = simulation.simulate_network(pd.concat([pdf, lines], ignore_index=True), **args)
    shipped = got[(got["location"] == "D") & (got["variant"] == "shipped")].iloc[0]
    assert shipped["plan_days"] == 28 and shipped["demand"] == _dc_demand(got)


def test_a_dc_whose_stores_replay_fewer_days_replays_the_second_half_of_theirs():
    # 150 days of history and 84 of warm-up: the stores replay 66 days of the 112 asked for.
    rng = np.random.default_rng(5)
    stores = [_series(rng.poisson(m, 150).astype(float), order_cost=10.0) for m in (20, 8)]
    pdf, args = _network(*stores, weeks=16, lead_time_days=5.0)
    got = simulation.simulate_network(pdf, **args)
    assert list(got.iloc[:2]["sim_days"]) == [66, 66]
    orders = sum(_orders(store.assign(location=f"L{i}"), args) for i, store in enumerate(stores))
    # The DC's days are the stores' 66, not 112 of which 46 had no orders: 4 whole weeks of
    # the second half replayed, the 38 days before them its warm-up.
    dc = got.iloc[2]
    assert dc["status"] == "ok" and dc["sim_days"] == 28 and dc["demand"] == orders[-28:].sum()


def test_a_dc_expects_its_stores_orders_on_their_review_days():
    # Stores ordering 10 units every 7th day (phase 0) and a 10-day protection period: a
    # window from a day of phase 0, 5 or 6 holds two review days, from phase 1-4 one.
    demand = np.tile([10.0, 0, 0, 0, 0, 0, 0], 8)
    forecast, _ = stand_in.trailing_mean_forecast(demand, 28, 0)
    args = dict(window=28, first_sale=0)
    flat = stand_in.protection_demand(demand, forecast, 10.0, **args)
    np.testing.assert_allclose(flat, 10.0 * forecast)  # one cycle day: the flat rate
    phased = stand_in.protection_demand(demand, forecast, 10.0, cycle=7, **args)
    want = np.tile([20.0, 10, 10, 10, 10, 20, 20], 4)
    np.testing.assert_allclose(phased[28:], want)
    np.testing.assert_allclose(flat[28:], 100 / 7)  # the flat rate's 14.3 on every day
    # Orders three days later move the pattern with them; a day of the cycle without
    # history yet takes the flat forecast.
    later = np.roll(demand, 3)
    forecast, _ = stand_in.trailing_mean_forecast(later, 28, 3)
    shifted = stand_in.protection_demand(later, forecast, 10.0, window=28, first_sale=3, cycle=7)
    np.testing.assert_allclose(shifted[31:38], want[:7])
    np.testing.assert_allclose(shifted[:4], 10.0 * forecast[:4])


def test_a_sparse_series_keeps_the_rate_of_its_lumps_between_them():
    # A lot of 600 every 60 days (a DC whose stores order quarterly lots): 28 days after a
    # lot the 28-day mean expects nothing; the longer mean (4 lots' span: 240 days) keeps
    # their rate, and right after a lot the 28-day mean's higher value stands.
    demand = np.zeros(480)
    demand[::60] = 600.0
    short, _ = stand_in.trailing_mean_forecast(demand, 28, 0)
    got, csum = stand_in.sparse_aware_forecast(demand, 28, 0, 240)
    np.testing.assert_allclose(csum[1:], np.cumsum(demand))
    assert short[300 + 30] == 0.0 and got[300 + 30] == pytest.approx(2400 / 240)
    assert got[301] == short[301] == pytest.approx(600 / 28)
    assert (got >= short).all()
    # Dense demand keeps the 28-day mean.
    daily = np.tile([3.0, 5.0, 0.0, 4.0], 120)
    np.testing.assert_array_equal(
        stand_in.sparse_aware_forecast(daily, 28, 0, 240)[0],
        stand_in.trailing_mean_forecast(daily, 28, 0)[0],
    )
    # Replayed, a lot 22 days in and 60 days after the last one: the levels no longer drop
    # to nothing before it, so it is served (the 28-day mean alone fills two thirds).
    lots = np.zeros(224)
    lots[10::60] = 600.0
    row = _sim(_series(lots, lead_time_days=7.0), weeks=8, warmup_days=168)
    assert row["status"] == "ok" and row["achieved_fill_rate"] == pytest.approx(1.0)


def test_an_rs_dc_s_error_sigma_comes_from_the_windows_of_its_review_days():
    demand = np.random.default_rng(3).poisson(5, 120).astype(float)
    csum, expected = np.concatenate([[0.0], np.cumsum(demand)]), np.full(120, 50.0)

    def sigma(review=None, quantile=None):
        return stand_in.protection_error_std(csum, expected, 0, 28, 100, 10.0, review, quantile)

    review = np.arange(120) % 7 == 2
    origins = np.arange(7, 91)  # from a week after the first sale to the last whole window
    aligned = origins[origins % 7 == 2]
    want = np.std(csum[aligned + 10] - csum[aligned] - 50.0, ddof=1)
    assert sigma(review) == pytest.approx(want) and sigma(review) != sigma()
    # At a target quantile, widened for the small sample: 12 windows here.
    assert len(aligned) == 12
    assert sigma(review, 0.95) == pytest.approx(want * ss.predictive_sigma_factor(12, 0.95))
    # Fewer than MIN_ERROR_WINDOWS windows from review days (5 here): all windows.
    assert sigma(review & (np.arange(120) < 40)) == sigma()


def test_a_dc_is_phased_only_when_its_stores_order_on_its_review_days():
    stores = pd.concat([_series(np.ones(3), policy_name="RS", review_period=7.0)] * 2)
    dc = stores.iloc[0].copy()
    assert stand_in.orders_on_review_days(stores, dc, cost_shipped=False)
    assert not stand_in.orders_on_review_days(stores.iloc[:0], dc, cost_shipped=False)
    assert not stand_in.orders_on_review_days(stores, dc.replace("RS", "sQ"), cost_shipped=False)
    mixed = stores.assign(policy_name=["RS", "RS", "sQ", "sQ", "sQ", "sQ"])
    assert not stand_in.orders_on_review_days(mixed, dc, cost_shipped=False)
    assert not stand_in.orders_on_review_days(stores.assign(review_period=14.0), dc, cost_shipped=False)  # fmt: skip
    # Shipping the cost-optimised levels: a store whose choice reviews every 14 days does not.
    chosen = stores.assign(cost_review_period=14.0, cost_is_formula=[False] * 3 + [True] * 3)
    assert stand_in.orders_on_review_days(chosen, dc, cost_shipped=False)
    assert not stand_in.orders_on_review_days(chosen, dc, cost_shipped=True)
    assert stand_in.orders_on_review_days(chosen.assign(cost_is_formula=True), dc, cost_shipped=True)  # fmt: skip
    # In the replay: RS stores of steady demand order 35 units a week each on the DC's review
    # days; phased, each 10-day window of the DC holds what it expects (a flat rate expects
    # 100 units of the 70 or 140 a window holds).
    store = _series(np.full(200, 5.0), policy_name="RS", review_period=7.0, lead_time_days=3.0)
    pdf, args = _network(store, store, weeks=16, lead_time_days=3.0)
    got = simulation.simulate_network(pdf, **args).iloc[-1]
    assert got["status"] == "ok" and got["sigma_protection"] == 0.0 and got["stockout_cycles"] == 0


def test_a_dc_without_a_replay_half_is_not_replayed_and_a_lone_store_is_as_before():
    store = _series(np.full(140, 5.0))
    pdf, args = _network(store, weeks=1)
    assert simulation.simulate_network(pdf, **args).iloc[-1]["status"] == "short_history"
    # A group without a DC (a store supplied directly): its own replay, echelon store.
    args = dict(run_date=RUN_DATE, weeks=8, warmup_days=84, window=28, seed=1, anchor_date=ANCHOR)
    alone = simulation.simulate_network(store.assign(**{simulation.NETWORK: "L"}), **args)
    want = simulation.simulate_series(store, **args).assign(echelon="store")
    pd.testing.assert_frame_equal(alone, want, check_dtype=False)


def test_the_replay_keeps_each_day_s_orders():
    rng = np.random.default_rng(2)
    demand = rng.poisson(10, (2, 90)).astype(float)
    levels = replay.Levels(np.array([[40.0], [60.0]]), np.array([[100.0], [150.0]]), np.full((2, 1), 60.0), 1.0, 0.0)  # fmt: skip
    leads = np.full((2, 90), 2)
    got = replay.replay("sQ", demand, True, True, levels, leads, keep_orders=True)
    assert got.placed.shape == (2, 90)
    assert ((got.placed > 0).sum(axis=1) == got.orders).all() and got.orders.min() >= 5
    assert (got.placed % 60 == 0).all()  # whole lots
    plain = replay.replay("sQ", demand, True, True, levels, leads)
    assert plain.placed is None  # not kept unless asked (the cost search replays thousands)
    for field in ("cycles", "stockout_cycles", "orders", "filled", "on_hand_days"):
        assert (getattr(plain, field) == getattr(got, field)).all(), field


def test_a_failing_series_is_reported_with_its_error():
    got = _sim(_series(np.full(140, 5.0), policy_name="sQ", pack=None))
    assert got["status"] == "failed" and "TypeError" in got["error"]


SERIES_SCHEMA = (
    "sku string, location string, policy string, variant string, target_type string, target double, "
    "ss_method string, sigma_protection double, review_period double, sim_days int, plan_days int, cycles int, "
    "stockout_cycles int, "
    "achieved_csl double, demand double, filled double, achieved_fill_rate double, "
    "avg_on_hand double, orders int, holding_cost double, ordering_cost double, "
    "shortage_cost double, total_cost double, status string, error string, echelon string"
)
# Sums of int columns are bigint in Spark; the plan casts to the table's types on writing.
OVERALL_SCHEMA = (
    "level string, sku string, location string, policy string, variant string, target_type string, "
    "target double, ss_method string, sigma_protection double, review_period double, sim_days int, "
    "plan_days bigint, cycles bigint, "
    "stockout_cycles bigint, achieved_csl double, demand double, filled double, "
    "achieved_fill_rate double, avg_on_hand double, orders bigint, holding_cost double, "
    "ordering_cost double, shortage_cost double, total_cost double, status string, "
    "error string, echelon string"
)


def test_overall_simulation_pools_ok_series_per_variant_echelon_and_target_type(spark):
    from chispa import assert_approx_df_equality

    series_df = spark.createDataFrame(
        [
            ("A", "L1", "sQ", "formula", "csl", 0.90, "normal", 2.0, 1.0, 56, 20, 10, 1, 0.9, 100.0, 95.0, 0.95,
             5.0, 10, 1.0, 2.0, 3.0, 6.0, "ok", None, "store"),
            ("B", "L1", "RS", "formula", "csl", 0.95, "gamma", 1.0, 7.0, 56, 0, 30, 0, 1.0, 300.0, 300.0, 1.0,
             7.0, 20, 2.0, 4.0, 0.0, 6.0, "ok", None, "store"),
            # Not ok: its figures must not count, however large.
            ("C", "L1", "sQ", "formula", "csl", 0.50, "normal", 9.0, 1.0, 99, 99, 100, 100, 0.0, 1e6, 0.0, 0.0,
             1e3, 99, 1e3, 1e3, 1e3, 3e3, "failed", "ValueError: x", "store"),
            # The cost variant of A: pooled on its own.
            ("A", "L1", "sQ", "cost", "csl", 0.90, "normal", 2.0, 1.0, 56, 0, 8, 0, 1.0, 100.0, 100.0,
             1.0, 4.0, 8, 1.0, 1.0, 0.0, 2.0, "ok", None, "store"),
            # No cycles in the replay: the fill-rate group has no CSL, not an error.
            ("D", "L2", "minmax", "formula", "fill_rate", 0.98, "normal", 1.5, 7.0, 28, 28, 0, 0, None, 50.0, 40.0,
             0.8, 2.0, 3, 0.5, 1.5, 2.0, 4.0, "ok", None, "store"),
            # A DC (replayed on its stores' orders): pooled apart from the stores.
            ("A", "DC1", "sQ", "formula", "csl", 0.98, "normal", 8.0, 1.0, 28, 0, 5, 1, 0.8, 400.0, 380.0, 0.95,
             30.0, 5, 4.0, 5.0, 6.0, 15.0, "ok", None, "dc"),
        ],
        SERIES_SCHEMA,
    )  # fmt: skip
    expected_df = spark.createDataFrame(
        [
            # target: (0.90 * 10 + 0.95 * 30) / 40 cycles; CSL 1 - 1 / 40; fill 395 / 400.
            ("overall", None, None, "all", "formula", "csl", 0.9375, None, None, None, 56, 20, 40, 1, 0.975, 400.0,
             395.0, 0.9875, 12.0, 30, 3.0, 6.0, 3.0, 12.0, "ok", None, "store"),
            ("overall", None, None, "all", "cost", "csl", 0.90, None, None, None, 56, 0, 8, 0, 1.0, 100.0,
             100.0, 1.0, 4.0, 8, 1.0, 1.0, 0.0, 2.0, "ok", None, "store"),
            ("overall", None, None, "all", "formula", "fill_rate", 0.98, None, None, None, 28, 28, 0, 0, None, 50.0,
             40.0, 0.8, 2.0, 3, 0.5, 1.5, 2.0, 4.0, "ok", None, "store"),
            ("overall", None, None, "all", "formula", "csl", 0.98, None, None, None, 28, 0, 5, 1, 0.8, 400.0,
             380.0, 0.95, 30.0, 5, 4.0, 5.0, 6.0, 15.0, "ok", None, "dc"),
        ],
        OVERALL_SCHEMA,
    )  # fmt: skip
    assert_approx_df_equality(
        simulation.overall_simulation(series_df),
        expected_df,
        precision=1e-12,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_the_replay_takes_one_review_schedule_per_run():
    rng = np.random.default_rng(5)
    demand = rng.poisson(10, (2, 120)).astype(float)
    leads = np.full((2, 120), 3)
    levels = replay.Levels(np.array([[60.0], [90.0]]), np.array([[60.0], [90.0]]), np.ones((2, 1)), 1.0, 0.0)  # fmt: skip
    weekly, monthly = np.arange(120) % 7 == 0, np.arange(120) % 28 == 0
    both = replay.replay("RS", demand, True, np.stack([weekly, monthly]), levels, leads)
    for i, review in enumerate((weekly, monthly)):
        one = replay.Levels(levels.reorder_point[[i]], levels.order_up_to[[i]], np.ones((1, 1)), 1.0, 0.0)  # fmt: skip
        alone = replay.replay("RS", demand[[i]], True, review, one, leads[[i]])
        for field in ("cycles", "stockout_cycles", "orders", "filled", "on_hand_days"):
            assert getattr(both, field)[i] == getattr(alone, field)[0], field
    assert both.orders[1] <= 5 < both.orders[0]
