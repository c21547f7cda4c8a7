"""The driver of the Ray backend: resume from checkpoints, submit tasks, retry, collect.

How a fit runs
--------------
1. Ray is found or started (:func:`~uqkit.training.connect_ray`).
2. The training tensors go into the object store once (``ray.put``) as numpy arrays.
3. Each task (:func:`~uqkit.training._ray_task.train_task`) builds its members from their seeds,
   trains them with :func:`~uqkit.training.train_stack` — the same loop as the other backends —
   and returns plain numpy weights and the history.
4. The driver stacks the members in seed order (``load_state_dict`` into ``spec.build(seeds)``),
   so a member is the same network under ``"serial"``, ``"vectorized"`` and Ray.

Failures
--------
Retries are run by the driver rather than by Ray's own ``max_retries``: a task that raises, or
whose worker process dies (crash, kill, out-of-memory, lost node), is resubmitted up to
``max_retries`` times. The driver knows the attempt number, so the progress bar drops the failed
attempt's epochs, the final error lists the cause of every attempt, and a
:class:`~uqkit.exceptions.DivergenceError` — a property of the member's seed and
hyperparameters, not of the machine — is raised at once instead of being retried. Tasks that
are abandoned (after a divergence, an exhausted member without ``checkpoint_dir``, or an
interrupt) and still running half a second later are cancelled with ``force=True``, which ends
their worker processes: an interrupted worker is never handed to a later fit. Members that
finished are kept: with ``checkpoint_dir`` each one is written to disk as soon as it arrives
(:mod:`uqkit.training._checkpoint`), the remaining tasks are allowed to finish when one member
runs out of retries, and a re-run of ``fit`` trains only the missing members.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from uqkit.exceptions import DivergenceError, InvalidInputError, MemberTrainingError, require
from uqkit.training._checkpoint import MemberCheckpoints
from uqkit.training._loop import TrainConfig
from uqkit.training._member_data import MemberData
from uqkit.training._progress import Progress
from uqkit.training._ray_connect import RAY_EXTRA, connect_ray
from uqkit.training._ray_resources import check_feasible, task_resources
from uqkit.training._ray_task import check_faults, fault_for, train_task

__all__ = ["RayFitResult", "train_members_ray"]

logger = logging.getLogger(__name__)

# How long a failed or interrupted fit waits for its force-cancelled tasks to end (seconds)
_CANCEL_WAIT_S = 30.0
# How long it lets its abandoned tasks finish on their own before it cancels them (seconds)
_FINISH_GRACE_S = 0.5


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

    Examples
    --------
    >>> from uqkit.nn import StackSpec
    >>> result = RayFitResult(stack=StackSpec(2, 2).build([0]), history=[{"member": 0}])
    >>> result.stack.n_members, result.records
    (1, [])
    """

    stack: torch.nn.Module
    history: list[dict]
    records: list[dict] = field(default_factory=list)


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


def train_members_ray(
    spec,
    loss_fn,
    data: MemberData,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    backend,
    device: torch.device | str = "cpu",
    verbose: int = 0,
    _faults: Mapping[int, tuple[str, int]] | None = None,
) -> RayFitResult:
    """Train one member per seed as Ray tasks; return the stack, histories and run records.

    Parameters
    ----------
    spec : StackSpec
        Architecture of a member (pickled to the workers; ``module_factory`` may be a lambda).
    loss_fn : MemberLoss
        Per-member loss, see :func:`~uqkit.training.train_stack`.
    data : MemberData
        Training (and validation) tensors; sent to the object store once.
    seeds : sequence of int
        One seed per member; member ``i`` is the same network as with the other backends.
    config : TrainConfig
    backend : RayBackend
        Address, per-member resources, retries, checkpoint folder, members per task (checked
        by :func:`~uqkit.training.resolve_backend`).
    device : torch.device or str
        Where the returned stack lives (tasks choose their own device: CUDA when they hold a
        GPU and see one, else CPU).
    verbose : int
        0: silent; 1: progress over all member-epochs (a bar on an interactive terminal, else
        at most one INFO line per tenth, :class:`~uqkit.training.Progress`); 2: also the
        workers' logs.
    _faults : dict, optional
        Test hook only: ``{member: (kind, attempts)}`` with kind ``"raise"`` or ``"kill"``,
        fired after the member's first epoch on its first ``attempts`` attempts.

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
    >>> from uqkit.losses import GaussianMemberLoss
    >>> from uqkit.nn import StackSpec
    >>> from uqkit.training import MemberData, RayBackend, TrainConfig
    >>> X = torch.randn(64, 2, dtype=torch.float64); y = X.sum(1, keepdim=True)
    >>> result = train_members_ray(  # doctest: +SKIP
    ...     StackSpec(2, 2, dtype="float64"), GaussianMemberLoss(), MemberData(X, y), [1, 2],
    ...     TrainConfig(epochs=2, patience=None), backend=RayBackend())
    >>> [r["attempts"] for r in result.records]  # doctest: +SKIP
    [1, 1]
    """
    ray = require("ray", RAY_EXTRA)
    seeds = [int(s) for s in seeds]
    k = len(seeds)
    if k == 0:
        raise InvalidInputError("Pass at least one seed (one member) to train.")
    faults = check_faults(_faults)
    if not all(value is None or isinstance(value, torch.Tensor)
               for value in (data.X, data.X_val)):
        raise InvalidInputError(
            "The Ray backend sends the training data to every task, which rows read from a "
            "memmap or a Dataset cannot be; pass in-memory arrays, or use backend='vectorized' "
            "or 'serial'."
        )
    arrays = {
        name: None if value is None else value.detach().cpu().numpy()
        for name, value in (("X", data.X), ("y", data.y), ("X_val", data.X_val),
                            ("y_val", data.y_val))
    }
    # the row weights travel with the rows; an unweighted fit has no weight keys, so its
    # checkpoint fingerprint is the one it had before sample_weight existed
    for name in ("weight", "weight_val"):
        if getattr(data, name) is not None:
            arrays[name] = getattr(data, name).detach().cpu().numpy()
    states: dict[int, dict[str, torch.Tensor]] = {}
    histories: dict[int, dict] = {}
    records: dict[int, dict] = {}

    store = None
    if backend.checkpoint_dir is not None:
        store = MemberCheckpoints.for_problem(backend.checkpoint_dir, spec, loss_fn, arrays,
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
        run = _TaskRun(ray, spec, loss_fn, arrays, seeds, missing, config, backend, faults,
                       store, verbose)
        run.execute(states, histories, records)

    stack = spec.build(seeds)
    stack.load_state_dict({key: torch.cat([torch.as_tensor(states[i][key]) for i in range(k)])
                           for key in states[0]})
    for i in range(k):
        logger.info("Ray member %s", records[i])
    return RayFitResult(
        stack=stack.to(device).eval(),
        history=[histories[i] for i in range(k)],
        records=[records[i] for i in range(k)],
    )


class _TaskRun:
    """One round of tasks for the missing members: submit, wait, retry, collect, report."""

    def __init__(self, ray, spec, loss_fn, arrays, seeds, missing, config, backend, faults,
                 store, verbose) -> None:
        self.ray, self.seeds, self.config, self.backend = ray, seeds, config, backend
        self.faults, self.store, self.verbose = faults, store, verbose
        self.n_resumed = len(seeds) - len(missing)
        per_task = backend.members_per_task
        self.groups = [missing[j : j + per_task] for j in range(0, len(missing), per_task)]
        per_member = backend.resources_per_member()
        self.resources = [task_resources(per_member, len(g)) for g in self.groups]
        self.arrays, self.spec, self.loss_fn = arrays, spec, loss_fn

    # -- submission ------------------------------------------------------------------------
    def _submit(self, g: int, attempt: int) -> None:
        self.current[g] = attempt
        request = self.resources[g]
        members = self.groups[g]
        ref = self.remote.options(**request, max_retries=0, retry_exceptions=False).remote(
            self.spec_ref, self.loss_ref, self.data_ref, [self.seeds[i] for i in members],
            members, self.config, task=g, attempt=attempt,
            threads=max(1, int(request["num_cpus"])), use_gpu=request.get("num_gpus", 0) > 0,
            fault=fault_for(self.faults, members, attempt), queue=self.queue,
        )
        self.pending[ref] = (g, attempt)

    def execute(self, states: dict, histories: dict, records: dict) -> None:
        """Run every group to completion (or exhaustion); fill ``states``/``histories``/
        ``records`` per member; raise :class:`MemberTrainingError` when a group ran out."""
        ray, backend, config = self.ray, self.backend, self.config
        started_here = connect_ray(backend.address, verbose=self.verbose)
        strict = started_here or backend.address is None
        for request in {repr(r): r for r in self.resources}.values():
            check_feasible(ray, request, strict)
        self.remote = ray.remote(train_task)
        # into the object store once, not once per (re)submitted task
        self.data_ref = ray.put(self.arrays)
        self.spec_ref, self.loss_ref = ray.put(self.spec), ray.put(self.loss_fn)
        n = len(self.seeds)
        bar = Progress(n * config.epochs, f"Training {n} members on Ray", verbose=self.verbose,
                       logger=logger, unit="member-epoch")
        bar.update(self.n_resumed * config.epochs)
        self.queue = None
        if not bar.disable:  # an actor that imports only Ray, not torch: it starts fast
            from ray.util.queue import Queue
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # on the driver's node: placed anywhere (Ray puts a 0-CPU actor on any node), it
            # dies with its node, and a lost worker node would end the fit through its bar.
            # Not soft: Ray's soft affinity moves it off a node without CPUs (a bare head), and
            # the driver's own node is alive and can always host a 0-CPU actor
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                  soft=False)
            self.queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
        self.pending: dict = {}  # ObjectRef -> (task index, attempt)
        self.current = [0] * len(self.groups)
        self.causes: dict[int, list[str]] = {g: [] for g in range(len(self.groups))}
        exhausted: list[tuple[int, BaseException]] = []
        latest: dict[int, tuple[int, int]] = {}  # task -> (attempt, member-epochs) reported
        done_epochs = 0
        try:
            for g in range(len(self.groups)):
                self._submit(g, 0)
            while self.pending:
                ready, _ = ray.wait(list(self.pending), num_returns=1,
                                    timeout=None if self.queue is None else 0.25)
                for ref in ready:
                    g, attempt = self.pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayError as err:
                        if self._failed(g, attempt, err):
                            exhausted.append((g, err))
                            if self.store is None:  # nothing to keep: stop now
                                break
                        continue
                    done_epochs += len(self.groups[g]) * config.epochs
                    self._collect(g, attempt, out, states, histories, records)
                if exhausted and self.store is None:
                    break
                if not bar.disable:  # with the queue's reports while it lives
                    running = 0 if self.queue is None else self._running(latest)
                    bar.set_postfix(finished=len(states), running=len(self.pending),
                                    refresh=False)
                    bar.update(self.n_resumed * config.epochs + done_epochs + running - bar.n)
        finally:
            # force=True ends the worker process of a running task. Without it Ray raises
            # KeyboardInterrupt inside the task, which can land in the middle of an import
            # (torch imports torch._dynamo lazily when the optimiser is built): the worker then
            # stays in Ray's pool with a half-imported torch and fails every later task it gets.
            # Tasks that end within a moment of the failure (members diverging in the same
            # epoch) are let finish first: Ray's driver process aborts when a cancel races with
            # the reply of a task that is just finishing ("Tried to complete task that was not
            # pending", a RAY_CHECK in Ray's task manager; ray-project/ray#54846 reports the
            # same check).
            cancelled = list(self.pending)
            if cancelled:
                _, cancelled = ray.wait(cancelled, num_returns=len(cancelled),
                                        timeout=_FINISH_GRACE_S)
            for ref in cancelled:
                ray.cancel(ref, force=True)
            # wait (briefly) until the cancelled tasks have ended: a kill still on its way could
            # otherwise hit the worker that the caller's next fit is given
            if cancelled:
                ray.wait(cancelled, num_returns=len(cancelled), timeout=_CANCEL_WAIT_S)
            if self.queue is not None:
                self.queue.shutdown(force=True)
            bar.close()
        if exhausted:
            self._raise(exhausted, sorted(states))

    # -- results -----------------------------------------------------------------------------
    def _failed(self, g: int, attempt: int, err: Exception) -> bool:
        """Record a failed attempt and retry it; return True when the group is out of retries."""
        cause_text, cause = _describe_failure(self.ray, err)
        if isinstance(cause, DivergenceError):
            raise cause from None
        self.causes[g].append(f"attempt {attempt + 1}: {cause_text}")
        retries = self.backend.max_retries
        if attempt < retries:
            logger.warning("%s failed on attempt %d (%s); retrying (%d of %d).",
                           _names(self.groups[g]), attempt + 1, cause_text, attempt + 1, retries)
            self._submit(g, attempt + 1)
            return False
        if self.store is None:
            cancelled = sorted(i for p in self.pending.values() for i in self.groups[p[0]])
            logger.info("Cancelling members %s.", cancelled)
        return True

    def _collect(self, g, attempt, out, states, histories, records) -> None:
        for j, i in enumerate(self.groups[g]):
            states[i] = {key: torch.from_numpy(np.array(value[j : j + 1]))
                         for key, value in out["state"].items()}
            histories[i] = out["history"][j]
            records[i] = {
                "member": i, "seed": self.seeds[i], "task": g, "resumed": False,
                "attempts": attempt + 1, "device": out["device"], "host": out["host"],
                "pid": out["pid"], "seconds": out["seconds"],
                "cpu_seconds": out["cpu_seconds"], "threads": out["threads"],
            }
            if self.store is not None:
                self.store.save(self.seeds[i], states[i], histories[i], records[i])

    def _running(self, latest: dict) -> int:
        """Member-epochs reported by the current attempts of the tasks still running."""
        try:
            reports = self.queue.get_nowait_batch(self.queue.qsize())
        except self.ray.exceptions.RayError as err:  # the bar is cosmetic: training goes on
            logger.info("Ray: progress reports lost (%s); training goes on.",
                        _describe_failure(self.ray, err)[0])
            self.queue, reports = None, []
        for t, a, c in reports:
            if a >= latest.get(t, (-1, 0))[0]:
                latest[t] = (a, c)
        return sum(c for t, (a, c) in latest.items()
                   if a == self.current[t] and any(p[0] == t for p in self.pending.values()))

    def _raise(self, exhausted: list, finished: list[int]) -> None:
        g, err = exhausted[0]
        members, seeds, retries = self.groups[g], self.seeds, self.backend.max_retries
        if self.store is not None and finished:
            kept = (f" Members {finished} finished and are saved in "
                    f"{str(self.store.directory)!r}: a re-run of fit with the same data and "
                    "parameters trains only the missing ones (random_state=None reuses the seed "
                    "stored there).")
        elif finished:
            kept = " Set RayBackend(checkpoint_dir=...) to keep finished members across fits."
        else:
            kept = ""
        others = [self.groups[h] for h, _ in exhausted[1:]]
        also = f" Also failed: {others}." if others else ""
        _, cause = _describe_failure(self.ray, err)
        raise MemberTrainingError(
            f"{_names(members)} (seed{'s' if len(members) > 1 else ''} "
            f"{', '.join(str(seeds[i]) for i in members)}) failed on all "
            f"{retries + 1} attempt(s) (max_retries={retries}): "
            f"{'; '.join(self.causes[g])}.{also}{kept}",
            members=members, seeds=[seeds[i] for i in members], causes=self.causes[g],
            finished=finished,
        ) from cause
