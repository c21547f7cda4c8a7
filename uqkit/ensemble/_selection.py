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

The selection loss (``loss=`` of :func:`greedy_selection`):

* ``"mixture"`` (uqkit's default): ``L(w)`` above, the exact NLL of the mixture the ensemble
  predicts with;
* ``"moment_matched"`` (the paper's code: DeepHyper's ``UQBaggingEnsembleRegressor`` with
  ``greedy_caruana``, ``deephyper/ensemble/_uq_bagging_ensemble.py``): the NLL of the single
  Gaussian with the mixture's mean and total variance (the law of total variance, Eq. 4),
  ``L_mm(w) = (1/n) sum_t [ log(2 pi v_t) / 2 + (y_t - mu_t)^2 / (2 v_t) ]`` with
  ``v = sum w_i (sigma_i^2 + (mu_i - mu)^2)`` (:class:`MomentMatchedObjective`). For a single
  model both losses are its own Gaussian NLL; for a mixture they differ (a heavy-tailed or
  multi-modal mixture scores better under its exact NLL than under its Gaussian match).

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

__all__ = ["MixtureObjective", "MomentMatchedObjective", "SelectionResult", "SelectionWarning",
           "greedy_selection", "member_label_log_likelihoods", "member_log_likelihoods",
           "mixture_nll", "moment_matched_nll", "top_k_selection"]


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


def moment_matched_nll(means, variances, y, weights) -> float:
    """Mean NLL of the Gaussian with the mixture's mean and total variance (moment matching).

    ``mu = sum w_i mu_i``, ``v = sum w_i (sigma_i^2 + (mu_i - mu)^2)`` (law of total variance,
    Egele et al., 2022, Eq. 4); returns ``(1/n) sum_t sum_d [log(2 pi v) / 2 +
    (y - mu)^2 / (2 v)]``, the selection loss of the paper's code.

    Parameters
    ----------
    means, variances : array of shape (m, n) or (m, n, d)
    y : array of shape (n,) or (n, d)
    weights : array of shape (m,)
        Non-negative, normalised to sum to one.

    Examples
    --------
    Two models at -1 and +1 with unit variance: the match has mean 0 and variance 2.

    >>> round(moment_matched_nll([[-1.0], [1.0]], [[1.0], [1.0]], [0.5], [1, 1]), 4)
    1.328
    """
    objective = MomentMatchedObjective(means, variances, y)
    return objective.score(np.asarray(weights, dtype=np.float64))


class MixtureObjective:
    """The selection loss ``"mixture"``: the exact mixture NLL, from per-model log-likelihoods.

    Parameters
    ----------
    log_lik : ndarray of shape (m, n)
        ``log p_i(y_t | x_t)`` (:func:`member_log_likelihoods`,
        :func:`member_label_log_likelihoods`).

    Examples
    --------
    >>> ll = member_log_likelihoods([[0.0], [2.0]], [[1.0], [1.0]], [1.0])
    >>> objective = MixtureObjective(ll)
    >>> round(objective.score(np.array([1.0, 1.0])), 4)
    1.4189
    >>> objective.candidates(np.array([1.0, 0.0])).round(4).tolist()
    [1.4189, 1.4189]
    """

    def __init__(self, log_lik) -> None:
        self.log_lik = np.asarray(log_lik, dtype=np.float64)
        self.n_models = self.log_lik.shape[0] if self.log_lik.ndim == 2 else 0

    def single(self) -> np.ndarray:
        """``(m,)``: each model's own validation NLL."""
        return -self.log_lik.mean(axis=1)

    def score(self, counts: np.ndarray) -> float:
        """The loss of the ensemble with weights ``counts / counts.sum()``."""
        return mixture_nll(self.log_lik, counts)

    def candidates(self, counts: np.ndarray) -> np.ndarray:
        """``(m,)``: the loss after one more vote for each model."""
        keep = counts > 0
        # log of the un-normalised mixture density with the current counts, then one more vote
        # for candidate j: log(S + p_j) - log(total + 1)
        log_mix = logsumexp(np.log(counts[keep])[:, None] + self.log_lik[keep], axis=0)
        return (-np.mean(np.logaddexp(log_mix[None, :], self.log_lik), axis=1)
                + np.log(counts.sum() + 1))


class MomentMatchedObjective:
    """The selection loss ``"moment_matched"``: the NLL of the mixture's Gaussian match.

    Parameters
    ----------
    means, variances : array of shape (m, n) or (m, n, d)
        Validation predictions of the catalog models.
    y : array of shape (n,) or (n, d)

    Examples
    --------
    >>> objective = MomentMatchedObjective([[-1.0], [1.0]], [[1.0], [1.0]], [0.5])
    >>> objective.single().round(4).tolist()
    [2.0439, 1.0439]
    >>> objective.candidates(np.array([0.0, 1.0])).round(4).tolist()
    [1.328, 1.0439]
    """

    def __init__(self, means, variances, y) -> None:
        # checks shapes and positivity, as the mixture loss does
        self._single = -member_log_likelihoods(means, variances, y).mean(axis=1)
        means = np.asarray(means, dtype=np.float64)
        self.means = means.reshape(means.shape[0], means.shape[1], -1)
        self.variances = np.asarray(variances, dtype=np.float64).reshape(self.means.shape)
        self.y = np.asarray(y, dtype=np.float64).reshape(self.means.shape[1:])
        self.n_models = self.means.shape[0]

    def single(self) -> np.ndarray:
        return self._single.copy()

    def _nll(self, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        """Mean Gaussian NLL over samples, summed over targets, for each leading index."""
        per = 0.5 * np.log(2 * np.pi * var) + (self.y - mean) ** 2 / (2 * var)
        return per.sum(axis=-1).mean(axis=-1)

    def score(self, counts: np.ndarray) -> float:
        w = counts / counts.sum()
        keep = w > 0
        mu, var, w = self.means[keep], self.variances[keep], w[keep][:, None, None]
        mean = (w * mu).sum(axis=0)
        # the centred form of the total variance: no cancellation of large second moments
        total = (w * (var + (mu - mean) ** 2)).sum(axis=0)
        return float(self._nll(mean, total))

    def candidates(self, counts: np.ndarray) -> np.ndarray:
        total_votes = counts.sum() + 1
        chosen = np.flatnonzero(counts > 0)
        mean = ((counts[chosen, None, None] * self.means[chosen]).sum(axis=0)[None]
                + self.means) / total_votes  # (m, n, d): mean with one more vote for j
        spread = (self.variances + (self.means - mean) ** 2)  # candidate j's own term
        for i in chosen:
            spread = spread + counts[i] * (self.variances[i] + (self.means[i] - mean) ** 2)
        return self._nll(mean, spread / total_votes)


def _objective(log_lik) -> MixtureObjective | MomentMatchedObjective:
    if isinstance(log_lik, (MixtureObjective, MomentMatchedObjective)):
        return log_lik
    return MixtureObjective(log_lik)


_TIE = 1e-12  # relative objective change below which two ensembles count as equally good


def _check(objective, ensemble_size: int) -> None:
    if objective.n_models == 0:
        raise InvalidInputError("The catalog is empty: run at least one successful trial.")
    if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, (int, np.integer)) \
            or ensemble_size < 1:
        raise InvalidInputError(f"ensemble_size must be an int >= 1; got {ensemble_size!r}.")


def top_k_selection(log_lik, ensemble_size: int) -> SelectionResult:
    """The ``K`` models with the lowest single-model validation NLL, equal weights.

    ``log_lik`` is an ``(m, n)`` array of log-likelihoods or a selection objective
    (:class:`MixtureObjective`, :class:`MomentMatchedObjective`; the single-model ranking is the
    same under both, ``path`` reports the objective's loss).

    Examples
    --------
    >>> ll = member_log_likelihoods([[0.0], [2.0], [0.5]], [[1.0]] * 3, [0.0])
    >>> top_k_selection(ll, 2).indices.tolist()
    [0, 2]
    """
    objective = _objective(log_lik)
    _check(objective, ensemble_size)
    single = objective.single()
    order = np.argsort(single, kind="stable")[: min(ensemble_size, len(single))]
    counts = np.zeros(len(single))
    counts[order] = 1
    return SelectionResult(indices=order, weights=np.full(len(order), 1 / len(order)),
                           counts=counts, path=[objective.score(counts)],
                           stopped="size" if len(order) == ensemble_size else "catalog",
                           filled=0)


def greedy_selection(
    log_lik, ensemble_size: int, k_init: int = 1, max_steps: int | None = None,
    min_members: int = 1,
) -> SelectionResult:
    """Greedy (Caruana) selection with replacement on the mixture validation NLL.

    Parameters
    ----------
    log_lik : ndarray of shape (m, n), or a selection objective
        Per catalog model and validation sample, ``log p_i(y_t | x_t)``
        (:func:`member_log_likelihoods`): the loss is the mixture NLL. Or the loss itself:
        :class:`MixtureObjective`, :class:`MomentMatchedObjective` (the paper's code).
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
    objective = _objective(log_lik)
    _check(objective, ensemble_size)
    m = objective.n_models
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
    single = objective.single()
    order = list(np.argsort(single, kind="stable")[:k_init])
    counts = np.zeros(m)
    counts[order] = 1
    current = objective.score(counts)
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
        trial = objective.candidates(counts)
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
            path.append(objective.score(counts))
            filled += 1
    indices = np.asarray(chosen, dtype=int)
    return SelectionResult(indices=indices, weights=counts[indices] / counts.sum(), counts=counts,
                           path=path, stopped=stopped, filled=filled)
