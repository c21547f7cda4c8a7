"""The finite-sample conformal quantile shared by every conformal wrapper, weighted or not.

For ``n`` held-out scores and a miscoverage ``alpha`` the threshold is the
:math:`\\lceil (n+1)(1-\\alpha) \\rceil`-th smallest score, infinite when that rank exceeds
``n`` (Vovk et al., 2005; Lei et al., JASA 2018, Thm. 2.2). With frequency weights
:math:`w_i` (a row of weight 2 counts as two rows; the new test point counts once) it is the
smallest score :math:`s` with :math:`\\sum_{s_i \\le s} w_i \\ge (1-\\alpha)(\\sum_i w_i + 1)`,
the weighted quantile of Tibshirani et al. (NeurIPS 2019, Eq. 7) with test weight 1; weights of
ones give exactly the unweighted rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from uqkit._data import to_numpy
from uqkit.exceptions import InvalidInputError
from uqkit.prediction import check_miscoverage

# ``(99 + 1) * 0.9`` is ``90.00000000000001`` in floating point: without a tolerance an exact
# integer rank would be pushed up by one.
_TOLERANCE = 1e-9


def conformal_rank(n: int, alpha: float) -> int:
    """The rank :math:`\\lceil (n+1)(1-\\alpha)\\rceil` of the threshold among ``n`` sorted scores.

    Examples
    --------
    >>> conformal_rank(99, 0.1), conformal_rank(9, 0.05)
    (90, 10)
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must lie in (0, 1); got {alpha}.")
    return math.ceil((n + 1) * (1.0 - alpha) - _TOLERANCE)


def check_sample_weight(sample_weight, n: int, owner: str) -> np.ndarray:
    """Frequency weights of the held-out rows: finite, non-negative, not all zero (ones if None)."""
    if sample_weight is None:
        return np.ones(n)
    weights = np.asarray(to_numpy(sample_weight), dtype=np.float64).reshape(-1)
    if weights.shape != (n,):
        raise InvalidInputError(
            f"{owner}: sample_weight has {weights.size} values for {n} calibration rows; pass "
            "one weight per row."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise InvalidInputError(
            f"{owner}: sample_weight must be finite and non-negative with a positive sum; fix "
            "or drop the offending weights."
        )
    return weights


def sort_scores(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores sorted increasingly with their weights carried along."""
    order = np.argsort(scores, kind="stable")
    return scores[order], weights[order]


def conformal_threshold(sorted_scores: np.ndarray, sorted_weights: np.ndarray,
                        alpha: float) -> float:
    """The weighted finite-sample quantile of the scores for miscoverage ``alpha``.

    ``inf`` when even all the calibration weight cannot reach ``(1-alpha)(W+1)``.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.arange(1.0, 10.0)
    >>> conformal_threshold(s, np.ones(9), 0.2), conformal_threshold(s, np.ones(9), 0.05)
    (8.0, inf)
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must lie in (0, 1); got {alpha}.")
    cumulative = np.cumsum(sorted_weights)
    target = (1.0 - alpha) * (cumulative[-1] + 1.0) - _TOLERANCE
    k = int(np.searchsorted(cumulative, target, side="left"))
    return float("inf") if k >= len(sorted_scores) else float(sorted_scores[k])


def miscoverages(alpha, coverage) -> tuple[np.ndarray, bool]:
    """The miscoverage levels asked for, and whether a single level (not a sequence) was given.

    ``alpha`` (or ``coverage``) may be a float or a sequence; each level is checked as
    :func:`uqkit.prediction.check_miscoverage` does.
    """
    given = alpha if coverage is None else coverage
    single = np.ndim(given) == 0
    if single:
        return np.array([check_miscoverage(alpha, coverage)]), True
    if isinstance(given, str) or not isinstance(given, Sequence | np.ndarray) or len(given) == 0:
        raise InvalidInputError(
            f"alpha must be a float or a non-empty sequence of floats; got {given!r}."
        )
    if coverage is None:
        levels = [check_miscoverage(a) for a in given]
    else:
        levels = [check_miscoverage(coverage=c) for c in given]
    return np.asarray(levels, dtype=np.float64), False


def stack_levels(bounds: list[np.ndarray], single: bool) -> np.ndarray:
    """(n,) for one level, (n, k) for ``k`` levels."""
    return bounds[0] if single else np.stack(bounds, axis=-1)


def single_output(values, name: str) -> np.ndarray:
    """``values`` (a model's predictions) as a 1-D float array; an ``(n, 1)`` column is
    accepted, several outputs are refused (every conformal wrapper is single-output)."""
    values = np.asarray(to_numpy(values), dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InvalidInputError(
            f"{name} supports single-output regressors; the model predicts shape "
            f"{values.shape}. Fit one wrapper per output."
        )
    return values
