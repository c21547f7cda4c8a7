"""SWAG: zero covariance is SWA, seeded draws, BatchNorm statistics per draw, wrapping."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import uqkit
from tests.helpers import blobs, sine_data
from uqkit.posthoc import SWAGClassifier, SWAGRegressor

SETTINGS = dict(hidden_layers=(16,), epochs=15, lr=1e-2, swa_epochs=6, max_rank=4,
                device="cpu", random_state=0)


def _swa_outputs(model, X):
    with torch.no_grad():
        return model.network_(torch.as_tensor(model._scaled_features(X), dtype=torch.float32))


def test_zero_scale_is_swa():
    X, y = sine_data(120)
    model = SWAGRegressor(scale=0.0, n_samples=3, **SETTINGS).fit(X, y)
    pred = model.predict_uncertainty(X)
    np.testing.assert_array_equal(pred.epistemic, 0.0)
    swa = _swa_outputs(model, X).double()
    np.testing.assert_allclose(pred.mean, swa[:, 0].numpy() * model.y_scale_[0]
                               + model.y_mean_[0], rtol=1e-6, atol=1e-7)
    # the SWA weights are the average of the collected iterates (AveragedModel)
    assert model.swa_deviations_.shape == (4, model.swa_mean_.numel())
    assert torch.all(model.swa_sq_mean_ >= model.swa_mean_**2 - 1e-6)


def test_draws_are_seeded_and_spread():
    X, y = sine_data(120)
    model = SWAGRegressor(n_samples=6, **SETTINGS).fit(X, y)
    first, second = model.predict_uncertainty(X[:8]), model.predict_uncertainty(X[:8])
    np.testing.assert_array_equal(first.member_means, second.member_means)
    assert (first.epistemic > 0).all()


def test_epistemic_is_higher_far_from_the_data():
    X, y = sine_data(200)
    model = SWAGRegressor(n_samples=20, **{**SETTINGS, "epochs": 40}).fit(X, y)
    near = model.predict_uncertainty(np.linspace(-1.5, 1.5, 20)[:, None]).epistemic.mean()
    far = model.predict_uncertainty(np.linspace(6, 8, 20)[:, None]).epistemic.mean()
    assert far > 3 * near


def test_batchnorm_statistics_are_updated_for_each_draw():
    X, labels = blobs(150)

    def module(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, 16), nn.BatchNorm1d(16), nn.ReLU(),
                             nn.Linear(16, n_out))

    model = SWAGClassifier(module=module, n_samples=3, scale=0.0, **SETTINGS).fit(X, labels)
    assert model.bn_inputs_ is not None
    bn = model.network_[1]
    with torch.no_grad():  # update_bn: the average of the batch means of the training rows
        hidden = model.network_[0](model.bn_inputs_)
    batch_means = torch.stack([part.mean(0) for part in torch.split(hidden, 100)])
    torch.testing.assert_close(bn.running_mean, batch_means.mean(0), rtol=1e-4, atol=1e-5)
    pred = model.predict_uncertainty(X[:5])
    expected = torch.softmax(_swa_outputs(model, X[:5]).double(), -1).numpy()
    np.testing.assert_allclose(pred.member_probs[0], expected, rtol=1e-5, atol=1e-7)


def test_from_module_runs_the_swa_phase_on_a_trained_network():
    X, labels = blobs(100)
    y = np.searchsorted(np.unique(labels), labels)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    before = [p.detach().clone() for p in net.parameters()]
    model = SWAGClassifier.from_module(net, X, y, swa_epochs=4, n_samples=5, device="cpu",
                                       random_state=0)
    assert model.predict_uncertainty(X[:4]).member_probs.shape == (5, 4, 3)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # not changed


def test_save_and_load_give_the_same_draws(tmp_path):
    X, y = sine_data(80)
    model = SWAGRegressor(n_samples=4, **SETTINGS).fit(X, y)
    loaded = uqkit.load(model.save(tmp_path / "swag"))
    np.testing.assert_array_equal(loaded.predict_uncertainty(X).member_means,
                                  model.predict_uncertainty(X).member_means)
