"""Deep evidential regression loss on a Normal-Inverse-Gamma (Amini et al., NeurIPS 2020).

The negative log marginal likelihood of the NIG evidential distribution, a Student-t (Eq. 8), plus
``regularization`` times the evidence regulariser :math:`|y-\\gamma|\\,(2\\nu+\\alpha)` (Eq. 9),
combined as in Eq. 10. The parameters keep the paper's names (see :mod:`uqkit.nn`'s
:class:`~uqkit.nn.NIGParameters`). Every function takes a ``reduction`` (``"mean"``, ``"sum"``
or ``"none"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from uqkit.exceptions import InvalidInputError
from uqkit.losses._inputs import reduce_loss
from uqkit.nn import NIGParameters

__all__ = ["EvidentialRegressionLoss", "evidential_regression_loss", "nig_nll", "nig_regularizer"]

_LOG_PI = math.log(math.pi)


def nig_nll(
    target: torch.Tensor,
    gamma: torch.Tensor,
    nu: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log marginal likelihood of a NIG evidential distribution (Amini et al., Eq. 8).

    With :math:`\\Omega = 2\\beta(1+\\nu)`:

    .. math::

        \\tfrac12\\log\\frac{\\pi}{\\nu} - \\alpha\\log\\Omega
        + (\\alpha+\\tfrac12)\\log\\big(\\nu(y-\\gamma)^2+\\Omega\\big)
        + \\log\\Gamma(\\alpha) - \\log\\Gamma(\\alpha+\\tfrac12),

    which is :math:`-\\log \\mathrm{St}(y;\\gamma, \\beta(1+\\nu)/(\\nu\\alpha), 2\\alpha)`.
    The middle terms are evaluated as :math:`\\tfrac12\\log\\Omega + (\\alpha+\\tfrac12)\\,
    \\mathrm{log1p}(\\nu(y-\\gamma)^2/\\Omega)` to avoid cancellation for large ``alpha``.

    Parameters
    ----------
    target, gamma, nu, alpha, beta : Tensor
        Broadcastable; ``nu, beta > 0`` and ``alpha > 0``.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> one = torch.ones(1)
    >>> round(float(nig_nll(torch.zeros(1), torch.zeros(1), one, 2 * one, one)), 4)
    0.9808
    """
    omega = 2.0 * beta * (1.0 + nu)
    values = (
        0.5 * (_LOG_PI - torch.log(nu))
        + 0.5 * torch.log(omega)
        + (alpha + 0.5) * torch.log1p(nu * (target - gamma) ** 2 / omega)
        + torch.lgamma(alpha)
        - torch.lgamma(alpha + 0.5)
    )
    return reduce_loss(values, reduction)


def nig_regularizer(
    target: torch.Tensor,
    gamma: torch.Tensor,
    nu: torch.Tensor,
    alpha: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Evidence regulariser :math:`|y-\\gamma|\\,(2\\nu+\\alpha)` (Amini et al., 2020, Eq. 9).

    It scales the total evidence by the error, so evidence is removed where the prediction is
    wrong. Its gradient never pushes ``gamma`` towards ``y`` in a useful way on its own; it is
    meant to be added to :func:`nig_nll` with a small coefficient.

    Examples
    --------
    >>> one = torch.ones(1)
    >>> float(nig_regularizer(3 * one, one, one, 2 * one))
    8.0
    """
    values = torch.abs(target - gamma) * (2.0 * nu + alpha)
    return reduce_loss(values, reduction)


def evidential_regression_loss(
    target: torch.Tensor,
    params: NIGParameters,
    regularization: float = 0.01,
    reduction: str = "mean",
) -> torch.Tensor:
    """:func:`nig_nll` + ``regularization`` × :func:`nig_regularizer` (Amini et al., Eq. 10).

    Parameters
    ----------
    target : Tensor of shape (..., d)
    params : NIGParameters
        Output of :func:`uqkit.nn.nig_parameters` (or :class:`uqkit.nn.NormalInverseGammaHead`),
        each ``(..., d)``.
    regularization : float
        :math:`\\lambda \\ge 0`.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> from uqkit.nn import nig_parameters
    >>> params = nig_parameters(torch.zeros(3, 4))
    >>> evidential_regression_loss(torch.zeros(3, 1), params).shape
    torch.Size([])
    """
    if regularization < 0:
        raise InvalidInputError(f"regularization must be non-negative; got {regularization}.")
    gamma, nu, alpha, beta = params
    if target.shape != gamma.shape:
        raise InvalidInputError(
            f"target has shape {tuple(target.shape)} but the NIG parameters have shape "
            f"{tuple(gamma.shape)}; reshape the target to (..., n_targets)."
        )
    values = nig_nll(target, gamma, nu, alpha, beta, reduction="none")
    if regularization != 0.0:
        values = values + regularization * nig_regularizer(target, gamma, nu, alpha, "none")
    return reduce_loss(values, reduction)


class EvidentialRegressionLoss(nn.Module):
    """Amini et al. (2020) loss as a module: ``loss(params, target)``.

    Parameters
    ----------
    regularization : float, default=0.01
        Coefficient :math:`\\lambda` of the evidence regulariser (Eq. 10).
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> from uqkit.nn import NormalInverseGammaHead
    >>> head, criterion = NormalInverseGammaHead(4), EvidentialRegressionLoss()
    >>> criterion(head(torch.randn(8, 4)), torch.randn(8, 1)).shape
    torch.Size([])
    """

    def __init__(self, regularization: float = 0.01, reduction: str = "mean") -> None:
        super().__init__()
        if regularization < 0:
            raise InvalidInputError(f"regularization must be non-negative; got {regularization}.")
        self.regularization = regularization
        self.reduction = reduction

    def forward(self, params: NIGParameters, target: torch.Tensor) -> torch.Tensor:
        """The loss of NIG ``params`` (each ``(..., d)``) against ``target`` ``(..., d)``."""
        return evidential_regression_loss(target, params, self.regularization, self.reduction)
