"""The search driver: run (or resume) one AutoDEUQ search on Ray Tune and return its catalog.

:func:`run_search` reads as its steps: fingerprint the problem, open the experiment folder,
count what earlier runs finished, build the Tune run (searcher, trainable, scheduler, failure
policy), fit it, and collect the finished and failed trials.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs
(``pip install 'uqkit[search]'``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import os
from pathlib import Path

from ray import tune
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from uqkit.exceptions import InvalidInputError
from uqkit.search._attempts import final_error
from uqkit.search._catalog import METRIC, fingerprint
from uqkit.search._deephyper import DeepHyperSpace
from uqkit.search._experiment import Experiment
from uqkit.search._handover import await_free_slots, note_search_end
from uqkit.search._load_space import space_from_dict
from uqkit.search._own_tuner import make_trainable, runs_pooled, write_trainable_setup
from uqkit.search._own_tuner import tune_resources as _tune_resources
from uqkit.search._pooled import warm_workers
from uqkit.search._run_config import run_config_settings
from uqkit.search._searchers import make_searcher, warm_start
from uqkit.search._space import SearchSpace
from uqkit.search._trainable import FaultHook, TrialRuntime
from uqkit.search._trial import TrialSetup
from uqkit.training import (
    Progress,
    RayBackend,
    connect_ray,
    interactive,
    keeps_idle_workers,
    log_verbose,
)

__all__ = ["SearchResults", "run_search", "tune_settings"]

logger = logging.getLogger(__name__)


class SearchResults(tuple):
    """``(records, failed)`` of :func:`run_search`, with Tune's ``ResultGrid`` of this start as
    ``result_grid`` (``None`` when the budget was already spent and no Tune run started)."""

    result_grid = None

    def __new__(cls, records: list[dict], failed: list[dict], result_grid=None):
        out = super().__new__(cls, (records, failed))
        out.result_grid = result_grid
        return out


def run_search(
    data: dict,
    setup: TrialSetup,
    *,
    n_trials: int,
    searcher,
    storage_path: Path,
    experiment: str,
    resume: bool,
    backend: RayBackend,
    max_concurrent: int | None,
    scheduler,
    population_size: int,
    sample_size: int,
    verbose: int,
    space: SearchSpace | None = None,
    run_config: tune.RunConfig | None = None,
    tune_config: tune.TuneConfig | None = None,
    _fault_hook: FaultHook | None = None,
) -> SearchResults:
    """Run (or resume) the search; return ``(finished trial records, failed trial records)``.

    Parameters
    ----------
    data : dict
        ``X``, ``y``, ``X_val``, ``y_val``: standardised numpy arrays (class indices for
        classification targets).
    setup : TrialSetup
    n_trials : int
        Budget; finished trials of earlier runs count against it when resuming.
    searcher : {"evolution", "random", "tpe"} or Searcher or SearchAlgorithm
        A Ray Tune object is copied and set up by :func:`~uqkit.search.make_searcher`.
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
    scheduler : {"asha"} or TrialScheduler or None
        A Tune scheduler object is passed through (copied; it must leave metric/mode unset or
        set to ``val_nll``/``"min"``); with any scheduler trials report every epoch.
    population_size, sample_size : int
        Aging evolution's sizes.
    verbose : int
        0 silent (Tune included); 1 progress: Tune's status table on an interactive terminal,
        else at most one INFO line per tenth of the trials on the ``uqkit`` logger (Tune
        silenced); 2 also Tune's trial-level output (:func:`tune_verbosity`).
    space : SearchSpace, optional
        The space itself (default: rebuilt from ``setup.space``); needed when it holds Tune
        domains only Tune samples (``tune.sample_from``), which its JSON form cannot carry.
    run_config, tune_config : tune.RunConfig, tune.TuneConfig, optional
        Passed through to the ``Tuner``, merged with uqkit's settings by :func:`tune_settings`.
    _fault_hook : callable, optional
        Tests only: ``hook(trial_name, attempt, epoch)`` runs after every epoch of every trial
        and may raise to make that attempt fail.

    Returns
    -------
    SearchResults
        A pair, with Tune's ``ResultGrid`` of this start as its ``result_grid``:
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
    space = space_from_dict(setup.space) if space is None else space
    resources = _tune_resources(backend.resources_per_member())
    storage_path, experiment, max_retries = _storage_and_retries(
        run_config, storage_path, experiment, backend.max_retries)
    digest = fingerprint(data, setup.to_dict())
    folder = Experiment(storage_path, experiment, digest)
    folder.open(resume=resume, description={"space": setup.space, "task": setup.task})
    previous, failed = folder.earlier_results(data, setup)  # retrains damaged trials
    remaining = n_trials - len(previous)
    name = searcher if isinstance(searcher, str) else type(searcher).__name__
    log_verbose(logger, verbose,
                f"AutoDEUQ search in {folder.root}: {len(previous)} finished trial(s) found, "
                f"{max(remaining, 0)} to run ({name} search).")
    if remaining <= 0:
        return SearchResults(previous[:n_trials], failed)

    connect_ray(backend.address, verbose=verbose)
    slots = _trials_at_once(remaining, max_concurrent, tune_config, resources, searcher)
    run = folder.next_run
    runtime = TrialRuntime(
        fingerprint=digest, attempts_dir=str(folder.root / run / "_attempts"),
        threads=max(1, int(resources["cpu"])),
        # schedulers and stop criteria act on per-epoch reports
        report_epochs=scheduler is not None or getattr(run_config, "stop", None) is not None,
        fault_hook=_fault_hook,
        # trials train on pooled task workers where Ray keeps them warm between searches
        pooled=keeps_idle_workers(), slots=slots,
    )
    write_trainable_setup(folder.root / run, data, setup, runtime, resources)
    # pooled trials: their workers import while Tune starts the trials' actors
    warm = warm_workers(slots) if runs_pooled(runtime, resources) else []
    await_free_slots(resources, slots)  # an earlier search's actors may not be freed yet
    failures = _FailureLog(Path(runtime.attempts_dir))
    tuner = _tuner(
        data, setup, runtime, space, folder, run, failures, warm, remaining=remaining,
        searcher=searcher, seed=setup.seed + len(folder.runs), previous=previous,
        resources=resources, max_retries=max_retries, max_concurrent=max_concurrent,
        scheduler=scheduler, population_size=population_size, sample_size=sample_size,
        verbose=verbose, run_config=run_config, tune_config=tune_config,
    )
    try:
        with _quiet(tune_verbosity(verbose) == 0):
            grid = tuner.fit()
    finally:
        note_search_end()
    records = folder.trials()
    new_failed = _failed_trials(grid, failures, run, max_retries, records)
    folder.record_failures(run, new_failed)
    if not resume:
        records = [r for r in records if r["run"] == run]
    for record in records:  # retried trials: list the causes the driver saw
        if record["run"] == run:
            record["errors"] = _errors_of(failures, record["trial_name"])
    return SearchResults(records, failed + new_failed, grid)


def _trials_at_once(remaining: int, max_concurrent: int | None, tune_config,
                    resources: dict, searcher=None) -> int:
    """How many trials can run at once: the budget, the concurrency limits (uqkit's, the
    ``TuneConfig``'s, a ``ConcurrencyLimiter`` around a user's searcher), the CPUs."""
    import ray
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    limits = [remaining, max_concurrent, getattr(tune_config, "max_concurrent_trials", None)]
    while searcher is not None and not isinstance(searcher, str):
        if isinstance(searcher, ConcurrencyLimiter):
            limits.append(searcher.max_concurrent)
        if isinstance(searcher, BasicVariantGenerator):
            limits.append(getattr(searcher, "max_concurrent", 0))  # 0: no limit
        searcher = getattr(searcher, "searcher", None)
    cpus = ray.cluster_resources().get("CPU", 1.0)
    per_trial = resources.get("cpu") or 1.0
    return int(max(1, min([cpus // per_trial] + [n for n in limits if n])))


def _storage_and_retries(run_config, storage_path: Path, experiment: str,
                         max_retries: int) -> tuple[Path, str, int]:
    """Where the search lives and how often a trial is retried, from uqkit's settings and a
    user ``RunConfig``: its ``storage_path`` and ``name`` are the search's storage and
    experiment folder (each start is the Tune experiment ``<name>/run-NNN`` in it), and its
    ``FailureConfig`` wins over ``RayBackend.max_retries``; where it sets them
    (:func:`~uqkit.search._run_config.run_config_settings`: not Ray's fill-ins)."""
    if run_config is None:
        return Path(storage_path), experiment, max_retries
    settings = run_config_settings(run_config)
    if settings.get("storage_filesystem") is not None:
        raise InvalidInputError(
            "run_config.storage_filesystem is not supported: uqkit reads the catalog back from "
            "a path; mount the storage and give its path as run_config.storage_path.")
    storage_path = Path(settings.get("storage_path", storage_path))
    experiment = settings.get("name", experiment)
    if "failure_config" in settings:
        max_retries = int(settings["failure_config"].max_failures)
    return storage_path, experiment, max_retries


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


def _tuner(data, setup, runtime, space, folder, run, failures, warm, *, remaining, searcher,
           seed, previous, resources, max_retries, max_concurrent, scheduler, population_size,
           sample_size, verbose, run_config=None, tune_config=None) -> tune.Tuner:
    """The Tune run of this start: searcher (warm-started), trainable (``warm``: the pooled
    workers' warm-up tasks), scheduler, failures."""
    if tune_config is not None and getattr(tune_config, "max_concurrent_trials", None):
        max_concurrent = _agreed("max_concurrent", max_concurrent,
                                 tune_config.max_concurrent_trials)
    search_alg, param_space = make_searcher(searcher, space, seed,
                                            population_size=population_size,
                                            sample_size=sample_size, max_concurrent=max_concurrent)
    if search_alg is not None and previous:
        warm_start(search_alg, previous, space, logger)
    trainable = make_trainable(data, setup, runtime, resources, warm=warm,
                               draws=param_space is not None and "_draw" in param_space)
    own_tune = tune.TuneConfig(
        metric=METRIC, mode="min", search_alg=search_alg,
        scheduler=_scheduler(scheduler, space), num_samples=remaining, reuse_actors=True,
        max_concurrent_trials=max_concurrent if search_alg is None else None,
    )
    own_run = tune.RunConfig(
        name=run, storage_path=str(folder.root),
        failure_config=tune.FailureConfig(max_failures=max_retries),
        verbose=tune_verbosity(verbose),
        callbacks=[failures, *_trial_progress(remaining, verbose)],
    )
    tune_settings_, run_settings = tune_settings(own_tune, own_run, tune_config, run_config)
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_settings_,
                      run_config=run_settings)


def _agreed(name: str, ours, theirs):
    if ours is not None and theirs is not None and ours != theirs:
        raise InvalidInputError(
            f"{name}={ours!r} and the TuneConfig's {theirs!r} disagree: set one of them.")
    return theirs if theirs is not None else ours


def tune_settings(own_tune: tune.TuneConfig, own_run: tune.RunConfig,
                  tune_config: tune.TuneConfig | None = None,
                  run_config: tune.RunConfig | None = None):
    """uqkit's ``TuneConfig`` and ``RunConfig`` of a start, merged with the user's.

    The user's values win where they change only how Tune runs: ``time_budget_s``, the trial
    name and folder creators, ``reuse_actors`` (uqkit turns it on; Tune's default, ``False``,
    reads as unset) (``TuneConfig``); ``verbose``,
    ``checkpoint_config``, ``sync_config``, ``stop``, ``progress_reporter``, ``log_to_file``
    and the ``failure_config`` (``RunConfig``); user ``callbacks`` run after uqkit's.
    ``storage_path`` and ``name`` locate the search folder (:func:`run_search` reads them);
    what uqkit must decide is an :class:`~uqkit.exceptions.InvalidInputError` when set
    otherwise: the metric (``val_nll``) and mode (``"min"``), ``num_samples`` (from
    ``n_trials``), ``search_alg`` and ``scheduler`` (use ``searcher=`` / ``scheduler=``).

    Examples
    --------
    >>> from ray import tune
    >>> own = tune.TuneConfig(metric="val_nll", mode="min", num_samples=4)
    >>> settings, _ = tune_settings(own, tune.RunConfig(name="run-000"),
    ...                             tune.TuneConfig(time_budget_s=60))
    >>> settings.num_samples, settings.time_budget_s
    (4, 60)
    >>> try:
    ...     tune_settings(own, tune.RunConfig(), tune.TuneConfig(metric="loss"))
    ... except InvalidInputError as error:
    ...     print(str(error).split(":")[0])
    tune_config.metric='loss'
    """
    if tune_config is not None:
        if not isinstance(tune_config, tune.TuneConfig):
            raise InvalidInputError(
                f"tune_config must be a ray.tune.TuneConfig; got {type(tune_config).__name__}.")
        for key, allowed, fix in (
            ("metric", (None, METRIC), f"leave metric unset (or {METRIC!r})"),
            ("mode", (None, "min"), "leave mode unset (or 'min')"),
            ("num_samples", (1,), "set the budget with n_trials"),
            ("search_alg", (None,), "pass the searcher as searcher="),
            ("scheduler", (None,), "pass the scheduler as scheduler="),
        ):
            value = getattr(tune_config, key)
            if not any(value is a or (a is not None and value == a) for a in allowed):
                raise InvalidInputError(
                    f"tune_config.{key}={value!r}: uqkit's trials report {METRIC!r}, to "
                    f"minimise; {fix}." if key in ("metric", "mode") else
                    f"tune_config.{key}={value!r} is uqkit's to set: {fix}.")
        defaults = tune.TuneConfig()
        changes = {key: getattr(tune_config, key)
                   for key in ("reuse_actors", "time_budget_s", "trial_name_creator",
                               "trial_dirname_creator")
                   if getattr(tune_config, key) != getattr(defaults, key)}
        own_tune = dataclasses.replace(own_tune, **changes)
    if run_config is not None:
        settings = run_config_settings(run_config)
        changes = {key: settings[key]
                   for key in ("checkpoint_config", "sync_config", "stop", "progress_reporter",
                               "log_to_file", "failure_config", "verbose")
                   if key in settings}
        changes["callbacks"] = list(own_run.callbacks or []) + list(run_config.callbacks or [])
        own_run = dataclasses.replace(own_run, **changes)
    return own_tune, own_run


def _scheduler(scheduler, space: SearchSpace | DeepHyperSpace):
    if scheduler is None:
        return None
    if not isinstance(scheduler, str):
        if not isinstance(scheduler, TrialScheduler):
            raise InvalidInputError(
                f"scheduler must be 'asha', None or a Ray Tune TrialScheduler; got "
                f"{type(scheduler).__name__}.")
        # Tune refuses a scheduler with its own metric (or mode) next to TuneConfig's
        if getattr(scheduler, "metric", None) is not None or getattr(scheduler, "_mode", None):
            raise InvalidInputError(
                f"The {type(scheduler).__name__} scheduler is built with metric/mode: leave "
                f"them unset, uqkit sets them ({METRIC!r}, 'min') for the searcher and the "
                "scheduler alike.")
        return copy.deepcopy(scheduler)  # a fit never changes the caller's object
    if scheduler != "asha":
        raise InvalidInputError(f"scheduler must be 'asha', None or a Ray Tune TrialScheduler; "
                                f"got {scheduler!r}.")
    # stop_last_trials=False: a trial that reaches max_t ends by itself and reports its
    # checkpoint; ASHA stopping it at its last epoch report would lose the trained network
    # the grace period is the (shortest) early-stopping patience of the space
    patience = getattr(space, "patience", None) or min(space.patience_early_stopping)
    return ASHAScheduler(time_attr="epoch", max_t=space.epochs,
                         grace_period=max(1, min(patience, space.epochs)),
                         stop_last_trials=False)


class _FailureLog(tune.Callback):
    """Driver-side record of every trial error (retried or final), by trial.

    It also ends the retries of a trial whose error its configuration decides (noted in
    ``attempts_dir`` by the attempt that raised it): the retry Tune has started raises the
    noted error at once, and none follows, however many ``max_failures`` allows (``-1``:
    without end)."""

    def __init__(self, attempts_dir: Path) -> None:
        self.errors: dict[str, list[str]] = {}
        self.attempts_dir = attempts_dir

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
        if final_error(self.attempts_dir, str(trial)) is not None:
            trial.max_failures = 0  # Trial.should_recover: the next failure is final

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._note(trial)


def _errors_of(failures: _FailureLog, trial_name: str) -> list[str]:
    return next((e for key, e in failures.errors.items() if key in trial_name), [])


def _failed_trials(grid, failures: _FailureLog, run: str, max_retries: int,
                   records: list[dict]) -> list[dict]:
    """The trials of this run that errored after their retries, or that the scheduler stopped
    before a final checkpoint (no catalog network).

    ``attempts`` counts the attempts that trained: one for a trial whose error its
    configuration decides (a divergence; its retries raised it again without training)."""
    determined = {marker.stem for marker in failures.attempts_dir.glob("*.final")}

    def described(result) -> tuple[str, dict]:
        name = Path(result.path).name if result.path else "?"
        return name, {k: v for k, v in (result.config or {}).items() if k != "_draw"}

    def trained(trial_name: str) -> int | None:
        if any(trial_name.startswith(stem) for stem in determined):
            return 1
        # FailureConfig(max_failures=-1) retries without end: the count is unknown
        return max_retries + 1 if max_retries >= 0 else None

    out = []
    for result in grid:
        if result.error is not None:
            trial_name, config = described(result)
            out.append({
                "trial_name": trial_name, "run": run, "status": "ERROR", "config": config,
                "attempts": trained(trial_name),
                "error": _last_line(result.error),
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
