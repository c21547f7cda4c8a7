"""What a Ray Tune user needs to run uqkit trials in a ``tune.Tuner`` of their own: the trainable
of a problem (:func:`trainable`), and the trainable of a search folder, for Tune's own
``tune.Tuner.restore`` (:func:`trainable_for`).

Every trial of such a Tuner trains one network of the space (:func:`~uqkit.search.run_trial`)
and reports ``val_nll`` with its checkpoint in uqkit's catalog format (``trial.json``,
``weights.safetensors``, ``predictions.safetensors``), which :func:`~uqkit.search.load_trial`
and :func:`~uqkit.search.load_network` read back.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when it is used.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from ray import tune
from safetensors.torch import load_file, save_file

from uqkit.exceptions import InvalidInputError
from uqkit.search._catalog import fingerprint
from uqkit.search._deephyper import DeepHyperSpace
from uqkit.search._load_space import space_from_dict
from uqkit.search._pooled import pooled_trial
from uqkit.search._space import SearchSpace
from uqkit.search._trainable import TrialRuntime, random_trainable, train_trial
from uqkit.search._trial import TrialSetup

__all__ = ["make_trainable", "runs_pooled", "trainable", "trainable_for", "tune_resources",
           "write_trainable_setup"]

_SETUP_FILE = "uqkit_trainable.json"
_DATA_FILE = "uqkit_data.safetensors"
_DATA_KEYS = ("X", "y", "X_val", "y_val")


def trainable(X, y, X_val, y_val, *, space: SearchSpace | DeepHyperSpace | dict | None = None,
              task: str = "regression", n_classes: int | None = None, seed: int = 0,
              resources: dict | None = None, report_epochs: bool = False,
              attempts_dir: str | None = None):
    """uqkit's Ray Tune trainable for a ``tune.Tuner`` of your own.

    A trial trains the network of its configuration with the Gaussian NLL (Egele et al., 2022,
    Eq. 2; cross-entropy for classification) and reports ``val_nll`` (to minimise) with its
    checkpoint in uqkit's catalog format. The arrays are used as given: standardise features
    and regression targets first (the AutoDEUQ estimators do).

    Parameters
    ----------
    X, y : array-like of shape (n, n_features), (n,) or (n, n_targets)
        Training rows.
    X_val, y_val : array-like
        Validation rows (early stopping and ``val_nll``).
    space : SearchSpace or dict, optional
        The space whose configurations the trials receive (default ``SearchSpace()``).
    task : {"regression", "classification"}
    n_classes : int, optional
        Classification: number of classes (default ``max(y) + 1``; ``y`` holds class indices).
    seed : int
        Search seed; each trial's seed derives from it and its configuration.
    resources : dict, optional
        One trial's resources, as ``RayBackend.resources`` (``{"num_cpus": 1,
        "num_gpus": 0.25}``).
    report_epochs : bool
        Report every epoch's ``val_nll`` (for a scheduler or a ``stop`` criterion).
    attempts_dir : str, optional
        Where trials count their starts (default: a new temporary folder; on a cluster, a
        folder every node sees).

    Returns
    -------
    Tune trainable
        Give it to ``tune.Tuner`` with ``TuneConfig(metric="val_nll", mode="min")``.

    Examples
    --------
    >>> import numpy as np
    >>> from ray import tune
    >>> from uqkit.search import RegularizedEvolutionSearcher, SearchSpace, trainable
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 2)), rng.normal(size=60)
    >>> space = SearchSpace(max_layers=1, epochs=2)
    >>> tuner = tune.Tuner(
    ...     trainable(X[:40], y[:40], X[40:], y[40:], space=space),
    ...     tune_config=tune.TuneConfig(
    ...         search_alg=RegularizedEvolutionSearcher(space, population_size=2, sample_size=2),
    ...         num_samples=3),
    ... )  # doctest: +SKIP
    >>> grid = tuner.fit()  # doctest: +SKIP
    """
    if task not in ("regression", "classification"):
        raise InvalidInputError(f"task must be 'regression' or 'classification'; got {task!r}.")
    if not isinstance(space, (SearchSpace, DeepHyperSpace)):
        space = space_from_dict(space)
    data = {key: np.asarray(value) for key, value in zip(_DATA_KEYS, (X, y, X_val, y_val))}
    for key in ("X", "X_val"):
        data[key] = data[key].astype(np.float32)
    if task == "regression":
        for key in ("y", "y_val"):
            value = data[key].astype(np.float32)
            data[key] = value.reshape(-1, 1) if value.ndim == 1 else value
        out_features = 2 * data["y"].shape[1]
    else:
        for key in ("y", "y_val"):
            data[key] = data[key].astype(np.int64).reshape(-1)
        out_features = int(n_classes or int(max(data["y"].max(), data["y_val"].max())) + 1)
    setup = TrialSetup(space=space.to_dict(), task=task, out_features=out_features,
                       seed=int(seed))
    per_trial = tune_resources(dict(resources or {"num_cpus": 1}))
    runtime = TrialRuntime(
        fingerprint=fingerprint(data, setup.to_dict()),
        attempts_dir=attempts_dir or tempfile.mkdtemp(prefix="uqkit-attempts-"),
        threads=max(1, int(per_trial["cpu"])), report_epochs=report_epochs,
    )
    return _wrap(data, setup, runtime, per_trial)


def tune_resources(per_trial: dict) -> dict:
    """A trial's Ray resources (``RayBackend.resources``) in Ray Tune's spelling.

    Examples
    --------
    >>> tune_resources({"num_cpus": 2, "num_gpus": 0.25})
    {'cpu': 2.0, 'gpu': 0.25}
    """
    if per_trial.get("accelerator_type"):
        raise InvalidInputError(
            "RayBackend.resources['accelerator_type'] is not supported for AutoDEUQ trials (Ray "
            "Tune takes no accelerator type); ask for a custom resource of those nodes instead."
        )
    out = {"cpu": float(per_trial.get("num_cpus", 1)), "gpu": float(per_trial.get("num_gpus", 0))}
    if per_trial.get("memory"):
        out["memory"] = int(per_trial["memory"])
    out.update({k: float(v) for k, v in (per_trial.get("resources") or {}).items()})
    return out


def runs_pooled(runtime: TrialRuntime, resources: dict) -> bool:
    """Whether trials train in a task on a pooled worker (:mod:`uqkit.search._pooled`): when
    ``runtime.pooled`` asks for it, unless they report every epoch (only the trial's actor can
    report to Tune) or hold a GPU (Ray gives the devices to the actor).

    Examples
    --------
    >>> runtime = TrialRuntime(fingerprint="f", attempts_dir="/tmp/a", pooled=True)
    >>> runs_pooled(runtime, {"cpu": 1.0, "gpu": 0.0}), runs_pooled(runtime, {"cpu": 1, "gpu": 0.5})
    (True, False)
    >>> runs_pooled(TrialRuntime(fingerprint="f", attempts_dir="/tmp/a"), {"cpu": 1.0})
    False
    """
    return runtime.pooled and not runtime.report_epochs and not resources.get("gpu")


def make_trainable(data: dict, setup: TrialSetup, runtime: TrialRuntime, resources: dict, *,
                   draws: bool = False, warm: list = ()):
    """The Tune trainable of a search's trials, with its data and resources.

    Pooled (:func:`runs_pooled`): :func:`~uqkit.search._pooled.pooled_trial`, whose actor
    imports no uqkit; the data goes into Ray's object store once and every trial's task reads
    it there; ``warm`` are the search's :func:`~uqkit.search._pooled.warm_workers` tasks.
    Otherwise :func:`~uqkit.search._trainable.train_trial` (``random_trainable`` for random
    search's drawn keys, ``draws=True``), which trains in the trial's actor.
    """
    if runs_pooled(runtime, resources):
        import ray

        plain = {f.name: getattr(runtime, f.name) for f in dataclasses.fields(runtime)}
        # a list around the reference: Tune hands the trial the list, the task the data
        # Ray is not started yet (a user's Tuner built first): Tune puts the data itself
        shared = [ray.put(data)] if ray.is_initialized() else data
        trainable = tune.with_parameters(pooled_trial, data=shared, setup=setup.to_dict(),
                                         runtime=plain, warm=list(warm))
    else:
        trainable = tune.with_parameters(random_trainable if draws else train_trial,
                                         data=data, setup=setup, runtime=runtime)
    return tune.with_resources(trainable, resources)


def _wrap(data: dict, setup: TrialSetup, runtime: TrialRuntime, resources: dict):
    return make_trainable(data, setup, runtime, resources)


def write_trainable_setup(run_folder: Path, data: dict, setup: TrialSetup,
                          runtime: TrialRuntime, resources: dict) -> None:
    """Keep in a start's folder what :func:`trainable_for` needs to rebuild its trainable."""
    run_folder = Path(run_folder)
    run_folder.mkdir(parents=True, exist_ok=True)
    save_file({key: torch.from_numpy(np.ascontiguousarray(data[key])) for key in _DATA_KEYS},
              str(run_folder / _DATA_FILE))
    description = {"setup": setup.to_dict(), "resources": resources,
                   "runtime": {"fingerprint": runtime.fingerprint,
                               "attempts_dir": runtime.attempts_dir,
                               "threads": runtime.threads,
                               "report_epochs": runtime.report_epochs,
                               "pooled": runtime.pooled}}
    (run_folder / _SETUP_FILE).write_text(json.dumps(description, indent=1))


def trainable_for(path):
    """The trainable of one start of an AutoDEUQ search, for ``tune.Tuner.restore``.

    Parameters
    ----------
    path : str or Path
        The Tune experiment of that start: ``<storage>/<experiment>/run-NNN`` (what
        ``tune.Tuner.restore`` takes too).

    Returns
    -------
    Tune trainable
        The same trainable the search ran (data, setup and resources read back from
        ``uqkit_trainable.json`` and ``uqkit_data.safetensors`` in that folder).

    Raises
    ------
    InvalidInputError
        ``path`` is not a start of an AutoDEUQ search.

    Examples
    --------
    >>> from ray import tune
    >>> folder = "runs/demo/autodeuq/run-000"
    >>> tuner = tune.Tuner.restore(folder, trainable=trainable_for(folder))  # doctest: +SKIP
    """
    folder = Path(path).expanduser()
    try:
        description = json.loads((folder / _SETUP_FILE).read_text())
        data = {key: value.numpy() for key, value in load_file(str(folder / _DATA_FILE)).items()}
        setup = TrialSetup(**description["setup"])
        runtime = TrialRuntime(**description["runtime"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(
            f"{str(folder)!r} is not a start of an AutoDEUQ search ({type(error).__name__}: "
            f"{error}). Pass a run folder, <storage>/<experiment>/run-NNN, of a search that "
            "uqkit ran."
        ) from error
    return _wrap(data, setup, runtime, description["resources"])
