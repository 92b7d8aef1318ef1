import numpy as np
import pytest

from skuplan.forecasting import conformal

nan = np.nan


def test_residual_quantiles_per_step_and_pooled():
    # step 1 has 4 errors (own quantiles, min 3); step 2 has 1 (pooled)
    residuals = np.array([[1, nan], [2, 4], [3, nan], [-1, nan], [nan, nan]], dtype=float)
    offsets = conformal.residual_quantiles(residuals, (0.25, 0.5), min_residuals=3)
    # step 1 sorted -1, 1, 2, 3; level 0.25 widened for 4 errors: 0.25 - 0.75 / 4 = 0.0625,
    #   at position 0.0625 * 3 = 0.1875 -> -1 + 0.1875 * 2 = -0.625; median 1.5
    # step 2 pools errors / sqrt(step): -1, 1, 2, 3 and 4 / sqrt(2) = 2.83 -> sorted
    #   -1, 1, 2, 2.83, 3; level 0.25 - 0.75 / 5 = 0.1 at position 0.4 -> -1 + 0.4 * 2 = -0.2;
    #   median at position 2 -> 2; both times sqrt(2)
    assert offsets[0.25] == pytest.approx([-0.625, -0.2 * np.sqrt(2)])
    assert offsets[0.5] == pytest.approx([1.5, 2 * np.sqrt(2)])


def test_residual_quantiles_use_own_step_when_enough():
    residuals = np.column_stack([[10, 20, 30, 40, 50], [0, 2, 4, 6, 8]]).astype(float)
    offsets = conformal.residual_quantiles(residuals, (0.5, 0.8, 1.0))
    # medians 30 and 4; maxima 50 and 8 (default min_residuals 5 is met); level 0.8 widened
    # for 5 errors to 0.96, at position 3.84: 40 + 0.84 * 10 = 48.4 and 6 + 0.84 * 2 = 7.68
    assert offsets[0.5].tolist() == [30.0, 4.0]
    assert offsets[0.8] == pytest.approx([48.4, 7.68])
    assert offsets[1.0].tolist() == [50.0, 8.0]


def test_finite_sample_level_widens_outer_levels_less_as_errors_grow():
    assert conformal.finite_sample_level(0.9, 9) == pytest.approx(1.0)
    assert conformal.finite_sample_level(0.9, 36) == pytest.approx(0.925)
    assert conformal.finite_sample_level(0.1, 36) == pytest.approx(0.075)
    assert conformal.finite_sample_level(0.5, 3) == 0.5
    assert conformal.finite_sample_level(0.1, 3) == 0.0
    assert conformal.finite_sample_level(0.9, 0) == 0.9


def test_residual_quantiles_without_errors_are_zero():
    offsets = conformal.residual_quantiles(np.full((3, 2), nan), (0.1, 0.9))
    assert offsets[0.1].tolist() == [0.0, 0.0]
    assert offsets[0.9].tolist() == [0.0, 0.0]
    assert conformal.residual_quantiles(np.empty((0, 2)), (0.5,))[0.5].tolist() == [0.0, 0.0]


def test_residual_quantiles_validate_input():
    with pytest.raises(ValueError, match="n_folds, horizon"):
        conformal.residual_quantiles(np.ones(3), (0.5,))
    with pytest.raises(ValueError, match="quantile levels"):
        conformal.residual_quantiles(np.ones((2, 2)), (1.5,))


def test_apply_quantiles_clips_and_uncrosses():
    point = np.array([5.0, 1.0])
    offsets = {0.9: np.array([3.0, 0.2]), 0.1: np.array([-2.0, -3.0]), 0.5: np.array([0.0, 0.5])}
    # step 1: 3, 5, 8; step 2: 1 - 3 = -2 -> 0, 1.5, 1.2 -> sorted 0, 1.2, 1.5
    result = conformal.apply_quantiles(point, offsets)
    assert list(result) == [0.1, 0.5, 0.9]
    assert result[0.1].tolist() == [3.0, 0.0]
    assert result[0.5].tolist() == [5.0, 1.2]
    assert result[0.9].tolist() == [8.0, 1.5]


def test_apply_quantiles_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differs"):
        conformal.apply_quantiles(np.ones(3), {0.5: np.ones(2)})


def test_quantile_forecasts_are_non_negative_and_monotone():
    rng = np.random.default_rng(7)
    levels = (0.05, 0.1, 0.5, 0.9, 0.95)
    for _ in range(50):
        residuals = rng.normal(0.0, 5.0, size=(6, 14))
        residuals[rng.random(residuals.shape) < 0.4] = nan  # some steps fall back to pooling
        offsets = conformal.residual_quantiles(residuals, levels)
        point = rng.uniform(0.0, 4.0, size=14)
        bands = np.stack(list(conformal.apply_quantiles(point, offsets).values()))
        assert (bands >= 0.0).all()
        assert (np.diff(bands, axis=0) >= 0.0).all()
