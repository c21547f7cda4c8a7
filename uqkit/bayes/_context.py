"""Per-call context of a Bayesian estimator: local randomness, module modes, a private Pyro store.

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

Prediction runs inside :func:`eval_mode`, which puts the modules in eval mode and gives every
submodule back the mode it had before (STYLE convention 4).

Threads: torch's global generator, Pyro's handler stack and parameter store, GPyTorch's settings
and the train/eval flags of a fitted module are shared by every thread of the process, so two
threads inside these contexts at once would interleave their draws (``predict_uncertainty`` from
two threads raised Pyro's "Multiple sample sites named ..." or returned other numbers). Every
context of this module therefore holds :func:`exclusive`, one re-entrant process-wide lock, for
its whole body: the Bayesian estimators' ``fit`` and ``predict*`` calls that touch global state
run one at a time, and each gives exactly its single-threaded answer (correct, not parallel).
The lock is deliberate module-level state (STYLE convention 10 otherwise forbids it): it guards
state that torch, Pyro and GPyTorch keep globally, which uqkit cannot make local.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Guards the global state described above; re-entrant, since the contexts nest
# (``isolated`` inside ``eval_mode`` in a Bayesian MLP's prediction).
_GLOBAL_STATE_LOCK = threading.RLock()


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the process-wide lock of the Bayesian estimators' global-state sections.

    Examples
    --------
    >>> with exclusive(), exclusive():  # re-entrant in one thread
    ...     pass
    """
    with _GLOBAL_STATE_LOCK:
        yield


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
    with exclusive(), torch.random.fork_rng(devices=devices):
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


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` and its submodules in eval mode; restore each one's own mode on exit.

    Each submodule gets the flag it had back, so a module that was partly in train mode comes
    back exactly as it was, even when the body raises. Modes are restored through ``train()``
    (GPyTorch clears its prediction caches there), parents first: a parent's ``train()`` resets
    its children, which are visited after it.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    >>> _ = net[1].eval()
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training, net[0].training, net[1].training
    (True, True, False)
    """
    with exclusive():  # another thread must not flip the modes while this one runs the module
        modes = [(sub, sub.training) for sub in module.modules()]
        module.eval()
        try:
            yield
        finally:
            for sub, training in modes:  # modules() is pre-order: parents before children
                if sub.training != training:
                    sub.train(training)
