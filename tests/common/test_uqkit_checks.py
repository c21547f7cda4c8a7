"""The uqkit checks every registered estimator runs, without being listed here.

For each class of :func:`uqkit.utils.all_estimators` (built by ``tests.helpers.make_case`` with
its ``QUICK`` settings):

* ``save`` → ``uqkit.load`` gives the same parameters and identical predictions (every field of
  ``predict_uncertainty``; fitted arrays for an estimator without predictions);
* ``predict_uncertainty`` returns the shared types (``RegressionPrediction`` /
  ``ClassificationPrediction``) with the right shapes, finite values and variances >= 0;
* the bad inputs of DESIGN §3 give clear uqkit errors: NaN/inf in X, X and y of different
  lengths, too few samples, one class, a feature count changed since fit, an invalid
  hyperparameter, and using the estimator before ``fit`` (``NotFittedError``).

A check that cannot apply to an estimator is skipped with its reason: the reasons that follow
from the estimator's shape (a recalibrator, a ``fit`` without a feature matrix) are derived
below, the others are listed by class name in ``NOT_APPLICABLE``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import uqkit
from tests.helpers import MARKS, NOT_TABULAR, kind_of, make_case
from uqkit.base import UQEstimator
from uqkit.exceptions import InvalidInputError, NotFittedError, UQKitError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.utils import all_estimators

# Checks that do not apply to one estimator class: class name -> {check: reason}.
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "BayesianLoRA": {
        "save_load": "wraps the user's peft model, which peft saves (save_pretrained); "
        "BayesianLoRA.save raises and says so",
    },
    "GloVe": {
        "prediction_types": "trains point word vectors; GloVeV gives their uncertainty",
    },
    "NetcalCalibrator": {
        "save_load": "netcal's fitted calibrators are Python objects a uqkit file cannot hold "
        "(no pickle); NetcalCalibrator.save raises and says so",
    },
    **{
        name: {"save_load": "laplace-torch's posterior (Kronecker factors) has no pickle-free "
               "form; save raises ModelFileError and names from_module (tests/posthoc/"
               "test_laplace.py)"}
        for name in ("LaplaceRegressor", "LaplaceClassifier")
    },
    "JackknifePlusRegressor": {
        "save_load": "its default estimator is scikit-learn's LinearRegression, which uqkit "
        "files refuse (no pickled code); tests/calibration/test_jackknife.py saves and loads "
        "one around a uqkit regressor",
    },
}

ESTIMATORS = all_estimators()


CLASSES = [pytest.param(cls, id=name, marks=MARKS.get(name, [])) for name, cls in ESTIMATORS]


def _reason_not_applicable(cls: type, check: str, case=None) -> str | None:
    """Why ``check`` cannot apply to ``cls``: listed in NOT_APPLICABLE, or following from its
    shape (not a classifier, a recalibrator, a ``fit`` without a feature matrix)."""
    name = cls.__name__
    if check in NOT_APPLICABLE.get(name, {}):
        return NOT_APPLICABLE[name][check]
    if check == "one_class" and kind_of(cls) != "classifier":
        return "not a classifier"
    if case is None:
        return None
    if check == "one_class" and case.recalibrator:
        return ("a recalibrator takes its classes from the fitted model it wraps; held-out rows "
                "of one class are valid calibration data")
    not_tabular = NOT_TABULAR.get(name, "fit takes no feature matrix")
    if not case.tabular and check in BAD_FIT_CHECKS and check not in case.bad_fits:
        return f"{not_tabular}: no such input"
    if not case.tabular and check in ("nan_predict", "feature_count_changed"):
        return f"{not_tabular}: no feature matrix to predict on"
    return None


def _skip_if_not_applicable(cls: type, check: str, case=None) -> None:
    reason = _reason_not_applicable(cls, check, case)
    if reason:
        pytest.skip(reason)


# ------------------------------------------------------------------------------- the registry
def test_the_registry_lists_the_families():
    names = {name for name, _ in ESTIMATORS}
    assert {"DeepEnsembleRegressor", "DeepEnsembleClassifier", "GPRegressor"} <= names
    assert all(issubclass(cls, UQEstimator) for _, cls in ESTIMATORS)
    unknown = set(NOT_APPLICABLE) - names
    assert not unknown, f"NOT_APPLICABLE names classes that are not registered: {unknown}"


# ------------------------------------------------------------------------------ save -> load
def _same(a, b, where: str) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        floats = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        assert np.array_equal(a, b, equal_nan=floats), where
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        _same(_fields(a), _fields(b), where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple) and a and isinstance(a[0], np.ndarray):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _fields(prediction) -> dict:
    if dataclasses.is_dataclass(prediction):
        return {f.name: getattr(prediction, f.name) for f in dataclasses.fields(prediction)}
    return dict(vars(prediction))


def _comparable_params(estimator) -> dict:
    # a wrapped model is compared through the predictions; here only its class
    return {
        key: type(value) if isinstance(value, UQEstimator) else value
        for key, value in estimator.get_params(deep=False).items()
    }


@pytest.mark.parametrize("cls", CLASSES)
def test_save_load_gives_identical_predictions(cls, fitted, tmp_path):
    _skip_if_not_applicable(cls, "save_load")
    case, model = fitted(cls)
    path = model.save(tmp_path / "model")
    loaded = uqkit.load(path)
    assert type(loaded) is cls
    assert _comparable_params(loaded) == _comparable_params(model)
    if case.predict_args is None:
        for name in model._fitted_attributes():
            _same(getattr(loaded, name), getattr(model, name), name)
        return
    a = _fields(model.predict_uncertainty(*case.predict_args))
    b = _fields(loaded.predict_uncertainty(*case.predict_args))
    assert a.keys() == b.keys()
    for name in a:
        _same(a[name], b[name], f"predict_uncertainty(...).{name}")


# ------------------------------------------------------------------------- prediction types
def _check_regression(pred, model, case) -> None:
    n = case.n_predicted
    assert pred.mean.shape == (n,), f"mean has shape {pred.mean.shape}, expected ({n},)"
    for name in ("aleatoric", "epistemic", "total"):
        value = np.asarray(getattr(pred, name))
        assert value.shape == (n,), f"{name} has shape {value.shape}, expected ({n},)"
        assert np.all(np.isfinite(value)), f"{name} is not finite"
        assert np.all(value >= 0), f"{name} (a variance) has negative values: {value.min()}"
    np.testing.assert_allclose(pred.total, pred.aleatoric + pred.epistemic, rtol=1e-12)
    assert np.all(np.isfinite(pred.mean))
    if case.tabular:
        (X,) = case.predict_args
        np.testing.assert_array_equal(model.predict(X), pred.mean)
        lower, upper = model.predict_interval(X, alpha=0.1)
        assert lower.shape == upper.shape == (n,) and np.all(lower <= upper)


def _check_classification(pred, model, case) -> None:
    n = case.n_predicted
    n_classes = len(model.classes_)
    assert pred.probs.shape == (n, n_classes), f"probs {pred.probs.shape} != ({n}, {n_classes})"
    assert np.all(pred.probs >= 0) and np.all(np.isfinite(pred.probs))
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-6)
    for name in ("total", "aleatoric", "epistemic"):
        value = np.asarray(getattr(pred, name))
        assert value.shape == (n,), f"{name} has shape {value.shape}, expected ({n},)"
        assert np.all(np.isfinite(value)), f"{name} is not finite"
        # entropies and mutual information; 1e-12 allows the rounding of total - aleatoric
        assert np.all(value >= -1e-12), f"{name} has negative values: {value.min()}"
    if case.tabular:
        (X,) = case.predict_args
        np.testing.assert_array_equal(model.predict_proba(X), pred.probs)
        assert set(model.predict(X)) <= set(model.classes_)


def _check_other(pred, case) -> None:
    # a prediction type of its own (DESIGN §2: GloVeV's vectors with covariances): its
    # per-coordinate variances must still be variances
    variance = np.asarray(pred.variance)
    assert variance.shape == np.shape(pred.mean) and len(variance) == case.n_predicted
    assert np.all(np.isfinite(variance)) and np.all(variance >= 0)


@pytest.mark.parametrize("cls", CLASSES)
def test_predict_uncertainty_returns_the_shared_types(cls, fitted):
    _skip_if_not_applicable(cls, "prediction_types")
    case, model = fitted(cls)
    assert case.predict_args is not None, (
        f"{cls.__name__} has no predict_args in its case: give it some, or list "
        "'prediction_types' for it in NOT_APPLICABLE with the reason"
    )
    pred = model.predict_uncertainty(*case.predict_args)
    if case.kind == "regressor":
        assert isinstance(pred, RegressionPrediction), type(pred)
        _check_regression(pred, model, case)
    elif case.kind == "classifier":
        assert isinstance(pred, ClassificationPrediction), type(pred)
        _check_classification(pred, model, case)
    else:
        _check_other(pred, case)


# ------------------------------------------------------------------------------ bad inputs
def _with_value(X: np.ndarray, value: float) -> np.ndarray:
    bad = np.array(X, dtype=np.float64, copy=True)
    bad[3, 0] = value
    return bad


def _bad_fit_args(case, check: str) -> tuple:
    if not case.tabular:
        return case.bad_fits[check]
    X, y = case.fit_args
    if check == "nan":
        return _with_value(X, np.nan), y
    if check == "inf":
        return _with_value(X, np.inf), y
    if check == "shape_mismatch":
        return X, y[:-1]
    if check == "too_few_samples":
        return X[:1], y[:1]
    if check == "one_class":
        return X, np.full(len(y), y[0])
    raise AssertionError(check)


BAD_FIT_CHECKS = {
    "nan": "NaN",
    "inf": "inf",
    "shape_mismatch": "inconsistent|rows|samples|shape",
    "too_few_samples": "minimum|too few|at least",
    "one_class": "class",
}


@pytest.mark.parametrize("check", sorted(BAD_FIT_CHECKS))
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_training_data_gets_a_clear_error(cls, check):
    _skip_if_not_applicable(cls, check)
    case = make_case(cls)
    _skip_if_not_applicable(cls, check, case)
    with pytest.raises(InvalidInputError, match=re.compile(BAD_FIT_CHECKS[check], re.I)):
        case.estimator.fit(*_bad_fit_args(case, check))


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_values_at_predict_get_a_clear_error(cls, value, fitted):
    case, model = fitted(cls)
    _skip_if_not_applicable(cls, "nan_predict", case)
    (X,) = case.predict_args
    with pytest.raises(InvalidInputError, match=re.compile("NaN|inf", re.I)):
        model.predict_uncertainty(_with_value(X, value))


@pytest.mark.parametrize("cls", CLASSES)
def test_feature_count_changed_since_fit_gets_a_clear_error(cls, fitted):
    case, model = fitted(cls)
    _skip_if_not_applicable(cls, "feature_count_changed", case)
    (X,) = case.predict_args
    with pytest.raises(InvalidInputError, match="features"):
        model.predict_uncertainty(np.hstack([X, X[:, :1]]))


class _NotAValue:
    """A value no parameter constraint accepts (not a number, string, array or model)."""

    def __repr__(self) -> str:
        return "<not a value>"


@pytest.mark.parametrize("cls", CLASSES)
def test_invalid_hyperparameter_gets_a_clear_error(cls):
    # every constrained parameter is checked at fit, before any work, with a message naming it
    constraints = getattr(cls, "_parameter_constraints", {})
    checked = [
        name for name in make_case(cls).estimator.get_params(deep=False)
        if name in constraints and constraints[name] != "no_validation"
        and object not in constraints[name]
    ]
    assert checked, f"{cls.__name__} declares no _parameter_constraints for its parameters"
    for name in checked:
        case = make_case(cls)
        case.estimator.set_params(**{name: _NotAValue()})
        with pytest.raises((UQKitError, InvalidParameterError),
                           match=rf"'{name}' parameter of {cls.__name__}"):
            case.fit()


@pytest.mark.parametrize("cls", CLASSES)
def test_every_parameter_has_a_constraint(cls):
    case = make_case(cls)
    constraints = getattr(cls, "_parameter_constraints", {})
    missing = sorted(set(case.estimator.get_params(deep=False)) - set(constraints))
    assert not missing, f"{cls.__name__}: parameters without _parameter_constraints: {missing}"


@pytest.mark.parametrize("cls", CLASSES)
def test_use_before_fit_raises_not_fitted(cls, tmp_path):
    case = make_case(cls)
    model = case.estimator
    calls = {}
    if "save_load" not in NOT_APPLICABLE.get(cls.__name__, {}):
        calls["save"] = lambda: model.save(tmp_path / "never")
    if case.predict_args is not None:
        calls["predict_uncertainty"] = lambda: model.predict_uncertainty(*case.predict_args)
    if case.tabular:
        (X,) = case.predict_args
        calls["predict"] = lambda: model.predict(X)
        calls["evaluate"] = lambda: model.evaluate(*case.fit_args)
        if case.kind == "classifier":
            calls["predict_proba"] = lambda: model.predict_proba(X)
        if case.kind == "regressor":
            calls["predict_interval"] = lambda: model.predict_interval(X)
    for method, call in calls.items():
        with pytest.raises(NotFittedError, match="fit"):
            call()
        assert not (tmp_path / "never.safetensors").exists(), method
