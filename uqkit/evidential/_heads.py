"""Evidential output heads: raw network outputs → Dirichlet or Normal-Inverse-Gamma parameters.

Functional forms (:func:`dirichlet_evidence`, :func:`dirichlet_alpha`, :func:`nig_parameters`)
work on any tensor whose last axis holds the raw outputs, so they apply unchanged to stacked
``(members, batch, outputs)`` tensors. The module forms (:class:`DirichletHead`,
:class:`NormalInverseGammaHead`) are a linear layer followed by the functional head, to be put on
top of a user's own feature extractor.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "EVIDENCE_FUNCTIONS",
    "DirichletHead",
    "NIGParameters",
    "NormalInverseGammaHead",
    "dirichlet_alpha",
    "dirichlet_evidence",
    "nig_parameters",
]

EVIDENCE_FUNCTIONS = ("relu", "softplus", "exp")
NIG_EPS = 1e-6


def _check_evidence(evidence: str) -> None:
    if evidence not in EVIDENCE_FUNCTIONS:
        raise ValueError(f"evidence must be one of {EVIDENCE_FUNCTIONS}; got {evidence!r}.")


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
        raise ValueError(f"clamp must be positive; got {clamp}.")
    return torch.exp(logits.clamp(-clamp, clamp))


def dirichlet_alpha(
    logits: torch.Tensor, evidence: str = "softplus", clamp: float = 10.0
) -> torch.Tensor:
    """Dirichlet concentration ``alpha = e + 1`` from raw logits (Sensoy et al., 2018).

    With ``S = sum(alpha)``, the expected class probabilities are ``alpha / S`` and the vacuity
    (uncertainty mass of subjective logic) is ``C / S``.

    Parameters
    ----------
    logits : Tensor of shape (..., C)
    evidence, clamp
        See :func:`dirichlet_evidence`.

    Returns
    -------
    Tensor of shape (..., C)
        ``alpha >= 1``.

    Examples
    --------
    >>> dirichlet_alpha(torch.tensor([0.0, 3.0]), "relu")
    tensor([1., 4.])
    """
    return dirichlet_evidence(logits, evidence, clamp) + 1.0


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
        raise ValueError(
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


class DirichletHead(nn.Module):
    """Linear layer + evidence activation: features ``(..., in)`` → Dirichlet ``alpha (..., C)``.

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
    >>> alpha = head(torch.randn(5, 8))
    >>> alpha.shape, bool((alpha >= 1).all())
    (torch.Size([5, 3]), True)
    """

    def __init__(
        self, in_features: int, n_classes: int, evidence: str = "softplus", clamp: float = 10.0
    ) -> None:
        super().__init__()
        _check_evidence(evidence)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2; got {n_classes}.")
        self.linear = nn.Linear(in_features, n_classes)
        self.evidence = evidence
        self.clamp = clamp

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return dirichlet_alpha(self.linear(features), self.evidence, self.clamp)


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
        return nig_parameters(self.linear(features), self.eps)
