"""What every recalibrator shares: it wraps a fitted uqkit model and is fitted on held-out data.

A recalibrator is itself a uqkit estimator: ``fit(X_cal, y_cal)`` runs the wrapped model on the
held-out rows and fits the calibration map; ``predict_uncertainty(X)`` returns the calibrated
prediction. ``fit_prediction(pred, y)`` and ``calibrate(pred)`` do the same from predictions
alone (no model needed). Saving stores the wrapped model inside the same file.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods

from uqkit.base import (
    _CLASS_PATH,
    _METADATA_KEY,
    FORMAT_VERSION,
    UQEstimator,
    _digest,
    _jsonable,
    check_fitted,
)
from uqkit.exceptions import InvalidInputError, ModelFileError, NotFittedError

_NESTED = "estimator/"


class Recalibrator(UQEstimator):
    """Base of the recalibration wrappers (private; subclasses implement ``_fit``/``calibrate``)."""

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["predict_uncertainty"]), None]
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
        return self.estimator

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

    # -- save / load with the wrapped model inside ----------------------------------
    def save(self, path: str | Path) -> Path:
        """Save the calibrator and its wrapped model to one safetensors file (no pickle).

        Parameters
        ----------
        path : str or Path
            Destination; ``.safetensors`` is added when missing. Load it with :func:`uqkit.load`.

        Returns
        -------
        Path
        """
        import torch
        from safetensors import safe_open
        from safetensors.torch import save_file

        check_fitted(self)
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        state: dict = {}
        tensors: dict = {}
        for name in self._fitted_attributes():
            value = getattr(self, name)
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                state[name] = {"kind": "array", "dtype": str(value.dtype)}
                tensors[name] = torch.from_numpy(np.ascontiguousarray(value))
            elif isinstance(value, np.ndarray):
                state[name] = {"kind": "list_array", "value": value.tolist()}
            else:
                state[name] = {"kind": "json", "value": _jsonable(value, name)}
        nested = None
        if self.estimator is not None:
            with tempfile.TemporaryDirectory() as folder:
                inner_path = self.estimator.save(Path(folder) / "model.safetensors")
                with safe_open(str(inner_path), framework="pt") as handle:
                    nested = json.loads(handle.metadata()[_METADATA_KEY])
                    for key in handle.keys():
                        tensors[_NESTED + key] = handle.get_tensor(key)
        params = {
            k: _jsonable(v, k) for k, v in self.get_params(deep=False).items() if k != "estimator"
        }
        header = {
            "format_version": FORMAT_VERSION,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": params,
            "state": state,
            "estimator": nested,
        }
        text = json.dumps(header, sort_keys=True)
        metadata = {_METADATA_KEY: text, "sha256": _digest(text, tensors)}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def _from_saved(cls, header: dict, tensors: dict) -> Recalibrator:
        nested = header.get("estimator")
        own = {k: v for k, v in tensors.items() if not k.startswith(_NESTED)}
        calibrator = super()._from_saved(header, own)
        if nested is not None:
            inner = {k[len(_NESTED) :]: v for k, v in tensors.items() if k.startswith(_NESTED)}
            model_cls = _estimator_class(nested.get("class", ""))
            calibrator.set_params(estimator=model_cls._from_saved(nested, inner))
        return calibrator


def _estimator_class(class_path: str) -> type[UQEstimator]:
    """The uqkit estimator class named ``module:Class`` in a saved header (never arbitrary code)."""
    if not _CLASS_PATH.match(class_path):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    module_name, class_name = class_path.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ModelFileError(f"Unknown uqkit estimator class {class_path!r}.") from err
    if not (isinstance(cls, type) and issubclass(cls, UQEstimator)):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    return cls
