"""``uqkit.predict_uncertainty(model, X)``: one prediction from whatever a user holds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.interop._foreign import foreign_prediction, takes_return_std
from uqkit.interop._unwrap import affine_inverse, best_estimator, is_search, pipeline_parts
from uqkit.metrics import as_classification_prediction, as_regression_prediction
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["predict_uncertainty"]

Prediction = RegressionPrediction | ClassificationPrediction


def predict_uncertainty(model, X=None) -> Prediction:
    """The prediction with uncertainty of ``model`` on ``X``, whatever ``model`` is.

    Parameters
    ----------
    model : estimator, prediction or arrays
        One of

        * a fitted uqkit estimator (anything with ``predict_uncertainty``): its prediction;
        * a fitted ``Pipeline``: the steps before the last transform ``X`` (as
          ``Pipeline.predict`` does), then the last step predicts (any case of this list);
        * a fitted ``GridSearchCV``, ``RandomizedSearchCV`` or halving search: its
          ``best_estimator_``;
        * a fitted ``TransformedTargetRegressor`` whose target transform is affine
          (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``, ``RobustScaler``, or none):
          the inner prediction mapped back to the units of y exactly (means
          ``scale * mean + shift``, variances ``scale**2 * variance``, per target column);
        * a fitted scikit-learn regressor whose ``predict`` takes ``return_std``
          (``GaussianProcessRegressor``, ``BayesianRidge``): the Gaussian ``N(mean, std**2)``;
        * a fitted classifier with ``predict_proba``: its probabilities, with its ``classes_``;
        * a :class:`RegressionPrediction` / :class:`ClassificationPrediction`, a ``(mean, std)``
          pair or an ``(n, C)`` probability matrix (then ``X`` is not used and may be None).
    X : array-like of shape (n, p), optional
        Features; required for a model.

    Returns
    -------
    RegressionPrediction or ClassificationPrediction
        For a foreign regressor the whole predictive variance is in ``aleatoric`` and
        ``epistemic`` is 0 ("not split"), except for ``BayesianRidge``/``ARDRegression``, whose
        split is exact (see :mod:`uqkit.interop._foreign`). A DataFrame ``X`` gives the
        prediction its ``index``.

    Raises
    ------
    InvalidInputError
        For a model that gives no uncertainty (``RandomForestRegressor``: wrap it in
        ``uqkit.calibration.ConformalRegressor``), a non-affine target transform, or arrays of
        the wrong shape.
    NotFittedError
        If the model (or a step of it) is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, ["a", "a", "b", "b"])
    >>> pred = predict_uncertainty(clf, X)
    >>> pred.classes.tolist(), bool(np.allclose(pred.probs, clf.predict_proba(X)))
    (['a', 'b'], True)
    >>> predict_uncertainty((np.zeros(2), np.ones(2))).total
    array([1., 1.])
    """
    if isinstance(model, RegressionPrediction | ClassificationPrediction):
        return model
    if isinstance(model, tuple | list):
        return as_regression_prediction(model)
    if hasattr(model, "__array__") and not hasattr(model, "fit"):  # numpy, pandas, torch
        return as_classification_prediction(model)
    if X is None:
        raise InvalidInputError(
            f"X is required to predict with {type(model).__name__}: pass the features."
        )
    pred = _predict(model, X)
    index = getattr(X, "index", None) if type(X).__module__.startswith("pandas") else None
    if index is not None and pred.index is None and len(index) == len(pred):
        pred = replace(pred, index=index)
    return pred


def gives_uncertainty(model) -> bool:
    """Whether :func:`predict_uncertainty` gives a prediction for ``model``, rather than refusing
    a point model (``RandomForestRegressor``, or a ``Pipeline`` ending in one).

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn.linear_model import BayesianRidge
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> gives_uncertainty(make_pipeline(StandardScaler(), BayesianRidge()))
    True
    >>> gives_uncertainty(RandomForestRegressor())
    False
    """
    if hasattr(model, "predict_uncertainty"):
        return True
    if isinstance(model, Pipeline):
        return gives_uncertainty(model.steps[-1][1])
    if is_search(model):
        best = getattr(model, "best_estimator_", None)
        return best is not None and gives_uncertainty(best)
    if isinstance(model, TransformedTargetRegressor):
        return gives_uncertainty(getattr(model, "regressor_", model.regressor))
    return takes_return_std(model) or hasattr(model, "predict_proba")


def _predict(model, X) -> Prediction:
    if hasattr(model, "predict_uncertainty"):
        return model.predict_uncertainty(X)
    if not hasattr(model, "fit"):
        raise InvalidInputError(
            "predict_uncertainty needs a fitted model, a prediction, a (mean, std) pair or a "
            f"probability matrix; got {type(model).__name__}."
        )
    _check_fitted(model)
    if isinstance(model, Pipeline):
        last, Xt = pipeline_parts(model, X)
        return _predict(last, Xt)
    if is_search(model):
        return _predict(best_estimator(model), X)
    if isinstance(model, TransformedTargetRegressor):
        return _transformed_target(model, X)
    return foreign_prediction(model, X)


def _transformed_target(ttr: TransformedTargetRegressor, X) -> RegressionPrediction:
    scale, shift = affine_inverse(ttr)  # refuse a non-linear transform before predicting
    inner = _predict(ttr.regressor_, X)
    if not isinstance(inner, RegressionPrediction):
        raise InvalidInputError(
            "TransformedTargetRegressor wraps a regressor, but its regressor_ gave a "
            f"{type(inner).__name__}."
        )
    d = 1 if np.ndim(inner.mean) == 1 else np.shape(inner.mean)[1]
    if len(scale) != d:
        raise InvalidInputError(
            f"TransformedTargetRegressor's transformer maps {len(scale)} target columns but the "
            f"regressor predicts {d}."
        )
    if np.ndim(inner.mean) == 1:
        return inner.rescale(scale[0], shift[0])
    return inner.rescale(scale, shift)


def _check_fitted(model) -> None:
    try:
        check_is_fitted(model)
    except _SklearnNotFittedError as err:
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before predicting with uncertainty."
        ) from err
    except TypeError as err:  # not an estimator at all
        raise InvalidInputError(
            f"predict_uncertainty needs a fitted scikit-learn or uqkit model; got "
            f"{type(model).__name__} ({err})."
        ) from err
