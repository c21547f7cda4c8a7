"""Small array helpers shared by the prediction types: coercion, target checks, reductions."""

from __future__ import annotations

import numpy as np

from uqkit.exceptions import InvalidInputError

REDUCTIONS = ("mean", "sum", "none")


def as_float_array(values) -> np.ndarray:
    """``values`` (numpy, list or torch tensor) as a float64 numpy array."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


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
