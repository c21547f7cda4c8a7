"""Pooled trials: on a local Ray that uqkit starts (``connect_ray``), every trial trains in a
Ray task on a pooled worker of its node (``uqkit.search._pooled``) instead of in its Tune actor.

The trials compute what they compute in-process (same records), retries and their error
messages are as for trials in the actor, Tune's own restore of such a start works, and the
workers stay warm from one search to the next (the point: their imports are paid once).

One local Ray for the module, started by uqkit; 1-layer networks, 2 epochs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from uqkit.search import SearchSpace, TrialSetup, run_trial
from uqkit.training import RayBackend

pytestmark = pytest.mark.ray
tune = pytest.importorskip("ray.tune")

SPACE = SearchSpace(max_layers=1, units=(8, 16), epochs=2, patience=2, batch_size=(16, 32))


@pytest.fixture(scope="module")
def uqkit_ray():
    """A local Ray started by uqkit, as a search that finds none starts it."""
    ray = pytest.importorskip("ray")
    from uqkit.training import connect_ray, keeps_idle_workers

    if ray.is_initialized():
        pytest.skip("a Ray is already running: these tests need the one uqkit starts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        assert connect_ray() and keeps_idle_workers()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2)).astype(np.float32)
    y = (X[:, :1] - 0.5 * X[:, 1:] + 0.1 * rng.normal(size=(90, 1))).astype(np.float32)
    data = {"X": X[:60], "y": y[:60], "X_val": X[60:], "y_val": y[60:]}
    setup = TrialSetup(space=SPACE.to_dict(), task="regression", out_features=2, seed=0)
    return data, setup


def _search(problem, storage, n_trials=3, hook=None, searcher="evolution", retries=1):
    from uqkit.search import run_search

    data, setup = problem
    return run_search(data, setup, n_trials=n_trials, searcher=searcher,
                      storage_path=Path(storage), experiment="pooled", resume=False,
                      backend=RayBackend(max_retries=retries), max_concurrent=2,
                      scheduler=None, population_size=2, sample_size=2, verbose=0,
                      space=SPACE, _fault_hook=hook)


def _fail_first_attempts():
    """A fault hook: every trial's first attempt raises after its first epoch (a closure, so
    it is pickled by value to the workers)."""
    def hook(trial_name: str, attempt: int, epoch: int) -> None:
        if attempt == 0 and epoch == 1:
            raise RuntimeError(f"injected fault in {trial_name}")

    return hook


def test_pooled_trials_retry_and_train_what_run_trial_trains(uqkit_ray, problem, tmp_path):
    data, setup = problem
    outcome = _search(problem, tmp_path, hook=_fail_first_attempts())
    records, failed = outcome
    assert len(records) == 3 and failed == []
    for result in outcome.result_grid:  # trained in a task, not in the trial's actor
        assert result.metrics["worker_pid"] != result.metrics["pid"]
        assert result.metrics["dispatch_seconds"] >= 0
        assert Path(result.path).name.startswith("pooled_trial")
    for record in records:
        # retried once, the driver saw the injected error of the first attempt
        assert record["attempts"] == 2
        assert any("injected fault" in error for error in record["errors"])
        # the same network as the trial's body run in this process: same seed, same data
        again = run_trial(record["config"], data, setup, Path(tempfile.mkdtemp()),
                          name=record["trial_name"], fingerprint=record["fingerprint"],
                          attempt=1)
        assert again["val_nll"] == record["val_nll"]
        assert again["train_loss"] == record["train_loss"]
        assert 0 < record["train_seconds"] <= record["seconds"]


def test_pooled_random_search_failure_and_tune_restore(uqkit_ray, problem, tmp_path):
    from uqkit.search import trainable_for

    def always(trial_name: str, attempt: int, epoch: int) -> None:
        if trial_name.endswith("00000"):  # Tune's first trial of the run fails every attempt
            raise RuntimeError("always fails")

    outcome = _search(problem, tmp_path, n_trials=3, hook=always, searcher="random")
    records, failed = outcome
    assert len(records) == 2 and [f["status"] for f in failed] == ["ERROR"]
    assert "RuntimeError" in failed[0]["error"] and "always fails" in failed[0]["error"]
    assert failed[0]["attempts"] == 2
    space_names = {v.name for v in SPACE.variables()}
    assert all(set(r["config"]) >= space_names for r in records)  # drawn on the worker

    run = tmp_path / "pooled" / "run-000"
    restored = tune.Tuner.restore(str(run), trainable=trainable_for(run)).get_results()
    finished = sorted(r.metrics["val_nll"] for r in restored if r.error is None)
    assert finished == sorted(r["val_nll"] for r in records)


def _ray_workers(ray) -> set[int]:
    """The worker processes of this Ray (children of its raylet)."""
    psutil = pytest.importorskip("psutil")
    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    return {child.pid for child in psutil.Process(raylet).children(recursive=True)}


def test_pooled_workers_stay_warm_from_one_search_to_the_next(uqkit_ray, problem, tmp_path):
    first = _search(problem, tmp_path / "a", n_trials=4)
    alive = _ray_workers(uqkit_ray)
    second = _search(problem, tmp_path / "b", n_trials=4)
    workers = [{r.metrics["worker_pid"] for r in out.result_grid} for out in (first, second)]
    actors = [{r.metrics["pid"] for r in out.result_grid} for out in (first, second)]
    assert workers[0] <= alive  # the first search's workers outlived it
    assert workers[1] <= alive  # the second search trained on workers that were already up
    assert not actors[0] & actors[1]  # while Tune started new actors for it


def test_a_search_right_after_another_gets_all_its_slots(uqkit_ray, problem, tmp_path):
    """Ray frees an earlier search's trial CPUs late (here: one CPU held 5 s after it); where
    trials are shorter than an actor's start, a search that started without waiting would keep
    one slot to its end (Tune's actor reuse cancels the second actor each time it starts)."""
    import time

    _search(problem, tmp_path / "a", n_trials=2)

    @uqkit_ray.remote(num_cpus=1)
    def hold(seconds):
        time.sleep(seconds)

    held = hold.remote(5.0)
    time.sleep(0.5)  # the hold has its CPU
    second = _search(problem, tmp_path / "b", n_trials=8)
    uqkit_ray.get(held)
    actors = {r.metrics["pid"] for r in second.result_grid}
    assert len(actors) == 2


@pytest.mark.parametrize("max_failures", [2, -1])  # -1: Tune would retry without end
def test_a_diverged_trial_is_not_trained_again(uqkit_ray, problem, tmp_path, max_failures):
    from uqkit.exceptions import DivergenceError
    from uqkit.search import run_search

    trained = tmp_path / "trained"
    trained.mkdir()

    def diverge(trial_name: str, attempt: int, epoch: int) -> None:
        if trial_name.endswith("00000") and epoch == 1:  # the first trial of the run diverges
            (trained / f"{attempt}").touch()
            raise DivergenceError("Member 0 diverged after epoch 1. Lower lr.")

    data, setup = problem
    records, failed = run_search(
        data, setup, n_trials=3, searcher="random", storage_path=tmp_path / "s",
        experiment="pooled", resume=False, backend=RayBackend(max_retries=0),
        max_concurrent=2, scheduler=None, population_size=2, sample_size=2, verbose=0,
        space=SPACE, _fault_hook=diverge,
        run_config=tune.RunConfig(failure_config=tune.FailureConfig(max_failures=max_failures)))
    assert len(records) == 2 and [f["status"] for f in failed] == ["ERROR"]
    # only the first attempt trained; Tune's one retry raised the noted error at once
    assert sorted(path.name for path in trained.iterdir()) == ["0"]
    assert failed[0]["attempts"] == 1
    assert "DivergenceError" in failed[0]["error"] and "Lower lr" in failed[0]["error"]
    assert "not trained again" in failed[0]["error"]
    errors = failed[0]["errors"]
    assert len(errors) == 2 and "not trained again" in errors[1] and "again" not in errors[0]
