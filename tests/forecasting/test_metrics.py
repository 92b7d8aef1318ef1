import numpy as np
import pytest

from skuplan.forecasting import metrics

# e = actual - forecast = [1, 0, -2, 0]; |e| = [1, 0, 2, 0]; sum|actual| = 12
ACTUAL = np.array([2.0, 0.0, 4.0, 6.0])
FORECAST = np.array([1.0, 0.0, 6.0, 6.0])
# naive (m = 1) differences: 2, -1, 4, -2 -> scale 9/4; m = 2: 1, 3, 2 -> scale 2
INSAMPLE = np.array([1.0, 3.0, 2.0, 6.0, 4.0])


def test_mae():
    assert metrics.mae(ACTUAL, FORECAST) == 0.75  # 3 / 4


def test_rmse():
    assert metrics.rmse(ACTUAL, FORECAST) == pytest.approx(np.sqrt(1.25))  # sqrt((1 + 4) / 4)


def test_wape():
    assert metrics.wape(ACTUAL, FORECAST) == 0.25  # 3 / 12


def test_wape_is_nan_without_actual_demand():
    assert np.isnan(metrics.wape(np.zeros(3), np.array([1.0, 0.0, 2.0])))


def test_smape_counts_zero_over_zero_as_zero():
    # terms 2*1/3, 0/0 -> 0, 2*2/10 = 0.4, 0 -> (2/3 + 0.4) / 4 = 4/15
    assert metrics.smape(ACTUAL, FORECAST) == pytest.approx(4 / 15)
    assert metrics.smape(np.zeros(2), np.zeros(2)) == 0.0


def test_smape_is_bounded_by_two():
    # 2 * 5 / (0 + 5) = 2
    assert metrics.smape(np.array([0.0]), np.array([5.0])) == 2.0


def test_mase():
    assert metrics.mase(ACTUAL, FORECAST, INSAMPLE, 1) == pytest.approx(1 / 3)  # 0.75 / 2.25
    assert metrics.mase(ACTUAL, FORECAST, INSAMPLE, 2) == 0.375  # 0.75 / 2


def test_mase_is_nan_when_the_scale_is_zero_or_not_computable():
    assert np.isnan(metrics.mase(ACTUAL, FORECAST, np.full(5, 3.0), 1))  # constant history
    assert np.isnan(metrics.mase(ACTUAL, FORECAST, np.array([1.0, 2.0]), 2))  # too short
    assert np.isnan(metrics.mase(ACTUAL, FORECAST, np.array([]), 1))


def test_mase_skips_nan_differences():
    # differences 2 - nan, 5 - 2 = 3 (only one usable) -> scale 3; MAE 0.75 -> 0.25
    insample = np.array([np.nan, 2.0, 5.0])
    assert metrics.mase(ACTUAL, FORECAST, insample, 1) == 0.25


def test_bias_is_forecast_minus_actual():
    assert metrics.bias(ACTUAL, FORECAST) == 0.25  # (-1 + 0 + 2 + 0) / 4


def test_pinball():
    actual, forecast = np.array([10.0, 10.0]), np.array([8.0, 13.0])
    # e = 2, -3; q 0.9: 0.9*2 = 1.8, 0.1*3 = 0.3 -> 1.05
    assert metrics.pinball(actual, forecast, 0.9) == pytest.approx(1.05)
    # q 0.5: (1 + 1.5) / 2 = 1.25 = MAE 2.5 / 2
    assert metrics.pinball(actual, forecast, 0.5) == 1.25


def test_pinball_needs_a_level_inside_zero_one():
    with pytest.raises(ValueError, match="quantile level"):
        metrics.pinball(np.ones(2), np.ones(2), 1.0)


def test_coverage_of_closed_interval():
    actual = np.array([1.0, 5.0, 10.0, 3.0])
    lower = np.array([0.0, 5.0, 0.0, 4.0])
    upper = np.array([2.0, 6.0, 9.0, 8.0])
    # inside, on the lower bound, above, below -> 2 / 4
    assert metrics.coverage(actual, lower, upper) == 0.5


def test_nan_positions_are_left_out():
    actual = np.array([2.0, np.nan, 4.0, 1.0])
    forecast = np.array([1.0, 5.0, np.nan, 3.0])
    # usable pairs (2, 1) and (1, 3): |e| = 1, 2
    assert metrics.mae(actual, forecast) == 1.5
    assert metrics.wape(actual, forecast) == 1.0  # 3 / 3
    assert metrics.bias(actual, forecast) == 0.5  # (-1 + 2) / 2
    # coverage: position 1 has a nan actual, position 3 a nan bound; of the rest
    # 2 is in [1, 3], 4 is not in [0, 3] -> 1 / 2
    lower, upper = np.array([1.0, 0.0, 0.0, np.nan]), np.full(4, 3.0)
    assert metrics.coverage(actual, lower, upper) == 0.5


@pytest.mark.parametrize(
    "metric", [metrics.mae, metrics.rmse, metrics.wape, metrics.smape, metrics.bias]
)
def test_empty_or_all_nan_gives_nan(metric):
    assert np.isnan(metric(np.array([]), np.array([])))
    assert np.isnan(metric(np.array([np.nan]), np.array([1.0])))


def test_empty_probabilistic_metrics_give_nan():
    assert np.isnan(metrics.pinball(np.array([]), np.array([]), 0.5))
    assert np.isnan(metrics.coverage(np.array([]), np.array([]), np.array([])))
    assert np.isnan(metrics.mase(np.array([]), np.array([]), INSAMPLE, 1))


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="equal length"):
        metrics.mae(np.ones(3), np.ones(2))


def test_point_metrics():
    result = metrics.point_metrics(ACTUAL, FORECAST, INSAMPLE, 1)
    assert result == pytest.approx(
        {
            "mae": 0.75,
            "rmse": np.sqrt(1.25),
            "wape": 0.25,
            "smape": 4 / 15,
            "mase": 1 / 3,
            "bias": 0.25,
        }
    )
