"""Recalibration and conformal prediction: estimators that wrap a fitted model.

Recalibrators are uqkit estimators fitted on held-out data the wrapped model has not seen;
their predictions are the shared prediction types, so every metric in :mod:`uqkit.metrics`
and the report in :mod:`uqkit.report` apply to them. Isotonic recalibration returns a
``RegressionPrediction`` with ``distribution="recalibrated"``, which every metric evaluates
exactly. The metrics themselves live in :mod:`uqkit.metrics`; reports in :mod:`uqkit.report`.

Examples
--------
>>> import numpy as np
>>> from uqkit.prediction import RegressionPrediction
>>> from uqkit.calibration import VarianceScaling
>>> pred = RegressionPrediction.normal(np.zeros(200), np.full(200, 0.25))
>>> y = np.random.default_rng(0).normal(size=200)  # truth twice as spread as predicted
>>> scaled = VarianceScaling().fit_prediction(pred, y).calibrate(pred)
>>> bool(3.0 < scaled.total[0] / pred.total[0] < 5.5)
True
"""

from uqkit.calibration._conformal import ConformalClassifier, ConformalRegressor, aps_scores
from uqkit.calibration._conformal_quantile import ConformalQuantileRegressor
from uqkit.calibration._isotonic import IsotonicCalibration
from uqkit.calibration._jackknife import JackknifePlusRegressor
from uqkit.calibration._mondrian import MondrianConformalRegressor
from uqkit.calibration._netcal import NetcalCalibrator
from uqkit.calibration._quantile import conformal_rank, conformal_threshold
from uqkit.calibration._temperature import TemperatureScaling
from uqkit.calibration._variance import VarianceScaling

__all__ = [
    "ConformalClassifier",
    "ConformalQuantileRegressor",
    "ConformalRegressor",
    "IsotonicCalibration",
    "JackknifePlusRegressor",
    "MondrianConformalRegressor",
    "NetcalCalibrator",
    "TemperatureScaling",
    "VarianceScaling",
    "aps_scores",
    "conformal_rank",
    "conformal_threshold",
]
