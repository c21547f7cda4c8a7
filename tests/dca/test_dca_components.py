import pytest
from torch import nn

from uqkit.dca import cnn_preset, mlp_preset, resolve_components
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


def test_cnn_preset_checks_the_image_shape():
    with pytest.raises(InvalidInputError, match="image_shape"):
        cnn_preset(100, 10)
