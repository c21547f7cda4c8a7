"""Small data and networks for the DCA tests."""

import numpy as np
import pytest
import torch
from torch import nn


@pytest.fixture
def blobs3():
    """Three Gaussian blobs in 2-D (string labels), 150 rows."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    index = rng.integers(0, 3, size=150)
    X = centers[index] + 0.6 * rng.normal(size=(150, 2))
    return X, np.array(["a", "b", "c"])[index]


@pytest.fixture
def sine():
    """1-D regression y = sin(2x) + 0.1 noise, 120 rows."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(120, 1))
    return X, np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=120)


def small_net(with_norm: bool = False) -> nn.Module:
    """Linear(3, 6) [BatchNorm1d] ReLU Linear(6, 4) ReLU Linear(4, 2)."""
    layers = [nn.Linear(3, 6)]
    if with_norm:
        layers.append(nn.BatchNorm1d(6))
    layers += [nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)]
    return nn.Sequential(*layers).double()


@pytest.fixture
def net():
    return small_net()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    y = torch.randint(2, (16,), generator=generator)
    return x, y


@pytest.fixture
def make_net():
    return small_net
