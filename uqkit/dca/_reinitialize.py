"""Seeded re-initialisation of a component instance, without touching the global random state.

Each of the ``K`` instances of a DCA component is initialised independently (Shen & Cremers,
NeurIPS 2022, Sec. 2), here from a seed of its own. Linear, convolution and embedding layers are
drawn from a local ``torch.Generator`` with PyTorch's default distributions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from uqkit._random import derive_seed
from uqkit.dca._components import NORM_TYPES, owns_parameters
from uqkit.exceptions import InvalidInputError

__all__ = ["reinitialize"]

_FAN_IN_TYPES = (nn.Linear, nn.modules.conv._ConvNd)


@torch.no_grad()
def _fill_uniform(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    values = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype)
    tensor.copy_(values * (2.0 * bound) - bound)


@torch.no_grad()
def _reset_fan_in(layer: nn.Module, generator: torch.Generator) -> None:
    # torch's default for Linear/Conv: kaiming_uniform(a=sqrt(5)) and a bias in ±1/sqrt(fan_in),
    # i.e. both uniform in ±1/sqrt(fan_in), drawn here from a local generator.
    weight = layer.weight
    fan_in = weight.shape[1] * math.prod(weight.shape[2:])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    _fill_uniform(weight, bound, generator)
    if getattr(layer, "bias", None) is not None:
        _fill_uniform(layer.bias, bound, generator)


@torch.no_grad()
def _reset_embedding(layer: nn.Embedding, generator: torch.Generator) -> None:
    values = torch.randn(layer.weight.shape, generator=generator, dtype=layer.weight.dtype)
    layer.weight.copy_(values)
    if layer.padding_idx is not None:
        layer.weight[layer.padding_idx].zero_()


def _reset_with_forked_rng(layer: nn.Module, seed: int) -> None:
    reset = getattr(layer, "reset_parameters", None) or getattr(layer, "_reset_parameters", None)
    if not callable(reset):
        raise InvalidInputError(
            f"{type(layer).__name__} owns parameters but has no reset_parameters(), so its DCA "
            "instances cannot be re-initialised differently; add a reset_parameters() method or "
            "leave it out of the components (it is then shared)."
        )
    devices = {p.device for p in layer.parameters(recurse=False)}
    devices |= {b.device for b in layer.buffers(recurse=False)}
    off_cpu = [d for d in devices if d.type != "cpu"]
    if off_cpu:  # reset on the CPU so that only the (forked) CPU generator is used
        layer.to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        reset()
    if off_cpu:
        layer.to(off_cpu[0])


def reinitialize(module: nn.Module, seed: int) -> nn.Module:
    """Re-draw every parameter of ``module`` in place, reproducibly from ``seed``.

    Linear, convolution and embedding layers are drawn from a local ``torch.Generator`` with
    PyTorch's default distributions; normalisation layers get their deterministic defaults; any
    other layer owning parameters calls its own ``reset_parameters()`` inside
    ``torch.random.fork_rng`` (the caller's random state is restored afterwards). The global
    random state is never changed.

    Parameters
    ----------
    module : nn.Module
        Modified in place.
    seed : int
        Non-negative seed.

    Returns
    -------
    nn.Module
        ``module`` itself.

    Examples
    --------
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> bool(torch.equal(reinitialize(a, 1).weight, reinitialize(b, 1).weight))
    True
    """
    generator = torch.Generator().manual_seed(int(seed))
    for index, (_, layer) in enumerate(module.named_modules()):
        if isinstance(layer, _FAN_IN_TYPES):
            _reset_fan_in(layer, generator)
        elif isinstance(layer, nn.Embedding):
            _reset_embedding(layer, generator)
        elif isinstance(layer, NORM_TYPES):
            layer.reset_parameters()  # ones/zeros and fresh running statistics: no randomness
        elif owns_parameters(layer):
            _reset_with_forked_rng(layer, derive_seed(seed, index))
    return module
