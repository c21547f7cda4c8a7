"""Ray that recovers (issue 17, item 5): an abandoned fit never poisons the next one, and
``random_state=None`` with ``checkpoint_dir`` resumes.

This module starts its own local Ray (2 CPUs) so that its first fit meets cold workers: the
poisoning happened when a cancel reached a worker still importing torch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import DivergenceError, MemberTrainingError
from uqkit.losses import GaussianMemberLoss
from uqkit.nn import StackSpec
from uqkit.training import (
    MemberData,
    RayBackend,
    TrainConfig,
    _ray_backend,
    _ray_task,
    fit_members,
    train_members_ray,
)
from uqkit.training._backends import resume_entropy
from uqkit.training._checkpoint import stored_entropy

SEEDS = [1, 2, 3]


def _problem():
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.normal(size=(40, 3)))
    y = torch.sin(X[:, :1]) + 0.1 * torch.as_tensor(rng.normal(size=(40, 1)))
    spec = StackSpec(in_features=3, out_features=2, hidden_layers=(8,), dtype="float64")
    return spec, GaussianMemberLoss(), MemberData(X, y), TrainConfig(epochs=3, batch_size=16)


# ------------------------------------------------------------------ no poisoned workers
@pytest.mark.ray
def test_sane_fit_after_divergence_matches_serial(ray_session):
    # before: the cancels after a DivergenceError raised KeyboardInterrupt inside workers that
    # were importing torch._dynamo; Ray reused them and the next fit failed every retry
    spec, loss, data, config = _problem()
    reference, _ = fit_members(spec, loss, data, SEEDS, config, backend="serial")
    nan_y = data.y.clone()
    nan_y[3] = float("nan")
    diverging = MemberData(data.X, nan_y)
    for _ in range(3):  # several rounds: one clean round could be luck
        with pytest.raises(DivergenceError):
            train_members_ray(spec, loss, diverging, list(range(10, 16)), config,
                              backend=RayBackend(max_retries=1))
        result = train_members_ray(spec, loss, data, SEEDS, config,
                                   backend=RayBackend(max_retries=1))
        assert [r["attempts"] for r in result.records] == [1, 1, 1]
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(result.stack.state_dict()[key], value, atol=1e-9, rtol=0)


@pytest.mark.ray
def test_abandoned_tasks_are_force_cancelled(ray_session, monkeypatch):
    calls = []
    real_cancel = ray_session.cancel

    def cancel(ref, **kwargs):
        calls.append(kwargs.get("force", False))
        real_cancel(ref, **kwargs)

    monkeypatch.setattr(ray_session, "cancel", cancel)
    spec, loss, data, _ = _problem()
    long = TrainConfig(epochs=100_000, batch_size=16, patience=None)  # minutes per member
    # member 20 raises after its first epoch and has no retry left: the others are abandoned
    with pytest.raises(MemberTrainingError, match="injected fault"):
        train_members_ray(spec, loss, data, list(range(20, 23)), long,
                          backend=RayBackend(max_retries=0), _faults={0: ("raise", 1)})
    assert calls and all(calls)  # every abandoned task still running was force-cancelled


@pytest.mark.ray
def test_abandoned_tasks_that_are_ending_are_not_cancelled(ray_session, monkeypatch):
    # every member diverges in its first epoch, on warm workers: the other member ends within
    # the grace and is not cancelled (a cancel racing with a task's reply aborts Ray's driver,
    # ray-project/ray#54846: it crashed a test worker of this suite once)
    spec, loss, data, config = _problem()
    backend = RayBackend(max_retries=0)
    train_members_ray(spec, loss, data, [20, 21], config, backend=backend)  # warms 2 workers
    calls = []
    monkeypatch.setattr(ray_session, "cancel", lambda ref, **kwargs: calls.append(ref))
    nan_y = data.y.clone()
    nan_y[0] = float("nan")
    with pytest.raises(DivergenceError):
        train_members_ray(spec, loss, MemberData(data.X, nan_y), [20, 21], config,
                          backend=backend)
    assert calls == []


def test_a_worker_with_broken_torch_retires(monkeypatch):
    # the safety net for workers broken by someone else's cancel: exit, Ray replaces the process
    def broken(*args, **kwargs):
        raise AttributeError("partially initialized module 'torch._dynamo' has no attribute "
                             "'decorators' (most likely due to a circular import)")

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(_ray_task.torch.optim, "Adam", broken)
    monkeypatch.setattr(_ray_task.os, "_exit", exit_)
    with pytest.raises(SystemExit) as info:
        _ray_task.retire_if_broken()
    assert info.value.code == _ray_task.BROKEN_WORKER_EXIT
    monkeypatch.undo()
    _ray_task.retire_if_broken()  # a sound process carries on


# ------------------------------------------------------------------ random_state=None resumes
def test_stored_entropy_first_writer_wins(tmp_path):
    assert stored_entropy(tmp_path, {"a": 1}, 5) == (5, False)
    assert stored_entropy(tmp_path, {"a": 1}, 6) == (5, True)
    assert stored_entropy(tmp_path, {"a": 2}, 7) == (7, False)
    # a damaged seed file is replaced, never a traceback
    (path,) = [p for p in tmp_path.glob("random-state-*.json")
               if json.loads(p.read_text())["entropy"] == 5]
    path.write_text("{not json")
    assert stored_entropy(tmp_path, {"a": 1}, 8) == (8, False)
    assert stored_entropy(tmp_path, {"a": 1}, 9) == (8, True)


def _regression_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    return X, X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=60)


@pytest.mark.ray
def test_random_state_none_resumes_from_checkpoints(ray_session, tmp_path, monkeypatch):
    X, y = _regression_data()
    results = []
    faults = {}

    def with_faults(*args, **kwargs):
        result = train_members_ray(*args, **kwargs, _faults=dict(faults))
        results.append(result)
        return result

    monkeypatch.setattr(_ray_backend, "train_members_ray", with_faults)
    backend = RayBackend(max_retries=0, checkpoint_dir=str(tmp_path))
    params = dict(n_members=3, hidden_layers=(8,), epochs=3, batch_size=16, dtype="float64",
                  verbose=0)  # random_state=None, the default; early stopping splits by it

    faults[1] = ("raise", 9)
    with pytest.raises(MemberTrainingError, match="re-run of fit") as info:
        DeepEnsembleRegressor(backend=backend, **params).fit(X, y)
    assert info.value.finished == [0, 2]
    saved = sorted(tmp_path.glob("problem-*/member-*.safetensors"))
    assert len(saved) == 2
    before = {p.name: p.stat().st_mtime_ns for p in saved}

    faults.clear()
    model = DeepEnsembleRegressor(backend=backend, **params).fit(X, y)
    assert [r["resumed"] for r in results[-1].records] == [True, False, True]
    after = sorted(tmp_path.glob("problem-*/member-*.safetensors"))
    assert len(after) == 3
    assert all(p.stat().st_mtime_ns == before[p.name] for p in after if p.name in before)
    (seed_file,) = tmp_path.glob("random-state-*.json")
    assert json.loads(seed_file.read_text())["entropy"] == model.random_state_

    clean = DeepEnsembleRegressor(backend="serial", random_state=model.random_state_,
                                  **params).fit(X, y)
    np.testing.assert_array_equal(model.validation_indices_, clean.validation_indices_)
    got, want = model.predict_uncertainty(X), clean.predict_uncertainty(X)
    for name in ("mean", "aleatoric", "epistemic"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), atol=1e-6, rtol=0)


def test_random_state_none_without_checkpoints_stays_fresh(tmp_path):
    X, y = _regression_data()
    params = dict(n_members=1, hidden_layers=(4,), epochs=1, verbose=0, backend="serial")
    seeds = {DeepEnsembleRegressor(**params).fit(X, y).random_state_ for _ in range(3)}
    assert len(seeds) == 3
    # an int random_state is never replaced by a stored one
    ray_params = {**params, "backend": RayBackend(checkpoint_dir=str(tmp_path))}
    model = DeepEnsembleRegressor(**ray_params, random_state=4)
    assert model._resolve_random_state() == 4
    assert not list(tmp_path.glob("random-state-*.json"))


def test_seed_key_ignores_settings_that_do_not_change_members(tmp_path):
    X, y = _regression_data()
    inputs = (X, y, None, None)
    backend = RayBackend(checkpoint_dir=str(tmp_path))
    first = DeepEnsembleRegressor(backend=backend, verbose=0)
    assert resume_entropy(first.backend, first, 11, inputs) == 11
    # more retries, progress bar, other resources: the same problem, the same stored seed
    again = DeepEnsembleRegressor(backend=RayBackend(checkpoint_dir=str(tmp_path), max_retries=5,
                                                     resources={"num_cpus": 2}), verbose=1)
    assert resume_entropy(again.backend, again, 12, inputs) == 11
    # other data or another architecture: a new seed
    assert resume_entropy(first.backend, first, 13, (X + 1, y, None, None)) == 13
    wider = DeepEnsembleRegressor(backend=backend, hidden_layers=(64, 64))
    assert resume_entropy(wider.backend, wider, 14, inputs) == 14
