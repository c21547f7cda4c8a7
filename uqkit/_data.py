"""Input coercion shared by every estimator: tensors to numpy, devices, dtypes, scaling."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = [
    "Standardizer",
    "check_positive_ints",
    "check_sample_weight",
    "check_weighted_classes",
    "normalised_weights",
    "refuse_sample_weight",
    "resolve_device",
    "resolve_dtype",
    "to_numpy",
]


def to_numpy(values) -> Any:
    """Return ``values`` as something scikit-learn validation accepts (torch tensors → numpy).

    Parameters
    ----------
    values : torch.Tensor or array-like
        A tensor (on any device, with or without grad) or anything else.

    Returns
    -------
    numpy.ndarray or object
        The tensor as a detached numpy array on the CPU; any other value unchanged.

    Examples
    --------
    >>> to_numpy(torch.tensor([1.0, 2.0], requires_grad=True))
    array([1., 2.], dtype=float32)
    >>> to_numpy([[1, 2]])
    [[1, 2]]
    """
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return values


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to ``torch.device``.

    A device that torch does not know (``"tpu"``), or that is not available here (``"cuda"``
    without a GPU, ``"cuda:3"`` on a two-GPU machine, ``"mps"`` off Apple silicon), raises
    :class:`~uqkit.exceptions.InvalidInputError` naming the valid choices.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidInputError(
            f"device={device!r} is not a device torch knows; use 'auto', 'cpu', 'cuda' or "
            "'cuda:<index>'."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(
                f"device={str(device)!r} was requested but CUDA is not available here; "
                "use device='cpu' or device='auto'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvalidInputError(
                f"device={str(device)!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible; use an index below that, or device='auto'."
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(
            "device='mps' was requested but MPS is not available here; use device='cpu' or "
            "device='auto'."
        )
    return device


def resolve_dtype(dtype: str) -> torch.dtype:
    """``"float32"`` or ``"float64"`` → the torch dtype."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


# Parameters of one network whose widths alone need more than this (8 GiB in float32) are
# refused before anything is allocated: such a width is a typo, not a model.
MAX_PARAMETERS = 2**31


def check_positive_ints(value, name: str, length: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints (e.g. ``hidden_layers``), or a clear error.

    An empty tuple is refused (for ``hidden_layers`` it would silently give a linear model), and
    so are widths whose consecutive products alone exceed :data:`MAX_PARAMETERS` (2**31)
    parameters, which no machine allocates.

    Examples
    --------
    >>> check_positive_ints([64, 64], "hidden_layers")
    (64, 64)
    """
    try:
        values = tuple(value)
    except TypeError:
        values = None
    size = f"{length} " if length is not None else ""
    if (
        values is None
        or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values
        )
        or (length is not None and len(values) != length)
    ):
        raise InvalidInputError(
            f"{name} must be a tuple of {size}positive ints such as (50,) or (64, 64); "
            f"got {value!r}."
        )
    if not values:
        linear = (
            " hidden_layers=() would give a linear model; uqkit's networks need at least one "
            "hidden layer: pass hidden_layers=(50,), or use sklearn.linear_model for a linear "
            "model."
            if name == "hidden_layers"
            else ""
        )
        raise InvalidInputError(
            f"{name} must be a non-empty tuple of positive ints such as (50,); got {value!r}."
            + linear
        )
    values = tuple(int(v) for v in values)
    # weights between consecutive layers plus a weight and a bias per unit, in Python ints
    n_parameters = sum(a * b for a, b in itertools.pairwise(values)) + 2 * sum(values)
    if n_parameters > MAX_PARAMETERS:
        raise InvalidInputError(
            f"{name}={value!r} needs about {n_parameters:.3g} parameters per network, more than "
            f"the {MAX_PARAMETERS:.3g} uqkit allows; use widths such as (50,) or (256, 256)."
        )
    return values


def check_sample_weight(sample_weight, n_samples: int, owner: str) -> np.ndarray | None:
    """``sample_weight`` of ``fit`` as a float64 array of shape ``(n_samples,)``, or None.

    The rules are scikit-learn's (``sklearn.utils.validation._check_sample_weight`` with
    ``ensure_non_negative=True``), plus one: the weights may not all be zero (the weighted loss
    ``sum(w * loss) / sum(w)`` would be 0 / 0). A scalar is broadcast to every row, as in
    scikit-learn. ``None`` stays ``None``: the unweighted fit.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
    n_samples : int
        Rows of ``X``.
    owner : str
        Name of the estimator (for the message).

    Returns
    -------
    numpy.ndarray of shape (n_samples,), float64, or None

    Raises
    ------
    InvalidInputError
        Wrong shape or length, a value that is not a finite number, a negative weight, or all
        weights zero; the message says which and what to pass.

    Examples
    --------
    >>> check_sample_weight([1, 2, 0], 3, "DeepEnsembleRegressor")
    array([1., 2., 0.])
    >>> check_sample_weight(None, 3, "DeepEnsembleRegressor") is None
    True
    >>> try:
    ...     check_sample_weight([1.0, -1.0], 2, "DeepEnsembleRegressor")
    ... except InvalidInputError as err:
    ...     print(str(err)[:57])
    DeepEnsembleRegressor: sample_weight[1] = -1 is negative;
    """
    if sample_weight is None:
        return None
    fix = "pass one finite, non-negative weight per row of X (or sample_weight=None)."
    values = to_numpy(sample_weight)
    try:
        weights = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{owner}: sample_weight must be numbers ({err}); {fix}"
        ) from err
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.ndim != 1 or len(weights) != n_samples:
        raise InvalidInputError(
            f"{owner}: sample_weight has shape {weights.shape} but X has {n_samples} rows; "
            f"{fix}"
        )
    bad = ~np.isfinite(weights)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(f"{owner}: sample_weight[{i}] = {weights[i]} is not finite; {fix}")
    negative = weights < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise InvalidInputError(
            f"{owner}: sample_weight[{i}] = {weights[i]:g} is negative; weights must be >= 0 "
            "(0 drops a row)."
        )
    if not (weights > 0).any():
        raise InvalidInputError(
            f"{owner}: every sample_weight is zero, so there is nothing to fit; give at least "
            "one row a positive weight."
        )
    return weights


def check_weighted_classes(labels: np.ndarray, weights: np.ndarray | None, owner: str) -> None:
    """Refuse a classification fit whose rows of positive weight hold fewer than two classes.

    Examples
    --------
    >>> check_weighted_classes(np.array([0, 1, 1]), np.array([1.0, 0.0, 2.0]), "M")
    >>> try:
    ...     check_weighted_classes(np.array([0, 1, 1]), np.array([0.0, 1.0, 2.0]), "M")
    ... except InvalidInputError as err:
    ...     print(str(err)[:56])
    M: the rows with a positive sample_weight hold one class
    """
    if weights is None:
        return
    present = np.unique(np.asarray(labels)[weights > 0])
    if len(present) < 2:
        raise InvalidInputError(
            f"{owner}: the rows with a positive sample_weight hold one class only "
            f"({present.tolist()}); a classifier needs at least two classes with weight. Give "
            "rows of another class a positive weight."
        )


def normalised_weights(weights: np.ndarray | None, rows: np.ndarray, what: str, owner: str):
    """The weights of ``rows`` divided by their mean (so they average exactly 1), or None.

    Dividing by the mean, not by the sum per mini-batch, is what makes weights of ones exact:
    ``1 * n / n`` is exactly 1 in floating point, so a weighted batch mean ``mean(w * loss)`` of
    ones is bit for bit the unweighted ``mean(loss)``, and the mini-batch gradient stays an
    unbiased estimate of the full weighted objective ``sum(w * loss) / sum(w)``.

    Parameters
    ----------
    weights : ndarray of shape (n,) or None
        Validated by :func:`check_sample_weight`.
    rows : ndarray of int
        The rows of one part (training or validation).
    what : str
        Name of the part (for the message).
    owner : str
        Name of the estimator (for the message).

    Examples
    --------
    >>> normalised_weights(np.array([1.0, 3.0, 0.0, 2.0]), np.array([0, 1, 2]), "training", "M")
    array([0.75, 2.25, 0.  ])
    >>> normalised_weights(np.ones(5), np.arange(5), "training", "M").tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if weights is None:
        return None
    part = weights[rows]
    total = part.sum()
    if not total > 0:
        raise InvalidInputError(
            f"{owner}: every sample_weight of the {len(part)} {what} rows is 0; give some of "
            "them a positive weight, or pass X_val/y_val."
        )
    return part * (len(part) / total)


def refuse_sample_weight(fit_params: dict, owner: str, why: str) -> None:
    """The check of ``fit(X, y, **fit_params)`` of an estimator that cannot honour weights.

    Such an estimator keeps ``sample_weight`` out of its ``fit`` signature, so that
    scikit-learn's ``has_fit_parameter`` is False and meta-estimators (``BaggingRegressor``,
    ``AdaBoostRegressor``) resample rows instead of passing weights; a ``sample_weight`` passed
    anyway raises :class:`~uqkit.exceptions.InvalidInputError` with ``why`` (why, and what to
    use instead), and any other unknown keyword a ``TypeError`` as Python would.

    Examples
    --------
    >>> refuse_sample_weight({}, "GPRegressor", "...")
    >>> try:
    ...     refuse_sample_weight({"sample_weight": [1.0]}, "GPRegressor",
    ...                          "a weighted GP is not standard.")
    ... except InvalidInputError as err:
    ...     print(err)
    GPRegressor.fit does not support sample_weight: a weighted GP is not standard.
    """
    if "sample_weight" in fit_params:
        raise InvalidInputError(f"{owner}.fit does not support sample_weight: {why}")
    if fit_params:
        raise TypeError(
            f"{owner}.fit() got unexpected keyword argument(s) {sorted(fit_params)}."
        )


@dataclass
class Standardizer:
    """Affine scaling ``(x - mean) / scale``; constant columns keep scale 1.

    Parameters
    ----------
    mean : numpy.ndarray of shape (p,)
        Value subtracted from every column.
    scale : numpy.ndarray of shape (p,)
        Positive divisor of every column.

    Examples
    --------
    >>> values = np.array([[1.0, 5.0], [3.0, 5.0]])
    >>> scaler = Standardizer.fit(values)
    >>> scaler.transform(values)
    array([[-1.,  0.],
           [ 1.,  0.]])
    >>> np.allclose(scaler.inverse_transform(scaler.transform(values)), values)
    True
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, mode: str = "column") -> Standardizer:
        """Fit on ``values`` of shape (n, p), in float64 whatever the input dtype.

        ``mode="column"`` scales every column on its own; ``"global"`` uses one mean and scale
        for all columns (pixels: per-column scaling would blow up pixels that are almost always
        dark); ``"none"`` is the identity.

        A column is constant (kept at scale 1) only when its spread is zero or within the
        float64 rounding error *relative to its magnitude*: ``y * 1e-13`` is a real signal
        and is scaled like ``y``. The moments are taken of the column divided by its largest
        magnitude, so ``y * 1e200`` does not overflow.

        Examples
        --------
        >>> tiny = Standardizer.fit(np.array([[1e-13], [3e-13]]))
        >>> np.allclose(tiny.scale, 1e-13), Standardizer.fit(np.array([[7.0], [7.0]])).scale
        (True, array([1.]))
        """
        if mode == "none":
            return cls.identity(values.shape[1])
        if mode not in ("column", "global"):
            raise ValueError(f"mode must be 'column', 'global' or 'none'; got {mode!r}.")
        # the moments are computed in float64, whose rounding leaves a spread of a few
        # eps * |mean| on a column that is truly constant
        tolerance = 64 * np.finfo(np.float64).eps
        width = values.shape[1]
        values = np.asarray(values, dtype=np.float64)
        if mode == "global":
            values = values.reshape(-1, 1)
        magnitude = np.abs(values).max(axis=0)
        # within 1e±100 the plain moments are exact enough (and unchanged from earlier releases);
        # beyond, squares would overflow or underflow, so compute them in units of the magnitude
        unit = np.where((magnitude > 1e100) | ((magnitude < 1e-100) & (magnitude > 0)),
                        magnitude, 1.0)
        mean = (values / unit).mean(axis=0) * unit
        scale = ((values - mean) / unit).std(axis=0) * unit
        scale = np.where((scale > 0) & (scale > tolerance * np.abs(mean)), scale, 1.0)
        if mode == "global":
            return cls(np.full(width, mean[0]), np.full(width, scale[0]))
        return cls(mean=mean, scale=scale)

    @classmethod
    def identity(cls, n_columns: int) -> Standardizer:
        return cls(mean=np.zeros(n_columns), scale=np.ones(n_columns))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean
