"""Issue 17, item 3: a misread interval level and invalid prediction inputs raise clear errors."""

import numpy as np
import pytest

from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction, check_miscoverage


@pytest.fixture
def pred():
    return RegressionPrediction.normal(np.zeros(3), np.ones(3))


@pytest.mark.parametrize("alpha", [0.9, 0.95, 0.51])
def test_interval_refuses_a_coverage_level_passed_as_alpha(pred, alpha):
    with pytest.raises(InvalidInputError, match="alpha is the miscoverage: 0.1 gives a 90% "
                                                f"interval.*did you mean alpha={1 - alpha:.3g}"):
        pred.interval(alpha)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.0, 1.5, float("nan"), "0.1x"])
def test_interval_refuses_alpha_outside_the_open_half(pred, alpha):
    with pytest.raises(InvalidInputError, match="alpha"):
        pred.interval(alpha)


def test_low_coverage_intervals_are_asked_for_by_coverage(pred):
    _, upper = pred.interval(coverage=0.25)
    np.testing.assert_allclose(upper, 0.318639, atol=1e-6)  # the 62.5% normal quantile
    np.testing.assert_allclose(np.stack(pred.interval(coverage=0.9)),
                               np.stack(pred.interval(0.1)), rtol=1e-12)
    assert pred.interval(0.5)[1][0] == pytest.approx(0.6744898)  # 0.5 itself is allowed
    with pytest.raises(InvalidInputError, match="coverage must lie in"):
        pred.interval(coverage=1.0)
    assert check_miscoverage(0.1) == 0.1


@pytest.mark.parametrize("make, match", [
    (lambda: RegressionPrediction.normal([0.0, 1.0], aleatoric=-1), "aleatoric is a variance"),
    (lambda: RegressionPrediction.normal([0.0], [1.0], [-0.5]), "epistemic is a variance"),
    (lambda: RegressionPrediction.normal([np.nan], [1.0]), "mean contains NaN"),
    (lambda: RegressionPrediction.normal([0.0], [np.inf]), "aleatoric contains NaN or infinite"),
    (lambda: RegressionPrediction.mixture(np.zeros((2, 3)), np.ones((2, 3)), [0, 0]), "weights"),
    (lambda: RegressionPrediction.mixture(np.zeros((2, 3)), np.ones((2, 3)), [2, -1]), "weights"),
    (lambda: RegressionPrediction.mixture(np.zeros((2, 3)), np.ones((2, 3)), [np.nan, 1]),
     "weights"),
    (lambda: RegressionPrediction.mixture(np.zeros((2, 3)), -np.ones((2, 3))), "is a variance"),
    (lambda: RegressionPrediction.student_t([0.0], [1.0], [-2.0], [1.0], [0.0]), "df must be > 0"),
    (lambda: RegressionPrediction.student_t([0.0], [0.0], [3.0], [1.0], [0.0]), "scale must be"),
    (lambda: RegressionPrediction.ggd([0.0], [1.0], [0.0]), "shape|variance"),
    (lambda: RegressionPrediction(np.zeros(2), -np.ones(2), np.zeros(2)), "aleatoric"),
])
def test_regression_constructors_validate(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_rounding_level_negative_variance_is_read_as_zero():
    # a GP's k** - k*'K^-1 k* can come out a few ulps below zero: that is not user error
    pred = RegressionPrediction.normal([0.0, 1.0], [2.0, -1e-12], [0.5, 0.5])
    assert pred.aleatoric.tolist() == [2.0, 0.0]
    good = np.array([1.0, 2.0])
    assert RegressionPrediction.normal([0.0, 1.0], good).aleatoric is good  # good input is kept


@pytest.mark.parametrize("make", [
    lambda: RegressionPrediction.normal([0.0, 1.0], [1.0, 0.0]),
    lambda: RegressionPrediction.normal([0.0], [1e308], [1e308]),
    lambda: RegressionPrediction.mixture([[0.0], [1.0]], [[1.0], [0.0]]),
], ids=["zero-total", "overflowing-total", "zero-member-variance"])
def test_a_gaussian_without_a_positive_finite_variance_is_refused(make):
    # a point mass gave NaN NLL, CRPS and CDF; an overflowing total gave inf intervals
    with pytest.raises(InvalidInputError, match="needs a positive, finite variance"):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: ClassificationPrediction(np.array([[0.9, 0.9]])), "sum to one"),
    (lambda: ClassificationPrediction(np.array([[1.5, -0.5]])), r"in \[0, 1\]"),
    (lambda: ClassificationPrediction(np.array([[np.nan, 1.0]])), "NaN"),
    (lambda: ClassificationPrediction.from_members(np.array([[[0.9, 0.9]], [[0.5, 0.5]]])),
     "member_probs"),
    (lambda: ClassificationPrediction.from_members(np.full((2, 1, 2), 0.5), [0, 0]), "weights"),
    (lambda: ClassificationPrediction.from_members(np.full((2, 1, 2), 0.5), [2, -1]), "weights"),
    (lambda: ClassificationPrediction.from_dirichlet([[1.0, 0.0]]), "concentration must be > 0"),
    (lambda: ClassificationPrediction.from_dirichlet([[1.0, -2.0]]), "concentration"),
])
def test_classification_constructors_validate(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_float32_softmax_rows_are_accepted():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 50)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = ClassificationPrediction(probs.astype(np.float64))
    assert pred.probs.shape == (200, 50)
