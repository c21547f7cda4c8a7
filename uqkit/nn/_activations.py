"""Activation functions by name, for architectures given as data (specs, search spaces)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

__all__ = ["ACTIVATIONS"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}
