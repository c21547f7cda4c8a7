"""Weighted Gaussian mixtures: the predictive distribution of an ensemble.

For weights :math:`w_i`, means :math:`\\mu_i` and variances :math:`\\sigma_i^2`
(Lakshminarayanan et al., NeurIPS 2017, Sec. 2.4; the weighted form is the AutoDEUQ split of
Egele et al., ICPR 2022, Eq. 3) the law of total variance gives

.. math::

    \\mu = \\sum_i w_i \\mu_i, \\qquad
    \\text{aleatoric} = \\sum_i w_i \\sigma_i^2, \\qquad
    \\text{epistemic} = \\sum_i w_i (\\mu_i - \\mu)^2 .

Quantiles have no closed form: :meth:`GaussianMixture.quantile` is the one bisection on the
mixture CDF that every caller (intervals, pinball loss, coverage widths) uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from uqkit.prediction._arrays import check_weights, saturating
from uqkit.prediction._normal import Normal, crps_term

# The bisection bracket holds every component's 1e-12 tail, so it always contains the root;
# 80 halvings reach float64 resolution from any bracket, and it stops earlier once converged.
_TAIL = float(special.ndtri(1e-12))
_BISECTIONS = 80
# Bracket entries evaluated at once: bounds memory at (levels, *shape) per component.
_CHUNK = 2_000_000


def check_members(
    member_means: np.ndarray, member_vars: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The components of a mixture, checked, with weights normalised (equal when ``None``)."""
    if member_means.ndim < 2 or member_means.shape != member_vars.shape:
        raise ValueError(
            "member_means and member_vars must have the same shape (k, n) or (k, n, d); "
            f"got {member_means.shape} and {member_vars.shape}."
        )
    k = member_means.shape[0]
    if weights is None:
        return member_means, member_vars, np.full(k, 1.0 / k)
    return member_means, member_vars, check_weights(weights, k, "RegressionPrediction.mixture")


def total_variance_split(
    member_means: np.ndarray, member_vars: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, aleatoric and epistemic variance of the mixture (law of total variance).

    The mean is taken as an offset from the first member, so members that agree give exactly
    that member's mean, hence exactly zero epistemic variance.
    """
    w = weights.reshape((-1,) + (1,) * (member_means.ndim - 1))
    mean = member_means[0] + np.sum(w * (member_means - member_means[0]), axis=0)
    aleatoric = np.sum(w * member_vars, axis=0)
    epistemic = np.sum(w * (member_means - mean) ** 2, axis=0)
    return mean, aleatoric, epistemic


@dataclass(frozen=True)
class GaussianMixture:
    """:math:`\\sum_i w_i N(\\mu_i, \\sigma_i^2)`, elementwise over the sample axes.

    ``means`` and ``variances`` have shape ``(k, *shape)``, ``weights`` shape ``(k,)`` and sum
    to one.
    """

    means: np.ndarray
    variances: np.ndarray
    weights: np.ndarray

    def _components(self):
        return (Normal(m, v) for m, v in zip(self.means, self.variances))

    @saturating
    def cdf(self, y: np.ndarray) -> np.ndarray:
        """Mixture CDF; ``y`` may carry extra leading axes (evaluation grids)."""
        out = np.zeros(np.broadcast_shapes(np.shape(y), self.means.shape[1:]))
        for w, component in zip(self.weights, self._components()):
            out += w * component.cdf(y)
        return out

    @saturating
    def log_prob(self, y: np.ndarray) -> np.ndarray:
        """Log-density by log-sum-exp over the components."""
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        terms = np.stack([c.log_prob(y) for c in self._components()])
        return special.logsumexp(log_w.reshape((-1,) + (1,) * (terms.ndim - 1)) + terms, axis=0)

    @saturating
    def quantile(self, levels: np.ndarray) -> np.ndarray:
        """Quantiles at the 1-D ``levels``, shape ``(len(levels), *shape)``, by bisection."""
        levels = np.asarray(levels, dtype=np.float64).reshape(-1)
        shape = self.means.shape[1:]
        sd = np.sqrt(self.variances)
        lowest = np.min(self.means + _TAIL * sd, axis=0)
        highest = np.max(self.means - _TAIL * sd, axis=0)
        chunk = max(1, _CHUNK // max(1, int(np.prod(shape))))
        out = []
        for start in range(0, len(levels), chunk):
            q = levels[start : start + chunk].reshape((-1,) + (1,) * len(shape))
            lower = np.broadcast_to(lowest, q.shape[:1] + shape).copy()
            upper = np.broadcast_to(highest, lower.shape).copy()
            for _ in range(_BISECTIONS):
                middle = 0.5 * (lower + upper)
                below = self.cdf(middle) < q
                lower = np.where(below, middle, lower)
                upper = np.where(below, upper, middle)
                if np.all(upper - lower <= 1e-15 * (1.0 + np.abs(lower))):
                    break  # converged to float resolution everywhere
            out.append(0.5 * (lower + upper))
        return np.concatenate(out)

    @saturating
    def crps(self, y: np.ndarray) -> np.ndarray:
        """Closed form :math:`\\mathbb E|X - y| - \\tfrac12\\mathbb E|X - X'|` (Grimit, 2006)."""
        w = self.weights.reshape((-1,) + (1,) * (self.means.ndim - 1))
        mu, var = self.means, self.variances
        first = np.sum(w * crps_term(y - mu, var), axis=0)
        w_pair = w[:, None] * w[None, :]
        pair = crps_term(mu[:, None] - mu[None, :], var[:, None] + var[None, :])
        return first - 0.5 * np.sum(w_pair * pair, axis=(0, 1))
