"""Heads, the Dirichlet uncertainty split and the image network."""

import numpy as np
import pytest
import torch
from scipy import special

from uqkit.evidential import ImageCNN, dirichlet_prediction, nig_prediction
from uqkit.losses import EvidentialClassificationLoss, EvidentialRegressionLoss
from uqkit.nn import (
    DirichletHead,
    NormalInverseGammaHead,
    dirichlet_concentration,
    dirichlet_evidence,
    nig_parameters,
)


def test_evidence_functions():
    logits = torch.tensor([-30.0, -1.0, 0.0, 2.0, 30.0])
    assert torch.equal(dirichlet_evidence(logits, "relu"), torch.tensor([0, 0, 0, 2.0, 30.0]))
    assert torch.allclose(dirichlet_evidence(logits, "softplus"), torch.log1p(torch.exp(logits)))
    clamped = dirichlet_evidence(logits, "exp", clamp=10.0)
    assert torch.allclose(clamped, torch.exp(logits.clamp(-10, 10)))
    assert float(clamped.max()) == pytest.approx(np.exp(10.0))
    concentration = dirichlet_concentration(logits, "relu")
    assert torch.equal(concentration, dirichlet_evidence(logits, "relu") + 1)
    with pytest.raises(ValueError, match="evidence must be one of"):
        dirichlet_evidence(logits, "sigmoid")


def test_nig_parameters_order_and_constraints():
    raw = torch.tensor([[0.5, -2.0, -50.0, 3.0], [-1.0, 40.0, 0.0, -800.0]])
    gamma, nu, alpha, beta = nig_parameters(raw)
    softplus = torch.nn.functional.softplus
    assert torch.equal(gamma[:, 0], raw[:, 0])
    assert torch.allclose(nu[:, 0], softplus(raw[:, 1]) + 1e-6)
    assert torch.allclose(alpha[:, 0], softplus(raw[:, 2]) + 1 + 1e-6)
    assert torch.allclose(beta[:, 0], softplus(raw[:, 3]) + 1e-6)
    assert bool((alpha > 1).all()) and bool((nu > 0).all()) and bool((beta > 0).all())
    # alpha - 1 and nu never reach zero, so both variances of the prediction stay finite
    pred = nig_prediction(gamma[:, 0], nu[:, 0], alpha[:, 0], beta[:, 0])
    assert np.all(np.isfinite(pred.aleatoric)) and np.all(np.isfinite(pred.epistemic))


def test_heads_work_inside_a_users_model():
    with torch.random.fork_rng(devices=[]):  # a seeded test model; the global RNG is restored
        torch.manual_seed(0)
        X = torch.randn(128, 4)
        body = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU())
        head = DirichletHead(16, 2, evidence="relu")
        nig = NormalInverseGammaHead(16, n_targets=2)
    labels = (X[:, 0] > 0).long()
    criterion = EvidentialClassificationLoss("mse", annealing_epochs=5)
    optimizer = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for epoch in range(30):
        criterion.set_epoch(epoch)
        loss = criterion(head(body(X)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    params = nig(body(X))
    assert params.gamma.shape == (128, 2)
    EvidentialRegressionLoss()(params, torch.zeros(128, 2)).backward()
    assert nig.linear.weight.grad is not None


def _dirichlet_samples(concentration: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.dirichlet(a, size=n) for a in concentration], axis=1)  # (n, rows, C)


def test_closed_form_entropy_split_matches_monte_carlo():
    concentration = np.array(
        [[20.0, 1.0, 1.0], [1.0, 1.0, 1.0], [3.0, 2.5, 0.5], [50.0, 48.0, 1.0]]
    )
    pred = dirichlet_prediction(concentration)
    p = _dirichlet_samples(concentration, 200_000)
    entropy = -np.sum(special.xlogy(p, p), axis=-1)  # (n, rows)
    mean_p = p.mean(axis=0)
    assert np.allclose(pred.probs, mean_p, atol=3e-3)
    assert np.allclose(pred.aleatoric, entropy.mean(axis=0), atol=5e-3)  # expected entropy
    mutual_information = -np.sum(special.xlogy(mean_p, mean_p), axis=-1) - entropy.mean(axis=0)
    assert np.allclose(pred.epistemic, mutual_information, atol=5e-3)
    assert np.allclose(pred.total, pred.aleatoric + pred.epistemic)
    # the flat Dir(1) carries the most epistemic uncertainty of these rows
    assert np.argmax(pred.vacuity) == 1 and np.argmax(pred.epistemic) == 1


def test_vacuity_and_differential_entropy():
    concentration = np.array([[2.0, 3.0, 5.0], [1.0, 1.0, 1.0]])
    pred = dirichlet_prediction(concentration, classes=["x", "y", "z"])
    assert np.allclose(pred.vacuity, [3 / 10, 1.0])
    reference = torch.distributions.Dirichlet(torch.as_tensor(concentration)).entropy().numpy()
    assert np.allclose(pred.differential_entropy, reference)
    assert list(pred.label) == ["z", "x"]
    with pytest.raises(ValueError, match="positive array"):
        dirichlet_prediction([[0.0, 1.0]])


def test_nig_prediction_rejects_invalid_parameters():
    with pytest.raises(ValueError, match="alpha > 1"):
        nig_prediction([0.0], [1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        nig_prediction([np.nan], [1.0], [2.0], [1.0])
    with pytest.raises(ValueError, match="uncertainty must be"):
        nig_prediction([0.0], [1.0], [2.0], [1.0], uncertainty="sensoy")


def test_image_cnn_reshapes_flat_pixels():
    net = ImageCNN(3 * 20 * 24, 5, image_shape=(3, 20, 24), channels=(4, 6), hidden_layers=(7,))
    x = torch.randn(2, 3 * 20 * 24)
    assert net(x).shape == (2, 5)
    # the first convolution sees the image, not the flat row: equal to a manual reshape
    manual = net.head(net.features(x.reshape(2, 3, 20, 24)).flatten(1))
    assert torch.equal(net(x), manual)
    with pytest.raises(ValueError, match="pixels but the input has"):
        ImageCNN(100, 2)
    with pytest.raises(ValueError, match="at least 16x16"):
        ImageCNN(144, 2, image_shape=(1, 12, 12))
