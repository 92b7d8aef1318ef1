"""Hierarchical reconciliation on small frames (pandas and numpy only)."""

import numpy as np
import pandas as pd
import pytest

from skuplan.forecasting import hierarchy

MEMBERS = pd.DataFrame({
    "sku": ["a", "b", "c", "a"],
    "location": ["L1", "L1", "L1", "L2"],
    "category": ["X", "X", "Y", "X"],
})  # fmt: skip
LEVELS = {"total": [], "location": ["location"], "category_location": ["category", "location"]}


def test_the_summing_matrix_sums_each_node_s_series():
    nodes, S = hierarchy.structure(MEMBERS, LEVELS)
    assert list(nodes["node"]) == [
        "total", "location=L1", "location=L2",
        "category=X/location=L1", "category=X/location=L2", "category=Y/location=L1",
        "sku=a/location=L1", "sku=b/location=L1", "sku=c/location=L1", "sku=a/location=L2",
    ]  # fmt: skip
    expected = [
        [1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1],
        [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0],
        [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
    ]  # fmt: skip
    np.testing.assert_array_equal(S, expected)


def test_trees_split_by_the_keys_every_level_has():
    assert hierarchy.group_keys(LEVELS) == []
    assert hierarchy.group_keys({"l": ["location"], "cl": ["category", "location"]}) == ["location"]


def _errors(S, rng, periods=200):
    """Errors of a coherent hierarchy whose series err with different, correlated sizes, and
    whose aggregates' forecasts err on their own."""
    m = S.shape[1]
    bottom = rng.normal(size=(periods, m)) @ np.diag(np.arange(1, m + 1)) + rng.normal(
        size=(periods, 1)
    )
    own = rng.normal(size=(periods, S.shape[0])) * 2
    return bottom @ S.T + own


def test_every_method_gives_coherent_forecasts_and_keeps_coherent_ones():
    _, S = hierarchy.structure(MEMBERS, LEVELS)
    rng = np.random.default_rng(0)
    errors = _errors(S, rng)
    base = rng.uniform(5, 50, size=(len(S), 7))
    coherent = S @ rng.uniform(5, 50, size=(S.shape[1], 7))
    for method in hierarchy.METHODS:
        rec, used = hierarchy.reconciled(S, base, errors, method)
        assert used == method
        np.testing.assert_allclose(rec, S @ rec[-S.shape[1] :], atol=1e-9)
        again, _ = hierarchy.reconciled(S, coherent, errors, method)
        np.testing.assert_allclose(again, coherent, rtol=1e-6)
    bottom_up, _ = hierarchy.reconciled(S, base, errors, "bottom_up")
    np.testing.assert_allclose(bottom_up, S @ base[-S.shape[1] :])


def test_mint_with_the_true_covariance_errs_less_than_the_base_forecasts():
    # Known error covariance: the aggregates' forecasts are noisy, the series' differ.
    _, S = hierarchy.structure(MEMBERS, LEVELS)
    rng = np.random.default_rng(1)
    n, m = S.shape
    sd = np.r_[np.full(n - m, 6.0), [1.0, 2.0, 4.0, 8.0]]
    W = np.diag(sd**2)
    G = S @ hierarchy.projection(S, W, "mint_shrink")
    truth = S @ rng.uniform(10, 20, size=(m, 2000))
    base = truth + rng.normal(size=truth.shape) * sd[:, None]
    rec = G @ base
    # Every node's error shrinks (MinT is the minimum-variance unbiased reconciliation).
    assert (np.std(rec - truth, axis=1) < np.std(base - truth, axis=1)).all()


def test_shrinkage_drops_noise_correlations_and_keeps_real_ones():
    rng = np.random.default_rng(2)
    independent = rng.normal(size=(40, 6))
    W = hierarchy.shrunk_covariance(independent)
    sample = independent.T @ independent / 40
    np.testing.assert_allclose(np.diag(W), np.diag(sample))
    off = ~np.eye(6, dtype=bool)
    assert np.abs(W[off]).max() < 0.5 * np.abs(sample[off]).max()
    common = rng.normal(size=(40, 1))
    correlated = common + 0.05 * rng.normal(size=(40, 6))
    W = hierarchy.shrunk_covariance(correlated)
    sample = correlated.T @ correlated / 40
    np.testing.assert_allclose(W, sample, rtol=0.05)


def test_a_node_without_errors_gets_the_variance_its_size_gives():
    _, S = hierarchy.structure(MEMBERS, LEVELS)
    errors = np.tile([1.0, -1.0], 10)[:, None] * np.sqrt(S.sum(axis=1))[None, :] * 2
    errors[:, 0] = np.nan  # the total has none: 4 series x (4 per series)
    W, used = hierarchy.weights_matrix(S, errors, "wls")
    assert used == "wls"
    assert W[0, 0] == pytest.approx(16.0, rel=1e-4)
    assert W[1, 1] == pytest.approx(12.0, rel=1e-4)  # location L1's own: 3 series x 4


def test_too_few_errors_fall_back_to_structural_weights():
    _, S = hierarchy.structure(MEMBERS, LEVELS)
    few = np.ones((hierarchy.MIN_ERROR_PERIODS - 1, len(S)))
    for errors in (None, few):
        W, used = hierarchy.weights_matrix(S, errors, "mint_shrink")
        assert used == hierarchy.STRUCTURAL
        np.testing.assert_allclose(np.diag(W), S.sum(axis=1), rtol=1e-5)


def _group_frames(rng, nodes, S, folds=3, steps=4):
    dates = pd.date_range("2026-07-01", periods=steps).date
    base = rng.uniform(5, 50, size=(len(S), steps))
    forecasts = pd.DataFrame([
        {"node": node, "date": d, "step": j + 1, "yhat": base[i, j],
         "q10": base[i, j] - 3, "q50": base[i, j], "q90": base[i, j] + 3}
        for i, node in enumerate(nodes["node"]) for j, d in enumerate(dates)
    ])  # fmt: skip
    values = _errors(S, rng, folds * steps)
    errors = pd.DataFrame([
        {"node": node, "fold": f, "step": s + 1, "error": values[f * steps + s, i]}
        for i, node in enumerate(nodes["node"]) for f in range(folds) for s in range(steps)
    ])  # fmt: skip
    scales = pd.DataFrame({"node": nodes["node"], "scale": S.sum(axis=1)})
    return forecasts, errors, scales


def test_a_group_is_reconciled_with_shifted_bands_and_scored_per_level():
    nodes, S = hierarchy.structure(MEMBERS, LEVELS)
    rng = np.random.default_rng(3)
    forecasts, errors, scales = _group_frames(rng, nodes, S, steps=12)
    forecasts.loc[forecasts["node"] == "sku=b/location=L1", "q10"] = 0.0
    out, scores = hierarchy.reconcile_group(
        MEMBERS, forecasts, errors, scales, levels=LEVELS, method="mint_shrink",
        quantile_columns=["q10", "q50", "q90"], spacing=4,
    )  # fmt: skip
    assert set(out["method"]) == {"mint_shrink"}
    wide = out.pivot_table(index="date", columns="node", values="yhat")
    series = ["sku=a/location=L1", "sku=b/location=L1", "sku=c/location=L1", "sku=a/location=L2"]
    np.testing.assert_allclose(wide["total"], wide[series].sum(axis=1))
    np.testing.assert_allclose(wide["location=L1"], wide[series[:3]].sum(axis=1))
    # The band scales with the point; a lower quantile at zero stays there.
    expected = (out["yhat_base"] + 3) * out["yhat"].clip(lower=0) / out["yhat_base"]
    np.testing.assert_allclose(out["q90"], expected)
    assert (out.loc[out["node"] == "sku=b/location=L1", "q10"] == 0).all()
    np.testing.assert_allclose(out["q50"], out["yhat"].clip(lower=0))
    assert set(scores["method"]) == set(hierarchy.METHODS)  # every method scored
    scores = scores[scores["is_selected"]]
    assert set(scores["method"]) == {"mint_shrink"}
    assert list(scores["level"]) == ["total", "location", "category_location", "series"]
    assert list(scores["nodes"]) == [1, 2, 3, 4]
    assert (scores["periods"] == 36).all()
    # Scored by hand for the total: the held-out fold's errors through weights of the others.
    wide_errors = errors.pivot_table(index=["fold", "step"], columns="node", values="error")
    wide_errors = wide_errors[list(nodes["node"])].to_numpy()
    rec = np.empty_like(wide_errors)
    folds, steps = np.arange(36) // 12, np.arange(36) % 12 + 1
    for fold in range(3):
        held = folds == fold
        # Folds 4 periods apart, 12 steps each: the periods the held-out fold forecasts too
        # are left out of its weights.
        period = folds * 4 + steps
        train = ~held & ~np.isin(period, period[held])
        assert train.sum() == {0: 12, 1: 8, 2: 12}[fold]
        W = hierarchy.shrunk_covariance(wide_errors[train])
        W += np.eye(len(W)) * 1e-6 * np.diag(W).mean()
        rec[held] = wide_errors[held] @ (S @ hierarchy.projection(S, W, "mint_shrink")).T
    total = scores.set_index("level").loc["total"]
    assert total["rmsse"] == pytest.approx(np.sqrt(np.mean(rec[:, 0] ** 2)) / 4, rel=1e-6)
    assert total["rmsse_base"] == pytest.approx(np.sqrt(np.mean(wide_errors[:, 0] ** 2)) / 4)


def test_an_aggregate_without_a_forecast_leaves_the_hierarchy_and_no_errors_mean_structural():
    nodes, S = hierarchy.structure(MEMBERS, LEVELS)
    rng = np.random.default_rng(4)
    forecasts, errors, scales = _group_frames(rng, nodes, S)
    forecasts = forecasts[forecasts["node"] != "location=L2"]
    out, scores = hierarchy.reconcile_group(
        MEMBERS, forecasts, errors.iloc[0:0], scales, levels=LEVELS, method="mint_shrink",
        quantile_columns=["q10", "q50", "q90"], spacing=4,
    )  # fmt: skip
    assert "location=L2" not in set(out["node"])
    assert set(out["method"]) == {hierarchy.STRUCTURAL}
    assert scores.empty
    wide = out.pivot_table(index="date", columns="node", values="yhat")
    np.testing.assert_allclose(
        wide["location=L1"], wide.filter(like="/location=L1").filter(like="sku=").sum(axis=1)
    )


def test_a_failed_group_keeps_its_base_forecasts_and_says_why():
    forecasts = pd.DataFrame({
        "level": ["location", "series"], "node": ["location=L1", "sku=a/location=L1"],
        "date": ["2026-07-01"] * 2, "step": [1, 1], "yhat": [9.0, 4.0],
        "q10": [7.0, 3.0], "q90": [11.0, 5.0],
    })  # fmt: skip
    out = hierarchy.unreconciled(forecasts, "LinAlgError: Singular matrix", ["q10", "q90"])
    assert list(out["yhat_base"]) == [9.0, 4.0] and list(out["yhat"]) == [9.0, 4.0]
    assert set(out["method"]) == {"failed: LinAlgError: Singular matrix"}
