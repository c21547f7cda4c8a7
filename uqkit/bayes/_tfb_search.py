"""The TFB variance search: the anchor loss and the largest feasible σ found by bisection.

TFB (Shi, Wang et al., arXiv:2412.05723), variance search with an anchor set: ``σ`` is the
largest value with ``|l(σ) - l(0)| ≤ ε·l(0)``, ``l`` the NLL (or accuracy) of the ``σ = 0`` model's
own predictions (pseudo-labels) under the Bayesian model average. A search that ends at either
end of ``sigma_range`` did not find the largest feasible σ, and :func:`range_end_message` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np

from uqkit.exceptions import InvalidInputError

__all__ = [
    "DEFAULT_EPSILON",
    "anchor_loss",
    "check_sigma_range",
    "largest_feasible",
    "range_end_message",
]

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


def range_end_message(
    sigma: float, low: float, high: float, metric: str, epsilon: float
) -> str | None:
    """What to tell the user when the search result is an end of its range, else ``None``.

    At the bottom (``σ = 0``: even ``low`` is infeasible) the model gets no noise at all; at the
    top (``high`` is feasible) the search never saw an infeasible σ, so the returned value is the
    limit of the range, not the largest feasible σ. Either way the answer is the range's, not the
    method's, and the message names the setting to change.

    Parameters
    ----------
    sigma : float
        The result of :func:`largest_feasible`.
    low, high : float
        ``sigma_range``.
    metric : {"nll", "accuracy"}
    epsilon : float
        The relative tolerance of the search.

    Examples
    --------
    >>> range_end_message(0.05, 1e-3, 0.2, "nll", 0.003) is None
    True
    >>> "sigma_range[1]" in range_end_message(0.2, 1e-3, 0.2, "nll", 0.003)
    True
    """
    if sigma == 0.0:
        return (
            f"Even sigma_min={low:g} changes the anchor {metric} by more than "
            f"epsilon={epsilon:g} (relative); using sigma=0 (the deterministic adapter). Lower "
            "sigma_range[0] or raise epsilon."
        )
    if sigma == high:
        return (
            f"The sigma search ended at the top of its range: sigma_max={high:g} still changes "
            f"the anchor {metric} by at most epsilon={epsilon:g} (relative), so sigma_={high:g} "
            "is the range limit and the largest feasible sigma may be larger. Raise "
            "sigma_range[1] (or lower epsilon) to search further."
        )
    return None
