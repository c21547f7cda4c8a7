"""Ensemble value heads, their predictions and the critic losses."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.losses import (
    biev_weights,
    biv_weights,
    gaussian_critic_loss,
    gaussian_nll,
    ggd_critic_loss,
    ggd_nll,
    risk_averse_weights,
)
from uqkit.nn import (
    GaussianValueHead,
    GGDValueHead,
    gaussian_ensemble_prediction,
    ggd_ensemble_prediction,
)
from uqkit.prediction import RegressionPrediction


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- heads
def test_ggd_head_shapes_initial_shape_and_mean_forward():
    head = GGDValueHead(3, n_members=4, hidden_layers=(8,), generator=_gen(0))
    x = torch.randn(6, 3, generator=_gen(1))
    out = head.members(x)
    assert out.values.shape == out.scale.shape == out.shape.shape == (4, 6)
    assert torch.allclose(out.scale, torch.ones(4, 6))
    assert torch.allclose(out.shape, torch.full((4, 6), 2.0), atol=0.05)  # starts Gaussian
    torch.testing.assert_close(head(x), out.values.mean(0, keepdim=True).T)
    # members are independent networks with their own initial weights
    assert float(out.values.detach().std(0).mean()) > 1e-3


def test_head_init_is_reproducible_and_learned_scale_starts_at_one():
    a = GGDValueHead(3, n_members=3, learn_scale=True, generator=_gen(5))
    b = GGDValueHead(3, n_members=3, learn_scale=True, generator=_gen(5))
    x = torch.randn(4, 3, generator=_gen(2))
    torch.testing.assert_close(a.members(x).values, b.members(x).values)
    assert torch.allclose(a.members(x).scale, torch.ones(3, 4), atol=0.05)


def test_gaussian_head_and_input_checks():
    head = GaussianValueHead(2, n_members=3, generator=_gen(0))
    out = head.members(torch.zeros(5, 2))
    assert out.variance.shape == (3, 5) and bool((out.variance > 0).all())
    with pytest.raises(InvalidInputError, match="shape"):
        head.members(torch.zeros(5, 3))
    with pytest.raises(InvalidInputError, match="n_members"):
        GGDValueHead(2, n_members=0)


# ---------------------------------------------------------------- predictions
def test_single_member_prediction_is_that_members_ggd():
    values, alpha, beta = np.array([[0.3, -1.0]]), np.array([[0.7, 1.9]]), np.array([[1.3, 2.6]])
    pred = ggd_ensemble_prediction(values, alpha, beta)
    assert pred.distribution == "ggd"
    np.testing.assert_array_equal(pred.scale, alpha[0])
    np.testing.assert_array_equal(pred.shape, beta[0])
    np.testing.assert_array_equal(pred.epistemic, [0.0, 0.0])
    y = np.array([0.1, 0.4])
    np.testing.assert_allclose(
        pred.log_prob(y), stats.gennorm.logpdf(y, beta[0], loc=values[0], scale=alpha[0])
    )
    np.testing.assert_allclose(pred.aleatoric, stats.gennorm.var(beta[0], scale=alpha[0]))


def test_ensemble_prediction_follows_the_law_of_total_variance():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 7))
    alpha, beta = rng.uniform(0.5, 2, (5, 7)), rng.uniform(0.8, 3, (5, 7))
    pred = ggd_ensemble_prediction(values, alpha, beta)
    np.testing.assert_allclose(pred.mean, values.mean(0))
    np.testing.assert_allclose(pred.epistemic, values.var(0))
    np.testing.assert_allclose(pred.aleatoric, stats.gennorm.var(beta, scale=alpha).mean(0))
    np.testing.assert_allclose(pred.total, pred.aleatoric + pred.epistemic)
    agreeing = ggd_ensemble_prediction(np.tile(values[:1], (5, 1)), alpha, beta)
    np.testing.assert_array_equal(agreeing.epistemic, np.zeros(7))


def test_gaussian_prediction_is_the_mixture_and_non_finite_raises():
    values, variance = np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([[1.0, 0.5], [3.0, 0.5]])
    pred = gaussian_ensemble_prediction(values, variance)
    ref = RegressionPrediction.mixture(values, variance)
    np.testing.assert_allclose(pred.total, ref.total)
    assert pred.distribution == "mixture"
    with pytest.raises(DivergenceError, match="non-finite"):
        ggd_ensemble_prediction([[np.nan]], [[1.0]], [[1.0]])


# ---------------------------------------------------------------- losses
def _batch(seed=0, n=5, b=32):
    g = _gen(seed)
    values = torch.randn(n, b, generator=g, dtype=torch.float64).requires_grad_()
    returns = torch.randn(n, b, generator=g, dtype=torch.float64) * 3
    beta = (torch.rand(n, b, generator=g, dtype=torch.float64) * 2 + 0.5).requires_grad_()
    return values, returns, beta


def test_risk_averse_weights_sum_to_one_over_members():
    beta = torch.rand(5, 9, generator=_gen(0)) + 0.1
    w = risk_averse_weights(beta)
    torch.testing.assert_close(w.sum(0), torch.ones(9))
    assert bool((w.argmax(0) == beta.argmax(0)).all())


def test_ggd_critic_loss_matches_its_definition():
    values, returns, beta = _batch()
    terms = ggd_critic_loss(values, returns, beta, weighting="biev", coef=0.1)
    delta = (returns - values).detach()
    nll = ggd_nll(delta, 1.0, beta.detach(), reduction="none")
    w_ra = beta.detach() / beta.detach().sum(0)
    likelihood = (w_ra * nll).sum(0).mean()
    w = biev_weights(delta, 16)
    regularizer = (w * delta.square().mean(0)).sum()
    torch.testing.assert_close(terms.likelihood.detach(), likelihood)
    torch.testing.assert_close(terms.regularizer.detach(), regularizer)
    torch.testing.assert_close(terms.total.detach(), likelihood + 0.1 * regularizer)
    torch.testing.assert_close(terms.sample_weights, w)


def test_weights_are_constants_in_the_gradient():
    values, returns, beta = _batch(1)
    ggd_critic_loss(values, returns, beta, weighting="biev").total.backward()
    # the same loss with explicitly detached weights gives the same gradients
    v2 = values.detach().clone().requires_grad_()
    b2 = beta.detach().clone().requires_grad_()
    delta = returns - v2
    w_ra = (b2 / b2.sum(0)).detach()
    w = biev_weights(delta.detach(), 16)
    manual = (w_ra * ggd_nll(delta, 1.0, b2, reduction="none")).sum(0).mean()
    manual = manual + 0.1 * (w * delta.square().mean(0)).sum()
    manual.backward()
    torch.testing.assert_close(values.grad, v2.grad)
    torch.testing.assert_close(beta.grad, b2.grad)


def test_biv_regularizer_uses_value_variance_and_mae_option():
    values, returns, beta = _batch(2)
    terms = ggd_critic_loss(values, returns, beta, weighting="biv", regression_loss="mae",
                            gamma=0.9)
    w = biv_weights(0.81 * values.detach().var(0), 16)
    delta = (returns - values).detach()
    torch.testing.assert_close(terms.regularizer.detach(), (w * delta.abs().mean(0)).sum())
    none = ggd_critic_loss(values, returns, beta, weighting=None)
    assert none.sample_weights is None and float(none.regularizer) == 0.0
    with pytest.raises(InvalidInputError, match="weighting"):
        ggd_critic_loss(values, returns, beta, weighting="other")
    with pytest.raises(InvalidInputError, match="shape"):
        ggd_critic_loss(values, returns[:, :3], beta)


def test_gaussian_critic_loss_and_shared_returns():
    values, returns, _ = _batch(3)
    variance = torch.rand(5, 32, generator=_gen(4), dtype=torch.float64) + 0.2
    shared = returns[0]
    terms = gaussian_critic_loss(values, shared, variance, weighting=None)
    expected = gaussian_nll(values.detach(), variance, shared, reduction="mean")
    torch.testing.assert_close(terms.total.detach(), expected)


def test_gaussian_critic_nll_is_bitwise_the_former_rl_formula():
    # uqkit.rl had a Gaussian NLL of its own, 0.5 * (log 2 pi + log var + delta^2 / var); the
    # critic loss now uses uqkit.losses.gaussian_nll and must give exactly the same numbers
    values, returns, _ = _batch(5)
    variance = torch.rand(5, 32, generator=_gen(6), dtype=torch.float64) + 0.1
    for dtype in (torch.float64, torch.float32):
        v, r, var = values.detach().to(dtype), returns.to(dtype), variance.to(dtype)
        delta = r - v
        former = (0.5 * (math.log(2 * math.pi) + torch.log(var) + delta.square() / var)).mean()
        terms = gaussian_critic_loss(v, r, var, weighting=None)
        assert torch.equal(terms.likelihood, former)
    # a float64 variance with float32 values is cast to float32, as before
    v32 = values.detach().float()
    mixed = gaussian_critic_loss(v32, returns.float(), variance, weighting=None)
    assert mixed.likelihood.dtype == torch.float32


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("true_beta", [1.0, 3.0])
def test_nll_gradient_vanishes_at_the_maximum_likelihood_shape(true_beta):
    noise = stats.gennorm.rvs(true_beta, scale=1.0, size=4000, random_state=0)
    mle = stats.gennorm.fit(noise, floc=0, fscale=1)[0]
    assert mle == pytest.approx(true_beta, rel=0.1)
    beta = torch.tensor(mle, dtype=torch.float64, requires_grad=True)
    loss = ggd_nll(torch.tensor(noise), 1.0, beta)
    loss.backward()
    assert abs(float(beta.grad)) < 1e-3
    for step in (-0.1, 0.1):
        assert float(ggd_nll(torch.tensor(noise), 1.0, mle + step)) > float(loss.detach())


def test_head_learns_heavier_tails_for_laplace_than_for_gaussian_targets():
    x = torch.rand(512, 1, generator=_gen(0)) * 2 - 1
    rng = np.random.default_rng(0)
    fitted = {}
    for name, noise in {
        "laplace": rng.laplace(0, 1.0, 512),  # GGD(scale=1, shape=1)
        "gaussian": rng.normal(0, np.sqrt(0.5), 512),  # GGD(scale=1, shape=2)
    }.items():
        y = torch.sin(3 * x[:, 0]) + torch.tensor(noise, dtype=torch.float32)
        head = GGDValueHead(1, n_members=2, hidden_layers=(32,), generator=_gen(1))
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(150):
            out = head.members(x)
            loss = ggd_critic_loss(out.values, y, out.shape, weighting=None).total
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        fitted[name] = float(head.members(x).shape.detach().mean())
    assert fitted["laplace"] == pytest.approx(1.0, abs=0.35)
    assert fitted["gaussian"] == pytest.approx(2.0, abs=0.6)
    assert fitted["laplace"] < fitted["gaussian"]
