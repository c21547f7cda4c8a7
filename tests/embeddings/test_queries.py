"""Queries of a fitted GloVeV: pairs in one call, nearest neighbours, keyed vectors."""

from __future__ import annotations

import numpy as np
import pytest

from uqkit.embeddings import GloVeV, Neighbours
from uqkit.exceptions import InvalidInputError

from ._synthetic import synthetic_glove


@pytest.fixture(scope="module")
def model():
    data = synthetic_glove(n_words=50, n_contexts=80, dim=5, n_observed=40, sigma=0.3, seed=4)
    vocab = [f"w{i}" for i in range(50)]
    return GloVeV(approximation="auto").fit(data.X, data.W, data.V, data.b, data.c, vocab=vocab)


def test_pairs_in_one_call_equal_one_pair_at_a_time(model):
    a, b = ["w0", "w3", "w3", "w9"], ["w1", "w4", "w3", "w0"]
    batch = model.similarity(a, b)
    for k, (x, y) in enumerate(zip(a, b)):
        one = model.similarity(x, y)  # autograd through the generic statistic
        np.testing.assert_allclose(batch.estimate[k], one.estimate, rtol=1e-12)
        np.testing.assert_allclose(batch.std_error[k], one.std_error, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(batch.p_value[k], one.p_value, rtol=1e-6, atol=1e-12)
    sampled = model.similarity(a, b, method="sampling", n_samples=4000, random_state=0)
    assert sampled.samples.shape == (4000, 4)
    np.testing.assert_allclose(sampled.std_error[[0, 1, 3]], batch.std_error[[0, 1, 3]],
                               rtol=0.15)
    assert np.all(sampled.lower <= sampled.upper)
    with pytest.raises(InvalidInputError, match="same length"):
        model.similarity(["w0", "w1"], ["w2"])


def test_most_similar_agrees_with_brute_force(model):
    result = model.most_similar("w5", k=6, n_samples=500, random_state=0)
    assert isinstance(result, Neighbours)
    W = model.vectors_
    cos = W @ W[5] / (np.linalg.norm(W, axis=1) * np.linalg.norm(W[5]))
    cos[5] = -np.inf
    expected = np.argsort(-cos)[:6]
    assert result.words == [f"w{i}" for i in expected]
    np.testing.assert_allclose(result.similarity, cos[expected], rtol=1e-12)
    single = model.similarity("w5", result.words[2])
    np.testing.assert_allclose(result.std_error[2], single.std_error, rtol=1e-9)
    assert np.all((0 <= result.rank_stability) & (result.rank_stability <= 1))
    assert np.all(result.rank_stability <= result.top_k_probability)
    assert len(result.to_rows()) == 6
    with pytest.raises(InvalidInputError, match="k must be"):
        model.most_similar("w5", k=0)


def test_rank_stability_is_one_without_uncertainty(model):
    """Covariances scaled to (almost) zero: every draw ranks like the estimate."""
    import copy

    quiet = copy.copy(model)
    quiet.factors_ = model.factors_ * 1e-9
    quiet.diagonals_ = model.diagonals_ * 1e-18
    result = quiet.most_similar("w5", k=4, n_samples=200, random_state=1)
    np.testing.assert_array_equal(result.rank_stability, 1.0)


class _FakeKeyed(dict):
    """The part of gensim's KeyedVectors interface that from_keyed_vectors reads."""


def test_keyed_vectors_round_trip(model):
    gensim = pytest.importorskip("gensim", reason="to_keyed_vectors needs uqkit[embeddings]")
    data = synthetic_glove(n_words=50, n_contexts=80, dim=5, n_observed=40, sigma=0.3, seed=4)
    kv = model.to_keyed_vectors()
    assert isinstance(kv, gensim.models.KeyedVectors)
    np.testing.assert_array_equal(kv["w7"], model.vectors_[7])
    assert kv.get_vecattr("w7", "n_contexts") == model.n_contexts_[7]
    np.testing.assert_allclose(kv.get_vecattr("w7", "sigma2"), model.sigma2_[7])
    back = GloVeV.from_keyed_vectors(kv, data.X, data.V, data.b, data.c, vocab=model.vocab_,
                                     approximation="auto")
    np.testing.assert_array_equal(back.vectors_, model.vectors_)
    np.testing.assert_array_equal(back.covariance("w3"), model.covariance("w3"))


def test_from_keyed_vectors_duck_typed():
    data = synthetic_glove(n_words=20, n_contexts=40, dim=3, n_observed=20, sigma=0.3, seed=5)
    vocab = [f"v{i}" for i in range(20)]
    fake = _FakeKeyed({w: data.W[i] for i, w in reversed(list(enumerate(vocab)))})
    model = GloVeV.from_keyed_vectors(fake, data.X, data.V, data.b, data.c, vocab=vocab)
    np.testing.assert_array_equal(model.vectors_, data.W)
    del fake["v3"]
    with pytest.raises(InvalidInputError, match="no vector"):
        GloVeV.from_keyed_vectors(fake, data.X, data.V, data.b, data.c, vocab=vocab)


def test_bias_scores_match_their_definitions(model):
    from uqkit.embeddings import cosine_similarity

    t, a, b, o = ["w1", "w2", "w3"], ["w10", "w11"], ["w20", "w21", "w22"], ["w4"]
    weat = model.bias_score(t, a, b)
    W = {w: model.vectors_[int(w[1:])] for w in t + a + b + o}

    def assoc(x):
        return np.mean([cosine_similarity(W[x], W[y]) for y in a]) - np.mean(
            [cosine_similarity(W[x], W[y]) for y in b])

    np.testing.assert_allclose(weat.estimate, np.mean([assoc(x) for x in t]), rtol=1e-12)
    two = model.bias_score(t, a, b, other_targets=o)
    np.testing.assert_allclose(two.estimate, weat.estimate - assoc("w4"), rtol=1e-12)
    direction = np.mean([W[y] for y in a], axis=0) - np.mean([W[y] for y in b], axis=0)
    projection = model.bias_score(t, a, b, kind="projection")
    np.testing.assert_allclose(
        projection.estimate, np.mean([cosine_similarity(W[x], direction) for x in t]), rtol=1e-12
    )
    sampled = model.bias_score(t, a, b, method="sampling", n_samples=3000, random_state=0)
    np.testing.assert_allclose(sampled.std_error, weat.std_error, rtol=0.15)
    with pytest.raises(InvalidInputError, match="kind"):
        model.bias_score(t, a, b, kind="other")
