"""NetcalCalibrator gives exactly what netcal's calibrators give when called directly."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from uqkit.calibration import NetcalCalibrator
from uqkit.exceptions import InvalidInputError, ModelFileError
from uqkit.metrics import expected_calibration_error
from uqkit.prediction import ClassificationPrediction

netcal_binning = pytest.importorskip("netcal.binning")
netcal_scaling = pytest.importorskip("netcal.scaling")

DIRECT = {
    "logistic": lambda: netcal_scaling.LogisticCalibration(),
    "beta": lambda: netcal_scaling.BetaCalibration(),
    "histogram": lambda: netcal_binning.HistogramBinning(bins=10),
    "bbq": lambda: netcal_binning.BBQ(),
    "enir": lambda: netcal_binning.ENIR(),
}


def _overconfident(n_classes: int, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = 3.0 * rng.normal(size=(n, n_classes))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    truth = np.sqrt(probs) / np.sqrt(probs).sum(1, keepdims=True)  # softer than predicted
    y = (rng.uniform(size=(n, 1)) > np.cumsum(truth, axis=1)).sum(1)
    return probs, y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("method", sorted(DIRECT))
def test_same_probabilities_as_netcal(method, n_classes, capsys):
    probs, y = _overconfident(n_classes)
    fit, test = slice(0, 250), slice(250, None)
    ours = NetcalCalibrator(method=method).fit_prediction(probs[fit], y[fit])
    direct = DIRECT[method]()
    netcal_in = (lambda p: p[:, 1]) if n_classes == 2 else (lambda p: p)
    direct.fit(netcal_in(probs[fit]), y[fit])
    expected = np.asarray(direct.transform(netcal_in(probs[test])), dtype=np.float64)
    finite = np.ones(len(expected), bool) if n_classes == 2 else expected.sum(axis=1) > 0
    if not np.all(finite):  # netcal returns an all-zero row where every one-vs-all map is 0
        with pytest.raises(InvalidInputError, match="no probability mass"):
            ours.calibrate(probs[test])
        expected, ours = expected[finite], ours.calibrate(probs[test][finite])
    else:
        ours = ours.calibrate(probs[test])
    if n_classes == 2:
        expected = np.c_[1 - expected, expected]
    assert isinstance(ours, ClassificationPrediction) and ours.probs.shape == expected.shape
    np.testing.assert_allclose(ours.probs, expected / expected.sum(1, keepdims=True), atol=1e-6)
    capsys.readouterr()


def test_wraps_a_scikit_learn_classifier_and_improves_ece(capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=1500) > 0).astype(int)
    model = LogisticRegression(C=100).fit(X[:500], (X[:500, 0] > 0).astype(int))  # noiseless
    X_cal, y_cal, X_test, y_test = X[500:1000], y[500:1000], X[1000:], y[1000:]
    calibrated = NetcalCalibrator(model, method="histogram").fit(X_cal, y_cal)
    before = expected_calibration_error(model.predict_proba(X_test), y_test)
    after = expected_calibration_error(calibrated.predict_uncertainty(X_test), y_test)
    assert after < 0.5 * before
    np.testing.assert_array_equal(calibrated.classes_, [0, 1])
    assert capsys.readouterr().out == ""  # netcal's progress output goes to the debug log
    with pytest.raises(ModelFileError, match="cannot be saved"):
        calibrated.save("never-written")
