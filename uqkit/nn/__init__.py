"""Networks and heads: stacked (vectorized) member networks and distribution heads."""

from uqkit.nn._heads import gaussian_head
from uqkit.nn._stacked import (
    ACTIVATIONS,
    StackedLinear,
    StackedMLP,
    StackedModule,
    StackSpec,
    merge_members,
    select_members,
)

__all__ = [
    "ACTIVATIONS",
    "StackSpec",
    "StackedLinear",
    "StackedMLP",
    "StackedModule",
    "gaussian_head",
    "merge_members",
    "select_members",
]
