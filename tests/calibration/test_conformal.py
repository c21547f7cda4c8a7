"""Split conformal regression intervals and APS classification sets."""

import numpy as np
import pytest

from uqkit.calibration import ConformalClassifier, ConformalRegressor, aps_scores
from uqkit.calibration._conformal import conformal_rank
from uqkit.exceptions import InvalidInputError


def test_rank_is_the_finite_sample_quantile():
    assert conformal_rank(99, 0.1) == 90  # (99 + 1) * 0.9 is 90.00000000000001 in floating point
    assert conformal_rank(19, 0.05) == 19
    assert conformal_rank(50, 0.1) == 46
    scores = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    conformal = ConformalRegressor(normalize=False).fit_prediction(
        (np.zeros(5), np.ones(5)), scores
    )
    np.testing.assert_array_equal(conformal.scores_, [1, 2, 3, 4, 5])
    assert conformal.conformal_quantile(0.5) == 3.0  # ceil(6 * 0.5) = 3rd smallest
    assert conformal.conformal_quantile(0.1) == np.inf  # rank 6 > n: no finite interval is valid
    lower, upper = conformal.interval((np.array([10.0]), np.array([7.0])), alpha=0.5)
    assert (lower[0], upper[0]) == (7.0, 13.0)  # not normalised: the std is ignored


def _split_coverage(n_cal: int, alpha: float, normalize: bool, repeats: int, seed: int):
    """Mean test coverage over many random splits of exchangeable data."""
    rng = np.random.default_rng(seed)
    covered = []
    for _ in range(repeats):
        x = rng.uniform(-2, 2, size=n_cal + 200)
        true_std = 0.2 + np.abs(x)
        y = x + true_std * rng.standard_t(5, size=x.size)  # heavy tails: the model is wrong
        mean, std = x, 0.5 * np.ones_like(x) + 0.3 * np.abs(x)
        conformal = ConformalRegressor(normalize=normalize).fit_prediction(
            (mean[:n_cal], std[:n_cal]), y[:n_cal]
        )
        lower, upper = conformal.interval((mean[n_cal:], std[n_cal:]), alpha)
        covered.append(np.mean((y[n_cal:] >= lower) & (y[n_cal:] <= upper)))
    return float(np.mean(covered))


@pytest.mark.parametrize("normalize", [True, False])
def test_regression_coverage_is_exactly_k_over_n_plus_one_on_average(normalize):
    n_cal, alpha = 50, 0.1
    expected = conformal_rank(n_cal, alpha) / (n_cal + 1)  # 46 / 51 = 0.902 for continuous scores
    observed = _split_coverage(n_cal, alpha, normalize, repeats=400, seed=int(normalize))
    assert observed >= 1 - alpha - 0.007
    assert observed == pytest.approx(expected, abs=0.007)
    assert observed < 1 - alpha + 1 / (n_cal + 1)  # not wildly above


def test_normalised_scores_adapt_to_the_predicted_std(helpers, regressor_data):
    (X, y), (X_cal, y_cal), (X_test, y_test) = regressor_data
    model = helpers.LinearGaussianRegressor(std_factor=0.6).fit(X, y)
    widths, high_coverage = {}, {}
    noisy = np.abs(X_test[:, 0]) > 1.2
    for normalize in (True, False):
        conformal = ConformalRegressor(model, normalize=normalize).fit(X_cal, y_cal)
        lower, upper = conformal.predict_interval(X_test, alpha=0.1)
        widths[normalize] = upper - lower
        inside = (y_test >= lower) & (y_test <= upper)
        high_coverage[normalize] = inside[noisy].mean()
        assert inside.mean() >= 0.85
    assert np.ptp(widths[False]) < 1e-9  # constant width
    assert np.corrcoef(widths[True], np.abs(X_test[:, 0]))[0, 1] > 0.9
    assert high_coverage[True] > high_coverage[False]  # better where the noise is large
    conformal = ConformalRegressor(model).fit(X_cal, y_cal)
    metrics = conformal.evaluate(X_test, y_test)
    assert metrics["conformal_coverage_90"] > metrics["coverage_90"]  # the raw model is too narrow
    np.testing.assert_allclose(conformal.predict(X_test), model.predict(X_test))


def test_aps_scores_by_hand():
    probs = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(aps_scores(probs, np.ones(2)), [[1.0, 0.5, 0.8], [0.9, 1.0, 0.8]])
    np.testing.assert_allclose(aps_scores(probs, np.zeros(2)), [[0.8, 0.0, 0.5], [0.8, 0.9, 0.0]])


@pytest.mark.parametrize("randomized", [True, False])
def test_aps_coverage_over_many_splits(helpers, randomized):
    n_cal, alpha, repeats = 100, 0.2, 300
    probs, labels = helpers.softmax_sample(repeats * (n_cal + 100), 6, seed=4, scale=1.5)
    # a model that is wrong about its probabilities: sharpened
    model_probs = probs**2 / (probs**2).sum(1, keepdims=True)
    covered, sizes = [], []
    for r in range(repeats):
        block = slice(r * (n_cal + 100), (r + 1) * (n_cal + 100))
        p, y = model_probs[block], labels[block]
        aps = ConformalClassifier(randomized=randomized, random_state=r)
        aps.fit_prediction(p[:n_cal], y[:n_cal])
        sets = aps.prediction_set(p[n_cal:], alpha)
        covered.append(sets[np.arange(100), y[n_cal:]].mean())
        sizes.append(sets.sum(1).mean())
    observed = float(np.mean(covered))
    assert observed >= 1 - alpha - 0.01
    if randomized:  # continuous scores: exactly k / (n + 1) on average
        assert observed == pytest.approx(conformal_rank(n_cal, alpha) / (n_cal + 1), abs=0.01)
    assert observed < 1 - alpha + 0.06
    assert 1 < np.mean(sizes) < 6


def test_aps_sets_grow_with_uncertainty(helpers, classifier_data):
    (X, y), (X_cal, y_cal), (X_test, y_test) = classifier_data
    model = helpers.TemperedSoftmaxClassifier().fit(X, y)
    aps = ConformalClassifier(model, random_state=0).fit(X_cal, y_cal)
    sets = aps.predict_set(X_test, alpha=0.1)
    assert sets.shape == (len(X_test), 3)
    index = np.searchsorted(aps.classes_, y_test)
    assert sets[np.arange(len(y_test)), index].mean() >= 0.85
    entropy = model.predict_uncertainty(X_test).total
    size = sets.sum(1)
    assert entropy[size >= 2].mean() > entropy[size == 1].mean()
    np.testing.assert_array_equal(aps.predict_set(X_test, 0.1), sets)  # repeatable
    smaller = aps.predict_set(X_test, alpha=0.3)
    assert smaller.sum() < sets.sum()


def test_conformal_bad_input():
    with pytest.raises(InvalidInputError, match="alpha"):
        conformal_rank(10, 1.5)
    with pytest.raises(InvalidInputError, match="single-output"):
        ConformalRegressor().fit_prediction((np.zeros((4, 2)), np.ones((4, 2))), np.zeros((4, 2)))
    aps = ConformalClassifier(random_state=0).fit_prediction(
        np.array([[0.6, 0.4], [0.3, 0.7]]), [0, 1]
    )
    with pytest.raises(InvalidInputError, match="classes"):
        aps.prediction_set(np.array([[0.2, 0.3, 0.5]]))
    with pytest.raises(InvalidInputError, match="sum to one"):
        aps.prediction_set(np.array([[0.2, 0.3]]))
