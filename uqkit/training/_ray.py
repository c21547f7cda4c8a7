"""The ``"ray"`` backend: every member (or vectorized group of members) is one Ray task.

How a fit runs
--------------
1. Ray is found or started: an initialised Ray (the caller's) is used as it is and never shut
   down; ``RayOptions.address`` connects to a cluster (``"auto"`` or ``"ray://host:port"``);
   otherwise a local Ray starts with this machine's CPUs, no dashboard and quiet logging. A Ray
   started here stays up for later fits in this process (``ray.shutdown()`` stops it).
2. The training tensors go into the object store once (``ray.put``) as numpy arrays.
3. Each task builds its members from their seeds (:meth:`StackSpec.build`), trains them with
   :func:`~uqkit.training.train_stack` — the same loop as the other backends — with
   ``torch.set_num_threads(num_cpus of the task)``, on CUDA when the task holds a GPU, and returns
   plain numpy weights and the history: no module is pickled back.
4. The driver stacks the members in seed order (``load_state_dict`` into ``spec.build(seeds)``),
   so a member is the same network under ``"serial"``, ``"vectorized"`` and ``"ray"``.

Failures
--------
Retries are run by the driver rather than by Ray's own ``max_retries``: a task that raises, or
whose worker process dies (crash, kill, out-of-memory, lost node), is resubmitted up to
``max_retries`` times. The driver knows the attempt number, so the progress bar drops the failed
attempt's epochs, the final error lists the cause of every attempt, and a
:class:`~uqkit.exceptions.DivergenceError` — a property of the member's seed and
hyperparameters, not of the machine — is raised at once instead of being retried. Members that
finished are kept: with ``checkpoint_dir`` each one is written to disk as soon as it arrives
(:mod:`uqkit.training._checkpoint`), the remaining tasks are allowed to finish when one member
runs out of retries, and a re-run of ``fit`` trains only the missing members.

Test hook
---------
The environment variable ``UQKIT_RAY_FAULTS`` (read by the driver at each fit) injects failures
for tests and drills: a comma-separated list of ``member:kind[:attempts]`` where ``kind`` is
``raise`` (the task raises ``RuntimeError``) or ``kill`` (the worker process kills itself with
``SIGKILL``), after the member's first epoch, on its first ``attempts`` attempts (default 1).
For example ``UQKIT_RAY_FAULTS="1:raise,3:kill"``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch
from tqdm.auto import tqdm

from uqkit.exceptions import DivergenceError, InvalidInputError, MemberTrainingError, require
from uqkit.training._loop import TrainConfig, train_stack

__all__ = [
    "FAULTS_ENV",
    "MemberTrainingError",
    "RayFitResult",
    "fit_members_ray",
    "train_members_ray",
]

FAULTS_ENV = "UQKIT_RAY_FAULTS"
RAY_EXTRA = "search"
_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
_REPORT_EVERY_S = 0.2

logger = logging.getLogger(__name__)


@dataclass
class RayFitResult:
    """What :func:`train_members_ray` returns.

    Attributes
    ----------
    stack : nn.Module
        All members stacked in seed order, in eval mode, on the requested device.
    history : list of dict
        One :func:`~uqkit.training.train_stack` history per member.
    records : list of dict
        Per member: ``member``, ``seed``, ``task``, ``resumed`` (loaded from ``checkpoint_dir``),
        ``attempts``, ``device``, ``host``, ``pid``, ``seconds`` (wall time of its task's
        training), ``cpu_seconds`` (CPU time of the task's process meanwhile), ``threads``.
    """

    stack: torch.nn.Module
    history: list[dict]
    records: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------- fault hook
def _parse_faults(text: str | None) -> dict[int, tuple[str, int]]:
    """``"1:raise,3:kill:2"`` → ``{1: ("raise", 1), 3: ("kill", 2)}`` (see the module docs)."""
    faults: dict[int, tuple[str, int]] = {}
    for item in (text or "").replace(" ", "").split(","):
        if not item:
            continue
        parts = item.split(":")
        try:
            member, kind = int(parts[0]), parts[1]
            attempts = int(parts[2]) if len(parts) > 2 else 1
        except (IndexError, ValueError):
            kind, attempts, member = "", 0, -1
        if kind not in ("raise", "kill") or len(parts) > 3 or attempts < 0 or member < 0:
            raise InvalidInputError(
                f"{FAULTS_ENV}={text!r}: expected comma-separated 'member:kind[:attempts]' with "
                "kind 'raise' or 'kill', e.g. '1:raise,3:kill:2'. Unset it for normal training."
            )
        faults[member] = (kind, attempts)
    return faults


def _fault_for(faults: dict[int, tuple[str, int]], members: Sequence[int], attempt: int):
    for member in members:
        if member in faults and attempt < faults[member][1]:
            return faults[member][0], member
    return None


class _TaskProgress:
    """Worker-side stand-in for a tqdm bar: counts member-epochs, sends them to the driver
    through a ``ray.util.queue.Queue`` (at most every 0.2 s) and fires an injected fault after
    the first epoch."""

    def __init__(self, queue, task: int, attempt: int, fault) -> None:
        self.queue, self.task, self.attempt, self.fault = queue, task, attempt, fault
        self.count = self.epochs = 0
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        self.count += int(n)
        self.epochs += 1
        if self.fault is not None and self.epochs == 1:
            kind, member = self.fault
            if kind == "kill":
                if hasattr(signal, "SIGKILL"):
                    os.kill(os.getpid(), signal.SIGKILL)
                os._exit(137)
            raise RuntimeError(
                f"injected fault for member {member} on attempt {self.attempt + 1} "
                f"({FAULTS_ENV} test hook)"
            )
        now = time.monotonic()
        if self.queue is not None and now - self._last >= _REPORT_EVERY_S:
            self._last = now
            try:
                self.queue.put_nowait((self.task, self.attempt, self.count))
            except Exception:  # the bar is cosmetic: a lost report must not fail training
                self.queue = None

    def set_postfix(self, **_: object) -> None:
        pass


# ------------------------------------------------------------------------- the task
def _describe_device(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)}; visible={visible})"


def _train_task(spec, loss_fn, arrays, seeds, member_ids, config, *, task, attempt, threads,
                use_gpu, fault, queue) -> dict:
    """Body of one Ray task: train the members ``seeds`` and return numpy weights + history."""
    torch.set_num_threads(threads)
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")

    def tensor(name):
        array = arrays.get(name)
        # the object store hands out read-only views: copy into memory this task owns
        return None if array is None else torch.from_numpy(np.array(array)).to(device)

    start, cpu_start = time.perf_counter(), time.process_time()
    stack = spec.build(seeds).to(device)
    history = train_stack(
        stack, loss_fn, tensor("X"), tensor("y"), seeds, config,
        X_val=tensor("X_val"), y_val=tensor("y_val"), member_ids=member_ids,
        progress=_TaskProgress(queue, task, attempt, fault),
    )
    state = {k: v.detach().cpu().numpy() for k, v in stack.state_dict().items()}
    return {
        "state": state,
        "history": history,
        "device": _describe_device(device),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "threads": threads,
    }


# ------------------------------------------------------------------------- resources
def _task_resources(per_member: dict, n_members: int) -> dict:
    """Ray options of a task holding ``n_members`` members: ``n_members`` × the per-member
    resources, GPUs capped at one (a task trains on one device)."""
    unknown = set(per_member) - set(_RESOURCE_KEYS)
    if unknown:
        raise InvalidInputError(
            f"resources_per_member has unknown keys {sorted(unknown)}; use {list(_RESOURCE_KEYS)}, "
            "e.g. {'num_cpus': 1, 'num_gpus': 0.25}."
        )
    for key in ("num_cpus", "num_gpus", "memory"):
        value = per_member.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
            raise InvalidInputError(
                f"resources_per_member[{key!r}] must be a number >= 0; got {value!r}."
            )
    gpus = float(per_member.get("num_gpus", 0))
    if gpus > 1 and not gpus.is_integer():
        raise InvalidInputError(
            f"resources_per_member['num_gpus']={gpus} is not allowed by Ray: use a fraction "
            "(<= 1) to share a GPU or a whole number."
        )
    options = {"num_cpus": float(per_member.get("num_cpus", 1)) * n_members}
    if gpus:
        options["num_gpus"] = gpus if gpus >= 1 else min(1.0, gpus * n_members)
    if per_member.get("memory"):
        options["memory"] = int(per_member["memory"] * n_members)
    if per_member.get("resources"):
        options["resources"] = {k: float(v) * n_members for k, v in per_member["resources"].items()}
    if per_member.get("accelerator_type"):
        options["accelerator_type"] = per_member["accelerator_type"]
    return options


def _check_feasible(ray, options: dict, strict: bool) -> None:
    """Refuse (or warn about) a task that no node of the cluster can ever run."""
    need = {"CPU": options.get("num_cpus", 0), "GPU": options.get("num_gpus", 0),
            "memory": options.get("memory", 0), **options.get("resources", {})}
    need = {k: v for k, v in need.items() if v}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda n: n.get("CPU", 0), default={})
    have = {k: largest.get(k, 0) for k in need}
    message = (
        f"A Ray task needs {need} but no Ray node has that much (largest node: {have}). Lower "
        "resources_per_member (or members_per_task, which multiplies it) or add such a node."
    )
    if strict:
        raise InvalidInputError(message)
    logger.warning("%s Waiting for the cluster to scale up.", message)


def _connect(ray, options, verbose: int) -> bool:
    """Use the running Ray, or connect / start one; return whether it was started here."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": verbose >= 2}
    if options.address is not None:
        ray.init(address=options.address, **quiet)
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    ray.init(num_cpus=cpus, include_dashboard=False, **quiet)
    logger.info("Started a local Ray with %d CPUs; it stays up for later fits.", cpus)
    return True


def _describe_failure(ray, err: Exception) -> tuple[str, BaseException]:
    """One line naming what went wrong in a task, and the exception to chain."""
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause if isinstance(err.cause, BaseException) else err
        return f"{type(cause).__name__}: {cause}".splitlines()[0], cause
    if isinstance(err, ray.exceptions.WorkerCrashedError):
        return "its worker process died (WorkerCrashedError)", err
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}", err


def _names(members: Sequence[int]) -> str:
    return f"Member {members[0]}" if len(members) == 1 else f"Members {list(members)}"


# ------------------------------------------------------------------------- the driver
def train_members_ray(
    spec,
    loss_fn,
    data,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    options,
    device: torch.device | str = "cpu",
    verbose: int = 1,
) -> RayFitResult:
    """Train one member per seed as Ray tasks; return the stack, histories and run records.

    Parameters
    ----------
    spec : StackSpec
        Architecture of a member (pickled to the workers; ``module_factory`` may be a lambda).
    loss_fn : callable
        Per-member loss, see :func:`~uqkit.training.train_stack`.
    data : MemberData
        Training (and validation) tensors; sent to the object store once.
    seeds : sequence of int
        One seed per member; member ``i`` is the same network as with the other backends.
    config : TrainConfig
    options : RayOptions
        ``resources_per_member`` (per member; a task of ``members_per_task`` members asks for
        that many times as much, GPUs capped at one), ``address``, ``max_retries``,
        ``checkpoint_dir``, ``members_per_task``.
    device : torch.device or str
        Where the returned stack lives (tasks choose their own device: CUDA when they hold a
        GPU and see one, else CPU).
    verbose : int
        0: silent; 1: one progress bar over all member-epochs; 2: also the workers' logs.

    Returns
    -------
    RayFitResult

    Raises
    ------
    MissingDependencyError
        Ray is not installed (``pip install 'uqkit[search]'``).
    MemberTrainingError
        A task failed ``max_retries + 1`` times; the message names its members and every cause.
    DivergenceError
        A member's loss became non-finite (not retried: it would diverge again).

    Examples
    --------
    >>> import torch
    >>> from uqkit.nn import StackSpec
    >>> from uqkit.training import GaussianMemberLoss, MemberData, RayOptions, TrainConfig
    >>> X = torch.randn(64, 2, dtype=torch.float64); y = X.sum(1, keepdim=True)
    >>> result = train_members_ray(  # doctest: +SKIP
    ...     StackSpec(2, 2, dtype="float64"), GaussianMemberLoss(), MemberData(X, y), [1, 2],
    ...     TrainConfig(epochs=2, patience=None), options=RayOptions(), verbose=0)
    >>> [r["attempts"] for r in result.records]  # doctest: +SKIP
    [1, 1]
    """
    ray = require("ray", RAY_EXTRA)
    seeds = [int(s) for s in seeds]
    k = len(seeds)
    if k == 0:
        raise InvalidInputError("Pass at least one seed (one member) to train.")
    per_task = options.members_per_task
    if isinstance(per_task, bool) or not isinstance(per_task, int) or per_task < 1:
        raise InvalidInputError(f"members_per_task must be an int >= 1; got {per_task!r}.")
    if isinstance(options.max_retries, bool) or not isinstance(options.max_retries, int) \
            or options.max_retries < 0:
        raise InvalidInputError(f"max_retries must be an int >= 0; got {options.max_retries!r}.")
    faults = _parse_faults(os.environ.get(FAULTS_ENV))
    arrays = {
        name: None if value is None else value.detach().cpu().numpy()
        for name, value in (("X", data.X), ("y", data.y), ("X_val", data.X_val),
                            ("y_val", data.y_val))
    }
    states: dict[int, dict[str, torch.Tensor]] = {}
    histories: dict[int, dict] = {}
    records: dict[int, dict] = {}

    store = None
    if options.checkpoint_dir is not None:
        from uqkit.training._checkpoint import MemberCheckpoints

        store = MemberCheckpoints.for_problem(options.checkpoint_dir, spec, loss_fn, arrays,
                                              config)
        for i, seed in enumerate(seeds):
            loaded = store.load(seed)
            if loaded is not None:
                states[i] = loaded[0]
                histories[i] = {**loaded[1], "member": i}
                records[i] = {**loaded[2], "member": i, "seed": seed, "resumed": True}
    missing = [i for i in range(k) if i not in states]
    if store is not None:
        logger.info("Ray: %d member(s) resumed from %s; training %s.", k - len(missing),
                    store.directory, missing)

    if missing:
        _run_tasks(ray, spec, loss_fn, arrays, seeds, missing, config, options, faults, store,
                   verbose, states, histories, records)

    stack = spec.build(seeds)
    stack.load_state_dict({key: torch.cat([torch.as_tensor(states[i][key]) for i in range(k)])
                           for key in states[0]})
    return RayFitResult(
        stack=stack.to(device).eval(),
        history=[histories[i] for i in range(k)],
        records=[records[i] for i in range(k)],
    )


def _run_tasks(ray, spec, loss_fn, arrays, seeds, missing, config, options, faults, store,
               verbose, states, histories, records) -> None:
    """Submit the missing members as tasks, retry failures, collect (and checkpoint) results."""
    started_here = _connect(ray, options, verbose)
    per_task = options.members_per_task
    groups = [missing[j : j + per_task] for j in range(0, len(missing), per_task)]
    resources = [_task_resources(dict(options.resources_per_member or {}), len(g)) for g in groups]
    strict = started_here or options.address is None
    for request in {repr(r): r for r in resources}.values():
        _check_feasible(ray, request, strict)

    remote = ray.remote(_train_task)
    # into the object store once, not once per (re)submitted task
    data_ref, spec_ref, loss_ref = ray.put(arrays), ray.put(spec), ray.put(loss_fn)
    bar = tqdm(total=len(seeds) * config.epochs, desc=f"Training {len(seeds)} members on Ray",
               unit="member-epoch", disable=verbose == 0, leave=False)
    bar.update((len(seeds) - len(missing)) * config.epochs)
    queue = None
    if not bar.disable:  # an actor that imports only Ray, not torch: it starts fast
        from ray.util.queue import Queue

        queue = Queue(actor_options={"num_cpus": 0})
    latest: dict[int, tuple[int, int]] = {}  # task -> (attempt, member-epochs) last reported

    pending: dict = {}  # ObjectRef -> (task index, attempt)
    current = [0] * len(groups)
    causes: dict[int, list[str]] = {g: [] for g in range(len(groups))}
    exhausted: list[tuple[int, BaseException]] = []
    done_epochs = 0

    def submit(g: int, attempt: int) -> None:
        current[g] = attempt
        request = resources[g]
        ref = remote.options(**request, max_retries=0, retry_exceptions=False).remote(
            spec_ref, loss_ref, data_ref, [seeds[i] for i in groups[g]], groups[g], config,
            task=g, attempt=attempt, threads=max(1, int(request["num_cpus"])),
            use_gpu=request.get("num_gpus", 0) > 0, fault=_fault_for(faults, groups[g], attempt),
            queue=queue,
        )
        pending[ref] = (g, attempt)

    try:
        for g in range(len(groups)):
            submit(g, 0)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1,
                                timeout=None if queue is None else 0.25)
            for ref in ready:
                g, attempt = pending.pop(ref)
                members = groups[g]
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayError as err:
                    cause_text, cause = _describe_failure(ray, err)
                    if isinstance(cause, DivergenceError):
                        raise cause from None
                    causes[g].append(f"attempt {attempt + 1}: {cause_text}")
                    if attempt < options.max_retries:
                        logger.warning("%s failed on attempt %d (%s); retrying (%d of %d).",
                                       _names(members), attempt + 1, cause_text, attempt + 1,
                                       options.max_retries)
                        submit(g, attempt + 1)
                    else:
                        exhausted.append((g, err))
                        if store is None:  # nothing to keep: stop now
                            pending_members = sorted(i for p in pending.values()
                                                     for i in groups[p[0]])
                            logger.info("Cancelling members %s.", pending_members)
                            break
                    continue
                done_epochs += len(members) * config.epochs
                for j, i in enumerate(members):
                    states[i] = {key: torch.from_numpy(np.array(value[j : j + 1]))
                                 for key, value in out["state"].items()}
                    histories[i] = out["history"][j]
                    records[i] = {
                        "member": i, "seed": seeds[i], "task": g, "resumed": False,
                        "attempts": attempt + 1, "device": out["device"], "host": out["host"],
                        "pid": out["pid"], "seconds": out["seconds"],
                        "cpu_seconds": out["cpu_seconds"], "threads": out["threads"],
                    }
                    if store is not None:
                        store.save(seeds[i], states[i], histories[i], records[i])
            if exhausted and store is None:
                break
            if queue is not None:
                for t, a, c in queue.get_nowait_batch(queue.qsize()):
                    if a >= latest.get(t, (-1, 0))[0]:
                        latest[t] = (a, c)
                running = sum(c for t, (a, c) in latest.items()
                              if a == current[t] and any(p[0] == t for p in pending.values()))
                bar.set_postfix(finished=len(states), running=len(pending), refresh=False)
                bar.update(
                    (len(seeds) - len(missing)) * config.epochs + done_epochs + running - bar.n
                )
    finally:
        for ref in pending:
            ray.cancel(ref)
        if queue is not None:
            queue.shutdown(force=True)
        bar.close()

    if exhausted:
        g, err = exhausted[0]
        members = groups[g]
        finished = sorted(states)
        if store is not None and finished:
            kept = (f" Members {finished} finished and are saved in {str(store.directory)!r}: "
                    "a re-run of fit trains only the missing ones.")
        elif finished:
            kept = " Pass checkpoint_dir to keep finished members across runs of fit."
        else:
            kept = ""
        others = [groups[h] for h, _ in exhausted[1:]]
        also = f" Also failed: {others}." if others else ""
        _, cause = _describe_failure(ray, err)
        raise MemberTrainingError(
            f"{_names(members)} (seed{'s' if len(members) > 1 else ''} "
            f"{', '.join(str(seeds[i]) for i in members)}) failed on all "
            f"{options.max_retries + 1} attempt(s) (max_retries={options.max_retries}): "
            f"{'; '.join(causes[g])}.{also}{kept}",
            members=members, seeds=[seeds[i] for i in members], causes=causes[g],
            finished=finished,
        ) from cause


def fit_members_ray(
    spec,
    loss_fn,
    data,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    verbose: int = 1,
    options,
) -> tuple[torch.nn.Module, list[dict]]:
    """The ``backend="ray"`` entry point of :func:`~uqkit.training.fit_members`.

    Returns ``(stack, history)`` like the other backends; see :func:`train_members_ray` for
    the parameters. The per-member run records are logged at INFO level on the
    ``uqkit.training._ray`` logger.

    Examples
    --------
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> model = DeepEnsembleRegressor(n_members=4, backend="ray",  # doctest: +SKIP
    ...                               resources_per_member={"num_cpus": 1, "num_gpus": 0.25})
    """
    result = train_members_ray(spec, loss_fn, data, seeds, config, options=options,
                               device=device, verbose=verbose)
    for record in result.records:
        logger.info("Ray member %s", record)
    return result.stack, result.history

