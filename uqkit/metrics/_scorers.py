"""scikit-learn scorers of uncertainty: NLL, CRPS, calibration error and interval score.

Each scorer is a callable ``scorer(estimator, X, y) -> float`` as scikit-learn's
``GridSearchCV(scoring=...)`` and ``cross_validate(scoring={...})`` take it. Greater is
better, as scikit-learn expects: every scorer returns the **negated** loss (like
scikit-learn's ``neg_mean_squared_error``), so ``nll_scorer`` gives ``-NLL`` and the best
model has the largest (least negative) score.

How a scorer gets the prediction, by duck typing only (this layer imports no estimator):

1. an object with ``predict_uncertainty`` (every uqkit estimator and recalibrator): its
   prediction, so the NLL of a mixture or a Student-t predictive is exact, not the NLL of a
   Gaussian with the same variance;
2. a ``Pipeline`` (``steps``): the last step predicts on ``X`` transformed by the others, by
   the rule of this list; a search (``best_estimator_``): its best estimator;
3. a classifier with ``predict_proba``: its probabilities, labels matched by ``classes_``;
4. a regressor whose ``predict`` takes ``return_std`` (``GaussianProcessRegressor``, a
   ``Pipeline`` ending in one): the Gaussian ``N(mean, std**2)``.

A model with none of these (``RandomForestRegressor``) is refused with
:class:`~uqkit.exceptions.InvalidInputError`. A ``TransformedTargetRegressor`` does not forward
``return_std`` in scikit-learn 1.9, so it is refused too; score it through
``uqkit.predict_uncertainty`` (which maps affine target transforms back exactly), or drop the
transform: uqkit regressors standardise their targets themselves.
"""

from __future__ import annotations

import inspect

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._classification_calibration import expected_calibration_error
from uqkit.metrics._interval_score import interval_score
from uqkit.metrics._regression_calibration import miscalibration_area
from uqkit.metrics._regression_scores import crps
from uqkit.metrics._summary import nll
from uqkit.prediction import ClassificationPrediction, RegressionPrediction, check_miscoverage

__all__ = [
    "UncertaintyScorer",
    "crps_scorer",
    "ece_scorer",
    "interval_score_scorer",
    "make_interval_score_scorer",
    "nll_scorer",
]


class UncertaintyScorer:
    """A scikit-learn scorer ``(estimator, X, y) -> -loss`` of a predictive uncertainty.

    Parameters
    ----------
    name : str
        The loss, for the ``repr`` (``"nll"``, ``"crps"``, ...).
    regression : callable ``(RegressionPrediction, y) -> float`` or None
        The loss of a regression prediction; None refuses regressors.
    classification : callable ``(ClassificationPrediction, y) -> float`` or None
        The loss of a classification prediction; None refuses classifiers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import BayesianRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 1))
    >>> y = 2 * X[:, 0] + rng.normal(size=200)  # noise std 1: NLL near 0.5 log(2 pi e) = 1.42
    >>> round(nll_scorer(BayesianRidge().fit(X, y), X, y), 1)
    -1.4
    """

    def __init__(self, name: str, regression=None, classification=None):
        self.name = name
        self.regression = regression
        self.classification = classification

    def __call__(self, estimator, X, y) -> float:
        pred = prediction_of(estimator, X)
        if isinstance(pred, RegressionPrediction):
            if self.regression is None:
                raise InvalidInputError(
                    f"{self!r} scores classifiers; {type(estimator).__name__} is a regressor."
                )
            return -float(self.regression(pred, y))
        if self.classification is None:
            raise InvalidInputError(
                f"{self!r} scores regressors; {type(estimator).__name__} is a classifier."
            )
        return -float(self.classification(pred, y))

    def __repr__(self) -> str:
        return f"UncertaintyScorer(neg_{self.name})"


def prediction_of(estimator, X) -> RegressionPrediction | ClassificationPrediction:
    """The prediction a scorer evaluates (the rules of this module's docstring, in order)."""
    if hasattr(estimator, "predict_uncertainty"):
        return estimator.predict_uncertainty(X)
    best = getattr(estimator, "best_estimator_", None)
    if best is not None:
        return prediction_of(best, X)
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps and _reaches_uncertainty(steps[-1][1]):
        Xt = X if len(steps) == 1 else estimator[:-1].transform(X)
        return prediction_of(steps[-1][1], Xt)
    name = type(estimator).__name__
    if hasattr(estimator, "predict_proba") and not _takes_return_std(estimator):
        probs = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        return ClassificationPrediction(probs, classes=getattr(estimator, "classes_", None))
    if hasattr(estimator, "regressor_") and hasattr(estimator, "transformer_"):
        raise InvalidInputError(
            f"{name} does not forward return_std to its regressor in scikit-learn, so the "
            "scorer cannot see its uncertainty. Fit the uqkit regressor without the target "
            "transform (uqkit standardises targets itself), or score "
            "uqkit.predict_uncertainty(model, X) with the uqkit.metrics functions."
        )
    if not _takes_return_std(estimator):
        raise InvalidInputError(
            f"{name} gives no uncertainty (no predict_uncertainty, no predict_proba, no "
            "return_std), so an uncertainty scorer cannot score it. Wrap it in "
            f"uqkit.calibration.ConformalRegressor({name}(...)) or use a uqkit estimator."
        )
    mean, std = estimator.predict(X, return_std=True)
    return RegressionPrediction.normal(np.asarray(mean), np.asarray(std, dtype=np.float64) ** 2)


def _reaches_uncertainty(step) -> bool:
    """Whether the last step of a Pipeline has a uqkit prediction to give (directly or inside
    a nested Pipeline or search); otherwise the Pipeline's own predict/predict_proba is used."""
    if hasattr(step, "predict_uncertainty"):
        return True
    if getattr(step, "best_estimator_", None) is not None:
        return _reaches_uncertainty(step.best_estimator_)
    steps = getattr(step, "steps", None)
    return isinstance(steps, list) and bool(steps) and _reaches_uncertainty(steps[-1][1])


def _takes_return_std(estimator) -> bool:
    predict = getattr(estimator, "predict", None)
    if predict is None:
        return False
    try:
        parameters = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False
    if "return_std" in parameters:
        return True
    # Pipeline.predict(X, **params) forwards return_std to its last step
    steps = getattr(estimator, "steps", None)
    return isinstance(steps, list) and bool(steps) and _takes_return_std(steps[-1][1])


def make_interval_score_scorer(alpha: float = 0.1) -> UncertaintyScorer:
    """A scorer of the negated :func:`~uqkit.metrics.interval_score` at miscoverage ``alpha``.

    Examples
    --------
    >>> make_interval_score_scorer(0.2)
    UncertaintyScorer(neg_interval_score_80)
    """
    alpha = check_miscoverage(alpha)
    level = f"{100 * (1 - alpha):.10g}"
    return UncertaintyScorer(
        f"interval_score_{level}", regression=lambda pred, y: interval_score(pred, y, alpha)
    )


#: ``-NLL``: mean negative log-likelihood (regression: of the predictive distribution, exact for
#: mixtures and Student-t; classification: cross-entropy), negated.
nll_scorer = UncertaintyScorer("nll", regression=nll, classification=nll)
#: ``-CRPS`` of a regressor (Gneiting & Raftery, JASA 2007), in the units of y.
crps_scorer = UncertaintyScorer("crps", regression=crps)
#: ``-ECE`` of a classifier (top label, 15 equal-width bins; Guo et al., ICML 2017, Eq. 3). For a
#: regressor, the regression calibration error it stands for: the miscalibration area of the PIT
#: (Tran et al., 2020), in [0, 0.5].
ece_scorer = UncertaintyScorer(
    "ece", regression=miscalibration_area, classification=expected_calibration_error
)
#: ``-interval score`` of the central 90% interval (Gneiting & Raftery, JASA 2007, Eq. 43).
interval_score_scorer = make_interval_score_scorer(0.1)
