"""From evidential parameters to the shared prediction types."""

from __future__ import annotations

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["UNCERTAINTY_SPLITS", "dirichlet_prediction", "nig_prediction"]

UNCERTAINTY_SPLITS = ("amini", "meinert")


def _as_array(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return value


def nig_prediction(gamma, nu, alpha, beta, uncertainty: str = "amini") -> RegressionPrediction:
    """Student-t predictive of a Normal-Inverse-Gamma evidential distribution.

    The predictive is the NIG marginal
    :math:`\\mathrm{St}(y;\\gamma,\\,\\beta(1+\\nu)/(\\nu\\alpha),\\,2\\alpha)`
    (Amini et al., NeurIPS 2020, Sec. 3.3), returned with ``scale`` the square root of its scale
    parameter and ``df = 2 alpha``. The variance split depends on ``uncertainty``:

    ``"amini"`` (Amini et al., 2020, Eq. 5)
        aleatoric :math:`E[\\sigma^2]=\\beta/(\\alpha-1)`, epistemic
        :math:`\\mathrm{Var}[\\mu]=\\beta/(\\nu(\\alpha-1))`. Their sum is exactly the variance of
        the Student-t, which is finite because ``alpha > 1`` (``df > 2``). Note that
        epistemic = aleatoric / ``nu``: the two are tied by the single parameter ``nu``.
    ``"meinert"`` (Meinert, Gawlikowski & Lavin, AAAI 2023)
        aleatoric :math:`u_A^2 = \\beta(1+\\nu)/(\\alpha\\nu)`, the squared scale of the
        Student-t (the variance of the Gaussian it tends to as :math:`\\alpha\\to\\infty`);
        epistemic :math:`u_E^2 = 1/\\nu`, a *unit-free* score (one over the virtual number of
        observations of the mean). Estimators report it in units of the target variance
        (multiplied by the squared target scale), so that it rescales like a variance; ``total``
        is then a score, not the predictive variance. The predictive distribution itself (NLL,
        intervals, CRPS) is the same Student-t for both splits.

    Parameters
    ----------
    gamma, nu, alpha, beta : array-like or Tensor of shape (n,) or (n, d)
        NIG parameters; ``nu, beta > 0``, ``alpha > 1``.
    uncertainty : {"amini", "meinert"}

    Returns
    -------
    RegressionPrediction
        ``distribution="student_t"``.

    Examples
    --------
    >>> import numpy as np
    >>> pred = nig_prediction([0.0], [1.0], [3.0], [2.0])
    >>> pred.aleatoric, pred.epistemic, pred.df
    (array([1.]), array([1.]), array([6.]))
    >>> bool(np.isclose(pred.total[0], pred.scale[0] ** 2 * 6 / 4))  # the Student-t variance
    True
    """
    if uncertainty not in UNCERTAINTY_SPLITS:
        raise InvalidInputError(
            f"uncertainty must be one of {UNCERTAINTY_SPLITS}; got {uncertainty!r}."
        )
    gamma = _as_array(gamma, "gamma")
    nu, alpha, beta = (_as_array(v, n) for v, n in ((nu, "nu"), (alpha, "alpha"), (beta, "beta")))
    if np.any(nu <= 0) or np.any(beta <= 0) or np.any(alpha <= 1):
        raise InvalidInputError("NIG parameters need nu > 0, beta > 0 and alpha > 1.")
    scale_sq = beta * (1.0 + nu) / (nu * alpha)
    if uncertainty == "amini":
        aleatoric = beta / (alpha - 1.0)
        epistemic = aleatoric / nu
    else:
        aleatoric = scale_sq
        epistemic = 1.0 / nu
    return RegressionPrediction.student_t(
        loc=gamma,
        scale=np.sqrt(scale_sq),
        df=2.0 * alpha,
        aleatoric=aleatoric,
        epistemic=epistemic,
    )


def dirichlet_prediction(concentration, classes=None) -> ClassificationPrediction:
    """Prediction of a Dirichlet with concentration :math:`\\alpha` (Sensoy et al., NeurIPS 2018).

    ``probs = concentration / S``; ``total`` is the entropy of ``probs``, ``aleatoric`` the
    expected entropy :math:`-\\sum_k p_k(\\psi(\\alpha_k+1)-\\psi(S+1))` and ``epistemic`` their
    difference, the mutual information (Malinin & Gales, NeurIPS 2018); ``vacuity`` ``C / S``
    and ``differential_entropy`` are available too. A thin, validating wrapper around
    :meth:`ClassificationPrediction.from_dirichlet`.

    Parameters
    ----------
    concentration : array-like or Tensor of shape (n, C)
        Positive Dirichlet concentration.
    classes : array-like of shape (C,), optional

    Examples
    --------
    >>> pred = dirichlet_prediction([[1.0, 1.0]])
    >>> pred.probs, pred.vacuity
    (array([[0.5, 0.5]]), array([1.]))
    """
    concentration = _as_array(concentration, "concentration")
    if concentration.ndim != 2 or np.any(concentration <= 0):
        raise InvalidInputError("concentration must be a positive array of shape (n, C).")
    return ClassificationPrediction.from_dirichlet(concentration, classes=classes)
