"""A search storage with one damaged trial (truncated predictions, missing weights, a garbled
record or failure log) resumes with one warning and retrains the trial, never a traceback.

The storage is written here with the real trial body (:func:`run_trial`) in Tune's layout, and
resumed through the real driver with the budget already spent, so no Ray cluster starts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SEARCH_TRIALS as N_TRIALS
from uqkit.exceptions import ModelFileError
from uqkit.search import DamagedTrialWarning, load_network
from uqkit.search._catalog import fingerprint, inspect_trial
from uqkit.search._experiment import Experiment

pytest.importorskip("ray")  # the driver module imports Ray Tune (no cluster starts here)

def _trial(storage: Path, i: int) -> Path:
    return storage / "autodeuq" / "run-000" / f"t{i}" / "checkpoint_000000"


def _resume(storage, problem, n_trials=N_TRIALS):
    from uqkit.search import run_search
    from uqkit.training import RayBackend

    data, setup = problem
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records, failed = run_search(
            data, setup, n_trials=n_trials, searcher="random", storage_path=storage,
            experiment="autodeuq", resume=True, backend=RayBackend(), max_concurrent=None,
            scheduler=None, population_size=2, sample_size=2, verbose=0,
        )
    damage = [w for w in caught if issubclass(w.category, DamagedTrialWarning)]
    return records, failed, damage


def _predictions(folder: Path) -> dict:
    return inspect_trial(folder)[0]["predictions"]


@pytest.mark.parametrize("damage", ["truncated predictions", "missing weights",
                                    "truncated weights"])
def test_a_damaged_trial_is_retrained_with_one_warning(storage, problem, damage):
    folder = _trial(storage, 1)
    before = json.loads((folder / "trial.json").read_text())
    expected = _predictions(folder)
    if damage == "missing weights":
        (folder / "weights.safetensors").unlink()
    else:
        name = damage.split()[1] + ".safetensors"
        content = (folder / name).read_bytes()
        (folder / name).write_bytes(content[: len(content) // 2])
    records, failed, warned = _resume(storage, problem)
    assert len(warned) == 1, [str(w.message) for w in warned]
    message = str(warned[0].message)
    assert "\n" not in message and "run-000/t1" in message and "retrained" in message
    assert "t0" not in message and "t2" not in message
    # the same configuration and seed trained again: the same network as before the damage
    assert sorted(r["trial_name"] for r in records) == ["t0", "t1", "t2"]
    again = next(r for r in records if r["trial_name"] == "t1")
    assert again["config"] == before["config"] and again["seed"] == before["seed"]
    assert again["val_nll"] == before["val_nll"] and again["attempts"] == 2
    for key, value in expected.items():
        np.testing.assert_array_equal(again["predictions"][key], value)
    assert len(failed) == 1
    load_network(again, 2, 2)  # its weights load
    # repaired: a second resume finds nothing to say
    assert _resume(storage, problem)[2] == []


def test_garbage_failure_log_is_ignored_with_a_warning(storage, problem):
    (storage / "autodeuq" / "run-000" / "failures.json").write_text("{not json")
    records, failed, warned = _resume(storage, problem)
    assert len(warned) == 1 and "failures.json" in str(warned[0].message)
    assert failed == [] and len(records) == N_TRIALS


def test_garbage_record_is_replaced_by_a_new_trial(storage, problem):
    (_trial(storage, 2) / "trial.json").write_text("\x00garbage")
    data, setup = problem
    experiment = Experiment(storage, "autodeuq", fingerprint(data, setup.to_dict()))
    experiment.open(resume=True, description={"task": setup.task})
    with pytest.warns(DamagedTrialWarning, match="run-000/t2.*configuration is lost"):
        records, _ = experiment.earlier_results(data, setup)
    # not finished any more: it does not count against the budget, so the search trains one
    assert sorted(r["trial_name"] for r in records) == ["t0", "t1"]
    assert (_trial(storage, 2) / "trial.json.damaged").exists()


def test_garbage_problem_file_is_rewritten(storage, problem):
    (storage / "autodeuq" / "problem.json").write_text("[")
    records, _, warned = _resume(storage, problem)
    assert len(warned) == 1 and "problem.json" in str(warned[0].message)
    assert len(records) == N_TRIALS


def test_selection_never_reads_weights_that_do_not_load(storage, problem):
    record = inspect_trial(_trial(storage, 0))[0]
    (_trial(storage, 0) / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ModelFileError, match="resume=True"):
        load_network(record, 2, 2)
    assert inspect_trial(_trial(storage, 0))[1].startswith("weights.safetensors")


def test_the_catalog_of_a_run_leaves_damaged_trials_out_with_a_warning(storage, problem):
    (_trial(storage, 0) / "predictions.safetensors").unlink()
    data, setup = problem
    experiment = Experiment(storage, "autodeuq", fingerprint(data, setup.to_dict()))
    with pytest.warns(DamagedTrialWarning, match="run-000/t0.*resume=True"):
        records = experiment.trials()
    assert sorted(r["trial_name"] for r in records) == ["t1", "t2"]


def test_a_retraining_that_fails_is_reported_and_leaves_the_trial_to_the_search(
        storage, problem, monkeypatch):
    import uqkit.search._experiment as experiment_module

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(experiment_module, "run_trial", broken)
    (_trial(storage, 1) / "weights.safetensors").unlink()
    data, setup = problem
    experiment = Experiment(storage, "autodeuq", fingerprint(data, setup.to_dict()))
    experiment.open(resume=True, description={"task": setup.task})
    with pytest.warns(DamagedTrialWarning) as caught:
        records, _ = experiment.earlier_results(data, setup)
    message = str(caught[0].message)
    assert "\n" not in message and "retraining failed (RuntimeError: out of memory)" in message
    assert sorted(r["trial_name"] for r in records) == ["t0", "t2"]
