"""Gaussian value head: an ensemble of critics that each predict a value and the variance of its
TD errors (the variance-head baseline of Mai et al., ICLR 2022).

Examples
--------
>>> import torch
>>> head = GaussianValueHead(3, n_members=2, generator=torch.Generator().manual_seed(0))
>>> head.members(torch.zeros(4, 3)).to_prediction().distribution
'mixture'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError
from uqkit.nn._value_head import EnsembleValueHead, inverse_softplus
from uqkit.nn._value_prediction import gaussian_ensemble_prediction
from uqkit.prediction import RegressionPrediction

__all__ = ["GaussianHeadOutput", "GaussianValueHead"]


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


class GaussianValueHead(EnsembleValueHead):
    """Ensemble of variance heads: each member predicts :math:`(V_i, \\sigma_i^2)` (Mai et al.,
    ICLR 2022; Kendall & Gal, 2017).

    Parameters
    ----------
    in_features : int
        Input size.
    n_members : int, default=5
        Ensemble size.
    hidden_layers : sequence of int, default=(64, 64)
        Hidden layers of each member MLP.
    variance_min : float, default=1e-4
        Floor of :math:`\\sigma^2 = \\sigma^2_{min} + \\mathrm{softplus}(\\cdot)`.
    activation : str, default="tanh"
        Hidden activation, a name in :data:`uqkit.nn.ACTIVATIONS`.
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
        hidden_layers: Sequence[int] = (64, 64),
        variance_min: float = 1e-4,
        activation: str = "tanh",
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < variance_min < 1:
            raise InvalidInputError(f"variance_min must be in (0, 1); got {variance_min}.")
        super().__init__(in_features, 2, n_members, hidden_layers, activation)
        self.variance_min = float(variance_min)
        self._orthogonal_init([1.0, 0.01], generator)
        with torch.no_grad():
            self.layers[-1].bias[..., 1] = inverse_softplus(1.0 - self.variance_min)

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
