"""Every metric at once: the flat dictionaries behind ``evaluate`` and the reports."""

from __future__ import annotations

import numpy as np

from uqkit.metrics._classification_calibration import (
    classwise_ece,
    expected_calibration_error,
    maximum_calibration_error,
)
from uqkit.metrics._classification_scores import brier_score, classification_nll
from uqkit.metrics._detection import aurc, misclassification_detection, uncertainty_score
from uqkit.metrics._levels import DEFAULT_LEVELS, level_tag
from uqkit.metrics._regression_calibration import (
    coverage,
    miscalibration_area,
    quantile_calibration_error,
)
from uqkit.metrics._regression_scores import crps, pinball_loss, regression_nll
from uqkit.metrics._sharpness import error_std_correlation, sharpness
from uqkit.metrics._validation import as_classification, as_regression
from uqkit.metrics._variance_calibration import ence, uce
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["classification_metrics", "nll", "regression_metrics"]


def regression_metrics(pred, y, *, levels=DEFAULT_LEVELS, n_bins: int = 10) -> dict[str, float]:
    """Every regression metric in one flat ``{name: float}`` dict.

    Keys: ``nll`` (exact predictive), ``nll_gaussian`` (moment-matched Gaussian), ``crps``,
    ``rmse``, ``mae``, ``pinball``, ``coverage_<L>`` and ``width_<L>`` for each level (in percent),
    ``qce``, ``qce_binned``, ``miscalibration_area``, ``ence``, ``uce``, ``sharpness``,
    ``error_std_spearman``, ``mean_aleatoric``, ``mean_epistemic``.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    levels : sequence of float, default (0.5, 0.8, 0.9, 0.95)
    n_bins : int, default 10
        Bins of ENCE, UCE and the binned QCE.

    Examples
    --------
    >>> import numpy as np
    >>> metrics = regression_metrics((np.zeros(50), np.ones(50)), np.linspace(-2, 2, 50))
    >>> sorted(metrics)[:4]
    ['coverage_50', 'coverage_80', 'coverage_90', 'coverage_95']
    """
    pred, y = as_regression(pred, y)
    result: dict[str, float] = {
        "nll": regression_nll(pred, y),
        "nll_gaussian": regression_nll(pred.as_normal(), y),
        "crps": crps(pred, y),
        "rmse": float(np.sqrt(np.mean((y - pred.mean) ** 2))),
        "mae": float(np.mean(np.abs(y - pred.mean))),
        "pinball": pinball_loss(pred, y),
    }
    cov = coverage(pred, y, levels)
    for level, observed, width in zip(cov.levels, cov.coverage, cov.width):
        tag = level_tag(level)
        result[f"coverage_{tag}"] = float(observed)
        result[f"width_{tag}"] = float(width)
    result.update(
        {
            "qce": quantile_calibration_error(pred, y),
            "qce_binned": quantile_calibration_error(pred, y, n_bins=n_bins),
            "miscalibration_area": miscalibration_area(pred, y),
            "ence": ence(pred, y, n_bins),
            "uce": uce(pred, y, n_bins),
            "sharpness": sharpness(pred),
            "error_std_spearman": error_std_correlation(pred, y),
            "mean_aleatoric": float(np.mean(pred.aleatoric)),
            "mean_epistemic": float(np.mean(pred.epistemic)),
        }
    )
    return result


def classification_metrics(pred, y, *, n_bins: int = 15) -> dict[str, float]:
    """Every classification metric in one flat ``{name: float}`` dict.

    Keys: ``nll``, ``accuracy``, ``brier``, ``ece``, ``ece_equal_mass``, ``mce``,
    ``classwise_ece``, ``aurc``, ``misclassification_auroc``, ``misclassification_aupr`` (total
    uncertainty as the score), ``mean_total``, ``mean_aleatoric``, ``mean_epistemic``.

    Examples
    --------
    >>> import numpy as np
    >>> metrics = classification_metrics(np.array([[0.8, 0.2], [0.3, 0.7]]), [0, 1])
    >>> metrics["accuracy"], round(metrics["brier"], 2)
    (1.0, 0.13)
    """
    probs, index = as_classification(pred, y)
    source = pred if isinstance(pred, ClassificationPrediction) else probs
    detection = misclassification_detection(source, y, score="total")
    if isinstance(pred, ClassificationPrediction):
        total, aleatoric, epistemic = pred.total, pred.aleatoric, pred.epistemic
    else:
        total = uncertainty_score(probs, "total")
        aleatoric, epistemic = total, np.zeros_like(total)
    return {
        "nll": classification_nll(source, y),
        "accuracy": float(np.mean(np.argmax(probs, axis=1) == index)),
        "brier": brier_score(source, y),
        "ece": expected_calibration_error(source, y, n_bins),
        "ece_equal_mass": expected_calibration_error(source, y, n_bins, binning="equal_mass"),
        "mce": maximum_calibration_error(source, y, n_bins),
        "classwise_ece": classwise_ece(source, y, n_bins),
        "aurc": aurc(source, y),
        "misclassification_auroc": detection["auroc"],
        "misclassification_aupr": detection["aupr"],
        "mean_total": float(np.mean(total)),
        "mean_aleatoric": float(np.mean(aleatoric)),
        "mean_epistemic": float(np.mean(epistemic)),
    }


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
