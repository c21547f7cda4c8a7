"""GloVe-V covariances: equality with weighted least squares, insufficient words, storage."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
import torch
from scipy import sparse
from sklearn.base import clone

import uqkit
from uqkit.embeddings import EmbeddingPrediction, GloVeV, glove_weight
from uqkit.exceptions import InvalidInputError, NotFittedError

from ._synthetic import synthetic_glove


@pytest.fixture(scope="module")
def data():
    return synthetic_glove(n_words=8, n_contexts=40, dim=4, n_observed=15, sigma=0.3, seed=1)


def _row(data, i):
    lo, hi = data.X.indptr[i], data.X.indptr[i + 1]
    return data.X.indices[lo:hi], data.X.data[lo:hi]


def test_equals_statsmodels_weighted_least_squares(data):
    model = GloVeV(refit_vectors=True).fit(data.X, data.W, data.V, data.b, data.c)
    for i in range(data.X.shape[0]):
        idx, x = _row(data, i)
        y = np.log(x) - data.b[i] - data.c[idx]
        wls = sm.WLS(y, data.V[idx], weights=glove_weight(x)).fit()
        np.testing.assert_allclose(model.vectors_[i], wls.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(model.sigma2_[i], wls.scale, rtol=1e-10)
        np.testing.assert_allclose(model.covariance(i), wls.cov_params(), rtol=1e-9, atol=1e-14)


def test_given_vectors_use_the_papers_residuals(data):
    """Without refitting, sigma^2 uses the given w_i; Sigma = sigma^2 (sum f v v^T)^-1."""
    W = data.W + 0.05  # not the least-squares solution
    model = GloVeV().fit(data.X, W, data.V, data.b, data.c)
    dim = data.W.shape[1]
    for i in range(data.X.shape[0]):
        idx, x = _row(data, i)
        f = glove_weight(x)
        residual = np.log(x) - data.b[i] - data.c[idx] - data.V[idx] @ W[i]
        sigma2 = np.sum(f * residual**2) / (len(idx) - dim)
        gram = (data.V[idx] * f[:, None]).T @ data.V[idx]
        np.testing.assert_allclose(model.sigma2_[i], sigma2, rtol=1e-10)
        np.testing.assert_allclose(model.covariance(i), sigma2 * np.linalg.inv(gram), rtol=1e-9)
        np.testing.assert_array_equal(model.vectors_[i], W[i])


def test_batching_does_not_change_the_result(data):
    one = GloVeV(batch_size=1).fit(data.X, data.W, data.V, data.b, data.c)  # one word a solve
    many = GloVeV().fit(data.X, data.W, data.V, data.b, data.c)  # all words in one solve
    np.testing.assert_allclose(one.covariances_, many.covariances_, rtol=1e-12, atol=1e-15)


def test_insufficient_words_are_reported_not_dropped():
    rng = np.random.default_rng(0)
    dim, n_ctx = 3, 10
    V, c = rng.normal(size=(n_ctx, dim)), np.zeros(n_ctx)
    dense = np.zeros((4, n_ctx))
    dense[0, :dim] = 5.0  # |K| = D: no variance
    dense[1, : dim + 2] = rng.uniform(1, 9, dim + 2)  # |K| = D + 2: defined
    dense[2, :] = rng.uniform(1, 9, n_ctx)
    dense[3, :5] = 3.0
    V[5:] = V[0]  # word 3 sees contexts 0..4, fine; make a singular one below
    dense_singular = np.zeros((1, n_ctx))
    dense_singular[0, 5:] = 2.0  # five contexts with the same vector: rank-one Gram matrix
    X = sparse.csr_matrix(np.vstack([dense, dense_singular]))
    vocab = ["rare", "ok", "common", "fine", "degenerate"]
    model = GloVeV().fit(X, rng.normal(size=(5, dim)), V, np.zeros(5), c, vocab=vocab)
    assert model.insufficient_words_ == ["rare", "degenerate"]
    np.testing.assert_array_equal(model.has_covariance_, [False, True, True, True, False])
    np.testing.assert_array_equal(model.n_contexts_, [3, 5, 10, 5, 5])
    assert np.isnan(model.sigma2_[0]) and np.isfinite(model.sigma2_[1])
    with pytest.raises(InvalidInputError, match=r"'rare' has only 3 observed contexts.*D = 3"):
        model.covariance("rare")
    with pytest.raises(InvalidInputError, match="linearly dependent"):
        model.covariance("degenerate")
    with pytest.raises(InvalidInputError, match="insufficient_words_"):
        model.similarity("rare", "ok")
    with pytest.raises(InvalidInputError, match="insufficient_words_"):
        model.predict_uncertainty(["ok", "rare"])
    assert model.covariance("ok").shape == (dim, dim)


@pytest.fixture(scope="module")
def wide():
    return synthetic_glove(n_words=30, n_contexts=60, dim=6, n_observed=40, sigma=0.3, seed=3)


@pytest.mark.parametrize("mode", ["low_rank", "auto"])
@pytest.mark.parametrize("share", [0.9, 0.99])
def test_approximation_keeps_the_frobenius_share(wide, mode, share):
    full = GloVeV().fit(wide.X, wide.W, wide.V, wide.b, wide.c)
    approx = GloVeV(approximation=mode, frobenius_share=share).fit(
        wide.X, wide.W, wide.V, wide.b, wide.c
    )
    kinds = set()
    for i in range(30):
        exact, stored = full.covariance(i), approx.covariance(i)
        kept = np.linalg.norm(stored) / np.linalg.norm(exact)
        assert kept >= share - 1e-12
        np.testing.assert_allclose(kept, approx.frobenius_share_[i], rtol=1e-8)
        np.testing.assert_allclose(approx.diagonals_[i], np.diag(exact), rtol=1e-12)
        diag_share = np.linalg.norm(np.diag(exact)) / np.linalg.norm(exact)
        eig = np.sort(np.linalg.eigvalsh(exact))[::-1]
        rank = approx.factor_offsets_[i + 1] - approx.factor_offsets_[i]
        kinds.add(int(approx.covariance_kind_[i]))
        if rank:  # minimal rank: one fewer eigenvalue would not keep the share
            assert np.sqrt(np.sum(eig[: rank - 1] ** 2) / np.sum(eig**2)) < share
            assert mode == "low_rank" or diag_share < share
        else:
            assert mode == "auto" and diag_share >= share
    assert kinds <= {2, 3}


def test_diagonal_storage_records_its_share(wide):
    full = GloVeV().fit(wide.X, wide.W, wide.V, wide.b, wide.c)
    diag = GloVeV(approximation="diagonal").fit(wide.X, wide.W, wide.V, wide.b, wide.c)
    exact = full.covariance(4)
    np.testing.assert_allclose(diag.covariance(4), np.diag(np.diag(exact)))
    np.testing.assert_allclose(
        diag.frobenius_share_[4], np.linalg.norm(np.diag(exact)) / np.linalg.norm(exact)
    )


def test_predict_uncertainty_returns_typed_vectors(data):
    vocab = [f"w{i}" for i in range(8)]
    model = GloVeV().fit(data.X, data.W, data.V, data.b, data.c, vocab=vocab)
    pred = model.predict_uncertainty(["w1", 3])
    assert isinstance(pred, EmbeddingPrediction)
    np.testing.assert_array_equal(pred.mean, data.W[[1, 3]])
    np.testing.assert_array_equal(pred.covariance[1], model.covariance("w3"))
    np.testing.assert_allclose(pred.std() ** 2, pred.variance)
    draws = pred.sample(20000, random_state=0)
    np.testing.assert_allclose(np.cov(draws[:, 0].T), pred.covariance[0], rtol=0.1, atol=1e-6)
    with pytest.raises(InvalidInputError, match="not in the vocabulary"):
        model.covariance("unknown")


def test_save_load_round_trip(tmp_path, wide):
    vocab = [f"w{i}" for i in range(30)]
    model = GloVeV(approximation="auto").fit(wide.X, wide.W, wide.V, wide.b, wide.c, vocab=vocab)
    path = model.save(tmp_path / "glove_v")
    loaded = uqkit.load(path)
    for word in ("w0", "w7", "w29"):
        np.testing.assert_array_equal(loaded.covariance(word), model.covariance(word))
    assert loaded.similarity("w1", "w2") == model.similarity("w1", "w2") or np.isclose(
        loaded.similarity("w1", "w2").std_error, model.similarity("w1", "w2").std_error
    )
    assert loaded.insufficient_words_ == model.insufficient_words_


def test_estimator_conventions(data):
    model = GloVeV(approximation="auto", frobenius_share=0.95)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.covariance(0)
    with pytest.raises(ValueError, match="frobenius_share"):
        GloVeV(frobenius_share=1.5).fit(data.X, data.W, data.V, data.b, data.c)
    with pytest.raises(InvalidInputError, match="V has shape"):
        GloVeV().fit(data.X, data.W, data.V[:-1], data.b, data.c)
    with pytest.raises(InvalidInputError, match="NaN"):
        GloVeV().fit(data.X, data.W * np.nan, data.V, data.b, data.c)
    tensors = [torch.as_tensor(a) for a in (data.W, data.V, data.b, data.c)]
    from_torch = GloVeV().fit(data.X, *tensors)
    np.testing.assert_array_equal(from_torch.vectors_, data.W)


def test_refit_with_other_storage_leaves_no_stale_arrays(data):
    model = GloVeV().fit(data.X, data.W, data.V, data.b, data.c)
    model.set_params(approximation="diagonal").fit(data.X, data.W, data.V, data.b, data.c)
    assert not hasattr(model, "covariances_")
    np.testing.assert_array_equal(np.diag(model.covariance(0)), model.diagonals_[0])
