import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from uqkit.dca import cnn_preset, mlp_preset, reinitialize, resolve_components
from uqkit.exceptions import InvalidInputError


def test_granularity_presets_on_the_mlp_and_cnn_presets():
    mlp = mlp_preset(5, 3, hidden_layers=(8, 8))
    assert resolve_components(mlp, "model") == [""]
    assert resolve_components(mlp, "block") == ["block0", "block1", "head"]
    assert resolve_components(mlp, "layer") == ["block0.0", "block1.0", "head"]
    cnn = cnn_preset(784, 10)
    assert resolve_components(cnn, "block") == ["stage0", "stage1", "head"]
    assert resolve_components(cnn, "layer") == ["stage0.0", "stage1.0", "head.1", "head.3"]


def test_layerwise_leaves_normalisation_layers_shared(make_net):
    net = make_net(with_norm=True)
    assert resolve_components(net, "layer") == ["0", "3", "5"]  # "1" is the BatchNorm
    assert resolve_components(net, "model") == [""]


def test_block_granularity_descends_through_a_lone_wrapper():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), nn.Linear(3, 1))

        def forward(self, x):
            return self.body(x)

    assert resolve_components(Wrapped(), "block") == ["body.0", "body.1"]


def test_names_and_types(make_net):
    net = make_net()
    assert resolve_components(net, ["4", "0"]) == ["0", "4"]  # returned in module order
    assert resolve_components(net, nn.Linear) == ["0", "2", "4"]
    assert resolve_components(net, (nn.Linear,)) == ["0", "2", "4"]


@pytest.mark.parametrize(
    ("components", "message"),
    [
        (["9"], "No submodule named"),
        (["", "0"], "nested"),
        (["1"], "no parameters"),  # the ReLU
        (["0", "0"], "twice"),
        ("rows", "not a granularity"),
        (nn.Conv2d, "selects no parametrised submodule"),
        (["0", nn.Linear], "not a mix"),
    ],
)
def test_bad_components_are_refused(make_net, components, message):
    with pytest.raises(InvalidInputError, match=message):
        resolve_components(make_net(), components)


def test_reinitialize_is_seeded_and_follows_torch_defaults():
    layer = nn.Linear(50, 40)
    a = reinitialize(layer, 3).weight.detach().clone()
    b = reinitialize(layer, 3).weight.detach().clone()
    c = reinitialize(layer, 4).weight.detach().clone()
    assert torch.equal(a, b) and not torch.equal(a, c)
    # torch's default Linear init is uniform on ±1/sqrt(fan_in): Kolmogorov-Smirnov against it
    bound = 1 / np.sqrt(50)
    p = stats.kstest(a.numpy().ravel(), stats.uniform(-bound, 2 * bound).cdf).pvalue
    assert p > 1e-3
    conv = reinitialize(nn.Conv2d(3, 8, 3), 0)
    assert float(conv.weight.detach().abs().max()) <= 1 / np.sqrt(27)


def test_reinitialize_leaves_the_global_random_state_alone():
    class Custom(nn.Module):  # a layer with its own reset_parameters using the global RNG
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.empty(5))
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.normal_(self.scale)

    module = nn.Sequential(nn.Linear(2, 2), Custom(), nn.BatchNorm1d(2))
    before = torch.get_rng_state()
    first = reinitialize(module, 1)[1].scale.detach().clone()
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(reinitialize(module, 1)[1].scale, first)
    assert not torch.equal(reinitialize(module, 2)[1].scale, first)


def test_a_layer_that_cannot_be_reinitialised_is_refused():
    class Opaque(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))

    with pytest.raises(InvalidInputError, match="reset_parameters"):
        reinitialize(Opaque(), 0)


def test_cnn_preset_checks_the_image_shape():
    with pytest.raises(InvalidInputError, match="image_shape"):
        cnn_preset(100, 10)
