"""What every recalibrator shares: it wraps a fitted model and is fitted on held-out data.

A recalibrator is itself a uqkit estimator: ``fit(X_cal, y_cal)`` runs the wrapped model on the
held-out rows and fits the calibration map; ``predict_uncertainty(X)`` returns the calibrated
prediction. ``fit_prediction(pred, y)`` and ``calibrate(pred)`` do the same from predictions
alone (no model needed). Saving stores the wrapped model inside the same file (the base
class nests estimator parameters).

The wrapped model may be any model :func:`uqkit.predict_uncertainty` reads: a uqkit estimator,
a ``Pipeline`` or search around one, a ``TransformedTargetRegressor`` with an affine target
transform, or a scikit-learn model with ``return_std`` / ``predict_proba``. Subclasses reach it
through ``_fitted_model()``, whose ``predict_uncertainty`` goes through that function, so each
of them accepts all of these without code of its own.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods

from uqkit._data import to_numpy
from uqkit.base import UQEstimator, check_fitted
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.interop import predict_uncertainty


class Recalibrator(UQEstimator):
    """Base of the recalibration wrappers (private; subclasses implement ``_fit``/``calibrate``)."""

    _parameter_constraints: ClassVar[dict] = {
        # any fitted model predict_uncertainty reads (refused there, with the reason, if it
        # gives no uncertainty)
        "estimator": [HasMethods(["predict_uncertainty"]), HasMethods(["predict"]), None]
    }

    # -- the wrapped model --------------------------------------------------------
    def _fitted_model(self):
        if self.estimator is None:
            raise InvalidInputError(
                f"This {type(self).__name__} has no model (estimator=None): it can only "
                "calibrate predictions with calibrate(pred). Pass estimator=<fitted model> to "
                "predict from features."
            )
        try:
            check_fitted(self.estimator)
        except NotFittedError as err:
            raise NotFittedError(
                f"{type(self).__name__} calibrates an already fitted model on held-out data, but "
                f"the wrapped {type(self.estimator).__name__} is not fitted. Fit it on the "
                "training data first, then fit the calibrator on data the model has not seen."
            ) from err
        if isinstance(self.estimator, UQEstimator):
            return self.estimator
        return _ModelView(self.estimator)

    def _copy_model_attributes(self, model) -> None:
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    # -- public API -----------------------------------------------------------------
    def fit(self, X, y):
        """Fit the calibration map on held-out data ``(X, y)`` the wrapped model has not seen.

        The wrapped model itself is not changed.

        Returns
        -------
        self
        """
        self._check_params()
        model = self._fitted_model()
        _check_calibration_size(y, type(self).__name__)
        self._fit(model.predict_uncertainty(X), y)
        self._copy_model_attributes(model)
        return self

    def fit_prediction(self, pred, y):
        """Fit the calibration map from a held-out prediction and its truth (no model call).

        Returns
        -------
        self
        """
        self._check_params()
        _check_calibration_size(y, type(self).__name__)
        self._fit(pred, y)
        return self

    def _predict_calibrated(self, X):
        """Calibrated prediction of the wrapped model on ``X`` (each subclass's
        ``predict_uncertainty``; the task mixins come first in the MRO)."""
        check_fitted(self)
        return self.calibrate(self._fitted_model().predict_uncertainty(X))

    def _fit(self, pred, y) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def calibrate(self, pred):  # pragma: no cover - abstract
        raise NotImplementedError


class _ModelView:
    """A wrapped scikit-learn model seen with a ``predict_uncertainty`` of
    :func:`uqkit.predict_uncertainty`; every other attribute is the model's own."""

    def __init__(self, model):
        self.model = model

    def predict_uncertainty(self, X):
        return predict_uncertainty(self.model, X)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def _check_calibration_size(y, name: str) -> None:
    """Refuse fewer than two held-out rows: one row gives a degenerate map (an infinite conformal
    quantile, a temperature that sends every probability to 0 or 1), not an error."""
    n = len(np.asarray(to_numpy(y)))
    if n < 2:
        raise InvalidInputError(
            f"{name} needs at least 2 held-out calibration rows; got {n}. Hold out more data "
            "the model has not seen (a few hundred rows is typical)."
        )
