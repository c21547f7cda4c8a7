"""Input coercion shared by every estimator: tensors to numpy, devices, dtypes, scaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = [
    "Standardizer",
    "check_positive_ints",
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

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device='cuda' was requested but CUDA is not available here.")
    return device


def resolve_dtype(dtype: str) -> torch.dtype:
    """``"float32"`` or ``"float64"`` → the torch dtype."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


def check_positive_ints(value, name: str, length: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints (e.g. ``hidden_layers``), or a clear error."""
    values = tuple(value)
    if not all(isinstance(v, (int, np.integer)) and v > 0 for v in values) or (
        length is not None and len(values) != length
    ):
        size = f"{length} " if length is not None else ""
        raise InvalidInputError(
            f"{name} must be a tuple of {size}positive ints such as (50,) or (64, 64); "
            f"got {value!r}."
        )
    return tuple(int(v) for v in values)


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
        """Fit on ``values`` of shape (n, p).

        ``mode="column"`` scales every column on its own; ``"global"`` uses one mean and scale
        for all columns (pixels: per-column scaling would blow up pixels that are almost always
        dark); ``"none"`` is the identity.
        """
        if mode == "none":
            return cls.identity(values.shape[1])
        if mode == "global":
            scale = float(values.std()) or 1.0
            width = values.shape[1]
            return cls(np.full(width, float(values.mean())), np.full(width, scale))
        if mode != "column":
            raise ValueError(f"mode must be 'column', 'global' or 'none'; got {mode!r}.")
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        scale = np.where(scale > 1e-12 * np.maximum(np.abs(mean), 1.0), scale, 1.0)
        return cls(mean=mean, scale=scale)

    @classmethod
    def identity(cls, n_columns: int) -> Standardizer:
        return cls(mean=np.zeros(n_columns), scale=np.ones(n_columns))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean
