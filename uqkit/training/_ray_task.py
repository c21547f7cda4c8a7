"""The body of one Ray task: build members from their seeds, train them with the shared loop,
send progress to the driver, return plain numpy weights (no module is pickled back)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError
from uqkit.training._loop import TrainConfig, train_stack

__all__ = [
    "BROKEN_WORKER_EXIT",
    "FAULT_KINDS",
    "TaskProgress",
    "check_faults",
    "fault_for",
    "retire_if_broken",
    "train_task",
]

FAULT_KINDS = ("raise", "kill")
_REPORT_EVERY_S = 0.2


# ------------------------------------------------------------------------- injected faults
def check_faults(faults: Mapping[int, tuple[str, int]] | None) -> dict[int, tuple[str, int]]:
    """Validate a test fault plan ``{member: (kind, attempts)}``: after the member's first epoch,
    on its first ``attempts`` attempts, the task raises (``"raise"``) or its worker process kills
    itself (``"kill"``). Tests and drills pass it to :func:`train_members_ray`; fits never do.

    Examples
    --------
    >>> check_faults({1: ("raise", 1), 3: ("kill", 2)})
    {1: ('raise', 1), 3: ('kill', 2)}
    """
    plan: dict[int, tuple[str, int]] = {}
    for member, fault in (faults or {}).items():
        try:
            kind, attempts = fault
            valid = kind in FAULT_KINDS and int(attempts) >= 0 and int(member) >= 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise InvalidInputError(
                f"Fault {member!r}: {fault!r} is not (kind, attempts) with kind in "
                f"{FAULT_KINDS} and attempts >= 0, e.g. {{1: ('raise', 1)}}."
            )
        plan[int(member)] = (kind, int(attempts))
    return plan


def fault_for(faults: Mapping[int, tuple[str, int]], members: Sequence[int], attempt: int):
    """The fault ``(kind, member)`` a task of ``members`` fires on ``attempt``, or None."""
    for member in members:
        if member in faults and attempt < faults[member][1]:
            return faults[member][0], member
    return None


class TaskProgress:
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
                f"injected fault for member {member} on attempt {self.attempt + 1} (test hook)"
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


# ------------------------------------------------------------------------- the worker
BROKEN_WORKER_EXIT = 70  # the exit status of a worker that retires itself (EX_SOFTWARE)


def retire_if_broken() -> None:
    """End this worker process if torch can no longer build an optimiser in it.

    A task interrupted in the middle of an import (a ``KeyboardInterrupt`` from a non-forced
    ``ray.cancel``, by uqkit before it forced its cancels or by other code on a shared cluster)
    leaves a half-imported ``torch._dynamo`` in the process, and Ray keeps the process for later
    tasks: each of them would fail with ``partially initialized module 'torch._dynamo'``. Building
    an Adam optimiser is what every task does first and what imports ``torch._dynamo``; if that
    fails here, the process exits, Ray replaces it, and the driver retries the task in a fresh
    worker ("its worker process died"). In a sound worker the check costs microseconds.

    Examples
    --------
    >>> retire_if_broken()  # a sound process carries on
    """
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    except (ImportError, AttributeError):
        os._exit(BROKEN_WORKER_EXIT)


# ------------------------------------------------------------------------- the task
def _describe_device(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)}; visible={visible})"


def train_task(spec, loss_fn, arrays, seeds, member_ids, config: TrainConfig, *, task, attempt,
               threads, use_gpu, fault, queue) -> dict:
    """Train the members ``seeds`` in this worker; return numpy weights, history and a record.

    Runs with ``torch.set_num_threads(threads)``, on CUDA when the task holds a GPU and sees one.
    """
    retire_if_broken()
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
        progress=TaskProgress(queue, task, attempt, fault),
        weight=tensor("weight"), weight_val=tensor("weight_val"),
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
