"""Statistics of word vectors: coverage on data from the model, delta method vs sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uqkit.embeddings import GloVeV, StatisticResult, cosine_similarity

from ._synthetic import synthetic_glove


def test_similarity_intervals_cover_the_truth_95_percent():
    """1000 independent word pairs, each a repetition of data drawn from the model."""
    n_pairs = 1000
    data = synthetic_glove(
        n_words=2 * n_pairs, n_contexts=120, dim=3, n_observed=100, sigma=0.02, seed=0
    )
    model = GloVeV(refit_vectors=True).fit(data.X, data.W, data.V, data.b, data.c)
    covered = 0
    for k in range(n_pairs):
        result = model.similarity(2 * k, 2 * k + 1)
        truth = cosine_similarity(data.W[2 * k], data.W[2 * k + 1])
        covered += result.lower <= truth <= result.upper
    assert 0.93 <= covered / n_pairs <= 0.97


@pytest.fixture(scope="module")
def fitted():
    data = synthetic_glove(n_words=12, n_contexts=200, dim=5, n_observed=150, sigma=0.05, seed=2)
    vocab = [f"w{i}" for i in range(12)]
    return GloVeV(refit_vectors=True).fit(data.X, data.W, data.V, data.b, data.c, vocab=vocab)


def test_delta_and_sampling_agree_when_variance_is_small(fitted):
    for a, b in (("w0", "w1"), ("w2", "w5")):
        delta = fitted.similarity(a, b)
        sampled = fitted.similarity(a, b, method="sampling", n_samples=20000, random_state=0)
        assert delta.std_error < 0.05
        assert abs(sampled.std_error / delta.std_error - 1) < 0.05
        assert sampled.estimate == delta.estimate
        assert abs(np.median(sampled.samples) - delta.estimate) < 0.2 * delta.std_error
    comparison = fitted.compare(("w0", "w1"), ("w0", "w3"))
    sampled = fitted.compare(
        ("w0", "w1"), ("w0", "w3"), method="sampling", n_samples=20000, random_state=1
    )
    assert abs(sampled.std_error / comparison.std_error - 1) < 0.05


def test_delta_method_is_exact_for_linear_statistics(fitted):
    a = np.arange(1.0, 6.0)
    sigma = fitted.covariance("w4")
    # a word used twice is one random vector: Var(2 a.w) = 4 a' Sigma a
    result = fitted.statistic(
        lambda w: w[0] @ torch.as_tensor(a) + w[1] @ torch.as_tensor(a), ["w4", "w4"]
    )
    np.testing.assert_allclose(result.std_error**2, 4 * a @ sigma @ a, rtol=1e-12)
    np.testing.assert_allclose(result.estimate, 2 * a @ fitted.vectors_[4], rtol=1e-12)
    # a difference of two words: variances add (independence across words)
    diff = fitted.statistic(lambda w: (w[0] - w[1]).sum(), ["w1", "w2"])
    expected = fitted.covariance("w1").sum() + fitted.covariance("w2").sum()
    np.testing.assert_allclose(diff.std_error**2, expected, rtol=1e-12)


def test_result_fields_interval_and_p_value(fitted):
    result = fitted.similarity("w0", "w1", alpha=0.1, null_value=0.1)
    assert isinstance(result, StatisticResult)
    assert result.alpha == 0.1 and result.to_dict()["alpha"] == 0.1
    z = 1.6448536269514722
    np.testing.assert_allclose(result.upper - result.estimate, z * result.std_error)
    from scipy import stats

    expected_p = 2 * stats.norm.sf(abs(result.estimate - 0.1) / result.std_error)
    np.testing.assert_allclose(result.p_value, expected_p)
    sampled = fitted.similarity("w0", "w1", method="sampling", n_samples=500, random_state=3)
    lo, hi = np.quantile(sampled.samples, [0.025, 0.975])
    assert sampled.interval == (lo, hi)
    again = fitted.similarity("w0", "w1", method="sampling", n_samples=500, random_state=3)
    np.testing.assert_array_equal(sampled.samples, again.samples)
    far = fitted.similarity(
        "w0", "w1", method="sampling", n_samples=500, null_value=5.0, random_state=3
    )
    assert far.p_value == pytest.approx(2 / 501)


def test_bias_score_over_word_lists(fitted):
    """A WEAT-style score: mean similarity to one list minus mean similarity to another."""

    def bias(w):
        target = w[0]
        first = torch.stack([cosine_similarity(target, v) for v in w[1:3]]).mean()
        second = torch.stack([cosine_similarity(target, v) for v in w[3:5]]).mean()
        return first - second

    words = ["w0", "w1", "w2", "w3", "w4"]
    delta = fitted.statistic(bias, words)
    sampled = fitted.statistic(bias, words, method="sampling", n_samples=5000, random_state=0)
    assert abs(sampled.std_error / delta.std_error - 1) < 0.1


def test_statistic_input_errors(fitted):
    from uqkit.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError, match="scalar"):
        fitted.statistic(lambda w: w.sum(dim=0), ["w0"])
    with pytest.raises(InvalidInputError, match="method"):
        fitted.similarity("w0", "w1", method="bootstrap")
    with pytest.raises(InvalidInputError, match="miscoverage"):
        fitted.similarity("w0", "w1", alpha=95)  # a percentage is not a miscoverage level
    with pytest.raises(InvalidInputError, match="two pairs"):
        fitted.compare(("w0",), ("w1", "w2"))
