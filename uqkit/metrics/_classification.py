"""Calibration, scoring and uncertainty-ranking metrics for classifiers.

Every function takes a :class:`~uqkit.prediction.ClassificationPrediction` (labels are then looked
up among its ``classes``) or a probability matrix of shape (n, C) (labels are then integer column
indices ``0..C-1``), plus the true labels. Binary problems are passed with both columns
``[1 - p, p]``; the top-label metrics then use ``max(p, 1 - p)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._binning import bin_index, bin_means, bin_sums
from uqkit.metrics._validation import (
    as_array,
    as_classification,
    as_probabilities,
    as_regression_prediction,
    check_finite,
    check_n_bins,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = [
    "ReliabilityResult",
    "aurc",
    "brier_score",
    "classification_metrics",
    "classification_nll",
    "classwise_ece",
    "expected_calibration_error",
    "maximum_calibration_error",
    "misclassification_detection",
    "ood_detection",
    "reliability_curve",
    "risk_coverage_curve",
    "uncertainty_score",
]

_TINY = np.finfo(np.float64).tiny


class ReliabilityResult(NamedTuple):
    """Per-bin data of a reliability diagram (empty bins hold NaN).

    Returned by :func:`reliability_curve`: ``confidence``, ``accuracy`` and ``counts`` have shape
    ``(n_bins,)``, ``edges`` has shape ``(n_bins + 1,)``.

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    >>> curve = reliability_curve(probs, [0, 1, 1], n_bins=2)
    >>> curve.edges, curve.counts, curve.confidence.round(2), curve.accuracy.round(2)
    (array([0. , 0.5, 1. ]), array([0., 3.]), array([nan, 0.8]), array([ nan, 0.67]))
    """

    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    edges: np.ndarray


def _top_label(probs: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.argmax(probs, axis=1)
    confidence = np.take_along_axis(probs, predicted[:, None], axis=1)[:, 0]
    return confidence, (predicted == index).astype(np.float64)


# ------------------------------------------------------------------------------ proper scores
def classification_nll(pred, y) -> float:
    """Mean negative log-likelihood (cross-entropy) :math:`-\\frac1n\\sum_i \\log p_{i,y_i}`.

    Probabilities of exactly zero are clipped to the smallest positive float, so the value stays
    finite (about 708 per such sample).

    Examples
    --------
    >>> import numpy as np
    >>> round(classification_nll(np.array([[0.5, 0.5], [0.9, 0.1]]), [0, 0]), 4)
    0.3993
    """
    probs, index = as_classification(pred, y)
    p = probs[np.arange(len(index)), index]
    return float(-np.mean(np.log(np.maximum(p, _TINY))))


def brier_score(pred, y) -> float:
    """Multi-class Brier score :math:`\\frac1n\\sum_i\\sum_c (p_{ic} - \\mathbb 1\\{y_i=c\\})^2`.

    Brier (Monthly Weather Review, 1950, Eq. 1); between 0 and 2.

    Examples
    --------
    >>> import numpy as np
    >>> brier_score(np.array([[0.5, 0.5], [1.0, 0.0]]), [0, 0])
    0.25
    """
    probs, index = as_classification(pred, y)
    rows = np.arange(len(index))
    p_true = probs[rows, index]
    return float(np.mean(np.sum(probs * probs, axis=1) - 2.0 * p_true + 1.0))


# ------------------------------------------------------------------------------ binned calibration
def reliability_curve(
    pred, y, n_bins: int = 15, *, binning: str = "equal_width"
) -> ReliabilityResult:
    """Mean confidence, accuracy and count in each confidence bin (top label).

    The data of a reliability diagram (DeGroot & Fienberg, 1983; Guo et al., ICML 2017, Sec. 2).

    Parameters
    ----------
    pred : ClassificationPrediction or ndarray of shape (n, C)
    y : array-like of shape (n,)
    n_bins : int, default 15
    binning : {"equal_width", "equal_mass"}
        Equal-width bins on [0, 1], or edges at the quantiles of the confidences.

    Returns
    -------
    ReliabilityResult

    Examples
    --------
    >>> import numpy as np
    >>> curve = reliability_curve(np.array([[0.9, 0.1], [0.8, 0.2]]), [0, 1], n_bins=2)
    >>> curve.accuracy, curve.counts
    (array([nan, 0.5]), array([0., 2.]))
    """
    probs, index = as_classification(pred, y)
    n_bins = check_n_bins(n_bins)
    confidence, correct = _top_label(probs, index)
    bins = bin_index(confidence, n_bins, binning, low=0.0, high=1.0)
    counts, conf_mean, acc_mean = bin_means(bins, n_bins, confidence, correct)
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
    return ReliabilityResult(conf_mean, acc_mean, counts, edges)


def _bin_gaps(pred, y, n_bins, binning):
    probs, index = as_classification(pred, y)
    n_bins = check_n_bins(n_bins)
    confidence, correct = _top_label(probs, index)
    bins = bin_index(confidence, n_bins, binning, low=0.0, high=1.0)
    counts, conf_sum, acc_sum = bin_sums(bins, n_bins, confidence, correct)
    return counts, conf_sum, acc_sum


def expected_calibration_error(pred, y, n_bins: int = 15, *, binning: str = "equal_width") -> float:
    """Expected calibration error, top label (Naeini et al., AAAI 2015; Guo et al., 2017, Eq. 3).

    :math:`\\mathrm{ECE} = \\sum_b \\frac{|B_b|}{n}\\,|\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)|`,
    with equal-width bins on [0, 1] or equal-mass bins (edges at confidence quantiles; Nixon et
    al., CVPR Workshops 2019). Matches ``netcal.metrics.ECE(bins, equal_intervals=...)`` for
    three or more classes (netcal switches to positive-class calibration for binary labels).

    Parameters
    ----------
    pred : ClassificationPrediction or ndarray of shape (n, C)
    y : array-like of shape (n,)
    n_bins : int, default 15
    binning : {"equal_width", "equal_mass"}

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error(probs, [0, 1, 0, 1], n_bins=10), 4)
    0.25
    """
    counts, conf_sum, acc_sum = _bin_gaps(pred, y, n_bins, binning)
    return float(np.sum(np.abs(conf_sum - acc_sum)) / counts.sum())


def maximum_calibration_error(pred, y, n_bins: int = 15, *, binning: str = "equal_width") -> float:
    """Maximum calibration error (Naeini et al., 2015; Guo et al., 2017, Eq. 5).

    :math:`\\max_b |\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)|` over non-empty bins. Matches
    ``netcal.metrics.MCE``.

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(maximum_calibration_error(probs, [0, 1, 0, 1], n_bins=10), 4)
    0.4
    """
    counts, conf_sum, acc_sum = _bin_gaps(pred, y, n_bins, binning)
    keep = counts > 0
    return float(np.max(np.abs(conf_sum[keep] - acc_sum[keep]) / counts[keep]))


def classwise_ece(pred, y, n_bins: int = 15) -> float:
    """Classwise ECE (Kull et al., NeurIPS 2019, Sec. 3).

    For every class ``c`` the probabilities :math:`p_{ic}` are binned (equal width) and compared
    with the frequency of class ``c`` in the bin:
    :math:`\\frac1C\\sum_c\\sum_b \\frac{|B_{bc}|}{n}\\,|\\bar y_c(B_{bc}) - \\bar p_c(B_{bc})|`.
    Equals the mean over classes of netcal's binary ECE of ``(p_c, 1{y = c})``.

    Examples
    --------
    >>> import numpy as np
    >>> classwise_ece(np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1])
    0.0
    """
    probs, index = as_classification(pred, y)
    n_bins = check_n_bins(n_bins)
    n, n_classes = probs.shape
    bins = np.minimum((probs * n_bins).astype(np.int64), n_bins - 1)
    bins += np.arange(n_classes)[None, :] * n_bins
    flat = bins.reshape(-1)
    size = n_classes * n_bins
    prob_sum = np.bincount(flat, weights=probs.reshape(-1), minlength=size)
    hits = np.bincount(bins[np.arange(n), index], minlength=size)
    return float(np.sum(np.abs(prob_sum - hits)) / (n * n_classes))


# ------------------------------------------------------------------------------ uncertainty scores
_SCORES = ("total", "aleatoric", "epistemic", "max_prob", "std", "vacuity")


def uncertainty_score(pred, score: str | np.ndarray = "total") -> np.ndarray:
    """One uncertainty value per sample (higher = less certain).

    Parameters
    ----------
    pred : ClassificationPrediction, RegressionPrediction, ndarray of probabilities (n, C), or
        a pair ``(mean, std)``
    score : str or ndarray of shape (n,)
        ``"total"``, ``"aleatoric"``, ``"epistemic"`` (entropy terms for classifiers, variances for
        regressors; multi-output variances are summed over outputs), ``"max_prob"`` (one minus
        the top probability), ``"std"`` (regression: total std), ``"vacuity"`` (Dirichlet
        predictions), or the scores themselves.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> uncertainty_score(np.array([[0.5, 0.5], [1.0, 0.0]]), "max_prob")
    array([0.5, 0. ])
    """
    if not isinstance(score, str):
        values = as_array(score, "score").reshape(-1)
        check_finite(values, "score")
        return values
    if score not in _SCORES:
        raise InvalidInputError(f"score must be one of {_SCORES} or an array; got {score!r}.")
    if isinstance(pred, (RegressionPrediction, tuple, list)):
        reg = as_regression_prediction(pred)
        if score not in ("total", "aleatoric", "epistemic", "std"):
            raise InvalidInputError(f"score {score!r} is not defined for a regression prediction.")
        values = np.sqrt(reg.total) if score == "std" else np.asarray(getattr(reg, score))
        return values if values.ndim == 1 else values.sum(axis=1)
    probs = as_probabilities(pred)
    if score == "max_prob":
        return 1.0 - probs.max(axis=1)
    if isinstance(pred, ClassificationPrediction):
        if score == "vacuity":
            if pred.vacuity is None:
                raise InvalidInputError("score 'vacuity' needs a Dirichlet prediction (alpha).")
            return pred.vacuity
        if score == "std":
            raise InvalidInputError("score 'std' is only defined for regression predictions.")
        return np.asarray(getattr(pred, score))
    if score == "total":
        return -np.sum(special.xlogy(probs, probs), axis=1)
    raise InvalidInputError(
        f"score {score!r} needs a ClassificationPrediction; a probability array only has "
        "'total' (entropy) and 'max_prob'."
    )


def _auroc_aupr(score: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if positive.all() or not positive.any():
        return {"auroc": float("nan"), "aupr": float("nan")}
    return {
        "auroc": float(roc_auc_score(positive, score)),
        "aupr": float(average_precision_score(positive, score)),
    }


def misclassification_detection(pred, y, *, score: str | np.ndarray = "total") -> dict[str, float]:
    """How well an uncertainty score separates misclassified from correct predictions.

    AUROC and AUPR (misclassified = positive) of the score (Hendrycks & Gimpel, ICLR 2017,
    Sec. 3). AUROC 0.5 is chance, 1 a perfect ranking. NaN when every prediction is right (or
    every one wrong).

    Returns
    -------
    dict with keys ``"auroc"`` and ``"aupr"``

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.95, 0.05]])
    >>> misclassification_detection(probs, [0, 1, 0])["auroc"]
    1.0
    """
    probs, index = as_classification(pred, y)
    values = uncertainty_score(pred if isinstance(pred, ClassificationPrediction) else probs, score)
    if len(values) != len(index):
        raise InvalidInputError(f"score has {len(values)} values for {len(index)} samples.")
    wrong = np.argmax(probs, axis=1) != index
    return _auroc_aupr(values, wrong)


def ood_detection(pred_id, pred_ood, *, score: str = "epistemic") -> dict[str, float]:
    """How well an uncertainty score separates out-of-distribution from in-distribution inputs.

    AUROC and AUPR with OOD inputs as positives (Hendrycks & Gimpel, 2017, Sec. 4). Works for
    classification and regression predictions; epistemic uncertainty is the usual score.

    Parameters
    ----------
    pred_id, pred_ood : predictions of the same kind, or arrays of scores
    score : str, default "epistemic"
        See :func:`uncertainty_score`; ignored for arrays of scores.

    Returns
    -------
    dict with keys ``"auroc"`` and ``"aupr"``

    Examples
    --------
    >>> import numpy as np
    >>> ood_detection(np.array([0.1, 0.2]), np.array([0.5, 0.9]))
    {'auroc': 1.0, 'aupr': 1.0}
    """

    def scores(pred):
        if isinstance(pred, np.ndarray) and pred.ndim == 1:
            return uncertainty_score(None, pred)
        return uncertainty_score(pred, score)

    inside, outside = scores(pred_id), scores(pred_ood)
    values = np.concatenate([inside, outside])
    positive = np.concatenate([np.zeros(len(inside), bool), np.ones(len(outside), bool)])
    return _auroc_aupr(values, positive)


def risk_coverage_curve(pred, y, *, score: str | np.ndarray = "max_prob"):
    """Selective risk against coverage when the most certain predictions are kept first.

    Samples are sorted by increasing uncertainty; at coverage ``k/n`` the risk is the error rate
    of the ``k`` kept samples (Geifman & El-Yaniv, NeurIPS 2017, Sec. 2). Tied scores are treated
    as kept in random order: the curve holds the expected risk over that order, so the result does
    not depend on how ties happen to be sorted.

    Returns
    -------
    coverage, risk : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> risk_coverage_curve(probs, [0, 0])[1]
    array([0., 0.])
    """
    probs, index = as_classification(pred, y)
    values = uncertainty_score(pred if isinstance(pred, ClassificationPrediction) else probs, score)
    if len(values) != len(index):
        raise InvalidInputError(f"score has {len(values)} values for {len(index)} samples.")
    errors = (np.argmax(probs, axis=1) != index).astype(np.float64)
    order = np.argsort(values, kind="stable")
    sorted_scores, sorted_errors = values[order], errors[order]
    n = len(values)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_errors = np.add.reduceat(sorted_errors, starts)
    before = np.r_[0.0, np.cumsum(group_errors)[:-1]]
    group = np.repeat(np.arange(len(starts)), sizes)
    position = np.arange(n) - starts[group] + 1  # 1-based position inside the tie group
    expected_errors = before[group] + position * group_errors[group] / sizes[group]
    kept = np.arange(1, n + 1)
    return kept / n, expected_errors / kept


def aurc(pred, y, *, score: str | np.ndarray = "max_prob") -> float:
    """Area under the risk-coverage curve, AURC (Geifman, Uziel & El-Yaniv, ICLR 2019, Sec. 3).

    :math:`\\frac1n\\sum_{k=1}^n \\mathrm{risk}(k/n)`; lower is better. A perfect ranking of an
    error rate ``r`` gives about :math:`r + (1-r)\\log(1-r)`.

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> aurc(probs, [0, 1])  # the error is ranked last: risks 0 and 1/2
    0.25
    """
    _, risk = risk_coverage_curve(pred, y, score=score)
    return float(np.mean(risk))


# ------------------------------------------------------------------------------ all at once
def classification_metrics(pred, y, *, n_bins: int = 15) -> dict[str, float]:
    """Every classification metric above in one flat ``{name: float}`` dict.

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
