"""Tiny models and synthetic data for the metrics, calibration and report tests.

The dummy estimators are deliberately simple (closed-form fits, no torch) so that the tests can
make a model exactly as over- or under-confident as they need. The fixtures at the end are
re-exported by the ``conftest.py`` of ``tests/metrics``, ``tests/calibration`` and ``tests/report``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from uqkit.base import UQClassifierMixin, UQEstimator, UQRegressorMixin, check_fitted
from uqkit.prediction import ClassificationPrediction, RegressionPrediction


class LinearGaussianRegressor(UQRegressorMixin, UQEstimator):
    """Least squares with a Gaussian predictive whose std is ``std_factor`` × the true noise std.

    The noise std is modelled as ``a + b |x_0|`` (fitted on absolute residuals), so the model is
    heteroscedastic; ``std_factor < 1`` makes it over-confident.
    """

    _parameter_constraints: ClassVar[dict] = {"std_factor": [float, int]}

    def __init__(self, std_factor: float = 1.0):
        self.std_factor = std_factor

    def fit(self, X, y):
        self._check_params()
        X, y = self._check_X_y(X, y, regression=True)
        design = np.c_[np.ones(len(X)), X]
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        resid = np.abs(y - design @ self.coef_) * np.sqrt(np.pi / 2)  # E|N(0, s)| = s sqrt(2/pi)
        scale_design = np.c_[np.ones(len(X)), np.abs(X[:, 0])]
        self.noise_coef_ = np.linalg.lstsq(scale_design, resid, rcond=None)[0]
        return self

    def predict_uncertainty(self, X) -> RegressionPrediction:
        check_fitted(self)
        X = self._check_X(X, reset=False)
        mean = np.c_[np.ones(len(X)), X] @ self.coef_
        std = np.maximum(np.c_[np.ones(len(X)), np.abs(X[:, 0])] @ self.noise_coef_, 1e-3)
        return RegressionPrediction.normal(mean, (self.std_factor * std) ** 2)


class TemperedSoftmaxClassifier(UQClassifierMixin, UQEstimator):
    """Nearest-centroid softmax classifier; ``sharpness`` > 1 makes it over-confident."""

    _parameter_constraints: ClassVar[dict] = {"sharpness": [float, int]}

    def __init__(self, sharpness: float = 1.0):
        self.sharpness = sharpness

    def fit(self, X, y):
        self._check_params()
        X, y = self._check_X_y(X, y, regression=False)
        self.classes_, index = np.unique(y, return_inverse=True)
        self.centers_ = np.stack([X[index == k].mean(axis=0) for k in range(len(self.classes_))])
        return self

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        check_fitted(self)
        X = self._check_X(X, reset=False)
        logits = -0.5 * ((X[:, None, :] - self.centers_[None]) ** 2).sum(-1) * self.sharpness
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return ClassificationPrediction(probs / probs.sum(1, keepdims=True), classes=self.classes_)


def heteroscedastic(n: int, seed: int):
    """y = 1 + 2 x0 + noise with std 0.2 + 0.5 |x0|, two features."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    std = 0.2 + 0.5 * np.abs(X[:, 0])
    return X, 1.0 + 2.0 * X[:, 0] + std * rng.normal(size=n)


def blobs(n: int, seed: int, spread: float = 1.2):
    """Three overlapping Gaussian blobs with string labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    index = rng.integers(0, 3, size=n)
    X = centers[index] + spread * rng.normal(size=(n, 2))
    return X, np.array(["a", "b", "c"])[index]


def softmax_sample(n: int, n_classes: int, seed: int, scale: float = 2.0):
    """Probabilities of a calibrated model and labels drawn from them."""
    rng = np.random.default_rng(seed)
    logits = scale * rng.normal(size=(n, n_classes))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    cumulative = probs.cumsum(1)
    labels = (rng.uniform(size=(n, 1)) > cumulative).sum(1)
    return probs, np.minimum(labels, n_classes - 1)


@pytest.fixture(scope="session")
def helpers():
    """The dummy models and data makers of this module."""
    return SimpleNamespace(
        LinearGaussianRegressor=LinearGaussianRegressor,
        TemperedSoftmaxClassifier=TemperedSoftmaxClassifier,
        heteroscedastic=heteroscedastic,
        blobs=blobs,
        softmax_sample=softmax_sample,
    )


@pytest.fixture(scope="session")
def regressor_data():
    """Train, calibration and test sets of the heteroscedastic problem."""
    return heteroscedastic(600, 0), heteroscedastic(600, 1), heteroscedastic(600, 2)


@pytest.fixture(scope="session")
def classifier_data():
    """Train, calibration and test sets of the three-blob problem."""
    return blobs(600, 0), blobs(600, 1), blobs(600, 2)
