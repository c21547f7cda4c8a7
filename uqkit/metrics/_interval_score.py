"""The interval score of central prediction intervals (lower is better)."""

from __future__ import annotations

import numpy as np

from uqkit.metrics._validation import as_regression
from uqkit.prediction import check_miscoverage

__all__ = ["interval_score"]


def interval_score(pred, y, alpha: float = 0.1) -> float:
    """Mean interval score of the central ``1 - alpha`` interval (Gneiting & Raftery, JASA 2007,
    Eq. 43).

    For the interval :math:`[l, u]` and the truth :math:`y`:
    :math:`S_\\alpha = (u - l) + \\frac{2}{\\alpha}(l - y)\\mathbb{1}\\{y < l\\}
    + \\frac{2}{\\alpha}(y - u)\\mathbb{1}\\{y > u\\}`, a proper score for the
    :math:`\\alpha/2` and :math:`1-\\alpha/2` quantiles: it rewards narrow intervals and charges
    every miss by its distance. Also called the Winkler score.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
    y : array-like of shape (n,) or (n, d)
    alpha : float in (0, 0.5], default 0.1
        Miscoverage of the interval (0.1: the 90% interval).

    Returns
    -------
    float
        The mean over rows (and outputs), in the units of ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> pred = (np.zeros(2), np.ones(2))  # 90% interval [-1.645, 1.645]
    >>> round(interval_score(pred, [0.0, 2.0]), 3)  # width 3.29, plus 20 * 0.355 / 2 for the miss
    6.841
    """
    alpha = check_miscoverage(alpha)
    pred, y = as_regression(pred, y)
    lower, upper = pred.interval(alpha)
    below = np.maximum(lower - y, 0.0)
    above = np.maximum(y - upper, 0.0)
    return float(np.mean((upper - lower) + (2.0 / alpha) * (below + above)))
