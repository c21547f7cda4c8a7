"""The generalized Gaussian predictive distribution :math:`\\mathrm{GGD}(\\text{loc}, \\text{scale},
\\text{shape})`.

Density :math:`\\frac{\\beta}{2\\alpha\\Gamma(1/\\beta)} \\exp(-(|y - \\mu|/\\alpha)^\\beta)` with
scale :math:`\\alpha` and shape :math:`\\beta` (2: Gaussian, 1: Laplace); scipy's ``gennorm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from uqkit.prediction._arrays import saturating, scipy_stats
from uqkit.prediction._quadrature import quantile_crps


def variance_ratio(shape: np.ndarray) -> np.ndarray:
    """:math:`\\Gamma(3/\\beta) / \\Gamma(1/\\beta)`; a GGD's variance is ``scale**2`` times it."""
    return np.exp(special.gammaln(3.0 / shape) - special.gammaln(1.0 / shape))


@dataclass(frozen=True)
class GeneralizedGaussian:
    """GGD with location ``loc``, scale ``scale`` and shape ``shape``, elementwise."""

    loc: np.ndarray
    scale: np.ndarray
    shape: np.ndarray

    @saturating
    def cdf(self, y: np.ndarray) -> np.ndarray:
        return scipy_stats().gennorm.cdf(y, self.shape, self.loc, self.scale)

    @saturating
    def log_prob(self, y: np.ndarray) -> np.ndarray:
        return scipy_stats().gennorm.logpdf(y, self.shape, self.loc, self.scale)

    @saturating
    def quantile(self, levels: np.ndarray) -> np.ndarray:
        levels = np.asarray(levels, dtype=np.float64).reshape((-1,) + (1,) * np.ndim(self.loc))
        return scipy_stats().gennorm.ppf(levels, self.shape, self.loc, self.scale)

    @saturating
    def crps(self, y: np.ndarray) -> np.ndarray:
        """Quantile quadrature (no closed form is used)."""
        return quantile_crps(y, self.quantile)
