"""Uncertainty metrics: plain functions of a prediction (or arrays) and the truth.

This layer sits below every estimator: ``import uqkit.metrics`` imports no estimator, so any
family (and :meth:`evaluate` on every estimator) can use it. Each metric accepts the shared
prediction types and, where it makes sense, plain arrays (``(mean, std)`` pairs, probabilities).

Examples
--------
>>> import numpy as np
>>> from uqkit.metrics import coverage, expected_calibration_error
>>> result = coverage((np.zeros(4), np.ones(4)), [0.1, -0.5, 1.0, 3.0], levels=[0.9])
>>> float(result.coverage[0])
0.75
>>> probs = np.array([[0.9, 0.1], [0.9, 0.1]])
>>> round(expected_calibration_error(probs, [0, 1]), 3)
0.4
"""

from uqkit.metrics._classification import (
    ReliabilityResult,
    aurc,
    brier_score,
    classification_metrics,
    classification_nll,
    classwise_ece,
    expected_calibration_error,
    maximum_calibration_error,
    misclassification_detection,
    ood_detection,
    reliability_curve,
    risk_coverage_curve,
    uncertainty_score,
)
from uqkit.metrics._regression import (
    DEFAULT_LEVELS,
    DEFAULT_QUANTILES,
    CoverageResult,
    binned_error_vs_std,
    calibration_curve,
    coverage,
    crps,
    ence,
    error_std_correlation,
    miscalibration_area,
    pinball_loss,
    pit,
    quantile_calibration_error,
    regression_metrics,
    regression_nll,
    sharpness,
    uce,
)
from uqkit.prediction import RegressionPrediction

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_QUANTILES",
    "CoverageResult",
    "ReliabilityResult",
    "aurc",
    "binned_error_vs_std",
    "brier_score",
    "calibration_curve",
    "classification_metrics",
    "classification_nll",
    "classwise_ece",
    "coverage",
    "crps",
    "ence",
    "error_std_correlation",
    "expected_calibration_error",
    "maximum_calibration_error",
    "miscalibration_area",
    "misclassification_detection",
    "nll",
    "ood_detection",
    "pinball_loss",
    "pit",
    "quantile_calibration_error",
    "regression_metrics",
    "regression_nll",
    "reliability_curve",
    "risk_coverage_curve",
    "sharpness",
    "uce",
    "uncertainty_score",
]


def nll(pred, y) -> float:
    """Mean negative log-likelihood of the truth, for regression or classification predictions.

    Dispatches on the prediction: a :class:`~uqkit.prediction.ClassificationPrediction` or an
    (n, C) probability array goes to :func:`classification_nll`; a
    :class:`~uqkit.prediction.RegressionPrediction` or a ``(mean, std)`` pair to
    :func:`regression_nll`.

    Examples
    --------
    >>> import numpy as np
    >>> round(nll((np.zeros(1), np.ones(1)), [0.0]), 4), round(nll(np.array([[0.5, 0.5]]), [1]), 4)
    (0.9189, 0.6931)
    """
    if isinstance(pred, (RegressionPrediction, tuple, list)):
        return regression_nll(pred, y)
    return classification_nll(pred, y)
