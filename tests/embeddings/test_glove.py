"""The GloVe trainer: it recovers an exact log-bilinear model, is seeded locally, stops on NaN."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from uqkit.embeddings import GloVe, glove_weight
from uqkit.exceptions import DivergenceError


def exact_model(n=30, dim=2, seed=0):
    rng = np.random.default_rng(seed)
    W, V = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    b, c = rng.uniform(1, 3, n), rng.uniform(1, 3, n)
    return np.exp(W @ V.T + b[:, None] + c[None, :])


def test_weight_function_closed_form():
    x = np.array([1.0, 50.0, 100.0, 400.0])
    np.testing.assert_allclose(glove_weight(x), [0.01**0.75, 0.5**0.75, 1.0, 1.0])
    np.testing.assert_allclose(
        glove_weight(x, x_max=10.0, weight_exponent=1.0), [0.1, 1.0, 1.0, 1.0]
    )


def test_recovers_exact_log_bilinear_model():
    X = exact_model()
    glove = GloVe(n_components=2, epochs=200, batch_size=128, lr=1.0, random_state=0)
    glove.fit(X)
    fitted = glove.W_ @ glove.V_.T + glove.b_[:, None] + glove.c_[None, :]
    weights = glove_weight(X)
    rmse = np.sqrt(np.sum(weights * (fitted - np.log(X)) ** 2) / weights.sum())
    assert rmse < 0.05
    (history,) = glove.history_
    assert history["train_loss"][-1] < 1e-2 * history["train_loss"][0]
    assert history["epochs"] == history["best_epoch"] == glove.n_iter_ == 200
    assert history["member"] == 0 and history["val_loss"] == []
    assert glove.W_.shape == (30, 2) and glove.c_.shape == (30,)


def test_seeded_with_local_generators():
    X = exact_model(n=12)
    params = dict(n_components=2, epochs=3, batch_size=32, random_state=7)
    first, second = GloVe(**params).fit(X), GloVe(**params).fit(X)
    np.testing.assert_array_equal(first.W_, second.W_)
    other = GloVe(**{**params, "random_state": 8}).fit(X)
    assert not np.allclose(first.W_, other.W_)
    assert clone(GloVe(**params)).get_params() == GloVe(**params).get_params()


def test_divergence_is_an_error():
    with pytest.raises(DivergenceError, match="diverged at epoch"):
        GloVe(n_components=2, epochs=2, lr=1e30, random_state=0).fit(exact_model())


def test_invalid_parameter():
    with pytest.raises(ValueError, match="n_components"):
        GloVe(n_components=0).fit(exact_model(n=5))


def test_save_and_load(tmp_path):
    import uqkit

    glove = GloVe(n_components=2, epochs=2, batch_size=64, random_state=0).fit(exact_model(n=8))
    loaded = uqkit.load(glove.save(tmp_path / "glove"))
    for name in ("W_", "V_", "b_", "c_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(glove, name))
    assert loaded.history_ == glove.history_
