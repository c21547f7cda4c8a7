"""Uncertainty of a statistic of word vectors: the delta method and the method of composition.

Vallebueno, Handan-Nader, Manning & Ho, "Statistical Uncertainty in Word Embeddings: GloVe-V",
EMNLP 2024, Sec. 4. Words are independent, :math:`w_i \\sim N(\\hat w_i, \\Sigma_i)`, so a
statistic :math:`\\varphi(w)` of several words gets

* the delta method: :math:`\\operatorname{Var}\\varphi \\approx \\sum_i
  \\nabla_i\\varphi^\\top \\Sigma_i \\nabla_i\\varphi`, with the gradient from torch autograd,
  a Wald interval and a normal p-value;
* the method of composition (Tanner, 1996): draw every :math:`w_i` from its distribution,
  recompute :math:`\\varphi`, and read the spread and percentiles of the draws.

Both take the distinct words' vectors ``base`` ``(u, D)``, the map ``inverse`` from the words the
statistic reads to those rows (a word read twice is one random vector), and each distinct word's
:class:`~uqkit.embeddings._storage.StoredCovariance`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import stats

from uqkit.embeddings._results import StatisticResult
from uqkit.embeddings._storage import StoredCovariance
from uqkit.exceptions import InvalidInputError

__all__ = ["as_scalar", "cosine_similarity", "delta_method", "method_of_composition"]


def cosine_similarity(u, v):
    """Cosine similarity of two vectors (torch tensors keep their autograd graph).

    Parameters
    ----------
    u, v : Tensor or ndarray of shape (D,)

    Returns
    -------
    Tensor or float

    Examples
    --------
    >>> import torch
    >>> float(cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])))
    0.7071067811865475
    """
    if isinstance(u, torch.Tensor) or isinstance(v, torch.Tensor):
        u, v = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)
        return torch.dot(u, v) / (torch.linalg.vector_norm(u) * torch.linalg.vector_norm(v))
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def delta_method(
    fn: Callable[[torch.Tensor], torch.Tensor],
    base: torch.Tensor,
    inverse: torch.Tensor,
    covariances: Sequence[StoredCovariance],
    *,
    alpha: float,
    null_value: float,
) -> StatisticResult:
    """Delta-method standard error, Wald interval and normal p-value of ``fn`` (Sec. 4).

    Parameters
    ----------
    fn : callable
        ``fn(vectors) -> scalar tensor`` on the ``(len(inverse), D)`` vectors of the words read.
    base : Tensor of shape (u, D)
        The distinct words' estimated vectors (float64).
    inverse : Tensor of shape (len(words),)
        Row of ``base`` of each word the statistic reads.
    covariances : sequence of StoredCovariance
        One per row of ``base``.
    alpha : float
        Miscoverage level of the interval.
    null_value : float
        Value tested by the p-value.

    Returns
    -------
    StatisticResult

    Examples
    --------
    >>> from uqkit.embeddings._storage import DIAGONAL
    >>> stored = [StoredCovariance(DIAGONAL, np.array([4.0, 1.0]))]
    >>> base, inverse = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0])
    >>> result = delta_method(lambda w: w[0].sum(), base, inverse, stored, alpha=0.05,
    ...                       null_value=0.0)
    >>> round(result.std_error ** 2, 12)  # Var(w_1 + w_2) = 4 + 1
    5.0
    """
    z = float(stats.norm.ppf(1 - alpha / 2))
    leaf = base.clone().requires_grad_(True)
    value = as_scalar(fn(leaf[inverse]))
    estimate = float(value.detach())
    grad = None
    if value.requires_grad:
        (grad,) = torch.autograd.grad(value, leaf, allow_unused=True)
    grad = torch.zeros_like(base) if grad is None else grad
    variance = sum(stored.quadratic_form(grad[k].numpy()) for k, stored in enumerate(covariances))
    se = float(np.sqrt(max(variance, 0.0)))
    lower, upper = estimate - z * se, estimate + z * se
    if se > 0:
        p_value = float(2 * stats.norm.sf(abs(estimate - null_value) / se))
    else:
        p_value = float(estimate == null_value)
    return StatisticResult(estimate, se, lower, upper, p_value, "delta", alpha, null_value)


def method_of_composition(
    fn: Callable[[torch.Tensor], torch.Tensor],
    base: torch.Tensor,
    inverse: torch.Tensor,
    covariances: Sequence[StoredCovariance],
    *,
    n_samples: int,
    generator: torch.Generator,
    alpha: float,
    null_value: float,
) -> StatisticResult:
    """Spread, percentile interval and Monte Carlo p-value of ``fn`` over sampled vectors (Sec. 4).

    Parameters
    ----------
    fn, base, inverse, covariances, alpha, null_value
        As for :func:`delta_method`.
    n_samples : int
        Number of draws, at least 2.
    generator : torch.Generator
        The local source of the draws.

    Returns
    -------
    StatisticResult
        ``estimate`` is the plug-in :math:`\\varphi(\\hat w)`; ``samples`` holds the draws.

    Examples
    --------
    >>> from uqkit.embeddings._storage import DIAGONAL
    >>> stored = [StoredCovariance(DIAGONAL, np.array([4.0, 1.0]))]
    >>> base, inverse = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0])
    >>> result = method_of_composition(
    ...     lambda w: w[0].sum(), base, inverse, stored, n_samples=20000,
    ...     generator=torch.Generator().manual_seed(0), alpha=0.05, null_value=0.0)
    >>> bool(abs(result.std_error ** 2 - 5.0) < 0.2), result.samples.shape
    (True, (20000,))
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise InvalidInputError(f"n_samples must be an integer >= 2; got {n_samples!r}.")
    with torch.no_grad():
        estimate = float(as_scalar(fn(base[inverse])))
    factors = [torch.as_tensor(stored.square_factor()) for stored in covariances]
    noise = [
        torch.randn(int(n_samples), f.shape[1], generator=generator, dtype=torch.float64)
        for f in factors
    ]
    sampled = torch.stack([base[k] + noise[k] @ f.T for k, f in enumerate(factors)], dim=1)
    draws = _evaluate_draws(fn, sampled[:, inverse]).numpy()
    if not np.all(np.isfinite(draws)):
        raise InvalidInputError("fn returned NaN or infinite values for sampled vectors.")
    lower, upper = (float(q) for q in np.quantile(draws, [alpha / 2, 1 - alpha / 2]))
    below = np.count_nonzero(draws <= null_value)
    above = np.count_nonzero(draws >= null_value)
    p_value = min(1.0, 2 * (min(below, above) + 1) / (len(draws) + 1))
    return StatisticResult(
        estimate,
        float(np.std(draws, ddof=1)),
        lower,
        upper,
        float(p_value),
        "sampling",
        alpha,
        null_value,
        samples=draws,
    )


def _evaluate_draws(fn: Callable, draws: torch.Tensor, chunk_size: int = 4096) -> torch.Tensor:
    """``fn`` on each draw ``(m, D)`` of ``draws`` ``(S, m, D)``.

    Vectorised with ``torch.func.vmap`` when ``fn`` allows it, otherwise one draw at a time (the
    values are the same either way).
    """
    with torch.no_grad():
        try:
            values = torch.func.vmap(fn, chunk_size=chunk_size)(draws)
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            values = None  # fn is not vmappable (data-dependent Python control flow, .item())
        if values is None or values.shape != (draws.shape[0],):
            values = torch.stack([as_scalar(fn(draw)) for draw in draws])
    return values.to(torch.float64).reshape(-1)


def as_scalar(value) -> torch.Tensor:
    """``value`` as a 0-d tensor; a clear error when ``fn`` returned more than one number.

    Examples
    --------
    >>> as_scalar(2.0)
    tensor(2., dtype=torch.float64)
    """
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=torch.float64)
    if value.numel() != 1:
        raise InvalidInputError(
            f"fn must return a scalar; got a tensor of shape {tuple(value.shape)}. Reduce it "
            "(e.g. a mean) or call statistic once per output."
        )
    return value.reshape(())
