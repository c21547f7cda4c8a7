"""Randomness without global state: seeds derived from one entropy, one generator per member.

A member's seed decides the member: member ``i`` of an ensemble gets ``derive_seed(entropy, i)``,
and each of its random streams (initialisation, data order, dropout) a generator of its own, so
the member is the same network whether it is trained alone, stacked with others or on Ray.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = [
    "DROPOUT_STREAM",
    "INIT_STREAM",
    "ORDER_STREAM",
    "SPLIT_STREAM",
    "derive_seed",
    "member_generators",
    "resolve_entropy",
]

# Named random streams of one member; SPLIT_STREAM keys the validation split of a whole fit.
INIT_STREAM, ORDER_STREAM, DROPOUT_STREAM = 0, 1, 2
SPLIT_STREAM = 2**32 - 1


def derive_seed(entropy: int, *keys: int) -> int:
    """A 63-bit seed derived from ``entropy`` and a path of integer keys.

    Member ``i`` of an ensemble uses ``derive_seed(entropy, i)``: the seed depends on the member's
    index only, not on how many members there are or on the backend that trains them.

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    sequence = np.random.SeedSequence(entropy, spawn_key=tuple(int(k) for k in keys))
    return int(sequence.generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))


def resolve_entropy(random_state) -> int:
    """Turn a ``random_state`` (None, int, numpy RandomState/Generator) into an integer entropy."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**32))  # a valid sklearn random_state
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise InvalidInputError(
        f"random_state must be None, an int, a RandomState or a Generator; got {random_state!r}."
    )



def member_generators(seeds: Sequence[int], stream: int, device="cpu") -> list[torch.Generator]:
    """One ``torch.Generator`` per member for a named random stream (init, data order, dropout).

    Parameters
    ----------
    seeds : sequence of int
        One seed per member.
    stream : int
        Which random stream (0: initialisation, 1: data order, 2: dropout); each member's
        generator is seeded with ``derive_seed(seed, stream)``.
    device : str or torch.device, default "cpu"
        Device of the generators.

    Returns
    -------
    list of torch.Generator
        ``len(seeds)`` independent generators.

    Examples
    --------
    >>> a, b = member_generators([7, 7], stream=1)
    >>> torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    True
    >>> (c,) = member_generators([8], stream=1)
    >>> torch.equal(torch.rand(3, generator=c), torch.rand(3, generator=a))
    False
    """
    generators = []
    for seed in seeds:
        generator = torch.Generator(device=device)
        generator.manual_seed(derive_seed(seed, stream))
        generators.append(generator)
    return generators
