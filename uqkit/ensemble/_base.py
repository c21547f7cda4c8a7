"""What the deep-ensemble regressor and classifier share: their parameters, the member seeds and
the backend. The fit pipeline itself is :class:`uqkit.training.StackedEstimator`."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import check_positive_ints
from uqkit._random import derive_seed
from uqkit._trust import module_factory
from uqkit.base import check_fitted
from uqkit.nn import ACTIVATIONS, StackSpec
from uqkit.training import RayBackend, StackedEstimator, TrainConfig


class BaseDeepEnsemble(StackedEstimator):
    """Shared implementation of ``DeepEnsembleRegressor`` and ``DeepEnsembleClassifier``."""

    _parameter_constraints: dict = {
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "adversarial": ["boolean"],
        "adversarial_eps": [Interval(Real, 0, None, closed="neither")],
        "feature_scaling": [StrOptions({"auto", "column", "channel", "global", "none"})],
        "module": [callable, str, None],
        "module_kwargs": [dict, None],
        "backend": [StrOptions({"vectorized", "serial", "ray"}), RayBackend],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _code_parameters = ("module",)

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _check_architecture(self, n_features: int | None = None) -> None:
        check_positive_ints(self.hidden_layers, "hidden_layers")

    def _spec(self) -> StackSpec:
        return StackSpec(
            in_features=self.n_features_in_,
            out_features=self._n_outputs(),
            hidden_layers=check_positive_ints(self.hidden_layers, "hidden_layers"),
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype,
            module_factory=module_factory(self.module, self.module_kwargs, type(self).__name__),
        )

    def _member_seeds(self) -> list[int]:
        return [derive_seed(self.random_state_, i) for i in range(self.n_members)]

    def _train_config(self, X_train: torch.Tensor, has_validation: bool) -> TrainConfig:
        config = super()._train_config(X_train, has_validation)
        if self.adversarial:  # ε × the range of each (scaled) feature, as in the paper
            feature_range = X_train.amax(dim=0) - X_train.amin(dim=0)
            config.adversarial_eps = (self.adversarial_eps * feature_range).tolist()
        return config

    def _backend(self):
        return self.backend

    @property
    def n_members_fitted_(self) -> int:
        """Number of trained members."""
        check_fitted(self, "stack_")
        return int(self.stack_.n_members)
