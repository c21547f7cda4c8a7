"""Evidential losses against closed forms, scipy/torch references and Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from uqkit.evidential import nig_prediction
from uqkit.losses import (
    EvidentialClassificationLoss,
    EvidentialRegressionLoss,
    dirichlet_digamma_loss,
    dirichlet_kl_uniform,
    dirichlet_log_loss,
    dirichlet_mse_loss,
    evidential_classification_loss,
    evidential_regression_loss,
    kl_annealing_coefficient,
    nig_nll,
    nig_regularizer,
)
from uqkit.nn import EVIDENCE_FUNCTIONS, dirichlet_concentration, nig_parameters


def _random_nig(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    gamma = torch.randn(n, generator=g, dtype=torch.float64) * 3
    nu = torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * 2)
    alpha = 1.0 + torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * 2)
    beta = torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * 2)
    y = torch.randn(n, generator=g, dtype=torch.float64) * 5
    return y, gamma, nu, alpha, beta


# ------------------------------------------------------------------------------ NIG
def test_nig_nll_is_minus_log_student_t_density_of_the_predictive():
    y, gamma, nu, alpha, beta = _random_nig()
    scale = torch.sqrt(beta * (1 + nu) / (nu * alpha))
    reference = -stats.t.logpdf(y.numpy(), df=2 * alpha.numpy(), loc=gamma.numpy(),
                                scale=scale.numpy())
    ours = nig_nll(y, gamma, nu, alpha, beta, reduction="none").numpy()
    assert np.allclose(ours, reference, rtol=1e-10, atol=1e-10)
    # ... and the prediction object built from the same parameters agrees too
    pred = nig_prediction(gamma, nu, alpha, beta)
    assert np.allclose(pred.nll(y.numpy(), reduction="none"), reference, rtol=1e-10)


def test_nig_nll_stays_accurate_for_large_alpha():
    # alpha = 1e6: the Student-t is all but Gaussian; log1p keeps the residual term exact, and
    # what is left is the float64 rounding of lgamma(1e6) - lgamma(1e6 + 1/2) (~1e-9).
    y, gamma, nu, beta = (torch.tensor([v], dtype=torch.float64) for v in (0.3, 0.0, 2.0, 1e6))
    alpha = torch.tensor([1e6], dtype=torch.float64)
    scale = math.sqrt(1e6 * 3 / (2 * 1e6))
    reference = -stats.t.logpdf(0.3, df=2e6, loc=0.0, scale=scale)
    assert float(nig_nll(y, gamma, nu, alpha, beta)) == pytest.approx(reference, rel=1e-8)


def test_amini_split_sums_to_the_student_t_variance():
    _, gamma, nu, alpha, beta = _random_nig()
    alpha = alpha + 1.5  # df = 2 alpha > 2 for a finite variance in scipy as well
    pred = nig_prediction(gamma, nu, alpha, beta)
    scale = np.sqrt((beta * (1 + nu) / (nu * alpha)).numpy())
    variance = stats.t.var(2 * alpha.numpy(), loc=gamma.numpy(), scale=scale)
    assert np.allclose(pred.total, variance, rtol=1e-10)
    assert np.allclose(pred.aleatoric, (beta / (alpha - 1)).numpy())
    assert np.allclose(pred.epistemic, (beta / (nu * (alpha - 1))).numpy())
    lower, upper = pred.interval(0.1)
    assert np.allclose(upper, stats.t.ppf(0.95, 2 * alpha.numpy(), gamma.numpy(), scale))
    assert np.allclose(lower, stats.t.ppf(0.05, 2 * alpha.numpy(), gamma.numpy(), scale))


def test_meinert_split_keeps_the_predictive_and_changes_only_the_split():
    _, gamma, nu, alpha, beta = _random_nig(seed=1)
    amini = nig_prediction(gamma, nu, alpha, beta, uncertainty="amini")
    meinert = nig_prediction(gamma, nu, alpha, beta, uncertainty="meinert")
    assert np.allclose(meinert.aleatoric, (beta * (1 + nu) / (alpha * nu)).numpy())
    assert np.allclose(meinert.aleatoric, meinert.scale**2)
    assert np.allclose(meinert.epistemic, 1 / nu.numpy())
    for name in ("mean", "scale", "df"):
        assert np.array_equal(getattr(amini, name), getattr(meinert, name))


def test_nig_regularizer_and_total_loss():
    y, gamma, nu, alpha, _ = _random_nig(n=50)
    reg = nig_regularizer(y, gamma, nu, alpha, reduction="none")
    assert torch.allclose(reg, (y - gamma).abs() * (2 * nu + alpha))
    raw = torch.randn(50, 4, dtype=torch.float64)
    params = nig_parameters(raw)
    target = torch.randn(50, 1, dtype=torch.float64)
    total = evidential_regression_loss(target, params, regularization=0.3, reduction="none")
    expected = nig_nll(target, *params, reduction="none") + 0.3 * nig_regularizer(
        target, params.gamma, params.nu, params.alpha, reduction="none"
    )
    assert torch.allclose(total, expected)
    assert torch.allclose(EvidentialRegressionLoss(0.3)(params, target), expected.mean())


# ------------------------------------------------------------------------------ Dirichlet
def _random_concentration(n=64, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    concentration = 1.0 + torch.exp(2 * torch.randn(n, c, generator=g, dtype=torch.float64))
    labels = torch.randint(0, c, (n,), generator=g)
    return concentration, labels


def test_dirichlet_kl_equals_torch_kl_divergence():
    from torch.distributions import Dirichlet, kl_divergence

    concentration, labels = _random_concentration()
    uniform = Dirichlet(torch.ones_like(concentration))
    ours = dirichlet_kl_uniform(concentration, reduction="none")
    assert torch.allclose(ours, kl_divergence(Dirichlet(concentration), uniform), rtol=1e-10)
    # with labels: the true class's evidence is removed first, a~ = y + (1 - y) * a
    y = torch.nn.functional.one_hot(labels, concentration.shape[1]).double()
    concentration_tilde = concentration.clone()
    concentration_tilde[torch.arange(len(labels)), labels] = 1.0
    ours = dirichlet_kl_uniform(concentration, labels, reduction="none")
    assert torch.allclose(ours, kl_divergence(Dirichlet(concentration_tilde), uniform), rtol=1e-10)
    assert torch.allclose(ours, dirichlet_kl_uniform(concentration, y, reduction="none"))


def test_dirichlet_losses_equal_their_expectations_under_dirichlet_samples():
    concentration = torch.tensor([[4.0, 1.5, 2.0], [1.0, 1.0, 9.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1])
    g = torch.Generator().manual_seed(0)
    # Dirichlet samples from normalised Gamma draws (torch's sampler has no generator argument)
    gammas = torch._standard_gamma(concentration.expand(400_000, 2, 3).contiguous(), generator=g)
    p = gammas / gammas.sum(-1, keepdim=True)
    y = torch.nn.functional.one_hot(labels, 3).double()
    mc_mse = ((y - p) ** 2).sum(-1).mean(0)
    mc_ce = -torch.log(p[:, torch.arange(2), labels]).mean(0)
    assert torch.allclose(dirichlet_mse_loss(concentration, labels, "none"), mc_mse, rtol=5e-3)
    assert torch.allclose(dirichlet_digamma_loss(concentration, labels, "none"), mc_ce, rtol=5e-3)
    # the log loss is the NLL of the expected probabilities concentration / S
    expected_p = concentration / concentration.sum(-1, keepdim=True)
    assert torch.allclose(dirichlet_log_loss(concentration, labels, "none"),
                          -torch.log(expected_p[torch.arange(2), labels]))


def test_annealing_schedule_and_loss_module():
    assert [kl_annealing_coefficient(t, 10) for t in (0, 1, 5, 10, 50)] == [0, 0.1, 0.5, 1, 1]
    assert kl_annealing_coefficient(0, 0) == 1.0
    concentration, labels = _random_concentration(seed=3)
    criterion = EvidentialClassificationLoss("digamma", annealing_epochs=4, kl_weight=0.5)
    data = dirichlet_digamma_loss(concentration, labels)
    kl = dirichlet_kl_uniform(concentration, labels)
    assert torch.allclose(criterion(concentration, labels), data)  # epoch 0: no KL yet
    criterion.set_epoch(2)
    assert torch.allclose(criterion(concentration, labels), data + 0.25 * kl)
    criterion.set_epoch(9)
    assert torch.allclose(criterion(concentration, labels), data + 0.5 * kl)


def test_loss_reductions():
    concentration, labels = _random_concentration()
    per_sample = evidential_classification_loss(concentration, labels, "mse", 0.3, reduction="none")
    assert per_sample.shape == (64,)
    assert torch.allclose(evidential_classification_loss(concentration, labels, "mse", 0.3, "sum"),
                          per_sample.sum())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a, y: dirichlet_mse_loss(a, y[:3]), "integer labels must have shape"),
        (lambda a, y: dirichlet_log_loss(a, y + 10), "labels must lie in"),
        (lambda a, y: dirichlet_mse_loss(a, torch.ones(4, 2)), "one-hot targets"),
        (lambda a, y: dirichlet_mse_loss(a, y, reduction="avg"), "reduction"),
        (lambda a, y: evidential_classification_loss(a, y, loss="hinge"), "loss must be"),
        (lambda a, y: kl_annealing_coefficient(-1, 10), "non-negative"),
        (lambda a, y: nig_parameters(torch.zeros(4, 3)), "4 \\* n_targets"),
        (lambda a, y: evidential_regression_loss(torch.zeros(4), nig_parameters(torch.zeros(4, 4))),
         "reshape the target"),
        (lambda a, y: EvidentialRegressionLoss(regularization=-1.0), "non-negative"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    concentration, labels = _random_concentration(n=4, c=3)
    with pytest.raises(ValueError, match=message):
        call(concentration, labels)


# ------------------------------------------------------------------------------ properties
_extreme = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@settings(max_examples=25, deadline=None)
@given(
    logits=st.lists(_extreme, min_size=6, max_size=6),
    label=st.integers(0, 2),
    evidence=st.sampled_from(EVIDENCE_FUNCTIONS),
    loss=st.sampled_from(["mse", "log", "digamma"]),
)
def test_classification_loss_and_gradients_finite_on_extreme_logits(logits, label, evidence, loss):
    raw = torch.tensor(logits, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    concentration = dirichlet_concentration(raw, evidence)
    labels = torch.tensor([label, 2 - label])
    value = evidential_classification_loss(concentration, labels, loss, 1.0)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(raw.grad).all()


@settings(max_examples=25, deadline=None)
@given(
    raw=st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=8, max_size=8),
    target=st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=2, max_size=2),
    regularization=st.sampled_from([0.0, 0.01, 1.0]),
)
def test_regression_loss_and_gradients_finite_on_extreme_outputs(raw, target, regularization):
    raw = torch.tensor(raw, dtype=torch.float32).reshape(2, 4).requires_grad_(True)
    params = nig_parameters(raw)
    value = evidential_regression_loss(torch.tensor(target).reshape(2, 1), params, regularization)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(raw.grad).all()
    assert bool((params.alpha > 1).all()) and bool((params.nu > 0).all())
