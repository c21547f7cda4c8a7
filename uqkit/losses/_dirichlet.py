"""Evidential classification losses on a Dirichlet (Sensoy, Kaplan & Kandemir, NeurIPS 2018).

With the Dirichlet concentration :math:`\\alpha` (``concentration``), strength
:math:`S=\\sum_k\\alpha_k`, expected probabilities :math:`p=\\alpha/S` and one-hot labels :math:`y`,

* Bayes risk of the squared error (Eq. 5): :math:`\\sum_k (y_k-p_k)^2 + p_k(1-p_k)/(S+1)`;
* type-II maximum likelihood, "log" (Eq. 3): :math:`\\sum_k y_k(\\log S - \\log\\alpha_k)`;
* Bayes risk of the cross-entropy, "digamma" (Eq. 4):
  :math:`\\sum_k y_k(\\psi(S)-\\psi(\\alpha_k))`;
* the regulariser :math:`\\lambda_t\\,\\mathrm{KL}[\\mathrm{Dir}(\\tilde\\alpha)\\,\\|\\,
  \\mathrm{Dir}(\\mathbf 1)]` with :math:`\\tilde\\alpha = y + (1-y)\\odot\\alpha` (the evidence of
  the true class removed) and :math:`\\lambda_t=\\min(1, t/10)` in epoch :math:`t`.

Every function takes a ``reduction`` (``"mean"``, ``"sum"`` or ``"none"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from uqkit.exceptions import InvalidInputError
from uqkit.losses._inputs import reduce_loss

__all__ = [
    "DIRICHLET_LOSSES",
    "EvidentialClassificationLoss",
    "dirichlet_digamma_loss",
    "dirichlet_kl_uniform",
    "dirichlet_log_loss",
    "dirichlet_mse_loss",
    "evidential_classification_loss",
    "kl_annealing_coefficient",
]

DIRICHLET_LOSSES = ("mse", "log", "digamma")


def _one_hot(target: torch.Tensor, concentration: torch.Tensor) -> torch.Tensor:
    """Labels ``(...)`` (integers) or one-hot/soft targets ``(..., C)`` → float ``(..., C)``."""
    n_classes = concentration.shape[-1]
    if not torch.is_floating_point(target):
        if target.shape != concentration.shape[:-1]:
            raise InvalidInputError(
                f"integer labels must have shape {tuple(concentration.shape[:-1])} (the "
                f"concentration without its class axis); got {tuple(target.shape)}."
            )
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= n_classes):
            raise InvalidInputError(f"labels must lie in [0, {n_classes - 1}].")
        return nn.functional.one_hot(target.long(), n_classes).to(concentration.dtype)
    if target.shape != concentration.shape:
        raise InvalidInputError(
            f"one-hot targets must have the shape of the concentration "
            f"{tuple(concentration.shape)}; got {tuple(target.shape)}."
        )
    return target.to(concentration.dtype)


def _strength(concentration: torch.Tensor) -> torch.Tensor:
    return concentration.sum(dim=-1, keepdim=True)


def dirichlet_mse_loss(
    concentration: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Bayes risk of the squared error under ``Dir(concentration)`` (Sensoy et al., 2018, Eq. 5).

    :math:`E_{p\\sim\\mathrm{Dir}(\\alpha)}\\|y-p\\|^2 = \\sum_k (y_k-\\hat p_k)^2 +
    \\hat p_k(1-\\hat p_k)/(S+1)`, with :math:`\\hat p=\\alpha/S`.

    Parameters
    ----------
    concentration : Tensor of shape (..., C)
        Dirichlet concentration :math:`\\alpha` (``> 0``).
    target : Tensor of shape (...) with integer labels, or (..., C) one-hot
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample, shape ``(...)``.

    Examples
    --------
    >>> concentration = torch.tensor([[9.0, 1.0]])
    >>> round(float(dirichlet_mse_loss(concentration, torch.tensor([0]))), 4)
    0.0364
    """
    y = _one_hot(target, concentration)
    strength = _strength(concentration)
    p = concentration / strength
    values = ((y - p) ** 2 + p * (1 - p) / (strength + 1)).sum(dim=-1)
    return reduce_loss(values, reduction)


def dirichlet_log_loss(
    concentration: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Type-II maximum likelihood loss (Sensoy et al., 2018, Eq. 3).

    :math:`\\sum_k y_k(\\log S-\\log\\alpha_k)`: the negative log of the expected probability
    of the label, i.e. the NLL of the predictive ``concentration / S``.

    Parameters
    ----------
    concentration, target, reduction
        As in :func:`dirichlet_mse_loss`.

    Examples
    --------
    >>> round(float(dirichlet_log_loss(torch.tensor([[3.0, 1.0]]), torch.tensor([0]))), 4)
    0.2877
    """
    y = _one_hot(target, concentration)
    values = (y * (torch.log(_strength(concentration)) - torch.log(concentration))).sum(dim=-1)
    return reduce_loss(values, reduction)


def dirichlet_digamma_loss(
    concentration: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Bayes risk of the cross-entropy under ``Dir(concentration)`` (Sensoy et al., 2018, Eq. 4).

    :math:`E_{p\\sim\\mathrm{Dir}(\\alpha)}[-\\sum_k y_k\\log p_k]
    = \\sum_k y_k(\\psi(S)-\\psi(\\alpha_k))`.

    Parameters
    ----------
    concentration, target, reduction
        As in :func:`dirichlet_mse_loss`.

    Examples
    --------
    >>> round(float(dirichlet_digamma_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([1]))), 4)
    1.0
    """
    y = _one_hot(target, concentration)
    strength = _strength(concentration)
    values = (y * (torch.digamma(strength) - torch.digamma(concentration))).sum(dim=-1)
    return reduce_loss(values, reduction)


def dirichlet_kl_uniform(
    concentration: torch.Tensor, target: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """:math:`\\mathrm{KL}[\\mathrm{Dir}(\\tilde\\alpha)\\,\\|\\,\\mathrm{Dir}(\\mathbf 1)]`
    (Sensoy et al., 2018, the regulariser of the loss).

    With ``target`` the evidence of the true class is removed first,
    :math:`\\tilde\\alpha = y + (1-y)\\odot\\alpha`, so only misleading evidence is penalised;
    without ``target`` the KL of ``Dir(concentration)`` itself is returned. In closed form,

    .. math::

        \\log\\Gamma(\\tilde S) - \\log\\Gamma(C) - \\sum_k\\log\\Gamma(\\tilde\\alpha_k)
        + \\sum_k(\\tilde\\alpha_k-1)\\,(\\psi(\\tilde\\alpha_k)-\\psi(\\tilde S)).

    Parameters
    ----------
    concentration : Tensor of shape (..., C)
    target : Tensor, optional
        Integer labels ``(...)`` or one-hot ``(..., C)``.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> float(dirichlet_kl_uniform(torch.ones(1, 3)))  # Dir(1) against itself
    0.0
    """
    if target is not None:
        y = _one_hot(target, concentration)
        concentration = y + (1 - y) * concentration
    a = concentration
    strength = a.sum(dim=-1)
    n_classes = a.shape[-1]
    values = (
        torch.lgamma(strength)
        - math.lgamma(n_classes)
        - torch.lgamma(a).sum(dim=-1)
        + ((a - 1) * (torch.digamma(a) - torch.digamma(strength)[..., None])).sum(dim=-1)
    )
    return reduce_loss(values, reduction)


def kl_annealing_coefficient(epoch: int, annealing_epochs: int) -> float:
    """:math:`\\lambda_t = \\min(1, t / \\text{annealing\\_epochs})` (Sensoy et al., 2018).

    The paper uses ``annealing_epochs = 10``; ``0`` gives the full weight from the start.

    Examples
    --------
    >>> [kl_annealing_coefficient(t, 10) for t in (0, 5, 10, 20)]
    [0.0, 0.5, 1.0, 1.0]
    """
    if annealing_epochs < 0 or epoch < 0:
        raise InvalidInputError("epoch and annealing_epochs must be non-negative.")
    if annealing_epochs == 0:
        return 1.0
    return min(1.0, epoch / annealing_epochs)


_DIRICHLET_LOSS_FUNCTIONS = {
    "mse": dirichlet_mse_loss,
    "log": dirichlet_log_loss,
    "digamma": dirichlet_digamma_loss,
}


def evidential_classification_loss(
    concentration: torch.Tensor,
    target: torch.Tensor,
    loss: str = "mse",
    kl_weight: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Data term plus ``kl_weight`` × KL regulariser (Sensoy et al., 2018).

    Parameters
    ----------
    concentration : Tensor of shape (..., C)
        Dirichlet concentration, e.g. from :func:`uqkit.nn.dirichlet_concentration`.
    target : Tensor
        Integer labels ``(...)`` or one-hot ``(..., C)``.
    loss : {"mse", "log", "digamma"}
        Data term: Eq. 5, Eq. 3 or Eq. 4.
    kl_weight : float
        :math:`\\lambda_t`; see :func:`kl_annealing_coefficient`.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> concentration = torch.tensor([[5.0, 1.0, 1.0]])
    >>> float(evidential_classification_loss(concentration, torch.tensor([0]), "log", 1.0))
    0.33647...
    """
    if loss not in _DIRICHLET_LOSS_FUNCTIONS:
        raise InvalidInputError(f"loss must be one of {DIRICHLET_LOSSES}; got {loss!r}.")
    values = _DIRICHLET_LOSS_FUNCTIONS[loss](concentration, target, reduction="none")
    if kl_weight != 0.0:
        values = values + kl_weight * dirichlet_kl_uniform(concentration, target, reduction="none")
    return reduce_loss(values, reduction)


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
    >>> concentration = torch.tensor([[4.0, 1.0], [1.0, 2.0]])
    >>> criterion(concentration, torch.tensor([0, 1])).shape
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
            raise InvalidInputError(f"loss must be one of {DIRICHLET_LOSSES}; got {loss!r}.")
        if annealing_epochs < 0 or kl_weight < 0:
            raise InvalidInputError("annealing_epochs and kl_weight must be non-negative.")
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

    def forward(self, concentration: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``concentration`` ``(..., C)`` against labels or one-hot targets."""
        return evidential_classification_loss(
            concentration, target, self.loss, self.kl_coefficient, self.reduction
        )
