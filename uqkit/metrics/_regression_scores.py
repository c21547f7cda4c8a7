"""Proper scoring rules for regression predictions: log score (NLL), CRPS and pinball loss."""

from __future__ import annotations

import numpy as np

from uqkit.metrics._levels import DEFAULT_QUANTILES, check_levels
from uqkit.metrics._validation import as_regression

__all__ = ["crps", "pinball_loss", "regression_nll"]


def regression_nll(pred, y) -> float:
    """Mean negative log predictive density :math:`-\\frac1n\\sum_i \\log p_i(y_i)`.

    Exact for every predictive family: the prediction's own :meth:`RegressionPrediction.nll`
    (the Gaussian mixture of an ensemble via log-sum-exp, a recalibrated prediction with the
    density of its recalibrated CDF). Gaussian predictions use the closed form
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
    return float(pred.nll(y))


def crps(pred, y) -> float:
    """Mean continuous ranked probability score (Gneiting & Raftery, JASA 2007, Eq. 20).

    :math:`\\mathrm{CRPS}(F, y) = \\int (F(x) - \\mathbb 1\\{x \\ge y\\})^2 dx
    = \\mathbb E|X - y| - \\tfrac12 \\mathbb E|X - X'|`, in the units of ``y``; closed forms for
    the Gaussian, the Gaussian mixture and the Student-t, numerical integration otherwise (see
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
        diff = y - pred.quantile(tau)
        tau = tau.reshape((-1,) + (1,) * y.ndim)
        loss = np.maximum(tau * diff, (tau - 1.0) * diff).reshape(len(tau), -1)
        total += float(np.sum(loss.mean(axis=1)))
    return total / len(levels)
