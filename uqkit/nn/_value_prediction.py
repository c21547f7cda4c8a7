"""Turn an ensemble of value heads into one :class:`~uqkit.prediction.RegressionPrediction`.

For members :math:`i = 1..N` with values :math:`V_i(s)` and GGD scales :math:`s_i` and shapes
:math:`b_i` (:math:`\\alpha_i, \\beta_i` in Kim et al., 2024), the law of total variance gives the
split used throughout uqkit:

.. math::

    \\mu = \\frac1N\\sum_i V_i, \\qquad
    \\text{aleatoric} = \\frac1N\\sum_i s_i^2\\frac{\\Gamma(3/b_i)}{\\Gamma(1/b_i)},
    \\qquad \\text{epistemic} = \\frac1N\\sum_i (V_i - \\mu)^2 .

The predictive density is a GGD with the members' mean shape :math:`\\bar b` and the scale that
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
from numpy.typing import ArrayLike
from scipy import special

from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.prediction import RegressionPrediction

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
    values: ArrayLike, scale: ArrayLike, shape: ArrayLike
) -> RegressionPrediction:
    """GGD predictive of an ensemble of GGD value heads (distribution ``"ggd"``, Kim et al., 2024).

    Parameters
    ----------
    values, scale, shape : array-like or tensor of shape (n_members, n_samples)
        Each member's value, GGD scale and GGD shape.

    Returns
    -------
    RegressionPrediction
        ``mean`` = ensemble mean value, ``aleatoric`` = mean member GGD variance, ``epistemic`` =
        variance (ddof 0) of the members' values, shape = mean member shape.

    Examples
    --------
    >>> import numpy as np
    >>> pred = ggd_ensemble_prediction([[1.0], [3.0]], [[1.0], [1.0]], [[1.0], [1.0]])
    >>> pred.mean.tolist(), pred.aleatoric.tolist(), pred.epistemic.tolist()
    ([2.0], [2.0], [1.0])
    """
    arrays = _member_arrays(values=values, scale=scale, shape=shape)
    values, scale, shape = arrays["values"], arrays["scale"], arrays["shape"]
    if np.any(scale <= 0) or np.any(shape <= 0):
        raise InvalidInputError("scale and shape must be positive.")
    log_ratio = special.gammaln(3.0 / shape) - special.gammaln(1.0 / shape)
    aleatoric = np.mean(scale**2 * np.exp(log_ratio), axis=0)
    mean_shape = np.mean(shape, axis=0)
    mean_log_ratio = special.gammaln(3.0 / mean_shape) - special.gammaln(1.0 / mean_shape)
    matched_scale = np.sqrt(aleatoric * np.exp(-mean_log_ratio))
    if values.shape[0] == 1:  # keep a single member's parameters bit for bit
        matched_scale = scale[0]
    mean = np.mean(values, axis=0)
    epistemic = np.mean((values - mean) ** 2, axis=0)
    return RegressionPrediction.ggd(mean, matched_scale, mean_shape, epistemic=epistemic)


def gaussian_ensemble_prediction(values: ArrayLike, variance: ArrayLike) -> RegressionPrediction:
    """Equal-weight Gaussian mixture of an ensemble of variance heads (distribution ``"mixture"``).

    The mixture of Lakshminarayanan et al. (NeurIPS 2017, Sec. 2.4), for the variance-head critics
    of Mai et al. (ICLR 2022).

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
