"""The Ray Tune side of AutoDEUQ: the searcher, the trainable and the driver.

This module imports Ray at the top; the rest of :mod:`uqkit.search` imports it only when a
search runs (``pip install 'uqkit[search]'``).

Layout of ``storage_path`` (local disk or a disk every node shares)::

    <storage_path>/<experiment>/problem.json        fingerprint of data + space (resume check)
    <storage_path>/<experiment>/run-000/...         one Ray Tune experiment per (re)start
        <trial>/checkpoint_000000/trial.json        config, history, validation NLL (JSON)
        <trial>/checkpoint_000000/weights.safetensors      the network's weights
        <trial>/checkpoint_000000/predictions.safetensors  validation mean / variance
    <storage_path>/<experiment>/run-000/failures.json      trials that failed after retries

A trial is *finished* when its checkpoint holds ``trial.json`` (written last). ``resume=True``
collects the finished trials of every earlier run, counts them against ``n_trials``, tells them
to the searcher (warm start) and runs a new Tune experiment for the rest.

Test hook: ``UQKIT_SEARCH_FAULTS="index:raise[:attempts],..."`` (read by the driver) makes the
``index``-th trial to start in a run (0-based) raise ``RuntimeError`` after its first epoch on its
first ``attempts`` attempts (default 1), e.g. ``"0:raise"`` or ``"1:raise:9"``. It needs
``storage_path`` on a disk the workers share (the start order is claimed with files there).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import ray
import torch
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from uqkit.exceptions import InvalidInputError
from uqkit.search._evolution import AgingEvolution
from uqkit.search._network import SearchNet
from uqkit.search._space import SearchSpace

__all__ = ["FAULTS_ENV", "RegularizedEvolutionSearcher", "run_search", "train_trial"]

FAULTS_ENV = "UQKIT_SEARCH_FAULTS"
METRIC = "val_nll"
logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------- the searcher
class RegularizedEvolutionSearcher(Searcher):
    """Aging evolution (Egele et al., 2022, Alg. 1) as a Ray Tune ``Searcher``.

    Parameters
    ----------
    space : SearchSpace
    population_size, sample_size : int
        See :class:`~uqkit.search._evolution.AgingEvolution`.
    seed : int
    metric : str
        Reported metric to minimise (default ``"val_nll"``).

    Examples
    --------
    >>> from uqkit.search import SearchSpace
    >>> searcher = RegularizedEvolutionSearcher(SearchSpace(), seed=0)  # doctest: +SKIP
    >>> config = searcher.suggest("trial-0")  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, population_size: int = 10, sample_size: int = 3,
                 seed: int = 0, metric: str = METRIC) -> None:
        super().__init__(metric=metric, mode="min")
        self.space = space
        self.evolution = AgingEvolution(space, population_size, sample_size, seed)
        self.pending: dict[str, dict] = {}
        self.lineage: dict[str, dict] = {}

    def suggest(self, trial_id: str) -> dict | None:
        config, info = self.evolution.ask()
        self.pending[trial_id] = config
        self.lineage[trial_id] = info
        return dict(config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        config = self.pending.pop(trial_id, None)
        if config is None or error or not result or self.metric not in result:
            return
        self.evolution.tell(config, result[self.metric])

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False,
                            pruned: bool = False, intermediate_values=None) -> None:
        """Warm start: a finished evaluation from an earlier run joins the population."""
        if not error and not pruned:
            self.evolution.tell(parameters, value)

    def get_state(self) -> dict:
        return {"evolution": self.evolution.get_state(), "pending": self.pending,
                "lineage": self.lineage}

    def set_state(self, state: dict) -> None:
        self.evolution.set_state(state["evolution"])
        self.pending = dict(state["pending"])
        self.lineage = dict(state["lineage"])

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))


# ------------------------------------------------------------------------- the trainable
class _TrialProgress:
    """tqdm stand-in given to ``train_stack``: reports every epoch's validation NLL to Tune
    (for ASHA) and fires an injected fault after the first epoch."""

    def __init__(self, report_epochs: bool, fault: bool, label: str) -> None:
        self.report_epochs, self.fault, self.label = report_epochs, fault, label
        self.epoch = 0

    def update(self, n: int = 1) -> None:
        self.epoch += 1
        if self.fault and self.epoch == 1:
            raise RuntimeError(f"injected fault in {self.label} ({FAULTS_ENV} test hook)")

    def set_postfix(self, val_loss=None, **_: object) -> None:
        if self.report_epochs and val_loss is not None:
            tune.report({METRIC: float(val_loss), "epoch": self.epoch, "finished": False})


def trial_seed(base: int, config: dict) -> int:
    """The seed of a trial: the search seed and a checksum of the configuration."""
    from uqkit._random import derive_seed

    return derive_seed(int(base), zlib.crc32(json.dumps(config, sort_keys=True).encode()))


def fit_network(architecture: dict, config: dict, setup: dict, X, y, X_val, y_val, seed: int,
                *, epochs: int, patience: int | None, device, progress=None):
    """Train one :class:`SearchNet` with the Gaussian NLL (or cross-entropy) through
    :func:`~uqkit.training.train_stack`; return the plain network and its history."""
    import functools

    from uqkit.nn import StackSpec
    from uqkit.training import CrossEntropyMemberLoss, GaussianMemberLoss, TrainConfig, train_stack

    spec = StackSpec(in_features=X.shape[1], out_features=setup["out_features"], dtype="float32",
                     module_factory=functools.partial(SearchNet, architecture=architecture))
    loss = (GaussianMemberLoss(min_variance=setup["min_variance"])
            if setup["task"] == "regression" else CrossEntropyMemberLoss())
    stack = spec.build([seed]).to(device)

    def tensor(values, target=False):
        if values is None:
            return None
        out = torch.as_tensor(np.asarray(values), device=device)
        if target and setup["task"] == "classification":
            return out.long()
        return out.float()

    train_config = TrainConfig(epochs=epochs, batch_size=int(config["batch_size"]),
                               lr=float(config["lr"]), weight_decay=float(config["weight_decay"]),
                               patience=patience)
    history = train_stack(stack, loss, tensor(X), tensor(y, True), [seed], train_config,
                          X_val=tensor(X_val), y_val=tensor(y_val, True), progress=progress)[0]
    net = SearchNet(X.shape[1], setup["out_features"], architecture)
    net.load_state_dict({name: p.detach()[0].cpu() for name, p in
                         zip(stack._names, stack.params)})
    return net.eval(), history


@torch.no_grad()
def network_outputs(net: SearchNet, X: np.ndarray, batch: int = 8192) -> torch.Tensor:
    """Raw outputs of ``net`` on standardised ``X``, float64 on CPU."""
    device = next(net.parameters()).device
    out = [net(torch.as_tensor(X[i : i + batch], dtype=torch.float32, device=device)).double()
           for i in range(0, len(X), batch)]
    return torch.cat(out).cpu()


def validation_predictions(net, X_val, y_val, setup) -> tuple[dict, float]:
    """Validation mean/variance (or probabilities) of a trained network and its NLL."""
    from uqkit.nn import gaussian_head

    raw = network_outputs(net, X_val)
    if setup["task"] == "regression":
        mean, var = gaussian_head(raw, setup["min_variance"])
        y = torch.as_tensor(np.asarray(y_val), dtype=torch.float64)
        nll = 0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)
        return {"val_mean": mean, "val_var": var}, float(nll.sum(-1).mean())
    logp = torch.log_softmax(raw, dim=-1)
    labels = torch.as_tensor(np.asarray(y_val), dtype=torch.long)
    nll = -logp.gather(1, labels[:, None]).mean()
    return {"val_probs": logp.exp()}, float(nll)


def _claim_ordinal(folder: Path, name: str) -> tuple[int, int]:
    """Fault hook only: the trial's start order in its run (claimed with exclusive file
    creation, kept across retries) and its attempt number."""
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / f"{name}.attempts"
    if mine.exists():
        index, attempts = (int(v) for v in mine.read_text().split())
        mine.write_text(f"{index} {attempts + 1}")
        return index, attempts
    index = 0
    while True:
        try:
            os.close(os.open(folder / f"ordinal-{index}", os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            index += 1
    mine.write_text(f"{index} 1")
    return index, 0


def train_trial(config: dict, data: dict) -> None:
    """The Ray Tune trainable: train one network of the space (:func:`run_trial`), then report
    its validation NLL with the checkpoint (safetensors weights + validation predictions +
    ``trial.json``)."""
    setup = data["setup"]
    context = tune.get_context()
    name = context.get_trial_name() or "trial"
    trial_dir = Path(context.get_trial_dir() or tempfile.mkdtemp())
    marker = trial_dir / "attempts.txt"
    attempt = len(marker.read_text().split()) if marker.exists() else 0
    marker.write_text((marker.read_text() if marker.exists() else "") + f"{time.time()}\n")
    fault = False
    if setup["faults"]:
        index, attempt = _claim_ordinal(Path(setup["fault_dir"]), name)
        fault = setup["faults"].get(str(index), 0) > attempt

    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    device = torch.device("cuda" if gpus and torch.cuda.is_available() else "cpu")
    torch.set_num_threads(max(1, int(setup["threads"])))
    progress = _TrialProgress(setup["report_epochs"], fault, name)
    with tempfile.TemporaryDirectory() as folder:
        record = run_trial(dict(config), data, Path(folder), name=name, attempt=attempt,
                           device=device, progress=progress)
        tune.report({METRIC: record[METRIC], "epoch": record["epochs"], "finished": True},
                    checkpoint=tune.Checkpoint.from_directory(folder))


def run_trial(config: dict, data: dict, folder: Path, *, name: str, attempt: int = 0,
              device="cpu", progress=None) -> dict:
    """Train the network of ``config`` and write its checkpoint into ``folder``:
    ``weights.safetensors``, ``predictions.safetensors`` (validation mean/variance or
    probabilities) and, last, ``trial.json``. Returns the JSON record."""
    from safetensors.torch import save_file

    setup = data["setup"]
    space = SearchSpace.from_dict(setup["space"])
    config = {**space.constants(), **config}  # searchers may leave out unsearched constants
    space.validate(config)
    architecture = space.architecture(config)
    seed = trial_seed(setup["seed"], config)
    start = time.perf_counter()
    net, history = fit_network(
        architecture, config, setup, data["X"], data["y"], data["X_val"], data["y_val"],
        seed, epochs=space.epochs, patience=space.patience, device=device, progress=progress,
    )
    predictions, nll = validation_predictions(net, data["X_val"], data["y_val"], setup)
    record = {
        "config": config, "architecture": architecture, "seed": seed, METRIC: nll,
        "epochs": history["epochs"], "best_epoch": history["best_epoch"],
        "val_loss": history["val_loss"], "seconds": time.perf_counter() - start,
        "attempts": attempt + 1, "trial_name": name, "device": str(device),
        "fingerprint": setup["fingerprint"],
    }
    save_file({k: v.contiguous() for k, v in net.cpu().state_dict().items()},
              os.path.join(folder, "weights.safetensors"))
    save_file({k: v.contiguous() for k, v in predictions.items()},
              os.path.join(folder, "predictions.safetensors"))
    Path(folder, "trial.json").write_text(json.dumps(record))  # last: marks completion
    return record


# ------------------------------------------------------------------------- the catalog on disk
def load_trial(folder: Path) -> dict | None:
    """A finished trial's record with its validation predictions, or ``None``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        record = json.loads((folder / "trial.json").read_text())
        record["predictions"] = {k: v.numpy() for k, v in
                                 load_file(str(folder / "predictions.safetensors")).items()}
    except (OSError, ValueError):
        return None
    record["checkpoint"] = str(folder)
    return record


def load_weights(record: dict, setup: dict, in_features: int) -> SearchNet:
    """Rebuild a catalog network from its checkpoint."""
    from safetensors.torch import load_file

    net = SearchNet(in_features, setup["out_features"], record["architecture"])
    net.load_state_dict(load_file(str(Path(record["checkpoint"]) / "weights.safetensors")))
    return net.eval()


def finished_trials(experiment: Path, fingerprint: str) -> list[dict]:
    """Every finished trial of every run under ``experiment``, oldest run first."""
    out = []
    for path in sorted(experiment.glob("run-*/*/checkpoint_*/trial.json")):
        record = load_trial(path.parent)
        if record is not None and record.get("fingerprint") == fingerprint:
            record["run"] = path.parents[2].name
            out.append(record)
    seen, unique = set(), []
    for record in out:  # one entry per trial (a trial that reported twice keeps its last)
        key = (record["run"], record["trial_name"])
        if key in seen:
            unique = [r for r in unique if (r["run"], r["trial_name"]) != key]
        seen.add(key)
        unique.append(record)
    return unique


def _fingerprint(data: dict, setup: dict) -> str:
    digest = hashlib.sha256(json.dumps({k: setup[k] for k in ("space", "task", "out_features",
                                                             "min_variance", "seed")},
                                       sort_keys=True).encode())
    for key in ("X", "y", "X_val", "y_val"):
        array = np.ascontiguousarray(data[key])
        digest.update(f"{key}{array.dtype.str}{array.shape}".encode())
        digest.update(array.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()[:16]


def _parse_faults(text: str | None) -> dict[str, int]:
    faults = {}
    for item in (text or "").replace(" ", "").split(","):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or parts[1] != "raise" or not parts[0].isdigit() \
                or (len(parts) == 3 and not parts[2].isdigit()):
            raise InvalidInputError(
                f"{FAULTS_ENV}={text!r}: expected 'index:raise[:attempts],...', e.g. '0:raise'. "
                "Unset it for a normal search."
            )
        faults[parts[0]] = int(parts[2]) if len(parts) == 3 else 1
    return faults


class _FailureLog(tune.Callback):
    """Driver-side record of every trial error (retried or final)."""

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


# ------------------------------------------------------------------------- the driver
def _resources(per_trial: dict | None) -> dict:
    per_trial = dict(per_trial or {"num_cpus": 1})
    unknown = set(per_trial) - {"num_cpus", "num_gpus", "cpu", "gpu"}
    if unknown:
        raise InvalidInputError(
            f"resources_per_trial has unknown keys {sorted(unknown)}; use num_cpus and num_gpus, "
            "e.g. {'num_cpus': 1, 'num_gpus': 0.25}."
        )
    cpus = float(per_trial.get("num_cpus", per_trial.get("cpu", 1)))
    gpus = float(per_trial.get("num_gpus", per_trial.get("gpu", 0)))
    if cpus < 0 or gpus < 0 or (gpus > 1 and not gpus.is_integer()):
        raise InvalidInputError(
            f"resources_per_trial={per_trial}: CPUs and GPUs must be >= 0 and a GPU count above "
            "one must be whole (fractions share one GPU)."
        )
    return {"cpu": cpus, "gpu": gpus}


def _make_searcher(name: str, space: SearchSpace, seed: int, population_size: int,
                   sample_size: int, max_concurrent: int | None):
    if name == "evolution":
        searcher = RegularizedEvolutionSearcher(space, population_size, sample_size, seed)
        param_space = None
    elif name == "tpe":
        from uqkit.exceptions import require

        require("optuna", "search")
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        domains = {v.name: v.to_tune() for v in space.variables()}  # constants: in run_trial
        searcher = OptunaSearch(space=domains, metric=METRIC, mode="min",
                                sampler=optuna.samplers.TPESampler(seed=seed))
        param_space = None
    else:  # random: Tune's variant generator over the space's domains
        return None, _seeded_random_space(space, seed)
    if max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return searcher, param_space


def _seeded_random_space(space: SearchSpace, seed: int) -> dict:
    """Random search with reproducible draws: each trial's config comes from a seeded generator
    keyed by a Tune-sampled integer."""
    rng = np.random.default_rng(seed)
    keys = iter(rng.integers(0, 2**62, size=100_000).tolist())

    def draw(_spec):
        return next(keys)

    return {"_draw": tune.sample_from(draw)}


def run_search(
    data: dict,
    setup: dict,
    *,
    n_trials: int,
    searcher: str,
    storage_path: Path,
    experiment: str,
    resume: bool,
    resources_per_trial: dict | None,
    max_concurrent: int | None,
    max_failures: int,
    scheduler: str | None,
    population_size: int,
    sample_size: int,
    ray_address: str | None,
    verbose: int,
) -> tuple[list[dict], list[dict]]:
    """Run (or resume) the search; return ``(finished trial records, failed trial records)``.

    ``data`` holds ``X, y, X_val, y_val`` (standardised numpy arrays), ``setup`` the trial
    settings (``space`` dict, ``task``, ``out_features``, ``min_variance``, ``seed``).
    """
    from uqkit.training import RayOptions
    from uqkit.training._ray import _connect

    space = SearchSpace.from_dict(setup["space"])
    resources = _resources(resources_per_trial)
    setup = {**setup, "faults": _parse_faults(os.environ.get(FAULTS_ENV)),
             "threads": max(1, int(resources["cpu"])), "report_epochs": scheduler == "asha"}
    setup["fingerprint"] = fingerprint = _fingerprint(data, setup)
    root = Path(storage_path).expanduser().resolve() / experiment
    runs = sorted(p for p in root.glob("run-*") if p.is_dir()) if root.exists() else []
    problem = root / "problem.json"
    if runs and not resume:
        raise InvalidInputError(
            f"{str(root)!r} already holds a search ({len(runs)} run(s)). Pass resume=True to "
            "continue it, or choose another storage_path / experiment name."
        )
    if resume and problem.exists():
        stored = json.loads(problem.read_text()).get("fingerprint")
        if stored != fingerprint:
            raise InvalidInputError(
                f"resume=True but the search in {str(root)!r} was run on other data or another "
                "space (fingerprint mismatch). Pass the same data, validation split, space and "
                "random_state, or use a new storage_path."
            )
    root.mkdir(parents=True, exist_ok=True)
    problem.write_text(json.dumps({"fingerprint": fingerprint, "space": setup["space"],
                                   "task": setup["task"]}, indent=1))
    previous = finished_trials(root, fingerprint) if resume else []
    failed: list[dict] = []
    for run in runs:
        log = run / "failures.json"
        if resume and log.exists():
            failed += json.loads(log.read_text())
    remaining = n_trials - len(previous)
    if verbose:
        print(f"AutoDEUQ search in {root}: {len(previous)} finished trial(s) found, "
              f"{max(remaining, 0)} to run ({searcher} search).", flush=True)
    if remaining <= 0:
        return previous[:n_trials] if remaining < 0 else previous, failed

    run_name = f"run-{len(runs):03d}"
    setup["fault_dir"] = str(root / run_name / "_faults")
    _connect(ray, RayOptions(address=ray_address), verbose)
    search_alg, param_space = _make_searcher(searcher, space, setup["seed"] + len(runs),
                                             population_size, sample_size, max_concurrent)
    if search_alg is not None:
        for record in previous:  # warm start
            target = getattr(search_alg, "searcher", search_alg)
            if hasattr(target, "add_evaluated_point"):
                try:
                    target.add_evaluated_point(record["config"], record[METRIC])
                except Exception as err:  # a searcher that cannot be warm-started still runs
                    logger.info("warm start skipped: %s", err)
    if param_space is not None:  # random search: draw configs from a seeded generator
        trainable_fn = _random_trainable
    else:
        trainable_fn = train_trial
    trainable = tune.with_resources(
        tune.with_parameters(trainable_fn, data={**data, "setup": setup}), resources
    )
    sched = None
    if scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        # stop_last_trials=False: a trial that reaches max_t ends by itself and reports its
        # checkpoint; ASHA stopping it at its last epoch report would lose the trained network
        sched = ASHAScheduler(time_attr="epoch", max_t=space.epochs,
                              grace_period=max(1, min(space.patience, space.epochs)),
                              stop_last_trials=False)
    failures = _FailureLog()
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="min", search_alg=search_alg, scheduler=sched,
            num_samples=remaining, reuse_actors=True,
            max_concurrent_trials=max_concurrent if search_alg is None else None,
        ),
        run_config=tune.RunConfig(
            name=run_name, storage_path=str(root),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            verbose=min(int(verbose), 2), callbacks=[failures],
        ),
    )
    with _quiet(verbose == 0):
        grid = tuner.fit()
    new_failed = []
    for result in grid:
        if result.error is None:
            continue
        trial_name = Path(result.path).name if result.path else "?"
        errors = [e for key, e in failures.errors.items() if trial_name.startswith(key)
                  or key in trial_name]
        messages = errors[0] if errors else []
        new_failed.append({
            "trial_name": trial_name, "run": run_name, "status": "ERROR",
            "config": {k: v for k, v in (result.config or {}).items() if k != "_draw"},
            "attempts": max_failures + 1,
            "error": _last_line(result.error),
            "errors": messages,
        })
    records = finished_trials(root, fingerprint)
    names = {r["trial_name"] for r in records if r["run"] == run_name}
    for result in grid:  # stopped early (ASHA) without a final checkpoint: no catalog model
        trial_name = Path(result.path).name if result.path else "?"
        if result.error is None and not any(trial_name.startswith(n) for n in names):
            new_failed.append({
                "trial_name": trial_name, "run": run_name, "status": "STOPPED",
                "config": {k: v for k, v in (result.config or {}).items() if k != "_draw"},
                "attempts": 1, "error": "stopped early by the scheduler",
            })
    (root / run_name).mkdir(parents=True, exist_ok=True)
    (root / run_name / "failures.json").write_text(json.dumps(new_failed, default=str))
    if not resume:
        records = [r for r in records if r["run"] == run_name]
    for record in records:  # retried trials: list the causes seen by the driver
        if record["run"] == run_name:
            record["errors"] = next((e for key, e in failures.errors.items()
                                     if key in record["trial_name"]), [])
    return records, failed + new_failed


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


def _random_trainable(config: dict, data: dict) -> None:
    """Random search: the configuration is drawn from the space with the trial's seeded key."""
    space = SearchSpace.from_dict(data["setup"]["space"])
    sampled = space.sample(np.random.default_rng(int(config["_draw"])))
    train_trial(sampled, data)
