"""Turn an ensemble of value heads into one :class:`~uqkit.prediction.RegressionPrediction`.

For members :math:`i = 1..N` with values :math:`V_i(s)` and GGD parameters
:math:`(\\alpha_i, \\beta_i)`, the law of total variance gives the split used throughout uqkit:

.. math::

    \\mu = \\frac1N\\sum_i V_i, \\qquad
    \\text{aleatoric} = \\frac1N\\sum_i \\alpha_i^2\\frac{\\Gamma(3/\\beta_i)}{\\Gamma(1/\\beta_i)},
    \\qquad \\text{epistemic} = \\frac1N\\sum_i (V_i - \\mu)^2 .

The predictive density is a GGD with the members' mean shape :math:`\\bar\\beta` and the scale that
gives it the aleatoric variance above (``RegressionPrediction.ggd`` then widens it to the total
variance). One member gives exactly that member's GGD; members that agree give epistemic = 0.

Examples
--------
>>> import numpy as np
>>> pred = ggd_ensemble_prediction(np.zeros((3, 2)), np.ones((3, 2)), np.full((3, 2), 2.0))
>>> pred.distribution, pred.aleatoric.round(6).tolist(), pred.epistemic.tolist()
('ggd', [0.5, 0.5], [0.0, 0.0])
"""

from __future__ import annotations

import numpy as np
from scipy import special

from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.prediction import RegressionPrediction
from uqkit.rl._ggd import ArrayLike

__all__ = ["gaussian_ensemble_prediction", "ggd_ensemble_prediction"]


def _member_arrays(**arrays) -> dict[str, np.ndarray]:
    out = {}
    shape = None
    for name, value in arrays.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        value = np.asarray(value, dtype=np.float64)
        if value.ndim != 2:
            raise InvalidInputError(
                f"{name} must have shape (n_members, n_samples); got {value.shape}."
            )
        if shape is not None and value.shape != shape:
            raise InvalidInputError(f"{name} has shape {value.shape}, expected {shape}.")
        if not np.all(np.isfinite(value)):
            raise DivergenceError(
                f"the critic produced non-finite {name}; training diverged. Lower the learning "
                "rate or the value loss coefficient, or normalise the rewards."
            )
        shape = value.shape
        out[name] = value
    return out


def ggd_ensemble_prediction(
    values: ArrayLike, alpha: ArrayLike, beta: ArrayLike
) -> RegressionPrediction:
    """GGD predictive of an ensemble of GGD value heads (distribution ``"ggd"``).

    Parameters
    ----------
    values, alpha, beta : array-like or tensor of shape (n_members, n_samples)
        Each member's value, scale and shape.

    Returns
    -------
    RegressionPrediction
        ``mean`` = ensemble mean value, ``aleatoric`` = mean member GGD variance, ``epistemic`` =
        variance (ddof 0) of the members' values, ``beta`` = mean member shape.

    Examples
    --------
    >>> import numpy as np
    >>> pred = ggd_ensemble_prediction([[1.0], [3.0]], [[1.0], [1.0]], [[1.0], [1.0]])
    >>> pred.mean.tolist(), pred.aleatoric.tolist(), pred.epistemic.tolist()
    ([2.0], [2.0], [1.0])
    """
    arrays = _member_arrays(values=values, alpha=alpha, beta=beta)
    values, alpha, beta = arrays["values"], arrays["alpha"], arrays["beta"]
    if np.any(alpha <= 0) or np.any(beta <= 0):
        raise InvalidInputError("alpha and beta must be positive.")
    log_ratio = special.gammaln(3.0 / beta) - special.gammaln(1.0 / beta)
    aleatoric = np.mean(alpha**2 * np.exp(log_ratio), axis=0)
    mean_beta = np.mean(beta, axis=0)
    mean_log_ratio = special.gammaln(3.0 / mean_beta) - special.gammaln(1.0 / mean_beta)
    scale = np.sqrt(aleatoric * np.exp(-mean_log_ratio))
    if values.shape[0] == 1:  # keep a single member's parameters bit for bit
        scale = alpha[0]
    mean = np.mean(values, axis=0)
    epistemic = np.mean((values - mean) ** 2, axis=0)
    return RegressionPrediction.ggd(mean, scale, mean_beta, epistemic=epistemic)


def gaussian_ensemble_prediction(values: ArrayLike, variance: ArrayLike) -> RegressionPrediction:
    """Equal-weight Gaussian mixture of an ensemble of variance heads (distribution ``"mixture"``).

    Parameters
    ----------
    values, variance : array-like or tensor of shape (n_members, n_samples)
        Each member's value and predicted TD-error variance.

    Returns
    -------
    RegressionPrediction
        ``RegressionPrediction.mixture(values, variance)``.

    Examples
    --------
    >>> pred = gaussian_ensemble_prediction([[0.0], [2.0]], [[1.0], [1.0]])
    >>> pred.aleatoric.tolist(), pred.epistemic.tolist()
    ([1.0], [1.0])
    """
    arrays = _member_arrays(values=values, variance=variance)
    if np.any(arrays["variance"] <= 0):
        raise InvalidInputError("variance must be positive.")
    return RegressionPrediction.mixture(arrays["values"], arrays["variance"])
