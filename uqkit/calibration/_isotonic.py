"""Isotonic recalibration of the predictive CDF (Kuleshov, Fenner & Ermon, ICML 2018)."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.utils._param_validation import Interval

from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.calibration._wrapper import Recalibrator
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import as_regression, as_regression_prediction
from uqkit.prediction import RegressionPrediction

__all__ = ["IsotonicCalibration"]


class IsotonicCalibration(UQRegressorMixin, Recalibrator):
    """Isotonic recalibration of a regressor's predictive CDF (Kuleshov et al., ICML 2018).

    Algorithm 1 of Kuleshov et al.: on held-out data compute the PIT values
    :math:`p_i = F_i(y_i)` and their empirical CDF :math:`\\hat P(p) = |\\{j: p_j \\le p\\}| / n`,
    then fit an isotonic regression :math:`R: p_i \\mapsto \\hat P(p_i)`. The recalibrated forecast
    is :math:`R \\circ F_i`, whose :math:`q`-quantile is :math:`F_i^{-1}(R^{-1}(q))`; its intervals
    are calibrated in the average sense (Kuleshov et al., Sec. 3). The map is made piecewise
    linear through (0, 0), the isotonic fit and (1, 1), and mixed with the identity,
    :math:`(1 - \\epsilon) R + \\epsilon\\,\\mathrm{id}` with ``identity_mix`` ε, so that it is
    strictly increasing: every quantile is defined and the density never drops to zero.

    Parameters
    ----------
    estimator : fitted uqkit regressor (single output), optional
    identity_mix : float in (0, 1), default 1e-3
        Weight ε of the identity in the map.

    Attributes
    ----------
    pit_knots_, level_knots_ : ndarray of shape (m,)
        The recalibration map :math:`R` (PIT level → calibrated level).
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=2000)
    >>> pred = (np.zeros(2000), np.full(2000, 0.5))  # over-confident: true std is 1
    >>> iso = IsotonicCalibration().fit_prediction(pred, y)
    >>> lower, upper = iso.calibrate((np.zeros(1), np.full(1, 0.5))).interval(0.1)
    >>> bool(abs(upper[0] - 1.645) < 0.15)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **Recalibrator._parameter_constraints,
        "identity_mix": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, estimator=None, identity_mix: float = 1e-3):
        self.estimator = estimator
        self.identity_mix = identity_mix

    def _fit(self, pred, y) -> None:
        pred, y = as_regression(pred, y)
        pred, y = _single_output(pred, y)
        u = pred.cdf(y)
        order = np.sort(u)
        empirical = np.searchsorted(order, u, side="right") / len(u)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(u, empirical)
        x = np.concatenate(([0.0], iso.X_thresholds_, [1.0]))
        r = np.concatenate(([0.0], iso.y_thresholds_, [1.0]))
        keep = np.r_[True, np.diff(x) > 0]
        x, r = x[keep], np.maximum.accumulate(r[keep])
        x[-1], r[0], r[-1] = 1.0, 0.0, 1.0
        eps = float(self.identity_mix)
        self.pit_knots_ = x
        self.level_knots_ = (1.0 - eps) * r + eps * x
        self.n_calibration_ = len(y)

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Recalibrated prediction of the wrapped model on ``X``."""
        return self._predict_calibrated(X)

    def calibrate(self, pred) -> RegressionPrediction:
        """The recalibrated prediction :math:`R \\circ F` (``distribution="recalibrated"``).

        Parameters
        ----------
        pred : RegressionPrediction or tuple (mean, std)

        Returns
        -------
        RegressionPrediction
            Made by :meth:`RegressionPrediction.recalibrated`: every metric and method uses the
            recalibrated distribution.
        """
        check_fitted(self, "pit_knots_")
        pred = as_regression_prediction(pred)
        if np.ndim(pred.mean) == 2:
            if np.shape(pred.mean)[1] != 1:
                raise InvalidInputError(_ONE_OUTPUT)
            pred = pred.output(0)
        return RegressionPrediction.recalibrated(pred, self.pit_knots_, self.level_knots_)


_ONE_OUTPUT = (
    "IsotonicCalibration recalibrates single-output regressors; the prediction has several "
    "outputs. Calibrate each output with its own IsotonicCalibration."
)


def _single_output(pred: RegressionPrediction, y: np.ndarray):
    if np.ndim(pred.mean) == 1:
        return pred, y
    if np.shape(pred.mean)[1] != 1:
        raise InvalidInputError(_ONE_OUTPUT)
    return pred.output(0), y[:, 0]
