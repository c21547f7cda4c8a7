"""The fit pipeline shared by every estimator whose model is a stack of members trained by
:func:`uqkit.training.fit_members` (deep ensembles, evidential networks, ...).

A family subclasses :class:`StackedEstimator` with a target mixin (:class:`RegressionTargets` or
:class:`ClassificationTargets`) and says only what is its own: the architecture (``_spec``), the
member seeds, the member loss and how raw outputs become a prediction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets

from uqkit._data import Standardizer, resolve_device, resolve_dtype
from uqkit._random import SPLIT_STREAM, derive_seed
from uqkit.base import UQEstimator, check_fitted
from uqkit.exceptions import InvalidInputError
from uqkit.nn import StackSpec
from uqkit.training._backends import MemberData, fit_members
from uqkit.training._loop import TrainConfig

__all__ = [
    "ClassificationTargets",
    "NetworkEstimator",
    "RegressionTargets",
    "StackedEstimator",
]

class RegressionTargets:
    """Targets standardised per column on the training data; 1-D or multi-output.

    A target mixin for regressors built on :class:`StackedEstimator`: ``fit`` stores the target
    scaling in ``y_mean_`` and ``y_scale_``, the number of target columns in ``n_outputs_`` and
    whether ``y`` was 1-D in ``single_output_``.

    Examples
    --------
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> issubclass(DeepEnsembleRegressor, RegressionTargets)
    True
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 2)), 10.0 + 2.0 * rng.normal(size=(20, 2))
    >>> model = DeepEnsembleRegressor(n_members=2, hidden_layers=(4,), epochs=1, verbose=0)
    >>> model = model.fit(X, y)
    >>> model.n_outputs_, np.allclose(model.y_mean_, y.mean(axis=0))
    (2, True)
    """

    _regression = True

    def _encode_targets(self, y: np.ndarray, fit: bool = True) -> np.ndarray:
        y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if fit:
            scaler = Standardizer.fit(y2)
            self.y_mean_, self.y_scale_ = scaler.mean, scaler.scale
            self.n_outputs_ = y2.shape[1]
            self.single_output_ = np.ndim(y) == 1
        if y2.shape[1] != self.n_outputs_:
            raise InvalidInputError(
                f"y_val has {y2.shape[1]} target columns but y had {self.n_outputs_}."
            )
        return (y2 - self.y_mean_) / self.y_scale_

    def _target_tensor(self, y: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(y, dtype=dtype, device=self.device_)

    def _target_units(self, *arrays: np.ndarray):
        """Drop the target axis of single-output fits; return arrays + (scale, shift) of y."""
        scale, shift = self.y_scale_, self.y_mean_
        if self.single_output_:
            arrays = tuple(a[..., 0] for a in arrays)
            scale, shift = scale[0], shift[0]
        return (*arrays, scale, shift)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ClassificationTargets:
    """Labels encoded as indices into ``classes_`` (sorted unique labels, at least two).

    Examples
    --------
    >>> from uqkit.ensemble import DeepEnsembleClassifier
    >>> from uqkit.exceptions import InvalidInputError
    >>> issubclass(DeepEnsembleClassifier, ClassificationTargets)
    True
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> model = DeepEnsembleClassifier(n_members=2, hidden_layers=(4,), epochs=1, verbose=0)
    >>> model.fit(X, np.repeat(["cat", "dog"], 10)).classes_
    array(['cat', 'dog'], dtype='<U3')
    >>> try:
    ...     model.fit(X, np.repeat("cat", 20))
    ... except InvalidInputError as err:
    ...     print(err)
    DeepEnsembleClassifier needs at least two classes in y; got only ['cat'].
    """

    _regression = False

    def _encode_targets(self, y: np.ndarray, fit: bool = True) -> np.ndarray:
        if fit:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise InvalidInputError(
                    f"{type(self).__name__} needs at least two classes in y; got only "
                    f"{self.classes_.tolist()}."
                )
        index = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        if np.any(self.classes_[index] != y):
            raise InvalidInputError("y_val contains labels that do not occur in y.")
        return index

    def _target_tensor(self, y: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(y, dtype=torch.long, device=self.device_)


class NetworkEstimator(UQEstimator):
    """Data preparation for a network trained in ``fit``: validation, feature scaling, target
    encoding and the seeded early-stopping hold-out. Used with a target mixin.

    Subclasses need the parameters ``early_stopping``, ``validation_fraction``, ``device``,
    ``dtype`` and ``random_state`` (and optionally ``feature_scaling``).

    Examples
    --------
    With early stopping and no ``X_val``, a seeded ``validation_fraction`` of the rows is held
    out; the same ``random_state`` holds out the same rows.

    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 2)), rng.normal(size=20)
    >>> def held_out():
    ...     model = DeepEnsembleRegressor(
    ...         n_members=1, hidden_layers=(4,), epochs=1, validation_fraction=0.2,
    ...         random_state=3, verbose=0,
    ...     )
    ...     return model.fit(X, y).validation_indices_
    >>> len(held_out()), np.array_equal(held_out(), held_out())
    (4, True)
    >>> issubclass(DeepEnsembleRegressor, NetworkEstimator)
    True
    """

    def _feature_scaler(self, X: np.ndarray) -> Standardizer:
        return Standardizer.fit(X, mode=getattr(self, "feature_scaling", "column"))

    def _check_architecture(self, n_features: int | None = None) -> None:
        """Check architecture parameters (before the data is seen, then against its width)."""

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows for gradient steps and for early stopping (a seeded ``validation_fraction``)."""
        n_val = math.ceil(self.validation_fraction * n)
        if n - n_val < 2:
            raise InvalidInputError(
                f"{n} samples are too few to hold out validation_fraction="
                f"{self.validation_fraction} for validation; pass more data or X_val/y_val"
                + (", or early_stopping=False." if hasattr(self, "early_stopping") else ".")
            )
        order = np.random.default_rng(derive_seed(self.random_state_, SPLIT_STREAM)).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _prepare_data(self, X, y, X_val=None, y_val=None) -> MemberData:
        """Validate, scale and encode the data of ``fit``; hold out the early-stopping rows.

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out; their indices go to
        ``validation_indices_``. Sets ``x_mean_``, ``x_scale_``, ``device_``, ``random_state_``.
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
        X_val_s = y_val_enc = None
        if X_val is not None:
            X_val_s, y_val_enc = scaler.transform(X_val), self._encode_targets(y_val, fit=False)
        elif self.early_stopping:
            train_rows, val_rows = self._split(len(X))
            self.validation_indices_ = val_rows
            X_val_s, y_val_enc = Xs[val_rows], y_encoded[val_rows]

        def tensor(values):
            return torch.as_tensor(values, dtype=dtype, device=self.device_)

        return MemberData(
            X=tensor(Xs[train_rows]),
            y=self._target_tensor(y_encoded[train_rows], dtype),
            X_val=None if X_val_s is None else tensor(X_val_s),
            y_val=None if y_val_enc is None else self._target_tensor(y_val_enc, dtype),
        )

    def _scaled_features(self, X) -> np.ndarray:
        """Validated features of ``predict``, scaled as in ``fit``."""
        X = self._check_X(X, reset=False)
        return (X - self.x_mean_) / self.x_scale_


class StackedEstimator(NetworkEstimator):
    """The fit and stacked forward pass of estimators whose model is a stack of members.

    Subclasses provide ``_spec()``, ``_member_seeds()``, ``_loss()`` and the target hooks, and may
    override ``_feature_scaler``, ``_train_config`` and ``_fit_options``. Besides the parameters
    of :class:`NetworkEstimator` they need ``epochs``, ``batch_size``, ``lr``, ``weight_decay``,
    ``patience``, ``verbose`` and ``predict_batch_size``.

    Examples
    --------
    A minimal Gaussian-mean ensemble: the subclass gives only its architecture, seeds, loss and
    the mapping from raw member outputs to a prediction.

    >>> from uqkit.base import UQRegressorMixin
    >>> from uqkit.prediction import RegressionPrediction
    >>> from uqkit.training import GaussianMemberLoss
    >>> class TinyEnsemble(RegressionTargets, UQRegressorMixin, StackedEstimator):
    ...     def __init__(self, n_members=2, epochs=2, batch_size=10, lr=1e-2,
    ...                  weight_decay=0.0, patience=5, early_stopping=False,
    ...                  validation_fraction=0.1, device="cpu", dtype="float32",
    ...                  random_state=0, verbose=0, predict_batch_size=1024):
    ...         self.n_members, self.epochs, self.batch_size = n_members, epochs, batch_size
    ...         self.lr, self.weight_decay, self.patience = lr, weight_decay, patience
    ...         self.early_stopping = early_stopping
    ...         self.validation_fraction = validation_fraction
    ...         self.device, self.dtype, self.random_state = device, dtype, random_state
    ...         self.verbose, self.predict_batch_size = verbose, predict_batch_size
    ...     def _spec(self):
    ...         return StackSpec(self.n_features_in_, 2 * self.n_outputs_, hidden_layers=(8,))
    ...     def _member_seeds(self):
    ...         return [derive_seed(self.random_state_, i) for i in range(self.n_members)]
    ...     def _loss(self):
    ...         return GaussianMemberLoss()
    ...     def predict_uncertainty(self, X):
    ...         raw = self._member_outputs(X)
    ...         mean = raw[..., 0].numpy() * self.y_scale_[0] + self.y_mean_[0]
    ...         return RegressionPrediction.normal(mean.mean(axis=0), np.ones(mean.shape[1]))
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    >>> model = TinyEnsemble().fit(X, y)
    >>> model.stack_.n_members, len(model.history_), model.predict(X[:5]).shape
    (2, 2, (5,))
    """

    # -- hooks --------------------------------------------------------------------------------
    def _spec(self) -> StackSpec:
        raise NotImplementedError

    def _member_seeds(self) -> list[int]:
        raise NotImplementedError

    def _loss(self):
        raise NotImplementedError


    def _train_config(self, X_train: torch.Tensor, has_validation: bool) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience if has_validation and self.early_stopping else None,
        )

    def _fit_options(self) -> dict:
        """Keyword arguments of ``fit_members`` beyond the data (backend, Ray options)."""
        return {"backend": "vectorized"}

    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train the network(s).

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out to choose each member's best epoch; it is
        not used for gradient steps. Its row indices are kept in ``validation_indices_``.

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
        data = self._prepare_data(X, y, X_val, y_val)
        self.stack_, self.history_ = fit_members(
            self._spec(),
            self._loss(),
            data,
            self._member_seeds(),
            self._train_config(data.X, data.X_val is not None),
            device=self.device_,
            verbose=self.verbose,
            **self._fit_options(),
        )
        return self

    # -- prediction -----------------------------------------------------------------------------
    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "stack_":
            return super()._build_module(name)
        return self._spec().build(self._member_seeds())

    @torch.no_grad()
    def _member_outputs(self, X) -> torch.Tensor:
        """Raw outputs of every member, ``(n_members, n_samples, n_outputs)``, float64 on CPU."""
        check_fitted(self, "stack_")
        Xs = self._scaled_features(X)
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
