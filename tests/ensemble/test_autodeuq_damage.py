"""An AutoDEUQ fit resumed on a storage with a damaged trial: one warning, the trial retrained,
the same ensemble as before the damage. The first search writes its trials in the driver's
layout in-process; the resume goes through the real driver with the budget spent (no Ray
cluster starts)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import uqkit.search
from uqkit.ensemble import AutoDEUQRegressor
from uqkit.search import DamagedTrialWarning, SearchSpace, run_trial
from uqkit.search._catalog import fingerprint
from uqkit.search._experiment import Experiment
from uqkit.training import RayBackend

pytest.importorskip("ray")

SPACE = {"max_layers": 1, "units": [8, 16], "epochs": 3, "patience": 2, "dropout": [0.0, 0.0]}


def _search(data, setup, *, n_trials, storage_path, experiment, resume, **kwargs):
    """First start: the trials in-process, as Tune would leave them; a resume: the driver."""
    if resume:
        from uqkit.search._driver import run_search

        return run_search(data, setup, n_trials=n_trials, storage_path=storage_path,
                          experiment=experiment, resume=True, **kwargs)
    digest = fingerprint(data, setup.to_dict())
    folder = Experiment(storage_path, experiment, digest)
    folder.open(resume=False, description={"task": setup.task})
    space, rng = SearchSpace.from_dict(setup.space), np.random.default_rng(setup.seed)
    for i in range(n_trials):
        checkpoint = folder.root / "run-000" / f"t{i}" / "checkpoint_000000"
        checkpoint.mkdir(parents=True)
        run_trial(space.sample(rng), data, setup, checkpoint, name=f"t{i}", fingerprint=digest)
    folder.record_failures("run-000", [])
    return folder.trials(), []


@pytest.fixture(autouse=True)
def local_search(monkeypatch):
    monkeypatch.setattr(uqkit.search, "run_search", _search)


@pytest.mark.parametrize("damage", ["predictions", "weights", "failures"])
def test_resume_retrains_the_damaged_trial_and_predicts_as_before(tmp_path, damage):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=120)

    def model(**params):
        return AutoDEUQRegressor(n_trials=3, ensemble_size=3, min_members=3, space=SPACE,
                                 backend=RayBackend(checkpoint_dir=str(tmp_path)),
                                 random_state=0, device="cpu", **params)

    first = model().fit(X, y)
    run = tmp_path / "autodeuq" / "run-000"
    if damage == "failures":
        (run / "failures.json").write_text("garbage")
    elif damage == "weights":
        (run / "t1" / "checkpoint_000000" / "weights.safetensors").unlink()
    else:
        path = run / "t1" / "checkpoint_000000" / "predictions.safetensors"
        path.write_bytes(path.read_bytes()[:40])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = model(resume=True).fit(X, y)
    damaged = [str(w.message) for w in caught if issubclass(w.category, DamagedTrialWarning)]
    assert len(damaged) == 1
    assert ("failures.json" if damage == "failures" else "run-000/t1") in damaged[0]
    assert len(resumed.catalog_) == 3
    np.testing.assert_array_equal(resumed.weights_, first.weights_)
    a, b = first.predict_uncertainty(X[:10]), resumed.predict_uncertainty(X[:10])
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.total, b.total)
