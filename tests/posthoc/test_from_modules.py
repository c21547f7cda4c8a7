"""Deep ensembles of modules trained elsewhere (DeepEnsemble*.from_modules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import blobs, sine_data
from uqkit.calibration import TemperatureScaling
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError


def _nets(k, n_in, n_out, seed=0):
    torch.manual_seed(seed)
    return [nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out)) for _ in range(k)]


def test_copies_of_one_network_have_no_epistemic_uncertainty():
    X, y = sine_data(50)
    net = _nets(1, 1, 2)[0]
    model = DeepEnsembleRegressor.from_modules([net] * 4, X, y, device="cpu")
    pred = model.predict_uncertainty(X)
    np.testing.assert_array_equal(pred.epistemic, 0.0)
    with torch.no_grad():
        out = net(torch.as_tensor(X, dtype=torch.float32)).double()
    np.testing.assert_allclose(pred.mean, out[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(pred.aleatoric,
                               (nn.functional.softplus(out[:, 1]) + 1e-6).numpy(), rtol=1e-5)
    assert pred.member_means.shape == (4, 50) and model.n_members == 4


def test_members_keep_their_order_and_their_own_weights():
    X, labels = blobs(60)
    nets = _nets(3, 2, 3)
    model = DeepEnsembleClassifier.from_modules(nets, X, labels, device="cpu")
    pred = model.predict_uncertainty(X[:5])
    x = torch.as_tensor(X[:5], dtype=torch.float32)
    with torch.no_grad():
        expected = np.stack([torch.softmax(net(x), -1).numpy() for net in nets])
    np.testing.assert_allclose(pred.member_probs, expected, rtol=1e-5)
    assert (pred.epistemic > 0).all()
    assert list(model.classes_) == ["a", "b", "c"]


def test_mean_only_modules_with_a_stated_noise_variance():
    X, y = sine_data(30)
    nets = _nets(2, 1, 1)
    model = DeepEnsembleRegressor.from_modules(nets, X, y, noise_variance=0.04, device="cpu")
    pred = model.predict_uncertainty(X)
    np.testing.assert_allclose(pred.member_vars, 0.04, rtol=1e-6)
    assert (pred.epistemic > 0).all()


def test_calibration_wraps_an_adopted_ensemble():
    X, labels = blobs(120)
    model = DeepEnsembleClassifier.from_modules(_nets(2, 2, 3), X, labels, device="cpu")
    calibrated = TemperatureScaling(model).fit(X, labels)
    assert calibrated.predict_proba(X[:4]).shape == (4, 3)


def test_mismatched_modules_and_widths_are_refused():
    X, y = sine_data(30)
    with pytest.raises(InvalidInputError, match="one architecture"):
        DeepEnsembleRegressor.from_modules([nn.Linear(1, 2), _nets(1, 1, 2)[0]], X, y,
                                           device="cpu")
    with pytest.raises(InvalidInputError, match="noise_variance"):
        DeepEnsembleRegressor.from_modules([nn.Linear(1, 1)], X, y, device="cpu")
    with pytest.raises(InvalidInputError, match="non-empty list"):
        DeepEnsembleRegressor.from_modules([], X, y)
