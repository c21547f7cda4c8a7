"""The body of a trial on its worker (:func:`train_on_worker`), without Ray: an error that the
trial's configuration and seed decide is raised again by a retry, without training."""

from __future__ import annotations

import numpy as np
import pytest

from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.search import SearchSpace
from uqkit.search._trainable import TrialRuntime, train_on_worker

# ``problem`` (tests/search/conftest.py): 1-layer networks of 8 units, 2 epochs


def _config(problem) -> dict:
    return SearchSpace.from_dict(problem[1].space).sample(np.random.default_rng(1))


def _attempt(problem, runtime, folder, attempt, config=None):
    data, setup = problem
    config = _config(problem) if config is None else config
    return train_on_worker(config, data, setup, runtime, str(folder), name="t0",
                           attempt=attempt)


def _hook(calls: list, error: Exception | None):
    def hook(trial_name: str, attempt: int, epoch: int) -> None:
        calls.append((attempt, epoch))
        if error is not None:
            raise error
    return hook


def test_a_retry_of_a_diverged_trial_raises_without_training(problem, tmp_path):
    calls: list = []
    runtime = TrialRuntime(fingerprint="f", attempts_dir=str(tmp_path / "attempts"),
                           fault_hook=_hook(calls, DivergenceError("Member 0 diverged.")))
    with pytest.raises(DivergenceError, match=r"^Member 0 diverged\.$"):
        _attempt(problem, runtime, tmp_path, attempt=0)
    with pytest.raises(DivergenceError, match=r"Member 0 diverged\. \(not trained again"):
        _attempt(problem, runtime, tmp_path, attempt=1)
    assert calls == [(0, 1)]  # the retry never reached its first epoch


def test_a_retry_of_an_invalid_configuration_raises_the_same_class(problem, tmp_path):
    runtime = TrialRuntime(fingerprint="f", attempts_dir=str(tmp_path / "attempts"))
    bad = {**_config(problem), "lr": -1.0}
    with pytest.raises(InvalidInputError) as first:
        _attempt(problem, runtime, tmp_path, attempt=0, config=bad)
    with pytest.raises(InvalidInputError, match="not trained again") as again:
        _attempt(problem, runtime, tmp_path, attempt=1, config=bad)
    assert str(again.value).startswith(str(first.value))


def test_other_errors_are_trained_again(problem, tmp_path):
    calls: list = []
    runtime = TrialRuntime(fingerprint="f", attempts_dir=str(tmp_path / "attempts"),
                           fault_hook=_hook(calls, RuntimeError("worker lost")))
    for attempt in (0, 1):
        with pytest.raises(RuntimeError, match="worker lost"):
            _attempt(problem, runtime, tmp_path, attempt=attempt)
    assert calls == [(0, 1), (1, 1)]
    ok = TrialRuntime(fingerprint="f", attempts_dir=str(tmp_path / "attempts"))
    assert _attempt(problem, ok, tmp_path, attempt=2)["finished"] is True
