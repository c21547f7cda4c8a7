"""Per-member evidential losses for :func:`uqkit.training.train_stack`: raw outputs of ``k``
stacked members through the Dirichlet or NIG head of :mod:`uqkit.nn`, into one loss per member.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from uqkit.losses._dirichlet import evidential_classification_loss, kl_annealing_coefficient
from uqkit.losses._member import MemberLoss, row_mean
from uqkit.losses._nig import evidential_regression_loss
from uqkit.nn import dirichlet_concentration, nig_parameters

__all__ = ["DirichletMemberLoss", "NIGMemberLoss"]


@dataclass
class DirichletMemberLoss(MemberLoss):
    """Sensoy et al. (2018) loss on raw logits ``(k, b, C)`` against labels ``(k, b)`` → ``(k,)``.

    During gradient steps it is the annealed objective, ``data + lambda_t * KL`` with
    :math:`\\lambda_t` from :func:`kl_annealing_coefficient` at the epoch :meth:`set_epoch` last
    received. Validation data (early stopping) is scored by :meth:`validation_loss`, the *final*
    objective ``data + kl_weight * KL``: the criterion must not change with the epoch, or a
    rising ``lambda_t`` alone would make early epochs look best.

    Parameters
    ----------
    loss : {"mse", "log", "digamma"}, default="mse"
        Data term, see :func:`evidential_classification_loss`.
    evidence : {"relu", "softplus", "exp"}, default="softplus"
        Evidence activation, see :func:`uqkit.nn.dirichlet_evidence`.
    clamp : float, default=10.0
        Logit clamp of the ``"exp"`` evidence.
    annealing_epochs : int, default=10
    kl_weight : float, default=1.0
        Final weight of the KL term.
    epoch : int, default=0
        Current epoch of the annealing schedule.

    Examples
    --------
    At epoch 0 the KL term has no weight yet; the validation criterion has its full weight:

    >>> loss = DirichletMemberLoss(loss="log")
    >>> raw, labels = torch.zeros(2, 4, 3), torch.zeros(2, 4, dtype=torch.long)
    >>> loss(raw, labels).shape
    torch.Size([2])
    >>> bool((loss.validation_loss(raw, labels) >= loss(raw, labels)).all())
    True
    """

    loss: str = "mse"
    evidence: str = "softplus"
    clamp: float = 10.0
    annealing_epochs: int = 10
    kl_weight: float = 1.0
    epoch: int = 0

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Move the annealing schedule to 0-based ``epoch`` (of ``epochs``, not needed here)."""
        self.epoch = int(epoch)

    def _objective(self, raw, target, kl_weight: float, weight) -> torch.Tensor:
        concentration = dirichlet_concentration(raw, self.evidence, self.clamp)
        values = evidential_classification_loss(concentration, target, self.loss, kl_weight,
                                                "none")
        return row_mean(values, weight)

    def validation_loss(self, raw, target, weight=None) -> torch.Tensor:
        """The final objective, with the full ``kl_weight``, per member ``(k,)``."""
        return self._objective(raw, target, self.kl_weight, weight)

    def __call__(self, raw, target, weight=None) -> torch.Tensor:
        kl_weight = self.kl_weight * kl_annealing_coefficient(self.epoch, self.annealing_epochs)
        return self._objective(raw, target, kl_weight, weight)


@dataclass
class NIGMemberLoss(MemberLoss):
    """Amini et al. (2020) loss on raw outputs ``(k, b, 4d)`` against targets ``(k, b, d)``.

    The raw outputs go through :func:`uqkit.nn.nig_parameters`; the loss is
    :func:`evidential_regression_loss` averaged over the batch and targets of each member.

    Parameters
    ----------
    regularization : float, default=0.01
        Coefficient :math:`\\lambda` of the evidence regulariser (Eq. 10).

    Examples
    --------
    >>> NIGMemberLoss()(torch.zeros(3, 5, 4), torch.zeros(3, 5, 1)).shape
    torch.Size([3])
    """

    regularization: float = 0.01

    def __call__(self, raw, target, weight=None) -> torch.Tensor:
        params = nig_parameters(raw)
        values = evidential_regression_loss(target, params, self.regularization, "none")
        return row_mean(values, weight)
