"""Greedy (Caruana) selection with replacement and top-K on a synthetic catalog."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from uqkit.ensemble import (
    greedy_selection,
    member_label_log_likelihoods,
    member_log_likelihoods,
    mixture_nll,
    top_k_selection,
)
from uqkit.exceptions import InvalidInputError
from uqkit.prediction import RegressionPrediction


def _catalog(m=6, n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    means = y + rng.normal(scale=rng.uniform(0.2, 1.0, size=(m, 1)), size=(m, n))
    variances = rng.uniform(0.05, 1.5, size=(m, 1)) * np.ones((m, n))
    return means, variances, y


def _nll_scipy(means, variances, y, counts):
    """Reference mixture NLL with scipy densities and the law of total probability."""
    w = np.asarray(counts, float) / np.sum(counts)
    density = sum(w[i] * stats.norm.pdf(y, means[i], np.sqrt(variances[i]))
                  for i in range(len(w)) if w[i] > 0)
    return -np.mean(np.log(density))


def test_mixture_nll_matches_scipy_and_regression_prediction():
    means, variances, y = _catalog()
    counts = np.array([2, 0, 1, 0, 3, 1])
    ll = member_log_likelihoods(means, variances, y)
    value = mixture_nll(ll, counts)
    assert value == pytest.approx(_nll_scipy(means, variances, y, counts), rel=1e-10)
    prediction = RegressionPrediction.mixture(means, variances, counts)
    assert value == pytest.approx(prediction.nll(y), rel=1e-10)


def test_greedy_matches_brute_force_step_by_step():
    means, variances, y = _catalog(m=5, seed=3)
    ll = member_log_likelihoods(means, variances, y)
    result = greedy_selection(ll, ensemble_size=5, k_init=1)
    # replay: start from the best single model, each accepted step must be the best of all
    # one-model additions (brute force with scipy), and strictly lower than before
    singles = [_nll_scipy(means, variances, y, np.eye(5)[i]) for i in range(5)]
    counts = np.eye(5)[int(np.argmin(singles))]
    path = [min(singles)]
    for _ in range(len(result["path"]) - 1):
        options = [_nll_scipy(means, variances, y, counts + np.eye(5)[j]) for j in range(5)]
        best = int(np.argmin(options))
        assert options[best] < path[-1]
        counts = counts + np.eye(5)[best]
        path.append(options[best])
    np.testing.assert_allclose(result["path"], path, rtol=1e-10)
    np.testing.assert_array_equal(result["counts"], counts)
    # it stopped for a reason: K distinct members, or no addition strictly helps
    if len(result.indices) < 5:
        options = [_nll_scipy(means, variances, y, counts + np.eye(5)[j]) for j in range(5)]
        assert min(options) >= path[-1] - 1e-12 or len(path) - 1 == 20 * 5


def test_greedy_is_never_worse_than_best_single_and_path_decreases():
    for seed in range(10):
        means, variances, y = _catalog(m=8, seed=seed)
        ll = member_log_likelihoods(means, variances, y)
        for k in (1, 2, 4):
            result = greedy_selection(ll, ensemble_size=k, k_init=1)
            assert np.all(np.diff(result["path"]) < 0)
            assert result["path"][-1] <= -ll.mean(1).min() + 1e-12
            assert result.weights.sum() == pytest.approx(1.0)
            assert len(result.indices) <= k
            assert result["path"][-1] == pytest.approx(mixture_nll(ll, result["counts"]))
            np.testing.assert_allclose(result.weights,
                                       result["counts"][result.indices] / result["counts"].sum())


def test_k1_returns_best_single_model():
    means, variances, y = _catalog(seed=4)
    ll = member_log_likelihoods(means, variances, y)
    result = greedy_selection(ll, ensemble_size=1)
    assert result.indices.tolist() == [int(np.argmin(-ll.mean(1)))]
    assert result.weights.tolist() == [1.0]


def test_greedy_small_catalog_against_exhaustive_multisets():
    # With K = m = 3 and one step, greedy's pair is the best pair containing the best model.
    means, variances, y = _catalog(m=3, seed=7)
    ll = member_log_likelihoods(means, variances, y)
    result = greedy_selection(ll, ensemble_size=3, max_steps=1)
    best = int(np.argmin(-ll.mean(1)))
    candidates = {j: _nll_scipy(means, variances, y, np.eye(3)[best] + np.eye(3)[j])
                  for j in range(3)}
    j = min(candidates, key=candidates.get)
    if candidates[j] < -ll.mean(1)[best] - 1e-9:
        np.testing.assert_array_equal(result["counts"], np.eye(3)[best] + np.eye(3)[j])
    else:  # no pair beats the best single model: greedy keeps it alone
        np.testing.assert_array_equal(result["counts"], np.eye(3)[best])
    # exhaustive search over all multisets of size <= 3 lower-bounds what greedy reaches
    exhaustive = min(_nll_scipy(means, variances, y, np.bincount(c, minlength=3))
                     for r in (1, 2, 3)
                     for c in itertools.combinations_with_replacement(range(3), r))
    assert exhaustive <= result["path"][-1] + 1e-12


def test_replacement_is_used_when_reweighting_helps():
    # two good models with different biases plus one bad: a duplicate vote can help
    y = np.linspace(-1.5, 1.5, 101)
    means = np.stack([np.full(101, 0.3), np.full(101, -0.6), np.full(101, 5.0)])
    variances = np.full((3, 101), 0.8)
    ll = member_log_likelihoods(means, variances, y)
    result = greedy_selection(ll, ensemble_size=3)
    assert 2 not in result.indices
    assert result["counts"].tolist() == [2.0, 1.0, 0.0]
    assert np.all(np.diff(result["path"]) < -1e-3)  # every step a real gain


def test_a_tie_is_not_a_step():
    # the bug: re-adding the only member leaves the mixture unchanged, but rounding made the
    # objective look a hair lower, and greedy "improved" [1, 0, 0] to [4, 0, 0] on noise
    y = np.zeros(50)
    means = np.stack([np.full(50, 0.3), np.full(50, -0.6), np.full(50, 5.0)])
    variances = np.full((3, 50), 0.2)
    result = greedy_selection(member_log_likelihoods(means, variances, y), ensemble_size=3)
    assert result["counts"].tolist() == [1.0, 0.0, 0.0]
    assert len(result["path"]) == 1 and result.weights.tolist() == [1.0]


def test_top_k_and_errors():
    means, variances, y = _catalog(seed=5)
    ll = member_log_likelihoods(means, variances, y)
    result = top_k_selection(ll, 3)
    assert result.indices.tolist() == np.argsort(-ll.mean(1))[:3].tolist()
    assert result.weights.tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(InvalidInputError, match="ensemble_size"):
        greedy_selection(ll, 0)
    with pytest.raises(InvalidInputError, match="empty"):
        greedy_selection(np.zeros((0, 3)), 2)
    with pytest.raises(InvalidInputError, match="positive variances"):
        member_log_likelihoods(means, -variances, y)


def test_label_log_likelihoods_are_the_members_own_nll():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), size=(4, 25))
    labels = rng.integers(0, 3, size=25)
    ll = member_label_log_likelihoods(probs, labels)
    np.testing.assert_allclose(ll, np.log(probs[:, np.arange(25), labels]), rtol=1e-12)
    # equal weights on all four: the NLL of the averaged categorical
    averaged = probs.mean(axis=0)[np.arange(25), labels]
    assert mixture_nll(ll, np.ones(4)) == pytest.approx(-np.mean(np.log(averaged)), rel=1e-12)
