"""Training: the lock-step member loop, early stopping and the backends that run it.

The estimator pieces (:class:`NetworkEstimator`, :class:`StackedEstimator`, the targets and the
prediction checks) import scikit-learn, seconds of start-up: they are loaded on first use, so
that a Ray worker that only trains (a search trial, a member) imports the loop alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from uqkit.training._backends import (
    BACKENDS,
    Backend,
    SerialBackend,
    VectorizedBackend,
    fit_members,
    resolve_backend,
)
from uqkit.training._early_stopping import EarlyStopping
from uqkit.training._loop import (
    TrainConfig,
    check_diverged,
    member_losses,
    train_stack,
)
from uqkit.training._member_data import MemberData
from uqkit.training._progress import Progress, interactive, log_verbose
from uqkit.training._ray_backend import RayBackend
from uqkit.training._ray_connect import connect_ray, keeps_idle_workers
from uqkit.training._ray_driver import RayFitResult, train_members_ray

_WITH_SKLEARN = {
    "NetworkEstimator": "uqkit.training._network_estimator",
    "check_finite_outputs": "uqkit.training._network_estimator",
    "check_finite_parameters": "uqkit.training._network_estimator",
    "check_prediction": "uqkit.training._network_estimator",
    "check_representable": "uqkit.training._network_estimator",
    "StackedEstimator": "uqkit.training._stacked_estimator",
    "ClassificationTargets": "uqkit.training._targets",
    "RegressionTargets": "uqkit.training._targets",
    "check_target_scale": "uqkit.training._targets",
}

if TYPE_CHECKING:
    from uqkit.training._network_estimator import (
        NetworkEstimator,
        check_finite_outputs,
        check_finite_parameters,
        check_prediction,
        check_representable,
    )
    from uqkit.training._stacked_estimator import StackedEstimator
    from uqkit.training._targets import ClassificationTargets, RegressionTargets, check_target_scale

__all__ = [
    "BACKENDS",
    "Backend",
    "ClassificationTargets",
    "EarlyStopping",
    "MemberData",
    "NetworkEstimator",
    "Progress",
    "RayBackend",
    "RayFitResult",
    "RegressionTargets",
    "SerialBackend",
    "StackedEstimator",
    "TrainConfig",
    "VectorizedBackend",
    "check_diverged",
    "check_finite_outputs",
    "check_finite_parameters",
    "check_prediction",
    "check_representable",
    "check_target_scale",
    "connect_ray",
    "fit_members",
    "interactive",
    "keeps_idle_workers",
    "log_verbose",
    "member_losses",
    "resolve_backend",
    "train_members_ray",
    "train_stack",
]


def __getattr__(name: str):
    if name in _WITH_SKLEARN:
        return getattr(importlib.import_module(_WITH_SKLEARN[name]), name)
    raise AttributeError(f"module 'uqkit.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
