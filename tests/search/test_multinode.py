"""An AutoDEUQ search on a three-node Ray cluster that loses a worker node in the middle
(issue 20, item 5): the search completes, every trial that had finished is kept as it was and
none is trained again; the trial killed with its node is retried by Tune.

The cluster (``tests.ray_cluster``): a head with no CPU, where the driver runs and nothing is
scheduled, and two worker nodes with one CPU each; the storage is a folder every node sees.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.ray_cluster import NodeKiller, announcer, local_cluster
from uqkit.ensemble import AutoDEUQRegressor
from uqkit.search import SearchSpace
from uqkit.training import RayBackend

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]

SPACE = {"max_layers": 1, "units": [8, 16], "epochs": 2, "patience": 2, "batch_size": [32, 64]}
N_TRIALS = 8
KILL_AFTER = 3  # finished trials before the node goes


@pytest.fixture
def cluster():
    with local_cluster({"num_cpus": 1}, {"num_cpus": 1}) as running:
        yield running


def _lose_a_node_after(storage: Path, finished: int, signal: Path):
    """Fault hook: the first trial that starts its first epoch once ``finished`` trials have
    finished names its node in ``signal`` and waits there for the node to be removed."""
    storage = str(storage)
    wait_for_removal = announcer(signal)

    def hook(trial_name: str, attempt: int, epoch: int) -> None:
        import glob
        import os

        if attempt or epoch != 1:
            return
        done = glob.glob(os.path.join(storage, "autodeuq", "run-*", "*", "checkpoint_*",
                                      "trial.json"))
        if len(done) < finished:
            return
        try:  # one trial only
            os.close(os.open(os.path.join(storage, "claimed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        with open(os.path.join(storage, "victim"), "w") as handle:
            handle.write(trial_name)
        wait_for_removal()

    return hook


def _files(storage: Path) -> dict[Path, tuple[str, int]]:
    """Every finished trial's files: SHA-256 and mtime."""
    out = {}
    for record in storage.glob("autodeuq/run-*/*/checkpoint_*/trial.json"):
        for path in record.parent.iterdir():
            out[path] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


def _attempts(storage: Path) -> dict[str, int]:
    return {p.name.removesuffix(".attempts"): len(p.read_text().split())
            for p in storage.glob("autodeuq/run-*/_attempts/*.attempts")}


def test_search_survives_a_lost_worker_node(cluster, tmp_path):
    ray, ray_cluster, _ = cluster
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=120)
    storage = tmp_path / "shared"
    signal = tmp_path / "lose-node"
    before: dict = {}

    model = AutoDEUQRegressor(
        n_trials=N_TRIALS, ensemble_size=3, selection="topk", population_size=4,
        sample_size=2, space=SPACE,
        backend=RayBackend(address=ray_cluster.address, checkpoint_dir=str(storage),
                           max_retries=2),
        max_concurrent=2, random_state=0, device="cpu",
    )
    model._fault_hook = _lose_a_node_after(storage, KILL_AFTER, signal)
    with NodeKiller(ray_cluster, signal, before=lambda: before.update(_files(storage))) as killer:
        model.fit(X, y)
    assert killer.error is None, killer.error
    assert killer.removed_at is not None, "no trial asked for its node to be removed"
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # head + one worker left

    # the search completed: every trial finished, on the surviving node after the loss
    catalog = model.catalog_
    assert len(catalog) == N_TRIALS and (catalog["status"] == "FINISHED").all()
    attempts = _attempts(storage)
    victim = (storage / "victim").read_text()
    assert attempts[victim] == 2  # killed with its node, retried once by Tune
    (row,) = catalog[catalog["trial"] == victim].itertuples()
    # the catalog says why (Ray's last line: "the actor's node was terminated ...")
    assert row.attempts == 2 and "node" in row.errors, row.errors
    assert sum(attempts.values()) == N_TRIALS + 1  # and nothing else ran twice

    # every trial that had finished before the loss is kept byte for byte, never retrained
    finished_before = {json.loads(p.read_text())["trial_name"] for p in before
                       if p.name == "trial.json"}
    assert len(finished_before) >= KILL_AFTER
    after = _files(storage)
    assert all(after.get(path) == stamp for path, stamp in before.items())
    assert all(attempts[name] == 1 for name in finished_before)
    assert victim not in finished_before

    # the ensemble is valid: weights of a mixture, configurations of the space, finite output
    assert model.weights_.sum() == pytest.approx(1.0) and (model.weights_ > 0).all()
    space = SearchSpace.from_dict(SPACE)
    for config in model.member_configs_:
        space.validate(config)
    prediction = model.predict_uncertainty(X[:10])
    assert np.isfinite(prediction.mean).all() and (prediction.total > 0).all()
