"""Predictions of scikit-learn models that are not uqkit's: ``return_std`` regressors and
``predict_proba`` classifiers.

What the variance split means for them: a foreign regressor reports one predictive standard
deviation, the sum of model and noise uncertainty in proportions it does not say (a Gaussian
process with a ``WhiteKernel`` mixes both; without one, its std is the posterior of the latent
function only). uqkit does not guess: the whole predictive variance goes into ``aleatoric`` and
``epistemic`` is 0, read as "not split", not as "no model uncertainty". The total, the
intervals, the NLL and the CRPS are exact either way. The one exception is an exact split the
model itself defines: ``BayesianRidge`` and ``ARDRegression`` predict the variance
:math:`x^\\top\\Sigma x + 1/\\alpha` (Tipping, JMLR 2001, Eq. 22; Bishop 2006, Eq. 3.59), whose
first term is the posterior of the weights (epistemic) and the second the noise (aleatoric).
A classifier's ``predict_proba`` is one probability vector per row: its entropy is the total
and the aleatoric part, and the epistemic part is 0 (no members).
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import is_classifier
from sklearn.linear_model import ARDRegression, BayesianRidge

from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["foreign_prediction", "takes_return_std"]


def takes_return_std(model) -> bool:
    """Whether ``model.predict`` accepts ``return_std`` (scikit-learn's convention)."""
    predict = getattr(model, "predict", None)
    if predict is None:
        return False
    try:
        return "return_std" in inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False


def foreign_prediction(model, X) -> RegressionPrediction | ClassificationPrediction:
    """The prediction of a fitted scikit-learn model that has no ``predict_uncertainty``.

    Parameters
    ----------
    model : fitted estimator
        A classifier with ``predict_proba``, or a regressor whose ``predict`` takes
        ``return_std``.
    X : array-like of shape (n, p)

    Returns
    -------
    RegressionPrediction or ClassificationPrediction

    Raises
    ------
    InvalidInputError
        If the model gives no uncertainty (``RandomForestRegressor``, ``SVC()``): the message
        names a uqkit wrapper that gives it one.
    """
    name = type(model).__name__
    if is_classifier(model) or (hasattr(model, "predict_proba") and not takes_return_std(model)):
        if not hasattr(model, "predict_proba"):
            raise InvalidInputError(
                f"{name} gives no class probabilities (it has no predict_proba), so it has no "
                "uncertainty to report. Use a probabilistic classifier (for SVC: "
                "probability=True), or wrap it in uqkit.calibration.ConformalClassifier."
            )
        probs = np.asarray(model.predict_proba(X), dtype=np.float64)
        classes = getattr(model, "classes_", None)
        if probs.ndim != 2 or (classes is not None and len(classes) != probs.shape[1]):
            raise InvalidInputError(
                f"{name}.predict_proba returned shape {probs.shape}, not (n, n_classes): only "
                "single-output classifiers are supported."
            )
        return ClassificationPrediction(probs, classes=None if classes is None else classes)
    if not takes_return_std(model):
        raise InvalidInputError(
            f"{name} gives no uncertainty: its predict has no return_std and it has no "
            "predict_proba, so only point predictions exist. Wrap it to get calibrated "
            f"intervals: uqkit.calibration.ConformalRegressor({name}(...)) fitted on held-out "
            "data, or use a uqkit regressor (uqkit.DeepEnsembleRegressor)."
        )
    mean, std = model.predict(X, return_std=True)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if std.shape != mean.shape and std.ndim == 1 and mean.ndim == 2 and mean.shape[1] == 1:
        mean = mean[:, 0]  # a single target kept as a column
    if std.shape != mean.shape:
        raise InvalidInputError(
            f"{name}.predict(X, return_std=True) gave a mean of shape {mean.shape} and a std "
            f"of shape {std.shape}; uqkit needs them of one shape."
        )
    variance = std**2
    noise = _noise_variance(model)
    if noise is not None:
        # Tipping 2001, Eq. 22: x' Sigma x + 1/alpha; the first term is the weights' posterior
        epistemic = np.maximum(variance - noise, 0.0)
        return RegressionPrediction.normal(mean, variance - epistemic, epistemic)
    return RegressionPrediction.normal(mean, variance)


def _noise_variance(model) -> float | None:
    """The noise variance ``1/alpha_`` of a Bayesian linear model, else None."""
    if isinstance(model, BayesianRidge | ARDRegression) and np.ndim(model.alpha_) == 0:
        return 1.0 / float(model.alpha_)
    return None
