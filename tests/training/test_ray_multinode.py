"""A Ray-backend ensemble fit on a three-node Ray cluster that loses a worker node in the
middle (issue 20, item 5): the member whose node died is retried on the surviving node, and the
ensemble equals the one trained without the failure (same seeds).

The cluster (``tests.ray_cluster``): a head with no CPU, where the driver and its object store
live, and two worker nodes with one CPU each.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.ray_cluster import NodeKiller, announcer, local_cluster
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.training import RayBackend, _ray_backend, _ray_driver, train_members_ray

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]

VICTIM = 2  # the member whose node is removed while it trains (after members finished there)
# 128 units: a member's weights (~140 kB) exceed Ray's inline limit (100 kB), so they travel
# through the object store of the node that trained them, as large members do
PARAMS = dict(n_members=4, hidden_layers=(128, 128), epochs=3, batch_size=16, dtype="float64",
              random_state=3, verbose=0)


@pytest.fixture
def cluster():
    with local_cluster({"num_cpus": 1}, {"num_cpus": 1}) as running:
        yield running


def _task_losing_its_node(signal, victim: int):
    """``train_task`` whose first attempt for ``victim`` names its node in ``signal`` and waits
    there to be removed, after killing the progress queue's actor; every other attempt trains.
    Each task first writes the node of that actor next to ``signal``. A closure: Ray pickles it
    by value."""
    wait_for_removal = announcer(signal)
    queue_node = f"{signal}.queue"

    def task(spec, loss_fn, arrays, seeds, member_ids, config, *, task, attempt, **options):
        import ray

        from uqkit.training._ray_task import train_task

        if options["queue"] is not None:
            where = options["queue"].actor.__ray_call__.remote(
                lambda actor: ray.get_runtime_context().get_node_id())
            try:
                node = ray.get(where)
            except ray.exceptions.RayActorError:  # killed below by the victim: nothing to say
                node = None
            if node is not None:
                with open(queue_node, "w") as handle:
                    handle.write(node)
        if victim in member_ids and attempt == 0:
            if options["queue"] is not None:  # a second fault: the progress bar's actor dies
                ray.kill(options["queue"].actor)
            wait_for_removal()
        return train_task(spec, loss_fn, arrays, seeds, member_ids, config, task=task,
                          attempt=attempt, **options)

    return task


def _data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    return X, np.sin(X[:, 0]) - 0.5 * X[:, 1] + 0.1 * rng.normal(size=80)


def test_ensemble_fit_survives_a_lost_worker_node(cluster, tmp_path, monkeypatch, caplog):
    ray, ray_cluster, _ = cluster
    X, y = _data()
    results = []

    def recorded(*args, **kwargs):
        results.append(train_members_ray(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(_ray_backend, "train_members_ray", recorded)
    signal = tmp_path / "lose-node"
    monkeypatch.setattr(_ray_driver, "train_task", _task_losing_its_node(signal, VICTIM))
    backend = RayBackend(address=ray_cluster.address, max_retries=2)
    with NodeKiller(ray_cluster, signal) as killer, caplog.at_level("INFO", "uqkit"):
        # verbose=1: with the progress queue, which must not take the fit down when it dies
        model = DeepEnsembleRegressor(backend=backend, **{**PARAMS, "verbose": 1}).fit(X, y)
    assert killer.error is None, killer.error
    assert killer.removed_at is not None, "the victim's task never asked for its node to go"
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # head + one worker left
    # the progress queue lives on the driver's node: a lost worker node cannot take it away
    driver_node = ray.get_runtime_context().get_node_id()
    assert (tmp_path / "lose-node.queue").read_text() == driver_node
    assert "progress reports lost (" in caplog.text  # it was killed: the fit went on
    (result,) = results
    attempts = [r["attempts"] for r in result.records]
    assert attempts == [2 if i == VICTIM else 1 for i in range(PARAMS["n_members"])]

    # the ensemble trained without a failure, with the same seeds: the same members
    clean = DeepEnsembleRegressor(backend="serial", **PARAMS).fit(X, y)
    np.testing.assert_array_equal(model.validation_indices_, clean.validation_indices_)
    state, want = model.stack_.state_dict(), clean.stack_.state_dict()
    assert state.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(state[key], value, atol=1e-9, rtol=0)
    got, expected = model.predict_uncertainty(X), clean.predict_uncertainty(X)
    for name in ("mean", "aleatoric", "epistemic"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), atol=1e-9,
                                   rtol=0)
