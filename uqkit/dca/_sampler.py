"""The proposal sampler of Deep Combinatorial Aggregation (Shen & Cremers, NeurIPS 2022, Sec. 2).

A *proposal* picks one instance for each of the ``S`` components, so there are ``prod_s K_s``
proposals. During training each component draws its instance index uniformly and independently,
once per forward pass; for prediction a fixed set of distinct proposals is drawn (or all of them
when there are few).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from uqkit.exceptions import InvalidInputError

__all__ = ["ProposalSampler"]

# Up to this many proposals, distinct ones are drawn with a random permutation of all of them.
_PERMUTATION_LIMIT = 2**20


class ProposalSampler:
    """Seeded sampler of DCA proposals: one instance index per component, each uniform.

    Parameters
    ----------
    n_instances : sequence of int
        Number of instances ``K_s`` of each component.
    seed : int
        Seed of the sampler's own ``torch.Generator`` (the global random state is not used).

    Attributes
    ----------
    generator : torch.Generator
        The random stream; ``reset()`` rewinds it.

    Examples
    --------
    >>> sampler = ProposalSampler([3, 3], seed=0)
    >>> sampler.n_proposals
    9
    >>> proposal = sampler.sample()
    >>> len(proposal), all(0 <= i < 3 for i in proposal)
    (2, True)
    >>> len(sampler.distinct(4)), len(sampler.distinct(100))
    (4, 9)
    """

    def __init__(self, n_instances: Sequence[int], seed: int) -> None:
        sizes = tuple(int(k) for k in n_instances)
        if not sizes or any(k < 1 for k in sizes):
            raise InvalidInputError(
                f"n_instances must be a non-empty list of positive ints; got {n_instances!r}."
            )
        self.n_instances = sizes
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def n_components(self) -> int:
        """Number of components ``S``."""
        return len(self.n_instances)

    @property
    def n_proposals(self) -> int:
        """Number of distinct proposals, ``prod_s K_s``."""
        return math.prod(self.n_instances)

    def reset(self) -> None:
        """Rewind the random stream to its seed."""
        self.generator.manual_seed(self.seed)

    def sample(self) -> tuple[int, ...]:
        """One proposal: component ``s`` gets an index drawn uniformly from ``0..K_s-1``."""
        return tuple(
            int(torch.randint(k, (1,), generator=self.generator)) for k in self.n_instances
        )

    def decode(self, index: int) -> tuple[int, ...]:
        """The proposal with mixed-radix number ``index`` (the last component varies fastest)."""
        digits = []
        for k in reversed(self.n_instances):
            index, digit = divmod(int(index), k)
            digits.append(digit)
        return tuple(reversed(digits))

    def all(self) -> list[tuple[int, ...]]:
        """Every proposal, in mixed-radix order."""
        return list(itertools.product(*(range(k) for k in self.n_instances)))

    def distinct(self, m: int) -> list[tuple[int, ...]]:
        """``m`` distinct proposals drawn uniformly without replacement; all when ``m >= n``.

        Parameters
        ----------
        m : int
            Number of proposals wanted (the paper uses a fixed number of random proposals when
            enumerating all of them is too costly).
        """
        if m < 1:
            raise InvalidInputError(f"m must be a positive int; got {m}.")
        total = self.n_proposals
        if m >= total:
            return self.all()
        if total <= _PERMUTATION_LIMIT:
            order = torch.randperm(total, generator=self.generator)[:m].tolist()
            return [self.decode(i) for i in order]
        seen: dict[tuple[int, ...], None] = {}
        while len(seen) < m:  # collisions are rare: m is far below the number of proposals
            seen.setdefault(self.sample(), None)
        return list(seen)

    def __repr__(self) -> str:
        return f"ProposalSampler(n_instances={list(self.n_instances)}, seed={self.seed})"
