"""What the evidential classifier and regressor share: parameters, the fit pipeline (one network
trained by :func:`uqkit.training.fit_members` as a stack of one member) and the forward pass."""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit.base import (
    Standardizer,
    UQEstimator,
    check_fitted,
    derive_seed,
    resolve_device,
    resolve_dtype,
)
from uqkit.evidential._networks import ImageCNN
from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS, StackSpec
from uqkit.training import MemberData, TrainConfig, fit_members

# Key of the random stream that draws the validation split (the network itself uses stream 0).
_SPLIT_STREAM = 2**32 - 1


def _positive_ints(value, name: str, length: int | None = None) -> tuple[int, ...]:
    values = tuple(value)
    if not all(isinstance(v, (int, np.integer)) and v > 0 for v in values) or (
        length is not None and len(values) != length
    ):
        size = f"{length} " if length is not None else ""
        raise InvalidInputError(
            f"{name} must be a tuple of {size}positive ints; got {value!r}."
        )
    return tuple(int(v) for v in values)


class _EvidentialEstimator(UQEstimator):
    """Shared implementation of :class:`EvidentialClassifier` and :class:`EvidentialRegressor`."""

    _parameter_constraints: ClassVar[dict] = {
        "architecture": [StrOptions({"mlp", "cnn"})],
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "image_shape": [list, tuple],
        "feature_scaling": [StrOptions({"auto", "column", "global", "none"})],
        "conv_channels": [list, tuple],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "module": [callable, None],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _regression = True

    # -- hooks for the subclasses -----------------------------------------------------------
    def _encode_targets(self, y: np.ndarray, fit: bool = True) -> np.ndarray:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _loss(self):
        raise NotImplementedError

    def _target_tensor(self, y: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    # -- architecture -------------------------------------------------------------------------
    def _check_architecture(self, n_features: int | None = None) -> None:
        _positive_ints(self.hidden_layers, "hidden_layers")
        if self.architecture == "cnn" and self.module is None:
            shape = _positive_ints(self.image_shape, "image_shape", 3)
            _positive_ints(self.conv_channels, "conv_channels", 2)
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
        if self.module is not None:
            return self.module
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
            hidden_layers=_positive_ints(self.hidden_layers, "hidden_layers"),
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype,
            module_factory=self._factory(),
        )

    def _seed(self) -> int:
        return derive_seed(self.random_state_, 0)

    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "stack_":
            return super()._build_module(name)
        return self._spec().build([self._seed()])

    # -- fit --------------------------------------------------------------------------------
    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows for gradient steps and for early stopping (a seeded ``validation_fraction``)."""
        n_val = math.ceil(self.validation_fraction * n)
        if n - n_val < 2:
            raise InvalidInputError(
                f"{n} samples are too few to hold out validation_fraction="
                f"{self.validation_fraction} for early stopping; pass more data, X_val/y_val, "
                "or early_stopping=False."
            )
        order = np.random.default_rng(derive_seed(self.random_state_, _SPLIT_STREAM)).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _feature_scaler(self, X: np.ndarray) -> Standardizer:
        scaling = self.feature_scaling
        if scaling == "auto":
            scaling = "global" if self.architecture == "cnn" and self.module is None else "column"
        if scaling == "column":
            return Standardizer.fit(X)
        n = X.shape[1]
        if scaling == "none":
            return Standardizer.identity(n)
        # One mean and scale for all features keeps an image's pixels comparable; per-column
        # scaling would blow up pixels that are almost always dark in the training images.
        scale = float(X.std()) or 1.0
        return Standardizer(mean=np.full(n, float(X.mean())), scale=np.full(n, scale))

    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train the network.

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out to choose the best epoch; it is not used
        for gradient steps. Its row indices are kept in ``validation_indices_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; flattened pixels ``(n, C*H*W)`` for ``architecture="cnn"``.
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for regression)
        X_val, y_val : array-like, optional
            Explicit validation data for early stopping (used instead of a held-out part).

        Returns
        -------
        self
        """
        self._check_params()
        self._check_architecture()
        X, y = self._check_X_y(X, y, regression=self._regression)
        self._check_architecture(X.shape[1])
        y_encoded = self._encode_targets(y)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=self._regression)
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)

        scaler = self._feature_scaler(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xs = scaler.transform(X)
        train_rows = np.arange(len(X))
        if X_val is not None:
            X_val_s, y_val_enc = scaler.transform(X_val), self._encode_targets(y_val, fit=False)
        elif self.early_stopping:
            train_rows, val_rows = self._split(len(X))
            self.validation_indices_ = val_rows
            X_val_s, y_val_enc = Xs[val_rows], y_encoded[val_rows]
        else:
            X_val_s = y_val_enc = None

        def tensor(values):
            return torch.as_tensor(values, dtype=dtype, device=self.device_)

        data = MemberData(
            X=tensor(Xs[train_rows]),
            y=self._target_tensor(y_encoded[train_rows], dtype),
            X_val=None if X_val_s is None else tensor(X_val_s),
            y_val=None if y_val_enc is None else self._target_tensor(y_val_enc, dtype),
        )
        config = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience if data.X_val is not None and self.early_stopping else None,
        )
        self.stack_, history = fit_members(
            self._spec(),
            self._loss(),
            data,
            [self._seed()],
            config,
            backend="vectorized",
            device=self.device_,
            verbose=self.verbose,
        )
        self.history_ = history[0]
        return self

    # -- forward ------------------------------------------------------------------------------
    @torch.no_grad()
    def _raw_outputs(self, X) -> torch.Tensor:
        """Raw network outputs ``(n_samples, n_outputs)``, float64 on the CPU."""
        check_fitted(self, "stack_")
        X = self._check_X(X, reset=False)
        Xs = (X - self.x_mean_) / self.x_scale_
        stack = self.stack_
        was_training = stack.training
        stack.eval()
        dtype = next(stack.parameters()).dtype
        outputs = []
        try:
            for start in range(0, len(Xs), self.predict_batch_size):
                xb = torch.as_tensor(
                    Xs[start : start + self.predict_batch_size], dtype=dtype, device=self.device_
                )
                outputs.append(stack(xb[None])[0].double().cpu())
        finally:
            stack.train(was_training)
        return torch.cat(outputs, dim=0)
