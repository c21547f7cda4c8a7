"""The Student-t predictive distribution :math:`t_\\nu(\\text{loc}, \\text{scale})`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from uqkit.prediction._arrays import saturating, scipy_stats

_GAUSSIAN_DF = 1e7


@dataclass(frozen=True)
class StudentT:
    """Location-scale Student-t with ``df`` degrees of freedom, elementwise."""

    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray

    def _levels(self, levels: np.ndarray) -> np.ndarray:
        return np.asarray(levels, dtype=np.float64).reshape((-1,) + (1,) * np.ndim(self.loc))

    @saturating
    def cdf(self, y: np.ndarray) -> np.ndarray:
        return scipy_stats().t.cdf(y, self.df, self.loc, self.scale)

    @saturating
    def log_prob(self, y: np.ndarray) -> np.ndarray:
        return scipy_stats().t.logpdf(y, self.df, self.loc, self.scale)

    @saturating
    def quantile(self, levels: np.ndarray) -> np.ndarray:
        return scipy_stats().t.ppf(self._levels(levels), self.df, self.loc, self.scale)

    @saturating
    def crps(self, y: np.ndarray) -> np.ndarray:
        """Closed form for :math:`\\nu > 1` (as in scoringRules: Jordan et al., JSS 2019).

        With :math:`z = (y - \\mu)/\\sigma`: :math:`\\sigma\\,[z(2F_\\nu(z) - 1) + 2 f_\\nu(z)
        \\frac{\\nu + z^2}{\\nu - 1} - \\frac{2\\sqrt\\nu}{\\nu - 1}
        \\frac{B(\\frac12, \\nu - \\frac12)}{B(\\frac12, \\frac\\nu2)^2}]`. For :math:`\\nu \\le 1`
        the predictive has no mean and its CRPS is infinite: ``inf`` there, exactly (a
        quadrature would report a large finite number instead).
        """
        nu = np.broadcast_to(self.df, np.shape(y))
        heavy = nu <= 1
        # beyond 1e7 degrees of freedom the t is Gaussian to 1e-7, and the Beta functions of the
        # closed form cancel catastrophically: the Gaussian CRPS is used there
        gaussian = nu > _GAUSSIAN_DF
        # any 1 < nu keeps the closed form defined where its value is replaced below
        nu = np.where(heavy | gaussian, 2.0, nu)
        diff = y - self.loc
        z = diff / self.scale
        # f(z) (nu + z^2) in log space, with log(1 + z^2/nu) from log|z| where z^2 would
        # overflow: a scale far below the residual then gives the point-mass limit |y - mu|
        # (sigma z (2F - 1) is written diff (2F - 1) for the same reason)
        big = np.abs(z) > 1e100
        safe = np.where(big, 1.0, z)
        log_q = np.where(big, 2 * np.log(np.abs(np.where(big, z, 1.0))) - np.log(nu),
                         np.log1p(safe**2 / nu))
        log_density_const = (
            special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        )
        tail = 2 / (nu - 1) * np.exp(log_density_const + np.log(nu) + (1 - nu) / 2 * log_q)
        log_const = (
            np.log(2 * np.sqrt(nu) / (nu - 1))
            + special.betaln(0.5, nu - 0.5)
            - 2 * special.betaln(0.5, nu / 2)
        )
        cdf = scipy_stats().t.cdf(z, nu)
        crps = diff * (2 * cdf - 1) + self.scale * (tail - np.exp(log_const))
        # the Gaussian CRPS (Gneiting & Raftery 2007) in the same overflow-safe form
        normal = diff * (2 * special.ndtr(z) - 1) + self.scale * (
            2 * np.exp(-0.5 * np.minimum(z**2, 1e300)) / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
        )
        crps = np.where(gaussian, normal, crps)
        return np.where(heavy, np.inf, crps)
