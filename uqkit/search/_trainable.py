"""The Ray Tune trainable: one trial on a worker, reported to Tune with its checkpoint.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs.
Ray Tune (a second of imports) is imported where a trial reports from its own actor: a pooled
worker that runs :func:`train_on_worker` never reports to Tune and never imports it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch

from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.search._attempts import attempt_number, final_error, note_final_error
from uqkit.search._catalog import METRIC
from uqkit.search._load_space import space_from_dict
from uqkit.search._trial import TrialSetup, run_trial

__all__ = ["FaultHook", "TrialRuntime", "random_trainable", "train_on_worker", "train_trial"]

FaultHook = Callable[[str, int, int], None]
"""``hook(trial_name, attempt, epoch)``: called after every epoch of every trial (``attempt``
0-based, ``epoch`` 1-based); raising makes the attempt fail there. Tests inject failures with
it; a search has none."""


@dataclass(frozen=True)
class TrialRuntime:
    """How trials run, as opposed to what they compute (:class:`TrialSetup`).

    Parameters
    ----------
    fingerprint : str
        The search's fingerprint, stored with every record (resume check).
    attempts_dir : str
        Folder on the search's storage where each trial counts its starts (retries), shared by
        every node that shares the storage.
    threads : int
        ``torch.set_num_threads`` of a trial (its CPUs).
    report_epochs : bool
        Report every epoch's validation NLL to Tune (for the ASHA scheduler).
    fault_hook : FaultHook, optional
        Test-only failure injection (picklable; it runs on the workers).
    pooled : bool
        Train in a Ray task on a pooled worker (:mod:`uqkit.search._pooled`) where the trial
        allows it (:func:`~uqkit.search._own_tuner.runs_pooled`), instead of in the trial's
        Tune actor.
    slots : int
        Trials the search runs at once: a pooled trial that is the first of its actor waits
        (briefly) until every slot has its actor (:mod:`uqkit.search._pooled`).
    """

    fingerprint: str
    attempts_dir: str
    threads: int = 1
    report_epochs: bool = False
    fault_hook: FaultHook | None = None
    pooled: bool = False
    slots: int = 1


class _TrialProgress:
    """tqdm stand-in given to ``train_stack``: reports every epoch's validation NLL to Tune
    (for ASHA) and calls the fault hook after every epoch."""

    def __init__(self, runtime: TrialRuntime, name: str, attempt: int) -> None:
        self.runtime, self.name, self.attempt = runtime, name, attempt
        self.epoch = 0

    def update(self, n: int = 1) -> None:
        self.epoch += 1
        if self.runtime.fault_hook is not None:
            self.runtime.fault_hook(self.name, self.attempt, self.epoch)

    def set_postfix(self, val_loss=None, **_: object) -> None:
        if self.runtime.report_epochs and val_loss is not None:
            from ray import tune

            tune.report({METRIC: float(val_loss), "epoch": self.epoch, "finished": False})


def train_trial(config: dict, data: dict, setup: TrialSetup, runtime: TrialRuntime) -> None:
    """Train the network of ``config`` (:func:`~uqkit.search.run_trial`) in this trial's
    process and report its validation NLL to Tune with the checkpoint.

    The search runs this trainable where a trial must run in its Tune actor: when it reports
    every epoch (a scheduler, a ``stop`` criterion) or holds a GPU; otherwise it runs
    :func:`~uqkit.search._pooled.pooled_trial`. Both report ``val_nll``, ``epoch``,
    ``finished`` and the trial's timing (:func:`train_on_worker`).
    """
    from ray import tune

    started_at, start = time.time(), time.perf_counter()
    name = tune.get_context().get_trial_name() or "trial"
    attempt = attempt_number(Path(runtime.attempts_dir), name)
    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    device = torch.device("cuda" if gpus and torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as folder:
        before = time.perf_counter() - start
        metrics = train_on_worker(config, data, setup, runtime, folder, name=name,
                                  attempt=attempt, device=device)
        metrics["setup_seconds"] += before
        metrics.update(started_at=started_at, dispatch_seconds=0.0)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def train_on_worker(config: dict, data: dict, setup: TrialSetup | dict,
                    runtime: TrialRuntime | dict, folder: str, *, name: str, attempt: int,
                    device="cpu") -> dict:
    """The body of one trial on the process that trains it: train, score, write the
    checkpoint into ``folder``; return what the trial reports to Tune.

    ``setup`` and ``runtime`` may come as dicts (the pooled trainable carries no uqkit
    classes: its Tune actor never imports uqkit). A random-search configuration
    (``{"_draw": key}``) is drawn from the space here.

    A trial whose training diverges, or whose configuration is invalid, raises the same error
    in every attempt: its configuration and seed are fixed. Its first attempt notes the error
    on the search's storage and Tune's retries raise it again at once, without training.

    Returns
    -------
    dict
        ``val_nll``, ``epoch``, ``finished`` and the timing in seconds: ``train_seconds``
        (:func:`~uqkit.search.fit_network`: the training loop), ``trial_seconds`` (training and
        scoring the validation rows), ``checkpoint_seconds`` (writing the checkpoint files),
        ``setup_seconds`` (before training: threads, the retry count, the draw) and
        ``worker_seconds`` (all of it); ``worker_pid``, the process that trained.
    """
    start = time.perf_counter()
    setup = setup if isinstance(setup, TrialSetup) else TrialSetup(**setup)
    runtime = runtime if isinstance(runtime, TrialRuntime) else TrialRuntime(**runtime)
    torch.set_num_threads(max(1, runtime.threads))
    if "_draw" in config:  # random search: the configuration is drawn with the trial's key
        space = space_from_dict(setup.space)
        config = space.sample(np.random.default_rng(int(config["_draw"])))
    _repeat_final_error(runtime.attempts_dir, name)
    progress = _TrialProgress(runtime, name, attempt)
    begun = time.perf_counter()
    try:
        record = run_trial(dict(config), data, setup, Path(folder), name=name,
                           fingerprint=runtime.fingerprint, attempt=attempt, device=device,
                           progress=progress)
    except _DETERMINED as error:
        note_final_error(runtime.attempts_dir, name, type(error).__name__, str(error))
        raise
    done = time.perf_counter()
    return {METRIC: record[METRIC], "epoch": record["epochs"], "finished": True,
            "train_seconds": record["train_seconds"], "trial_seconds": record["seconds"],
            "checkpoint_seconds": done - begun - record["seconds"],
            "setup_seconds": begun - start, "worker_seconds": done - start,
            "worker_pid": os.getpid()}


# What the trial's configuration, seed and data decide: a retry would raise it again, after
# training as long (Tune retries every error; a lost node or a killed worker is worth it).
_DETERMINED = (DivergenceError, InvalidInputError)


def _repeat_final_error(attempts_dir: str, name: str) -> None:
    """Raise again, without training, the error an earlier attempt of this trial noted."""
    noted = final_error(Path(attempts_dir), name)
    if noted is None:
        return
    kind, message = noted
    error_class = next((c for c in _DETERMINED if c.__name__ == kind), DivergenceError)
    raise error_class(f"{message} (not trained again: an earlier attempt with the same "
                      "configuration and seed raised this)")


def random_trainable(config: dict, data: dict, setup: TrialSetup, runtime: TrialRuntime) -> None:
    """Random search: the configuration is drawn from the space with the trial's seeded key."""
    train_trial(config, data, setup, runtime)
