"""Normal-Inverse-Gamma head: raw outputs → NIG parameters (Amini et al., NeurIPS 2020).

The parameters keep the paper's names ``(gamma, nu, alpha, beta)``: they are one named tuple of
the NIG, not a miscoverage level or a Dirichlet concentration. :func:`nig_parameters` works on
any tensor whose last axis holds the raw outputs (so on stacked ``(members, batch, 4d)`` tensors
too); :class:`NormalInverseGammaHead` is a linear layer followed by it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError

__all__ = ["NIGParameters", "NormalInverseGammaHead", "nig_parameters"]

NIG_EPS = 1e-6


class NIGParameters(NamedTuple):
    """Parameters of a Normal-Inverse-Gamma distribution, each of shape ``(..., d)``.

    ``gamma`` is the location of the mean, ``nu > 0`` the virtual number of observations of the
    mean, ``alpha > 1`` and ``beta > 0`` the shape and scale of the inverse-gamma on the variance
    (Amini et al., NeurIPS 2020, Eq. 2–3).

    Examples
    --------
    Zero raw outputs give ``nu = beta = alpha - 1 = softplus(0) = log 2`` (plus ``eps``), so the
    aleatoric variance ``beta / (alpha - 1)`` is one:

    >>> p = nig_parameters(torch.zeros(1, 4))
    >>> p.gamma, round(float(p.nu), 4), round(float(p.beta / (p.alpha - 1)), 4)
    (tensor([[0.]]), 0.6931, 1.0)
    """

    gamma: torch.Tensor
    nu: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor


def nig_parameters(raw: torch.Tensor, eps: float = NIG_EPS) -> NIGParameters:
    """Split raw outputs ``(..., 4d)`` into NIG parameters (Amini et al., NeurIPS 2020, Sec. 3.3).

    The last axis holds ``d`` values each of ``[gamma | nu | alpha | beta]``, transformed as
    ``gamma`` linear, ``nu = softplus + eps``, ``alpha = 1 + softplus + eps``,
    ``beta = softplus + eps``. The paper uses no ``eps``; the small floor keeps the loss finite
    when a softplus underflows to zero, and makes ``alpha > 1`` strict, so the aleatoric variance
    ``beta / (alpha - 1)`` and epistemic variance ``beta / (nu (alpha - 1))`` are always finite.

    Parameters
    ----------
    raw : Tensor of shape (..., 4d)
    eps : float
        Floor added to ``nu``, ``alpha - 1`` and ``beta``.

    Returns
    -------
    NIGParameters
        ``(gamma, nu, alpha, beta)``, each of shape ``(..., d)``.

    Examples
    --------
    >>> p = nig_parameters(torch.zeros(2, 4))
    >>> p.gamma.shape, bool((p.alpha > 1).all())
    (torch.Size([2, 1]), True)
    """
    if raw.shape[-1] % 4 != 0 or raw.shape[-1] == 0:
        raise InvalidInputError(
            f"raw outputs must have 4 * n_targets columns (gamma, nu, alpha, beta); "
            f"got {raw.shape[-1]}."
        )
    gamma, nu, alpha, beta = torch.chunk(raw, 4, dim=-1)
    return NIGParameters(
        gamma=gamma,
        nu=F.softplus(nu) + eps,
        alpha=F.softplus(alpha) + (1.0 + eps),
        beta=F.softplus(beta) + eps,
    )


class NormalInverseGammaHead(nn.Module):
    """Linear layer + NIG transform: features ``(..., in)`` → :class:`NIGParameters` ``(..., d)``.

    Parameters
    ----------
    in_features : int
    n_targets : int, default=1
        Number of regression targets ``d`` (each gets its own NIG).
    eps : float
        Floor of ``nu``, ``alpha - 1`` and ``beta``, see :func:`nig_parameters`.

    Examples
    --------
    >>> head = NormalInverseGammaHead(8)
    >>> gamma, nu, alpha, beta = head(torch.randn(5, 8))
    >>> gamma.shape
    torch.Size([5, 1])
    """

    def __init__(self, in_features: int, n_targets: int = 1, eps: float = NIG_EPS) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 4 * n_targets)
        self.eps = eps

    def forward(self, features: torch.Tensor) -> NIGParameters:
        """NIG parameters, each ``(..., n_targets)``, for ``features`` ``(..., in_features)``."""
        return nig_parameters(self.linear(features), self.eps)
