"""The ``uqkit search`` command's parsing and config checks, and the Tune searchers' protocol
(no Ray cluster is started)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from uqkit.cli import build_parser
from uqkit.cli._search import build_estimator, load_config
from uqkit.exceptions import InvalidInputError
from uqkit.search import SearchSpace, space_from_dict
from uqkit.training import RayBackend, resolve_backend

CONFIGS = sorted((Path(__file__).parents[2] / "search").glob("*.yaml"))


def _args(**overrides):
    base = dict(n_trials=None, checkpoint_dir=None, ray_address=None, seed=None, resume=False,
                quiet=True)
    return argparse.Namespace(**{**base, **overrides})


def test_search_subcommand_is_registered_with_help():
    parser = build_parser()
    args = parser.parse_args(["search", "search/uci_quick.yaml", "--dataset", "yacht",
                              "--n-trials", "3", "--resume"])
    assert args.command == "search" and callable(args.run)
    assert args.dataset == "yacht" and args.n_trials == 3 and args.resume


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_build_valid_estimators(path):
    model = build_estimator(load_config(path), _args(n_trials=7))
    model._check_params()
    assert model.n_trials == 7 and model.random_state == 0
    space_from_dict(model.space)  # uqkit's space or the DeepHyper preset
    backend = resolve_backend(model.backend)
    assert backend.checkpoint_dir and backend.resources["num_cpus"] >= 1


def test_command_line_overrides_the_ray_section():
    config = {"ray": {"checkpoint_dir": "runs/a", "max_retries": 1}}
    model = build_estimator(config, _args(checkpoint_dir="/shared/b", ray_address="auto",
                                          seed=3, resume=True))
    assert model.backend == RayBackend(address="auto", checkpoint_dir="/shared/b", max_retries=1)
    assert model.random_state == 3 and model.resume


def test_bad_configs_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("serch:\n  n_trials: 3\n")
    with pytest.raises(InvalidInputError, match="unknown sections"):
        load_config(bad)
    with pytest.raises(InvalidInputError, match="Unknown keys in the 'search' section"):
        build_estimator({"search": {"n_trial": 3}}, _args())
    with pytest.raises(InvalidInputError, match="Unknown search-space keys"):
        build_estimator({"space": {"layers": 3}}, _args())
    with pytest.raises(InvalidInputError, match="Unknown keys in the 'ray' section"):
        build_estimator({"ray": {"storage_path": "runs"}}, _args())
    with pytest.raises(InvalidInputError, match="Unknown keys in the 'search' section"):
        build_estimator({"search": {"resources_per_trial": {}}}, _args())


def test_tune_searcher_evolves_one_variable_at_a_time():
    pytest.importorskip("ray")
    from uqkit.search import RegularizedEvolutionSearcher

    space = SearchSpace(max_layers=2)
    searcher = RegularizedEvolutionSearcher(space, population_size=3, sample_size=2, seed=0)
    for i in range(3):
        config = searcher.suggest(f"t{i}")
        space.validate(config)
        assert searcher.lineage[f"t{i}"]["parent"] is None
        searcher.on_trial_complete(f"t{i}", {"val_nll": float(i)})
    searcher.on_trial_complete("t-missing", None, error=True)  # ignored
    for i in range(3, 10):
        config = searcher.suggest(f"t{i}")
        info = searcher.lineage[f"t{i}"]
        space.validate(config)
        assert [k for k in config if config[k] != info["parent"][k]] == [info["mutated"]]
        searcher.on_trial_complete(f"t{i}", {"val_nll": 5.0 + i})
    # an errored trial never joins the population
    searcher.suggest("bad")
    searcher.on_trial_complete("bad", None, error=True)
    assert searcher.evolution.n_told == 10
    # warm start and save/restore through JSON
    searcher.add_evaluated_point(space.sample(np.random.default_rng(1)), -1.0)
    assert min(s for _, s in searcher.evolution.population) == -1.0
    twin = RegularizedEvolutionSearcher(space, population_size=3, sample_size=2, seed=5)
    twin.set_state(searcher.get_state())
    assert twin.suggest("next") == searcher.suggest("next")


def test_optuna_tpe_searcher_proposes_configs_of_the_space():
    pytest.importorskip("optuna")
    pytest.importorskip("ray")
    from uqkit.search import make_searcher

    space = SearchSpace(max_layers=2, dropout=(0.0, 0.0))
    searcher, param_space = make_searcher("tpe", space, 0)
    assert param_space is None
    config = searcher.suggest("t0")
    space.validate({**space.constants(), **config})
    assert "dropout" not in config  # a constant, filled in by the trial
