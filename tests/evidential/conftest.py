"""Small data sets for the evidential tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def cubic_data():
    """Amini et al. (2020) toy problem: y = x^3 + N(0, 3^2), x uniform in [-4, 4]."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-4, 4, size=(300, 1))
    return X, X[:, 0] ** 3 + 3.0 * rng.normal(size=300)


@pytest.fixture
def blob_data():
    """Three well separated Gaussian blobs in 2-D with string labels."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    index = rng.integers(0, 3, size=240)
    X = centers[index] + 0.7 * rng.normal(size=(240, 2))
    return X, np.array(["a", "b", "c"])[index]


@pytest.fixture
def tiny_images():
    """60 random 16x16 one-channel 'images', flattened, with a label from their mean brightness."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 256)).astype(np.float32)
    X[:30] += 0.5
    y = np.repeat([1, 0], 30)
    return X, y
