"""Evidential losses, usable on their own in any torch model.

Classification (Sensoy, Kaplan & Kandemir, NeurIPS 2018): with Dirichlet parameters
:math:`\\alpha`, strength :math:`S=\\sum_k\\alpha_k`, expected probabilities :math:`p=\\alpha/S`
and one-hot labels :math:`y`,

* Bayes risk of the squared error (Eq. 5): :math:`\\sum_k (y_k-p_k)^2 + p_k(1-p_k)/(S+1)`;
* type-II maximum likelihood, "log" (Eq. 3): :math:`\\sum_k y_k(\\log S - \\log\\alpha_k)`;
* Bayes risk of the cross-entropy, "digamma" (Eq. 4):
  :math:`\\sum_k y_k(\\psi(S)-\\psi(\\alpha_k))`;
* the regulariser :math:`\\lambda_t\\,\\mathrm{KL}[\\mathrm{Dir}(\\tilde\\alpha)\\,\\|\\,
  \\mathrm{Dir}(\\mathbf 1)]` with :math:`\\tilde\\alpha = y + (1-y)\\odot\\alpha` (the evidence of
  the true class removed) and :math:`\\lambda_t=\\min(1, t/10)` in epoch :math:`t`.

Regression (Amini, Schwarting, Soleimany & Rus, NeurIPS 2020, Sec. 3.3): the negative log marginal
likelihood of the NIG evidential distribution, a Student-t (Eq. 8), plus ``regularization`` times
the evidence regulariser :math:`|y-\\gamma|\\,(2\\nu+\\alpha)` (Eq. 9), combined as in Eq. 10.

Every function takes a ``reduction`` (``"mean"``, ``"sum"`` or ``"none"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from uqkit.evidential._heads import NIGParameters

__all__ = [
    "DIRICHLET_LOSSES",
    "EvidentialClassificationLoss",
    "EvidentialRegressionLoss",
    "dirichlet_digamma_loss",
    "dirichlet_kl_uniform",
    "dirichlet_log_loss",
    "dirichlet_mse_loss",
    "evidential_classification_loss",
    "evidential_regression_loss",
    "kl_annealing_coefficient",
    "nig_nll",
    "nig_regularizer",
]

DIRICHLET_LOSSES = ("mse", "log", "digamma")
_LOG_PI = math.log(math.pi)


# ------------------------------------------------------------------------------ helpers
def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def _one_hot(target: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Labels ``(...)`` (integers) or one-hot/soft targets ``(..., C)`` → float ``(..., C)``."""
    n_classes = alpha.shape[-1]
    if not torch.is_floating_point(target):
        if target.shape != alpha.shape[:-1]:
            raise ValueError(
                f"integer labels must have shape {tuple(alpha.shape[:-1])} (alpha without its "
                f"class axis); got {tuple(target.shape)}."
            )
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= n_classes):
            raise ValueError(f"labels must lie in [0, {n_classes - 1}].")
        return nn.functional.one_hot(target.long(), n_classes).to(alpha.dtype)
    if target.shape != alpha.shape:
        raise ValueError(
            f"one-hot targets must have the shape of alpha {tuple(alpha.shape)}; "
            f"got {tuple(target.shape)}."
        )
    return target.to(alpha.dtype)


def _strength(alpha: torch.Tensor) -> torch.Tensor:
    return alpha.sum(dim=-1, keepdim=True)


# ------------------------------------------------------------------------------ Dirichlet
def dirichlet_mse_loss(
    alpha: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Bayes risk of the squared error under ``Dir(alpha)`` (Sensoy et al., 2018, Eq. 5).

    :math:`E_{p\\sim\\mathrm{Dir}(\\alpha)}\\|y-p\\|^2 = \\sum_k (y_k-\\hat p_k)^2 +
    \\hat p_k(1-\\hat p_k)/(S+1)`, with :math:`\\hat p=\\alpha/S`.

    Parameters
    ----------
    alpha : Tensor of shape (..., C)
        Dirichlet parameters (``> 0``).
    target : Tensor of shape (...) with integer labels, or (..., C) one-hot
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample, shape ``(...)``.

    Examples
    --------
    >>> alpha = torch.tensor([[9.0, 1.0]])
    >>> round(float(dirichlet_mse_loss(alpha, torch.tensor([0]))), 4)
    0.0364
    """
    y = _one_hot(target, alpha)
    strength = _strength(alpha)
    p = alpha / strength
    values = ((y - p) ** 2 + p * (1 - p) / (strength + 1)).sum(dim=-1)
    return _reduce(values, reduction)


def dirichlet_log_loss(
    alpha: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Type-II maximum likelihood loss (Sensoy et al., 2018, Eq. 3).

    :math:`\\sum_k y_k(\\log S-\\log\\alpha_k)`: the negative log of the expected probability
    of the label, i.e. the NLL of the predictive ``alpha / S``.

    Parameters
    ----------
    alpha, target, reduction
        As in :func:`dirichlet_mse_loss`.

    Examples
    --------
    >>> round(float(dirichlet_log_loss(torch.tensor([[3.0, 1.0]]), torch.tensor([0]))), 4)
    0.2877
    """
    y = _one_hot(target, alpha)
    values = (y * (torch.log(_strength(alpha)) - torch.log(alpha))).sum(dim=-1)
    return _reduce(values, reduction)


def dirichlet_digamma_loss(
    alpha: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Bayes risk of the cross-entropy under ``Dir(alpha)`` (Sensoy et al., 2018, Eq. 4).

    :math:`E_{p\\sim\\mathrm{Dir}(\\alpha)}[-\\sum_k y_k\\log p_k]
    = \\sum_k y_k(\\psi(S)-\\psi(\\alpha_k))`.

    Parameters
    ----------
    alpha, target, reduction
        As in :func:`dirichlet_mse_loss`.

    Examples
    --------
    >>> round(float(dirichlet_digamma_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([1]))), 4)
    1.0
    """
    y = _one_hot(target, alpha)
    values = (y * (torch.digamma(_strength(alpha)) - torch.digamma(alpha))).sum(dim=-1)
    return _reduce(values, reduction)


def dirichlet_kl_uniform(
    alpha: torch.Tensor, target: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """:math:`\\mathrm{KL}[\\mathrm{Dir}(\\tilde\\alpha)\\,\\|\\,\\mathrm{Dir}(\\mathbf 1)]`
    (Sensoy et al., 2018, the regulariser of the loss).

    With ``target`` the evidence of the true class is removed first,
    :math:`\\tilde\\alpha = y + (1-y)\\odot\\alpha`, so only misleading evidence is penalised;
    without ``target`` the KL of ``Dir(alpha)`` itself is returned. In closed form,

    .. math::

        \\log\\Gamma(\\tilde S) - \\log\\Gamma(C) - \\sum_k\\log\\Gamma(\\tilde\\alpha_k)
        + \\sum_k(\\tilde\\alpha_k-1)\\,(\\psi(\\tilde\\alpha_k)-\\psi(\\tilde S)).

    Parameters
    ----------
    alpha : Tensor of shape (..., C)
    target : Tensor, optional
        Integer labels ``(...)`` or one-hot ``(..., C)``.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> float(dirichlet_kl_uniform(torch.ones(1, 3)))  # Dir(1) against itself
    0.0
    """
    if target is not None:
        y = _one_hot(target, alpha)
        alpha = y + (1 - y) * alpha
    strength = alpha.sum(dim=-1)
    n_classes = alpha.shape[-1]
    values = (
        torch.lgamma(strength)
        - math.lgamma(n_classes)
        - torch.lgamma(alpha).sum(dim=-1)
        + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(strength)[..., None])).sum(dim=-1)
    )
    return _reduce(values, reduction)


def kl_annealing_coefficient(epoch: int, annealing_epochs: int) -> float:
    """:math:`\\lambda_t = \\min(1, t / \\text{annealing\\_epochs})` (Sensoy et al., 2018).

    The paper uses ``annealing_epochs = 10``; ``0`` gives the full weight from the start.

    Examples
    --------
    >>> [kl_annealing_coefficient(t, 10) for t in (0, 5, 10, 20)]
    [0.0, 0.5, 1.0, 1.0]
    """
    if annealing_epochs < 0 or epoch < 0:
        raise ValueError("epoch and annealing_epochs must be non-negative.")
    if annealing_epochs == 0:
        return 1.0
    return min(1.0, epoch / annealing_epochs)


_DIRICHLET_LOSS_FUNCTIONS = {
    "mse": dirichlet_mse_loss,
    "log": dirichlet_log_loss,
    "digamma": dirichlet_digamma_loss,
}


def evidential_classification_loss(
    alpha: torch.Tensor,
    target: torch.Tensor,
    loss: str = "mse",
    kl_weight: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Data term plus ``kl_weight`` × KL regulariser (Sensoy et al., 2018).

    Parameters
    ----------
    alpha : Tensor of shape (..., C)
    target : Tensor
        Integer labels ``(...)`` or one-hot ``(..., C)``.
    loss : {"mse", "log", "digamma"}
        Data term: Eq. 5, Eq. 3 or Eq. 4.
    kl_weight : float
        :math:`\\lambda_t`; see :func:`kl_annealing_coefficient`.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> alpha = torch.tensor([[5.0, 1.0, 1.0]])
    >>> float(evidential_classification_loss(alpha, torch.tensor([0]), "log", kl_weight=1.0))
    0.33647...
    """
    if loss not in _DIRICHLET_LOSS_FUNCTIONS:
        raise ValueError(f"loss must be one of {DIRICHLET_LOSSES}; got {loss!r}.")
    values = _DIRICHLET_LOSS_FUNCTIONS[loss](alpha, target, reduction="none")
    if kl_weight != 0.0:
        values = values + kl_weight * dirichlet_kl_uniform(alpha, target, reduction="none")
    return _reduce(values, reduction)


class EvidentialClassificationLoss(nn.Module):
    """Sensoy et al. (2018) loss with the annealed KL term, as a module with ``set_epoch``.

    Call ``set_epoch(t)`` at the start of every epoch (0-based); the KL weight is then
    ``kl_weight * min(1, t / annealing_epochs)``.

    Parameters
    ----------
    loss : {"mse", "log", "digamma"}, default="mse"
    annealing_epochs : int, default=10
    kl_weight : float, default=1.0
        Final weight of the KL term (``0`` switches it off).
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> criterion = EvidentialClassificationLoss("digamma", annealing_epochs=10)
    >>> criterion.set_epoch(5)
    >>> criterion.kl_coefficient
    0.5
    >>> alpha = torch.tensor([[4.0, 1.0], [1.0, 2.0]])
    >>> criterion(alpha, torch.tensor([0, 1])).shape
    torch.Size([])
    """

    def __init__(
        self,
        loss: str = "mse",
        annealing_epochs: int = 10,
        kl_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if loss not in DIRICHLET_LOSSES:
            raise ValueError(f"loss must be one of {DIRICHLET_LOSSES}; got {loss!r}.")
        if annealing_epochs < 0 or kl_weight < 0:
            raise ValueError("annealing_epochs and kl_weight must be non-negative.")
        self.loss = loss
        self.annealing_epochs = annealing_epochs
        self.kl_weight = kl_weight
        self.reduction = reduction
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the current (0-based) epoch ``t`` of the annealing schedule."""
        self.epoch = int(epoch)

    @property
    def kl_coefficient(self) -> float:
        """The current :math:`\\lambda_t`."""
        return self.kl_weight * kl_annealing_coefficient(self.epoch, self.annealing_epochs)

    def forward(self, alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return evidential_classification_loss(
            alpha, target, self.loss, self.kl_coefficient, self.reduction
        )


# ------------------------------------------------------------------------------ NIG
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
    return _reduce(values, reduction)


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
    return _reduce(values, reduction)


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
        Output of :func:`nig_parameters` (or :class:`NormalInverseGammaHead`), each ``(..., d)``.
    regularization : float
        :math:`\\lambda \\ge 0`.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> from uqkit.evidential import nig_parameters
    >>> params = nig_parameters(torch.zeros(3, 4))
    >>> evidential_regression_loss(torch.zeros(3, 1), params).shape
    torch.Size([])
    """
    if regularization < 0:
        raise ValueError(f"regularization must be non-negative; got {regularization}.")
    gamma, nu, alpha, beta = params
    if target.shape != gamma.shape:
        raise ValueError(
            f"target has shape {tuple(target.shape)} but the NIG parameters have shape "
            f"{tuple(gamma.shape)}; reshape the target to (..., n_targets)."
        )
    values = nig_nll(target, gamma, nu, alpha, beta, reduction="none")
    if regularization != 0.0:
        values = values + regularization * nig_regularizer(target, gamma, nu, alpha, "none")
    return _reduce(values, reduction)


class EvidentialRegressionLoss(nn.Module):
    """Amini et al. (2020) loss as a module: ``loss(params, target)``.

    Parameters
    ----------
    regularization : float, default=0.01
        Coefficient :math:`\\lambda` of the evidence regulariser (Eq. 10).
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> from uqkit.evidential import NormalInverseGammaHead
    >>> head, criterion = NormalInverseGammaHead(4), EvidentialRegressionLoss()
    >>> criterion(head(torch.randn(8, 4)), torch.randn(8, 1)).shape
    torch.Size([])
    """

    def __init__(self, regularization: float = 0.01, reduction: str = "mean") -> None:
        super().__init__()
        if regularization < 0:
            raise ValueError(f"regularization must be non-negative; got {regularization}.")
        self.regularization = regularization
        self.reduction = reduction

    def forward(self, params: NIGParameters, target: torch.Tensor) -> torch.Tensor:
        return evidential_regression_loss(target, params, self.regularization, self.reduction)
