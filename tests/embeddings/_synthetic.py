"""Synthetic co-occurrence data generated from the GloVe-V model itself (test helper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from uqkit.embeddings import glove_weight


@dataclass
class SyntheticGlove:
    X: sparse.csr_matrix
    W: np.ndarray
    V: np.ndarray
    b: np.ndarray
    c: np.ndarray


def synthetic_glove(
    *,
    n_words: int,
    n_contexts: int,
    dim: int,
    n_observed: int,
    sigma: float,
    seed: int,
    x_max: float = 100.0,
    weight_exponent: float = 0.75,
) -> SyntheticGlove:
    """Draw ``log X_ij = w_i.v_j + b_i + c_j + e_ij`` with ``Var e_ij = sigma^2 / f(X_ij)``.

    Each word observes ``n_observed`` random contexts. Counts span both sides of ``x_max`` so the
    weights vary. The weight uses the noiseless count; with a small ``sigma`` it equals the weight
    of the observed count up to a factor ``exp(weight_exponent * e_ij)`` close to one.
    """
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_words, dim))
    V = rng.normal(size=(n_contexts, dim)) * 0.6
    b = rng.uniform(0.5, 2.5, size=n_words)
    c = rng.uniform(0.5, 3.0, size=n_contexts)
    rows = np.repeat(np.arange(n_words), n_observed)
    cols = np.concatenate(
        [rng.choice(n_contexts, size=n_observed, replace=False) for _ in range(n_words)]
    )
    mean = np.einsum("nd,nd->n", W[rows], V[cols]) + b[rows] + c[cols]
    weight = glove_weight(np.exp(mean), x_max, weight_exponent)
    log_x = mean + rng.normal(size=mean.shape) * sigma / np.sqrt(weight)
    X = sparse.csr_matrix((np.exp(log_x), (rows, cols)), shape=(n_words, n_contexts))
    return SyntheticGlove(X, W, V, b, c)
