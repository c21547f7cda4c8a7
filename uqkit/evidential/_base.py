"""What the evidential classifier and regressor share: parameters and the architecture. The fit
pipeline is :class:`uqkit.training.StackedEstimator` with one member."""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real
from typing import ClassVar

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import check_positive_ints
from uqkit._random import derive_seed
from uqkit._trust import module_factory
from uqkit.evidential._networks import ImageCNN
from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS, StackSpec
from uqkit.training import StackedEstimator


class _EvidentialEstimator(StackedEstimator):
    """Shared implementation of :class:`EvidentialClassifier` and :class:`EvidentialRegressor`."""

    _parameter_constraints: ClassVar[dict] = {
        "architecture": [StrOptions({"mlp", "cnn"})],
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "image_shape": [list, tuple],
        "feature_scaling": [StrOptions({"auto", "column", "channel", "global", "none"})],
        "conv_channels": [list, tuple],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "module": [callable, str, None],
        "module_kwargs": [dict, None],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _regression = True
    _code_parameters = ("module",)

    # -- architecture -------------------------------------------------------------------------
    def _check_architecture(self, n_features: int | None = None) -> None:
        check_positive_ints(self.hidden_layers, "hidden_layers")
        if self.architecture == "cnn" and self.module is None:
            shape = check_positive_ints(self.image_shape, "image_shape", 3)
            check_positive_ints(self.conv_channels, "conv_channels", 2)
            if min(shape[1:]) < 16:
                raise InvalidInputError(
                    "architecture='cnn' needs images of at least 16x16 pixels; "
                    f"image_shape={shape}."
                )
            if n_features is not None and math.prod(shape) != n_features:
                raise InvalidInputError(
                    f"image_shape={shape} has {math.prod(shape)} pixels but X has "
                    f"{n_features} columns; pass flattened images (n, C*H*W) and their "
                    "shape."
                )

    def _factory(self):
        if self.module is not None or self.module_kwargs:
            return module_factory(self.module, self.module_kwargs, type(self).__name__)
        if self.architecture == "cnn":
            return functools.partial(
                ImageCNN,
                image_shape=tuple(self.image_shape),
                channels=tuple(self.conv_channels),
                hidden_layers=tuple(self.hidden_layers),
                activation=self.activation,
            )
        return None

    def _spec(self) -> StackSpec:
        return StackSpec(
            in_features=self.n_features_in_,
            out_features=self._n_outputs(),
            hidden_layers=check_positive_ints(self.hidden_layers, "hidden_layers"),
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype,
            module_factory=self._factory(),
        )

    def _member_seeds(self) -> list[int]:
        return [derive_seed(self.random_state_, 0)]

    def _auto_feature_scaling(self) -> str:
        return "global" if self.architecture == "cnn" and self.module is None else "column"

    def _takes_nd_input(self) -> bool:
        return self._factory() is not None  # a module, or the CNN (it reshapes its rows)

    # -- forward ------------------------------------------------------------------------------
    def _raw_outputs(self, X) -> torch.Tensor:
        """Raw network outputs ``(n_samples, n_outputs)``, float64 on the CPU."""
        return self._member_outputs(X)[0]
