"""Calibration of classifiers: reliability curves, ECE, MCE, classwise ECE and ACE.

Every function takes a :class:`~uqkit.prediction.ClassificationPrediction` or a probability matrix
of shape (n, C), plus the true labels. Binary problems are passed with both columns
``[1 - p, p]``; the top-label metrics then use ``max(p, 1 - p)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._binning import bin_index, bin_means, bin_sums
from uqkit.metrics._validation import as_classification, check_n_bins

__all__ = [
    "ReliabilityResult",
    "adaptive_calibration_error",
    "classwise_ece",
    "expected_calibration_error",
    "maximum_calibration_error",
    "reliability_curve",
]


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


ACE_VARIANTS = ("classwise", "top_label")


def adaptive_calibration_error(
    pred, y, n_bins: int = 15, *, variant: str = "classwise"
) -> float:
    """Adaptive calibration error, ACE (Nixon et al., CVPR Workshops 2019, Sec. 4).

    Bins hold equal numbers of predictions (edges at the empirical quantiles, the outer ones at
    0 and 1) and every non-empty bin counts equally:

    - ``variant="classwise"`` (Nixon et al.'s ACE): for every class ``c`` the probabilities
      :math:`p_{ic}` are binned into ``R = n_bins`` ranges and compared with the frequency of
      class ``c`` there, :math:`\\frac{1}{CR}\\sum_c\\sum_r |\\mathrm{acc}(r, c) -
      \\mathrm{conf}(r, c)|`. Equals the mean over classes of
      ``netcal.metrics.ACE(bins, equal_intervals=False)`` of ``(p_c, 1{y = c})``.
    - ``variant="top_label"``: the same on the top-label confidence alone; equals
      ``netcal.metrics.ACE(bins, equal_intervals=False)`` of the probability matrix for three
      or more classes (netcal switches to the positive class for binary labels).

    Where :func:`expected_calibration_error` with ``binning="equal_mass"`` weights each bin by
    its count, ACE weights bins equally (the same up to ties and rounding of the bin sizes).

    Parameters
    ----------
    pred : ClassificationPrediction or ndarray of shape (n, C)
    y : array-like of shape (n,)
    n_bins : int, default 15
    variant : {"classwise", "top_label"}, default "classwise"

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(adaptive_calibration_error(probs, [0, 1, 0, 1], n_bins=2, variant="top_label"), 4)
    0.25
    """
    if variant not in ACE_VARIANTS:
        raise InvalidInputError(f"variant must be one of {ACE_VARIANTS}; got {variant!r}.")
    probs, index = as_classification(pred, y)
    n_bins = check_n_bins(n_bins)
    if variant == "top_label":
        pairs = [_top_label(probs, index)]
    else:
        pairs = [(probs[:, c], (index == c).astype(np.float64)) for c in range(probs.shape[1])]
    errors = []
    for confidence, hit in pairs:
        bins = bin_index(confidence, n_bins, "equal_mass", low=0.0, high=1.0)
        counts, conf_mean, acc_mean = bin_means(bins, n_bins, confidence, hit)
        keep = counts > 0
        errors.append(np.mean(np.abs(conf_mean[keep] - acc_mean[keep])))
    return float(np.mean(errors))
