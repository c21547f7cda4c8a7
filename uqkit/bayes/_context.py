"""Local randomness and a private Pyro parameter store for one estimator call.

Pyro and GPyTorch draw their random numbers from torch's *global* generator (``pyro.sample``,
``AutoGuide`` initialisation, Monte Carlo likelihoods), and Pyro keeps ``pyro.param`` values in a
process-wide store. uqkit never seeds globally and never lets two estimators share parameters, so
every ``fit``/``predict`` of a Bayesian estimator runs inside :func:`isolated`:

- ``torch.random.fork_rng`` saves the caller's global RNG state and restores it on exit; inside,
  the generator is seeded from the estimator's ``random_state``. The caller's random stream is left
  exactly as it was, and the estimator's own draws are reproducible.
- ``pyro.get_param_store().scope()`` swaps in an empty parameter store and puts the caller's
  store back on exit. The estimator's parameters live in its own ``PyroModule`` objects (model and
  guide); the store is only a per-call view of them, so nothing leaks between estimators.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def forked_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generator(s) for ``device`` inside a fork that restores them on exit.

    Only the CPU generator and, for a CUDA device, that device's generator are forked and seeded;
    the generators of other CUDA devices are not touched.

    Examples
    --------
    >>> before = torch.random.get_rng_state()
    >>> with forked_rng(0, torch.device("cpu")):
    ...     a = torch.rand(1)
    >>> with forked_rng(0, torch.device("cpu")):
    ...     b = torch.rand(1)
    >>> bool(a == b) and bool(torch.equal(before, torch.random.get_rng_state()))
    True
    """
    cuda_index = None
    if device.type == "cuda":
        cuda_index = device.index if device.index is not None else torch.cuda.current_device()
    devices = [] if cuda_index is None else [cuda_index]
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(int(seed))
        if cuda_index is not None:
            torch.cuda.default_generators[cuda_index].manual_seed(int(seed))
        yield


@contextmanager
def isolated(seed: int, device: torch.device, *, pyro_store: bool = False) -> Iterator[None]:
    """:func:`forked_rng`, plus (with ``pyro_store``) a fresh, private Pyro parameter store."""
    with forked_rng(seed, device):
        if not pyro_store:
            yield
            return
        import pyro

        with pyro.get_param_store().scope():
            yield
