"""Input checks shared by the metrics: predictions or plain arrays, and the truth.

The four ``as_*`` functions are public (exported by :mod:`uqkit.metrics`): recalibrators and
reports accept the same inputs as the metrics and check them the same way.
"""

from __future__ import annotations

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

# Rows of a probability matrix may miss one by this much (float32 softmax over many classes).
PROBABILITY_ATOL = 1e-4


def as_array(values, name: str, dtype=np.float64) -> np.ndarray:
    """``values`` (numpy, list, pandas or torch) as a numpy array of ``dtype``."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    if hasattr(values, "to_numpy"):  # a pandas object
        values = values.to_numpy()
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be numeric; could not convert it: {err}") from err


def check_finite(values: np.ndarray, name: str) -> None:
    """Raise when ``values`` holds NaN or infinity."""
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise InvalidInputError(
            f"{name} contains {bad} NaN or infinite value(s); remove them first."
        )


# ------------------------------------------------------------------------------ regression
def as_regression(pred, y) -> tuple[RegressionPrediction, np.ndarray]:
    """Validate a regression prediction and its targets.

    Parameters
    ----------
    pred : RegressionPrediction or tuple (mean, std)
        A pair of arrays is read as the Gaussian ``N(mean, std**2)``.
    y : array-like of shape (n,) or (n, d)
        Observed targets.

    Returns
    -------
    pred : RegressionPrediction
    y : ndarray, shaped like ``pred.mean``

    Examples
    --------
    >>> import numpy as np
    >>> pred, y = as_regression((np.zeros(2), np.ones(2)), [[0.5], [1.0]])
    >>> pred.distribution, y
    ('normal', array([0.5, 1. ]))
    """
    pred = as_regression_prediction(pred)
    if y is None:
        raise InvalidInputError("y is required: pass the observed targets.")
    y = as_array(y, "y")
    n = len(pred)
    if y.ndim == 0 or len(y) != n:
        raise InvalidInputError(
            f"y has {0 if y.ndim == 0 else len(y)} entries but the prediction has {n} rows; "
            "pass the targets of exactly the rows that were predicted."
        )
    return pred, pred.check_targets(y)


def as_regression_prediction(pred) -> RegressionPrediction:
    """A checked :class:`RegressionPrediction` from a prediction or a ``(mean, std)`` pair.

    Raises :class:`~uqkit.exceptions.InvalidInputError` for anything else, for NaN or infinite
    values and for variances that are not positive.

    Examples
    --------
    >>> import numpy as np
    >>> as_regression_prediction((np.zeros(2), np.full(2, 2.0))).total
    array([4., 4.])
    """
    if isinstance(pred, (tuple, list)):
        if len(pred) != 2:
            raise InvalidInputError(
                "A regression prediction given as arrays must be a pair (mean, std); "
                f"got {len(pred)} arrays."
            )
        mean = as_array(pred[0], "mean")
        std = as_array(pred[1], "std")
        if mean.shape != std.shape or mean.ndim not in (1, 2):
            raise InvalidInputError(
                f"mean and std must have the same shape (n,) or (n, d); got {mean.shape} and "
                f"{std.shape}."
            )
        check_finite(mean, "mean")
        check_finite(std, "std")
        if np.any(std <= 0):
            raise InvalidInputError("std must be positive everywhere; got a value <= 0.")
        return RegressionPrediction.normal(mean, std**2)
    if not isinstance(pred, RegressionPrediction):
        raise InvalidInputError(
            "Expected a RegressionPrediction (from predict_uncertainty) or a pair (mean, std); "
            f"got {type(pred).__name__}."
        )
    if np.ndim(pred.mean) not in (1, 2) or len(pred) == 0:
        raise InvalidInputError(
            f"The prediction must have shape (n,) or (n, d) with n >= 1; got {np.shape(pred.mean)}."
        )
    check_finite(pred.mean, "the predicted mean")
    total = pred.total
    check_finite(total, "the predicted variance")
    if np.any(total <= 0):
        raise InvalidInputError(
            "The predicted variance must be positive everywhere; a zero variance makes the "
            "likelihood and the standardised errors undefined."
        )
    return pred


def gaussian_or_none(pred: RegressionPrediction) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, std)`` when the predictive distribution is Gaussian, else ``None``."""
    if pred.distribution == "normal":
        return np.asarray(pred.mean), np.sqrt(pred.total)
    return None


def check_n_bins(n_bins) -> int:
    """A positive integer number of bins."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise InvalidInputError(f"n_bins must be a positive integer; got {n_bins!r}.")
    return int(n_bins)


# ------------------------------------------------------------------------------ classification
def as_probabilities(pred) -> np.ndarray:
    """The (n, C) probability matrix of a prediction or an array, checked.

    Examples
    --------
    >>> as_probabilities([[0.25, 0.75]])
    array([[0.25, 0.75]])
    """
    if isinstance(pred, ClassificationPrediction):
        probs = np.asarray(pred.probs, dtype=np.float64)
    else:
        probs = as_array(pred, "probs")
    if probs.ndim != 2 or probs.shape[1] < 2 or probs.shape[0] == 0:
        raise InvalidInputError(
            f"probs must have shape (n, C) with n >= 1 and C >= 2; got {probs.shape}. For a "
            "binary classifier pass both columns [1 - p, p]."
        )
    check_finite(probs, "probs")
    if probs.min() < 0 or probs.max() > 1:
        raise InvalidInputError(
            "probs must lie in [0, 1]; did you pass logits instead of probabilities?"
        )
    deviation = np.abs(probs.sum(axis=1) - 1.0)
    if deviation.max() > PROBABILITY_ATOL:
        row = int(np.argmax(deviation))
        raise InvalidInputError(
            f"Each row of probs must sum to one; row {row} sums to {probs[row].sum():.6g}. "
            "Apply a softmax (or normalise the rows) first."
        )
    return probs


def label_index(pred, y, n: int, n_classes: int) -> np.ndarray:
    """Column index of each label of ``y``.

    For a :class:`ClassificationPrediction` the labels are looked up among its ``classes``; for a
    plain array they must be integers in ``0..C-1``.
    """
    if y is None:
        raise InvalidInputError("y is required: pass the true labels.")
    if isinstance(pred, ClassificationPrediction):
        return pred.class_index(y)
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y).reshape(-1) if np.ndim(y) <= 1 else np.asarray(y)
    if y.ndim != 1:
        raise InvalidInputError(f"y must be a 1-D array of labels; got shape {y.shape}.")
    if len(y) != n:
        raise InvalidInputError(
            f"y has {len(y)} labels but probs has {n} rows; pass the labels of the predicted rows."
        )
    if y.dtype.kind == "f":
        check_finite(y, "y")
        if np.any(y != np.round(y)):
            raise InvalidInputError(
                "y must hold integer class indices 0..C-1 when probs is an array."
            )
    elif y.dtype.kind not in "iub":
        raise InvalidInputError(
            f"y must hold integer class indices 0..{n_classes - 1} when probs is an array; got "
            f"dtype {y.dtype}. Pass a ClassificationPrediction to use other labels."
        )
    index = y.astype(np.int64)
    if index.min() < 0 or index.max() >= n_classes:
        outside = np.unique(index[(index < 0) | (index >= n_classes)])[:10].tolist()
        raise InvalidInputError(
            f"y contains labels outside the classes 0..{n_classes - 1}: {outside}."
        )
    return index


def as_classification(pred, y) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(probs, label_index)`` from a prediction (or a probability array) and labels.

    Examples
    --------
    >>> import numpy as np
    >>> probs, index = as_classification(np.array([[0.9, 0.1], [0.2, 0.8]]), [1, 1])
    >>> index
    array([1, 1])
    """
    probs = as_probabilities(pred)
    return probs, label_index(pred, y, probs.shape[0], probs.shape[1])


def as_classification_prediction(pred) -> ClassificationPrediction:
    """A :class:`ClassificationPrediction` from a prediction or a checked probability array.

    Examples
    --------
    >>> as_classification_prediction([[0.25, 0.75]]).label
    array([1])
    """
    if isinstance(pred, ClassificationPrediction):
        return pred
    return ClassificationPrediction(probs=as_probabilities(pred))
