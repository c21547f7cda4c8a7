"""A predictive distribution recalibrated by a monotone map of its CDF: :math:`G = R \\circ F`.

:math:`R` is the piecewise-linear, strictly increasing map through the knots
``(pit_knots, level_knots)``, from (0, 0) to (1, 1) (isotonic recalibration, Kuleshov, Fenner &
Ermon, ICML 2018). CDF :math:`R(F(y))`, quantiles :math:`F^{-1}(R^{-1}(q))` and log-density
:math:`\\log R'(F(y)) + \\log f(y)` are exact; the CRPS and the moments are integrated on a grid of
about 770 points per sample, 1/40 std apart in the bulk of the base distribution and stretched out
to its 1e-10 tail quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The integration grid, in units of the base's std around its mean: a fine uniform core over
# ±8 std, stretched geometrically out to the 1e-10 quantiles when the base has heavier tails.
_CORE = np.linspace(-8.0, 8.0, 641)
_TAIL = np.arange(1, 65) / 64
_TAIL_LEVEL = 1e-10


def check_map(pit_knots, level_knots) -> tuple[np.ndarray, np.ndarray]:
    """The knots of a recalibration map as float arrays, checked.

    Raises ``ValueError`` unless both are 1-D of one length >= 2, run from (0, 0) to (1, 1) and are
    strictly increasing.
    """
    x = np.asarray(pit_knots, dtype=np.float64)
    r = np.asarray(level_knots, dtype=np.float64)
    if x.ndim != 1 or x.shape != r.shape or len(x) < 2:
        raise ValueError("pit_knots and level_knots must be 1-D, of one length >= 2.")
    if x[0] != 0 or x[-1] != 1 or r[0] != 0 or r[-1] != 1:
        raise ValueError("the recalibration map must run from (0, 0) to (1, 1).")
    if np.any(np.diff(x) <= 0) or np.any(np.diff(r) <= 0):
        raise ValueError("the recalibration map must be strictly increasing.")
    return x, r


@dataclass(frozen=True)
class Recalibrated:
    """:math:`R \\circ F` for a base distribution ``base`` of mean ``center`` and std ``spread``.

    ``base`` is any of this package's distributions (it needs ``cdf``, ``log_prob`` and
    ``quantile``); ``center`` and ``spread`` place the integration grid.
    """

    base: Any
    center: np.ndarray
    spread: np.ndarray
    pit_knots: np.ndarray
    level_knots: np.ndarray

    def _map(self, u: np.ndarray) -> np.ndarray:
        return np.interp(u, self.pit_knots, self.level_knots)

    def _slope_at(self, u: np.ndarray) -> np.ndarray:
        x, r = self.pit_knots, self.level_knots
        slope = np.diff(r) / np.diff(x)
        return slope[np.clip(np.searchsorted(x, u, side="right") - 1, 0, len(slope) - 1)]

    def cdf(self, y: np.ndarray) -> np.ndarray:
        return self._map(self.base.cdf(y))

    def log_prob(self, y: np.ndarray) -> np.ndarray:
        return self.base.log_prob(y) + np.log(self._slope_at(self.base.cdf(y)))

    def quantile(self, levels: np.ndarray) -> np.ndarray:
        return self.base.quantile(np.interp(levels, self.level_knots, self.pit_knots))

    def grid(self) -> np.ndarray:
        """Increasing evaluation points ``(J, *shape)`` covering the base distribution."""
        mean, std = np.asarray(self.center), np.asarray(self.spread)
        tails = self.base.quantile(np.array([_TAIL_LEVEL, 1.0 - _TAIL_LEVEL]))
        lower = np.maximum(1.0, (mean - tails[0]) / (8.0 * std))
        upper = np.maximum(1.0, (tails[1] - mean) / (8.0 * std))
        column = (-1,) + (1,) * mean.ndim
        left = -8.0 * lower[None] ** _TAIL[::-1].reshape(column)
        right = 8.0 * upper[None] ** _TAIL.reshape(column)
        core = np.broadcast_to(_CORE.reshape(column), (len(_CORE), *mean.shape))
        return mean + std * np.concatenate([left, core, right])

    def crps(self, y: np.ndarray) -> np.ndarray:
        """:math:`\\int (G(x) - \\mathbb 1\\{x \\ge y\\})^2 dx` by the trapezoidal rule on the grid.

        The integral is split at ``y``, where the indicator jumps.
        """
        ys = self.grid()
        cdf = self.cdf(ys)
        at_y = self.cdf(y)
        a, b = ys[:-1], ys[1:]
        ga, gb = cdf[:-1], cdf[1:]
        below = (b <= y) * (b - a) * 0.5 * (ga**2 + gb**2)
        above = (a >= y) * (b - a) * 0.5 * ((1 - ga) ** 2 + (1 - gb) ** 2)
        split = (a < y) & (y < b)
        inside = split * (
            (y - a) * 0.5 * (ga**2 + at_y**2) + (b - y) * 0.5 * ((1 - at_y) ** 2 + (1 - gb) ** 2)
        )
        values = np.sum(below + above + inside, axis=0)
        left, right = y < ys[0], y > ys[-1]
        values += left * (ys[0] - y) * 0.5 * ((1 - at_y) ** 2 + (1 - cdf[0]) ** 2)
        values += right * (y - ys[-1]) * 0.5 * (cdf[-1] ** 2 + at_y**2)
        return values

    def moment_correction(self) -> tuple[np.ndarray, np.ndarray]:
        """Shift of the mean and factor of the variance from the base to the recalibrated law.

        Both distributions are integrated on the same grid; the recalibrated mean is the base mean
        plus the difference of the two grid means, and its variance the base variance times the
        ratio of the two grid variances, so an identity map returns the base moments exactly.
        """
        ys = self.grid()
        base_cdf = self.base.cdf(ys)
        mean_u, var_u = _grid_moments(ys, base_cdf)
        mean_r, var_r = _grid_moments(ys, self._map(base_cdf))
        ratio = np.where(var_u > 0, var_r / np.where(var_u > 0, var_u, 1.0), 1.0)
        return mean_r - mean_u, ratio


def _grid_moments(ys: np.ndarray, cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the distribution with CDF values ``cdf`` at the points ``ys``."""
    mass = np.diff(cdf, axis=0)
    middle = 0.5 * (ys[1:] + ys[:-1])
    low, high = cdf[0], 1.0 - cdf[-1]
    mean = np.sum(mass * middle, axis=0) + low * ys[0] + high * ys[-1]
    second = np.sum(mass * middle**2, axis=0) + low * ys[0] ** 2 + high * ys[-1] ** 2
    return mean, np.maximum(second - mean**2, 0.0)
