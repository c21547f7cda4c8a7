"""The generalized Gaussian distribution (GGD) of temporal-difference errors, and its NLL.

Kim et al., "Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement
Learning" (2024), model the TD error :math:`\\delta` as :math:`\\mathrm{GGD}(0, \\alpha, \\beta)`
with density

.. math::

    p(\\delta) = \\frac{\\beta}{2\\alpha\\Gamma(1/\\beta)}
                 \\exp\\!\\left(-(|\\delta - \\mu|/\\alpha)^{\\beta}\\right),

variance :math:`\\alpha^2\\Gamma(3/\\beta)/\\Gamma(1/\\beta)` and excess kurtosis
:math:`\\Gamma(5/\\beta)\\Gamma(1/\\beta)/\\Gamma(3/\\beta)^2 - 3`. :math:`\\beta = 2` is a Gaussian
with standard deviation :math:`\\alpha/\\sqrt{2}`, :math:`\\beta = 1` a Laplace distribution.
The parameterisation is the one of ``scipy.stats.gennorm(beta, loc, scale=alpha)``.

All functions take torch tensors, numpy arrays or floats (broadcast together) and return torch
tensors; they are differentiable in every argument.

Examples
--------
>>> import torch
>>> round(float(ggd_variance(1.0, 2.0)), 4)  # Gaussian with sd 1/sqrt(2)
0.5
>>> round(float(ggd_excess_kurtosis(1.0)), 4)  # Laplace
3.0
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError

__all__ = [
    "ggd_excess_kurtosis",
    "ggd_log_pdf",
    "ggd_nll",
    "ggd_pdf",
    "ggd_variance",
]

NLLForm = Literal["exact", "authors"]
Reduction = Literal["mean", "sum", "none"]
#: Anything the functions accept for a numeric argument (broadcast together).
ArrayLike = torch.Tensor | np.ndarray | float
_LOG_2 = math.log(2.0)


def _as_tensors(*values) -> list[torch.Tensor]:
    """Turn tensors / arrays / floats into tensors of one floating dtype and device."""
    reference = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if reference is not None and reference.is_floating_point():
        dtype, device = reference.dtype, reference.device
    elif reference is not None:
        dtype, device = torch.get_default_dtype(), reference.device
    else:
        dtype, device = torch.float64, torch.device("cpu")
    return [torch.as_tensor(v, dtype=dtype, device=device) for v in values]


def _check_positive(value: torch.Tensor, name: str) -> None:
    if not bool(torch.all(value > 0)):
        raise InvalidInputError(
            f"{name} must be positive everywhere (got a minimum of {float(value.min()):.4g}); "
            f"pass the {name} of the generalized Gaussian after a softplus or exp."
        )


def _abs_power(z: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``z ** beta`` for ``z >= 0`` with finite gradients at ``z = 0`` (where d/dz is infinite for
    ``beta < 1``): zeros are routed through a dummy base of 1 and masked out."""
    positive = z > 0
    safe = torch.where(positive, z, torch.ones_like(z))
    return torch.where(positive, safe.pow(beta), torch.zeros_like(safe))


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise InvalidInputError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def ggd_log_pdf(
    x: ArrayLike, alpha: ArrayLike, beta: ArrayLike, loc: ArrayLike = 0.0
) -> torch.Tensor:
    """Log-density of :math:`\\mathrm{GGD}(\\mu, \\alpha, \\beta)` (Kim et al., 2024).

    .. math::

        \\log p(x) = \\log\\beta - \\log 2\\alpha - \\ln\\Gamma(1/\\beta)
                    - (|x - \\mu|/\\alpha)^{\\beta}

    Parameters
    ----------
    x : tensor, array-like or float
        Points at which to evaluate the density.
    alpha : tensor, array-like or float
        Scale :math:`\\alpha > 0` (``scale`` of ``scipy.stats.gennorm``).
    beta : tensor, array-like or float
        Shape :math:`\\beta > 0`.
    loc : tensor, array-like or float, default=0
        Location :math:`\\mu`.

    Returns
    -------
    torch.Tensor
        Log-density, with the broadcast shape of the arguments.

    Examples
    --------
    >>> round(float(ggd_log_pdf(0.0, 1.0, 1.0)), 4)  # Laplace(0, 1) at 0: -log 2
    -0.6931
    """
    x, alpha, beta, loc = _as_tensors(x, alpha, beta, loc)
    _check_positive(alpha, "alpha")
    _check_positive(beta, "beta")
    z = (x - loc).abs() / alpha
    log_norm = torch.log(beta) - _LOG_2 - torch.log(alpha) - torch.lgamma(1.0 / beta)
    return log_norm - _abs_power(z, beta)


def ggd_pdf(
    x: ArrayLike, alpha: ArrayLike, beta: ArrayLike, loc: ArrayLike = 0.0
) -> torch.Tensor:
    """Density of :math:`\\mathrm{GGD}(\\mu, \\alpha, \\beta)`; ``exp`` of :func:`ggd_log_pdf`.

    Parameters
    ----------
    x, alpha, beta, loc : tensor, array-like or float
        As in :func:`ggd_log_pdf`.

    Returns
    -------
    torch.Tensor
        Density values.

    Examples
    --------
    >>> round(float(ggd_pdf(0.0, 2 ** 0.5, 2.0)), 4)  # standard normal at 0
    0.3989
    """
    return torch.exp(ggd_log_pdf(x, alpha, beta, loc))


def ggd_variance(alpha: ArrayLike, beta: ArrayLike) -> torch.Tensor:
    """Variance :math:`\\alpha^2\\Gamma(3/\\beta)/\\Gamma(1/\\beta)` (Kim et al., 2024).

    This is the aleatoric variance of a TD error modelled as a GGD. For a fixed :math:`\\alpha` it
    decreases as :math:`\\beta` grows (lighter tails), the inverse relation the paper builds on,
    but only up to :math:`\\beta \\approx 9.11` (where it reaches :math:`\\approx 0.3143\\alpha^2`);
    beyond that it rises slowly to the uniform distribution's :math:`\\alpha^2/3`.

    Parameters
    ----------
    alpha, beta : tensor, array-like or float
        Scale and shape, both positive.

    Returns
    -------
    torch.Tensor
        The variance.

    Examples
    --------
    >>> round(float(ggd_variance(1.0, 1.0)), 4)  # Laplace(0, 1): 2
    2.0
    """
    alpha, beta = _as_tensors(alpha, beta)
    _check_positive(alpha, "alpha")
    _check_positive(beta, "beta")
    return alpha.square() * torch.exp(torch.lgamma(3.0 / beta) - torch.lgamma(1.0 / beta))


def ggd_excess_kurtosis(beta: ArrayLike) -> torch.Tensor:
    """Excess kurtosis :math:`\\Gamma(5/\\beta)\\Gamma(1/\\beta)/\\Gamma(3/\\beta)^2 - 3`.

    Independent of the scale; 0 for :math:`\\beta = 2`, 3 for :math:`\\beta = 1`, and tending to
    :math:`-1.2` (the uniform distribution) as :math:`\\beta \\to \\infty` (Kim et al., 2024).

    Parameters
    ----------
    beta : tensor, array-like or float
        Shape :math:`\\beta > 0`.

    Returns
    -------
    torch.Tensor
        The excess kurtosis.

    Examples
    --------
    >>> abs(round(float(ggd_excess_kurtosis(2.0)), 6))
    0.0
    """
    (beta,) = _as_tensors(beta)
    _check_positive(beta, "beta")
    log_ratio = torch.lgamma(5.0 / beta) + torch.lgamma(1.0 / beta) - 2 * torch.lgamma(3.0 / beta)
    return torch.exp(log_ratio) - 3.0


def ggd_nll(
    delta: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    reduction: Reduction = "mean",
    *,
    form: NLLForm = "exact",
) -> torch.Tensor:
    """Negative log-likelihood of TD errors under :math:`\\mathrm{GGD}(0, \\alpha, \\beta)`.

    ``form="exact"`` (default) is the true NLL of the GGD error model (Kim et al., 2024)

    .. math::

        \\ell(\\delta) = (|\\delta|/\\alpha)^{\\beta} - \\log\\beta + \\log 2\\alpha
                       + \\ln\\Gamma(1/\\beta),

    which equals ``-scipy.stats.gennorm.logpdf(delta, beta, scale=alpha)``.

    ``form="authors"`` is the surrogate used in the authors' code, which replaces the power by a
    product, :math:`\\beta|\\delta|/\\alpha - \\log\\beta + \\log 2\\alpha + \\ln\\Gamma(1/\\beta)`
    (their code drops the constant :math:`\\log 2` and fixes :math:`\\alpha = 1`). It is not the
    NLL of a normalised density except at :math:`\\beta = 1`, where both forms agree; its gradient
    in the value is :math:`\\beta\\,\\mathrm{sign}(\\delta)/\\alpha`, bounded like an L1 loss,
    whereas the exact form's gradient :math:`\\beta|\\delta|^{\\beta-1}/\\alpha^\\beta` vanishes for
    large errors when :math:`\\beta < 1`.

    Parameters
    ----------
    delta : tensor, array-like or float
        TD errors (target minus value).
    alpha : tensor, array-like or float
        Scale :math:`\\alpha > 0`; the paper fixes it at 1.
    beta : tensor, array-like or float
        Shape :math:`\\beta > 0`, e.g. the output of a softplus β-head.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` returns the elementwise NLL with the broadcast shape of the arguments.
    form : {"exact", "authors"}, default="exact"
        Which loss to compute (see above).

    Returns
    -------
    torch.Tensor
        Scalar for ``"mean"``/``"sum"``, elementwise otherwise.

    Examples
    --------
    >>> import torch
    >>> nll = ggd_nll(torch.tensor([0.0, 1.0]), 1.0, 2.0, reduction="none")
    >>> [round(v, 4) for v in nll.tolist()]  # N(0, 1/2): 0.5*log(pi) + delta**2
    [0.5724, 1.5724]
    """
    delta, alpha, beta = _as_tensors(delta, alpha, beta)
    _check_positive(alpha, "alpha")
    _check_positive(beta, "beta")
    z = delta.abs() / alpha
    if form == "exact":
        fit = _abs_power(z, beta)
    elif form == "authors":
        fit = z * beta
    else:
        raise InvalidInputError(f"form must be 'exact' or 'authors'; got {form!r}.")
    values = fit - torch.log(beta) + _LOG_2 + torch.log(alpha) + torch.lgamma(1.0 / beta)
    return _reduce(values, reduction)
