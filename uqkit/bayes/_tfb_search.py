"""The TFB variance search: the anchor loss and the largest feasible σ found by bisection.

TFB (Shi, Wang et al., arXiv:2412.05723), variance search with an anchor set: ``σ`` is the
largest value with ``|l(σ) - l(0)| ≤ ε·l(0)``, ``l`` the NLL (or accuracy) of the ``σ = 0`` model's
own predictions (pseudo-labels) under the Bayesian model average.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np

from uqkit.exceptions import InvalidInputError

__all__ = ["DEFAULT_EPSILON", "anchor_loss", "check_sigma_range", "largest_feasible"]

DEFAULT_EPSILON = {"nll": 0.003, "accuracy": 0.01}


def check_sigma_range(sigma_range) -> tuple[float, float]:
    """``(σ_min, σ_max)`` as floats with ``0 <= σ_min < σ_max``, or a clear error."""
    bounds = tuple(sigma_range)
    ok = len(bounds) == 2 and all(isinstance(b, Real) and np.isfinite(b) for b in bounds)
    if not ok or not 0 <= bounds[0] < bounds[1]:
        raise InvalidInputError(
            "The 'sigma_range' parameter of BayesianLoRA must be two finite floats "
            f"0 <= sigma_min < sigma_max. Got {sigma_range!r} instead."
        )
    return float(bounds[0]), float(bounds[1])


def anchor_loss(probs: np.ndarray, pseudo: np.ndarray, metric: str) -> float:
    """The anchor loss ``l``: NLL of the pseudo-labels under ``probs``, or their accuracy.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities (the model average at some σ).
    pseudo : ndarray of shape (n,)
        Pseudo-labels: the ``σ = 0`` model's predicted classes.
    metric : {"nll", "accuracy"}

    Examples
    --------
    >>> probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> round(anchor_loss(probs, np.array([0, 0]), "nll"), 4)
    0.3993
    >>> anchor_loss(probs, np.array([0, 0]), "accuracy")
    1.0
    """
    chosen = probs[np.arange(len(pseudo)), pseudo]
    if metric == "nll":
        return float(-np.mean(np.log(np.clip(chosen, 1e-300, None))))
    return float(np.mean(np.argmax(probs, axis=1) == pseudo))


def largest_feasible(score: Callable[[float], dict], low: float, high: float, n_steps: int):
    """Largest σ in ``[low, high]`` found feasible by bisection (TFB variance search).

    ``high`` is tried first (returned when feasible), then ``low``; bisection keeps ``low``
    feasible and ``high`` infeasible, and the last feasible midpoint is returned. When even ``low``
    is infeasible, ``0.0`` (the deterministic adapter, feasible by definition) is returned.

    Returns
    -------
    sigma : float
    trace : list of dict
        ``score`` results in the order evaluated.
    """
    trace = [score(high)]
    if trace[-1]["feasible"]:
        return float(high), trace
    trace.append(score(low))
    if not trace[-1]["feasible"]:
        return 0.0, trace
    for _ in range(n_steps):
        mid = 0.5 * (low + high)
        trace.append(score(mid))
        if trace[-1]["feasible"]:
            low = mid
        else:
            high = mid
    return float(low), trace
