"""Dropout from each member's own generator, never from torch's global one.

Two ways to get there: masks drawn directly from a member's generator (the built-in MLP), and
:func:`use_generator`, which runs any code — a user module calling ``nn.Dropout`` or
``F.dropout`` — with torch's default generator temporarily seeded from a member's generator and
restored afterwards, so that the caller's global random state is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

__all__ = ["member_dropout", "use_generator"]

_SEED_BOUND = 2**62


@contextmanager
def use_generator(generator: torch.Generator, device: torch.device | str = "cpu") -> Iterator[None]:
    """Within the block, random ops on ``device`` draw from a seed taken from ``generator``.

    One seed is drawn from ``generator`` (advancing it by one step) and seeds torch's default
    generator of ``device`` inside :func:`torch.random.fork_rng`; the caller's state of that
    generator is put back on exit. Code run twice with generators in the same state draws the
    same numbers, whatever else used the global generator in between.

    Parameters
    ----------
    generator : torch.Generator
        The member's own generator (any device).
    device : torch.device or str, default "cpu"
        Device whose default generator the random ops in the block use.

    Examples
    --------
    Dropout in a plain module, repeatable from a seed, with the global state untouched:

    >>> layer = torch.nn.Dropout(0.5)
    >>> before = torch.get_rng_state()
    >>> masks = []
    >>> for _ in range(2):
    ...     with use_generator(torch.Generator().manual_seed(7)):
    ...         masks.append(layer(torch.ones(8)))
    >>> torch.equal(masks[0], masks[1]), torch.equal(before, torch.get_rng_state())
    (True, True)
    """
    seed = int(torch.randint(0, _SEED_BOUND, (1,), generator=generator, device=generator.device))
    device = torch.device(device)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        with torch.random.fork_rng(devices=[index], device_type="cuda"):
            torch.cuda.default_generators[index].manual_seed(seed)
            yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def member_dropout(
    x: torch.Tensor, p: float, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """Inverted dropout of stacked activations ``(k, ...)``, member ``i``'s mask from
    ``generators[i]``, so a member drops the same units whether trained alone or stacked.

    Parameters
    ----------
    x : Tensor of shape (k, ...)
        Activations with the member axis first.
    p : float
        Drop probability in [0, 1).
    generators : sequence of torch.Generator
        One generator per member; a mask is drawn on the generator's device.

    Examples
    --------
    >>> from uqkit._random import DROPOUT_STREAM, member_generators
    >>> out = member_dropout(torch.ones(2, 3, 4), 0.5, member_generators([1, 2], DROPOUT_STREAM))
    >>> out.shape, sorted(set(out.flatten().tolist()))
    (torch.Size([2, 3, 4]), [0.0, 2.0])
    """
    keep = torch.stack(
        [
            torch.rand(x.shape[1:], generator=g, device=g.device, dtype=x.dtype).to(x.device)
            for g in generators
        ]
    )
    return x * (keep >= p) / (1.0 - p)
