"""Dirichlet head: raw logits → evidence → Dirichlet concentration (Sensoy et al., NeurIPS 2018).

The functional forms (:func:`dirichlet_evidence`, :func:`dirichlet_concentration`) work on any
tensor whose last axis holds the logits, so they apply unchanged to stacked
``(members, batch, classes)`` tensors; :class:`DirichletHead` is a linear layer followed by them,
to be put on top of a user's own feature extractor.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError

__all__ = ["EVIDENCE_FUNCTIONS", "DirichletHead", "dirichlet_concentration", "dirichlet_evidence"]

EVIDENCE_FUNCTIONS = ("relu", "softplus", "exp")


def _check_evidence(evidence: str) -> None:
    if evidence not in EVIDENCE_FUNCTIONS:
        raise InvalidInputError(f"evidence must be one of {EVIDENCE_FUNCTIONS}; got {evidence!r}.")


def dirichlet_evidence(
    logits: torch.Tensor, evidence: str = "softplus", clamp: float = 10.0
) -> torch.Tensor:
    """Non-negative evidence ``e = act(logits)`` (Sensoy, Kaplan & Kandemir, NeurIPS 2018).

    Parameters
    ----------
    logits : Tensor of shape (..., C)
        Raw network outputs, one per class.
    evidence : {"relu", "softplus", "exp"}
        The activation. ``"relu"`` is the paper's choice but has a zero-evidence region (no
        gradient once every logit is negative, Pandey & Yu, ICML 2023); ``"softplus"`` is smooth
        everywhere; ``"exp"`` is applied to ``logits.clamp(-clamp, clamp)`` so that the evidence
        stays below ``exp(clamp)``.
    clamp : float
        Clamp of the logits for ``"exp"``; ignored otherwise.

    Returns
    -------
    Tensor of shape (..., C)
        Evidence, ``>= 0``.

    Examples
    --------
    >>> dirichlet_evidence(torch.tensor([-1.0, 0.0, 2.0]), "relu")
    tensor([0., 0., 2.])
    """
    _check_evidence(evidence)
    if evidence == "relu":
        return F.relu(logits)
    if evidence == "softplus":
        return F.softplus(logits)
    if clamp <= 0:
        raise InvalidInputError(f"clamp must be positive; got {clamp}.")
    return torch.exp(logits.clamp(-clamp, clamp))


def dirichlet_concentration(
    logits: torch.Tensor, evidence: str = "softplus", clamp: float = 10.0
) -> torch.Tensor:
    """Dirichlet concentration ``e + 1`` from raw logits (Sensoy et al., 2018, Sec. 3).

    With the concentration :math:`\\alpha` and :math:`S = \\sum_k \\alpha_k`, the expected class
    probabilities are :math:`\\alpha / S` and the vacuity (uncertainty mass of subjective logic)
    is :math:`C / S`.

    Parameters
    ----------
    logits : Tensor of shape (..., C)
    evidence, clamp
        See :func:`dirichlet_evidence`.

    Returns
    -------
    Tensor of shape (..., C)
        Concentration, ``>= 1``.

    Examples
    --------
    >>> dirichlet_concentration(torch.tensor([0.0, 3.0]), "relu")
    tensor([1., 4.])
    """
    return dirichlet_evidence(logits, evidence, clamp) + 1.0


class DirichletHead(nn.Module):
    """Linear layer + evidence activation: features ``(..., in)`` → concentration ``(..., C)``.

    Parameters
    ----------
    in_features : int
        Width of the features it receives.
    n_classes : int
        Number of classes ``C``.
    evidence : {"relu", "softplus", "exp"}
        See :func:`dirichlet_evidence`.
    clamp : float
        Logit clamp of the ``"exp"`` evidence.

    Examples
    --------
    >>> head = DirichletHead(8, 3)
    >>> concentration = head(torch.randn(5, 8))
    >>> concentration.shape, bool((concentration >= 1).all())
    (torch.Size([5, 3]), True)
    """

    def __init__(
        self, in_features: int, n_classes: int, evidence: str = "softplus", clamp: float = 10.0
    ) -> None:
        super().__init__()
        _check_evidence(evidence)
        if n_classes < 2:
            raise InvalidInputError(f"n_classes must be at least 2; got {n_classes}.")
        self.linear = nn.Linear(in_features, n_classes)
        self.evidence = evidence
        self.clamp = clamp

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Concentration ``(..., C)`` of the Dirichlet for ``features`` ``(..., in_features)``."""
        return dirichlet_concentration(self.linear(features), self.evidence, self.clamp)
