"""Sharpness of regression predictions and how well their uncertainty ranks their errors."""

from __future__ import annotations

import numpy as np
from scipy import stats

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._validation import as_regression, as_regression_prediction

__all__ = ["error_std_correlation", "sharpness"]


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
