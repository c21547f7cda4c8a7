"""Vectorized histogram binning shared by the binned calibration metrics."""

from __future__ import annotations

import numpy as np

from uqkit.exceptions import InvalidInputError

BINNINGS = ("equal_width", "equal_mass")


def bin_index(
    values: np.ndarray,
    n_bins: int,
    binning: str = "equal_width",
    *,
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """Bin of each value, in ``0..n_bins-1``.

    Parameters
    ----------
    values : ndarray of shape (n,)
    n_bins : int
    binning : {"equal_width", "equal_mass"}
        ``"equal_width"``: ``n_bins`` intervals of equal width over ``[low, high]`` (default: the
        range of ``values``); ``"equal_mass"``: edges at the empirical quantiles of ``values``, so
        that each bin holds about ``n / n_bins`` values (the outer edges are ``low`` and ``high``
        when given). Bins are closed on the left; the last bin is also closed on the right.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if binning not in BINNINGS:
        raise InvalidInputError(f"binning must be one of {BINNINGS}; got {binning!r}.")
    lo = float(values.min()) if low is None else float(low)
    hi = float(values.max()) if high is None else float(high)
    if binning == "equal_width":
        if hi <= lo:
            return np.zeros(values.shape, dtype=np.int64)
        index = ((values - lo) * (n_bins / (hi - lo))).astype(np.int64)
        return np.clip(index, 0, n_bins - 1, out=index)
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = lo, hi
    index = np.searchsorted(edges, values, side="right") - 1
    return np.clip(index, 0, n_bins - 1, out=index)


def bin_sums(index: np.ndarray, n_bins: int, *weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Count of each bin, then the sum of each weight array over each bin."""
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    sums = tuple(np.bincount(index, weights=w, minlength=n_bins) for w in weights)
    return (counts, *sums)


def bin_means(index: np.ndarray, n_bins: int, *weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Count of each bin, then the mean of each weight array over each bin (NaN when empty)."""
    counts, *sums = bin_sums(index, n_bins, *weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = tuple(np.where(counts > 0, s / np.maximum(counts, 1), np.nan) for s in sums)
    return (counts, *means)


def columns(values: np.ndarray) -> list[np.ndarray]:
    """The output columns of an (n,) or (n, d) array: binned metrics bin each output alone."""
    return [values] if values.ndim == 1 else [values[:, j] for j in range(values.shape[1])]
