import copy
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

from uqkit.dca import ComponentInstances, DCAModule, ProposalSampler, cnn_preset, mlp_preset
from uqkit.exceptions import InvalidInputError


# ----------------------------------------------------------------------------- the sampler
def test_proposals_are_uniform_over_instances_chi_square():
    sampler = ProposalSampler([5, 5, 5], seed=11)
    draws = np.array([sampler.sample() for _ in range(5000)])
    for s in range(3):  # each component: uniform on its 5 instances
        counts = np.bincount(draws[:, s], minlength=5)
        assert stats.chisquare(counts).pvalue > 1e-3
    # jointly: uniform on the 125 proposals (components drawn independently)
    joint = np.bincount(draws @ np.array([25, 5, 1]), minlength=125)
    assert stats.chisquare(joint).pvalue > 1e-3


def test_forward_passes_draw_uniform_proposals(make_net, batch):
    dca = DCAModule(make_net(), "layer", n_instances=4, seed=0)
    x, _ = batch
    seen = []
    for _ in range(2000):
        dca(x)
        seen.append(dca.last_proposal)
    counts = Counter(i for proposal in seen for i in proposal)
    assert stats.chisquare([counts[i] for i in range(4)]).pvalue > 1e-3
    assert len(set(seen)) == dca.n_proposals == 64


def test_sampler_is_reproducible_and_distinct_draws_are_distinct():
    a, b = ProposalSampler([3, 4], seed=5), ProposalSampler([3, 4], seed=5)
    assert [a.sample() for _ in range(20)] == [b.sample() for _ in range(20)]
    assert sorted(a.distinct(100)) == a.all() and len(a.all()) == 12
    picked = a.distinct(7)
    assert len(set(picked)) == 7
    huge = ProposalSampler([10] * 8, seed=0)  # 10^8 proposals: rejection sampling
    assert len(set(huge.distinct(50))) == 50
    assert [huge.decode(i) for i in (0, 123)] == [(0,) * 8, (0, 0, 0, 0, 0, 1, 2, 3)]


# ----------------------------------------------------------------------------- the wrapper
def test_instances_are_distinct_copies_and_the_argument_is_untouched(make_net):
    net = make_net()
    state = copy.deepcopy(net.state_dict())
    dca = DCAModule(net, "layer", n_instances=3, seed=0)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key])
    for wrapper in dca.components():
        w = [inst.weight for inst in wrapper.instances]
        assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    again = DCAModule(net, "layer", n_instances=3, seed=0)
    for a, b in zip(dca.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_normalisation_and_parameter_free_layers_are_shared_in_layerwise_dca(make_net):
    dca = DCAModule(make_net(with_norm=True), "layer", n_instances=3)
    assert isinstance(dca.network[1], nn.BatchNorm1d)  # one shared BatchNorm
    assert isinstance(dca.network[2], nn.ReLU)
    assert all(isinstance(dca.network[i], ComponentInstances) for i in (0, 3, 5))
    modelwise = DCAModule(make_net(with_norm=True), "model", n_instances=3)
    norms = [inst[1] for inst in modelwise.network.instances]
    assert len({id(m) for m in norms}) == 3  # one BatchNorm per model instance


def test_whole_batch_goes_through_one_proposal(make_net, batch):
    dca = DCAModule(make_net(), "layer", n_instances=3, seed=1)
    x, _ = batch
    out = dca(x)
    expected = dca.proposal_network(dca.last_proposal)(x)
    assert torch.equal(out, expected)
    with dca.use_proposal((2, 0, 1)):
        assert torch.equal(dca(x), dca.proposal_network((2, 0, 1))(x))
        assert dca.last_proposal == (2, 0, 1)
    with pytest.raises(InvalidInputError, match="one instance index"):
        dca.set_proposal((3, 0, 0))


def test_only_the_chosen_instances_get_gradients(make_net, batch):
    dca = DCAModule(make_net(), "layer", n_instances=3, seed=0)
    x, y = batch
    with dca.use_proposal((1, 0, 2)):
        F.cross_entropy(dca(x), y).backward()
    for wrapper, chosen in zip(dca.components(), (1, 0, 2)):
        for i, inst in enumerate(wrapper.instances):
            has_grad = [p.grad is not None for p in inst.parameters()]
            assert all(has_grad) if i == chosen else not any(has_grad)


def test_attribute_lookups_reach_the_active_instance():
    dca = DCAModule(mlp_preset(4, 2, (8,)), "layer", n_instances=2)
    assert dca.network.head.in_features == 8
    assert dca.network.head.weight is dca.network.head.instances[0].weight


# ----------------------------------------------------------------------------- DCWA
def test_dcwa_parameters_are_the_instance_means(make_net, batch):
    dca = DCAModule(make_net(with_norm=True), "layer", n_instances=4, seed=3)
    averaged = dca.average_instances()
    for index in (0, 3, 5):
        instances = dca.network[index].instances
        for name, param in averaged[index].named_parameters():
            stacked = torch.stack([dict(inst.named_parameters())[name] for inst in instances])
            assert torch.allclose(param, stacked.mean(dim=0), atol=1e-15)
    assert torch.equal(averaged[1].weight, dca.network[1].weight)  # shared BatchNorm kept
    x, _ = batch

    def mean_of(index, name):
        return torch.stack([getattr(i, name) for i in dca.network[index].instances]).mean(0)

    averaged.eval()
    norm = dca.network[1].eval()
    h = F.relu(norm(F.linear(x, mean_of(0, "weight"), mean_of(0, "bias"))))
    h = F.relu(F.linear(h, mean_of(3, "weight"), mean_of(3, "bias")))
    manual = F.linear(h, mean_of(5, "weight"), mean_of(5, "bias"))
    assert torch.allclose(averaged(x), manual, atol=1e-12)
    assert not any(isinstance(m, ComponentInstances) for m in averaged.modules())


def test_coarse_dcwa_is_refused(make_net):
    with pytest.raises(InvalidInputError, match="fine-grain components"):
        DCAModule(make_net(), "model", n_instances=2).average_instances()
    cnn_blocks = DCAModule(cnn_preset(64, 3, image_shape=(1, 8, 8)), "block", n_instances=2)
    with pytest.raises(InvalidInputError, match="'head' holds 2 parametrised layers"):
        cnn_blocks.average_instances()
    DCAModule(cnn_preset(64, 3, image_shape=(1, 8, 8)), "layer", 2).average_instances()
