"""What each metric of a report means, which way is better, and how a value is printed."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["best_index", "definition", "fmt"]

# What each metric means, in one line (shown in the report).
_DEFINITIONS = {
    "nll": "mean negative log predictive density/probability of the truth (lower is better)",
    "nll_gaussian": "NLL of the moment-matched Gaussian N(mean, total variance)",
    "crps": "continuous ranked probability score, in units of y (lower is better)",
    "rmse": "root mean squared error of the predictive mean",
    "mae": "mean absolute error of the predictive mean",
    "pinball": "mean pinball loss of the 5%, 10%, ..., 95% predictive quantiles",
    "coverage": "share of targets inside the central L% interval (ideal: L%)",
    "width": "mean width of the central L% interval",
    "qce": "mean |observed − nominal| coverage over levels 5%..95% (Küppers et al. 2022)",
    "qce_binned": "QCE computed within bins of predicted std, weighted by bin size",
    "miscalibration_area": "area between the quantile calibration curve and the diagonal",
    "ence": "mean over std bins of |RMV − RMSE| / RMV (Levi et al.)",
    "uce": "bin-weighted |MSE − mean variance| over variance bins (Laves et al.)",
    "sharpness": "root mean predicted variance (lower is sharper)",
    "error_std_spearman": "rank correlation of |error| with predicted std (higher is better)",
    "mean_aleatoric": "mean aleatoric uncertainty (variance, or expected entropy)",
    "mean_epistemic": "mean epistemic uncertainty (variance, or mutual information)",
    "accuracy": "share of correct top-label predictions",
    "brier": "multi-class Brier score (lower is better)",
    "ece": "expected calibration error of the top label, 15 equal-width bins",
    "ece_equal_mass": "ECE with 15 equal-mass bins",
    "mce": "maximum calibration error over non-empty bins",
    "classwise_ece": "ECE of every class probability, averaged over classes (Kull et al.)",
    "aurc": "area under the risk-coverage curve (lower is better)",
    "misclassification_auroc": "AUROC of total uncertainty for detecting wrong predictions",
    "misclassification_aupr": "AUPR (wrong = positive) of total uncertainty",
    "mean_total": "mean total uncertainty (entropy of the predictive probabilities)",
    "ood_auroc_epistemic": "AUROC of epistemic uncertainty for telling OOD from ID inputs",
    "ood_aupr_epistemic": "AUPR (OOD = positive) of epistemic uncertainty",
    "ood_auroc_total": "AUROC of total uncertainty for telling OOD from ID inputs",
    "ood_aupr_total": "AUPR (OOD = positive) of total uncertainty",
}
_LOWER_IS_BETTER = {
    "nll",
    "nll_gaussian",
    "crps",
    "rmse",
    "mae",
    "pinball",
    "qce",
    "qce_binned",
    "miscalibration_area",
    "ence",
    "uce",
    "brier",
    "ece",
    "ece_equal_mass",
    "mce",
    "classwise_ece",
    "aurc",
}
_HIGHER_IS_BETTER = {
    "accuracy",
    "error_std_spearman",
    "misclassification_auroc",
    "misclassification_aupr",
    "ood_auroc_epistemic",
    "ood_aupr_epistemic",
    "ood_auroc_total",
    "ood_aupr_total",
}


def definition(key: str) -> str | None:
    """The one-line meaning of a metric key (``coverage_90`` included); ``None`` if unknown."""
    if key in _DEFINITIONS:
        return _DEFINITIONS[key]
    for prefix in ("coverage", "width"):
        if key.startswith(prefix + "_"):
            level = key.split("_", 1)[1]
            return _DEFINITIONS[prefix].replace("L%", f"{level}%")
    if key.startswith("mean_") and key.endswith("_ood"):
        return f"mean {key[5:-4]} uncertainty on the out-of-distribution inputs"
    return None


def best_index(key: str, values: list[float]) -> int | None:
    """Which model is best on ``key`` (coverage: closest to nominal); ``None`` if not ranked."""
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).any():
        return None
    if key in _LOWER_IS_BETTER:
        return int(np.nanargmin(array))
    if key in _HIGHER_IS_BETTER:
        return int(np.nanargmax(array))
    if key.startswith("coverage_"):
        level = float(key.split("_", 1)[1]) / 100
        return int(np.nanargmin(np.abs(array - level)))
    return None


def fmt(value) -> str:
    """A metric value in four significant digits; a dash for NaN or a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4g}"
