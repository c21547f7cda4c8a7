"""Which parts of a network become DCA components.

Shen & Cremers (NeurIPS 2022, Sec. 2) split a network into components at a chosen granularity:
the whole model (model-wise, the coarsest), its blocks or stages, or its single layers
(layer-wise, the finest). Parameter-free layers are never components (there is nothing to
instantiate), and in layer-wise DCA the normalisation layers are shared (Sec. 2).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from uqkit.exceptions import InvalidInputError

__all__ = [
    "GRANULARITIES",
    "NORM_TYPES",
    "owns_parameters",
    "parametrised_layers",
    "resolve_components",
]

GRANULARITIES = ("model", "block", "layer")

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d
    nn.LayerNorm,
    nn.GroupNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def owns_parameters(module: nn.Module) -> bool:
    """Whether ``module`` holds parameters itself (not only through its children).

    Examples
    --------
    >>> owns_parameters(nn.Linear(2, 1)), owns_parameters(nn.Sequential(nn.Linear(2, 1)))
    (True, False)
    """
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
    return [name for name, m in module.named_modules() if owns_parameters(m)]


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
        if len(children) == 1 and not owns_parameters(node):
            name, node = children[0]
            prefix = _join(prefix, name)
            continue
        break
    if not children:
        return [prefix]
    return [_join(prefix, name) for name, _ in children]


def _layers(module: nn.Module) -> list[str]:
    chosen = _outermost(
        module, lambda m: owns_parameters(m) and not isinstance(m, NORM_TYPES)
    )
    if not chosen and owns_parameters(module) and not isinstance(module, NORM_TYPES):
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
