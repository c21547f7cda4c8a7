"""The Student-t predictive distribution :math:`t_\\nu(\\text{loc}, \\text{scale})`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from uqkit.prediction._quadrature import quantile_crps


@dataclass(frozen=True)
class StudentT:
    """Location-scale Student-t with ``df`` degrees of freedom, elementwise."""

    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray

    def _levels(self, levels: np.ndarray) -> np.ndarray:
        return np.asarray(levels, dtype=np.float64).reshape((-1,) + (1,) * np.ndim(self.loc))

    def cdf(self, y: np.ndarray) -> np.ndarray:
        return stats.t.cdf(y, self.df, self.loc, self.scale)

    def log_prob(self, y: np.ndarray) -> np.ndarray:
        return stats.t.logpdf(y, self.df, self.loc, self.scale)

    def quantile(self, levels: np.ndarray) -> np.ndarray:
        return stats.t.ppf(self._levels(levels), self.df, self.loc, self.scale)

    def crps(self, y: np.ndarray) -> np.ndarray:
        """Closed form for :math:`\\nu > 1` (as in scoringRules: Jordan et al., JSS 2019).

        With :math:`z = (y - \\mu)/\\sigma`: :math:`\\sigma\\,[z(2F_\\nu(z) - 1) + 2 f_\\nu(z)
        \\frac{\\nu + z^2}{\\nu - 1} - \\frac{2\\sqrt\\nu}{\\nu - 1}
        \\frac{B(\\frac12, \\nu - \\frac12)}{B(\\frac12, \\frac\\nu2)^2}]`; quadrature otherwise
        (the CRPS is infinite for :math:`\\nu \\le 1`, the quadrature then reports a large value).
        """
        nu = self.df
        if np.any(nu <= 1):
            return quantile_crps(y, self.quantile)
        z = (y - self.loc) / self.scale
        term = z * (2 * stats.t.cdf(z, nu) - 1) + 2 * stats.t.pdf(z, nu) * (nu + z**2) / (nu - 1)
        log_const = (
            np.log(2 * np.sqrt(nu) / (nu - 1))
            + special.betaln(0.5, nu - 0.5)
            - 2 * special.betaln(0.5, nu / 2)
        )
        return self.scale * (term - np.exp(log_const))
