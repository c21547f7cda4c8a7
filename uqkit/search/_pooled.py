"""The pooled trainable: a Tune trial whose network trains in a Ray task on a pooled worker.

A Tune trial runs in an actor, and Tune ends its actors with the search: every search starts
new actor processes, and a process that trains imports torch, uqkit and ``torch._dynamo``
(torch's optimizers) first, several seconds of CPU each. The pooled trainable keeps its actor
light: the actor imports only Ray Tune, counts the trial's attempt, and hands the training to
a Ray task (:func:`~uqkit.search._trainable.train_on_worker`) on the same node. Ray keeps task
workers alive between tasks and between searches, so the imports are paid once per worker of
a Ray session instead of once per actor of every search.

The task asks for no CPU: the trial's actor holds the trial's CPUs (Tune's resource request),
and the task runs on the actor's node (node affinity), so the node is not over-committed and
the checkpoint the task writes is where the actor reports it from. Trials that must run in
their actor (per-epoch reports for a scheduler or a ``stop`` criterion, GPU trials, whose
devices Ray gives to the actor) use :func:`~uqkit.search._trainable.train_trial`.

The first trial of each actor waits until every trial slot of the search has its actor
(:func:`_await_other_slots`). Tune reuses actors (``reuse_actors=True``): a trial whose own
actor is still starting takes the actor of a trial that has just finished instead, and cancels
its own. Pooled trials of small networks are shorter than an actor's start (a second or two),
so without the wait a search whose second actor starts a little late hands every trial to
the first actor and runs on one slot to its end.

This module imports only the standard library and Ray, and is pickled by value: the trial's
actor never imports uqkit (which would import torch).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import ray
from ray import cloudpickle, tune
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from uqkit.search._attempts import attempt_number

__all__ = ["pooled_trial", "warm_workers"]

_WARM_WAIT_S = 300.0  # longest a trial waits for the warm-up before it starts its own worker
_SLOTS_WAIT_S = 10.0  # longest a new actor's first trial waits for the other slots' actors
_SLOTS_POLL_S = 0.02


def pooled_trial(config: dict, data: list, setup: dict, runtime: dict, warm: list = ()) -> None:
    """Tune trainable: train the network of ``config`` in a task on a pooled worker of this
    node, then report its validation NLL (and timing) to Tune with the checkpoint.

    Parameters
    ----------
    config : dict
        The trial's configuration (``{"_draw": key}`` for random search).
    data : list or dict
        ``[ObjectRef]`` of the data dict (``X``, ``y``, ``X_val``, ``y_val``), put in the object
        store once per search: the task reads it there, nothing is copied per trial (or the
        dict itself, sent with every task, when the trainable was built before Ray started).
    setup, runtime : dict
        ``TrialSetup.to_dict()`` and the fields of ``TrialRuntime`` (plain values: no uqkit
        class reaches the actor).
    warm : list of ObjectRef
        The search's :func:`warm_workers` tasks: the trial waits for them (the first trials
        only; later ones find them done), so that its task goes to a warm worker instead of
        a new one that imports everything again.
    """
    started_at, start = time.time(), time.perf_counter()
    name = tune.get_context().get_trial_name() or "trial"
    attempt = attempt_number(Path(runtime["attempts_dir"]), name)
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    # a failed task fails the trial; Tune's FailureConfig retries it (counted by the attempts)
    task = _remote_train().options(num_cpus=0, max_retries=0, scheduling_strategy=here)
    if warm:  # never blocks for long: a warm-up that cannot finish is not waited for
        ray.wait(list(warm), num_returns=len(warm), timeout=_WARM_WAIT_S)
    _await_other_slots(Path(runtime["attempts_dir"]).parent / "_slots", runtime.get("slots", 1),
                       ray.get_runtime_context().get_actor_id())
    with tempfile.TemporaryDirectory() as folder:
        before = time.perf_counter()
        shared = data[0] if isinstance(data, list) else data
        metrics = ray.get(task.remote(config, shared, setup, runtime, folder, name, attempt))
        metrics["dispatch_seconds"] = time.perf_counter() - before - metrics["worker_seconds"]
        metrics["setup_seconds"] += before - start
        metrics["started_at"] = started_at
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _await_other_slots(folder: Path, slots: int, actor: str) -> None:
    """On the first trial of ``actor``: mark the actor in ``folder`` (on the search's storage)
    and wait until ``slots`` actors are marked, at most :data:`_SLOTS_WAIT_S` seconds; later
    trials of the actor (and actors that start after all slots were filled once: a retry on a
    new actor) do not wait. Whether this actor has marked itself is kept in its memory, so
    its later trials touch no file."""
    if slots < 2 or (folder, actor) in _MARKED:
        return
    _MARKED.add((folder, actor))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / actor).touch()
    deadline = time.monotonic() + _SLOTS_WAIT_S
    while sum(1 for _ in folder.iterdir()) < slots and time.monotonic() < deadline:
        time.sleep(_SLOTS_POLL_S)


def warm_workers(count: int) -> list:
    """Start ``count`` tasks on this node that import what a pooled trial imports, each on a
    worker of its own, and return their references without waiting.

    They run while Tune starts the trials' actors, so the first trials of a search find warm
    workers. The tasks carry the runtime environment of Tune's trial actors (which the trials'
    tasks inherit): a worker serves only tasks of its own environment. Where that environment
    cannot be read from Tune, nothing is started (the trials then import on their first task).
    """
    env = _tune_actor_env()
    if env is None or count < 1:
        return []
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    task = ray.remote(_warm).options(num_cpus=0, runtime_env=env, scheduling_strategy=here)
    return [task.remote() for _ in range(count)]


def _tune_actor_env() -> dict | None:
    """The runtime environment Ray Tune gives its trial actors (``_ActorClassCache.get``)."""
    try:
        from ray.tune.execution.class_cache import DEFAULT_ENV_VARS, ENV_VARS_TO_PROPAGATE
    except ImportError:
        return None
    env = dict(DEFAULT_ENV_VARS)
    env.update({key: os.environ[key] for key in ENV_VARS_TO_PROPAGATE if key in os.environ})
    return {"env_vars": env}


def _warm() -> int:
    import torch._dynamo  # noqa: F401  (torch's optimizers import it on first use)

    import uqkit.search._trainable  # noqa: F401

    return os.getpid()


def _remote_train():
    """The remote function of :func:`_train`, made once per actor: Ray exports every new one
    again (a few ms of every trial's dispatch)."""
    if "train" not in _REMOTE:
        _REMOTE["train"] = ray.remote(_train)
    return _REMOTE["train"]


_REMOTE: dict = {}
_MARKED: set = set()  # (slots folder, actor id) this actor process has marked


def _train(config, data, setup, runtime, folder, name, attempt) -> dict:
    # imported on the pooled worker, where it stays for the next trials
    from uqkit.search._trainable import train_on_worker

    return train_on_worker(config, data, setup, runtime, folder, name=name, attempt=attempt)


# the Tune actor unpickles the trainable: by value, it needs this module's code, not uqkit
cloudpickle.register_pickle_by_value(sys.modules[__name__])
