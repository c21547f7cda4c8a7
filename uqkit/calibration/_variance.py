"""Variance (sigma) scaling of a fitted regressor (Levi et al., 2022; Laves et al., 2020)."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.calibration._wrapper import Recalibrator
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import as_regression, as_regression_prediction
from uqkit.prediction import RegressionPrediction

__all__ = ["VarianceScaling"]

_LOG_SCALE_BOUNDS = (np.log(1e-3), np.log(1e3))


def _scaled(pred: RegressionPrediction, scale) -> RegressionPrediction:
    """The prediction of :math:`\\mu + s (Y - \\mu)`: same mean, every variance times ``s**2``."""
    scale = np.asarray(scale, dtype=np.float64)
    return pred.rescale(scale, (1.0 - scale) * pred.mean)


class VarianceScaling(UQRegressorMixin, Recalibrator):
    """Variance scaling: one factor ``s`` that widens (s > 1) or narrows every predictive std.

    The predictive distribution is stretched about its mean, :math:`Y' = \\mu + s (Y - \\mu)`, so
    the mean is kept and the aleatoric and epistemic variances are both multiplied by
    :math:`s^2` (for an ensemble, the member means are spread by ``s`` and their variances scaled
    by :math:`s^2`). ``s`` maximises the held-out likelihood. For a Gaussian predictive this has the
    closed form of σ-scaling (Laves et al., MIDL 2020, Sec. 2.3; Levi et al., Sensors 2022,
    Sec. 4): :math:`s^2 = \\frac1n \\sum_i (y_i - \\mu_i)^2 / \\sigma_i^2`; for other families
    (mixture, Student-t, generalized Gaussian) the exact NLL is minimised over
    :math:`\\log s \\in [\\log 10^{-3}, \\log 10^3]` with bounded Brent search. Multi-output
    predictions get one factor per output.

    Parameters
    ----------
    estimator : fitted uqkit regressor, optional
        The model to calibrate; ``None`` to use :meth:`fit_prediction` / :meth:`calibrate` only.

    Attributes
    ----------
    scale_ : float or ndarray of shape (d,)
        The std factor ``s``.
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mean, std = np.zeros(4000), np.full(4000, 0.5)
    >>> y = rng.normal(size=4000)  # the true std is 1: the model is over-confident by 2x
    >>> scaler = VarianceScaling().fit_prediction((mean, std), y)
    >>> round(scaler.scale_, 1)
    2.0
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def _fit(self, pred, y) -> None:
        pred, y = as_regression(pred, y)
        if pred.distribution == "normal":  # closed form; other families by likelihood
            z2 = (y - pred.mean) ** 2 / pred.total
            scale = np.sqrt(np.mean(z2, axis=0))
        else:
            scale = self._fit_by_likelihood(pred, y)
        self.scale_ = float(scale) if np.ndim(scale) == 0 else np.asarray(scale)
        self.n_calibration_ = len(y)

    @staticmethod
    def _fit_by_likelihood(pred: RegressionPrediction, y: np.ndarray):
        n_outputs = 1 if np.ndim(pred.mean) == 1 else np.shape(pred.mean)[1]
        scale = np.ones(n_outputs)
        for j in range(n_outputs):

            def nll(log_s: float, j: int = j) -> float:
                trial = scale.copy()
                trial[j] = np.exp(log_s)
                factor = trial[0] if n_outputs == 1 and np.ndim(pred.mean) == 1 else trial
                values = -_scaled(pred, factor).log_prob(y)
                return float(np.mean(values if values.ndim == 1 else values[:, j]))

            result = optimize.minimize_scalar(
                nll, bounds=_LOG_SCALE_BOUNDS, method="bounded", options={"xatol": 1e-8}
            )
            scale[j] = np.exp(result.x)
        return scale[0] if np.ndim(pred.mean) == 1 else scale

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Variance-scaled prediction of the wrapped model on ``X``."""
        return self._predict_calibrated(X)

    def calibrate(self, pred) -> RegressionPrediction:
        """The prediction with every predictive std multiplied by ``scale_``.

        Parameters
        ----------
        pred : RegressionPrediction or tuple (mean, std)

        Returns
        -------
        RegressionPrediction
        """
        check_fitted(self, "scale_")
        pred = as_regression_prediction(pred)
        if np.ndim(self.scale_) == 1 and (
            np.ndim(pred.mean) != 2 or np.shape(pred.mean)[1] != len(self.scale_)
        ):
            raise InvalidInputError(
                f"The calibrator was fitted on {len(self.scale_)} outputs but the prediction has "
                f"shape {np.shape(pred.mean)}."
            )
        return _scaled(pred, self.scale_)
