"""The fit pipeline shared by every estimator whose model is a stack of members trained by
:func:`uqkit.training.fit_members` (deep ensembles, evidential networks, ...).

A family subclasses :class:`StackedEstimator` with a target mixin (:class:`RegressionTargets` or
:class:`ClassificationTargets`) and says only what is its own: the architecture (``_spec``), the
member seeds, the member loss and how raw outputs become a prediction.
"""

from __future__ import annotations

import math

import torch

from uqkit.base import check_fitted
from uqkit.losses import MemberLoss
from uqkit.nn import MemberStack, StackSpec
from uqkit.training._backends import fit_members, resume_entropy
from uqkit.training._loop import TrainConfig
from uqkit.training._member_data import MemberData
from uqkit.training._network_estimator import NetworkEstimator

__all__ = ["StackedEstimator"]

# epochs="auto": as many epochs as make about AUTO_STEPS optimiser steps per member, at most
# AUTO_MAX_EPOCHS. Early stopping ends small data sets well before the cap (UCI concrete: ~130
# epochs); the step budget bounds large ones (UCI protein, 37k training rows: 54, not 1000).
AUTO_STEPS = 20_000
AUTO_MAX_EPOCHS = 1000


def auto_epochs(n_train: int, batch_size: int) -> int:
    """Epochs that ``epochs="auto"`` trains: about 20,000 optimiser steps, 1 to 1000 epochs.

    Parameters
    ----------
    n_train : int
        Rows that take gradient steps (the validation rows excluded).
    batch_size : int

    Examples
    --------
    >>> auto_epochs(900, 100), auto_epochs(41_000, 100)
    (1000, 49)
    """
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(AUTO_MAX_EPOCHS, max(1, math.ceil(AUTO_STEPS / steps_per_epoch))))


class StackedEstimator(NetworkEstimator):
    """The fit and stacked forward pass of estimators whose model is a stack of members.

    Subclasses provide ``_spec()``, ``_member_seeds()``, ``_loss()`` and the target hooks, and may
    override ``_feature_scaler``, ``_train_config`` and ``_backend``. Besides the parameters
    of :class:`NetworkEstimator` they need ``epochs``, ``batch_size``, ``lr``, ``weight_decay``,
    ``patience``, ``verbose`` and ``predict_batch_size``.

    Examples
    --------
    A minimal Gaussian-mean ensemble: the subclass gives only its architecture, seeds, loss and
    the mapping from raw member outputs to a prediction.

    >>> import numpy as np
    >>> from uqkit._random import derive_seed
    >>> from uqkit.base import UQRegressorMixin
    >>> from uqkit.losses import GaussianMemberLoss
    >>> from uqkit.prediction import RegressionPrediction
    >>> from uqkit.training import RegressionTargets
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

    def _loss(self) -> MemberLoss:
        raise NotImplementedError

    def _train_config(self, X_train: torch.Tensor, has_validation: bool) -> TrainConfig:
        epochs = self.epochs
        if epochs == "auto":
            epochs = auto_epochs(len(X_train), self.batch_size)
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience if has_validation and self.early_stopping else None,
        )

    def _backend(self):
        """Where the members train: a ``backend`` value of :func:`~uqkit.training.fit_members`."""
        return "vectorized"

    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None):
        """Train the network(s).

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out to choose each member's best epoch; it is
        not used for gradient steps. Its row indices are kept in ``validation_indices_``: the
        same rows for an array and for a Dataset of the same length and ``random_state``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), N-D array, memmap, Dataset or DataLoader
            2-D features (arrays, DataFrames, tensors); or, for a ``module=`` network, rows of
            any shape such as images ``(n, c, h, w)`` or sequences ``(n, t, f)``, which the
            module receives batch by batch with that trailing shape. A ``np.memmap`` is read
            one batch of rows at a time, never whole. A map-style
            ``torch.utils.data.Dataset`` yielding ``(x, y)`` (or a ``DataLoader`` over one,
            whose dataset is read by index: each member draws its own batch order, so the
            loader's sampler and ``collate_fn`` are not used and a shuffling loader warns) is
            scanned once (shapes, finite values, targets, scaling) and then read a batch at a
            time; its features never go to the device whole. ``input_shape_`` keeps the shape
            of one row; ``n_features_in_`` is its number of values.
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for regression)
            None when ``X`` is a Dataset or a DataLoader (its items carry y).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights: every member minimises the weighted mean loss
            ``sum(w_i * loss_i) / sum(w_i)`` (each mini-batch an unbiased estimate of it), and
            early stopping scores the held-out rows by their own weights (an explicit ``X_val``
            is weighted equally). An integer weight ``k`` is the same objective as the row
            repeated ``k`` times; weights of ones give exactly the unweighted fit.
        X_val, y_val : array-like, optional
            Explicit validation data for early stopping (used instead of a held-out part); a
            Dataset as ``X_val`` with ``y_val=None``.

        Returns
        -------
        self
        """
        self._train_members(X, y, sample_weight, X_val, y_val)
        return self

    def _train_members(self, X, y, sample_weight=None, X_val=None, y_val=None) -> MemberData:
        """The body of :meth:`fit`: prepare the data, train the members into ``stack_`` and
        ``history_``, and return the prepared data (subclasses that add a post-hoc step after
        training, such as SWAG or Laplace, use it)."""
        data = self._prepare_data(X, y, X_val, y_val, sample_weight)
        self.stack_, self.history_ = fit_members(
            self._spec(),
            self._loss(),
            data,
            self._member_seeds(),
            self._train_config(data.X, data.X_val is not None),
            device=self.device_,
            backend=self._backend(),
            verbose=self.verbose,
        )
        return data

    def _fit_entropy(self, inputs: tuple) -> int:
        """This fit's entropy; with ``random_state=None`` and a ``checkpoint_dir``, the one an
        earlier fit of the same problem stored there, so a re-run resumes
        (``resume_entropy`` in ``uqkit.training._backends``)."""
        fresh = self._resolve_random_state()
        self.random_state_ = resume_entropy(self._backend(), self, fresh, inputs)
        return self.random_state_

    # -- prediction -----------------------------------------------------------------------------
    def _build_module(self, name: str) -> MemberStack:
        if name != "stack_":
            return super()._build_module(name)
        return self._spec().build(self._member_seeds())

    @torch.no_grad()
    def _member_outputs(self, X) -> torch.Tensor:
        """Raw outputs of every member, ``(n_members, n_samples, n_outputs)``, float64 on CPU."""
        check_fitted(self, "stack_")
        stack = self.stack_
        dtype = next(stack.parameters()).dtype
        rows = self._feature_rows(X, dtype)
        was_training = stack.training
        stack.eval()
        outputs = []
        try:
            for start in range(0, len(rows), self.predict_batch_size):
                xb = rows[start : start + self.predict_batch_size]
                outputs.append(stack(xb.expand(stack.n_members, *xb.shape)).double().cpu())
        finally:
            stack.train(was_training)
        return self._check_outputs(torch.cat(outputs, dim=1))
