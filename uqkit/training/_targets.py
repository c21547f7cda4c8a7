"""Target mixins of network estimators: standardised regression targets, or class labels encoded
as indices into ``classes_``."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets

from uqkit._data import Standardizer
from uqkit.exceptions import InvalidInputError

__all__ = ["ClassificationTargets", "RegressionTargets", "check_target_scale"]


# Predictions are computed in standardised units (float32 by default: outputs up to ~3e38, and
# an evidential epistemic variance up to 3e38 / (1e-6 * 1e-6) = 3e50) and brought back as
# ``mean * scale + shift`` and ``variance * scale**2`` in float64. Within these bounds neither
# overflows (3e50 * 1e100**2 < 1.8e308) nor underflows (a variance floor of 1e-6 times
# 1e-150**2 stays a normal float64).
TARGET_SCALE_RANGE = (1e-150, 1e100)


def check_target_scale(scale: np.ndarray) -> None:
    """Refuse target columns whose spread would overflow or underflow the back-transform.

    Every regressor calls it on its fitted target scale (the network families through
    :class:`RegressionTargets`, the GP and the Bayesian MLP directly).

    Examples
    --------
    >>> check_target_scale(np.array([2.5, 1e-3]))
    >>> try:
    ...     check_target_scale(np.array([1e200]))
    ... except InvalidInputError as err:
    ...     print(str(err)[:45])
    y column 0 has a standard deviation of 1e+200
    """
    low, high = TARGET_SCALE_RANGE
    for column, value in enumerate(np.asarray(scale, dtype=np.float64)):
        if not low <= value <= high:
            raise InvalidInputError(
                f"y column {column} has a standard deviation of {value:.3g}; uqkit supports "
                f"targets whose spread is between {low:g} and {high:g}, because predictive "
                "variances in the units of y (spread squared) would otherwise overflow or "
                f"underflow float64. Rescale y before fit (e.g. divide it by {value:.0e}) and "
                "scale the predictions back."
            )


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
            check_target_scale(scaler.scale)
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
