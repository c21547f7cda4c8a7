"""What each metric of a report means, which way is better, and how a value is printed."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "best_index", "decimals", "definition", "direction", "fmt", "fmt_at", "group", "label",
    "reference", "unit",
]

# Human name, group, unit and source paper of each metric ("y" = the target's units).
_META = {
    "accuracy": ("Accuracy", "accuracy", "", "share correct"),
    "rmse": ("RMSE", "accuracy", "y", "√(mean (y − μ)²)"),
    "mae": ("MAE", "accuracy", "y", "mean |y − μ|"),
    "nll": ("Negative log-likelihood", "probabilistic scores", "nats",
            "−mean log p(y) — Gneiting & Raftery, JASA 2007, Sec. 4.1"),
    "nll_gaussian": ("Gaussian NLL", "probabilistic scores", "nats",
                     "−mean log N(y; μ, σ²) — Gneiting & Raftery 2007"),
    "crps": ("CRPS", "probabilistic scores", "y",
             "mean ∫ (F(z) − 1{y ≤ z})² dz — Gneiting & Raftery 2007, Eq. 20"),
    "pinball": ("Pinball loss", "probabilistic scores", "y",
                "mean over τ of max(τ(y − q_τ), (τ − 1)(y − q_τ)) — Koenker & Bassett 1978"),
    "brier": ("Brier score", "probabilistic scores", "", "mean Σ_c (p_c − 1{y = c})² — Brier 1950"),
    "coverage": ("Coverage", "calibration", "share", "mean 1{l ≤ y ≤ u} of the central interval"),
    "qce": ("QCE", "calibration", "",
            "mean over q of |PICP(q) − q| — Küppers et al., CVPR-W 2022, Sec. 3.2"),
    "qce_binned": ("QCE (std-binned)", "calibration", "",
                   "QCE per bin of predicted std, bin-weighted — Küppers et al. 2022"),
    "miscalibration_area": ("Miscalibration area", "calibration", "",
                            "∫ |Ĝ(p) − p| dp of the PIT CDF — Tran et al., MLST 2020, Sec. 2.3"),
    "ence": ("ENCE", "calibration", "",
             "mean over std bins of |RMV − RMSE| / RMV — Levi et al., Sensors 2022, Sec. 3"),
    "uce": ("UCE", "calibration", "y²",
            "Σ_b (n_b/n) |MSE_b − MV_b| — Laves et al., MIDL 2020, Eq. 7"),
    "ece": ("ECE", "calibration", "",
            "Σ_b (n_b/n) |acc_b − conf_b|, 15 bins — Guo et al., ICML 2017, Eq. 3"),
    "ece_equal_mass": ("ECE (equal-mass)", "calibration", "",
                       "ECE with equal-mass bins — Nixon et al., CVPR-W 2019"),
    "mce": ("MCE", "calibration", "", "max_b |acc_b − conf_b| — Guo et al. 2017, Eq. 5"),
    "classwise_ece": ("Class-wise ECE", "calibration", "",
                      "ECE of every class probability — Kull et al., NeurIPS 2019, Sec. 2"),
    "width": ("Interval width", "sharpness", "y", "mean (u − l) of the central interval"),
    "sharpness": ("Sharpness", "sharpness", "y", "√(mean σ²) — Gneiting et al., JRSS-B 2007"),
    "mean_total": ("Mean total uncertainty", "sharpness", "nats", "mean entropy of p"),
    "mean_aleatoric": ("Mean aleatoric", "sharpness", "", "mean aleatoric variance / entropy"),
    "mean_epistemic": ("Mean epistemic", "sharpness", "",
                       "mean epistemic variance / mutual information — Depeweg et al. 2018"),
    "error_std_spearman": ("|error|–std rank correlation", "uncertainty quality", "",
                           "Spearman ρ(|y − μ|, σ)"),
    "aurc": ("AURC", "uncertainty quality", "",
             "area under risk–coverage — Geifman & El-Yaniv, NeurIPS 2017"),
    "misclassification_auroc": ("Error-detection AUROC", "uncertainty quality", "",
                                "AUROC of total uncertainty for wrong predictions — Hendrycks "
                                "& Gimpel, ICLR 2017, Sec. 3"),
    "misclassification_aupr": ("Error-detection AUPR", "uncertainty quality", "",
                               "average precision, wrong = positive — Hendrycks & Gimpel 2017"),
    "ood_auroc_epistemic": ("OOD AUROC (epistemic)", "uncertainty quality", "",
                            "AUROC, OOD = positive — Hendrycks & Gimpel 2017, Sec. 4"),
    "ood_aupr_epistemic": ("OOD AUPR (epistemic)", "uncertainty quality", "",
                           "average precision, OOD = positive — Hendrycks & Gimpel 2017"),
    "ood_auroc_total": ("OOD AUROC (total)", "uncertainty quality", "",
                        "AUROC, OOD = positive — Hendrycks & Gimpel 2017, Sec. 4"),
    "ood_aupr_total": ("OOD AUPR (total)", "uncertainty quality", "",
                       "average precision, OOD = positive — Hendrycks & Gimpel 2017"),
}
GROUPS = ("accuracy", "probabilistic scores", "calibration", "sharpness", "uncertainty quality")

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


def _meta(key: str):
    if key in _META:
        return _META[key]
    for prefix in ("coverage", "width"):
        if key.startswith(prefix + "_"):
            name, grp, unit, formula = _META[prefix]
            return (f"{name} {key.split('_', 1)[1]}%", grp, unit, formula)
    if key.startswith("mean_") and key.endswith("_ood"):
        return (f"Mean {key[5:-4]} (OOD)", "uncertainty quality", "", "mean score on OOD rows")
    return (key, "other", "", "")


def label(key: str) -> str:
    """The human name of a metric key."""
    return _meta(key)[0]


def group(key: str) -> str:
    """The table group of a metric key (one of :data:`GROUPS`, or ``"other"``)."""
    return _meta(key)[1]


def unit(key: str) -> str:
    """The unit of a metric ("y" for the target's units; empty when unitless)."""
    return _meta(key)[2]


def reference(key: str) -> str:
    """Formula and source paper of a metric."""
    return _meta(key)[3]


def direction(key: str) -> int:
    """-1 when lower is better, +1 when higher is better, 0 when neither (coverage: see best)."""
    if key in _LOWER_IS_BETTER:
        return -1
    if key in _HIGHER_IS_BETTER:
        return 1
    return 0


def decimals(half_widths) -> int | None:
    """Decimals that show a metric to the precision its CI allows: two significant digits of
    the median CI half-width (``None`` without a finite width)."""
    widths = np.asarray([w for w in half_widths if w is not None], dtype=float)
    # a zero-width interval (a constant metric) says nothing about precision: ignore it
    widths = widths[np.isfinite(widths) & (widths > 1e-12)]
    if not widths.size:
        return None
    return int(max(0, min(8, 1 - math.floor(math.log10(float(np.median(widths)))))))


def fmt_at(value, places: int | None) -> str:
    """``value`` with ``places`` decimals (four significant digits when ``None``)."""
    if places is None:
        return fmt(value)
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.{places}f}"


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
