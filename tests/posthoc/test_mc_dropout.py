"""Monte Carlo dropout: identities (no dropout is the plain network), seeding, wrapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import blobs, sine_data
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.posthoc import MCDropoutClassifier, MCDropoutRegressor

SETTINGS = dict(hidden_layers=(16,), epochs=15, lr=1e-2, device="cpu", random_state=0)


def test_without_dropout_it_is_the_plain_network():
    X, y = sine_data(120)
    mc = MCDropoutRegressor(dropout=0.0, n_passes=4, **SETTINGS).fit(X, y)
    plain = DeepEnsembleRegressor(n_members=1, **SETTINGS).fit(X, y)
    pred, ref = mc.predict_uncertainty(X), plain.predict_uncertainty(X)
    assert pred.member_means.shape == (4, 120)
    np.testing.assert_array_equal(pred.epistemic, 0.0)
    np.testing.assert_allclose(pred.mean, ref.mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pred.aleatoric, ref.aleatoric, rtol=1e-6)


def test_passes_are_seeded_per_call_and_differ_from_each_other():
    X, y = sine_data(120)
    model = MCDropoutRegressor(dropout=0.2, n_passes=8, **SETTINGS).fit(X, y)
    before = torch.get_rng_state()
    first, second = model.predict_uncertainty(X[:10]), model.predict_uncertainty(X[:10])
    assert torch.equal(before, torch.get_rng_state())  # no global generator drawn from
    np.testing.assert_array_equal(first.member_means, second.member_means)
    assert (first.epistemic > 0).all()
    assert len(np.unique(first.member_means, axis=0)) == 8  # eight different masks


def test_epistemic_is_higher_far_from_the_data():
    X, y = sine_data(200)
    model = MCDropoutRegressor(dropout=0.2, n_passes=30, **{**SETTINGS, "epochs": 40}).fit(X, y)
    near = model.predict_uncertainty(np.linspace(-1.5, 1.5, 20)[:, None]).epistemic.mean()
    far = model.predict_uncertainty(np.linspace(6, 8, 20)[:, None]).epistemic.mean()
    assert far > 3 * near


def test_classifier_keeps_the_passes_as_members():
    X, y = blobs(150)
    model = MCDropoutClassifier(dropout=0.3, n_passes=6, **SETTINGS).fit(X, y)
    pred = model.predict_uncertainty(X[:7])
    assert pred.member_probs.shape == (6, 7, 3)
    np.testing.assert_allclose(pred.probs, pred.member_probs.mean(axis=0))
    assert (pred.epistemic > 0).all()


def test_from_module_wraps_a_trained_network():
    X, y = blobs(100)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    model = MCDropoutClassifier.from_module(net, X, y, n_passes=5, device="cpu", random_state=1)
    pred = model.predict_uncertainty(X[:4])
    assert pred.member_probs.shape == (5, 4, 3) and (pred.epistemic > 0).all()
    with torch.no_grad():  # each pass is the module with one dropout mask
        plain = torch.softmax(net.eval()(torch.as_tensor(X[:4], dtype=torch.float32)), -1)
    no_dropout = MCDropoutClassifier.from_module(
        nn.Sequential(*list(net)[:2], list(net)[3]), X, y, n_passes=3, device="cpu")
    np.testing.assert_allclose(no_dropout.predict_proba(X[:4]), plain.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(no_dropout.predict_uncertainty(X[:4]).epistemic, 0.0)


def test_batchnorm_modules_are_refused():
    X, y = blobs(60)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Dropout(0.2), nn.Linear(8, 3))
    with pytest.raises(InvalidInputError, match="BatchNorm"):
        MCDropoutClassifier.from_module(net, X, y, device="cpu")
    with pytest.raises(InvalidInputError, match="BatchNorm"):
        MCDropoutClassifier(module=lambda i, o: nn.Sequential(nn.Linear(i, 8), nn.BatchNorm1d(8),
                                                              nn.Linear(8, o)),
                            epochs=1, device="cpu").fit(X, y)


def test_from_module_checks_the_output_width():
    X, y = sine_data(40)
    with pytest.raises(InvalidInputError, match="means then raw variances"):
        MCDropoutRegressor.from_module(nn.Linear(1, 1), X, y, device="cpu")
