"""Split conformal prediction for uqkit regressors and classifiers.

Both wrappers hold the sorted conformity scores of ``n`` held-out samples. For a miscoverage
``alpha`` the threshold is the :math:`\\lceil (n+1)(1-\\alpha) \\rceil`-th smallest score (the
finite-sample quantile of level :math:`\\lceil (n+1)(1-\\alpha)\\rceil / n`), infinite when that
rank exceeds ``n``. For exchangeable calibration and test data this gives marginal coverage
:math:`\\ge 1-\\alpha` (Vovk et al., 2005; Lei et al., JASA 2018, Thm. 2.2), and at most
:math:`1-\\alpha+1/(n+1)` when the scores have no ties.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from uqkit._data import to_numpy
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.calibration._wrapper import Recalibrator
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    as_classification,
    as_classification_prediction,
    as_regression,
    as_regression_prediction,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction, check_miscoverage

__all__ = ["ConformalClassifier", "ConformalRegressor"]


def conformal_rank(n: int, alpha: float) -> int:
    """The rank :math:`\\lceil (n+1)(1-\\alpha)\\rceil` of the threshold among ``n`` sorted scores.

    A tolerance of 1e-9 keeps floating-point noise from pushing an exact integer up by one
    (``(99 + 1) * 0.9`` is ``90.00000000000001`` in floating point).

    Examples
    --------
    >>> conformal_rank(99, 0.1), conformal_rank(9, 0.05)
    (90, 10)
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must lie in (0, 1); got {alpha}.")
    return math.ceil((n + 1) * (1.0 - alpha) - 1e-9)


def _threshold(sorted_scores: np.ndarray, miscoverage: float) -> float:
    k = conformal_rank(len(sorted_scores), miscoverage)
    return float("inf") if k > len(sorted_scores) else float(sorted_scores[k - 1])


class ConformalRegressor(UQRegressorMixin, Recalibrator):
    """Split conformal intervals around any uqkit regressor, scaled by its predicted std.

    On held-out data the conformity scores are the normalised residuals
    :math:`s_i = |y_i - \\mu(x_i)| / \\sigma(x_i)` (Papadopoulos et al., 2008; the locally weighted
    split conformal of Lei et al., JASA 2018, Sec. 5.2), or the plain residuals with
    ``normalize=False`` (Lei et al., Algorithm 2). With :math:`\\hat q` the
    :math:`\\lceil (n+1)(1-\\alpha)\\rceil`-th smallest score, the interval
    :math:`\\mu(x) \\pm \\hat q\\,\\sigma(x)` covers a new exchangeable target with probability at
    least :math:`1-\\alpha`, whatever the model.

    ``predict_interval`` returns the conformal intervals; ``predict_uncertainty`` returns the
    wrapped model's prediction unchanged (conformal calibration makes intervals, not a new
    predictive distribution). Single-output regressors only.

    Parameters
    ----------
    estimator : fitted uqkit regressor, optional
    normalize : bool, default True
        Divide residuals by the predicted std (adaptive widths) or not (constant width).

    Attributes
    ----------
    scores_ : ndarray of shape (n_calibration,)
        Sorted conformity scores of the held-out data.
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
    """

    _parameter_constraints: ClassVar[dict] = {
        **Recalibrator._parameter_constraints,
        "normalize": ["boolean"],
    }

    def __init__(self, estimator=None, normalize: bool = True):
        self.estimator = estimator
        self.normalize = normalize

    def _scale(self, pred: RegressionPrediction) -> np.ndarray:
        return np.sqrt(pred.total) if self.normalize else np.ones(np.shape(pred.mean))

    def _fit(self, pred, y) -> None:
        pred, y = as_regression(pred, y)
        if np.ndim(pred.mean) == 2 and np.shape(pred.mean)[1] != 1:
            raise InvalidInputError(
                "ConformalRegressor supports single-output regressors; fit one per output."
            )
        scores = (np.abs(y - pred.mean) / self._scale(pred)).reshape(-1)
        self.scores_ = np.sort(scores)
        self.n_calibration_ = len(scores)

    def conformal_quantile(self, alpha: float = 0.1) -> float:
        """The score threshold :math:`\\hat q` for miscoverage ``alpha`` (``inf``: n too small)."""
        check_fitted(self, "scores_")
        # alpha above 0.5 is almost always a coverage level misread as a miscoverage: refuse it.
        return _threshold(self.scores_, check_miscoverage(alpha))

    def interval(
        self, pred, alpha: float = 0.1, *, coverage: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Conformal ``1 - alpha`` interval around a prediction: ``(lower, upper)``.

        ``alpha`` is the miscoverage, in (0, 0.5]; intervals of coverage below 50% are asked
        for with ``coverage`` in (0, 1) instead.
        """
        pred = as_regression_prediction(pred)
        check_fitted(self, "scores_")
        half = _threshold(self.scores_, check_miscoverage(alpha, coverage)) * self._scale(pred)
        return pred.mean - half, pred.mean + half

    def predict_interval(
        self, X, alpha: float = 0.1, *, coverage: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Conformal ``1 - alpha`` interval of the wrapped model on ``X``: ``(lower, upper)``."""
        check_fitted(self, "scores_")
        check_miscoverage(alpha, coverage)  # refuse a misread level before predicting
        pred = self._fitted_model().predict_uncertainty(X)
        return self.interval(pred, alpha, coverage=coverage)

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """The wrapped model's prediction on ``X``, unchanged."""
        return self._predict_calibrated(X)

    def calibrate(self, pred) -> RegressionPrediction:
        """The prediction itself (conformal calibration changes intervals only)."""
        check_fitted(self, "scores_")
        return as_regression_prediction(pred)

    def evaluate(self, X, y) -> dict[str, float]:
        """The wrapped model's metrics plus the conformal 90% coverage and width."""
        result = super().evaluate(X, y)
        pred = self._fitted_model().predict_uncertainty(X)
        pred, y = as_regression(pred, to_numpy(y))
        lower, upper = self.interval(pred, 0.1)
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
    estimator : fitted uqkit classifier, optional
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
        **Recalibrator._parameter_constraints,
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
        return self.prediction_set(self._fitted_model().predict_uncertainty(X), alpha)

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """The wrapped model's prediction on ``X``, unchanged."""
        return self._predict_calibrated(X)

    def calibrate(self, pred) -> ClassificationPrediction:
        """The prediction itself (conformal calibration makes sets, not new probabilities)."""
        check_fitted(self, "scores_")
        return as_classification_prediction(pred)
