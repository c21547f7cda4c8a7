"""Ray Tune's own objects in an AutoDEUQ search: a Tune searcher object, Tune-domain spaces, a
user scheduler, RunConfig/TuneConfig pass-through, the ResultGrid, Tune's own restore of the
storage folder, and uqkit's evolution searcher in a ``tune.Tuner`` of the user's.

All on one local Ray (module fixture), 4-trial searches of 1-layer networks, 2 epochs.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

import uqkit
from uqkit.ensemble import AutoDEUQRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.search import SearchSpace, load_network, load_trial
from uqkit.training import RayBackend

pytestmark = pytest.mark.ray
tune = pytest.importorskip("ray.tune")

SPACE = {"max_layers": 1, "units": [8, 16], "epochs": 2, "patience": 2, "batch_size": [32, 64]}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=120)
    return X, y


def _model(storage, **params):
    defaults = dict(n_trials=4, ensemble_size=2, selection="topk", population_size=2,
                    sample_size=2, space=SPACE,
                    backend=RayBackend(checkpoint_dir=str(storage), max_retries=0),
                    max_concurrent=2, random_state=0, device="cpu")
    return AutoDEUQRegressor(**{**defaults, **params})


def _valid_ensemble(model, X, n_trials):
    catalog = model.catalog_
    assert len(catalog) == n_trials
    assert model.weights_.sum() == pytest.approx(1.0)
    prediction = model.predict_uncertainty(X[:10])
    assert np.isfinite(prediction.total).all() and (prediction.total > 0).all()
    return catalog


def test_a_run_config_overrides_only_what_its_maker_set(tmp_path):
    """No Ray cluster: Ray fills every unset RunConfig field with its default (storage
    ~/ray_results, no retries, verbose 1); those fill-ins leave uqkit's settings alone."""
    from uqkit.search._driver import _storage_and_retries, tune_settings

    own_tune = tune.TuneConfig(metric="val_nll", mode="min")
    own_run = tune.RunConfig(name="run-000", storage_path=str(tmp_path), verbose=0,
                             failure_config=tune.FailureConfig(max_failures=3))
    named = tune.RunConfig(name="mine")
    assert _storage_and_retries(named, tmp_path, "autodeuq", 3) == (tmp_path, "mine", 3)
    _, run = tune_settings(own_tune, own_run, None, named)
    assert run.verbose == 0 and run.failure_config.max_failures == 3
    assert run.storage_path == str(tmp_path)
    model = _model(tmp_path / "checkpoints", run_config=named)  # no "two storages" error
    with model._storage(model.backend) as storage:
        assert storage == tmp_path / "checkpoints"

    mine = tune.RunConfig(storage_path=str(tmp_path / "x"), verbose=2,
                          failure_config=tune.FailureConfig(max_failures=5))
    assert _storage_and_retries(mine, tmp_path, "autodeuq", 3) == (tmp_path / "x", "autodeuq", 5)
    _, run = tune_settings(own_tune, own_run, None, mine)
    assert run.verbose == 2 and run.failure_config.max_failures == 5
    with pytest.raises(InvalidInputError, match="two storages"):
        with _model(tmp_path / "checkpoints", run_config=mine)._storage(model.backend):
            pass


def test_tune_domains_map_to_uqkit_variables():
    """No Ray cluster: each Tune domain becomes the variable it describes, exactly."""
    space = SearchSpace.from_dict({
        "architecture": {"max_layers": 2, "units": tune.qrandint(16, 64, 16),
                         "activations": tune.choice(["relu", "tanh"])},
        "training": {"lr": tune.loguniform(1e-4, 1e-1), "batch_size": tune.randint(16, 65),
                     "weight_decay": tune.quniform(0.005, 0.015, 0.005)},
        "dropout": tune.uniform(0.0, 0.2),
    })
    by_name = {v.name: v for v in space.variables()}
    assert (by_name["units_2"].low, by_name["units_2"].high, by_name["units_2"].q) == (16, 64, 16)
    assert by_name["activation_1"].choices == ("relu", "tanh")
    assert by_name["lr"].log and (by_name["lr"].low, by_name["lr"].high) == (1e-4, 1e-1)
    assert (by_name["batch_size"].low, by_name["batch_size"].high) == (16, 64)  # exclusive 65
    rng = np.random.default_rng(0)
    for _ in range(100):  # samples and one-variable mutations stay in the domains
        config = space.sample(rng)
        child, name = space.mutate(config, rng)
        for c in (config, child):
            space.validate(c)
            assert c["units_1"] in (16, 32, 48, 64) and c["weight_decay"] in (0.005, 0.01, 0.015)
        assert [k for k in config if config[k] != child[k]] == [name]
    # the JSON form is the space (resume fingerprint, saved models), and a copy is equal
    assert SearchSpace.from_dict(space.to_dict()) == space == copy.deepcopy(space)
    # Tune's own domains back from the variables (for Tune's searchers)
    assert space.to_tune()["units_1"].get_sampler().q == 16
    with pytest.raises(InvalidInputError, match="unknown keys \\['lr'\\]"):
        SearchSpace.from_dict({"architecture": {"lr": 0.1}})
    with pytest.raises(InvalidInputError, match="allowed keys"):
        SearchSpace.from_dict({"learning_rate": tune.loguniform(1e-4, 1e-1)})
    with pytest.raises(InvalidInputError, match="max_layers"):
        SearchSpace(max_layers=tune.randint(1, 4))
    opaque = SearchSpace(lr=tune.sample_from(lambda spec: 0.01))
    assert opaque.opaque() == ["lr"] and opaque.to_dict()["lr"]["kind"] == "tune"
    with pytest.raises(InvalidInputError, match="only Ray Tune samples"):
        opaque.sample(rng)


def test_optuna_searcher_object_run_config_result_grid_and_tune_restore(ray_session, data,
                                                                      tmp_path):
    optuna = pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    from uqkit.search import trainable_for

    X, y = data
    searcher = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0))
    run_config = tune.RunConfig(name="mine", storage_path=str(tmp_path))
    model = AutoDEUQRegressor(n_trials=4, ensemble_size=2, selection="topk", space=SPACE,
                              searcher=searcher, run_config=run_config, max_concurrent=2,
                              random_state=0, device="cpu")
    # sklearn's clone copies the searcher (deepcopy), and get_params hands it back unchanged
    assert clone(model).get_params()["searcher"] is not searcher
    model.fit(X, y)
    assert searcher.metric is None  # the caller's object is never set up or run
    catalog = _valid_ensemble(model, X, 4)
    assert (catalog["status"] == "FINISHED").all()
    space = SearchSpace.from_dict(SPACE)
    for _, row in catalog.iterrows():  # Optuna proposed configurations of uqkit's space
        space.validate({v.name: row[v.name] for v in space.variables()})

    # the ResultGrid of the run, and run_config's name/storage_path are the search folder
    grid = model.search_result_
    assert isinstance(grid, tune.ResultGrid) and len(grid) == 4 and not grid.errors
    best = grid.get_best_result()
    assert best.metrics["val_nll"] == pytest.approx(catalog["val_nll"].min())
    assert load_trial(Path(best.checkpoint.path))["val_nll"] == best.metrics["val_nll"]
    run = tmp_path / "mine" / "run-000"
    assert (tmp_path / "mine" / "problem.json").is_file() and run.is_dir()

    # Tune's own restore finds the experiment, with the trainable uqkit rebuilds from it
    restored = tune.Tuner.restore(str(run), trainable=trainable_for(run))
    again = restored.get_results()
    assert sorted(r.metrics["val_nll"] for r in again) == sorted(r.metrics["val_nll"]
                                                                  for r in grid)

    # the file names the searcher, loads, predicts the same, and asks for a searcher to refit
    loaded = uqkit.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_uncertainty(X[:10]).total,
                                  model.predict_uncertainty(X[:10]).total)
    assert "OptunaSearch" in repr(loaded.searcher) and loaded.search_result_ is None
    with pytest.raises(InvalidInputError, match="set_params"):
        loaded.fit(X, y)

    # uqkit's resume=True: the four trials warm-start Optuna, one more is trained
    resumed = AutoDEUQRegressor(n_trials=5, ensemble_size=2, selection="topk", space=SPACE,
                                searcher=searcher, run_config=run_config, resume=True,
                                random_state=0, device="cpu").fit(X, y)
    assert resumed.catalog_["run"].tolist().count("run-001") == 1
    assert len(resumed.search_result_) == 1


def test_tune_domain_space_user_scheduler_and_sample_from(ray_session, data, tmp_path):
    from ray.tune.schedulers import ASHAScheduler

    X, y = data
    space = {"epochs": 3, "patience": 3,
             "architecture": {"max_layers": 1, "units": tune.qrandint(8, 32, 8),
                              "activations": tune.choice(["relu", "tanh"])},
             "training": {"lr": tune.loguniform(1e-3, 1e-2), "batch_size": tune.choice([32, 64]),
                          "weight_decay": tune.loguniform(1e-6, 1e-4)}}
    # stop_last_trials=False: Tune's default would stop every trial at its epoch-3 report,
    # before the trial reports its checkpoint (the trial would be STOPPED, not in the catalog)
    scheduler = ASHAScheduler(time_attr="epoch", max_t=3, grace_period=1, stop_last_trials=False)
    model = _model(tmp_path, space=space, scheduler=scheduler).fit(X, y)
    catalog = model.catalog_
    # every trial is accounted for: finished with a checkpoint, or stopped by the scheduler
    assert len(catalog) == 4 and set(catalog["status"]) <= {"FINISHED", "STOPPED"}
    finished = catalog[catalog["status"] == "FINISHED"]
    assert len(finished) >= 1 and model.weights_.sum() == pytest.approx(1.0)
    # the sampled configurations lie in the Tune domains
    for _, row in finished.iterrows():
        assert row["units_1"] in (8, 16, 24, 32) and row["activation_1"] in ("relu", "tanh")
        assert 1e-3 <= row["lr"] <= 1e-2 and row["batch_size"] in (32, 64)
        assert 1e-6 <= row["weight_decay"] <= 1e-4
    assert scheduler.metric is None  # the caller's scheduler was copied, not set up
    # saved: the domains as their JSON descriptions, the scheduler by its class name
    loaded = uqkit.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_uncertainty(X[:10]).total,
                                  model.predict_uncertainty(X[:10]).total)
    assert SearchSpace.from_dict(loaded.space) == SearchSpace.from_dict(space)
    assert "AsyncHyperBandScheduler" in repr(loaded.scheduler)  # ASHAScheduler is its alias

    # tune.sample_from: Tune samples it (random search), aging evolution cannot mutate it
    opaque = {**SPACE, "lr": tune.sample_from(lambda spec: 0.005)}
    with pytest.raises(InvalidInputError, match="sample_from"):
        _model(tmp_path / "evo", space=opaque).fit(X, y)
    random = _model(tmp_path / "random", space=opaque, searcher="random", n_trials=2).fit(X, y)
    assert random.catalog_["lr"].tolist() == [0.005, 0.005]


def test_user_tuner_around_uqkit_evolution_searcher(ray_session, data, tmp_path):
    from uqkit.search import RegularizedEvolutionSearcher, trainable

    X, y = data
    space = SearchSpace.from_dict(SPACE)
    searcher = RegularizedEvolutionSearcher(space, population_size=2, sample_size=2, seed=0)
    tuner = tune.Tuner(
        trainable(X[:90], y[:90], X[90:], y[90:], space=space, seed=0),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=4, max_concurrent_trials=2,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name="own", storage_path=str(tmp_path), verbose=0),
    )
    grid = tuner.fit()
    assert len(grid) == 4 and not grid.errors
    # every trial is in uqkit's catalog format: its record, and a network that loads
    for result in grid:
        record = load_trial(Path(result.checkpoint.path))
        assert record["val_nll"] == pytest.approx(result.metrics["val_nll"])
        space.validate(record["config"])
        net = load_network(record, 2, 2)
        assert net(__import__("torch").zeros(3, 2)).shape == (3, 2)
    assert sorted(Path(tmp_path, "own").glob("*/checkpoint_*/trial.json"))


def test_tune_config_conflicts_and_bad_objects_are_clear_errors(ray_session, data, tmp_path):
    from uqkit.search import make_searcher

    X, y = data
    with pytest.raises(InvalidInputError, match="n_trials"):
        _model(tmp_path / "a", tune_config=tune.TuneConfig(num_samples=9)).fit(X, y)
    with pytest.raises(InvalidInputError, match="val_nll"):
        _model(tmp_path / "b", tune_config=tune.TuneConfig(metric="loss")).fit(X, y)
    optuna = pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    space = SearchSpace.from_dict(SPACE)
    with pytest.raises(InvalidInputError, match="metric"):
        make_searcher(OptunaSearch(metric="loss", mode="max"), space, 0)
    own = OptunaSearch(space={"lr": tune.loguniform(1e-3, 1e-2)},
                       sampler=optuna.samplers.TPESampler(seed=0))
    with pytest.raises(InvalidInputError, match="its own"):
        make_searcher(own, space, 0)
    limited, param_space = make_searcher(OptunaSearch(), space, 0, max_concurrent=2)
    assert type(limited).__name__ == "ConcurrencyLimiter" and param_space is None
    assert copy.deepcopy(limited).searcher.metric == "val_nll"


def test_warm_start_tells_the_searcher_or_says_it_cold_starts(caplog):
    from ray.tune.search import Searcher

    from uqkit.search import RegularizedEvolutionSearcher, make_searcher
    from uqkit.search._searchers import warm_start

    class Plain(Searcher):  # a searcher that cannot be told earlier evaluations
        def suggest(self, trial_id):
            return {}

    space = SearchSpace.from_dict(SPACE)
    records = [{"config": space.sample(np.random.default_rng(i)), "val_nll": float(i)}
               for i in range(3)]
    log = logging.getLogger("uqkit.test")
    with caplog.at_level(logging.WARNING, logger="uqkit.test"):
        assert warm_start(Plain(metric="val_nll", mode="min"), records, space, log) == 0
    assert "cold-starts" in caplog.text and "3 finished trial(s)" in caplog.text
    evolution = RegularizedEvolutionSearcher(space, population_size=3, sample_size=2)
    assert warm_start(evolution, records, space, log) == 3 and evolution.evolution.n_told == 3
    pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    optuna_search, _ = make_searcher(OptunaSearch(), space, 0, max_concurrent=2)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uqkit.test"):
        assert warm_start(optuna_search, records, space, log) == 3
    assert not caplog.text
