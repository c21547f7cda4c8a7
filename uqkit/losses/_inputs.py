"""Argument handling shared by the loss functions: coercion to tensors, checks and reduction."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = ["ArrayLike", "Reduction", "as_tensors", "check_positive", "reduce_loss"]

Reduction = Literal["mean", "sum", "none"]
#: Anything the tensor-or-number losses accept for a numeric argument (broadcast together).
ArrayLike = torch.Tensor | np.ndarray | float


def reduce_loss(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a loss ``reduction``: ``"mean"``, ``"sum"`` or ``"none"`` (the values unchanged).

    Examples
    --------
    >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean")
    tensor(2.)
    """
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise InvalidInputError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def as_tensors(*values) -> list[torch.Tensor]:
    """Turn tensors / arrays / floats into tensors of one floating dtype and device.

    The first tensor among ``values`` decides: its dtype if it is floating (else torch's default
    dtype) and its device; without a tensor, float64 on the CPU.

    Examples
    --------
    >>> [t.dtype for t in as_tensors(torch.zeros(1, dtype=torch.float32), 1.0)]
    [torch.float32, torch.float32]
    """
    reference = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if reference is not None and reference.is_floating_point():
        dtype, device = reference.dtype, reference.device
    elif reference is not None:
        dtype, device = torch.get_default_dtype(), reference.device
    else:
        dtype, device = torch.float64, torch.device("cpu")
    return [torch.as_tensor(v, dtype=dtype, device=device) for v in values]


def check_positive(value: torch.Tensor, name: str, hint: str = "") -> None:
    """Raise :class:`~uqkit.exceptions.InvalidInputError` unless ``value > 0`` everywhere.

    Examples
    --------
    >>> check_positive(torch.ones(2), "variance")
    """
    if not bool(torch.all(value > 0)):
        raise InvalidInputError(
            f"{name} must be positive everywhere (got a minimum of {float(value.min()):.4g})"
            + (f"; {hint}" if hint else ".")
        )
