"""Reaching the model inside scikit-learn's meta-estimators: Pipeline, searches and
TransformedTargetRegressor.

A ``Pipeline`` transforms ``X`` with its first steps and predicts with its last, exactly as
``Pipeline.predict`` does. A search (``GridSearchCV``, ``RandomizedSearchCV``, the halving
searches) predicts with its refitted ``best_estimator_``. A ``TransformedTargetRegressor``
predicts in the transformed target space; when the inverse transform is the affine map
:math:`y = a z + b` (per output column, :math:`a > 0`), the prediction of :math:`y` is the
prediction of :math:`z` pushed through it exactly: means :math:`a\\mu + b`, variances
:math:`a^2\\sigma^2`, and the whole distribution (mixture components, quantiles) with them. A
non-linear transform would need the full push-forward of the distribution, which a mean and
a variance do not give: it is refused.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)

from uqkit.exceptions import InvalidInputError

__all__ = ["affine_inverse", "best_estimator", "is_search", "pipeline_parts"]


def pipeline_parts(pipeline: Pipeline, X):
    """``(last step, X transformed by the steps before it)``, as ``Pipeline.predict`` does."""
    Xt = X if len(pipeline) == 1 else pipeline[:-1].transform(X)
    return pipeline.steps[-1][1], Xt


def is_search(model) -> bool:
    """Whether ``model`` is a fitted hyperparameter search (``GridSearchCV`` and its kin): read
    from the attributes every scikit-learn search sets, not from a private base class."""
    return hasattr(model, "cv_results_") and hasattr(model, "refit")


def best_estimator(search):
    """The refitted best estimator of a fitted search."""
    if not hasattr(search, "best_estimator_"):
        raise InvalidInputError(
            f"This {type(search).__name__} has no best_estimator_ (refit=False, or a refit "
            "that picks no single model): predict with the model it chose, or search with "
            "refit=True."
        )
    return search.best_estimator_


def affine_inverse(ttr: TransformedTargetRegressor) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` of the inverse target transform ``y = scale * z + shift``.

    Each of shape ``(d,)``, one entry per target column (``d = 1`` for a single target).

    Raises
    ------
    InvalidInputError
        If the transform is not one uqkit can prove affine (a ``QuantileTransformer``, a
        ``PowerTransformer``, a ``func``/``inverse_func`` pair such as ``np.log``/``np.exp``),
        or is affine with a non-positive scale.
    """
    transformer = ttr.transformer_
    n = int(getattr(transformer, "n_features_in_", 1) or 1)
    ones, zeros = np.ones(n), np.zeros(n)
    if isinstance(transformer, StandardScaler):
        scale = ones if transformer.scale_ is None else transformer.scale_
        shift = zeros if transformer.mean_ is None else transformer.mean_
    elif isinstance(transformer, MinMaxScaler):
        # transform: z = y * scale_ + min_, so y = z / scale_ - min_ / scale_
        scale, shift = 1.0 / transformer.scale_, -transformer.min_ / transformer.scale_
    elif isinstance(transformer, MaxAbsScaler):
        scale, shift = transformer.scale_, zeros
    elif isinstance(transformer, RobustScaler):
        scale = ones if transformer.scale_ is None else transformer.scale_
        shift = zeros if transformer.center_ is None else transformer.center_
    elif (
        isinstance(transformer, FunctionTransformer)
        and transformer.func is None
        and transformer.inverse_func is None
    ):
        scale, shift = ones, zeros  # TransformedTargetRegressor without a transform
    else:
        described = _describe(ttr)
        raise InvalidInputError(
            f"TransformedTargetRegressor with {described}: the inverse transform is not affine "
            "(or uqkit cannot prove it is), so a mean and a variance cannot be mapped back to "
            "the units of y exactly. Use an affine transformer (StandardScaler, MinMaxScaler, "
            "MaxAbsScaler, RobustScaler), or fit the uqkit model on the transformed targets "
            "yourself and read its prediction in those units."
        )
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    shift = np.asarray(shift, dtype=np.float64).reshape(-1)
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise InvalidInputError(
            f"TransformedTargetRegressor's {type(transformer).__name__} maps targets with a "
            f"scale of {scale.tolist()}; only positive scales keep intervals ordered. Refit it "
            "on targets that vary."
        )
    return scale, shift


def _describe(ttr: TransformedTargetRegressor) -> str:
    transformer = ttr.transformer_
    if isinstance(transformer, FunctionTransformer) and ttr.transformer is None:
        func = getattr(ttr.func, "__name__", repr(ttr.func))
        inverse = getattr(ttr.inverse_func, "__name__", repr(ttr.inverse_func))
        return f"func={func}, inverse_func={inverse}"
    return f"transformer={type(transformer).__name__}"
