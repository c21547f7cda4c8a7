"""Variance calibration of regression predictions: ENCE, UCE and their binned data.

Samples are binned by their predicted std (or variance); within each bin the predicted variance is
compared with the observed squared error. Multi-output predictions bin each output on its own and
average over outputs (:func:`binned_error_vs_std` pools them).
"""

from __future__ import annotations

import numpy as np

from uqkit.metrics._binning import bin_index, bin_means, columns
from uqkit.metrics._validation import as_regression, check_n_bins

__all__ = ["binned_error_vs_std", "ence", "uce"]


def _binned_mse_mv(pred, y, n_bins, binning, on: str):
    pred, y = as_regression(pred, y)
    n_bins = check_n_bins(n_bins)
    var = np.asarray(pred.total, dtype=np.float64)
    sq_error = (y - pred.mean) ** 2
    for v, e in zip(columns(var), columns(sq_error)):
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
