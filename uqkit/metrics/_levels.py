"""Nominal levels of intervals and quantiles: the defaults, their check, their name in a key."""

from __future__ import annotations

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._validation import as_array

__all__ = ["DEFAULT_LEVELS", "DEFAULT_QUANTILES", "check_levels", "level_tag"]

#: Interval levels reported by default.
DEFAULT_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Quantile levels 0.05, 0.10, ..., 0.95 used by the pinball loss and the QCE by default.
DEFAULT_QUANTILES = tuple(np.round(np.arange(1, 20) / 20, 2).tolist())


def check_levels(levels, name: str = "levels") -> np.ndarray:
    """Nominal levels as a 1-D float array in the open interval (0, 1)."""
    levels = np.atleast_1d(as_array(levels, name)).reshape(-1)
    if levels.size == 0 or np.any(~np.isfinite(levels)) or np.any((levels <= 0) | (levels >= 1)):
        raise InvalidInputError(f"{name} must lie in the open interval (0, 1); got {levels}.")
    return levels


def level_tag(level: float) -> str:
    """The name of a level in metric keys such as ``coverage_90``: a percentage.

    Examples
    --------
    >>> level_tag(0.9), level_tag(0.975)
    ('90', '97.5')
    """
    percent = 100.0 * float(level)
    return f"{percent:.0f}" if abs(percent - round(percent)) < 1e-9 else f"{percent:g}"
