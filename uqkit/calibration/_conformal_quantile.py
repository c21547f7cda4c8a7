"""Conformalized quantile regression, CQR (Romano, Patterson & Candès, NeurIPS 2019)."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval

from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.calibration._quantile import (
    check_sample_weight,
    conformal_threshold,
    miscoverages,
    single_output,
    sort_scores,
    stack_levels,
)
from uqkit.calibration._wrapper import Recalibrator, _check_calibration_size
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.interop import gives_uncertainty
from uqkit.metrics import as_regression_prediction
from uqkit.prediction import RegressionPrediction, check_miscoverage

__all__ = ["ConformalQuantileRegressor"]

_DEFAULT_BASE_ALPHA = 0.1



class ConformalQuantileRegressor(UQRegressorMixin, Recalibrator):
    """Conformalized quantile regression (CQR; Romano, Patterson & Candès, NeurIPS 2019).

    A lower and an upper quantile model :math:`\\hat q_{lo}, \\hat q_{hi}` give a band on held-out
    data; the conformity score is how far the target lies outside it (Eq. 6),
    :math:`E_i = \\max(\\hat q_{lo}(x_i) - y_i,\\; y_i - \\hat q_{hi}(x_i))`, and with
    :math:`\\hat Q` the :math:`\\lceil (n+1)(1-\\alpha)\\rceil`-th smallest score the interval
    :math:`[\\hat q_{lo}(x) - \\hat Q,\\; \\hat q_{hi}(x) + \\hat Q]` (Eq. 7) covers a new
    exchangeable target with probability at least :math:`1-\\alpha` (Thm. 1), whatever the
    quantile models. The band may shrink (negative :math:`\\hat Q`) as well as grow; it adapts
    to heteroscedastic noise through the quantile models.

    The quantile models are either a pair of fitted point regressors (``estimator`` the lower,
    ``estimator_upper`` the upper quantile: e.g. two
    ``GradientBoostingRegressor(loss="quantile", alpha=...)``), or one uqkit regressor whose
    predictive quantiles at :math:`\\alpha_0/2` and :math:`1-\\alpha_0/2` are used
    (:math:`\\alpha_0` = ``base_alpha``). The conformal step works for any requested ``alpha``;
    the band is best when its nominal level is close to it. ``fit(..., sample_weight=w)`` uses
    the weighted conformal quantile (frequency weights; ones give the unweighted one).

    ``predict_interval`` returns the CQR intervals; ``predict_uncertainty`` is the wrapped uqkit
    model's prediction unchanged, or, for a pair of point models, the normal with the band's
    midpoint as mean and the held-out mean squared residual from it as variance (a summary for
    the metrics only). Single-output only.

    Parameters
    ----------
    estimator : fitted regressor, optional
        The lower quantile model (with ``estimator_upper``), or one uqkit regressor.
    estimator_upper : fitted regressor, optional
        The upper quantile model; ``None`` when ``estimator`` is a uqkit regressor.
    base_alpha : float in (0, 0.5], optional
        Miscoverage of the band taken from a single uqkit regressor (default 0.1, recorded in
        ``base_alpha_``). Refused with a pair of quantile models, whose level is set when they
        are fitted.

    Attributes
    ----------
    scores_ : ndarray of shape (n_calibration,)
        Sorted CQR scores of the held-out data.
    weights_ : ndarray of shape (n_calibration,)
    base_alpha_ : float or None
        The band's miscoverage for a single uqkit model; None for a pair.
    residual_variance_ : float
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(600, 1))
    >>> y = X[:, 0] + (0.2 + np.abs(X[:, 0])) * rng.normal(size=600)
    >>> low, high = (GradientBoostingRegressor(loss="quantile", alpha=a, n_estimators=30,
    ...              random_state=0).fit(X[:300], y[:300]) for a in (0.05, 0.95))
    >>> cqr = ConformalQuantileRegressor(low, high).fit(X[300:450], y[300:450])
    >>> lower, upper = cqr.predict_interval(X[450:], alpha=0.1)
    >>> bool(np.mean((y[450:] >= lower) & (y[450:] <= upper)) > 0.8)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "estimator_upper": [HasMethods(["fit", "predict"]), None],
        "base_alpha": [Interval(Real, 0.0, 0.5, closed="right"), None],
    }

    def __init__(self, estimator=None, estimator_upper=None, base_alpha: float | None = None):
        self.estimator = estimator
        self.estimator_upper = estimator_upper
        self.base_alpha = base_alpha

    # -- the wrapped models ----------------------------------------------------------
    def _resolve_base_alpha(self) -> float | None:
        if self.estimator_upper is not None:
            if self.base_alpha is not None:
                raise InvalidInputError(
                    f"{type(self).__name__}: base_alpha applies to one uqkit regressor; a pair of "
                    "quantile models carries its level from its own fit. Drop base_alpha, or "
                    "pass one uqkit regressor without estimator_upper."
                )
            return None
        return _DEFAULT_BASE_ALPHA if self.base_alpha is None else float(self.base_alpha)

    def _check_models(self):
        lower = self._fitted_model()
        if self.estimator_upper is None:
            if not gives_uncertainty(self.estimator):
                raise InvalidInputError(
                    f"{type(self).__name__} needs two quantile models (estimator, "
                    f"estimator_upper) or one uqkit regressor with predict_uncertainty; got one "
                    f"{type(lower).__name__}. Pass the upper quantile model as estimator_upper."
                )
            return lower, None
        try:
            check_fitted(self.estimator_upper)
        except NotFittedError as err:
            raise NotFittedError(
                f"The upper quantile model {type(self.estimator_upper).__name__} is not fitted; "
                "fit it on the training data first."
            ) from err
        return lower, self.estimator_upper

    def _band_of(self, pred: RegressionPrediction, base_alpha: float):
        name = type(self).__name__
        q = np.asarray(pred.quantile([base_alpha / 2, 1 - base_alpha / 2]))
        # quantile(levels) has the levels on its first axis
        return single_output(q[0], name), single_output(q[1], name), single_output(pred.mean, name)

    def _base_outputs(self, X):
        """``(lower band, upper band, point prediction or None, prediction or None)`` on ``X``:
        the only place that calls the wrapped models (``predict_uncertainty`` of a uqkit model,
        else the ``predict`` of the two quantile models)."""
        lower_model, upper_model = self._check_models()
        name = type(self).__name__
        if upper_model is None:
            pred = as_regression_prediction(lower_model.predict_uncertainty(X))
            low, high, mean = self._band_of(pred, self.base_alpha_)
            return low, high, mean, pred
        low = single_output(lower_model.predict(X), name)
        high = single_output(upper_model.predict(X), name)
        return low, high, None, None

    # -- fitting -------------------------------------------------------------------
    def _fit_band(self, low, high, mean, y, sample_weight) -> None:
        name = type(self).__name__
        y = single_output(y, name)
        if y.shape != low.shape:
            raise InvalidInputError(f"{name}: y has {y.size} rows but the band has {low.size}.")
        if not np.all(np.isfinite(y)):
            raise InvalidInputError(f"{name}: y contains NaN or inf; drop or impute those rows.")
        weights = check_sample_weight(sample_weight, len(y), name)
        scores = np.maximum(low - y, y - high)  # Eq. 6
        self.scores_, self.weights_ = sort_scores(scores, weights)
        center = 0.5 * (low + high) if mean is None else mean
        self.residual_variance_ = float(np.average((y - center) ** 2, weights=weights))
        self.n_calibration_ = len(y)

    def fit(self, X, y, sample_weight=None):
        """Compute the CQR scores on held-out data ``(X, y)`` the models have not seen.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        y : array-like of shape (n,)
        sample_weight : array-like of shape (n,), optional
            Frequency weights of the held-out rows.

        Returns
        -------
        self
        """
        self._check_params()
        self.base_alpha_ = self._resolve_base_alpha()
        _check_calibration_size(y, type(self).__name__)
        low, high, mean, _ = self._base_outputs(X)
        self._fit_band(low, high, mean, y, sample_weight)
        self._copy_model_attributes(self._fitted_model())
        return self

    def fit_prediction(self, pred, y, sample_weight=None):
        """Compute the scores from a held-out prediction: a ``RegressionPrediction`` (its
        quantiles at ``base_alpha``) or a pair ``(lower, upper)`` of quantile arrays.

        Returns
        -------
        self
        """
        self._check_params()
        _check_calibration_size(y, type(self).__name__)
        if isinstance(pred, RegressionPrediction):
            self.base_alpha_ = (_DEFAULT_BASE_ALPHA if self.base_alpha is None
                                else float(self.base_alpha))
            low, high, mean = self._band_of(pred, self.base_alpha_)
        else:
            low, high = (single_output(v, type(self).__name__) for v in pred)
            self.base_alpha_, mean = None, None
        self._fit_band(low, high, mean, y, sample_weight)
        return self

    def _fit(self, pred, y) -> None:
        self.fit_prediction(pred, y)

    # -- intervals --------------------------------------------------------------------
    def conformal_quantile(self, alpha: float = 0.1) -> float:
        """The score threshold :math:`\\hat Q` for miscoverage ``alpha`` (``inf``: n too small)."""
        check_fitted(self, "scores_")
        return conformal_threshold(self.scores_, self.weights_, check_miscoverage(alpha))

    def interval_from_band(self, low, high, alpha=0.1, *, coverage=None):
        """CQR interval (Eq. 7) around a band ``(low, high)`` of quantile predictions."""
        check_fitted(self, "scores_")
        levels, single = miscoverages(alpha, coverage)
        name = type(self).__name__
        low, high = single_output(low, name), single_output(high, name)
        shift = [conformal_threshold(self.scores_, self.weights_, a) for a in levels]
        return (stack_levels([low - s for s in shift], single),
                stack_levels([high + s for s in shift], single))

    def interval(self, pred, alpha=0.1, *, coverage=None):
        """CQR interval around a ``RegressionPrediction`` (its band at ``base_alpha_``)."""
        check_fitted(self, "scores_")
        if self.base_alpha_ is None:
            raise InvalidInputError(
                f"This {type(self).__name__} was fitted on a pair of quantile models; pass their "
                "band to interval_from_band(low, high) or features to predict_interval(X)."
            )
        low, high, _ = self._band_of(as_regression_prediction(pred), self.base_alpha_)
        return self.interval_from_band(low, high, alpha, coverage=coverage)

    def predict_interval(self, X, alpha=0.1, *, coverage=None):
        """CQR ``1 - alpha`` interval on ``X``: ``(lower, upper)``, each (n,) or (n, k)."""
        check_fitted(self, "scores_")
        miscoverages(alpha, coverage)  # refuse a misread level before predicting
        low, high, _, _ = self._base_outputs(X)
        return self.interval_from_band(low, high, alpha, coverage=coverage)

    # -- predictions -------------------------------------------------------------------
    def predict_uncertainty(self, X) -> RegressionPrediction:
        """The wrapped uqkit model's prediction unchanged (see the class notes for a pair)."""
        check_fitted(self, "scores_")
        low, high, _, pred = self._base_outputs(X)
        if pred is not None:
            return pred
        center = 0.5 * (low + high)
        return RegressionPrediction.normal(center, np.full(center.shape, self.residual_variance_))

    def calibrate(self, pred) -> RegressionPrediction:
        """The prediction itself (conformal calibration changes intervals only)."""
        check_fitted(self, "scores_")
        return as_regression_prediction(pred)

    def evaluate(self, X, y) -> dict[str, float]:
        """The wrapped model's metrics plus the CQR 90% coverage and width."""
        result = super().evaluate(X, y)
        y = single_output(y, type(self).__name__)
        lower, upper = self.predict_interval(X, 0.1)
        result["conformal_coverage_90"] = float(np.mean((y >= lower) & (y <= upper)))
        result["conformal_width_90"] = float(np.mean(upper - lower))
        return result
