"""What a Ray task asks for: per-member resources scaled to a task, and a feasibility check."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from numbers import Real

from uqkit.exceptions import InvalidInputError

__all__ = ["RESOURCE_KEYS", "check_feasible", "check_resources", "task_resources"]

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")

logger = logging.getLogger(__name__)


def check_resources(per_member: Mapping) -> None:
    """Refuse per-member resources that Ray would reject or misread, naming the fix.

    Examples
    --------
    >>> check_resources({"num_cpus": 1, "num_gpus": 0.25})
    >>> check_resources({"gpus": 1})
    Traceback (most recent call last):
    ...
    uqkit.exceptions.InvalidInputError: RayBackend.resources has unknown keys ['gpus']; ...
    """
    if not isinstance(per_member, Mapping):
        raise InvalidInputError(
            f"RayBackend.resources must be a dict such as {{'num_cpus': 1}}; got {per_member!r}."
        )
    unknown = set(per_member) - set(RESOURCE_KEYS)
    if unknown:
        raise InvalidInputError(
            f"RayBackend.resources has unknown keys {sorted(unknown)}; use "
            f"{list(RESOURCE_KEYS)}, e.g. {{'num_cpus': 1, 'num_gpus': 0.25}}."
        )
    for key in ("num_cpus", "num_gpus", "memory"):
        value = per_member.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
            raise InvalidInputError(
                f"RayBackend.resources[{key!r}] must be a number >= 0; got {value!r}."
            )
    gpus = float(per_member.get("num_gpus", 0))
    if gpus > 1 and not gpus.is_integer():
        raise InvalidInputError(
            f"RayBackend.resources['num_gpus']={gpus} is not allowed by Ray: use a fraction "
            "(<= 1) to share a GPU or a whole number."
        )


def task_resources(per_member: Mapping, n_members: int) -> dict:
    """Ray options of a task holding ``n_members`` members: ``n_members`` × the per-member
    resources, GPUs capped at one (a task trains on one device).

    Examples
    --------
    >>> task_resources({"num_cpus": 1, "num_gpus": 0.25}, 4)
    {'num_cpus': 4.0, 'num_gpus': 1.0}
    """
    check_resources(per_member)
    gpus = float(per_member.get("num_gpus", 0))
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


def check_feasible(ray, options: dict, strict: bool) -> None:
    """Refuse (or, on a cluster that may scale up, warn about) a task no node can ever run."""
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
        "RayBackend.resources (or members_per_task, which multiplies it) or add such a node."
    )
    if strict:
        raise InvalidInputError(message)
    logger.warning("%s Waiting for the cluster to scale up.", message)
