"""The Ray Tune trainable: one trial on a worker, reported to Tune with its checkpoint.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch
from ray import tune

from uqkit.search._catalog import METRIC
from uqkit.search._load_space import space_from_dict
from uqkit.search._trial import TrialSetup, run_trial

__all__ = ["FaultHook", "TrialRuntime", "random_trainable", "train_trial"]

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
    """

    fingerprint: str
    attempts_dir: str
    threads: int = 1
    report_epochs: bool = False
    fault_hook: FaultHook | None = None


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
            tune.report({METRIC: float(val_loss), "epoch": self.epoch, "finished": False})


def _attempt(folder: Path, trial_name: str) -> int:
    """This trial's 0-based attempt: one line per start in ``folder/<trial>.attempts``.

    Not in Tune's trial folder: a retry on a reused actor may be given another one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{trial_name}.attempts"
    previous = marker.read_text() if marker.exists() else ""
    marker.write_text(previous + f"{time.time()}\n")
    return len(previous.split())


def train_trial(config: dict, data: dict, setup: TrialSetup, runtime: TrialRuntime) -> None:
    """Train the network of ``config`` (:func:`~uqkit.search.run_trial`) and report its
    validation NLL to Tune with the checkpoint."""
    name = tune.get_context().get_trial_name() or "trial"
    attempt = _attempt(Path(runtime.attempts_dir), name)
    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    device = torch.device("cuda" if gpus and torch.cuda.is_available() else "cpu")
    torch.set_num_threads(max(1, runtime.threads))
    progress = _TrialProgress(runtime, name, attempt)
    with tempfile.TemporaryDirectory() as folder:
        record = run_trial(dict(config), data, setup, Path(folder), name=name,
                           fingerprint=runtime.fingerprint, attempt=attempt, device=device,
                           progress=progress)
        tune.report({METRIC: record[METRIC], "epoch": record["epochs"], "finished": True},
                    checkpoint=tune.Checkpoint.from_directory(folder))


def random_trainable(config: dict, data: dict, setup: TrialSetup, runtime: TrialRuntime) -> None:
    """Random search: the configuration is drawn from the space with the trial's seeded key."""
    space = space_from_dict(setup.space)
    train_trial(space.sample(np.random.default_rng(int(config["_draw"]))), data, setup, runtime)
