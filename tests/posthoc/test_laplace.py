"""Laplace estimators: the predictions of laplace-torch called directly, every structure."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import blobs, sine_data
from uqkit._random import derive_seed
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError, ModelFileError

laplace = pytest.importorskip("laplace")

from uqkit.posthoc import LaplaceClassifier, LaplaceRegressor  # noqa: E402
from uqkit.posthoc._laplace import SAMPLE_STREAM  # noqa: E402

SETTINGS = dict(hidden_layers=(16,), epochs=15, lr=1e-2, device="cpu", random_state=0)


def _trained(net, X, y, loss, steps=200):
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    X, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(net(X), y).backward()
        optimizer.step()
    return net


def _loader(X, y, batch_size=100):
    data = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.float32), y)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)


def test_classifier_equals_laplace_torch_called_directly():
    X, labels = blobs(150)
    y = np.searchsorted(np.unique(labels), labels)
    torch.manual_seed(0)
    net = _trained(nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)), X, y,
                   nn.functional.cross_entropy)
    model = LaplaceClassifier.from_module(net, X, y, n_samples=7, device="cpu", random_state=3)
    direct = laplace.Laplace(copy.deepcopy(net), "classification", subset_of_weights="last_layer",
                             hessian_structure="kron", prior_precision=1.0)
    direct.fit(_loader(X, torch.as_tensor(y)))
    direct.optimize_prior_precision(method="marglik", pred_type="glm")
    generator = torch.Generator().manual_seed(derive_seed(model.random_state_, SAMPLE_STREAM))
    expected = direct.predictive_samples(torch.as_tensor(X[:9], dtype=torch.float32),
                                         pred_type="glm", n_samples=7, generator=generator)
    pred = model.predict_uncertainty(X[:9])
    assert model.prior_precision_ == pytest.approx(float(direct.prior_precision))
    np.testing.assert_allclose(pred.member_probs, expected.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(pred.probs, model.predict_uncertainty(X[:9]).probs)


class _Mean(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[..., :1]


def test_regressor_equals_laplace_torch_called_directly():
    X, y = sine_data(120)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 2))

    def nll(out, target):
        var = nn.functional.softplus(out[:, 1]) + 1e-6
        return (0.5 * torch.log(var) + 0.5 * (out[:, 0] - target) ** 2 / var).mean()

    net = _trained(net, X, y.astype(np.float32), nll)
    model = LaplaceRegressor.from_module(net, X, y, subset_of_weights="all",
                                         hessian_structure="diag", device="cpu")
    Xt = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        var = nn.functional.softplus(net(Xt)[:, 1]) + 1e-6
    direct = laplace.Laplace(_Mean(copy.deepcopy(net)), "regression", subset_of_weights="all",
                             hessian_structure="diag", prior_precision=1.0,
                             sigma_noise=float(var.mean().sqrt()))
    direct.fit(_loader(X, torch.as_tensor(y, dtype=torch.float32)[:, None]))
    direct.optimize_prior_precision(method="marglik", pred_type="glm")
    f_mu, f_var = direct(Xt[:9], pred_type="glm")
    pred = model.predict_uncertainty(X[:9])
    np.testing.assert_allclose(pred.mean, f_mu[:, 0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.epistemic, f_var[:, 0, 0].detach().numpy(), rtol=1e-4)
    np.testing.assert_allclose(pred.aleatoric, var[:9].numpy(), rtol=1e-5)


@pytest.mark.parametrize("subset", ["last_layer", "all"])
@pytest.mark.parametrize("structure", ["diag", "kron", "full"])
def test_every_structure_keeps_the_network_mean(subset, structure):
    X, y = sine_data(80)
    model = LaplaceRegressor(subset_of_weights=subset, hessian_structure=structure,
                             **SETTINGS).fit(X, y)
    plain = DeepEnsembleRegressor(n_members=1, **SETTINGS).fit(X, y)
    pred, ref = model.predict_uncertainty(X[:10]), plain.predict_uncertainty(X[:10])
    np.testing.assert_allclose(pred.mean, ref.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.aleatoric, ref.aleatoric, rtol=1e-5)
    assert (pred.epistemic > 0).all() and model.prior_precision_ > 0


def test_epistemic_is_higher_far_from_the_data():
    X, y = sine_data(200)
    model = LaplaceRegressor(**{**SETTINGS, "epochs": 40}).fit(X, y)
    near = model.predict_uncertainty(np.linspace(-1.5, 1.5, 20)[:, None]).epistemic.mean()
    far = model.predict_uncertainty(np.linspace(6, 8, 20)[:, None]).epistemic.mean()
    assert far > 3 * near


def test_save_is_refused_with_the_way_back(tmp_path):
    X, y = blobs(80)
    model = LaplaceClassifier(n_samples=3, **SETTINGS).fit(X, y)
    with pytest.raises(ModelFileError, match="from_module"):
        model.save(tmp_path / "laplace")


def test_last_layer_of_a_gaussian_user_module_is_refused():
    X, y = sine_data(40)
    with pytest.raises(InvalidInputError, match="subset_of_weights='all'"):
        LaplaceRegressor.from_module(nn.Linear(1, 2), X, y, device="cpu")


def test_a_singular_predictive_covariance_far_from_the_data_is_a_uqkit_error():
    # found by tests/adversarial: X = 1e30 made laplace-torch's Cholesky raise torch's LinAlgError
    from tests.helpers import QUICK
    from uqkit.exceptions import DivergenceError

    X, y = blobs(n=120)
    model = LaplaceClassifier(**QUICK["LaplaceClassifier"]).fit(X, y)
    try:
        pred = model.predict_uncertainty(np.full((2, X.shape[1]), 1e30))
    except DivergenceError as err:
        assert "not positive definite" in str(err) and "training range" in str(err)
    else:  # a finite answer is acceptable too
        assert np.isfinite(pred.probs).all()
