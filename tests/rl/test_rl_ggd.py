"""GGD helpers and NLL against scipy.stats.gennorm and closed forms."""

import numpy as np
import pytest
import torch
from scipy import special, stats

from uqkit.exceptions import InvalidInputError
from uqkit.losses import (
    gaussian_critic_loss,
    gaussian_nll,
    ggd_excess_kurtosis,
    ggd_log_pdf,
    ggd_nll,
    ggd_pdf,
    ggd_variance,
)

BETAS = np.array([0.4, 0.8, 1.0, 1.5, 2.0, 3.0, 7.5])
ALPHAS = np.array([0.3, 1.0, 2.5])


def _grid():
    rng = np.random.default_rng(0)
    beta = np.repeat(BETAS, len(ALPHAS))
    alpha = np.tile(ALPHAS, len(BETAS))
    x = rng.normal(0.0, 2.0, size=beta.shape)
    return x, alpha, beta


def test_nll_is_negative_gennorm_logpdf():
    x, alpha, beta = _grid()
    ours = ggd_nll(torch.tensor(x), torch.tensor(alpha), torch.tensor(beta), reduction="none")
    expected = -stats.gennorm.logpdf(x, beta, scale=alpha)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_log_pdf_and_pdf_match_gennorm_with_location():
    x, alpha, beta = _grid()
    loc = np.linspace(-1, 1, x.size)
    np.testing.assert_allclose(
        ggd_log_pdf(x, alpha, beta, loc).numpy(),
        stats.gennorm.logpdf(x, beta, loc=loc, scale=alpha),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        ggd_pdf(x, alpha, beta, loc).numpy(),
        stats.gennorm.pdf(x, beta, loc=loc, scale=alpha),
        rtol=1e-10,
    )


def test_pdf_integrates_to_one():
    grid = np.linspace(-60, 60, 400_001)
    for beta in (0.7, 1.0, 2.0, 5.0):
        density = ggd_pdf(torch.tensor(grid), 1.3, beta).numpy()
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("beta", BETAS)
def test_variance_and_kurtosis_match_scipy(beta):
    for alpha in ALPHAS:
        var, kurt = stats.gennorm.stats(beta, scale=alpha, moments="vk")
        assert float(ggd_variance(alpha, beta)) == pytest.approx(float(var), rel=1e-10)
        assert float(ggd_excess_kurtosis(beta)) == pytest.approx(float(kurt), rel=1e-8, abs=1e-10)


def test_variance_decreases_in_beta_up_to_its_minimum_then_tends_to_uniform():
    beta = torch.linspace(0.3, 9.0, 300, dtype=torch.float64)
    var = ggd_variance(1.0, beta)
    assert bool(torch.all(var[1:] < var[:-1]))
    # past beta ~ 9.11 the variance rises again towards that of U(-1, 1), 1/3
    beta = torch.linspace(9.3, 60.0, 300, dtype=torch.float64)
    var = ggd_variance(1.0, beta)
    assert bool(torch.all(var[1:] > var[:-1])) and float(var[-1]) < 1 / 3


def test_special_cases_gaussian_and_laplace():
    assert float(ggd_variance(1.0, 1.0)) == pytest.approx(2.0)  # Laplace(0, 1)
    assert float(ggd_excess_kurtosis(1.0)) == pytest.approx(3.0)
    assert float(ggd_excess_kurtosis(2.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(ggd_excess_kurtosis(200.0)) == pytest.approx(-1.2, abs=1e-2)  # -> uniform


def test_beta_two_is_gaussian_nll_at_matching_scale():
    rng = np.random.default_rng(1)
    delta = torch.tensor(rng.normal(0, 3, 50))
    sigma = torch.tensor(rng.uniform(0.2, 4.0, 50))
    ggd = ggd_nll(delta, sigma * np.sqrt(2.0), 2.0, reduction="none")
    gauss = gaussian_nll(torch.zeros_like(delta), sigma**2, delta, reduction="none")
    np.testing.assert_allclose(ggd.numpy(), gauss.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        gauss.numpy(), -stats.norm.logpdf(delta.numpy(), scale=sigma.numpy()), rtol=1e-12
    )


def test_reductions():
    delta = torch.tensor([0.5, -1.0, 2.0])
    none = ggd_nll(delta, 1.0, 1.5, reduction="none")
    assert none.shape == (3,)
    assert float(ggd_nll(delta, 1.0, 1.5)) == pytest.approx(float(none.mean()))
    assert float(ggd_nll(delta, 1.0, 1.5, reduction="sum")) == pytest.approx(float(none.sum()))
    with pytest.raises(InvalidInputError, match="reduction"):
        ggd_nll(delta, 1.0, 1.5, reduction="max")


def test_authors_form_equals_exact_at_beta_one_and_differs_elsewhere():
    delta = torch.tensor([0.0, 0.3, -2.0, 5.0], dtype=torch.float64)
    exact = ggd_nll(delta, 1.0, 1.0, reduction="none")
    authors = ggd_nll(delta, 1.0, 1.0, reduction="none", form="authors")
    np.testing.assert_allclose(exact.numpy(), authors.numpy())
    beta = 1.7
    authors = ggd_nll(delta, 1.0, beta, reduction="none", form="authors")
    expected = beta * delta.abs().numpy() - np.log(beta) + np.log(2.0) + special.gammaln(1 / beta)
    np.testing.assert_allclose(authors.numpy(), expected, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="form"):
        ggd_nll(delta, 1.0, 1.0, form="other")


def test_gradients_are_finite_at_zero_error_and_small_beta():
    delta = torch.tensor([0.0, 1e-9, 3.0], requires_grad=True)
    beta = torch.tensor([0.3, 0.3, 0.3], requires_grad=True)
    ggd_nll(delta, 1.0, beta).backward()
    assert torch.isfinite(delta.grad).all() and torch.isfinite(beta.grad).all()
    assert float(delta.grad[0]) == 0.0


def test_gradient_in_beta_matches_finite_difference():
    delta, alpha = torch.tensor(1.7, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    beta = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    ggd_nll(delta, alpha, beta).backward()
    eps = 1e-6
    numeric = (
        ggd_nll(delta, alpha, beta.detach() + eps) - ggd_nll(delta, alpha, beta.detach() - eps)
    ) / (2 * eps)
    assert float(beta.grad) == pytest.approx(float(numeric), rel=1e-6)


def test_invalid_parameters_raise():
    with pytest.raises(InvalidInputError, match="shape must be positive"):
        ggd_nll(0.0, 1.0, 0.0)
    with pytest.raises(InvalidInputError, match="scale must be positive"):
        ggd_variance(-1.0, 2.0)
    with pytest.raises(InvalidInputError, match="variance must be positive"):
        gaussian_critic_loss(torch.zeros(2, 3), torch.zeros(3), torch.zeros(2, 3), weighting=None)


def test_tensor_dtype_and_device_are_kept():
    out = ggd_nll(torch.zeros(3, dtype=torch.float32), 1.0, 2.0, reduction="none")
    assert out.dtype == torch.float32
