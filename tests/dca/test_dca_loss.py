import copy

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Normal, kl_divergence
from torch.nn import functional as F

from uqkit.dca import (
    DCAModule,
    categorical_kl,
    classification_consistency_loss,
    consistency_step,
    gaussian_consistency_loss,
    gaussian_kl,
)
from uqkit.exceptions import DivergenceError
from uqkit.losses import gaussian_nll
from uqkit.nn import gaussian_head


def test_categorical_kl_matches_scipy():
    generator = torch.Generator().manual_seed(0)
    ref = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    cur = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    p, q = F.softmax(ref, -1).numpy(), F.softmax(cur, -1).numpy()
    expected = np.mean([stats.entropy(p[i], q[i]) for i in range(6)])
    assert np.isclose(float(categorical_kl(ref, cur)), expected, rtol=1e-12)


def test_gaussian_kl_matches_torch_distributions():
    m1, v1 = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])
    m2, v2 = torch.tensor([1.0, 0.0]), torch.tensor([1.5, 0.2])
    expected = kl_divergence(Normal(m1, v1.sqrt()), Normal(m2, v2.sqrt()))
    assert torch.allclose(gaussian_kl(m1, v1, m2, v2), expected, atol=1e-6)


def test_consistency_losses_match_their_formula():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    ref = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0])
    p, log_q = F.softmax(ref, -1), F.log_softmax(logits, -1)
    ce = -log_q[torch.arange(5), y].mean()
    kl = (p * (p.log() - log_q)).sum(-1).mean()
    assert torch.isclose(classification_consistency_loss(logits, y, ref), ce + kl)
    assert torch.isclose(classification_consistency_loss(logits, y, ref, weight=0.0), ce)

    raw = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    raw_ref = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    target = torch.randn(5, 1, generator=generator, dtype=torch.float64)
    mean, var = gaussian_head(raw)
    ref_mean, ref_var = gaussian_head(raw_ref)
    expected = gaussian_nll(mean, var, target) + kl_divergence(
        Normal(ref_mean, ref_var.sqrt()), Normal(mean, var.sqrt())
    ).mean()
    assert torch.isclose(gaussian_consistency_loss(raw, target, raw_ref), expected)


@pytest.mark.parametrize("n_proposals", [1, 3])
def test_consistency_step_follows_the_algorithm(make_net, batch, n_proposals):
    """The step's gradients equal those of the loss written out by hand:
    ref = f_{p0}(x) (no grad); sum_t [CE(f_pt(x), y) + KL(softmax(ref_t) || softmax(f_pt(x)))] / R
    with ref_t = f_{p_{t-1}}(x) detached."""
    x, y = batch
    dca = DCAModule(make_net(), "layer", n_instances=3, seed=0)
    twin = copy.deepcopy(dca)
    twin.sampler.generator.set_state(dca.sampler.generator.get_state())
    optimizer = torch.optim.SGD(dca.parameters(), lr=0.0)  # keeps the gradients for inspection
    loss = consistency_step(dca, optimizer, x, y, classification_consistency_loss, n_proposals)

    proposals = [twin.sampler.sample() for _ in range(n_proposals + 1)]
    with torch.no_grad(), twin.use_proposal(proposals[0]):
        ref = twin(x)
    total = 0.0
    for proposal in proposals[1:]:
        with twin.use_proposal(proposal):
            logits = twin(x)
        p, log_q = F.softmax(ref, -1), F.log_softmax(logits, -1)
        term = -log_q[torch.arange(len(y)), y].mean() + (p * (p.log() - log_q)).sum(-1).mean()
        total = total + term / n_proposals
        ref = logits.detach()
    total.backward()

    assert np.isclose(loss, float(total.detach()), rtol=1e-12)
    assert dca.last_proposal == proposals[-1]
    for a, b in zip(dca.parameters(), twin.parameters()):
        assert (a.grad is None) == (b.grad is None)  # untouched instances get no gradient
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-12)


def test_one_optimizer_step_per_mini_batch(make_net, batch):
    x, y = batch
    dca = DCAModule(make_net(), "layer", n_instances=2)
    optimizer = torch.optim.Adam(dca.parameters(), lr=1e-2)
    consistency_step(dca, optimizer, x, y, classification_consistency_loss, n_proposals=4)
    steps = {int(state["step"]) for state in optimizer.state.values()}
    assert steps == {1}


def test_a_non_finite_loss_raises_before_the_step(make_net, batch):
    x, y = batch
    dca = DCAModule(make_net(), "layer", n_instances=2)
    before = copy.deepcopy(dca.state_dict())
    optimizer = torch.optim.Adam(dca.parameters(), lr=1e-2)
    with pytest.raises(DivergenceError, match="non-finite loss for proposal"):
        consistency_step(dca, optimizer, x * np.nan, y, classification_consistency_loss)
    for key, value in dca.state_dict().items():
        assert torch.equal(value, before[key])
