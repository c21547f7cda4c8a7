"""Per-member evidential losses in the form :func:`uqkit.training.train_stack` expects.

``loss_fn(raw (k, b, out), target (k, b, ...)) -> (k,)``, with a ``set_epoch`` hook for the
annealed KL term of the Dirichlet loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from uqkit.evidential._heads import dirichlet_alpha, nig_parameters
from uqkit.evidential._losses import (
    evidential_classification_loss,
    evidential_regression_loss,
    kl_annealing_coefficient,
)


@dataclass
class DirichletMemberLoss:
    """Sensoy et al. (2018) loss on raw logits ``(k, b, C)`` against labels ``(k, b)``.

    During gradient steps it is the annealed objective, ``data + lambda_t * KL``. Validation data
    (early stopping) is scored by :meth:`validation_loss`, the *final* objective
    ``data + kl_weight * KL``: the criterion must not change with the epoch, or a rising
    ``lambda_t`` alone would make early epochs look best.
    """

    loss: str = "mse"
    evidence: str = "softplus"
    clamp: float = 10.0
    annealing_epochs: int = 10
    kl_weight: float = 1.0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _objective(self, raw: torch.Tensor, target: torch.Tensor, weight: float) -> torch.Tensor:
        alpha = dirichlet_alpha(raw, self.evidence, self.clamp)
        values = evidential_classification_loss(alpha, target, self.loss, weight, "none")
        return values.mean(dim=1)

    def validation_loss(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._objective(raw, target, self.kl_weight)

    def __call__(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.kl_weight * kl_annealing_coefficient(self.epoch, self.annealing_epochs)
        return self._objective(raw, target, weight)


@dataclass
class NIGMemberLoss:
    """Amini et al. (2020) loss on raw outputs ``(k, b, 4d)`` against targets ``(k, b, d)``."""

    regularization: float = 0.01

    def __call__(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        params = nig_parameters(raw)
        values = evidential_regression_loss(target, params, self.regularization, "none")
        return values.flatten(1).mean(dim=1)
