"""Bootstrap confidence intervals of the report's metrics, and paired differences between models.

The evaluation rows are resampled with replacement ``B`` times (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 10 and 13: percentile intervals of bias-shifted
replicates). All models of a report are scored on the *same* resamples, so the difference of two
models' metric on one resample is a paired bootstrap replicate of their difference (ch. 16): it
cancels the variation that the models share (hard rows are hard for both) and says whether one
model is better beyond sampling noise.

Speed: the slow part of a metric is the predictive distribution (CDFs, quantiles, mixture
log-densities), not the averaging. Every per-row quantity is therefore computed once on the full
data, the averaged metrics are bootstrapped as ``values[index].mean(axis=1)`` over all resamples at
once, and the binned/rank metrics are recomputed per resample on two cheap Gaussian stand-ins
that reproduce them exactly: ``N(mean, total variance)`` against ``y`` (ENCE, UCE, Spearman use
only the mean and the variance) and ``N(0, total variance)`` against ``Φ⁻¹(PIT)·std`` (QCE and the
miscalibration area use only the PIT values and the predicted std).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from uqkit.metrics import (
    DEFAULT_QUANTILES,
    aurc,
    classwise_ece,
    ence,
    error_std_correlation,
    expected_calibration_error,
    level_tag,
    maximum_calibration_error,
    miscalibration_area,
    quantile_calibration_error,
    uce,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["DEFAULT_B", "bootstrap_indices", "interval", "paired_best"]

DEFAULT_B = 1000
# A PIT value of exactly 0 or 1 would give an infinite stand-in target; no metric threshold lies
# this close to either end, so the stand-in's metrics are unchanged.
_PIT_EPS = 1e-12


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` row indices drawn with replacement from ``n`` rows (seeded)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _row_mean(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Mean over resampled rows (and over outputs): ``(B,)`` from per-row ``values``."""
    values = np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1)
    return values[index].mean(axis=(1, 2))


def regression_replicates(pred: RegressionPrediction, y: np.ndarray, index: np.ndarray, levels,
                          n_bins: int = 10) -> dict[str, np.ndarray]:
    """Bootstrap replicates ``{key: (B,)}`` of every key of ``regression_metrics``.

    ``pred`` and ``y`` are the validated prediction and targets; ``index`` is
    :func:`bootstrap_indices`' output.
    """
    out: dict[str, np.ndarray] = {}
    out["nll"] = -_row_mean(pred.log_prob(y), index)
    out["nll_gaussian"] = -_row_mean(pred.as_normal().log_prob(y), index)
    out["crps"] = _row_mean(pred.crps(y, reduction="none"), index)
    error = y - pred.mean
    out["rmse"] = np.sqrt(_row_mean(error**2, index))
    out["mae"] = _row_mean(np.abs(error), index)
    tau = np.asarray(DEFAULT_QUANTILES)
    diff = y - pred.quantile(tau)  # (Q, n, ...)
    tau = tau.reshape((-1,) + (1,) * y.ndim)
    out["pinball"] = _row_mean(np.maximum(tau * diff, (tau - 1.0) * diff).mean(axis=0), index)
    for level in np.asarray(levels, dtype=float):
        lower, upper = pred.interval(coverage=float(level))
        add_interval_replicates(out, level, lower, upper, y, index)
    out["sharpness"] = np.sqrt(_row_mean(pred.total, index))
    out["mean_aleatoric"] = _row_mean(pred.aleatoric, index)
    out["mean_epistemic"] = _row_mean(pred.epistemic, index)
    # exact Gaussian stand-ins for the binned and rank metrics (see the module docstring)
    std = np.sqrt(pred.total)
    moments = RegressionPrediction.normal(pred.mean, pred.total)
    standin = RegressionPrediction.normal(np.zeros_like(std), pred.total)
    u = np.clip(pred.cdf(y), _PIT_EPS, 1.0 - _PIT_EPS)
    z = special.ndtri(u) * std
    keys = ("qce", "qce_binned", "miscalibration_area", "ence", "uce", "error_std_spearman")
    rows = {k: np.empty(len(index)) for k in keys}
    for b, rows_b in enumerate(index):
        sm, yb, ss, zb = moments[rows_b], y[rows_b], standin[rows_b], z[rows_b]
        rows["qce"][b] = quantile_calibration_error(ss, zb)
        rows["qce_binned"][b] = quantile_calibration_error(ss, zb, n_bins=n_bins)
        rows["miscalibration_area"][b] = miscalibration_area(ss, zb)
        rows["ence"][b] = ence(sm, yb, n_bins)
        rows["uce"][b] = uce(sm, yb, n_bins)
        rows["error_std_spearman"][b] = error_std_correlation(sm, yb)
    out.update(rows)
    return out


def add_interval_replicates(out, level, lower, upper, y, index) -> None:
    """Replicates of ``coverage_<L>`` and ``width_<L>`` from per-row interval bounds."""
    tag = level_tag(level)
    out[f"coverage_{tag}"] = _row_mean(((y >= lower) & (y <= upper)).astype(float), index)
    out[f"width_{tag}"] = _row_mean(upper - lower, index)


def classification_replicates(pred, probs: np.ndarray, labels: np.ndarray, index: np.ndarray,
                              n_bins: int = 15) -> dict[str, np.ndarray]:
    """Bootstrap replicates of every key of :func:`uqkit.metrics.classification_metrics`.

    ``probs`` is the ``(n, C)`` probability matrix and ``labels`` the class indices. Averaged
    scores are resampled at once; the binned and ranked ones are recomputed per resample on the
    probability matrix (whose total uncertainty, the entropy, is the prediction's).
    """
    out: dict[str, np.ndarray] = {}
    rows = np.arange(len(labels))
    p_true = probs[rows, labels]
    out["nll"] = -_row_mean(np.log(np.maximum(p_true, np.finfo(float).tiny)), index)
    out["accuracy"] = _row_mean((np.argmax(probs, axis=1) == labels).astype(float), index)
    out["brier"] = _row_mean(np.sum(probs * probs, axis=1) - 2.0 * p_true + 1.0, index)
    if isinstance(pred, ClassificationPrediction):
        total, aleatoric, epistemic = pred.total, pred.aleatoric, pred.epistemic
    else:
        total = -np.sum(special.xlogy(probs, probs), axis=1)
        aleatoric, epistemic = total, np.zeros_like(total)
    out["mean_total"] = _row_mean(total, index)
    out["mean_aleatoric"] = _row_mean(aleatoric, index)
    out["mean_epistemic"] = _row_mean(epistemic, index)
    keys = ("ece", "ece_equal_mass", "mce", "classwise_ece", "aurc", "misclassification_auroc",
            "misclassification_aupr")
    replicates = {k: np.empty(len(index)) for k in keys}
    wrong = np.argmax(probs, axis=1) != labels
    for b, rows_b in enumerate(index):
        pb, lb = probs[rows_b], labels[rows_b]
        replicates["ece"][b] = expected_calibration_error(pb, lb, n_bins)
        replicates["ece_equal_mass"][b] = expected_calibration_error(
            pb, lb, n_bins, binning="equal_mass"
        )
        replicates["mce"][b] = maximum_calibration_error(pb, lb, n_bins)
        replicates["classwise_ece"][b] = classwise_ece(pb, lb, n_bins)
        replicates["aurc"][b] = aurc(pb, lb)
        auroc, aupr = auroc_aupr(total[rows_b], wrong[rows_b])
        replicates["misclassification_auroc"][b] = auroc
        replicates["misclassification_aupr"][b] = aupr
    out.update(replicates)
    return out


def auroc_aupr(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """AUROC (Mann–Whitney, ties count one half) and average precision of ``score``.

    The same numbers as scikit-learn's ``roc_auc_score`` and ``average_precision_score``
    (precision at each distinct threshold weighted by the recall it adds; Zhu, 2004), without
    their input checks, which dominate the time of a bootstrap; NaN when one class is empty.
    """
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    positive = np.asarray(positive, dtype=bool).reshape(-1)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan, math.nan
    ranks = stats.rankdata(score)
    auroc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    order = np.argsort(-score, kind="stable")
    sorted_score, hits = score[order], positive[order]
    last = np.flatnonzero(np.diff(sorted_score, append=-np.inf) != 0)  # end of each tie group
    true_pos = np.cumsum(hits)[last]
    precision = true_pos / (last + 1.0)
    recall_gain = np.diff(true_pos, prepend=0) / n_pos
    return float(auroc), float(np.sum(precision * recall_gain))


def ood_replicates(inside: np.ndarray, outside: np.ndarray, index_in: np.ndarray,
                   index_out: np.ndarray) -> dict[str, np.ndarray]:
    """Replicates of OOD AUROC/AUPR: ID and OOD rows resampled separately (two samples)."""
    out = {"auroc": np.empty(len(index_in)), "aupr": np.empty(len(index_in))}
    positive = np.concatenate(
        [np.zeros(index_in.shape[1], bool), np.ones(index_out.shape[1], bool)]
    )
    for b in range(len(index_in)):
        values = np.concatenate([inside[index_in[b]], outside[index_out[b]]])
        out["auroc"][b], out["aupr"][b] = auroc_aupr(values, positive)
    return out


def interval(replicates: np.ndarray, estimate: float | None = None,
             confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates, shifted by their bias.

    Binned calibration errors (QCE, ECE, ENCE, MCE) average absolute gaps and so grow on a
    resample that repeats rows: their replicates sit above the estimate, and a plain percentile
    interval can miss the estimate altogether (the bias-corrected percentile interval, Efron &
    Tibshirani 1993, Sec. 14.3, degenerates to the smallest replicate there). With ``estimate``
    the replicates are first shifted by the bootstrap bias estimate
    ``mean(replicates) - estimate`` (Efron & Tibshirani 1993, Eq. 10.2), which leaves the interval
    of an average-type metric (NLL, coverage, accuracy: no bias) as it is and centres that of a
    binned metric on the estimate; without ``estimate`` it is the plain percentile interval.
    NaN replicates (resamples where the metric is undefined) are dropped; when more than half
    are NaN the interval is NaN.
    """
    values = replicates[np.isfinite(replicates)]
    if values.size < max(2, 0.5 * replicates.size):
        return (math.nan, math.nan)
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    if estimate is not None and math.isfinite(estimate):
        bias = float(np.mean(values)) - estimate
        low, high = low - bias, high - bias
    return (float(low), float(high))


def paired_best(values: list[float], replicates: list[np.ndarray | None], sign: int,
                confidence: float = 0.95):
    """The best model on one metric, and whether it is best beyond noise.

    Parameters
    ----------
    values : list of float
        Point estimates, one per model.
    replicates : list of (B,) arrays or None
        The models' bootstrap replicates on the same resamples.
    sign : {+1, -1}
        +1 when higher is better, -1 when lower is better.

    Returns
    -------
    best : int or None
        Index of the best point estimate (``None`` when none is finite).
    clear : bool
        True when, against every other model, the percentile interval of the paired difference
        (other − best, signed so that "better" is positive) lies entirely below zero.
    differences : list of (low, high) or None
        Per model, the interval of ``value - best value``; ``None`` for the best model itself.
    """
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).any():
        return None, False, [None] * len(values)
    best = int(np.nanargmax(sign * array))
    clear = len(values) > 1
    differences: list[tuple[float, float] | None] = []
    for i, reps in enumerate(replicates):
        if i == best:
            differences.append(None)
            continue
        if reps is None or replicates[best] is None or not np.isfinite(array[i]):
            differences.append(None)
            continue
        diff = reps - replicates[best]
        low, high = interval(diff, float(array[i] - array[best]), confidence)
        differences.append((low, high))
        signed_high = high if sign > 0 else -low  # the largest plausible advantage of model i
        if not (np.isfinite(signed_high) and signed_high < 0):
            clear = False
    return best, clear, differences
