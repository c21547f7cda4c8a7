"""The search driver: run (or resume) one AutoDEUQ search on Ray Tune and return its catalog.

:func:`run_search` reads as its steps: fingerprint the problem, open the experiment folder,
count what earlier runs finished, build the Tune run (searcher, trainable, scheduler, failure
policy), fit it, and collect the finished and failed trials.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs
(``pip install 'uqkit[search]'``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from uqkit.exceptions import InvalidInputError
from uqkit.search._catalog import METRIC, fingerprint
from uqkit.search._experiment import Experiment
from uqkit.search._load_space import space_from_dict
from uqkit.search._searchers import make_searcher, warm_start
from uqkit.search._space import SearchSpace
from uqkit.search._trainable import FaultHook, TrialRuntime, random_trainable, train_trial
from uqkit.search._trial import TrialSetup
from uqkit.training import Progress, RayBackend, connect_ray, interactive, log_verbose

__all__ = ["run_search"]

logger = logging.getLogger(__name__)


def run_search(
    data: dict,
    setup: TrialSetup,
    *,
    n_trials: int,
    searcher: str,
    storage_path: Path,
    experiment: str,
    resume: bool,
    backend: RayBackend,
    max_concurrent: int | None,
    scheduler: str | None,
    population_size: int,
    sample_size: int,
    verbose: int,
    _fault_hook: FaultHook | None = None,
) -> tuple[list[dict], list[dict]]:
    """Run (or resume) the search; return ``(finished trial records, failed trial records)``.

    Parameters
    ----------
    data : dict
        ``X``, ``y``, ``X_val``, ``y_val``: standardised numpy arrays (class indices for
        classification targets).
    setup : TrialSetup
    n_trials : int
        Budget; finished trials of earlier runs count against it when resuming.
    searcher : {"evolution", "random", "tpe"}
    storage_path : Path
        Where the experiment folder lives (a disk every node sees on a cluster).
    experiment : str
        The experiment folder's name.
    resume : bool
        Continue the search already in the folder.
    backend : RayBackend
        The cluster ``address``, the ``resources`` of one trial and its ``max_retries``.
    max_concurrent : int or None
        Most trials at once (``None``: as the resources allow).
    scheduler : {"asha"} or None
    population_size, sample_size : int
        Aging evolution's sizes.
    verbose : int
        0 silent (Tune included); 1 progress: Tune's status table on an interactive terminal,
        else at most one INFO line per tenth of the trials on the ``uqkit`` logger (Tune
        silenced); 2 also Tune's trial-level output (:func:`tune_verbosity`).
    _fault_hook : callable, optional
        Tests only: ``hook(trial_name, attempt, epoch)`` runs after every epoch of every trial
        and may raise to make that attempt fail.

    Returns
    -------
    records : list of dict
        Finished trials (their ``trial.json`` plus validation ``predictions``, ``run`` and the
        ``errors`` seen by the driver on retries).
    failed : list of dict
        Trials that failed after their retries (``status="ERROR"``) or that the scheduler
        stopped without a checkpoint (``status="STOPPED"``).

    Examples
    --------
    The estimators call it from ``fit``; by hand (this starts a local Ray):

    >>> import tempfile
    >>> import numpy as np
    >>> from uqkit.search import SearchSpace, TrialSetup
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 2)).astype("float32"), rng.normal(size=(60, 1))
    >>> data = {"X": X[:40], "y": y[:40], "X_val": X[40:], "y_val": y[40:]}
    >>> space = SearchSpace(max_layers=1, epochs=2).to_dict()
    >>> setup = TrialSetup(space=space, task="regression", out_features=2, seed=0)
    >>> records, failed = run_search(
    ...     data, setup, n_trials=2, searcher="random", storage_path=Path(tempfile.mkdtemp()),
    ...     experiment="demo", resume=False, backend=RayBackend(), max_concurrent=None,
    ...     scheduler=None, population_size=2, sample_size=2, verbose=0,
    ... )  # doctest: +SKIP
    >>> len(records) + len(failed)  # doctest: +SKIP
    2
    """
    space = space_from_dict(setup.space)
    resources = _tune_resources(backend.resources_per_member())
    digest = fingerprint(data, setup.to_dict())
    folder = Experiment(storage_path, experiment, digest)
    folder.open(resume=resume, description={"space": setup.space, "task": setup.task})
    previous, failed = folder.earlier_results(data, setup)  # retrains damaged trials
    remaining = n_trials - len(previous)
    log_verbose(logger, verbose,
                f"AutoDEUQ search in {folder.root}: {len(previous)} finished trial(s) found, "
                f"{max(remaining, 0)} to run ({searcher} search).")
    if remaining <= 0:
        return previous[:n_trials], failed

    connect_ray(backend.address, verbose=verbose)
    run = folder.next_run
    runtime = TrialRuntime(
        fingerprint=digest, attempts_dir=str(folder.root / run / "_attempts"),
        threads=max(1, int(resources["cpu"])), report_epochs=scheduler == "asha",
        fault_hook=_fault_hook,
    )
    failures = _FailureLog()
    tuner = _tuner(
        data, setup, runtime, space, folder, run, failures, remaining=remaining,
        searcher=searcher, seed=setup.seed + len(folder.runs), previous=previous,
        resources=resources, max_retries=backend.max_retries, max_concurrent=max_concurrent,
        scheduler=scheduler, population_size=population_size, sample_size=sample_size,
        verbose=verbose,
    )
    with _quiet(tune_verbosity(verbose) == 0):
        grid = tuner.fit()
    records = folder.trials()
    new_failed = _failed_trials(grid, failures, run, backend.max_retries, records)
    folder.record_failures(run, new_failed)
    if not resume:
        records = [r for r in records if r["run"] == run]
    for record in records:  # retried trials: list the causes the driver saw
        if record["run"] == run:
            record["errors"] = _errors_of(failures, record["trial_name"])
    return records, failed + new_failed


def _tune_resources(per_trial: dict) -> dict:
    """A trial's Ray resources (``RayBackend.resources``) in Ray Tune's spelling.

    Examples
    --------
    >>> _tune_resources({"num_cpus": 2, "num_gpus": 0.25})
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


def tune_verbosity(verbose: int, tty: bool | None = None) -> int:
    """Ray Tune's ``verbose`` for uqkit's: Tune's redrawn status table is a terminal bar.

    ``0`` → 0; ``1`` → 1 on an interactive terminal, else 0 (uqkit logs one line per tenth of
    the trials instead); ``2`` or more → 2 (trial-level output, also in logs: asked for).

    Examples
    --------
    >>> tune_verbosity(0), tune_verbosity(1, tty=True), tune_verbosity(1, tty=False)
    (0, 1, 0)
    >>> tune_verbosity(3, tty=False)
    2
    """
    verbose = int(verbose or 0)
    tty = interactive() if tty is None else tty
    if verbose <= 0:
        return 0
    if verbose == 1:
        return 1 if tty else 0
    return 2


def _trial_progress(remaining: int, verbose: int) -> list:
    """The callback that logs finished trials where Tune's own table is off (``verbose=1``
    outside a terminal); none otherwise."""
    if int(verbose or 0) != 1 or tune_verbosity(verbose) != 0:
        return []
    return [_TrialProgress(remaining)]


class _TrialProgress(tune.Callback):
    """Counts trials that ended (finished or failed for good) into a :class:`Progress`."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.progress: Progress | None = None

    def _step(self) -> None:
        if self.progress is None:  # made on the driver at the first report, not pickled
            self.progress = Progress(self.total, "AutoDEUQ search", verbose=1, logger=logger,
                                     unit="trial")
        self.progress.update(1)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._step()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._step()

    def __getstate__(self) -> dict:
        return {"total": self.total, "progress": None}


def _tuner(data, setup, runtime, space, folder, run, failures, *, remaining, searcher, seed,
           previous, resources, max_retries, max_concurrent, scheduler, population_size,
           sample_size, verbose) -> tune.Tuner:
    """The Tune run of this start: searcher (warm-started), trainable, scheduler, failures."""
    search_alg, param_space = make_searcher(searcher, space, seed,
                                            population_size=population_size,
                                            sample_size=sample_size, max_concurrent=max_concurrent)
    if search_alg is not None:
        warm_start(search_alg, previous, logger)
    trainable = random_trainable if param_space is not None else train_trial
    trainable = tune.with_resources(
        tune.with_parameters(trainable, data=data, setup=setup, runtime=runtime), resources
    )
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="min", search_alg=search_alg,
            scheduler=_scheduler(scheduler, space), num_samples=remaining, reuse_actors=True,
            max_concurrent_trials=max_concurrent if search_alg is None else None,
        ),
        run_config=tune.RunConfig(
            name=run, storage_path=str(folder.root),
            failure_config=tune.FailureConfig(max_failures=max_retries),
            verbose=tune_verbosity(verbose),
            callbacks=[failures, *_trial_progress(remaining, verbose)],
        ),
    )


def _scheduler(name: str | None, space: SearchSpace):
    if name != "asha":
        return None
    # stop_last_trials=False: a trial that reaches max_t ends by itself and reports its
    # checkpoint; ASHA stopping it at its last epoch report would lose the trained network
    return ASHAScheduler(time_attr="epoch", max_t=space.epochs,
                         grace_period=max(1, min(space.patience, space.epochs)),
                         stop_last_trials=False)


class _FailureLog(tune.Callback):
    """Driver-side record of every trial error (retried or final), by trial."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def _note(self, trial) -> None:
        text = "unknown error"
        path = getattr(trial, "error_file", None)
        try:
            if path and os.path.exists(path):
                lines = [ln for ln in Path(path).read_text().strip().splitlines() if ln.strip()]
                text = lines[-1] if lines else text
        except OSError:
            pass
        self.errors.setdefault(str(trial), []).append(text)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._note(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._note(trial)


def _errors_of(failures: _FailureLog, trial_name: str) -> list[str]:
    return next((e for key, e in failures.errors.items() if key in trial_name), [])


def _failed_trials(grid, failures: _FailureLog, run: str, max_retries: int,
                   records: list[dict]) -> list[dict]:
    """The trials of this run that errored after their retries, or that the scheduler stopped
    before a final checkpoint (no catalog network)."""
    def described(result) -> tuple[str, dict]:
        name = Path(result.path).name if result.path else "?"
        return name, {k: v for k, v in (result.config or {}).items() if k != "_draw"}

    out = []
    for result in grid:
        if result.error is not None:
            trial_name, config = described(result)
            out.append({
                "trial_name": trial_name, "run": run, "status": "ERROR", "config": config,
                "attempts": max_retries + 1, "error": _last_line(result.error),
                "errors": _errors_of(failures, trial_name),
            })
    finished = {r["trial_name"] for r in records if r["run"] == run}
    for result in grid:
        trial_name, config = described(result)
        if result.error is None and not any(trial_name.startswith(n) for n in finished):
            out.append({
                "trial_name": trial_name, "run": run, "status": "STOPPED", "config": config,
                "attempts": 1, "error": "stopped early by the scheduler",
            })
    return out


@contextlib.contextmanager
def _quiet(silent: bool):
    """``verbose=0`` means silent, but Tune prints its experiment header and an INFO line even at
    its lowest verbosity: swallow stdout and raise the ``ray.tune`` log level to WARNING (trial
    errors still show)."""
    if not silent:
        yield
        return
    tune_logger = logging.getLogger("ray.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        tune_logger.setLevel(level)


def _last_line(error: BaseException) -> str:
    lines = [ln for ln in str(error).strip().splitlines() if ln.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"
