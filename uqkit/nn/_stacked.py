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

from uqkit._random import INIT_STREAM, member_generators
from uqkit.nn._activations import ACTIVATIONS
from uqkit.nn._dropout import member_dropout
from uqkit.nn._member_stack import MemberStack
from uqkit.nn._stacked_module import StackedModule

__all__ = [
    "StackSpec",
    "StackedLinear",
    "StackedMLP",
    "merge_members",
    "select_members",
]


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

    def build(self, seeds: Sequence[int]) -> MemberStack:
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


class StackedMLP(MemberStack):
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
        super().__init__(seeds)
        self.activation = ACTIVATIONS[spec.activation]
        self.dropout = spec.dropout
        widths = [spec.in_features, *spec.hidden_layers, spec.out_features]
        self.layers = nn.ModuleList(
            StackedLinear(self.n_members, a, b, dtype) for a, b in itertools.pairwise(widths)
        )
        generators = member_generators(seeds, INIT_STREAM)
        for layer in self.layers:
            layer.reset_parameters(generators)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
            if self.training and self.dropout > 0:
                x = member_dropout(x, self.dropout, self.dropout_generators)
        return self.layers[-1](x)


def merge_members(
    stacks: Sequence[MemberStack], spec: StackSpec, seeds: Sequence[int]
) -> MemberStack:
    """Concatenate single-member (or smaller) stacks along the member axis into one stack.

    Parameters
    ----------
    stacks : sequence of MemberStack
        Stacks built from the same ``spec``, in member order.
    spec : StackSpec
        Their common architecture.
    seeds : sequence of int
        The seeds of all members of the merged stack, in order.

    Returns
    -------
    MemberStack
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


def select_members(
    stack: MemberStack, spec: StackSpec, seeds: Sequence[int], index: Sequence[int]
) -> MemberStack:
    """A new stack holding members ``index`` of ``stack`` (seeds are those of the kept members).

    Parameters
    ----------
    stack : MemberStack
        A stack built from ``spec``.
    spec : StackSpec
        Its architecture.
    seeds : sequence of int
        The seeds of all members of ``stack``.
    index : sequence of int
        Positions of the members to keep, in the order wanted.

    Returns
    -------
    MemberStack
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
