"""Split conformal prediction around any regressor or classifier.

Both wrappers hold the sorted conformity scores of ``n`` held-out samples. For a miscoverage
``alpha`` the threshold is the :math:`\\lceil (n+1)(1-\\alpha) \\rceil`-th smallest score (the
finite-sample quantile of level :math:`\\lceil (n+1)(1-\\alpha)\\rceil / n`), infinite when that
rank exceeds ``n`` (:mod:`uqkit.calibration._quantile`, which also weights the scores). For
exchangeable calibration and test data this gives marginal coverage :math:`\\ge 1-\\alpha`
(Vovk et al., 2005; Lei et al., JASA 2018, Thm. 2.2), and at most :math:`1-\\alpha+1/(n+1)` when
the scores have no ties.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods, StrOptions

from uqkit._data import to_numpy
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.calibration._quantile import (
    check_sample_weight,
    conformal_rank,
    conformal_threshold,
    miscoverages,
    single_output,
    sort_scores,
    stack_levels,
)
from uqkit.calibration._wrapper import Recalibrator, _check_calibration_size
from uqkit.exceptions import InvalidInputError
from uqkit.interop import gives_uncertainty
from uqkit.metrics import (
    as_classification,
    as_classification_prediction,
    as_regression_prediction,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction, check_miscoverage

__all__ = ["ConformalClassifier", "ConformalRegressor", "conformal_rank"]

# A conformal wrapper needs only a fitted model's point predictions (or probabilities): any
# scikit-learn estimator qualifies, not only the uqkit ones with ``predict_uncertainty``.
_ANY_REGRESSOR = [HasMethods(["fit", "predict"]), None]
_ANY_CLASSIFIER = [HasMethods(["fit", "predict_proba"]), None]


def _threshold(sorted_scores: np.ndarray, miscoverage: float) -> float:
    return conformal_threshold(sorted_scores, np.ones(len(sorted_scores)), miscoverage)



class ConformalRegressor(UQRegressorMixin, Recalibrator):
    """Split conformal intervals around any fitted regressor (uqkit or scikit-learn).

    On held-out data the conformity scores are the normalised residuals
    :math:`s_i = |y_i - \\mu(x_i)| / \\sigma(x_i)` (Papadopoulos et al., 2008; the locally weighted
    split conformal of Lei et al., JASA 2018, Sec. 5.2) when the model predicts a scale
    :math:`\\sigma` (a uqkit model's ``predict_uncertainty``), or the absolute residuals
    :math:`|y_i - \\mu(x_i)|` (Lei et al., Algorithm 2) otherwise. With :math:`\\hat q` the
    :math:`\\lceil (n+1)(1-\\alpha)\\rceil`-th smallest score, the interval
    :math:`\\mu(x) \\pm \\hat q\\,\\sigma(x)` covers a new exchangeable target with probability at
    least :math:`1-\\alpha`, whatever the model. ``fit(..., sample_weight=w)`` uses the weighted
    conformal quantile with frequency weights (weights of ones give exactly the unweighted one).

    ``predict_interval`` returns the conformal intervals; ``predict_uncertainty`` returns the
    wrapped uqkit model's prediction unchanged (conformal calibration makes intervals, not a new
    predictive distribution). A point model (no ``predict_uncertainty``, e.g. a
    ``RandomForestRegressor``) has no predictive distribution: its ``predict_uncertainty`` is the
    homoscedastic normal with the held-out mean squared residual ``residual_variance_``, a
    summary for the metrics only; the intervals are the conformal ones. Single-output only.

    Parameters
    ----------
    estimator : fitted regressor, optional
        A uqkit regressor, or any fitted scikit-learn regressor with ``predict``.
    normalize : {"auto", True, False}, default "auto"
        ``"auto"``: divide residuals by the predicted std when the model gives one, else use
        absolute residuals (the choice is recorded in ``normalized_``). ``True`` demands a std
        and refuses a point model; ``False`` always uses constant-width intervals.

    Attributes
    ----------
    scores_ : ndarray of shape (n_calibration,)
        Sorted conformity scores of the held-out data.
    weights_ : ndarray of shape (n_calibration,)
        Their frequency weights, in the same order (ones without ``sample_weight``).
    normalized_ : bool
        Whether the scores were divided by the predicted std.
    residual_variance_ : float
        Weighted mean squared held-out residual.
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> std = rng.uniform(0.5, 2.0, size=1000)
    >>> y = std * rng.normal(size=1000)
    >>> conformal = ConformalRegressor().fit_prediction((np.zeros(1000), std), y)
    >>> bool(1.5 < conformal.conformal_quantile(0.1) < 1.8)  # ~ the Gaussian 1.645
    True

    Any scikit-learn regressor works; without a std the scores are absolute residuals:

    >>> from sklearn.linear_model import LinearRegression
    >>> X = rng.normal(size=(400, 2)); y = X @ [1.0, -2.0] + rng.normal(size=400)
    >>> model = LinearRegression().fit(X[:200], y[:200])
    >>> conformal = ConformalRegressor(model).fit(X[200:300], y[200:300])
    >>> lower, upper = conformal.predict_interval(X[300:], alpha=[0.2, 0.1])
    >>> conformal.normalized_, lower.shape
    (False, (100, 2))
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": _ANY_REGRESSOR,
        "normalize": ["boolean", StrOptions({"auto"})],
    }

    def __init__(self, estimator=None, normalize: bool | str = "auto"):
        self.estimator = estimator
        self.normalize = normalize

    # -- the wrapped model ---------------------------------------------------------
    def _base_outputs(self, X) -> tuple[np.ndarray, np.ndarray | None, RegressionPrediction | None]:
        """The wrapped model's ``(mean, std or None, prediction or None)`` on ``X``.

        The only place that calls the model: a uqkit model's ``predict_uncertainty`` when it has
        one, else its point ``predict``.
        """
        model = self._fitted_model()
        if gives_uncertainty(self.estimator):
            pred = as_regression_prediction(model.predict_uncertainty(X))
            name = type(self).__name__
            return single_output(pred.mean, name), single_output(pred.std(), name), pred
        return single_output(to_numpy(model.predict(X)), type(self).__name__), None, None

    def _use_scale(self, has_scale: bool) -> bool:
        if self.normalize == "auto":
            return has_scale
        if self.normalize and not has_scale:
            raise InvalidInputError(
                f"{type(self).__name__}(normalize=True) divides residuals by the predicted std, "
                f"but the wrapped {type(self.estimator).__name__} predicts no std (it has no "
                "predict_uncertainty). Use normalize='auto' or normalize=False for absolute "
                "residuals, or wrap a model that predicts its uncertainty."
            )
        return bool(self.normalize)

    # -- fitting ---------------------------------------------------------------------
    def _scores(self, mean, scale, y) -> np.ndarray:
        residual = np.abs(y - mean)
        return residual / scale if self.normalized_ else residual

    def _held_out_scores(self, mean, scale, y, sample_weight):
        """``(y, weights, scores)`` of the held-out rows, checked, from the model's outputs."""
        name = type(self).__name__
        y = single_output(to_numpy(y), name)
        if y.shape != mean.shape:
            raise InvalidInputError(
                f"{name}: y has {y.shape[0]} rows but the prediction has {mean.shape[0]}."
            )
        if not np.all(np.isfinite(y)):
            raise InvalidInputError(f"{name}: y contains NaN or inf; drop or impute those rows.")
        weights = check_sample_weight(sample_weight, len(y), name)
        self.normalized_ = self._use_scale(scale is not None)
        return y, weights, self._scores(mean, scale, y)

    def _fit_outputs(self, mean, scale, y, sample_weight) -> None:
        """Scores of the held-out rows from the model's outputs (the split conformal fit)."""
        y, weights, scores = self._held_out_scores(mean, scale, y, sample_weight)
        self.scores_, self.weights_ = sort_scores(scores, weights)
        self.residual_variance_ = float(np.average((y - mean) ** 2, weights=weights))
        self.n_calibration_ = len(y)

    def fit(self, X, y, sample_weight=None):
        """Compute the conformity scores on held-out data ``(X, y)`` the model has not seen.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        y : array-like of shape (n,)
        sample_weight : array-like of shape (n,), optional
            Frequency weights of the held-out rows (weighted conformal quantile).

        Returns
        -------
        self
        """
        self._check_params()
        model = self._fitted_model()
        _check_calibration_size(y, type(self).__name__)
        mean, scale, _ = self._base_outputs(X)
        self._fit_outputs(mean, scale, y, sample_weight)
        self._copy_model_attributes(model)
        return self

    def fit_prediction(self, pred, y, sample_weight=None):
        """Compute the scores from a held-out prediction (or ``(mean, std)``) and its truth.

        Returns
        -------
        self
        """
        self._check_params()
        _check_calibration_size(y, type(self).__name__)
        pred = as_regression_prediction(pred)
        name = type(self).__name__
        self._fit_outputs(single_output(pred.mean, name), single_output(pred.std(), name), y,
                          sample_weight)
        return self

    def _fit(self, pred, y) -> None:
        self.fit_prediction(pred, y)

    # -- intervals ---------------------------------------------------------------------
    def conformal_quantile(self, alpha: float = 0.1) -> float:
        """The score threshold :math:`\\hat q` for miscoverage ``alpha`` (``inf``: n too small)."""
        check_fitted(self, "scores_")
        # alpha above 0.5 is almost always a coverage level misread as a miscoverage: refuse it.
        return conformal_threshold(self.scores_, self.weights_, check_miscoverage(alpha))

    def _interval_from(self, mean, scale, alpha, coverage):
        levels, single = miscoverages(alpha, coverage)
        width = scale if self.normalized_ else np.ones_like(mean)
        if self.normalized_ and scale is None:
            raise InvalidInputError(
                f"This {type(self).__name__} was fitted on normalised scores; it needs the "
                "predicted std to make an interval."
            )
        half = [conformal_threshold(self.scores_, self.weights_, a) * width for a in levels]
        return (stack_levels([mean - h for h in half], single),
                stack_levels([mean + h for h in half], single))

    def interval(self, pred, alpha=0.1, *, coverage=None) -> tuple[np.ndarray, np.ndarray]:
        """Conformal ``1 - alpha`` interval around a prediction: ``(lower, upper)``.

        ``alpha`` is the miscoverage, in (0, 0.5], or a sequence of them (then each bound has
        shape (n, k)); intervals of coverage below 50% are asked for with ``coverage``.
        """
        check_fitted(self, "scores_")
        pred = as_regression_prediction(pred)
        name = type(self).__name__
        return self._interval_from(single_output(pred.mean, name),
                                   single_output(pred.std(), name), alpha, coverage)

    def predict_interval(self, X, alpha=0.1, *, coverage=None) -> tuple[np.ndarray, np.ndarray]:
        """Conformal ``1 - alpha`` interval on ``X``: ``(lower, upper)``, each (n,) or (n, k)."""
        check_fitted(self, "scores_")
        miscoverages(alpha, coverage)  # refuse a misread level before predicting
        mean, scale, _ = self._base_outputs(X)
        return self._interval_from(mean, scale, alpha, coverage)

    # -- predictions ------------------------------------------------------------------------
    def predict_uncertainty(self, X) -> RegressionPrediction:
        """The wrapped model's prediction on ``X``, unchanged (see the class notes for a point
        model)."""
        check_fitted(self, "scores_")
        mean, _, pred = self._base_outputs(X)
        if pred is not None:
            return pred
        return RegressionPrediction.normal(mean, np.full(mean.shape, self.residual_variance_))

    def calibrate(self, pred) -> RegressionPrediction:
        """The prediction itself (conformal calibration changes intervals only)."""
        check_fitted(self, "scores_")
        return as_regression_prediction(pred)

    def evaluate(self, X, y) -> dict[str, float]:
        """The wrapped model's metrics plus the conformal 90% coverage and width."""
        result = super().evaluate(X, y)
        y = single_output(to_numpy(y), type(self).__name__)
        lower, upper = self.predict_interval(X, 0.1)
        result["conformal_coverage_90"] = float(np.mean((y >= lower) & (y <= upper)))
        result["conformal_width_90"] = float(np.mean(upper - lower))
        return result


def aps_scores(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """APS conformity score of every class (Romano, Sesia & Candès, NeurIPS 2020, Sec. 2.1).

    With the classes sorted by decreasing probability, the score of class ``c`` is the mass of the
    classes ranked before it plus ``u`` times its own probability:
    :math:`E(x, c, u) = \\sum_{j \\prec c} \\hat\\pi_j(x) + u\\,\\hat\\pi_c(x)`.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
    u : ndarray of shape (n,)
        Uniform draws (randomized APS) or ones.

    Returns
    -------
    ndarray of shape (n, C)

    Examples
    --------
    >>> import numpy as np
    >>> aps_scores(np.array([[0.2, 0.5, 0.3]]), np.ones(1))
    array([[1. , 0.5, 0.8]])
    """
    order = np.argsort(-probs, axis=1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=1)
    before = np.cumsum(ranked, axis=1) - ranked
    scores = np.empty_like(probs)
    np.put_along_axis(scores, order, before + u[:, None] * ranked, axis=1)
    return scores


class ConformalClassifier(UQClassifierMixin, Recalibrator):
    """Adaptive prediction sets, APS (Romano, Sesia & Candès, NeurIPS 2020), around any classifier.

    The conformity score of the true label is the APS score (:func:`aps_scores`): the probability
    mass of the classes the model ranks above it, plus (randomized) a uniform fraction of its own.
    With :math:`\\hat q` the :math:`\\lceil (n+1)(1-\\alpha)\\rceil`-th smallest held-out score, the
    set :math:`\\{c : E(x, c, u) \\le \\hat q\\}` contains the true label with probability at least
    :math:`1-\\alpha` (Romano et al., Thm. 1); randomized sets are also at most
    :math:`1-\\alpha+1/(n+1)` (sets may then be empty); deterministic ones (``randomized=False``,
    u = 1) are conservative.

    ``predict_set`` returns the sets; ``predict_uncertainty`` returns the wrapped model's
    prediction unchanged.

    Parameters
    ----------
    estimator : fitted classifier, optional
        A uqkit classifier, or any fitted scikit-learn classifier with ``predict_proba`` (its
        probabilities are used as they are).
    randomized : bool, default True
    random_state : int, RandomState or None
        Seeds the uniform draws (calibration draws with key 0, prediction draws with key 1, so
        repeated predictions are identical).

    Attributes
    ----------
    scores_ : ndarray of shape (n_calibration,)
        Sorted APS scores of the held-out labels.
    classes_ : ndarray of shape (C,)
    random_state_ : int
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(4), size=2000)
    >>> y = np.array([rng.choice(4, p=p) for p in probs])  # a calibrated model
    >>> aps = ConformalClassifier(random_state=0).fit_prediction(probs[:1000], y[:1000])
    >>> sets = aps.prediction_set(probs[1000:], alpha=0.1)
    >>> bool(abs(sets[np.arange(1000), y[1000:]].mean() - 0.9) < 0.03)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": _ANY_CLASSIFIER,
        "randomized": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, randomized: bool = True, random_state=None):
        self.estimator = estimator
        self.randomized = randomized
        self.random_state = random_state

    def _uniforms(self, n: int, key: int) -> np.ndarray:
        if not self.randomized:
            return np.ones(n)
        return np.random.default_rng(derive_seed(self.random_state_, key)).uniform(size=n)

    def _base_prediction(self, X) -> ClassificationPrediction:
        """The wrapped model's prediction on ``X`` (a scikit-learn classifier's ``predict_proba``
        with its ``classes_`` through :func:`uqkit.predict_uncertainty`)."""
        return as_classification_prediction(self._fitted_model().predict_uncertainty(X))

    def _fit(self, pred, y) -> None:
        pred = as_classification_prediction(pred)
        probs, index = as_classification(pred, y)
        self._resolve_random_state()
        scores = aps_scores(probs, self._uniforms(len(index), 0))
        self.scores_ = np.sort(scores[np.arange(len(index)), index])
        self.classes_ = np.asarray(pred.classes)
        self.n_calibration_ = len(index)

    def conformal_quantile(self, alpha: float = 0.1) -> float:
        """The score threshold :math:`\\hat q` for miscoverage ``alpha`` (``inf``: n too small)."""
        check_fitted(self, "scores_")
        # alpha above 0.5 is almost always a coverage level misread as a miscoverage: refuse it.
        return _threshold(self.scores_, check_miscoverage(alpha))

    def prediction_set(self, pred, alpha: float = 0.1) -> np.ndarray:
        """Membership mask of the ``1 - alpha`` prediction sets of a prediction.

        Parameters
        ----------
        pred : ClassificationPrediction or ndarray of shape (n, C)
        alpha : float in (0, 1)

        Returns
        -------
        ndarray of bool, shape (n, C)
            ``mask[i, j]`` is True when class ``classes_[j]`` is in the set of sample ``i``.
        """
        threshold = self.conformal_quantile(alpha)
        probs = as_classification_prediction(pred).probs
        if probs.shape[1] != len(self.classes_):
            raise InvalidInputError(
                f"The prediction has {probs.shape[1]} classes but the calibrator was fitted on "
                f"{len(self.classes_)}."
            )
        return aps_scores(probs, self._uniforms(len(probs), 1)) <= threshold

    def predict_set(self, X, alpha: float = 0.1) -> np.ndarray:
        """Membership mask (n, C) of the conformal ``1 - alpha`` prediction sets on ``X``."""
        check_fitted(self, "scores_")
        return self.prediction_set(self._base_prediction(X), alpha)

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """The wrapped model's prediction on ``X``, unchanged."""
        check_fitted(self, "scores_")
        return self._base_prediction(X)

    def calibrate(self, pred) -> ClassificationPrediction:
        """The prediction itself (conformal calibration makes sets, not new probabilities)."""
        check_fitted(self, "scores_")
        return as_classification_prediction(pred)
