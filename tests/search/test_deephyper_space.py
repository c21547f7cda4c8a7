"""The DeepHyper ``dense_skipco`` preset: hand-checked networks (nodes, skip merges,
activations, head) against a hand-written forward pass, the space contract (sample, mutate,
validate, round trip), the searched training settings and a local end-to-end run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from uqkit.exceptions import InvalidInputError
from uqkit.nn import gaussian_head
from uqkit.search import (
    AgingEvolution,
    DeepHyperSpace,
    DenseSkipCoNet,
    SearchNet,
    TrialSetup,
    build_search_net,
    fit_network,
    load_network,
    load_trial,
    network_outputs,
    run_trial,
    space_from_dict,
)

REPO = Path(__file__).resolve().parents[2]


def _config(space: DeepHyperSpace, nodes: list[str], skips: set[tuple[int, int]]) -> dict:
    config = space.sample(np.random.default_rng(0))
    for i, choice in enumerate(nodes, start=1):
        config[f"node_{i}"] = choice
        for j in space.anchors(i):
            config[f"skip_{i}_{j}"] = (i, j) in skips
    space.validate(config)
    return config


def _dense(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return x @ layer.weight.T + layer.bias


def test_the_default_space_is_deephypers_dense_skipco():
    space = DeepHyperSpace()
    names = [v.name for v in space.variables()]
    nodes = [n for n in names if n.startswith("node_")]
    skips = [n for n in names if n.startswith("skip_")]
    assert len(nodes) == 10
    # anchors: the input for node 1, then the last 3 merges: 1 + 2 + 3 * 8
    assert len(skips) == 27
    assert space.anchors(1) == [0] and space.anchors(2) == [0, 1] and space.anchors(10) == [7, 8, 9]
    choices = space.variables()[0].choices
    assert len(choices) == 1 + 6 * 5 and choices[0] == "identity"
    assert {c.split("-")[0] for c in choices[1:]} == {"16", "32", "48", "64", "80", "96"}
    assert {c.split("-")[1] for c in choices[1:]} == {"identity", "swish", "relu", "tanh",
                                                        "sigmoid"}
    assert names[-5:] == ["batch_size", "lr", "optimizer", "patience_reduce_lr",
                          "patience_early_stopping"]
    assert space.lr == (1e-4, 1e-1) and space.patience_early_stopping == (3, 30)
    assert set(space.optimizers) == {"sgd", "rmsprop", "adagrad", "adam", "adadelta", "adamax",
                                     "nadam"}


def test_a_hand_checked_network_matches_a_hand_written_forward_pass():
    """Node 1 dense 32 relu with a projected skip from the input; node 2 identity, no skip
    (no ReLU then); node 3 dense 16 tanh with a residual skip from merge 2 (projected 32 -> 16)
    and one from merge 1 (projected too); the Gaussian head on the last merge."""
    space = DeepHyperSpace(num_nodes=3)
    config = _config(space, ["32-relu", "identity", "16-tanh"], {(1, 0), (3, 2), (3, 1)})
    arch = space.architecture(config)
    assert [n["units"] for n in arch["nodes"]] == [32, 0, 16]
    assert [n["skips"] for n in arch["nodes"]] == [[0], [], [1, 2]]
    net = build_search_net(5, 2, arch)
    assert isinstance(net, DenseSkipCoNet)
    assert sorted(net.dense) == ["1", "3"]
    # projections: to the node's own width, with bias
    shapes = {k: tuple(v.weight.shape) for k, v in net.project.items()}
    assert shapes == {"1_0": (32, 5), "3_1": (16, 32), "3_2": (16, 32)}
    assert all(p.bias is not None for p in net.project.values())
    assert tuple(net.output.weight.shape) == (2, 16)

    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h1 = torch.relu(_dense(net.dense["1"], x))
        m1 = torch.relu(h1 + _dense(net.project["1_0"], x))
        m2 = m1  # identity node, no active skip: the merge passes it unchanged
        h3 = torch.tanh(_dense(net.dense["3"], m2))
        m3 = torch.relu(h3 + _dense(net.project["3_1"], m1) + _dense(net.project["3_2"], m2))
        t = _dense(net.output, m3)
        mean, var = gaussian_head(net(x), min_variance=1e-6)
    torch.testing.assert_close(mean, t[:, :1])
    scale = 1e-3 + F.softplus(0.05 * t[:, 1:])
    torch.testing.assert_close(var, scale**2, rtol=1e-5, atol=0)


def test_equal_widths_add_without_projection_and_activations_are_the_named_ones():
    space = DeepHyperSpace(num_nodes=3)
    config = _config(space, ["16-swish", "16-sigmoid", "identity"], {(2, 1), (3, 2), (3, 0)})
    net = build_search_net(4, 2, space.architecture(config))
    assert sorted(net.project) == ["3_0"]  # the input (width 4) is projected; merges (16) not
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        m1 = F.silu(_dense(net.dense["1"], x))
        m2 = torch.relu(torch.sigmoid(_dense(net.dense["2"], m1)) + m1)
        m3 = torch.relu(m2 + m2 + _dense(net.project["3_0"], x))  # identity node + residual
        torch.testing.assert_close(net(x)[:, :1], _dense(net.output, m3)[:, :1])


def test_the_linear_node_and_an_all_identity_network():
    space = DeepHyperSpace(num_nodes=2)
    arch = space.architecture(_config(space, ["48-identity", "identity"], set()))
    assert arch["nodes"][0] == {"units": 48, "activation": "identity", "skips": []}
    net = build_search_net(3, 2, arch)
    x = torch.randn(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(net(x)[:, :1],
                                   _dense(net.output, _dense(net.dense["1"], x))[:, :1])
    plain = build_search_net(3, 2, space.architecture(_config(space, ["identity"] * 2, set())))
    assert len(plain.dense) == 0 and tuple(plain.output.weight.shape) == (2, 3)


def test_the_head_maps_deephypers_scale_to_uqkits_variance_everywhere():
    t = torch.linspace(-3000, 3000, 20001, requires_grad=True)
    raw = torch.stack([torch.zeros_like(t), t], dim=1)
    arch = {"kind": "dense_skipco", "nodes": [], "dropout": 0.0, "head": "gaussian"}
    net = DenseSkipCoNet(2, 2, arch)
    with torch.no_grad():
        net.output.weight.copy_(torch.eye(2))
        net.output.bias.zero_()
    _, var = gaussian_head(net(raw), 1e-6)
    var = var[:, 0]
    expected = (1e-3 + F.softplus(0.05 * t.detach().double())) ** 2
    assert float(((var.detach().double() - expected) / expected).abs().max()) < 1e-5
    var.sum().backward()
    assert bool(torch.isfinite(t.grad).all())  # no NaN gradient where the variance floors
    softmax = DenseSkipCoNet(2, 3, {**arch, "head": "softmax"})
    torch.testing.assert_close(softmax(raw[:5]), softmax.output(raw[:5]))  # plain logits


def test_sample_mutate_validate_and_round_trip():
    space = DeepHyperSpace()
    rng = np.random.default_rng(0)
    variables = {v.name: v for v in space.variables()}
    config = space.sample(rng)
    for _ in range(200):
        space.validate(config)
        assert all(variables[k].contains(v) for k, v in config.items())
        child, name = space.mutate(config, rng)
        assert [k for k in config if config[k] != child[k]] == [name]
        config = child
    for data in (space.to_dict(), DeepHyperSpace(num_nodes=4, epochs=7).to_dict()):
        assert data["kind"] == "deephyper"
        assert space_from_dict(data) == DeepHyperSpace.from_dict(data)
        assert space_from_dict(data).to_dict() == data
    with pytest.raises(InvalidInputError, match="not in the DeepHyper space"):
        space.validate({**config, "node_3": "17-relu"})
    with pytest.raises(InvalidInputError, match="Unknown DeepHyper-space keys"):
        space_from_dict({"kind": "deephyper", "max_layers": 3})
    with pytest.raises(InvalidInputError, match="optimizers must be"):
        DeepHyperSpace(optimizers=("lbfgs",))


def test_aging_evolution_and_tune_domains_work_on_the_preset():
    space = DeepHyperSpace(num_nodes=3)
    evo = AgingEvolution(space, population_size=3, sample_size=2, seed=0)
    for score in (3.0, 1.0, 2.0):
        config, _ = evo.ask()
        evo.tell(config, score)
    child, info = evo.ask()
    assert sum(child[k] != info["parent"][k] for k in child) == 1
    pytest.importorskip("ray")
    domains = space.to_tune()
    assert set(domains) == {v.name for v in space.variables()}


def test_the_searched_training_settings_reach_the_optimiser(monkeypatch):
    """optimizer, ReduceLROnPlateau patience and early-stopping patience of a configuration."""
    import uqkit.training._loop as loop

    seen = {}
    real = loop._optimizer

    def spy(config, parameters):
        seen["config"] = config
        return real(config, parameters)

    monkeypatch.setattr(loop, "_optimizer", spy)
    rng = np.random.default_rng(0)
    data = {"X": rng.normal(size=(40, 2)), "y": rng.normal(size=(40, 1)),
            "X_val": rng.normal(size=(20, 2)), "y_val": rng.normal(size=(20, 1))}
    space = DeepHyperSpace(num_nodes=2, epochs=40)
    config = {**_config(space, ["16-relu", "identity"], {(2, 1)}), "optimizer": "rmsprop",
              "patience_reduce_lr": 3, "patience_early_stopping": 4, "lr": 0.05,
              "batch_size": 16}
    setup = TrialSetup(space=space.to_dict(), task="regression", out_features=2, seed=0)
    net, history = fit_network(space.architecture(config), config, setup, data, seed=1,
                               epochs=40, patience=space.patience, device="cpu")
    assert seen["config"].optimizer == "rmsprop" and seen["config"].lr_patience == 3
    assert seen["config"].patience == 4 and seen["config"].weight_decay == 0.0
    assert isinstance(net, DenseSkipCoNet)
    # early stopping with patience 4: stopped 4 epochs after the best one (or ran out)
    assert history["epochs"] == 40 or history["epochs"] == history["best_epoch"] + 4
    # the refit (patience=None) trains every epoch whatever the configuration says
    _, refit = fit_network(space.architecture(config), config, setup, data, seed=1, epochs=3,
                           patience=None, device="cpu")
    assert refit["epochs"] == 3


def test_reduce_lr_on_plateau_cuts_the_rate_tenfold(monkeypatch):
    import uqkit.training._loop as loop
    from uqkit.losses import GaussianMemberLoss
    from uqkit.nn import StackSpec
    from uqkit.training import TrainConfig, train_stack

    optimisers = []
    real = loop._optimizer

    def keep(config, parameters):
        optimisers.append(real(config, parameters))
        return optimisers[-1]

    monkeypatch.setattr(loop, "_optimizer", keep)
    stack = StackSpec(in_features=2, out_features=2, hidden_layers=(4,)).build([0])
    X, y = torch.randn(16, 2), torch.randn(16, 1)
    # with lr 1e-6 the validation loss moves far less than the threshold 1e-4: a plateau.
    # Epoch 1 sets the best; epochs 2-4 are 3 bad epochs > patience 2: cut; 5-7: cut again
    train_stack(stack, GaussianMemberLoss(), X, y, [0],
                TrainConfig(epochs=7, lr=1e-6, lr_patience=2, patience=100, optimizer="sgd"),
                X_val=X, y_val=y)
    assert isinstance(optimisers[0], torch.optim.SGD)
    assert math.isclose(optimisers[0].param_groups[0]["lr"], 1e-8, rel_tol=1e-9)
    with pytest.raises(InvalidInputError, match="Unknown optimizer"):
        train_stack(stack, GaussianMemberLoss(), X, y, [0],
                    TrainConfig(epochs=1, optimizer="lbfgs"))


def test_a_local_trial_writes_a_loadable_deephyper_network(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, :1] - X[:, 1:2]).astype(np.float32)
    data = {"X": X[:40], "y": y[:40], "X_val": X[40:], "y_val": y[40:]}
    space = DeepHyperSpace(num_nodes=3, epochs=3)
    setup = TrialSetup(space=space.to_dict(), task="regression", out_features=2, seed=0)
    run_trial(space.sample(rng), data, setup, tmp_path, name="t0")
    record = load_trial(tmp_path)
    assert record["architecture"]["kind"] == "dense_skipco"
    net = load_network(record, 3, 2)
    mean, var = gaussian_head(network_outputs(net, data["X_val"]), 1e-6)
    np.testing.assert_allclose(mean.numpy(), np.asarray(record["predictions"]["val_mean"]),
                               rtol=1e-6)
    np.testing.assert_allclose(var.numpy(), np.asarray(record["predictions"]["val_var"]),
                               rtol=1e-6)
    assert isinstance(build_search_net(3, 2, {"layers": [], "dropout": 0.0}), SearchNet)


def test_the_yaml_preset_builds_the_estimator_the_cli_runs():
    from uqkit.cli._search import build_estimator, load_config

    args = argparse.Namespace(ray_address=None, checkpoint_dir=None, seed=None, n_trials=None,
                              resume=False, quiet=True)
    model = build_estimator(load_config(REPO / "search" / "deephyper_dense_skipco.yaml"), args)
    assert model.selection_loss == "moment_matched"
    assert space_from_dict(model.space) == DeepHyperSpace()
