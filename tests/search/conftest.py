"""Fixtures of the search-storage tests: a finished search written with the real trial body
(:func:`run_trial`) in Tune's layout, without a Ray cluster."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.helpers import SEARCH_TRIALS as N_TRIALS
from uqkit.search import SearchSpace, TrialSetup, run_trial
from uqkit.search._catalog import fingerprint
from uqkit.search._experiment import Experiment


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2)).astype(np.float32)
    y = (X[:, :1] - X[:, 1:]).astype(np.float32)
    data = {"X": X[:35], "y": y[:35], "X_val": X[35:], "y_val": y[35:]}
    space = SearchSpace(max_layers=1, units=(8, 8), epochs=2, patience=2)
    setup = TrialSetup(space=space.to_dict(), task="regression", out_features=2, seed=0)
    return data, setup


@pytest.fixture(scope="module")
def pristine(problem, tmp_path_factory):
    """A finished search of three trials and one failure, as the driver leaves it."""
    data, setup = problem
    root = tmp_path_factory.mktemp("storage")
    digest = fingerprint(data, setup.to_dict())
    experiment = Experiment(root, "autodeuq", digest)
    experiment.open(resume=False, description={"task": setup.task})
    space = SearchSpace.from_dict(setup.space)
    rng = np.random.default_rng(1)
    for i in range(N_TRIALS):
        folder = root / "autodeuq" / "run-000" / f"t{i}" / "checkpoint_000000"
        folder.mkdir(parents=True)
        run_trial(space.sample(rng), data, setup, folder, name=f"t{i}", fingerprint=digest)
    experiment.record_failures("run-000", [{"trial_name": "t9", "status": "ERROR",
                                            "config": {}, "error": "RuntimeError: boom"}])
    return root


@pytest.fixture
def storage(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "s")
    return tmp_path / "s"
