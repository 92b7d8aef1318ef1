import numpy as np
import pytest

from skuplan.models import intermittent

# Non-zero at 0-based positions 2, 4, 8: sizes 4, 2, 6; 1-based positions 3, 5, 9,
# so the intervals are 3 (from the start), 2 and 4.
SPARSE = np.array([0, 0, 4, 0, 2, 0, 0, 0, 6], dtype=float)


def test_adi_is_the_mean_gap_between_first_and_last_demand():
    y = np.array([0, 3, 0, 0, 5, 0, 4, 0], dtype=float)
    # non-zero at 1, 4, 6: (6 - 1) / (3 - 1) = 2.5; leading/trailing zeros ignored
    assert intermittent.adi(y) == 2.5


def test_adi_is_nan_without_two_demands():
    assert np.isnan(intermittent.adi(np.array([0.0, 5.0, 0.0])))
    assert np.isnan(intermittent.adi(np.zeros(4)))
    assert np.isnan(intermittent.adi(np.array([])))


def test_cv2_of_non_zero_sizes():
    y = np.array([0, 3, 0, 0, 5, 0, 4, 0], dtype=float)
    # sizes 3, 5, 4: mean 4, population variance (1 + 1 + 0) / 3 = 2/3; CV² = (2/3) / 16 = 1/24
    assert intermittent.cv2(y) == pytest.approx(1 / 24)


def test_cv2_edge_cases():
    assert np.isnan(intermittent.cv2(np.zeros(3)))
    assert intermittent.cv2(np.array([0.0, 5.0])) == 0.0


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        # ADI 1; sizes mean 10.5, var (0.25 + 2.25 + 0.25 + 2.25) / 4 = 1.25, CV² = 1.25 / 110.25 ≈ 0.011
        ([10, 12, 11, 9], "smooth"),
        # ADI 1; mean 5.5, var 4.5² = 20.25, CV² = 20.25 / 30.25 ≈ 0.669
        ([1, 10, 1, 10], "erratic"),
        # ADI (6 - 1) / 2 = 2.5; CV² 1/24 (see above)
        ([0, 3, 0, 0, 5, 0, 4, 0], "intermittent"),
        # ADI (6 - 0) / 2 = 3; mean 4, var (9 + 36 + 9) / 3 = 18, CV² = 18 / 16 = 1.125
        ([1, 0, 0, 10, 0, 0, 1], "lumpy"),
        # ADI 1; sizes 17, 3: mean 10, var 7² = 49, CV² = 49 / 100 = 0.49 exactly -> erratic side
        ([17, 3], "erratic"),
        # no interval exists: documented as intermittent
        ([0, 0, 0], "intermittent"),
        ([0, 7, 0], "intermittent"),
        ([], "intermittent"),
    ],
)
def test_classify_demand(y, expected):
    assert intermittent.classify_demand(np.array(y, dtype=float)) == expected


def test_classify_demand_adi_cutoff_is_inclusive():
    # 26 demands over positions 0..33: ADI = 33 / 25 = 1.32 exactly; constant sizes, CV² 0
    y = np.zeros(34)
    y[0] = 1.0
    y[np.arange(26) * 33 // 25] = 1.0
    assert intermittent.adi(y) == 1.32
    assert intermittent.classify_demand(y) == "intermittent"


def test_croston_hand_computed():
    # sizes 4, 2, 6; alpha 0.5: z = 4 -> 0.5*2 + 0.5*4 = 3 -> 0.5*6 + 0.5*3 = 4.5
    # intervals 3, 2, 4:        p = 3 -> 0.5*2 + 0.5*3 = 2.5 -> 0.5*4 + 0.5*2.5 = 3.25
    # forecast 4.5 / 3.25 = 18/13
    forecast = intermittent.croston(SPARSE, horizon=3, alpha=0.5)
    assert forecast == pytest.approx([18 / 13] * 3)


def test_croston_default_alpha():
    # sizes 2, 4 -> z = 0.1*4 + 0.9*2 = 2.2; intervals 1, 2 -> p = 0.1*2 + 0.9*1 = 1.1; 2.2/1.1 = 2
    assert intermittent.croston(np.array([2.0, 0.0, 4.0]), horizon=2) == pytest.approx([2.0, 2.0])


def test_croston_initialises_with_first_demand_and_first_interval():
    # one demand of 5 in the 2nd period: z = 5, p = 2 (its 1-based position): 5 / 2
    assert intermittent.croston(np.array([0.0, 5.0]), horizon=1).tolist() == [2.5]
    assert intermittent.croston(np.array([3.0]), horizon=1).tolist() == [3.0]


def test_sba_is_croston_debiased():
    # 18/13 * (1 - 0.5/2) = 18/13 * 0.75 = 13.5/13
    assert intermittent.sba(SPARSE, horizon=2, alpha=0.5) == pytest.approx([13.5 / 13] * 2)
    # 2 * (1 - 0.05) = 1.9
    assert intermittent.sba(np.array([2.0, 0.0, 4.0]), horizon=1) == pytest.approx([1.9])


def test_tsb_hand_computed():
    # indicators 0 0 1 0 1 0 0 0 1, beta 0.5, d starts at the first indicator (0):
    # d = 0, 0, 0.5, 0.25, 0.625, 0.3125, 0.15625, 0.078125, 0.5 + 0.0390625 = 0.5390625
    # size z = 4.5 (as in Croston above); forecast 0.5390625 * 4.5 = 2.42578125
    forecast = intermittent.tsb(SPARSE, horizon=2, alpha=0.5, beta=0.5)
    assert forecast == pytest.approx([2.42578125] * 2)


def test_tsb_decays_during_a_run_of_zeros_where_croston_does_not():
    y = np.array([4.0, 0.0, 0.0])
    # d = 1 -> 0.5 -> 0.25, z = 4: 1.0; Croston keeps z / p = 4 / 1
    assert intermittent.tsb(y, horizon=1, alpha=0.5, beta=0.5).tolist() == [1.0]
    assert intermittent.croston(y, horizon=1, alpha=0.5).tolist() == [4.0]


@pytest.mark.parametrize("model", [intermittent.croston, intermittent.sba, intermittent.tsb])
def test_no_demand_forecasts_zero(model):
    assert model(np.zeros(5), horizon=3).tolist() == [0.0, 0.0, 0.0]
    assert model(np.array([]), horizon=2).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("model", [intermittent.croston, intermittent.sba, intermittent.tsb])
def test_nan_history_is_rejected(model):
    with pytest.raises(ValueError, match="finite"):
        model(np.array([1.0, np.nan, 2.0]), horizon=1)


def test_smoothing_constant_is_validated():
    with pytest.raises(ValueError, match="alpha"):
        intermittent.croston(np.ones(3), horizon=1, alpha=0.0)
    with pytest.raises(ValueError, match="beta"):
        intermittent.tsb(np.ones(3), horizon=1, beta=1.5)


def test_alpha_one_keeps_only_the_last_demand_and_interval():
    # alpha 1: z = last size 6, p = last interval 4 -> 1.5
    assert intermittent.croston(SPARSE, horizon=1, alpha=1.0).tolist() == [1.5]
