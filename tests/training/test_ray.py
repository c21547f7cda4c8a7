"""The Ray backend: same members as the serial backend, retries, resume, clear errors.

Ray tests share one local Ray with 2 CPUs (module fixture): starting Ray is the slow part.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import uqkit
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import (
    DivergenceError,
    InvalidInputError,
    MemberTrainingError,
    MissingDependencyError,
)
from uqkit.losses import GaussianMemberLoss
from uqkit.nn import StackSpec
from uqkit.training import (
    MemberData,
    RayBackend,
    TrainConfig,
    fit_members,
    resolve_backend,
    train_members_ray,
)
from uqkit.training._checkpoint import MemberCheckpoints, problem_fingerprint
from uqkit.training._ray_resources import task_resources
from uqkit.training._ray_task import check_faults

SEEDS = [11, 22, 33]


def _problem(dtype=torch.float64, n=48):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, :1]) + 0.1 * rng.normal(size=(n, 1))
    data = MemberData(
        X=torch.as_tensor(X[:40], dtype=dtype), y=torch.as_tensor(y[:40], dtype=dtype),
        X_val=torch.as_tensor(X[40:], dtype=dtype), y_val=torch.as_tensor(y[40:], dtype=dtype),
    )
    spec = StackSpec(in_features=3, out_features=2, hidden_layers=(8,), dtype="float64")
    config = TrainConfig(epochs=4, batch_size=16, lr=1e-2, patience=2)
    return spec, GaussianMemberLoss(), data, config


@pytest.fixture(scope="module")
def reference():
    """The serial backend's members: what every Ray run must reproduce."""
    spec, loss, data, config = _problem()
    stack, history = fit_members(spec, loss, data, SEEDS, config, backend="serial", verbose=0)
    return stack.state_dict(), history


def _assert_same_members(stack, reference_state, atol=1e-6):
    state = stack.state_dict()
    assert state.keys() == reference_state.keys()
    for key, value in reference_state.items():
        torch.testing.assert_close(state[key], value, atol=atol, rtol=0)


# --------------------------------------------------------------------------- without Ray
def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    X = np.random.default_rng(0).normal(size=(20, 2))
    model = DeepEnsembleRegressor(n_members=2, epochs=1, backend="ray", verbose=0)
    with pytest.raises(MissingDependencyError, match=r"pip install 'uqkit\[search\]'"):
        model.fit(X, X[:, 0])


def test_fault_plan_and_resources_are_checked():
    assert check_faults({1: ("raise", 1), 3: ("kill", 2)}) == {1: ("raise", 1), 3: ("kill", 2)}
    assert check_faults(None) == {}
    with pytest.raises(InvalidInputError, match="kind"):
        check_faults({1: ("explode", 1)})
    # a task of 4 members asks for 4x the per-member resources; a task uses at most one GPU
    assert task_resources({"num_cpus": 1, "num_gpus": 0.25}, 4) == {"num_cpus": 4.0,
                                                                    "num_gpus": 1.0}
    assert task_resources({"num_cpus": 0.5, "num_gpus": 0.4}, 3) == {"num_cpus": 1.5,
                                                                     "num_gpus": 1.0}
    assert task_resources({}, 2) == {"num_cpus": 2.0}
    with pytest.raises(InvalidInputError, match="unknown keys"):
        task_resources({"gpus": 1}, 1)
    with pytest.raises(InvalidInputError, match="fraction"):
        task_resources({"num_gpus": 1.5}, 1)


def test_resolve_backend_is_the_one_check():
    assert resolve_backend("ray") == RayBackend()
    assert type(resolve_backend("vectorized")).__name__ == "VectorizedBackend"
    backend = RayBackend(address="auto", resources={"num_cpus": 2}, members_per_task=2)
    assert resolve_backend(backend) is backend
    bad = [
        ("gpu", "backend must be one of"),
        (3, "backend must be one of"),
        (RayBackend(max_retries=-1), "max_retries must be an int >= 0"),
        (RayBackend(max_retries=True), "max_retries"),
        (RayBackend(members_per_task=0), "members_per_task must be an int >= 1"),
        (RayBackend(resources={"gpus": 1}), "unknown keys"),
        (RayBackend(resources={"num_cpus": -1}), "must be a number >= 0"),
        (RayBackend(address=5), "address must be a str"),
        (RayBackend(checkpoint_dir=1), "checkpoint_dir must be a str"),
    ]
    for value, message in bad:
        with pytest.raises(InvalidInputError, match=message):
            resolve_backend(value)
    # the estimator refuses the same values when fit starts, before any training
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(InvalidInputError, match="members_per_task"):
        DeepEnsembleRegressor(backend=RayBackend(members_per_task=0), epochs=1).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="'backend' parameter of DeepEnsembleRegressor"):
        DeepEnsembleRegressor(backend="gpu", epochs=1).fit(X, X[:, 0])


def test_ray_backend_is_a_saved_parameter(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)
    model = DeepEnsembleRegressor(n_members=2, hidden_layers=(4,), epochs=2, backend="serial",
                                  random_state=0).fit(X, y)
    backend = RayBackend(address="auto", resources={"num_cpus": 1, "num_gpus": 0.25},
                         max_retries=1, checkpoint_dir=str(tmp_path / "ckpt"),
                         members_per_task=2)
    model.set_params(backend=backend)
    restored = uqkit.load(model.save(tmp_path / "model"))
    assert restored.get_params()["backend"] == backend
    assert isinstance(restored.backend, uqkit.RayBackend)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert uqkit.load(model.set_params(backend="ray").save(tmp_path / "b")).backend == "ray"


def test_checkpoint_key_follows_the_problem(tmp_path):
    spec, loss, data, config = _problem()
    arrays = {"X": data.X.numpy(), "y": data.y.numpy()}
    key = problem_fingerprint(spec, loss, arrays, config)["key"]
    same = problem_fingerprint(StackSpec(3, 2, (8,), dtype="float64"), GaussianMemberLoss(),
                               {k: v.copy() for k, v in arrays.items()},
                               TrainConfig(epochs=4, batch_size=16, lr=1e-2, patience=2))
    assert same["key"] == key
    changed_y = {**arrays, "y": arrays["y"] + 1e-12}
    changes = [
        (StackSpec(3, 2, (9,), dtype="float64"), loss, arrays, config),
        (spec, GaussianMemberLoss(beta=0.5), arrays, config),
        (spec, loss, changed_y, config),
        (spec, loss, arrays, TrainConfig(epochs=5, batch_size=16, lr=1e-2, patience=2)),
    ]
    assert len({problem_fingerprint(*c)["key"] for c in changes} | {key}) == 5

    store = MemberCheckpoints(tmp_path, problem_fingerprint(spec, loss, arrays, config))
    member = spec.build([5])
    store.save(5, member.state_dict(), {"member": 0, "epochs": 4}, {"seconds": 1.0})
    state, history, record = store.load(5)
    for name, value in member.state_dict().items():
        assert torch.equal(state[name], value)
    assert history == {"member": 0, "epochs": 4} and record == {"seconds": 1.0}
    # a damaged weight file counts as not trained
    weights = store.directory / "member-5.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert store.load(5) is None


# --------------------------------------------------------------------------- with Ray
@pytest.mark.ray
def test_ray_estimator_predicts_like_serial(ray_session):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * rng.normal(size=60)
    params = dict(n_members=3, hidden_layers=(8,), epochs=3, batch_size=16, dtype="float64",
                  random_state=3, verbose=0)
    serial = DeepEnsembleRegressor(backend="serial", **params).fit(X, y)
    ray_model = DeepEnsembleRegressor(backend=RayBackend(resources={"num_cpus": 1}),
                                      **params).fit(X, y)
    a, b = serial.predict_uncertainty(X), ray_model.predict_uncertainty(X)
    for name in ("mean", "aleatoric", "epistemic"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-6, rtol=0)
    assert [h["best_epoch"] for h in ray_model.history_] == [h["best_epoch"]
                                                             for h in serial.history_]
    assert ray_session.is_initialized()  # a Ray the caller started is never shut down


@pytest.mark.ray
def test_ray_backend_reads_a_memmap_whole(ray_session, tmp_path):
    """A read-only memmap (what joblib hands to the workers of a cross-validation) is read into
    memory for the Ray tasks: the same members as from the array."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=40)
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    params = dict(n_members=2, hidden_layers=(8,), epochs=2, batch_size=16, dtype="float64",
                  random_state=0, verbose=0, backend=RayBackend(resources={"num_cpus": 1}))
    arrays = DeepEnsembleRegressor(**params).fit(X, y)
    from_memmap = DeepEnsembleRegressor(**params).fit(memmap, y)
    np.testing.assert_array_equal(from_memmap.predict(memmap), arrays.predict(X))


@pytest.mark.ray
def test_ray_members_with_dropout_match_serial(ray_session):
    # dropout in the built-in MLP and in a user module comes from each member's own generator,
    # so Ray tasks reproduce the serial members (and the global RNG plays no part)
    X, y = _problem()[2].X.numpy(), _problem()[2].y.numpy()[:, 0]

    def dropout_net(n_in, n_out):
        return torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(),
                                   torch.nn.Dropout(0.3), torch.nn.Linear(8, n_out))

    for extra in ({"dropout": 0.2}, {"module": dropout_net}):
        params = dict(n_members=2, hidden_layers=(8,), epochs=3, batch_size=16, dtype="float64",
                      random_state=4, early_stopping=False, **extra)
        serial = DeepEnsembleRegressor(backend="serial", **params).fit(X, y)
        on_ray = DeepEnsembleRegressor(backend="ray", **params).fit(X, y)
        np.testing.assert_allclose(on_ray.predict_uncertainty(X).member_means,
                                   serial.predict_uncertainty(X).member_means, atol=1e-9)


@pytest.mark.ray
def test_vectorized_groups_with_progress_match_serial(ray_session, reference):
    spec, loss, data, config = _problem()
    backend = RayBackend(resources={"num_cpus": 0.5}, members_per_task=2)
    result = train_members_ray(spec, loss, data, SEEDS, config, backend=backend, verbose=1)
    _assert_same_members(result.stack, reference[0])
    assert [r["task"] for r in result.records] == [0, 0, 1]
    assert [r["threads"] for r in result.records] == [1, 1, 1]
    assert [h["member"] for h in result.history] == [0, 1, 2]
    for got, want in zip(result.history, reference[1]):
        np.testing.assert_allclose(got["val_loss"], want["val_loss"], atol=1e-9)
    assert not result.stack.training


@pytest.mark.ray
def test_raising_and_killed_members_are_retried(ray_session, reference, caplog):
    spec, loss, data, config = _problem()
    backend = RayBackend(resources={"num_cpus": 1}, max_retries=1)
    with caplog.at_level(logging.WARNING, logger="uqkit.training"):
        result = train_members_ray(spec, loss, data, SEEDS, config, backend=backend,
                                   _faults={0: ("raise", 1), 2: ("kill", 1)})
    assert [r["attempts"] for r in result.records] == [2, 1, 2]
    _assert_same_members(result.stack, reference[0])
    retries = [r.getMessage() for r in caplog.records]
    assert any("Member 0" in m and "injected fault" in m for m in retries)
    assert any("Member 2" in m and "worker process died" in m for m in retries)


@pytest.mark.ray
def test_exhausted_retries_keep_finished_members_and_resume(ray_session, reference, tmp_path):
    spec, loss, data, config = _problem()
    backend = RayBackend(resources={"num_cpus": 1}, max_retries=1, checkpoint_dir=str(tmp_path))
    with pytest.raises(MemberTrainingError, match=r"Member 1 \(seed 22\) failed on all 2") as info:
        train_members_ray(spec, loss, data, SEEDS, config, backend=backend,
                          _faults={1: ("raise", 9)})
    assert "attempt 2: RuntimeError: injected fault" in str(info.value)
    assert info.value.finished == [0, 2] and "re-run of fit" in str(info.value)
    saved = sorted(p.name for p in tmp_path.glob("problem-*/member-*.safetensors"))
    assert saved == ["member-11.safetensors", "member-33.safetensors"]

    result = train_members_ray(spec, loss, data, SEEDS, config, backend=backend)
    assert [r["resumed"] for r in result.records] == [True, False, True]  # only member 1 trained
    _assert_same_members(result.stack, reference[0])
    assert [h["epochs"] for h in result.history] == [h["epochs"] for h in reference[1]]


@pytest.mark.ray
def test_divergence_is_not_retried_and_infeasible_tasks_are_refused(ray_session, caplog):
    spec, loss, data, config = _problem()
    data.y[3] = float("nan")
    with caplog.at_level(logging.WARNING, logger="uqkit.training"), \
            pytest.raises(DivergenceError, match="diverged in epoch 1"):
        train_members_ray(spec, loss, data, SEEDS[:1], config, backend=RayBackend(max_retries=3))
    assert not [r for r in caplog.records if r.name.startswith("uqkit.training")]  # no retry
    if ray_session.cluster_resources().get("GPU", 0) == 0:
        with pytest.raises(InvalidInputError, match="no Ray node"):
            train_members_ray(spec, loss, data, SEEDS, config,
                              backend=RayBackend(resources={"num_gpus": 0.5}))
    too_many = int(ray_session.cluster_resources()["CPU"]) + 1
    with pytest.raises(InvalidInputError, match="members_per_task"):
        train_members_ray(spec, loss, data, list(range(too_many)), config,
                          backend=RayBackend(members_per_task=too_many))


@pytest.mark.gpu
@pytest.mark.ray
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_members_share_a_gpu(ray_session):
    spec, loss, data, config = _problem()
    on_gpu = MemberData(*(t.cuda() for t in (data.X, data.y, data.X_val, data.y_val)))
    serial, _ = fit_members(spec, loss, on_gpu, SEEDS, config, backend="serial", device="cuda",
                            verbose=0)
    backend = RayBackend(resources={"num_cpus": 0.5, "num_gpus": 0.25})
    result = train_members_ray(spec, loss, data, SEEDS, config, backend=backend, device="cuda")
    assert all(r["device"].startswith("cuda") for r in result.records)
    _assert_same_members(result.stack, serial.state_dict())


@pytest.mark.ray
def test_a_member_that_ends_worse_than_its_start_is_a_divergence_on_ray(ray_session):
    # issue 17: lr=1e3 trained without a word on every backend; the end-of-training rule of
    # train_stack runs inside the Ray task, and the error is not retried
    spec, loss, data, config = _problem()
    config = TrainConfig(epochs=4, batch_size=16, lr=1e3, patience=None)
    with pytest.raises(DivergenceError, match=r"Member 0 diverged: .*Lower lr \(now 1000"):
        train_members_ray(spec, loss, data, SEEDS[:1], config, backend=RayBackend(max_retries=3))
