"""The generalized Gaussian distribution (GGD) of temporal-difference errors, and its NLL.

Kim et al., "Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement
Learning" (2024), model the TD error :math:`\\delta` as a GGD with location 0, ``scale``
:math:`s` (their :math:`\\alpha`) and ``shape`` :math:`b` (their :math:`\\beta`), with density

.. math::

    p(\\delta) = \\frac{b}{2s\\Gamma(1/b)}
                 \\exp\\!\\left(-(|\\delta - \\mu|/s)^{b}\\right),

variance :math:`s^2\\Gamma(3/b)/\\Gamma(1/b)` and excess kurtosis
:math:`\\Gamma(5/b)\\Gamma(1/b)/\\Gamma(3/b)^2 - 3`. Shape 2 is a Gaussian with standard deviation
:math:`s/\\sqrt{2}`, shape 1 a Laplace distribution. The parameterisation is the one of
``scipy.stats.gennorm(shape, loc, scale)``. The density and moments live here, next to the NLL
that is built from them; the numpy predictive of a GGD is
``uqkit.prediction.RegressionPrediction.ggd``.

All functions take torch tensors, numpy arrays or floats (broadcast together) and return torch
tensors; they are differentiable in every argument.

Examples
--------
>>> round(float(ggd_variance(1.0, 2.0)), 4)  # Gaussian with sd 1/sqrt(2)
0.5
>>> round(float(ggd_excess_kurtosis(1.0)), 4)  # Laplace
3.0
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch

from uqkit.exceptions import InvalidInputError, UQKitWarning
from uqkit.losses._inputs import ArrayLike, Reduction, as_tensors, check_positive, reduce_loss

__all__ = ["ggd_excess_kurtosis", "ggd_log_pdf", "ggd_nll", "ggd_pdf", "ggd_variance"]

NLLForm = Literal["exact", "authors"]
_LOG_2 = math.log(2.0)


def _check_parameters(**values: torch.Tensor) -> None:
    for name, value in values.items():
        check_positive(value, name, f"pass the {name} of the generalized Gaussian after a "
                                    "softplus or exp.")


def _abs_power(z: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``z ** shape`` for ``z >= 0`` with finite gradients at ``z = 0`` (where d/dz is infinite for
    ``shape < 1``): zeros are routed through a dummy base of 1 and masked out."""
    positive = z > 0
    safe = torch.where(positive, z, torch.ones_like(z))
    return torch.where(positive, safe.pow(shape), torch.zeros_like(safe))


def _capped_abs_power(z: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``z ** shape``, continued linearly in ``u = shape * log z`` past ``u = cap``, with a warning.

    ``cap`` is half the log of the dtype's largest number (44.4 in float32, 354.9 in float64):
    below it the result is exactly ``z ** shape``; above it ``exp(cap) * (1 + u - cap)``, which
    keeps the loss and its gradient finite (``3 ** 100`` is 5e47, past float32's 3.4e38) and
    still grows with the error, instead of an infinite loss and gradient.
    """
    cap = 0.5 * math.log(torch.finfo(z.dtype).max)
    positive = z > 0
    safe = torch.where(positive, z, torch.ones_like(z))
    u = torch.log(safe) * shape
    over = u > cap
    if not bool(over.any()):
        return _abs_power(z, shape)
    warnings.warn(
        f"GGD NLL: (|delta|/scale)**shape exceeds exp({cap:.1f}) in {z.dtype} for "
        f"{int(over.sum())} value(s) (shape up to {float(shape.detach().max()):.3g}); the power is "
        "continued linearly in log-space there so the loss stays finite. Bound the shape "
        "(GGDValueHead's shape_max) or standardise the TD errors.",
        UQKitWarning,
        stacklevel=3,
    )
    # pow on a dummy base where capped, so that no inf enters the graph through torch.where
    exact = torch.where(positive & ~over, safe, torch.ones_like(safe)).pow(shape)
    linear = math.exp(cap) * (1.0 + torch.where(over, u, torch.full_like(u, cap)) - cap)
    return torch.where(over, linear, torch.where(positive, exact, torch.zeros_like(exact)))


def ggd_log_pdf(
    x: ArrayLike, scale: ArrayLike, shape: ArrayLike, loc: ArrayLike = 0.0
) -> torch.Tensor:
    """Log-density of the GGD with ``loc`` :math:`\\mu`, ``scale`` :math:`s`, ``shape`` :math:`b`.

    .. math::

        \\log p(x) = \\log b - \\log 2s - \\ln\\Gamma(1/b) - (|x - \\mu|/s)^{b}

    (Kim et al., 2024).

    Parameters
    ----------
    x : tensor, array-like or float
        Points at which to evaluate the density.
    scale : tensor, array-like or float
        Scale :math:`s > 0` (:math:`\\alpha` in the paper, ``scale`` of ``scipy.stats.gennorm``).
    shape : tensor, array-like or float
        Shape :math:`b > 0` (:math:`\\beta` in the paper).
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
    x, scale, shape, loc = as_tensors(x, scale, shape, loc)
    _check_parameters(scale=scale, shape=shape)
    z = (x - loc).abs() / scale
    log_norm = torch.log(shape) - _LOG_2 - torch.log(scale) - torch.lgamma(1.0 / shape)
    return log_norm - _abs_power(z, shape)


def ggd_pdf(
    x: ArrayLike, scale: ArrayLike, shape: ArrayLike, loc: ArrayLike = 0.0
) -> torch.Tensor:
    """Density of the GGD; ``exp`` of :func:`ggd_log_pdf` (Kim et al., 2024).

    Parameters
    ----------
    x, scale, shape, loc : tensor, array-like or float
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
    return torch.exp(ggd_log_pdf(x, scale, shape, loc))


def ggd_variance(scale: ArrayLike, shape: ArrayLike) -> torch.Tensor:
    """Variance :math:`s^2\\Gamma(3/b)/\\Gamma(1/b)` of the GGD (Kim et al., 2024).

    This is the aleatoric variance of a TD error modelled as a GGD. For a fixed scale it
    decreases as the shape grows (lighter tails), the inverse relation the paper builds on,
    but only up to a shape of :math:`\\approx 9.11` (where it reaches :math:`\\approx 0.3143 s^2`);
    beyond that it rises slowly to the uniform distribution's :math:`s^2/3`.

    Parameters
    ----------
    scale, shape : tensor, array-like or float
        Both positive.

    Returns
    -------
    torch.Tensor
        The variance.

    Examples
    --------
    >>> round(float(ggd_variance(1.0, 1.0)), 4)  # Laplace(0, 1): 2
    2.0
    """
    scale, shape = as_tensors(scale, shape)
    _check_parameters(scale=scale, shape=shape)
    return scale.square() * torch.exp(torch.lgamma(3.0 / shape) - torch.lgamma(1.0 / shape))


def ggd_excess_kurtosis(shape: ArrayLike) -> torch.Tensor:
    """Excess kurtosis :math:`\\Gamma(5/b)\\Gamma(1/b)/\\Gamma(3/b)^2 - 3` of the GGD.

    Independent of the scale; 0 for shape 2, 3 for shape 1, and tending to :math:`-1.2` (the
    uniform distribution) as the shape grows (Kim et al., 2024).

    Parameters
    ----------
    shape : tensor, array-like or float
        Shape :math:`b > 0`.

    Returns
    -------
    torch.Tensor
        The excess kurtosis.

    Examples
    --------
    >>> abs(round(float(ggd_excess_kurtosis(2.0)), 6))
    0.0
    """
    (shape,) = as_tensors(shape)
    _check_parameters(shape=shape)
    log_ratio = (
        torch.lgamma(5.0 / shape) + torch.lgamma(1.0 / shape) - 2 * torch.lgamma(3.0 / shape)
    )
    return torch.exp(log_ratio) - 3.0


def ggd_nll(
    delta: ArrayLike,
    scale: ArrayLike,
    shape: ArrayLike,
    reduction: Reduction = "mean",
    *,
    form: NLLForm = "exact",
) -> torch.Tensor:
    """Negative log-likelihood of TD errors under a GGD of location 0 (Kim et al., 2024).

    ``form="exact"`` (default) is the true NLL of the GGD error model

    .. math::

        \\ell(\\delta) = (|\\delta|/s)^{b} - \\log b + \\log 2s + \\ln\\Gamma(1/b),

    which equals ``-scipy.stats.gennorm.logpdf(delta, shape, scale=scale)``.

    ``form="authors"`` is the surrogate used in the authors' code, which replaces the power by a
    product, :math:`b|\\delta|/s - \\log b + \\log 2s + \\ln\\Gamma(1/b)` (their code drops the
    constant :math:`\\log 2` and fixes :math:`s = 1`). It is not the NLL of a normalised density
    except at :math:`b = 1`, where both forms agree; its gradient in the value is
    :math:`b\\,\\mathrm{sign}(\\delta)/s`, bounded like an L1 loss, whereas the exact form's
    gradient :math:`b|\\delta|^{b-1}/s^b` vanishes for large errors when :math:`b < 1`.

    Parameters
    ----------
    delta : tensor, array-like or float
        TD errors (target minus value).
    scale : tensor, array-like or float
        Scale :math:`s > 0` (:math:`\\alpha` in the paper, which fixes it at 1).
    shape : tensor, array-like or float
        Shape :math:`b > 0` (:math:`\\beta` in the paper), e.g. the output of a softplus head.
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
    >>> nll = ggd_nll(torch.tensor([0.0, 1.0]), 1.0, 2.0, reduction="none")
    >>> [round(v, 4) for v in nll.tolist()]  # N(0, 1/2): 0.5*log(pi) + delta**2
    [0.5724, 1.5724]
    """
    delta, scale, shape = as_tensors(delta, scale, shape)
    _check_parameters(scale=scale, shape=shape)
    z = delta.abs() / scale
    if form == "exact":
        fit = _capped_abs_power(z, shape)
    elif form == "authors":
        fit = z * shape
    else:
        raise InvalidInputError(f"form must be 'exact' or 'authors'; got {form!r}.")
    values = fit - torch.log(shape) + _LOG_2 + torch.log(scale) + torch.lgamma(1.0 / shape)
    return reduce_loss(values, reduction)
