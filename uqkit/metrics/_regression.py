"""Calibration and scoring metrics for regression predictions.

Every function takes a :class:`~uqkit.prediction.RegressionPrediction` (any predictive family:
Gaussian, Student-t, Gaussian mixture, generalized Gaussian) or a pair ``(mean, std)`` read as a
Gaussian, plus the observed targets. Coverage-type metrics are computed from the probability
integral transform (PIT) :math:`u_i = F_i(y_i)`: the central ``level`` interval
:math:`[F_i^{-1}(\\tfrac{1-\\text{level}}{2}), F_i^{-1}(\\tfrac{1+\\text{level}}{2})]` holds
:math:`y_i` exactly when :math:`|2u_i - 1| \\le \\text{level}`, so one CDF evaluation gives the
coverage at every level. For Gaussian predictions the same test is done on the standardised error
:math:`|y-\\mu|/\\sigma \\le \\Phi^{-1}(\\tfrac{1+\\text{level}}{2})`, which is what netcal does.

Multi-output predictions of shape (n, d) are pooled over outputs, except for the binned metrics
(ENCE, UCE, binned QCE), which bin each output on its own and average over outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special, stats

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._binning import bin_index, bin_means
from uqkit.metrics._validation import (
    as_regression,
    as_regression_prediction,
    check_levels,
    check_n_bins,
    gaussian_or_none,
)
from uqkit.prediction import RegressionPrediction

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_QUANTILES",
    "CoverageResult",
    "binned_error_vs_std",
    "calibration_curve",
    "coverage",
    "crps",
    "ence",
    "error_std_correlation",
    "miscalibration_area",
    "pinball_loss",
    "pit",
    "predictive_quantiles",
    "quantile_calibration_error",
    "regression_metrics",
    "regression_nll",
    "sharpness",
    "uce",
]

#: Interval levels reported by default.
DEFAULT_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Quantile levels 0.05, 0.10, ..., 0.95 used by the pinball loss and the QCE by default.
DEFAULT_QUANTILES = tuple(np.round(np.arange(1, 20) / 20, 2).tolist())
_LOG_2PI = float(np.log(2.0 * np.pi))
_BISECTIONS = 80


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


# ------------------------------------------------------------------------------ helpers
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


def predictive_quantiles(pred: RegressionPrediction, levels: np.ndarray) -> np.ndarray:
    """Predictive quantiles at several levels at once: shape ``(len(levels), *pred.mean.shape)``.

    Gaussian and Gaussian-mixture predictions are vectorized over levels (the mixture by the same
    bisection on the mixture CDF as :meth:`RegressionPrediction.quantile`, evaluated with
    ``scipy.special.ndtr``); isotonic recalibrations map the levels and use their base; other
    families call :meth:`RegressionPrediction.quantile` per level.
    """
    from uqkit.calibration._isotonic import IsotonicRegressionPrediction

    levels = np.asarray(levels, dtype=np.float64).reshape(-1)
    if isinstance(pred, IsotonicRegressionPrediction):  # F^{-1}(R^{-1}(q))
        return predictive_quantiles(pred.base, np.interp(levels, pred.level_knots, pred.pit_knots))
    extra = (1,) * np.ndim(pred.mean)
    if type(pred) is RegressionPrediction and pred.distribution == "normal":
        z = special.ndtri(levels).reshape((-1, *extra))
        return pred.mean + np.sqrt(pred.total) * z
    if type(pred) is not RegressionPrediction or pred.distribution != "mixture":
        return np.stack([pred.quantile(float(q)) for q in levels])
    mu = np.asarray(pred.member_means)
    sd = np.sqrt(pred.member_vars)
    weights = np.asarray(pred.weights)
    z = special.ndtri(1e-12)
    lowest, highest = np.min(mu + z * sd, axis=0), np.max(mu - z * sd, axis=0)
    chunk = max(1, 2_000_000 // max(1, int(np.size(pred.mean))))
    out = []
    for start in range(0, len(levels), chunk):
        q = levels[start : start + chunk].reshape((-1, *extra))
        lower = np.broadcast_to(lowest, q.shape[:1] + lowest.shape).copy()
        upper = np.broadcast_to(highest, lower.shape).copy()
        for _ in range(_BISECTIONS):
            middle = 0.5 * (lower + upper)
            cdf = np.zeros_like(middle)
            for w, m, s in zip(weights, mu, sd):
                cdf += w * special.ndtr((middle - m) / s)
            below = cdf < q
            lower = np.where(below, middle, lower)
            upper = np.where(below, upper, middle)
            if np.all(upper - lower <= 1e-15 * (1.0 + np.abs(lower))):
                break  # converged to float resolution everywhere
        out.append(0.5 * (lower + upper))
    return np.concatenate(out)


def _columns(values: np.ndarray) -> list[np.ndarray]:
    return [values] if values.ndim == 1 else [values[:, j] for j in range(values.shape[1])]


# ------------------------------------------------------------------------------ scores
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
    gaussian = gaussian_or_none(pred)
    if gaussian is not None:
        return special.ndtr((y - gaussian[0]) / gaussian[1])
    return pred.cdf(y)


def regression_nll(pred, y) -> float:
    """Mean negative log predictive density :math:`-\\frac1n\\sum_i \\log p_i(y_i)`.

    Exact for every predictive family (the Gaussian mixture of an ensemble included, via
    log-sum-exp). Gaussian predictions use the closed form
    :math:`\\tfrac12\\log(2\\pi\\sigma^2) + \\tfrac{(y-\\mu)^2}{2\\sigma^2}`.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(regression_nll((np.zeros(1), np.ones(1)), [0.0]), 6)
    0.918939
    """
    pred, y = as_regression(pred, y)
    gaussian = gaussian_or_none(pred)
    if gaussian is None:
        return float(pred.nll(y))
    mean, std = gaussian
    z = (y - mean) / std
    return float(0.5 * _LOG_2PI + np.mean(np.log(std)) + 0.5 * np.mean(z * z))


def crps(pred, y) -> float:
    """Mean continuous ranked probability score (Gneiting & Raftery, JASA 2007, Eq. 20).

    :math:`\\mathrm{CRPS}(F, y) = \\int (F(x) - \\mathbb 1\\{x \\ge y\\})^2 dx
    = \\mathbb E|X - y| - \\tfrac12 \\mathbb E|X - X'|`, in the units of ``y``; closed forms for
    the Gaussian, the Gaussian mixture and the Student-t (see
    :meth:`RegressionPrediction.crps`).

    Examples
    --------
    >>> import numpy as np
    >>> round(crps((np.zeros(1), np.ones(1)), [0.0]), 6)  # (sqrt(2) - 1) / sqrt(pi)
    0.233695
    """
    pred, y = as_regression(pred, y)
    return float(pred.crps(y))


def pinball_loss(pred, y, quantiles=DEFAULT_QUANTILES) -> float:
    """Mean pinball (quantile) loss of the predictive quantiles (Koenker & Bassett, 1978).

    :math:`\\rho_\\tau(y - q_\\tau) = \\max(\\tau (y - q_\\tau), (\\tau - 1)(y - q_\\tau))`,
    averaged over samples and over the levels ``quantiles``. Averaged over a fine, uniform grid of
    levels it approaches CRPS / 2.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    quantiles : sequence of float in (0, 1), default 0.05, 0.10, ..., 0.95

    Returns
    -------
    float

    Notes
    -----
    netcal's ``QuantileLoss`` scores the nearest bound of the *central* interval of mass ``q``
    rather than the ``q``-quantile itself, so it is a different number.

    Examples
    --------
    >>> import numpy as np
    >>> pinball_loss((np.zeros(1), np.ones(1)), [1.0], quantiles=[0.5])
    0.5
    """
    pred, y = as_regression(pred, y)
    levels = check_levels(quantiles, "quantiles")
    total = 0.0
    chunk = max(1, 4_000_000 // y.size)
    for start in range(0, len(levels), chunk):
        tau = levels[start : start + chunk]
        diff = y - predictive_quantiles(pred, tau)
        tau = tau.reshape((-1,) + (1,) * y.ndim)
        loss = np.maximum(tau * diff, (tau - 1.0) * diff).reshape(len(tau), -1)
        total += float(np.sum(loss.mean(axis=1)))
    return total / len(levels)


# ------------------------------------------------------------------------------ coverage
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
    upper = predictive_quantiles(pred, 0.5 + 0.5 * levels)
    lower = predictive_quantiles(pred, 0.5 - 0.5 * levels)
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
    for s, sd in zip(_columns(statistic), _columns(std)):
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


def miscalibration_area(pred, y) -> float:
    """Miscalibration area (Tran et al., Mach. Learn.: Sci. Technol. 2020, Sec. 2.3).

    The area between the calibration curve (observed proportion of :math:`F_i(y_i) \\le p`
    against ``p``) and the diagonal, computed exactly rather than on a grid:
    :math:`\\int_0^1 |\\hat G(p) - p|\\,dp` with :math:`\\hat G` the empirical CDF of the PIT
    values, i.e. the Wasserstein-1 distance between the PIT values and U(0, 1). 0 for perfect
    calibration, at most 0.5.

    Examples
    --------
    >>> import numpy as np
    >>> round(miscalibration_area((np.zeros(1), np.ones(1)), [0.0]), 3)  # one PIT value at 0.5
    0.25
    """
    u = np.sort(pit(pred, y).reshape(-1))
    n = u.size
    edges = np.concatenate(([0.0], u, [1.0]))
    level = np.arange(n + 1) / n  # the empirical CDF on [edges[i], edges[i+1])

    def antiderivative(x):  # of |p - level|
        d = x - level
        return 0.5 * d * np.abs(d)

    return float(np.sum(antiderivative(edges[1:]) - antiderivative(edges[:-1])))


# ------------------------------------------------------------------------------ variance binning
def _binned_mse_mv(pred, y, n_bins, binning, on: str):
    pred, y = as_regression(pred, y)
    n_bins = check_n_bins(n_bins)
    var = np.asarray(pred.total, dtype=np.float64)
    sq_error = (y - pred.mean) ** 2
    for v, e in zip(_columns(var), _columns(sq_error)):
        key = np.sqrt(v) if on == "std" else v
        bins = bin_index(key, n_bins, binning)
        yield bin_means(bins, n_bins, v, e)


def ence(pred, y, n_bins: int = 10, *, binning: str = "equal_width") -> float:
    """Expected normalized calibration error (Levi et al., Sensors 2022; arXiv:1905.11659, Sec. 3).

    Samples are binned by predicted std; in each non-empty bin the root mean variance
    :math:`\\mathrm{RMV}_b` is compared with the root mean squared error :math:`\\mathrm{RMSE}_b`:
    :math:`\\mathrm{ENCE} = \\frac1B\\sum_b |\\mathrm{RMV}_b - \\mathrm{RMSE}_b| / \\mathrm{RMV}_b`.
    Matches ``netcal.metrics.ENCE`` (equal-width bins over the observed std range).

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    n_bins : int, default 10
    binning : {"equal_width", "equal_mass"}

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> ence((np.zeros(2), np.ones(2)), [1.0, -1.0], n_bins=2)
    0.0
    """
    values = []
    for counts, mv, mse in _binned_mse_mv(pred, y, n_bins, binning, "std"):
        keep = counts > 0
        rmv, rmse = np.sqrt(mv[keep]), np.sqrt(mse[keep])
        values.append(np.mean(np.abs(rmv - rmse) / rmv))
    return float(np.mean(values))


def uce(pred, y, n_bins: int = 10, *, binning: str = "equal_width") -> float:
    """Uncertainty calibration error (Laves et al., MIDL 2020, Sec. 2.2).

    Samples are binned by predicted variance and
    :math:`\\mathrm{UCE} = \\sum_b \\frac{|B_b|}{n}|\\mathrm{MSE}_b - \\mathrm{MV}_b|`, in squared
    units of ``y``. Matches ``netcal.metrics.UCE``.

    Examples
    --------
    >>> import numpy as np
    >>> uce((np.zeros(2), np.ones(2)), [2.0, -2.0], n_bins=1)
    3.0
    """
    values = []
    for counts, mv, mse in _binned_mse_mv(pred, y, n_bins, binning, "var"):
        keep = counts > 0
        values.append(np.sum(counts[keep] / counts.sum() * np.abs(mse[keep] - mv[keep])))
    return float(np.mean(values))


def binned_error_vs_std(pred, y, n_bins: int = 10, *, binning: str = "equal_mass"):
    """Per-bin RMV and RMSE over bins of predicted std (the data of an ENCE plot).

    Returns
    -------
    rmv, rmse, counts : ndarray of shape (n_bins,)
        NaN for empty bins. Pooled over outputs.

    Examples
    --------
    >>> import numpy as np
    >>> std = np.array([1.0, 1.0, 3.0, 3.0])
    >>> rmv, rmse, counts = binned_error_vs_std((np.zeros(4), std), [1.0, -1.0, 6.0, 0.0], 2)
    >>> rmv, rmse, counts
    (array([1., 3.]), array([1.        , 4.24264069]), array([2., 2.]))
    """
    pred, y = as_regression(pred, y)
    n_bins = check_n_bins(n_bins)
    var = np.asarray(pred.total).reshape(-1)
    sq_error = ((y - pred.mean) ** 2).reshape(-1)
    bins = bin_index(np.sqrt(var), n_bins, binning)
    counts, mv, mse = bin_means(bins, n_bins, var, sq_error)
    return np.sqrt(mv), np.sqrt(mse), counts


# ------------------------------------------------------------------------------ sharpness
def sharpness(pred) -> float:
    """Sharpness :math:`\\sqrt{\\frac1n\\sum_i \\sigma_i^2}` (Tran et al., 2020, Sec. 2.3).

    The root mean predicted variance, in the units of ``y``; lower is sharper. Only informative
    next to a calibration metric (Gneiting et al., JRSS-B 2007: "maximize sharpness subject to
    calibration").

    Examples
    --------
    >>> import numpy as np
    >>> sharpness((np.zeros(2), np.array([1.0, 7.0])))
    5.0
    """
    pred = as_regression_prediction(pred)
    return float(np.sqrt(np.mean(pred.total)))


def error_std_correlation(pred, y, *, method: str = "spearman") -> float:
    """Correlation between the absolute error :math:`|y_i - \\mu_i|` and the predicted std.

    A rank correlation (``"spearman"``) near 0 means the uncertainty does not tell large errors
    from small ones, whatever its average calibration; ``"pearson"`` is also available.

    Examples
    --------
    >>> import numpy as np
    >>> error_std_correlation((np.zeros(3), np.array([1.0, 2.0, 3.0])), [0.1, -0.5, 2.0])
    1.0
    """
    pred, y = as_regression(pred, y)
    error = np.abs(y - pred.mean).reshape(-1)
    std = np.sqrt(pred.total).reshape(-1)
    if method == "spearman":
        error, std = stats.rankdata(error), stats.rankdata(std)
    elif method != "pearson":
        raise InvalidInputError(f"method must be 'spearman' or 'pearson'; got {method!r}.")
    if error.size < 2 or np.ptp(error) == 0 or np.ptp(std) == 0:
        return float("nan")
    return float(np.corrcoef(error, std)[0, 1])


# ------------------------------------------------------------------------------ all at once
def regression_metrics(pred, y, *, levels=DEFAULT_LEVELS, n_bins: int = 10) -> dict[str, float]:
    """Every regression metric above in one flat ``{name: float}`` dict.

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
        tag = _level_tag(level)
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


def _level_tag(level: float) -> str:
    percent = 100.0 * float(level)
    return f"{percent:.0f}" if abs(percent - round(percent)) < 1e-9 else f"{percent:g}"
