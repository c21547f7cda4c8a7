"""A corpus of damaged search storages (issue 17, item 10): every file of a finished search,
damaged in every way a disk, a killed process or a careless hand damages files.

Each case damages one file of a copy of a finished search and reads the storage back as a
resumed search does (``Experiment.earlier_results``: damaged trials are retrained in place, no
Ray cluster). The outcome must be the finished trials with the damaged one retrained to the
same predictions, or left to the search when its configuration is lost, with one
``DamagedTrialWarning`` line naming it; never a traceback, never a trial whose files changed
under it.
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from tests.adversarial._outcome import probe
from uqkit.search._catalog import fingerprint, inspect_trial
from uqkit.search._experiment import Experiment

pytest.importorskip("ray")

TRIAL_FILES = ["trial.json", "weights.safetensors", "predictions.safetensors"]
RUN_FILES = ["failures.json", "problem.json"]


def _damage(path, how: str) -> None:
    content = path.read_bytes() if path.is_file() else b""
    if how == "deleted":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif how == "one_byte_flipped":
        middle = len(content) * 3 // 4  # in the tensor data of a safetensors file
        path.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1:])
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(max(16, len(content))))
    elif how == "directory":
        path.unlink()
        path.mkdir()
    else:
        raise AssertionError(how)


DAMAGES = ["deleted", "empty", "truncated", "one_byte_flipped", "garbage", "directory"]


def _read_back(storage, problem):
    data, setup = problem
    experiment = Experiment(storage, "autodeuq", fingerprint(data, setup.to_dict()))
    experiment.open(resume=True, description={"task": setup.task})
    records, _ = experiment.earlier_results(data, setup)
    return records


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("name", TRIAL_FILES)
def test_every_trial_file_damaged_every_way(storage, problem, name, how):
    folder = storage / "autodeuq" / "run-000" / "t1" / "checkpoint_000000"
    before = inspect_trial(folder)[0]
    _damage(folder / name, how)
    outcome = probe(lambda: _read_back(storage, problem))  # records uqkit warnings
    assert outcome.error is None, outcome.error
    names = sorted(r["trial_name"] for r in outcome.value)
    if name == "trial.json" and how == "deleted":
        # exactly the state of a trial killed before its record was written: unfinished
        assert names == ["t0", "t2"] and outcome.warnings == []
        return
    assert len(outcome.warnings) == 1 and "run-000/t1" in outcome.warnings[0]
    if name == "trial.json" or how == "directory":
        # the configuration is lost, or the retraining cannot write over a folder (the warning
        # says so): the trial is left to the search, which trains a new one in its place
        assert names == ["t0", "t2"]
        return
    assert names == ["t0", "t1", "t2"]
    again = next(r for r in outcome.value if r["trial_name"] == "t1")
    for key, value in before["predictions"].items():
        np.testing.assert_array_equal(again["predictions"][key], value)
    assert inspect_trial(folder)[1] is None  # repaired


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("name", RUN_FILES)
def test_every_bookkeeping_file_damaged_every_way(storage, problem, name, how):
    root = storage / "autodeuq"
    path = root / "run-000" / name if name == "failures.json" else root / name
    if not path.exists():
        pytest.skip(f"{name} is written later in this layout")
    _damage(path, how)
    outcome = probe(lambda: _read_back(storage, problem))
    if how == "directory" and name == "problem.json":  # not uqkit's: refused, not removed
        assert "is a folder" in str(outcome.error)
        return
    assert outcome.error is None, outcome.error
    assert sorted(r["trial_name"] for r in outcome.value) == ["t0", "t1", "t2"]
    if how != "deleted":  # a missing failure log or problem file is a fresh start, not damage
        assert len(outcome.warnings) == 1 and name in outcome.warnings[0]


def test_valid_weights_that_changed_are_caught_by_the_checksum(storage, problem):
    """A weights file that is still a valid safetensors file of the right shapes, with one
    number changed: before the checksums, such a trial predicted silently differently."""
    folder = storage / "autodeuq" / "run-000" / "t0" / "checkpoint_000000"
    tensors = load_file(str(folder / "weights.safetensors"))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, str(folder / "weights.safetensors"))
    reason = inspect_trial(folder)[1]
    assert reason.startswith("weights.safetensors does not match its checksum")
    outcome = probe(lambda: _read_back(storage, problem))
    assert len(outcome.warnings) == 1 and "run-000/t0" in outcome.warnings[0]
    assert inspect_trial(folder)[1] is None  # retrained, with the checksum of the new files
