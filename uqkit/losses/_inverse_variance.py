"""Epistemic sample weights for critic losses: batch inverse variance (BIV) and its error variant.

BIV (Mai, Mani & Paull, "Sample Efficient Deep Reinforcement Learning via Uncertainty Estimation",
ICLR 2022) weighs sample :math:`k` of a minibatch of size :math:`B` by

.. math::

    w_k = \\frac{1/(\\sigma_k^2 + \\xi)}{\\sum_j 1/(\\sigma_j^2 + \\xi)},

with :math:`\\sigma_k^2` the variance of its target and :math:`\\xi \\ge 0` the smallest value for
which the effective batch size :math:`1/\\sum_k w_k^2` is at least :math:`\\min(B - 1, m)`
(:math:`m = 16` by default): a few near-certain samples cannot take over the whole batch.

Kim et al. (2024) replace :math:`\\sigma_k^2` by the variance of the ensemble's TD
errors, corrected for their kurtosis ("batch inverse error variance", BIEV):

.. math::

    \\tilde\\sigma_k^2 = \\frac{\\mathrm{Var}_0(\\delta_k)}
                              {\\kappa_k / N + (N + 1)/(N - 1)},

where :math:`\\mathrm{Var}_0` is the (ddof = 0) variance over the :math:`N` members' TD errors and
:math:`\\kappa_k` their bias-corrected sample excess kurtosis. The denominator is
:math:`E[s^4]/\\sigma^4` for the unbiased sample variance :math:`s^2` of :math:`N` draws.

Arrays follow the uqkit member-first convention: ensemble quantities have shape
``(n_members, batch)``.

Examples
--------
>>> import torch
>>> w = biv_weights(torch.tensor([1.0, 1.0, 1e-6, 1.0]), min_batch_size=3)
>>> round(float(w.sum()), 6), float(effective_batch_size(w)) >= 3 - 1e-9
(1.0, True)
"""

from __future__ import annotations

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError
from uqkit.losses._inputs import ArrayLike

__all__ = [
    "biev_variance",
    "biev_weights",
    "biv_weights",
    "effective_batch_size",
    "find_xi",
    "sample_excess_kurtosis",
]

_VARIANCE_FLOOR = 1e-12


def _to_numpy(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return array


def effective_batch_size(weights: ArrayLike) -> torch.Tensor:
    """Effective batch size :math:`(\\sum_k w_k)^2 / \\sum_k w_k^2` (Kish's formula).

    For weights summing to one this is :math:`1/\\sum_k w_k^2` (Mai et al., 2022); it equals
    the batch size for uniform weights and 1 when one sample has all the weight.

    Parameters
    ----------
    weights : tensor or array-like of shape (batch,)
        Non-negative weights.

    Returns
    -------
    torch.Tensor
        Scalar effective batch size.

    Examples
    --------
    >>> float(effective_batch_size([0.25, 0.25, 0.25, 0.25]))
    4.0
    """
    weights = torch.as_tensor(weights, dtype=torch.float64)
    return weights.sum().square() / weights.square().sum()


def _ess(variance: np.ndarray, xi: float) -> float:
    inverse = 1.0 / (variance + xi)
    return float(inverse.sum() ** 2 / np.square(inverse).sum())


def find_xi(variance: ArrayLike, min_batch_size: int = 16, *, rtol: float = 1e-8) -> float:
    """The smallest :math:`\\xi \\ge 0` whose BIV weights reach the effective-batch-size bound.

    The effective batch size of :math:`w_k \\propto 1/(\\sigma_k^2 + \\xi)` is non-decreasing in
    :math:`\\xi` (by Cauchy-Schwarz) and tends to :math:`B` as :math:`\\xi \\to \\infty`, so a
    bracket-and-bisect search finds the smallest :math:`\\xi` with
    :math:`1/\\sum_k w_k^2 \\ge \\min(B - 1, m)` (Mai et al., 2022). The returned value is
    the upper end of the final bracket, so the bound always holds.

    Parameters
    ----------
    variance : tensor or array-like of shape (batch,)
        Non-negative variances :math:`\\sigma_k^2`; values below 1e-12 are raised to 1e-12.
    min_batch_size : int, default=16
        :math:`m`, the smallest effective batch size allowed (capped at ``batch - 1``).
    rtol : float, default=1e-8
        Relative width of the final bracket.

    Returns
    -------
    float
        :math:`\\xi`; 0 when the plain inverse-variance weights already satisfy the bound.

    Examples
    --------
    >>> find_xi([1.0, 1.0, 1.0])
    0.0
    >>> find_xi([1.0, 1e-4, 1e-4, 1.0], min_batch_size=3) > 0
    True
    """
    variance = np.maximum(_to_numpy(variance, "variance").reshape(-1), _VARIANCE_FLOOR)
    if min_batch_size < 1:
        raise InvalidInputError(f"min_batch_size must be a positive integer; got {min_batch_size}.")
    target = min(variance.size - 1, int(min_batch_size))
    if variance.size == 0:
        raise InvalidInputError("variance is empty; BIV weights need at least one sample.")
    if _ess(variance, 0.0) >= target:
        return 0.0
    low, high = 0.0, float(variance.max())
    while _ess(variance, high) < target:
        low, high = high, 2.0 * high
    while high - low > rtol * high:
        middle = 0.5 * (low + high)
        if _ess(variance, middle) >= target:
            high = middle
        else:
            low = middle
    return high


def biv_weights(variance: ArrayLike, min_batch_size: int = 16) -> torch.Tensor:
    """Batch inverse-variance (BIV) weights (Mai et al., 2022).

    :math:`w_k \\propto 1/(\\sigma_k^2 + \\xi)`, with :math:`\\xi` from :func:`find_xi`.

    Parameters
    ----------
    variance : tensor or array-like of shape (batch,)
        Per-sample target variances (non-negative). Gradients are not propagated.
    min_batch_size : int, default=16
        Lower bound :math:`m` of the effective batch size (capped at ``batch - 1``).

    Returns
    -------
    torch.Tensor of shape (batch,)
        Weights summing to one, on the device and (floating) dtype of ``variance`` when it is a
        tensor, float64 otherwise.

    Examples
    --------
    >>> biv_weights([1.0, 3.0], min_batch_size=1).tolist()
    [0.75, 0.25]
    """
    raw = _to_numpy(variance, "variance").reshape(-1)
    if np.any(raw < 0):
        raise InvalidInputError("variance must be non-negative.")
    array = np.maximum(raw, _VARIANCE_FLOOR)
    xi = find_xi(array, min_batch_size)
    inverse = 1.0 / (array + xi)
    weights = torch.from_numpy(inverse / inverse.sum())
    if isinstance(variance, torch.Tensor) and variance.is_floating_point():
        return weights.to(device=variance.device, dtype=variance.dtype)
    return weights


def sample_excess_kurtosis(x: ArrayLike, dim: int = 0) -> torch.Tensor:
    """Bias-corrected sample excess kurtosis :math:`G_2` along ``dim``.

    With the biased central moments :math:`m_2, m_4` of :math:`n` values,

    .. math::

        G_2 = \\frac{(n - 1)}{(n - 2)(n - 3)}\\left((n + 1)\\frac{m_4}{m_2^2} - 3(n - 1)\\right),

    the estimator of ``scipy.stats.kurtosis(x, bias=False)`` (Joanes & Gill, 1998). Needs
    :math:`n \\ge 4`; a constant sample (:math:`m_2 = 0`) gets 0.

    Parameters
    ----------
    x : tensor or array-like
        Samples; for TD errors of an ensemble, shape ``(n_members, batch)`` with ``dim=0``.
    dim : int, default=0
        Axis holding the samples.

    Returns
    -------
    torch.Tensor
        The kurtosis, with ``dim`` removed.

    Examples
    --------
    >>> round(float(sample_excess_kurtosis([1.0, 2.0, 3.0, 4.0, 10.0])), 4)
    3.152
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    n = x.shape[dim]
    if n < 4:
        raise InvalidInputError(
            f"the bias-corrected kurtosis needs at least 4 samples along dim {dim}; got {n}. "
            "Use an ensemble of 4 or more members for BIEV weights."
        )
    centred = x - x.mean(dim=dim, keepdim=True)
    m2 = centred.square().mean(dim=dim)
    m4 = centred.square().square().mean(dim=dim)
    constant = m2 <= torch.finfo(x.dtype).tiny
    ratio = m4 / torch.where(constant, torch.ones_like(m2), m2).square()
    g2 = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * ratio - 3 * (n - 1))
    return torch.where(constant, torch.zeros_like(g2), g2)


def biev_variance(td_errors: ArrayLike) -> torch.Tensor:
    """Kurtosis-corrected error variance :math:`\\tilde\\sigma_k^2` of Kim et al. (2024), BIEV.

    Parameters
    ----------
    td_errors : tensor or array-like of shape (n_members, batch)
        Each member's TD error on each sample (``n_members >= 4``).

    Returns
    -------
    torch.Tensor of shape (batch,)
        :math:`\\mathrm{Var}_0(\\delta_k) / (\\kappa_k/N + (N+1)/(N-1))`.

    Examples
    --------
    >>> import torch
    >>> errors = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
    >>> round(float(biev_variance(errors)[0]), 4)  # Var0 = 2, kappa = -1.2: 2 / 1.26
    1.5873
    """
    if not isinstance(td_errors, torch.Tensor):
        td_errors = torch.as_tensor(np.asarray(td_errors, dtype=np.float64))
    td_errors = td_errors.detach()
    if td_errors.ndim != 2:
        raise InvalidInputError(
            f"td_errors must have shape (n_members, batch); got {tuple(td_errors.shape)}."
        )
    n = td_errors.shape[0]
    kurtosis = sample_excess_kurtosis(td_errors, dim=0)
    correction = kurtosis / n + (n + 1) / (n - 1)
    # The correction is positive for every sample of n >= 4 values (its minimum, at the smallest
    # attainable kurtosis, is 1/6 for n = 4); the clamp only guards against rounding.
    correction = correction.clamp_min(1e-6)
    return td_errors.var(dim=0, unbiased=False) / correction


def biev_weights(td_errors: ArrayLike, min_batch_size: int = 16) -> torch.Tensor:
    """Batch inverse *error* variance weights: :func:`biv_weights` of :func:`biev_variance`.

    Parameters
    ----------
    td_errors : tensor or array-like of shape (n_members, batch)
        Each member's TD error on each sample (``n_members >= 4``).
    min_batch_size : int, default=16
        Lower bound of the effective batch size (capped at ``batch - 1``).

    Returns
    -------
    torch.Tensor of shape (batch,)
        Weights summing to one.

    Examples
    --------
    >>> import torch
    >>> errors = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    >>> w = biev_weights(errors)
    >>> round(float(w.sum()), 6), bool(effective_batch_size(w) >= 16 - 1e-6)
    (1.0, True)
    """
    return biv_weights(biev_variance(td_errors), min_batch_size)
