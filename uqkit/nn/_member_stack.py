"""What every stack of members is: a module whose first axis is the member axis, with one
dropout generator per member (so no member ever draws from torch's global generator)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from uqkit._random import DROPOUT_STREAM, member_generators

__all__ = ["MemberStack"]


class MemberStack(nn.Module):
    """Base of stacked member networks: ``(k, batch, in) → (k, batch, out)``.

    Every parameter and buffer carries the member axis first, so member ``i`` is row ``i`` of
    each tensor. A stack draws member ``i``'s dropout from ``dropout_generators[i]``, seeded with
    :meth:`seed_dropout` (at construction from the member seeds, and again by the training loop
    on the training device).

    Attributes
    ----------
    n_members : int
        Number of members ``k``.
    dropout_generators : list of torch.Generator
        One generator per member (stream ``DROPOUT_STREAM`` of the member's seed).

    Examples
    --------
    >>> from uqkit.nn import StackSpec
    >>> stack = StackSpec(in_features=2, out_features=1, dropout=0.5).build([3, 4])
    >>> isinstance(stack, MemberStack), len(stack.dropout_generators)
    (True, 2)
    """

    n_members: int

    def __init__(self, seeds: Sequence[int]) -> None:
        super().__init__()
        self.n_members = len(seeds)
        self.seed_dropout(seeds)

    def seed_dropout(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        """Give member ``i`` a fresh dropout generator from ``seeds[i]``.

        Parameters
        ----------
        seeds : sequence of int
            One seed per member (the seeds the stack was built from).
        device : torch.device or str, default "cpu"
            Device the masks are drawn on (the training device).
        """
        if len(seeds) != self.n_members:
            raise ValueError(f"Expected {self.n_members} member seeds; got {len(seeds)}.")
        self.dropout_generators = member_generators(seeds, DROPOUT_STREAM, device=device)
