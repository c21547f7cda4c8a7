"""Output heads: turn a network's raw outputs into the parameters of a predictive distribution."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gaussian_head(
    raw: torch.Tensor, min_variance: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split raw outputs ``(..., 2d)`` into a mean and a positive variance ``(..., d)`` each.

    The variance is ``softplus(raw) + min_variance`` (Lakshminarayanan et al., 2017, Sec. 2.2.1):
    the floor keeps the Gaussian NLL bounded when a member becomes over-confident.

    Examples
    --------
    >>> mean, var = gaussian_head(torch.zeros(3, 2))
    >>> mean.shape, bool((var > 0).all())
    (torch.Size([3, 1]), True)
    """
    d = raw.shape[-1] // 2
    return raw[..., :d], F.softplus(raw[..., d:]) + min_variance
