"""Tiny data sets and fast estimator settings shared by the tests."""

from __future__ import annotations

import numpy as np

FAST = {"epochs": 15, "verbose": 0, "random_state": 0}


def sine_data(n: int = 200, seed: int = 0, noise: float = 0.1):
    """1-D regression: y = sin(2x) + noise, x uniform in [-2, 2]."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    y = np.sin(2 * X[:, 0]) + noise * rng.normal(size=n)
    return X, y


def heteroscedastic_data(n: int = 1500, seed: int = 0):
    """y = x + noise whose std is 0.1 + 0.4 |x|, x uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    std = 0.1 + 0.4 * np.abs(X[:, 0])
    return X, X[:, 0] + std * rng.normal(size=n), std


def blobs(n: int = 200, seed: int = 0, labels=("a", "b", "c")):
    """Three Gaussian blobs in 2-D with string labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])[: len(labels)]
    index = rng.integers(0, len(labels), size=n)
    X = centers[index] + 0.6 * rng.normal(size=(n, 2))
    return X, np.asarray(labels)[index]
