"""Ensemble selection from the catalog of trained models (Egele et al., 2022, Sec. 3.2).

Given the validation predictions ``(mu_i, sigma_i^2)`` of every catalog model ``i``, an ensemble
is a weight vector ``w`` (``w_i >= 0``, ``sum w_i = 1``) and predicts the mixture

.. math::

    p(y | x) = \\sum_i w_i \\, \\mathcal N(y; \\mu_i(x), \\sigma_i^2(x)),

with mean ``mu = sum w_i mu_i``, aleatoric variance ``sum w_i sigma_i^2`` and epistemic
variance ``sum w_i (mu_i - mu)^2`` (paper Eq. 4, the law of total variance). The selection
objective is the validation NLL of that mixture,
``L(w) = -(1/n) sum_t log sum_i w_i N(y_t; mu_i(x_t), sigma_i^2(x_t))``.

Greedy selection (Caruana et al., 2004, as used in the paper's Alg. 2) *with replacement*:
start from the ``k_init`` best single models, then repeatedly add the catalog model (already
chosen or not) whose addition gives the lowest ``L``, accepting it only when ``L`` strictly
drops; stop at ``K`` distinct members (or when no addition helps). The weights are the
selection counts over their total.

Greedy selection can stop with fewer than ``K`` distinct members, down to one (a "1-member
ensemble" has epistemic variance zero). ``min_members`` forces a floor: the best single models
not yet chosen (lowest validation NLL) join with one vote each. The estimators warn with
:class:`SelectionWarning` when the ensemble ends smaller than asked.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from uqkit.exceptions import InvalidInputError, UQKitWarning
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = ["SelectionResult", "SelectionWarning", "greedy_selection",
           "member_label_log_likelihoods", "member_log_likelihoods", "mixture_nll",
           "top_k_selection"]


class SelectionWarning(UQKitWarning):
    """Ensemble selection ended with fewer distinct members than asked; the message says why and
    how to force more (``min_members``).

    Examples
    --------
    >>> from uqkit.exceptions import UQKitWarning
    >>> issubclass(SelectionWarning, UQKitWarning)
    True
    """


class SelectionResult(dict):
    """What a selection returns: ``indices`` (catalog rows, distinct, in selection order),
    ``weights`` (same order, sum to one), ``counts`` (per catalog row), ``path`` (the
    objective after each accepted step: non-increasing, except for the ``min_members``
    fill-up steps at its end), ``stopped`` (why greedy selection stopped: ``"size"``,
    ``"no_gain"``, ``"max_steps"`` or ``"catalog"``, too few models) and ``filled`` (how many
    members the fill-up added).

    A ``dict`` whose ``indices`` and ``weights`` are also readable as attributes.

    Examples
    --------
    Two models that are each right on one sample: the mixture of both beats either alone.

    >>> ll = member_log_likelihoods([[1.0, 1.0], [-1.0, -1.0]], [[0.5, 0.5]] * 2, [1.0, -1.0])
    >>> result = greedy_selection(ll, 2)
    >>> result.indices.tolist(), result.weights.tolist(), result["counts"].tolist()
    ([0, 1], [0.5, 0.5], [1.0, 1.0])
    >>> [round(v, 4) for v in result["path"]]
    [2.5724, 1.2474]
    """

    @property
    def indices(self) -> np.ndarray:
        return self["indices"]

    @property
    def weights(self) -> np.ndarray:
        return self["weights"]


def member_log_likelihoods(means, variances, y) -> np.ndarray:
    """``log N(y_t; mu_i(x_t), sigma_i^2(x_t))`` per model and sample, summed over targets.

    Parameters
    ----------
    means, variances : array of shape (m, n) or (m, n, d)
    y : array of shape (n,) or (n, d)

    Returns
    -------
    ndarray of shape (m, n)

    Examples
    --------
    >>> member_log_likelihoods([[0.0]], [[1.0]], [0.0]).round(4)
    array([[-0.9189]])
    """
    means = np.asarray(means, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if means.shape != variances.shape or means.shape[1:] != y.shape:
        raise InvalidInputError(
            f"means {means.shape} and variances {variances.shape} must be (m, *y.shape) with y "
            f"{y.shape}."
        )
    if np.any(variances <= 0) or not np.all(np.isfinite(means)):
        raise InvalidInputError("Catalog predictions need finite means and positive variances.")
    # every model's own Gaussian, scored by the prediction type (one Gaussian NLL in uqkit)
    ll = RegressionPrediction.normal(means, variances).log_prob(np.broadcast_to(y, means.shape))
    return ll.reshape(ll.shape[0], ll.shape[1], -1).sum(axis=2)


def member_label_log_likelihoods(member_probs, labels) -> np.ndarray:
    """``log p_i(y_t | x_t)`` per classifier and sample, for labels given as class indices.

    Parameters
    ----------
    member_probs : array of shape (m, n, C)
    labels : array of shape (n,)
        Class indices in ``0..C-1``.

    Returns
    -------
    ndarray of shape (m, n)

    Examples
    --------
    >>> member_label_log_likelihoods([[[0.5, 0.5]], [[0.9, 0.1]]], [1]).round(4)
    array([[-0.6931],
           [-2.3026]])
    """
    member_probs = np.asarray(member_probs, dtype=np.float64)
    classes = np.arange(member_probs.shape[-1])
    return np.stack([ClassificationPrediction(probs=probs, classes=classes).log_prob(labels)
                     for probs in member_probs])


def mixture_nll(log_lik: np.ndarray, weights) -> float:
    """Mean negative log-likelihood of the mixture with ``weights`` (normalised to sum to one).

    Examples
    --------
    >>> ll = member_log_likelihoods([[0.0], [2.0]], [[1.0], [1.0]], [1.0])
    >>> round(mixture_nll(ll, [1, 1]), 4)
    1.4189
    """
    weights = np.asarray(weights, dtype=np.float64)
    keep = weights > 0
    log_w = np.log(weights[keep] / weights.sum())
    return float(-np.mean(logsumexp(log_w[:, None] + log_lik[keep], axis=0)))


_TIE = 1e-12  # relative objective change below which two ensembles count as equally good


def _check(log_lik: np.ndarray, ensemble_size: int) -> None:
    if log_lik.ndim != 2 or log_lik.shape[0] == 0:
        raise InvalidInputError("The catalog is empty: run at least one successful trial.")
    if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, (int, np.integer)) \
            or ensemble_size < 1:
        raise InvalidInputError(f"ensemble_size must be an int >= 1; got {ensemble_size!r}.")


def top_k_selection(log_lik: np.ndarray, ensemble_size: int) -> SelectionResult:
    """The ``K`` models with the lowest single-model validation NLL, equal weights.

    Examples
    --------
    >>> ll = member_log_likelihoods([[0.0], [2.0], [0.5]], [[1.0]] * 3, [0.0])
    >>> top_k_selection(ll, 2).indices.tolist()
    [0, 2]
    """
    log_lik = np.asarray(log_lik, dtype=np.float64)
    _check(log_lik, ensemble_size)
    single = -log_lik.mean(axis=1)
    order = np.argsort(single, kind="stable")[: min(ensemble_size, len(single))]
    counts = np.zeros(len(single))
    counts[order] = 1
    return SelectionResult(indices=order, weights=np.full(len(order), 1 / len(order)),
                           counts=counts, path=[mixture_nll(log_lik, counts)],
                           stopped="size" if len(order) == ensemble_size else "catalog",
                           filled=0)


def greedy_selection(
    log_lik: np.ndarray, ensemble_size: int, k_init: int = 1, max_steps: int | None = None,
    min_members: int = 1,
) -> SelectionResult:
    """Greedy (Caruana) selection with replacement on the mixture validation NLL.

    Parameters
    ----------
    log_lik : ndarray of shape (m, n)
        Per catalog model and validation sample, ``log p_i(y_t | x_t)``
        (:func:`member_log_likelihoods`).
    ensemble_size : int
        ``K``: stop once ``K`` distinct models are selected.
    k_init : int
        Start from the ``k_init`` best single models (each counted once).
    max_steps : int, optional
        Cap on the number of accepted additions (default ``20 K``; re-selecting a model only
        changes weights, so without a cap the loop could run long on plateaus).
    min_members : int, default 1
        Fewest distinct members: when greedy selection stops below it, the best single models
        not yet chosen join with one vote each (as far as the catalog allows). The objective
        may rise there; those steps end ``path``.

    Returns
    -------
    SelectionResult

    Examples
    --------
    >>> ll = member_log_likelihoods([[0.0], [2.0], [-2.0]], [[1.0]] * 3, [0.0])
    >>> result = greedy_selection(ll, 3)
    >>> result.indices.tolist(), float(result.weights.sum()), result["stopped"]
    ([0], 1.0, 'no_gain')
    >>> forced = greedy_selection(ll, 3, min_members=2)
    >>> forced.indices.tolist(), forced.weights.tolist(), forced["filled"]
    ([0, 1], [0.5, 0.5], 1)
    """
    log_lik = np.asarray(log_lik, dtype=np.float64)
    _check(log_lik, ensemble_size)
    m = log_lik.shape[0]
    if isinstance(k_init, bool) or not isinstance(k_init, (int, np.integer)) or k_init < 1:
        raise InvalidInputError(f"k_init must be an int >= 1; got {k_init!r}.")
    if isinstance(min_members, bool) or not isinstance(min_members, (int, np.integer)) \
            or not 1 <= min_members <= ensemble_size:
        raise InvalidInputError(
            f"min_members must be an int in [1, ensemble_size={ensemble_size}]; "
            f"got {min_members!r}."
        )
    k_init = min(k_init, ensemble_size, m)
    max_steps = 20 * ensemble_size if max_steps is None else int(max_steps)
    single = -log_lik.mean(axis=1)
    order = list(np.argsort(single, kind="stable")[:k_init])
    counts = np.zeros(m)
    counts[order] = 1
    current = mixture_nll(log_lik, counts)
    path = [current]
    chosen = list(order)
    steps = 0
    stopped = "size"
    while len(chosen) < ensemble_size:
        if len(chosen) == m:
            stopped = "catalog"
            break
        if steps >= max_steps:
            stopped = "max_steps"
            break
        # log of the un-normalised mixture density with the current counts, then one more vote
        # for candidate j: log(S + p_j) - log(total + 1)
        total = counts.sum()
        log_mix = logsumexp(np.log(counts[counts > 0])[:, None] + log_lik[counts > 0], axis=0)
        trial = -np.mean(np.logaddexp(log_mix[None, :], log_lik), axis=1) + np.log(total + 1)
        best = int(np.argmin(trial))  # ties: the lowest catalog row
        # a gain within rounding is a tie, not a step: re-adding the only member, for one,
        # leaves the mixture as it is and must not count as an improvement
        if not trial[best] < current - _TIE * max(1.0, abs(current)):
            stopped = "no_gain"
            break
        counts[best] += 1
        current = float(trial[best])
        path.append(current)
        if best not in chosen:
            chosen.append(best)
        steps += 1
    # the floor: the best single models not chosen yet, one vote each (top-k fill-up)
    filled = 0
    for j in np.argsort(single, kind="stable"):
        if len(chosen) >= min(min_members, m):
            break
        if j not in chosen:
            counts[j] += 1
            chosen.append(int(j))
            path.append(mixture_nll(log_lik, counts))
            filled += 1
    indices = np.asarray(chosen, dtype=int)
    return SelectionResult(indices=indices, weights=counts[indices] / counts.sum(), counts=counts,
                           path=path, stopped=stopped, filled=filled)
