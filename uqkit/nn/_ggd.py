"""GGD value head: an ensemble of critics that each predict a value and the generalized Gaussian
of its TD errors (the β-head critic of Kim et al., 2024).

Every member outputs a value and a shape ``shape = min(shape_min + softplus(.), shape_max)`` of
its GGD TD-error model (:math:`\\beta` in the paper), with the scale (:math:`\\alpha`) fixed at 1
as in the paper or learned (``learn_scale=True``). A shape clamped at ``shape_max`` is said so
with a :class:`~uqkit.exceptions.UQKitWarning`.

Examples
--------
>>> import torch
>>> head = GGDValueHead(4, n_members=3, generator=torch.Generator().manual_seed(0))
>>> out = head.members(torch.zeros(2, 4))
>>> tuple(out.values.shape), round(float(out.shape.detach().mean()), 3)  # starts Gaussian
((3, 2), 2.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError, UQKitWarning
from uqkit.nn._value_head import EnsembleValueHead, inverse_softplus
from uqkit.nn._value_prediction import ggd_ensemble_prediction
from uqkit.prediction import RegressionPrediction

__all__ = ["GGDHeadOutput", "GGDValueHead"]


@dataclass(frozen=True)
class GGDHeadOutput:
    """Per-member outputs of a :class:`GGDValueHead`, each of shape ``(n_members, batch)``.

    Attributes
    ----------
    values : torch.Tensor
        Each member's value.
    scale : torch.Tensor
        GGD scale (:math:`\\alpha` of Kim et al., 2024).
    shape : torch.Tensor
        GGD shape (:math:`\\beta` of Kim et al., 2024).

    Examples
    --------
    With ``scale = 1`` and ``shape = 2`` every member is a Gaussian of variance
    :math:`\\Gamma(3/2)/\\Gamma(1/2) = 1/2`:

    >>> import torch
    >>> out = GGDHeadOutput(values=torch.zeros(3, 2), scale=torch.ones(3, 2),
    ...                     shape=torch.full((3, 2), 2.0))
    >>> pred = out.to_prediction()
    >>> pred.distribution, pred.mean, pred.total
    ('ggd', array([0., 0.]), array([0.5, 0.5]))
    """

    values: torch.Tensor
    scale: torch.Tensor
    shape: torch.Tensor

    def to_prediction(self) -> RegressionPrediction:
        """The ensemble's GGD predictive (see :func:`ggd_ensemble_prediction`)."""
        return ggd_ensemble_prediction(self.values, self.scale, self.shape)


class GGDValueHead(EnsembleValueHead):
    """Ensemble of GGD value heads: each member predicts its value, the shape and optionally the
    scale of its TD-error GGD (Kim et al., 2024, β-head).

    The members are independent MLPs stored as one stacked model; calling the head returns the
    ensemble-mean value ``(batch, 1)``, :meth:`members` the per-member outputs.

    Parameters
    ----------
    in_features : int
        Size of the input (e.g. an actor-critic's critic latent or the flattened observation).
    n_members : int, default=5
        Ensemble size :math:`N`. BIEV weights need at least 4.
    hidden_layers : sequence of int, default=(64, 64)
        Hidden layers of each member MLP.
    learn_scale : bool, default=False
        Learn the GGD scale per member (``scale = softplus(.) + 1e-3``, starting at 1); otherwise
        the scale is 1 as in the paper.
    shape_min : float, default=0.05
        Floor of ``shape = shape_min + softplus(.)``; keeps :math:`\\ln\\Gamma(1/\\text{shape})`
        finite.
    shape_max : float, default=10.0
        Ceiling of the shape. Past it :math:`(|\\delta|/s)^{\\text{shape}}` overflows float32 for
        moderate errors (:math:`3^{100} > 3.4\\times10^{38}`) while the GGD is already close to a
        uniform (its variance stops falling at a shape of about 9.11). The clamp acts on the value
        only: the gradient passes through unchanged (straight-through), so a member can still
        move its shape back below the ceiling.
    initial_shape : float, default=2.0
        Shape at initialisation (2: every member starts Gaussian).
    activation : str, default="tanh"
        Hidden activation, a name in :data:`uqkit.nn.ACTIVATIONS`.
    generator : torch.Generator, optional
        Source of the initial weights (each member gets its own draws); the global generator when
        omitted, as ``torch.nn`` layers do.

    Examples
    --------
    >>> import torch
    >>> head = GGDValueHead(3, n_members=4, learn_scale=True,
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
        hidden_layers: Sequence[int] = (64, 64),
        learn_scale: bool = False,
        shape_min: float = 0.05,
        initial_shape: float = 2.0,
        shape_max: float = 10.0,
        activation: str = "tanh",
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < shape_min < initial_shape < shape_max:
            raise InvalidInputError(
                f"need 0 < shape_min < initial_shape < shape_max; got shape_min={shape_min}, "
                f"initial_shape={initial_shape}, shape_max={shape_max}."
            )
        super().__init__(in_features, 3 if learn_scale else 2, n_members, hidden_layers, activation)
        self.learn_scale = bool(learn_scale)
        self.shape_min = float(shape_min)
        self.shape_max = float(shape_max)
        self.scale_min = 1e-3
        gains = [1.0, 0.01] + ([0.01] if self.learn_scale else [])
        self._orthogonal_init(gains, generator)
        with torch.no_grad():
            bias = self.layers[-1].bias
            bias[..., 1] = inverse_softplus(initial_shape - self.shape_min)
            if self.learn_scale:
                bias[..., 2] = inverse_softplus(1.0 - self.scale_min)

    def members(self, latent: torch.Tensor) -> GGDHeadOutput:
        """Per-member value, scale and shape for a batch of inputs.

        Parameters
        ----------
        latent : torch.Tensor of shape (batch, in_features)

        Returns
        -------
        GGDHeadOutput
            ``values``, ``scale``, ``shape``, each ``(n_members, batch)``.
        """
        raw = self._raw(latent)
        values = raw[..., 0]
        shape = F.softplus(raw[..., 1]) + self.shape_min
        # the value is clamped to shape_max, the gradient is not (straight-through), so that a
        # shape above the ceiling is never stuck there with a zero gradient
        shape = shape + (shape.clamp(max=self.shape_max) - shape).detach()
        if bool((shape.detach() >= self.shape_max).any()):
            warnings.warn(
                f"GGD shape reached its ceiling shape_max={self.shape_max:g} and is clamped "
                "there (larger shapes overflow float32 in the NLL); the TD errors look close to "
                "uniform. Lower the learning rate, or pass a larger shape_max (float64 only).",
                UQKitWarning,
                stacklevel=2,
            )
        if self.learn_scale:
            scale = F.softplus(raw[..., 2]) + self.scale_min
        else:
            scale = torch.ones_like(values)
        return GGDHeadOutput(values=values, scale=scale, shape=shape)
