"""The search space, its network and aging evolution (no Ray needed)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from uqkit.exceptions import InvalidInputError
from uqkit.search import AgingEvolution, SearchNet, SearchSpace


def test_samples_are_valid_and_cover_the_space():
    space = SearchSpace()
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(300)]
    for config in configs:
        space.validate(config)  # raises when invalid
        assert 16 <= config["units_1"] <= 512 and 1e-4 <= config["lr"] <= 1e-1
        assert 16 <= config["batch_size"] <= 256 and 0 <= config["dropout"] <= 0.25
    # every activation and both layer states appear; lr spreads over the log range
    assert {c["activation_3"] for c in configs} == set(space.activations)
    assert {c["layer_5"] for c in configs} == {True, False}
    assert np.median(np.log10([c["lr"] for c in configs])) == pytest.approx(-2.5, abs=0.3)
    n_layers = [space.architecture(c)["layers"] for c in configs]
    assert {sum(layer["units"] > 0 for layer in arch) for arch in n_layers} == {1, 2, 3, 4, 5}


def test_mutation_changes_exactly_one_variable():
    space = SearchSpace(max_layers=3)
    rng = np.random.default_rng(1)
    names = set()
    for _ in range(200):
        parent = space.sample(rng)
        child, name = space.mutate(parent, rng)
        space.validate(child)
        assert [k for k in parent if parent[k] != child[k]] == [name]
        names.add(name)
    assert names == {v.name for v in space.variables()}  # every variable can mutate


def test_validate_and_from_dict_reject_bad_input():
    space = SearchSpace(max_layers=2)
    config = space.sample(np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="invalid"):
        space.validate({**config, "lr": 5.0})
    with pytest.raises(InvalidInputError, match="missing"):
        space.validate({k: v for k, v in config.items() if k != "units_2"})
    with pytest.raises(InvalidInputError, match="Unknown search-space keys"):
        SearchSpace.from_dict({"layers": 3})
    with pytest.raises(InvalidInputError, match="activations"):
        SearchSpace(activations=("nope",))
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_fixed_variables_are_constants_not_searched():
    space = SearchSpace(max_layers=2, dropout=(0.0, 0.0), max_skip_back=0)
    names = {v.name for v in space.variables()}
    assert "dropout" not in names and not any(n.startswith("skip") for n in names)
    assert space.sample(np.random.default_rng(0))["dropout"] == 0.0


def test_searchnet_matches_its_equations_and_pickles():
    arch = {"layers": [{"units": 4, "activation": "tanh", "skips": []},
                       {"units": 0, "activation": "relu", "skips": [0]},
                       {"units": 3, "activation": "identity", "skips": [1]}],
            "dropout": 0.0}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = SearchNet(2, 2, arch).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    h1 = torch.tanh(net.dense["1"](x))
    z2 = h1 + net.project["2_0"](x)  # layer 2 skipped: identity node plus projected input
    z3 = z2 + h1  # same width: no projection
    expected = net.head(net.dense["3"](z3))
    torch.testing.assert_close(net(x), expected)
    clone = pickle.loads(pickle.dumps(net))
    torch.testing.assert_close(clone(x), expected)


def test_aging_evolution_tournament_and_aging():
    space = SearchSpace(max_layers=2)
    evo = AgingEvolution(space, population_size=4, sample_size=2, seed=0)
    scores = {}
    for i in range(4):  # the initial population is random
        config, info = evo.ask()
        assert info["parent"] is None
        evo.tell(config, float(i))
        scores[i] = config
    for step in range(30):
        population = [dict(c) for c, _ in evo.population]
        child, info = evo.ask()
        parent = info["parent"]
        space.validate(child)
        assert sum(child[k] != parent[k] for k in child) == 1
        assert child[info["mutated"]] != parent[info["mutated"]]
        # the parent is a member of the current population, the best of its tournament
        assert parent in population
        assert info["parent_score"] <= sorted(s for _, s in evo.population)[-evo.sample_size + 1]
        evo.tell(child, 10.0 + step)
        assert len(evo.population) == 4  # aging: the oldest dies
    # state round trip reproduces the next proposal
    state = evo.get_state()
    twin = AgingEvolution(space, population_size=4, sample_size=2, seed=99)
    twin.set_state(state)
    assert twin.ask() == evo.ask()


def test_aging_evolution_checks_sizes():
    with pytest.raises(InvalidInputError, match="sample_size"):
        AgingEvolution(SearchSpace(), population_size=2, sample_size=3)
