"""The tensors every backend trains members on."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["MemberData"]


@dataclass
class MemberData:
    """Training (and optional validation) tensors, already standardised and on the device.

    Parameters
    ----------
    X, y : Tensor
        Training features ``(n, in)`` (or ``(n, *row_shape)`` for a user module) and targets
        ``(n, ...)`` shared by all members. For a memmap or a Dataset, ``X`` is a
        ``uqkit.training._sources.Rows`` view instead: indexed like the tensor, it gathers
        each mini-batch and moves it to the device, so the features are never on the device
        whole.
    X_val, y_val : Tensor, optional
        Validation data for early stopping (``X_val`` a ``Rows`` view as ``X``).
    weight, weight_val : Tensor, optional
        Row weights ``(n,)`` of the training and validation rows, each part divided by its own
        mean (``sample_weight`` of ``fit``, see :func:`uqkit._data.normalised_weights`);
        ``None`` is the unweighted fit.

    Examples
    --------
    >>> data = MemberData(X=torch.zeros(20, 3), y=torch.zeros(20, 1))
    >>> data.X.shape, data.X_val is None
    (torch.Size([20, 3]), True)
    """

    X: torch.Tensor  # or a Rows view
    y: torch.Tensor
    X_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    weight_val: torch.Tensor | None = None
