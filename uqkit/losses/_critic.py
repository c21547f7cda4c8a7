"""Critic losses for ensembles of uncertainty-aware value heads.

Two error models for the TD error :math:`\\delta_{ik} = R_{ik} - V_i(s_k)` of member :math:`i` on
sample :math:`k`:

* generalized Gaussian (Kim et al., 2024): per-member GGD NLL weighted across members by the
  risk-averse weights :math:`b_{ik}/\\sum_j b_{jk}` of the GGD shapes (their risk-averse
  weighting), plus :math:`\\lambda` times a BIEV-weighted regression loss, :math:`\\lambda = 0.1`;
* Gaussian with a variance head (the variance-network ensemble of Mai et al., ICLR 2022, and
  Kendall & Gal, 2017): Gaussian NLL (:func:`uqkit.losses.gaussian_nll`) plus :math:`\\lambda`
  times a BIV-weighted regression loss.

Ensemble tensors are member-first: ``(n_members, batch)``.

Examples
--------
>>> import torch
>>> values = torch.zeros(5, 8, requires_grad=True)
>>> returns = torch.linspace(-1, 1, 40).reshape(5, 8)
>>> terms = ggd_critic_loss(values, returns, shape=torch.full((5, 8), 2.0))
>>> terms.total.backward()
>>> bool(torch.isfinite(values.grad).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from uqkit.exceptions import InvalidInputError
from uqkit.losses._gaussian import gaussian_nll
from uqkit.losses._ggd import NLLForm, ggd_nll
from uqkit.losses._inputs import ArrayLike, as_tensors, check_positive
from uqkit.losses._inverse_variance import biev_weights, biv_weights

__all__ = ["CriticLoss", "gaussian_critic_loss", "ggd_critic_loss", "risk_averse_weights"]

Weighting = Literal["biev", "biv"] | None
RegressionLoss = Literal["mse", "mae"]


@dataclass(frozen=True)
class CriticLoss:
    """The terms of a critic loss.

    Attributes
    ----------
    total : torch.Tensor
        Scalar to minimise: ``likelihood + coef * regularizer``.
    likelihood : torch.Tensor
        Scalar (risk-averse weighted) negative log-likelihood of the TD errors.
    regularizer : torch.Tensor
        Scalar BIV/BIEV-weighted regression loss (0 without uncertainty weighting).
    sample_weights : torch.Tensor or None
        The ``(batch,)`` BIV/BIEV weights (summing to one), or ``None``.

    Examples
    --------
    Zero TD errors under unit variance cost :math:`\\tfrac12 \\log 2\\pi` each:

    >>> loss = gaussian_critic_loss(torch.zeros(2, 3), torch.zeros(3), torch.ones(2, 3),
    ...                             weighting=None)
    >>> round(float(loss.total), 4), float(loss.regularizer), loss.sample_weights
    (0.9189, 0.0, None)
    """

    total: torch.Tensor
    likelihood: torch.Tensor
    regularizer: torch.Tensor
    sample_weights: torch.Tensor | None


def risk_averse_weights(shape: ArrayLike) -> torch.Tensor:
    """Risk-averse member weights :math:`b_{ik} / \\sum_j b_{jk}` of GGD shapes (Kim et al., 2024).

    Members that predict lighter-tailed TD errors (a larger shape, :math:`\\beta` in the paper:
    lower aleatoric variance at a fixed scale) get more weight.

    Parameters
    ----------
    shape : tensor or array-like of shape (n_members, ...)
        Positive GGD shapes; member axis first.

    Returns
    -------
    torch.Tensor
        Weights of the same shape, summing to one over the member axis.

    Examples
    --------
    >>> risk_averse_weights([[1.0], [3.0]]).flatten().tolist()
    [0.25, 0.75]
    """
    (shape,) = as_tensors(shape)
    check_positive(shape, "shape", "pass the shape of the generalized Gaussian after a softplus.")
    return shape / shape.sum(dim=0, keepdim=True)


def _check_ensemble(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    if values.ndim != 2:
        raise InvalidInputError(
            f"values must have shape (n_members, batch); got {tuple(values.shape)}."
        )
    if returns.shape not in (values.shape, values.shape[1:]):
        raise InvalidInputError(
            f"returns must have shape (n_members, batch) = {tuple(values.shape)} or (batch,); "
            f"got {tuple(returns.shape)}."
        )
    return returns.expand_as(values)


def _regularizer(
    values: torch.Tensor,
    delta: torch.Tensor,
    weighting: Weighting,
    min_batch_size: int,
    regression_loss: RegressionLoss,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    if weighting is None:
        return values.new_zeros(()), None
    if weighting == "biev":
        weights = biev_weights(delta.detach(), min_batch_size)
    elif weighting == "biv":
        if values.shape[0] < 2:
            raise InvalidInputError("BIV weights need an ensemble of at least 2 members.")
        # The target r + gamma V(s') inherits gamma^2 times the members' value variance.
        variance = gamma**2 * values.detach().var(dim=0, unbiased=True)
        weights = biv_weights(variance, min_batch_size)
    else:
        raise InvalidInputError(f"weighting must be 'biev', 'biv' or None; got {weighting!r}.")
    if regression_loss == "mse":
        per_sample = delta.square().mean(dim=0)
    elif regression_loss == "mae":
        per_sample = delta.abs().mean(dim=0)
    else:
        raise InvalidInputError(
            f"regression_loss must be 'mse' or 'mae'; got {regression_loss!r}."
        )
    weights = weights.to(dtype=per_sample.dtype, device=per_sample.device)
    return (weights * per_sample).sum(), weights


def ggd_critic_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    shape: torch.Tensor,
    scale: ArrayLike = 1.0,
    *,
    form: NLLForm = "exact",
    weighting: Weighting = "biev",
    coef: float = 0.1,
    min_batch_size: int = 16,
    regression_loss: RegressionLoss = "mse",
    gamma: float = 0.99,
) -> CriticLoss:
    """Critic loss of Kim et al. (2024): :math:`L_{GGD} + \\lambda L_{BIEV}`.

    .. math::

        L_{GGD} = \\frac1B\\sum_k\\sum_i \\frac{b_{ik}}{\\sum_j b_{jk}}
                  \\ell_{GGD}(\\delta_{ik}; s_{ik}, b_{ik}), \\qquad
        L_{BIEV} = \\sum_k w_k\\,\\frac1N\\sum_i \\rho(\\delta_{ik}),

    with :math:`\\ell_{GGD}` from :func:`ggd_nll` (scale :math:`s`, shape :math:`b`; the paper's
    :math:`\\alpha, \\beta`), :math:`w_k` the BIEV (or BIV) weights and :math:`\\rho` the squared
    or absolute error. The risk-averse and BIEV weights are treated as constants (no gradient
    flows through them).

    Parameters
    ----------
    values : torch.Tensor of shape (n_members, batch)
        Each member's value estimate.
    returns : torch.Tensor of shape (n_members, batch) or (batch,)
        Targets (per-member returns, or one return shared by all members).
    shape : torch.Tensor of shape (n_members, batch)
        Positive GGD shapes from the head.
    scale : tensor or float, default=1.0
        GGD scales; the paper fixes them at 1.
    form : {"exact", "authors"}, default="exact"
        GGD NLL form, see :func:`ggd_nll`.
    weighting : {"biev", "biv"} or None, default="biev"
        Epistemic sample weights of the regulariser; ``None`` drops it.
    coef : float, default=0.1
        :math:`\\lambda`.
    min_batch_size : int, default=16
        Effective batch size bound of the BIV/BIEV weights.
    regression_loss : {"mse", "mae"}, default="mse"
        :math:`\\rho`; the authors' PPO code uses ``"mae"`` with BIEV.
    gamma : float, default=0.99
        Discount, used only by ``weighting="biv"``.

    Returns
    -------
    CriticLoss
        ``total`` and its terms.

    Examples
    --------
    >>> import torch
    >>> values = torch.zeros(4, 3)
    >>> terms = ggd_critic_loss(values, torch.zeros(3), torch.ones(4, 3), weighting=None)
    >>> round(float(terms.total), 4)  # Laplace(0, 1) NLL at 0: log 2
    0.6931
    """
    returns = _check_ensemble(values, returns)
    delta = returns - values
    (scale,) = as_tensors(scale) if not isinstance(scale, torch.Tensor) else (scale,)
    scale = scale.to(dtype=values.dtype, device=values.device)
    nll = ggd_nll(delta, scale, shape, reduction="none", form=form)
    weights = risk_averse_weights(shape.detach())
    likelihood = (weights * nll).sum(dim=0).mean()
    regularizer, sample_weights = _regularizer(
        values, delta, weighting, min_batch_size, regression_loss, gamma
    )
    return CriticLoss(likelihood + coef * regularizer, likelihood, regularizer, sample_weights)


def gaussian_critic_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    variance: torch.Tensor,
    *,
    weighting: Weighting = "biv",
    coef: float = 0.1,
    min_batch_size: int = 16,
    regression_loss: RegressionLoss = "mse",
    gamma: float = 0.99,
) -> CriticLoss:
    """Gaussian variance-head baseline: mean Gaussian NLL plus :math:`\\lambda` BIV loss.

    The variance-network ensemble of Mai et al. (ICLR 2022), the baseline that Kim et al. (2024)
    compare against: :math:`\\frac{1}{NB}\\sum_{ik}\\ell_N(\\delta_{ik};
    \\sigma^2_{ik}) + \\lambda\\sum_k w_k \\frac1N\\sum_i\\rho(\\delta_{ik})`, with
    :math:`\\ell_N` the NLL of :func:`uqkit.losses.gaussian_nll`.

    Parameters
    ----------
    values : torch.Tensor of shape (n_members, batch)
        Each member's value estimate.
    returns : torch.Tensor of shape (n_members, batch) or (batch,)
        Targets.
    variance : torch.Tensor of shape (n_members, batch)
        Positive variances from the variance head.
    weighting : {"biev", "biv"} or None, default="biv"
        Epistemic sample weights of the regulariser.
    coef, min_batch_size, regression_loss, gamma
        As in :func:`ggd_critic_loss`.

    Returns
    -------
    CriticLoss
        ``total`` and its terms.

    Examples
    --------
    >>> import torch
    >>> terms = gaussian_critic_loss(torch.zeros(2, 3), torch.zeros(3), torch.ones(2, 3),
    ...                              weighting=None)
    >>> round(float(terms.total), 4)
    0.9189
    """
    returns = _check_ensemble(values, returns)
    delta = returns - values
    # the variance takes the dtype and device of the errors, as every critic-loss input does
    _, variance = as_tensors(delta, variance)
    check_positive(variance, "variance", "pass the variance head's output after a softplus.")
    likelihood = gaussian_nll(values, variance, returns, reduction="none").mean()
    regularizer, sample_weights = _regularizer(
        values, delta, weighting, min_batch_size, regression_loss, gamma
    )
    return CriticLoss(likelihood + coef * regularizer, likelihood, regularizer, sample_weights)
