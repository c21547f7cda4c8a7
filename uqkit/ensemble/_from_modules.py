"""Deep ensembles of networks trained elsewhere: ``from_modules`` makes a fitted estimator of
them, with the shared predictions (the member axis kept) and the calibration tools."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import stack_module_state

from uqkit._data import resolve_device
from uqkit.exceptions import InvalidInputError

__all__ = [
    "GaussianNoiseHead",
    "ModuleCopies",
    "adopt_modules",
    "architecture",
    "check_modules",
    "raw_noise",
]


class ModuleCopies:
    """``factory(in_features, out_features)`` returning a copy of one module: the architecture
    of the members (their weights are loaded afterwards)."""

    # what saving says (uqkit._trust): an object is no importable reference to code
    unsavable_reason = (
        "it holds the network objects given to from_modules, not a reference to the code that "
        "builds them (pass from_modules their class as module=, or its 'pkg.mod:Name' "
        "reference with module_kwargs=, to make the ensemble savable)"
    )

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, in_features: int, out_features: int) -> nn.Module:
        return copy.deepcopy(self.module)


class GaussianNoiseHead(nn.Module):
    """A mean-only regression module with a stated homoscedastic noise: outputs the module's
    means, then the raw variance whose ``softplus(raw) + min_variance`` is ``noise_variance``."""

    def __init__(self, module: nn.Module, raw_variance: float) -> None:
        super().__init__()
        self.module = module
        self.raw_variance = raw_variance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.module(x)
        return torch.cat([mean, torch.full_like(mean, self.raw_variance)], dim=-1)


def raw_noise(noise_variance: float, min_variance: float) -> float:
    """The raw output whose ``softplus(raw) + min_variance`` is ``noise_variance``."""
    excess = noise_variance - min_variance
    if not excess > 0:
        raise InvalidInputError(
            f"noise_variance={noise_variance!r} must be larger than min_variance="
            f"{min_variance!r}; pass the variance of the noise in the units of y."
        )
    return excess + math.log(-math.expm1(-excess))  # inverse softplus, stable for large values


def architecture(owner: str, modules: Sequence[nn.Module], params: dict):
    """The ``module`` parameter of an ensemble made by ``from_modules``: the user's class or
    reference when ``params`` has one (it makes the ensemble savable; :func:`adopt_modules`
    checks that it builds networks of the modules' class), else copies of ``modules[0]``."""
    reference = params.get("module")
    if reference is not None:
        return reference
    if params.get("module_kwargs"):
        raise InvalidInputError(
            f"{owner}.from_modules: module_kwargs is passed to module=, which is not given. "
            "Pass module= (the members' class or its 'pkg.mod:Name' reference) too, or drop "
            "module_kwargs."
        )
    return ModuleCopies(modules[0])


def _check_architecture(estimator, module: nn.Module, n_features: int) -> None:
    """A ``module=`` given to ``from_modules`` must build networks of the given modules' class
    (the reference that saving writes must rebuild the same networks)."""
    factory = estimator._spec().module_factory
    with torch.random.fork_rng(devices=[]):  # the caller's random state is not moved
        built = factory(n_features, estimator._n_outputs())
    if type(built) is not type(module):
        raise InvalidInputError(
            f"{type(estimator).__name__}.from_modules: module={estimator.module!r} builds a "
            f"{type(built).__name__}, but the modules are {type(module).__name__}. Pass their "
            "own class (or its 'pkg.mod:Name' reference) and the module_kwargs that build them."
        )


def adopt_modules(estimator, modules: Sequence[nn.Module], X, y) -> None:
    """Make ``estimator`` (a deep ensemble built with ``module=ModuleCopies(modules[0])``, or
    with the modules' class or reference, checked here to build that class) the fitted ensemble
    of ``modules``: no scaling (the modules see X in its units and predict in y's units), the
    member weights stacked in order."""
    estimator._check_params()
    X, y = estimator._check_X_y(X, y, regression=estimator._regression)
    estimator._encode_targets(y)
    if estimator._regression:
        estimator.y_mean_ = np.zeros(estimator.n_outputs_)
        estimator.y_scale_ = np.ones(estimator.n_outputs_)
    estimator.x_mean_ = np.zeros(X.shape[1])
    estimator.x_scale_ = np.ones(X.shape[1])
    estimator._resolve_random_state()
    estimator.device_ = resolve_device(estimator.device)
    if not isinstance(estimator.module, ModuleCopies):
        _check_architecture(estimator, modules[0], X.shape[1])
    stack = estimator._spec().build(estimator._member_seeds()).eval()
    try:
        params, buffers = stack_module_state(list(modules))
        state = dict(zip(stack.state_dict(), [*params.values(), *buffers.values()], strict=True))
        stack.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as err:
        raise InvalidInputError(
            f"{type(estimator).__name__}.from_modules needs modules of one architecture (the "
            f"same parameter names and shapes): {err}"
        ) from err
    with torch.no_grad():
        out = stack(torch.zeros(stack.n_members, 1, X.shape[1],
                                dtype=next(stack.parameters()).dtype))
    if out.shape[-1] != estimator._n_outputs():
        raise InvalidInputError(
            f"The modules give {out.shape[-1]} outputs per row but {type(estimator).__name__} "
            f"needs {estimator._n_outputs()} ("
            + ("means then raw variances of each target, or pass noise_variance= for modules "
               "that predict only means)." if estimator._regression
               else "one logit per class).")
        )
    estimator.stack_ = stack.to(estimator.device_).eval()
    estimator.history_ = []


def check_modules(owner: str, modules) -> list[nn.Module]:
    """The modules as a non-empty list of ``nn.Module``, or a clear error."""
    modules = list(modules) if isinstance(modules, Sequence) else None
    if not modules or not all(isinstance(m, nn.Module) for m in modules):
        raise InvalidInputError(
            f"{owner}.from_modules needs a non-empty list of torch.nn.Module."
        )
    return modules
