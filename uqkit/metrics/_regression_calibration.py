"""Calibration of regression predictions: PIT, interval coverage, calibration curves, QCE.

Every function takes a :class:`~uqkit.prediction.RegressionPrediction` (any predictive family:
Gaussian, Student-t, Gaussian mixture, generalized Gaussian, recalibrated) or a pair
``(mean, std)`` read as a Gaussian, plus the observed targets. Coverage-type metrics are computed
from the probability integral transform (PIT) :math:`u_i = F_i(y_i)`: the central ``level``
interval :math:`[F_i^{-1}(\\tfrac{1-\\text{level}}{2}), F_i^{-1}(\\tfrac{1+\\text{level}}{2})]`
holds :math:`y_i` exactly when :math:`|2u_i - 1| \\le \\text{level}`, so one CDF evaluation gives
the coverage at every level. For Gaussian predictions the same test is done on the standardised
error :math:`|y-\\mu|/\\sigma \\le \\Phi^{-1}(\\tfrac{1+\\text{level}}{2})`, which is what netcal
does.

Multi-output predictions of shape (n, d) are pooled over outputs, except for the binned QCE, which
bins each output on its own and averages over outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._binning import bin_index, columns
from uqkit.metrics._levels import DEFAULT_LEVELS, DEFAULT_QUANTILES, check_levels
from uqkit.metrics._validation import as_regression, check_n_bins, gaussian_or_none
from uqkit.prediction import RegressionPrediction

__all__ = [
    "CoverageResult",
    "calibration_curve",
    "coverage",
    "miscalibration_area",
    "pit",
    "quantile_calibration_error",
]


class CoverageResult(NamedTuple):
    """Observed coverage (PICP) and mean width (MPIW) of central intervals at several levels.

    Returned by :func:`coverage`; each field has shape ``(len(levels),)``.

    Examples
    --------
    >>> import numpy as np
    >>> result = coverage((np.zeros(4), np.ones(4)), [0.1, -0.5, 1.0, 3.0], levels=[0.5, 0.9])
    >>> result.levels, result.coverage, result.width.round(3)
    (array([0.5, 0.9]), array([0.5 , 0.75]), array([1.349, 3.29 ]))
    """

    levels: np.ndarray
    coverage: np.ndarray
    width: np.ndarray


def _central_statistic(pred: RegressionPrediction, y: np.ndarray):
    """A statistic ``s`` and a map ``level -> t``: ``y`` is in the interval iff ``s <= t``."""
    gaussian = gaussian_or_none(pred)
    if gaussian is not None:
        mean, std = gaussian
        return np.abs(y - mean) / std, lambda levels: special.ndtri(0.5 + 0.5 * levels)
    return np.abs(2.0 * pred.cdf(y) - 1.0), lambda levels: levels


def _lower_statistic(pred: RegressionPrediction, y: np.ndarray):
    """``s`` and ``p -> t`` with ``F(y) <= p`` iff ``s <= t`` (one-sided quantile coverage)."""
    gaussian = gaussian_or_none(pred)
    if gaussian is not None:
        mean, std = gaussian
        return (y - mean) / std, special.ndtri
    return pred.cdf(y), lambda levels: levels


def _fraction_below(statistic: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``mean(statistic <= t)`` for every threshold ``t`` (in any order), in one pass."""
    order = np.argsort(thresholds, kind="stable")
    sorted_t = thresholds[order]
    position = np.searchsorted(sorted_t, statistic.reshape(-1), side="left")
    counts = np.bincount(position, minlength=len(sorted_t) + 1)
    fraction = np.cumsum(counts)[: len(sorted_t)] / statistic.size
    out = np.empty_like(fraction)
    out[order] = fraction
    return out


def pit(pred, y) -> np.ndarray:
    """Probability integral transform :math:`u_i = F_i(y_i)` (Dawid, 1984).

    Uniform on (0, 1) for a calibrated predictive distribution.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)

    Returns
    -------
    ndarray, shaped like ``pred.mean``

    Examples
    --------
    >>> import numpy as np
    >>> pit((np.zeros(2), np.ones(2)), [0.0, 1.0]).round(4)
    array([0.5   , 0.8413])
    """
    pred, y = as_regression(pred, y)
    return pred.cdf(y)


def coverage(pred, y, levels=DEFAULT_LEVELS) -> CoverageResult:
    """Prediction interval coverage probability (PICP) and mean width (MPIW) of central intervals.

    For each nominal ``level`` the central interval
    :math:`[F_i^{-1}(\\tfrac{1-\\text{level}}2), F_i^{-1}(\\tfrac{1+\\text{level}}2)]` is formed;
    PICP is the fraction of targets inside it and MPIW its mean width (Khosravi et al., IEEE TNN
    2011, Eqs. 1 and 3). A calibrated model has PICP ≈ level.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    levels : float or sequence of float in (0, 1), default (0.5, 0.8, 0.9, 0.95)

    Returns
    -------
    CoverageResult
        ``levels``, ``coverage`` and ``width``, arrays of shape (len(levels),).

    Examples
    --------
    >>> import numpy as np
    >>> result = coverage((np.zeros(4), np.ones(4)), [0.1, -0.5, 1.0, 3.0], levels=[0.9])
    >>> result.coverage, result.width.round(3)
    (array([0.75]), array([3.29]))
    """
    pred, y = as_regression(pred, y)
    levels = check_levels(levels)
    statistic, threshold = _central_statistic(pred, y)
    observed = _fraction_below(statistic, threshold(levels))
    return CoverageResult(levels, observed, _mean_widths(pred, levels))


def _mean_widths(pred: RegressionPrediction, levels: np.ndarray) -> np.ndarray:
    gaussian = gaussian_or_none(pred)
    if gaussian is not None:
        return 2.0 * special.ndtri(0.5 + 0.5 * levels) * float(np.mean(gaussian[1]))
    upper = pred.quantile(0.5 + 0.5 * levels)
    lower = pred.quantile(0.5 - 0.5 * levels)
    return np.mean((upper - lower).reshape(len(levels), -1), axis=1)


def calibration_curve(pred, y, levels=None, *, kind: str = "quantile"):
    """Observed against expected proportions over nominal levels (Kuleshov et al., ICML 2018).

    ``kind="quantile"``: the observed proportion at level ``p`` is :math:`\\frac1n\\sum_i
    \\mathbb 1\\{F_i(y_i) \\le p\\}` (Kuleshov et al., Sec. 3, the quantity their Eq. 9 compares
    with ``p``); ``kind="interval"``: the fraction inside the central ``p`` interval (PICP). A
    calibrated model lies on the diagonal; below it (``kind="interval"``) it is over-confident.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    levels : sequence of float in (0, 1), optional
        Default: 99 levels 0.01, ..., 0.99.
    kind : {"quantile", "interval"}

    Returns
    -------
    expected, observed : ndarray of shape (len(levels),)

    Examples
    --------
    >>> import numpy as np
    >>> expected, observed = calibration_curve((np.zeros(2), np.ones(2)), [-1.0, 1.0], [0.5])
    >>> observed
    array([0.5])
    """
    pred, y = as_regression(pred, y)
    levels = check_levels(np.linspace(0.01, 0.99, 99) if levels is None else levels)
    if kind == "quantile":
        statistic, threshold = _lower_statistic(pred, y)
    elif kind == "interval":
        statistic, threshold = _central_statistic(pred, y)
    else:
        raise InvalidInputError(f"kind must be 'quantile' or 'interval'; got {kind!r}.")
    return levels, _fraction_below(statistic, threshold(levels))


def quantile_calibration_error(pred, y, levels=DEFAULT_QUANTILES, *, n_bins: int | None = None):
    """Quantile calibration error, QCE (Küppers et al., CVPR Workshops 2022, Sec. 3.2).

    Marginal form (``n_bins=None``): :math:`\\frac1{|Q|}\\sum_{q\\in Q} |\\mathrm{PICP}(q) - q|`,
    the mean gap between observed and nominal coverage of central intervals. Binned form: samples
    are first grouped into ``n_bins`` equal-width bins of predicted std, and the gap in each bin is
    weighted by the bin's share of samples, so that errors that cancel across the std range are
    caught. Matches ``netcal.metrics.QCE(marginal=True/False)``.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    levels : sequence of float in (0, 1), default 0.05, ..., 0.95
    n_bins : int, optional

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(quantile_calibration_error((np.zeros(2), np.ones(2)), [0.0, 5.0], [0.5]), 3)
    0.0
    """
    pred, y = as_regression(pred, y)
    levels = check_levels(levels)
    statistic, threshold = _central_statistic(pred, y)
    thresholds = threshold(levels)
    if n_bins is None:
        return float(np.mean(np.abs(_fraction_below(statistic, thresholds) - levels)))
    n_bins = check_n_bins(n_bins)
    order = np.argsort(thresholds, kind="stable")
    std = np.sqrt(pred.total)
    errors = []
    for s, sd in zip(columns(statistic), columns(std)):
        bins = bin_index(sd, n_bins)
        position = np.searchsorted(thresholds[order], s, side="left")
        width = len(levels) + 1
        joint = np.bincount(bins * width + position, minlength=n_bins * width)
        joint = joint.reshape(n_bins, width)
        counts = joint.sum(axis=1)
        inside = np.cumsum(joint, axis=1)[:, : len(levels)]  # (bins, sorted levels)
        frequency = inside / np.maximum(counts, 1)[:, None]
        gap = np.abs(frequency - levels[order][None, :])
        errors.append(np.mean(np.sum(gap * (counts / len(s))[:, None], axis=0)))
    return float(np.mean(errors))


MISCALIBRATION_VARIANTS = ("quantile", "interval")


def _area_to_diagonal(values: np.ndarray) -> float:
    """:math:`\\int_0^1 |\\hat G(p) - p|\\,dp` for the empirical CDF :math:`\\hat G` of values in
    [0, 1], exactly (the CDF is a step function: integrate each step in closed form)."""
    u = np.sort(values.reshape(-1))
    n = u.size
    edges = np.concatenate(([0.0], u, [1.0]))
    level = np.arange(n + 1) / n  # the empirical CDF on [edges[i], edges[i+1])

    def antiderivative(x):  # of |p - level|
        d = x - level
        return 0.5 * d * np.abs(d)

    return float(np.sum(antiderivative(edges[1:]) - antiderivative(edges[:-1])))


def miscalibration_area(pred, y, *, variant: str = "quantile") -> float:
    """Miscalibration area (Tran et al., Mach. Learn.: Sci. Technol. 2020, Sec. 2.3).

    The area between a calibration curve and the diagonal, computed exactly rather than on a
    grid. Two curves are in use, and libraries differ in their default:

    - ``variant="quantile"`` (uqkit's default, uncertainty-toolbox's ``prop_type="quantile"``):
      the observed proportion of :math:`F_i(y_i) \\le p` against ``p``, i.e.
      :math:`\\int_0^1 |\\hat G(p) - p|\\,dp` with :math:`\\hat G` the empirical CDF of the PIT
      values (the Wasserstein-1 distance between the PIT values and U(0, 1)); at most 0.5.
    - ``variant="interval"`` (uncertainty-toolbox's default, ``prop_type="interval"``): the
      observed proportion of targets inside the central interval of coverage ``p``, i.e. the
      same area for the values :math:`|2F_i(y_i) - 1|`; at most 0.5.

    When the miscalibration is symmetric (the PIT distribution is symmetric about 1/2, as for a
    centred model whose spread alone is wrong) the interval area is exactly twice the quantile
    area; a biased model has a larger quantile area than that relation says, since a central
    interval does not see on which side the targets fall.

    Parameters
    ----------
    pred : RegressionPrediction or (mean, std)
    y : array-like of shape (n,) or (n, d)
    variant : {"quantile", "interval"}, default "quantile"

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(miscalibration_area((np.zeros(1), np.ones(1)), [0.0]), 3)  # one PIT value at 0.5
    0.25
    >>> round(miscalibration_area((np.zeros(1), np.ones(1)), [0.0], variant="interval"), 3)
    0.5
    """
    if variant not in MISCALIBRATION_VARIANTS:
        raise InvalidInputError(
            f"variant must be one of {MISCALIBRATION_VARIANTS}; got {variant!r}."
        )
    u = pit(pred, y)
    return _area_to_diagonal(u if variant == "quantile" else np.abs(2.0 * u - 1.0))
