"""Uncertainty metrics: plain functions of a prediction (or arrays) and the truth.

This layer sits below every estimator: ``import uqkit.metrics`` imports no estimator, only
:mod:`uqkit.prediction` and :mod:`uqkit.exceptions`, so any family (and ``evaluate`` on every
estimator) can use it. Each metric accepts the shared prediction types and, where it makes sense,
plain arrays (``(mean, std)`` pairs, probabilities); the ``as_*`` checks that do this are public
too, for the recalibrators and reports that accept the same inputs.

One module per concept: regression scoring rules (NLL, CRPS, pinball), regression calibration
(PIT, coverage, calibration curves, QCE), variance calibration (ENCE, UCE), sharpness,
classification scoring rules (NLL, Brier), classification calibration (ECE, MCE), uncertainty as
a detector (misclassification, OOD, selective risk), the summaries of all of them, and
scikit-learn scorers of them (``nll_scorer``, ...: greater is better, the negated loss).

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

from uqkit.metrics._classification_calibration import (
    ReliabilityResult,
    adaptive_calibration_error,
    classwise_ece,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_curve,
)
from uqkit.metrics._classification_scores import brier_score, classification_nll
from uqkit.metrics._detection import (
    aurc,
    misclassification_detection,
    ood_detection,
    risk_coverage_curve,
    uncertainty_score,
)
from uqkit.metrics._interval_score import interval_score
from uqkit.metrics._levels import DEFAULT_LEVELS, DEFAULT_QUANTILES, level_tag
from uqkit.metrics._regression_calibration import (
    CoverageResult,
    calibration_curve,
    coverage,
    miscalibration_area,
    pit,
    quantile_calibration_error,
)
from uqkit.metrics._regression_scores import crps, pinball_loss, regression_nll
from uqkit.metrics._scorers import (
    UncertaintyScorer,
    crps_scorer,
    ece_scorer,
    interval_score_scorer,
    make_interval_score_scorer,
    nll_scorer,
)
from uqkit.metrics._sharpness import error_std_correlation, sharpness
from uqkit.metrics._summary import classification_metrics, nll, regression_metrics
from uqkit.metrics._validation import (
    as_classification,
    as_classification_prediction,
    as_probabilities,
    as_regression,
    as_regression_prediction,
)
from uqkit.metrics._variance_calibration import binned_error_vs_std, ence, uce

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_QUANTILES",
    "CoverageResult",
    "ReliabilityResult",
    "UncertaintyScorer",
    "adaptive_calibration_error",
    "as_classification",
    "as_classification_prediction",
    "as_probabilities",
    "as_regression",
    "as_regression_prediction",
    "aurc",
    "binned_error_vs_std",
    "brier_score",
    "calibration_curve",
    "classification_metrics",
    "classification_nll",
    "classwise_ece",
    "coverage",
    "crps",
    "crps_scorer",
    "ece_scorer",
    "ence",
    "error_std_correlation",
    "expected_calibration_error",
    "interval_score",
    "interval_score_scorer",
    "level_tag",
    "make_interval_score_scorer",
    "maximum_calibration_error",
    "miscalibration_area",
    "misclassification_detection",
    "nll",
    "nll_scorer",
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
