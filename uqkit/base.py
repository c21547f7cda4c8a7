"""What every uqkit estimator shares: validation, scaling, seeding, device, fitted checks,
save/load.

An estimator subclasses :class:`UQEstimator` plus :class:`UQRegressorMixin` or
:class:`UQClassifierMixin`, declares ``_parameter_constraints`` (scikit-learn style, checked once in
``fit``) and implements ``fit`` and ``predict_uncertainty``. Saving works for free for fitted
attributes that are numpy arrays, JSON values or ``torch.nn.Module`` objects; a module is rebuilt on
load by the estimator's ``_build_module(name)``.

Examples
--------
>>> import numpy as np
>>> scaler = Standardizer.fit(np.array([[1.0], [3.0]]))
>>> scaler.transform(np.array([[3.0]]))
array([[1.]])
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted
from sklearn.utils.validation import validate_data

from uqkit.exceptions import InvalidInputError, ModelFileError, NotFittedError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = [
    "Standardizer",
    "UQClassifierMixin",
    "UQEstimator",
    "UQRegressorMixin",
    "check_fitted",
    "derive_seed",
    "load",
    "resolve_device",
    "to_numpy",
]

FORMAT_VERSION = 1
_METADATA_KEY = "uqkit"
_CLASS_PATH = re.compile(r"^uqkit(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------- small helpers
def to_numpy(values) -> Any:
    """Return ``values`` as something scikit-learn validation accepts (torch tensors → numpy).

    Parameters
    ----------
    values : torch.Tensor or array-like
        A tensor (on any device, with or without grad) or anything else.

    Returns
    -------
    numpy.ndarray or object
        The tensor as a detached numpy array on the CPU; any other value unchanged.

    Examples
    --------
    >>> to_numpy(torch.tensor([1.0, 2.0], requires_grad=True))
    array([1., 2.], dtype=float32)
    >>> to_numpy([[1, 2]])
    [[1, 2]]
    """
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return values


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to ``torch.device``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device='cuda' was requested but CUDA is not available here.")
    return device


def resolve_dtype(dtype: str) -> torch.dtype:
    """``"float32"`` or ``"float64"`` → the torch dtype."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


def derive_seed(entropy: int, *keys: int) -> int:
    """A 63-bit seed derived from ``entropy`` and a path of integer keys.

    Member ``i`` of an ensemble uses ``derive_seed(entropy, i)``: the seed depends on the member's
    index only, not on how many members there are or on the backend that trains them.

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    sequence = np.random.SeedSequence(entropy, spawn_key=tuple(int(k) for k in keys))
    return int(sequence.generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))


def resolve_entropy(random_state) -> int:
    """Turn a ``random_state`` (None, int, numpy RandomState/Generator) into an integer entropy."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**32))  # a valid sklearn random_state
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise InvalidInputError(
        f"random_state must be None, an int, a RandomState or a Generator; got {random_state!r}."
    )


@dataclass
class Standardizer:
    """Affine scaling ``(x - mean) / scale``; constant columns keep scale 1.

    Parameters
    ----------
    mean : numpy.ndarray of shape (p,)
        Value subtracted from every column.
    scale : numpy.ndarray of shape (p,)
        Positive divisor of every column.

    Examples
    --------
    >>> values = np.array([[1.0, 5.0], [3.0, 5.0]])
    >>> scaler = Standardizer.fit(values)
    >>> scaler.transform(values)
    array([[-1.,  0.],
           [ 1.,  0.]])
    >>> np.allclose(scaler.inverse_transform(scaler.transform(values)), values)
    True
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, mode: str = "column") -> Standardizer:
        """Fit on ``values`` of shape (n, p).

        ``mode="column"`` scales every column on its own; ``"global"`` uses one mean and scale
        for all columns (pixels: per-column scaling would blow up pixels that are almost always
        dark); ``"none"`` is the identity.
        """
        if mode == "none":
            return cls.identity(values.shape[1])
        if mode == "global":
            scale = float(values.std()) or 1.0
            width = values.shape[1]
            return cls(np.full(width, float(values.mean())), np.full(width, scale))
        if mode != "column":
            raise ValueError(f"mode must be 'column', 'global' or 'none'; got {mode!r}.")
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        scale = np.where(scale > 1e-12 * np.maximum(np.abs(mean), 1.0), scale, 1.0)
        return cls(mean=mean, scale=scale)

    @classmethod
    def identity(cls, n_columns: int) -> Standardizer:
        return cls(mean=np.zeros(n_columns), scale=np.ones(n_columns))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean


def check_fitted(estimator: BaseEstimator, attributes: str | list[str] | None = None) -> None:
    """Raise :class:`uqkit.exceptions.NotFittedError` unless ``estimator`` was fitted.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator to check.
    attributes : str or list of str, optional
        Fitted attributes that must exist; by default any public attribute ending in ``_``.

    Raises
    ------
    NotFittedError
        If the estimator has not been fitted; also a scikit-learn ``NotFittedError``.

    Examples
    --------
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> from uqkit.exceptions import NotFittedError
    >>> try:
    ...     check_fitted(DeepEnsembleRegressor())
    ... except NotFittedError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    This DeepEnsembleRegressor instance is not fitted yet. Call 'fit' with appropriate ...
    """
    try:
        _sk_check_is_fitted(estimator, attributes)
    except _SklearnNotFittedError as err:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        ) from err


# ---------------------------------------------------------------------------- the base class
class UQEstimator(BaseEstimator):
    """Base of every uqkit estimator: validation, seeding, device and save/load.

    Subclasses set ``_parameter_constraints`` and implement ``fit``/``predict_uncertainty``.
    Fitted ``torch.nn.Module`` attributes are saved as safetensors and rebuilt on load through
    ``_build_module(name)``, which subclasses holding modules implement.

    Examples
    --------
    Every estimator is a scikit-learn estimator: it can be cloned, and it refuses to be saved
    before ``fit``.

    >>> from sklearn.base import clone
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> model = DeepEnsembleRegressor(n_members=2, epochs=3)
    >>> isinstance(model, UQEstimator), clone(model).get_params()["n_members"]
    (True, 2)
    >>> model.save("never-written.safetensors")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    uqkit.exceptions.NotFittedError: This DeepEnsembleRegressor instance is not fitted yet...
    """

    _parameter_constraints: dict = {}

    # -- validation ---------------------------------------------------------------
    def _check_params(self) -> None:
        """Check ``__init__`` parameters against ``_parameter_constraints`` (in ``fit`` only)."""
        self._validate_params()

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        """Validate features; with ``reset`` record ``n_features_in_`` (and feature names)."""
        if not reset:
            check_fitted(self)
        try:
            X = validate_data(
                self, to_numpy(X), reset=reset, dtype=np.float64, ensure_all_finite=True
            )
        except ValueError as err:
            raise InvalidInputError(f"{type(self).__name__}: {err}") from err
        return X

    def _check_X_y(self, X, y, *, regression: bool) -> tuple[np.ndarray, np.ndarray]:
        """Validate features and targets together in ``fit``."""
        y = to_numpy(y)
        try:
            X, y = validate_data(
                self,
                to_numpy(X),
                y,
                reset=True,
                dtype=np.float64,
                ensure_all_finite=True,
                multi_output=regression,
                y_numeric=regression,
                ensure_min_samples=2,
            )
        except ValueError as err:
            raise InvalidInputError(f"{type(self).__name__}: {err}") from err
        if regression:
            y = np.asarray(y, dtype=np.float64)
        return X, y

    def _check_validation_data(self, X_val, y_val, *, regression: bool):
        """Validate an explicit validation set passed to ``fit``; ``(None, None)`` when absent."""
        if X_val is None and y_val is None:
            return None, None
        if X_val is None or y_val is None:
            raise InvalidInputError("Pass both X_val and y_val, or neither.")
        X_val = self._check_X(X_val, reset=False) if hasattr(self, "n_features_in_") else X_val
        y_val = np.asarray(to_numpy(y_val))
        if len(y_val) != len(X_val):
            raise InvalidInputError(
                f"X_val has {len(X_val)} rows but y_val has {len(y_val)} entries."
            )
        if regression:
            y_val = y_val.astype(np.float64)
            if not np.all(np.isfinite(y_val)):
                raise InvalidInputError("y_val contains NaN or infinite values.")
        return X_val, y_val

    # -- randomness and device ----------------------------------------------------
    def _resolve_random_state(self) -> int:
        """Fix this fit's entropy in ``random_state_`` so that it can be reproduced later."""
        self.random_state_ = resolve_entropy(getattr(self, "random_state", None))
        return self.random_state_

    # -- save / load ----------------------------------------------------------------
    def _build_module(self, name: str) -> torch.nn.Module:
        """Rebuild the (untrained) module stored in attribute ``name``; used by ``load``."""
        raise NotImplementedError(f"{type(self).__name__} does not know how to rebuild {name!r}.")

    def _fitted_attributes(self) -> list[str]:
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]

    def save(self, path: str | Path) -> Path:
        """Save the fitted estimator to one safetensors file (JSON header + tensors; no pickle).

        Parameters
        ----------
        path : str or Path
            Destination; the suffix ``.safetensors`` is added when missing.

        Returns
        -------
        Path
            The written file. Load it with :func:`uqkit.load`.
        """
        from safetensors.torch import save_file

        check_fitted(self)
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        state: dict[str, Any] = {}
        tensors: dict[str, torch.Tensor] = {}
        for name in self._fitted_attributes():
            value = getattr(self, name)
            if isinstance(value, torch.nn.Module):
                state[name] = {"kind": "module"}
                for key, tensor in value.state_dict().items():
                    tensors[f"{name}/{key}"] = tensor.detach().cpu().contiguous()
            elif isinstance(value, torch.Tensor):
                state[name] = {"kind": "tensor"}
                tensors[name] = value.detach().cpu().contiguous()
            elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                state[name] = {"kind": "array", "dtype": str(value.dtype)}
                tensors[name] = torch.from_numpy(np.ascontiguousarray(value))
            elif isinstance(value, np.ndarray):
                state[name] = {"kind": "list_array", "value": value.tolist()}
            elif isinstance(value, torch.device):
                continue  # resolved again on load
            else:
                state[name] = {"kind": "json", "value": _jsonable(value, name)}
        header = {
            "format_version": FORMAT_VERSION,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": {k: _jsonable(v, k) for k, v in self.get_params(deep=False).items()},
            "state": state,
        }
        text = json.dumps(header, sort_keys=True)
        metadata = {_METADATA_KEY: text, "sha256": _digest(text, tensors)}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def _from_saved(cls, header: dict, tensors: dict[str, torch.Tensor]) -> UQEstimator:
        import inspect

        params = dict(header["params"])
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            # JSON has no tuples: give tuple-valued parameters (hidden_layers=(50,)) back their type
            if isinstance(parameter.default, tuple) and isinstance(params.get(name), list):
                params[name] = tuple(params[name])
        estimator = cls(**params)
        modules = []
        for name, entry in header["state"].items():
            kind = entry["kind"]
            if kind == "array":
                setattr(estimator, name, tensors[name].numpy().astype(entry["dtype"]))
            elif kind == "tensor":
                setattr(estimator, name, tensors[name])
            elif kind == "list_array":
                setattr(estimator, name, np.asarray(entry["value"]))
            elif kind == "json":
                setattr(estimator, name, entry["value"])
            elif kind == "module":
                modules.append(name)
            else:
                raise ModelFileError(f"unknown state kind {kind!r} for {name!r}.")
        if hasattr(estimator, "device") and not hasattr(estimator, "device_"):
            estimator.device_ = resolve_device(estimator.device)
        for name in modules:
            module = estimator._build_module(name)
            prefix = f"{name}/"
            module_state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            module.load_state_dict(module_state, strict=True)
            if hasattr(estimator, "device_"):
                module = module.to(estimator.device_)
            setattr(estimator, name, module.eval())
        return estimator


def _digest(text: str, tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(text.encode())
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _jsonable(value, name: str):
    """A JSON-compatible copy of ``value``; refuse anything that would need code to restore."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.device):
        return str(value)
    raise ModelFileError(
        f"Cannot save {name!r} = {value!r}: uqkit files hold only JSON values and tensors, "
        "never code. Use a built-in option instead of a Python object to make the model savable."
    )


def load(path: str | Path) -> UQEstimator:
    """Load an estimator written by ``save``. Never executes code from the file.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file written by ``UQEstimator.save``.

    Returns
    -------
    UQEstimator
        The fitted estimator; its predictions equal those of the saved one.

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, modified after saving, or names an unknown class.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import uqkit
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    >>> model = DeepEnsembleRegressor(
    ...     n_members=2, hidden_layers=(8,), epochs=2, verbose=0, random_state=0
    ... ).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = model.save(Path(folder) / "ensemble")
    ...     restored = uqkit.load(path)
    >>> path.name
    'ensemble.safetensors'
    >>> np.array_equal(restored.predict(X), model.predict(X))
    True
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".safetensors").exists():
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise ModelFileError(f"No model file at {str(path)!r}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        text = metadata[_METADATA_KEY]
        header = json.loads(text)
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{str(path)!r} is not a readable uqkit model file: {err}") from err
    if metadata.get("sha256") != _digest(text, tensors):
        raise ModelFileError(f"{str(path)!r} was modified after it was saved (checksum mismatch).")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"Unsupported uqkit file format {header.get('format_version')!r}.")
    class_path = header.get("class", "")
    if not _CLASS_PATH.match(class_path):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    module_name, class_name = class_path.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ModelFileError(f"Unknown uqkit estimator class {class_path!r}.") from err
    if not (isinstance(cls, type) and issubclass(cls, UQEstimator)):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    try:
        return cls._from_saved(header, tensors)
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(f"Could not rebuild {class_name} from {str(path)!r}: {err}") from err


# ---------------------------------------------------------------------------- mixins
class UQRegressorMixin(RegressorMixin):
    """``predict``, ``predict_interval`` and ``evaluate`` from ``predict_uncertainty``.

    A regressor implements ``predict_uncertainty(X) -> RegressionPrediction``; the mixin derives
    the point prediction, the interval and the metrics from it.

    Examples
    --------
    >>> class ConstantRegressor(UQRegressorMixin, UQEstimator):
    ...     def fit(self, X, y):
    ...         self.mean_, self.var_ = float(np.mean(y)), float(np.var(y))
    ...         return self
    ...     def predict_uncertainty(self, X):
    ...         n = len(X)
    ...         return RegressionPrediction.normal(np.full(n, self.mean_), np.full(n, self.var_))
    >>> model = ConstantRegressor().fit(np.zeros((4, 1)), np.array([0.0, 1.0, 2.0, 3.0]))
    >>> model.predict(np.zeros((2, 1)))
    array([1.5, 1.5])
    >>> lower, upper = model.predict_interval(np.zeros((1, 1)), alpha=0.1)
    >>> np.round(upper - lower, 3)  # 2 * 1.645 * sqrt(1.25)
    array([3.678])
    """

    def predict_uncertainty(self, X) -> RegressionPrediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Predictive mean, in the units of the training targets."""
        return self.predict_uncertainty(X).mean

    def predict_interval(self, X, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval of the predictive distribution: ``(lower, upper)``."""
        return self.predict_uncertainty(X).interval(alpha)

    def evaluate(self, X, y) -> dict[str, float]:
        """Uncertainty metrics on ``(X, y)``: NLL, CRPS, RMSE, 90% coverage/width, variances.

        See :func:`uqkit.calibration.regression_metrics` for the full list.
        """
        from uqkit.calibration import regression_metrics  # lazy: calibration imports this module

        return regression_metrics(self.predict_uncertainty(X), to_numpy(y))


class UQClassifierMixin(ClassifierMixin):
    """``predict``, ``predict_proba`` and ``evaluate`` from ``predict_uncertainty``.

    A classifier implements ``predict_uncertainty(X) -> ClassificationPrediction`` (with its
    ``classes``); the mixin derives probabilities, labels and metrics from it.

    Examples
    --------
    >>> class PriorClassifier(UQClassifierMixin, UQEstimator):
    ...     def fit(self, X, y):
    ...         self.classes_, counts = np.unique(y, return_counts=True)
    ...         self.prior_ = counts / counts.sum()
    ...         return self
    ...     def predict_uncertainty(self, X):
    ...         probs = np.tile(self.prior_, (len(X), 1))
    ...         return ClassificationPrediction(probs, classes=self.classes_)
    >>> model = PriorClassifier().fit(np.zeros((4, 1)), np.array(["a", "b", "b", "b"]))
    >>> model.predict_proba(np.zeros((1, 1)))
    array([[0.25, 0.75]])
    >>> model.predict(np.zeros((2, 1)))
    array(['b', 'b'], dtype='<U1')
    """

    def predict_uncertainty(self, X) -> ClassificationPrediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        """Predictive class probabilities, columns ordered as ``classes_``."""
        return self.predict_uncertainty(X).probs

    def predict(self, X) -> np.ndarray:
        """Most probable class label."""
        return self.predict_uncertainty(X).label

    def evaluate(self, X, y) -> dict[str, float]:
        """Uncertainty metrics on ``(X, y)``: NLL, accuracy, Brier score, ECE, uncertainties.

        See :func:`uqkit.calibration.classification_metrics` for the full list.
        """
        from uqkit.calibration import classification_metrics

        return classification_metrics(self.predict_uncertainty(X), to_numpy(y))
