"""Temperature scaling, variance scaling and isotonic recalibration."""

import numpy as np
import pytest
from sklearn.base import clone

from uqkit.calibration import IsotonicCalibration, TemperatureScaling, VarianceScaling
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.metrics import (
    classification_nll,
    coverage,
    expected_calibration_error,
    miscalibration_area,
    regression_nll,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction


# ------------------------------------------------------------------------------ temperature
def test_temperature_recovers_a_known_temperature(helpers):
    probs, labels = helpers.softmax_sample(20_000, 5, seed=1)
    sharpened = probs**2.5 / (probs**2.5).sum(1, keepdims=True)  # the calibrated model at T = 1/2.5
    scaler = TemperatureScaling().fit_prediction(sharpened, labels)
    assert scaler.temperature_ == pytest.approx(2.5, rel=0.05)
    calibrated = scaler.calibrate(sharpened)
    np.testing.assert_array_equal(calibrated.label, sharpened.argmax(1))  # accuracy unchanged
    np.testing.assert_allclose(calibrated.probs, probs, atol=0.03)


def test_temperature_matches_netcal_and_minimises_nll(helpers):
    from netcal.scaling import TemperatureScaling as NetcalTemperature

    probs, labels = helpers.softmax_sample(3000, 4, seed=2)
    soft = probs**0.6 / (probs**0.6).sum(1, keepdims=True)  # under-confident
    scaler = TemperatureScaling().fit_prediction(soft, labels)
    reference = NetcalTemperature()
    reference.fit(soft, labels)
    # netcal stores the inverse temperature (it multiplies the logits)
    assert scaler.temperature_ == pytest.approx(
        1 / float(np.ravel(reference.temperature)[0]), rel=2e-3
    )
    assert scaler.temperature_ < 1
    best = classification_nll(scaler.calibrate(soft), labels)
    assert best == pytest.approx(scaler.nll_after_)
    for factor in (0.97, 1.03):
        other = TemperatureScaling().fit_prediction(soft, labels)
        other.temperature_ = scaler.temperature_ * factor
        assert classification_nll(other.calibrate(soft), labels) > best


def test_temperature_scaling_lowers_ece_of_an_over_confident_model(helpers, classifier_data):
    (X, y), (X_cal, y_cal), (X_test, y_test) = classifier_data
    model = helpers.TemperedSoftmaxClassifier(sharpness=6.0).fit(X, y)
    before = model.predict_uncertainty(X_test)
    scaler = TemperatureScaling(model).fit(X_cal, y_cal)
    after = scaler.predict_uncertainty(X_test)
    assert scaler.temperature_ > 2
    ece_before = expected_calibration_error(before, y_test)
    assert expected_calibration_error(after, y_test) < 0.5 * ece_before
    assert classification_nll(after, y_test) < classification_nll(before, y_test)
    np.testing.assert_array_equal(scaler.predict(X_test), model.predict(X_test))
    assert scaler.score(X_test, y_test) == model.score(X_test, y_test)
    assert scaler.n_features_in_ == 2


def test_temperature_keeps_the_member_axis():
    rng = np.random.default_rng(0)
    members = rng.dirichlet(np.ones(3) * 0.5, size=(4, 300))
    pred = ClassificationPrediction.from_members(members)
    labels = rng.integers(0, 3, size=300)
    scaler = TemperatureScaling().fit_prediction(pred, labels)
    calibrated = scaler.calibrate(pred)
    assert calibrated.member_probs.shape == members.shape
    assert np.all(calibrated.epistemic >= 0)
    scaler.temperature_ = 1.0
    np.testing.assert_allclose(scaler.calibrate(pred).probs, pred.probs, atol=1e-12)


# ------------------------------------------------------------------------------ variance
def test_variance_scaling_closed_form_and_netcal():
    from netcal.regression import VarianceScaling as NetcalVariance

    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=3000), np.exp(0.3 * rng.normal(size=3000))
    y = mean + 1.7 * std * rng.normal(size=3000)
    scaler = VarianceScaling().fit_prediction((mean, std), y)
    assert scaler.scale_ == pytest.approx(np.sqrt(np.mean(((y - mean) / std) ** 2)))
    reference = NetcalVariance()
    reference.fit((mean, std), y)
    assert scaler.scale_ == pytest.approx(float(np.ravel(reference._weight)[0]), rel=1e-6)
    calibrated = scaler.calibrate((mean, std))
    np.testing.assert_allclose(calibrated.std(), scaler.scale_ * std)
    assert coverage(calibrated, y, [0.9]).coverage[0] == pytest.approx(0.9, abs=0.02)


def test_variance_scaling_of_a_mixture_maximises_the_exact_likelihood():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(3, 800)) * 0.5
    pred = RegressionPrediction.mixture(means, np.full((3, 800), 0.2))
    y = means.mean(0) + 1.5 * rng.normal(size=800)
    scaler = VarianceScaling().fit_prediction(pred, y)
    calibrated = scaler.calibrate(pred)
    np.testing.assert_allclose(calibrated.mean, pred.mean)
    np.testing.assert_allclose(calibrated.aleatoric, scaler.scale_**2 * pred.aleatoric)
    np.testing.assert_allclose(calibrated.epistemic, scaler.scale_**2 * pred.epistemic)
    best = regression_nll(calibrated, y)
    for factor in (0.98, 1.02):
        worse = VarianceScaling().fit_prediction(pred, y)
        worse.scale_ = scaler.scale_ * factor
        assert regression_nll(worse.calibrate(pred), y) > best


def test_variance_scaling_has_one_factor_per_output():
    rng = np.random.default_rng(2)
    mean, std = np.zeros((2000, 2)), np.ones((2000, 2))
    y = rng.normal(size=(2000, 2)) * np.array([0.5, 3.0])
    scaler = VarianceScaling().fit_prediction((mean, std), y)
    np.testing.assert_allclose(scaler.scale_, [0.5, 3.0], rtol=0.05)
    with pytest.raises(InvalidInputError, match="outputs"):
        scaler.calibrate((np.zeros(3), np.ones(3)))


# ------------------------------------------------------------------------------ isotonic
def test_isotonic_recalibration_calibrates_new_data(helpers, regressor_data):
    (X, y), (X_cal, y_cal), (X_test, y_test) = regressor_data
    model = helpers.LinearGaussianRegressor(std_factor=0.5).fit(X, y)  # over-confident
    before = model.predict_uncertainty(X_test)
    iso = IsotonicCalibration(model).fit(X_cal, y_cal)
    after = iso.predict_uncertainty(X_test)
    assert isinstance(after, RegressionPrediction)
    assert miscalibration_area(after, y_test) < 0.3 * miscalibration_area(before, y_test)
    assert coverage(after, y_test, [0.9]).coverage[0] == pytest.approx(0.9, abs=0.04)
    assert coverage(before, y_test, [0.9]).coverage[0] < 0.7
    lower, upper = iso.predict_interval(X_test[:5], alpha=0.1)
    np.testing.assert_allclose((lower, upper), after[:5].interval(0.1))
    assert regression_nll(after, y_test) < regression_nll(before, y_test)


def test_isotonic_rejects_multi_output():
    pred = (np.zeros((5, 2)), np.ones((5, 2)))
    with pytest.raises(InvalidInputError, match="single-output"):
        IsotonicCalibration().fit_prediction(pred, np.zeros((5, 2)))


# ------------------------------------------------------------------------------ estimator rules
@pytest.mark.parametrize("wrapper", [TemperatureScaling, VarianceScaling, IsotonicCalibration])
def test_wrappers_follow_the_estimator_rules(helpers, wrapper):
    model = helpers.LinearGaussianRegressor()
    calibrator = wrapper(model)
    assert calibrator.get_params()["estimator"] is model
    assert isinstance(clone(calibrator), wrapper)
    with pytest.raises(NotFittedError, match="not fitted"):
        calibrator.fit(np.zeros((3, 2)), np.zeros(3))  # the wrapped model was never fitted
    with pytest.raises(NotFittedError):
        wrapper().calibrate((np.zeros(2), np.ones(2)))
    with pytest.raises(InvalidInputError, match="no model"):
        wrapper().fit_prediction(
            *(
                (np.array([[0.3, 0.7], [0.6, 0.4]]), [1, 0])
                if wrapper is TemperatureScaling
                else ((np.zeros(2), np.ones(2)), np.array([0.5, -0.5]))
            )
        ).predict_uncertainty(np.zeros((2, 2)))


def test_isotonic_identity_mix_is_validated():
    with pytest.raises(ValueError, match="identity_mix"):
        IsotonicCalibration(identity_mix=0.0).fit_prediction((np.zeros(3), np.ones(3)), np.ones(3))


def test_a_frozen_model_survives_clone(helpers, regressor_data):
    from sklearn.frozen import FrozenEstimator

    (X, y), (X_cal, y_cal), _ = regressor_data
    model = helpers.LinearGaussianRegressor(std_factor=0.5).fit(X, y)
    # clone() would return an unfitted copy of a plain model; a frozen one stays fitted
    scaler = clone(VarianceScaling(FrozenEstimator(model))).fit(X_cal, y_cal)
    assert scaler.scale_ == pytest.approx(
        VarianceScaling(model).fit(X_cal, y_cal).scale_, rel=1e-12
    )
