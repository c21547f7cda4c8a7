"""GPU fractions reach Ray exactly (issue 20, item 6), on a cluster of logical GPUs.

Ray lets a node declare GPUs it does not have (``num_gpus=1`` on a CPU-only machine): they are
scheduled like real ones, so how many tasks or trials share a GPU, and which GPU id and
fraction each is given, can be tested here. Nothing touches CUDA: torch has no CUDA device in
this process, and a task or trial given a GPU must still train on the CPU without raising.
What this does not cover (CUDA kernels, memory per process, speed) needs a GPU machine:
``benchmarks/gpu_check.py``, see ``benchmarks/results/gpu_check.md``.

The cluster (``tests.ray_cluster``): a head with no CPU and two worker nodes with 4 CPUs and one
logical GPU each, so CPUs would allow 8 one-CPU trials at once and the GPUs allow 4 at 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.ray_cluster import local_cluster
from uqkit.ensemble import AutoDEUQRegressor, DeepEnsembleRegressor
from uqkit.training import RayBackend, _ray_backend, _ray_driver, train_members_ray

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]

SPACE = {"max_layers": 1, "units": [8, 16], "epochs": 2, "patience": 2, "batch_size": [32, 64]}
N_TRIALS, GPU_FRACTION, N_GPUS = 8, 0.5, 2
N_MEMBERS = 2  # of the ensemble: each new task worker imports torch, which is the slow part


@pytest.fixture(scope="module")
def cluster():
    with local_cluster({"num_cpus": 4, "num_gpus": 1}, {"num_cpus": 4, "num_gpus": 1}) as running:
        yield running


def _data(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)


def _recording_hook(folder: Path, together: int, epochs: int):
    """Fault hook of the search: at its first epoch a trial writes what it was given and waits
    (at most 60 s) until ``together`` trials have started, so that the packing is visible; at
    its last epoch it writes the time it ended."""
    folder = str(folder)

    def hook(trial_name: str, attempt: int, epoch: int) -> None:
        import glob
        import json
        import os
        import time

        import ray

        path = os.path.join(folder, trial_name)
        if epoch == 1:
            seen = {
                "assigned": ray.get_runtime_context().get_assigned_resources(),
                "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
                "node": ray.get_runtime_context().get_node_id(),
                "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "start": time.time(),
            }
            with open(path + ".start", "w") as handle:
                json.dump(seen, handle)
            deadline = time.time() + 60
            while len(glob.glob(os.path.join(folder, "*.start"))) < together:
                if time.time() > deadline:
                    break
                time.sleep(0.05)
        if epoch == epochs:
            with open(path + ".end", "w") as handle:
                handle.write(str(time.time()))

    return hook


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = most = 0
    for _, step in events:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow  # about 45 s on the shared 2-core machine: four trial actors import torch
def test_search_trials_get_their_gpu_fraction(cluster, tmp_path):
    _, ray_cluster, _ = cluster
    X, y = _data()
    seen = tmp_path / "seen"
    seen.mkdir()
    per_trial = {"num_cpus": 1, "num_gpus": GPU_FRACTION}
    model = AutoDEUQRegressor(
        n_trials=N_TRIALS, ensemble_size=2, selection="topk", searcher="random", space=SPACE,
        backend=RayBackend(address=ray_cluster.address, resources=per_trial,
                           checkpoint_dir=str(tmp_path / "shared"), max_retries=0),
        max_concurrent=None, random_state=0, device="auto",  # "auto": CPU here, no CUDA
    )
    together = int(N_GPUS / GPU_FRACTION)
    model._fault_hook = _recording_hook(seen, together, SPACE["epochs"])
    model.fit(X, y)

    catalog = model.catalog_
    assert len(catalog) == N_TRIALS and (catalog["status"] == "FINISHED").all()
    starts = {p.stem: json.loads(p.read_text()) for p in seen.glob("*.start")}
    ends = {p.stem: float(p.read_text()) for p in seen.glob("*.end")}
    assert len(starts) == len(ends) == N_TRIALS
    for record in starts.values():
        # Tune asked Ray for exactly the fraction: each trial holds half of one logical GPU
        assert record["assigned"]["GPU"] == pytest.approx(GPU_FRACTION)
        assert record["assigned"]["CPU"] == pytest.approx(1.0)
        assert len(record["gpu_ids"]) == 1 and record["cuda_visible"] == record["gpu_ids"][0]
    # two trials per GPU, four at once, never more (CPUs alone would allow eight)
    intervals = [(starts[name]["start"], ends[name]) for name in starts]
    assert _most_at_once(intervals) == together
    per_gpu = {}
    for record in starts.values():
        per_gpu.setdefault((record["node"], record["gpu_ids"][0]), []).append(record)
    assert len(per_gpu) == N_GPUS
    # with no CUDA in torch the trials trained on the CPU: what their records say
    records = [json.loads(p.read_text())
               for p in (tmp_path / "shared").glob("autodeuq/run-*/*/checkpoint_*/trial.json")]
    assert len(records) == N_TRIALS and {r["device"] for r in records} == {"cpu"}
    assert np.isfinite(model.predict_uncertainty(X[:10]).total).all()


def _recording_task(folder: Path):
    """``train_task`` that first writes what Ray gave it (a closure: pickled by value)."""
    folder = str(folder)

    def task(spec, loss_fn, arrays, seeds, member_ids, config, *, task, attempt, **options):
        import json
        import os

        import ray
        import torch

        from uqkit.training._ray_task import train_task

        seen = {
            "assigned": ray.get_runtime_context().get_assigned_resources(),
            "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
            "cuda": torch.cuda.is_available(), "use_gpu": options["use_gpu"],
        }
        with open(os.path.join(folder, f"task-{task}.json"), "w") as handle:
            json.dump(seen, handle)
        return train_task(spec, loss_fn, arrays, seeds, member_ids, config, task=task,
                          attempt=attempt, **options)

    return task


@pytest.mark.parametrize(("members_per_task", "gpus_per_task"), [(1, 0.25), (2, 0.5)])
def test_ensemble_tasks_get_their_gpu_fraction(cluster, tmp_path, monkeypatch,
                                               members_per_task, gpus_per_task):
    _, ray_cluster, _ = cluster
    X, y = _data(60)
    results = []

    def recorded(*args, **kwargs):
        results.append(train_members_ray(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(_ray_backend, "train_members_ray", recorded)
    monkeypatch.setattr(_ray_driver, "train_task", _recording_task(tmp_path))
    backend = RayBackend(address=ray_cluster.address, members_per_task=members_per_task,
                         resources={"num_cpus": 1, "num_gpus": 0.25})
    params = dict(n_members=N_MEMBERS, hidden_layers=(8,), epochs=2, random_state=0, verbose=0)
    model = DeepEnsembleRegressor(backend=backend, device="auto", **params).fit(X, y)

    tasks = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("task-*.json"))]
    assert len(tasks) == N_MEMBERS // members_per_task
    for seen in tasks:
        # members_per_task x the per-member request, exactly (a fraction stays a fraction)
        assert seen["assigned"]["GPU"] == pytest.approx(gpus_per_task)
        assert seen["assigned"]["CPU"] == pytest.approx(members_per_task)
        assert seen["use_gpu"] and len(seen["gpu_ids"]) == 1 and not seen["cuda"]
    (result,) = results
    assert {r["device"] for r in result.records} == {"cpu"}  # no CUDA: trained on the CPU
    clean = DeepEnsembleRegressor(backend="serial", **params).fit(X, y)
    np.testing.assert_allclose(model.predict(X), clean.predict(X), atol=1e-5, rtol=0)
