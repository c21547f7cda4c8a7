"""Gaussian negative log-likelihood, with the β-NLL weighting of Seitzer et al. (ICLR 2022)."""

from __future__ import annotations

import math

import torch

_LOG_2PI = math.log(2 * math.pi)


def gaussian_nll(
    mean: torch.Tensor,
    var: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under ``N(mean, var)``, constant included.

    Lakshminarayanan et al. (NeurIPS 2017), Eq. 1. With ``beta > 0`` each term is weighted by
    ``stop_gradient(var) ** beta`` (β-NLL, Seitzer et al., ICLR 2022, Eq. 4), which keeps badly
    fitted, high-variance points from being ignored; ``beta = 0`` is the plain NLL.

    Parameters
    ----------
    mean, var, target : Tensor
        Broadcastable tensors; ``var`` must be positive.
    beta : float
        β-NLL exponent in [0, 1].
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> round(float(gaussian_nll(torch.zeros(1), torch.ones(1), torch.zeros(1))), 4)
    0.9189
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1]; got {beta}.")
    nll = 0.5 * (_LOG_2PI + torch.log(var) + (target - mean) ** 2 / var)
    if beta > 0:
        nll = nll * var.detach() ** beta
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    if reduction == "none":
        return nll
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")
