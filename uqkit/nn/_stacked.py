"""Ensembles of networks stored as one stacked model: the member axis is the first axis of every
parameter, so one forward pass evaluates all members (batched matmuls) and one optimizer step trains
all of them. Every member is initialised from its own seed, so member ``i`` is the same network
whether it is trained alone or stacked with others.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from uqkit._random import INIT_STREAM, derive_seed, member_generators

__all__ = [
    "ACTIVATIONS",
    "StackSpec",
    "StackedLinear",
    "StackedMLP",
    "StackedModule",
]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}




class StackedLinear(nn.Module):
    """``k`` independent linear layers applied as one batched matmul.

    Input ``(k, batch, in_features)`` → output ``(k, batch, out_features)``. Initialised like
    ``torch.nn.Linear`` (uniform in ``±1/sqrt(in_features)``), each member from its own generator.

    Parameters
    ----------
    n_members : int
        Number of members ``k``.
    in_features, out_features : int
        Widths of one member's layer.
    dtype : torch.dtype, optional
        Parameter dtype.

    Examples
    --------
    >>> layer = StackedLinear(3, 4, 2)
    >>> layer.reset_parameters(member_generators([0, 1, 2], stream=0))
    >>> x = torch.randn(3, 5, 4)
    >>> out = layer(x)
    >>> out.shape
    torch.Size([3, 5, 2])
    >>> torch.allclose(out[1], x[1] @ layer.weight[1] + layer.bias[1])
    True
    """

    def __init__(self, n_members: int, in_features: int, out_features: int, dtype=None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features, dtype=dtype))

    def reset_parameters(self, generators: Sequence[torch.Generator]) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            for i, generator in enumerate(generators):
                for tensor in (self.weight, self.bias):
                    values = torch.rand(tensor.shape[1:], generator=generator, dtype=tensor.dtype)
                    tensor[i].copy_(values * (2 * bound) - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@dataclass
class StackSpec:
    """Everything needed to build a stack of members: JSON-able, picklable, backend-agnostic.

    Parameters
    ----------
    in_features, out_features : int
        Input width and raw output width of one member.
    hidden_layers : tuple of int
        Widths of the hidden layers of the built-in MLP.
    activation : str
        Name in :data:`ACTIVATIONS`.
    dropout : float
        Dropout probability after each hidden layer (per-member masks from member generators).
    dtype : str
        ``"float32"`` or ``"float64"``.
    module_factory : callable, optional
        ``factory(in_features, out_features) -> nn.Module``; replaces the built-in MLP.

    Examples
    --------
    >>> spec = StackSpec(in_features=3, out_features=2, hidden_layers=(8,))
    >>> stack = spec.build([0, 1, 2, 3])
    >>> stack(torch.zeros(4, 5, 3)).shape
    torch.Size([4, 5, 2])
    >>> spec.to_dict()["hidden_layers"]
    [8]
    """

    in_features: int
    out_features: int
    hidden_layers: tuple[int, ...] = (50,)
    activation: str = "relu"
    dropout: float = 0.0
    dtype: str = "float32"
    module_factory: Callable[[int, int], nn.Module] | None = field(default=None, repr=False)

    def build(self, seeds: Sequence[int]) -> nn.Module:
        """A stacked model with one member per seed, initialised from those seeds."""
        dtype = {"float32": torch.float32, "float64": torch.float64}[self.dtype]
        if self.module_factory is not None:
            return StackedModule(self.module_factory, self, seeds, dtype)
        return StackedMLP(self, seeds, dtype)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("module_factory")
        data["hidden_layers"] = list(self.hidden_layers)
        return data


class StackedMLP(nn.Module):
    """Multilayer perceptron ensemble: ``(k, batch, in) → (k, batch, out)``.

    Parameters
    ----------
    spec : StackSpec
        Architecture (widths, activation, dropout).
    seeds : sequence of int
        One seed per member; member ``i`` is initialised from ``seeds[i]`` only.
    dtype : torch.dtype
        Parameter dtype.

    Examples
    --------
    Member 1 of a two-member stack is the same network as a stack of that member alone.

    >>> spec = StackSpec(in_features=2, out_features=1, hidden_layers=(4,))
    >>> pair = StackedMLP(spec, seeds=[10, 11], dtype=torch.float32)
    >>> alone = StackedMLP(spec, seeds=[11], dtype=torch.float32)
    >>> x = torch.randn(6, 2)
    >>> torch.allclose(pair(x.expand(2, 6, 2))[1], alone(x[None])[0])
    True
    """

    def __init__(self, spec: StackSpec, seeds: Sequence[int], dtype: torch.dtype) -> None:
        super().__init__()
        self.n_members = len(seeds)
        self.activation = ACTIVATIONS[spec.activation]
        self.dropout = spec.dropout
        widths = [spec.in_features, *spec.hidden_layers, spec.out_features]
        self.layers = nn.ModuleList(
            StackedLinear(self.n_members, a, b, dtype) for a, b in itertools.pairwise(widths)
        )
        generators = member_generators(seeds, INIT_STREAM)
        for layer in self.layers:
            layer.reset_parameters(generators)
        self.dropout_generators: list[torch.Generator] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
            if self.training and self.dropout > 0:
                x = self._dropout(x)
        return self.layers[-1](x)

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        # Masks come from each member's own generator, so a member drops the same units
        # whether it is trained alone or stacked (torch's dropout would use the global RNG).
        if self.dropout_generators is None:
            return F.dropout(x, self.dropout, training=True)
        keep = torch.stack(
            [
                torch.rand(x.shape[1:], generator=g, device=x.device, dtype=x.dtype)
                for g in self.dropout_generators
            ]
        )
        return x * (keep >= self.dropout) / (1.0 - self.dropout)


class StackedModule(nn.Module):
    """A user-supplied ``nn.Module`` ensemble, vectorized with ``torch.func``.

    The parameters of ``k`` copies are stacked (``torch.func.stack_module_state``) and the forward
    pass is ``vmap`` over the member axis of ``functional_call``. Each copy is initialised by the
    factory under its own seed inside ``torch.random.fork_rng``, so the caller's global RNG is
    never touched.

    Parameters
    ----------
    factory : callable
        ``factory(in_features, out_features) -> nn.Module`` building one member.
    spec : StackSpec
        Supplies ``in_features`` and ``out_features``.
    seeds : sequence of int
        One seed per member.
    dtype : torch.dtype
        Parameter dtype.

    Examples
    --------
    >>> spec = StackSpec(in_features=3, out_features=1, module_factory=nn.Linear)
    >>> stack = spec.build([0, 1])
    >>> type(stack).__name__
    'StackedModule'
    >>> stack(torch.zeros(2, 4, 3)).shape
    torch.Size([2, 4, 1])
    """

    def __init__(
        self, factory, spec: StackSpec, seeds: Sequence[int], dtype: torch.dtype
    ) -> None:
        super().__init__()
        from torch.func import stack_module_state

        self.n_members = len(seeds)
        members = []
        for seed in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(derive_seed(seed, INIT_STREAM))
                members.append(factory(spec.in_features, spec.out_features).to(dtype))
        params, buffers = stack_module_state(members)
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.params = nn.ParameterList(nn.Parameter(params[name]) for name in self._names)
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"buffer_{i}", buffers[name])
        self._template = [members[0].to("meta")]  # a list keeps it out of the module tree
        self.dropout_generators = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call, vmap

        template = self._template[0]
        template.train(self.training)
        params = dict(zip(self._names, self.params))
        buffers = {name: getattr(self, f"buffer_{i}") for i, name in enumerate(self._buffer_names)}

        def one_member(p, b, inputs):
            return functional_call(template, (p, b), (inputs,))

        return vmap(one_member, randomness="different")(params, buffers, x)


def merge_members(stacks: Sequence[nn.Module], spec: StackSpec, seeds: Sequence[int]) -> nn.Module:
    """Concatenate single-member (or smaller) stacks along the member axis into one stack.

    Parameters
    ----------
    stacks : sequence of nn.Module
        Stacks built from the same ``spec``, in member order.
    spec : StackSpec
        Their common architecture.
    seeds : sequence of int
        The seeds of all members of the merged stack, in order.

    Returns
    -------
    nn.Module
        One stack with ``len(seeds)`` members holding the given weights.

    Examples
    --------
    >>> spec = StackSpec(in_features=2, out_features=1, hidden_layers=(4,))
    >>> parts = [spec.build([5]), spec.build([6])]
    >>> merged = merge_members(parts, spec, seeds=[5, 6])
    >>> x = torch.randn(1, 3, 2)
    >>> torch.allclose(merged(x.expand(2, 3, 2))[1], parts[1](x)[0])
    True
    """
    merged = spec.build(seeds)
    states = [stack.state_dict() for stack in stacks]
    merged.load_state_dict({key: torch.cat([s[key] for s in states]) for key in states[0]})
    return merged


def select_members(stack: nn.Module, spec: StackSpec, seeds: Sequence[int], index) -> nn.Module:
    """A new stack holding members ``index`` of ``stack`` (seeds are those of the kept members).

    Parameters
    ----------
    stack : nn.Module
        A stack built from ``spec``.
    spec : StackSpec
        Its architecture.
    seeds : sequence of int
        The seeds of all members of ``stack``.
    index : sequence of int
        Positions of the members to keep, in the order wanted.

    Returns
    -------
    nn.Module
        A stack with ``len(index)`` members, copies of the selected ones.

    Examples
    --------
    >>> spec = StackSpec(in_features=2, out_features=1, hidden_layers=(4,))
    >>> stack = spec.build([0, 1, 2])
    >>> kept = select_members(stack, spec, [0, 1, 2], [2, 0])
    >>> x = torch.randn(1, 3, 2)
    >>> out, sub = stack(x.expand(3, 3, 2)), kept(x.expand(2, 3, 2))
    >>> torch.allclose(sub[0], out[2]) and torch.allclose(sub[1], out[0])
    True
    """
    index = torch.as_tensor(index, dtype=torch.long)
    kept = spec.build([seeds[i] for i in index.tolist()])
    kept.load_state_dict({key: value[index] for key, value in stack.state_dict().items()})
    return kept
