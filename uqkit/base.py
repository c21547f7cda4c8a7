"""The estimator base and mixins every uqkit estimator shares: parameter and input validation,
fitted checks, seeding, device, and save/load.

An estimator subclasses :class:`UQEstimator` plus :class:`UQRegressorMixin` or
:class:`UQClassifierMixin`, declares ``_parameter_constraints`` (scikit-learn style, checked once in
``fit``) and implements ``fit`` and ``predict_uncertainty``. Saving works for free for fitted
attributes that are numpy arrays, JSON values or ``torch.nn.Module`` objects; a module is rebuilt on
load by the estimator's ``_build_module(name)``. Every subclass that is not abstract joins the
registry :func:`uqkit.utils.all_estimators` and the common tests.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted
from sklearn.utils.validation import validate_data

from uqkit._data import resolve_device, to_numpy
from uqkit._io import (
    decode_state,
    encode_state,
    import_uqkit_class,
    jsonable,
    read_model_file,
    write_model_file,
)
from uqkit._random import resolve_entropy
from uqkit._trust import check_trust, load_reference, reference_of, trusting
from uqkit.exceptions import InvalidInputError, ModelFileError, NotFittedError
from uqkit.metrics import classification_metrics, regression_metrics
from uqkit.prediction import ClassificationPrediction, RegressionPrediction, check_miscoverages

__all__ = [
    "UQClassifierMixin",
    "UQEstimator",
    "UQRegressorMixin",
    "check_fitted",
    "load",
]

_NESTED = "nested/"  # tensor-name prefix of a nested estimator's tensors


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
def _numeric_targets(y, owner: str):
    """``y`` unchanged when numeric (or None: scikit-learn's check says y is required); strings
    that are not numbers raise a clear error."""
    if y is None:
        return y
    y_array = np.asarray(y)
    if y_array.dtype.kind not in "USO":
        return y
    try:
        return y_array.astype(np.float64)
    except (TypeError, ValueError):
        flat = y_array.reshape(-1)
        example = str(next((v for v in flat if not _is_number(v)), flat[0]))
        raise InvalidInputError(
            f"{owner} is a regressor, so y must be numeric; got non-numeric values such as "
            f"{example!r}. Encode the targets as numbers, or use a classifier for class labels."
        ) from None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


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
        if regression:
            y = _numeric_targets(y, type(self).__name__)
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

    def _to_saved(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """This estimator as ``(header, tensors)``; estimators among the parameters nest inside."""
        check_fitted(self)
        state, tensors = encode_state({k: getattr(self, k) for k in self._fitted_attributes()})
        params, nested = {}, {}
        for key, value in self.get_params(deep=False).items():
            if isinstance(value, UQEstimator):
                nested[key], inner = value._to_saved()
                tensors.update({f"{_NESTED}{key}/{k}": v for k, v in inner.items()})
            else:
                params[key] = self._param_to_saved(key, value)
        header = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": params,
            "state": state,
            "nested": nested,
        }
        return header, tensors

    def save(self, path: str | Path) -> Path:
        """Save the fitted estimator to one safetensors file (JSON header + tensors; no pickle).

        A wrapped uqkit model (the ``estimator`` of a recalibrator) is saved inside the same file.

        Parameters
        ----------
        path : str or Path
            Destination; the suffix ``.safetensors`` is added when missing.

        Returns
        -------
        Path
            The written file. Load it with :func:`uqkit.load`.
        """
        header, tensors = self._to_saved()
        return write_model_file(path, header, tensors)

    # parameters that name the user's code (``module=``): saved as an importable reference,
    # imported on load only from a package the caller trusts (uqkit._trust)
    _code_parameters: tuple[str, ...] = ()

    def _param_to_saved(self, name: str, value):
        """The JSON form of parameter ``name``; subclasses holding a value object (such as a
        backend) override it together with :meth:`_param_from_saved`. A code parameter is
        written as its reference ``"package.module:QualName"`` (a lambda or closure refuses)."""
        if name in self._code_parameters and value is not None:
            return reference_of(value)
        return jsonable(value, name)

    @classmethod
    def _param_from_saved(cls, name: str, value):
        """Inverse of :meth:`_param_to_saved` for a value read from a file; a code parameter's
        reference is imported only when ``uqkit.load(..., trust=...)`` trusts its package."""
        if name in cls._code_parameters and value is not None:
            return load_reference(value)
        return value

    @classmethod
    def _from_saved(
        cls, header: dict, tensors: dict[str, torch.Tensor], device: str | None = None
    ) -> UQEstimator:
        """Rebuild an estimator from ``(header, tensors)``; ``device`` overrides the saved one."""
        params = {name: cls._param_from_saved(name, value)
                  for name, value in header["params"].items()}
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            # JSON has no tuples: give tuple-valued parameters (hidden_layers=(50,)) back their type
            if isinstance(parameter.default, tuple) and isinstance(params.get(name), list):
                params[name] = tuple(params[name])
        if device is not None and "device" in params:
            params["device"] = device
        for name, inner_header in header.get("nested", {}).items():
            prefix = f"{_NESTED}{name}/"
            inner = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            inner_cls = import_uqkit_class(inner_header.get("class", ""), UQEstimator)
            params[name] = inner_cls._from_saved(inner_header, inner, device=device)
        estimator = cls(**params)
        own = {k: v for k, v in tensors.items() if not k.startswith(_NESTED)}
        values, modules = decode_state(header["state"], own)
        for name, value in values.items():
            setattr(estimator, name, value)
        if hasattr(estimator, "device"):
            if device is not None or not hasattr(estimator, "device_"):
                estimator.device_ = resolve_device(estimator.device)
        for name, module_state in modules.items():
            estimator._check_module_shapes(name, module_state)
            module = estimator._build_module(name)
            module.load_state_dict(module_state, strict=True)
            if hasattr(estimator, "device_"):
                module = module.to(estimator.device_)
            setattr(estimator, name, module.eval())
        return estimator

    def _check_module_shapes(self, name: str, stored: dict[str, torch.Tensor]) -> None:
        """Compare the module the saved configuration declares with the stored tensors, before
        any of it is allocated: the module is first built on the ``meta`` device (shapes only).

        A file whose parameters declare a far larger network than its tensors (``hidden_layers``
        edited to ``[4000, 4000]``) is refused here instead of after allocating it.
        """
        real = getattr(self, "device_", None)
        try:
            with torch.device("meta"):
                if real is not None:
                    self.device_ = torch.device("meta")
                shell = self._build_module(name)
            expected = shell.state_dict()
        except Exception:
            # a family that cannot build on meta (Pyro and GPyTorch compute on values while
            # building) declares a lower bound on its size instead; the strict load_state_dict
            # after the real build checks the rest
            self._check_declared_size(name, stored)
            return
        finally:
            if real is not None:
                self.device_ = real
        # tensors of another shape or dtype first (the most telling), then missing or extra ones
        wrong = sorted(
            key for key in set(expected) & set(stored)
            if tuple(expected[key].shape) != tuple(stored[key].shape)
            or expected[key].dtype != stored[key].dtype
        )
        wrong += sorted(set(expected) ^ set(stored))
        if wrong:
            key = wrong[0]
            got = stored.get(key)
            want = expected.get(key)
            describe = f"{key!r}: declared {_shape(want)}, stored {_shape(got)}"
            raise ModelFileError(
                f"The saved parameters of {type(self).__name__} do not match its stored tensors "
                f"in module {name!r} ({len(wrong)} tensors differ; first {describe}). The file "
                "was edited or damaged: use the original file or refit and save again."
            )

    def _declared_elements(self, name: str, stored: dict[str, torch.Tensor]) -> int | None:
        """A lower bound on the number of tensor elements module ``name`` holds, computed from
        the configuration alone (``stored`` only says which parts exist); None when unknown.
        Overridden by the families that cannot be built on the ``meta`` device."""
        return None

    def _check_declared_size(self, name: str, stored: dict[str, torch.Tensor]) -> None:
        """Refuse a configuration that declares more elements than the file stores, before the
        module is built (a 3 KB file must not allocate a gigabyte to find out it is wrong)."""
        declared = self._declared_elements(name, stored)
        held = sum(int(tensor.numel()) for tensor in stored.values())
        if declared is not None and declared > held:
            raise ModelFileError(
                f"The saved parameters of {type(self).__name__} declare a module {name!r} of at "
                f"least {declared:,} numbers, but the file stores {held:,}. The file was edited "
                "or damaged: use the original file or refit and save again."
            )


def _shape(tensor: torch.Tensor | None) -> str:
    if tensor is None:
        return "absent"
    return f"{tuple(tensor.shape)} {str(tensor.dtype).removeprefix('torch.')}"


def _saved_devices(header: dict) -> list[str]:
    """The ``device`` parameters of a header and of the headers nested in it."""
    found = [str(header.get("params", {}).get("device", ""))]
    for inner in header.get("nested", {}).values():
        found += _saved_devices(inner)
    return found


def load(
    path: str | Path, device: str | None = None, trust: list[str] | str | None = None
) -> UQEstimator:
    """Load an estimator written by ``save``. Never executes code from the file, and imports
    the user's code it names (a ``module="package.module:Name"`` reference) only from the
    packages in ``trust``.

    Before anything is built the file is checked: its first bytes (a zip archive or a pickle is
    named for what it is), its format version (a newer one says which uqkit wrote it), its
    checksum (over the header and every tensor's name, dtype, shape and bytes) and the shapes
    that the saved configuration declares against the stored tensors.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file written by ``UQEstimator.save``.
    device : str, optional
        Where the loaded model runs, e.g. ``"cpu"`` for a model saved with ``device="cuda"``
        on a machine without a GPU; it replaces the saved ``device`` parameter (of the wrapped
        model too). By default the saved device is used.
    trust : list of str, optional
        Packages (``"mypackage"``, or a prefix such as ``"mypackage.models"``) whose code the
        file may name as its networks' ``module``: such a reference is imported, and its class
        or function called with the saved ``module_kwargs``, only when its package is listed
        here (also for a nested model). A string is one package name. Trust a package only if
        you would run ``Name(in_features, out_features, **kwargs)`` from it with keyword
        arguments taken from the file. uqkit's own estimator classes need no trust.

    Returns
    -------
    UQEstimator
        The fitted estimator; its predictions equal those of the saved one.

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, of another kind, modified after saving, of another
        format version, names an unknown class, declares a network its tensors do not match,
        needs CUDA where there is none (pass ``device="cpu"``), or names a module of a package
        not in ``trust`` (the message names it and says ``trust=["package"]``).

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
    ...     restored = uqkit.load(path, device="cpu")
    >>> path.name
    'ensemble.safetensors'
    >>> np.array_equal(restored.predict(X), model.predict(X))
    True
    """
    trusted = check_trust(trust)
    header, tensors = read_model_file(path)
    class_path = header.get("class", "")
    cls = import_uqkit_class(class_path, UQEstimator)
    if device is None and not torch.cuda.is_available():
        cuda = [d for d in _saved_devices(header) if d.startswith("cuda")]
        if cuda:
            raise ModelFileError(
                f"{str(path)!r} holds a model saved with device={cuda[0]!r}, but CUDA is not "
                "available here. Load it on the CPU with uqkit.load(path, device='cpu') (uqkit "
                "report: --device cpu)."
            )
    if device is not None:
        try:
            resolve_device(device)
        except (InvalidInputError, RuntimeError) as err:
            raise InvalidInputError(
                f"uqkit.load: device={device!r} cannot be used here ({err}). Pass "
                "device='cpu', 'cuda' (with a GPU) or None for the saved device."
            ) from err
    try:
        with trusting(trusted):
            estimator = cls._from_saved(header, tensors, device=device)
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(f"Could not rebuild {class_path} from {str(path)!r}: {err}") from err
    _check_loaded_model_predicts(estimator, path)
    return estimator


def _check_loaded_model_predicts(estimator: UQEstimator, path) -> None:
    """Predict one row of zeros with a freshly loaded tabular model, so that a file which
    rebuilds but cannot predict (a fitted attribute dropped by an edit that recomputed the
    checksum) is refused here, as a ModelFileError, not at the user's first prediction."""
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int | np.integer) or not hasattr(
        estimator, "predict_uncertainty"
    ):
        return
    # a model fitted on N-D rows (images) predicts rows of that shape
    shape = tuple(getattr(estimator, "input_shape_", None) or (int(n_features),))
    X = np.zeros((1, *shape))
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        X = pd.DataFrame(X, columns=list(names))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a row of zeros may be far from the data
            estimator.predict_uncertainty(X)
    except Exception as err:
        raise ModelFileError(
            f"{str(path)!r} rebuilds a {type(estimator).__name__}, but it cannot predict "
            f"({type(err).__name__}: {err}). The file was edited or damaged: use the original "
            "file or refit and save again."
        ) from err


# ---------------------------------------------------------------------------- mixins
def _keep_row_labels(cls) -> None:
    """Make ``cls.predict_uncertainty`` (when ``cls`` defines one) give its prediction the index
    of a pandas ``X``, so that ``to_frame()`` keeps the user's row labels.

    Done once here, when the class is created, instead of in every family's prediction path;
    the wrapper only reads ``X`` and returns a new prediction, so it is thread-safe.
    """
    method = cls.__dict__.get("predict_uncertainty")
    if method is None or getattr(method, "_keeps_row_labels", False):
        return

    @functools.wraps(method)
    def predict_uncertainty(self, X, *args, **kwargs):
        pred = method(self, X, *args, **kwargs)
        index = getattr(X, "index", None) if type(X).__module__.startswith("pandas") else None
        if (
            index is not None
            and isinstance(pred, RegressionPrediction | ClassificationPrediction)
            and pred.index is None
            and len(index) == len(pred)
        ):
            pred = dataclasses.replace(pred, index=index)
        return pred

    predict_uncertainty._keeps_row_labels = True
    cls.predict_uncertainty = predict_uncertainty


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
    >>> mean, std = model.predict(np.zeros((1, 1)), return_std=True)  # scikit-learn's convention
    >>> mean, std.round(3)
    (array([1.5]), array([1.118]))
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _keep_row_labels(cls)

    def predict_uncertainty(self, X) -> RegressionPrediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X, return_std: bool = False):
        """Predictive mean, in the units of the training targets; with ``return_std`` also the
        total predictive standard deviation.

        ``return_std`` is scikit-learn's convention (``GaussianProcessRegressor``,
        ``BayesianRidge``), which ``Pipeline.predict(X, return_std=True)`` forwards to its last
        step; it is the one place uqkit returns a tuple from a flag (docs/design-decisions.md).
        :meth:`predict_uncertainty` gives the whole prediction instead.

        Parameters
        ----------
        X : array-like of shape (n, p)
        return_std : bool, default False

        Returns
        -------
        mean : ndarray of shape (n,) or (n, d)
        std : ndarray, same shape as ``mean``
            Only with ``return_std=True``: ``sqrt(aleatoric + epistemic)``.
        """
        pred = self.predict_uncertainty(X)
        if return_std:
            return pred.mean, pred.std()
        return pred.mean

    def predict_interval(
        self, X, alpha=0.1, *, coverage=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval(s) of the predictive distribution: ``(lower, upper)``.

        ``alpha`` is the miscoverage, in (0, 0.5] (0.1 gives a 90% interval); intervals of
        coverage below 50% are asked for with ``coverage`` in (0, 1) instead. A sequence of
        levels (``alpha=[0.2, 0.1]`` or ``coverage=[0.8, 0.9]``) gives ``lower`` and ``upper``
        of shape ``(n, k)`` (``(n, d, k)`` for multi-output), one column per level in the order
        given; see :meth:`uqkit.RegressionPrediction.interval`.
        """
        check_miscoverages(alpha, coverage)  # refuse a misread level before predicting
        return self.predict_uncertainty(X).interval(alpha, coverage=coverage)

    def evaluate(self, X, y) -> dict[str, float]:
        """Uncertainty metrics on ``(X, y)``: NLL, CRPS, RMSE, 90% coverage/width, variances.

        See :func:`uqkit.metrics.regression_metrics` for the full list.
        """
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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _keep_row_labels(cls)

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

        See :func:`uqkit.metrics.classification_metrics` for the full list.
        """
        return classification_metrics(self.predict_uncertainty(X), to_numpy(y))
