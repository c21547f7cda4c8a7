"""Seeded re-initialisation of component instances (uqkit/dca/_reinitialize.py)."""

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from uqkit.dca import reinitialize
from uqkit.exceptions import InvalidInputError


def test_reinitialize_is_seeded_and_follows_torch_defaults():
    layer = nn.Linear(50, 40)
    a = reinitialize(layer, 3).weight.detach().clone()
    b = reinitialize(layer, 3).weight.detach().clone()
    c = reinitialize(layer, 4).weight.detach().clone()
    assert torch.equal(a, b) and not torch.equal(a, c)
    # torch's default Linear init is uniform on ±1/sqrt(fan_in): Kolmogorov-Smirnov against it
    bound = 1 / np.sqrt(50)
    p = stats.kstest(a.numpy().ravel(), stats.uniform(-bound, 2 * bound).cdf).pvalue
    assert p > 1e-3
    conv = reinitialize(nn.Conv2d(3, 8, 3), 0)
    assert float(conv.weight.detach().abs().max()) <= 1 / np.sqrt(27)


def test_reinitialize_leaves_the_global_random_state_alone():
    class Custom(nn.Module):  # a layer with its own reset_parameters using the global RNG
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.empty(5))
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.normal_(self.scale)

    module = nn.Sequential(nn.Linear(2, 2), Custom(), nn.BatchNorm1d(2))
    before = torch.get_rng_state()
    first = reinitialize(module, 1)[1].scale.detach().clone()
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(reinitialize(module, 1)[1].scale, first)
    assert not torch.equal(reinitialize(module, 2)[1].scale, first)


def test_a_layer_that_cannot_be_reinitialised_is_refused():
    class Opaque(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))

    with pytest.raises(InvalidInputError, match="reset_parameters"):
        reinitialize(Opaque(), 0)
