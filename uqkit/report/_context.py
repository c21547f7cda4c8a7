"""What a report says about each model (class, settings, size, wrapper) and about the data."""

from __future__ import annotations

import inspect
import math

import numpy as np

__all__ = ["data_context", "model_context"]

# What each wrapper changes about its base model's predictions, in one line.
_WRAPPERS = {
    "ConformalRegressor": "replaces the intervals by split-conformal ones; the predictive "
    "distribution (so NLL, CRPS, QCE) is the base model's",
    "MondrianConformalRegressor": "replaces the intervals by per-group (Mondrian) conformal ones; "
    "the predictive distribution is the base model's",
    "ConformalQuantileRegressor": "widens the base model's quantile intervals by a conformal "
    "correction",
    "JackknifePlusRegressor": "intervals from jackknife+ residuals of refitted base models",
    "ConformalClassifier": "adds conformal prediction sets; the probabilities are the base "
    "model's",
    "TemperatureScaling": "divides the base model's logits by one fitted temperature",
    "VarianceScaling": "multiplies the base model's predicted variance by a fitted factor",
    "IsotonicCalibration": "maps the base model's PIT/confidence through a fitted isotonic curve",
    "NetcalCalibrator": "recalibrates the base model's outputs with a netcal method",
}


def _short(value) -> str:
    text = repr(value) if not hasattr(value, "get_params") else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _non_defaults(model) -> dict[str, str]:
    """The constructor parameters whose value differs from the signature default."""
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return {}
    try:
        params = get_params(deep=False)
        signature = inspect.signature(type(model).__init__)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, value in params.items():
        parameter = signature.parameters.get(name)
        default = parameter.default if parameter is not None else inspect.Parameter.empty
        try:
            same = default is not inspect.Parameter.empty and bool(default == value)
        except (TypeError, ValueError):  # arrays compare element-wise
            same = False
        if not same:
            out[name] = _short(value)
    return out


def _fit_seconds(model) -> float | None:
    """The fit time the model recorded, if any (``fit_time_`` or per-member ``seconds``)."""
    value = getattr(model, "fit_time_", None)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    history = getattr(model, "history_", None)
    if isinstance(history, list) and history and all(isinstance(h, dict) for h in history):
        seconds = [h.get("seconds") for h in history]
        if all(isinstance(s, (int, float)) for s in seconds):
            return float(sum(seconds))
    return None


def _base(model):
    for attr in ("estimator_", "estimator", "base_estimator"):
        base = getattr(model, attr, None)
        if base is not None and hasattr(base, "predict"):
            return base
    return None


def model_context(entry) -> dict:
    """Class, non-default parameters, fit time, members and wrapper of one report entry.

    A prediction (not a model) gives only its kind and member count.
    """
    cls = type(entry)
    context: dict = {"class": f"{cls.__module__.split('._')[0]}.{cls.__qualname__}"}
    if not hasattr(entry, "predict"):
        members = getattr(entry, "n_members", None)
        context["members"] = int(members) if isinstance(members, (int, np.integer)) else None
        context["prediction"] = True  # made elsewhere: no settings to show
        return context
    context["parameters"] = _non_defaults(entry)
    context["fit_seconds"] = _fit_seconds(entry)
    members = None
    for attr in ("n_members", "n_estimators", "n_samples", "mc_samples"):
        value = getattr(entry, attr, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            members = f"{int(value)} ({attr.replace('_', ' ')})"
            break
    context["members"] = members
    base = _base(entry)
    context["wrapper"] = None
    if base is not None:
        what = _WRAPPERS.get(cls.__name__, "wraps and post-processes the base model")
        context["wrapper"] = f"wraps {type(base).__name__}: {what}"
    return context


def data_context(X, y, description: str | None) -> dict:
    """Rows, features, target name and a caller's description of the evaluation data."""
    shape = np.shape(X) if X is not None else None
    target = getattr(y, "name", None)
    return {
        "rows": int(np.shape(y)[0]) if np.ndim(y) else 0,
        "features": int(shape[1]) if shape is not None and len(shape) == 2 else None,
        "target": None if target is None else str(target),
        "description": description,
    }
