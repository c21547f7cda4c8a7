"""Ensemble value heads that predict each member's value and the spread of its TD errors.

:class:`GGDValueHead` is the β-head critic of Kim et al. (2024): every member outputs a value and
a shape :math:`\\beta = \\beta_{min} + \\mathrm{softplus}(\\cdot)` of its GGD TD-error model, with
the scale :math:`\\alpha` fixed at 1 as in the paper or learned (``learn_alpha=True``).
:class:`GaussianValueHead` is the variance-head baseline (Mai et al., ICLR 2022): a value and a
variance per member.

The :math:`N` members are independent MLPs stored as one stacked model (member axis first, batched
matmuls), so one forward pass evaluates the whole ensemble. Calling a head returns the ensemble-mean
value with shape ``(batch, 1)``, so it can replace the linear value layer of any actor-critic;
:meth:`members` returns the per-member outputs with shape ``(n_members, batch)``.

Examples
--------
>>> import torch
>>> head = GGDValueHead(4, n_members=3, generator=torch.Generator().manual_seed(0))
>>> out = head.members(torch.zeros(2, 4))
>>> tuple(out.values.shape), round(float(out.beta.detach().mean()), 3)  # starts Gaussian
((3, 2), 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError
from uqkit.nn import StackedLinear
from uqkit.prediction import RegressionPrediction
from uqkit.rl._prediction import gaussian_ensemble_prediction, ggd_ensemble_prediction

__all__ = ["GGDHeadOutput", "GGDValueHead", "GaussianHeadOutput", "GaussianValueHead"]

_ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu, "silu": F.silu}


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


@dataclass(frozen=True)
class GGDHeadOutput:
    """Per-member outputs of a :class:`GGDValueHead`, each of shape ``(n_members, batch)``.

    Examples
    --------
    With ``alpha = 1`` and ``beta = 2`` every member is a Gaussian of variance
    :math:`\\alpha^2\\Gamma(3/\\beta)/\\Gamma(1/\\beta) = 1/2`:

    >>> import torch
    >>> out = GGDHeadOutput(values=torch.zeros(3, 2), alpha=torch.ones(3, 2),
    ...                     beta=torch.full((3, 2), 2.0))
    >>> pred = out.to_prediction()
    >>> pred.distribution, pred.mean, pred.total
    ('ggd', array([0., 0.]), array([0.5, 0.5]))
    """

    values: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor

    def to_prediction(self) -> RegressionPrediction:
        """The ensemble's GGD predictive (see :func:`ggd_ensemble_prediction`)."""
        return ggd_ensemble_prediction(self.values, self.alpha, self.beta)


@dataclass(frozen=True)
class GaussianHeadOutput:
    """Per-member outputs of a :class:`GaussianValueHead`, each of shape ``(n_members, batch)``.

    Examples
    --------
    Two members with unit variance whose values differ by 2: the mixture's variance splits into
    aleatoric 1 and epistemic 1.

    >>> import torch
    >>> out = GaussianHeadOutput(values=torch.tensor([[0.0, 1.0], [2.0, 3.0]]),
    ...                          variance=torch.ones(2, 2))
    >>> pred = out.to_prediction()
    >>> pred.mean, pred.aleatoric, pred.epistemic
    (array([1., 2.]), array([1., 1.]), array([1., 1.]))
    """

    values: torch.Tensor
    variance: torch.Tensor

    def to_prediction(self) -> RegressionPrediction:
        """The ensemble's Gaussian-mixture predictive (see :func:`gaussian_ensemble_prediction`)."""
        return gaussian_ensemble_prediction(self.values, self.variance)


class _EnsembleValueHead(nn.Module):
    """``n_members`` independent MLPs ``in_features -> hidden_sizes -> n_outputs``, stacked."""

    def __init__(
        self,
        in_features: int,
        n_outputs: int,
        n_members: int,
        hidden_sizes: Sequence[int],
        activation: str,
    ) -> None:
        super().__init__()
        if int(n_members) < 1:
            raise InvalidInputError(f"n_members must be a positive integer; got {n_members}.")
        if activation not in _ACTIVATIONS:
            raise InvalidInputError(
                f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}."
            )
        if int(in_features) < 1 or any(int(h) < 1 for h in hidden_sizes):
            raise InvalidInputError("in_features and hidden_sizes must be positive integers.")
        self.n_members = int(n_members)
        self.in_features = int(in_features)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.activation = activation
        sizes = (self.in_features, *self.hidden_sizes, int(n_outputs))
        self.layers = nn.ModuleList(
            StackedLinear(self.n_members, sizes[j], sizes[j + 1]) for j in range(len(sizes) - 1)
        )

    def _orthogonal_init(self, output_gains: Sequence[float], generator) -> None:
        """Orthogonal init per member (gain sqrt 2 inside, ``output_gains`` per output column),
        zero biases: the actor-critic initialisation of stable-baselines3 / openai baselines."""
        with torch.no_grad():
            for j, layer in enumerate(self.layers):
                last = j == len(self.layers) - 1
                for i in range(self.n_members):
                    weight = torch.empty(layer.weight.shape[2], layer.weight.shape[1])
                    nn.init.orthogonal_(weight, gain=1.0 if last else math.sqrt(2.0),
                                        generator=generator)
                    if last:
                        weight *= torch.tensor(output_gains, dtype=weight.dtype)[:, None]
                    layer.weight[i].copy_(weight.T)
                layer.bias.zero_()

    def _raw(self, latent: torch.Tensor) -> torch.Tensor:
        """``(batch, in_features)`` → raw outputs ``(n_members, batch, n_outputs)``."""
        if latent.ndim != 2 or latent.shape[1] != self.in_features:
            raise InvalidInputError(
                f"expected input of shape (batch, {self.in_features}); got {tuple(latent.shape)}."
            )
        act = _ACTIVATIONS[self.activation]
        h = latent.unsqueeze(0).expand(self.n_members, -1, -1)
        for j, layer in enumerate(self.layers):
            h = layer(h)
            if j < len(self.layers) - 1:
                h = act(h)
        return h

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean value, shape ``(batch, 1)``."""
        return self.members(latent).values.mean(dim=0).unsqueeze(-1)

    def members(self, latent: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError


class GGDValueHead(_EnsembleValueHead):
    """Ensemble of GGD value heads: each member predicts :math:`(V_i, \\beta_i)` and optionally
    :math:`\\alpha_i` (Kim et al., 2024, β-head).

    Parameters
    ----------
    in_features : int
        Size of the input (e.g. an actor-critic's critic latent or the flattened observation).
    n_members : int, default=5
        Ensemble size :math:`N`. BIEV weights need at least 4.
    hidden_sizes : sequence of int, default=(64, 64)
        Hidden layers of each member MLP.
    learn_alpha : bool, default=False
        Learn the GGD scale per member (``alpha = softplus(.) + 1e-3``, starting at 1); otherwise
        :math:`\\alpha = 1` as in the paper.
    beta_min : float, default=0.05
        Floor of :math:`\\beta = \\beta_{min} + \\mathrm{softplus}(\\cdot)`; keeps
        :math:`\\ln\\Gamma(1/\\beta)` finite.
    initial_beta : float, default=2.0
        :math:`\\beta` at initialisation (2: every member starts Gaussian).
    activation : {"tanh", "relu", "silu"}, default="tanh"
        Hidden activation.
    generator : torch.Generator, optional
        Source of the initial weights (each member gets its own draws); the global generator when
        omitted, as ``torch.nn`` layers do.

    Examples
    --------
    >>> import torch
    >>> head = GGDValueHead(3, n_members=4, learn_alpha=True,
    ...                     generator=torch.Generator().manual_seed(0))
    >>> head(torch.zeros(5, 3)).shape
    torch.Size([5, 1])
    >>> pred = head.members(torch.zeros(5, 3)).to_prediction()
    >>> pred.distribution, len(pred)
    ('ggd', 5)
    """

    def __init__(
        self,
        in_features: int,
        n_members: int = 5,
        hidden_sizes: Sequence[int] = (64, 64),
        learn_alpha: bool = False,
        beta_min: float = 0.05,
        initial_beta: float = 2.0,
        activation: str = "tanh",
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < beta_min < initial_beta:
            raise InvalidInputError(
                f"need 0 < beta_min < initial_beta; got beta_min={beta_min}, "
                f"initial_beta={initial_beta}."
            )
        super().__init__(in_features, 3 if learn_alpha else 2, n_members, hidden_sizes, activation)
        self.learn_alpha = bool(learn_alpha)
        self.beta_min = float(beta_min)
        self.alpha_min = 1e-3
        gains = [1.0, 0.01] + ([0.01] if self.learn_alpha else [])
        self._orthogonal_init(gains, generator)
        with torch.no_grad():
            bias = self.layers[-1].bias
            bias[..., 1] = _inverse_softplus(initial_beta - self.beta_min)
            if self.learn_alpha:
                bias[..., 2] = _inverse_softplus(1.0 - self.alpha_min)

    def members(self, latent: torch.Tensor) -> GGDHeadOutput:
        """Per-member value, scale and shape for a batch of inputs.

        Parameters
        ----------
        latent : torch.Tensor of shape (batch, in_features)

        Returns
        -------
        GGDHeadOutput
            ``values``, ``alpha``, ``beta``, each ``(n_members, batch)``.
        """
        raw = self._raw(latent)
        values = raw[..., 0]
        beta = F.softplus(raw[..., 1]) + self.beta_min
        if self.learn_alpha:
            alpha = F.softplus(raw[..., 2]) + self.alpha_min
        else:
            alpha = torch.ones_like(values)
        return GGDHeadOutput(values=values, alpha=alpha, beta=beta)


class GaussianValueHead(_EnsembleValueHead):
    """Ensemble of variance heads: each member predicts :math:`(V_i, \\sigma_i^2)` (Mai et al.,
    ICLR 2022; Kendall & Gal, 2017).

    Parameters
    ----------
    in_features : int
        Input size.
    n_members : int, default=5
        Ensemble size.
    hidden_sizes : sequence of int, default=(64, 64)
        Hidden layers of each member MLP.
    variance_min : float, default=1e-4
        Floor of :math:`\\sigma^2 = \\sigma^2_{min} + \\mathrm{softplus}(\\cdot)`.
    activation : {"tanh", "relu", "silu"}, default="tanh"
        Hidden activation.
    generator : torch.Generator, optional
        Source of the initial weights.

    Examples
    --------
    >>> import torch
    >>> head = GaussianValueHead(3, n_members=2, generator=torch.Generator().manual_seed(0))
    >>> out = head.members(torch.zeros(4, 3))
    >>> tuple(out.variance.shape), round(float(out.variance.detach().mean()), 3)
    ((2, 4), 1.0)
    """

    def __init__(
        self,
        in_features: int,
        n_members: int = 5,
        hidden_sizes: Sequence[int] = (64, 64),
        variance_min: float = 1e-4,
        activation: str = "tanh",
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < variance_min < 1:
            raise InvalidInputError(f"variance_min must be in (0, 1); got {variance_min}.")
        super().__init__(in_features, 2, n_members, hidden_sizes, activation)
        self.variance_min = float(variance_min)
        self._orthogonal_init([1.0, 0.01], generator)
        with torch.no_grad():
            self.layers[-1].bias[..., 1] = _inverse_softplus(1.0 - self.variance_min)

    def members(self, latent: torch.Tensor) -> GaussianHeadOutput:
        """Per-member value and variance, each ``(n_members, batch)``.

        Parameters
        ----------
        latent : torch.Tensor of shape (batch, in_features)

        Returns
        -------
        GaussianHeadOutput
        """
        raw = self._raw(latent)
        variance = F.softplus(raw[..., 1]) + self.variance_min
        return GaussianHeadOutput(values=raw[..., 0], variance=variance)
