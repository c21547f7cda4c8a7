"""What the deep-ensemble regressor and classifier share: parameters, the fit pipeline and the
stacked forward pass. The subclasses only say how targets are encoded, which loss trains a member
and how member outputs become a prediction."""

from __future__ import annotations

import math
from numbers import Integral, Real

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
from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS, StackSpec
from uqkit.training import MemberData, RayOptions, TrainConfig, fit_members

# Key of the random stream that draws the validation split (member streams use 0..n_members-1).
_SPLIT_STREAM = 2**32 - 1


def _check_hidden_layers(hidden_layers) -> tuple[int, ...]:
    layers = tuple(hidden_layers)
    if not all(isinstance(w, (int, np.integer)) and w > 0 for w in layers):
        raise InvalidInputError(
            f"hidden_layers must be a tuple of positive ints such as (50,) or (64, 64); "
            f"got {hidden_layers!r}."
        )
    return tuple(int(w) for w in layers)


class BaseDeepEnsemble(UQEstimator):
    """Shared implementation of ``DeepEnsembleRegressor`` and ``DeepEnsembleClassifier``."""

    _parameter_constraints: dict = {
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "adversarial": ["boolean"],
        "adversarial_eps": [Interval(Real, 0, None, closed="neither")],
        "module": [callable, None],
        "backend": [StrOptions({"vectorized", "serial", "ray"})],
        "resources_per_member": [dict, None],
        "ray_address": [str, None],
        "max_retries": [Interval(Integral, 0, None, closed="left")],
        "checkpoint_dir": [str, None],
        "members_per_task": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    # -- hooks for the subclasses ------------------------------------------------------
    _regression = True

    def _encode_targets(self, y: np.ndarray, fit: bool = True) -> np.ndarray:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _loss(self):
        raise NotImplementedError

    def _target_tensor(self, y: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    # -- fit ------------------------------------------------------------------------------
    def _spec(self) -> StackSpec:
        return StackSpec(
            in_features=self.n_features_in_,
            out_features=self._n_outputs(),
            hidden_layers=_check_hidden_layers(self.hidden_layers),
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype,
            module_factory=self.module,
        )

    def _member_seeds(self) -> list[int]:
        return [derive_seed(self.random_state_, i) for i in range(self.n_members)]

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows for training and for early stopping (a seeded random ``validation_fraction``)."""
        n_val = math.ceil(self.validation_fraction * n)
        if n - n_val < 2:
            raise InvalidInputError(
                f"{n} samples are too few to hold out validation_fraction="
                f"{self.validation_fraction} for early stopping; pass more data, X_val/y_val, "
                "or early_stopping=False."
            )
        order = np.random.default_rng(derive_seed(self.random_state_, _SPLIT_STREAM)).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train every member.

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out to choose each member's best epoch; it is
        not used for the gradient steps. The row indices are kept in ``validation_indices_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for regression)
        X_val, y_val : array-like, optional
            Explicit validation data for early stopping (used instead of a held-out part).

        Returns
        -------
        self
        """
        self._check_params()
        _check_hidden_layers(self.hidden_layers)
        X, y = self._check_X_y(X, y, regression=self._regression)
        y_encoded = self._encode_targets(y)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=self._regression)
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)

        x_scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = x_scaler.mean, x_scaler.scale
        Xs = x_scaler.transform(X)
        train_rows = np.arange(len(X))
        if X_val is not None:
            X_val_s, y_val_enc = x_scaler.transform(X_val), self._encode_targets(y_val, fit=False)
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
        eps = None
        if self.adversarial:  # ε × the range of each (standardised) feature, as in the paper
            eps = (self.adversarial_eps * np.ptp(Xs[train_rows], axis=0)).tolist()
        config = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience if data.X_val is not None and self.early_stopping else None,
            adversarial_eps=eps,
        )
        ray_options = RayOptions(
            resources_per_member=self.resources_per_member or {"num_cpus": 1},
            address=self.ray_address,
            max_retries=self.max_retries,
            checkpoint_dir=self.checkpoint_dir,
            members_per_task=self.members_per_task,
        )
        self.stack_, self.history_ = fit_members(
            self._spec(),
            self._loss(),
            data,
            self._member_seeds(),
            config,
            backend=self.backend,
            device=self.device_,
            verbose=self.verbose,
            ray_options=ray_options,
        )
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "stack_":
            return super()._build_module(name)
        return self._spec().build(self._member_seeds())

    @torch.no_grad()
    def _member_outputs(self, X) -> torch.Tensor:
        """Raw outputs of every member, ``(n_members, n_samples, n_outputs)``, float64 on CPU."""
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
                outputs.append(stack(xb.expand(stack.n_members, -1, -1)).double().cpu())
        finally:
            stack.train(was_training)
        return torch.cat(outputs, dim=1)

    @property
    def n_members_fitted_(self) -> int:
        """Number of trained members."""
        check_fitted(self, "stack_")
        return int(self.stack_.n_members)
