"""Model inputs for TFB: batches as dicts of tensors, stacked once per weight sample."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = ["as_batches", "n_rows", "prepare_batch"]


def as_batches(X) -> list[Mapping]:
    """One batch (a dict of model inputs) or an iterable of them, as a list of batches.

    Examples
    --------
    >>> len(as_batches({"x": torch.zeros(2, 3)})), len(as_batches([{"x": 1}, {"x": 2}]))
    (1, 2)
    """
    if isinstance(X, Mapping):
        batches = [X]
    elif isinstance(X, Iterable) and not isinstance(X, (str, bytes, torch.Tensor, np.ndarray)):
        batches = list(X)
    else:
        raise InvalidInputError(
            f"Expected a batch of model inputs (a dict such as a tokenizer or DataLoader returns) "
            f"or an iterable of such batches; got {type(X).__name__}."
        )
    for i, batch in enumerate(batches):
        if not isinstance(batch, Mapping):
            raise InvalidInputError(
                f"Batch {i} is a {type(batch).__name__}; each batch must be a dict of model inputs "
                "(e.g. {'input_ids': ..., 'attention_mask': ...})."
            )
    return batches


def n_rows(batch: Mapping) -> int:
    """Number of examples in a batch: the first dimension of ``input_ids`` or its first tensor."""
    first = batch.get("input_ids")
    if first is None:
        first = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.ndim), None)
    if first is None:
        raise InvalidInputError(
            f"The batch has no tensor to take its size from (keys: {sorted(batch)})."
        )
    return int(torch.as_tensor(first).shape[0])


def prepare_batch(batch: Mapping, n_copies: int, device: torch.device) -> tuple[dict, int]:
    """Move a batch to ``device`` and stack ``n_copies`` of it sample-major; drop ``labels``."""
    n = n_rows(batch)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if key == "labels":
            continue
        if isinstance(value, np.ndarray):
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if n_copies > 1 and value.ndim and value.shape[0] == n:
                value = value.repeat(n_copies, *([1] * (value.ndim - 1)))
        out[key] = value
    return out, n
