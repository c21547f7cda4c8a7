"""The stacked MLP shared by the ensemble value heads of :mod:`uqkit.nn` (GGD and Gaussian).

``n_members`` independent MLPs stored as one stacked model (member axis first, batched matmuls),
so one forward pass evaluates the whole ensemble; the subclasses turn the raw outputs into a value
and the parameters of each member's TD-error model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from uqkit.exceptions import InvalidInputError
from uqkit.nn._activations import ACTIVATIONS
from uqkit.nn._stacked import StackedLinear


def inverse_softplus(value: float) -> float:
    """The ``x`` with ``softplus(x) = value`` (for ``value > 0``): used to set an initial output."""
    return value + math.log(-math.expm1(-value))


class EnsembleValueHead(nn.Module):
    """``n_members`` independent MLPs ``in_features -> hidden_layers -> n_outputs``, stacked.

    Subclasses implement :meth:`members`; calling the head returns the ensemble-mean value with
    shape ``(batch, 1)``, so it can replace the linear value layer of any actor-critic.
    """

    def __init__(
        self,
        in_features: int,
        n_outputs: int,
        n_members: int,
        hidden_layers: Sequence[int],
        activation: str,
    ) -> None:
        super().__init__()
        if int(n_members) < 1:
            raise InvalidInputError(f"n_members must be a positive integer; got {n_members}.")
        if activation not in ACTIVATIONS:
            raise InvalidInputError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        if int(in_features) < 1 or any(int(h) < 1 for h in hidden_layers):
            raise InvalidInputError("in_features and hidden_layers must be positive integers.")
        self.n_members = int(n_members)
        self.in_features = int(in_features)
        self.hidden_layers = tuple(int(h) for h in hidden_layers)
        self.activation = activation
        sizes = (self.in_features, *self.hidden_layers, int(n_outputs))
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
        act = ACTIVATIONS[self.activation]
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
        """Per-member outputs, each ``(n_members, batch)``; defined by the subclasses."""
        raise NotImplementedError
