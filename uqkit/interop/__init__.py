"""Uncertainty from scikit-learn's own objects: meta-estimators, foreign models and arrays.

:func:`predict_uncertainty` turns whatever a scikit-learn user holds into the shared prediction
types: a uqkit estimator inside a ``Pipeline``, a fitted ``GridSearchCV`` /
``RandomizedSearchCV`` / ``HalvingGridSearchCV`` (its ``best_estimator_``), a
``TransformedTargetRegressor`` with an affine target transform (the prediction is mapped back
exactly), any scikit-learn regressor whose ``predict`` takes ``return_std``
(``GaussianProcessRegressor``, ``BayesianRidge``), any classifier with ``predict_proba``, and
arrays given directly (a ``(mean, std)`` pair or a probability matrix).

This layer sits above the estimator families and below :mod:`uqkit.calibration` and
:mod:`uqkit.report`, which accept all of these through it. It imports no family: a uqkit model
is recognised by its ``predict_uncertainty`` method.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import BayesianRidge
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(50, 2))
>>> y = X @ np.array([1.0, -2.0]) + 0.1 * rng.normal(size=50)
>>> pred = predict_uncertainty(BayesianRidge().fit(X, y), X[:3])
>>> pred.distribution, pred.mean.shape
('normal', (3,))
"""

from uqkit.interop._predict import gives_uncertainty, predict_uncertainty

__all__ = ["gives_uncertainty", "predict_uncertainty"]
