"""Small array helpers shared by the prediction types: coercion, target checks, reductions."""

from __future__ import annotations

import functools

import numpy as np

from uqkit.exceptions import InvalidInputError

REDUCTIONS = ("mean", "sum", "none")


def scipy_stats():
    """``scipy.stats``, imported on first use: it takes a second to import, and a process that
    imports uqkit only to train (a Ray worker of a search) never evaluates a distribution."""
    from scipy import stats

    return stats


def as_float_array(values) -> np.ndarray:
    """``values`` (numpy, list or torch tensor) as a float64 numpy array.

    Raises
    ------
    InvalidInputError
        For complex numbers, ragged lists and values that are not numbers (``None``, text).
    """
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values)
        if array.dtype.kind == "c":
            raise TypeError("complex numbers have no order, so no intervals or CDF")
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"Expected an array of real numbers; got {type(values).__name__} that cannot be "
            f"read as one ({err}). Pass a numeric numpy array, list or tensor."
        ) from None


def saturating(method):
    """Run a distribution's ``method`` with float overflow, underflow and ``log(0)`` taken as
    their limits.

    Far in a tail the exact values leave the float64 range: a density underflows to 0 (its log
    to -inf), a standardised residual squared to inf, so an NLL is +inf and a CDF exactly 0 or
    1. Those are the correctly rounded answers, not errors, and numpy's RuntimeWarnings about
    them would only be noise. Invalid operations (NaN) are not silenced: the fuzz tests
    (``tests/adversarial``) check that none reaches the user.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            return method(*args, **kwargs)

    return wrapper


def align_targets(y, shape: tuple[int, ...]) -> np.ndarray:
    """``y`` as a finite float array of ``shape``; an (n, 1) column matches (n,) and back."""
    y = as_float_array(y)
    if y.shape != shape:
        if y.ndim == 1 and len(shape) == 2 and shape[1] == 1:
            y = y[:, None]
        elif y.ndim == 2 and y.shape[1] == 1 and len(shape) == 1:
            y = y[:, 0]
        else:
            raise InvalidInputError(f"y has shape {y.shape} but the prediction has shape {shape}.")
    if not np.all(np.isfinite(y)):
        raise InvalidInputError("y contains NaN or infinite values.")
    return y


def reduce_values(values: np.ndarray, reduction: str = "mean") -> np.ndarray | float:
    """Reduce elementwise scores as the ``reduction`` argument of a score asks.

    Parameters
    ----------
    values : ndarray
        Elementwise values (e.g. negative log-likelihoods).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` and ``"sum"`` give a float, ``"none"`` returns ``values`` unchanged.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> reduce_values(np.array([1.0, 2.0, 6.0])), reduce_values(np.array([1.0, 2.0]), "sum")
    (3.0, 3.0)
    """
    if reduction == "mean":
        return float(np.mean(values))
    if reduction == "sum":
        return float(np.sum(values))
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")


def check_miscoverage(alpha=0.1, coverage=None) -> float:
    """The miscoverage of a central interval, from ``alpha`` or from ``coverage``.

    ``alpha`` is the miscoverage, so it must lie in (0, 0.5]: ``interval(0.9)`` would otherwise
    silently return a 10% interval where a 90% one was meant. An interval of coverage below 50%
    (calibration curves need them) is asked for unambiguously with ``coverage`` in (0, 1).

    Parameters
    ----------
    alpha : float in (0, 0.5], default 0.1
        Miscoverage: 0.1 gives a 90% interval. Ignored when ``coverage`` is given.
    coverage : float in (0, 1), optional
        Nominal coverage of the interval; ``coverage=0.9`` is ``alpha=0.1``.

    Returns
    -------
    float
        The miscoverage ``1 - coverage`` or ``alpha``, in (0, 1).

    Examples
    --------
    >>> check_miscoverage(0.1), check_miscoverage(coverage=0.25)
    (0.1, 0.75)
    """
    if coverage is not None:
        coverage = float(coverage)
        if not 0.0 < coverage < 1.0:
            raise InvalidInputError(
                f"coverage must lie in (0, 1), e.g. coverage=0.9 for a 90% interval; "
                f"got {coverage}."
            )
        return 1.0 - coverage
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"alpha must be a float in (0, 0.5] such as 0.1 (a 90% interval); got {alpha!r}."
        ) from None
    if not 0.0 < alpha <= 0.5:
        hint = f"; did you mean alpha={1.0 - alpha:.3g}?" if 0.5 < alpha < 1.0 else "."
        raise InvalidInputError(
            f"alpha is the miscoverage: 0.1 gives a 90% interval; got alpha={alpha}{hint} "
            "alpha must lie in (0, 0.5]; for an interval of coverage below 50% pass "
            "coverage=... instead."
        )
    return alpha



def check_miscoverages(alpha=0.1, coverage=None) -> float | np.ndarray:
    """One miscoverage (a scalar level) or an array of them (a sequence of levels).

    Every level of a sequence is checked as :func:`check_miscoverage` checks one, so
    ``alpha=[0.2, 0.9]`` is refused for its 0.9 just as ``alpha=0.9`` is.

    Parameters
    ----------
    alpha : float or sequence of float in (0, 0.5], default 0.1
        Miscoverage(s). Ignored when ``coverage`` is given.
    coverage : float or sequence of float in (0, 1), optional
        Nominal coverage(s) instead of ``alpha``.

    Returns
    -------
    float or ndarray of shape (k,)
        A float for a scalar level, else the ``k`` miscoverages in the order given.

    Examples
    --------
    >>> check_miscoverages([0.2, 0.1]), check_miscoverages(coverage=0.8)
    (array([0.2, 0.1]), 0.19999999999999996)
    """
    levels = alpha if coverage is None else coverage
    if np.ndim(levels) == 0:
        return check_miscoverage(alpha, coverage)
    flat = np.asarray(levels, dtype=object).reshape(-1)
    if np.ndim(levels) != 1 or flat.size == 0:
        name = "alpha" if coverage is None else "coverage"
        raise InvalidInputError(
            f"{name} must be one level or a flat, non-empty sequence of levels such as "
            f"[0.2, 0.1]; got {levels!r}."
        )
    if coverage is None:
        return np.array([check_miscoverage(a) for a in flat], dtype=np.float64)
    return np.array([check_miscoverage(coverage=c) for c in flat], dtype=np.float64)

# Variances may come out a few ulps below zero from cancellation (a GP's k** - k*'K^-1 k*,
# a float32 head): within this fraction of the largest variance they are rounding, read as 0.
VARIANCE_RTOL = 1e-6
# Probability rows may miss one by float32 rounding of a softmax; this much per class is allowed.
PROBABILITY_TOL = 1e-6


def check_finite(values, name: str, owner: str) -> np.ndarray:
    """``values`` as a float array, or an error when it holds NaN or an infinity."""
    values = as_float_array(values)
    if not np.all(np.isfinite(values)):
        raise InvalidInputError(
            f"{owner}: {name} contains NaN or infinite values; pass finite numbers (a model "
            "that predicts non-finite values has diverged: retrain it with a smaller lr)."
        )
    return values


def check_variance(values, name: str, owner: str) -> np.ndarray:
    """A finite, non-negative variance array; rounding-level negatives (see VARIANCE_RTOL) → 0."""
    values = check_finite(values, name, owner)
    if values.size and values.min() < 0:
        tol = VARIANCE_RTOL * float(np.max(np.abs(values)))
        if values.min() < -tol or not np.any(values > 0):
            raise InvalidInputError(
                f"{owner}: {name} is a variance and must be >= 0; got {values.min():.6g}. Pass "
                "variances (squared standard deviations), not log-variances or residuals."
            )
        values = np.maximum(values, 0.0)
    return values


def check_positive(values, name: str, owner: str) -> np.ndarray:
    """A finite array of strictly positive values (scales, shapes, degrees of freedom)."""
    values = check_finite(values, name, owner)
    if values.size and values.min() <= 0:
        raise InvalidInputError(f"{owner}: {name} must be > 0; got {values.min():.6g}.")
    return values


def check_weights(weights, k: int, owner: str) -> np.ndarray:
    """``k`` finite non-negative weights with a positive sum, normalised to sum to one."""
    weights = as_float_array(weights).reshape(-1)
    if (
        weights.shape != (k,)
        or not np.all(np.isfinite(weights))
        or np.any(weights < 0)
        or not weights.sum() > 0
    ):
        raise InvalidInputError(
            f"{owner}: weights must be {k} finite, non-negative numbers with a positive sum "
            f"(one per member); got {weights.tolist()}. Pass e.g. equal weights, or omit them."
        )
    return weights / weights.sum()


def check_probabilities(probs, name: str, owner: str) -> np.ndarray:
    """Rows of probabilities in [0, 1] summing to one (last axis), within PROBABILITY_TOL."""
    probs = check_finite(probs, name, owner)
    if probs.size == 0:
        return probs
    tol = PROBABILITY_TOL * max(1, probs.shape[-1])
    sums = probs.sum(axis=-1)
    if probs.min() < -tol or probs.max() > 1 + tol or np.max(np.abs(sums - 1)) > tol:
        worst = float(sums.reshape(-1)[np.argmax(np.abs(sums - 1).reshape(-1))])
        raise InvalidInputError(
            f"{owner}: {name} must be probabilities in [0, 1] whose rows sum to one; got values "
            f"in [{probs.min():.6g}, {probs.max():.6g}] and a row summing to {worst:.6g}. Pass "
            "softmax outputs (scipy.special.softmax(logits, axis=-1)), not logits or scores."
        )
    return probs


def check_row_labels(index, n: int, owner: str) -> None:
    """Refuse row labels (a prediction's ``index``) whose length is not the number of rows."""
    if index is None:
        return
    try:
        length = len(index)
    except TypeError:
        raise InvalidInputError(
            f"{owner}: index must be a sequence of row labels (a pandas Index); got "
            f"{type(index).__name__}."
        ) from None
    if length != n:
        raise InvalidInputError(
            f"{owner}: index has {length} row labels but the prediction has {n} rows; pass the "
            "index of the DataFrame that was predicted on."
        )
