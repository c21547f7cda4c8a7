"""Which parts of a network become DCA components, and how a component instance is re-initialised.

Shen & Cremers (NeurIPS 2022, Sec. 2) split a network into components at a chosen granularity:
the whole model (model-wise, the coarsest), its blocks or stages, or its single layers
(layer-wise, the finest). Parameter-free layers are never components (there is nothing to
instantiate), and in layer-wise DCA the normalisation layers are shared (Sec. 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from uqkit._random import derive_seed
from uqkit.exceptions import InvalidInputError

__all__ = [
    "GRANULARITIES",
    "NORM_TYPES",
    "parametrised_layers",
    "reinitialize",
    "resolve_components",
]

GRANULARITIES = ("model", "block", "layer")

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d
    nn.LayerNorm,
    nn.GroupNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def _has_own_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def parametrised_layers(module: nn.Module) -> list[str]:
    """Names of the submodules of ``module`` that own parameters directly (``""`` is the root).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> parametrised_layers(net)
    ['0', '2']
    """
    return [name for name, m in module.named_modules() if _has_own_parameters(m)]


def _outermost(module: nn.Module, keep) -> list[str]:
    """Pre-order names of submodules (root excluded) satisfying ``keep``, outermost wins."""
    chosen: list[str] = []
    for name, sub in module.named_modules():
        if not name or any(name.startswith(c + ".") for c in chosen):
            continue
        if keep(sub):
            chosen.append(name)
    return chosen


def _blocks(module: nn.Module) -> list[str]:
    node, prefix = module, ""
    while True:
        children = [(n, c) for n, c in node.named_children() if _has_parameters(c)]
        if len(children) == 1 and not _has_own_parameters(node):
            name, node = children[0]
            prefix = _join(prefix, name)
            continue
        break
    if not children:
        return [prefix]
    return [_join(prefix, name) for name, _ in children]


def _layers(module: nn.Module) -> list[str]:
    chosen = _outermost(
        module, lambda m: _has_own_parameters(m) and not isinstance(m, NORM_TYPES)
    )
    if not chosen and _has_own_parameters(module) and not isinstance(module, NORM_TYPES):
        return [""]
    return chosen


def resolve_components(
    module: nn.Module, components: str | Sequence[str] | type | Sequence[type] = "layer"
) -> list[str]:
    """Dotted names of the submodules of ``module`` that become DCA components.

    Parameters
    ----------
    module : nn.Module
        The network.
    components : {"model", "block", "layer"}, sequence of str, or module type(s)
        - ``"model"``: the whole network is one component (``[""]``; model-wise DCA).
        - ``"block"``: the parametrised children of the network (descending through single
          wrappers such as a lone ``nn.Sequential``): stages or blocks.
        - ``"layer"``: every outermost submodule that owns parameters, except normalisation
          layers (:data:`NORM_TYPES`), which stay shared (layer-wise DCA).
        - a sequence of dotted submodule names (``""`` is the whole network);
        - a module type or a sequence of types: every outermost submodule of those types.

    Returns
    -------
    list of str
        Component names in module order. Parameters outside every component are shared.

    Raises
    ------
    InvalidInputError
        Unknown names, nested components, components without parameters, or no component.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1))
    >>> resolve_components(net, "layer")
    ['0', '3']
    >>> resolve_components(net, "model")
    ['']
    >>> resolve_components(net, nn.BatchNorm1d)
    ['1']
    """
    if isinstance(components, str):
        if components == "model":
            names = [""]
        elif components == "block":
            names = _blocks(module)
        elif components == "layer":
            names = _layers(module)
        else:
            raise InvalidInputError(
                f"components={components!r} is not a granularity; use one of {GRANULARITIES}, "
                "a list of submodule names (e.g. ['0', 'head']) or a tuple of module types."
            )
    elif isinstance(components, type):
        names = _types(module, (components,))
    else:
        items = list(components)
        if items and all(isinstance(c, type) for c in items):
            names = _types(module, tuple(items))
        elif all(isinstance(c, str) for c in items):
            names = _named(module, items)
        else:
            raise InvalidInputError(
                "components must be a granularity string, a list of submodule names, or module "
                f"types, not a mix; got {components!r}."
            )
    if not names:
        raise InvalidInputError(
            f"components={components!r} selects no parametrised submodule of "
            f"{type(module).__name__}; the network would have nothing to instantiate."
        )
    for name in names:
        sub = module.get_submodule(name) if name else module
        if not _has_parameters(sub):
            raise InvalidInputError(
                f"Component {name!r} ({type(sub).__name__}) has no parameters; parameter-free "
                "layers are always shared, so leave it out of components."
            )
    return names


def _types(module: nn.Module, types: tuple[type, ...]) -> list[str]:
    if not all(issubclass(t, nn.Module) for t in types):
        raise InvalidInputError(f"component types must be nn.Module subclasses; got {types}.")
    return _outermost(module, lambda m: isinstance(m, types))


def _named(module: nn.Module, names: list[str]) -> list[str]:
    available = {name for name, _ in module.named_modules()}
    unknown = [n for n in names if n not in available]
    if unknown:
        choices = sorted(n for n in available if n)[:20]
        raise InvalidInputError(
            f"No submodule named {unknown} in {type(module).__name__}; available names include "
            f"{choices} ('' is the whole network)."
        )
    if len(set(names)) != len(names):
        raise InvalidInputError(f"components lists a name twice: {names}.")
    for a in names:
        for b in names:
            if a != b and (a == "" or b.startswith(a + ".")):
                raise InvalidInputError(
                    f"Components {a!r} and {b!r} are nested; each parameter may belong to one "
                    "component only."
                )
    order = [name for name, _ in module.named_modules()]
    return sorted(names, key=order.index)


# ---------------------------------------------------------------------------- re-initialisation
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
        elif _has_own_parameters(layer):
            _reset_with_forked_rng(layer, derive_seed(seed, index))
    return module
