"""End-to-end AutoDEUQ searches on one local Ray (module fixture), with tiny budgets; failures
are injected with the driver's fault hook (a private attribute the tests set on the estimator).

Each fit trains a few 1-2 layer networks for 3 epochs: the point is the machinery (catalog,
selection, retries, resume, save/load), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import uqkit
from uqkit.ensemble import AutoDEUQRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.search import SearchSpace
from uqkit.training import RayBackend

pytestmark = pytest.mark.ray

SPACE = {"max_layers": 2, "units": [16, 32], "epochs": 3, "patience": 2, "batch_size": [32, 64]}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 2))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=160)
    return X, y


def _model(storage, max_retries=1, **params):
    defaults = dict(n_trials=2, ensemble_size=2, population_size=2, sample_size=2, space=SPACE,
                    backend=RayBackend(checkpoint_dir=str(storage), max_retries=max_retries),
                    max_concurrent=2, random_state=0, device="cpu")
    return AutoDEUQRegressor(**{**defaults, **params})


def _fail_first_trial(folder: Path, attempts: int):
    """A fault hook: the first trial to finish an epoch raises there on its first ``attempts``
    attempts. Trials run in worker processes, so the hook claims "first" with an exclusive file
    in ``folder``; it imports what it needs itself (it is pickled by value)."""
    folder = str(folder)

    def hook(trial_name: str, attempt: int, epoch: int) -> None:
        import os

        if epoch != 1:
            return
        mine = os.path.join(folder, trial_name)
        if not os.path.exists(mine):  # this trial's first attempt: is it the first trial?
            try:
                os.close(os.open(os.path.join(folder, "first"), os.O_CREAT | os.O_EXCL))
                first = "yes"
            except FileExistsError:
                first = "no"
            with open(mine, "w") as handle:
                handle.write(first)
        with open(mine) as handle:
            if handle.read() == "yes" and attempt < attempts:
                raise RuntimeError(f"injected fault in {trial_name}")

    return hook


def _checkpoints(storage):
    return sorted(Path(storage).glob("autodeuq/run-*/*/checkpoint_*/trial.json"))


def test_retry_k1_save_load_and_resume(ray_session, data, tmp_path):
    X, y = data
    # the first trial raises after its first epoch on its first attempt, and is retried
    model = _model(tmp_path, ensemble_size=1)
    model._fault_hook = _fail_first_trial(tmp_path, attempts=1)
    model.fit(X, y)
    catalog = model.catalog_
    assert len(catalog) == 2 and (catalog["status"] == "FINISHED").all()
    assert sorted(catalog["attempts"].tolist()) == [1, 2]  # retried, and reported
    retried = catalog[catalog["attempts"] == 2].iloc[0]
    assert "injected fault" in retried["errors"]
    space = SearchSpace.from_dict(SPACE)
    for _, row in catalog.iterrows():
        space.validate({v.name: row[v.name] for v in space.variables()})

    # K = 1: the best single model of the catalog, weight one, its own prediction
    best = int(np.argmin(catalog["val_nll"].to_numpy()))
    assert model.selected_rows_ == [best] and model.weights_.tolist() == [1.0]
    assert catalog["weight"].tolist() == [1.0 if i == best else 0.0 for i in range(2)]
    prediction = model.predict_uncertainty(X[:20])
    np.testing.assert_array_equal(prediction.epistemic, 0.0)

    # save / load gives identical predictions
    loaded = uqkit.load(model.save(tmp_path / "model"))
    again = loaded.predict_uncertainty(X[:20])
    np.testing.assert_array_equal(again.mean, prediction.mean)
    np.testing.assert_array_equal(again.total, prediction.total)
    pd.testing.assert_frame_equal(loaded.catalog_, catalog)

    # resume with a larger budget: the two finished trials are loaded, one more is trained
    before = {p: p.stat().st_mtime_ns for p in _checkpoints(tmp_path)}
    with pytest.raises(InvalidInputError, match="resume=True"):
        _model(tmp_path, n_trials=3).fit(X, y)
    resumed = _model(tmp_path, n_trials=3, resume=True).fit(X, y)
    after = _checkpoints(tmp_path)
    assert len(after) == 3
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # not retrained
    assert resumed.catalog_["run"].tolist().count("run-000") == 2
    assert resumed.catalog_["run"].tolist().count("run-001") == 1
    assert resumed.weights_.sum() == pytest.approx(1.0)
    # a budget already spent trains nothing
    spent = _model(tmp_path, n_trials=3, resume=True).fit(X, y)
    assert _checkpoints(tmp_path) == after and len(spent.catalog_) == 3
    # the same rows as a read-only memmap (what joblib hands to the workers of a
    # cross-validation) are read whole: the same problem, nothing retrained, same predictions
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    from_memmap = _model(tmp_path, n_trials=3, resume=True).fit(memmap, y)
    assert _checkpoints(tmp_path) == after
    np.testing.assert_array_equal(from_memmap.predict(memmap[:20]), spent.predict(X[:20]))
    # other data refuse to resume (the fingerprint is of the data the trials see: standardised,
    # so y + 1 would be the same problem; a reordered y is not)
    with pytest.raises(InvalidInputError, match="fingerprint"):
        _model(tmp_path, n_trials=3, resume=True).fit(X, y[::-1])


def test_failed_trial_is_reported_random_search(ray_session, data, tmp_path):
    X, y = data
    model = _model(tmp_path, n_trials=3, searcher="random", selection="topk")
    model._fault_hook = _fail_first_trial(tmp_path, attempts=9)  # fails on every attempt
    model.fit(X, y)
    catalog = model.catalog_
    assert sorted(catalog["status"].tolist()) == ["ERROR", "FINISHED", "FINISHED"]
    failed = catalog[catalog["status"] == "ERROR"].iloc[0]
    assert "injected fault" in failed["errors"] and np.isnan(failed["val_nll"])
    assert model.weights_.tolist() == [0.5, 0.5]
    record = json.loads(_checkpoints(tmp_path)[0].read_text())
    assert set(record) >= {"config", "architecture", "val_nll", "best_epoch", "seed"}


def test_tpe_search_under_asha(ray_session, data, tmp_path, capsys):
    pytest.importorskip("optuna")
    X, y = data
    # patience = epochs: every trial reaches ASHA's max_t, where it must still report its
    # checkpoint (the first trial at a rung is never cut, so at least one finishes)
    space = {**SPACE, "epochs": 4, "patience": 4}
    model = _model(tmp_path, n_trials=4, searcher="tpe", scheduler="asha", space=space,
                   max_retries=0).fit(X, y)
    assert "Configuration for experiment" not in capsys.readouterr().out  # verbose=0: silent
    catalog = model.catalog_
    # every trial is accounted for: finished with a checkpoint, or stopped by ASHA
    assert len(catalog) == 4
    assert set(catalog["status"]) <= {"FINISHED", "STOPPED"}
    finished = catalog[catalog["status"] == "FINISHED"]
    assert len(finished) >= 1 and np.isfinite(finished["val_nll"]).all()
    stopped = catalog[catalog["status"] == "STOPPED"]
    assert (stopped["weight"] == 0).all()
    # TPE proposed configurations of the space
    checker = SearchSpace.from_dict(space)
    for _, row in finished.iterrows():
        checker.validate({v.name: row[v.name] for v in checker.variables()})
    assert model.weights_.sum() == pytest.approx(1.0)
    assert np.isfinite(model.predict_uncertainty(X[:10]).total).all()


@pytest.mark.parametrize("searcher", ["evolution", "tpe", "random"])
def test_the_deephyper_preset_searches_on_ray(ray_session, data, tmp_path, searcher):
    """The preset end to end: each uqkit searcher drives a Ray search of DeepHyper's space to
    a valid ensemble, selected by the paper's moment-matched loss."""
    if searcher == "tpe":
        pytest.importorskip("optuna")
    from uqkit.search import DeepHyperSpace

    X, y = data
    space = DeepHyperSpace(num_nodes=3, units=(16, 32), epochs=3)
    model = _model(tmp_path, n_trials=4, population_size=3, searcher=searcher, space=space,
                   selection_loss="moment_matched").fit(X, y)
    finished = model.catalog_[model.catalog_["status"] == "FINISHED"]
    assert len(finished) == 4 and np.isfinite(finished["val_nll"]).all()
    for _, row in finished.iterrows():  # every trial ran a configuration of the preset
        space.validate({v.name: row[v.name] for v in space.variables()})
    assert model.weights_.sum() == pytest.approx(1.0)
    assert np.isfinite(model.predict_uncertainty(X[:10]).total).all()
