"""The Pyro model of a Bayesian MLP: :class:`BayesianMLP`, and :class:`Posterior` (model + guide).

Gaussian weight priors scaled by ``1/fan_in`` (Neal 1996, Sec. 2.2); a Gaussian (homo- or
heteroscedastic) or categorical likelihood observed in a subsampled data plate, so that a
mini-batch ELBO is unbiased for the full-data one (Blundell et al., ICML 2015, Eq. 1-2).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam, PyroSample
from torch import nn

__all__ = ["ACTIVATIONS", "BayesianMLP", "Posterior"]

_MIN_VARIANCE = 1e-6  # floor of the heteroscedastic variance head (standardised units)
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


class BayesianMLP(PyroModule):
    """An MLP whose weights and biases are ``PyroSample`` latent variables with Gaussian priors.

    Priors: ``W_l ~ N(0, prior_scale^2 / fan_in)`` elementwise and ``b_l ~ N(0, prior_scale^2)``.
    The ``1/fan_in`` factor keeps the prior over functions of a wide layer finite (Neal, *Bayesian
    Learning for Neural Networks*, 1996, Sec. 2.2), so one ``prior_scale`` suits every width.

    Parameters
    ----------
    n_inputs : int
    hidden_layers : sequence of int
    n_outputs : int
        Targets (regression) or classes (classification).
    likelihood : {"homoscedastic", "heteroscedastic", "categorical"}
        Gaussian with one learned noise scale per output (a point estimate, ``PyroParam``),
        Gaussian with a variance head (the network outputs ``2 * n_outputs`` values), or
        categorical on ``n_outputs`` logits.
    activation : {"relu", "tanh"}
    prior_scale : float
    device : torch.device

    Examples
    --------
    >>> net = BayesianMLP(3, (8,), 1, likelihood="homoscedastic")
    >>> with pyro.get_param_store().scope():
    ...     trace = pyro.poutine.trace(net).get_trace(torch.zeros(5, 3))
    >>> trace.nodes["mean"]["value"].shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_layers: Sequence[int],
        n_outputs: int,
        *,
        likelihood: str,
        activation: str = "relu",
        prior_scale: float = 1.0,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        device = torch.device(device)
        self.likelihood = likelihood
        self.n_outputs = n_outputs
        self.activation = ACTIVATIONS[activation]
        n_head = 2 * n_outputs if likelihood == "heteroscedastic" else n_outputs
        widths = [n_inputs, *hidden_layers, n_head]
        layers = []
        zero = torch.zeros((), device=device)
        for fan_in, fan_out in itertools.pairwise(widths):
            layer = PyroModule[nn.Linear](fan_in, fan_out)
            weight_scale = torch.tensor(prior_scale / math.sqrt(fan_in), device=device)
            bias_scale = torch.tensor(float(prior_scale), device=device)
            layer.weight = PyroSample(
                dist.Normal(zero, weight_scale).expand([fan_out, fan_in]).to_event(2)
            )
            layer.bias = PyroSample(dist.Normal(zero, bias_scale).expand([fan_out]).to_event(1))
            layers.append(layer)
        self.layers = PyroModule[nn.ModuleList](layers)
        if likelihood == "homoscedastic":
            self.noise_scale = PyroParam(
                torch.full((n_outputs,), 0.5, device=device), constraint=dist.constraints.positive
            )

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        n_total: int | None = None,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the network and observe ``y`` in a data plate of size ``n_total``.

        ``x`` is a mini-batch of ``n_total`` rows; the plate's subsample scaling multiplies its
        log-likelihood by ``n_total / len(x)``. ``weight`` ``(len(x),)`` multiplies each row's
        log-likelihood (``poutine.scale``): the ELBO's likelihood term becomes
        ``sum_i w_i E_q log p(y_i | x_i, w)``, the same as row ``i`` observed ``w_i`` times.
        """
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
        out = self.layers[-1](h)
        size = x.shape[0] if n_total is None else int(n_total)
        subsample = torch.arange(x.shape[0], device=x.device)
        if self.likelihood == "categorical":
            pyro.deterministic("logits", out, event_dim=2)
            with pyro.plate("data", size=size, subsample=subsample), _scaled(weight):
                pyro.sample("obs", dist.Categorical(logits=out), obs=y)
            return out
        if self.likelihood == "heteroscedastic":
            mean = out[..., : self.n_outputs]
            variance = nn.functional.softplus(out[..., self.n_outputs :]) + _MIN_VARIANCE
        else:
            mean = out
            variance = (self.noise_scale**2).expand_as(mean)
        pyro.deterministic("mean", mean, event_dim=2)
        pyro.deterministic("variance", variance, event_dim=2)
        with pyro.plate("data", size=size, subsample=subsample), _scaled(weight):
            pyro.sample("obs", dist.Normal(mean, variance.sqrt()).to_event(1), obs=y)
        return mean


def _scaled(weight: torch.Tensor | None):
    """Per-row scaling of the log-likelihood, or nothing for an unweighted fit. Pyro's scale
    must be positive: a row of weight 0 is masked out instead (its term is exactly 0)."""
    stack = contextlib.ExitStack()
    if weight is None:
        return stack
    zero = weight == 0
    if bool(zero.any()):
        stack.enter_context(pyro.poutine.mask(mask=~zero))
        weight = torch.where(zero, torch.ones_like(weight), weight)
    stack.enter_context(pyro.poutine.scale(scale=weight))
    return stack


class Posterior(nn.Module):
    """The model and its guide in one module, so that both are saved and restored together."""

    def __init__(self, model: BayesianMLP, guide: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.guide = guide
