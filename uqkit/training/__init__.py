"""Training: the lock-step member loop, early stopping and the backends that run it."""

from uqkit.training._backends import BACKENDS, MemberData, RayOptions, fit_members
from uqkit.training._estimator import (
    ClassificationTargets,
    NetworkEstimator,
    RegressionTargets,
    StackedEstimator,
)
from uqkit.training._loop import (
    CrossEntropyMemberLoss,
    GaussianMemberLoss,
    TrainConfig,
    member_losses,
    train_stack,
)

__all__ = [
    "BACKENDS",
    "ClassificationTargets",
    "CrossEntropyMemberLoss",
    "GaussianMemberLoss",
    "MemberData",
    "NetworkEstimator",
    "RayOptions",
    "RegressionTargets",
    "StackedEstimator",
    "TrainConfig",
    "fit_members",
    "member_losses",
    "train_stack",
]
